#include "store/layers.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/xalloc.h"

/* A layer somebody holds (leases) or is filling (busy). */
struct inflight {
	char *id;
	int leases;
	bool busy;
	struct inflight *next;
};

struct layer_store {
	store_db *db;
	char *dir; /* <root>/overlay */
	bool no_sync;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	struct inflight *table;
};

static atomic_uint trash_counter;

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int layer_store_open(store_db *db, const char *root, const struct layer_store_opts *opts, layer_store **out,
		     ocid_error **err)
{
	*out = NULL;
	cleanup_free char *dir = xasprintf("%s/overlay", root);
	if (fs_mkdir_p(dir, 0700, err) < 0)
		return err_prefix(err, "open layer store");
	layer_store *ls = xcalloc(1, sizeof(*ls));
	ls->db = db;
	ls->dir = steal_pointer(&dir);
	ls->no_sync = opts && opts->no_sync;
	pthread_mutex_init(&ls->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ls->cond, &ca);
	pthread_condattr_destroy(&ca);
	*out = ls;
	return 0;
}

void layer_store_free(layer_store *ls)
{
	if (ls == NULL)
		return;
	while (ls->table) {
		struct inflight *e = ls->table;
		ls->table = e->next;
		free(e->id);
		free(e);
	}
	pthread_cond_destroy(&ls->cond);
	pthread_mutex_destroy(&ls->mu);
	free(ls->dir);
	free(ls);
}

const char *layer_store_dir(layer_store *ls) { return ls->dir; }

void layer_chain_id(const char *parent, const char *diff_id, char out[DIGEST_MAX_LEN])
{
	if (parent == NULL) {
		snprintf(out, DIGEST_MAX_LEN, "%s", diff_id);
		return;
	}
	cleanup_free char *s = xasprintf("%s %s", parent, diff_id);
	digest_buffer(DIGEST_SHA256, s, strlen(s), out);
}

static char *layer_path(layer_store *ls, const char *id)
{
	if (!digest_valid(id))
		return NULL;
	return xasprintf("%s/%s", ls->dir, digest_hex(id));
}

char *layer_store_diff_dir(layer_store *ls, const char *chain_id)
{
	if (!digest_valid(chain_id))
		return NULL;
	return xasprintf("%s/%s/diff", ls->dir, digest_hex(chain_id));
}

/* ---- in-flight table (ls->mu held) ---- */

static struct inflight *find(layer_store *ls, const char *id)
{
	for (struct inflight *e = ls->table; e; e = e->next)
		if (strcmp(e->id, id) == 0)
			return e;
	return NULL;
}

static struct inflight *find_or_add(layer_store *ls, const char *id)
{
	struct inflight *e = find(ls, id);
	if (e)
		return e;
	e = xcalloc(1, sizeof(*e));
	e->id = xstrdup(id);
	e->next = ls->table;
	ls->table = e;
	return e;
}

static void drop_if_idle(layer_store *ls, struct inflight *e)
{
	if (e->busy || e->leases > 0)
		return;
	for (struct inflight **pp = &ls->table; *pp; pp = &(*pp)->next) {
		if (*pp == e) {
			*pp = e->next;
			free(e->id);
			free(e);
			return;
		}
	}
}

/* ---- database steps ---- */

struct state_q {
	const char *id;
	bool ready;
};

static int q_ready(store_db *db, void *p, ocid_error **err)
{
	struct state_q *q = p;
	sqlite3_stmt *st = db_prepare(db, "SELECT state FROM layers WHERE id = ?", err);
	if (st == NULL || db_bind(db, st, err, "s", q->id) < 0)
		return -1;
	int r = db_step(db, st, err);
	if (r < 0)
		return -1;
	q->ready = r == 1 && strcmp((const char *)sqlite3_column_text(st, 0), "ready") == 0;
	return 0;
}

struct begin_q {
	const char *id, *diff_id, *parent;
};

static int q_begin(store_db *db, void *p, ocid_error **err)
{
	struct begin_q *q = p;
	return db_exec(db, err,
		       "INSERT INTO layers (id, diff_id, parent, state, created) VALUES (?, ?, ?, 'pulling', ?) "
		       "ON CONFLICT (id) DO UPDATE SET state = 'pulling', diff_id = excluded.diff_id, "
		       "parent = excluded.parent, created = excluded.created",
		       "sssi", q->id, q->diff_id, q->parent, now_ns());
}

struct ready_q {
	const char *id;
	const struct layer_extract_result *res;
};

