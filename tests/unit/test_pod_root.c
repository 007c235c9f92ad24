/* Pod sandbox building blocks against the real kernel (needs root; skipped
 * otherwise): namespaces created by the helper and pinned, seen from inside
 * through setns (hostname, sysctls, lo up), errors from the helper, unpinning
 * that leaves no mount; a pod cgroup in every hierarchy, a process moved into
 * it, and removal that leaves nothing; ocid-pause as pid 1 of a pinned PID
 * namespace; the per-pod /dev/shm tmpfs. Every test undoes what it made in
 * its teardown, also when it fails. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pod/cgroup.h"
#include "pod/namespaces.h"
#include "pod/sandbox_files.h"

struct fixture {
	char dir[64];      /* /tmp/test_pod_root.XXXXXX */
	char ns_root[128]; /* dir/ns, a private mount */
	char pin_dir[160]; /* ns_root/pod1 */
	bool root_mounted;
	struct pod_cgroup *cg[4];
	pid_t children[4];
	struct pod_pause pause;
};

static bool is_root(void) { return geteuid() == 0; }

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	strcpy(f->dir, "/tmp/test_pod_root.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->ns_root, sizeof(f->ns_root), "%s/ns", f->dir);
	snprintf(f->pin_dir, sizeof(f->pin_dir), "%s/pod1", f->ns_root);
	f->pause.pid = -1;
	*state = f;
	return 0;
}

/* Lines of /proc/self/mountinfo that mention s. */
static int mounts_mentioning(const char *s)
{
	FILE *m = fopen("/proc/self/mountinfo", "r");
	if (m == NULL)
		return -1;
	char line[4096];
	int n = 0;
	while (fgets(line, sizeof(line), m))
		if (strstr(line, s))
			n++;
	fclose(m);
	return n;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	ocid_error *err = NULL;
	for (size_t i = 0; i < 4; i++)
		if (f->children[i] > 0) {
			kill(f->children[i], SIGKILL);
			waitpid(f->children[i], NULL, 0);
		}
	if (f->pause.pid > 0 && pod_pause_stop(f->pause.pid, f->pause.start_time, 1000, &err) < 0)
		fprintf(stderr, "teardown: %s\n", err->msg);
	err_clear(&err);
	pod_pause_free(&f->pause);
	if (pod_ns_remove(f->pin_dir, &err) < 0)
		fprintf(stderr, "teardown: %s\n", err->msg);
	err_clear(&err);
	if (pod_shm_teardown(f->dir, &err) < 0)
		fprintf(stderr, "teardown: %s\n", err->msg);
	err_clear(&err);
	for (size_t i = 0; i < 4; i++) {
		if (f->cg[i] == NULL)
			continue;
		const char *leaves[] = {"ocid-test-leaf", NULL};
		if (pod_cgroup_remove(f->cg[i], leaves, &err) < 0)
			fprintf(stderr, "teardown: %s\n", err->msg);
		err_clear(&err);
		pod_cgroup_free(f->cg[i]);
	}
	if (f->root_mounted)
		umount2(f->ns_root, MNT_DETACH);
	char *cmd = NULL;
	if (asprintf(&cmd, "rm -rf '%s'", f->dir) > 0 && system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", f->dir);
	free(cmd);
	free(f);
	return 0;
}

static void prepare_root(struct fixture *f)
{
	ocid_error *err = NULL;
	if (pod_ns_root_prepare(f->ns_root, &err) < 0)
		fail_msg("%s", err->msg);
	f->root_mounted = true;
	/* idempotent */
	if (pod_ns_root_prepare(f->ns_root, &err) < 0)
		fail_msg("%s", err->msg);
	assert_int_equal(mounts_mentioning(f->ns_root), 1);
}

/* What a process sees inside the pod's namespaces. */
struct inside {
	int ok;
	char hostname[72];
	char port_start[32];
	char shmmni[32];
	int lo_flags;
};

static void read_proc(const char *path, char *buf, size_t size)
{
	buf[0] = '\0';
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return;
	ssize_t n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		n = 0;
	buf[n] = '\0';
	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
}

static struct inside look_inside(const struct pod_ns *ns)
{
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		struct inside in = {0};
		static const int types[] = {CLONE_NEWNET, CLONE_NEWIPC, CLONE_NEWUTS};
		in.ok = 1;
		for (int t = 0; t < 3; t++) {
			if (ns->path[t] == NULL)
				continue;
			int fd = open(ns->path[t], O_RDONLY);
			if (fd < 0 || setns(fd, types[t]) < 0)
				in.ok = 0;
			close(fd);
		}
		gethostname(in.hostname, sizeof(in.hostname) - 1);
		read_proc("/proc/sys/net/ipv4/ip_unprivileged_port_start", in.port_start,
			  sizeof(in.port_start));
		read_proc("/proc/sys/kernel/shmmni", in.shmmni, sizeof(in.shmmni));
		int s = socket(AF_INET, SOCK_DGRAM, 0);
		struct ifreq ifr;
		memset(&ifr, 0, sizeof(ifr));
		strcpy(ifr.ifr_name, "lo");
		in.lo_flags = ioctl(s, SIOCGIFFLAGS, &ifr) == 0 ? ifr.ifr_flags : -1;
		if (write(p[1], &in, sizeof(in)) != (ssize_t)sizeof(in))
			_exit(2);
		_exit(0);
	}
	close(p[1]);
	struct inside in;
	memset(&in, 0, sizeof(in));
	assert_int_equal(read(p[0], &in, sizeof(in)), sizeof(in));
	close(p[0]);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return in;
}

