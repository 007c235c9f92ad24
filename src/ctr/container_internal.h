/* Shared between the container*.c files; not for other modules. */
#ifndef OCID_CTR_CONTAINER_INTERNAL_H
#define OCID_CTR_CONTAINER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "ctr/container.h"
#include "ctr/ctr_runtime.h"
#include "ctr/dir_pool.h"
#include "ctr/exit_watch.h"
#include "ctr/spec.h"

/* Row states: 'creating' only while ctr_create runs (or after a crash
 * during it: recovery tears such a container down). */
enum ctr_row_state {
	ROW_CTR_CREATING = 0,
	ROW_CTR_CREATED,
	ROW_CTR_RUNNING,
	ROW_CTR_EXITED,
};
const char *ctr_row_state_name(enum ctr_row_state s);
int ctr_row_state_parse(const char *s, enum ctr_row_state *out);

struct container {
	atomic_int refs;
	struct ctr_mgr *mgr;
	/* Held across Start and Remove (and create's last steps). */
	pthread_mutex_t op_lock;

	/* ---- immutable once in the index ---- */
	char id[CTR_ID_LEN + 1];
	char *pod_id;
	Runtime__V1__ContainerConfig *config; /* unpacked copy, owned */
	char *name;                           /* metadata.name */
	uint32_t attempt;
	char *reservation;
	char *image_id;
	char *image_name;
	char *runtime; /* handler name as resolved for the pod */
	char *dir;     /* <root>/containers/<id> */
	char *bundle;  /* <runroot>/containers/<id> */
	char *rootfs;  /* <bundle>/rootfs */
	char *log_path;
	char *term_path;    /* host file holding the termination message ("" = none) */
	bool term_fallback; /* FallbackToLogsOnError */
	int stop_signal;    /* 0 = SIGTERM */
	bool kill_all;      /* no pid namespace of its own: signal every process */
	uint32_t uid, gid;
	int64_t *groups;
	size_t n_groups;
	int64_t created_at;

	/* ---- under mgr->mu ---- */
	enum ctr_row_state state;
	int pid;
	int64_t started_at, finished_at;
	int exit_code;
	bool oom;
	char *reason;
	char *message;
	bool exit_recorded; /* the exit (and its message) has been taken in */
	bool removing;      /* a Remove is under way: Start refused */
	bool removed;       /* gone from the index and the database */
	Runtime__V1__LinuxContainerResources *resources; /* NULL = none */
};

struct ctr_reservation {
	char *key;
	char id[CTR_ID_LEN + 1];
};

struct ctr_mgr {
	const struct ocid_config *cfg;
	struct store *store;
	store_db *db;
	struct sandbox_mgr *sandboxes;
	struct ctr_runtime *rt;
	struct exit_watch *watch;
	struct dir_pool *pool; /* <root>/containers/.pool: directories made ahead, deleted behind */
	struct ctr_warm *warm; /* rootfs mounted ahead (container_warm.c); NULL: none */
	struct spec_host host;
	char *ctr_root; /* <root>/containers */
	char *ctr_run;  /* <runroot>/containers */
	bool opened;    /* ctr_mgr_open succeeded */

	pthread_mutex_t mu;
	struct container **items; /* the index, oldest first */
	size_t n_items, cap_items;
	struct ctr_reservation *res;
	size_t n_res, cap_res;
};

/* container_warm.c: rootfs mounted ahead, on the pool's thread, for the
 * images used last; cap 0 = none. Open after the pool, close after it. */
int ctr_warm_open(struct ctr_mgr *m, size_t cap, ocid_error **err);
void ctr_warm_close(struct ctr_mgr *m);
/* Notes a create of image_id (what to keep ready) and, when a set for it is
 * ready, renames it into place as container id_out (<root>/containers/<id>
 * with upper/, work/, termination-log; <runroot>/containers/<id>/rootfs
 * mounted): true. The caller holds the image itself. */
bool ctr_warm_take(struct ctr_mgr *m, const char *image_id, char id_out[CTR_ID_LEN + 1]);
/* Unmounts and deletes the sets of image_id and stops making them (until a
 * create uses it again): before the image is removed. */
