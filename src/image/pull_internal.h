/* Shared by pull.c (the pipeline), pull_layers.c (parallel layer fetch and
 * unpack) and pull_progress.c (the progress side channel). Not for use
 * outside src/image. */
#ifndef OCID_IMAGE_PULL_INTERNAL_H
#define OCID_IMAGE_PULL_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "image/image_config.h"
#include "image/manifest.h"
#include "image/pull.h"
#include "image/reference.h"
#include "image/registry.h"
#include "util/digest.h"

enum pull_layer_state {
	PULL_LAYER_WAITING = 0,
	PULL_LAYER_DOWNLOADING,
	PULL_LAYER_DONE,
	PULL_LAYER_EXISTS, /* already in the store (or unpacked by another pull) */
	PULL_LAYER_FAILED,
};

struct pull_layer_progress {
	char digest[DIGEST_MAX_LEN];
	int64_t size;
	_Atomic int64_t current;
	_Atomic int state;
};

/* One pull in progress, listed in the puller while it runs. */
struct pull_progress {
	char *key;  /* canonical form of the requested reference */
	char *name; /* the candidate being pulled (guarded by the puller's mu) */
	int64_t started;
	/* Set once the manifest is known (under the puller's mu); the array
	 * stays valid until replaced between candidates or the entry ends. */
	struct pull_layer_progress *layers;
	size_t n_layers;
	struct pull_progress *next;
};

/* A config digest being fetched (single-flight). */
struct pull_flight {
	char *digest;
	struct pull_flight *next;
};

struct image_puller {
	struct store *store;
	const struct ocid_image_config *cfg;
	struct registry_options reg_opts;
	pthread_mutex_t mu; /* progress list, flights */
	pthread_cond_t cond;
	struct pull_progress *pulls;
	struct pull_flight *flights;
};

/* The state of one pull from one endpoint. */
struct pull_ctx {
	struct image_puller *p;
	const struct image_ref *ref;
	struct registry_client *client;
	const struct registry_endpoint *ep;
	const struct registry_cancel *user_cancel; /* may be NULL */
	struct registry_cancel cancel;             /* user's + abort below */
	atomic_bool abort;                         /* a layer failed: stop the others */
	struct pull_progress *prog;
};

/* Initialises pc->cancel from user_cancel and the abort flag. */
void pull_ctx_init_cancel(struct pull_ctx *pc);
bool pull_ctx_cancelled(void *pc);
/* CANCELLED or DEADLINE_EXCEEDED (the user's) when the pull should stop. */
int pull_ctx_check(struct pull_ctx *pc, ocid_error **err);

/* Fetches and unpacks every layer of m (whose config is cfg) through the
 * layer store, up to the configured number at a time. On success
 * *chain_ids holds the chain ids (base first), each with a lease to drop
 * with pull_layers_release. On failure nothing is held and layers this pull
 * unpacked that nothing uses are deleted. */
int pull_layers(struct pull_ctx *pc, const struct image_manifest *m, const struct image_config *cfg,
		char ***chain_ids, ocid_error **err);
/* Drops the leases; with gc, also deletes those layers if no image uses them. */
void pull_layers_release(struct pull_ctx *pc, char **chain_ids, size_t n, bool gc);

/* progress (pull_progress.c); all take p->mu themselves */
struct pull_progress *pull_progress_begin(struct image_puller *p, const char *key);
void pull_progress_end(struct image_puller *p, struct pull_progress *prog);
void pull_progress_set_name(struct image_puller *p, struct pull_progress *prog, const char *name);
/* Replaces the layer list (none of its old entries may be in use). */
void pull_progress_set_layers(struct image_puller *p, struct pull_progress *prog, const struct image_manifest *m);

#endif
