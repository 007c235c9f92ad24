/* Containers through conmon + runc/crun, for real (root only; skipped
 * otherwise): a busybox bundle created, started, logged in CRI format, its
 * exit recorded by the exit watcher, stopped with a timeout, OOM-killed,
 * exec'd into (with a timeout that kills the command's whole process group),
 * and found again after the in-memory state was dropped ("ocid restart").
 * Everything is cleaned up even when a check fails: runtime state, conmon,
 * cgroups and the temporary directory. Latencies are printed to stderr. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <spawn.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "config/config.h"
#include "ctr/ctr_runtime.h"
#include "ctr/exit_watch.h"
#include "util/crilog.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/spawn.h"
#include "util/xalloc.h"

#define CONMON "/usr/bin/conmon"
#define RUNC "/usr/bin/runc"
#define CRUN "/usr/bin/crun"
#define BUSYBOX "/bin/busybox"
#define MAX_CTRS 512

/* ---- the fixture ---- */

struct exit_rec {
	char id[64];
	struct exit_info info;
	int count;
};

struct fx {
	char dir[64];
	char cgroup[64]; /* "/ocid-test-<pid>" */
	char *rootfs;
	char *run_dir;
	char *log_dir;
	struct ocid_config *cfg;
	struct ctr_runtime *rt;
	struct exit_watch *watch;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct exit_rec exits[MAX_CTRS];
	size_t n_exits;
	/* created containers, for cleanup whatever happens */
	char ids[MAX_CTRS][64];
	char runtimes[MAX_CTRS][16];
	size_t n_ids;
	int seq;
};

static struct fx *G;

static void on_exit_cb(const char *id, const struct exit_info *info, void *arg)
{
	struct fx *f = arg;
	pthread_mutex_lock(&f->mu);
	size_t i;
	for (i = 0; i < f->n_exits; i++)
		if (strcmp(f->exits[i].id, id) == 0)
			break;
	if (i == f->n_exits && f->n_exits < MAX_CTRS) {
		snprintf(f->exits[i].id, sizeof(f->exits[i].id), "%s", id);
		f->n_exits++;
	}
	if (i < MAX_CTRS) {
		f->exits[i].info = *info;
		f->exits[i].count++;
	}
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
}

/* Waits up to ms for the watcher to report id; false on timeout. */
static bool wait_exit(struct fx *f, const char *id, int ms, struct exit_info *out)
{
	struct timespec end;
	clock_gettime(CLOCK_REALTIME, &end);
	end.tv_sec += ms / 1000;
	end.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (end.tv_nsec >= 1000000000L) {
		end.tv_sec++;
		end.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&f->mu);
	for (;;) {
		for (size_t i = 0; i < f->n_exits; i++)
			if (strcmp(f->exits[i].id, id) == 0) {
				*out = f->exits[i].info;
				pthread_mutex_unlock(&f->mu);
				return true;
			}
		if (pthread_cond_timedwait(&f->cv, &f->mu, &end) != 0) {
			pthread_mutex_unlock(&f->mu);
			return false;
		}
	}
}

static void write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static int make_rootfs(const char *rootfs)
{
	static const char *const dirs[] = {"bin", "proc", "dev", "sys", "tmp", "etc"};
	if (mkdir(rootfs, 0755) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		char *p = xasprintf("%s/%s", rootfs, dirs[i]);
		int r = mkdir(p, 0755);
		free(p);
		if (r < 0)
			return -1;
	}
	char *dst = xasprintf("%s/bin/busybox", rootfs);
	int in = open(BUSYBOX, O_RDONLY), out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0755);
	free(dst);
	if (in < 0 || out < 0)
		return -1;
	char buf[65536];
	ssize_t n;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n)
			return -1;
	close(in);
	close(out);
	static const char *const applets[] = {"sh", "sleep", "echo", "cat", "head", "tr", "true", "ls", "ps", "kill", "stty"};
	for (size_t i = 0; i < sizeof(applets) / sizeof(applets[0]); i++) {
		char *l = xasprintf("%s/bin/%s", rootfs, applets[i]);
		int r = symlink("busybox", l);
		free(l);
		if (r < 0)
			return -1;
	}
	return 0;
}

/* Removes the test cgroup (and leftover children) in every hierarchy. */
static void remove_cgroups(const char *cgroup)
{
	DIR *d = opendir("/sys/fs/cgroup");
	if (d == NULL)
		return;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		char *top = xasprintf("/sys/fs/cgroup/%s%s", de->d_name, cgroup);
		DIR *sub = opendir(top);
		if (sub) {
			struct dirent *se;
			while ((se = readdir(sub)) != NULL) {
				if (se->d_type != DT_DIR || se->d_name[0] == '.')
					continue;
				char *leaf = xasprintf("%s/%s", top, se->d_name);
				rmdir(leaf);
				free(leaf);
			}
			closedir(sub);
			rmdir(top);
		}
		free(top);
	}
	closedir(d);
}

static bool have_prereqs(void)
{
	return geteuid() == 0 && access(CONMON, X_OK) == 0 && access(RUNC, X_OK) == 0 &&
	       access(BUSYBOX, R_OK) == 0;
}

static int open_watch(struct fx *f)
{
	ocid_error *err = NULL;
	if (exit_watch_open(&f->watch, ctr_runtime_exit_dir(f->rt), ctr_runtime_persist_root(f->rt), on_exit_cb, f,
			    &err) < 0 ||
	    exit_watch_start(f->watch, &err) < 0 || exit_watch_scan(f->watch, &err) < 0) {
		fprintf(stderr, "exit watch: %s\n", err->msg);
		err_free(err);
		return -1;
	}
	return 0;
}

static int open_runtime(struct fx *f)
{
	ocid_error *err = NULL;
	if (ctr_runtime_new(&f->rt, f->cfg, f->run_dir, OCI_MNTNS_AUTO, &err) < 0) {
		fprintf(stderr, "ctr_runtime_new: %s\n", err->msg);
		err_free(err);
		return -1;
	}
	return open_watch(f);
}

static void close_runtime(struct fx *f)
{
	exit_watch_close(f->watch);
	f->watch = NULL;
	ctr_runtime_free(f->rt);
	f->rt = NULL;
}

