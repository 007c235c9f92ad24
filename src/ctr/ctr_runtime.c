#include "ctr/ctr_runtime.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ctr/conmon_internal.h"
#include "ctr/spec.h"
#include "util/cleanup.h"
#include "util/proc.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/xalloc.h"

struct ctr_runtime {
	char *conmon_path;
	int64_t log_size_max;
	char *run_dir;
	char *exit_dir;
	char *persist_root;
	struct oci_runtime *rts;
	size_t n_rts;
	size_t default_rt;
};

/* ---- setup ---- */

int ctr_runtime_new(struct ctr_runtime **out, const struct ocid_config *cfg, const char *run_dir,
		    enum oci_mntns_mode mntns, ocid_error **err)
{
	*out = NULL;
	const struct ocid_runtime_config *rc = &cfg->runtime;
	if (rc->conmon == NULL || rc->conmon[0] != '/')
		return err_set(err, GRPC_INVALID_ARGUMENT, "conmon path must be absolute");
	if (rc->n_runtimes == 0)
		return err_set(err, GRPC_INVALID_ARGUMENT, "no runtime handler configured");
	struct ctr_runtime *r = xcalloc(1, sizeof(*r));
	r->conmon_path = xstrdup(rc->conmon);
	r->log_size_max = rc->log_size_max;
	r->run_dir = xstrdup(run_dir);
	r->exit_dir = xasprintf("%s/exits", run_dir);
	r->persist_root = xasprintf("%s/conmon", run_dir);
	r->rts = xcalloc(rc->n_runtimes, sizeof(*r->rts));
	for (size_t i = 0; i < rc->n_runtimes; i++) {
		if (oci_runtime_init(&r->rts[i], &rc->runtimes[i], mntns, rc->conmon_env, err) < 0) {
			ctr_runtime_free(r);
			return -1;
		}
		r->n_rts++;
		if (rc->default_runtime && strcmp(rc->runtimes[i].name, rc->default_runtime) == 0)
			r->default_rt = i;
	}
	if (fs_mkdir_p(r->exit_dir, 0700, err) < 0 || fs_mkdir_p(r->persist_root, 0700, err) < 0) {
		ctr_runtime_free(r);
		return err_prefix(err, "container runtime dirs");
	}
	/* conmon's directory per container, spread over the filesystem's
	 * allocation groups when runroot is on disk (dir_pool.c says why) */
	fs_spread_subdirs(r->persist_root);
	for (size_t i = 0; i < r->n_rts; i++)
		if (r->rts[i].private_mntns)
			log_info("runtime runs in a private mount namespace (hybrid cgroups)", "runtime=%s",
				 r->rts[i].name);
	*out = r;
	return 0;
}

void ctr_runtime_free(struct ctr_runtime *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->n_rts; i++)
		oci_runtime_free(&r->rts[i]);
	free(r->rts);
	free(r->conmon_path);
	free(r->run_dir);
	free(r->exit_dir);
	free(r->persist_root);
	free(r);
}

const char *ctr_runtime_exit_dir(const struct ctr_runtime *r) { return r->exit_dir; }
const char *ctr_runtime_persist_root(const struct ctr_runtime *r) { return r->persist_root; }

const struct oci_runtime *ctr_runtime_handler(const struct ctr_runtime *r, const char *name)
{
	if (name == NULL || name[0] == '\0')
		return &r->rts[r->default_rt];
	for (size_t i = 0; i < r->n_rts; i++)
		if (strcmp(r->rts[i].name, name) == 0)
			return &r->rts[i];
	return NULL;
}

const char *ctr_rt_state_name(enum ctr_rt_state s)
{
	switch (s) {
	case CTR_RT_CREATED:
		return "created";
	case CTR_RT_RUNNING:
		return "running";
	case CTR_RT_PAUSED:
		return "paused";
	case CTR_RT_STOPPED:
		return "stopped";
	default:
		return "gone";
	}
}

/* ---- helpers ---- */

/* Hands e to the caller's *err (or frees it when *err is taken). */
static void pass_err(ocid_error **err, ocid_error *e)
{
	if (err && *err == NULL)
		*err = e;
	else
		err_free(e);
}

