/* Shared between the sandbox_*.c files; not for other modules. */
#ifndef OCID_POD_SANDBOX_INTERNAL_H
#define OCID_POD_SANDBOX_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "pod/cgroup.h"
#include "pod/cni.h"
#include "pod/sandbox.h"

/* Row states: 'creating' exists only while sandbox_run is in progress (or
 * after a crash during it: recovery tears such a sandbox down). */
enum sandbox_row_state {
	ROW_CREATING = 0,
	ROW_READY,
	ROW_NOTREADY,
};

struct sandbox {
	atomic_int refs;
	struct sandbox_mgr *mgr;
	/* Held across a lifecycle operation on this pod (run, stop, remove). */
	pthread_mutex_t op_lock;

	/* ---- immutable once the sandbox is in the index ---- */
	char id[SANDBOX_ID_LEN + 1];
	Runtime__V1__PodSandboxConfig *config; /* unpacked copy, owned */
	const char *name, *namespace_, *uid;   /* point into config->metadata */
	uint32_t attempt;
	char *reservation; /* the reservation key */
	int64_t created_at;
	char *handler;      /* as requested */
	char *runtime_name; /* resolved */
	char *hostname;
	char *dir;
	char *pin_dir;
	char *cgroup_leaf; /* "ocid-<id>": ocid-pause's child cgroup */
	bool host_network, host_ipc;
	enum sandbox_pid_mode pid_mode;
	bool want_ns[POD_NS_COUNT]; /* which pins the pod owns */
	struct pod_ns ns;           /* their paths */
	char *cgroup_path;
	char *shm_path;

	/* ---- under mgr->cg_mu ---- */
	struct pod_cgroup *cgroup; /* NULL until created / after removal */

	/* ---- under mgr->mu ---- */
	enum sandbox_row_state state;
	char *reason;       /* NOTREADY: why */
	bool net_attached;  /* a CNI DEL is owed */
	char *cni_cache;
	char **ips;
	size_t n_ips;
	pid_t pause_pid;
	uint64_t pause_start;
	bool stopping; /* a Stop/Remove has begun: sandbox_use_begin refused */
	int users;     /* sandbox_use_begin holders */
	bool removed;  /* gone from the index and the database */
	pthread_cond_t users_cv;
};

struct reservation {
	char *key;
	char id[SANDBOX_ID_LEN + 1];
};

struct sandbox_mgr {
	const struct ocid_config *cfg;
	store_db *db;
	char *pause_path;
	char *pods_dir; /* <runroot>/pods */
	char *ns_dir;   /* <runroot>/ns */
	struct cgroup_layout layout;
	int cni_del_attempts;
	int64_t cni_del_timeout_ns;
	bool dirs_ready; /* sandbox_dirs_ready done (under mu) */

	/* Serializes creating and removing pod cgroups (which may share
	 * parents ocid created) and guards every sandbox's cgroup record. Taken
	 * before mu, never while waiting for anything but cgroupfs and the
	 * ocid-pause start. */
	pthread_mutex_t cg_mu;
	pthread_mutex_t mu;
	/* The index, oldest first. Sandboxes being created are in it too (so
	 * cgroup sharing sees them) but hidden from lookups and lists. */
	struct sandbox **items;
	size_t n_items, cap_items;
	struct reservation *res;
	size_t n_res, cap_res;
	struct sandbox_hooks hooks;
};

/* Per-step durations of one operation, for a debug log line
 * ("ns=1.2 cgroup=0.3 ..." in ms). */
struct step_timer {
	int64_t last;
	char text[256];
	size_t len;
};
void step_timer_start(struct step_timer *t);
void step_lap(struct step_timer *t, const char *step);

/* sandbox.c */
/* <runroot>/pods and <runroot>/ns ready for pods, once, when the first pod
 * is run (so a daemon that never runs a pod leaves no mount behind): on
 * tmpfs (mounting one when runroot is on a disk filesystem), ns/ a private
 * mount (pod_ns_root_prepare). */
