/* /proc/<pid>/stat: fields read right even when the command name holds
 * spaces and parentheses; a process that is gone is NOT_FOUND; a pidfd
 * reports the exit. */
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/times.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "util/proc.h"

static void test_self_with_odd_name(void **state)
{
	(void)state;
	assert_int_equal(prctl(PR_SET_NAME, "a) 1 2 (b) c", 0, 0, 0), 0);
	struct proc_stat ps;
	ocid_error *err = NULL;
	assert_int_equal(proc_stat_read(getpid(), &ps, &err), 0);
	assert_int_equal(ps.ppid, getppid());
	assert_int_equal(ps.state, 'R');
	assert_true(ps.start_time > 0);
	/* utime and stime are the ones times(2) reports (to a tick) */
	volatile unsigned long x = 0;
	for (unsigned long i = 0; i < 200000000UL; i++)
		x += i;
	struct tms t;
	times(&t);
	assert_int_equal(proc_stat_read(getpid(), &ps, &err), 0);
	long long ours = (long long)(t.tms_utime + t.tms_stime), theirs = (long long)(ps.utime + ps.stime);
	assert_true(ours > 0);
	assert_true(theirs >= ours && theirs <= ours + 2);
}

static void test_child_and_gone(void **state)
{
	(void)state;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		pause();
		_exit(0);
	}
	struct proc_stat ps;
	ocid_error *err = NULL;
	assert_int_equal(proc_stat_read(pid, &ps, &err), 0);
	assert_int_equal(ps.ppid, getpid());
	/* the pidfd becomes readable when the child exits */
	int pidfd = proc_pidfd_open(pid);
	assert_true(pidfd >= 0);
	struct pollfd pf = {.fd = pidfd, .events = POLLIN};
	assert_int_equal(poll(&pf, 1, 0), 0);
	kill(pid, SIGKILL);
	assert_int_equal(poll(&pf, 1, 5000), 1);
	close(pidfd);
	waitpid(pid, NULL, 0);
	assert_int_equal(proc_stat_read(pid, &ps, &err), -1);
	assert_int_equal(err->code, GRPC_NOT_FOUND);
	err_free(err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_self_with_odd_name),
		cmocka_unit_test(test_child_and_gone),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
