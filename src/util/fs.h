/* Filesystem helpers shared by every module. */
#ifndef OCID_UTIL_FS_H
#define OCID_UTIL_FS_H

#include <sys/types.h>

#include "util/err.h"

/* Creates path and its missing parents with mode (existing ones untouched).
 * Fails if path exists and is not a directory. */
int fs_mkdir_p(const char *path, mode_t mode, ocid_error **err);

/* One way to write a file atomically: the bytes go to a temporary file in
 * the same directory (".<name>.tmp-XXXXXX"), which is given mode, fsynced and
 * renamed over path; then the directory is fsynced. Readers see the old
 * content or the new, never a mix; a crash leaves at most a stale temporary
 * (fs_remove_stale_temps removes them). */
int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode, ocid_error **err);

/* fs_write_atomic without the fsyncs, for volatile state (files under
 * runroot, which a reboot discards anyway): readers still see the old or the
 * new content, never a mix, but a crash may lose the update. */
int fs_write_atomic_volatile(const char *path, const void *data, size_t len, mode_t mode, ocid_error **err);

/* The streaming form of fs_write_atomic, for content that arrives in pieces:
 * begin, write any number of times, then commit (or abort). commit and abort
 * release everything; abort is a no-op on a committed or zeroed struct. */
struct fs_atomic_file {
	int fd;
	char *path;
	char *tmp_path;
};
int fs_atomic_begin(struct fs_atomic_file *af, const char *path, mode_t mode, ocid_error **err);
int fs_atomic_write(struct fs_atomic_file *af, const void *data, size_t len, ocid_error **err);
int fs_atomic_commit(struct fs_atomic_file *af, ocid_error **err);
void fs_atomic_abort(struct fs_atomic_file *af);

/* Removes the temporaries left in dir by an interrupted atomic write. */
int fs_remove_stale_temps(const char *dir, ocid_error **err);

/* Writes all len bytes to fd (retrying short writes and EINTR); -1 with
 * errno set on failure. */
int fs_write_all(int fd, const void *data, size_t len);

/* Removes path and, when it is a directory, everything below it, never
 * following symlinks and with a bounded number of open descriptors whatever
 * the depth. A missing path is not an error. */
int fs_remove_all(const char *path, ocid_error **err);

/* Asks the filesystem to spread the directories made in dir over its
 * allocation groups (ext4's "top of directory hierarchy" flag, chattr +T)
 * rather than packing them next to dir. 0 when set; -1 with errno when the
 * filesystem has no such flag (harmless: the caller goes on). */
int fs_spread_subdirs(const char *dir);

#endif
