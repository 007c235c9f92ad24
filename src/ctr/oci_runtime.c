#include "ctr/oci_runtime.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/log.h"
#include "util/xalloc.h"

#define DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define UNIFIED_MOUNT "/sys/fs/cgroup/unified"

/* ---- setup ---- */

bool oci_host_hybrid_v2_controllers(void)
{
	struct statfs sfs;
	if (statfs("/sys/fs/cgroup", &sfs) < 0 || sfs.f_type == CGROUP2_SUPER_MAGIC)
		return false;
	if (statfs(UNIFIED_MOUNT, &sfs) < 0 || sfs.f_type != CGROUP2_SUPER_MAGIC)
		return false;
	cleanup_close int fd = open(UNIFIED_MOUNT "/cgroup.controllers", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	char buf[256];
	ssize_t n = read(fd, buf, sizeof(buf));
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] != ' ' && buf[i] != '\n')
			return true;
	return false;
}

static bool crun_like(const char *path)
{
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	return strstr(base, "crun") != NULL;
}

static const char *default_state_root(const char *path)
{
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	if (strcmp(base, "runc") == 0)
		return "/run/runc";
	if (strcmp(base, "crun") == 0)
		return "/run/crun";
	return NULL;
}

int oci_runtime_init(struct oci_runtime *rt, const struct ocid_runtime_handler *h, enum oci_mntns_mode mode,
		     char *const *env, ocid_error **err)
{
	memset(rt, 0, sizeof(*rt));
	if (h->runtime_path == NULL || h->runtime_path[0] != '/')
		return err_set(err, GRPC_INVALID_ARGUMENT, "runtime %s: runtime_path must be absolute",
			       h->name ? h->name : "?");
	rt->name = xstrdup(h->name ? h->name : h->runtime_path);
	rt->path = xstrdup(h->runtime_path);
	if (h->runtime_root && h->runtime_root[0]) {
		rt->root = xstrdup(h->runtime_root);
		rt->state_root = xstrdup(h->runtime_root);
	} else if (default_state_root(h->runtime_path)) {
		rt->state_root = xstrdup(default_state_root(h->runtime_path));
	}
	switch (mode) {
	case OCI_MNTNS_ALWAYS:
		rt->private_mntns = true;
		break;
	case OCI_MNTNS_NEVER:
		rt->private_mntns = false;
		break;
	case OCI_MNTNS_AUTO:
		rt->private_mntns = crun_like(h->runtime_path) && oci_host_hybrid_v2_controllers();
		break;
	}

	size_t n = 0;
	bool has_path = false;
	for (; env && env[n]; n++)
		has_path = has_path || strncmp(env[n], "PATH=", 5) == 0;
	rt->envp = xcalloc(n + 2, sizeof(char *));
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		rt->envp[k++] = xstrdup(env[i]);
	if (!has_path)
		rt->envp[k++] = xstrdup(DEFAULT_PATH);
	rt->envp[k] = NULL;
	return 0;
}

void oci_runtime_free(struct oci_runtime *rt)
{
	if (rt == NULL)
		return;
	free(rt->name);
	free(rt->path);
	free(rt->root);
	free(rt->state_root);
	for (size_t i = 0; rt->envp && rt->envp[i]; i++)
		free(rt->envp[i]);
	free(rt->envp);
	memset(rt, 0, sizeof(*rt));
}

const char *oci_runtime_root_arg(const struct oci_runtime *rt, char *buf, size_t size)
{
	if (rt->root == NULL)
		return NULL;
	snprintf(buf, size, "--root=%s", rt->root);
	return buf;
}

/* ---- spawning in a private mount namespace ---- */

struct ns_call {
	const struct spawn_opts *opts;
	struct spawn_result *res;
	ocid_error *err;
	int ret;
};

/* This thread only: a mount namespace of its own (unshare(CLONE_NEWNS)
 * also unshares the thread's fs struct, which is what makes it legal in a
 * multi-threaded process), recursively slave so nothing done here leaks back
 * to the host, without the cgroup2 mount that crun objects to. */
