/* Container directories made ahead and deleted behind, and deferred
 * teardowns (dir_pool.h). */
#include "ctr/dir_pool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/spawn.h" /* spawn_now_ns: the monotonic clock */
#include "util/xalloc.h"

/* How long after the last create or remove the thread waits before it works:
 * a kubelet creating a pod's containers calls one after the other. */
#define POOL_GRACE_NS (20 * 1000000LL)
/* Work waiting this long is done even while creates and removes go on (a
 * node that never pauses still gets its trash deleted). */
#define POOL_MAX_DEFER_NS (1000 * 1000000LL)
/* After failing to make a directory (disk full?), wait before trying again. */
#define POOL_RETRY_NS (10 * 1000000000LL)

struct pool_job {
	struct pool_job *next;
	void (*fn)(void *arg);
	void *arg;
	int64_t queued_at; /* CLOCK_MONOTONIC ns */
};

struct dir_pool {
	char *base, *ready_dir, *trash_dir;
	size_t spares;

	pthread_t thread;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t wake; /* to the thread: work, busy over, stop */
	pthread_cond_t idle; /* from the thread: nothing left to do; a job done */
	/* under mu */
	uint64_t *ready; /* sequence numbers of ready/<n>, a stack */
	size_t n_ready, cap_ready;
	size_t n_trash;
	uint64_t next_seq;
	int busy;
	int64_t quiet_from;    /* CLOCK_MONOTONIC ns: the thread may work from then on */
	int64_t make_retry_at; /* no new directory is made before then */
	int64_t deferred_from; /* when work first waited for quiet; 0 = none waits */
	struct pool_job *jobs, *jobs_tail; /* dir_pool_defer, oldest first */
	int jobs_running;                  /* taken by the thread, not finished */
	bool working, stop;
	bool (*idle_fn)(void *arg); /* dir_pool_set_idle_work */
	void *idle_arg;
	bool idle_wanted;
};

static struct timespec mono_ts(int64_t ns)
{
	return (struct timespec){.tv_sec = ns / 1000000000LL, .tv_nsec = ns % 1000000000LL};
}

/* Under mu (or before the thread runs). */
static void push_ready(struct dir_pool *p, uint64_t seq)
{
	if (p->n_ready == p->cap_ready) {
		p->cap_ready = p->cap_ready ? 2 * p->cap_ready : 16;
		p->ready = xrealloc(p->ready, p->cap_ready * sizeof(*p->ready));
	}
	p->ready[p->n_ready++] = seq;
}

/* Under mu. */
static bool want_make(const struct dir_pool *p, int64_t now)
{
	return p->n_ready < p->spares && now >= p->make_retry_at;
}

/* Work that is done within a second even while calls go on. */
static bool has_urgent_work(const struct dir_pool *p, int64_t now)
{
	return p->jobs != NULL || want_make(p, now) || p->n_trash > 0;
}

static bool has_work(const struct dir_pool *p, int64_t now)
{
	return has_urgent_work(p, now) || (p->idle_wanted && p->idle_fn);
}

/* Under mu: the lowest-priority work may run (quiet, nothing else waits). */
static bool idle_work_may_run(const struct dir_pool *p, int64_t now)
{
	return p->idle_wanted && p->idle_fn && p->busy == 0 && now >= p->quiet_from;
}

/* Under mu: a deferred job has waited its longest, busy or not. */
static bool job_overdue(const struct dir_pool *p, int64_t now)
{
	return p->jobs != NULL && now - p->jobs->queued_at >= POOL_MAX_DEFER_NS;
}

/* Under mu: the oldest job, off the queue. */
static struct pool_job *pop_job(struct dir_pool *p)
{
	struct pool_job *j = p->jobs;
	if (j) {
		p->jobs = j->next;
		if (p->jobs == NULL)
			p->jobs_tail = NULL;
	}
	return j;
}

/* A new ready directory: made under tmp-<seq>, then renamed into ready/, so
 * a crash never leaves a half-made one there. */
static int make_one(struct dir_pool *p, uint64_t seq, ocid_error **err)
{
	cleanup_free char *tmp = xasprintf("%s/tmp-%llu", p->base, (unsigned long long)seq);
	cleanup_free char *upper = xasprintf("%s/upper", tmp);
	cleanup_free char *work = xasprintf("%s/work", tmp);
	cleanup_free char *term = xasprintf("%s/termination-log", tmp);
	cleanup_free char *dest = xasprintf("%s/%llu", p->ready_dir, (unsigned long long)seq);
	if (mkdir(tmp, 0700) < 0)
		return err_set_errno(err, GRPC_INTERNAL, errno, "mkdir %s", tmp);
	int fd = -1;
	if (mkdir(upper, 0755) < 0 || mkdir(work, 0700) < 0 ||
	    (fd = open(term, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644)) < 0 || close(fd) < 0 ||
	    rename(tmp, dest) < 0) {
		err_set_errno(err, GRPC_INTERNAL, errno, "make %s", dest);
		fs_remove_all(tmp, NULL);
		return -1;
	}
	return 0;
}

