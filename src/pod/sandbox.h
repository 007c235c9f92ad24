/* Pod sandboxes: the model and lifecycle behind RunPodSandbox,
 * StopPodSandbox, RemovePodSandbox, PodSandboxStatus and ListPodSandbox, and
 * what the container module asks of a pod (its namespaces, cgroup, /dev/shm,
 * sandbox directory).
 *
 * A sandbox is built from parts (namespaces.h, cgroup.h, sandbox_files.h,
 * cni.h) in this order, each undone in reverse when a later one fails:
 *   validation (nothing created for bad input) -> name reservation ->
 *   database row ('creating', with the netns path) -> sandbox directory ->
 *   pinned net/ipc/uts namespaces (hostname, sysctls, lo up) -> pod cgroup
 *   and ocid-pause for a shared PID namespace -> resolv.conf, hostname,
 *   /dev/shm -> row updated (cgroup, pause, "a CNI DEL is owed") -> CNI ADD
 *   -> hosts file -> row 'ready' with the CNI cache and IPs. If undoing a
 *   step fails, the sandbox is kept as NOTREADY (with the reason) so that
 *   RemovePodSandbox can finish the job.
 *
 * Layout: <runroot>/pods/<id>/{resolv.conf,hostname,hosts,shm} (the sandbox
 * directory), <runroot>/ns/<id>/{net,ipc,uts,pid} (pins). Both directories
 * are made ready when the first pod is run: on tmpfs (ocid mounts a private
 * one on each when runroot is on a disk filesystem), ns/ a private mount;
 * a daemon that stops with no pod left takes those mounts away again.
 *
 * Concurrency: a global mutex (short: index, reservations and the mutable
 * fields of every sandbox; never held across I/O), a cgroup mutex
 * (serializes creating and removing pod cgroups, which may share parents),
 * and one lifecycle mutex per sandbox (held across a Stop or Remove of that
 * pod, so concurrent calls on one pod run one after the other). Status and
 * List only take the global mutex, so they never wait for a slow Stop.
 *
 * Persistence: one row per sandbox in the `pods` table of ocid.db. On
 * start-up every row is loaded: a sandbox whose pinned namespaces or
 * ocid-pause are gone becomes NOTREADY (Stop and Remove still work on it);
 * one left 'creating' by a crash is torn down and forgotten. A name is
 * reserved only by a sandbox that exists. */
#ifndef OCID_POD_SANDBOX_H
#define OCID_POD_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "api.pb-c.h"
#include "config/config.h"
#include "pod/namespaces.h"
#include "store/db.h"
#include "util/err.h"

/* 32 random bytes in hex. */
#define SANDBOX_ID_LEN 64

enum sandbox_state {
	SANDBOX_READY = 0,
	SANDBOX_NOTREADY = 1,
};

/* What the pod asked for its PID namespace. */
enum sandbox_pid_mode {
	SANDBOX_PID_CONTAINER = 0, /* each container its own (kubelet default) */
	SANDBOX_PID_POD,           /* shared: ocid-pause is its pid 1 */
	SANDBOX_PID_NODE,          /* the host's */
};

struct sandbox_mgr;
struct sandbox; /* reference counted; see sandbox_get */

/* How long a call may take and whether its client went away (from the RPC). */
struct sandbox_call {
	int64_t deadline_ns; /* CLOCK_MONOTONIC; 0 = none */
	bool (*cancelled)(void *arg);
	void *cancel_arg;
};

/* The container module plugs in here (sandbox_mgr_set_hooks). Both run with
 * the pod's lifecycle lock held, after sandbox_use_begin holders are gone
 * and while new ones are refused. */
struct sandbox_hooks {
	/* Stops every container of the pod (StopPodSandbox, and Remove of a
	 * pod not yet stopped). deadline_ns is a fresh budget for it. < 0 fails
	 * the Stop before anything else is torn down. */
	int (*stop_containers)(void *arg, struct sandbox *sb, int64_t deadline_ns, ocid_error **err);
	/* Removes every container of the pod (RemovePodSandbox, after the
	 * stop). < 0 fails the Remove. */
	int (*remove_containers)(void *arg, struct sandbox *sb, ocid_error **err);
	void *arg;
};

struct sandbox_mgr_opts {
	const struct ocid_config *cfg; /* runroot, runtimes, network, default_sysctls */
	store_db *db;
	/* ocid-pause to run; NULL = sandbox_find_pause(). */
	const char *pause_path;
	/* Attempts and budget of the CNI DEL of a Stop; 0 = 3 and 30 s each. */
	int cni_del_attempts;
	int64_t cni_del_timeout_ns;
};

/* Prepares <runroot>/ns and <runroot>/pods, loads every sandbox from the
 * database and recovers them (see above). */
int sandbox_mgr_open(const struct sandbox_mgr_opts *opts, struct sandbox_mgr **out, ocid_error **err);
/* Frees the in-memory state (pods keep running). No call may be in flight. */
void sandbox_mgr_free(struct sandbox_mgr *m);
void sandbox_mgr_set_hooks(struct sandbox_mgr *m, const struct sandbox_hooks *hooks);

/* ocid-pause: next to the running executable's build tree
 * (<exe dir>/../pause/ocid-pause) when there is one, else the installed one
 * (pod_pause_default_path). */
const char *sandbox_find_pause(void);

/* ---- lifecycle (the CRI calls) ---- */

