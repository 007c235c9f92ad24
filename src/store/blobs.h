/* Content-addressed files: <root>/blobs/<algo>/<hex>, for manifests and image
 * configs (layers are not kept compressed: they are unpacked as they arrive).
 *
 * A blob is written to a temporary file in its directory, fsynced, checked
 * against its digest (sha256 or sha512) and expected size, and only then
 * renamed into place (fs_atomic_*), so a blob that exists is complete and
 * verified. Concurrent writers of one digest each write their own temporary;
 * the last rename wins with identical content. Reads verify the digest again
 * (the files are small), so on-disk corruption is DATA_LOSS, not bad JSON.
 * Content that does not match is DATA_LOSS. */
#ifndef OCID_STORE_BLOBS_H
#define OCID_STORE_BLOBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "store/source.h"
#include "util/err.h"

typedef struct blob_store blob_store;

/* Creates <root>/blobs/sha256 and sha512 if needed and removes temporaries
 * left by an interrupted write. */
int blob_store_open(const char *root, blob_store **out, ocid_error **err);
void blob_store_free(blob_store *bs);

/* The path of a blob (which may not exist); NULL with *err set when digest
 * is not a valid digest. */
char *blob_path(blob_store *bs, const char *digest, ocid_error **err);
bool blob_exists(blob_store *bs, const char *digest);

/* Stores data as blob digest after checking that it hashes to digest. An
 * existing blob is left as it is. */
int blob_write(blob_store *bs, const char *digest, const void *data, size_t len, ocid_error **err);

/* Streaming write, for content that arrives in pieces (a download).
 * expected_size < 0 means unknown. commit verifies size and digest and moves
 * the blob into place; commit and abort free the writer. */
struct blob_writer;
int blob_writer_begin(blob_store *bs, const char *digest, int64_t expected_size,
		      struct blob_writer **out, ocid_error **err);
int blob_writer_write(struct blob_writer *w, const void *data, size_t len, ocid_error **err);
int blob_writer_commit(struct blob_writer *w, ocid_error **err);
void blob_writer_abort(struct blob_writer *w);

/* Writes the whole of a pull-style source as blob digest. */
int blob_write_from(blob_store *bs, const char *digest, int64_t expected_size, store_read_fn read,
		    void *ctx, ocid_error **err);

/* Reads and verifies a blob of at most max bytes into a malloc'd buffer with
 * a NUL after the content (so JSON can be parsed in place). A missing blob is
 * NOT_FOUND; a larger one is RESOURCE_EXHAUSTED. */
int blob_read(blob_store *bs, const char *digest, size_t max, char **data, size_t *len,
	      ocid_error **err);

/* Removes a blob; a missing one is not an error. */
int blob_remove(blob_store *bs, const char *digest, ocid_error **err);

/* Every stored blob's digest (for start-up garbage collection). */
int blob_list(blob_store *bs, char ***digests, size_t *n, ocid_error **err);

#endif
