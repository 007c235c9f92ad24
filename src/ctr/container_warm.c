/* Rootfs mounted ahead ("warm") for the images CreateContainer used last.
 *
 * Why: the overlay mount and the container's directories are a quarter of
 * ocid's CPU in a create, and ten creates at once wait behind each other's
 * CPU on this machine (docs/benchmarks.md). The directory pool's thread,
 * when ocid is quiet, makes whole container directory sets for an image
 * under a fresh container id:
 *   <root>/containers/.warm/<id>/{upper,work,termination-log}
 *   <runroot>/containers/.warm/<id>/rootfs   (the overlay, mounted)
 * and CreateContainer of that image takes one with two renames (a mount
 * point's parent can be renamed; the mount follows). The image is held
 * (store_image_hold) by each warm set, so its layers stay; RemoveImage drops
 * the image's sets first (ctr_warm_drop_image).
 *
 * How many: per image, the number of creates of it between two quiet
 * periods (a kubelet starting a ReplicaSet's pods, a pod's containers); a
 * smaller burst halves it. For the WARM_IMAGES images used last, the most
 * recent first, within the configured total. Nothing is persisted: a restart unmounts and deletes what is left
 * (ctr_warm_open), as does a clean shutdown. The overlay's options in
 * mountinfo keep naming the .warm upper and work directories after the
 * rename: the kernel keeps the text it was given (docs/field-notes.md). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctr/container_internal.h"
#include "ctr/rootfs.h"
#include "image/lookup.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/xalloc.h"

#define WARM_IMAGES 4

struct warm_set {
	struct warm_set *next;
	char id[CTR_ID_LEN + 1];
	char *image_id;
};

struct warm_image {
	char *image_id;
	size_t want;  /* sets to keep */
	size_t burst; /* creates since the last quiet period */
};

struct ctr_warm {
	pthread_mutex_t mu;
	pthread_cond_t done; /* a preparation finished */
	size_t cap;          /* sets in all */
	char *root_dir, *run_dir;
	/* under mu */
	struct warm_set *sets; /* newest first */
	size_t n_sets;
	struct warm_image images[WARM_IMAGES]; /* most recently used first */
	size_t n_images;
	char *preparing; /* the image the thread is making a set for */
	bool burst_open; /* a create since the thread last ran */
	bool closed;     /* ctr_warm_close: nothing more is made */
};

static void set_paths(const struct ctr_warm *w, const char *id, char **dir, char **bundle)
{
	*dir = xasprintf("%s/%s", w->root_dir, id);
	*bundle = xasprintf("%s/%s", w->run_dir, id);
}

/* Unmounts and deletes a set (not in the list any more) and drops its hold:
 * its directory through the pool's trash, or at once (in_place: shutdown). */
static void teardown_set(struct ctr_mgr *m, struct warm_set *s, bool in_place)
{
	cleanup_free char *dir = NULL, *bundle = NULL;
	set_paths(m->warm, s->id, &dir, &bundle);
	ctr_remove_files(m, s->id, bundle, dir, in_place);
	if (s->image_id)
		store_image_release(m->store, s->image_id);
	free(s->image_id);
	free(s);
}

/* Makes a set for image_id (held already): 0, or -1 with err. */
static int make_set(struct ctr_mgr *m, const char *image_id, const char *id, ocid_error **err)
{
	struct ctr_warm *w = m->warm;
	cleanup_free char *dir = NULL, *bundle = NULL;
	set_paths(w, id, &dir, &bundle);
	cleanup_free char *rootfs = xasprintf("%s/rootfs", bundle);
	struct image_record *img = NULL;
	int rc = -1;
	if (image_lookup(m->store, m->cfg->image.registries, image_id, &img, err) < 0)
		goto out;
	if (img == NULL) {
		err_set(err, GRPC_NOT_FOUND, "image %s not found", image_id);
		goto out;
	}
	bool pooled;
	if (ctr_make_dirs(m, dir, bundle, &pooled, err) < 0 || ctr_mount_rootfs(m, img, rootfs, dir, err) < 0)
		goto undo;
	rc = 0;
	goto out;
undo:
	fs_remove_all(bundle, NULL);
	dir_pool_discard(m->pool, dir, NULL);
out:
	image_record_free(img);
	return rc;
}

/* Under mu: how many sets each listed image may have (by recency, within
 * the cap); the index of the first image short of its share, or -1. */
static int shares_locked(const struct ctr_warm *w, size_t share[WARM_IMAGES])
{
	size_t left = w->cap;
	int short_of = -1;
	for (size_t i = 0; i < w->n_images; i++) {
		share[i] = w->images[i].want < left ? w->images[i].want : left;
		left -= share[i];
		size_t have = 0;
		for (const struct warm_set *s = w->sets; s; s = s->next)
			if (strcmp(s->image_id, w->images[i].image_id) == 0)
				have++;
		if (short_of < 0 && have < share[i])
			short_of = (int)i;
	}
	return short_of;
}

/* Under mu: a set beyond its image's share (or of an image no longer
 * listed), off the list; NULL when none. */
