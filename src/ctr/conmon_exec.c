/* conmon for ExecSync: run a command in a running container, capture its
 * output, enforce the timeout on its whole process group. See conmon.h. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctr/conmon.h"
#include "ctr/conmon_internal.h"
#include "util/crilog.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/xalloc.h"

/* How long conmon gets, after ocid killed the command at its timeout, to
 * reap it and reply before conmon itself is killed. */
#define EXEC_KILL_GRACE_MS 5000
/* conmon's own -T backstop, after ocid's timeout (only matters if ocid goes
 * away meanwhile). */
#define EXEC_BACKSTOP_S 5

void conmon_exec_result_free(struct conmon_exec_result *r)
{
	if (r == NULL)
		return;
	free(r->out);
	free(r->err);
	r->out = r->err = NULL;
	r->out_len = r->err_len = 0;
}

/* ---- CRI log -> stdout/stderr ---- */

struct growbuf {
	char *p;
	size_t len, cap;
};

static void gb_append(struct growbuf *b, const char *s, size_t n, size_t max, bool *truncated)
{
	if (b->len + n > max) {
		*truncated = true;
		n = max > b->len ? max - b->len : 0;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		b->p = xrealloc(b->p, cap);
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static char *gb_take(struct growbuf *b, size_t *len)
{
	if (b->p == NULL)
		b->p = xstrdup("");
	*len = b->len;
	return b->p;
}

void conmon_split_crilog(const char *text, size_t len, size_t max, char **out, size_t *out_len, char **errb,
			 size_t *err_len, bool *truncated)
{
	struct growbuf o = {0}, e = {0};
	*truncated = false;
	size_t off = 0;
	while (off < len) {
		const char *line = text + off;
		const char *nl = memchr(line, '\n', len - off);
		size_t ll = nl ? (size_t)(nl - line) : len - off;
		off += ll + (nl ? 1 : 0);
		struct crilog_line cl;
		if (crilog_parse(line, ll, &cl) < 0)
			continue;
		struct growbuf *b = cl.stream == CRILOG_STDERR ? &e : &o;
		gb_append(b, cl.text, cl.text_len, max, truncated);
		if (!cl.partial)
			gb_append(b, "\n", 1, max, truncated);
	}
	*out = gb_take(&o, out_len);
	*errb = gb_take(&e, err_len);
}

/* ---- argv ---- */

char **conmon_exec_argv(const struct conmon_exec_opts *o, const char *spec_path, const char *log_path,
			const char *pid_path)
{
	struct argv_buf a = {0};
	char rootbuf[4096 + 16];
	argv_push(&a, o->conmon_path);
	argv_push(&a, "-c");
	argv_push(&a, o->id);
	argv_push(&a, "-n");
	argv_push(&a, o->id);
	argv_push(&a, "-r");
	argv_push(&a, o->rt->path);
	const char *root = oci_runtime_root_arg(o->rt, rootbuf, sizeof(rootbuf));
	if (root) {
		argv_push(&a, "--runtime-arg");
		argv_push(&a, root);
	}
	argv_push(&a, "-p");
	argv_push(&a, pid_path);
	argv_push(&a, "-e");
	argv_push(&a, "--exec-process-spec");
	argv_push(&a, spec_path);
	argv_push(&a, "-l");
	argv_pushf(&a, "k8s-file:%s", log_path);
	size_t max = o->output_max ? o->output_max : CONMON_EXEC_OUTPUT_MAX;
	/* Bounds the disk the log can take: CRI framing costs ~40 bytes a line. */
	argv_pushf(&a, "--log-size-max=%zu", max * 4 + (1u << 20));
	argv_push(&a, "--sync");
	if (o->timeout_s > 0)
		argv_pushf(&a, "--timeout=%d", o->timeout_s + EXEC_BACKSTOP_S);
	return a.v;
}

/* ---- timeout ---- */

struct exec_watch {
	int64_t deadline_ns; /* 0 = none */
	int64_t give_up_ns;  /* after our kill: when conmon itself goes */
	const char *pid_path;
	bool killed;
};

/* Kills the exec'd command's process group. The runtime starts the command
 * in a new session (runc: the command itself leads it; crun: a helper that
 * forked the command into the container's pid namespace does), so that
 * session's group is the command and what it started. The group is killed
 * only when it is such a session of its own: never conmon's (which shares
 * ocid's session) or ocid's. */
static bool kill_exec_group(const char *pid_path)
{
	int pid = read_pid_file(pid_path);
	if (pid <= 0)
		return false;
	pid_t pgid = getpgid(pid);
	if (pgid > 1 && getsid(pid) == pgid && pgid != getpgrp() && getsid(pid) != getsid(0))
		kill(-pgid, SIGKILL);
	kill(pid, SIGKILL);
	return true;
}

/* spawn's cancel hook, polled every ~50 ms while conmon runs. */
static bool exec_cancelled(void *arg)
{
	struct exec_watch *w = arg;
	if (w->deadline_ns == 0)
		return false;
	int64_t now = spawn_now_ns();
	if (now < w->deadline_ns)
		return false;
	if (!w->killed) {
		if (kill_exec_group(w->pid_path)) {
			w->killed = true;
			w->give_up_ns = now + EXEC_KILL_GRACE_MS * 1000000LL;
			return false;
		}
		/* The command has not even started: give it the grace period to
		 * appear, then stop conmon (and runc) altogether. */
		if (w->give_up_ns == 0)
			w->give_up_ns = now + EXEC_KILL_GRACE_MS * 1000000LL;
		return now >= w->give_up_ns;
	}
	return now >= w->give_up_ns;
}

/* ---- the run ---- */

int conmon_exec_sync(const struct conmon_exec_opts *o, struct conmon_exec_result *res, ocid_error **err)
{
	memset(res, 0, sizeof(*res));
	res->out = xstrdup("");
	res->err = xstrdup("");
	res->exit_code = -1;
	if (!o->conmon_path || !o->rt || !o->id || !o->scratch_dir || !json_is_object(o->process))
		return err_set(err, GRPC_INVALID_ARGUMENT, "exec: missing option");
	size_t max = o->output_max ? o->output_max : CONMON_EXEC_OUTPUT_MAX;

	cleanup_free char *dir = xasprintf("%s/exec-XXXXXX", o->scratch_dir);
	if (mkdtemp(dir) == NULL)
		return err_set_errno(err, GRPC_INTERNAL, errno, "exec in %s: mkdtemp %s", o->id, dir);
	cleanup_free char *spec = xasprintf("%s/process.json", dir);
	cleanup_free char *logp = xasprintf("%s/output.log", dir);
	cleanup_free char *pidp = xasprintf("%s/pid", dir);
	int ret = -1;
	char **argv = NULL, **env = NULL;
	int sp[2] = {-1, -1};
	struct spawn_result sres = {0};
	bool have_sres = false;

	json_t *proc = json_deep_copy(o->process);
	json_object_set_new(proc, "terminal", json_false());
	json_object_del(proc, "consoleSize");
	int jr = json_dump_file(proc, spec, JSON_COMPACT);
	json_decref(proc);
	if (jr < 0) {
		err_set(err, GRPC_INTERNAL, "exec in %s: cannot write %s", o->id, spec);
		goto out;
	}

	if (pipe2(sp, O_CLOEXEC) < 0) {
		err_set_errno(err, GRPC_INTERNAL, errno, "exec in %s: pipe", o->id);
		goto out;
	}
	argv = conmon_exec_argv(o, spec, logp, pidp);
	env = conmon_env(o->rt, 3);
	struct exec_watch w = {
		.deadline_ns = o->timeout_s > 0 ? spawn_now_ns() + (int64_t)o->timeout_s * 1000000000LL : 0,
		.pid_path = pidp,
	};
	struct spawn_fd fds[] = {{.parent_fd = sp[1], .child_fd = 3}};
	struct spawn_opts so = {
		.path = o->conmon_path,
		.argv = (const char *const *)argv,
		.envp = (const char *const *)env,
		.cwd = dir,
		.stdout_max = 64 * 1024,
		.stderr_max = 64 * 1024,
		.fds = fds,
		.n_fds = 1,
		.cancelled = exec_cancelled,
		.cancel_arg = &w,
		.drain_ns = 20 * 1000000LL,
	};
	have_sres = true;
	int r = oci_runtime_spawn(o->rt, &so, &sres, err);
	close(sp[1]);
	sp[1] = -1;
	if (r < 0) {
		/* Cancelled: conmon did not finish after the kill; it is gone now. */
		if (err && *err && (*err)->code == GRPC_CANCELLED && o->timeout_s > 0) {
			err_clear(err);
			kill_exec_group(pidp);
			res->timed_out = true;
			res->exit_code = 137;
		} else {
			err_prefix(err, "exec in %s", o->id);
			goto out;
		}
	} else {
		/* Every reply is in the pipe by now (conmon has exited): take the last. */
		fcntl(sp[0], F_SETFL, O_NONBLOCK);
		char buf[8192];
		size_t len = 0;
		ssize_t n;
		while (len + 1 < sizeof(buf) && (n = read(sp[0], buf + len, sizeof(buf) - 1 - len)) > 0)
			len += (size_t)n;
		buf[len] = '\0';
		while (len > 0 && buf[len - 1] == '\n')
			buf[--len] = '\0';
		char *last = strrchr(buf, '\n');
		last = last ? last + 1 : buf;
		if (len == 0) {
			char desc[96];
			cleanup_free char *msg = oci_stderr_message(sres.err[0] ? sres.err : sres.out);
			err_set(err, GRPC_INTERNAL, "exec in %s: conmon %s without a reply%s%s", o->id,
				spawn_describe(&sres, desc, sizeof(desc)), msg[0] ? ": " : "", msg);
			goto out;
		}
		int code = 0;
		cleanup_free char *message = NULL;
		if (conmon_parse_reply(last, &code, &message, err) < 0) {
			err_prefix(err, "exec in %s", o->id);
			goto out;
		}
		if (w.killed) {
			res->timed_out = true;
			res->exit_code = code >= 0 ? code : 137;
		} else if (code < 0) {
			cleanup_free char *msg = oci_stderr_message(message);
			err_set(err, GRPC_INTERNAL, "%s exec in %s: %s", o->rt->name, o->id,
				msg[0] ? msg : "failed (no message)");
			goto out;
		} else {
			res->exit_code = code;
		}
	}

	/* The output, from the CRI-format log conmon wrote. */
	{
		cleanup_close int fd = open(logp, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			size_t cap = max * 4 + (2u << 20), len = 0;
			struct stat st;
			if (fstat(fd, &st) == 0 && (size_t)st.st_size < cap)
				cap = (size_t)st.st_size + 1;
			cleanup_free char *text = xmalloc(cap);
			ssize_t n;
			while (len + 1 < cap && (n = read(fd, text + len, cap - 1 - len)) > 0)
				len += (size_t)n;
			bool truncated;
			free(res->out);
			free(res->err);
			conmon_split_crilog(text, len, max, &res->out, &res->out_len, &res->err, &res->err_len,
					    &truncated);
			if (truncated)
				log_warn("exec output truncated", "id=%s max=%zu", o->id, max);
		}
	}
	ret = 0;

out:
	if (have_sres)
		spawn_result_free(&sres);
	if (sp[0] >= 0)
		close(sp[0]);
	if (sp[1] >= 0)
		close(sp[1]);
	conmon_argv_free(argv);
	conmon_argv_free(env);
	cleanup_err ocid_error *rmerr = NULL;
	if (fs_remove_all(dir, &rmerr) < 0) {
		char esc[512];
		log_escape(rmerr->msg, esc, sizeof(esc));
		log_warn("exec scratch dir not removed", "dir=%s err=\"%s\"", dir, esc);
	}
	return ret;
}
