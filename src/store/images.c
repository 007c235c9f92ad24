#include "store/images.h"

#include <ctype.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/digest.h"
#include "util/cleanup.h"
#include "util/xalloc.h"

/* Every record, in memory. Records are read by every CreateContainer,
 * ImageStatus and ListImages and change only on pull, tag, untag and
 * removal, so they are kept here (as containerd's CRI image store keeps
 * them): loaded from the database on first use, dropped by every
 * transaction that changes them. A reader then takes neither the
 * database's lock, which every container row write holds, nor its I/O.
 * Lock order: the database's, then mu. */
struct image_cache {
	pthread_mutex_t mu;
	bool loaded;
	struct image_record **recs; /* ORDER BY created, id */
	size_t n;
};

struct image_store {
	store_db *db;
	image_in_use_fn in_use;
	void *in_use_ctx;
	struct image_cache cache;
};

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int image_store_new(store_db *db, image_store **out, ocid_error **err)
{
	(void)err;
	image_store *is = xcalloc(1, sizeof(*is));
	is->db = db;
	pthread_mutex_init(&is->cache.mu, NULL);
	*out = is;
	return 0;
}

static void cache_clear_locked(struct image_cache *c)
{
	image_records_free(c->recs, c->n);
	c->recs = NULL;
	c->n = 0;
	c->loaded = false;
}

void image_store_free(image_store *is)
{
	if (is == NULL)
		return;
	cache_clear_locked(&is->cache);
	pthread_mutex_destroy(&is->cache.mu);
	free(is);
}

/* Called inside every transaction that changes images (the database's lock
 * is held, so no reader can load the old state again before the commit). */
static void cache_drop(image_store *is)
{
	pthread_mutex_lock(&is->cache.mu);
	cache_clear_locked(&is->cache);
	pthread_mutex_unlock(&is->cache.mu);
}

void images_cache_drop(image_store *is)
{
	cache_drop(is);
}

void images_set_in_use_hook(image_store *is, image_in_use_fn fn, void *ctx)
{
	is->in_use = fn;
	is->in_use_ctx = ctx;
}

void image_record_free(struct image_record *r)
{
	if (r == NULL)
		return;
	free(r->id);
	free(r->manifest_digest);
	free(r->config);
	free(r->user);
	strv_free_n(r->tags, r->n_tags);
	strv_free_n(r->digests, r->n_digests);
	strv_free_n(r->layers, r->n_layers);
	free(r);
}

void image_records_free(struct image_record **list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		image_record_free(list[i]);
	free(list);
}

static struct image_record *record_dup(const struct image_record *r)
{
	struct image_record *c = xcalloc(1, sizeof(*c));
	c->id = xstrdup(r->id);
	c->manifest_digest = r->manifest_digest ? xstrdup(r->manifest_digest) : NULL;
	c->config = r->config ? xstrdup(r->config) : NULL;
	c->user = r->user ? xstrdup(r->user) : NULL;
	c->size = r->size;
	c->created = r->created;
	c->tags = strv_dup_n(r->tags, r->n_tags);
	c->n_tags = r->n_tags;
	c->digests = strv_dup_n(r->digests, r->n_digests);
	c->n_digests = r->n_digests;
	c->layers = strv_dup_n(r->layers, r->n_layers);
	c->n_layers = r->n_layers;
	return c;
}

void image_removal_clear(struct image_removal *r)
{
	strv_free_n(r->layers, r->n_layers);
	strv_free_n(r->blobs, r->n_blobs);
	memset(r, 0, sizeof(*r));
}

static void push(char ***v, size_t *n, const char *s)
{
	*v = xrealloc(*v, (*n + 1) * sizeof(**v));
	(*v)[(*n)++] = xstrdup(s);
}

