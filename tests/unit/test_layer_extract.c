/* store/layer_extract: streaming, diff_id, fidelity, whiteouts, and every
 * escape refused. Runs as root (ownership, devices, trusted.* xattrs). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "store/layer_extract.h"
#include "test_store_util.h"

static const char *const filter_names[] = { "none", "gzip", "zstd" };

static int extract(const char *dir, const struct buf *data, size_t chunk, const struct layer_extract_opts *opts,
		   struct layer_extract_result *res, ocid_error **err)
{
	struct memsrc src = { .data = data->data, .len = data->len, .chunk = chunk };
	return layer_extract(dir, mem_read, &src, opts, res, err);
}

static char *join(const char *a, const char *b) { return xasprintf("%s/%s", a, b); }

static void assert_mode(const char *dir, const char *rel, mode_t type, mode_t perm, uid_t uid, gid_t gid)
{
	char *p = join(dir, rel);
	struct stat st;
	assert_int_equal(lstat(p, &st), 0);
	assert_int_equal(st.st_mode & S_IFMT, type);
	if (type != S_IFLNK)
		assert_int_equal(st.st_mode & 07777, perm);
	assert_int_equal(st.st_uid, uid);
	assert_int_equal(st.st_gid, gid);
	free(p);
}

/* ---- fidelity ---- */

static const char capability[] = { 0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00,
				   0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00 };

static const struct te fidelity_entries[] = {
	{ .path = "./", .type = AE_IFDIR, .perm = 0755, .mtime = 1500000000 },
	{ .path = "bin/", .type = AE_IFDIR, .perm = 0755, .mtime = 1500000001, .mtime_nsec = 123456789 },
	{ .path = "bin/busybox", .perm = 04755, .data = "#!busybox\n", .mtime = 1500000002, .mtime_nsec = 5000 },
	{ .path = "bin/sh", .type = AE_IFLNK, .symlink = "busybox", .uid = 7, .gid = 8 },
	{ .path = "bin/ash", .hardlink = "bin/busybox" },
	{ .path = "bin/ping", .perm = 0755, .data = "ping", .xname = "security.capability", .xvalue = capability,
	  .xlen = sizeof(capability), .xname2 = "user.comment", .xvalue2 = "hello", .xlen2 = 5 },
	{ .path = "home/user/", .type = AE_IFDIR, .perm = 0700, .uid = 1000, .gid = 1001 },
	{ .path = "home/user/file", .perm = 0640, .data = "data", .uid = 1000, .gid = 1001 },
	{ .path = "tmp/", .type = AE_IFDIR, .perm = 01777 },
	{ .path = "dev/null", .type = AE_IFCHR, .perm = 0666, .rmajor = 1, .rminor = 3 },
	{ .path = "dev/loop0", .type = AE_IFBLK, .perm = 0660, .rmajor = 7, .rminor = 0, .gid = 6 },
	{ .path = "run/fifo", .type = AE_IFIFO, .perm = 0600 },
	{ .path = "etc/abs", .type = AE_IFLNK, .symlink = "/etc/passwd" },
	{ .path = "implicit/parents/file", .data = "x" },
	{ .path = "sgid/", .type = AE_IFDIR, .perm = 02775, .gid = 50 },
	{ .path = "sgid/f", .data = "g", .gid = 0 },
	{ .path = NULL },
};

