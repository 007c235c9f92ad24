/* store/blobs and the atomic-write / remove helpers of util/fs it rests on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "store/blobs.h"
#include "test_store_util.h"

static const char manifest[] = "{\"schemaVersion\":2,\"layers\":[]}";

static size_t count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static void test_write_read_remove(void **state)
{
	(void)state;
	char *root = tmpdir_new();
	blob_store *bs = NULL;
	ocid_error *err = NULL;
	assert_int_equal(blob_store_open(root, &bs, &err), 0);
	char dg[DIGEST_MAX_LEN];
	digest_buffer(DIGEST_SHA256, manifest, strlen(manifest), dg);
	assert_false(blob_exists(bs, dg));
	assert_int_equal(blob_write(bs, dg, manifest, strlen(manifest), &err), 0);
	assert_true(blob_exists(bs, dg));
	/* idempotent */
	assert_int_equal(blob_write(bs, dg, manifest, strlen(manifest), &err), 0);

	char *path = blob_path(bs, dg, &err);
	char *want = xasprintf("%s/blobs/sha256/%s", root, digest_hex(dg));
	assert_string_equal(path, want);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	free(want);

	char *data = NULL;
	size_t len = 0;
	assert_int_equal(blob_read(bs, dg, 1 << 20, &data, &len, &err), 0);
	assert_int_equal(len, strlen(manifest));
	assert_string_equal(data, manifest); /* NUL-terminated */
	free(data);

	assert_int_equal(blob_read(bs, dg, 4, &data, &len, &err), -1);
	assert_int_equal(err->code, GRPC_RESOURCE_EXHAUSTED);
	err_clear(&err);

	char **list = NULL;
	size_t n = 0;
	assert_int_equal(blob_list(bs, &list, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(list[0], dg);
	free(list[0]);
	free(list);

	assert_int_equal(blob_remove(bs, dg, &err), 0);
	assert_false(blob_exists(bs, dg));
	assert_int_equal(blob_remove(bs, dg, &err), 0); /* missing is fine */
	assert_int_equal(blob_read(bs, dg, 1 << 20, &data, &len, &err), -1);
	assert_int_equal(err->code, GRPC_NOT_FOUND);
	err_clear(&err);
	free(path);
	blob_store_free(bs);
	tmpdir_free(root);
}

static void test_wrong_digest_refused(void **state)
{
	(void)state;
	char *root = tmpdir_new();
	blob_store *bs = NULL;
	ocid_error *err = NULL;
	assert_int_equal(blob_store_open(root, &bs, &err), 0);
	char dg[DIGEST_MAX_LEN];
	digest_buffer(DIGEST_SHA256, "other", 5, dg);
	assert_int_equal(blob_write(bs, dg, manifest, strlen(manifest), &err), -1);
	assert_int_equal(err->code, GRPC_DATA_LOSS);
	err_clear(&err);
	assert_false(blob_exists(bs, dg));
	assert_int_equal(blob_write(bs, "sha256:short", manifest, 3, &err), -1);
	assert_int_equal(err->code, GRPC_INVALID_ARGUMENT);
	err_clear(&err);
	assert_null(blob_path(bs, "md5:abcd", &err));
	err_clear(&err);
	char *dir = xasprintf("%s/blobs/sha256", root);
	assert_int_equal(count_entries(dir), 0);
	free(dir);
	blob_store_free(bs);
	tmpdir_free(root);
}

static void test_stream_writer(void **state)
{
	(void)state;
	char *root = tmpdir_new();
	blob_store *bs = NULL;
	ocid_error *err = NULL;
	assert_int_equal(blob_store_open(root, &bs, &err), 0);
	size_t len = 300000;
	char *big = xmalloc(len);
	for (size_t i = 0; i < len; i++)
		big[i] = (char)(i * 7 + i / 1000);
	char dg[DIGEST_MAX_LEN], dg512[DIGEST_MAX_LEN];
	digest_buffer(DIGEST_SHA256, big, len, dg);
	digest_buffer(DIGEST_SHA512, big, len, dg512);
	char *dir = xasprintf("%s/blobs/sha256", root);

	/* in pieces, then committed */
	struct blob_writer *w = NULL;
	assert_int_equal(blob_writer_begin(bs, dg, (int64_t)len, &w, &err), 0);
	assert_false(blob_exists(bs, dg)); /* nothing visible before commit */
	for (size_t off = 0; off < len; off += 7777)
		assert_int_equal(blob_writer_write(w, big + off, len - off < 7777 ? len - off : 7777, &err), 0);
	assert_int_equal(blob_writer_commit(w, &err), 0);
	assert_true(blob_exists(bs, dg));
	assert_int_equal(count_entries(dir), 1);
	assert_int_equal(blob_remove(bs, dg, &err), 0);

	/* more than announced */
	assert_int_equal(blob_writer_begin(bs, dg, 10, &w, &err), 0);
	assert_int_equal(blob_writer_write(w, big, 11, &err), -1);
	assert_int_equal(err->code, GRPC_DATA_LOSS);
	err_clear(&err);
	blob_writer_abort(w);

	/* fewer than announced */
	assert_int_equal(blob_writer_begin(bs, dg, (int64_t)len, &w, &err), 0);
	assert_int_equal(blob_writer_write(w, big, len - 1, &err), 0);
	assert_int_equal(blob_writer_commit(w, &err), -1);
	assert_int_equal(err->code, GRPC_DATA_LOSS);
	err_clear(&err);

	/* a flipped byte */
	big[1000] ^= 1;
	struct memsrc src = { .data = big, .len = len, .chunk = 4096 };
	assert_int_equal(blob_write_from(bs, dg, -1, mem_read, &src, &err), -1);
	assert_int_equal(err->code, GRPC_DATA_LOSS);
	assert_non_null(strstr(err->msg, "content has digest"));
	err_clear(&err);
	big[1000] ^= 1;
	assert_false(blob_exists(bs, dg));
	assert_int_equal(count_entries(dir), 0); /* no temporaries left */

	/* a failing source */
	struct memsrc bad = { .data = big, .len = len, .fail_at = 5000, .fail_code = GRPC_UNAVAILABLE };
	assert_int_equal(blob_write_from(bs, dg, (int64_t)len, mem_read, &bad, &err), -1);
	assert_int_equal(err->code, GRPC_UNAVAILABLE);
	err_clear(&err);
	assert_int_equal(count_entries(dir), 0);

	/* sha512 */
	struct memsrc ok = { .data = big, .len = len, .chunk = 65536 };
	assert_int_equal(blob_write_from(bs, dg512, (int64_t)len, mem_read, &ok, &err), 0);
	assert_true(blob_exists(bs, dg512));
	char *data;
	size_t got;
	assert_int_equal(blob_read(bs, dg512, len, &data, &got, &err), 0);
	assert_int_equal(got, len);
	assert_memory_equal(data, big, len);
	free(data);

	free(dir);
	free(big);
	blob_store_free(bs);
	tmpdir_free(root);
}

static void test_corruption_on_disk_detected(void **state)
{
	(void)state;
	char *root = tmpdir_new();
	blob_store *bs = NULL;
	ocid_error *err = NULL;
	assert_int_equal(blob_store_open(root, &bs, &err), 0);
	char dg[DIGEST_MAX_LEN];
	digest_buffer(DIGEST_SHA256, manifest, strlen(manifest), dg);
	assert_int_equal(blob_write(bs, dg, manifest, strlen(manifest), &err), 0);
	char *path = blob_path(bs, dg, &err);
	int fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "X", 1, 3), 1);
	close(fd);
	char *data;
	size_t len;
	assert_int_equal(blob_read(bs, dg, 1 << 20, &data, &len, &err), -1);
	assert_int_equal(err->code, GRPC_DATA_LOSS);
	err_clear(&err);
	free(path);
	blob_store_free(bs);
	tmpdir_free(root);
}

