/* ctr/spec with the real runc: config.json documents built by spec_build are
 * run (`runc run`) in a bundle whose rootfs holds a static busybox, and
 * what the container sees is checked: capabilities in /proc/self/status,
 * the user, seccomp blocking a user namespace, the clamped oom_score_adj and
 * RLIMIT_NOFILE, a read-only rootfs, the memory limit in its cgroup, image
 * volumes, the termination-log mount, a privileged container's devices and
 * mount rights. Needs root, runc and busybox (skipped otherwise). Every
 * container, cgroup and directory is removed afterwards, on failure too. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "ctr/spec.h"
#include "util/fs.h"
#include "util/pbjson.h"
#include "util/spawn.h"

static const char *runc_path;
static const char *busybox_path;
static char tmp[128];
static char rootfs[200], sandbox[200], runc_root[200], volumes[200], termlog[240];
static char cgroup_parent[64];
static struct ocid_config *cfg;
static struct spec_host host;
static int counter;

static const char *first_existing(const char *const *paths)
{
	for (size_t i = 0; paths[i]; i++)
		if (access(paths[i], X_OK) == 0)
			return paths[i];
	return NULL;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

static int copy_file(const char *from, const char *to)
{
	int in = open(from, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -1;
	int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	if (out < 0) {
		close(in);
		return -1;
	}
	char buf[65536];
	ssize_t n;
	int rc = 0;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (fs_write_all(out, buf, (size_t)n) < 0)
			rc = -1;
	close(in);
	close(out);
	return n < 0 ? -1 : rc;
}

/* Calls fn(dir) for /sys/fs/cgroup<cgroup_parent>[/leaf] and the same under
 * every hierarchy mounted below /sys/fs/cgroup (v1 controllers, and the v2
 * one at /sys/fs/cgroup/unified on hybrid hosts). */
static void for_each_cgroup_dir(const char *leaf, void (*fn)(const char *dir, void *arg),
				void *arg)
{
	char path[512];
	snprintf(path, sizeof(path), "/sys/fs/cgroup%s%s%s", cgroup_parent, leaf ? "/" : "",
		 leaf ? leaf : "");
	fn(path, arg);
	DIR *d = opendir("/sys/fs/cgroup");
	if (d == NULL)
		return;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' || e->d_type != DT_DIR)
			continue;
		snprintf(path, sizeof(path), "/sys/fs/cgroup/%s%s%s%s", e->d_name, cgroup_parent,
			 leaf ? "/" : "", leaf ? leaf : "");
		fn(path, arg);
	}
	closedir(d);
}

/* rmdir dir after its child cgroups (leftovers of a failed test). */
static void rmdir_fn(const char *dir, void *arg)
{
	(void)arg;
	DIR *d = opendir(dir);
	if (d) {
		struct dirent *e;
		char sub[600];
		while ((e = readdir(d)) != NULL)
			if (e->d_type == DT_DIR && e->d_name[0] != '.') {
				snprintf(sub, sizeof(sub), "%s/%s", dir, e->d_name);
				rmdir(sub);
			}
		closedir(d);
	}
	rmdir(dir);
}

static void exists_fn(const char *dir, void *arg)
{
	struct stat st;
	if (stat(dir, &st) == 0) {
		fprintf(stderr, "cgroup left behind: %s\n", dir);
		*(bool *)arg = true;
	}
}

/* runc removes the container's leaf cgroup; the parent is the test's. */
static void remove_cgroups(const char *leaf)
{
	if (leaf)
		for_each_cgroup_dir(leaf, rmdir_fn, NULL);
	for_each_cgroup_dir(NULL, rmdir_fn, NULL);
}

static bool cgroups_left(void)
{
	bool any = false;
	for_each_cgroup_dir(NULL, exists_fn, &any);
	return any;
}

static int run_runc(const char *const *argv, struct spawn_result *res);