static void check_fidelity(const char *dir)
{
	assert_mode(dir, ".", S_IFDIR, 0755, 0, 0);
	assert_mode(dir, "bin/busybox", S_IFREG, 04755, 0, 0);
	assert_mode(dir, "bin/sh", S_IFLNK, 0, 7, 8);
	assert_mode(dir, "home/user", S_IFDIR, 0700, 1000, 1001);
	assert_mode(dir, "home/user/file", S_IFREG, 0640, 1000, 1001);
	assert_mode(dir, "tmp", S_IFDIR, 01777, 0, 0);
	assert_mode(dir, "dev/null", S_IFCHR, 0666, 0, 0);
	assert_mode(dir, "dev/loop0", S_IFBLK, 0660, 0, 6);
	assert_mode(dir, "run/fifo", S_IFIFO, 0600, 0, 0);
	assert_mode(dir, "implicit/parents", S_IFDIR, 0755, 0, 0);
	assert_mode(dir, "sgid", S_IFDIR, 02775, 0, 50);
	assert_mode(dir, "sgid/f", S_IFREG, 0644, 0, 0); /* not the setgid dir's group */

	char *p = join(dir, "bin/busybox");
	char *text = read_text(p);
	assert_string_equal(text, "#!busybox\n");
	free(text);
	struct stat st, st2;
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mtim.tv_sec, 1500000002);
	assert_int_equal(st.st_mtim.tv_nsec, 5000);
	assert_int_equal(st.st_nlink, 2);
	char *q = join(dir, "bin/ash");
	assert_int_equal(stat(q, &st2), 0);
	assert_int_equal(st.st_ino, st2.st_ino);
	free(q);
	free(p);

	p = join(dir, "bin");
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mtim.tv_sec, 1500000001); /* set after its entries */
	assert_int_equal(st.st_mtim.tv_nsec, 123456789);
	free(p);
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mtim.tv_sec, 1500000000);

	char target[64];
	p = join(dir, "bin/sh");
	ssize_t n = readlink(p, target, sizeof(target) - 1);
	assert_true(n > 0);
	target[n] = '\0';
	assert_string_equal(target, "busybox");
	free(p);
	p = join(dir, "etc/abs");
	n = readlink(p, target, sizeof(target) - 1);
	assert_true(n > 0);
	target[n] = '\0';
	assert_string_equal(target, "/etc/passwd");
	free(p);

	p = join(dir, "dev/null");
	assert_int_equal(lstat(p, &st), 0);
	assert_int_equal(major(st.st_rdev), 1);
	assert_int_equal(minor(st.st_rdev), 3);
	free(p);

	p = join(dir, "bin/ping");
	char val[64];
	n = getxattr(p, "security.capability", val, sizeof(val));
	assert_int_equal(n, sizeof(capability));
	assert_memory_equal(val, capability, sizeof(capability));
	n = getxattr(p, "user.comment", val, sizeof(val));
	assert_int_equal(n, 5);
	assert_memory_equal(val, "hello", 5);
	free(p);
}

static void test_fidelity_all_compressions(void **state)
{
	(void)state;
	struct buf tar = tar_build(fidelity_entries);
	char want_diff[DIGEST_MAX_LEN];
	digest_buffer(DIGEST_SHA256, tar.data, tar.len, want_diff);
	for (int f = TF_NONE; f <= TF_ZSTD; f++) {
		for (int explicit = 0; explicit < 2; explicit++) {
			struct buf blob = compress_buf(&tar, f);
			char want_digest[DIGEST_MAX_LEN];
			digest_buffer(DIGEST_SHA256, blob.data, blob.len, want_digest);
			char *root = tmpdir_new();
			char *dir = join(root, "diff");
			struct layer_extract_opts opts = {
				.compression = explicit ? (enum extract_compression)(EXTRACT_NONE + f) : EXTRACT_DETECT,
				.expect_digest = want_digest,
				.expect_size = (int64_t)blob.len,
				.expect_diff_id = want_diff,
			};
			struct layer_extract_result res;
			ocid_error *err = NULL;
			int rc = extract(dir, &blob, 1000, &opts, &res, &err);
			if (rc < 0)
				fail_msg("%s: %s", filter_names[f], err->msg);
			assert_string_equal(res.diff_id, want_diff);
			assert_string_equal(res.digest, want_digest);
			assert_int_equal(res.tar_size, tar.len);
			assert_int_equal(res.compressed_size, blob.len);
			assert_int_equal(res.entries, 16);
			assert_true(res.disk_inodes >= 16);
			assert_true(res.disk_bytes > 0);
			check_fidelity(dir);
			free(dir);
			tmpdir_free(root);
			free(blob.data);
		}
	}
	free(tar.data);
}