static bool id_ok(const char *id)
{
	if (id == NULL || id[0] == '\0' || id[0] == '.' || id[0] == '-' || strlen(id) > 255)
		return false;
	for (const char *p = id; *p; p++)
		if (*p == '/' || (unsigned char)*p <= 0x20)
			return false;
	return true;
}

static int get_rt(struct ctr_runtime *r, const struct ctr_ref *ref, const struct oci_runtime **rt,
		  ocid_error **err)
{
	if (!id_ok(ref->id))
		return err_set(err, GRPC_INVALID_ARGUMENT, "invalid container id \"%s\"", ref->id ? ref->id : "");
	*rt = ctr_runtime_handler(r, ref->runtime);
	if (*rt == NULL)
		return err_set(err, GRPC_NOT_FOUND, "container %s: no runtime handler \"%s\"", ref->id, ref->runtime);
	return 0;
}

static char *persist_dir(const struct ctr_runtime *r, const char *id)
{
	return xasprintf("%s/%s", r->persist_root, id);
}

static bool pid_alive(int pid) { return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM); }

/* Waits until pid exits or timeout_ms passes; true if it is gone. pidfd
 * (when >= 0) is a pidfd of pid. */
static bool wait_pid_gone(int pidfd, int pid, int64_t timeout_ms)
{
	int64_t end = spawn_now_ns() + timeout_ms * 1000000LL;
	for (;;) {
		if (pidfd < 0 && !pid_alive(pid))
			return true;
		int64_t left = end - spawn_now_ns();
		if (left <= 0)
			return pidfd >= 0 ? poll(&(struct pollfd){.fd = pidfd, .events = POLLIN}, 1, 0) > 0
					  : !pid_alive(pid);
		if (pidfd >= 0) {
			struct pollfd p = {.fd = pidfd, .events = POLLIN};
			int64_t ms = (left + 999999) / 1000000;
			int pr = poll(&p, 1, ms > 1000 ? 1000 : (int)ms);
			if (pr > 0)
				return true;
			if (pr < 0 && errno != EINTR)
				return !pid_alive(pid);
		} else {
			struct timespec ts = {0, 5 * 1000000L};
			nanosleep(&ts, NULL);
		}
	}
}

/* Waits for conmon's exit file (it follows the container's exit by the time
 * conmon takes to drain the output). */
static int wait_exit_file(struct ctr_runtime *r, const char *id, int64_t timeout_ms, struct exit_info *out,
			  ocid_error **err)
{
	int64_t end = spawn_now_ns() + timeout_ms * 1000000LL;
	long sleep_us = 500;
	for (;;) {
		ocid_error *e = NULL;
		if (exit_read(r->exit_dir, r->persist_root, id, out, &e) == 0)
			return 0;
		if (e->code != GRPC_NOT_FOUND || spawn_now_ns() >= end) {
			pass_err(err, e);
			return -1;
		}
		err_free(e);
		struct timespec ts = {0, sleep_us * 1000L};
		nanosleep(&ts, NULL);
		if (sleep_us < 16000)
			sleep_us *= 2;
	}
}

static int conmon_pid_of(struct ctr_runtime *r, const char *id)
{
	cleanup_free char *pd = persist_dir(r, id);
	cleanup_free char *pp = conmon_pidfile_path(pd);
	return read_pid_file(pp);
}

/* A live conmon for this container: the pid runs conmon and its command
 * line names the id. */
static bool conmon_alive(int pid, const char *id)
{
	if (pid <= 0)
		return false;
	char path[64], buf[8192];
	snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
	int n = read_small_file(path, buf, sizeof(buf));
	if (n <= 0)
		return false;
	const char *base = strrchr(buf, '/');
	base = base ? base + 1 : buf;
	if (strncmp(base, "conmon", 6) != 0)
		return false;
	/* argv is NUL-separated: look for "-c" followed by id. */
	for (int i = 0; i < n;) {
		const char *arg = buf + i;
		size_t len = strlen(arg);
		if (strcmp(arg, "-c") == 0 && i + (int)len + 1 < n && strcmp(arg + len + 1, id) == 0)
			return true;
		i += (int)len + 1;
	}
	return false;
}

/* ---- create / start ---- */

