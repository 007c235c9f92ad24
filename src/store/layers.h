/* The layer store: unpacked layers at <root>/overlay/<hex>/diff, keyed by
 * chain id (OCI image-spec: chainid(L0) = diffid(L0), chainid(Ln) =
 * sha256(chainid(Ln-1) + " " + diffid(Ln))), so a layer is shared by every
 * image with the same lower chain and is stored and unpacked once.
 *
 * Pulls call layer_store_acquire for each layer of an image, with a
 * callback that downloads and unpacks it. Per chain id, one caller fills the
 * layer while concurrent callers for the same id wait (an in-flight table and
 * a condition variable) and then share the result; if the filler fails, the
 * next waiter tries itself. A successful acquire holds a lease on the layer
 * so that it cannot be garbage-collected before the image that needs it is
 * recorded; the caller drops it with layer_store_release once images_put has
 * committed (or the pull is abandoned).
 *
 * Crash safety: a layer row is 'pulling' while it is being filled and
 * becomes 'ready' only after the content is complete, its diff_id verified,
 * and (unless no_sync) the filesystem synced. Start-up recovery (recover.c)
 * removes pulling rows and every directory that is not a ready layer.
 *
 * References: a layer's users are the image_layers rows naming it; a layer
 * no image uses is deleted by layer_store_remove_unused (images_remove
 * returns the candidates).
 *
 * Locking: one mutex for the in-flight table, taken before the database
 * (never while a fill callback runs).
 *
 * <root>/overlay belongs to this store alone: start-up recovery removes
 * anything in it that is not a ready layer, so containers keep their upper,
 * work and merged directories elsewhere. */
#ifndef OCID_STORE_LAYERS_H
#define OCID_STORE_LAYERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/digest.h"
#include "store/db.h"
#include "store/layer_extract.h"
#include "util/err.h"

typedef struct layer_store layer_store;

struct layer_store_opts {
	/* Skip the syncfs(2) before a layer is marked ready (tests,
	 * benchmarks): a power loss could then leave a ready layer with
	 * missing data. */
	bool no_sync;
};

/* Creates <root>/overlay. opts may be NULL. The store keeps db (borrowed). */
int layer_store_open(store_db *db, const char *root, const struct layer_store_opts *opts, layer_store **out,
		     ocid_error **err);
void layer_store_free(layer_store *ls);

/* <root>/overlay: where layers live (ImageFsInfo's mountpoint). */
const char *layer_store_dir(layer_store *ls);

/* chainid for a layer with diff_id above parent (NULL for a base layer). */
void layer_chain_id(const char *parent, const char *diff_id, char out[DIGEST_MAX_LEN]);

/* Fills a layer: unpack it into diff_dir, which does not exist yet (e.g. by
 * layer_extract, which creates it), and report what was unpacked. The store
 * checks res->diff_id against the requested one (DATA_LOSS on mismatch) and
 * removes whatever is left after a failure. */
typedef int (*layer_fill_fn)(void *ctx, const char *diff_dir, struct layer_extract_result *res, ocid_error **err);

struct layer_request {
	const char *parent;  /* chain id of the layer below; NULL for a base layer */
	const char *diff_id; /* "sha256:..." from the image config's rootfs.diff_ids */
	layer_fill_fn fill;
	void *ctx;
	/* Optional, polled about every 100 ms while another caller fills the
	 * same layer: returning true stops waiting with CANCELLED. */
	bool (*cancelled)(void *ctx);
};

/* Makes the layer present (filling it unless it is ready or being filled by
 * another caller) and takes a lease on it. chain_id receives its id;
 * *filled (may be NULL) tells whether this call ran the fill callback. */
int layer_store_acquire(layer_store *ls, const struct layer_request *req, char chain_id[DIGEST_MAX_LEN],
			bool *filled, ocid_error **err);
/* Drops a lease taken by layer_store_acquire. */
void layer_store_release(layer_store *ls, const char *chain_id);

struct layer_info {
	char *id;
	char *diff_id;
	char *parent; /* NULL for a base layer */
	int64_t size; /* uncompressed tar bytes */
	int64_t disk_bytes;
	int64_t disk_inodes;
	int64_t created; /* ns since the epoch */
};
void layer_info_free(struct layer_info *info);

/* The ready layer chain_id, or *out = NULL when there is none. */
int layer_store_get(layer_store *ls, const char *chain_id, struct layer_info **out, ocid_error **err);

/* <root>/overlay/<hex>/diff of a layer (which may not exist); NULL for an
 * invalid id. */
char *layer_store_diff_dir(layer_store *ls, const char *chain_id);

/* The diff dirs of a layer and those below it, top first (overlay's
 * lowerdir order). Fails with NOT_FOUND if one is not ready. */
int layer_store_lower_dirs(layer_store *ls, const char *top_chain_id, char ***dirs, size_t *n, ocid_error **err);

/* Deletes each listed layer that no image uses and nobody holds or fills:
 * its row first, then its directory (renamed aside, then removed outside the
 * lock). Others are left alone. *removed (may be NULL) counts deletions. */
int layer_store_remove_unused(layer_store *ls, char *const *ids, size_t n, size_t *removed, ocid_error **err);

/* Bytes and inodes used by ready layers (for ImageFsInfo). */
int layer_store_usage(layer_store *ls, uint64_t *bytes, uint64_t *inodes, ocid_error **err);

#endif