static int group_setup(void **state)
{
	(void)state;
	static const char *const runcs[] = {"/usr/sbin/runc", "/usr/bin/runc",
					    "/usr/local/sbin/runc", "/usr/local/bin/runc", NULL};
	static const char *const busyboxes[] = {"/bin/busybox", "/usr/bin/busybox", NULL};
	runc_path = first_existing(runcs);
	busybox_path = first_existing(busyboxes);
	if (geteuid() != 0 || runc_path == NULL || busybox_path == NULL)
		return 0; /* each test skips */
	snprintf(tmp, sizeof(tmp), "/tmp/ocid-test-spec-runc-XXXXXX");
	if (mkdtemp(tmp) == NULL)
		return -1;
	chmod(tmp, 0755);
	snprintf(rootfs, sizeof(rootfs), "%s/rootfs", tmp);
	snprintf(sandbox, sizeof(sandbox), "%s/sandbox", tmp);
	snprintf(runc_root, sizeof(runc_root), "%s/runc-root", tmp);
	snprintf(volumes, sizeof(volumes), "%s/volumes", tmp);
	snprintf(termlog, sizeof(termlog), "%s/termination-log", sandbox);
	snprintf(cgroup_parent, sizeof(cgroup_parent), "/ocid-spec-test-%d", (int)getpid());
	char p[300];
	static const char *const dirs[] = {"", "/bin", "/etc", "/tmp", "/proc", "/sys", "/dev",
					   NULL};
	for (size_t i = 0; dirs[i]; i++) {
		snprintf(p, sizeof(p), "%s%s", rootfs, dirs[i]);
		mkdir(p, 0755);
	}
	mkdir(sandbox, 0755);
	mkdir(runc_root, 0700);
	mkdir(volumes, 0755);
	snprintf(p, sizeof(p), "%s/bin/busybox", rootfs);
	if (copy_file(busybox_path, p) < 0)
		return -1;
	static const char *const applets[] = {"sh", "id", "grep", "cat", "unshare", "touch",
					      "echo", "ls", "mount", "hostname", "head", NULL};
	for (size_t i = 0; applets[i]; i++) {
		snprintf(p, sizeof(p), "%s/bin/%s", rootfs, applets[i]);
		if (symlink("busybox", p) < 0)
			return -1;
	}
	snprintf(p, sizeof(p), "%s/etc/passwd", rootfs);
	write_file(p, "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n",
		   0644);
	snprintf(p, sizeof(p), "%s/etc/group", rootfs);
	write_file(p, "root:x:0:\nwheel:x:10:app\napp:x:1000:\n", 0644);
	snprintf(p, sizeof(p), "%s/resolv.conf", sandbox);
	write_file(p, "nameserver 192.0.2.53\n", 0644);
	snprintf(p, sizeof(p), "%s/hostname", sandbox);
	write_file(p, "spec-pod\n", 0644);
	snprintf(p, sizeof(p), "%s/hosts", sandbox);
	write_file(p, "127.0.0.1 localhost\n", 0644);
	write_file(termlog, "", 0666);

	cfg = config_new();
	ocid_error *err = NULL;
	if (cfg == NULL || spec_host_detect(&host, &err) < 0)
		return -1;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	if (tmp[0] == '\0')
		return 0;
	/* containers a failed test may have left */
	const char *list_argv[] = {runc_path, "--root", runc_root, "list", "-q", NULL};
	struct spawn_result lr = {0};
	if (run_runc(list_argv, &lr) == 0 && lr.out) {
		char *save = NULL;
		for (char *id = strtok_r(lr.out, "\n", &save); id; id = strtok_r(NULL, "\n", &save)) {
			const char *del_argv[] = {runc_path, "--root", runc_root, "delete",
						  "--force", id, NULL};
			struct spawn_result dr = {0};
			run_runc(del_argv, &dr);
			spawn_result_free(&dr);
		}
	}
	spawn_result_free(&lr);
	remove_cgroups(NULL);
	config_free(cfg);
	ocid_error *err = NULL;
	if (fs_remove_all(tmp, &err) < 0) {
		fprintf(stderr, "cleanup: %s\n", err->msg);
		err_free(err);
	}
	return 0;
}

struct run {
	int exit_code;
	char *out;
	char *err;
};

static void run_free(struct run *r)
{
	free(r->out);
	free(r->err);
}

