/* The pull pipeline: a reference in, an image in the store out.
 *
 *   reference (short names through the search list, first that has it wins)
 *   -> endpoints (mirrors in order, then the origin; the image keeps its name)
 *   -> manifest (already present? a HEAD by tag and a digest compare is all)
 *   -> platform entry of an index
 *   -> config blob (verified, kept in the blob store)
 *   -> layers, max_parallel_downloads at a time (per pull), each through
 *      layer_store_acquire: the registry stream is piped straight into the
 *      extractor (no temporary tarball); diff_ids checked against the config
 *   -> images_put: one transaction once every layer is ready, moving the
 *      tag and recording the repo digest.
 *
 * Deadline and cancellation (the RPC's) stop every request, wait and
 * extraction; a failed layer stops the pull's other layers at once.
 *
 * Shared work: concurrent pulls of one image fetch each blob once (config
 * fetches are single-flighted by digest here, layers by the layer store).
 * A failed pull releases its layer leases and deletes the layers and blobs
 * nothing else uses, so a failure leaves the store as it was.
 *
 * Credentials: the request's, else the entry for the registry in the
 * configured global_auth_file (Docker config.json "auths" format), read on
 * every pull. Never sent to mirrors (the registry client's rule).
 *
 * Progress: while a pull runs, image_pull_progress() gives its per-layer
 * byte counts (the ImageStatus side channel that `ocic image pull` polls). */
#ifndef OCID_IMAGE_PULL_H
#define OCID_IMAGE_PULL_H

#include <stdint.h>

#include "config/config.h"
#include "image/registry.h"
#include "store/store.h"
#include "util/err.h"

struct image_puller;

/* cfg and store are borrowed and must outlive the puller. reg_opts may be
 * NULL (the registry client's defaults). */
int image_puller_new(struct store *store, const struct ocid_image_config *cfg,
		     const struct registry_options *reg_opts, struct image_puller **out, ocid_error **err);
void image_puller_free(struct image_puller *p);

/* Pulls image (a reference as a user writes it) and sets *image_id
 * (malloc'd "sha256:..."). creds and cancel may be NULL. Errors carry a gRPC
 * code: INVALID_ARGUMENT (bad reference, refused layer content), NOT_FOUND,
 * UNAUTHENTICATED, PERMISSION_DENIED, DATA_LOSS (content that does not
 * match its digest), UNAVAILABLE, DEADLINE_EXCEEDED, CANCELLED, ... */
int image_pull(struct image_puller *p, const char *image, const struct registry_credentials *creds,
	       const struct registry_cancel *cancel, char **image_id, ocid_error **err);

/* JSON text describing the pull in progress of image (matched after
 * normalisation, so "busybox" finds a pull of "docker.io/library/busybox"),
 * or NULL when there is none:
 *   {"reference": "...", "name": "<candidate being pulled>", "started": ns,
 *    "layers": [{"digest", "size", "current", "status"}]}
 * status: waiting | downloading | done | exists | failed. malloc'd. */
char *image_pull_progress(struct image_puller *p, const char *image);

/* The store the puller writes to, and its search list (for lookups). */
struct store *image_puller_store(struct image_puller *p);
char *const *image_puller_search(struct image_puller *p);

#endif
