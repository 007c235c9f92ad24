/* Container directories made ahead of time and removed after the fact.
 *
 * A container's on-disk directory (<root>/containers/<id>: upper/, work/ and
 * termination-log) is made by a background thread before a CreateContainer
 * needs it, and a removed container's directory is renamed into a trash
 * directory and deleted there. On the RPC path both are one rename. Why:
 * each inode made on a disk filesystem costs 0.06-1.3 ms on this machine
 * (docs/field-notes.md), and an upper directory can hold any number of files
 * the container wrote, which would make RemoveContainer as slow as rm -rf.
 *
 * It also runs deferred teardowns (dir_pool_defer): what RemoveContainer
 * leaves once the container's record is gone (unmounting its rootfs,
 * deleting its bundle), so the call returns without them. On this machine an
 * unmount during ten concurrent removals cost each of them ~3 ms.
 *
 * The thread works only while no container call is in flight (dir_pool_busy)
 * and has been for a short while, so it never competes with them; work that
 * has waited a second is done anyway. Layout, all on root's filesystem
 * (renames stay on one filesystem):
 *   <base>/ready/<n>   directories ready to be taken
 *   <base>/trash/<n>   directories to delete
 *   <base>/tmp-<n>     one being made (removed at open: a crash mid-way)
 */
#ifndef OCID_CTR_DIR_POOL_H
#define OCID_CTR_DIR_POOL_H

#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

struct dir_pool;

/* Opens (creating) base, keeps the ready directories an earlier run left,
 * and starts the thread, which keeps `spares` directories ready (0: none
 * are made; discarded ones are still deleted in the background). */
int dir_pool_open(const char *base, size_t spares, struct dir_pool **out, ocid_error **err);

/* Stops the thread (waiting for the unit of work under way) and runs the
 * deferred jobs left. What is left in the trash is deleted by the next run.
 * NULL is fine. */
void dir_pool_close(struct dir_pool *p);

/* Renames a ready directory to dest (which must not exist): 1 when one was
 * taken, 0 when none is ready (dest untouched: the caller makes its own). */
int dir_pool_take(struct dir_pool *p, const char *dest, ocid_error **err);

/* Moves dir (and everything under it) into the trash; a missing dir is fine.
 * When it cannot be renamed there, it is removed in place. */
int dir_pool_discard(struct dir_pool *p, const char *dir, ocid_error **err);

/* Runs fn(arg) on the thread once it may work (before anything else it
 * does), or after a second at the latest. NULL pool: runs it now. */
void dir_pool_defer(struct dir_pool *p, void (*fn)(void *arg), void *arg);

/* The pool's lowest-priority work (rootfs mounted ahead: container_warm.c):
 * fn(arg) runs on the thread, outside its lock, once dir_pool_want_idle_work
 * asked for it, nothing else waits and no container call has been in flight
 * for the grace period. Unlike the rest it is never forced by age. It
 * returns true while it has more to do. Set before the first want. */
void dir_pool_set_idle_work(struct dir_pool *p, bool (*fn)(void *arg), void *arg);
void dir_pool_want_idle_work(struct dir_pool *p);

/* Runs every deferred job now, in the caller, and waits for one the thread
 * is running: afterwards none is pending. */
void dir_pool_flush(struct dir_pool *p);

/* Deferred jobs not finished (for tests). */
size_t dir_pool_pending(struct dir_pool *p);

/* Marks foreground work in flight (begin) or done: the thread waits while
 * any is, and a little after. */
void dir_pool_busy(struct dir_pool *p, bool begin);

/* Ready directories, and directories still in the trash (for tests). */
size_t dir_pool_ready(struct dir_pool *p);
size_t dir_pool_trash(struct dir_pool *p);

/* Blocks until the thread has nothing left to do or timeout_ms passed;
 * true when idle (for tests and orderly benchmarks). */
bool dir_pool_wait_idle(struct dir_pool *p, int timeout_ms);

#endif
