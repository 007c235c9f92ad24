/* conmon 2.1.6, the per-container monitor: how ocid starts it and talks to it.
 *
 * Protocol (measured here, see ../shared/DESIGN.md):
 *  - No --sync-pipe flag: the write end of a pipe is passed as an inherited
 *    fd named by env _OCI_SYNCPIPE. Replies are one JSON line each:
 *    create `{"pid": N}` or `{"pid": -1, "message": "..."}`; exec (legacy,
 *    no --api-version) `{"exit_code": N}` or `{"exit_code": -1, "message":
 *    "..."}`. (With --api-version 1 the key is "data"; the parser accepts all
 *    three.)
 *  - _OCI_STARTPIPE is optional: when given, conmon blocks on it before
 *    doing anything (so a parent can move it into a cgroup first). ocid does
 *    not move conmon, so it does not pass one: conmon runs `runtime create`
 *    right away. The container itself only runs after `runtime start`.
 *  - Create: conmon forks; the first process exits at once (spawn_run returns
 *    after ~5 ms) and the daemon half, in a session of its own with stdio on
 *    /dev/null, runs `runtime create` and replies on the sync pipe when that
 *    finished. It stays as the container's monitor and writes the exit file
 *    (decimal status, no newline, 128+signal) to --exit-dir/<id> and to
 *    <persist-dir>/exit when the container exits, then exits itself.
 *    OOM: an empty file `oom` in the persist dir and in its working
 *    directory (ocid starts it in the persist dir, so that is one place).
 *  - --full-attach: the attach socket is <bundle>/attach (SOCK_SEQPACKET,
 *    first byte of a packet = stream: 2 stdout, 3 stderr), with no
 *    <socket-dir>/<uuid> symlink (connect through an O_PATH fd of the bundle
 *    when the path is longer than sun_path). <bundle>/ctl is the control fifo:
 *    "1 H W\n" resizes the terminal, "2 0 0\n" reopens the log.
 *  - Exec (ExecSync): `--exec --exec-process-spec F --sync` with -l <tmp log>:
 *    no --bundle (that would re-create the main container's fifos). --sync
 *    keeps conmon our child (one fork), so it is reaped like any spawn. The
 *    runtime starts the command in a session of its own (runc: the command
 *    leads it; crun: the helper that forked it into the pid namespace does),
 *    so that process group is exactly the exec'd command and its children
 *    (unless they moved themselves to another group or session). Output
 *    arrives in the log file in CRI format and is split back into stdout and
 *    stderr. At the timeout ocid kills that process group itself, conmon
 *    (its subreaper) reaps it and replies with the status; ocid reports a
 *    timeout. (conmon's own -T, passed as a backstop a few seconds later,
 *    kills the group and exits without waiting, which can leave a zombie in
 *    the container.) */
#ifndef OCID_CTR_CONMON_H
#define OCID_CTR_CONMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctr/oci_runtime.h"
#include "util/err.h"

/* Create-time deadline when the caller gives none. */
#define CONMON_CREATE_TIMEOUT_MS 120000
/* Default cap of the output ExecSync returns (stdout + stderr). */
#define CONMON_EXEC_OUTPUT_MAX (16u << 20)

struct conmon_create_opts {
	const char *conmon_path;
	const struct oci_runtime *rt;
	const char *id;
	const char *uuid;        /* -u; NULL = id */
	const char *name;        /* -n; NULL = id */
	const char *bundle;      /* -b: holds config.json */
	const char *persist_dir; /* -0 and conmon's cwd: exit, oom, pidfile, conmon.pid */
	const char *exit_dir;    /* --exit-dir */
	const char *socket_dir;  /* --socket-dir-path (unused with --full-attach, given anyway) */
	const char *log_path;    /* -l k8s-file:PATH (CRI log format) */
	int64_t log_size_max;    /* --log-size-max when > 0 */
	bool terminal;           /* -t */
	bool stdin;              /* -i */
	bool stdin_once;         /* without it (and with stdin): --leave-stdin-open */
	const char *log_level;   /* conmon's --log-level; NULL = not given */
	int64_t deadline_ns;     /* 0 = CONMON_CREATE_TIMEOUT_MS */
};

/* The argv for a create (NULL-terminated, malloc'd strings). Pure. */
char **conmon_create_argv(const struct conmon_create_opts *o);
void conmon_argv_free(char **argv);

/* The container's init pid file and conmon's own pid file in persist_dir. */
char *conmon_pidfile_path(const char *persist_dir);
char *conmon_container_pidfile_path(const char *persist_dir);

struct conmon_created {
	int pid;        /* the container's init (host pid) */
	int conmon_pid; /* the monitor */
};

/* Starts conmon for a container and waits for `runtime create` to finish.
 * On success the container is "created" (runtime start runs it). On
 * failure the message is the runtime's. */
int conmon_create(const struct conmon_create_opts *o, struct conmon_created *out, ocid_error **err);

/* One reply line from the sync pipe. *value gets the number under "pid",
 * "exit_code" or "data"; *message (malloc'd, may be NULL) the message.
 * Pure. */
int conmon_parse_reply(const char *line, int *value, char **message, ocid_error **err);

/* The pid in a pid file's text ("123", maybe with a newline); -1 if bad.
 * Pure. */
int conmon_parse_pid(const char *text);

struct conmon_exec_opts {
	const char *conmon_path;
	const struct oci_runtime *rt;
	const char *id;
	/* The OCI process object to run (args, env, cwd, user, capabilities...),
	 * usually the container's with args replaced. terminal is forced off. */
	const json_t *process;
	const char *scratch_dir; /* process spec, log and pid files go here (then removed) */
	int timeout_s;           /* 0 = none */
	size_t output_max;       /* 0 = CONMON_EXEC_OUTPUT_MAX */
};

struct conmon_exec_result {
	int exit_code; /* the command's status (128+signal); on a timeout 137 */
	bool timed_out;
	char *out; /* NUL-terminated, never NULL after conmon_exec_sync */
	size_t out_len;
	char *err;
	size_t err_len;
};
void conmon_exec_result_free(struct conmon_exec_result *r);

/* Runs a command in a running container and waits for it, capturing its
 * output. A timeout is not an error: timed_out is set, the command's whole
 * process group has been killed and reaped. */
int conmon_exec_sync(const struct conmon_exec_opts *o, struct conmon_exec_result *res, ocid_error **err);

/* The argv of an exec (NULL-terminated, malloc'd strings). Pure. */
char **conmon_exec_argv(const struct conmon_exec_opts *o, const char *spec_path, const char *log_path,
			const char *pid_path);

/* Splits CRI log text (as conmon writes it) into stdout and stderr: F lines
 * end with '\n', P lines continue. Lines that are not CRI formatted are
 * skipped. Each output stops at max bytes (*truncated set). Pure. */
void conmon_split_crilog(const char *text, size_t len, size_t max, char **out, size_t *out_len, char **errb,
			 size_t *err_len, bool *truncated);

#endif