/* Deletes one entry of the trash: 1 when one was deleted, 0 when the trash
 * was empty. */
static int delete_one(struct dir_pool *p, ocid_error **err)
{
	DIR *d = opendir(p->trash_dir);
	if (d == NULL)
		return err_set_errno(err, GRPC_INTERNAL, errno, "open %s", p->trash_dir);
	struct dirent *de;
	char *victim = NULL;
	while ((de = readdir(d)) != NULL && victim == NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			victim = xasprintf("%s/%s", p->trash_dir, de->d_name);
	closedir(d);
	if (victim == NULL)
		return 0;
	int rc = fs_remove_all(victim, err) < 0 ? -1 : 1;
	free(victim);
	return rc;
}

static void *pool_thread(void *arg)
{
	pthread_setname_np(pthread_self(), "ocid-dirpool");
	struct dir_pool *p = arg;
	pthread_mutex_lock(&p->mu);
	while (!p->stop) {
		int64_t now = spawn_now_ns();
		if (!has_work(p, now)) {
			p->deferred_from = 0;
			pthread_cond_broadcast(&p->idle);
			if (p->n_ready < p->spares) { /* only waiting to retry */
				struct timespec until = mono_ts(p->make_retry_at);
				pthread_cond_timedwait(&p->wake, &p->mu, &until);
			} else {
				pthread_cond_wait(&p->wake, &p->mu);
			}
			continue;
		}
		if (!has_urgent_work(p, now)) {
			/* only the idle work: never forced by age */
			p->deferred_from = 0;
			if (!idle_work_may_run(p, now)) {
				if (p->busy == 0) {
					struct timespec until = mono_ts(p->quiet_from);
					pthread_cond_timedwait(&p->wake, &p->mu, &until);
				} else {
					pthread_cond_wait(&p->wake, &p->mu);
				}
				continue;
			}
			p->idle_wanted = false;
			p->working = true;
			bool (*fn)(void *) = p->idle_fn;
			void *fn_arg = p->idle_arg;
			pthread_mutex_unlock(&p->mu);
			bool more = fn(fn_arg);
			pthread_mutex_lock(&p->mu);
			p->working = false;
			if (more)
				p->idle_wanted = true;
			continue;
		}
		if (p->deferred_from == 0)
			p->deferred_from = now;
		bool overdue = now - p->deferred_from >= POOL_MAX_DEFER_NS;
		if (!overdue && !job_overdue(p, now) && (p->busy > 0 || now < p->quiet_from)) {
			int64_t when = p->deferred_from + POOL_MAX_DEFER_NS;
			if (p->jobs && p->jobs->queued_at + POOL_MAX_DEFER_NS < when)
				when = p->jobs->queued_at + POOL_MAX_DEFER_NS;
			if (p->busy == 0 && p->quiet_from < when)
				when = p->quiet_from;
			struct timespec until = mono_ts(when);
			pthread_cond_timedwait(&p->wake, &p->mu, &until);
			continue;
		}
		/* Deferred teardowns first: each holds a mount and an image.
		 * An overdue one goes without waiting for quiet. */
		bool forced = overdue || job_overdue(p, now);
		struct pool_job *job = pop_job(p);
		if (job) {
			p->deferred_from = forced ? now : 0; /* one unit, then wait again */
			p->jobs_running++;
			pthread_mutex_unlock(&p->mu);
			job->fn(job->arg);
			free(job);
			pthread_mutex_lock(&p->mu);
			p->jobs_running--;
			pthread_cond_broadcast(&p->idle);
			continue;
		}
		p->deferred_from = overdue ? now : 0; /* one unit, then wait again */
		/* one unit of work, outside the lock: ready directories first
		 * (creates wait on them), then the trash */
		bool make = want_make(p, now);
		uint64_t seq = make ? p->next_seq++ : 0;
		p->working = true;
		pthread_mutex_unlock(&p->mu);

		ocid_error *e = NULL;
		int rc = make ? make_one(p, seq, &e) : delete_one(p, &e);
		if (rc < 0) {
			char esc[512];
			log_escape(e ? e->msg : "?", esc, sizeof(esc));
			log_warn(make ? "cannot make a spare container directory"
				      : "cannot delete a removed container directory",
				 "err=\"%s\"", esc);
			err_free(e);
		}

		pthread_mutex_lock(&p->mu);
		p->working = false;
		if (make && rc == 0) {
			push_ready(p, seq);
		} else if (make) {
			p->make_retry_at = spawn_now_ns() + POOL_RETRY_NS;
		} else if (rc <= 0) {
			p->n_trash = 0; /* empty, or stuck: the next run tries again */
		} else if (p->n_trash > 0) {
			p->n_trash--;
		}
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* What an earlier run left: ready/<n> entries are kept (made atomically),
 * tmp-<n> ones removed, trash entries counted for deleting. */
static int scan_existing(struct dir_pool *p, ocid_error **err)
{
	DIR *d = opendir(p->base);
	if (d == NULL)
		return err_set_errno(err, GRPC_INTERNAL, errno, "open %s", p->base);
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, "tmp-", 4) != 0)
			continue;
		cleanup_free char *path = xasprintf("%s/%s", p->base, de->d_name);
		fs_remove_all(path, NULL);
	}
	closedir(d);

	d = opendir(p->ready_dir);
	if (d == NULL)
		return err_set_errno(err, GRPC_INTERNAL, errno, "open %s", p->ready_dir);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		char *end;
		errno = 0;
		unsigned long long seq = strtoull(de->d_name, &end, 10);
		if (errno || *end || end == de->d_name) {
			/* not ours: deleted with the trash */
			cleanup_free char *from = xasprintf("%s/%s", p->ready_dir, de->d_name);
			cleanup_free char *to = xasprintf("%s/stray-%s", p->trash_dir, de->d_name);
			if (rename(from, to) == 0)
				p->n_trash++;
			continue;
		}
		push_ready(p, seq);
		if (seq >= p->next_seq)
			p->next_seq = seq + 1;
	}
	closedir(d);

	d = opendir(p->trash_dir);
	if (d == NULL)
		return err_set_errno(err, GRPC_INTERNAL, errno, "open %s", p->trash_dir);
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		p->n_trash++;
		unsigned long long seq = strtoull(de->d_name, NULL, 10);
		if (seq >= p->next_seq)
			p->next_seq = seq + 1;
	}
	closedir(d);
	return 0;
}