static int group_setup(void **state)
{
	if (!have_prereqs()) {
		*state = NULL;
		return 0;
	}
	struct fx *f = xcalloc(1, sizeof(*f));
	strcpy(f->dir, "/tmp/ocid-ctr-test.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->cgroup, sizeof(f->cgroup), "/ocid-test-%d", (int)getpid());
	pthread_mutex_init(&f->mu, NULL);
	pthread_cond_init(&f->cv, NULL);
	f->rootfs = xasprintf("%s/rootfs", f->dir);
	f->run_dir = xasprintf("%s/run", f->dir);
	f->log_dir = xasprintf("%s/logs", f->dir);
	if (make_rootfs(f->rootfs) < 0 || mkdir(f->log_dir, 0755) < 0)
		return -1;
	/* "logged": runc behind a script that records each call's arguments */
	char *logged = xasprintf("%s/runc-logged", f->dir);
	FILE *sf = fopen(logged, "w");
	if (sf == NULL)
		return -1;
	fprintf(sf, "#!/bin/sh\necho \"$*\" >> %s/runtime-calls\nexec %s \"$@\"\n", f->dir, RUNC);
	fclose(sf);
	chmod(logged, 0755);
	char *toml = xasprintf("[ocid.runtime]\n"
			       "conmon = \"%s\"\n"
			       "default_runtime = \"runc\"\n"
			       "[ocid.runtime.runtimes.runc]\n"
			       "runtime_path = \"%s\"\n"
			       "runtime_root = \"%s/runc-root\"\n"
			       "[ocid.runtime.runtimes.crun]\n"
			       "runtime_path = \"%s\"\n"
			       "runtime_root = \"%s/crun-root\"\n"
			       "[ocid.runtime.runtimes.logged]\n"
			       "runtime_path = \"%s\"\n"
			       "runtime_root = \"%s/runc-root\"\n",
			       CONMON, RUNC, f->dir, CRUN, f->dir, logged, f->dir);
	free(logged);
	f->cfg = config_new();
	ocid_error *err = NULL;
	if (config_load_string(f->cfg, toml, "test.conf", &err) < 0) {
		fprintf(stderr, "config: %s\n", err->msg);
		return -1;
	}
	free(toml);
	if (open_runtime(f) < 0)
		return -1;
	G = f;
	*state = f;
	return 0;
}

/* Kills and deletes whatever the tests left, in both runtimes. */
static void cleanup_containers(struct fx *f)
{
	for (size_t i = 0; i < f->n_ids; i++) {
		struct ctr_ref ref = {.id = f->ids[i], .runtime = f->runtimes[i]};
		char *bundle = xasprintf("%s/bundles/%s", f->dir, f->ids[i]);
		ref.bundle = bundle;
		ocid_error *err = NULL;
		if (f->rt && ctr_runtime_remove(f->rt, &ref, &err) < 0) {
			fprintf(stderr, "cleanup %s: %s\n", f->ids[i], err->msg);
			err_clear(&err);
		}
		free(bundle);
	}
	f->n_ids = 0;
}

static int group_teardown(void **state)
{
	struct fx *f = *state;
	if (f == NULL)
		return 0;
	cleanup_containers(f);
	close_runtime(f);
	remove_cgroups(f->cgroup);
	ocid_error *err = NULL;
	if (fs_remove_all(f->dir, &err) < 0) {
		fprintf(stderr, "remove %s: %s\n", f->dir, err->msg);
		err_free(err);
	}
	config_free(f->cfg);
	free(f->rootfs);
	free(f->run_dir);
	free(f->log_dir);
	pthread_mutex_destroy(&f->mu);
	pthread_cond_destroy(&f->cv);
	free(f);
	return 0;
}

#define SKIP_UNLESS_ROOT(state) \
	do { \
		if (*(state) == NULL) { \
			skip(); \
		} \
	} while (0)

/* ---- containers ---- */

struct ctr {
	char id[64];
	char runtime[16];
	char *bundle;
	char *log_path;
	struct ctr_ref ref;
	struct conmon_created created;
};

static double ms_since(int64_t t0) { return (double)(spawn_now_ns() - t0) / 1e6; }

/* Writes a bundle running `sh -c script` and creates the container. */
static void ctr_create_ex(struct fx *f, struct ctr *c, const char *runtime, const char *script, int64_t mem_limit,
			  bool terminal, double *create_ms)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->id, sizeof(c->id), "t%d-%d-%s", (int)getpid(), ++f->seq, runtime);
	snprintf(c->runtime, sizeof(c->runtime), "%s", runtime);
	char *bdir = xasprintf("%s/bundles", f->dir);
	mkdir(bdir, 0755);
	free(bdir);
	c->bundle = xasprintf("%s/bundles/%s", f->dir, c->id);
	assert_int_equal(mkdir(c->bundle, 0755), 0);
	c->log_path = xasprintf("%s/%s.log", f->log_dir, c->id);

	json_t *spec = json_pack("{s:s, s:{s:b, s:{s:i, s:i}, s:[s,s,s], s:[s], s:s, s:{s:[s], s:[s], s:[s]}, s:b},"
			 " s:{s:s, s:b}, s:s}",
			 "ociVersion", "1.0.2", "process", "terminal", terminal, "user", "uid", 0, "gid", 0, "args", "sh",
			 "-c", script, "env", "PATH=/bin", "cwd", "/", "capabilities", "bounding", "CAP_KILL",
			 "effective", "CAP_KILL", "permitted", "CAP_KILL", "noNewPrivileges", 1, "root", "path",
			 f->rootfs, "readonly", 1, "hostname", "t");
	assert_non_null(spec);
	json_t *mounts = json_pack("[{s:s, s:s, s:s}, {s:s, s:s, s:s, s:[s,s,s]}, {s:s, s:s, s:s, s:[s,s]}]",
				   "destination", "/proc", "type", "proc", "source", "proc", "destination", "/dev",
				   "type", "tmpfs", "source", "tmpfs", "options", "nosuid", "mode=755", "size=1024k",
				   "destination", "/tmp", "type", "tmpfs", "source", "tmpfs", "options", "nosuid",
				   "size=65536k");
	assert_non_null(mounts);
	if (terminal)
		json_array_append_new(mounts, json_pack("{s:s, s:s, s:s, s:[s,s,s,s]}", "destination", "/dev/pts",
							"type", "devpts", "source", "devpts", "options", "nosuid",
							"newinstance", "ptmxmode=0666", "mode=0620"));
	json_object_set_new(spec, "mounts", mounts);
	char *cg = xasprintf("%s/%s", f->cgroup, c->id);
	json_t *linux_ = json_pack("{s:s, s:[{s:s},{s:s},{s:s},{s:s},{s:s}], s:[s], s:[s]}", "cgroupsPath", cg,
				   "namespaces", "type", "pid", "type", "ipc", "type", "uts", "type", "mount", "type",
				   "network", "maskedPaths", "/proc/kcore", "readonlyPaths", "/proc/sys");
	free(cg);
	assert_non_null(linux_);
	if (mem_limit > 0)
		json_object_set_new(linux_, "resources",
				    json_pack("{s:{s:I}}", "memory", "limit", (json_int_t)mem_limit));
	json_object_set_new(spec, "linux", linux_);
	char *cfgp = xasprintf("%s/config.json", c->bundle);
	assert_int_equal(json_dump_file(spec, cfgp, JSON_INDENT(1)), 0);
	free(cfgp);
	json_decref(spec);

	snprintf(f->ids[f->n_ids], sizeof(f->ids[0]), "%s", c->id);
	snprintf(f->runtimes[f->n_ids], sizeof(f->runtimes[0]), "%s", runtime);
	f->n_ids++;

	c->ref = (struct ctr_ref){.id = c->id, .runtime = c->runtime, .bundle = c->bundle};
	struct ctr_create_params p = {.ref = c->ref, .name = c->id, .log_path = c->log_path, .terminal = terminal};
	ocid_error *err = NULL;
	int64_t t0 = spawn_now_ns();
	int r = ctr_runtime_create(f->rt, &p, &c->created, &err);
	if (create_ms)
		*create_ms = ms_since(t0);
	if (r < 0)
		fail_msg("create %s: %s", c->id, err->msg);
	assert_true(c->created.pid > 0);
	assert_true(c->created.conmon_pid > 0);
	c->ref.pid = c->created.pid;
}