static void test_namespaces_pinned_and_seen_inside(void **state)
{
	if (!is_root())
		skip();
	struct fixture *f = *state;
	prepare_root(f);
	char host_port[32], host_name[72] = "", host_shmmni[32];
	read_proc("/proc/sys/net/ipv4/ip_unprivileged_port_start", host_port, sizeof(host_port));
	read_proc("/proc/sys/kernel/shmmni", host_shmmni, sizeof(host_shmmni));
	gethostname(host_name, sizeof(host_name) - 1);
	const char *want_port = strcmp(host_port, "81") == 0 ? "82" : "81";
	const char *want_shmmni = strcmp(host_shmmni, "2048") == 0 ? "2047" : "2048";

	struct pod_sysctl sysctls[] = {
		{"net.ipv4.ip_unprivileged_port_start", want_port},
		{"kernel/shmmni", want_shmmni},
	};
	struct pod_ns_spec spec = {
		.pin_dir = f->pin_dir,
		.net = true, .ipc = true, .uts = true,
		.hostname = "ocid-test-pod",
		.sysctls = sysctls, .n_sysctls = 2,
	};
	struct pod_ns ns;
	ocid_error *err = NULL;
	if (pod_ns_create(&spec, &ns, &err) < 0)
		fail_msg("%s", err->msg);
	assert_null(ns.path[POD_NS_PID]);
	for (int t = 0; t < 3; t++) {
		assert_non_null(ns.path[t]);
		struct statfs sfs;
		assert_int_equal(statfs(ns.path[t], &sfs), 0);
		assert_true((unsigned long)sfs.f_type == (unsigned long)NSFS_MAGIC);
	}
	if (pod_ns_check(&ns, &err) < 0)
		fail_msg("%s", err->msg);
	/* a pin of the wrong kind is told apart */
	assert_int_equal(pod_ns_check_pin(ns.path[POD_NS_NET], POD_NS_IPC, &err), -1);
	assert_int_equal(err->code, GRPC_FAILED_PRECONDITION);
	err_clear(&err);
	/* the namespaces are new ones */
	struct stat a, b;
	assert_int_equal(stat(ns.path[POD_NS_NET], &a), 0);
	assert_int_equal(stat("/proc/self/ns/net", &b), 0);
	assert_true(a.st_ino != b.st_ino);

	struct inside in = look_inside(&ns);
	assert_int_equal(in.ok, 1);
	assert_string_equal(in.hostname, "ocid-test-pod");
	assert_string_equal(in.port_start, want_port);
	assert_string_equal(in.shmmni, want_shmmni);
	assert_true(in.lo_flags >= 0 && (in.lo_flags & IFF_UP));

	/* the host is untouched */
	char now[72] = "";
	gethostname(now, sizeof(now) - 1);
	assert_string_equal(now, host_name);
	read_proc("/proc/sys/net/ipv4/ip_unprivileged_port_start", now, sizeof(now));
	assert_string_equal(now, host_port);
	read_proc("/proc/sys/kernel/shmmni", now, sizeof(now));
	assert_string_equal(now, host_shmmni);

	/* a second create on the same pins is refused, and harms nothing */
	struct pod_ns again;
	assert_int_equal(pod_ns_create(&spec, &again, &err), -1);
	assert_int_equal(err->code, GRPC_ALREADY_EXISTS);
	err_clear(&err);
	if (pod_ns_check(&ns, &err) < 0)
		fail_msg("%s", err->msg);

	/* unpin: no mount is left, the files are gone; twice is fine */
	assert_int_equal(mounts_mentioning(f->pin_dir), 3);
	if (pod_ns_remove(f->pin_dir, &err) < 0)
		fail_msg("%s", err->msg);
	assert_int_equal(mounts_mentioning(f->pin_dir), 0);
	assert_int_equal(access(f->pin_dir, F_OK), -1);
	assert_int_equal(pod_ns_remove(f->pin_dir, &err), 0);
	assert_int_equal(pod_ns_check_pin(ns.path[POD_NS_NET], POD_NS_NET, &err), -1);
	assert_int_equal(err->code, GRPC_NOT_FOUND);
	err_clear(&err);
	pod_ns_free(&ns);
}