int dir_pool_open(const char *base, size_t spares, struct dir_pool **out, ocid_error **err)
{
	*out = NULL;
	struct dir_pool *p = xcalloc(1, sizeof(*p));
	p->base = xstrdup(base);
	p->ready_dir = xasprintf("%s/ready", base);
	p->trash_dir = xasprintf("%s/trash", base);
	p->spares = spares;
	pthread_mutex_init(&p->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->wake, &ca);
	pthread_cond_init(&p->idle, &ca);
	pthread_condattr_destroy(&ca);

	if (fs_mkdir_p(p->ready_dir, 0700, err) < 0 || fs_mkdir_p(p->trash_dir, 0700, err) < 0 ||
	    scan_existing(p, err) < 0)
		goto fail;
	/* Each container's directories in an allocation group of their own:
	 * the overlay mount makes and frees inodes in work/, and ext4 without a
	 * journal scans past recently freed inodes of the group on every
	 * allocation (docs/field-notes.md: mount 3 ms packed, 0.3 ms spread). */
	if (fs_spread_subdirs(p->base) < 0) /* where they are made (tmp-<n>) */
		log_debug("cannot spread container directories over allocation groups", "dir=%s err=\"%s\"",
			  p->base, strerror(errno));
	int rc = pthread_create(&p->thread, NULL, pool_thread, p);
	if (rc != 0) {
		err_set_errno(err, GRPC_INTERNAL, rc, "pthread_create");
		goto fail;
	}
	p->started = true;
	*out = p;
	return 0;
fail:
	err_prefix(err, "container directory pool %s", base);
	dir_pool_close(p);
	return -1;
}

void dir_pool_close(struct dir_pool *p)
{
	if (p == NULL)
		return;
	if (p->started) {
		pthread_mutex_lock(&p->mu);
		p->stop = true;
		pthread_cond_broadcast(&p->wake);
		pthread_mutex_unlock(&p->mu);
		pthread_join(p->thread, NULL);
	}
	dir_pool_flush(p); /* deferred teardowns still waiting */
	pthread_cond_destroy(&p->wake);
	pthread_cond_destroy(&p->idle);
	pthread_mutex_destroy(&p->mu);
	free(p->ready);
	free(p->base);
	free(p->ready_dir);
	free(p->trash_dir);
	free(p);
}