/* The diff_id covers the whole uncompressed stream, padding included. */
static void test_diff_id_includes_padding(void **state)
{
	(void)state;
	const struct te entries[] = { { .path = "a", .data = "a" }, { .path = NULL } };
	struct buf tar = tar_build_ex(entries, true);
	assert_int_equal(tar.len % 10240, 0);
	char want[DIGEST_MAX_LEN];
	digest_buffer(DIGEST_SHA256, tar.data, tar.len, want);
	struct buf gz = compress_buf(&tar, TF_GZIP);
	char *root = tmpdir_new();
	char *dir = join(root, "diff");
	struct layer_extract_result res;
	ocid_error *err = NULL;
	assert_int_equal(extract(dir, &gz, 0, NULL, &res, &err), 0);
	assert_string_equal(res.diff_id, want);
	assert_int_equal(res.tar_size, tar.len);
	free(dir);
	tmpdir_free(root);
	free(gz.data);
	free(tar.data);
}

/* ---- whiteouts ---- */

static void test_whiteouts(void **state)
{
	(void)state;
	const struct te entries[] = {
		{ .path = "etc/", .type = AE_IFDIR },
		{ .path = "etc/.wh.gone" },
		{ .path = ".wh.toplevel" },
		{ .path = "opaque/", .type = AE_IFDIR },
		{ .path = "opaque/.wh..wh..opq" },
		{ .path = "opaque/kept", .data = "k" },
		{ .path = "implicit/.wh..wh..opq" },
		{ .path = ".wh..wh.plnk", .type = AE_IFDIR },
		{ .path = "etc/present", .data = "p" },
		{ .path = "etc/.wh.present" }, /* a whiteout replaces what came before */
		{ .path = NULL },
	};
	struct buf tar = tar_build(entries);
	char *root = tmpdir_new();
	char *dir = join(root, "diff");
	struct layer_extract_result res;
	ocid_error *err = NULL;
	if (extract(dir, &tar, 0, NULL, &res, &err) < 0)
		fail_msg("%s", err->msg);
	const char *devs[] = { "etc/gone", "toplevel", "etc/present" };
	for (size_t i = 0; i < 3; i++) {
		char *p = join(dir, devs[i]);
		struct stat st;
		assert_int_equal(lstat(p, &st), 0);
		assert_true(S_ISCHR(st.st_mode));
		assert_int_equal(st.st_rdev, makedev(0, 0));
		free(p);
	}
	const char *opaque[] = { "opaque", "implicit" };
	for (size_t i = 0; i < 2; i++) {
		char *p = join(dir, opaque[i]);
		char v[4];
		assert_int_equal(getxattr(p, "trusted.overlay.opaque", v, sizeof(v)), 1);
		assert_int_equal(v[0], 'y');
		free(p);
	}
	char *p = join(dir, "etc");
	char v[4];
	assert_int_equal(getxattr(p, "trusted.overlay.opaque", v, sizeof(v)), -1);
	free(p);
	/* no ".wh." file anywhere */
	const char *never[] = { "etc/.wh.gone", ".wh.toplevel", "opaque/.wh..wh..opq", ".wh..wh.plnk",
				"implicit/.wh..wh..opq" };
	for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++) {
		p = join(dir, never[i]);
		assert_false(path_exists(p));
		free(p);
	}
	free(dir);
	tmpdir_free(root);
	free(tar.data);
}

/* ---- escapes ---- */

struct escape_case {
	const char *what;
	struct te entries[6];
	const char *needle;     /* expected in the error message */
	const char *outside[3]; /* paths (relative to the test root) that must not appear */
};

/* Entries that point at "<root>/outside" are filled in at run time. */
#define OUTSIDE "@OUTSIDE@"

