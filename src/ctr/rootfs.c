#include "ctr/rootfs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/xalloc.h"

bool rootfs_no_new_api;

/* Characters overlay's option parser treats specially in a path. */
static bool path_ok(const char *p)
{
	return p && p[0] == '/' && strpbrk(p, ",:\\") == NULL;
}

static int check_paths(char *const *lower, size_t n_lower, const char *upper, const char *work, ocid_error **err)
{
	if (n_lower == 0)
		return err_set(err, GRPC_FAILED_PRECONDITION, "overlay rootfs: the image has no layers");
	for (size_t i = 0; i < n_lower; i++)
		if (!path_ok(lower[i]))
			return err_set(err, GRPC_INTERNAL, "overlay rootfs: unusable layer path \"%s\"",
				       lower[i] ? lower[i] : "");
	if (!path_ok(upper) || !path_ok(work))
		return err_set(err, GRPC_INTERNAL, "overlay rootfs: unusable upper/work path");
	return 0;
}

/* fsconfig(2) with the key and value in the error. */
static int set_str(int fsfd, const char *key, const char *value, ocid_error **err)
{
	if (fsconfig(fsfd, FSCONFIG_SET_STRING, key, value, 0) == 0)
		return 0;
	return err_set_errno(err, errno == ENOENT ? GRPC_NOT_FOUND : GRPC_INTERNAL, errno,
			     "overlay rootfs: %s=%s", key, value);
}

/* 1 = mounted, 0 = the new API (or lowerdir+) is not available here (try
 * mount(2)), -1 = error. */
static int mount_new_api(const char *target, char *const *lower, size_t n_lower, const char *upper,
			 const char *work, ocid_error **err)
{
	cleanup_close int fsfd = fsopen("overlay", FSOPEN_CLOEXEC);
	if (fsfd < 0) {
		if (errno == ENOSYS)
			return 0;
		return err_set_errno(err, GRPC_INTERNAL, errno, "overlay rootfs: fsopen");
	}
	for (size_t i = 0; i < n_lower; i++) {
		if (fsconfig(fsfd, FSCONFIG_SET_STRING, "lowerdir+", lower[i], 0) == 0)
			continue;
		if (errno == EINVAL && i == 0)
			return 0; /* a kernel before 6.8: no lowerdir+ */
		return err_set_errno(err, errno == ENOENT ? GRPC_NOT_FOUND : GRPC_INTERNAL, errno,
				     "overlay rootfs: layer %s", lower[i]);
	}
	if (set_str(fsfd, "upperdir", upper, err) < 0 || set_str(fsfd, "workdir", work, err) < 0)
		return -1;
	if (fsconfig(fsfd, FSCONFIG_SET_FLAG, "volatile", NULL, 0) < 0)
		return err_set_errno(err, GRPC_INTERNAL, errno, "overlay rootfs: volatile");
	if (fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		return err_set_errno(err, GRPC_INTERNAL, errno, "overlay rootfs: create the overlay of %zu layers",
				     n_lower);
	cleanup_close int mfd = fsmount(fsfd, FSMOUNT_CLOEXEC, 0);
	if (mfd < 0)
		return err_set_errno(err, GRPC_INTERNAL, errno, "overlay rootfs: fsmount");
	if (move_mount(mfd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		return err_set_errno(err, GRPC_INTERNAL, errno, "overlay rootfs: attach at %s", target);
	return 1;
}

static int mount_legacy(const char *target, char *const *lower, size_t n_lower, const char *upper,
			const char *work, ocid_error **err)
{
	size_t len = strlen("lowerdir=,upperdir=,workdir=,volatile") + strlen(upper) + strlen(work) + 1;
	for (size_t i = 0; i < n_lower; i++)
		len += strlen(lower[i]) + 1;
	long page = sysconf(_SC_PAGESIZE);
	if (page <= 0)
		page = 4096;
	if (len > (size_t)page)
		return err_set(err, GRPC_FAILED_PRECONDITION,
			       "overlay rootfs: %zu layers need a %zu-byte option string, over the %ld-byte limit "
			       "of mount(2) on this kernel (no lowerdir+)",
			       n_lower, len, page);
	cleanup_free char *opts = xmalloc(len);
	size_t o = (size_t)snprintf(opts, len, "lowerdir=");
	for (size_t i = 0; i < n_lower; i++)
		o += (size_t)snprintf(opts + o, len - o, "%s%s", i ? ":" : "", lower[i]);
	snprintf(opts + o, len - o, ",upperdir=%s,workdir=%s,volatile", upper, work);
	if (mount("overlay", target, "overlay", 0, opts) < 0)
		return err_set_errno(err, GRPC_INTERNAL, errno, "overlay rootfs: mount at %s", target);
	return 0;
}

int rootfs_mount(const char *target, char *const *lower, size_t n_lower, const char *upper, const char *work,
		 ocid_error **err)
{
	if (check_paths(lower, n_lower, upper, work, err) < 0)
		return -1;
	if (!rootfs_no_new_api) {
		int r = mount_new_api(target, lower, n_lower, upper, work, err);
		if (r != 0)
			return r < 0 ? -1 : 0;
	}
	return mount_legacy(target, lower, n_lower, upper, work, err);
}

bool rootfs_is_mounted(const char *target)
{
	struct statx sx;
	if (statx(AT_FDCWD, target, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &sx) < 0)
		return false;
	if (sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT)
		return (sx.stx_attributes & STATX_ATTR_MOUNT_ROOT) != 0;
	/* Older kernels: a different device than the parent's. */
	cleanup_free char *parent = xasprintf("%s/..", target);
	struct stat a, b;
	if (lstat(target, &a) < 0 || stat(parent, &b) < 0)
		return false;
	return a.st_dev != b.st_dev || a.st_ino == b.st_ino;
}

int rootfs_umount(const char *target, ocid_error **err)
{
	/* A crash may have left more than one mount stacked there. */
	for (int i = 0; i < 16; i++) {
		if (umount2(target, UMOUNT_NOFOLLOW) == 0)
			continue;
		if (errno == EINVAL || errno == ENOENT || errno == ENOTDIR)
			return 0; /* not (or no longer) a mount point */
		if (errno == EBUSY && umount2(target, UMOUNT_NOFOLLOW | MNT_DETACH) == 0)
			continue;
		return err_set_errno(err, GRPC_INTERNAL, errno, "unmount rootfs %s", target);
	}
	return err_set(err, GRPC_INTERNAL, "unmount rootfs %s: still mounted after 16 unmounts", target);
}
