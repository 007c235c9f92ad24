#include "util/fs.h"

#include <errno.h>
#include <string.h>
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