static int q_ready_set(store_db *db, void *p, ocid_error **err)
{
	struct ready_q *q = p;
	const struct layer_extract_result *r = q->res;
	int n = db_exec(db, err,
			"UPDATE layers SET state = 'ready', size = ?, disk_bytes = ?, disk_inodes = ? "
			"WHERE id = ? AND state = 'pulling'",
			"iiis", (int64_t)r->tar_size, (int64_t)r->disk_bytes, (int64_t)r->disk_inodes, q->id);
	if (n < 0)
		return -1;
	if (n != 1)
		return err_set(err, GRPC_INTERNAL, "layer %s vanished while it was being filled", q->id);
	if (digest_valid(r->digest) &&
	    db_exec(db, err, "INSERT OR IGNORE INTO layer_digests (digest, layer_id, size) VALUES (?, ?, ?)", "ssi",
		    r->digest, q->id, (int64_t)r->compressed_size) < 0)
		return -1;
	return 0;
}

static int q_abandon(store_db *db, void *p, ocid_error **err)
{
	return db_exec(db, err, "DELETE FROM layers WHERE id = ? AND state = 'pulling'", "s", (const char *)p) < 0
		       ? -1
		       : 0;
}

/* ---- filling ---- */

static int sync_dir(const char *path, ocid_error **err)
{
	cleanup_close int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return err_set_errno(err, GRPC_INTERNAL, errno, "open %s", path);
	if (syncfs(fd) < 0)
		return err_set_errno(err, GRPC_INTERNAL, errno, "syncfs %s", path);
	return 0;
}

/* Runs the fill callback for layer id (this caller owns it: busy). */
static int fill_layer(layer_store *ls, const char *id, const struct layer_request *req, ocid_error **err)
{
	cleanup_free char *dir = layer_path(ls, id);
	cleanup_free char *diff = xasprintf("%s/diff", dir);
	struct begin_q bq = { .id = id, .diff_id = req->diff_id, .parent = req->parent };
	if (db_write(ls->db, q_begin, &bq, err) < 0)
		return -1;
	struct layer_extract_result res;
	memset(&res, 0, sizeof(res));
	if (fs_remove_all(dir, err) < 0)
		goto fail;
	if (mkdir(dir, 0700) < 0) {
		err_set_errno(err, errno == ENOSPC ? GRPC_RESOURCE_EXHAUSTED : GRPC_INTERNAL, errno,
			      "create layer directory %s", dir);
		goto fail;
	}
	if (req->fill(req->ctx, diff, &res, err) < 0)
		goto fail;
	if (strcmp(res.diff_id, req->diff_id) != 0) {
		err_set(err, GRPC_DATA_LOSS, "unpacked layer has diff_id %s, the image config says %s",
			res.diff_id[0] ? res.diff_id : "(none)", req->diff_id);
		goto fail;
	}
	struct stat st;
	if (lstat(diff, &st) < 0 || !S_ISDIR(st.st_mode)) {
		err_set(err, GRPC_INTERNAL, "layer fill left no directory %s", diff);
		goto fail;
	}
	if (!ls->no_sync && sync_dir(diff, err) < 0)
		goto fail;
	struct ready_q rq = { .id = id, .res = &res };
	if (db_write(ls->db, q_ready_set, &rq, err) < 0)
		goto fail;
	log_debug("layer ready", "id=%s entries=%llu bytes=%llu", id, (unsigned long long)res.entries,
		  (unsigned long long)res.disk_bytes);
	return 0;
fail:;
	ocid_error *undo_err = NULL;
	if (fs_remove_all(dir, &undo_err) < 0 || db_write(ls->db, q_abandon, (void *)id, &undo_err) < 0) {
		char esc[1024];
		log_escape(undo_err->msg, esc, sizeof(esc));
		log_error("cannot clean up failed layer", "id=%s error=\"%s\"", id, esc);
		err_free(undo_err);
	}
	return err_prefix(err, "layer %s", id);
}

static void deadline_in(struct timespec *ts, long ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_nsec += (ms % 1000) * 1000000L;
	ts->tv_sec += ms / 1000 + ts->tv_nsec / 1000000000L;
	ts->tv_nsec %= 1000000000L;
}

