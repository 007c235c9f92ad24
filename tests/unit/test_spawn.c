/* util/spawn: exit statuses and signals, stdin/stdout round trips without
 * deadlock, stderr capture, output limits, deadlines and cancellation that
 * kill the whole process group and leave no zombie, environment isolation,
 * descriptor mapping and hygiene, signal state of the child. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "util/spawn.h"

#define SH "/bin/sh"

/* Number of live or zombie processes whose parent is this process. */
static int count_children(void)
{
	DIR *d = opendir("/proc");
	assert_non_null(d);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		char path[300], buf[512];
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		FILE *f = fopen(path, "r");
		if (f == NULL)
			continue;
		size_t len = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[len] = '\0';
		char *p = strrchr(buf, ')');
		int ppid = 0;
		char state;
		if (p && sscanf(p + 1, " %c %d", &state, &ppid) == 2 && ppid == getpid())
			n++;
	}
	closedir(d);
	return n;
}

/* 'R', 'S', 'Z'... or 0 when pid is gone. */
static char proc_state(int pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return 0;
	size_t len = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[len] = '\0';
	char *p = strrchr(buf, ')');
	char state = 0;
	if (p == NULL || sscanf(p + 1, " %c", &state) != 1)
		return 0;
	return state;
}

static int run_sh(const char *script, struct spawn_result *res, ocid_error **err)
{
	const char *argv[] = {SH, "-c", script, NULL};
	struct spawn_opts o = {.argv = argv, .deadline_ns = spawn_deadline_ms(10000)};
	return spawn_run(&o, res, err);
}

static void test_exit_codes(void **state)
{
	(void)state;
	struct spawn_result res;
	ocid_error *err = NULL;
	assert_int_equal(run_sh("exit 3", &res, &err), 0);
	assert_null(err);
	assert_true(res.exited);
	assert_int_equal(res.exit_code, 3);
	assert_false(res.signaled);
	assert_false(spawn_success(&res));
	char buf[64];
	assert_string_equal(spawn_describe(&res, buf, sizeof(buf)), "exited with status 3");
	spawn_result_free(&res);

	assert_int_equal(run_sh("echo hello", &res, &err), 0);
	assert_true(spawn_success(&res));
	assert_string_equal(res.out, "hello\n");
	assert_int_equal(res.out_len, 6);
	assert_string_equal(res.err, "");
	spawn_result_free(&res);
	assert_int_equal(count_children(), 0);
}