static void ctr_create(struct fx *f, struct ctr *c, const char *runtime, const char *script, int64_t mem_limit,
		       double *create_ms)
{
	ctr_create_ex(f, c, runtime, script, mem_limit, false, create_ms);
}

static void ctr_start(struct fx *f, struct ctr *c, double *ms)
{
	ocid_error *err = NULL;
	int64_t t0 = spawn_now_ns();
	if (ctr_runtime_start(f->rt, &c->ref, &err) < 0)
		fail_msg("start %s: %s", c->id, err->msg);
	if (ms)
		*ms = ms_since(t0);
}

static void ctr_remove_keep_bundle(struct fx *f, struct ctr *c, double *ms)
{
	ocid_error *err = NULL;
	int64_t t0 = spawn_now_ns();
	if (ctr_runtime_remove(f->rt, &c->ref, &err) < 0)
		fail_msg("remove %s: %s", c->id, err->msg);
	if (ms)
		*ms = ms_since(t0);
	/* Forget it for the final cleanup. */
	for (size_t i = 0; i < f->n_ids; i++)
		if (strcmp(f->ids[i], c->id) == 0) {
			memmove(f->ids[i], f->ids[i + 1], (f->n_ids - i - 1) * sizeof(f->ids[0]));
			memmove(f->runtimes[i], f->runtimes[i + 1], (f->n_ids - i - 1) * sizeof(f->runtimes[0]));
			f->n_ids--;
			break;
		}
	struct stat st;
	char *p = xasprintf("%s/%s", ctr_runtime_exit_dir(f->rt), c->id);
	assert_int_not_equal(stat(p, &st), 0);
	free(p);
	p = xasprintf("%s/attach", c->bundle);
	assert_int_not_equal(stat(p, &st), 0);
	free(p);
}

static void ctr_remove(struct fx *f, struct ctr *c, double *ms)
{
	ctr_remove_keep_bundle(f, c, ms);
	free(c->bundle);
	free(c->log_path);
	c->bundle = c->log_path = NULL;
}

static char *slurp(const char *path)
{
	FILE *fp = fopen(path, "r");
	if (fp == NULL)
		return NULL;
	char *buf = xmalloc(1 << 20);
	size_t n = fread(buf, 1, (1 << 20) - 1, fp);
	buf[n] = '\0';
	fclose(fp);
	return buf;
}

/* Waits until the container's log holds text (the script is past its setup). */
static void wait_log(struct ctr *c, const char *text)
{
	for (int i = 0; i < 500; i++) {
		char *log = slurp(c->log_path);
		bool found = log && strstr(log, text);
		free(log);
		if (found)
			return;
		usleep(10000);
	}
	fail_msg("%s: \"%s\" never logged", c->id, text);
}

/* "2026-11-28T20:13:05.356834880+00:00" or "...Z" */
static bool rfc3339nano(const char *ts, size_t len)
{
	const char *pat = "dddd-dd-ddTdd:dd:dd.";
	size_t i;
	for (i = 0; pat[i]; i++) {
		if (i >= len)
			return false;
		if (pat[i] == 'd' ? (ts[i] < '0' || ts[i] > '9') : ts[i] != pat[i])
			return false;
	}
	size_t frac = 0;
	while (i < len && ts[i] >= '0' && ts[i] <= '9') {
		i++;
		frac++;
	}
	if (frac == 0)
		return false;
	return (len - i == 1 && ts[i] == 'Z') || (len - i == 6 && (ts[i] == '+' || ts[i] == '-'));
}

