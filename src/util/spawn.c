#include "util/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/proc.h"
#include "util/xalloc.h"

#define CANCEL_POLL_NS (50 * 1000000LL)
#define DRAIN_DEFAULT_NS (100 * 1000000LL)
#define NOPIDFD_TICK_NS (10 * 1000000LL)
#define READ_CHUNK 65536
#define WRITE_CHUNK 65536

int64_t spawn_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t spawn_deadline_ms(int64_t ms) { return spawn_now_ns() + ms * 1000000LL; }

bool spawn_success(const struct spawn_result *res)
{
	return res->exited && res->exit_code == 0;
}

const char *spawn_describe(const struct spawn_result *res, char *buf, size_t size)
{
	if (res->exited) {
		snprintf(buf, size, "exited with status %d", res->exit_code);
	} else if (res->signaled) {
		const char *abbrev = sigabbrev_np(res->signal);
		snprintf(buf, size, "killed by signal %d (SIG%s)", res->signal, abbrev ? abbrev : "?");
	} else {
		snprintf(buf, size, "did not finish");
	}
	return buf;
}

void spawn_result_free(struct spawn_result *res)
{
	if (res == NULL)
		return;
	free(res->out);
	free(res->err);
	res->out = res->err = NULL;
	res->out_len = res->err_len = 0;
}

/* ---- captured output ---- */

struct capture {
	int fd; /* read end, non-blocking; -1 once at EOF */
	char *data;
	size_t len, cap, max;
};

/* Reads what is available. Returns 0, 1 when more than max bytes arrived,
 * or -errno. */
static int capture_read(struct capture *c)
{
	for (;;) {
		if (c->cap - c->len < 2) {
			/* Room for one byte past the limit (to notice it) and the NUL. */
			size_t want = c->len + READ_CHUNK;
			if (want > c->max + 2)
				want = c->max + 2;
			if (want <= c->cap)
				return 1;
			c->data = xrealloc(c->data, want);
			c->cap = want;
		}
		ssize_t n = read(c->fd, c->data + c->len, c->cap - c->len - 1);
		if (n > 0) {
			c->len += (size_t)n;
			if (c->len > c->max)
				return 1;
			continue;
		}
		if (n == 0) {
			close(c->fd);
			c->fd = -1;
			return 0;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN)
			return 0;
		return -errno;
	}
}

static char *capture_take(struct capture *c, size_t *len)
{
	size_t n = c->len > c->max ? c->max : c->len;
	char *p = c->data ? c->data : xmalloc(1);
	p[n] = '\0';
	*len = n;
	c->data = NULL;
	return p;
}

/* ---- descriptors ---- */

/* Moves fd to a number >= min (close-on-exec); returns the new fd or -1. */
static int fd_at_least(int fd, int min)
{
	if (fd >= min)
		return fd;
	int n = fcntl(fd, F_DUPFD_CLOEXEC, min);
	int saved = errno;
	close(fd);
	errno = saved;
	return n;
}

/* A close-on-exec pipe whose ends are both >= 3, so that dup2 onto 0-2 in
 * the child can never clobber another of our pipes. */
static int make_pipe(int p[2])
{
	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	p[0] = fd_at_least(p[0], 3);
	p[1] = fd_at_least(p[1], 3);
	if (p[0] < 0 || p[1] < 0) {
		int saved = errno;
		if (p[0] >= 0)
			close(p[0]);
		if (p[1] >= 0)
			close(p[1]);
		errno = saved;
		return -1;
	}
	return 0;
}

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -1;
	return 0;
}

static void close_fd(int *fd)
{
	if (*fd >= 0) {
		close(*fd);
		*fd = -1;
	}
}

static enum grpc_code spawn_errno_code(int e)
{
	switch (e) {
	case ENOENT:
	case ENOTDIR:
		return GRPC_NOT_FOUND;
	case EACCES:
	case EPERM:
		return GRPC_PERMISSION_DENIED;
	default:
		return GRPC_INTERNAL;
	}
}

