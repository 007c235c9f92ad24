#include "store/db.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "store/migrations.h"
#include "util/cleanup.h"
#include "util/log.h"
#include "util/xalloc.h"

struct cached_stmt {
	const char *key; /* the caller's pointer, for the fast lookup */
	char *sql;
	sqlite3_stmt *st;
};

struct store_db {
	sqlite3 *conn;
	pthread_mutex_t mu;
	char *path;
	struct cached_stmt *cache;
	size_t n_cache, cap_cache;
};

/* The database whose transaction this thread is running, to refuse nesting
 * (which would deadlock on the mutex). */
static _Thread_local store_db *tx_owner;

static enum grpc_code code_of(int rc)
{
	switch (rc) {
	case SQLITE_CONSTRAINT_UNIQUE:
	case SQLITE_CONSTRAINT_PRIMARYKEY:
		return GRPC_ALREADY_EXISTS;
	case SQLITE_CONSTRAINT_FOREIGNKEY:
		return GRPC_FAILED_PRECONDITION;
	default:
		break;
	}
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return GRPC_UNAVAILABLE;
	case SQLITE_CONSTRAINT:
		return GRPC_FAILED_PRECONDITION;
	case SQLITE_FULL:
	case SQLITE_NOMEM:
		return GRPC_RESOURCE_EXHAUSTED;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return GRPC_DATA_LOSS;
	default:
		return GRPC_INTERNAL;
	}
}

static int fail_msg(int rc, const char *msg, ocid_error **err, const char *ctx)
{
	return err_set(err, code_of(rc), "%s: %s (sqlite error %d)", ctx, msg ? msg : sqlite3_errstr(rc), rc);
}

int db_fail(store_db *db, int rc, ocid_error **err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *ctx = NULL;
	if (vasprintf(&ctx, fmt, ap) < 0)
		ctx = NULL;
	va_end(ap);
	/* The connection's message describes its last error; use it only when
	 * that error is the one reported. */
	const char *msg = NULL;
	if (db && db->conn && sqlite3_extended_errcode(db->conn) == rc)
		msg = sqlite3_errmsg(db->conn);
	fail_msg(rc, msg, err, ctx ? ctx : "database");
	free(ctx);
	return -1;
}

sqlite3 *db_handle(store_db *db) { return db->conn; }

char *db_column_strdup(sqlite3_stmt *st, int col)
{
	const unsigned char *s = sqlite3_column_text(st, col);
	return s ? xstrdup((const char *)s) : NULL;
}