static void test_host_namespaces_not_pinned(void **state)
{
	if (!is_root())
		skip();
	struct fixture *f = *state;
	prepare_root(f);
	/* host network (and so host UTS, as the runtime decides): only IPC is new */
	struct pod_sysctl s = {"kernel.msgmax", "16384"};
	struct pod_ns_spec spec = {.pin_dir = f->pin_dir, .ipc = true, .hostname = "ignored",
				   .sysctls = &s, .n_sysctls = 1};
	struct pod_ns ns;
	ocid_error *err = NULL;
	if (pod_ns_create(&spec, &ns, &err) < 0)
		fail_msg("%s", err->msg);
	assert_null(ns.path[POD_NS_NET]);
	assert_null(ns.path[POD_NS_UTS]);
	assert_non_null(ns.path[POD_NS_IPC]);
	assert_int_equal(mounts_mentioning(f->pin_dir), 1);
	struct inside in = look_inside(&ns);
	char host_name[72] = "";
	gethostname(host_name, sizeof(host_name) - 1);
	assert_string_equal(in.hostname, host_name);
	if (pod_ns_remove(f->pin_dir, &err) < 0)
		fail_msg("%s", err->msg);
	assert_int_equal(mounts_mentioning(f->pin_dir), 0);
	pod_ns_free(&ns);
}

static void expect_create_fails(struct fixture *f, const char *name, const char *value,
				enum grpc_code code, const char *needle)
{
	struct pod_sysctl s = {name, value};
	struct pod_ns_spec spec = {.pin_dir = f->pin_dir, .net = true, .ipc = true, .uts = true,
				   .hostname = "p", .sysctls = &s, .n_sysctls = 1};
	struct pod_ns ns;
	ocid_error *err = NULL;
	assert_int_equal(pod_ns_create(&spec, &ns, &err), -1);
	assert_int_equal(err->code, code);
	if (strstr(err->msg, needle) == NULL)
		fail_msg("\"%s\" lacks \"%s\"", err->msg, needle);
	err_free(err);
	/* nothing left behind */
	assert_int_equal(mounts_mentioning(f->pin_dir), 0);
	assert_int_equal(access(f->pin_dir, F_OK), -1);
}

