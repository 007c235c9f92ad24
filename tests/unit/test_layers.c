/* store/layers: chain ids, sharing, leases, concurrent acquire, removal,
 * disk usage. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "store/images.h"
#include "store/layers.h"
#include "test_store_util.h"

struct env {
	char *root;
	store_db *db;
	layer_store *ls;
	image_store *is;
};

static struct env env_open(void)
{
	struct env e = { .root = tmpdir_new() };
	ocid_error *err = NULL;
	char *path = xasprintf("%s/ocid.db", e.root);
	struct layer_store_opts opts = { .no_sync = true };
	if (db_open(path, &e.db, &err) < 0 || layer_store_open(e.db, e.root, &opts, &e.ls, &err) < 0 ||
	    image_store_new(e.db, &e.is, &err) < 0)
		fail_msg("%s", err->msg);
	free(path);
	return e;
}

static void env_close(struct env *e)
{
	image_store_free(e->is);
	layer_store_free(e->ls);
	db_close(e->db);
	tmpdir_free(e->root);
}

/* A layer to fill from: a gzip'd tar and its diff_id. */
struct layer_src {
	struct buf blob;
	char diff_id[DIGEST_MAX_LEN];
	atomic_int fills;
	int sleep_ms;
	atomic_int fail_first; /* fail this many fills */
};

static void layer_src_init(struct layer_src *s, const char *name, const char *content)
{
	const struct te entries[] = { { .path = "dir/", .type = AE_IFDIR }, { .path = name, .data = content },
				      { .path = NULL } };
	struct buf tar = tar_build(entries);
	digest_buffer(DIGEST_SHA256, tar.data, tar.len, s->diff_id);
	s->blob = compress_buf(&tar, TF_GZIP);
	free(tar.data);
	atomic_init(&s->fills, 0);
	atomic_init(&s->fail_first, 0);
	s->sleep_ms = 0;
}

static int fill_cb(void *ctx, const char *diff_dir, struct layer_extract_result *res, ocid_error **err)
{
	struct layer_src *s = ctx;
	atomic_fetch_add(&s->fills, 1);
	if (s->sleep_ms) {
		struct timespec ts = { .tv_sec = s->sleep_ms / 1000, .tv_nsec = (s->sleep_ms % 1000) * 1000000L };
		nanosleep(&ts, NULL);
	}
	if (atomic_load(&s->fail_first) > 0) {
		atomic_fetch_sub(&s->fail_first, 1);
		return err_set(err, GRPC_UNAVAILABLE, "registry went away");
	}
	struct memsrc src = { .data = s->blob.data, .len = s->blob.len, .chunk = 512 };
	return layer_extract(diff_dir, mem_read, &src, NULL, res, err);
}

static void test_chain_ids(void **state)
{
	(void)state;
	const char *d0 = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
	const char *d1 = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
	char c0[DIGEST_MAX_LEN], c1[DIGEST_MAX_LEN], want[DIGEST_MAX_LEN];
	layer_chain_id(NULL, d0, c0);
	assert_string_equal(c0, d0);
	layer_chain_id(c0, d1, c1);
	char *s = xasprintf("%s %s", d0, d1);
	digest_buffer(DIGEST_SHA256, s, strlen(s), want);
	assert_string_equal(c1, want);
	free(s);
}