/* Asserts the log holds exactly these full lines, in order. */
static void assert_log(const char *path, const char *const *streams, const char *const *texts, size_t n)
{
	char *log = slurp(path);
	assert_non_null(log);
	size_t k = 0;
	for (char *line = log; *line;) {
		char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		struct crilog_line cl;
		assert_int_equal(crilog_parse(line, len, &cl), 0);
		assert_true(rfc3339nano(cl.ts, cl.ts_len));
		assert_false(cl.partial);
		assert_true(k < n);
		assert_int_equal(cl.stream, strcmp(streams[k], "stdout") == 0 ? CRILOG_STDOUT : CRILOG_STDERR);
		assert_int_equal(cl.text_len, strlen(texts[k]));
		assert_memory_equal(cl.text, texts[k], cl.text_len);
		k++;
		line = nl ? nl + 1 : line + len;
	}
	assert_int_equal(k, n);
	free(log);
}

static void print_lat(const char *what, const char *runtime, double ms)
{
	fprintf(stderr, "  latency %-7s %-5s %7.2f ms\n", what, runtime, ms);
}

/* ---- tests ---- */

static void run_hello(struct fx *f, const char *runtime)
{
	struct ctr c;
	double create_ms, start_ms, remove_ms;
	struct timespec before;
	clock_gettime(CLOCK_REALTIME, &before);
	ctr_create(f, &c, runtime, "echo hello; echo oops >&2", 0, &create_ms);
	ctr_start(f, &c, &start_ms);
	struct exit_info ei;
	assert_true(wait_exit(f, c.id, 10000, &ei));
	assert_int_equal(ei.exit_code, 0);
	assert_false(ei.oom);
	assert_true(ei.finished.tv_sec >= before.tv_sec);
	const char *streams[] = {"stdout", "stderr"};
	const char *texts[] = {"hello", "oops"};
	assert_log(c.log_path, streams, texts, 2);

	struct ctr_rt_status st;
	ocid_error *err = NULL;
	assert_int_equal(ctr_runtime_status(f->rt, &c.ref, &st, &err), 0);
	assert_int_equal(st.state, CTR_RT_STOPPED);
	assert_true(st.exited);
	assert_int_equal(st.exit.exit_code, 0);

	ctr_remove(f, &c, &remove_ms);
	print_lat("create", runtime, create_ms);
	print_lat("start", runtime, start_ms);
	print_lat("remove", runtime, remove_ms);

	/* Gone: status says so, remove again is fine. */
	struct ctr_ref ref = {.id = c.id, .runtime = runtime};
	assert_int_equal(ctr_runtime_status(f->rt, &ref, &st, &err), 0);
	assert_int_equal(st.state, CTR_RT_GONE);
	assert_false(st.exited);
	assert_int_equal(ctr_runtime_remove(f->rt, &ref, &err), 0);
}

static void test_runc_hello(void **state)
{
	SKIP_UNLESS_ROOT(state);
	run_hello(*state, "runc");
}

static void test_runc_exit_code(void **state)
{
	SKIP_UNLESS_ROOT(state);
	struct fx *f = *state;
	struct ctr c;
	ctr_create(f, &c, "runc", "exit 3", 0, NULL);
	ctr_start(f, &c, NULL);
	struct exit_info ei;
	assert_true(wait_exit(f, c.id, 10000, &ei));
	assert_int_equal(ei.exit_code, 3);
	/* stop of an exited container: no error, same exit. */
	struct exit_info se;
	ocid_error *err = NULL;
	assert_int_equal(ctr_runtime_stop(f->rt, &c.ref, 10, 0, false, NULL, &se, &err), 0);
	assert_int_equal(se.exit_code, 3);
	ctr_remove(f, &c, NULL);
}

/* What a stop told its waiter: when the long wait began and ended (ms
 * after the stop began), and how often. */
struct wait_log {
	int64_t t0;
	int begins, ends;
	double begin_ms, end_ms;
};

static void record_long_wait(void *arg, bool begin)
{
	struct wait_log *l = arg;
	if (begin) {
		l->begins++;
		l->begin_ms = ms_since(l->t0);
	} else {
		l->ends++;
		l->end_ms = ms_since(l->t0);
	}
}

static void run_stop(struct fx *f, const char *runtime)
{
	/* Graceful: TERM handled, exits 0; the waiter hears nothing of so short a wait. */
	struct ctr c;
	ctr_create(f, &c, runtime, "trap 'exit 0' TERM; echo ready; while :; do sleep 0.05; done", 0, NULL);
	ctr_start(f, &c, NULL);
	wait_log(&c, "ready");
	ocid_error *err = NULL;
	struct exit_info se;
	int64_t t0 = spawn_now_ns();
	struct wait_log wl = {.t0 = t0};
	struct ctr_stop_wait wait = {.long_wait = record_long_wait, .arg = &wl};
	if (ctr_runtime_stop(f->rt, &c.ref, 10, 0, false, &wait, &se, &err) < 0)
		fail_msg("stop: %s", err->msg);
	double stop_ms = ms_since(t0);
	assert_int_equal(se.exit_code, 0);
	assert_true(stop_ms < 5000);
	assert_int_equal(wl.begins + wl.ends, 0);
	/* Again: idempotent. */
	assert_int_equal(ctr_runtime_stop(f->rt, &c.ref, 10, 0, false, NULL, &se, &err), 0);
	assert_int_equal(se.exit_code, 0);
	double remove_ms;
	ctr_remove(f, &c, &remove_ms);
	print_lat("stop", runtime, stop_ms);
	print_lat("remove", runtime, remove_ms);

	/* TERM ignored: SIGKILL after the timeout, 137; past
	 * CTR_STOP_LONG_WAIT_MS of it the waiter is told, once each way. */
	ctr_create(f, &c, runtime, "trap '' TERM; echo ready; while :; do sleep 1; done", 0, NULL);
	ctr_start(f, &c, NULL);
	wait_log(&c, "ready");
	t0 = spawn_now_ns();
	wl = (struct wait_log){.t0 = t0};
	if (ctr_runtime_stop(f->rt, &c.ref, 2, 0, false, &wait, &se, &err) < 0)
		fail_msg("stop: %s", err->msg);
	double ms = ms_since(t0);
	assert_int_equal(se.exit_code, 137);
	assert_true(ms >= 2000 && ms < 6000);
	assert_int_equal(wl.begins, 1);
	assert_int_equal(wl.ends, 1);
	assert_true(wl.begin_ms >= CTR_STOP_LONG_WAIT_MS && wl.begin_ms < 2000);
	assert_true(wl.end_ms >= 2000 && wl.end_ms <= ms);
	struct exit_info ei;
	assert_true(wait_exit(f, c.id, 5000, &ei));
	assert_int_equal(ei.exit_code, 137);
	ctr_remove(f, &c, NULL);
}

