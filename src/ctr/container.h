/* Containers: the model and lifecycle behind CreateContainer,
 * StartContainer, StopContainer, RemoveContainer, ContainerStatus,
 * ListContainers, UpdateContainerResources, ReopenContainerLog and ExecSync.
 *
 * Create builds a container from parts, each undone in reverse when a later
 * one fails (and by start-up recovery after a crash):
 *   pod guard (READY, no Stop begun) -> name reservation -> image lookup and
 *   in-use hold -> database row ('creating') -> directories -> overlay rootfs
 *   -> config.json (spec_build, written atomically), image volumes,
 *   termination message file, log directory -> conmon + `runtime create` ->
 *   row 'created' -> visible in the index.
 *
 * Layout:
 *   <root>/containers/<id>/{upper,work}   the overlay's writable layer (kept
 *                                         out of <root>/overlay, which the
 *                                         layer store owns)
 *   <root>/containers/<id>/termination-log, volumes/
 *   <runroot>/containers/<id>/            the bundle: config.json, rootfs
 *                                         (the overlay mount), conmon's
 *                                         attach/ctl/winsz
 *   <runroot>/{exits,conmon}/             conmon's exit files and dirs
 *                                         (ctr_runtime.h)
 *
 * Concurrency: one mutex for the manager (index, reservations and every
 * container's mutable fields; held for a few pointer operations, never
 * across I/O), and one lifecycle mutex per container, held across Start and
 * Remove. Stop takes no container lock while it waits, so Status, List and
 * a second Stop (say with a shorter timeout) are never blocked behind it.
 * Exits are recorded by the exit watcher's thread as conmon writes them.
 *
 * Persistence: one row per container in the `containers` table of ocid.db.
 * At start-up every row is loaded and re-attached to what runs (see
 * container_restore.c): a container that exited while ocid was down gets
 * its exit code from conmon's exit file; one that is gone is recorded as
 * exited with an error; a 'creating' row (a crash in the middle of Create)
 * is torn down: runtime state, conmon, mount, directories, row. */
#ifndef OCID_CTR_CONTAINER_H
#define OCID_CTR_CONTAINER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api.pb-c.h"
#include "config/config.h"
#include "ctr/conmon.h"
#include "ctr/oci_runtime.h"
#include "pod/sandbox.h"
#include "store/store.h"
#include "util/err.h"

/* 32 random bytes in hex, like sandbox ids. */
#define CTR_ID_LEN 64
/* ContainerStatus message caps (kubelet's for FallbackToLogsOnError). */
#define CTR_MESSAGE_MAX_BYTES 4096
#define CTR_MESSAGE_MAX_LINES 80

enum ctr_state {
	CTR_CREATED = 0, /* = CRI CONTAINER_CREATED */
	CTR_RUNNING = 1,
	CTR_EXITED = 2,
	CTR_UNKNOWN = 3,
};

struct ctr_mgr;
struct container; /* reference counted */

struct ctr_mgr_opts {
	const struct ocid_config *cfg; /* root, runroot, runtimes, conmon, search list */
	struct store *store;
	struct sandbox_mgr *sandboxes;
	/* How runtimes run their children (oci_runtime.h); AUTO normally. */
	enum oci_mntns_mode mntns;
};

/* Opens the manager: runtime driver, the database rows, recovery of every
 * container (see above), the exit watcher thread; registers the pod hooks
 * (StopPodSandbox/RemovePodSandbox stop and remove the pod's containers).
 * Call after sandbox_mgr_open and before serving. */
int ctr_mgr_open(const struct ctr_mgr_opts *opts, struct ctr_mgr **out, ocid_error **err);
/* Stops the exit watcher and frees the in-memory state; containers and their
 * conmons keep running. No call may be in flight. */
void ctr_mgr_free(struct ctr_mgr *m);

/* The RPC's deadline and cancellation, for the steps that can wait. */
struct ctr_call {
	int64_t deadline_ns; /* CLOCK_MONOTONIC; 0 = none */
};

/* ---- lifecycle ---- */

/* CreateContainer in pod pod_id (full id or unique prefix). NOT_FOUND for an
 * unknown pod or image, FAILED_PRECONDITION for a pod that is not ready,
 * ALREADY_EXISTS naming the container that holds the name, INVALID_ARGUMENT
 * for bad input; nothing is left behind on failure. *id is malloc'd. */
int ctr_create(struct ctr_mgr *m, const char *pod_id, const Runtime__V1__ContainerConfig *config,
	       const struct ctr_call *call, char **id, ocid_error **err);