static void test_acquire_shares(void **state)
{
	(void)state;
	struct env e = env_open();
	struct layer_src base, top;
	layer_src_init(&base, "dir/base", "base");
	layer_src_init(&top, "dir/top", "top");
	ocid_error *err = NULL;
	char c0[DIGEST_MAX_LEN], c1[DIGEST_MAX_LEN], again[DIGEST_MAX_LEN];
	bool filled = false;
	struct layer_request r0 = { .diff_id = base.diff_id, .fill = fill_cb, .ctx = &base };
	if (layer_store_acquire(e.ls, &r0, c0, &filled, &err) < 0)
		fail_msg("%s", err->msg);
	assert_true(filled);
	assert_string_equal(c0, base.diff_id);
	struct layer_request r1 = { .parent = c0, .diff_id = top.diff_id, .fill = fill_cb, .ctx = &top };
	assert_int_equal(layer_store_acquire(e.ls, &r1, c1, &filled, &err), 0);
	assert_true(filled);
	/* a second image with the same chain: nothing unpacked again */
	assert_int_equal(layer_store_acquire(e.ls, &r0, again, &filled, &err), 0);
	assert_false(filled);
	assert_string_equal(again, c0);
	assert_int_equal(atomic_load(&base.fills), 1);
	/* the same diff on another base is another layer */
	struct layer_request r2 = { .diff_id = top.diff_id, .fill = fill_cb, .ctx = &top };
	char alone[DIGEST_MAX_LEN];
	assert_int_equal(layer_store_acquire(e.ls, &r2, alone, &filled, &err), 0);
	assert_true(filled);
	assert_string_not_equal(alone, c1);

	char *diff = layer_store_diff_dir(e.ls, c1);
	char *f = xasprintf("%s/dir/top", diff);
	char *t = read_text(f);
	assert_string_equal(t, "top");
	free(t);
	free(f);
	free(diff);

	struct layer_info *li = NULL;
	assert_int_equal(layer_store_get(e.ls, c1, &li, &err), 0);
	assert_non_null(li);
	assert_string_equal(li->parent, c0);
	assert_string_equal(li->diff_id, top.diff_id);
	assert_true(li->disk_inodes >= 3);
	layer_info_free(li);

	char **dirs;
	size_t n;
	assert_int_equal(layer_store_lower_dirs(e.ls, c1, &dirs, &n, &err), 0);
	assert_int_equal(n, 2);
	char *want0 = layer_store_diff_dir(e.ls, c1), *want1 = layer_store_diff_dir(e.ls, c0);
	assert_string_equal(dirs[0], want0);
	assert_string_equal(dirs[1], want1);
	free(want0);
	free(want1);
	for (size_t i = 0; i < n; i++)
		free(dirs[i]);
	free(dirs);

	/* compressed digests seen are recorded */
	char dg[DIGEST_MAX_LEN];
	digest_buffer(DIGEST_SHA256, top.blob.data, top.blob.len, dg);
	sqlite3 *raw = db_handle(e.db);
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(raw, "SELECT count(*) FROM layer_digests WHERE digest = ?", -1, &st, NULL),
			 SQLITE_OK);
	sqlite3_bind_text(st, 1, dg, -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 2);
	sqlite3_finalize(st);

	free(base.blob.data);
	free(top.blob.data);
	env_close(&e);
}

static void test_wrong_diff_id(void **state)
{
	(void)state;
	struct env e = env_open();
	struct layer_src s;
	layer_src_init(&s, "dir/x", "x");
	const char *wrong = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
	struct layer_request r = { .diff_id = wrong, .fill = fill_cb, .ctx = &s };
	char id[DIGEST_MAX_LEN];
	ocid_error *err = NULL;
	assert_int_equal(layer_store_acquire(e.ls, &r, id, NULL, &err), -1);
	assert_int_equal(err->code, GRPC_DATA_LOSS);
	assert_non_null(strstr(err->msg, s.diff_id));
	err_clear(&err);
	char *dir = xasprintf("%s/overlay/%s", e.root, digest_hex(wrong));
	assert_false(path_exists(dir));
	free(dir);
	struct layer_info *li = NULL;
	assert_int_equal(layer_store_get(e.ls, wrong, &li, &err), 0);
	assert_null(li);
	/* sha512 diff_ids are not supported */
	char d512[DIGEST_MAX_LEN];
	digest_buffer(DIGEST_SHA512, "x", 1, d512);
	struct layer_request r512 = { .diff_id = d512, .fill = fill_cb, .ctx = &s };
	assert_int_equal(layer_store_acquire(e.ls, &r512, id, NULL, &err), -1);
	assert_int_equal(err->code, GRPC_UNIMPLEMENTED);
	err_clear(&err);
	free(s.blob.data);
	env_close(&e);
}