static void test_helper_errors_reported(void **state)
{
	if (!is_root())
		skip();
	struct fixture *f = *state;
	prepare_root(f);
	expect_create_fails(f, "net.ipv4.no_such_sysctl_here", "1", GRPC_INVALID_ARGUMENT,
			    "net.ipv4.no_such_sysctl_here does not exist");
	expect_create_fails(f, "net.ipv4.ip_unprivileged_port_start", "not-a-number",
			    GRPC_INVALID_ARGUMENT, "value \"not-a-number\" refused");
	expect_create_fails(f, "kernel.core_pattern", "x", GRPC_INVALID_ARGUMENT,
			    "not namespaced");
}

/* ---- cgroups ---- */

static bool dir_exists(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static pid_t spawn_sleeper(void)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		for (;;)
			pause();
	}
	return pid;
}

/* How many lines of /proc/<pid>/cgroup end with suffix. */
static size_t cgroup_lines_ending(pid_t pid, const char *suffix)
{
	char path[64], line[1024];
	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	FILE *fp = fopen(path, "r");
	assert_non_null(fp);
	size_t n = 0, sl = strlen(suffix);
	while (fgets(line, sizeof(line), fp)) {
		line[strcspn(line, "\n")] = '\0';
		size_t l = strlen(line);
		if (l >= sl && strcmp(line + l - sl, suffix) == 0)
			n++;
	}
	fclose(fp);
	return n;
}

static void test_cgroup_every_hierarchy(void **state)
{
	if (!is_root())
		skip();
	struct fixture *f = *state;
	struct cgroup_layout layout;
	ocid_error *err = NULL;
	if (cgroup_layout_load(&layout, &err) < 0)
		fail_msg("%s", err->msg);
	if (layout.n == 0) {
		cgroup_layout_free(&layout);
		skip();
	}
	char top[64], path[128];
	snprintf(top, sizeof(top), "/ocid-test-%d", (int)getpid());
	snprintf(path, sizeof(path), "%s/pod-a", top);
	if (pod_cgroup_create(&layout, path, &f->cg[0], &err) < 0)
		fail_msg("%s", err->msg);
	struct pod_cgroup *cg = f->cg[0];
	size_t writable = 0;
	for (size_t i = 0; i < layout.n; i++)
		writable += !layout.h[i].read_only;
	assert_int_equal(cg->n, writable);
	char **dirs = NULL;
	pod_cgroup_dirs(cg, &dirs);
	for (size_t i = 0; i < cg->n; i++) {
		assert_true(dir_exists(dirs[i]));
		assert_int_equal(cg->h[i].created, 2);
	}

	/* a process moved in, into a leaf of the pod cgroup, in every hierarchy */
	f->children[0] = spawn_sleeper();
	if (pod_cgroup_add_pid(cg, "ocid-test-leaf", f->children[0], &err) < 0)
		fail_msg("%s", err->msg);
	char suffix[192];
	snprintf(suffix, sizeof(suffix), ":%s/ocid-test-leaf", path);
	assert_int_equal(cgroup_lines_ending(f->children[0], suffix), cg->n);

	/* the record survives a round trip, and removal works from it */
	json_t *j = pod_cgroup_to_json(cg);
	struct pod_cgroup *restored = NULL;
	if (pod_cgroup_from_json(j, &restored, &err) < 0)
		fail_msg("%s", err->msg);
	json_decref(j);
	f->cg[1] = restored;

	kill(f->children[0], SIGKILL);
	waitpid(f->children[0], NULL, 0);
	f->children[0] = 0;
	const char *leaves[] = {"ocid-test-leaf", NULL};
	if (pod_cgroup_remove(restored, leaves, &err) < 0)
		fail_msg("%s", err->msg);
	for (size_t i = 0; i < cg->n; i++) {
		assert_false(dir_exists(dirs[i]));
		char *parent = strdup(dirs[i]);
		*strrchr(parent, '/') = '\0';
		assert_false(dir_exists(parent)); /* /ocid-test-<pid>: ocid made it */
		free(parent);
		free(dirs[i]);
	}
	free(dirs);
	/* idempotent */
	if (pod_cgroup_remove(cg, leaves, &err) < 0)
		fail_msg("%s", err->msg);
	cgroup_layout_free(&layout);
}

