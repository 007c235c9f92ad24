/* The listening unix socket: parent directories, stale socket replacement,
 * permissions. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "server/internal.h"
#include "util/cleanup.h"
#include "util/log.h"

#define SOCKET_MODE 0660
#define DIR_MODE 0755

static int mkdir_parents(const char *path, ocid_error **err)
{
	cleanup_free char *dir = strdup(path);
	if (dir == NULL)
		return err_set(err, GRPC_RESOURCE_EXHAUSTED, "out of memory");
	char *slash = strrchr(dir, '/');
	if (slash == NULL || slash == dir)
		return 0;
	*slash = '\0';
	for (char *p = dir + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char saved = *p;
		*p = '\0';
		if (mkdir(dir, DIR_MODE) < 0 && errno != EEXIST)
			return err_set_errno(err, GRPC_INTERNAL, errno, "create directory `%s`", dir);
		*p = saved;
		if (saved == '\0')
			break;
	}
	struct stat st;
	if (stat(dir, &st) < 0)
		return err_set_errno(err, GRPC_INTERNAL, errno, "stat `%s`", dir);
	if (!S_ISDIR(st.st_mode))
		return err_set(err, GRPC_INTERNAL, "`%s` is not a directory", dir);
	return 0;
}

static int fill_addr(const char *path, struct sockaddr_un *addr, ocid_error **err)
{
	memset(addr, 0, sizeof(*addr));
	addr->sun_family = AF_UNIX;
	size_t len = strlen(path);
	if (len == 0)
		return err_set(err, GRPC_INVALID_ARGUMENT, "empty socket path");
	if (len >= sizeof(addr->sun_path))
		return err_set(err, GRPC_INVALID_ARGUMENT, "socket path longer than %zu bytes: %s",
			       sizeof(addr->sun_path) - 1, path);
	memcpy(addr->sun_path, path, len);
	return 0;
}

/* An existing file at path: a socket nobody listens on is removed; a live
 * socket or any other kind of file is an error. */
static int remove_stale(const char *path, const struct sockaddr_un *addr, ocid_error **err)
{
	struct stat st;
	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		return err_set_errno(err, GRPC_INTERNAL, errno, "stat `%s`", path);
	}
	if (!S_ISSOCK(st.st_mode))
		return err_set(err, GRPC_ALREADY_EXISTS, "`%s` exists and is not a socket", path);

	cleanup_close int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (probe < 0)
		return err_set_errno(err, GRPC_INTERNAL, errno, "socket");
	if (connect(probe, (const struct sockaddr *)addr, sizeof(*addr)) == 0 || errno == EAGAIN ||
	    errno == EINPROGRESS)
		return err_set(err, GRPC_ALREADY_EXISTS,
			       "another process is listening on `%s`", path);
	if (errno != ECONNREFUSED && errno != ENOENT)
		log_warn("probing stale socket failed", "socket=%s error=\"%s\"", path,
			 strerror(errno));
	if (unlink(path) < 0 && errno != ENOENT)
		return err_set_errno(err, GRPC_INTERNAL, errno, "remove stale socket `%s`", path);
	log_info("removed stale socket", "socket=%s", path);
	return 0;
}

int listener_open(const char *path, int *fd_out, dev_t *dev, ino_t *ino, ocid_error **err)
{
	struct sockaddr_un addr;
	if (fill_addr(path, &addr, err) < 0)
		return -1;
	if (mkdir_parents(path, err) < 0 || remove_stale(path, &addr, err) < 0)
		return err_prefix(err, "listen on `%s`", path);

	cleanup_close int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return err_set_errno(err, GRPC_INTERNAL, errno, "socket");
	if (bind(fd, (const struct sockaddr *)&addr, sizeof(addr)) < 0)
		return err_set_errno(err, GRPC_INTERNAL, errno, "bind `%s`", path);
	struct stat st;
	if (chmod(path, SOCKET_MODE) < 0 || lstat(path, &st) < 0) {
		int e = errno;
		unlink(path);
		return err_set_errno(err, GRPC_INTERNAL, e, "chmod `%s`", path);
	}
	if (listen(fd, SOMAXCONN) < 0) {
		int e = errno;
		unlink(path);
		return err_set_errno(err, GRPC_INTERNAL, e, "listen on `%s`", path);
	}
	*dev = st.st_dev;
	*ino = st.st_ino;
	*fd_out = steal_fd(&fd);
	return 0;
}

void listener_unlink(const char *path, dev_t dev, ino_t ino)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return;
	/* Someone else may have taken the path over since: leave theirs. */
	if (st.st_dev != dev || st.st_ino != ino)
		return;
	if (unlink(path) < 0 && errno != ENOENT)
		log_warn("cannot remove socket", "socket=%s error=\"%s\"", path, strerror(errno));
}