int layer_store_acquire(layer_store *ls, const struct layer_request *req, char chain_id[DIGEST_MAX_LEN],
			bool *filled, ocid_error **err)
{
	if (filled)
		*filled = false;
	enum digest_algo algo;
	if (digest_parse(req->diff_id, &algo, err) < 0)
		return err_prefix(err, "acquire layer");
	if (algo != DIGEST_SHA256)
		return err_set(err, GRPC_UNIMPLEMENTED, "layer diff_id %s: only sha256 diff_ids are supported",
			       req->diff_id);
	if (req->parent && digest_parse(req->parent, NULL, err) < 0)
		return err_prefix(err, "acquire layer: parent");
	layer_chain_id(req->parent, req->diff_id, chain_id);
	const char *id = chain_id;

	pthread_mutex_lock(&ls->mu);
	/* Wait while another caller fills it; if that caller fails, the
	 * layer is still not ready below and this caller tries itself. */
	struct inflight *e = find(ls, id);
	while (e && e->busy) {
		if (req->cancelled && req->cancelled(req->ctx)) {
			pthread_mutex_unlock(&ls->mu);
			return err_set(err, GRPC_CANCELLED, "cancelled while waiting for layer %s", id);
		}
		struct timespec ts;
		deadline_in(&ts, 100);
		pthread_cond_timedwait(&ls->cond, &ls->mu, &ts);
		e = find(ls, id);
	}
	struct state_q q = { .id = id };
	if (db_read(ls->db, q_ready, &q, err) < 0) {
		pthread_mutex_unlock(&ls->mu);
		return err_prefix(err, "layer %s", id);
	}
	if (q.ready) {
		find_or_add(ls, id)->leases++;
		pthread_mutex_unlock(&ls->mu);
		return 0;
	}
	e = find_or_add(ls, id);
	e->busy = true;
	pthread_mutex_unlock(&ls->mu);

	int ret = fill_layer(ls, id, req, err);

	pthread_mutex_lock(&ls->mu);
	e = find(ls, id);
	e->busy = false;
	if (ret == 0) {
		e->leases++;
		if (filled)
			*filled = true;
	} else {
		drop_if_idle(ls, e);
	}
	pthread_cond_broadcast(&ls->cond);
	pthread_mutex_unlock(&ls->mu);
	return ret;
}

void layer_store_release(layer_store *ls, const char *chain_id)
{
	pthread_mutex_lock(&ls->mu);
	struct inflight *e = find(ls, chain_id);
	if (e && e->leases > 0) {
		e->leases--;
		drop_if_idle(ls, e);
	}
	pthread_mutex_unlock(&ls->mu);
}

/* ---- queries ---- */

void layer_info_free(struct layer_info *info)
{
	if (info == NULL)
		return;
	free(info->id);
	free(info->diff_id);
	free(info->parent);
	free(info);
}

struct get_q {
	const char *id;
	struct layer_info *info;
};

static int q_get(store_db *db, void *p, ocid_error **err)
{
	struct get_q *q = p;
	sqlite3_stmt *st = db_prepare(db,
				      "SELECT id, diff_id, parent, size, disk_bytes, disk_inodes, created FROM layers "
				      "WHERE id = ? AND state = 'ready'",
				      err);
	if (st == NULL || db_bind(db, st, err, "s", q->id) < 0)
		return -1;
	int r = db_step(db, st, err);
	if (r <= 0)
		return r;
	struct layer_info *li = xcalloc(1, sizeof(*li));
	li->id = db_column_strdup(st, 0);
	li->diff_id = db_column_strdup(st, 1);
	li->parent = db_column_strdup(st, 2);
	li->size = sqlite3_column_int64(st, 3);
	li->disk_bytes = sqlite3_column_int64(st, 4);
	li->disk_inodes = sqlite3_column_int64(st, 5);
	li->created = sqlite3_column_int64(st, 6);
	q->info = li;
	return 0;
}

int layer_store_get(layer_store *ls, const char *chain_id, struct layer_info **out, ocid_error **err)
{
	struct get_q q = { .id = chain_id };
	*out = NULL;
	if (db_read(ls->db, q_get, &q, err) < 0)
		return err_prefix(err, "get layer %s", chain_id);
	*out = q.info;
	return 0;
}