int db_exec_script(store_db *db, const char *sql, ocid_error **err)
{
	char *msg = NULL;
	int rc = sqlite3_exec(db->conn, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		rc = sqlite3_extended_errcode(db->conn);
		fail_msg(rc, msg, err, "execute SQL");
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

sqlite3_stmt *db_prepare(store_db *db, const char *sql, ocid_error **err)
{
	/* By pointer first (SQL is normally a literal), confirmed by text in
	 * case a freed string's address was reused. */
	for (size_t i = 0; i < db->n_cache; i++) {
		if (db->cache[i].key == sql && strcmp(db->cache[i].sql, sql) == 0) {
			sqlite3_reset(db->cache[i].st);
			sqlite3_clear_bindings(db->cache[i].st);
			return db->cache[i].st;
		}
	}
	for (size_t i = 0; i < db->n_cache; i++) {
		if (strcmp(db->cache[i].sql, sql) == 0) {
			db->cache[i].key = sql;
			sqlite3_reset(db->cache[i].st);
			sqlite3_clear_bindings(db->cache[i].st);
			return db->cache[i].st;
		}
	}
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v3(db->conn, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
	if (rc != SQLITE_OK) {
		db_fail(db, sqlite3_extended_errcode(db->conn), err, "prepare \"%.80s\"", sql);
		sqlite3_finalize(st);
		return NULL;
	}
	if (db->n_cache == db->cap_cache) {
		db->cap_cache = db->cap_cache ? db->cap_cache * 2 : 32;
		db->cache = xrealloc(db->cache, db->cap_cache * sizeof(*db->cache));
	}
	db->cache[db->n_cache++] = (struct cached_stmt){ .key = sql, .sql = xstrdup(sql), .st = st };
	return st;
}

static int bind_va(store_db *db, sqlite3_stmt *st, ocid_error **err, const char *types, va_list ap)
{
	for (int i = 0; types && types[i]; i++) {
		int rc, col = i + 1;
		switch (types[i]) {
		case 's': {
			const char *s = va_arg(ap, const char *);
			rc = s ? sqlite3_bind_text(st, col, s, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, col);
			break;
		}
		case 'i':
			rc = sqlite3_bind_int64(st, col, (sqlite3_int64)va_arg(ap, int64_t));
			break;
		case 'd':
			rc = sqlite3_bind_int64(st, col, va_arg(ap, int));
			break;
		case 'b': {
			const void *p = va_arg(ap, const void *);
			size_t n = va_arg(ap, size_t);
			rc = sqlite3_bind_blob64(st, col, p, n, SQLITE_TRANSIENT);
			break;
		}
		case 'n':
			rc = sqlite3_bind_null(st, col);
			break;
		default:
			return err_set(err, GRPC_INTERNAL, "db_bind: unknown type letter '%c'", types[i]);
		}
		if (rc != SQLITE_OK)
			return db_fail(db, rc, err, "bind parameter %d", col);
	}
	return 0;
}

int db_bind(store_db *db, sqlite3_stmt *st, ocid_error **err, const char *types, ...)
{
	va_list ap;
	va_start(ap, types);
	int ret = bind_va(db, st, err, types, ap);
	va_end(ap);
	return ret;
}

int db_step(store_db *db, sqlite3_stmt *st, ocid_error **err)
{
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE) {
		sqlite3_reset(st);
		return 0;
	}
	rc = sqlite3_extended_errcode(db->conn);
	db_fail(db, rc, err, "run \"%.80s\"", sqlite3_sql(st));
	sqlite3_reset(st);
	return -1;
}

int db_exec(store_db *db, ocid_error **err, const char *sql, const char *types, ...)
{
	sqlite3_stmt *st = db_prepare(db, sql, err);
	if (st == NULL)
		return -1;
	va_list ap;
	va_start(ap, types);
	int ret = bind_va(db, st, err, types, ap);
	va_end(ap);
	if (ret < 0)
		return -1;
	int r;
	while ((r = db_step(db, st, err)) == 1)
		;
	if (r < 0)
		return -1;
	return sqlite3_changes(db->conn);
}

static void reset_all(store_db *db)
{
	for (size_t i = 0; i < db->n_cache; i++)
		sqlite3_reset(db->cache[i].st);
}

/* BEGIN, COMMIT and ROLLBACK through the statement cache: sqlite3_exec
 * would parse them again for every transaction (~5 per container). */
static int exec_cached(store_db *db, const char *sql)
{
	sqlite3_stmt *st = db_prepare(db, sql, NULL);
	if (st == NULL)
		return sqlite3_exec(db->conn, sql, NULL, NULL, NULL);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

static int run_tx(store_db *db, const char *begin, db_fn fn, void *ctx, ocid_error **err)
{
	if (tx_owner == db)
		return err_set(err, GRPC_INTERNAL, "nested database transaction");
	pthread_mutex_lock(&db->mu);
	tx_owner = db;
	int ret;
	int rc = exec_cached(db, begin);
	if (rc != SQLITE_OK) {
		ret = db_fail(db, sqlite3_extended_errcode(db->conn), err, "begin transaction");
	} else {
		ret = fn(db, ctx, err);
		reset_all(db);
		if (ret >= 0) {
			rc = exec_cached(db, "COMMIT");
			if (rc != SQLITE_OK)
				ret = db_fail(db, sqlite3_extended_errcode(db->conn), err, "commit transaction");
		}
		if (ret < 0 && !sqlite3_get_autocommit(db->conn)) {
			rc = exec_cached(db, "ROLLBACK");
			if (rc != SQLITE_OK) {
				char esc[512];
				log_escape(sqlite3_errmsg(db->conn), esc, sizeof(esc));
				log_error("database rollback failed", "error=\"%s\"", esc);
			}
		}
	}
	tx_owner = NULL;
	pthread_mutex_unlock(&db->mu);
	return ret < 0 ? -1 : ret;
}

int db_write(store_db *db, db_fn fn, void *ctx, ocid_error **err)
{
	return run_tx(db, "BEGIN IMMEDIATE", fn, ctx, err);
}

int db_read(store_db *db, db_fn fn, void *ctx, ocid_error **err)
{
	return run_tx(db, "BEGIN", fn, ctx, err);
}

static int read_version(store_db *db, void *ctx, ocid_error **err)
{
	sqlite3_stmt *st = db_prepare(db, "PRAGMA user_version", err);
	if (st == NULL)
		return -1;
	int r = db_step(db, st, err);
	if (r < 0)
		return -1;
	*(int *)ctx = r == 1 ? sqlite3_column_int(st, 0) : 0;
	return 0;
}

int db_schema_version(store_db *db, int *version, ocid_error **err)
{
	return db_read(db, read_version, version, err) < 0 ? -1 : 0;
}

struct migrate_ctx {
	const struct db_migration *m;
	size_t n;
	size_t index;
	int applied; /* 1 if this step ran, 0 if another process had done it */
};

static int migrate_step(store_db *db, void *p, ocid_error **err)
{
	struct migrate_ctx *mc = p;
	int version = 0;
	if (read_version(db, &version, err) < 0)
		return -1;
	mc->applied = 0;
	if ((size_t)version != mc->index)
		return 0;
	if (db_exec_script(db, mc->m[mc->index].sql, err) < 0)
		return -1;
	cleanup_free char *set = xasprintf("PRAGMA user_version = %zu", mc->index + 1);
	if (db_exec_script(db, set, err) < 0)
		return -1;
	mc->applied = 1;
	return 0;
}

static int migrate(store_db *db, const struct db_migration *m, size_t n, ocid_error **err)
{
	int version = 0;
	if (db_schema_version(db, &version, err) < 0)
		return -1;
	if (version < 0 || (size_t)version > n)
		return err_set(err, GRPC_FAILED_PRECONDITION,
			       "database %s has schema version %d, newer than this ocid knows (%zu): "
			       "it was written by a newer ocid",
			       db->path, version, n);
	for (size_t i = (size_t)version; i < n; i++) {
		struct migrate_ctx mc = { .m = m, .n = n, .index = i };
		if (db_write(db, migrate_step, &mc, err) < 0)
			return err_prefix(err, "database %s: migration %zu (%s)", db->path, i + 1, m[i].name);
		if (mc.applied)
			log_info("database migrated", "path=\"%s\" version=%zu name=\"%s\"", db->path, i + 1, m[i].name);
	}
	return 0;
}

static int pragma_text(store_db *db, const char *sql, char **out, ocid_error **err)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db->conn, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return db_fail(db, rc, err, "%s", sql);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*out = db_column_strdup(st, 0);
		rc = SQLITE_DONE;
	} else {
		*out = NULL;
	}
	if (rc != SQLITE_DONE) {
		rc = sqlite3_extended_errcode(db->conn);
		sqlite3_finalize(st);
		return db_fail(db, rc, err, "%s", sql);
	}
	sqlite3_finalize(st);
	return 0;
}

static int configure(store_db *db, ocid_error **err)
{
	sqlite3_extended_result_codes(db->conn, 1);
	sqlite3_busy_timeout(db->conn, 5000);
	cleanup_free char *mode = NULL;
	if (pragma_text(db, "PRAGMA journal_mode = WAL", &mode, err) < 0)
		return -1;
	if (mode == NULL || strcmp(mode, "wal") != 0)
		return err_set(err, GRPC_FAILED_PRECONDITION, "cannot use WAL journal mode (got %s)",
			       mode ? mode : "nothing");
	/* cache_size -512: at most 512 KiB of page cache per connection
	 * (SQLite's default is 2 MiB); the database is small and hot pages
	 * stay in the kernel's page cache anyway. */
	if (db_exec_script(db, "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; "
			       "PRAGMA cache_size = -512;", err) < 0)
		return -1;
	cleanup_free char *fk = NULL;
	if (pragma_text(db, "PRAGMA foreign_keys", &fk, err) < 0)
		return -1;
	if (fk == NULL || strcmp(fk, "1") != 0)
		return err_set(err, GRPC_FAILED_PRECONDITION, "SQLite has no foreign key support");
	return 0;
}

int db_open_with(const char *path, const struct db_migration *migrations, size_t n_migrations,
		 store_db **out, ocid_error **err)
{
	*out = NULL;
	if (!sqlite3_threadsafe())
		return err_set(err, GRPC_FAILED_PRECONDITION, "SQLite was built without thread support");
	store_db *db = xcalloc(1, sizeof(*db));
	pthread_mutex_init(&db->mu, NULL);
	db->path = xstrdup(path);
	int rc = sqlite3_open_v2(path, &db->conn,
				 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX |
					 SQLITE_OPEN_EXRESCODE,
				 NULL);
	if (rc != SQLITE_OK) {
		db_fail(db, rc, err, "open database %s", path);
		db_close(db);
		return -1;
	}
	if (configure(db, err) < 0 || migrate(db, migrations, n_migrations, err) < 0) {
		err_prefix(err, "open database %s", path);
		db_close(db);
		return -1;
	}
	*out = db;
	return 0;
}

int db_open(const char *path, store_db **out, ocid_error **err)
{
	return db_open_with(path, store_migrations, store_migrations_count, out, err);
}

void db_close(store_db *db)
{
	if (db == NULL)
		return;
	for (size_t i = 0; i < db->n_cache; i++) {
		sqlite3_finalize(db->cache[i].st);
		free(db->cache[i].sql);
	}
	free(db->cache);
	if (db->conn) {
		int rc = sqlite3_close(db->conn);
		if (rc != SQLITE_OK) {
			char esc[512];
			log_escape(sqlite3_errmsg(db->conn), esc, sizeof(esc));
			log_error("database close failed", "path=\"%s\" error=\"%s\"", db->path, esc);
		}
	}
	pthread_mutex_destroy(&db->mu);
	free(db->path);
	free(db);
}