static void test_runc_stop(void **state)
{
	SKIP_UNLESS_ROOT(state);
	run_stop(*state, "runc");
}

/* The runtime calls recorded by the "logged" handler since the last call,
 * one per line (and the record emptied). */
static char *take_runtime_calls(struct fx *f)
{
	char *path = xasprintf("%s/runtime-calls", f->dir);
	FILE *fp = fopen(path, "r");
	char *text = xstrdup("");
	if (fp) {
		char line[4096];
		while (fgets(line, sizeof(line), fp)) {
			char *t = xasprintf("%s%s", text, line);
			free(text);
			text = t;
		}
		fclose(fp);
	}
	unlink(path);
	free(path);
	return text;
}

/* A container with a PID namespace of its own is signalled through its
 * pidfd (no `runc kill`: 5-8 ms less per stop); one whose every process must
 * be signalled (kill_all) still goes through `runc kill --all`. Both get the
 * signal: TERM handled, exit 0. */
static void test_stop_signals_directly(void **state)
{
	SKIP_UNLESS_ROOT(state);
	struct fx *f = *state;
	for (int all = 0; all < 2; all++) {
		struct ctr c;
		ctr_create(f, &c, "logged", "trap 'exit 0' TERM; echo ready; while :; do sleep 0.05; done", 0, NULL);
		ctr_start(f, &c, NULL);
		wait_log(&c, "ready");
		free(take_runtime_calls(f));
		struct exit_info se;
		ocid_error *err = NULL;
		if (ctr_runtime_stop(f->rt, &c.ref, 10, 0, all, NULL, &se, &err) < 0)
			fail_msg("stop: %s", err->msg);
		assert_int_equal(se.exit_code, 0);
		char *calls = take_runtime_calls(f);
		if (all)
			assert_non_null(strstr(calls, "kill --all"));
		else if (strstr(calls, "kill") != NULL)
			fail_msg("the runtime was asked to kill: %s", calls);
		free(calls);
		ctr_remove(f, &c, NULL);
	}
}

static void test_runc_oom(void **state)
{
	SKIP_UNLESS_ROOT(state);
	struct fx *f = *state;
	struct ctr c;
	ctr_create(f, &c, "runc", "x=$(head -c 67108864 /dev/zero | tr '\\0' a); echo survived", 8 << 20, NULL);
	ctr_start(f, &c, NULL);
	struct exit_info ei;
	assert_true(wait_exit(f, c.id, 20000, &ei));
	fprintf(stderr, "  oom: exit %d oom %d\n", ei.exit_code, ei.oom);
	assert_int_equal(ei.exit_code, 137);
	assert_true(ei.oom);
	ctr_remove(f, &c, NULL);
}

static bool zombie_children(void)
{
	DIR *d = opendir("/proc");
	bool found = false;
	struct dirent *de;
	while (d && (de = readdir(d)) != NULL) {
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		char path[300], buf[512];
		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		FILE *fp = fopen(path, "r");
		if (fp == NULL)
			continue;
		size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
		fclose(fp);
		buf[n] = '\0';
		char *rp = strrchr(buf, ')');
		char st;
		int ppid;
		if (rp && sscanf(rp + 1, " %c %d", &st, &ppid) == 2 && st == 'Z' && ppid == getpid())
			found = true;
	}
	if (d)
		closedir(d);
	return found;
}

/* Processes of the container's pids cgroup whose command line starts with
 * argv0 (and, if set, arg1). */
static int count_in_cgroup(struct fx *f, const char *id, const char *argv0, const char *arg1, int *zombies)
{
	char *procs = xasprintf("/sys/fs/cgroup/pids%s/%s/cgroup.procs", f->cgroup, id);
	FILE *fp = fopen(procs, "r");
	free(procs);
	int count = 0, pid;
	*zombies = 0;
	while (fp && fscanf(fp, "%d", &pid) == 1) {
		char path[64], buf[256];
		snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
		FILE *cf = fopen(path, "r");
		if (cf == NULL)
			continue;
		size_t n = fread(buf, 1, sizeof(buf) - 1, cf);
		fclose(cf);
		buf[n] = '\0';
		if (n == 0)
			(*zombies)++;
		size_t l0 = strlen(buf);
		if (n > 0 && strcmp(buf, argv0) == 0 && (arg1 == NULL || (l0 + 1 < n && strcmp(buf + l0 + 1, arg1) == 0)))
			count++;
	}
	if (fp)
		fclose(fp);
	return count;
}

