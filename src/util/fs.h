/* Filesystem helpers shared by every module. */
#ifndef OCID_UTIL_FS_H
#define OCID_UTIL_FS_H

#include <sys/types.h>

#include "util/err.h"

/* Creates path and its missing parents with mode (existing ones untouched).
 * Fails if path exists and is not a directory. */
int fs_mkdir_p(const char *path, mode_t mode, ocid_error **err);

#endif
