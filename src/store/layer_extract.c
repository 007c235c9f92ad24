#include "store/layer_extract.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "store/archive_lazy.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/xalloc.h"

#define IN_BUF_SIZE (128 * 1024)
#define XATTR_NAME_LIMIT 255
#define XATTR_VALUE_LIMIT (64 * 1024)
#define WHITEOUT ".wh."
#define WHITEOUT_META ".wh..wh."
#define WHITEOUT_OPAQUE ".wh..wh..opq"

static atomic_int openat2_mode = 1; /* 1 try openat2, 0 walk */

void layer_extract_use_openat2(bool use) { atomic_store(&openat2_mode, use ? 1 : 0); }

struct dir_time {
	char *rel;
	struct timespec ts[2];
};

struct extractor {
	const char *dir;
	/* input */
	store_read_fn read;
	void *read_ctx;
	char *inbuf;
	struct digester *in_hash;
	uint64_t in_bytes;
	bool in_eof;
	ocid_error *src_err;
	/* decompression, tar */
	struct archive *raw;
	struct archive *tar;
	struct digester *tar_hash;
	uint64_t tar_bytes;
	bool raw_eof;
	bool raw_failed;
	/* disk */
	int rootfd;
	char *parent_rel; /* the cached parent directory, relative to rootfd */
	int parent_fd;
	struct dir_time *dirs;
	size_t n_dirs, cap_dirs;
	uint64_t entries, disk_bytes, inodes;
};

/* ---- input and decompression callbacks ---- */

static la_ssize_t raw_read_cb(struct archive *a, void *p, const void **buf)
{
	struct extractor *ex = p;
	if (ex->in_eof)
		return 0;
	ssize_t n = ex->read(ex->read_ctx, ex->inbuf, IN_BUF_SIZE, &ex->src_err);
	if (n < 0) {
		if (ex->src_err == NULL)
			err_set(&ex->src_err, GRPC_INTERNAL, "layer source failed");
		archive_set_error(a, EIO, "%s", ex->src_err->msg);
		return -1;
	}
	if (n == 0) {
		ex->in_eof = true;
		return 0;
	}
	digester_update(ex->in_hash, ex->inbuf, (size_t)n);
	ex->in_bytes += (uint64_t)n;
	*buf = ex->inbuf;
	return n;
}

/* The next block of the uncompressed stream, hashed; 0 at its end. */
static la_ssize_t next_plain_block(struct extractor *ex, const void **buf)
{
	while (!ex->raw_eof) {
		const void *b = NULL;
		size_t size = 0;
		la_int64_t off = 0;
		int r = archive_read_data_block(ex->raw, &b, &size, &off);
		if (r == ARCHIVE_EOF) {
			ex->raw_eof = true;
			break;
		}
		if (r < ARCHIVE_WARN) {
			ex->raw_failed = true;
			return -1;
		}
		if (size == 0)
			continue;
		if (off < 0 || (uint64_t)off != ex->tar_bytes) {
			ex->raw_failed = true;
			archive_set_error(ex->raw, EINVAL, "non-contiguous decompressed data");
			return -1;
		}
		digester_update(ex->tar_hash, b, size);
		ex->tar_bytes += size;
		*buf = b;
		return (la_ssize_t)size;
	}
	return 0;
}

static la_ssize_t tar_read_cb(struct archive *a, void *p, const void **buf)
{
	struct extractor *ex = p;
	la_ssize_t n = next_plain_block(ex, buf);
	if (n < 0)
		archive_set_error(a, EIO, "decompress: %s", archive_error_string(ex->raw));
	return n;
}

/* The error for a failed libarchive call on the tar reader. */
static int read_failure(struct extractor *ex, ocid_error **err, const char *what)
{
	if (ex->src_err) {
		/* the source's own error (a cancelled or failed download) */
		if (err && *err == NULL)
			*err = steal_pointer(&ex->src_err);
		return err_prefix(err, "read layer");
	}
	if (ex->raw_failed)
		return err_set(err, GRPC_DATA_LOSS, "corrupt layer stream: %s",
			       archive_error_string(ex->raw) ? archive_error_string(ex->raw) : "decompression failed");
	const char *msg = archive_error_string(ex->tar);
	return err_set(err, GRPC_DATA_LOSS, "corrupt layer tar (%s): %s", what, msg ? msg : "unknown error");
}

/* ---- paths ---- */

static char *xstrndup(const char *s, size_t n)
{
	char *r = strndup(s, n);
	if (r == NULL)
		abort();
	return r;
}

/* A tar path, validated and normalised to "a/b/c" ("" for the root). */
struct tpath {
	char *rel;
	char *parent; /* "" for the root directory */
	const char *base; /* inside rel; "" for the root itself */
};

static void tpath_free(struct tpath *p)
{
	free(p->rel);
	free(p->parent);
	p->rel = p->parent = NULL;
}

static int refuse(ocid_error **err, const char *label, const char *why)
{
	return err_set(err, GRPC_INVALID_ARGUMENT, "%s refused: %s", label, why);
}

