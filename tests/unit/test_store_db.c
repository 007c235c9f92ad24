/* store/db: settings, migrations, transactions, error codes, threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <unistd.h>

#include "store/db.h"
#include "store/migrations.h"
#include "test_store_util.h"

static char *db_path(const char *dir) { return xasprintf("%s/ocid.db", dir); }

static int q_int(store_db *db, void *ctx, ocid_error **err)
{
	const char **sql = ctx;
	sqlite3_stmt *st = db_prepare(db, sql[0], err);
	if (st == NULL)
		return -1;
	int r = db_step(db, st, err);
	if (r < 0)
		return -1;
	return r == 1 ? sqlite3_column_int(st, 0) : 0;
}

static int query_int(store_db *db, const char *sql)
{
	ocid_error *err = NULL;
	const char *ctx[1] = { sql };
	int v = db_read(db, q_int, ctx, &err);
	if (v < 0)
		fail_msg("%s: %s", sql, err->msg);
	return v;
}

static void test_open_settings_and_schema(void **state)
{
	(void)state;
	char *dir = tmpdir_new();
	char *path = db_path(dir);
	store_db *db = NULL;
	ocid_error *err = NULL;
	if (db_open(path, &db, &err) < 0)
		fail_msg("%s", err->msg);
	int version = -1;
	assert_int_equal(db_schema_version(db, &version, &err), 0);
	assert_int_equal(version, (int)store_migrations_count);
	assert_int_equal(query_int(db, "PRAGMA foreign_keys"), 1);
	assert_int_equal(query_int(db, "PRAGMA synchronous"), 1); /* NORMAL */
	assert_int_equal(query_int(db, "SELECT count(*) FROM sqlite_master WHERE name = 'images'"), 1);
	assert_int_equal(query_int(db, "SELECT count(*) FROM sqlite_master WHERE name = 'layers'"), 1);
	db_close(db);
	/* WAL is persistent in the file */
	sqlite3 *raw;
	assert_int_equal(sqlite3_open(path, &raw), SQLITE_OK);
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(raw, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
	sqlite3_finalize(st);
	sqlite3_close(raw);
	/* reopening applies nothing twice */
	assert_int_equal(db_open(path, &db, &err), 0);
	assert_int_equal(db_schema_version(db, &version, &err), 0);
	assert_int_equal(version, (int)store_migrations_count);
	db_close(db);
	free(path);
	tmpdir_free(dir);
}