static void remove_leftovers(struct ctr_runtime *r, const char *id, const char *bundle)
{
	cleanup_free char *ef = xasprintf("%s/%s", r->exit_dir, id);
	if (unlink(ef) < 0 && errno != ENOENT)
		log_warn("cannot remove exit file", "path=%s err=\"%s\"", ef, strerror(errno));
	cleanup_free char *pd = persist_dir(r, id);
	cleanup_err ocid_error *e = NULL;
	if (fs_remove_all(pd, &e) < 0) {
		char esc[512];
		log_escape(e->msg, esc, sizeof(esc));
		log_warn("cannot remove conmon dir", "path=%s err=\"%s\"", pd, esc);
	}
	if (bundle) {
		static const char *const names[] = {"attach", "ctl", "winsz"};
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			cleanup_free char *p = xasprintf("%s/%s", bundle, names[i]);
			if (unlink(p) < 0 && errno != ENOENT)
				log_warn("cannot remove conmon leftover", "path=%s err=\"%s\"", p, strerror(errno));
		}
	}
}

int ctr_runtime_create(struct ctr_runtime *r, const struct ctr_create_params *p, struct conmon_created *out,
		       ocid_error **err)
{
	memset(out, 0, sizeof(*out));
	const struct oci_runtime *rt;
	if (get_rt(r, &p->ref, &rt, err) < 0)
		return -1;
	if (p->ref.bundle == NULL || p->log_path == NULL)
		return err_set(err, GRPC_INVALID_ARGUMENT, "create %s: bundle and log path are required", p->ref.id);

	if (oci_runtime_has_state(rt, p->ref.id) == 1)
		return err_set(err, GRPC_ALREADY_EXISTS, "create %s: the runtime already has a container with this id",
			       p->ref.id);
	/* A previous attempt under the same id may have left files. */
	remove_leftovers(r, p->ref.id, NULL);
	cleanup_free char *pd = persist_dir(r, p->ref.id);
	if (mkdir(pd, 0700) < 0)
		return err_set_errno(err, GRPC_INTERNAL, errno, "create %s: mkdir %s", p->ref.id, pd);

	struct conmon_create_opts o = {
		.conmon_path = r->conmon_path,
		.rt = rt,
		.id = p->ref.id,
		.name = p->name,
		.bundle = p->ref.bundle,
		.persist_dir = pd,
		.exit_dir = r->exit_dir,
		.log_path = p->log_path,
		.log_size_max = r->log_size_max,
		.terminal = p->terminal,
		.stdin = p->stdin,
		.stdin_once = p->stdin_once,
		.deadline_ns = p->deadline_ns,
	};
	if (conmon_create(&o, out, err) == 0)
		return 0;

	/* Leave nothing behind: the runtime may have got half way. */
	cleanup_err ocid_error *e = NULL;
	if (oci_runtime_delete(rt, p->ref.id, true, 0, &e) < 0) {
		char esc[512];
		log_escape(e->msg, esc, sizeof(esc));
		log_warn("cleanup after failed create", "id=%s err=\"%s\"", p->ref.id, esc);
	}
	int cpid = conmon_pid_of(r, p->ref.id);
	if (conmon_alive(cpid, p->ref.id)) {
		int pfd = proc_pidfd_open(cpid);
		if (!wait_pid_gone(pfd, cpid, 2000))
			kill(cpid, SIGKILL);
		if (pfd >= 0)
			close(pfd);
		waitpid(cpid, NULL, WNOHANG);
	}
	remove_leftovers(r, p->ref.id, p->ref.bundle);
	return -1;
}

int ctr_runtime_start(struct ctr_runtime *r, const struct ctr_ref *ref, ocid_error **err)
{
	const struct oci_runtime *rt;
	if (get_rt(r, ref, &rt, err) < 0)
		return -1;
	int64_t t0 = spawn_now_ns();
	int rc = oci_runtime_start(rt, ref->id, 0, err);
	log_debug("runtime start", "id=%s ms=%.2f", ref->id, (double)(spawn_now_ns() - t0) / 1e6);
	return rc;
}

/* ---- stop ---- */