/* RunPodSandbox. handler "" = the default runtime (recorded as given).
 * INVALID_ARGUMENT for bad input (missing metadata, unknown handler, an
 * unsafe sysctl, a bad hostname/DNS/port/cgroup_parent...) before anything
 * is created; ALREADY_EXISTS naming the pod that holds the name; a failure
 * of a later step leaves nothing behind. *id is malloc'd. */
int sandbox_run(struct sandbox_mgr *m, const Runtime__V1__PodSandboxConfig *config, const char *handler,
		const struct sandbox_call *call, char **id, ocid_error **err);

/* StopPodSandbox: containers (hook), CNI DEL (fresh deadline, retried),
 * ocid-pause, pins, /dev/shm. Idempotent; an unknown id succeeds. id may be
 * a unique prefix. */
int sandbox_stop(struct sandbox_mgr *m, const char *id, const struct sandbox_call *call, ocid_error **err);

/* RemovePodSandbox: stops it if needed, then containers (hook), cgroups,
 * directories, the record and the name. An unknown id succeeds. */
int sandbox_remove(struct sandbox_mgr *m, const char *id, const struct sandbox_call *call, ocid_error **err);

/* ---- reading ---- */

/* A copy of a sandbox's state at one instant (for Status and List). */
struct sandbox_snapshot {
	struct sandbox *sb; /* a reference, for the immutable accessors below */
	enum sandbox_state state;
	char **ips; /* primary first; empty unless READY */
	size_t n_ips;
	pid_t pause_pid;
	char *cni_cache;     /* NULL when no network is attached */
	char *reason;        /* why NOTREADY ("stopped", "network namespace gone"...) */
};
void sandbox_snapshot_clear(struct sandbox_snapshot *s);

/* The sandbox id (full, or a unique prefix). NOT_FOUND for none,
 * INVALID_ARGUMENT for an empty id or an ambiguous prefix. */
int sandbox_status(struct sandbox_mgr *m, const char *id, struct sandbox_snapshot *out, ocid_error **err);

struct sandbox_filter {
	const char *id; /* full or unique prefix; NULL/"" = any */
	bool has_state;
	enum sandbox_state state;
	/* every key must be present with exactly this value */
	const char *const *label_keys;
	const char *const *label_values;
	size_t n_labels;
};

/* Every sandbox matching filter (NULL = all), oldest first. *out is a
 * malloc'd array: free with sandbox_snapshots_free. */
int sandbox_list(struct sandbox_mgr *m, const struct sandbox_filter *filter, struct sandbox_snapshot **out,
		 size_t *n, ocid_error **err);
void sandbox_snapshots_free(struct sandbox_snapshot *s, size_t n);

/* The number of sandboxes in the index. */
size_t sandbox_count(struct sandbox_mgr *m);

/* ---- for the container module ---- */

/* A reference to sandbox id (full id or unique prefix): NOT_FOUND otherwise.
 * Release with sandbox_unref. The accessors below return data owned by the
 * sandbox, valid as long as the reference is held. */
int sandbox_get(struct sandbox_mgr *m, const char *id, struct sandbox **out, ocid_error **err);
struct sandbox *sandbox_ref(struct sandbox *sb);
void sandbox_unref(struct sandbox *sb);

/* Guards container creation against a concurrent Stop/Remove: succeeds
 * (FAILED_PRECONDITION otherwise) only while the pod is READY and no Stop has
 * begun; a Stop then waits for sandbox_use_end before it stops containers, so
 * a container created under the guard is always seen by the stop hook. Keep
 * the guard short (create and register the container, no waiting). */
int sandbox_use_begin(struct sandbox *sb, ocid_error **err);
void sandbox_use_end(struct sandbox *sb);

const char *sandbox_id(const struct sandbox *sb);
/* The config the pod was created with (metadata, labels, annotations,
 * log_directory, linux.security_context...). */
const Runtime__V1__PodSandboxConfig *sandbox_config(const struct sandbox *sb);
const char *sandbox_name(const struct sandbox *sb);
const char *sandbox_namespace(const struct sandbox *sb);
const char *sandbox_uid(const struct sandbox *sb);
uint32_t sandbox_attempt(const struct sandbox *sb);
int64_t sandbox_created_at(const struct sandbox *sb); /* ns since the epoch */
/* As requested ("" = the default runtime) and resolved to a configured one. */
const char *sandbox_runtime_handler(const struct sandbox *sb);
const char *sandbox_runtime_name(const struct sandbox *sb);
/* <runroot>/pods/<id>: resolv.conf, hostname, hosts (POD_FILE_* names). */
const char *sandbox_dir(const struct sandbox *sb);
/* The directory to mount on /dev/shm (a per-pod tmpfs, or /dev/shm with
 * host IPC). */
const char *sandbox_shm_path(const struct sandbox *sb);
/* The pinned namespace a container joins: NULL when the pod uses the
 * host's (network/IPC NODE) or, for POD_NS_PID, when containers get their
 * own (pid CONTAINER) or the host's (NODE). UTS follows the network. */
const char *sandbox_ns_path(const struct sandbox *sb, enum pod_ns_type type);
bool sandbox_host_network(const struct sandbox *sb);
bool sandbox_host_ipc(const struct sandbox *sb);
enum sandbox_pid_mode sandbox_pid_mode(const struct sandbox *sb);
/* The pod cgroup (cgroupfs path relative to each hierarchy root, e.g.
 * "/kubepods/besteffort/pod<uid>"): containers go in child cgroups of it. */
const char *sandbox_cgroup_path(const struct sandbox *sb);
const char *sandbox_hostname(const struct sandbox *sb);
/* Current state (under the global mutex). */
enum sandbox_state sandbox_get_state(struct sandbox *sb);

#endif