static bool contains(char **v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

void image_user(const char *user, int64_t *uid, char **username)
{
	*uid = -1;
	*username = NULL;
	if (user == NULL || *user == '\0')
		return;
	size_t n = strcspn(user, ":");
	if (n == 0)
		return;
	bool numeric = n <= 18;
	for (size_t i = 0; i < n && numeric; i++)
		numeric = isdigit((unsigned char)user[i]);
	if (numeric) {
		cleanup_free char *s = strndup(user, n);
		*uid = s ? strtoll(s, NULL, 10) : -1;
		return;
	}
	*username = strndup(user, n);
}

/* ---- reading records (inside a transaction) ---- */

static int load_list(store_db *db, const char *sql, const char *id, char ***v, size_t *n, ocid_error **err)
{
	sqlite3_stmt *st = db_prepare(db, sql, err);
	if (st == NULL || db_bind(db, st, err, "s", id) < 0)
		return -1;
	int r;
	while ((r = db_step(db, st, err)) == 1)
		push(v, n, (const char *)sqlite3_column_text(st, 0));
	return r;
}

/* Loads image id; *out = NULL if there is none. */
static int load_image(store_db *db, const char *id, struct image_record **out, ocid_error **err)
{
	*out = NULL;
	sqlite3_stmt *st = db_prepare(
		db, "SELECT id, manifest_digest, config, config_user, size, created FROM images WHERE id = ?", err);
	if (st == NULL || db_bind(db, st, err, "s", id) < 0)
		return -1;
	int r = db_step(db, st, err);
	if (r <= 0)
		return r;
	struct image_record *rec = xcalloc(1, sizeof(*rec));
	rec->id = db_column_strdup(st, 0);
	rec->manifest_digest = db_column_strdup(st, 1);
	rec->config = db_column_strdup(st, 2);
	rec->user = db_column_strdup(st, 3);
	rec->size = sqlite3_column_int64(st, 4);
	rec->created = sqlite3_column_int64(st, 5);
	sqlite3_reset(st);
	if (load_list(db, "SELECT name FROM image_names WHERE image_id = ? ORDER BY name", id, &rec->tags,
		      &rec->n_tags, err) < 0 ||
	    load_list(db, "SELECT name FROM image_digests WHERE image_id = ? ORDER BY name", id, &rec->digests,
		      &rec->n_digests, err) < 0 ||
	    load_list(db, "SELECT layer_id FROM image_layers WHERE image_id = ? ORDER BY idx", id, &rec->layers,
		      &rec->n_layers, err) < 0) {
		image_record_free(rec);
		return -1;
	}
	*out = rec;
	return 0;
}

/* The one text column of the first row of sql bound to arg; NULL if none. */
static int query_text(store_db *db, const char *sql, const char *arg, char **out, ocid_error **err)
{
	*out = NULL;
	sqlite3_stmt *st = db_prepare(db, sql, err);
	if (st == NULL || db_bind(db, st, err, "s", arg) < 0)
		return -1;
	int r = db_step(db, st, err);
	if (r == 1) {
		*out = db_column_strdup(st, 0);
		sqlite3_reset(st);
	}
	return r < 0 ? -1 : 0;
}

static int query_exists(store_db *db, const char *sql, const char *arg, bool *exists, ocid_error **err)
{
	sqlite3_stmt *st = db_prepare(db, sql, err);
	if (st == NULL || db_bind(db, st, err, "s", arg) < 0)
		return -1;
	int r = db_step(db, st, err);
	if (r == 1)
		sqlite3_reset(st);
	*exists = r == 1;
	return r < 0 ? -1 : 0;
}

/* ---- put ---- */

struct put_ctx {
	image_store *is;
	const struct image_put *p;
	const char *user;
};

static int set_name(store_db *db, const char *table, const char *name, const char *id, ocid_error **err)
{
	const char *sql = strcmp(table, "image_names") == 0
				  ? "INSERT INTO image_names (name, image_id) VALUES (?, ?) "
				    "ON CONFLICT (name) DO UPDATE SET image_id = excluded.image_id"
				  : "INSERT INTO image_digests (name, image_id) VALUES (?, ?) "
				    "ON CONFLICT (name) DO UPDATE SET image_id = excluded.image_id";
	return db_exec(db, err, sql, "ss", name, id) < 0 ? -1 : 0;
}

static int put_tx(store_db *db, void *ctx, ocid_error **err)
{
	struct put_ctx *pc = ctx;
	const struct image_put *p = pc->p;
	cache_drop(pc->is);
	for (size_t i = 0; i < p->n_layers; i++) {
		cleanup_free char *state = NULL;
		if (query_text(db, "SELECT state FROM layers WHERE id = ?", p->layers[i], &state, err) < 0)
			return -1;
		if (state == NULL || strcmp(state, "ready") != 0)
			return err_set(err, GRPC_FAILED_PRECONDITION, "layer %s is not ready", p->layers[i]);
	}
	bool exists;
	if (query_exists(db, "SELECT 1 FROM images WHERE id = ?", p->id, &exists, err) < 0)
		return -1;
	if (exists) {
		char **have = NULL;
		size_t n_have = 0;
		if (load_list(db, "SELECT layer_id FROM image_layers WHERE image_id = ? ORDER BY idx", p->id, &have,
			      &n_have, err) < 0) {
			strv_free_n(have, n_have);
			return -1;
		}
		bool same = n_have == p->n_layers;
		for (size_t i = 0; same && i < n_have; i++)
			same = strcmp(have[i], p->layers[i]) == 0;
		strv_free_n(have, n_have);
		if (!same)
			return err_set(err, GRPC_FAILED_PRECONDITION, "image %s is already stored with other layers",
				       p->id);
	} else {
		int64_t size = p->size;
		if (size < 0) {
			size = (int64_t)strlen(p->config);
			for (size_t i = 0; i < p->n_layers; i++) {
				sqlite3_stmt *st = db_prepare(db, "SELECT size FROM layers WHERE id = ?", err);
				if (st == NULL || db_bind(db, st, err, "s", p->layers[i]) < 0)
					return -1;
				int r = db_step(db, st, err);
				if (r < 0)
					return -1;
				if (r == 1) {
					size += sqlite3_column_int64(st, 0);
					sqlite3_reset(st);
				}
			}
		}
		if (db_exec(db, err,
			    "INSERT INTO images (id, manifest_digest, config, config_user, size, created) "
			    "VALUES (?, ?, ?, ?, ?, ?)",
			    "ssssii", p->id, p->manifest_digest, p->config, pc->user, size, now_ns()) < 0)
			return -1;
		for (size_t i = 0; i < p->n_layers; i++)
			if (db_exec(db, err, "INSERT INTO image_layers (image_id, idx, layer_id) VALUES (?, ?, ?)", "sis",
				    p->id, (int64_t)i, p->layers[i]) < 0)
				return -1;
	}
	if (p->tag && set_name(db, "image_names", p->tag, p->id, err) < 0)
		return -1;
	if (p->repo_digest && set_name(db, "image_digests", p->repo_digest, p->id, err) < 0)
		return -1;
	return 0;
}

static int config_user(const char *config, char **user, ocid_error **err)
{
	json_error_t jerr;
	json_t *root = json_loads(config, JSON_DECODE_ANY, &jerr);
	if (root == NULL || !json_is_object(root)) {
		json_decref(root);
		return err_set(err, GRPC_INVALID_ARGUMENT, "image config is not a JSON object");
	}
	json_t *u = json_object_get(json_object_get(root, "config"), "User");
	*user = xstrdup(json_is_string(u) ? json_string_value(u) : "");
	json_decref(root);
	return 0;
}

int images_put(image_store *is, const struct image_put *p, ocid_error **err)
{
	if (digest_parse(p->id, NULL, err) < 0 || digest_parse(p->manifest_digest, NULL, err) < 0)
		return err_prefix(err, "store image");
	if (p->config == NULL)
		return err_set(err, GRPC_INVALID_ARGUMENT, "store image %s: no config", p->id);
	if ((p->tag && *p->tag == '\0') || (p->repo_digest && *p->repo_digest == '\0'))
		return err_set(err, GRPC_INVALID_ARGUMENT, "store image %s: empty name", p->id);
	cleanup_free char *user = NULL;
	if (config_user(p->config, &user, err) < 0)
		return err_prefix(err, "store image %s", p->id);
	struct put_ctx pc = { .is = is, .p = p, .user = user };
	if (db_write(is->db, put_tx, &pc, err) < 0)
		return err_prefix(err, "store image %s", p->id);
	return 0;
}

struct tag_ctx {
	image_store *is;
	const char *id, *name;
	bool removed;
};

static int tag_tx(store_db *db, void *ctx, ocid_error **err)
{
	struct tag_ctx *tc = ctx;
	cache_drop(tc->is);
	bool exists;
	if (query_exists(db, "SELECT 1 FROM images WHERE id = ?", tc->id, &exists, err) < 0)
		return -1;
	if (!exists)
		return err_set(err, GRPC_NOT_FOUND, "image %s not found", tc->id);
	return set_name(db, "image_names", tc->name, tc->id, err);
}

int images_tag(image_store *is, const char *id, const char *name, ocid_error **err)
{
	if (name == NULL || *name == '\0')
		return err_set(err, GRPC_INVALID_ARGUMENT, "tag image %s: empty name", id);
	struct tag_ctx tc = { .is = is, .id = id, .name = name };
	if (db_write(is->db, tag_tx, &tc, err) < 0)
		return err_prefix(err, "tag image %s as %s", id, name);
	return 0;
}

static int untag_tx(store_db *db, void *ctx, ocid_error **err)
{
	struct tag_ctx *tc = ctx;
	cache_drop(tc->is);
	int n = db_exec(db, err, "DELETE FROM image_names WHERE name = ?", "s", tc->name);
	if (n < 0)
		return -1;
	tc->removed = n > 0;
	return 0;
}

int images_untag(image_store *is, const char *name, bool *removed, ocid_error **err)
{
	struct tag_ctx tc = { .is = is, .name = name };
	if (db_write(is->db, untag_tx, &tc, err) < 0)
		return err_prefix(err, "untag %s", name);
	if (removed)
		*removed = tc.removed;
	return 0;
}

/* ---- lookups (from the cache) ---- */

/* Loads every record (inside a transaction). */
static int load_all(store_db *db, struct image_record ***out, size_t *n_out, ocid_error **err)
{
	*out = NULL;
	*n_out = 0;
	char **ids = NULL;
	size_t n_ids = 0;
	sqlite3_stmt *st = db_prepare(db, "SELECT id FROM images ORDER BY created, id", err);
	if (st == NULL)
		return -1;
	int r;
	while ((r = db_step(db, st, err)) == 1)
		push(&ids, &n_ids, (const char *)sqlite3_column_text(st, 0));
	if (r < 0) {
		strv_free_n(ids, n_ids);
		return -1;
	}
	struct image_record **list = xcalloc(n_ids ? n_ids : 1, sizeof(*list));
	size_t n = 0;
	for (size_t i = 0; i < n_ids; i++) {
		struct image_record *rec = NULL;
		if (load_image(db, ids[i], &rec, err) < 0) {
			strv_free_n(ids, n_ids);
			image_records_free(list, n);
			return -1;
		}
		if (rec)
			list[n++] = rec;
	}
	strv_free_n(ids, n_ids);
	*out = list;
	*n_out = n;
	return 0;
}

typedef int (*cache_fn)(const struct image_cache *c, void *ctx, ocid_error **err);

struct cache_use {
	image_store *is;
	cache_fn fn;
	void *ctx;
};

static int load_and_use_tx(store_db *db, void *p, ocid_error **err)
{
	struct cache_use *u = p;
	struct image_cache *c = &u->is->cache;
	struct image_record **recs = NULL;
	size_t n = 0;
	pthread_mutex_lock(&c->mu);
	bool loaded = c->loaded; /* another reader may have loaded it meanwhile */
	pthread_mutex_unlock(&c->mu);
	if (!loaded && load_all(db, &recs, &n, err) < 0)
		return -1;
	pthread_mutex_lock(&c->mu);
	if (!c->loaded) {
		cache_clear_locked(c);
		c->recs = recs;
		c->n = n;
		c->loaded = true;
		recs = NULL;
		n = 0;
	}
	int rc = u->fn(c, u->ctx, err);
	pthread_mutex_unlock(&c->mu);
	image_records_free(recs, n);
	return rc;
}

/* Runs fn on the loaded cache, with its lock held; loads it first (inside a
 * read transaction, so no change can land between the load and fn). */
static int cache_use(image_store *is, cache_fn fn, void *ctx, ocid_error **err)
{
	struct image_cache *c = &is->cache;
	pthread_mutex_lock(&c->mu);
	if (c->loaded) {
		int rc = fn(c, ctx, err);
		pthread_mutex_unlock(&c->mu);
		return rc;
	}
	pthread_mutex_unlock(&c->mu);
	struct cache_use u = { .is = is, .fn = fn, .ctx = ctx };
	return db_read(is->db, load_and_use_tx, &u, err);
}

static const struct image_record *find_id(const struct image_cache *c, const char *id)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->recs[i]->id, id) == 0)
			return c->recs[i];
	return NULL;
}

