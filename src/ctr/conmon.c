/* conmon for create: argv, launch, the sync-pipe reply. See conmon.h. */
#include "ctr/conmon.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctr/conmon_internal.h"
#include "util/cleanup.h"
#include "util/log.h"
#include "util/xalloc.h"

/* ---- small shared helpers (conmon_internal.h) ---- */

void argv_push(struct argv_buf *a, const char *s)
{
	if (a->n + 2 > a->cap) {
		a->cap = a->cap ? a->cap * 2 : 32;
		a->v = xrealloc(a->v, a->cap * sizeof(char *));
	}
	a->v[a->n++] = xstrdup(s);
	a->v[a->n] = NULL;
}

void argv_pushf(struct argv_buf *a, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = NULL;
	if (vasprintf(&s, fmt, ap) < 0)
		abort();
	va_end(ap);
	argv_push(a, s);
	free(s);
}

char **conmon_env(const struct oci_runtime *rt, int sync_fd)
{
	size_t n = 0;
	while (rt->envp && rt->envp[n])
		n++;
	char **env = xcalloc(n + 2, sizeof(char *));
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (strncmp(rt->envp[i], "_OCI_", 5) != 0)
			env[k++] = xstrdup(rt->envp[i]);
	env[k++] = xasprintf("_OCI_SYNCPIPE=%d", sync_fd);
	env[k] = NULL;
	return env;
}

void conmon_argv_free(char **argv)
{
	for (size_t i = 0; argv && argv[i]; i++)
		free(argv[i]);
	free(argv);
}

int conmon_parse_pid(const char *text)
{
	if (text == NULL)
		return -1;
	while (*text == ' ' || *text == '\t')
		text++;
	char *end = NULL;
	errno = 0;
	long v = strtol(text, &end, 10);
	if (errno != 0 || end == text || v <= 0 || v > INT_MAX)
		return -1;
	while (*end == '\n' || *end == ' ' || *end == '\r')
		end++;
	return *end == '\0' ? (int)v : -1;
}

int read_small_file(const char *path, char *buf, size_t size)
{
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -1;
	size_t off = 0;
	while (off + 1 < size) {
		ssize_t n = read(fd, buf + off, size - 1 - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		off += (size_t)n;
	}
	buf[off] = '\0';
	return (int)off;
}

int read_pid_file(const char *path)
{
	char buf[32];
	if (read_small_file(path, buf, sizeof(buf)) < 0)
		return -1;
	return conmon_parse_pid(buf);
}

/* Reads from fd until a '\n' (or EOF) arrives or the deadline passes.
 * Returns the line (malloc'd, without '\n'), or NULL with *err. */
char *read_reply_line(int fd, int64_t deadline_ns, const char *what, ocid_error **err)
{
	char buf[8192];
	size_t len = 0;
	for (;;) {
		char *nl = len ? memchr(buf, '\n', len) : NULL;
		if (nl) {
			*nl = '\0';
			return xstrdup(buf);
		}
		if (len + 1 >= sizeof(buf)) {
			err_set(err, GRPC_INTERNAL, "%s: reply longer than %zu bytes", what, sizeof(buf));
			return NULL;
		}
		int64_t left = deadline_ns - spawn_now_ns();
		if (left <= 0) {
			err_set(err, GRPC_DEADLINE_EXCEEDED, "%s: no reply before the deadline", what);
			return NULL;
		}
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int64_t ms = (left + 999999) / 1000000;
		int pr = poll(&p, 1, ms > 60000 ? 60000 : (int)ms);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr < 0) {
			err_set_errno(err, GRPC_INTERNAL, errno, "%s: poll", what);
			return NULL;
		}
		if (pr == 0)
			continue;
		ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0) {
			err_set_errno(err, GRPC_INTERNAL, errno, "%s: read", what);
			return NULL;
		}
		if (n == 0) {
			if (len > 0) {
				buf[len] = '\0';
				return xstrdup(buf);
			}
			err_set(err, GRPC_INTERNAL, "%s: conmon exited without a reply", what);
			return NULL;
		}
		len += (size_t)n;
	}
}

