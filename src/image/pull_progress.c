/* The progress of pulls in progress, for ImageStatus(verbose) while the
 * image is not there yet: PullImage is unary, so `ocic image pull` polls
 * this side channel to draw per-layer progress. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "image/pull_internal.h"
#include "util/cleanup.h"
#include "util/xalloc.h"

static int64_t wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

struct pull_progress *pull_progress_begin(struct image_puller *p, const char *key)
{
	struct pull_progress *prog = xcalloc(1, sizeof(*prog));
	prog->key = xstrdup(key);
	prog->started = wall_ns();
	pthread_mutex_lock(&p->mu);
	/* appended, so the oldest pull of a reference is the one reported */
	struct pull_progress **pp = &p->pulls;
	while (*pp)
		pp = &(*pp)->next;
	*pp = prog;
	pthread_mutex_unlock(&p->mu);
	return prog;
}

void pull_progress_end(struct image_puller *p, struct pull_progress *prog)
{
	pthread_mutex_lock(&p->mu);
	for (struct pull_progress **pp = &p->pulls; *pp; pp = &(*pp)->next) {
		if (*pp == prog) {
			*pp = prog->next;
			break;
		}
	}
	pthread_mutex_unlock(&p->mu);
	free(prog->key);
	free(prog->name);
	free(prog->layers);
	free(prog);
}

void pull_progress_set_name(struct image_puller *p, struct pull_progress *prog, const char *name)
{
	char *n = xstrdup(name);
	pthread_mutex_lock(&p->mu);
	free(prog->name);
	prog->name = n;
	pthread_mutex_unlock(&p->mu);
}

void pull_progress_set_layers(struct image_puller *p, struct pull_progress *prog, const struct image_manifest *m)
{
	struct pull_layer_progress *v = xcalloc(m->n_layers ? m->n_layers : 1, sizeof(*v));
	for (size_t i = 0; i < m->n_layers; i++) {
		snprintf(v[i].digest, sizeof(v[i].digest), "%s", m->layers[i].desc.digest);
		v[i].size = m->layers[i].desc.size;
		atomic_init(&v[i].current, 0);
		atomic_init(&v[i].state, PULL_LAYER_WAITING);
	}
	pthread_mutex_lock(&p->mu);
	struct pull_layer_progress *old = prog->layers;
	prog->layers = v;
	prog->n_layers = m->n_layers;
	pthread_mutex_unlock(&p->mu);
	free(old);
}

static const char *state_name(int s)
{
	switch (s) {
	case PULL_LAYER_DOWNLOADING:
		return "downloading";
	case PULL_LAYER_DONE:
		return "done";
	case PULL_LAYER_EXISTS:
		return "exists";
	case PULL_LAYER_FAILED:
		return "failed";
	default:
		return "waiting";
	}
}

char *image_pull_progress(struct image_puller *p, const char *image)
{
	struct image_ref ref = { 0 };
	ocid_error *err = NULL;
	if (image == NULL || image_ref_parse(image, &ref, &err) < 0) {
		err_free(err);
		return NULL;
	}
	cleanup_free char *key = image_ref_string(&ref);
	image_ref_clear(&ref);
	json_t *out = NULL;
	pthread_mutex_lock(&p->mu);
	for (struct pull_progress *prog = p->pulls; prog; prog = prog->next) {
		if (strcmp(prog->key, key) != 0)
			continue;
		json_t *layers = json_array();
		for (size_t i = 0; i < prog->n_layers; i++) {
			struct pull_layer_progress *l = &prog->layers[i];
			json_array_append_new(layers, json_pack("{s:s, s:I, s:I, s:s}", "digest", l->digest, "size",
								(json_int_t)l->size, "current",
								(json_int_t)atomic_load(&l->current), "status",
								state_name(atomic_load(&l->state))));
		}
		out = json_pack("{s:s, s:s, s:I, s:o}", "reference", prog->key, "name",
				prog->name ? prog->name : prog->key, "started", (json_int_t)prog->started, "layers",
				layers);
		break;
	}
	pthread_mutex_unlock(&p->mu);
	if (out == NULL)
		return NULL;
	char *s = json_dumps(out, JSON_COMPACT);
	json_decref(out);
	if (s == NULL)
		abort();
	return s;
}