static const struct escape_case escapes[] = {
	{ "dotdot", { { .path = "../x", .data = "pwned" } }, "\"..\" component", { "x" } },
	{ "dotdot inside", { { .path = "a/../../x", .data = "pwned" } }, "\"..\" component", { "x" } },
	{ "absolute", { { .path = "/abs", .data = "pwned" } }, "absolute path", { NULL } },
	{ "symlink to / then through it",
	  { { .path = "link", .type = AE_IFLNK, .symlink = "/" }, { .path = "link/etc/x", .data = "pwned" } },
	  "goes through symlink",
	  { NULL } },
	{ "symlink to outside then through it",
	  { { .path = "link", .type = AE_IFLNK, .symlink = OUTSIDE }, { .path = "link/pwned", .data = "pwned" } },
	  "goes through symlink",
	  { "outside/pwned" } },
	{ "relative symlink up then through it",
	  { { .path = "up", .type = AE_IFLNK, .symlink = ".." }, { .path = "up/x", .data = "pwned" } },
	  "goes through symlink",
	  { "x" } },
	{ "nested symlink chain",
	  { { .path = "d/", .type = AE_IFDIR },
	    { .path = "a", .type = AE_IFLNK, .symlink = "b" },
	    { .path = "b", .type = AE_IFLNK, .symlink = "d/c" },
	    { .path = "d/c", .type = AE_IFLNK, .symlink = "../../outside" },
	    { .path = "a/pwned", .data = "pwned" } },
	  "goes through symlink",
	  { "outside/pwned" } },
	{ "deep relative symlink",
	  { { .path = "d/l", .type = AE_IFLNK, .symlink = "../../.." }, { .path = "d/l/tmp/pwned", .data = "x" } },
	  "goes through symlink",
	  { NULL } },
	{ "symlink to a directory inside the layer",
	  { { .path = "real/", .type = AE_IFDIR },
	    { .path = "alias", .type = AE_IFLNK, .symlink = "real" },
	    { .path = "alias/x", .data = "x" } },
	  "goes through symlink",
	  { NULL } },
	{ "hardlink out of the layer", { { .path = "h", .hardlink = "../../etc/passwd" } }, "\"..\" component", { NULL } },
	{ "hardlink to an absolute path", { { .path = "h", .hardlink = "/etc/passwd" } }, "absolute path", { NULL } },
	{ "hardlink through a symlinked dir",
	  { { .path = "s", .type = AE_IFLNK, .symlink = "/etc" }, { .path = "h", .hardlink = "s/passwd" } },
	  "goes through symlink",
	  { NULL } },
	{ "hardlink through a relative symlinked dir",
	  { { .path = "s", .type = AE_IFLNK, .symlink = "../outside" }, { .path = "h", .hardlink = "s/secret" } },
	  "goes through symlink",
	  { NULL } },
	{ "hardlink to a missing file", { { .path = "h", .hardlink = "nothere" } }, "not in the layer", { NULL } },
	{ "hardlink to a directory",
	  { { .path = "d/", .type = AE_IFDIR }, { .path = "h", .hardlink = "d" } },
	  "target is a directory",
	  { NULL } },
	{ "whiteout as a directory", { { .path = ".wh.../x", .data = "x" } }, "whiteout name used as a directory",
	  { "x" } },
	{ "whiteout of dotdot", { { .path = "a/.wh..." } }, "whiteout of an invalid name", { NULL } },
	{ "whiteout of dot", { { .path = ".wh.." } }, "whiteout of an invalid name", { NULL } },
	{ "whiteout of nothing", { { .path = "a/.wh." } }, "whiteout of an invalid name", { NULL } },
	{ "file as a directory",
	  { { .path = "f", .data = "f" }, { .path = "f/x", .data = "x" } },
	  "is not a directory",
	  { NULL } },
	{ "root as a file", { { .path = ".", .data = "x" } }, "layer root", { NULL } },
};