static struct warm_set *take_surplus_locked(struct ctr_warm *w, const size_t share[WARM_IMAGES])
{
	size_t seen[WARM_IMAGES] = {0};
	/* oldest sets go first: walk newest first and cut what is past the share */
	for (struct warm_set **pp = &w->sets; *pp; pp = &(*pp)->next) {
		size_t i = 0;
		while (i < w->n_images && strcmp(w->images[i].image_id, (*pp)->image_id) != 0)
			i++;
		if (i < w->n_images && ++seen[i] <= share[i])
			continue;
		struct warm_set *s = *pp;
		*pp = s->next;
		w->n_sets--;
		return s;
	}
	return NULL;
}

/* The pool's idle work: one unit (drop a surplus set or make one). */
static bool warm_work(void *arg)
{
	struct ctr_mgr *m = arg;
	struct ctr_warm *w = m->warm;
	size_t share[WARM_IMAGES];
	pthread_mutex_lock(&w->mu);
	if (w->closed) {
		pthread_mutex_unlock(&w->mu);
		return false;
	}
	if (w->burst_open) {
		/* a quiet period ends a burst: keep what it used; a smaller
		 * burst halves what was kept for a bigger one */
		for (size_t i = 0; i < w->n_images; i++) {
			struct warm_image *wi = &w->images[i];
			if (wi->burst >= wi->want)
				wi->want = wi->burst;
			else if (wi->burst > 0)
				wi->want = wi->want / 2 > wi->burst ? wi->want / 2 : wi->burst;
			wi->burst = 0;
		}
		w->burst_open = false;
	}
	int i = shares_locked(w, share);
	struct warm_set *surplus = take_surplus_locked(w, share);
	if (surplus) {
		pthread_mutex_unlock(&w->mu);
		teardown_set(m, surplus, false);
		return true;
	}
	if (i < 0) {
		pthread_mutex_unlock(&w->mu);
		return false;
	}
	char *image_id = xstrdup(w->images[i].image_id);
	w->preparing = image_id;
	pthread_mutex_unlock(&w->mu);

	struct warm_set *s = xcalloc(1, sizeof(*s));
	cleanup_err ocid_error *e = NULL;
	bool ok = ctr_new_id(s->id, &e) == 0 && store_image_hold(m->store, image_id, &e) == 0;
	if (ok && make_set(m, image_id, s->id, &e) < 0) {
		store_image_release(m->store, image_id);
		ok = false;
	}
	if (!ok) {
		char esc[512];
		log_escape(e ? e->msg : "?", esc, sizeof(esc));
		log_warn("cannot mount a rootfs ahead", "image=%s err=\"%s\"", image_id, esc);
	}
	pthread_mutex_lock(&w->mu);
	w->preparing = NULL;
	pthread_cond_broadcast(&w->done);
	bool listed = false;
	for (size_t k = 0; k < w->n_images && !listed && !w->closed; k++)
		listed = strcmp(w->images[k].image_id, image_id) == 0;
	if (ok && listed) {
		s->image_id = image_id;
		s->next = w->sets;
		w->sets = s;
		w->n_sets++;
		pthread_mutex_unlock(&w->mu);
		return true;
	}
	if (!ok && listed) {
		/* not again until the image is used again */
		for (size_t k = 0; k < w->n_images; k++)
			if (strcmp(w->images[k].image_id, image_id) == 0)
				w->images[k].want = 0;
	}
	pthread_mutex_unlock(&w->mu);
	if (ok) { /* dropped meanwhile (RemoveImage) */
		s->image_id = image_id;
		teardown_set(m, s, false);
	} else {
		free(image_id);
		free(s);
	}
	return true;
}

/* Under mu: image_id to the front of the list (added when new; the least
 * recently used one falls off). */
static struct warm_image *use_image_locked(struct ctr_warm *w, const char *image_id)
{
	size_t i = 0;
	while (i < w->n_images && strcmp(w->images[i].image_id, image_id) != 0)
		i++;
	struct warm_image it;
	if (i < w->n_images) {
		it = w->images[i];
	} else {
		if (w->n_images == WARM_IMAGES)
			free(w->images[--w->n_images].image_id);
		it = (struct warm_image){.image_id = xstrdup(image_id)};
		i = w->n_images++;
	}
	memmove(&w->images[1], &w->images[0], i * sizeof(w->images[0]));
	w->images[0] = it;
	return &w->images[0];
}

