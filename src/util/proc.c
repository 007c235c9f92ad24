#include "util/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util/cleanup.h"

int proc_stat_read(int pid, struct proc_stat *out, ocid_error **err)
{
	memset(out, 0, sizeof(*out));
	char path[64], buf[2048];
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set_errno(err, errno == ENOENT ? GRPC_NOT_FOUND : GRPC_INTERNAL, errno, "open %s", path);
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0)
		return err_set_errno(err, errno == ESRCH ? GRPC_NOT_FOUND : GRPC_INTERNAL, errno, "read %s", path);
	buf[n] = '\0';
	/* comm (field 2) may hold spaces and parentheses: the fields go on
	 * after the last ')' */
	char *p = strrchr(buf, ')');
	if (p == NULL || p[1] != ' ' || p[2] == '\0')
		return err_set(err, GRPC_INTERNAL, "%s: unexpected format", path);
	out->state = p[2];
	p += 3;
	for (int field = 4; field <= 22; field++) {
		char *end;
		errno = 0;
		unsigned long long v = strtoull(p, &end, 10);
		if (errno || end == p || (*end != ' ' && *end != '\n' && *end != '\0'))
			return err_set(err, GRPC_INTERNAL, "%s: field %d unreadable", path, field);
		switch (field) {
		case 4:
			out->ppid = (int)v;
			break;
		case 14:
			out->utime = v;
			break;
		case 15:
			out->stime = v;
			break;
		case 16:
			out->cutime = v;
			break;
		case 17:
			out->cstime = v;
			break;
		case 22:
			out->start_time = v;
			break;
		}
		p = end;
	}
	return 0;
}

int proc_pidfd_open(int pid)
{
#ifdef SYS_pidfd_open
	return (int)syscall(SYS_pidfd_open, pid, 0);
#else
	(void)pid;
	errno = ENOSYS;
	return -1;
#endif
}
