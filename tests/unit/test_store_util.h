/* Helpers shared by the store tests: temporary directories, tars built with
 * libarchive's write API, compression, and in-memory sources. */
#ifndef OCID_TEST_STORE_UTIL_H
#define OCID_TEST_STORE_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store/archive_lazy.h"
#include "util/digest.h"
#include "util/err.h"
#include "util/fs.h"
#include "util/xalloc.h"

static inline char *tmpdir_new(void)
{
	char *t = xstrdup("/tmp/ocid-store-test-XXXXXX");
	if (mkdtemp(t) == NULL) {
		perror("mkdtemp");
		abort();
	}
	return t;
}

static inline void tmpdir_free(char *dir)
{
	ocid_error *err = NULL;
	if (dir && fs_remove_all(dir, &err) < 0) {
		fprintf(stderr, "cleanup %s: %s\n", dir, err->msg);
		err_free(err);
	}
	free(dir);
}

/* ---- growing buffer ---- */

struct buf {
	char *data;
	size_t len, cap;
};

static inline void buf_append(struct buf *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2 + 64;
		b->data = xrealloc(b->data, b->cap);
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

static inline la_ssize_t buf_write_cb(struct archive *a, void *p, const void *data, size_t n)
{
	(void)a;
	buf_append(p, data, n);
	return (la_ssize_t)n;
}

/* ---- tar building ---- */

enum tfilter { TF_NONE, TF_GZIP, TF_ZSTD };

/* One tar entry. type 0 means a regular file. */
struct te {
	const char *path;
	unsigned type;
	unsigned perm;
	const char *data;
	const char *symlink;
	const char *hardlink;
	int64_t uid, gid;
	int64_t mtime;
	long mtime_nsec;
	unsigned rmajor, rminor;
	const char *xname;
	const void *xvalue;
	size_t xlen;
	const char *xname2;
	const void *xvalue2;
	size_t xlen2;
};

/* Loads libarchive (as the daemon does, on first use) or aborts. */
static inline void archive_load_or_abort(void)
{
	ocid_error *err = NULL;
	if (archive_lazy_load(&err) < 0) {
		fprintf(stderr, "%s\n", err->msg);
		abort();
	}
}

static inline void add_filter(struct archive *a, enum tfilter f)
{
	if (f == TF_GZIP && archive_write_add_filter_gzip(a) != ARCHIVE_OK)
		abort();
	if (f == TF_ZSTD && archive_write_add_filter_zstd(a) != ARCHIVE_OK)
		abort();
}

/* A pax tar of entries (terminated by a NULL path), uncompressed; padded
 * to libarchive's 10240-byte blocks when pad is set (as bsdtar writes). */
static inline struct buf tar_build_ex(const struct te *entries, bool pad)
{
	struct buf out = { 0 };
	archive_load_or_abort();
	struct archive *a = archive_write_new();
	archive_write_set_format_pax(a);
	if (!pad)
		archive_write_set_bytes_in_last_block(a, 1);
	if (archive_write_open(a, &out, NULL, buf_write_cb, NULL) != ARCHIVE_OK)
		abort();
	for (const struct te *t = entries; t->path; t++) {
		struct archive_entry *e = archive_entry_new();
		archive_entry_set_pathname_utf8(e, t->path);
		unsigned type = t->type ? t->type : AE_IFREG;
		if (t->hardlink) {
			archive_entry_set_hardlink_utf8(e, t->hardlink);
			archive_entry_set_filetype(e, AE_IFREG);
		} else {
			archive_entry_set_filetype(e, type);
		}
		archive_entry_set_perm(e, t->perm ? t->perm : (type == AE_IFDIR ? 0755 : 0644));
		archive_entry_set_uid(e, t->uid);
		archive_entry_set_gid(e, t->gid);
		archive_entry_set_mtime(e, t->mtime ? t->mtime : 1600000000, t->mtime_nsec);
		if (t->symlink)
			archive_entry_set_symlink_utf8(e, t->symlink);
		if (type == AE_IFCHR || type == AE_IFBLK) {
			archive_entry_set_rdevmajor(e, t->rmajor);
			archive_entry_set_rdevminor(e, t->rminor);
		}
		if (t->xname)
			archive_entry_xattr_add_entry(e, t->xname, t->xvalue, t->xlen);
		if (t->xname2)
			archive_entry_xattr_add_entry(e, t->xname2, t->xvalue2, t->xlen2);
		size_t len = (type == AE_IFREG && !t->hardlink && t->data) ? strlen(t->data) : 0;
		archive_entry_set_size(e, (la_int64_t)len);
		if (archive_write_header(a, e) != ARCHIVE_OK) {
			fprintf(stderr, "tar_build %s: %s\n", t->path, archive_error_string(a));
			abort();
		}
		if (len && archive_write_data(a, t->data, len) != (la_ssize_t)len)
			abort();
		archive_entry_free(e);
	}
	archive_write_close(a);
	archive_write_free(a);
	return out;
}

static inline struct buf tar_build(const struct te *entries) { return tar_build_ex(entries, false); }

/* data compressed as a whole (raw format), with no padding. */
static inline struct buf compress_buf(const struct buf *in, enum tfilter f)
{
	struct buf out = { 0 };
	if (f == TF_NONE) {
		buf_append(&out, in->data, in->len);
		return out;
	}
	archive_load_or_abort();
	struct archive *a = archive_write_new();
	archive_write_set_format_raw(a);
	add_filter(a, f);
	archive_write_set_bytes_per_block(a, 0);
	if (archive_write_open(a, &out, NULL, buf_write_cb, NULL) != ARCHIVE_OK)
		abort();
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, "data");
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_size(e, (la_int64_t)in->len);
	if (archive_write_header(a, e) != ARCHIVE_OK)
		abort();
	if (in->len && archive_write_data(a, in->data, in->len) != (la_ssize_t)in->len)
		abort();
	archive_entry_free(e);
	archive_write_close(a);
	archive_write_free(a);
	return out;
}

/* ---- in-memory source ---- */

struct memsrc {
	const char *data;
	size_t len, pos;
	size_t chunk;       /* at most this much per read (0: all) */
	size_t fail_at;     /* fail once pos reaches this (0: never) */
	enum grpc_code fail_code;
};

static inline ssize_t mem_read(void *ctx, void *buf, size_t len, ocid_error **err)
{
	struct memsrc *m = ctx;
	if (m->fail_at && m->pos >= m->fail_at)
		return err_set(err, m->fail_code, "source failed on purpose");
	size_t n = m->len - m->pos;
	if (n > len)
		n = len;
	if (m->chunk && n > m->chunk)
		n = m->chunk;
	if (m->fail_at && m->pos + n > m->fail_at)
		n = m->fail_at - m->pos;
	memcpy(buf, m->data + m->pos, n);
	m->pos += n;
	return (ssize_t)n;
}

static inline bool path_exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

static inline char *read_text(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	struct buf b = { 0 };
	char tmp[4096];
	size_t n;
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
		buf_append(&b, tmp, n);
	fclose(f);
	buf_append(&b, "", 1);
	return b.data;
}

#endif