static void test_stale_temporaries_removed(void **state)
{
	(void)state;
	char *root = tmpdir_new();
	blob_store *bs = NULL;
	ocid_error *err = NULL;
	assert_int_equal(blob_store_open(root, &bs, &err), 0);
	blob_store_free(bs);
	char *stale = xasprintf("%s/blobs/sha256/.abcdef.tmp-Q1w2E3", root);
	int fd = open(stale, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(blob_store_open(root, &bs, &err), 0);
	assert_false(path_exists(stale));
	free(stale);
	blob_store_free(bs);
	tmpdir_free(root);
}

static void test_fs_write_atomic(void **state)
{
	(void)state;
	char *root = tmpdir_new();
	char *path = xasprintf("%s/file", root);
	ocid_error *err = NULL;
	assert_int_equal(fs_write_atomic(path, "one", 3, 0640, &err), 0);
	char *t = read_text(path);
	assert_string_equal(t, "one");
	free(t);
	assert_int_equal(fs_write_atomic(path, "second", 6, 0600, &err), 0);
	t = read_text(path);
	assert_string_equal(t, "second");
	free(t);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(count_entries(root), 1);
	char *nodir = xasprintf("%s/missing/file", root);
	assert_int_equal(fs_write_atomic(nodir, "x", 1, 0600, &err), -1);
	err_clear(&err);
	free(nodir);
	free(path);
	tmpdir_free(root);
}

/* Deeper than the descriptor limit, with symlinks that must not be followed. */
static void test_fs_remove_all(void **state)
{
	(void)state;
	char *root = tmpdir_new();
	char *keep = xasprintf("%s/keep", root);
	assert_int_equal(mkdir(keep, 0755), 0);
	char *kept_file = xasprintf("%s/precious", keep);
	int fd = open(kept_file, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	char *victim = xasprintf("%s/victim", root);
	assert_int_equal(mkdir(victim, 0755), 0);
	int dfd = open(victim, O_RDONLY | O_DIRECTORY);
	assert_true(dfd >= 0);
	/* a low descriptor limit, so that a deeper tree than it would fail
	 * with one descriptor per level */
	struct rlimit rl, low;
	getrlimit(RLIMIT_NOFILE, &rl);
	low = rl;
	low.rlim_cur = 64;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	int depth = 300;
	for (int i = 0; i < depth; i++) {
		assert_int_equal(mkdirat(dfd, "d", 0755), 0);
		int f = openat(dfd, "f", O_CREAT | O_WRONLY, 0600);
		close(f);
		if (i % 100 == 0) {
			assert_int_equal(symlinkat(keep, dfd, "link"), 0);
			assert_int_equal(mknodat(dfd, "fifo", S_IFIFO | 0600, 0), 0);
		}
		int nd = openat(dfd, "d", O_RDONLY | O_DIRECTORY);
		close(dfd);
		dfd = nd;
	}
	close(dfd);
	ocid_error *err = NULL;
	int rc = fs_remove_all(victim, &err);
	setrlimit(RLIMIT_NOFILE, &rl);
	if (rc < 0)
		fail_msg("%s", err->msg);
	assert_false(path_exists(victim));
	assert_true(path_exists(kept_file));
	assert_int_equal(fs_remove_all(victim, &err), 0); /* missing is fine */
	/* a symlink is removed, not its target */
	char *link = xasprintf("%s/link", root);
	assert_int_equal(symlink(keep, link), 0);
	assert_int_equal(fs_remove_all(link, &err), 0);
	assert_false(path_exists(link));
	assert_true(path_exists(kept_file));
	free(link);
	free(victim);
	free(kept_file);
	free(keep);
	tmpdir_free(root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_write_read_remove),
		cmocka_unit_test(test_wrong_digest_refused),
		cmocka_unit_test(test_stream_writer),
		cmocka_unit_test(test_corruption_on_disk_detected),
		cmocka_unit_test(test_stale_temporaries_removed),
		cmocka_unit_test(test_fs_write_atomic),
		cmocka_unit_test(test_fs_remove_all),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