static int run_runc(const char *const *argv, struct spawn_result *res)
{
	static const char *const env[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};
	struct spawn_opts o = {
		.argv = argv,
		.envp = env,
		.deadline_ns = spawn_deadline_ms(60000),
	};
	ocid_error *err = NULL;
	int rc = spawn_run(&o, res, &err);
	if (rc < 0) {
		fprintf(stderr, "spawn %s: %s\n", argv[0], err->msg);
		err_free(err);
	}
	return rc;
}

/* What a test may change in the input: the pod and its namespaces. */
struct extra {
	const char *pod_json;
	struct spec_ns net, ipc, uts;
};

static ProtobufCMessage *parse(const ProtobufCMessageDescriptor *desc, const char *text)
{
	json_t *j = json_loads(text, 0, NULL);
	assert_non_null(j);
	ProtobufCMessage *m = NULL;
	ocid_error *err = NULL;
	if (pbjson_to_message(desc, j, &m, &err) < 0)
		fail_msg("pbjson: %s", err->msg);
	json_decref(j);
	return m;
}

/* Builds the spec for ctr_json (image: volume /data) and runs it. */
static void run_container_x(const char *ctr_json, const struct extra *x, struct run *out)
{
	memset(out, 0, sizeof(*out));
	char id[64], bundle[300], config_path[400];
	snprintf(id, sizeof(id), "ocid-spec-test-%d-%d", (int)getpid(), counter++);
	snprintf(bundle, sizeof(bundle), "%s/bundle-%s", tmp, id);
	assert_int_equal(mkdir(bundle, 0700), 0);

	ocid_error *err = NULL;
	ProtobufCMessage *m = parse(&runtime__v1__container_config__descriptor, ctr_json);
	Runtime__V1__ContainerConfig *ctr = (Runtime__V1__ContainerConfig *)m;
	ProtobufCMessage *pod = x && x->pod_json
					? parse(&runtime__v1__pod_sandbox_config__descriptor,
						x->pod_json)
					: NULL;

	char *const vols[] = {"/data", NULL};
	struct spec_image image = {.volumes = vols, .name = "busybox"};
	char vdir[400];
	snprintf(vdir, sizeof(vdir), "%s/%s", volumes, id);
	mkdir(vdir, 0755);
	struct spec_input in = {
		.container_id = id,
		.sandbox_id = "spec-test-pod",
		.ctr = ctr,
		.image = &image,
		.rtcfg = &cfg->runtime,
		.host = &host,
		.rootfs = rootfs,
		.sandbox_dir = sandbox,
		.volumes_dir = vdir,
		.cgroup_parent = cgroup_parent,
		.termination_message_host_path = termlog,
		.pod = (Runtime__V1__PodSandboxConfig *)pod,
	};
	if (x) {
		in.net = x->net;
		in.ipc = x->ipc;
		in.uts = x->uts;
	}
	struct spec_result res;
	if (spec_build(&in, &res, &err) < 0)
		fail_msg("spec_build: %s", err->msg);
	protobuf_c_message_free_unpacked(m, NULL);
	if (pod)
		protobuf_c_message_free_unpacked(pod, NULL);
	assert_int_equal(spec_volumes_create(&res, &err), 0);
	char *text = spec_dumps(res.config, &err);
	assert_non_null(text);
	snprintf(config_path, sizeof(config_path), "%s/config.json", bundle);
	assert_int_equal(fs_write_atomic(config_path, text, strlen(text), 0600, &err), 0);
	free(text);
	spec_result_free(&res);

	const char *run_argv[] = {runc_path, "--root", runc_root, "run", "--bundle", bundle, id,
				  NULL};
	struct spawn_result sr = {0};
	int rc = run_runc(run_argv, &sr);
	out->exit_code = rc < 0 ? -1 : sr.exited ? sr.exit_code : 128 + sr.signal;
	out->out = strdup(sr.out ? sr.out : "");
	out->err = strdup(sr.err ? sr.err : "");
	spawn_result_free(&sr);

	/* `run` deletes the container when it exits; make sure anyway. */
	const char *del_argv[] = {runc_path, "--root", runc_root, "delete", "--force", id, NULL};
	struct spawn_result dr = {0};
	run_runc(del_argv, &dr);
	spawn_result_free(&dr);
	char leaf[128];
	snprintf(leaf, sizeof(leaf), "ocid-%s", id);
	remove_cgroups(leaf);
	assert_false(cgroups_left());
}