static void run_escape(const struct escape_case *c, bool openat2)
{
	layer_extract_use_openat2(openat2);
	char *root = tmpdir_new();
	char *outside = join(root, "outside");
	assert_int_equal(mkdir(outside, 0755), 0);
	char *secret = join(outside, "secret");
	int fd = open(secret, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	char *dir = join(root, "layer");
	struct te entries[8];
	size_t n = 0;
	for (; c->entries[n].path; n++) {
		entries[n] = c->entries[n];
		if (entries[n].symlink && strcmp(entries[n].symlink, OUTSIDE) == 0)
			entries[n].symlink = outside;
	}
	entries[n] = (struct te){ .path = NULL };
	struct buf tar = tar_build(entries);
	for (int f = TF_NONE; f <= TF_GZIP; f++) {
		struct buf blob = compress_buf(&tar, f);
		struct layer_extract_result res;
		ocid_error *err = NULL;
		int rc = extract(dir, &blob, 0, NULL, &res, &err);
		if (rc == 0)
			fail_msg("%s (%s): extraction succeeded", c->what, openat2 ? "openat2" : "walk");
		assert_non_null(err);
		if (err->code != GRPC_INVALID_ARGUMENT || strstr(err->msg, c->needle) == NULL)
			fail_msg("%s: got %s: %s", c->what, grpc_code_name(err->code), err->msg);
		if (getenv("OCID_TEST_VERBOSE"))
			fprintf(stderr, "%s (%s): %s\n", c->what, openat2 ? "openat2" : "walk", err->msg);
		/* the message names the entry */
		assert_non_null(strstr(err->msg, "layer entry \""));
		assert_false(path_exists(dir));
		for (size_t i = 0; i < 3 && c->outside[i]; i++) {
			char *p = join(root, c->outside[i]);
			if (path_exists(p))
				fail_msg("%s: %s was written", c->what, p);
			free(p);
		}
		struct stat st;
		assert_int_equal(stat(secret, &st), 0);
		assert_int_equal(st.st_nlink, 1);
		err_free(err);
		free(blob.data);
	}
	assert_false(path_exists("/x"));
	free(tar.data);
	free(dir);
	free(secret);
	free(outside);
	tmpdir_free(root);
	layer_extract_use_openat2(true);
}

static void test_escapes_openat2(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(escapes) / sizeof(escapes[0]); i++)
		run_escape(&escapes[i], true);
}

static void test_escapes_walk(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(escapes) / sizeof(escapes[0]); i++)
		run_escape(&escapes[i], false);
}

static void test_name_limits(void **state)
{
	(void)state;
	char longcomp[300];
	memset(longcomp, 'a', sizeof(longcomp) - 1);
	longcomp[sizeof(longcomp) - 1] = '\0';
	char *longpath = xmalloc(5000);
	size_t o = 0;
	while (o < 4200) {
		memcpy(longpath + o, "abcdefghi/", 10);
		o += 10;
	}
	memcpy(longpath + o, "f", 2);
	const struct te e1[] = { { .path = longcomp, .data = "x" }, { .path = NULL } };
	const struct te e2[] = { { .path = longpath, .data = "x" }, { .path = NULL } };
	const struct te *cases[] = { e1, e2 };
	const char *needles[] = { "NAME_MAX", "PATH_MAX" };
	for (int i = 0; i < 2; i++) {
		struct buf tar = tar_build(cases[i]);
		char *root = tmpdir_new();
		char *dir = join(root, "diff");
		struct layer_extract_result res;
		ocid_error *err = NULL;
		assert_int_equal(extract(dir, &tar, 0, NULL, &res, &err), -1);
		assert_int_equal(err->code, GRPC_INVALID_ARGUMENT);
		assert_non_null(strstr(err->msg, needles[i]));
		assert_false(path_exists(dir));
		err_free(err);
		free(dir);
		tmpdir_free(root);
		free(tar.data);
	}
	free(longpath);
}

/* ---- corrupt and failing input ---- */

static const struct te small_entries[] = {
	{ .path = "dir/", .type = AE_IFDIR },
	{ .path = "dir/big", .data = "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz"
					 "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz" },
	{ .path = "dir/other", .data = "other" },
	{ .path = NULL },
};

