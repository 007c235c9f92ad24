#include "util/fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdbool.h>
#include <string.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include "util/cleanup.h"
#include "util/xalloc.h"

int fs_mkdir_p(const char *path, mode_t mode, ocid_error **err)
{
	if (path == NULL || *path == '\0')
		return err_set(err, GRPC_INVALID_ARGUMENT, "empty directory path");
	cleanup_free char *p = xstrdup(path);
	size_t len = strlen(p);
	while (len > 1 && p[len - 1] == '/')
		p[--len] = '\0';
	for (char *s = p + 1;; s++) {
		char c = *s;
		if (c != '/' && c != '\0')
			continue;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST)
			return err_set_errno(err, GRPC_INTERNAL, errno, "create directory %s", p);
		*s = c;
		if (c == '\0')
			break;
	}
	struct stat st;
	if (stat(p, &st) < 0)
		return err_set_errno(err, GRPC_INTERNAL, errno, "stat %s", p);
	if (!S_ISDIR(st.st_mode))
		return err_set(err, GRPC_FAILED_PRECONDITION, "%s exists and is not a directory", p);
	return 0;
}

/* ---- atomic file writes ---- */

static enum grpc_code errno_code(int e)
{
	return (e == ENOSPC || e == EDQUOT) ? GRPC_RESOURCE_EXHAUSTED : GRPC_INTERNAL;
}

int fs_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int fsync_parent_dir(const char *path, ocid_error **err)
{
	cleanup_free char *copy = xstrdup(path);
	const char *dir = dirname(copy);
	cleanup_close int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return err_set_errno(err, GRPC_INTERNAL, errno, "open directory %s", dir);
	if (fsync(dfd) < 0)
		return err_set_errno(err, errno_code(errno), errno, "fsync directory %s", dir);
	return 0;
}

int fs_atomic_begin(struct fs_atomic_file *af, const char *path, mode_t mode, ocid_error **err)
{
	af->fd = -1;
	af->path = NULL;
	af->tmp_path = NULL;
	cleanup_free char *copy = xstrdup(path);
	cleanup_free char *copy2 = xstrdup(path);
	const char *base = basename(copy);
	const char *dir = dirname(copy2);
	cleanup_free char *tmp = xasprintf("%s/.%s.tmp-XXXXXX", dir, base);
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return err_set_errno(err, errno_code(errno), errno, "create temporary file for %s", path);
	if (fchmod(fd, mode & 07777) < 0) {
		int e = errno;
		close(fd);
		unlink(tmp);
		return err_set_errno(err, GRPC_INTERNAL, e, "chmod %s", tmp);
	}
	af->fd = fd;
	af->path = xstrdup(path);
	af->tmp_path = steal_pointer(&tmp);
	return 0;
}

int fs_atomic_write(struct fs_atomic_file *af, const void *data, size_t len, ocid_error **err)
{
	if (fs_write_all(af->fd, data, len) < 0)
		return err_set_errno(err, errno_code(errno), errno, "write %s", af->tmp_path);
	return 0;
}

void fs_atomic_abort(struct fs_atomic_file *af)
{
	if (af->fd >= 0)
		close(af->fd);
	if (af->tmp_path)
		unlink(af->tmp_path);
	free(af->tmp_path);
	free(af->path);
	af->fd = -1;
	af->tmp_path = NULL;
	af->path = NULL;
}

static int atomic_commit(struct fs_atomic_file *af, bool sync, ocid_error **err)
{
	int ret = 0;
	if (sync && fsync(af->fd) < 0) {
		ret = err_set_errno(err, errno_code(errno), errno, "fsync %s", af->tmp_path);
	} else if (close(af->fd) < 0) {
		af->fd = -1;
		ret = err_set_errno(err, errno_code(errno), errno, "close %s", af->tmp_path);
	} else {
		af->fd = -1;
		if (rename(af->tmp_path, af->path) < 0)
			ret = err_set_errno(err, GRPC_INTERNAL, errno, "rename %s to %s", af->tmp_path, af->path);
		else {
			free(af->tmp_path);
			af->tmp_path = NULL;
			ret = sync ? fsync_parent_dir(af->path, err) : 0;
		}
	}
	fs_atomic_abort(af);
	return ret;
}

int fs_atomic_commit(struct fs_atomic_file *af, ocid_error **err)
{
	return atomic_commit(af, true, err);
}

static int write_atomic(const char *path, const void *data, size_t len, mode_t mode, bool sync, ocid_error **err)
{
	struct fs_atomic_file af;
	if (fs_atomic_begin(&af, path, mode, err) < 0)
		return -1;
	if (fs_atomic_write(&af, data, len, err) < 0) {
		fs_atomic_abort(&af);
		return -1;
	}
	return atomic_commit(&af, sync, err);
}

int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode, ocid_error **err)
{
	return write_atomic(path, data, len, mode, true, err);
}

int fs_write_atomic_volatile(const char *path, const void *data, size_t len, mode_t mode, ocid_error **err)
{
	return write_atomic(path, data, len, mode, false, err);
}

