/* Pull-style byte sources for the store: the extractor and blob writer read
 * their input through one of these, so a download can be piped in, read
 * from a file, or served from memory in tests. */
#ifndef OCID_STORE_SOURCE_H
#define OCID_STORE_SOURCE_H

#include <errno.h>
#include <sys/types.h>
#include <unistd.h>

#include "util/err.h"

/* Fills buf with up to len bytes; returns the count, 0 at the end of the
 * input, or -1 with *err set (a cancelled download returns its CANCELLED or
 * DEADLINE_EXCEEDED error here, and the reader passes it on unchanged). */
typedef ssize_t (*store_read_fn)(void *ctx, void *buf, size_t len, ocid_error **err);

/* A store_read_fn over a file descriptor (a pipe from the downloader, a
 * file); ctx points to the int fd. */
static inline ssize_t store_read_fd(void *ctx, void *buf, size_t len, ocid_error **err)
{
	int fd = *(int *)ctx;
	for (;;) {
		ssize_t n = read(fd, buf, len);
		if (n >= 0)
			return n;
		if (errno != EINTR)
			return err_set_errno(err, GRPC_INTERNAL, errno, "read");
	}
}

#endif