static void test_cgroup_existing_parent_kept(void **state)
{
	if (!is_root())
		skip();
	struct fixture *f = *state;
	struct cgroup_layout layout;
	ocid_error *err = NULL;
	if (cgroup_layout_load(&layout, &err) < 0)
		fail_msg("%s", err->msg);
	if (layout.n == 0) {
		cgroup_layout_free(&layout);
		skip();
	}
	char top[64], path[128], other[128];
	snprintf(top, sizeof(top), "/ocid-test-%d-b", (int)getpid());
	snprintf(path, sizeof(path), "%s/pod-b", top);
	snprintf(other, sizeof(other), "%s/pod-c", top);
	/* "the kubelet" made the parent; another pod lives next to ours */
	if (pod_cgroup_create(&layout, other, &f->cg[2], &err) < 0)
		fail_msg("%s", err->msg);
	if (pod_cgroup_create(&layout, path, &f->cg[0], &err) < 0)
		fail_msg("%s", err->msg);
	for (size_t i = 0; i < f->cg[0]->n; i++)
		assert_int_equal(f->cg[0]->h[i].created, 1);
	/* the same pod cgroup again (a second sandbox of the pod): reused */
	if (pod_cgroup_create(&layout, path, &f->cg[1], &err) < 0)
		fail_msg("%s", err->msg);
	for (size_t i = 0; i < f->cg[1]->n; i++)
		assert_int_equal(f->cg[1]->h[i].created, 0);
	/* while the second sandbox has a child cgroup, the first cannot remove it */
	f->children[0] = spawn_sleeper();
	if (pod_cgroup_add_pid(f->cg[1], "ocid-test-leaf2", f->children[0], &err) < 0)
		fail_msg("%s", err->msg);
	const char *leaves[] = {"ocid-test-leaf", NULL};
	if (pod_cgroup_remove(f->cg[0], leaves, &err) < 0)
		fail_msg("%s", err->msg);
	char **dirs = NULL;
	pod_cgroup_dirs(f->cg[0], &dirs);
	for (size_t i = 0; i < f->cg[0]->n; i++)
		assert_true(dir_exists(dirs[i]));
	kill(f->children[0], SIGKILL);
	waitpid(f->children[0], NULL, 0);
	f->children[0] = 0;
	const char *leaves2[] = {"ocid-test-leaf2", NULL};
	if (pod_cgroup_remove(f->cg[1], leaves2, &err) < 0) /* created nothing: leaf only */
		fail_msg("%s", err->msg);
	for (size_t i = 0; i < f->cg[0]->n; i++)
		assert_true(dir_exists(dirs[i]));
	if (pod_cgroup_remove(f->cg[0], leaves, &err) < 0)
		fail_msg("%s", err->msg);
	for (size_t i = 0; i < f->cg[0]->n; i++) {
		assert_false(dir_exists(dirs[i]));
		*strrchr(dirs[i], '/') = '\0';
		assert_true(dir_exists(dirs[i])); /* not ocid's to remove */
	}
	if (pod_cgroup_remove(f->cg[2], NULL, &err) < 0)
		fail_msg("%s", err->msg);
	for (size_t i = 0; i < f->cg[0]->n; i++) {
		assert_false(dir_exists(dirs[i])); /* pod-c created it: gone with it */
		free(dirs[i]);
	}
	free(dirs);
	cgroup_layout_free(&layout);
}

/* ---- ocid-pause ---- */

static const char *pause_path(void)
{
	const char *p = getenv("OCID_PAUSE");
	return p && *p ? p : NULL;
}