/* True once pid has exited (without reaping it, so its pid and process
 * group stay reserved until spawn_run reaps it). */
static bool child_exited(pid_t pid)
{
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0)
		return errno == ECHILD; /* someone else reaped it: nothing to wait for */
	return si.si_pid == pid;
}

static void reap(pid_t pid, struct spawn_result *res)
{
	int status = 0;
	pid_t r;
	do {
		r = waitpid(pid, &status, 0);
	} while (r < 0 && errno == EINTR);
	if (r != pid)
		return;
	res->status = status;
	if (WIFEXITED(status)) {
		res->exited = true;
		res->exit_code = WEXITSTATUS(status);
	} else if (WIFSIGNALED(status)) {
		res->signaled = true;
		res->signal = WTERMSIG(status);
	}
}

/* ---- the file actions and attributes ---- */

struct spawn_setup {
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	bool fa_init, attr_init;
	int *tmp_fds; /* high copies of the parent fds to map */
	size_t n_tmp;
};

static void setup_free(struct spawn_setup *s)
{
	if (s->fa_init)
		posix_spawn_file_actions_destroy(&s->fa);
	if (s->attr_init)
		posix_spawnattr_destroy(&s->attr);
	for (size_t i = 0; i < s->n_tmp; i++)
		if (s->tmp_fds[i] >= 0)
			close(s->tmp_fds[i]);
	free(s->tmp_fds);
}

static int setup_output(posix_spawn_file_actions_t *fa, enum spawn_output mode, int pipe_w, int target)
{
	switch (mode) {
	case SPAWN_CAPTURE:
		return posix_spawn_file_actions_adddup2(fa, pipe_w, target);
	case SPAWN_DEVNULL:
		return posix_spawn_file_actions_addopen(fa, target, "/dev/null", O_WRONLY, 0);
	case SPAWN_INHERIT:
		return 0;
	}
	return EINVAL;
}