bool ctr_warm_take(struct ctr_mgr *m, const char *image_id, char id_out[CTR_ID_LEN + 1])
{
	struct ctr_warm *w = m->warm;
	if (w == NULL)
		return false;
	pthread_mutex_lock(&w->mu);
	struct warm_image *wi = use_image_locked(w, image_id);
	wi->burst++;
	w->burst_open = true;
	struct warm_set *s = NULL;
	for (struct warm_set **pp = &w->sets; *pp; pp = &(*pp)->next)
		if (strcmp((*pp)->image_id, image_id) == 0) {
			s = *pp;
			*pp = s->next;
			w->n_sets--;
			break;
		}
	pthread_mutex_unlock(&w->mu);
	dir_pool_want_idle_work(m->pool);
	if (s == NULL)
		return false;

	cleanup_free char *dir = NULL, *bundle = NULL;
	set_paths(w, s->id, &dir, &bundle);
	cleanup_free char *to_dir = xasprintf("%s/%s", m->ctr_root, s->id);
	cleanup_free char *to_bundle = xasprintf("%s/%s", m->ctr_run, s->id);
	if (rename(dir, to_dir) < 0) {
		log_warn("cannot take a warm rootfs", "from=%s err=\"%s\"", dir, strerror(errno));
		teardown_set(m, s, false);
		return false;
	}
	if (rename(bundle, to_bundle) < 0) {
		log_warn("cannot take a warm rootfs", "from=%s err=\"%s\"", bundle, strerror(errno));
		if (rename(to_dir, dir) < 0)
			dir_pool_discard(m->pool, to_dir, NULL);
		teardown_set(m, s, false);
		return false;
	}
	memcpy(id_out, s->id, CTR_ID_LEN + 1);
	/* the container holds the image itself */
	store_image_release(m->store, s->image_id);
	free(s->image_id);
	free(s);
	return true;
}

void ctr_warm_drop_image(struct ctr_mgr *m, const char *image_id)
{
	struct ctr_warm *w = m->warm;
	if (w == NULL)
		return;
	pthread_mutex_lock(&w->mu);
	for (size_t i = 0; i < w->n_images; i++)
		if (strcmp(w->images[i].image_id, image_id) == 0) {
			free(w->images[i].image_id);
			memmove(&w->images[i], &w->images[i + 1], (w->n_images - i - 1) * sizeof(w->images[0]));
			w->n_images--;
			break;
		}
	while (w->preparing && strcmp(w->preparing, image_id) == 0)
		pthread_cond_wait(&w->done, &w->mu);
	struct warm_set *drop = NULL;
	for (struct warm_set **pp = &w->sets; *pp;) {
		if (strcmp((*pp)->image_id, image_id) == 0) {
			struct warm_set *s = *pp;
			*pp = s->next;
			w->n_sets--;
			s->next = drop;
			drop = s;
		} else {
			pp = &(*pp)->next;
		}
	}
	pthread_mutex_unlock(&w->mu);
	while (drop) {
		struct warm_set *next = drop->next;
		teardown_set(m, drop, false);
		drop = next;
	}
}

/* What an earlier run left: unmounted and deleted. */
static void sweep_leftovers(struct ctr_mgr *m)
{
	struct ctr_warm *w = m->warm;
	DIR *d = opendir(w->run_dir);
	struct dirent *de;
	size_t n = 0;
	while (d && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		cleanup_free char *rootfs = xasprintf("%s/%s/rootfs", w->run_dir, de->d_name);
		cleanup_err ocid_error *e = NULL;
		if (rootfs_umount(rootfs, &e) < 0)
			ctr_warn("warm rootfs left by an earlier run: unmount failed", de->d_name, e);
		n++;
	}
	if (d)
		closedir(d);
	fs_remove_all(w->run_dir, NULL);
	dir_pool_discard(m->pool, w->root_dir, NULL);
	if (n)
		log_info("warm rootfs left by an earlier run removed", "count=%zu", n);
}

int ctr_warm_open(struct ctr_mgr *m, size_t cap, ocid_error **err)
{
	if (cap == 0)
		return 0;
	struct ctr_warm *w = xcalloc(1, sizeof(*w));
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->done, NULL);
	w->cap = cap;
	w->root_dir = xasprintf("%s/.warm", m->ctr_root);
	w->run_dir = xasprintf("%s/.warm", m->ctr_run);
	m->warm = w;
	sweep_leftovers(m);
	if (mkdir(w->root_dir, 0700) < 0 || mkdir(w->run_dir, 0700) < 0) {
		err_set_errno(err, GRPC_INTERNAL, errno, "create %s", w->root_dir);
		return err_prefix(err, "warm rootfs");
	}
	dir_pool_set_idle_work(m->pool, warm_work, m);
	return 0;
}

void ctr_warm_close(struct ctr_mgr *m)
{
	struct ctr_warm *w = m->warm;
	if (w == NULL)
		return;
	pthread_mutex_lock(&w->mu);
	w->closed = true;
	while (w->preparing)
		pthread_cond_wait(&w->done, &w->mu);
	struct warm_set *sets = w->sets;
	w->sets = NULL;
	w->n_sets = 0;
	pthread_mutex_unlock(&w->mu);
	while (sets) {
		struct warm_set *s = sets;
		sets = s->next;
		teardown_set(m, s, true);
	}
	rmdir(w->run_dir);
	fs_remove_all(w->root_dir, NULL);
	for (size_t i = 0; i < w->n_images; i++)
		free(w->images[i].image_id);
	free(w->root_dir);
	free(w->run_dir);
	pthread_cond_destroy(&w->done);
	pthread_mutex_destroy(&w->mu);
	free(w);
	m->warm = NULL;
}