static long ms_since(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

/* From a process that joins the pinned PID namespace (and mounts its own
 * /proc in a private mount namespace): the comm of pid 1, and its own pid. */
static void look_at_pid1(const char *pidns, char *comm, size_t size, int *own_pid)
{
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		int fd = open(pidns, O_RDONLY);
		if (fd < 0 || setns(fd, CLONE_NEWPID) < 0)
			_exit(3);
		pid_t g = fork(); /* setns on a PID namespace applies to children */
		if (g < 0)
			_exit(4);
		if (g == 0) {
			char buf[96] = "";
			int me = (int)getpid();
			if (unshare(CLONE_NEWNS) == 0 &&
			    mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) == 0 &&
			    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) == 0)
				read_proc("/proc/1/comm", buf, 64);
			memcpy(buf + 64, &me, sizeof(me));
			if (write(p[1], buf, sizeof(buf)) != (ssize_t)sizeof(buf))
				_exit(2);
			_exit(0);
		}
		waitpid(g, NULL, 0);
		_exit(0);
	}
	close(p[1]);
	char buf[96];
	assert_int_equal(read(p[0], buf, sizeof(buf)), sizeof(buf));
	close(p[0]);
	/* Only the data counts: exit codes of forked test processes may be
	 * changed by a checker such as valgrind --error-exitcode. */
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	buf[63] = '\0';
	snprintf(comm, size, "%.63s", buf);
	memcpy(own_pid, buf + 64, sizeof(*own_pid));
}

/* An orphan in the pod's PID namespace is reaped by ocid-pause. Returns the
 * orphan's pid in our namespace. */
static pid_t make_orphan(const char *pidns)
{
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		int fd = open(pidns, O_RDONLY);
		if (fd < 0 || setns(fd, CLONE_NEWPID) < 0)
			_exit(3);
		pid_t g = fork();
		if (g == 0) {
			struct timespec ts = {0, 200 * 1000000L};
			nanosleep(&ts, NULL);
			_exit(0);
		}
		if (write(p[1], &g, sizeof(g)) != (ssize_t)sizeof(g))
			_exit(2);
		_exit(0); /* g is orphaned: reparented to pid 1 of its namespace */
	}
	close(p[1]);
	pid_t g = -1;
	assert_int_equal(read(p[0], &g, sizeof(g)), sizeof(g));
	close(p[0]);
	waitpid(pid, NULL, 0);
	return g;
}