static void run_exec(struct fx *f, const char *runtime)
{
	struct ctr c;
	ctr_create(f, &c, runtime, "trap 'exit 0' TERM; echo ready; while :; do sleep 0.05; done", 0, NULL);
	ctr_start(f, &c, NULL);
	wait_log(&c, "ready");
	ocid_error *err = NULL;

	const char *argv[] = {"sh", "-c", "echo out1; echo err1 >&2; printf partial; exit 7", NULL};
	struct conmon_exec_result er;
	int64_t t0 = spawn_now_ns();
	if (ctr_runtime_exec_sync(f->rt, &c.ref, argv, 10, &er, &err) < 0)
		fail_msg("exec: %s", err->msg);
	print_lat("exec", runtime, ms_since(t0));
	assert_int_equal(er.exit_code, 7);
	assert_false(er.timed_out);
	assert_string_equal(er.out, "out1\npartial");
	assert_string_equal(er.err, "err1\n");
	conmon_exec_result_free(&er);

	/* A command that does not exist: an error, not an exit code. */
	const char *bad[] = {"/nonexistent", NULL};
	assert_int_equal(ctr_runtime_exec_sync(f->rt, &c.ref, bad, 10, &er, &err), -1);
	assert_non_null(err);
	fprintf(stderr, "  exec of a missing command: %s\n", err->msg);
	err_clear(&err);
	conmon_exec_result_free(&er);

	/* Timeout: the command and what it started die, nothing is left. */
	const char *slow[] = {"sh", "-c", "sleep 100 & sleep 100; echo never", NULL};
	t0 = spawn_now_ns();
	if (ctr_runtime_exec_sync(f->rt, &c.ref, slow, 1, &er, &err) < 0)
		fail_msg("exec: %s", err->msg);
	double ms = ms_since(t0);
	fprintf(stderr, "  exec timeout after %.0f ms, exit %d\n", ms, er.exit_code);
	assert_true(er.timed_out);
	assert_true(ms >= 1000 && ms < 3000);
	assert_int_equal(er.out_len, 0);
	conmon_exec_result_free(&er);
	int zombies = 0;
	for (int i = 0; i < 100 && count_in_cgroup(f, c.id, "sleep", "100", &zombies) > 0; i++)
		usleep(10000);
	assert_int_equal(count_in_cgroup(f, c.id, "sleep", "100", &zombies), 0);
	assert_false(zombie_children());

	/* Log rotation: rename, reopen, new lines land in a new file. */
	char *rotated = xasprintf("%s.1", c.log_path);
	assert_int_equal(rename(c.log_path, rotated), 0);
	assert_int_equal(ctr_runtime_reopen_log(f->rt, &c.ref, c.log_path, 0, &err), 0);
	struct stat sb;
	assert_int_equal(stat(c.log_path, &sb), 0);
	free(rotated);

	struct exit_info se;
	if (ctr_runtime_stop(f->rt, &c.ref, 10, 0, false, NULL, &se, &err) < 0)
		fail_msg("stop: %s", err->msg);
	assert_int_equal(se.exit_code, 0);
	/* Reopen with conmon gone: a clear error. */
	struct exit_info ei;
	assert_true(wait_exit(f, c.id, 5000, &ei));
	for (int i = 0; i < 200; i++) {
		struct ctr_rt_status st;
		assert_int_equal(ctr_runtime_status(f->rt, &c.ref, &st, &err), 0);
		if (!st.conmon_alive)
			break;
		usleep(10000);
	}
	assert_int_equal(ctr_runtime_reopen_log(f->rt, &c.ref, c.log_path, 0, &err), -1);
	assert_int_equal(err->code, GRPC_FAILED_PRECONDITION);
	err_clear(&err);
	ctr_remove(f, &c, NULL);
}

static void test_runc_exec(void **state)
{
	SKIP_UNLESS_ROOT(state);
	run_exec(*state, "runc");
}


/* A terminal: resize through conmon's ctl fifo reaches the container; a
 * second create under a live id is refused and leaves the first alone. */
static void test_runc_tty_and_duplicate(void **state)
{
	SKIP_UNLESS_ROOT(state);
	struct fx *f = *state;
	struct ctr c;
	ctr_create_ex(f, &c, "runc", "sleep 0.5; stty size; sleep 0.2", 0, true, NULL);
	ocid_error *err = NULL;
	struct conmon_created cr;
	struct ctr_create_params dup = {.ref = c.ref, .log_path = c.log_path};
	assert_int_equal(ctr_runtime_create(f->rt, &dup, &cr, &err), -1);
	assert_int_equal(err->code, GRPC_ALREADY_EXISTS);
	err_clear(&err);
	ctr_start(f, &c, NULL);
	if (ctr_runtime_resize(f->rt, &c.ref, 33, 101, &err) < 0)
		fail_msg("resize: %s", err->msg);
	struct exit_info ei;
	assert_true(wait_exit(f, c.id, 10000, &ei));
	assert_int_equal(ei.exit_code, 0);
	char *log = slurp(c.log_path);
	assert_non_null(log);
	assert_non_null(strstr(log, " stdout F 33 101"));
	free(log);
	assert_int_equal(ctr_runtime_resize(f->rt, &c.ref, 70000, 1, &err), -1);
	assert_int_equal(err->code, GRPC_INVALID_ARGUMENT);
	err_clear(&err);
	ctr_remove(f, &c, NULL);
}

static bool have_crun(void) { return access(CRUN, X_OK) == 0; }

static void test_crun_hello(void **state)
{
	SKIP_UNLESS_ROOT(state);
	if (!have_crun())
		skip();
	run_hello(*state, "crun");
}

static void test_crun_stop(void **state)
{
	SKIP_UNLESS_ROOT(state);
	if (!have_crun())
		skip();
	run_stop(*state, "crun");
}

static void test_crun_exec(void **state)
{
	SKIP_UNLESS_ROOT(state);
	if (!have_crun())
		skip();
	run_exec(*state, "crun");
}

/* ocid goes away with containers running; one exits meanwhile. A new
 * instance finds the running one running (its conmon alive) and the exited
 * one with its exit code, from disk alone. */
static void test_restart(void **state)
{
	SKIP_UNLESS_ROOT(state);
	struct fx *f = *state;
	struct ctr a, b;
	ctr_create(f, &a, "runc", "trap 'exit 0' TERM; echo ready; while :; do sleep 0.05; done", 0, NULL);
	ctr_start(f, &a, NULL);
	wait_log(&a, "ready");
	ctr_create(f, &b, "runc", "sleep 0.3; exit 4", 0, NULL);
	ctr_start(f, &b, NULL);

	/* "ocid is down": all in-memory state dropped. */
	close_runtime(f);
	pthread_mutex_lock(&f->mu);
	f->n_exits = 0;
	pthread_mutex_unlock(&f->mu);
	usleep(800000);

	assert_int_equal(open_runtime(f), 0);
	struct exit_info ei;
	assert_true(wait_exit(f, b.id, 1000, &ei)); /* from the startup scan */
	assert_int_equal(ei.exit_code, 4);
	assert_false(wait_exit(f, a.id, 100, &ei));

	/* Re-discovered without the pids we had. */
	struct ctr_ref ra = {.id = a.id, .runtime = "runc", .bundle = a.bundle};
	struct ctr_ref rb = {.id = b.id, .runtime = "runc", .bundle = b.bundle};
	struct ctr_rt_status st;
	ocid_error *err = NULL;
	assert_int_equal(ctr_runtime_status(f->rt, &ra, &st, &err), 0);
	assert_int_equal(st.state, CTR_RT_RUNNING);
	assert_int_equal(st.pid, a.created.pid);
	assert_true(st.conmon_alive);
	assert_int_equal(st.conmon_pid, a.created.conmon_pid);
	assert_false(st.exited);
	assert_int_equal(ctr_runtime_status(f->rt, &rb, &st, &err), 0);
	assert_int_equal(st.state, CTR_RT_STOPPED);
	assert_true(st.exited);
	assert_int_equal(st.exit.exit_code, 4);
	assert_false(st.conmon_alive);

	struct exit_info se;
	if (ctr_runtime_stop(f->rt, &ra, 10, 0, false, NULL, &se, &err) < 0)
		fail_msg("stop: %s", err->msg);
	assert_int_equal(se.exit_code, 0);
	assert_true(wait_exit(f, a.id, 5000, &ei));
	assert_int_equal(ei.exit_code, 0);
	ctr_remove(f, &a, NULL);
	ctr_remove(f, &b, NULL);
}