/* StartContainer: FAILED_PRECONDITION unless the container is created. */
int ctr_start(struct ctr_mgr *m, const char *id, ocid_error **err);

/* StopContainer: the image's STOPSIGNAL (else SIGTERM), SIGKILL after
 * timeout_s (<= 0: at once). Idempotent; an unknown id is NOT_FOUND. */
int ctr_stop(struct ctr_mgr *m, const char *id, int64_t timeout_s, ocid_error **err);

/* RemoveContainer: stops it if needed, deletes it in the runtime, removes
 * its record and name; its rootfs, directories and image hold go right
 * after, in the background (dir_pool_defer). Idempotent; an unknown id
 * succeeds. */
int ctr_remove(struct ctr_mgr *m, const char *id, ocid_error **err);

/* Before image_id is removed, lets go of what holds it without a
 * container: finishes what removed containers left to do after their call
 * returned (unmounting their rootfs, deleting their files, releasing their
 * images), and unmounts the rootfs mounted ahead for it. */
void ctr_release_image(struct ctr_mgr *m, const char *image_id);

/* ---- reading ---- */

/* A container's state at one instant. */
struct ctr_snapshot {
	struct container *c; /* a reference, for the accessors below */
	enum ctr_state state;
	int64_t started_at, finished_at; /* ns since the epoch; 0 = not yet */
	int exit_code;
	bool oom;
	char *reason;  /* "" until exited */
	char *message; /* "" when none */
	int pid;       /* init pid while created/running */
	/* The current resources (after UpdateContainerResources), NULL when
	 * none were given. Unpacked copy, owned. */
	Runtime__V1__LinuxContainerResources *resources;
};
void ctr_snapshot_clear(struct ctr_snapshot *s);

/* id: full or unique prefix. NOT_FOUND for none or an ambiguous prefix. */
int ctr_status(struct ctr_mgr *m, const char *id, struct ctr_snapshot *out, ocid_error **err);

struct ctr_filter {
	const char *id;     /* full or prefix; NULL/"" = any */
	const char *pod_id; /* full or prefix; NULL/"" = any */
	bool has_state;
	enum ctr_state state;
	const char *const *label_keys; /* each must be present with this value */
	const char *const *label_values;
	size_t n_labels;
};

/* The matching containers, oldest first (a short snapshot under the
 * manager's mutex). Free with ctr_snapshots_free. */
int ctr_list(struct ctr_mgr *m, const struct ctr_filter *f, struct ctr_snapshot **out, size_t *n,
	     ocid_error **err);
void ctr_snapshots_free(struct ctr_snapshot *s, size_t n);

size_t ctr_count(struct ctr_mgr *m);

/* The verbose "info" of ContainerStatus: {"sandboxID", "pid", "runtime",
 * "privileged", "image", "bundle", "rootfs", "runtimeSpec"}. malloc'd JSON. */
char *ctr_verbose_info(struct ctr_mgr *m, const struct ctr_snapshot *s);

/* ---- accessors (immutable while a reference is held) ---- */

const char *container_id(const struct container *c);
const char *container_pod_id(const struct container *c);
/* The config it was created with (metadata, image, labels, annotations,
 * mounts...). */
const Runtime__V1__ContainerConfig *container_config(const struct container *c);
/* The image as the request named it, and the image id it resolved to. */
const char *container_image_name(const struct container *c);
const char *container_image_id(const struct container *c);
int64_t container_created_at(const struct container *c);
const char *container_log_path(const struct container *c);
/* The user the process runs as (resolved at create). */
uint32_t container_uid(const struct container *c);
uint32_t container_gid(const struct container *c);
const int64_t *container_groups(const struct container *c, size_t *n);

/* An unpacked (malloc'd throughout) copy of a protobuf message; NULL for
 * NULL. Free with protobuf_c_message_free_unpacked(copy, NULL). */
void *ctr_pb_dup(const ProtobufCMessage *msg);

/* ---- the rest of the runtime API ---- */

/* ReopenContainerLog: FAILED_PRECONDITION unless running; returns once the
 * log file exists again. */
int ctr_reopen_log(struct ctr_mgr *m, const char *id, const struct ctr_call *call, ocid_error **err);

/* ExecSync: FAILED_PRECONDITION unless running. timeout_s 0 = none. */
int ctr_exec_sync(struct ctr_mgr *m, const char *id, const char *const *argv, int64_t timeout_s,
		  struct conmon_exec_result *out, ocid_error **err);

/* UpdateContainerResources (linux): applied by the runtime, then recorded. */
int ctr_update_resources(struct ctr_mgr *m, const char *id, const Runtime__V1__LinuxContainerResources *res,
			 ocid_error **err);

#endif