static int enter_private_mntns(ocid_error **err)
{
	if (unshare(CLONE_NEWNS) < 0)
		return err_set_errno(err, GRPC_INTERNAL, errno, "unshare(CLONE_NEWNS)");
	/* source and type are ignored for a propagation change */
	if (mount("none", "/", "none", MS_REC | MS_SLAVE, NULL) < 0)
		return err_set_errno(err, GRPC_INTERNAL, errno, "make / rslave");
	if (umount2(UNIFIED_MOUNT, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
		return err_set_errno(err, GRPC_INTERNAL, errno, "umount %s", UNIFIED_MOUNT);
	return 0;
}

static void *ns_thread(void *arg)
{
	struct ns_call *c = arg;
	if (enter_private_mntns(&c->err) < 0) {
		memset(c->res, 0, sizeof(*c->res));
		c->res->out = xstrdup("");
		c->res->err = xstrdup("");
		c->res->pid = -1;
		err_prefix(&c->err, "private mount namespace for %s", c->opts->argv[0]);
		c->ret = -1;
		return NULL;
	}
	c->ret = spawn_run(c->opts, c->res, &c->err);
	return NULL;
}

int oci_runtime_spawn(const struct oci_runtime *rt, const struct spawn_opts *opts, struct spawn_result *res,
		      ocid_error **err)
{
	if (!rt->private_mntns)
		return spawn_run(opts, res, err);

	struct ns_call c = {.opts = opts, .res = res};
	pthread_t th;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	int rc = pthread_create(&th, &attr, ns_thread, &c);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		memset(res, 0, sizeof(*res));
		res->out = xstrdup("");
		res->err = xstrdup("");
		res->pid = -1;
		return err_set_errno(err, GRPC_INTERNAL, rc, "spawn %s: pthread_create", opts->argv[0]);
	}
	pthread_join(th, NULL);
	if (c.ret < 0) {
		if (err && *err == NULL)
			*err = c.err;
		else
			err_free(c.err);
		return -1;
	}
	return 0;
}

/* ---- output parsing ---- */

const char *oci_status_name(enum oci_status s)
{
	switch (s) {
	case OCI_STATUS_CREATING:
		return "creating";
	case OCI_STATUS_CREATED:
		return "created";
	case OCI_STATUS_RUNNING:
		return "running";
	case OCI_STATUS_PAUSED:
		return "paused";
	case OCI_STATUS_STOPPED:
		return "stopped";
	default:
		return "unknown";
	}
}

void oci_state_free(struct oci_state *st)
{
	if (st == NULL)
		return;
	free(st->bundle);
	st->bundle = NULL;
}

int oci_state_parse(const char *text, struct oci_state *out, ocid_error **err)
{
	memset(out, 0, sizeof(*out));
	json_error_t jerr;
	json_t *j = json_loads(text, 0, &jerr);
	if (j == NULL || !json_is_object(j)) {
		json_decref(j);
		return err_set(err, GRPC_INTERNAL, "runtime state: not a JSON object: %s", j ? "" : jerr.text);
	}
	const char *status = json_string_value(json_object_get(j, "status"));
	json_t *pid = json_object_get(j, "pid");
	if (status == NULL || (pid != NULL && !json_is_integer(pid))) {
		json_decref(j);
		return err_set(err, GRPC_INTERNAL, "runtime state: missing status or bad pid");
	}
	static const struct {
		const char *name;
		enum oci_status st;
	} names[] = {{"creating", OCI_STATUS_CREATING}, {"created", OCI_STATUS_CREATED},
		     {"running", OCI_STATUS_RUNNING},   {"paused", OCI_STATUS_PAUSED},
		     {"stopped", OCI_STATUS_STOPPED}};
	out->status = OCI_STATUS_UNKNOWN;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(status, names[i].name) == 0)
			out->status = names[i].st;
	json_int_t p = pid ? json_integer_value(pid) : 0;
	out->pid = p > 0 && p < INT32_MAX ? (int)p : 0;
	if (out->status == OCI_STATUS_STOPPED)
		out->pid = 0;
	const char *bundle = json_string_value(json_object_get(j, "bundle"));
	if (bundle)
		out->bundle = xstrdup(bundle);
	json_decref(j);
	return 0;
}

static char *trim_dup(const char *s, size_t len)
{
	while (len > 0 && (s[0] == ' ' || s[0] == '\t' || s[0] == '\n' || s[0] == '\r')) {
		s++;
		len--;
	}
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\n' || s[len - 1] == '\r'))
		len--;
	char *r = xmalloc(len + 1);
	memcpy(r, s, len);
	r[len] = '\0';
	return r;
}

/* The value of the last msg="..." (logrus quoting: \" \\ \n \t). */
static char *last_logrus_msg(const char *text)
{
	const char *found = NULL, *p = text;
	while ((p = strstr(p, "msg=\"")) != NULL) {
		if (p == text || p[-1] == ' ')
			found = p;
		p += 5;
	}
	if (found == NULL)
		return NULL;
	found += 5;
	size_t cap = strlen(found) + 1, k = 0;
	char *r = xmalloc(cap);
	for (const char *q = found; *q && *q != '"'; q++) {
		if (*q == '\\' && q[1]) {
			q++;
			r[k++] = *q == 'n' ? '\n' : *q == 't' ? '\t' : *q;
		} else {
			r[k++] = *q;
		}
	}
	r[k] = '\0';
	return r;
}