static void expect_failure(const struct buf *blob, const struct layer_extract_opts *opts, enum grpc_code code,
			   const char *what)
{
	char *root = tmpdir_new();
	char *dir = join(root, "diff");
	struct layer_extract_result res;
	ocid_error *err = NULL;
	int rc = extract(dir, blob, 0, opts, &res, &err);
	if (rc == 0)
		fail_msg("%s: extraction succeeded", what);
	if (err->code != code)
		fail_msg("%s: got %s: %s", what, grpc_code_name(err->code), err->msg);
	if (getenv("OCID_TEST_VERBOSE"))
		fprintf(stderr, "%s: %s\n", what, err->msg);
	assert_false(path_exists(dir));
	err_free(err);
	free(dir);
	tmpdir_free(root);
}

static void test_truncated(void **state)
{
	(void)state;
	struct buf tar = tar_build(small_entries);
	for (int f = TF_NONE; f <= TF_ZSTD; f++) {
		struct buf blob = compress_buf(&tar, f);
		size_t cuts[] = { blob.len / 2, blob.len - (f == TF_NONE ? 600 : 4), 10 };
		for (size_t i = 0; i < 3; i++) {
			struct buf cut = { .data = blob.data, .len = cuts[i] };
			char what[64];
			snprintf(what, sizeof(what), "%s cut at %zu of %zu", filter_names[f], cuts[i], blob.len);
			expect_failure(&cut, NULL, GRPC_DATA_LOSS, what);
		}
		free(blob.data);
	}
	struct buf empty = { .data = tar.data, .len = 0 };
	expect_failure(&empty, NULL, GRPC_DATA_LOSS, "empty stream");
	free(tar.data);
}

static void test_corrupt_gzip(void **state)
{
	(void)state;
	struct buf tar = tar_build(small_entries);
	struct buf gz = compress_buf(&tar, TF_GZIP);
	/* damage the deflate data */
	for (size_t i = gz.len / 3; i < gz.len / 3 + 8; i++)
		gz.data[i] ^= 0x5a;
	expect_failure(&gz, NULL, GRPC_DATA_LOSS, "corrupt gzip");
	/* bad gzip header */
	struct buf gz2 = compress_buf(&tar, TF_GZIP);
	gz2.data[3] = (char)0xff; /* reserved flag bits */
	struct layer_extract_opts gzip_only = { .compression = EXTRACT_GZIP };
	expect_failure(&gz2, &gzip_only, GRPC_DATA_LOSS, "bad gzip header");
	free(gz.data);
	free(gz2.data);
	/* not a tar at all */
	struct buf junk = { .data = (char *)"this is not a tar archive, just some text that goes on for a while",
			    .len = 66 };
	expect_failure(&junk, NULL, GRPC_DATA_LOSS, "not a tar");
	free(tar.data);
}

static void test_expectations(void **state)
{
	(void)state;
	struct buf tar = tar_build(small_entries);
	struct buf zst = compress_buf(&tar, TF_ZSTD);
	char right[DIGEST_MAX_LEN];
	digest_buffer(DIGEST_SHA256, zst.data, zst.len, right);
	const char *wrong = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
	struct layer_extract_opts o1 = { .expect_diff_id = wrong };
	expect_failure(&zst, &o1, GRPC_DATA_LOSS, "wrong diff_id");
	struct layer_extract_opts o2 = { .expect_digest = wrong };
	expect_failure(&zst, &o2, GRPC_DATA_LOSS, "wrong digest");
	struct layer_extract_opts o3 = { .expect_digest = right, .expect_size = (int64_t)zst.len + 1 };
	expect_failure(&zst, &o3, GRPC_DATA_LOSS, "wrong size");
	struct layer_extract_opts o4 = { .compression = EXTRACT_GZIP };
	expect_failure(&zst, &o4, GRPC_DATA_LOSS, "zstd said to be gzip");
	struct layer_extract_opts o5 = { .compression = EXTRACT_NONE };
	expect_failure(&zst, &o5, GRPC_DATA_LOSS, "zstd said to be uncompressed");
	struct layer_extract_opts o6 = { .expect_digest = "sha256:nothex" };
	expect_failure(&zst, &o6, GRPC_INVALID_ARGUMENT, "invalid expected digest");
	/* sha512 blob digests are checked in their own algorithm */
	char right512[DIGEST_MAX_LEN];
	digest_buffer(DIGEST_SHA512, zst.data, zst.len, right512);
	char *root = tmpdir_new();
	char *dir = join(root, "diff");
	struct layer_extract_opts o7 = { .expect_digest = right512, .expect_size = (int64_t)zst.len };
	struct layer_extract_result res;
	ocid_error *err = NULL;
	assert_int_equal(extract(dir, &zst, 0, &o7, &res, &err), 0);
	assert_string_equal(res.digest, right512);
	free(dir);
	tmpdir_free(root);
	free(zst.data);
	free(tar.data);
}

