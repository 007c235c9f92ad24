/* The container-level runtime API the CRI handlers use: create (through
 * conmon), start, stop, remove, status, exec, log reopen, resize, for
 * containers of any configured runtime handler.
 *
 * Nothing here takes a lock or keeps per-container state in memory: the
 * caller identifies a container by a ctr_ref (id, handler, bundle, init pid)
 * and may call anything from any thread. Waiting calls (stop, remove, exec)
 * must be made without holding the caller's container lock, so status and
 * list calls are never blocked behind them.
 *
 * On-disk layout under run_dir (created on open):
 *   exits/<id>          conmon's exit file (decimal status) -> exit_watch
 *   conmon/<id>/        conmon's persist dir and cwd: exit, oom, pidfile
 *                       (container init pid), conmon.pid
 * The bundle (config.json, rootfs) is the caller's; conmon adds attach, ctl
 * and winsz to it. Restart: everything needed to find a container again is on
 * disk (runtime state, conmon.pid, exit files); ctr_runtime_status tells what
 * became of it while ocid was down. */
#ifndef OCID_CTR_CTR_RUNTIME_H
#define OCID_CTR_CTR_RUNTIME_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"
#include "ctr/conmon.h"
#include "ctr/exit_watch.h"
#include "ctr/oci_runtime.h"
#include "util/err.h"

/* SIGKILL wait bound in stop/remove: a process in D state may take a while. */
#define CTR_KILL_WAIT_MS 30000
/* How long stop waits for conmon's exit file once the process is gone. */
#define CTR_EXIT_FILE_WAIT_MS 5000

struct ctr_runtime;

/* cfg supplies conmon, conmon_env, log_size_max and the runtime handlers
 * (copied: cfg may be freed afterwards). */
int ctr_runtime_new(struct ctr_runtime **out, const struct ocid_config *cfg, const char *run_dir,
		    enum oci_mntns_mode mntns, ocid_error **err);
void ctr_runtime_free(struct ctr_runtime *r);

/* For exit_watch_open(exit_dir, persist_root, ...). */
const char *ctr_runtime_exit_dir(const struct ctr_runtime *r);
const char *ctr_runtime_persist_root(const struct ctr_runtime *r);

/* The handler called name (NULL or "" = the default one), or NULL. */
const struct oci_runtime *ctr_runtime_handler(const struct ctr_runtime *r, const char *name);

/* A container as the caller knows it (strings not owned). */
struct ctr_ref {
	const char *id;
	const char *runtime; /* handler name; NULL or "" = the default */
	const char *bundle;  /* where conmon puts attach and ctl */
	int pid;             /* the init pid if known (from create), else 0 */
};

struct ctr_create_params {
	struct ctr_ref ref;
	const char *name;     /* for conmon's logs; NULL = id */
	const char *log_path; /* CRI log file (its directory must exist) */
	bool terminal;
	bool stdin;
	bool stdin_once;
	int64_t deadline_ns; /* 0 = CONMON_CREATE_TIMEOUT_MS */
};

/* Creates the container (conmon + `runtime create`): on return it is in the
 * "created" state with out->pid its init. On failure nothing is left behind
 * (runtime state, conmon dir). */
int ctr_runtime_create(struct ctr_runtime *r, const struct ctr_create_params *p, struct conmon_created *out,
		       ocid_error **err);

int ctr_runtime_start(struct ctr_runtime *r, const struct ctr_ref *ref, ocid_error **err);

/* Stops the container: stop_signal (0 = SIGTERM), then SIGKILL after
 * timeout_s seconds (timeout_s <= 0: SIGKILL at once); kill_all signals every
 * process of the container (use it when it has no pid namespace of its own).
 * Returns once the container has exited and conmon has recorded it, with its
 * exit in *out (exit_code -1 if conmon died without writing one).
 * Idempotent: an exited or deleted container is no error.
 * wait (may be NULL) is told when the graceful wait has gone on for
 * CTR_STOP_LONG_WAIT_MS, and when it ends: from then on the stop only waits. */
#define CTR_STOP_LONG_WAIT_MS 1000
struct ctr_stop_wait {
	void (*long_wait)(void *arg, bool begin);
	void *arg;
};
int ctr_runtime_stop(struct ctr_runtime *r, const struct ctr_ref *ref, int timeout_s, int stop_signal,
		     bool kill_all, const struct ctr_stop_wait *wait, struct exit_info *out, ocid_error **err);

/* Deletes the container in the runtime (killing it first if it still runs),
 * waits for its conmon to go, and removes conmon's leftovers (exit file,
 * conmon dir, attach/ctl/winsz in the bundle). Idempotent. */
int ctr_runtime_remove(struct ctr_runtime *r, const struct ctr_ref *ref, ocid_error **err);

enum ctr_rt_state {
	CTR_RT_GONE = 0, /* the runtime does not know it */
	CTR_RT_CREATED,
	CTR_RT_RUNNING,
	CTR_RT_PAUSED,
	CTR_RT_STOPPED,
};
const char *ctr_rt_state_name(enum ctr_rt_state s);

struct ctr_rt_status {
	enum ctr_rt_state state;
	int pid;            /* init pid while created/running */
	int conmon_pid;     /* 0 if unknown */
	bool conmon_alive;  /* its conmon still runs (exits will be recorded) */
	bool exited;        /* an exit file exists: exit holds it */
	struct exit_info exit;
};

/* Where the container is now, from the runtime, conmon's pid file and the
 * exit file: what recovery after a restart needs. A running container whose
 * conmon is gone will never get an exit file: stop and remove it. */
int ctr_runtime_status(struct ctr_runtime *r, const struct ctr_ref *ref, struct ctr_rt_status *out,
		       ocid_error **err);

/* Asks conmon to reopen the log (after the kubelet renamed it) and waits
 * until log_path exists again (deadline 0 = 5 s). */
int ctr_runtime_reopen_log(struct ctr_runtime *r, const struct ctr_ref *ref, const char *log_path,
			   int64_t deadline_ns, ocid_error **err);

/* Resizes the container's terminal. */
int ctr_runtime_resize(struct ctr_runtime *r, const struct ctr_ref *ref, unsigned height, unsigned width,
		       ocid_error **err);

/* Runs argv in the container with the process settings of its config.json
 * (env, cwd, user, capabilities...), no terminal, and waits; see
 * conmon_exec_sync. */
int ctr_runtime_exec_sync(struct ctr_runtime *r, const struct ctr_ref *ref, const char *const *argv,
			  int timeout_s, struct conmon_exec_result *out, ocid_error **err);

/* Updates the container's resources (an OCI LinuxResources object). */
int ctr_runtime_update(struct ctr_runtime *r, const struct ctr_ref *ref, const json_t *resources,
		       ocid_error **err);

#endif
