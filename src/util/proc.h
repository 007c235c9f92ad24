/* What ocid reads of a process from /proc/<pid>/stat. */
#ifndef OCID_UTIL_PROC_H
#define OCID_UTIL_PROC_H

#include <stdint.h>

#include "util/err.h"

struct proc_stat {
	char state;                /* field 3: R, S, D, Z... */
	int ppid;                  /* field 4 */
	uint64_t utime, stime;     /* fields 14, 15: clock ticks */
	uint64_t cutime, cstime;   /* fields 16, 17: reaped children, clock ticks */
	uint64_t start_time;       /* field 22: clock ticks after boot */
};

/* Reads and parses /proc/<pid>/stat. NOT_FOUND when the process is gone. */
int proc_stat_read(int pid, struct proc_stat *out, ocid_error **err);

/* pidfd_open(2): a descriptor that stays bound to this process even once its
 * pid is reused; -1 with errno (ENOSYS on kernels without it). */
int proc_pidfd_open(int pid);

#endif