void ctr_warm_drop_image(struct ctr_mgr *m, const char *image_id);

/* container_create.c */
int ctr_new_id(char out[CTR_ID_LEN + 1], ocid_error **err);
/* A container's directories: dir (upper/, work/; a spare from the pool when
 * it has one, `pooled` says so) and bundle with an empty rootfs/. */
int ctr_make_dirs(struct ctr_mgr *m, const char *dir, const char *bundle, bool *pooled, ocid_error **err);
/* The overlay of img's layers at rootfs, with dir's upper/ and work/. */
int ctr_mount_rootfs(struct ctr_mgr *m, const struct image_record *img, const char *rootfs, const char *dir,
		     ocid_error **err);
/* Unmounts bundle/rootfs and deletes bundle and dir (dir through the pool's
 * trash, or at once with dir_now); failures are logged. */
void ctr_remove_files(struct ctr_mgr *m, const char *id, const char *bundle, const char *dir, bool dir_now);

/* container.c */
struct container *container_alloc(struct ctr_mgr *m);
struct container *container_ref(struct container *c);
void container_unref(struct container *c);
/* "<name>_<pod name>_<pod namespace>_<pod uid>_<attempt>" */
char *ctr_reservation_key(const char *name, const char *pod_name, const char *pod_ns, const char *pod_uid,
			  uint32_t attempt);
/* Under m->mu: the id holding key, or NULL after reserving it for id. */
const char *ctr_reserve_locked(struct ctr_mgr *m, const char *key, const char *id);
void ctr_release_locked(struct ctr_mgr *m, const char *key, const char *id);
/* The reservation of key by from_id, now by to_id. */
void ctr_reservation_move_locked(struct ctr_mgr *m, const char *key, const char *from_id, const char *to_id);
void ctr_index_add_locked(struct ctr_mgr *m, struct container *c);
void ctr_index_del_locked(struct ctr_mgr *m, struct container *c);
/* A reference to a container by full id or unique prefix. */
int ctr_get(struct ctr_mgr *m, const char *id, struct container **out, ocid_error **err);
/* The struct ctr_ref the runtime driver wants (strings point into c). */
struct ctr_ref ctr_ref_of(struct container *c);
/* Takes in an exit (idempotent): state, times, reason, message, row. */
void ctr_record_exit(struct ctr_mgr *m, struct container *c, const struct exit_info *info, const char *reason,
		     const char *message);
/* The exit watcher's callback. */
void ctr_on_exit(const char *id, const struct exit_info *info, void *arg);
/* The message of an exited container: termination message file, else (with
 * FallbackToLogsOnError and a non-zero code) the end of its log. malloc'd. */
char *ctr_exit_message(const struct container *c, int exit_code);
void ctr_warn(const char *msg, const char *id, const ocid_error *e);

/* container_create.c */
/* Everything create made, in reverse: runtime, rootfs, dirs, log file when
 * empty. Best effort (logged); the row, name and hold are the caller's. */
void ctr_teardown_files(struct ctr_mgr *m, struct container *c, bool runtime_too);
/* Paths of a container. */
void ctr_set_paths(struct ctr_mgr *m, struct container *c);

/* container_store.c: the containers table */
int ctr_db_insert(struct ctr_mgr *m, struct container *c, ocid_error **err);
/* Writes every mutable column from c (takes m->mu to read them). */
int ctr_db_update(struct ctr_mgr *m, struct container *c, ocid_error **err);
int ctr_db_delete(struct ctr_mgr *m, const char *id, ocid_error **err);
/* Calls fn for each row, built into a new container (refs 1, not indexed). */
int ctr_db_load(struct ctr_mgr *m, int (*fn)(struct ctr_mgr *m, struct container *c, void *arg), void *arg,
		ocid_error **err);

/* container_restore.c */
int ctr_restore_all(struct ctr_mgr *m, ocid_error **err);

/* container_ops.c: the pod hooks (stop and remove a pod's containers) */
void ctr_register_hooks(struct ctr_mgr *m);

#endif