static const struct image_record *find_tag(const struct image_cache *c, const char *name)
{
	for (size_t i = 0; i < c->n; i++)
		if (contains(c->recs[i]->tags, c->recs[i]->n_tags, name))
			return c->recs[i];
	return NULL;
}

static const struct image_record *find_digest(const struct image_cache *c, const char *name)
{
	for (size_t i = 0; i < c->n; i++)
		if (contains(c->recs[i]->digests, c->recs[i]->n_digests, name))
			return c->recs[i];
	return NULL;
}

static bool is_hex(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return false;
	return true;
}

/* An id prefix with or without "sha256:", 3 to 64 hex digits. */
static int find_prefix(const struct image_cache *c, const char *key, const struct image_record **out,
		       ocid_error **err)
{
	*out = NULL;
	const char *hex = strncmp(key, "sha256:", 7) == 0 ? key + 7 : key;
	size_t n = strlen(hex);
	if (n < 3 || n > 64 || !is_hex(hex))
		return 0;
	for (size_t i = 0; i < c->n; i++) {
		const char *id = c->recs[i]->id;
		if (strncmp(id, "sha256:", 7) != 0 || strncmp(id + 7, hex, n) != 0)
			continue;
		if (*out)
			return err_set(err, GRPC_INVALID_ARGUMENT, "image id prefix %s is ambiguous", key);
		*out = c->recs[i];
	}
	return 0;
}