static int tpath_parse(const char *name, const char *label, struct tpath *out, ocid_error **err)
{
	memset(out, 0, sizeof(*out));
	size_t len = strlen(name);
	if (len == 0)
		return refuse(err, label, "empty name");
	if (len >= PATH_MAX)
		return refuse(err, label, "path longer than PATH_MAX");
	if (name[0] == '/')
		return refuse(err, label, "absolute path");
	char *rel = xmalloc(len + 1);
	size_t o = 0;
	const char *s = name;
	while (*s) {
		const char *e = strchr(s, '/');
		size_t n = e ? (size_t)(e - s) : strlen(s);
		if (n == 0 || (n == 1 && s[0] == '.')) {
			/* "//" and "." components mean nothing */
		} else if (n == 2 && s[0] == '.' && s[1] == '.') {
			free(rel);
			return refuse(err, label, "\"..\" component");
		} else if (n > NAME_MAX) {
			free(rel);
			return refuse(err, label, "component longer than NAME_MAX");
		} else {
			if (o > 0)
				rel[o++] = '/';
			memcpy(rel + o, s, n);
			o += n;
		}
		s += n;
		if (*s == '/')
			s++;
	}
	rel[o] = '\0';
	char *slash = strrchr(rel, '/');
	out->rel = rel;
	out->parent = slash ? xstrndup(rel, (size_t)(slash - rel)) : xstrdup("");
	out->base = slash ? slash + 1 : rel;
	/* A whiteout is a file: it cannot be a directory on the way. */
	for (const char *c = out->parent; *c;) {
		if (strncmp(c, WHITEOUT, strlen(WHITEOUT)) == 0) {
			tpath_free(out);
			return refuse(err, label, "whiteout name used as a directory");
		}
		const char *next = strchr(c, '/');
		if (next == NULL)
			break;
		c = next + 1;
	}
	return 0;
}

/* ---- resolving directories beneath the layer root ---- */

static enum grpc_code disk_code(int e)
{
	return (e == ENOSPC || e == EDQUOT) ? GRPC_RESOURCE_EXHAUSTED : GRPC_INTERNAL;
}

static int disk_fail(ocid_error **err, int e, const char *label, const char *what)
{
	return err_set_errno(err, disk_code(e), e, "%s: %s", label, what);
}

static int try_openat2(int rootfd, const char *rel, int flags)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
	};
	for (int tries = 0;; tries++) {
		long fd = syscall(SYS_openat2, rootfd, rel, &how, sizeof(how));
		if (fd >= 0)
			return (int)fd;
		if (errno == EAGAIN && tries < 3)
			continue;
		if (errno == ENOSYS)
			atomic_store(&openat2_mode, 0);
		return -1;
	}
}

/* Opens the directory rel (a validated relative path) beneath the root, one
 * component at a time with O_NOFOLLOW, creating missing ones (0755, root)
 * when create is set. Explains what is in the way when it fails. */