char *oci_stderr_message(const char *text)
{
	if (text == NULL)
		return xstrdup("");
	char *m = last_logrus_msg(text);
	if (m)
		return m;
	/* Last non-empty line. */
	const char *end = text + strlen(text);
	while (end > text && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' '))
		end--;
	const char *start = end;
	while (start > text && start[-1] != '\n')
		start--;
	return trim_dup(start, (size_t)(end - start));
}

/* ---- signals ---- */

int oci_signal_parse(const char *s)
{
	if (s == NULL || *s == '\0')
		return -1;
	if (*s >= '0' && *s <= '9') {
		char *end;
		long v = strtol(s, &end, 10);
		return *end == '\0' && v > 0 && v < NSIG ? (int)v : -1;
	}
	if (strncasecmp(s, "SIG", 3) == 0)
		s += 3;
	if (strncasecmp(s, "RTMIN", 5) == 0 || strncasecmp(s, "RTMAX", 5) == 0) {
		bool min = strncasecmp(s, "RTMIN", 5) == 0;
		const char *rest = s + 5;
		long off = 0;
		if (*rest) {
			if ((min && *rest != '+') || (!min && *rest != '-'))
				return -1;
			char *end;
			off = strtol(rest + 1, &end, 10);
			if (rest[1] < '0' || rest[1] > '9' || *end != '\0')
				return -1;
		}
		long v = min ? SIGRTMIN + off : SIGRTMAX - off;
		return v >= SIGRTMIN && v <= SIGRTMAX ? (int)v : -1;
	}
	for (int sig = 1; sig < SIGRTMIN; sig++) {
		const char *abbrev = sigabbrev_np(sig);
		if (abbrev && strcasecmp(abbrev, s) == 0)
			return sig;
	}
	return -1;
}

/* ---- running the runtime ---- */

static bool has_word(const char *text, const char *word) { return text && strcasestr(text, word) != NULL; }

static bool looks_not_found(const char *text)
{
	return has_word(text, "does not exist") || has_word(text, "not found") ||
	       (has_word(text, "error opening file") && has_word(text, "No such file"));
}

static bool looks_not_running(const char *text)
{
	return has_word(text, "not running") || has_word(text, "has stopped") ||
	       has_word(text, "process already finished") || has_word(text, "no such process");
}

int oci_runtime_has_state(const struct oci_runtime *rt, const char *id)
{
	if (rt->state_root == NULL)
		return -1;
	cleanup_free char *p = xasprintf("%s/%s", rt->state_root, id);
	struct stat st;
	if (stat(p, &st) == 0)
		return 1;
	return errno == ENOENT ? 0 : -1;
}

static bool id_ok(const char *id)
{
	if (id == NULL || id[0] == '\0' || id[0] == '-' || strlen(id) > 1024)
		return false;
	for (const char *p = id; *p; p++)
		if (*p == '/' || (unsigned char)*p < 0x20)
			return false;
	return strcmp(id, ".") != 0 && strcmp(id, "..") != 0;
}

/* Runs `runtime [--root=R] args...`. Returns 0 on success with res filled,
 * < 0 with *err (message from the runtime's stderr) otherwise; res is always
 * to be freed. */
static int run_runtime(const struct oci_runtime *rt, const char *const *args, const void *stdin_data,
		       size_t stdin_len, int64_t deadline_ns, struct spawn_result *res, ocid_error **err)
{
	const char *argv[16];
	size_t n = 0;
	char rootbuf[4096 + 16];
	argv[n++] = rt->path;
	const char *root = oci_runtime_root_arg(rt, rootbuf, sizeof(rootbuf));
	if (root)
		argv[n++] = root;
	for (size_t i = 0; args[i] && n < 15; i++)
		argv[n++] = args[i];
	argv[n] = NULL;

	struct spawn_opts o = {
		.path = rt->path,
		.argv = argv,
		.envp = (const char *const *)rt->envp,
		.stdin_data = stdin_data,
		.stdin_len = stdin_len,
		.stdout_max = 1u << 20,
		.stderr_max = 1u << 20,
		.deadline_ns = deadline_ns > 0 ? deadline_ns : spawn_deadline_ms(OCI_RUNTIME_TIMEOUT_MS),
		.drain_ns = 20 * 1000000LL,
	};
	if (oci_runtime_spawn(rt, &o, res, err) < 0)
		return err_prefix(err, "%s %s", rt->name, args[0]);
	if (spawn_success(res))
		return 0;
	cleanup_free char *msg = oci_stderr_message(res->err);
	if (msg[0] == '\0') {
		free(msg);
		msg = oci_stderr_message(res->out);
	}
	char desc[96];
	enum grpc_code code = GRPC_INTERNAL;
	if (looks_not_found(res->err))
		code = GRPC_NOT_FOUND;
	else if (looks_not_running(res->err))
		code = GRPC_FAILED_PRECONDITION;
	return err_set(err, code, "%s %s: %s (%s)", rt->name, args[0], msg[0] ? msg : "failed",
		       spawn_describe(res, desc, sizeof(desc)));
}