enum lookup_kind { BY_ID, BY_TAG, BY_DIGEST, BY_PREFIX, BY_ANY };

struct lookup_ctx {
	enum lookup_kind kind;
	const char *key;
	struct image_record *rec;
};

static int lookup_fn(const struct image_cache *c, void *ctx, ocid_error **err)
{
	struct lookup_ctx *lc = ctx;
	enum lookup_kind k = lc->kind;
	const struct image_record *r = NULL;
	if (k == BY_ID || k == BY_ANY)
		r = find_id(c, lc->key);
	if (r == NULL && (k == BY_TAG || k == BY_ANY))
		r = find_tag(c, lc->key);
	if (r == NULL && (k == BY_DIGEST || k == BY_ANY))
		r = find_digest(c, lc->key);
	if (r == NULL && (k == BY_PREFIX || k == BY_ANY) && find_prefix(c, lc->key, &r, err) < 0)
		return -1;
	lc->rec = r ? record_dup(r) : NULL;
	return 0;
}

static int lookup(image_store *is, enum lookup_kind kind, const char *key, struct image_record **out,
		  ocid_error **err)
{
	*out = NULL;
	if (key == NULL || *key == '\0')
		return err_set(err, GRPC_INVALID_ARGUMENT, "no image specified");
	struct lookup_ctx lc = { .kind = kind, .key = key };
	if (cache_use(is, lookup_fn, &lc, err) < 0) {
		image_record_free(lc.rec);
		return err_prefix(err, "look up image %s", key);
	}
	*out = lc.rec;
	return 0;
}