/* Sends sig to the container. With a PID namespace of its own (not
 * kill_all), `runc kill` only signals the init process; that is done here
 * through the pidfd, without starting the runtime (5-8 ms), when the pidfd's
 * process is a child of the container's conmon: a pid reused after the exit
 * is never signalled. Anything else goes through the runtime. */
static int signal_container(struct ctr_runtime *r, const struct oci_runtime *rt, const struct ctr_ref *ref,
			    bool kill_all, int pidfd, int pid, int sig, ocid_error **err)
{
#ifdef SYS_pidfd_send_signal
	if (!kill_all && pidfd >= 0) {
		int cpid = conmon_pid_of(r, ref->id);
		struct proc_stat ps;
		if (cpid > 0 && proc_stat_read(pid, &ps, NULL) == 0 && ps.ppid == cpid) {
			if (syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) == 0 || errno == ESRCH)
				return 0; /* ESRCH: it has exited already */
			log_debug("pidfd_send_signal failed; asking the runtime", "id=%s err=\"%s\"", ref->id,
				  strerror(errno));
		}
	}
#else
	(void)r;
	(void)pidfd;
	(void)pid;
#endif
	ocid_error *e = NULL;
	if (oci_runtime_kill(rt, ref->id, sig, kill_all, 0, &e) < 0) {
		if (e->code != GRPC_FAILED_PRECONDITION && e->code != GRPC_NOT_FOUND) {
			pass_err(err, e);
			return err_prefix(err, "stop %s", ref->id);
		}
		err_free(e);
	}
	return 0;
}

/* The grace period: past CTR_STOP_LONG_WAIT_MS the waiter is told. */
static bool wait_grace(int pidfd, int pid, int timeout_s, const struct ctr_stop_wait *wait)
{
	int64_t total = (int64_t)timeout_s * 1000;
	int64_t first = wait && wait->long_wait && total > CTR_STOP_LONG_WAIT_MS ? CTR_STOP_LONG_WAIT_MS : total;
	bool gone = wait_pid_gone(pidfd, pid, first);
	if (gone || first == total)
		return gone;
	wait->long_wait(wait->arg, true);
	gone = wait_pid_gone(pidfd, pid, total - first);
	wait->long_wait(wait->arg, false);
	return gone;
}

static int stop_impl(struct ctr_runtime *r, const struct ctr_ref *ref, int timeout_s, int stop_signal,
		     bool kill_all, const struct ctr_stop_wait *wait, struct exit_info *out, ocid_error **err)
{
	memset(out, 0, sizeof(*out));
	out->exit_code = -1;
	const struct oci_runtime *rt;
	if (get_rt(r, ref, &rt, err) < 0)
		return -1;
	if (exit_read(r->exit_dir, r->persist_root, ref->id, out, NULL) == 0)
		return 0; /* already exited */

	int pid = ref->pid;
	if (pid <= 0) {
		struct oci_state st;
		ocid_error *e = NULL;
		if (oci_runtime_state(rt, ref->id, &st, 0, &e) < 0) {
			if (e->code != GRPC_NOT_FOUND) {
				pass_err(err, e);
				return err_prefix(err, "stop %s", ref->id);
			}
			err_free(e);
		}
		pid = st.pid;
		oci_state_free(&st);
	}

	cleanup_close int pidfd = pid > 0 ? proc_pidfd_open(pid) : -1;
	bool gone = pid <= 0 || (pidfd < 0 && !pid_alive(pid));
	/* The exit file, checked after the pidfd is held: if it is not there now,
	 * the pid was still the container's when the pidfd was taken (modulo the
	 * few ms conmon takes to write it). */
	if (!gone && exit_read(r->exit_dir, r->persist_root, ref->id, out, NULL) == 0)
		return 0;

	int sig = stop_signal > 0 ? stop_signal : SIGTERM;
	if (!gone && timeout_s > 0 && sig != SIGKILL) {
		if (signal_container(r, rt, ref, kill_all, pidfd, pid, sig, err) < 0)
			return -1;
		gone = wait_grace(pidfd, pid, timeout_s, wait);
	}
	if (!gone) {
		if (signal_container(r, rt, ref, kill_all, pidfd, pid, SIGKILL, err) < 0)
			return -1;
		if (!wait_pid_gone(pidfd, pid, CTR_KILL_WAIT_MS))
			return err_set(err, GRPC_DEADLINE_EXCEEDED, "stop %s: still running %d s after SIGKILL",
				       ref->id, CTR_KILL_WAIT_MS / 1000);
	}

	/* The process is gone: conmon records it. If conmon is gone too, the
	 * code is unknown. */
	int cpid = conmon_pid_of(r, ref->id);
	bool have_conmon = conmon_alive(cpid, ref->id);
	ocid_error *e = NULL;
	if (wait_exit_file(r, ref->id, have_conmon ? CTR_EXIT_FILE_WAIT_MS : 50, out, &e) < 0) {
		if (e->code != GRPC_NOT_FOUND) {
			pass_err(err, e);
			return err_prefix(err, "stop %s", ref->id);
		}
		err_free(e);
		log_warn("container exited without an exit file (conmon gone?)", "id=%s", ref->id);
		memset(out, 0, sizeof(*out));
		out->exit_code = -1;
		clock_gettime(CLOCK_REALTIME, &out->finished);
	}
	if (cpid > 0)
		waitpid(cpid, NULL, WNOHANG); /* ours if ocid is a subreaper */
	return 0;
}