int oci_runtime_state(const struct oci_runtime *rt, const char *id, struct oci_state *out, int64_t deadline_ns,
		      ocid_error **err)
{
	memset(out, 0, sizeof(*out));
	if (!id_ok(id))
		return err_set(err, GRPC_INVALID_ARGUMENT, "invalid container id");
	if (oci_runtime_has_state(rt, id) == 0)
		return err_set(err, GRPC_NOT_FOUND, "%s state: container %s does not exist", rt->name, id);
	struct spawn_result res;
	const char *args[] = {"state", id, NULL};
	int r = run_runtime(rt, args, NULL, 0, deadline_ns, &res, err);
	if (r == 0 && oci_state_parse(res.out, out, err) < 0)
		r = err_prefix(err, "%s state %s", rt->name, id);
	spawn_result_free(&res);
	return r;
}

int oci_runtime_start(const struct oci_runtime *rt, const char *id, int64_t deadline_ns, ocid_error **err)
{
	if (!id_ok(id))
		return err_set(err, GRPC_INVALID_ARGUMENT, "invalid container id");
	struct spawn_result res;
	const char *args[] = {"start", id, NULL};
	int r = run_runtime(rt, args, NULL, 0, deadline_ns, &res, err);
	spawn_result_free(&res);
	return r;
}

int oci_runtime_kill(const struct oci_runtime *rt, const char *id, int sig, bool all, int64_t deadline_ns,
		     ocid_error **err)
{
	if (!id_ok(id))
		return err_set(err, GRPC_INVALID_ARGUMENT, "invalid container id");
	if (sig <= 0 || sig >= 65)
		return err_set(err, GRPC_INVALID_ARGUMENT, "invalid signal %d", sig);
	char signum[16];
	snprintf(signum, sizeof(signum), "%d", sig);
	struct spawn_result res;
	const char *args_all[] = {"kill", "--all", id, signum, NULL};
	const char *args_one[] = {"kill", id, signum, NULL};
	int r = run_runtime(rt, all ? args_all : args_one, NULL, 0, deadline_ns, &res, err);
	spawn_result_free(&res);
	return r;
}

int oci_runtime_delete(const struct oci_runtime *rt, const char *id, bool force, int64_t deadline_ns,
		       ocid_error **err)
{
	if (!id_ok(id))
		return err_set(err, GRPC_INVALID_ARGUMENT, "invalid container id");
	if (oci_runtime_has_state(rt, id) == 0)
		return 0;
	struct spawn_result res;
	const char *args_force[] = {"delete", "--force", id, NULL};
	const char *args[] = {"delete", id, NULL};
	ocid_error *e = NULL;
	int r = run_runtime(rt, force ? args_force : args, NULL, 0, deadline_ns, &res, &e);
	spawn_result_free(&res);
	if (r < 0 && e->code == GRPC_NOT_FOUND) {
		err_free(e);
		return 0;
	}
	if (r < 0) {
		if (err && *err == NULL)
			*err = e;
		else
			err_free(e);
	}
	return r;
}

int oci_runtime_update(const struct oci_runtime *rt, const char *id, const json_t *resources,
		       int64_t deadline_ns, ocid_error **err)
{
	if (!id_ok(id))
		return err_set(err, GRPC_INVALID_ARGUMENT, "invalid container id");
	if (!json_is_object(resources))
		return err_set(err, GRPC_INVALID_ARGUMENT, "update %s: resources must be an object", id);
	cleanup_free char *doc = json_dumps(resources, JSON_COMPACT);
	if (doc == NULL)
		return err_set(err, GRPC_INTERNAL, "update %s: cannot encode resources", id);
	struct spawn_result res;
	const char *args[] = {"update", "--resources", "-", id, NULL};
	int r = run_runtime(rt, args, doc, strlen(doc), deadline_ns, &res, err);
	spawn_result_free(&res);
	return r;
}
