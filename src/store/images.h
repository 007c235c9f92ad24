/* Image records for the image RPCs: id (the config digest), manifest digest,
 * config JSON, the config's USER, size, creation time, repo tags, repo
 * digests and the image's layers (chain ids, base first).
 *
 * images_put is the last step of a pull: one transaction, after every layer
 * is ready, so a pull killed before it leaves no image record. A repo tag
 * names one image: putting or tagging another image with it moves it (the old
 * image keeps its other names and digests, and stays listed, untagged, until
 * it is removed). Repo digests move the same way.
 *
 * Names are stored as given: callers normalise references first
 * ("busybox" -> "docker.io/library/busybox:latest").
 *
 * "In use": the container module registers a hook (images_set_in_use_hook)
 * that images_remove calls inside its transaction; an image in use is not
 * removed and the call fails with FAILED_PRECONDITION "image ... is in use by
 * a container", as cri-o (containers/storage) answers. */
#ifndef OCID_STORE_IMAGES_H
#define OCID_STORE_IMAGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/db.h"
#include "util/err.h"

typedef struct image_store image_store;

struct image_record {
	char *id;              /* "sha256:<hex>" of the config */
	char *manifest_digest;
	char *config;          /* the config JSON */
	char *user;            /* config.User, "" when unset */
	int64_t size;          /* bytes */
	int64_t created;       /* ns since the epoch, when first stored */
	char **tags;           /* repo tags, sorted */
	size_t n_tags;
	char **digests;        /* repo digests, sorted */
	size_t n_digests;
	char **layers;         /* chain ids, base first */
	size_t n_layers;
};
void image_record_free(struct image_record *r);
void image_records_free(struct image_record **list, size_t n);

int image_store_new(store_db *db, image_store **out, ocid_error **err);
void image_store_free(image_store *is);

/* The in-use hook: returns 1 if image_id is used, 0 if not, -1 with *err set.
 * It runs inside images_remove's transaction with the database lock held: it
 * may only run queries through db (e.g. SELECT 1 FROM containers WHERE
 * image_id = ?), never take other locks. */
typedef int (*image_in_use_fn)(void *ctx, store_db *db, const char *image_id, ocid_error **err);
void images_set_in_use_hook(image_store *is, image_in_use_fn fn, void *ctx);

struct image_put {
	const char *id;              /* config digest */
	const char *manifest_digest;
	const char *config;          /* config JSON (its config.User is recorded) */
	int64_t size;                /* < 0: the sum of the layers' tar sizes plus the config's length */
	const char *tag;             /* repo tag to add or move here, or NULL */
	const char *repo_digest;     /* repo digest to add or move here, or NULL */
	const char *const *layers;   /* chain ids, base first; every one must be ready */
	size_t n_layers;
};

/* Records an image, or adds the tag and digest to it if it exists (its
 * layers must then be the same). A layer that is not ready is
 * FAILED_PRECONDITION. */
int images_put(image_store *is, const struct image_put *p, ocid_error **err);

/* Adds (or moves) repo tag name to image id. NOT_FOUND if there is no such image. */
int images_tag(image_store *is, const char *id, const char *name, ocid_error **err);
/* Removes one repo tag; *removed (may be NULL) tells whether it existed. */
int images_untag(image_store *is, const char *name, bool *removed, ocid_error **err);

/* Lookups: *out = NULL when nothing matches. */
int images_get(image_store *is, const char *id, struct image_record **out, ocid_error **err);
int images_get_by_tag(image_store *is, const char *name, struct image_record **out, ocid_error **err);
int images_get_by_digest(image_store *is, const char *repo_digest, struct image_record **out, ocid_error **err);
/* An id prefix, with or without "sha256:" (at least 3 hex digits); a prefix
 * that matches several images is INVALID_ARGUMENT. */
int images_get_by_id_prefix(image_store *is, const char *prefix, struct image_record **out, ocid_error **err);
/* What an RPC's image spec names: an id, a repo tag, a repo digest, then an
 * id prefix (in that order). */
int images_resolve(image_store *is, const char *ref, struct image_record **out, ocid_error **err);

int images_list(image_store *is, struct image_record ***out, size_t *n, ocid_error **err);

/* Runs fn(ctx) if image id exists, under the lock that images_remove takes
 * before it asks the in-use hook: either the removal sees what fn did, or
 * this finds the image gone (NOT_FOUND). fn must not block or take locks
 * other than leaf ones. */
int images_with_image(image_store *is, const char *id, void (*fn)(void *ctx), void *ctx, ocid_error **err);

/* Records are served from memory, loaded on first use and dropped by every
 * change made here. Whoever changes the images tables directly (start-up
 * recovery) drops them with this. */
void images_cache_drop(image_store *is);

struct image_removal {
	bool removed;   /* false: there was no such image (removal is idempotent) */
	char **layers;  /* chain ids no image uses any more: for layer_store_remove_unused */
	size_t n_layers;
	char **blobs;   /* config and manifest digests no image names any more */
	size_t n_blobs;
};
void image_removal_clear(struct image_removal *r);

/* Removes image id with all its tags and digests. */
int images_remove(image_store *is, const char *id, struct image_removal *out, ocid_error **err);

/* The uid or user name an image runs as, from its config.User ("name",
 * "uid", "uid:gid", "name:group"): *uid >= 0 for a numeric user (and
 * *username NULL), else *uid = -1 and *username the name (NULL when User is
 * empty). As cri-o reports them in ImageStatus. */
void image_user(const char *user, int64_t *uid, char **username);

#endif