int ctr_runtime_stop(struct ctr_runtime *r, const struct ctr_ref *ref, int timeout_s, int stop_signal,
		     bool kill_all, const struct ctr_stop_wait *wait, struct exit_info *out, ocid_error **err)
{
	int64_t t0 = spawn_now_ns();
	int rc = stop_impl(r, ref, timeout_s, stop_signal, kill_all, wait, out, err);
	log_debug("runtime stop", "id=%s ms=%.2f", ref->id, (double)(spawn_now_ns() - t0) / 1e6);
	return rc;
}

/* ---- remove ---- */

static int remove_impl(struct ctr_runtime *r, const struct ctr_ref *ref, ocid_error **err);

int ctr_runtime_remove(struct ctr_runtime *r, const struct ctr_ref *ref, ocid_error **err)
{
	int64_t t0 = spawn_now_ns();
	int rc = remove_impl(r, ref, err);
	log_debug("runtime remove", "id=%s ms=%.2f", ref->id, (double)(spawn_now_ns() - t0) / 1e6);
	return rc;
}

static int remove_impl(struct ctr_runtime *r, const struct ctr_ref *ref, ocid_error **err)
{
	const struct oci_runtime *rt;
	if (get_rt(r, ref, &rt, err) < 0)
		return -1;

	/* The usual case is a stopped container: a plain delete, nothing else
	 * (no state call). A missing one is fine too. */
	ocid_error *e = NULL;
	if (oci_runtime_delete(rt, ref->id, false, 0, &e) < 0) {
		char esc[512];
		log_escape(e->msg, esc, sizeof(esc));
		log_debug("remove: plain delete failed, killing first", "id=%s err=\"%s\"", ref->id, esc);
		err_clear(&e);
		/* Still running (or created, or paused): kill, wait, delete; --force
		 * (~100 ms with runc) only if that did not do it. */
		struct oci_state st = {0};
		if (oci_runtime_state(rt, ref->id, &st, 0, &e) < 0)
			err_clear(&e);
		int pid = st.pid > 0 ? st.pid : ref->pid;
		oci_state_free(&st);
		int pidfd = pid > 0 ? proc_pidfd_open(pid) : -1;
		if (oci_runtime_kill(rt, ref->id, SIGKILL, true, 0, &e) < 0)
			err_clear(&e);
		if (pid > 0)
			wait_pid_gone(pidfd, pid, CTR_KILL_WAIT_MS);
		if (pidfd >= 0)
			close(pidfd);
		if (oci_runtime_delete(rt, ref->id, false, 0, &e) < 0) {
			char esc[512];
			log_escape(e->msg, esc, sizeof(esc));
			log_debug("remove: delete after kill failed, forcing", "id=%s err=\"%s\"", ref->id, esc);
			err_clear(&e);
			if (oci_runtime_delete(rt, ref->id, true, 0, err) < 0)
				return err_prefix(err, "remove %s", ref->id);
		}
	}

	/* conmon writes the exit file and exits once the container is gone:
	 * let it finish before its files are removed. */
	int cpid = conmon_pid_of(r, ref->id);
	if (conmon_alive(cpid, ref->id)) {
		int pfd = proc_pidfd_open(cpid);
		if (!wait_pid_gone(pfd, cpid, 2000)) {
			log_warn("conmon did not exit after the container was deleted; killing it", "id=%s pid=%d",
				 ref->id, cpid);
			kill(cpid, SIGKILL);
		}
		if (pfd >= 0)
			close(pfd);
	}
	if (cpid > 0)
		waitpid(cpid, NULL, WNOHANG); /* ours if ocid is a subreaper */
	remove_leftovers(r, ref->id, ref->bundle);
	return 0;
}