/* ---- replies ---- */

int conmon_parse_reply(const char *line, int *value, char **message, ocid_error **err)
{
	*value = 0;
	if (message)
		*message = NULL;
	json_error_t jerr;
	json_t *j = json_loads(line, JSON_DECODE_ANY, &jerr);
	if (j == NULL || !json_is_object(j)) {
		json_decref(j);
		return err_set(err, GRPC_INTERNAL, "conmon reply is not a JSON object: %.200s", line);
	}
	json_t *v = json_object_get(j, "pid");
	if (v == NULL)
		v = json_object_get(j, "exit_code");
	if (v == NULL)
		v = json_object_get(j, "data");
	if (!json_is_integer(v) || json_integer_value(v) < INT_MIN || json_integer_value(v) > INT_MAX) {
		json_decref(j);
		return err_set(err, GRPC_INTERNAL, "conmon reply has no pid/exit_code/data number: %.200s", line);
	}
	*value = (int)json_integer_value(v);
	const char *m = json_string_value(json_object_get(j, "message"));
	if (m && message)
		*message = xstrdup(m);
	json_decref(j);
	return 0;
}

/* ---- create ---- */

char *conmon_pidfile_path(const char *persist_dir) { return xasprintf("%s/conmon.pid", persist_dir); }
char *conmon_container_pidfile_path(const char *persist_dir) { return xasprintf("%s/pidfile", persist_dir); }

char **conmon_create_argv(const struct conmon_create_opts *o)
{
	struct argv_buf a = {0};
	char rootbuf[4096 + 16];
	argv_push(&a, o->conmon_path);
	argv_push(&a, "-c");
	argv_push(&a, o->id);
	argv_push(&a, "-u");
	argv_push(&a, o->uuid ? o->uuid : o->id);
	argv_push(&a, "-n");
	argv_push(&a, o->name ? o->name : o->id);
	argv_push(&a, "-r");
	argv_push(&a, o->rt->path);
	const char *root = oci_runtime_root_arg(o->rt, rootbuf, sizeof(rootbuf));
	if (root) {
		argv_push(&a, "--runtime-arg");
		argv_push(&a, root);
	}
	argv_push(&a, "-b");
	argv_push(&a, o->bundle);
	char *p = conmon_container_pidfile_path(o->persist_dir);
	argv_push(&a, "-p");
	argv_push(&a, p);
	free(p);
	p = conmon_pidfile_path(o->persist_dir);
	argv_push(&a, "-P");
	argv_push(&a, p);
	free(p);
	argv_push(&a, "-0");
	argv_push(&a, o->persist_dir);
	argv_push(&a, "-l");
	argv_pushf(&a, "k8s-file:%s", o->log_path);
	if (o->log_size_max > 0)
		argv_pushf(&a, "--log-size-max=%lld", (long long)o->log_size_max);
	argv_push(&a, "--exit-dir");
	argv_push(&a, o->exit_dir);
	if (o->socket_dir) {
		argv_push(&a, "--socket-dir-path");
		argv_push(&a, o->socket_dir);
	}
	argv_push(&a, "--full-attach");
	if (o->terminal)
		argv_push(&a, "-t");
	if (o->stdin) {
		argv_push(&a, "-i");
		if (!o->stdin_once)
			argv_push(&a, "--leave-stdin-open");
	}
	if (o->log_level)
		argv_pushf(&a, "--log-level=%s", o->log_level);
	return a.v;
}

