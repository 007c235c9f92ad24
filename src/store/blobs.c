#include "store/blobs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/digest.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/xalloc.h"

struct blob_store {
	char *dir; /* <root>/blobs */
};

struct blob_writer {
	struct fs_atomic_file file;
	struct digester *hash;
	char *digest;
	int64_t expected_size;
	uint64_t written;
};

static const char *const algo_dirs[] = { "sha256", "sha512" };

int blob_store_open(const char *root, blob_store **out, ocid_error **err)
{
	*out = NULL;
	cleanup_free char *dir = xasprintf("%s/blobs", root);
	for (size_t i = 0; i < sizeof(algo_dirs) / sizeof(algo_dirs[0]); i++) {
		cleanup_free char *sub = xasprintf("%s/%s", dir, algo_dirs[i]);
		if (fs_mkdir_p(sub, 0700, err) < 0 || fs_remove_stale_temps(sub, err) < 0)
			return err_prefix(err, "open blob store");
	}
	blob_store *bs = xcalloc(1, sizeof(*bs));
	bs->dir = steal_pointer(&dir);
	*out = bs;
	return 0;
}

void blob_store_free(blob_store *bs)
{
	if (bs == NULL)
		return;
	free(bs->dir);
	free(bs);
}

char *blob_path(blob_store *bs, const char *digest, ocid_error **err)
{
	enum digest_algo algo;
	if (digest_parse(digest, &algo, err) < 0)
		return NULL;
	return xasprintf("%s/%s/%s", bs->dir, digest_algo_name(algo), digest_hex(digest));
}