/* A bad bundle: a clear error, nothing left behind. */
static void test_create_failure(void **state)
{
	SKIP_UNLESS_ROOT(state);
	struct fx *f = *state;
	char *bundle = xasprintf("%s/bundles/bad", f->dir);
	char *bdir = xasprintf("%s/bundles", f->dir);
	mkdir(bdir, 0755);
	free(bdir);
	assert_int_equal(mkdir(bundle, 0755), 0);
	char *cfgp = xasprintf("%s/config.json", bundle);
	char *spec = xasprintf("{\"ociVersion\":\"1.0.2\",\"process\":{\"args\":[\"/nonexistent\"],\"cwd\":\"/\","
			       "\"user\":{\"uid\":0,\"gid\":0}},\"root\":{\"path\":\"%s\"},"
			       "\"linux\":{\"namespaces\":[{\"type\":\"mount\"}]}}",
			       f->rootfs);
	write_file(cfgp, spec);
	free(spec);
	free(cfgp);
	char *log = xasprintf("%s/bad.log", f->log_dir);
	struct ctr_create_params p = {.ref = {.id = "bad-ctr", .runtime = "runc", .bundle = bundle},
				      .log_path = log};
	struct conmon_created cr;
	ocid_error *err = NULL;
	/* runc create succeeds for a missing binary only up to exec: use a
	 * rootfs that does not exist instead. */
	char *cfgp2 = xasprintf("%s/config.json", bundle);
	write_file(cfgp2, "{\"ociVersion\":\"1.0.2\",\"process\":{\"args\":[\"sh\"],\"cwd\":\"/\","
			  "\"user\":{\"uid\":0,\"gid\":0}},\"root\":{\"path\":\"/nonexistent-rootfs\"},"
			  "\"linux\":{\"namespaces\":[{\"type\":\"mount\"}]}}");
	free(cfgp2);
	assert_int_equal(ctr_runtime_create(f->rt, &p, &cr, &err), -1);
	assert_non_null(err);
	fprintf(stderr, "  create failure: %s\n", err->msg);
	err_clear(&err);
	struct stat sb;
	char *pd = xasprintf("%s/bad-ctr", ctr_runtime_persist_root(f->rt));
	assert_int_not_equal(stat(pd, &sb), 0);
	free(pd);
	char *rs = xasprintf("%s/runc-root/bad-ctr", f->dir);
	assert_int_not_equal(stat(rs, &sb), 0);
	free(rs);
	free(log);
	free(bundle);
}


/* ---- latency (OCID_TEST_BENCH=N: N rounds per runtime) ---- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void report(const char *what, const char *runtime, double *v, int n)
{
	qsort(v, (size_t)n, sizeof(double), cmp_double);
	fprintf(stderr, "  bench %-14s %-5s p50 %7.2f ms  p90 %7.2f ms  min %7.2f ms\n", what, runtime, v[n / 2],
		v[(n * 9) / 10 < n ? (n * 9) / 10 : n - 1], v[0]);
}

/* The runtime alone, without conmon or ocid: create, start, delete. */
static void floor_round(struct fx *f, struct ctr *c, const char *path, const char *root, double *cr, double *st,
			double *dl)
{
	char rootarg[512];
	snprintf(rootarg, sizeof(rootarg), "--root=%s/%s", f->dir, root);
	char *id = xasprintf("%s-floor", c->id);
	const char *const env[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};
	const char *a1[] = {path, rootarg, "create", "--bundle", c->bundle, id, NULL};
	const char *a2[] = {path, rootarg, "start", id, NULL};
	const char *a3[] = {path, rootarg, "delete", "--force", id, NULL};
	const char *const *argvs[] = {a1, a2, a3};
	double *outs[] = {cr, st, dl};
	bool crun = strstr(path, "crun") != NULL;
	for (int i = 0; i < 3; i++) {
		if (i == 2)
			usleep(20000); /* let it exit, so delete has nothing to kill */
		struct spawn_opts o = {.argv = argvs[i], .envp = env, .stdout_mode = SPAWN_DEVNULL,
				       .stderr_mode = SPAWN_DEVNULL, .deadline_ns = spawn_deadline_ms(30000)};
		struct spawn_result res;
		ocid_error *err = NULL;
		int64_t t0 = spawn_now_ns();
		int r = crun ? oci_runtime_spawn(ctr_runtime_handler(f->rt, "crun"), &o, &res, &err)
			     : spawn_run(&o, &res, &err);
		*outs[i] = ms_since(t0);
		if (r < 0)
			fail_msg("floor %s: %s", argvs[i][2], err->msg);
		spawn_result_free(&res);
	}
	free(id);
}

/* conmon + the runtime without the ctr layer: the same conmon argv launched
 * with a bare posix_spawn, its reply read, start and delete run directly. */