int layer_store_lower_dirs(layer_store *ls, const char *top_chain_id, char ***dirs, size_t *n, ocid_error **err)
{
	*dirs = NULL;
	*n = 0;
	char **list = NULL;
	size_t count = 0;
	cleanup_free char *cur = xstrdup(top_chain_id);
	while (cur) {
		struct layer_info *li = NULL;
		if (layer_store_get(ls, cur, &li, err) < 0 || li == NULL) {
			if (li == NULL && (err == NULL || *err == NULL))
				err_set(err, GRPC_NOT_FOUND, "layer %s is not in the store", cur);
			for (size_t i = 0; i < count; i++)
				free(list[i]);
			free(list);
			return -1;
		}
		list = xrealloc(list, (count + 1) * sizeof(*list));
		list[count++] = layer_store_diff_dir(ls, cur);
		free(cur);
		cur = li->parent ? xstrdup(li->parent) : NULL;
		layer_info_free(li);
		if (count > 1000) {
			for (size_t i = 0; i < count; i++)
				free(list[i]);
			free(list);
			return err_set(err, GRPC_DATA_LOSS, "layer chain of %s loops", top_chain_id);
		}
	}
	*dirs = list;
	*n = count;
	return 0;
}

struct usage_q {
	uint64_t bytes, inodes;
};

static int q_usage(store_db *db, void *p, ocid_error **err)
{
	struct usage_q *q = p;
	sqlite3_stmt *st = db_prepare(
		db, "SELECT COALESCE(SUM(disk_bytes), 0), COALESCE(SUM(disk_inodes), 0) FROM layers WHERE state = 'ready'",
		err);
	if (st == NULL)
		return -1;
	int r = db_step(db, st, err);
	if (r < 0)
		return -1;
	if (r == 1) {
		q->bytes = (uint64_t)sqlite3_column_int64(st, 0);
		q->inodes = (uint64_t)sqlite3_column_int64(st, 1);
	}
	return 0;
}

int layer_store_usage(layer_store *ls, uint64_t *bytes, uint64_t *inodes, ocid_error **err)
{
	struct usage_q q = { 0 };
	if (db_read(ls->db, q_usage, &q, err) < 0)
		return err_prefix(err, "layer disk usage");
	*bytes = q.bytes;
	*inodes = q.inodes;
	return 0;
}

/* ---- removal ---- */

static int q_delete_unused(store_db *db, void *p, ocid_error **err)
{
	const char *id = p;
	sqlite3_stmt *st = db_prepare(db, "SELECT 1 FROM image_layers WHERE layer_id = ? LIMIT 1", err);
	if (st == NULL || db_bind(db, st, err, "s", id) < 0)
		return -1;
	int r = db_step(db, st, err);
	if (r != 0)
		return r < 0 ? -1 : 0; /* still used */
	return db_exec(db, err, "DELETE FROM layers WHERE id = ?", "s", id);
}

int layer_store_remove_unused(layer_store *ls, char *const *ids, size_t n, size_t *removed, ocid_error **err)
{
	if (removed)
		*removed = 0;
	char **trash = xcalloc(n ? n : 1, sizeof(*trash));
	size_t n_trash = 0;
	int ret = 0;
	pthread_mutex_lock(&ls->mu);
	for (size_t i = 0; i < n; i++) {
		const char *id = ids[i];
		cleanup_free char *dir = layer_path(ls, id);
		if (dir == NULL)
			continue;
		struct inflight *e = find(ls, id);
		if (e && (e->busy || e->leases > 0))
			continue;
		int deleted = db_write(ls->db, q_delete_unused, (void *)id, err);
		if (deleted < 0) {
			ret = err_prefix(err, "remove layer %s", id);
			break;
		}
		if (deleted == 0)
			continue;
		/* Renamed aside under the lock, so that a new acquire of the
		 * same id starts from an empty place; removed after it. */
		char *aside = xasprintf("%s/.trash-%s-%u", ls->dir, digest_hex(id), atomic_fetch_add(&trash_counter, 1));
		if (rename(dir, aside) < 0) {
			if (errno != ENOENT)
				log_error("cannot move removed layer aside", "dir=\"%s\" error=\"%s\"", dir, strerror(errno));
			free(aside);
		} else {
			trash[n_trash++] = aside;
		}
		if (removed)
			(*removed)++;
		log_debug("layer removed", "id=%s", id);
	}
	pthread_mutex_unlock(&ls->mu);
	for (size_t i = 0; i < n_trash; i++) {
		ocid_error *rm_err = NULL;
		if (fs_remove_all(trash[i], &rm_err) < 0) {
			/* start-up recovery removes what is left */
			char esc[1024];
			log_escape(rm_err->msg, esc, sizeof(esc));
			log_error("cannot remove layer directory", "dir=\"%s\" error=\"%s\"", trash[i], esc);
			err_free(rm_err);
		}
		free(trash[i]);
	}
	free(trash);
	return ret;
}