static int build_setup(const struct spawn_opts *o, struct spawn_setup *s, int in_r, int out_w, int err_w,
		       ocid_error **err)
{
	int rc = posix_spawn_file_actions_init(&s->fa);
	if (rc != 0)
		return err_set_errno(err, GRPC_INTERNAL, rc, "posix_spawn_file_actions_init");
	s->fa_init = true;
	rc = posix_spawnattr_init(&s->attr);
	if (rc != 0)
		return err_set_errno(err, GRPC_INTERNAL, rc, "posix_spawnattr_init");
	s->attr_init = true;

	/* Own process group (so the whole tree can be killed), every signal
	 * unblocked (the daemon blocks some for its signalfd) and at its
	 * default action (SIG_IGN would otherwise survive exec). */
	sigset_t none, all;
	sigemptyset(&none);
	sigfillset(&all);
	rc = posix_spawnattr_setflags(&s->attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	if (rc == 0)
		rc = posix_spawnattr_setpgroup(&s->attr, 0);
	if (rc == 0)
		rc = posix_spawnattr_setsigmask(&s->attr, &none);
	if (rc == 0)
		rc = posix_spawnattr_setsigdefault(&s->attr, &all);
	if (rc != 0)
		return err_set_errno(err, GRPC_INTERNAL, rc, "posix_spawnattr");

	/* stdio first: every pipe end is >= 3, so these never clobber each other. */
	if (in_r >= 0)
		rc = posix_spawn_file_actions_adddup2(&s->fa, in_r, 0);
	else
		rc = posix_spawn_file_actions_addopen(&s->fa, 0, "/dev/null", O_RDONLY, 0);
	if (rc == 0)
		rc = setup_output(&s->fa, o->stdout_mode, out_w, 1);
	if (rc == 0)
		rc = setup_output(&s->fa, o->stderr_mode, err_w, 2);
	if (rc != 0)
		return err_set_errno(err, GRPC_INTERNAL, rc, "posix_spawn file actions");

	/* Extra descriptors: copy each source above every target first, so the
	 * dup2 sequence in the child cannot overwrite a source it still needs. */
	int max_target = 2;
	for (size_t i = 0; i < o->n_fds; i++) {
		int t = o->fds[i].child_fd;
		if (t < 3)
			return err_set(err, GRPC_INVALID_ARGUMENT, "spawn: child fd %d is reserved (0-2 are stdio)", t);
		for (size_t j = 0; j < i; j++)
			if (o->fds[j].child_fd == t)
				return err_set(err, GRPC_INVALID_ARGUMENT, "spawn: child fd %d mapped twice", t);
		if (t > max_target)
			max_target = t;
	}
	if (o->n_fds > 0) {
		s->tmp_fds = xcalloc(o->n_fds, sizeof(int));
		for (size_t i = 0; i < o->n_fds; i++) {
			int fd = fcntl(o->fds[i].parent_fd, F_DUPFD_CLOEXEC, max_target + 1);
			if (fd < 0)
				return err_set_errno(err, GRPC_INTERNAL, errno, "spawn: duplicate fd %d", o->fds[i].parent_fd);
			s->tmp_fds[s->n_tmp++] = fd;
		}
		for (size_t i = 0; i < o->n_fds && rc == 0; i++)
			rc = posix_spawn_file_actions_adddup2(&s->fa, s->tmp_fds[i], o->fds[i].child_fd);
		/* Low numbers that are not targets: close whatever the daemon has there. */
		for (int fd = 3; fd <= max_target && rc == 0; fd++) {
			bool target = false;
			for (size_t i = 0; i < o->n_fds; i++)
				target = target || o->fds[i].child_fd == fd;
			if (!target)
				rc = posix_spawn_file_actions_addclose(&s->fa, fd);
		}
		if (rc != 0)
			return err_set_errno(err, GRPC_INTERNAL, rc, "posix_spawn file actions");
	}
	/* Nothing else of the daemon's leaks, even fds opened without O_CLOEXEC
	 * by another thread. */
	rc = posix_spawn_file_actions_addclosefrom_np(&s->fa, max_target + 1);
	if (rc == 0 && o->cwd != NULL)
		rc = posix_spawn_file_actions_addchdir_np(&s->fa, o->cwd);
	if (rc != 0)
		return err_set_errno(err, GRPC_INTERNAL, rc, "posix_spawn file actions");
	return 0;
}

/* ---- the run ---- */

enum stop_reason { STOP_NONE, STOP_DEADLINE, STOP_CANCEL, STOP_LIMIT_OUT, STOP_LIMIT_ERR, STOP_IO };

static int64_t min_ns(int64_t a, int64_t b) { return a < b ? a : b; }

int spawn_run(const struct spawn_opts *o, struct spawn_result *res, ocid_error **err)
{
	memset(res, 0, sizeof(*res));
	res->out = xstrdup("");
	res->err = xstrdup("");
	res->pid = -1;

	if (o->argv == NULL || o->argv[0] == NULL)
		return err_set(err, GRPC_INVALID_ARGUMENT, "spawn: no argv[0]");
	const char *path = o->path ? o->path : o->argv[0];

	int in_p[2] = {-1, -1}, out_p[2] = {-1, -1}, err_p[2] = {-1, -1};
	int pidfd = -1;
	struct capture out = {.fd = -1, .max = o->stdout_max ? o->stdout_max : SPAWN_STDOUT_MAX_DEFAULT};
	struct capture errc = {.fd = -1, .max = o->stderr_max ? o->stderr_max : SPAWN_STDERR_MAX_DEFAULT};
	struct spawn_setup setup = {0};
	int ret = -1;
	pid_t pid = -1;

	if ((o->stdin_data != NULL && make_pipe(in_p) < 0) ||
	    (o->stdout_mode == SPAWN_CAPTURE && make_pipe(out_p) < 0) ||
	    (o->stderr_mode == SPAWN_CAPTURE && make_pipe(err_p) < 0)) {
		err_set_errno(err, GRPC_INTERNAL, errno, "spawn %s: pipe", path);
		goto out;
	}
	if ((in_p[1] >= 0 && set_nonblock(in_p[1]) < 0) || (out_p[0] >= 0 && set_nonblock(out_p[0]) < 0) ||
	    (err_p[0] >= 0 && set_nonblock(err_p[0]) < 0)) {
		err_set_errno(err, GRPC_INTERNAL, errno, "spawn %s: fcntl", path);
		goto out;
	}
	if (build_setup(o, &setup, in_p[0], out_p[1], err_p[1], err) < 0) {
		err_prefix(err, "spawn %s", path);
		goto out;
	}

	static const char *const empty_env[] = {NULL};
	const char *const *envp = o->envp ? o->envp : empty_env;
	int rc = posix_spawn(&pid, path, &setup.fa, &setup.attr, (char *const *)o->argv, (char *const *)envp);
	if (rc != 0) {
		pid = -1;
		if (o->cwd)
			err_set_errno(err, spawn_errno_code(rc), rc, "run %s (in %s)", path, o->cwd);
		else
			err_set_errno(err, spawn_errno_code(rc), rc, "run %s", path);
		goto out;
	}
	res->pid = pid;
	/* The child's ends belong to the child now. */
	close_fd(&in_p[0]);
	close_fd(&out_p[1]);
	close_fd(&err_p[1]);
	setup_free(&setup);
	memset(&setup, 0, sizeof(setup));
	out.fd = steal_fd(&out_p[0]);
	errc.fd = steal_fd(&err_p[0]);
	int in_w = steal_fd(&in_p[1]);
	size_t in_off = 0;
	if (in_w >= 0 && o->stdin_len == 0)
		close_fd(&in_w);

	pidfd = proc_pidfd_open(pid);

	/* A write to a pipe whose reader is gone raises SIGPIPE at this thread:
	 * keep it blocked here and swallow it afterwards. */
	sigset_t pipe_set, old_mask;
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask);
	bool got_epipe = false;

	enum stop_reason stop = STOP_NONE;
	int io_errno = 0;
	bool exited = false;
	int64_t drain_until = 0;
	int64_t drain = o->drain_ns > 0 ? o->drain_ns : DRAIN_DEFAULT_NS;
	int64_t next_cancel = 0;

	for (;;) {
		int64_t now = spawn_now_ns();
		if (!exited && (pidfd < 0 || (out.fd < 0 && errc.fd < 0 && in_w < 0)) && child_exited(pid)) {
			exited = true;
			drain_until = now + drain;
		}
		if (exited) {
			close_fd(&in_w);
			if ((out.fd < 0 && errc.fd < 0) || now >= drain_until)
				break;
		}
		if (o->deadline_ns > 0 && now >= o->deadline_ns) {
			stop = STOP_DEADLINE;
			break;
		}
		if (o->cancelled != NULL && now >= next_cancel) {
			if (o->cancelled(o->cancel_arg)) {
				stop = STOP_CANCEL;
				break;
			}
			next_cancel = now + CANCEL_POLL_NS;
		}

		int64_t wait = INT64_MAX;
		if (o->deadline_ns > 0)
			wait = min_ns(wait, o->deadline_ns - now);
		if (o->cancelled != NULL)
			wait = min_ns(wait, next_cancel - now);
		if (exited)
			wait = min_ns(wait, drain_until - now);
		else if (pidfd < 0)
			wait = min_ns(wait, NOPIDFD_TICK_NS);
		int timeout_ms = -1;
		if (wait != INT64_MAX) {
			int64_t ms = (wait + 999999) / 1000000;
			timeout_ms = ms < 0 ? 0 : ms > 60000 ? 60000 : (int)ms;
		}

		struct pollfd pfd[4];
		int n = 0, i_in = -1, i_out = -1, i_err = -1, i_pid = -1;
		if (in_w >= 0) {
			pfd[n] = (struct pollfd){.fd = in_w, .events = POLLOUT};
			i_in = n++;
		}
		if (out.fd >= 0) {
			pfd[n] = (struct pollfd){.fd = out.fd, .events = POLLIN};
			i_out = n++;
		}
		if (errc.fd >= 0) {
			pfd[n] = (struct pollfd){.fd = errc.fd, .events = POLLIN};
			i_err = n++;
		}
		if (pidfd >= 0 && !exited) {
			pfd[n] = (struct pollfd){.fd = pidfd, .events = POLLIN};
			i_pid = n++;
		}
		int pr = poll(pfd, (nfds_t)n, timeout_ms);
		if (pr < 0) {
			if (errno == EINTR)
				continue;
			stop = STOP_IO;
			io_errno = errno;
			break;
		}
		if (pr == 0)
			continue;

		if (i_in >= 0 && pfd[i_in].revents) {
			if (pfd[i_in].revents & (POLLERR | POLLHUP)) {
				close_fd(&in_w); /* the child closed its stdin */
			} else {
				size_t left = o->stdin_len - in_off;
				ssize_t w = write(in_w, (const char *)o->stdin_data + in_off,
						  left > WRITE_CHUNK ? WRITE_CHUNK : left);
				if (w > 0) {
					in_off += (size_t)w;
					if (in_off == o->stdin_len)
						close_fd(&in_w);
				} else if (w < 0 && errno == EPIPE) {
					got_epipe = true;
					close_fd(&in_w);
				} else if (w < 0 && errno != EAGAIN && errno != EINTR) {
					stop = STOP_IO;
					io_errno = errno;
					break;
				}
			}
		}
		if (i_out >= 0 && pfd[i_out].revents) {
			int r = capture_read(&out);
			if (r != 0) {
				stop = r > 0 ? STOP_LIMIT_OUT : STOP_IO;
				io_errno = -r;
				break;
			}
		}
		if (i_err >= 0 && pfd[i_err].revents) {
			int r = capture_read(&errc);
			if (r != 0) {
				stop = r > 0 ? STOP_LIMIT_ERR : STOP_IO;
				io_errno = -r;
				break;
			}
		}
		if (i_pid >= 0 && pfd[i_pid].revents && child_exited(pid)) {
			exited = true;
			drain_until = spawn_now_ns() + drain;
		}
	}
	close_fd(&in_w);

	if (stop != STOP_NONE) {
		/* Not reaped yet, so pid is still the group's id: no stray kill. */
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		res->killed = true;
	}
	reap(pid, res);

	if (got_epipe) {
		struct timespec zero = {0, 0};
		while (sigtimedwait(&pipe_set, NULL, &zero) > 0)
			;
	}
	pthread_sigmask(SIG_SETMASK, &old_mask, NULL);

	switch (stop) {
	case STOP_NONE:
		ret = 0;
		break;
	case STOP_DEADLINE:
		err_set(err, GRPC_DEADLINE_EXCEEDED, "%s: deadline exceeded, killed", path);
		break;
	case STOP_CANCEL:
		err_set(err, GRPC_CANCELLED, "%s: cancelled, killed", path);
		break;
	case STOP_LIMIT_OUT:
		err_set(err, GRPC_RESOURCE_EXHAUSTED, "%s: more than %zu bytes on stdout, killed", path, out.max);
		break;
	case STOP_LIMIT_ERR:
		err_set(err, GRPC_RESOURCE_EXHAUSTED, "%s: more than %zu bytes on stderr, killed", path, errc.max);
		break;
	case STOP_IO:
		err_set_errno(err, GRPC_INTERNAL, io_errno, "%s: i/o with child", path);
		break;
	}

out:
	close_fd(&in_p[0]);
	close_fd(&in_p[1]);
	close_fd(&out_p[0]);
	close_fd(&out_p[1]);
	close_fd(&err_p[0]);
	close_fd(&err_p[1]);
	close_fd(&out.fd);
	close_fd(&errc.fd);
	close_fd(&pidfd);
	setup_free(&setup);
	if (out.data) {
		free(res->out);
		res->out = capture_take(&out, &res->out_len);
	}
	if (errc.data) {
		free(res->err);
		res->err = capture_take(&errc, &res->err_len);
	}
	return ret;
}