struct worker {
	struct env *e;
	struct layer_src *src;
	char id[DIGEST_MAX_LEN];
	bool filled;
	int rc;
	char *msg;
};

static void *acquire_thread(void *p)
{
	struct worker *w = p;
	struct layer_request r = { .diff_id = w->src->diff_id, .fill = fill_cb, .ctx = w->src };
	ocid_error *err = NULL;
	w->rc = layer_store_acquire(w->e->ls, &r, w->id, &w->filled, &err);
	if (err) {
		w->msg = xstrdup(err->msg);
		err_free(err);
	}
	return NULL;
}

static void run_concurrent(int fail_first, int want_fills)
{
	struct env e = env_open();
	struct layer_src s;
	layer_src_init(&s, "dir/shared", "shared");
	s.sleep_ms = 150;
	atomic_store(&s.fail_first, fail_first);
	enum { N = 8 };
	struct worker w[N];
	pthread_t t[N];
	for (int i = 0; i < N; i++) {
		w[i] = (struct worker){ .e = &e, .src = &s };
		assert_int_equal(pthread_create(&t[i], NULL, acquire_thread, &w[i]), 0);
	}
	int ok = 0, filled = 0;
	for (int i = 0; i < N; i++) {
		pthread_join(t[i], NULL);
		if (w[i].rc == 0) {
			ok++;
			assert_string_equal(w[i].id, s.diff_id);
		} else {
			assert_non_null(strstr(w[i].msg, "registry went away"));
		}
		filled += w[i].filled;
		free(w[i].msg);
	}
	assert_int_equal(atomic_load(&s.fills), want_fills);
	assert_int_equal(ok, N - fail_first);
	assert_int_equal(filled, 1);
	/* leases: one per successful acquire; removal waits for all of them */
	char *ids[1] = { s.diff_id };
	size_t removed;
	ocid_error *err = NULL;
	for (int i = 0; i < ok; i++) {
		assert_int_equal(layer_store_remove_unused(e.ls, ids, 1, &removed, &err), 0);
		assert_int_equal(removed, 0);
		layer_store_release(e.ls, s.diff_id);
	}
	assert_int_equal(layer_store_remove_unused(e.ls, ids, 1, &removed, &err), 0);
	assert_int_equal(removed, 1);
	free(s.blob.data);
	env_close(&e);
}

/* Eight pulls of one layer at once unpack it once. */
static void test_concurrent_acquire_fills_once(void **state)
{
	(void)state;
	run_concurrent(0, 1);
}

/* If the one filling fails, a waiter takes over (and gets its own error
 * only if it fails too). */
static void test_concurrent_acquire_leader_fails(void **state)
{
	(void)state;
	run_concurrent(1, 2);
}

struct cancel_ctx {
	struct layer_src *src;
	atomic_int *stop;
};

static bool is_cancelled(void *p) { return atomic_load(((struct cancel_ctx *)p)->stop) != 0; }

static int fill_via(void *p, const char *dir, struct layer_extract_result *res, ocid_error **err)
{
	return fill_cb(((struct cancel_ctx *)p)->src, dir, res, err);
}

struct cancel_worker {
	struct env *e;
	struct cancel_ctx *cc;
	int rc;
	enum grpc_code code;
};

static void *cancel_thread(void *p)
{
	struct cancel_worker *w = p;
	struct layer_request r = { .diff_id = w->cc->src->diff_id, .fill = fill_via, .ctx = w->cc,
				   .cancelled = is_cancelled };
	char id[DIGEST_MAX_LEN];
	ocid_error *err = NULL;
	w->rc = layer_store_acquire(w->e->ls, &r, id, NULL, &err);
	w->code = err ? err->code : GRPC_OK;
	err_free(err);
	return NULL;
}