static void test_pause_pid1_of_pinned_pidns(void **state)
{
	if (!is_root())
		skip();
	if (pause_path() == NULL)
		skip();
	struct fixture *f = *state;
	prepare_root(f);
	ocid_error *err = NULL;
	struct pod_ns_spec spec = {.pin_dir = f->pin_dir, .net = true, .ipc = true, .uts = true,
				   .hostname = "pause-pod"};
	struct pod_ns ns;
	if (pod_ns_create(&spec, &ns, &err) < 0)
		fail_msg("%s", err->msg);
	struct cgroup_layout layout;
	if (cgroup_layout_load(&layout, &err) < 0)
		fail_msg("%s", err->msg);
	char path[128];
	snprintf(path, sizeof(path), "/ocid-test-%d-pause/pod", (int)getpid());
	if (layout.n > 0 && pod_cgroup_create(&layout, path, &f->cg[0], &err) < 0)
		fail_msg("%s", err->msg);
	cgroup_layout_free(&layout);

	struct pod_pause_spec ps = {.pause_path = pause_path(), .ns = &ns, .pin_dir = f->pin_dir,
				    .cgroup = f->cg[0], .cgroup_leaf = "ocid-test-leaf"};
	if (pod_pause_start(&ps, &f->pause, &err) < 0)
		fail_msg("%s", err->msg);
	pid_t pid = f->pause.pid;
	assert_true(pid > 0);
	assert_true(pod_pause_alive(pid, f->pause.start_time));
	assert_false(pod_pause_alive(pid, f->pause.start_time + 1));
	if (pod_ns_check_pin(f->pause.pidns_path, POD_NS_PID, &err) < 0)
		fail_msg("%s", err->msg);

	/* pid 1 of its own namespace, in the pod's net/uts namespaces and cgroup */
	char status_path[64], line[256];
	snprintf(status_path, sizeof(status_path), "/proc/%d/status", (int)pid);
	FILE *sf = fopen(status_path, "r");
	assert_non_null(sf);
	bool nspid_ok = false;
	while (fgets(line, sizeof(line), sf)) {
		int outer = 0, inner = 0;
		if (sscanf(line, "NSpid:\t%d\t%d", &outer, &inner) == 2)
			nspid_ok = outer == (int)pid && inner == 1;
	}
	fclose(sf);
	assert_true(nspid_ok);
	for (int t = 0; t < 3; t++) {
		char nspath[64];
		snprintf(nspath, sizeof(nspath), "/proc/%d/ns/%s", (int)pid,
			 pod_ns_type_name((enum pod_ns_type)t));
		struct stat a, b;
		assert_int_equal(stat(nspath, &a), 0);
		assert_int_equal(stat(ns.path[t], &b), 0);
		assert_true(a.st_ino == b.st_ino);
	}
	if (f->cg[0]) {
		char suffix[192];
		snprintf(suffix, sizeof(suffix), ":%s/ocid-test-leaf", path);
		assert_int_equal(cgroup_lines_ending(pid, suffix), f->cg[0]->n);
	}

	/* a process joining the pinned namespace sees ocid-pause as pid 1 */
	char comm[64];
	int own = 0;
	look_at_pid1(f->pause.pidns_path, comm, sizeof(comm), &own);
	assert_string_equal(comm, "ocid-pause");
	assert_true(own > 1);

	/* orphans are reaped: the orphan's /proc entry goes (or its pid is
	 * reused: told apart by start time; a zombie would stay) */
	pid_t orphan = make_orphan(f->pause.pidns_path);
	uint64_t orphan_start = 0;
	ocid_error *oerr = NULL;
	bool reaped = pod_proc_start_time(orphan, &orphan_start, &oerr) < 0;
	err_clear(&oerr);
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!reaped && ms_since(&t0) < 10000) {
		uint64_t st_now = 0;
		if (pod_proc_start_time(orphan, &st_now, &oerr) < 0 || st_now != orphan_start)
			reaped = true;
		err_clear(&oerr);
		struct timespec ts = {0, 20 * 1000000L};
		nanosleep(&ts, NULL);
	}
	assert_true(reaped);

	/* a stale record (pid reused) is not killed */
	assert_int_equal(pod_pause_stop(pid, f->pause.start_time + 1, 100, &err), 0);
	assert_true(pod_pause_alive(pid, f->pause.start_time));

	/* SIGTERM is enough: stop returns well before the timeout */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (pod_pause_stop(pid, f->pause.start_time, 5000, &err) < 0)
		fail_msg("%s", err->msg);
	assert_true(ms_since(&t0) < 4000); /* SIGKILL would come at 5000 */
	assert_false(pod_pause_alive(pid, f->pause.start_time));
	assert_int_equal(waitpid(pid, NULL, WNOHANG), -1); /* reaped already */
	assert_int_equal(errno, ECHILD);
	assert_int_equal(pod_pause_stop(pid, f->pause.start_time, 100, &err), 0);
	f->pause.pid = -1;

	if (pod_ns_remove(f->pin_dir, &err) < 0)
		fail_msg("%s", err->msg);
	assert_int_equal(mounts_mentioning(f->pin_dir), 0);
	pod_ns_free(&ns);
}

static void test_pause_stop_right_after_start(void **state)
{
	if (!is_root())
		skip();
	if (pause_path() == NULL)
		skip();
	struct fixture *f = *state;
	prepare_root(f);
	ocid_error *err = NULL;
	/* start returns once ocid-pause handles SIGTERM: a stop at once is quick */
	for (int i = 0; i < 5; i++) {
		struct pod_pause_spec ps = {.pause_path = pause_path(), .pin_dir = f->pin_dir};
		if (pod_pause_start(&ps, &f->pause, &err) < 0)
			fail_msg("%s", err->msg);
		struct timespec t0;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		if (pod_pause_stop(f->pause.pid, f->pause.start_time, 3000, &err) < 0)
			fail_msg("%s", err->msg);
		assert_true(ms_since(&t0) < 2500); /* SIGKILL would come at 3000 */
		f->pause.pid = -1;
		pod_pause_free(&f->pause);
		if (pod_ns_remove(f->pin_dir, &err) < 0)
			fail_msg("%s", err->msg);
	}
}

