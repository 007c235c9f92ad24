#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/file.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/xalloc.h"

int store_open(const char *root, const struct store_opts *opts, struct store **out, ocid_error **err)
{
	*out = NULL;
	if (fs_mkdir_p(root, 0700, err) < 0)
		return err_prefix(err, "open store");
	struct store *s = xcalloc(1, sizeof(*s));
	s->root = xstrdup(root);
	cleanup_free char *lock = xasprintf("%s/store.lock", root);
	cleanup_free char *dbpath = xasprintf("%s/ocid.db", root);
	struct layer_store_opts lo = { .no_sync = opts && opts->no_sync };
	s->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (s->lock_fd < 0) {
		err_set_errno(err, GRPC_INTERNAL, errno, "open %s", lock);
		goto fail;
	}
	if (flock(s->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			err_set(err, GRPC_FAILED_PRECONDITION, "%s is in use by another process", root);
		else
			err_set_errno(err, GRPC_INTERNAL, errno, "lock %s", lock);
		goto fail;
	}
	if (db_open(dbpath, &s->db, err) < 0 || blob_store_open(root, &s->blobs, err) < 0 ||
	    layer_store_open(s->db, root, &lo, &s->layers, err) < 0 || image_store_new(s->db, &s->images, err) < 0 ||
	    store_recover(s->db, s->layers, s->blobs, &s->recovered, err) < 0)
		goto fail;
	images_cache_drop(s->images); /* recovery may have deleted image rows */
	s->holds = image_holds_new();
	images_set_in_use_hook(s->images, image_holds_in_use, s->holds);
	*out = s;
	return 0;
fail:
	store_close(s);
	return err_prefix(err, "open store %s", root);
}

void store_close(struct store *s)
{
	if (s == NULL)
		return;
	image_store_free(s->images);
	image_holds_free(s->holds);
	layer_store_free(s->layers);
	blob_store_free(s->blobs);
	db_close(s->db);
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	free(s->root);
	free(s);
}

int store_remove_image(struct store *s, const char *id, bool *removed, ocid_error **err)
{
	struct image_removal r;
	if (removed)
		*removed = false;
	if (images_remove(s->images, id, &r, err) < 0)
		return -1;
	if (removed)
		*removed = r.removed;
	/* The image is gone; what follows only frees space, and what it
	 * cannot free now start-up recovery frees later. */
	ocid_error *gc_err = NULL;
	if (r.n_layers > 0 && layer_store_remove_unused(s->layers, r.layers, r.n_layers, NULL, &gc_err) < 0) {
		char esc[1024];
		log_escape(gc_err->msg, esc, sizeof(esc));
		log_error("cannot remove unused layers", "image=%s error=\"%s\"", id, esc);
		err_clear(&gc_err);
	}
	for (size_t i = 0; i < r.n_blobs; i++) {
		if (blob_remove(s->blobs, r.blobs[i], &gc_err) < 0) {
			char esc[1024];
			log_escape(gc_err->msg, esc, sizeof(esc));
			log_error("cannot remove blob", "image=%s error=\"%s\"", id, esc);
			err_clear(&gc_err);
		}
	}
	image_removal_clear(&r);
	return 0;
}

int store_fs_usage(struct store *s, uint64_t *bytes, uint64_t *inodes, const char **mountpoint, ocid_error **err)
{
	if (mountpoint)
		*mountpoint = layer_store_dir(s->layers);
	return layer_store_usage(s->layers, bytes, inodes, err);
}