int dir_pool_take(struct dir_pool *p, const char *dest, ocid_error **err)
{
	(void)err;
	if (p == NULL)
		return 0;
	pthread_mutex_lock(&p->mu);
	if (p->n_ready == 0) {
		pthread_mutex_unlock(&p->mu);
		return 0;
	}
	uint64_t seq = p->ready[--p->n_ready];
	pthread_cond_signal(&p->wake);
	pthread_mutex_unlock(&p->mu);

	cleanup_free char *from = xasprintf("%s/%llu", p->ready_dir, (unsigned long long)seq);
	if (rename(from, dest) == 0)
		return 1;
	/* The caller makes its own (and reports a dest that exists); this one
	 * goes to the trash rather than being handed out again. */
	log_warn("cannot take a spare container directory", "from=%s to=%s err=\"%s\"", from, dest, strerror(errno));
	dir_pool_discard(p, from, NULL);
	return 0;
}

int dir_pool_discard(struct dir_pool *p, const char *dir, ocid_error **err)
{
	if (p == NULL)
		return fs_remove_all(dir, err);
	pthread_mutex_lock(&p->mu);
	uint64_t seq = p->next_seq++;
	pthread_mutex_unlock(&p->mu);
	cleanup_free char *to = xasprintf("%s/%llu", p->trash_dir, (unsigned long long)seq);
	if (rename(dir, to) < 0) {
		if (errno == ENOENT)
			return 0;
		log_debug("cannot move a container directory to the trash; removing it in place", "dir=%s err=\"%s\"",
			  dir, strerror(errno));
		return fs_remove_all(dir, err);
	}
	pthread_mutex_lock(&p->mu);
	p->n_trash++;
	pthread_cond_signal(&p->wake);
	pthread_mutex_unlock(&p->mu);
	return 0;
}

void dir_pool_busy(struct dir_pool *p, bool begin)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	if (begin) {
		p->busy++;
	} else if (p->busy > 0 && --p->busy == 0) {
		p->quiet_from = spawn_now_ns() + POOL_GRACE_NS;
		pthread_cond_signal(&p->wake);
	}
	pthread_mutex_unlock(&p->mu);
}

size_t dir_pool_ready(struct dir_pool *p)
{
	pthread_mutex_lock(&p->mu);
	size_t n = p->n_ready;
	pthread_mutex_unlock(&p->mu);
	return n;
}

size_t dir_pool_trash(struct dir_pool *p)
{
	pthread_mutex_lock(&p->mu);
	size_t n = p->n_trash;
	pthread_mutex_unlock(&p->mu);
	return n;
}

bool dir_pool_wait_idle(struct dir_pool *p, int timeout_ms)
{
	int64_t deadline = spawn_now_ns() + (int64_t)timeout_ms * 1000000LL;
	pthread_mutex_lock(&p->mu);
	bool idle;
	while (!(idle = !p->working && p->jobs_running == 0 && !has_work(p, spawn_now_ns()))) {
		if (spawn_now_ns() >= deadline)
			break;
		struct timespec until = mono_ts(deadline);
		pthread_cond_timedwait(&p->idle, &p->mu, &until);
	}
	pthread_mutex_unlock(&p->mu);
	return idle;
}

void dir_pool_set_idle_work(struct dir_pool *p, bool (*fn)(void *arg), void *arg)
{
	pthread_mutex_lock(&p->mu);
	p->idle_fn = fn;
	p->idle_arg = arg;
	pthread_mutex_unlock(&p->mu);
}

void dir_pool_want_idle_work(struct dir_pool *p)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	p->idle_wanted = true;
	pthread_cond_signal(&p->wake);
	pthread_mutex_unlock(&p->mu);
}

void dir_pool_defer(struct dir_pool *p, void (*fn)(void *arg), void *arg)
{
	if (p == NULL) {
		fn(arg);
		return;
	}
	struct pool_job *j = xmalloc(sizeof(*j));
	*j = (struct pool_job){.fn = fn, .arg = arg, .queued_at = spawn_now_ns()};
	pthread_mutex_lock(&p->mu);
	if (p->jobs_tail)
		p->jobs_tail->next = j;
	else
		p->jobs = j;
	p->jobs_tail = j;
	pthread_cond_signal(&p->wake);
	pthread_mutex_unlock(&p->mu);
}

void dir_pool_flush(struct dir_pool *p)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	struct pool_job *j;
	while ((j = pop_job(p)) != NULL) {
		pthread_mutex_unlock(&p->mu);
		j->fn(j->arg);
		free(j);
		pthread_mutex_lock(&p->mu);
	}
	/* and the one the thread may be running */
	while (p->jobs_running > 0)
		pthread_cond_wait(&p->idle, &p->mu);
	pthread_mutex_unlock(&p->mu);
}

size_t dir_pool_pending(struct dir_pool *p)
{
	pthread_mutex_lock(&p->mu);
	size_t n = p->jobs_running;
	for (struct pool_job *j = p->jobs; j; j = j->next)
		n++;
	pthread_mutex_unlock(&p->mu);
	return n;
}