bool blob_exists(blob_store *bs, const char *digest)
{
	cleanup_free char *path = blob_path(bs, digest, NULL);
	struct stat st;
	return path != NULL && stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int blob_write(blob_store *bs, const char *digest, const void *data, size_t len, ocid_error **err)
{
	enum digest_algo algo;
	if (digest_parse(digest, &algo, err) < 0)
		return -1;
	char got[DIGEST_MAX_LEN];
	digest_buffer(algo, data, len, got);
	if (strcmp(got, digest) != 0)
		return err_set(err, GRPC_DATA_LOSS, "blob %s: content has digest %s", digest, got);
	cleanup_free char *path = blob_path(bs, digest, err);
	struct stat st;
	if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
		return 0;
	if (fs_write_atomic(path, data, len, 0600, err) < 0)
		return err_prefix(err, "store blob %s", digest);
	return 0;
}

int blob_writer_begin(blob_store *bs, const char *digest, int64_t expected_size,
		      struct blob_writer **out, ocid_error **err)
{
	*out = NULL;
	enum digest_algo algo;
	if (digest_parse(digest, &algo, err) < 0)
		return -1;
	cleanup_free char *path = blob_path(bs, digest, err);
	struct blob_writer *w = xcalloc(1, sizeof(*w));
	w->hash = digester_new(algo);
	if (w->hash == NULL) {
		free(w);
		return err_set(err, GRPC_RESOURCE_EXHAUSTED, "blob %s: cannot allocate a hash context", digest);
	}
	if (fs_atomic_begin(&w->file, path, 0600, err) < 0) {
		digester_free(w->hash);
		free(w);
		return err_prefix(err, "store blob %s", digest);
	}
	w->digest = xstrdup(digest);
	w->expected_size = expected_size;
	*out = w;
	return 0;
}

int blob_writer_write(struct blob_writer *w, const void *data, size_t len, ocid_error **err)
{
	if (w->expected_size >= 0 && w->written + len > (uint64_t)w->expected_size)
		return err_set(err, GRPC_DATA_LOSS, "blob %s: more than the expected %lld bytes", w->digest,
			       (long long)w->expected_size);
	digester_update(w->hash, data, len);
	if (fs_atomic_write(&w->file, data, len, err) < 0)
		return err_prefix(err, "store blob %s", w->digest);
	w->written += len;
	return 0;
}

void blob_writer_abort(struct blob_writer *w)
{
	if (w == NULL)
		return;
	fs_atomic_abort(&w->file);
	digester_free(w->hash);
	free(w->digest);
	free(w);
}

int blob_writer_commit(struct blob_writer *w, ocid_error **err)
{
	int ret = 0;
	char got[DIGEST_MAX_LEN];
	digester_current(w->hash, got);
	if (w->expected_size >= 0 && w->written != (uint64_t)w->expected_size)
		ret = err_set(err, GRPC_DATA_LOSS, "blob %s: %llu bytes, expected %lld", w->digest,
			      (unsigned long long)w->written, (long long)w->expected_size);
	else if (strcmp(got, w->digest) != 0)
		ret = err_set(err, GRPC_DATA_LOSS, "blob %s: content has digest %s", w->digest, got);
	else if (fs_atomic_commit(&w->file, err) < 0)
		ret = err_prefix(err, "store blob %s", w->digest);
	blob_writer_abort(w);
	return ret;
}

int blob_write_from(blob_store *bs, const char *digest, int64_t expected_size, store_read_fn read,
		    void *ctx, ocid_error **err)
{
	struct blob_writer *w = NULL;
	if (blob_writer_begin(bs, digest, expected_size, &w, err) < 0)
		return -1;
	enum { BUF = 64 * 1024 };
	cleanup_free char *buf = xmalloc(BUF);
	for (;;) {
		ssize_t n = read(ctx, buf, BUF, err);
		if (n < 0) {
			blob_writer_abort(w);
			return err_prefix(err, "read blob %s", digest);
		}
		if (n == 0)
			break;
		if (blob_writer_write(w, buf, (size_t)n, err) < 0) {
			blob_writer_abort(w);
			return -1;
		}
	}
	return blob_writer_commit(w, err);
}

int blob_read(blob_store *bs, const char *digest, size_t max, char **data, size_t *len,
	      ocid_error **err)
{
	*data = NULL;
	*len = 0;
	enum digest_algo algo;
	if (digest_parse(digest, &algo, err) < 0)
		return -1;
	cleanup_free char *path = blob_path(bs, digest, err);
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT)
			return err_set(err, GRPC_NOT_FOUND, "blob %s not found", digest);
		return err_set_errno(err, GRPC_INTERNAL, errno, "open blob %s", path);
	}
	struct stat st;
	if (fstat(fd, &st) < 0)
		return err_set_errno(err, GRPC_INTERNAL, errno, "stat blob %s", path);
	if (!S_ISREG(st.st_mode))
		return err_set(err, GRPC_DATA_LOSS, "blob %s is not a regular file", path);
	if ((uint64_t)st.st_size > max)
		return err_set(err, GRPC_RESOURCE_EXHAUSTED, "blob %s: %lld bytes, more than the %zu allowed",
			       digest, (long long)st.st_size, max);
	size_t size = (size_t)st.st_size;
	cleanup_free char *buf = xmalloc(size + 1);
	size_t got = 0;
	while (got < size) {
		ssize_t n = read(fd, buf + got, size - got);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return err_set_errno(err, GRPC_INTERNAL, errno, "read blob %s", path);
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	char sum[DIGEST_MAX_LEN];
	digest_buffer(algo, buf, got, sum);
	if (strcmp(sum, digest) != 0)
		return err_set(err, GRPC_DATA_LOSS, "blob %s is corrupt on disk (content has digest %s)", digest, sum);
	*data = steal_pointer(&buf);
	*len = got;
	return 0;
}

int blob_remove(blob_store *bs, const char *digest, ocid_error **err)
{
	cleanup_free char *path = blob_path(bs, digest, err);
	if (path == NULL)
		return -1;
	if (unlink(path) < 0 && errno != ENOENT)
		return err_set_errno(err, GRPC_INTERNAL, errno, "remove blob %s", path);
	return 0;
}

int blob_list(blob_store *bs, char ***digests, size_t *n, ocid_error **err)
{
	*digests = NULL;
	*n = 0;
	char **list = NULL;
	size_t count = 0, cap = 0;
	for (size_t i = 0; i < sizeof(algo_dirs) / sizeof(algo_dirs[0]); i++) {
		cleanup_free char *sub = xasprintf("%s/%s", bs->dir, algo_dirs[i]);
		DIR *d = opendir(sub);
		if (d == NULL) {
			if (errno == ENOENT)
				continue;
			int e = errno;
			for (size_t j = 0; j < count; j++)
				free(list[j]);
			free(list);
			return err_set_errno(err, GRPC_INTERNAL, e, "list blobs in %s", sub);
		}
		struct dirent *de;
		while ((de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			char *dg = xasprintf("%s:%s", algo_dirs[i], de->d_name);
			if (!digest_valid(dg)) {
				free(dg);
				continue;
			}
			if (count == cap) {
				cap = cap ? cap * 2 : 16;
				list = xrealloc(list, cap * sizeof(*list));
			}
			list[count++] = dg;
		}
		closedir(d);
	}
	*digests = list;
	*n = count;
	return 0;
}