int sandbox_dirs_ready(struct sandbox_mgr *m, ocid_error **err);
struct sandbox *sandbox_alloc(struct sandbox_mgr *m);
char *sandbox_reservation_key(const char *name, const char *ns, const char *uid, uint32_t attempt);
/* Under m->mu. Returns the id holding key, or NULL after reserving it. */
const char *sandbox_reserve_locked(struct sandbox_mgr *m, const char *key, const char *id);
void sandbox_release_locked(struct sandbox_mgr *m, const char *key, const char *id);
void sandbox_index_add_locked(struct sandbox_mgr *m, struct sandbox *sb);
void sandbox_index_del_locked(struct sandbox_mgr *m, struct sandbox *sb);
/* Sets the paths and flags derived from config and id (dir, pins, leaf,
 * modes, hostname, cgroup path); dir and pin_dir NULL = the defaults under
 * runroot (a restored pod passes its recorded ones). Assumes config was
 * validated. */
int sandbox_derive(struct sandbox_mgr *m, struct sandbox *sb, const char *dir, const char *pin_dir,
		   ocid_error **err);
void sandbox_set_ips_locked(struct sandbox *sb, char **ips, size_t n);
void sandbox_set_reason_locked(struct sandbox *sb, const char *reason);
void warn_err(const char *msg, const char *id, const ocid_error *e);
/* A reference to id (full or unique prefix), or *out NULL when unknown;
 * -1 for an empty or ambiguous id. */
int sandbox_find(struct sandbox_mgr *m, const char *id, struct sandbox **out, ocid_error **err);

/* sandbox_store.c: the pods table */
int sandbox_db_insert(struct sandbox_mgr *m, struct sandbox *sb, ocid_error **err);
/* Writes every mutable column from sb (state, reason, cgroup, pause,
 * net_attached, cni_cache, ips). Takes m->mu to read them. */
int sandbox_db_update(struct sandbox_mgr *m, struct sandbox *sb, ocid_error **err);
int sandbox_db_delete(struct sandbox_mgr *m, const char *id, ocid_error **err);
/* Calls fn for each row, built into a new sandbox (refs 1, not indexed). */
int sandbox_db_load(struct sandbox_mgr *m, int (*fn)(struct sandbox_mgr *m, struct sandbox *sb, void *arg, ocid_error **err),
		    void *arg,
		    ocid_error **err);

/* sandbox_run.c: what CNI ADD and DEL are told about the pod */
/* The config's port mappings in CNI form (malloc'd; *n of them). */
struct cni_port_mapping *sandbox_cni_ports(const Runtime__V1__PodSandboxConfig *c, size_t *n);
/* The pod as CNI sees it; points into sb and ports. */
struct cni_pod sandbox_cni_pod(const struct sandbox *sb, const struct cni_port_mapping *ports, size_t n_ports);

/* sandbox_stop.c */
/* Everything Stop does, with op_lock held. */
int sandbox_teardown_locked(struct sandbox_mgr *m, struct sandbox *sb, bool run_hooks, ocid_error **err);
/* Removes the pod's cgroups (and its ocid-pause leaf). Parents ocid
 * created that another live sandbox still needs (an attempt of the same
 * pod, a sibling under a parent both used) are not removed: the claim on
 * them passes to that sandbox, so the last one out removes them. */
int sandbox_cgroup_release(struct sandbox_mgr *m, struct sandbox *sb, ocid_error **err);
/* Remove's part after the stop: cgroups and dirs. */
int sandbox_destroy_locked(struct sandbox_mgr *m, struct sandbox *sb, ocid_error **err);
/* CNI DEL with fresh deadlines and retries; no config and no cache = done. */
int sandbox_cni_del(struct sandbox_mgr *m, struct sandbox *sb, const char *cache, ocid_error **err);

/* sandbox_restore.c */
int sandbox_restore_all(struct sandbox_mgr *m, ocid_error **err);

#endif
