/* The image store as one object: the database, blobs, layers and image
 * records under one root directory, opened together and recovered before use.
 *
 *   <root>/ocid.db           SQLite database (db.h), shared with pods and containers
 *   <root>/store.lock        flock'd while a daemon uses the root
 *   <root>/blobs/sha256/...  manifests and configs (blobs.h)
 *   <root>/overlay/<hex>/diff  unpacked layers (layers.h, layer_extract.h)
 *
 * The pull pipeline uses the parts directly: blob_write for the manifest and
 * config, layer_store_acquire per layer (its fill callback runs
 * layer_extract on the download), images_put, then layer_store_release.
 * The database holds everything the RPCs read (the config JSON included);
 * the blobs are the verified original bytes. A removal racing a pull of the
 * same image can delete blobs the pull just wrote (never layers: the pull's
 * leases keep them); write them again after images_put if they matter. */
#ifndef OCID_STORE_STORE_H
#define OCID_STORE_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "store/blobs.h"
#include "store/db.h"
#include "store/image_holds.h"
#include "store/images.h"
#include "store/layers.h"
#include "store/recover.h"
#include "util/err.h"

struct store_opts {
	bool no_sync; /* see layer_store_opts */
};

struct store {
	char *root;
	int lock_fd;
	store_db *db;
	blob_store *blobs;
	layer_store *layers;
	image_store *images;
	struct store_recovery_stats recovered; /* what start-up recovery removed */
	struct image_holds *holds;             /* in-use marks (image_holds.h) */
};

/* Creates root (0700) if needed, takes its lock (FAILED_PRECONDITION when
 * another process holds it), opens and migrates the database, and runs
 * recovery. opts may be NULL. */
int store_open(const char *root, const struct store_opts *opts, struct store **out, ocid_error **err);
void store_close(struct store *s);

/* Removes image id (no-op if absent; *removed, which may be NULL, tells),
 * then the layers and blobs nothing else uses. An image in use by a
 * container fails with FAILED_PRECONDITION. */
int store_remove_image(struct store *s, const char *id, bool *removed, ocid_error **err);

/* In-use marks (image_holds.h): a held image is not removed. hold fails
 * with NOT_FOUND when the image is not stored; release drops one hold. */
int store_image_hold(struct store *s, const char *image_id, ocid_error **err);
void store_image_release(struct store *s, const char *image_id);

/* Bytes and inodes used by image layers, and where they live (ImageFsInfo). */
int store_fs_usage(struct store *s, uint64_t *bytes, uint64_t *inodes, const char **mountpoint, ocid_error **err);

#endif
