/* Notices container exits: conmon writes <exit_dir>/<id> (the decimal exit
 * status, no newline; 128+signal for a signal) when a container exits, by
 * writing a temporary and renaming it (IN_MOVED_TO) or in place
 * (IN_CLOSE_WRITE); names ending in ".XXXXXX" (a dot and six characters,
 * conmon's temporaries) are never taken for ids. The watcher reads each new
 * file, looks for conmon's `oom`
 * file in <persist_root>/<id>, and reports (id, exit code, oom, finished =
 * the exit file's mtime) to a callback.
 *
 * Restart-safe: exit_watch_scan reports every exit file already present
 * (exits that happened while ocid was down). Start watching, then scan: an
 * exit can then be reported twice but never missed, so the receiver must be
 * idempotent. Exit files stay until the container is removed
 * (ctr_runtime_remove deletes them).
 *
 * Use either the fd with the daemon's poll loop (exit_watch_fd +
 * exit_watch_dispatch), or exit_watch_start, which runs a dedicated thread.
 * The callback runs on that thread (or the dispatching one) and must not
 * block for long. */
#ifndef OCID_CTR_EXIT_WATCH_H
#define OCID_CTR_EXIT_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "util/err.h"

struct exit_info {
	int exit_code;          /* 0..255 as conmon wrote it; -1 if unknown */
	bool oom;               /* conmon saw an OOM kill in the container's cgroup */
	struct timespec finished; /* the exit file's mtime (CLOCK_REALTIME) */
};

typedef void (*exit_watch_cb)(const char *id, const struct exit_info *info, void *arg);

struct exit_watch;

/* Opens the watch on exit_dir (created if missing). persist_root may be NULL
 * (no OOM detection then). */
int exit_watch_open(struct exit_watch **out, const char *exit_dir, const char *persist_root, exit_watch_cb cb,
		    void *arg, ocid_error **err);
/* Stops the thread if started, closes everything. NULL is fine. */
void exit_watch_close(struct exit_watch *w);

/* Reports every exit file present now. */
int exit_watch_scan(struct exit_watch *w, ocid_error **err);

/* Poll loop integration: readable when there is something to dispatch. */
int exit_watch_fd(const struct exit_watch *w);
/* Reads pending events (non-blocking) and reports the exits. */
int exit_watch_dispatch(struct exit_watch *w, ocid_error **err);

/* Or: a dedicated thread that dispatches until exit_watch_close. */
int exit_watch_start(struct exit_watch *w, ocid_error **err);

/* Parses an exit file's content: decimal 0..255 (a trailing newline or
 * spaces tolerated; conmon writes -1 when it could not tell, also accepted).
 * -1 on malformed input. Pure. */
int exit_file_parse(const char *buf, size_t len, int *code);

/* Reads the exit of container id: NOT_FOUND when there is no exit file (it
 * has not exited, or conmon died before writing one). */
int exit_read(const char *exit_dir, const char *persist_root, const char *id, struct exit_info *out,
	      ocid_error **err);

#endif