/* ---- status ---- */

int ctr_runtime_status(struct ctr_runtime *r, const struct ctr_ref *ref, struct ctr_rt_status *out,
		       ocid_error **err)
{
	memset(out, 0, sizeof(*out));
	out->exit.exit_code = -1;
	const struct oci_runtime *rt;
	if (get_rt(r, ref, &rt, err) < 0)
		return -1;
	struct oci_state st;
	ocid_error *e = NULL;
	if (oci_runtime_state(rt, ref->id, &st, 0, &e) < 0) {
		if (e->code != GRPC_NOT_FOUND) {
			pass_err(err, e);
			return err_prefix(err, "status %s", ref->id);
		}
		err_free(e);
		out->state = CTR_RT_GONE;
	} else {
		switch (st.status) {
		case OCI_STATUS_CREATING:
		case OCI_STATUS_CREATED:
			out->state = CTR_RT_CREATED;
			break;
		case OCI_STATUS_RUNNING:
			out->state = CTR_RT_RUNNING;
			break;
		case OCI_STATUS_PAUSED:
			out->state = CTR_RT_PAUSED;
			break;
		default:
			out->state = CTR_RT_STOPPED;
			break;
		}
		out->pid = st.pid;
		oci_state_free(&st);
	}
	out->exited = exit_read(r->exit_dir, r->persist_root, ref->id, &out->exit, NULL) == 0;
	int cpid = conmon_pid_of(r, ref->id);
	out->conmon_pid = cpid > 0 ? cpid : 0;
	out->conmon_alive = conmon_alive(cpid, ref->id);
	return 0;
}

/* ---- ctl fifo ---- */

static int ctl_write(const struct ctr_ref *ref, const char *msg, ocid_error **err)
{
	if (ref->bundle == NULL)
		return err_set(err, GRPC_INVALID_ARGUMENT, "container %s: no bundle", ref->id);
	cleanup_free char *path = xasprintf("%s/ctl", ref->bundle);
	/* Non-blocking: ENXIO when no conmon reads it, instead of hanging. */
	cleanup_close int fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENXIO || errno == ENOENT)
			return err_set(err, GRPC_FAILED_PRECONDITION, "container %s: its conmon is not running",
				       ref->id);
		return err_set_errno(err, GRPC_INTERNAL, errno, "container %s: open %s", ref->id, path);
	}
	if (fs_write_all(fd, msg, strlen(msg)) < 0)
		return err_set_errno(err, GRPC_INTERNAL, errno, "container %s: write %s", ref->id, path);
	return 0;
}

int ctr_runtime_reopen_log(struct ctr_runtime *r, const struct ctr_ref *ref, const char *log_path,
			   int64_t deadline_ns, ocid_error **err)
{
	(void)r;
	if (!id_ok(ref->id))
		return err_set(err, GRPC_INVALID_ARGUMENT, "invalid container id");
	if (ctl_write(ref, "2 0 0\n", err) < 0)
		return err_prefix(err, "reopen log");
	if (log_path == NULL)
		return 0;
	int64_t end = deadline_ns > 0 ? deadline_ns : spawn_deadline_ms(5000);
	long sleep_us = 200;
	struct stat sb;
	while (stat(log_path, &sb) < 0) {
		if (spawn_now_ns() >= end)
			return err_set(err, GRPC_DEADLINE_EXCEEDED, "reopen log of %s: %s not re-created in time",
				       ref->id, log_path);
		struct timespec ts = {0, sleep_us * 1000L};
		nanosleep(&ts, NULL);
		if (sleep_us < 10000)
			sleep_us *= 2;
	}
	return 0;
}