static void test_waiter_cancelled(void **state)
{
	(void)state;
	struct env e = env_open();
	struct layer_src s;
	layer_src_init(&s, "dir/slow", "slow");
	s.sleep_ms = 800;
	atomic_int no = 0, yes = 0;
	struct cancel_ctx leader_cc = { .src = &s, .stop = &no }, waiter_cc = { .src = &s, .stop = &yes };
	struct cancel_worker leader = { .e = &e, .cc = &leader_cc }, waiter = { .e = &e, .cc = &waiter_cc };
	pthread_t t1, t2;
	assert_int_equal(pthread_create(&t1, NULL, cancel_thread, &leader), 0);
	struct timespec ts = { .tv_nsec = 200 * 1000000L };
	nanosleep(&ts, NULL);
	assert_int_equal(pthread_create(&t2, NULL, cancel_thread, &waiter), 0);
	nanosleep(&ts, NULL);
	atomic_store(&yes, 1);
	pthread_join(t2, NULL);
	assert_int_equal(waiter.rc, -1);
	assert_int_equal(waiter.code, GRPC_CANCELLED);
	pthread_join(t1, NULL);
	assert_int_equal(leader.rc, 0);
	assert_int_equal(atomic_load(&s.fills), 1);
	layer_store_release(e.ls, s.diff_id);
	free(s.blob.data);
	env_close(&e);
}

static void test_remove_unused_and_usage(void **state)
{
	(void)state;
	struct env e = env_open();
	struct layer_src a, b;
	layer_src_init(&a, "dir/a", "aaaa");
	layer_src_init(&b, "dir/b", "bbbb");
	ocid_error *err = NULL;
	char ca[DIGEST_MAX_LEN], cb[DIGEST_MAX_LEN];
	struct layer_request ra = { .diff_id = a.diff_id, .fill = fill_cb, .ctx = &a };
	struct layer_request rb = { .diff_id = b.diff_id, .fill = fill_cb, .ctx = &b };
	assert_int_equal(layer_store_acquire(e.ls, &ra, ca, NULL, &err), 0);
	assert_int_equal(layer_store_acquire(e.ls, &rb, cb, NULL, &err), 0);
	uint64_t bytes, inodes, bytes2, inodes2;
	assert_int_equal(layer_store_usage(e.ls, &bytes, &inodes, &err), 0);
	assert_true(bytes > 0);
	assert_true(inodes >= 6);

	/* an image uses a */
	const char *layers[] = { ca };
	struct image_put p = { .id = "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc",
			       .manifest_digest = "sha256:dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd",
			       .config = "{}",
			       .size = 1,
			       .layers = layers,
			       .n_layers = 1 };
	if (images_put(e.is, &p, &err) < 0)
		fail_msg("%s", err->msg);
	layer_store_release(e.ls, ca);
	layer_store_release(e.ls, cb);
	char *ids[] = { ca, cb, (char *)"sha256:eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee",
			(char *)"garbage" };
	size_t removed;
	assert_int_equal(layer_store_remove_unused(e.ls, ids, 4, &removed, &err), 0);
	assert_int_equal(removed, 1);
	char *da = layer_store_diff_dir(e.ls, ca), *db = layer_store_diff_dir(e.ls, cb);
	assert_true(path_exists(da));
	assert_false(path_exists(db));
	assert_int_equal(layer_store_usage(e.ls, &bytes2, &inodes2, &err), 0);
	assert_true(bytes2 < bytes);
	assert_true(inodes2 < inodes);
	/* nothing renamed aside is left behind */
	char *overlay = xasprintf("%s/overlay", e.root);
	DIR *d = opendir(overlay);
	struct dirent *de;
	int entries = 0;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			entries++;
		else
			assert_true(strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0);
	closedir(d);
	assert_int_equal(entries, 1);
	free(overlay);
	free(da);
	free(db);
	free(a.blob.data);
	free(b.blob.data);
	env_close(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chain_ids),
		cmocka_unit_test(test_acquire_shares),
		cmocka_unit_test(test_wrong_diff_id),
		cmocka_unit_test(test_concurrent_acquire_fills_once),
		cmocka_unit_test(test_concurrent_acquire_leader_fails),
		cmocka_unit_test(test_waiter_cancelled),
		cmocka_unit_test(test_remove_unused_and_usage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
