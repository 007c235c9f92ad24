/* The daemon's one SQLite database, <root>/ocid.db: images and layers now,
 * pods and containers later (each adds its tables by appending a migration
 * to migrations.c).
 *
 * Settings: WAL journal, synchronous=NORMAL, foreign keys on, busy timeout
 * 5 s. NORMAL (not FULL) is enough because of how the store orders its
 * writes: every file a row names (a blob, an unpacked layer) is made durable
 * before the row is committed, so a power loss that drops the last commits
 * leaves only unreferenced files, which start-up recovery removes. A process
 * kill never loses a commit in WAL mode.
 *
 * Threading: one connection, guarded by a mutex. All access goes through
 * db_write (BEGIN IMMEDIATE ... COMMIT, ROLLBACK on failure) or db_read (a
 * consistent snapshot), which hold the mutex while the callback runs, so
 * callbacks run one at a time. They must be short: SQL only, no network, no
 * file extraction, no waiting, and no locks of other modules (lock order is
 * always "module lock, then database", never the reverse). Statements are
 * prepared once and cached per connection (db_prepare); they are only valid
 * inside a callback. One connection keeps the model simple and the cost is
 * small: queries take microseconds; the slow work (downloads, extraction,
 * runtime calls) happens outside the callbacks.
 *
 * Errors: SQLite result codes become ocid_error codes (db_fail): busy or
 * locked -> UNAVAILABLE, unique/primary key -> ALREADY_EXISTS, foreign key
 * -> FAILED_PRECONDITION, full -> RESOURCE_EXHAUSTED, corrupt -> DATA_LOSS,
 * anything else -> INTERNAL; the message carries the context, SQLite's text
 * and the extended code's name. */
#ifndef OCID_STORE_DB_H
#define OCID_STORE_DB_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

typedef struct store_db store_db;

/* One schema step: SQL run in a transaction that also bumps user_version.
 * Released entries are never edited or reordered; new ones are appended. */
struct db_migration {
	const char *name;
	const char *sql;
};

/* Opens (creating if needed) the database file at path and brings its schema
 * up to the newest migration. A database written by a newer ocid (more
 * migrations than this one knows) is refused with FAILED_PRECONDITION. */
int db_open(const char *path, store_db **out, ocid_error **err);
/* Same with an explicit migration list (tests). */
int db_open_with(const char *path, const struct db_migration *migrations, size_t n_migrations,
		 store_db **out, ocid_error **err);
void db_close(store_db *db);

/* The schema version (number of migrations applied). */
int db_schema_version(store_db *db, int *version, ocid_error **err);

typedef int (*db_fn)(store_db *db, void *ctx, ocid_error **err);

/* Runs fn inside BEGIN IMMEDIATE / COMMIT; fn returning < 0 (or a failed
 * COMMIT) rolls back and returns -1 with fn's error. Not reentrant: calling
 * db_write or db_read from inside a callback fails with INTERNAL. */
int db_write(store_db *db, db_fn fn, void *ctx, ocid_error **err);
/* Runs fn in a read transaction (a consistent snapshot). */
int db_read(store_db *db, db_fn fn, void *ctx, ocid_error **err);

/* A cached prepared statement for sql, reset and with its bindings cleared.
 * Only inside a callback. Meant for fixed SQL text (the cache keeps one
 * statement per distinct text for the life of the connection). Returns NULL
 * with *err set on failure. A statement must not be in use twice at once. */
sqlite3_stmt *db_prepare(store_db *db, const char *sql, ocid_error **err);

/* Binds parameters 1..n from the type letters: 's' const char * (NULL binds
 * NULL), 'i' int64_t, 'd' int (as integer), 'b' const void *, size_t (blob),
 * 'n' NULL (no argument). */
int db_bind(store_db *db, sqlite3_stmt *st, ocid_error **err, const char *types, ...);

/* Steps st: 1 = a row is ready, 0 = done (the statement is reset), -1 = error. */
int db_step(store_db *db, sqlite3_stmt *st, ocid_error **err);

/* Prepares, binds and runs one statement to completion. Returns the number of
 * rows it changed, or -1. */
int db_exec(store_db *db, ocid_error **err, const char *sql, const char *types, ...);

/* Runs one or more statements with no parameters (schema, pragmas). */
int db_exec_script(store_db *db, const char *sql, ocid_error **err);

/* Converts SQLite result code rc (with the connection's message) into *err,
 * prefixed by the formatted context. Returns -1. */
int db_fail(store_db *db, int rc, ocid_error **err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Column helpers: a malloc'd copy of a text column (NULL for SQL NULL). */
char *db_column_strdup(sqlite3_stmt *st, int col);

/* The raw connection, for callbacks that need an API not wrapped here. */
sqlite3 *db_handle(store_db *db);

#endif