static void test_source_error_passes_through(void **state)
{
	(void)state;
	struct buf tar = tar_build(small_entries);
	struct buf gz = compress_buf(&tar, TF_GZIP);
	char *root = tmpdir_new();
	char *dir = join(root, "diff");
	struct memsrc src = { .data = gz.data, .len = gz.len, .chunk = 16, .fail_at = gz.len / 2,
			      .fail_code = GRPC_DEADLINE_EXCEEDED };
	struct layer_extract_result res;
	ocid_error *err = NULL;
	assert_int_equal(layer_extract(dir, mem_read, &src, NULL, &res, &err), -1);
	assert_int_equal(err->code, GRPC_DEADLINE_EXCEEDED);
	assert_non_null(strstr(err->msg, "source failed on purpose"));
	assert_false(path_exists(dir));
	err_free(err);
	free(dir);
	tmpdir_free(root);
	free(gz.data);
	free(tar.data);
}

struct pipe_writer {
	int fd;
	struct buf *data;
};

static void *write_pipe(void *p)
{
	struct pipe_writer *w = p;
	size_t off = 0;
	while (off < w->data->len) {
		size_t n = w->data->len - off > 333 ? 333 : w->data->len - off;
		ssize_t r = write(w->fd, w->data->data + off, n);
		if (r <= 0)
			break;
		off += (size_t)r;
	}
	close(w->fd);
	return NULL;
}

static void test_from_pipe(void **state)
{
	(void)state;
	struct buf tar = tar_build(fidelity_entries);
	struct buf zst = compress_buf(&tar, TF_ZSTD);
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	struct pipe_writer w = { .fd = fds[1], .data = &zst };
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, write_pipe, &w), 0);
	char *root = tmpdir_new();
	char *dir = join(root, "diff");
	struct layer_extract_opts opts = { .compression = EXTRACT_ZSTD };
	struct layer_extract_result res;
	ocid_error *err = NULL;
	int rc = layer_extract_fd(dir, fds[0], &opts, &res, &err);
	pthread_join(t, NULL);
	close(fds[0]);
	if (rc < 0)
		fail_msg("%s", err->msg);
	check_fidelity(dir);
	char want[DIGEST_MAX_LEN];
	digest_buffer(DIGEST_SHA256, tar.data, tar.len, want);
	assert_string_equal(res.diff_id, want);
	free(dir);
	tmpdir_free(root);
	free(zst.data);
	free(tar.data);
}

