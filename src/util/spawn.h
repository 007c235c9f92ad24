/* The one way the daemon runs a child program (CNI plugins, runc, conmon,
 * iptables...).
 *
 * The child is started with posix_spawn (no fork of a multi-threaded daemon)
 * in a process group of its own, with every signal at its default action and
 * none blocked, an environment given explicitly (nothing is inherited), and no
 * descriptor of the daemon except 0-2 and the ones mapped on purpose. stdin is
 * fed from a byte buffer and stdout/stderr are captured into bounded buffers,
 * all in one poll loop, so large outputs never deadlock.
 *
 * At the deadline, on cancellation or when an output limit is exceeded, the
 * child's whole process group is killed with SIGKILL. The child is reaped on
 * every path: spawn_run waits only for its own pid, never for "any child".
 *
 * Thread-safe: any number of threads may run children at the same time. */
#ifndef OCID_UTIL_SPAWN_H
#define OCID_UTIL_SPAWN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define SPAWN_STDOUT_MAX_DEFAULT (16u << 20) /* 16 MiB */
#define SPAWN_STDERR_MAX_DEFAULT (1u << 20)  /* 1 MiB */

/* What the child's stdout or stderr is connected to. */
enum spawn_output {
	SPAWN_CAPTURE = 0, /* a pipe read into spawn_result (the default) */
	SPAWN_DEVNULL,     /* /dev/null */
	SPAWN_INHERIT,     /* the daemon's own descriptor */
};

/* An extra descriptor for the child: parent_fd becomes child_fd (>= 3) in
 * the child. parent_fd is not closed or changed in the parent. */
struct spawn_fd {
	int parent_fd;
	int child_fd;
};

struct spawn_opts {
	/* The program, by path (no PATH search); NULL = argv[0]. */
	const char *path;
	/* NULL-terminated; argv[0] required. */
	const char *const *argv;
	/* NULL-terminated "KEY=VALUE" list; NULL = an empty environment. Pass
	 * `environ` explicitly to hand down the daemon's. */
	const char *const *envp;
	/* Working directory of the child; NULL = the daemon's. */
	const char *cwd;

	/* Bytes written to the child's stdin, which is then closed. NULL (with
	 * stdin_len 0) = stdin is /dev/null. A child that exits or closes stdin
	 * before reading everything is not an error. */
	const void *stdin_data;
	size_t stdin_len;

	enum spawn_output stdout_mode;
	enum spawn_output stderr_mode;
	/* Capture limits in bytes; 0 = the defaults above. More output than
	 * this fails the run with RESOURCE_EXHAUSTED (and kills the child). */
	size_t stdout_max;
	size_t stderr_max;

	const struct spawn_fd *fds;
	size_t n_fds;

	/* CLOCK_MONOTONIC nanoseconds (see spawn_now_ns); 0 = no deadline. */
	int64_t deadline_ns;
	/* Polled about every 50 ms while the child runs; returning true kills
	 * it and fails the run with CANCELLED. NULL = never. */
	bool (*cancelled)(void *arg);
	void *cancel_arg;

	/* Once the child has exited, how long to keep reading pipes that a
	 * leftover descendant still holds open; 0 = 100 ms. Whatever holds them
	 * after that is left alone and the run completes normally. */
	int64_t drain_ns;
};

struct spawn_result {
	int pid;
	int status;      /* raw wait status */
	bool exited;     /* WIFEXITED */
	int exit_code;   /* WEXITSTATUS when exited */
	bool signaled;   /* WIFSIGNALED */
	int signal;      /* WTERMSIG when signaled */
	bool killed;     /* spawn_run killed it (deadline, cancel, limit) */
	/* Captured output, NUL-terminated (never NULL after spawn_run, even on
	 * failure; partial when the run failed). */
	char *out;
	size_t out_len;
	char *err;
	size_t err_len;
};

/* Runs the child to completion. Returns 0 when it ran and was reaped,
 * whatever its exit status (see res); < 0 with *err set when it could not be
 * started (NOT_FOUND / PERMISSION_DENIED / INTERNAL), timed out
 * (DEADLINE_EXCEEDED), was cancelled (CANCELLED) or produced too much output
 * (RESOURCE_EXHAUSTED). In every case res holds what is known (output so far,
 * status when reaped) and must be released with spawn_result_free. */
int spawn_run(const struct spawn_opts *opts, struct spawn_result *res, ocid_error **err);

void spawn_result_free(struct spawn_result *res);

/* True when the child exited with status 0. */
bool spawn_success(const struct spawn_result *res);

/* "exited with status 3", "killed by signal 9 (Killed)" into buf. */
const char *spawn_describe(const struct spawn_result *res, char *buf, size_t size);

/* CLOCK_MONOTONIC in nanoseconds, and now + ms as a deadline. */
int64_t spawn_now_ns(void);
int64_t spawn_deadline_ms(int64_t ms);

#endif
