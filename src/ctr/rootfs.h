/* A container's root filesystem: an overlay of the image's layers (read-only
 * lower dirs, top first) with a per-container upper and work directory.
 *
 * The mount is made with the new mount API (fsopen/fsconfig/fsmount/
 * move_mount) and one "lowerdir+" per layer (Linux 6.8 and later), so the
 * number of layers is not bounded by the one-page limit of mount(2)'s option
 * string (about 50 layers with the store's paths). On older kernels it falls
 * back to a single "lowerdir=" string, which must then fit in a page.
 *
 * The overlay is mounted "volatile": it never syncs its upper layer (an
 * unmount otherwise syncs the whole filesystem under it: 3-25 ms measured
 * here, on every RemoveContainer). A container's writable layer need not
 * survive a crash of the machine: the container does not either (its
 * runroot is gone), and this mount is never made again over the same upper
 * dir, which the kernel would refuse after a crash anyway.
 *
 * Nothing here changes the process's working directory (it is shared by
 * every thread of the daemon). */
#ifndef OCID_CTR_ROOTFS_H
#define OCID_CTR_ROOTFS_H

#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

/* Mounts the overlay at target (an existing directory). upper and work must
 * be empty or previous upper/work dirs of the same container, on one
 * filesystem. */
int rootfs_mount(const char *target, char *const *lower, size_t n_lower, const char *upper, const char *work,
		 ocid_error **err);

/* Unmounts target (lazily if it is busy). Not mounted or missing: success. */
int rootfs_umount(const char *target, ocid_error **err);

/* True when target is the root of a mount. */
bool rootfs_is_mounted(const char *target);

/* Forces the mount(2) fallback (tests). */
extern bool rootfs_no_new_api;

#endif