static void test_newer_schema_refused(void **state)
{
	(void)state;
	char *dir = tmpdir_new();
	char *path = db_path(dir);
	sqlite3 *raw;
	assert_int_equal(sqlite3_open(path, &raw), SQLITE_OK);
	assert_int_equal(sqlite3_exec(raw, "PRAGMA user_version = 999", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(raw);
	store_db *db = NULL;
	ocid_error *err = NULL;
	assert_int_equal(db_open(path, &db, &err), -1);
	assert_null(db);
	assert_int_equal(err->code, GRPC_FAILED_PRECONDITION);
	assert_non_null(strstr(err->msg, "newer"));
	err_free(err);
	free(path);
	tmpdir_free(dir);
}

static const struct db_migration m3[] = {
	{ "one", "CREATE TABLE a (x INTEGER PRIMARY KEY, v TEXT UNIQUE);" },
	{ "two", "CREATE TABLE b (y INTEGER PRIMARY KEY, a_x INTEGER NOT NULL REFERENCES a(x));" },
	{ "three", "ALTER TABLE a ADD COLUMN w INTEGER NOT NULL DEFAULT 7;" },
};
static const struct db_migration m_bad[] = {
	{ "one", "CREATE TABLE a (x INTEGER PRIMARY KEY, v TEXT UNIQUE);" },
	{ "two", "CREATE TABLE b (y INTEGER PRIMARY KEY, a_x INTEGER NOT NULL REFERENCES a(x));" },
	{ "three", "ALTER TABLE a ADD COLUMN w INTEGER NOT NULL DEFAULT 7;" },
	{ "broken", "CREATE TABLE c (z INTEGER); THIS IS NOT SQL;" },
};

static void test_migrations_append(void **state)
{
	(void)state;
	char *dir = tmpdir_new();
	char *path = db_path(dir);
	store_db *db = NULL;
	ocid_error *err = NULL;
	assert_int_equal(db_open_with(path, m3, 2, &db, &err), 0);
	int version;
	assert_int_equal(db_schema_version(db, &version, &err), 0);
	assert_int_equal(version, 2);
	assert_int_equal(db_exec_script(db, "INSERT INTO a (x, v) VALUES (1, 'one')", &err), 0);
	db_close(db);
	/* a later ocid appends a migration: only that one runs, data stays */
	assert_int_equal(db_open_with(path, m3, 3, &db, &err), 0);
	assert_int_equal(db_schema_version(db, &version, &err), 0);
	assert_int_equal(version, 3);
	assert_int_equal(query_int(db, "SELECT w FROM a WHERE x = 1"), 7);
	db_close(db);
	/* a failing migration rolls back entirely and says which it was */
	assert_int_equal(db_open_with(path, m_bad, 4, &db, &err), -1);
	assert_non_null(strstr(err->msg, "migration 4 (broken)"));
	err_clear(&err);
	assert_int_equal(db_open_with(path, m3, 3, &db, &err), 0);
	assert_int_equal(db_schema_version(db, &version, &err), 0);
	assert_int_equal(version, 3);
	assert_int_equal(query_int(db, "SELECT count(*) FROM sqlite_master WHERE name = 'c'"), 0);
	db_close(db);
	free(path);
	tmpdir_free(dir);
}

static int insert_then_fail(store_db *db, void *ctx, ocid_error **err)
{
	(void)ctx;
	if (db_exec(db, err, "INSERT INTO a (x, v) VALUES (?, ?)", "is", (int64_t)10, "ten") != 1)
		return -1;
	return err_set(err, GRPC_ABORTED, "changed my mind");
}

static int insert_ok(store_db *db, void *ctx, ocid_error **err)
{
	const char *v = ctx;
	int n = db_exec(db, err, "INSERT INTO a (v) VALUES (?)", "s", v);
	return n < 0 ? -1 : n;
}

static int insert_b(store_db *db, void *ctx, ocid_error **err)
{
	return db_exec(db, err, "INSERT INTO b (a_x) VALUES (?)", "i", *(int64_t *)ctx) < 0 ? -1 : 0;
}

static int nested(store_db *db, void *ctx, ocid_error **err)
{
	(void)ctx;
	return db_read(db, insert_ok, (void *)"nested", err);
}

static int bad_sql(store_db *db, void *ctx, ocid_error **err)
{
	(void)ctx;
	return db_prepare(db, "SELECT nothing FROM nowhere", err) ? 0 : -1;
}

static void test_transactions_and_errors(void **state)
{
	(void)state;
	char *dir = tmpdir_new();
	char *path = db_path(dir);
	store_db *db = NULL;
	ocid_error *err = NULL;
	assert_int_equal(db_open_with(path, m3, 3, &db, &err), 0);

	/* a failing callback rolls back and its error comes out unchanged */
	assert_int_equal(db_write(db, insert_then_fail, NULL, &err), -1);
	assert_int_equal(err->code, GRPC_ABORTED);
	err_clear(&err);
	assert_int_equal(query_int(db, "SELECT count(*) FROM a"), 0);

	/* the callback's count comes back */
	assert_int_equal(db_write(db, insert_ok, (void *)"a", &err), 1);
	assert_int_equal(query_int(db, "SELECT count(*) FROM a"), 1);

	/* unique -> ALREADY_EXISTS */
	assert_int_equal(db_write(db, insert_ok, (void *)"a", &err), -1);
	assert_int_equal(err->code, GRPC_ALREADY_EXISTS);
	assert_non_null(strstr(err->msg, "UNIQUE"));
	err_clear(&err);

	/* foreign key -> FAILED_PRECONDITION */
	int64_t missing = 42;
	assert_int_equal(db_write(db, insert_b, &missing, &err), -1);
	assert_int_equal(err->code, GRPC_FAILED_PRECONDITION);
	err_clear(&err);

	/* nesting is refused instead of deadlocking */
	assert_int_equal(db_write(db, nested, NULL, &err), -1);
	assert_int_equal(err->code, GRPC_INTERNAL);
	assert_non_null(strstr(err->msg, "nested"));
	err_clear(&err);

	/* bad SQL names the statement */
	assert_int_equal(db_read(db, bad_sql, NULL, &err), -1);
	assert_non_null(strstr(err->msg, "SELECT nothing"));
	err_clear(&err);

	db_close(db);
	free(path);
	tmpdir_free(dir);
}

struct counter_arg {
	store_db *db;
	int n;
};

static int bump(store_db *db, void *ctx, ocid_error **err)
{
	(void)ctx;
	sqlite3_stmt *st = db_prepare(db, "SELECT v FROM a WHERE x = 1", err);
	if (st == NULL || db_step(db, st, err) != 1)
		return -1;
	int64_t v = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return db_exec(db, err, "UPDATE a SET w = w + 1, v = ? WHERE x = 1", "s", v == 0 ? "x" : "y") < 0 ? -1 : 0;
}

static void *counter_thread(void *p)
{
	struct counter_arg *a = p;
	for (int i = 0; i < a->n; i++) {
		ocid_error *err = NULL;
		if (db_write(a->db, bump, NULL, &err) < 0) {
			fprintf(stderr, "bump: %s\n", err->msg);
			err_free(err);
			return (void *)1;
		}
	}
	return NULL;
}

static void test_threads(void **state)
{
	(void)state;
	char *dir = tmpdir_new();
	char *path = db_path(dir);
	store_db *db = NULL;
	ocid_error *err = NULL;
	assert_int_equal(db_open_with(path, m3, 3, &db, &err), 0);
	assert_int_equal(db_exec_script(db, "INSERT INTO a (x, v, w) VALUES (1, 'start', 0)", &err), 0);
	pthread_t t[4];
	struct counter_arg a = { .db = db, .n = 200 };
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, counter_thread, &a), 0);
	for (int i = 0; i < 4; i++) {
		void *r;
		pthread_join(t[i], &r);
		assert_null(r);
	}
	assert_int_equal(query_int(db, "SELECT w FROM a WHERE x = 1"), 800);
	db_close(db);
	free(path);
	tmpdir_free(dir);
}

static void test_not_a_database(void **state)
{
	(void)state;
	char *dir = tmpdir_new();
	char *path = db_path(dir);
	ocid_error *err = NULL;
	char junk[4096];
	memset(junk, 'j', sizeof(junk));
	assert_int_equal(fs_write_atomic(path, junk, sizeof(junk), 0600, &err), 0);
	store_db *db = NULL;
	assert_int_equal(db_open(path, &db, &err), -1);
	assert_int_equal(err->code, GRPC_DATA_LOSS);
	err_free(err);
	free(path);
	tmpdir_free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_settings_and_schema),
		cmocka_unit_test(test_newer_schema_refused),
		cmocka_unit_test(test_migrations_append),
		cmocka_unit_test(test_transactions_and_errors),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_not_a_database),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