int conmon_create(const struct conmon_create_opts *o, struct conmon_created *out, ocid_error **err)
{
	out->pid = out->conmon_pid = 0;
	if (!o->conmon_path || !o->rt || !o->id || !o->bundle || !o->persist_dir || !o->exit_dir || !o->log_path)
		return err_set(err, GRPC_INVALID_ARGUMENT, "conmon create: missing option");
	int64_t deadline = o->deadline_ns > 0 ? o->deadline_ns : spawn_deadline_ms(CONMON_CREATE_TIMEOUT_MS);

	int sp[2];
	if (pipe2(sp, O_CLOEXEC) < 0)
		return err_set_errno(err, GRPC_INTERNAL, errno, "conmon create %s: pipe", o->id);
	cleanup_close int sync_r = sp[0];
	cleanup_close int sync_w = sp[1];

	char **argv = conmon_create_argv(o);
	char **env = conmon_env(o->rt, 3);
	struct spawn_fd fds[] = {{.parent_fd = sync_w, .child_fd = 3}};
	struct spawn_opts so = {
		.path = o->conmon_path,
		.argv = (const char *const *)argv,
		.envp = (const char *const *)env,
		.cwd = o->persist_dir,
		.stdout_max = 64 * 1024,
		.stderr_max = 64 * 1024,
		.fds = fds,
		.n_fds = 1,
		.deadline_ns = deadline,
		/* The daemon half holds stdio for the few instructions between its
		 * fork and moving stdio to /dev/null. */
		.drain_ns = 20 * 1000000LL,
	};
	struct spawn_result res;
	int64_t t0 = spawn_now_ns();
	int r = oci_runtime_spawn(o->rt, &so, &res, err);
	int64_t t1 = spawn_now_ns();
	conmon_argv_free(argv);
	conmon_argv_free(env);
	close(steal_fd(&sync_w));
	if (r < 0) {
		spawn_result_free(&res);
		return err_prefix(err, "conmon create %s", o->id);
	}
	if (!spawn_success(&res)) {
		char desc[96];
		cleanup_free char *msg = oci_stderr_message(res.err[0] ? res.err : res.out);
		err_set(err, GRPC_INTERNAL, "conmon create %s: conmon %s: %s", o->id,
			spawn_describe(&res, desc, sizeof(desc)), msg);
		spawn_result_free(&res);
		return -1;
	}

	char what[300];
	snprintf(what, sizeof(what), "conmon create %.256s", o->id);
	cleanup_free char *line = read_reply_line(sync_r, deadline, what, err);
	if (line == NULL) {
		/* Whatever conmon said before its stdio went to /dev/null. */
		if (res.err_len > 0) {
			cleanup_free char *msg = oci_stderr_message(res.err);
			err_prefix(err, "%s", msg);
		}
		spawn_result_free(&res);
		/* A conmon that is still working on it gets no more time. */
		cleanup_free char *pp = conmon_pidfile_path(o->persist_dir);
		int cpid = read_pid_file(pp);
		if (cpid > 0 && err && *err && (*err)->code == GRPC_DEADLINE_EXCEEDED)
			kill(cpid, SIGKILL);
		return -1;
	}
	spawn_result_free(&res);

	int pid = 0;
	cleanup_free char *message = NULL;
	if (conmon_parse_reply(line, &pid, &message, err) < 0)
		return err_prefix(err, "conmon create %s", o->id);
	if (pid <= 0) {
		cleanup_free char *msg = oci_stderr_message(message);
		return err_set(err, GRPC_INTERNAL, "%s create %s: %s", o->rt->name, o->id,
			       msg[0] ? msg : "failed (no message)");
	}
	out->pid = pid;
	cleanup_free char *pp = conmon_pidfile_path(o->persist_dir);
	out->conmon_pid = read_pid_file(pp);
	if (out->conmon_pid < 0)
		out->conmon_pid = 0;
	log_debug("conmon create", "id=%s pid=%d conmon_pid=%d launch_ms=%.2f reply_ms=%.2f", o->id, pid,
		  out->conmon_pid, (double)(t1 - t0) / 1e6, (double)(spawn_now_ns() - t1) / 1e6);
	return 0;
}