static void run_container(const char *ctr_json, struct run *out)
{
	run_container_x(ctr_json, NULL, out);
}

static void expect_exit(const struct run *r, int code)
{
	if (r->exit_code != code)
		fail_msg("runc exited with %d, want %d\nstdout:\n%s\nstderr:\n%s", r->exit_code,
			 code, r->out, r->err);
}

static void expect(const struct run *r, const char *needle)
{
	if (strstr(r->out, needle) == NULL)
		fail_msg("output lacks \"%s\":\n%s\nstderr:\n%s", needle, r->out, r->err);
}

#define READY()                                                                              \
	do {                                                                                 \
		if (tmp[0] == '\0')                                                          \
			skip();                                                              \
	} while (0)

static void test_runc_default(void **state)
{
	(void)state;
	READY();
	struct run r;
	run_container(
		"{\"metadata\": {\"name\": \"default\"}, \"command\": [\"sh\", \"-c\", "
		"\"grep -E '^Cap(Eff|Bnd|Inh|Amb)' /proc/self/status; id; echo nofile=$(ulimit -n);"
		" echo oom=$(cat /proc/self/oom_score_adj); cat /etc/resolv.conf;"
		" unshare -U true 2>/dev/null && echo USERNS-ALLOWED || echo USERNS-DENIED;"
		" touch /data/x && echo VOLUME-RW; echo bye > /dev/termination-log && echo TERM-OK;"
		" echo home=$HOME; grep -q . /proc/kcore 2>/dev/null || echo KCORE-MASKED\"],"
		" \"linux\": {\"resources\": {\"oom_score_adj\": -999, \"cpu_shares\": 512}}}",
		&r);
	expect_exit(&r, 0);
	/* cri-o's default set: CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID
	 * SETUID SETPCAP NET_BIND_SERVICE */
	expect(&r, "CapEff:\t00000000000005fb");
	expect(&r, "CapBnd:\t00000000000005fb");
	expect(&r, "CapInh:\t0000000000000000");
	expect(&r, "CapAmb:\t0000000000000000");
	expect(&r, "uid=0(root) gid=0(root)");
	char want[64];
	uint64_t nofile = host.rlimit_max[RLIMIT_NOFILE];
	snprintf(want, sizeof(want), "nofile=%llu",
		 (unsigned long long)(nofile < SPEC_DEFAULT_NOFILE ? nofile : SPEC_DEFAULT_NOFILE));
	expect(&r, want);
	snprintf(want, sizeof(want), "oom=%d",
		 host.oom_score_adj_min > -999 ? host.oom_score_adj_min : -999);
	expect(&r, want);
	expect(&r, "nameserver 192.0.2.53");
	expect(&r, "USERNS-DENIED");
	expect(&r, "VOLUME-RW");
	expect(&r, "TERM-OK");
	expect(&r, "home=/root");
	expect(&r, "KCORE-MASKED");
	run_free(&r);
}

static void test_runc_user_readonly_limits(void **state)
{
	(void)state;
	READY();
	struct run r;
	run_container(
		"{\"metadata\": {\"name\": \"user\"}, \"command\": [\"sh\", \"-c\", "
		"\"id; grep -E '^CapEff' /proc/self/status;"
		" touch /rootfs-write 2>/dev/null && echo ROOT-RW || echo ROOT-RO;"
		" echo limit=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null ||"
		" cat /sys/fs/cgroup/memory.max);"
		" echo msg > /dev/termination-log && echo TERM-OK; echo home=$HOME\"],"
		" \"linux\": {\"security_context\": {\"run_as_username\": \"app\","
		" \"readonly_rootfs\": true, \"no_new_privs\": true,"
		" \"capabilities\": {\"drop_capabilities\": [\"ALL\"]}},"
		" \"resources\": {\"memory_limit_in_bytes\": 67108864, \"cpu_quota\": 50000,"
		" \"cpu_period\": 100000}}}",
		&r);
	expect_exit(&r, 0);
	expect(&r, "uid=1000(app) gid=1000(app) groups=10(wheel)");
	expect(&r, "CapEff:\t0000000000000000");
	expect(&r, "ROOT-RO");
	expect(&r, "limit=67108864");
	expect(&r, "TERM-OK");
	expect(&r, "home=/home/app");
	run_free(&r);
}