static int is_temp_name(const char *name)
{
	/* ".<name>.tmp-XXXXXX" as made by fs_atomic_begin */
	size_t n = strlen(name);
	return name[0] == '.' && n > 12 && memcmp(name + n - 11, ".tmp-", 5) == 0;
}

int fs_remove_stale_temps(const char *dir, ocid_error **err)
{
	DIR *d = opendir(dir);
	if (d == NULL) {
		if (errno == ENOENT)
			return 0;
		return err_set_errno(err, GRPC_INTERNAL, errno, "open directory %s", dir);
	}
	int ret = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (!is_temp_name(de->d_name))
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) < 0 && errno != ENOENT) {
			ret = err_set_errno(err, GRPC_INTERNAL, errno, "remove %s/%s", dir, de->d_name);
			break;
		}
	}
	closedir(d);
	return ret;
}

/* ---- recursive removal ---- */

/* Empties the directory open at fd: unlinks the non-directories and returns
 * the name of one subdirectory still to be removed (NULL when none is left). */
static int next_subdir(int fd, const char *where, char **sub, ocid_error **err)
{
	*sub = NULL;
	int dfd = dup(fd);
	if (dfd < 0)
		return err_set_errno(err, GRPC_INTERNAL, errno, "dup");
	DIR *d = fdopendir(dfd);
	if (d == NULL) {
		int e = errno;
		close(dfd);
		return err_set_errno(err, GRPC_INTERNAL, e, "read directory %s", where);
	}
	rewinddir(d);
	int ret = 0;
	struct dirent *de;
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		const char *n = de->d_name;
		if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0)
			continue;
		int is_dir = de->d_type == DT_DIR;
		if (de->d_type == DT_UNKNOWN) {
			struct stat st;
			if (fstatat(fd, n, &st, AT_SYMLINK_NOFOLLOW) < 0) {
				if (errno == ENOENT)
					continue;
				ret = err_set_errno(err, GRPC_INTERNAL, errno, "stat %s/%s", where, n);
				break;
			}
			is_dir = S_ISDIR(st.st_mode);
		}
		if (is_dir) {
			*sub = xstrdup(n);
			break;
		}
		if (unlinkat(fd, n, 0) < 0 && errno != ENOENT) {
			ret = err_set_errno(err, GRPC_INTERNAL, errno, "remove %s/%s", where, n);
			break;
		}
		errno = 0;
	}
	closedir(d);
	return ret;
}

int fs_remove_all(const char *path, ocid_error **err)
{
	struct stat st;
	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		return err_set_errno(err, GRPC_INTERNAL, errno, "stat %s", path);
	}
	if (!S_ISDIR(st.st_mode)) {
		if (unlink(path) < 0 && errno != ENOENT)
			return err_set_errno(err, GRPC_INTERNAL, errno, "remove %s", path);
		return 0;
	}
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return err_set_errno(err, GRPC_INTERNAL, errno, "open directory %s", path);
	/* Depth-first with one descriptor: descend into a subdirectory, and when
	 * it is empty climb back through ".." and remove it by name. */
	char **stack = NULL;
	size_t depth = 0, cap = 0;
	int ret = 0;
	for (;;) {
		char *sub = NULL;
		if (next_subdir(fd, path, &sub, err) < 0) {
			ret = -1;
			break;
		}
		if (sub != NULL) {
			int child = openat(fd, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (child < 0) {
				ret = err_set_errno(err, GRPC_INTERNAL, errno, "open directory %s/.../%s", path, sub);
				free(sub);
				break;
			}
			close(fd);
			fd = child;
			if (depth == cap) {
				cap = cap ? cap * 2 : 16;
				stack = xrealloc(stack, cap * sizeof(*stack));
			}
			stack[depth++] = sub;
			continue;
		}
		if (depth == 0)
			break;
		int parent = openat(fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (parent < 0) {
			ret = err_set_errno(err, GRPC_INTERNAL, errno, "open parent directory under %s", path);
			break;
		}
		close(fd);
		fd = parent;
		char *name = stack[--depth];
		if (unlinkat(fd, name, AT_REMOVEDIR) < 0 && errno != ENOENT) {
			ret = err_set_errno(err, GRPC_INTERNAL, errno, "remove directory %s/.../%s", path, name);
			free(name);
			break;
		}
		free(name);
	}
	close(fd);
	for (size_t i = 0; i < depth; i++)
		free(stack[i]);
	free(stack);
	if (ret == 0 && rmdir(path) < 0 && errno != ENOENT)
		ret = err_set_errno(err, GRPC_INTERNAL, errno, "remove directory %s", path);
	return ret;
}

int fs_spread_subdirs(const char *dir)
{
	cleanup_close int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -1;
	int flags = 0;
	if (ioctl(fd, FS_IOC_GETFLAGS, &flags) < 0)
		return -1;
	if (flags & FS_TOPDIR_FL)
		return 0;
	flags |= FS_TOPDIR_FL;
	return ioctl(fd, FS_IOC_SETFLAGS, &flags) < 0 ? -1 : 0;
}