int images_get(image_store *is, const char *id, struct image_record **out, ocid_error **err)
{
	return lookup(is, BY_ID, id, out, err);
}

int images_get_by_tag(image_store *is, const char *name, struct image_record **out, ocid_error **err)
{
	return lookup(is, BY_TAG, name, out, err);
}

int images_get_by_digest(image_store *is, const char *repo_digest, struct image_record **out, ocid_error **err)
{
	return lookup(is, BY_DIGEST, repo_digest, out, err);
}

int images_get_by_id_prefix(image_store *is, const char *prefix, struct image_record **out, ocid_error **err)
{
	return lookup(is, BY_PREFIX, prefix, out, err);
}

int images_resolve(image_store *is, const char *ref, struct image_record **out, ocid_error **err)
{
	return lookup(is, BY_ANY, ref, out, err);
}

struct with_ctx {
	const char *id;
	void (*fn)(void *ctx);
	void *ctx;
};

static int with_fn(const struct image_cache *c, void *p, ocid_error **err)
{
	struct with_ctx *w = p;
	if (find_id(c, w->id) == NULL)
		return err_set(err, GRPC_NOT_FOUND, "image %s not found", w->id);
	w->fn(w->ctx);
	return 0;
}

int images_with_image(image_store *is, const char *id, void (*fn)(void *ctx), void *ctx, ocid_error **err)
{
	struct with_ctx w = { .id = id, .fn = fn, .ctx = ctx };
	return cache_use(is, with_fn, &w, err);
}

struct list_ctx {
	struct image_record **list;
	size_t n;
};