int ctr_runtime_resize(struct ctr_runtime *r, const struct ctr_ref *ref, unsigned height, unsigned width,
		       ocid_error **err)
{
	(void)r;
	if (!id_ok(ref->id))
		return err_set(err, GRPC_INVALID_ARGUMENT, "invalid container id");
	if (height > 65535 || width > 65535)
		return err_set(err, GRPC_INVALID_ARGUMENT, "resize %s: %ux%u out of range", ref->id, height, width);
	char msg[64];
	snprintf(msg, sizeof(msg), "1 %u %u\n", height, width);
	if (ctl_write(ref, msg, err) < 0)
		return err_prefix(err, "resize");
	return 0;
}

/* ---- exec / update ---- */

int ctr_runtime_exec_sync(struct ctr_runtime *r, const struct ctr_ref *ref, const char *const *argv,
			  int timeout_s, struct conmon_exec_result *out, ocid_error **err)
{
	memset(out, 0, sizeof(*out));
	out->out = xstrdup("");
	out->err = xstrdup("");
	const struct oci_runtime *rt;
	if (get_rt(r, ref, &rt, err) < 0)
		return -1;
	if (argv == NULL || argv[0] == NULL)
		return err_set(err, GRPC_INVALID_ARGUMENT, "exec in %s: empty command", ref->id);
	if (ref->bundle == NULL)
		return err_set(err, GRPC_INVALID_ARGUMENT, "exec in %s: no bundle", ref->id);
	cleanup_free char *cfgp = xasprintf("%s/config.json", ref->bundle);
	/* spec_loads: an unlimited rlimit (18446744073709551615) is more than
	 * a jansson integer holds */
	cleanup_free char *text = NULL;
	size_t text_len = 0;
	FILE *f = fopen(cfgp, "re");
	if (f == NULL)
		return err_set_errno(err, GRPC_INTERNAL, errno, "exec in %s: open %s", ref->id, cfgp);
	{
		char buf[65536];
		size_t n;
		while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
			text = xrealloc(text, text_len + n + 1);
			memcpy(text + text_len, buf, n);
			text_len += n;
		}
	}
	fclose(f);
	json_t *spec = NULL;
	if (spec_loads(text ? text : "", text_len, &spec, err) < 0)
		return err_prefix(err, "exec in %s: %s", ref->id, cfgp);
	json_t *proc = json_object_get(spec, "process");
	if (!json_is_object(proc)) {
		json_decref(spec);
		return err_set(err, GRPC_INTERNAL, "exec in %s: %s has no process", ref->id, cfgp);
	}
	/* ... and the process file is written by jansson: an unlimited rlimit
	 * becomes the largest value it can write (still beyond any real use) */
	size_t ri;
	json_t *rl;
	json_array_foreach(json_object_get(proc, "rlimits"), ri, rl) {
		static const char *const keys[] = {"hard", "soft"};
		for (size_t k = 0; k < 2; k++)
			if (json_integer_value(json_object_get(rl, keys[k])) == -1)
				json_object_set_new(rl, keys[k], json_integer(INT64_MAX));
	}
	json_t *args = json_array();
	for (size_t i = 0; argv[i]; i++)
		json_array_append_new(args, json_string(argv[i]));
	json_object_set_new(proc, "args", args);
	cleanup_free char *pd = persist_dir(r, ref->id);
	struct conmon_exec_opts o = {
		.conmon_path = r->conmon_path,
		.rt = rt,
		.id = ref->id,
		.process = proc,
		.scratch_dir = pd,
		.timeout_s = timeout_s,
	};
	free(out->out);
	free(out->err);
	int ret = conmon_exec_sync(&o, out, err);
	json_decref(spec);
	return ret;
}

int ctr_runtime_update(struct ctr_runtime *r, const struct ctr_ref *ref, const json_t *resources,
		       ocid_error **err)
{
	const struct oci_runtime *rt;
	if (get_rt(r, ref, &rt, err) < 0)
		return -1;
	return oci_runtime_update(rt, ref->id, resources, 0, err);
}