static int walk_dirs(struct extractor *ex, const char *rel, bool create, const char *entry, int *out,
		     ocid_error **err)
{
	*out = -1;
	int fd = openat(ex->rootfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return disk_fail(err, errno, entry, "open layer root");
	cleanup_free char *copy = xstrdup(rel);
	char *save = NULL;
	size_t done = 0;
	for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		int nfd = openat(fd, c, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (nfd < 0 && errno == ENOENT && create) {
			if (mkdirat(fd, c, 0755) < 0 && errno != EEXIST) {
				int e = errno;
				close(fd);
				return disk_fail(err, e, entry, "create parent directory");
			}
			if (fchmodat(fd, c, 0755, 0) < 0) {
				int e = errno;
				close(fd);
				return disk_fail(err, e, entry, "chmod parent directory");
			}
			ex->inodes++;
			nfd = openat(fd, c, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		if (nfd < 0) {
			int e = errno;
			struct stat st;
			int have = fstatat(fd, c, &st, AT_SYMLINK_NOFOLLOW) == 0;
			close(fd);
			cleanup_free char *upto = xstrndup(rel, done + strlen(c));
			if (have && S_ISLNK(st.st_mode)) {
				cleanup_free char *why = xasprintf("path goes through symlink \"%.256s\"", upto);
				return refuse(err, entry, why);
			}
			if (have && !S_ISDIR(st.st_mode)) {
				cleanup_free char *why = xasprintf("\"%.256s\" is not a directory", upto);
				return refuse(err, entry, why);
			}
			if (e == ENOENT) {
				cleanup_free char *why = xasprintf("\"%.256s\" does not exist", upto);
				return refuse(err, entry, why);
			}
			return disk_fail(err, e, entry, "open parent directory");
		}
		close(fd);
		fd = nfd;
		done += strlen(c) + 1;
	}
	*out = fd;
	return 0;
}

/* An O_PATH descriptor for directory rel beneath the root. */
static int open_dir(struct extractor *ex, const char *rel, bool create, const char *entry, int *out,
		    ocid_error **err)
{
	if (*rel == '\0') {
		int fd = openat(ex->rootfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			return disk_fail(err, errno, entry, "open layer root");
		*out = fd;
		return 0;
	}
	if (atomic_load(&openat2_mode)) {
		int fd = try_openat2(ex->rootfd, rel, O_PATH | O_DIRECTORY);
		if (fd >= 0) {
			*out = fd;
			return 0;
		}
		/* missing (create it), or in the way (the walk says what) */
	}
	return walk_dirs(ex, rel, create, entry, out, err);
}

/* The parent directory of an entry, cached: tars list a directory's entries
 * together. The descriptor belongs to the cache. */
static int parent_dir(struct extractor *ex, const char *rel, bool create, const char *entry, int *out,
		      ocid_error **err)
{
	if (ex->parent_rel && strcmp(ex->parent_rel, rel) == 0) {
		*out = ex->parent_fd;
		return 0;
	}
	int fd;
	if (open_dir(ex, rel, create, entry, &fd, err) < 0)
		return -1;
	if (ex->parent_fd >= 0)
		close(ex->parent_fd);
	free(ex->parent_rel);
	ex->parent_rel = xstrdup(rel);
	ex->parent_fd = fd;
	*out = fd;
	return 0;
}

/* "/proc/self/fd/<dirfd>/<name>": a path for calls that have no *at form
 * (lsetxattr, removing a tree); name's final component is not followed by
 * those calls and dirfd is already resolved. */
static char *fd_path(int dirfd, const char *name)
{
	return xasprintf("/proc/self/fd/%d/%s", dirfd, name);
}

/* Removes whatever is at name in dirfd, so that an entry can replace it.
 * dirfd is the entry's parent, so the cached parent stays valid. */
static int remove_existing(int dirfd, const char *name, const char *entry, ocid_error **err)
{
	struct stat st;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : disk_fail(err, errno, entry, "stat existing file");
	if (!S_ISDIR(st.st_mode)) {
		if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
			return disk_fail(err, errno, entry, "remove existing file");
		return 0;
	}
	cleanup_free char *path = fd_path(dirfd, name);
	if (fs_remove_all(path, err) < 0)
		return err_prefix(err, "%s: replace directory", entry);
	return 0;
}

/* ---- metadata ---- */

/* A debug line for something left out (names from the tar are escaped). */
static void log_skip(const char *entry, const char *xattr, const char *reason)
{
	if (!log_enabled(LOG_LEVEL_DEBUG))
		return;
	char e[600], x[300];
	log_escape(entry, e, sizeof(e));
	log_escape(xattr ? xattr : "", x, sizeof(x));
	log_emit(LOG_LEVEL_DEBUG, xattr ? "layer xattr skipped" : "layer entry skipped", "entry=\"%s\" xattr=\"%s\" reason=\"%s\"",
		 e, x, reason);
}

static int entry_owner(struct archive_entry *e, const char *label, uid_t *uid, gid_t *gid, ocid_error **err)
{
	la_int64_t u = archive_entry_uid(e), g = archive_entry_gid(e);
	if (u < 0 || u >= (la_int64_t)UINT32_MAX || g < 0 || g >= (la_int64_t)UINT32_MAX)
		return refuse(err, label, "uid or gid out of range");
	*uid = (uid_t)u;
	*gid = (gid_t)g;
	return 0;
}

static void entry_times(struct archive_entry *e, struct timespec ts[2], bool *set)
{
	*set = archive_entry_mtime_is_set(e) != 0;
	ts[1].tv_sec = archive_entry_mtime(e);
	ts[1].tv_nsec = archive_entry_mtime_nsec(e);
	if (archive_entry_atime_is_set(e)) {
		ts[0].tv_sec = archive_entry_atime(e);
		ts[0].tv_nsec = archive_entry_atime_nsec(e);
	} else {
		ts[0] = ts[1];
	}
	for (int i = 0; i < 2; i++)
		if (ts[i].tv_nsec < 0 || ts[i].tv_nsec >= 1000000000L)
			ts[i].tv_nsec = 0;
}

static bool xattr_refused_errno(int e)
{
	return e == ENOTSUP || e == EOPNOTSUPP || e == EPERM || e == EACCES || e == EINVAL || e == E2BIG ||
	       e == ERANGE || e == ENOSPC;
}

/* Applies the entry's xattrs, on fd (fd >= 0) or on path without following
 * it. Those the filesystem refuses are skipped. */
static int apply_xattrs(struct archive_entry *e, int fd, const char *path, const char *entry, ocid_error **err)
{
	const char *name;
	const void *value;
	size_t size;
	archive_entry_xattr_reset(e);
	while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
		if (name == NULL || *name == '\0' || strlen(name) > XATTR_NAME_LIMIT || size > XATTR_VALUE_LIMIT) {
			log_skip(entry, name ? name : "", "too long");
			continue;
		}
		if (strncmp(name, "trusted.overlay.", 16) == 0 || strncmp(name, "user.overlay.", 13) == 0) {
			log_skip(entry, name, "overlay namespace");
			continue;
		}
		int r = fd >= 0 ? fsetxattr(fd, name, value, size, 0) : lsetxattr(path, name, value, size, 0);
		if (r < 0) {
			int e2 = errno;
			if (xattr_refused_errno(e2)) {
				log_skip(entry, name, strerror(e2));
				continue;
			}
			return err_set_errno(err, disk_code(e2), e2, "%s: set xattr %s", entry, name);
		}
	}
	return 0;
}

/* Owner, mode, xattrs of an open regular file or directory, in the order
 * that keeps them all: chown clears setuid bits and capabilities. */
static int apply_fd_meta(struct archive_entry *e, int fd, const char *entry, ocid_error **err)
{
	uid_t uid = 0;
	gid_t gid = 0;
	if (entry_owner(e, entry, &uid, &gid, err) < 0)
		return -1;
	if (fchown(fd, uid, gid) < 0)
		return disk_fail(err, errno, entry, "chown");
	if (fchmod(fd, archive_entry_perm(e) & 07777) < 0)
		return disk_fail(err, errno, entry, "chmod");
	return apply_xattrs(e, fd, NULL, entry, err);
}

/* The same for a node that cannot be opened (symlink, device, fifo). */
static int apply_path_meta(struct archive_entry *e, int dirfd, const char *name, bool is_link,
			   const char *entry, ocid_error **err)
{
	uid_t uid = 0;
	gid_t gid = 0;
	if (entry_owner(e, entry, &uid, &gid, err) < 0)
		return -1;
	if (fchownat(dirfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
		return disk_fail(err, errno, entry, "chown");
	if (!is_link && fchmodat(dirfd, name, archive_entry_perm(e) & 07777, 0) < 0)
		return disk_fail(err, errno, entry, "chmod");
	if (archive_entry_xattr_count(e) > 0) {
		cleanup_free char *path = fd_path(dirfd, name);
		if (apply_xattrs(e, -1, path, entry, err) < 0)
			return -1;
	}
	struct timespec ts[2];
	bool set;
	entry_times(e, ts, &set);
	if (set && utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return disk_fail(err, errno, entry, "set times");
	return 0;
}

static void add_usage(struct extractor *ex, int fd)
{
	struct stat st;
	if (fstat(fd, &st) == 0)
		ex->disk_bytes += (uint64_t)st.st_blocks * 512;
}

/* ---- entry kinds ---- */

static int write_data(struct extractor *ex, int fd, struct archive_entry *e, const char *entry, ocid_error **err)
{
	uint64_t end = 0;
	for (;;) {
		const void *buf;
		size_t size;
		la_int64_t off;
		int r = archive_read_data_block(ex->tar, &buf, &size, &off);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN) {
			read_failure(ex, err, "file data");
			return err_prefix(err, "%s", entry);
		}
		if (off < 0)
			return refuse(err, entry, "negative data offset");
		const char *p = buf;
		uint64_t at = (uint64_t)off;
		while (size > 0) {
			ssize_t n = pwrite(fd, p, size, (off_t)at);
			if (n < 0) {
				if (errno == EINTR)
					continue;
				return disk_fail(err, errno, entry, "write");
			}
			p += n;
			size -= (size_t)n;
			at += (uint64_t)n;
		}
		if (at > end)
			end = at;
	}
	/* a sparse file may end in a hole */
	if (archive_entry_size_is_set(e) && archive_entry_size(e) > 0 && (uint64_t)archive_entry_size(e) > end &&
	    ftruncate(fd, (off_t)archive_entry_size(e)) < 0)
		return disk_fail(err, errno, entry, "truncate");
	return 0;
}

static int make_file(struct extractor *ex, int dirfd, const char *name, struct archive_entry *e,
		     const char *entry, ocid_error **err)
{
	int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
	cleanup_close int fd = openat(dirfd, name, flags, 0600);
	if (fd < 0 && errno == EEXIST) {
		if (remove_existing(dirfd, name, entry, err) < 0)
			return -1;
		fd = openat(dirfd, name, flags, 0600);
	}
	if (fd < 0)
		return disk_fail(err, errno, entry, "create file");
	ex->inodes++;
	if (write_data(ex, fd, e, entry, err) < 0 || apply_fd_meta(e, fd, entry, err) < 0)
		return -1;
	struct timespec ts[2];
	bool set;
	entry_times(e, ts, &set);
	if (set && futimens(fd, ts) < 0)
		return disk_fail(err, errno, entry, "set times");
	add_usage(ex, fd);
	return 0;
}

static void defer_dir_times(struct extractor *ex, const char *rel, struct archive_entry *e)
{
	struct timespec ts[2];
	bool set;
	entry_times(e, ts, &set);
	if (!set)
		return;
	if (ex->n_dirs == ex->cap_dirs) {
		ex->cap_dirs = ex->cap_dirs ? ex->cap_dirs * 2 : 64;
		ex->dirs = xrealloc(ex->dirs, ex->cap_dirs * sizeof(*ex->dirs));
	}
	ex->dirs[ex->n_dirs].rel = xstrdup(rel);
	ex->dirs[ex->n_dirs].ts[0] = ts[0];
	ex->dirs[ex->n_dirs].ts[1] = ts[1];
	ex->n_dirs++;
}

static int make_dir(struct extractor *ex, int dirfd, const struct tpath *p, struct archive_entry *e,
		    const char *entry, ocid_error **err)
{
	int fd;
	if (*p->rel == '\0') {
		fd = dup(ex->rootfd);
		if (fd < 0)
			return disk_fail(err, errno, entry, "dup");
	} else {
		bool created = true;
		if (mkdirat(dirfd, p->base, 0700) < 0) {
			if (errno != EEXIST)
				return disk_fail(err, errno, entry, "create directory");
			struct stat st;
			if (fstatat(dirfd, p->base, &st, AT_SYMLINK_NOFOLLOW) < 0)
				return disk_fail(err, errno, entry, "stat existing file");
			if (S_ISDIR(st.st_mode)) {
				created = false; /* directories merge */
			} else {
				if (remove_existing(dirfd, p->base, entry, err) < 0)
					return -1;
				if (mkdirat(dirfd, p->base, 0700) < 0)
					return disk_fail(err, errno, entry, "create directory");
			}
		}
		fd = openat(dirfd, p->base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return disk_fail(err, errno, entry, "open directory");
		if (created) {
			ex->inodes++;
			add_usage(ex, fd);
		}
	}
	int ret = apply_fd_meta(e, fd, entry, err);
	close(fd);
	if (ret < 0)
		return -1;
	defer_dir_times(ex, p->rel, e);
	return 0;
}

static int make_symlink(struct extractor *ex, int dirfd, const char *name, struct archive_entry *e,
			const char *entry, ocid_error **err)
{
	const char *target = archive_entry_symlink(e);
	if (target == NULL)
		target = archive_entry_symlink_utf8(e);
	if (target == NULL || *target == '\0')
		return refuse(err, entry, "symlink without a target");
	if (strlen(target) >= PATH_MAX)
		return refuse(err, entry, "symlink target longer than PATH_MAX");
	/* The target is stored, never followed while extracting. */
	if (symlinkat(target, dirfd, name) < 0) {
		if (errno != EEXIST)
			return disk_fail(err, errno, entry, "create symlink");
		if (remove_existing(dirfd, name, entry, err) < 0)
			return -1;
		if (symlinkat(target, dirfd, name) < 0)
			return disk_fail(err, errno, entry, "create symlink");
	}
	ex->inodes++;
	return apply_path_meta(e, dirfd, name, true, entry, err);
}

static int make_node(struct extractor *ex, int dirfd, const char *name, struct archive_entry *e, mode_t type,
		     const char *entry, ocid_error **err)
{
	dev_t dev = type == S_IFIFO ? 0 : makedev(archive_entry_rdevmajor(e), archive_entry_rdevminor(e));
	if (mknodat(dirfd, name, type | 0600, dev) < 0) {
		if (errno != EEXIST)
			return disk_fail(err, errno, entry, "create device or fifo");
		if (remove_existing(dirfd, name, entry, err) < 0)
			return -1;
		if (mknodat(dirfd, name, type | 0600, dev) < 0)
			return disk_fail(err, errno, entry, "create device or fifo");
	}
	ex->inodes++;
	return apply_path_meta(e, dirfd, name, false, entry, err);
}

static int make_hardlink(struct extractor *ex, int dirfd, const char *name, const char *target,
			 struct archive_entry *e, const char *entry, ocid_error **err)
{
	/* Refusals about the target name both. */
	cleanup_free char *tlabel = xasprintf("%s (hardlink to \"%.256s\")", entry, target);
	struct tpath t;
	if (tpath_parse(target, tlabel, &t, err) < 0)
		return -1;
	int ret = -1;
	int tfd = -1;
	if (*t.rel == '\0') {
		refuse(err, tlabel, "target is the layer root");
		goto out;
	}
	if (strncmp(t.base, WHITEOUT, strlen(WHITEOUT)) == 0) {
		refuse(err, tlabel, "target is a whiteout");
		goto out;
	}
	/* dirfd may be the cached parent: resolve the target separately. */
	if (open_dir(ex, t.parent, false, tlabel, &tfd, err) < 0)
		goto out;
	struct stat st;
	if (fstatat(tfd, t.base, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			refuse(err, tlabel, "target is not in the layer");
		else
			disk_fail(err, errno, entry, "stat hardlink target");
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		refuse(err, tlabel, "target is a directory");
		goto out;
	}
	struct stat cur;
	if (fstatat(dirfd, name, &cur, AT_SYMLINK_NOFOLLOW) == 0) {
		if (cur.st_ino == st.st_ino && cur.st_dev == st.st_dev) {
			ret = 0; /* already that file */
			goto out;
		}
		if (remove_existing(dirfd, name, entry, err) < 0)
			goto out;
	}
	if (linkat(tfd, t.base, dirfd, name, 0) < 0) {
		disk_fail(err, errno, entry, "create hardlink");
		goto out;
	}
	/* A hardlink entry may carry the file's data. */
	if (archive_entry_size_is_set(e) && archive_entry_size(e) > 0 && S_ISREG(st.st_mode)) {
		cleanup_close int fd = openat(dirfd, name, O_WRONLY | O_TRUNC | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 || write_data(ex, fd, e, entry, err) < 0) {
			if (fd < 0)
				disk_fail(err, errno, entry, "open hardlink");
			goto out;
		}
	}
	ret = 0;
out:
	if (tfd >= 0)
		close(tfd);
	tpath_free(&t);
	return ret;
}

static int make_whiteout(struct extractor *ex, int dirfd, const char *name, struct archive_entry *e,
			 const char *entry, ocid_error **err)
{
	if (remove_existing(dirfd, name, entry, err) < 0)
		return -1;
	if (mknodat(dirfd, name, S_IFCHR | 0000, makedev(0, 0)) < 0)
		return disk_fail(err, errno, entry, "create whiteout");
	ex->inodes++;
	uid_t uid = 0;
	gid_t gid = 0;
	if (entry_owner(e, entry, &uid, &gid, err) < 0)
		return -1;
	if (fchownat(dirfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
		return disk_fail(err, errno, entry, "chown whiteout");
	return 0;
}

static int make_opaque(int dirfd, const char *entry, ocid_error **err)
{
	cleanup_close int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return disk_fail(err, errno, entry, "open opaque directory");
	if (fsetxattr(fd, "trusted.overlay.opaque", "y", 1, 0) < 0)
		return disk_fail(err, errno, entry, "set trusted.overlay.opaque");
	return 0;
}

static int extract_entry(struct extractor *ex, struct archive_entry *e, ocid_error **err)
{
	const char *name = archive_entry_pathname(e);
	if (name == NULL)
		name = archive_entry_pathname_utf8(e);
	if (name == NULL)
		return err_set(err, GRPC_INVALID_ARGUMENT, "layer entry without a usable name");
	/* How messages name the entry. */
	cleanup_free char *entry = xasprintf("layer entry \"%.256s\"", name);
	const char *link = archive_entry_hardlink(e);
	if (link == NULL)
		link = archive_entry_hardlink_utf8(e);

	struct tpath p;
	if (tpath_parse(name, entry, &p, err) < 0)
		return -1;
	int ret = -1;
	mode_t type = archive_entry_filetype(e);
	const char *base = p.base;
	bool whiteout = strncmp(base, WHITEOUT, strlen(WHITEOUT)) == 0;

	if (*p.rel == '\0') {
		if (link != NULL || type != AE_IFDIR) {
			refuse(err, entry, "the layer root must be a directory");
			goto out;
		}
		ret = make_dir(ex, -1, &p, e, entry, err);
		goto out;
	}
	if (whiteout && strncmp(base, WHITEOUT_META, strlen(WHITEOUT_META)) == 0 &&
	    strcmp(base, WHITEOUT_OPAQUE) != 0) {
		log_skip(entry, NULL, "whiteout metadata");
		ret = 0;
		goto out;
	}
	if (whiteout && strcmp(base, WHITEOUT_OPAQUE) != 0) {
		const char *victim = base + strlen(WHITEOUT);
		if (*victim == '\0' || strcmp(victim, ".") == 0 || strcmp(victim, "..") == 0) {
			refuse(err, entry, "whiteout of an invalid name");
			goto out;
		}
	}

	int dirfd;
	if (parent_dir(ex, p.parent, true, entry, &dirfd, err) < 0)
		goto out;

	if (whiteout) {
		if (strcmp(base, WHITEOUT_OPAQUE) == 0)
			ret = make_opaque(dirfd, entry, err);
		else
			ret = make_whiteout(ex, dirfd, base + strlen(WHITEOUT), e, entry, err);
		goto out;
	}
	if (link != NULL) {
		ret = make_hardlink(ex, dirfd, base, link, e, entry, err);
		goto out;
	}
	switch (type) {
	case AE_IFREG:
		ret = make_file(ex, dirfd, base, e, entry, err);
		break;
	case AE_IFDIR:
		ret = make_dir(ex, dirfd, &p, e, entry, err);
		break;
	case AE_IFLNK:
		ret = make_symlink(ex, dirfd, base, e, entry, err);
		break;
	case AE_IFCHR:
		ret = make_node(ex, dirfd, base, e, S_IFCHR, entry, err);
		break;
	case AE_IFBLK:
		ret = make_node(ex, dirfd, base, e, S_IFBLK, entry, err);
		break;
	case AE_IFIFO:
		ret = make_node(ex, dirfd, base, e, S_IFIFO, entry, err);
		break;
	case AE_IFSOCK:
		log_skip(entry, NULL, "socket");
		ret = 0;
		break;
	default:
		refuse(err, entry, "unsupported entry type");
		break;
	}
out:
	tpath_free(&p);
	return ret;
}

/* A readable descriptor for directory rel, or -1 (gone or replaced). */
static int reopen_dir(struct extractor *ex, const char *rel)
{
	if (*rel == '\0')
		return dup(ex->rootfd);
	if (atomic_load(&openat2_mode)) {
		int fd = try_openat2(ex->rootfd, rel, O_RDONLY | O_DIRECTORY);
		if (fd >= 0 || atomic_load(&openat2_mode))
			return fd;
	}
	ocid_error *ignored = NULL;
	int pfd;
	if (walk_dirs(ex, rel, false, rel, &pfd, &ignored) < 0) {
		err_free(ignored);
		return -1;
	}
	int fd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	close(pfd);
	return fd;
}

/* Directory times last, deepest first, since creating entries changed them. */
static int apply_dir_times(struct extractor *ex, ocid_error **err)
{
	for (size_t i = ex->n_dirs; i-- > 0;) {
		struct dir_time *d = &ex->dirs[i];
		int fd = reopen_dir(ex, d->rel);
		if (fd < 0)
			continue; /* replaced by a later entry */
		int r = futimens(fd, d->ts);
		int e = errno;
		close(fd);
		if (r < 0)
			return disk_fail(err, e, d->rel, "set directory times");
	}
	return 0;
}

static void extractor_free(struct extractor *ex)
{
	if (ex->tar)
		archive_read_free(ex->tar);
	if (ex->raw)
		archive_read_free(ex->raw);
	digester_free(ex->in_hash);
	digester_free(ex->tar_hash);
	free(ex->inbuf);
	err_free(ex->src_err);
	if (ex->parent_fd >= 0)
		close(ex->parent_fd);
	free(ex->parent_rel);
	if (ex->rootfd >= 0)
		close(ex->rootfd);
	for (size_t i = 0; i < ex->n_dirs; i++)
		free(ex->dirs[i].rel);
	free(ex->dirs);
}

static const char *compression_name(enum extract_compression c)
{
	switch (c) {
	case EXTRACT_NONE:
		return "uncompressed";
	case EXTRACT_GZIP:
		return "gzip";
	case EXTRACT_ZSTD:
		return "zstd";
	default:
		return "detected";
	}
}

static int open_readers(struct extractor *ex, enum extract_compression c, ocid_error **err)
{
	ex->raw = archive_read_new();
	ex->tar = archive_read_new();
	if (ex->raw == NULL || ex->tar == NULL)
		return err_set(err, GRPC_RESOURCE_EXHAUSTED, "cannot allocate a libarchive reader");
	/* Built-in decompressors only: an ARCHIVE_WARN here means libarchive
	 * would run an external program. */
	if ((c == EXTRACT_DETECT || c == EXTRACT_GZIP) && archive_read_support_filter_gzip(ex->raw) != ARCHIVE_OK)
		return err_set(err, GRPC_INTERNAL, "libarchive has no built-in gzip support");
	if ((c == EXTRACT_DETECT || c == EXTRACT_ZSTD) && archive_read_support_filter_zstd(ex->raw) != ARCHIVE_OK)
		return err_set(err, GRPC_INTERNAL, "libarchive has no built-in zstd support");
	if (archive_read_support_format_raw(ex->raw) != ARCHIVE_OK ||
	    archive_read_support_format_tar(ex->tar) != ARCHIVE_OK)
		return err_set(err, GRPC_INTERNAL, "libarchive: %s", archive_error_string(ex->raw));
	if (archive_read_open(ex->raw, ex, NULL, raw_read_cb, NULL) != ARCHIVE_OK) {
		ex->raw_failed = true;
		return read_failure(ex, err, "open");
	}
	struct archive_entry *entry;
	int r = archive_read_next_header(ex->raw, &entry);
	if (r == ARCHIVE_EOF)
		return err_set(err, GRPC_DATA_LOSS, "empty layer stream");
	if (r < ARCHIVE_WARN) {
		ex->raw_failed = true;
		return read_failure(ex, err, "open");
	}
	int code = archive_filter_code(ex->raw, 0);
	int want = c == EXTRACT_GZIP ? ARCHIVE_FILTER_GZIP : c == EXTRACT_ZSTD ? ARCHIVE_FILTER_ZSTD : ARCHIVE_FILTER_NONE;
	if (c != EXTRACT_DETECT && code != want)
		return err_set(err, GRPC_DATA_LOSS, "layer stream is not %s as its media type says (found %s)",
			       compression_name(c), archive_filter_name(ex->raw, 0));
	if (archive_read_open(ex->tar, ex, NULL, tar_read_cb, NULL) != ARCHIVE_OK)
		return read_failure(ex, err, "open");
	return 0;
}

static int finish(struct extractor *ex, const struct layer_extract_opts *o, struct layer_extract_result *res,
		  ocid_error **err)
{
	/* The diff_id covers the whole uncompressed stream, including what
	 * follows the tar's end-of-archive blocks; the digest covers the whole
	 * input. */
	const void *b;
	la_ssize_t n;
	while ((n = next_plain_block(ex, &b)) > 0)
		;
	if (n < 0)
		return read_failure(ex, err, "trailer");
	while (!ex->in_eof) {
		ssize_t m = ex->read(ex->read_ctx, ex->inbuf, IN_BUF_SIZE, &ex->src_err);
		if (m < 0)
			return read_failure(ex, err, "trailer");
		if (m == 0)
			break;
		digester_update(ex->in_hash, ex->inbuf, (size_t)m);
		ex->in_bytes += (uint64_t)m;
	}
	digester_current(ex->tar_hash, res->diff_id);
	digester_current(ex->in_hash, res->digest);
	res->tar_size = ex->tar_bytes;
	res->compressed_size = ex->in_bytes;
	if (o->expect_size > 0 && ex->in_bytes != (uint64_t)o->expect_size)
		return err_set(err, GRPC_DATA_LOSS, "layer blob is %llu bytes, expected %lld",
			       (unsigned long long)ex->in_bytes, (long long)o->expect_size);
	if (o->expect_digest && strcmp(o->expect_digest, res->digest) != 0)
		return err_set(err, GRPC_DATA_LOSS, "layer blob digest mismatch: expected %s, got %s", o->expect_digest,
			       res->digest);
	if (o->expect_diff_id && strcmp(o->expect_diff_id, res->diff_id) != 0)
		return err_set(err, GRPC_DATA_LOSS, "layer diff_id mismatch: expected %s, got %s", o->expect_diff_id,
			       res->diff_id);
	return apply_dir_times(ex, err);
}

int layer_extract(const char *dir, store_read_fn read, void *ctx, const struct layer_extract_opts *opts,
		  struct layer_extract_result *res, ocid_error **err)
{
	static const struct layer_extract_opts defaults = { 0 };
	const struct layer_extract_opts *o = opts ? opts : &defaults;
	memset(res, 0, sizeof(*res));
	enum digest_algo in_algo = DIGEST_SHA256;
	if (o->expect_digest && digest_parse(o->expect_digest, &in_algo, err) < 0)
		return err_prefix(err, "extract layer");
	if (o->expect_diff_id && digest_parse(o->expect_diff_id, NULL, err) < 0)
		return err_prefix(err, "extract layer");
	if (archive_lazy_load(err) < 0)
		return err_prefix(err, "extract layer");

	if (mkdir(dir, 0755) < 0)
		return err_set_errno(err, errno == EEXIST ? GRPC_ALREADY_EXISTS : disk_code(errno), errno,
				     "create layer directory %s", dir);
	struct extractor ex = {
		.dir = dir,
		.read = read,
		.read_ctx = ctx,
		.rootfd = -1,
		.parent_fd = -1,
	};
	int ret = -1;
	ex.rootfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (ex.rootfd < 0) {
		err_set_errno(err, GRPC_INTERNAL, errno, "open layer directory %s", dir);
		goto out;
	}
	if (fchmod(ex.rootfd, 0755) < 0) {
		err_set_errno(err, GRPC_INTERNAL, errno, "chmod layer directory %s", dir);
		goto out;
	}
	ex.inodes = 1;
	add_usage(&ex, ex.rootfd);
	ex.inbuf = xmalloc(IN_BUF_SIZE);
	ex.in_hash = digester_new(in_algo);
	ex.tar_hash = digester_new(DIGEST_SHA256);
	if (ex.in_hash == NULL || ex.tar_hash == NULL) {
		err_set(err, GRPC_RESOURCE_EXHAUSTED, "cannot allocate a hash context");
		goto out;
	}
	if (open_readers(&ex, o->compression, err) < 0)
		goto out;
	for (;;) {
		struct archive_entry *e;
		int r = archive_read_next_header(ex.tar, &e);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN) {
			read_failure(&ex, err, "header");
			goto out;
		}
		if (r == ARCHIVE_WARN && log_enabled(LOG_LEVEL_DEBUG)) {
			char esc[512];
			log_escape(archive_error_string(ex.tar) ? archive_error_string(ex.tar) : "", esc, sizeof(esc));
			log_emit(LOG_LEVEL_DEBUG, "layer tar warning", "warning=\"%s\"", esc);
		}
		ex.entries++;
		if (extract_entry(&ex, e, err) < 0)
			goto out;
	}
	if (finish(&ex, o, res, err) < 0)
		goto out;
	res->entries = ex.entries;
	res->disk_bytes = ex.disk_bytes;
	res->disk_inodes = ex.inodes;
	ret = 0;
out:
	extractor_free(&ex);
	if (ret < 0) {
		ocid_error *rm_err = NULL;
		if (fs_remove_all(dir, &rm_err) < 0) {
			char esc[1024];
			log_escape(rm_err->msg, esc, sizeof(esc));
			log_error("cannot remove partial layer", "dir=\"%s\" error=\"%s\"", dir, esc);
			err_free(rm_err);
		}
		err_prefix(err, "extract layer into %s", dir);
	}
	return ret;
}

int layer_extract_fd(const char *dir, int fd, const struct layer_extract_opts *opts,
		     struct layer_extract_result *res, ocid_error **err)
{
	return layer_extract(dir, store_read_fd, &fd, opts, res, err);
}