static int list_fn(const struct image_cache *c, void *ctx, ocid_error **err)
{
	(void)err;
	struct list_ctx *lc = ctx;
	lc->list = xcalloc(c->n ? c->n : 1, sizeof(*lc->list));
	for (size_t i = 0; i < c->n; i++)
		lc->list[lc->n++] = record_dup(c->recs[i]);
	return 0;
}

int images_list(image_store *is, struct image_record ***out, size_t *n, ocid_error **err)
{
	struct list_ctx lc = { 0 };
	*out = NULL;
	*n = 0;
	if (cache_use(is, list_fn, &lc, err) < 0) {
		image_records_free(lc.list, lc.n);
		return err_prefix(err, "list images");
	}
	*out = lc.list;
	*n = lc.n;
	return 0;
}

/* ---- removal ---- */

struct remove_ctx {
	image_store *is;
	const char *id;
	struct image_removal *out;
};

/* True if some image still refers to blob digest dg (as its config, its
 * manifest, or in a repo digest). */
static int blob_referenced(store_db *db, const char *dg, bool *used, ocid_error **err)
{
	sqlite3_stmt *st = db_prepare(db,
				      "SELECT 1 FROM images WHERE id = ?1 OR manifest_digest = ?1 "
				      "UNION ALL SELECT 1 FROM image_digests WHERE substr(name, -length(?1)) = ?1 "
				      "AND substr(name, -length(?1) - 1, 1) = '@' LIMIT 1",
				      err);
	if (st == NULL || db_bind(db, st, err, "s", dg) < 0)
		return -1;
	int r = db_step(db, st, err);
	if (r == 1)
		sqlite3_reset(st);
	*used = r == 1;
	return r < 0 ? -1 : 0;
}

static int remove_tx(store_db *db, void *ctx, ocid_error **err)
{
	struct remove_ctx *rc = ctx;
	struct image_removal *out = rc->out;
	struct image_record *rec = NULL;
	/* Before the in-use check: a hold taken from here on finds no cache and
	 * waits for this transaction (images_with_image). */
	cache_drop(rc->is);
	if (load_image(db, rc->id, &rec, err) < 0)
		return -1;
	if (rec == NULL)
		return 0;
	int ret = -1;
	if (rc->is->in_use) {
		int used = rc->is->in_use(rc->is->in_use_ctx, db, rec->id, err);
		if (used < 0)
			goto out;
		if (used > 0) {
			err_set(err, GRPC_FAILED_PRECONDITION, "image %s is in use by a container", rec->id);
			goto out;
		}
	}
	if (db_exec(db, err, "DELETE FROM images WHERE id = ?", "s", rec->id) < 0)
		goto out;
	for (size_t i = 0; i < rec->n_layers; i++) {
		bool used;
		if (query_exists(db, "SELECT 1 FROM image_layers WHERE layer_id = ? LIMIT 1", rec->layers[i], &used,
				 err) < 0)
			goto out;
		if (!used && !contains(out->layers, out->n_layers, rec->layers[i]))
			push(&out->layers, &out->n_layers, rec->layers[i]);
	}
	/* Blobs: the config, the manifest, and what the repo digests name
	 * (an index pulled by digest). */
	char **cand = NULL;
	size_t n_cand = 0;
	push(&cand, &n_cand, rec->id);
	push(&cand, &n_cand, rec->manifest_digest);
	for (size_t i = 0; i < rec->n_digests; i++) {
		const char *at = strrchr(rec->digests[i], '@');
		if (at && digest_valid(at + 1) && !contains(cand, n_cand, at + 1))
			push(&cand, &n_cand, at + 1);
	}
	for (size_t i = 0; i < n_cand; i++) {
		bool used;
		if (blob_referenced(db, cand[i], &used, err) < 0) {
			strv_free_n(cand, n_cand);
			goto out;
		}
		if (!used && !contains(out->blobs, out->n_blobs, cand[i]))
			push(&out->blobs, &out->n_blobs, cand[i]);
	}
	strv_free_n(cand, n_cand);
	out->removed = true;
	ret = 0;
out:
	image_record_free(rec);
	return ret;
}

int images_remove(image_store *is, const char *id, struct image_removal *out, ocid_error **err)
{
	memset(out, 0, sizeof(*out));
	struct remove_ctx rc = { .is = is, .id = id, .out = out };
	if (db_write(is->db, remove_tx, &rc, err) < 0) {
		image_removal_clear(out);
		return err_prefix(err, "remove image %s", id);
	}
	return 0;
}