static void test_runc_privileged(void **state)
{
	(void)state;
	READY();
	struct run r;
	run_container("{\"metadata\": {\"name\": \"priv\"}, \"command\": [\"sh\", \"-c\", "
		      "\"grep -E '^CapEff' /proc/self/status; ls /dev/null /dev/zero >/dev/null &&"
		      " echo DEVICES; mount -t tmpfs none /tmp && echo MOUNT-OK;"
		      " unshare -U true && echo USERNS-ALLOWED\"],"
		      " \"linux\": {\"security_context\": {\"privileged\": true}}}",
		      &r);
	expect_exit(&r, 0);
	char want[64];
	uint64_t all = host.cap_bounding &
		       (host.cap_last_cap >= 63 ? ~0ULL : ((1ULL << (host.cap_last_cap + 1)) - 1));
	snprintf(want, sizeof(want), "CapEff:\t%016llx", (unsigned long long)all);
	expect(&r, want);
	expect(&r, "DEVICES");
	expect(&r, "MOUNT-OK");
	expect(&r, "USERNS-ALLOWED");
	run_free(&r);
}

/* Joining "pinned" namespaces (here those of a holder process, as the pod
 * code's pins would be): the container sees the holder's hostname, not the
 * pod's, since a joiner must never set it (it would rename the pod). */
static void test_runc_join_namespaces(void **state)
{
	(void)state;
	READY();
	if (access("/usr/bin/unshare", X_OK) != 0)
		skip();
	int pipefd[2];
	assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
	pid_t holder = fork();
	assert_true(holder >= 0);
	if (holder == 0) {
		dup2(pipefd[1], 1);
		execl("/usr/bin/unshare", "unshare", "--uts", "--ipc", "--net", "/bin/sh", "-c",
		      "hostname pinned-uts && echo ready && exec sleep 60", (char *)NULL);
		_exit(127);
	}
	close(pipefd[1]);
	char buf[16] = {0};
	ssize_t n = read(pipefd[0], buf, sizeof(buf) - 1);
	close(pipefd[0]);
	char net[64], ipc[64], uts[64];
	snprintf(net, sizeof(net), "/proc/%d/ns/net", (int)holder);
	snprintf(ipc, sizeof(ipc), "/proc/%d/ns/ipc", (int)holder);
	snprintf(uts, sizeof(uts), "/proc/%d/ns/uts", (int)holder);
	struct extra x = {
		.pod_json = "{\"hostname\": \"renamed-pod\"}",
		.net = {.path = net},
		.ipc = {.path = ipc},
		.uts = {.path = uts},
	};
	struct run r = {0};
	if (n > 0 && strncmp(buf, "ready", 5) == 0)
		run_container_x("{\"metadata\": {\"name\": \"join\"}, \"command\": [\"sh\", "
				"\"-c\", \"echo host=$(hostname) env=$HOSTNAME;"
				" ls /sys/class/net\"]}",
				&x, &r);
	kill(holder, SIGKILL);
	waitpid(holder, NULL, 0);
	assert_true(n > 0 && strncmp(buf, "ready", 5) == 0);
	expect_exit(&r, 0);
	expect(&r, "host=pinned-uts env=renamed-pod");
	expect(&r, "lo");
	assert_null(strstr(r.out, "eth0"));
	run_free(&r);
}

/* A failing command is reported by runc with the process's own status. */
static void test_runc_exit_code(void **state)
{
	(void)state;
	READY();
	struct run r;
	run_container("{\"metadata\": {\"name\": \"exit\"}, \"command\": [\"sh\", \"-c\", "
		      "\"exit 3\"]}",
		      &r);
	expect_exit(&r, 3);
	run_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_runc_default),
		cmocka_unit_test(test_runc_user_readonly_limits),
		cmocka_unit_test(test_runc_privileged),
		cmocka_unit_test(test_runc_join_namespaces),
		cmocka_unit_test(test_runc_exit_code),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
