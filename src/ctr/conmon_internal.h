/* Helpers shared by conmon.c and conmon_exec.c only. */
#ifndef OCID_CTR_CONMON_INTERNAL_H
#define OCID_CTR_CONMON_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "ctr/oci_runtime.h"
#include "util/err.h"

struct argv_buf {
	char **v;
	size_t n, cap;
};
void argv_push(struct argv_buf *a, const char *s);
void argv_pushf(struct argv_buf *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The runtime's environment plus _OCI_SYNCPIPE=<sync_fd>. */
char **conmon_env(const struct oci_runtime *rt, int sync_fd);

/* Reads a small file into buf (NUL-terminated); bytes read or -1. */
int read_small_file(const char *path, char *buf, size_t size);
/* The pid in a pid file, or -1. */
int read_pid_file(const char *path);
/* One reply line from conmon's sync pipe (see conmon.c). */
char *read_reply_line(int fd, int64_t deadline_ns, const char *what, ocid_error **err);

#endif