static void floor_conmon_round(struct fx *f, struct ctr *c, const char *runtime, double *cr)
{
	const struct oci_runtime *rt = ctr_runtime_handler(f->rt, runtime);
	char *id = xasprintf("%s-cf", c->id);
	char *pd = xasprintf("%s/%s", ctr_runtime_persist_root(f->rt), id);
	char *log = xasprintf("%s/%s.log", f->log_dir, id);
	assert_int_equal(mkdir(pd, 0700), 0);
	struct conmon_create_opts o = {.conmon_path = CONMON, .rt = rt, .id = id, .bundle = c->bundle,
				       .persist_dir = pd, .exit_dir = ctr_runtime_exit_dir(f->rt), .log_path = log};
	char **argv = conmon_create_argv(&o);
	char *const envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "_OCI_SYNCPIPE=3", NULL};
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], 3);
	posix_spawn_file_actions_addchdir_np(&fa, pd);
	int64_t t0 = spawn_now_ns();
	pid_t pid;
	int rc = rt->private_mntns ? -1 : posix_spawn(&pid, CONMON, &fa, NULL, argv, envp);
	if (rt->private_mntns) {
		/* crun needs its mount namespace: use the one spawner for it. */
		struct spawn_fd fds[] = {{p[1], 3}};
		struct spawn_opts so = {.argv = (const char *const *)argv, .envp = (const char *const *)envp,
					.cwd = pd, .fds = fds, .n_fds = 1, .stdout_mode = SPAWN_DEVNULL,
					.stderr_mode = SPAWN_DEVNULL, .drain_ns = 1};
		struct spawn_result res;
		ocid_error *err = NULL;
		rc = oci_runtime_spawn(rt, &so, &res, &err);
		spawn_result_free(&res);
	} else {
		assert_int_equal(rc, 0);
		waitpid(pid, NULL, 0);
	}
	assert_int_equal(rc, 0);
	close(p[1]);
	char buf[256];
	ssize_t nr = read(p[0], buf, sizeof(buf) - 1);
	*cr = ms_since(t0);
	assert_true(nr > 0);
	buf[nr] = '\0';
	assert_non_null(strstr(buf, "\"pid\""));
	close(p[0]);
	posix_spawn_file_actions_destroy(&fa);
	conmon_argv_free(argv);
	ocid_error *err = NULL;
	assert_int_equal(oci_runtime_start(rt, id, 0, &err), 0);
	struct exit_info ei;
	char *ef = xasprintf("%s/%s", ctr_runtime_exit_dir(f->rt), id);
	struct stat sb;
	for (int i = 0; i < 2000 && stat(ef, &sb) < 0; i++)
		usleep(1000);
	(void)ei;
	assert_int_equal(oci_runtime_delete(rt, id, false, 0, &err), 0);
	usleep(20000);
	unlink(ef);
	free(ef);
	fs_remove_all(pd, &err);
	unlink(log);
	free(log);
	free(pd);
	free(id);
}

static void run_bench(struct fx *f, const char *runtime, int n)
{
	double *cr = xcalloc((size_t)n, sizeof(double)), *st = xcalloc((size_t)n, sizeof(double));
	double *ex = xcalloc((size_t)n, sizeof(double)), *rm = xcalloc((size_t)n, sizeof(double));
	double *fc = xcalloc((size_t)n, sizeof(double)), *fs = xcalloc((size_t)n, sizeof(double));
	double *fd = xcalloc((size_t)n, sizeof(double)), *fcc = xcalloc((size_t)n, sizeof(double));
	const char *path = strcmp(runtime, "crun") == 0 ? CRUN : RUNC;
	char root[32];
	snprintf(root, sizeof(root), "%s-root", runtime);
	for (int i = 0; i < n; i++) {
		struct ctr c;
		ctr_create(f, &c, runtime, "exit 0", 0, &cr[i]);
		ctr_start(f, &c, &st[i]);
		int64_t t0 = spawn_now_ns();
		struct exit_info ei;
		if (!wait_exit(f, c.id, 10000, &ei)) {
			struct ctr_rt_status rs;
			ocid_error *err = NULL;
			if (ctr_runtime_status(f->rt, &c.ref, &rs, &err) == 0)
				fail_msg("%s: no exit reported: state %s exited %d conmon %d alive %d", c.id,
					 ctr_rt_state_name(rs.state), rs.exited, rs.conmon_pid, rs.conmon_alive);
			fail_msg("%s: no exit reported: %s", c.id, err->msg);
		}
		ex[i] = ms_since(t0);
		ctr_remove_keep_bundle(f, &c, &rm[i]);
		floor_round(f, &c, path, root, &fc[i], &fs[i], &fd[i]);
		floor_conmon_round(f, &c, runtime, &fcc[i]);
		free(c.bundle);
		free(c.log_path);
	}
	report("ocid create", runtime, cr, n);
	report("ocid start", runtime, st, n);
	report("exit noticed", runtime, ex, n);
	report("ocid remove", runtime, rm, n);
	report("floor create", runtime, fc, n);
	report("floor start", runtime, fs, n);
	report("floor delete", runtime, fd, n);
	report("conmon create", runtime, fcc, n);
	free(cr), free(st), free(ex), free(rm), free(fc), free(fs), free(fd), free(fcc);
}

static void test_bench(void **state)
{
	SKIP_UNLESS_ROOT(state);
	const char *env = getenv("OCID_TEST_BENCH");
	if (env == NULL || atoi(env) <= 0)
		skip();
	run_bench(*state, "runc", atoi(env));
	if (have_crun())
		run_bench(*state, "crun", atoi(env));
}

int main(void)
{
	if (getenv("OCID_TEST_DEBUG"))
		log_set_level(LOG_LEVEL_DEBUG);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_runc_hello),
		cmocka_unit_test(test_runc_exit_code),
		cmocka_unit_test(test_runc_stop),
		cmocka_unit_test(test_stop_signals_directly),
		cmocka_unit_test(test_runc_oom),
		cmocka_unit_test(test_runc_exec),
		cmocka_unit_test(test_runc_tty_and_duplicate),
		cmocka_unit_test(test_crun_hello),
		cmocka_unit_test(test_crun_stop),
		cmocka_unit_test(test_crun_exec),
		cmocka_unit_test(test_restart),
		cmocka_unit_test(test_create_failure),
		cmocka_unit_test(test_bench),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
