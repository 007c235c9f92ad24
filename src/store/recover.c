#include "store/recover.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/digest.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/xalloc.h"

struct strv {
	char **v;
	size_t n;
};

static void strv_push(struct strv *s, const char *x)
{
	s->v = xrealloc(s->v, (s->n + 1) * sizeof(*s->v));
	s->v[s->n++] = xstrdup(x);
}

static void strv_clear(struct strv *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void strv_sort(struct strv *s)
{
	if (s->n > 1)
		qsort(s->v, s->n, sizeof(*s->v), cmp_str);
}

static bool strv_has(const struct strv *s, const char *x)
{
	return s->n > 0 && bsearch(&x, s->v, s->n, sizeof(*s->v), cmp_str) != NULL;
}

static int select_column(store_db *db, const char *sql, struct strv *out, ocid_error **err)
{
	sqlite3_stmt *st = db_prepare(db, sql, err);
	if (st == NULL)
		return -1;
	int r;
	while ((r = db_step(db, st, err)) == 1)
		if (sqlite3_column_text(st, 0))
			strv_push(out, (const char *)sqlite3_column_text(st, 0));
	return r < 0 ? -1 : 0;
}

static int drop_pulling(store_db *db, void *ctx, ocid_error **err)
{
	int n = db_exec(db, err, "DELETE FROM layers WHERE state = 'pulling'", NULL);
	if (n < 0)
		return -1;
	*(size_t *)ctx += (size_t)n;
	return 0;
}

static int list_ready(store_db *db, void *ctx, ocid_error **err)
{
	return select_column(db, "SELECT id FROM layers WHERE state = 'ready'", ctx, err);
}

struct broken_ctx {
	struct strv *missing;
	struct store_recovery_stats *stats;
};

/* Images built on a layer whose files are gone cannot be used: drop them. */
static int drop_broken(store_db *db, void *p, ocid_error **err)
{
	struct broken_ctx *bc = p;
	for (size_t i = 0; i < bc->missing->n; i++) {
		const char *id = bc->missing->v[i];
		struct strv images = { 0 };
		sqlite3_stmt *st = db_prepare(db, "SELECT DISTINCT image_id FROM image_layers WHERE layer_id = ?", err);
		if (st == NULL || db_bind(db, st, err, "s", id) < 0)
			return -1;
		int r;
		while ((r = db_step(db, st, err)) == 1)
			strv_push(&images, (const char *)sqlite3_column_text(st, 0));
		if (r < 0) {
			strv_clear(&images);
			return -1;
		}
		for (size_t j = 0; j < images.n; j++) {
			log_warn("image dropped: a layer directory is missing", "image=%s layer=%s", images.v[j], id);
			if (db_exec(db, err, "DELETE FROM images WHERE id = ?", "s", images.v[j]) < 0) {
				strv_clear(&images);
				return -1;
			}
			bc->stats->images_removed++;
		}
		strv_clear(&images);
	}
	return 0;
}

static int drop_unused(store_db *db, void *p, ocid_error **err)
{
	struct store_recovery_stats *stats = p;
	int n = db_exec(db, err,
			"DELETE FROM layers WHERE NOT EXISTS "
			"(SELECT 1 FROM image_layers WHERE image_layers.layer_id = layers.id)",
			NULL);
	if (n < 0)
		return -1;
	stats->layers_removed += (size_t)n;
	return 0;
}

static int referenced_blobs(store_db *db, void *ctx, ocid_error **err)
{
	return select_column(db,
			     "SELECT id FROM images UNION SELECT manifest_digest FROM images "
			     "UNION SELECT substr(name, instr(name, '@') + 1) FROM image_digests",
			     ctx, err);
}

static bool is_layer_dir(const char *overlay, const char *name)
{
	cleanup_free char *diff = xasprintf("%s/%s/diff", overlay, name);
	struct stat st;
	return lstat(diff, &st) == 0 && S_ISDIR(st.st_mode);
}

int store_recover(store_db *db, layer_store *ls, blob_store *bs, struct store_recovery_stats *stats_out,
		  ocid_error **err)
{
	struct store_recovery_stats stats = { 0 };
	struct strv ready = { 0 }, missing = { 0 }, blobs_used = { 0 };
	char **blobs = NULL;
	size_t n_blobs = 0;
	int ret = -1;
	const char *overlay = layer_store_dir(ls);

	if (db_write(db, drop_pulling, &stats.layers_removed, err) < 0)
		goto out;
	if (db_read(db, list_ready, &ready, err) < 0)
		goto out;
	for (size_t i = 0; i < ready.n; i++)
		if (!digest_valid(ready.v[i]) || !is_layer_dir(overlay, digest_hex(ready.v[i])))
			strv_push(&missing, ready.v[i]);
	if (missing.n > 0) {
		struct broken_ctx bc = { .missing = &missing, .stats = &stats };
		if (db_write(db, drop_broken, &bc, err) < 0)
			goto out;
	}
	if (db_write(db, drop_unused, &stats, err) < 0)
		goto out;
	strv_clear(&ready);
	if (db_read(db, list_ready, &ready, err) < 0)
		goto out;
	strv_sort(&ready);

	/* Directories that are not ready layers. */
	DIR *d = opendir(overlay);
	if (d == NULL) {
		err_set_errno(err, GRPC_INTERNAL, errno, "open %s", overlay);
		goto out;
	}
	struct strv stray = { 0 };
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		cleanup_free char *id = xasprintf("sha256:%s", de->d_name);
		if (digest_valid(id) && strv_has(&ready, id))
			continue;
		strv_push(&stray, de->d_name);
	}
	closedir(d);
	for (size_t i = 0; i < stray.n; i++) {
		cleanup_free char *path = xasprintf("%s/%s", overlay, stray.v[i]);
		log_info("removing unfinished or unused layer directory", "dir=\"%s\"", path);
		if (fs_remove_all(path, err) < 0) {
			strv_clear(&stray);
			goto out;
		}
		stats.dirs_removed++;
	}
	strv_clear(&stray);

	/* Blobs no image refers to. */
	if (db_read(db, referenced_blobs, &blobs_used, err) < 0)
		goto out;
	strv_sort(&blobs_used);
	if (blob_list(bs, &blobs, &n_blobs, err) < 0)
		goto out;
	for (size_t i = 0; i < n_blobs; i++) {
		if (strv_has(&blobs_used, blobs[i]))
			continue;
		if (blob_remove(bs, blobs[i], err) < 0)
			goto out;
		stats.blobs_removed++;
	}
	if (stats.layers_removed || stats.dirs_removed || stats.images_removed || stats.blobs_removed)
		log_info("store recovered", "layers_removed=%zu dirs_removed=%zu images_removed=%zu blobs_removed=%zu",
			 stats.layers_removed, stats.dirs_removed, stats.images_removed, stats.blobs_removed);
	ret = 0;
out:
	for (size_t i = 0; i < n_blobs; i++)
		free(blobs[i]);
	free(blobs);
	strv_clear(&ready);
	strv_clear(&missing);
	strv_clear(&blobs_used);
	if (stats_out)
		*stats_out = stats;
	return ret < 0 ? err_prefix(err, "recover store") : 0;
}