/* Later entries replace earlier ones, as tar does. */
static void test_replacement(void **state)
{
	(void)state;
	const struct te entries[] = {
		{ .path = "x", .data = "file" },
		{ .path = "x/", .type = AE_IFDIR, .perm = 0711 },
		{ .path = "x/inner", .data = "inner" },
		{ .path = "y/", .type = AE_IFDIR },
		{ .path = "y/deep/deeper/f", .data = "f" },
		{ .path = "y", .type = AE_IFLNK, .symlink = "/etc" },
		{ .path = "z", .type = AE_IFLNK, .symlink = "/etc/shadow" },
		{ .path = "z", .data = "plain" },
		{ .path = "d/", .type = AE_IFDIR, .perm = 0700 },
		{ .path = "d/", .type = AE_IFDIR, .perm = 0750, .uid = 3 },
		{ .path = NULL },
	};
	struct buf tar = tar_build(entries);
	char *root = tmpdir_new();
	char *dir = join(root, "diff");
	struct layer_extract_result res;
	ocid_error *err = NULL;
	if (extract(dir, &tar, 0, NULL, &res, &err) < 0)
		fail_msg("%s", err->msg);
	assert_mode(dir, "x", S_IFDIR, 0711, 0, 0);
	assert_mode(dir, "x/inner", S_IFREG, 0644, 0, 0);
	assert_mode(dir, "y", S_IFLNK, 0, 0, 0);
	assert_mode(dir, "z", S_IFREG, 0644, 0, 0);
	assert_mode(dir, "d", S_IFDIR, 0750, 3, 0);
	char *p = join(dir, "z");
	char *text = read_text(p);
	assert_string_equal(text, "plain");
	free(text);
	free(p);
	free(dir);
	tmpdir_free(root);
	free(tar.data);
}

static void test_utf8_and_odd_names(void **state)
{
	(void)state;
	const struct te entries[] = {
		{ .path = "caf\xc3\xa9/na\xc3\xafve \xe2\x9c\x93.txt", .data = "utf8" },
		{ .path = "./with space/./and//slashes/", .type = AE_IFDIR },
		{ .path = "..dots", .data = "not a parent" },
		{ .path = "..", .type = AE_IFDIR }, /* refused below, in its own tar */
		{ .path = NULL },
	};
	struct te ok[4];
	memcpy(ok, entries, sizeof(ok));
	ok[3] = (struct te){ .path = NULL };
	/* written in a UTF-8 locale (pax stores UTF-8 names), read in "C" as
	 * the daemon runs */
	assert_non_null(setlocale(LC_CTYPE, "C.UTF-8"));
	struct buf tar = tar_build(ok);
	setlocale(LC_CTYPE, "C");
	char *root = tmpdir_new();
	char *dir = join(root, "diff");
	struct layer_extract_result res;
	ocid_error *err = NULL;
	if (extract(dir, &tar, 0, NULL, &res, &err) < 0)
		fail_msg("%s", err->msg);
	char *p = join(dir, "caf\xc3\xa9/na\xc3\xafve \xe2\x9c\x93.txt");
	assert_true(path_exists(p));
	free(p);
	p = join(dir, "with space/and/slashes");
	assert_true(path_exists(p));
	free(p);
	p = join(dir, "..dots");
	assert_true(path_exists(p));
	free(p);
	free(dir);
	tmpdir_free(root);
	free(tar.data);
}

static void test_existing_dir_refused(void **state)
{
	(void)state;
	struct buf tar = tar_build(small_entries);
	char *root = tmpdir_new();
	char *dir = join(root, "diff");
	assert_int_equal(mkdir(dir, 0755), 0);
	struct layer_extract_result res;
	ocid_error *err = NULL;
	assert_int_equal(extract(dir, &tar, 0, NULL, &res, &err), -1);
	assert_int_equal(err->code, GRPC_ALREADY_EXISTS);
	assert_true(path_exists(dir)); /* not ours: left alone */
	err_free(err);
	free(dir);
	tmpdir_free(root);
	free(tar.data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fidelity_all_compressions),
		cmocka_unit_test(test_diff_id_includes_padding),
		cmocka_unit_test(test_whiteouts),
		cmocka_unit_test(test_escapes_openat2),
		cmocka_unit_test(test_escapes_walk),
		cmocka_unit_test(test_name_limits),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_corrupt_gzip),
		cmocka_unit_test(test_expectations),
		cmocka_unit_test(test_source_error_passes_through),
		cmocka_unit_test(test_from_pipe),
		cmocka_unit_test(test_replacement),
		cmocka_unit_test(test_utf8_and_odd_names),
		cmocka_unit_test(test_existing_dir_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