static void test_pause_bad_binary(void **state)
{
	if (!is_root())
		skip();
	struct fixture *f = *state;
	prepare_root(f);
	ocid_error *err = NULL;
	struct pod_pause_spec ps = {.pause_path = "/nonexistent/ocid-pause", .pin_dir = f->pin_dir};
	struct pod_pause p;
	assert_int_equal(pod_pause_start(&ps, &p, &err), -1);
	assert_int_equal(err->code, GRPC_FAILED_PRECONDITION);
	assert_non_null(strstr(err->msg, "/nonexistent/ocid-pause"));
	err_clear(&err);
	/* executable but not a program: exec fails in the child, reported */
	char script[192];
	snprintf(script, sizeof(script), "%s/not-a-program", f->dir);
	FILE *sf = fopen(script, "w");
	assert_non_null(sf);
	fputs("\x7f" "ELF garbage", sf);
	fclose(sf);
	chmod(script, 0755);
	ps.pause_path = script;
	assert_int_equal(pod_pause_start(&ps, &p, &err), -1);
	assert_non_null(strstr(err->msg, "exec"));
	err_clear(&err);
	assert_int_equal(mounts_mentioning(f->pin_dir), 0);

	/* a "namespace" that is not one: setns fails in the child, reported */
	if (pause_path()) {
		struct pod_ns fake = {0};
		fake.path[POD_NS_NET] = script;
		ps.pause_path = pause_path();
		ps.ns = &fake;
		assert_int_equal(pod_pause_start(&ps, &p, &err), -1);
		if (strstr(err->msg, "join the pod's net namespace") == NULL)
			fail_msg("%s", err->msg);
		err_clear(&err);
		assert_int_equal(mounts_mentioning(f->pin_dir), 0);
	}
}

/* ---- /dev/shm ---- */

static void test_shm_tmpfs(void **state)
{
	if (!is_root())
		skip();
	struct fixture *f = *state;
	ocid_error *err = NULL;
	char *shm = NULL;
	assert_int_equal(pod_shm_setup(f->dir, true, 0, &shm, &err), 0);
	assert_string_equal(shm, "/dev/shm");
	free(shm);

	if (pod_shm_setup(f->dir, false, 0, &shm, &err) < 0)
		fail_msg("%s", err->msg);
	struct statfs sfs;
	assert_int_equal(statfs(shm, &sfs), 0);
	assert_true((unsigned long)sfs.f_type == (unsigned long)TMPFS_MAGIC);
	assert_int_equal((unsigned long long)sfs.f_blocks * sfs.f_bsize, 64ull << 20);
	struct stat st;
	assert_int_equal(stat(shm, &st), 0);
	assert_int_equal(st.st_mode & 07777, 01777);
	FILE *m = fopen("/proc/self/mountinfo", "r");
	char line[4096];
	bool flags_ok = false;
	while (fgets(line, sizeof(line), m))
		if (strstr(line, shm))
			flags_ok = strstr(line, "nosuid") && strstr(line, "nodev") &&
				   strstr(line, "noexec");
	fclose(m);
	assert_true(flags_ok);
	/* set up again (after a restart): reused, not mounted twice */
	char *again = NULL;
	if (pod_shm_setup(f->dir, false, 0, &again, &err) < 0)
		fail_msg("%s", err->msg);
	assert_string_equal(again, shm);
	free(again);
	assert_int_equal(mounts_mentioning(shm), 1);

	if (pod_shm_teardown(f->dir, &err) < 0)
		fail_msg("%s", err->msg);
	assert_int_equal(mounts_mentioning(shm), 0);
	assert_int_equal(access(shm, F_OK), -1);
	assert_int_equal(pod_shm_teardown(f->dir, &err), 0);
	free(shm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_namespaces_pinned_and_seen_inside, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_host_namespaces_not_pinned, setup, teardown),
		cmocka_unit_test_setup_teardown(test_helper_errors_reported, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cgroup_every_hierarchy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cgroup_existing_parent_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pause_pid1_of_pinned_pidns, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pause_stop_right_after_start, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pause_bad_binary, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shm_tmpfs, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