static void test_signal(void **state)
{
	(void)state;
	/* The daemon blocks SIGTERM (signalfd) and ignores nothing the child
	 * must see: blocked or ignored here, default and unblocked there. */
	sigset_t set, old;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	struct sigaction ign = {.sa_handler = SIG_IGN}, old_int;
	sigaction(SIGINT, &ign, &old_int);

	struct spawn_result res;
	ocid_error *err = NULL;
	assert_int_equal(run_sh("kill -TERM $$; sleep 5", &res, &err), 0);
	assert_true(res.signaled);
	assert_int_equal(res.signal, SIGTERM);
	assert_false(res.killed);
	char buf[64];
	assert_string_equal(spawn_describe(&res, buf, sizeof(buf)), "killed by signal 15 (SIGTERM)");
	spawn_result_free(&res);

	assert_int_equal(run_sh("kill -INT $$; sleep 5", &res, &err), 0);
	assert_true(res.signaled);
	assert_int_equal(res.signal, SIGINT);
	spawn_result_free(&res);

	/* The mask the child starts with: nothing blocked. */
	assert_int_equal(run_sh("grep SigBlk /proc/self/status", &res, &err), 0);
	assert_string_equal(res.out, "SigBlk:\t0000000000000000\n");
	spawn_result_free(&res);

	sigaction(SIGINT, &old_int, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static void test_roundtrip_5mib(void **state)
{
	(void)state;
	size_t len = 5u << 20;
	char *data = malloc(len);
	for (size_t i = 0; i < len; i++)
		data[i] = (char)('a' + (i * 7919) % 26);
	const char *argv[] = {"/bin/cat", NULL};
	struct spawn_opts o = {
		.argv = argv, .stdin_data = data, .stdin_len = len, .deadline_ns = spawn_deadline_ms(20000)};
	struct spawn_result res;
	ocid_error *err = NULL;
	assert_int_equal(spawn_run(&o, &res, &err), 0);
	assert_true(spawn_success(&res));
	assert_int_equal(res.out_len, len);
	assert_memory_equal(res.out, data, len);
	spawn_result_free(&res);

	/* Same volume on stdout and stderr at once, while stdin is written. */
	const char *argv2[] = {SH, "-c", "tee /dev/stderr", NULL};
	o.argv = argv2;
	o.stderr_max = len;
	assert_int_equal(spawn_run(&o, &res, &err), 0);
	assert_true(spawn_success(&res));
	assert_int_equal(res.out_len, len);
	assert_memory_equal(res.out, data, len);
	spawn_result_free(&res);
	free(data);
}

static void test_stdin_not_read(void **state)
{
	(void)state;
	/* The child exits without reading: not an error, and no SIGPIPE here
	 * (the default action would kill this test). */
	size_t len = 4u << 20;
	char *data = calloc(1, len);
	const char *argv[] = {"/bin/true", NULL};
	struct spawn_opts o = {.argv = argv, .stdin_data = data, .stdin_len = len};
	struct spawn_result res;
	ocid_error *err = NULL;
	assert_int_equal(spawn_run(&o, &res, &err), 0);
	assert_true(spawn_success(&res));
	spawn_result_free(&res);
	free(data);

	/* No stdin given: /dev/null. */
	assert_int_equal(run_sh("cat; echo end", &res, &err), 0);
	assert_string_equal(res.out, "end\n");
	spawn_result_free(&res);
}

static void test_stderr_capture(void **state)
{
	(void)state;
	struct spawn_result res;
	ocid_error *err = NULL;
	assert_int_equal(run_sh("echo out; echo oops >&2; exit 1", &res, &err), 0);
	assert_string_equal(res.out, "out\n");
	assert_string_equal(res.err, "oops\n");
	assert_int_equal(res.exit_code, 1);
	spawn_result_free(&res);
}

static void test_output_limits(void **state)
{
	(void)state;
	const char *argv[] = {SH, "-c", "head -c 100000 /dev/zero; sleep 10", NULL};
	struct spawn_opts o = {.argv = argv, .stdout_max = 1000, .deadline_ns = spawn_deadline_ms(10000)};
	struct spawn_result res;
	ocid_error *err = NULL;
	int64_t t0 = spawn_now_ns();
	assert_int_equal(spawn_run(&o, &res, &err), -1);
	assert_non_null(err);
	assert_int_equal(err->code, GRPC_RESOURCE_EXHAUSTED);
	assert_non_null(strstr(err->msg, "more than 1000 bytes on stdout"));
	assert_true(res.killed);
	assert_true(res.signaled);
	assert_int_equal(res.out_len, 1000);
	assert_true(spawn_now_ns() - t0 < 5000000000LL);
	err_clear(&err);
	spawn_result_free(&res);

	const char *argv2[] = {SH, "-c", "head -c 5000 /dev/zero >&2", NULL};
	struct spawn_opts o2 = {.argv = argv2, .stderr_max = 4096};
	assert_int_equal(spawn_run(&o2, &res, &err), -1);
	assert_int_equal(err->code, GRPC_RESOURCE_EXHAUSTED);
	assert_non_null(strstr(err->msg, "stderr"));
	err_clear(&err);
	spawn_result_free(&res);

	/* Exactly at the limit is fine. */
	const char *argv3[] = {SH, "-c", "head -c 4096 /dev/zero", NULL};
	struct spawn_opts o3 = {.argv = argv3, .stdout_max = 4096};
	assert_int_equal(spawn_run(&o3, &res, &err), 0);
	assert_int_equal(res.out_len, 4096);
	spawn_result_free(&res);
	assert_int_equal(count_children(), 0);
}

static void test_timeout_kills_group(void **state)
{
	(void)state;
	const char *argv[] = {SH, "-c", "sleep 100 & echo $!; sleep 100", NULL};
	struct spawn_opts o = {.argv = argv, .deadline_ns = spawn_deadline_ms(300)};
	struct spawn_result res;
	ocid_error *err = NULL;
	int64_t t0 = spawn_now_ns();
	assert_int_equal(spawn_run(&o, &res, &err), -1);
	int64_t took = spawn_now_ns() - t0;
	assert_non_null(err);
	assert_int_equal(err->code, GRPC_DEADLINE_EXCEEDED);
	err_clear(&err);
	assert_true(took >= 250000000LL && took < 3000000000LL);
	assert_true(res.killed);
	assert_true(res.signaled);
	assert_int_equal(res.signal, SIGKILL);
	int grandchild = atoi(res.out);
	assert_true(grandchild > 0);
	spawn_result_free(&res);

	/* Our child is reaped; the grandchild was killed (it may linger as a
	 * zombie of init for a moment, never as ours). */
	assert_int_equal(count_children(), 0);
	for (int i = 0; i < 300; i++) {
		char s = proc_state(grandchild);
		if (s == 0 || s == 'Z' || s == 'X')
			break;
		usleep(10000);
	}
	char s = proc_state(grandchild);
	assert_true(s == 0 || s == 'Z' || s == 'X');
}

static void test_deadline_passed(void **state)
{
	(void)state;
	const char *argv[] = {"/bin/sleep", "10", NULL};
	struct spawn_opts o = {.argv = argv, .deadline_ns = spawn_now_ns() - 1};
	struct spawn_result res;
	ocid_error *err = NULL;
	assert_int_equal(spawn_run(&o, &res, &err), -1);
	assert_int_equal(err->code, GRPC_DEADLINE_EXCEEDED);
	err_clear(&err);
	assert_true(res.killed);
	spawn_result_free(&res);
	assert_int_equal(count_children(), 0);
}

static bool cancel_after_3(void *arg)
{
	int *n = arg;
	return ++*n >= 3;
}

static void test_cancel(void **state)
{
	(void)state;
	int calls = 0;
	const char *argv[] = {SH, "-c", "sleep 100 & sleep 100", NULL};
	struct spawn_opts o = {.argv = argv, .cancelled = cancel_after_3, .cancel_arg = &calls};
	struct spawn_result res;
	ocid_error *err = NULL;
	int64_t t0 = spawn_now_ns();
	assert_int_equal(spawn_run(&o, &res, &err), -1);
	assert_int_equal(err->code, GRPC_CANCELLED);
	err_clear(&err);
	assert_int_equal(calls, 3);
	assert_true(spawn_now_ns() - t0 < 2000000000LL);
	assert_true(res.killed);
	spawn_result_free(&res);
	assert_int_equal(count_children(), 0);
}

static void test_env_isolation(void **state)
{
	(void)state;
	setenv("OCID_TEST_SECRET", "leaked", 1);
	const char *argv[] = {"/usr/bin/env", NULL};
	struct spawn_opts o = {.argv = argv};
	struct spawn_result res;
	ocid_error *err = NULL;
	assert_int_equal(spawn_run(&o, &res, &err), 0);
	assert_string_equal(res.out, "");
	spawn_result_free(&res);

	const char *envp[] = {"A=1", "B=two words", NULL};
	o.envp = envp;
	assert_int_equal(spawn_run(&o, &res, &err), 0);
	assert_string_equal(res.out, "A=1\nB=two words\n");
	spawn_result_free(&res);
	unsetenv("OCID_TEST_SECRET");
}

static void test_cwd_and_not_found(void **state)
{
	(void)state;
	const char *argv[] = {"/bin/pwd", NULL};
	struct spawn_opts o = {.argv = argv, .cwd = "/usr/lib"};
	struct spawn_result res;
	ocid_error *err = NULL;
	assert_int_equal(spawn_run(&o, &res, &err), 0);
	assert_string_equal(res.out, "/usr/lib\n");
	spawn_result_free(&res);

	const char *argv2[] = {"/nonexistent/program", NULL};
	struct spawn_opts o2 = {.argv = argv2};
	assert_int_equal(spawn_run(&o2, &res, &err), -1);
	assert_int_equal(err->code, GRPC_NOT_FOUND);
	assert_non_null(strstr(err->msg, "/nonexistent/program"));
	err_clear(&err);
	assert_int_equal(res.pid, -1);
	assert_string_equal(res.out, "");
	spawn_result_free(&res);

	/* A path that exists but cannot be executed. */
	char noexec[] = "/tmp/test_spawn.XXXXXX";
	int fd = mkstemp(noexec);
	assert_true(fd >= 0);
	assert_int_equal(fchmod(fd, 0644), 0);
	close(fd);
	const char *argv3[] = {noexec, NULL};
	struct spawn_opts o3 = {.argv = argv3};
	assert_int_equal(spawn_run(&o3, &res, &err), -1);
	assert_int_equal(err->code, GRPC_PERMISSION_DENIED);
	err_clear(&err);
	spawn_result_free(&res);
	unlink(noexec);

	/* An explicit path with a different argv[0]. */
	const char *argv4[] = {"my-name", "-c", "echo $0", NULL};
	struct spawn_opts o4 = {.path = SH, .argv = argv4};
	assert_int_equal(spawn_run(&o4, &res, &err), 0);
	assert_string_equal(res.out, "my-name\n");
	spawn_result_free(&res);
	assert_int_equal(count_children(), 0);
}

static void test_fds(void **state)
{
	(void)state;
	/* A descriptor the daemon opened without O_CLOEXEC does not leak. */
	int leak = open("/dev/null", O_RDONLY);
	assert_true(leak >= 3);
	int p[2];
	assert_int_equal(pipe(p), 0);
	int q[2];
	assert_int_equal(pipe(q), 0);

	/* p's write end becomes 3 and q's becomes 7 (whatever their numbers
	 * here, even when a source number is another mapping's target). */
	struct spawn_fd fds[] = {{.parent_fd = p[1], .child_fd = 3}, {.parent_fd = q[1], .child_fd = 7}};
	const char *argv[] = {SH, "-c", "echo to3 >&3; echo to7 >&7; ls /proc/self/fd | sort -n | tr '\\n' ' '", NULL};
	struct spawn_opts o = {.argv = argv, .fds = fds, .n_fds = 2};
	struct spawn_result res;
	ocid_error *err = NULL;
	assert_int_equal(spawn_run(&o, &res, &err), 0);
	assert_true(spawn_success(&res));
	/* ls sees 0-2, the two mapped fds and its own directory fd. */
	assert_string_equal(res.out, "0 1 2 3 4 7 ");
	spawn_result_free(&res);
	close(p[1]);
	close(q[1]);
	char buf[16] = {0};
	assert_int_equal(read(p[0], buf, sizeof(buf) - 1), 4);
	assert_string_equal(buf, "to3\n");
	memset(buf, 0, sizeof(buf));
	assert_int_equal(read(q[0], buf, sizeof(buf) - 1), 4);
	assert_string_equal(buf, "to7\n");
	close(p[0]);
	close(q[0]);

	/* Swapped numbers: parent fd a -> child b and parent b -> child a. */
	int a = open("/dev/null", O_RDONLY), b = open("/etc/hostname", O_RDONLY);
	struct spawn_fd swap[] = {{.parent_fd = a, .child_fd = b}, {.parent_fd = b, .child_fd = a}};
	char script[128];
	snprintf(script, sizeof(script), "readlink /proc/self/fd/%d /proc/self/fd/%d", a, b);
	const char *argv2[] = {SH, "-c", script, NULL};
	struct spawn_opts o2 = {.argv = argv2, .fds = swap, .n_fds = 2};
	assert_int_equal(spawn_run(&o2, &res, &err), 0);
	assert_string_equal(res.out, "/etc/hostname\n/dev/null\n");
	spawn_result_free(&res);
	close(a);
	close(b);

	struct spawn_fd bad[] = {{.parent_fd = leak, .child_fd = 1}};
	struct spawn_opts o3 = {.argv = argv, .fds = bad, .n_fds = 1};
	assert_int_equal(spawn_run(&o3, &res, &err), -1);
	assert_int_equal(err->code, GRPC_INVALID_ARGUMENT);
	err_clear(&err);
	spawn_result_free(&res);
	close(leak);
	assert_int_equal(count_children(), 0);
}

static void test_output_modes_and_drain(void **state)
{
	(void)state;
	/* A grandchild that keeps stdout open does not hold the run up past the
	 * drain period once the child itself has exited. */
	struct spawn_result res;
	ocid_error *err = NULL;
	int64_t t0 = spawn_now_ns();
	assert_int_equal(run_sh("sleep 30 & echo $!", &res, &err), 0);
	assert_true(spawn_now_ns() - t0 < 3000000000LL);
	assert_true(spawn_success(&res));
	int gc = atoi(res.out);
	assert_true(gc > 0);
	kill(gc, SIGKILL);
	spawn_result_free(&res);

	const char *argv[] = {SH, "-c", "echo visible; echo hidden >&2", NULL};
	struct spawn_opts o = {.argv = argv, .stderr_mode = SPAWN_DEVNULL};
	assert_int_equal(spawn_run(&o, &res, &err), 0);
	assert_string_equal(res.out, "visible\n");
	assert_string_equal(res.err, "");
	spawn_result_free(&res);
}

static void *thread_runs(void *arg)
{
	(void)arg;
	size_t len = 256 << 10;
	char *data = malloc(len);
	for (size_t i = 0; i < len; i++)
		data[i] = (char)(i * 31);
	long bad = 0;
	for (int i = 0; i < 20; i++) {
		struct spawn_result res;
		ocid_error *err = NULL;
		const char *argv[] = {"/bin/cat", NULL};
		struct spawn_opts o = {.argv = argv, .stdin_data = data, .stdin_len = len,
				       .deadline_ns = spawn_deadline_ms(20000)};
		if (spawn_run(&o, &res, &err) < 0 || !spawn_success(&res) || res.out_len != len ||
		    memcmp(res.out, data, len) != 0)
			bad++;
		err_clear(&err);
		spawn_result_free(&res);
	}
	free(data);
	return (void *)bad;
}

static int count_fds(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static void test_threads(void **state)
{
	(void)state;
	/* Several threads running children at once; no fd or child leaks. */
	int before = count_fds();
	pthread_t t[4];
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, thread_runs, NULL), 0);
	for (int i = 0; i < 4; i++) {
		void *bad = NULL;
		assert_int_equal(pthread_join(t[i], &bad), 0);
		assert_int_equal((long)bad, 0);
	}
	assert_int_equal(count_fds(), before);
	assert_int_equal(count_children(), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exit_codes),
		cmocka_unit_test(test_signal),
		cmocka_unit_test(test_roundtrip_5mib),
		cmocka_unit_test(test_stdin_not_read),
		cmocka_unit_test(test_stderr_capture),
		cmocka_unit_test(test_output_limits),
		cmocka_unit_test(test_timeout_kills_group),
		cmocka_unit_test(test_deadline_passed),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_env_isolation),
		cmocka_unit_test(test_cwd_and_not_found),
		cmocka_unit_test(test_fds),
		cmocka_unit_test(test_output_modes_and_drain),
		cmocka_unit_test(test_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
