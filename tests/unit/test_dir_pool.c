/* The container directory pool: spares made in the background with their
 * layout, taken by rename, refilled; discarded directories deleted behind;
 * no work while foreground work is in flight; deferred jobs; what a crash leaves (tmp-,
 * trash, ready) handled by the next open; a filesystem that refuses. */
#include <dirent.h>
#include <pthread.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "ctr/dir_pool.h"
#include "util/fs.h"
#include "util/xalloc.h"

struct fx {
	char root[64];
	char *base;
};

static int setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	snprintf(f->root, sizeof(f->root), "/tmp/ocid-dir-pool.XXXXXX");
	if (mkdtemp(f->root) == NULL)
		return -1;
	f->base = xasprintf("%s/.pool", f->root);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	fs_remove_all(f->root, NULL);
	free(f->base);
	free(f);
	return 0;
}

static size_t entries(const char *dir)
{
	DIR *d = opendir(dir);
	if (d == NULL)
		return (size_t)-1;
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL)
		n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
	closedir(d);
	return n;
}

static mode_t mode_of(const char *path)
{
	struct stat st;
	assert_int_equal(lstat(path, &st), 0);
	return st.st_mode;
}

static void test_spares_made_and_taken(void **state)
{
	struct fx *f = *state;
	struct dir_pool *p;
	ocid_error *err = NULL;
	assert_int_equal(dir_pool_open(f->base, 3, &p, &err), 0);
	assert_true(dir_pool_wait_idle(p, 5000));
	assert_int_equal(dir_pool_ready(p), 3);
	char *ready = xasprintf("%s/ready", f->base);
	assert_int_equal(entries(ready), 3);

	char *dest = xasprintf("%s/ctr1", f->root);
	assert_int_equal(dir_pool_take(p, dest, &err), 1);
	/* the layout create expects, with its modes */
	char *upper = xasprintf("%s/upper", dest), *work = xasprintf("%s/work", dest);
	char *term = xasprintf("%s/termination-log", dest);
	assert_int_equal(mode_of(dest) & 07777, 0700);
	assert_true(S_ISDIR(mode_of(upper)));
	assert_int_equal(mode_of(upper) & 07777, 0755);
	assert_int_equal(mode_of(work) & 07777, 0700);
	assert_true(S_ISREG(mode_of(term)));
	assert_int_equal(entries(upper), 0);
	assert_int_equal(entries(work), 0);

	/* refilled behind */
	assert_true(dir_pool_wait_idle(p, 5000));
	assert_int_equal(dir_pool_ready(p), 3);
	assert_int_equal(entries(ready), 3);

	/* a dest that exists: not taken, the caller reports it */
	assert_int_equal(dir_pool_take(p, dest, &err), 0);
	assert_null(err);
	dir_pool_close(p);
	free(ready);
	free(dest);
	free(upper);
	free(work);
	free(term);
}

static void test_empty_pool_and_zero_spares(void **state)
{
	struct fx *f = *state;
	struct dir_pool *p;
	ocid_error *err = NULL;
	assert_int_equal(dir_pool_open(f->base, 0, &p, &err), 0);
	assert_true(dir_pool_wait_idle(p, 5000));
	char *dest = xasprintf("%s/ctr", f->root);
	assert_int_equal(dir_pool_take(p, dest, &err), 0);
	assert_int_equal(access(dest, F_OK), -1);
	dir_pool_close(p);
	free(dest);
	/* NULL pool: nothing taken, discard removes in place */
	assert_int_equal(dir_pool_take(NULL, "/nonexistent", &err), 0);
	char *gone = xasprintf("%s/gone", f->root);
	assert_int_equal(mkdir(gone, 0700), 0);
	assert_int_equal(dir_pool_discard(NULL, gone, &err), 0);
	assert_int_equal(access(gone, F_OK), -1);
	free(gone);
}

/* A directory tree with files, as a container's upper dir would hold. */
static void make_tree(const char *dir, int n)
{
	assert_int_equal(mkdir(dir, 0700), 0);
	char *sub = xasprintf("%s/upper", dir);
	assert_int_equal(mkdir(sub, 0755), 0);
	for (int i = 0; i < n; i++) {
		char *p = xasprintf("%s/f%d", sub, i);
		FILE *fp = fopen(p, "w");
		assert_non_null(fp);
		fputs("data", fp);
		fclose(fp);
		free(p);
	}
	char *link = xasprintf("%s/escape", sub);
	assert_int_equal(symlink("/etc", link), 0); /* never followed */
	free(link);
	free(sub);
}

static void test_discard_deletes_behind(void **state)
{
	struct fx *f = *state;
	struct dir_pool *p;
	ocid_error *err = NULL;
	assert_int_equal(dir_pool_open(f->base, 1, &p, &err), 0);
	char *a = xasprintf("%s/a", f->root), *b = xasprintf("%s/b", f->root);
	make_tree(a, 50);
	make_tree(b, 5);

	/* while busy, the thread leaves the trash alone */
	dir_pool_busy(p, true);
	assert_int_equal(dir_pool_discard(p, a, &err), 0);
	assert_int_equal(dir_pool_discard(p, b, &err), 0);
	assert_int_equal(access(a, F_OK), -1); /* moved at once */
	assert_int_equal(access(b, F_OK), -1);
	assert_false(dir_pool_wait_idle(p, 200));
	assert_int_equal(dir_pool_trash(p), 2);
	char *trash = xasprintf("%s/trash", f->base);
	assert_int_equal(entries(trash), 2);
	dir_pool_busy(p, false);

	assert_true(dir_pool_wait_idle(p, 5000));
	assert_int_equal(dir_pool_trash(p), 0);
	assert_int_equal(entries(trash), 0);
	assert_int_equal(access("/etc/passwd", F_OK), 0);

	/* a missing directory is fine */
	assert_int_equal(dir_pool_discard(p, a, &err), 0);
	assert_null(err);
	dir_pool_close(p);
	free(a);
	free(b);
	free(trash);
}

/* Foreground work that never pauses does not keep the trash forever: work
 * that has waited a second is done anyway. */
static void test_busy_forever_still_deletes(void **state)
{
	struct fx *f = *state;
	struct dir_pool *p;
	ocid_error *err = NULL;
	assert_int_equal(dir_pool_open(f->base, 0, &p, &err), 0);
	dir_pool_busy(p, true);
	char *a = xasprintf("%s/a", f->root);
	make_tree(a, 3);
	assert_int_equal(dir_pool_discard(p, a, &err), 0);
	assert_true(dir_pool_wait_idle(p, 4000));
	assert_int_equal(dir_pool_trash(p), 0);
	dir_pool_busy(p, false);
	dir_pool_close(p);
	free(a);
}

struct job_log {
	pthread_mutex_t mu;
	int ran;
	int order[8];
	pthread_t thread[8];
	int delay_ms;
};

struct job_arg {
	struct job_log *log;
	int id;
};

static void record_job(void *arg)
{
	struct job_arg *a = arg;
	if (a->log->delay_ms)
		usleep((useconds_t)a->log->delay_ms * 1000);
	pthread_mutex_lock(&a->log->mu);
	a->log->thread[a->log->ran] = pthread_self();
	a->log->order[a->log->ran++] = a->id;
	pthread_mutex_unlock(&a->log->mu);
}

static int ran(struct job_log *l)
{
	pthread_mutex_lock(&l->mu);
	int n = l->ran;
	pthread_mutex_unlock(&l->mu);
	return n;
}

/* Deferred jobs wait while foreground work is in flight, then run on the
 * pool's thread in the order they came; without a pool, at once. */
static void test_deferred_jobs_wait_for_quiet(void **state)
{
	struct fx *f = *state;
	struct dir_pool *p;
	ocid_error *err = NULL;
	assert_int_equal(dir_pool_open(f->base, 0, &p, &err), 0);
	struct job_log log = {.mu = PTHREAD_MUTEX_INITIALIZER};
	struct job_arg a[3] = {{&log, 1}, {&log, 2}, {&log, 3}};

	dir_pool_busy(p, true);
	for (int i = 0; i < 3; i++)
		dir_pool_defer(p, record_job, &a[i]);
	usleep(200 * 1000);
	assert_int_equal(ran(&log), 0); /* busy: not yet */
	assert_int_equal(dir_pool_pending(p), 3);
	dir_pool_busy(p, false);
	assert_true(dir_pool_wait_idle(p, 5000));
	assert_int_equal(ran(&log), 3);
	assert_int_equal(dir_pool_pending(p), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(log.order[i], i + 1);
		assert_false(pthread_equal(log.thread[i], pthread_self()));
	}

	struct job_log now = {.mu = PTHREAD_MUTEX_INITIALIZER};
	struct job_arg b = {&now, 7};
	dir_pool_defer(NULL, record_job, &b);
	assert_int_equal(now.ran, 1);
	dir_pool_close(p);
}

/* Idle work: each call counted; it asks again until `units` are done. */
struct idle_log {
	pthread_mutex_t mu;
	int calls, units;
	int jobs_done_at_first; /* deferred jobs already run when it first ran */
	struct job_log *jobs;
};

static bool idle_unit(void *arg)
{
	struct idle_log *l = arg;
	int jobs = ran(l->jobs);
	pthread_mutex_lock(&l->mu);
	if (l->calls++ == 0)
		l->jobs_done_at_first = jobs;
	bool more = l->calls < l->units;
	pthread_mutex_unlock(&l->mu);
	return more;
}

static int idle_calls(struct idle_log *l)
{
	pthread_mutex_lock(&l->mu);
	int n = l->calls;
	pthread_mutex_unlock(&l->mu);
	return n;
}

/* The idle work runs only when asked, after the deferred jobs, while nothing
 * is busy; unlike them it is never forced by age; it is called again while
 * it says there is more. */
static void test_idle_work_only_when_quiet(void **state)
{
	struct fx *f = *state;
	struct dir_pool *p;
	ocid_error *err = NULL;
	assert_int_equal(dir_pool_open(f->base, 0, &p, &err), 0);
	struct job_log jobs = {.mu = PTHREAD_MUTEX_INITIALIZER};
	struct job_arg a = {&jobs, 1};
	struct idle_log l = {.mu = PTHREAD_MUTEX_INITIALIZER, .units = 3, .jobs = &jobs};
	dir_pool_set_idle_work(p, idle_unit, &l);
	assert_true(dir_pool_wait_idle(p, 5000));
	assert_int_equal(idle_calls(&l), 0); /* not asked for */

	dir_pool_busy(p, true);
	dir_pool_defer(p, record_job, &a);
	dir_pool_want_idle_work(p);
	/* busy for longer than a job may wait: the job runs, the idle work not */
	for (int i = 0; i < 400 && ran(&jobs) == 0; i++)
		usleep(10 * 1000);
	assert_int_equal(ran(&jobs), 1);
	usleep(1200 * 1000);
	assert_int_equal(idle_calls(&l), 0);
	assert_false(dir_pool_wait_idle(p, 50));

	dir_pool_busy(p, false);
	assert_true(dir_pool_wait_idle(p, 5000));
	assert_int_equal(idle_calls(&l), 3);
	assert_int_equal(l.jobs_done_at_first, 1);

	/* asked again: one more call (it says there is no more after it) */
	dir_pool_want_idle_work(p);
	assert_true(dir_pool_wait_idle(p, 5000));
	assert_int_equal(idle_calls(&l), 4);
	dir_pool_close(p);
}

/* Busy forever: a job that has waited a second runs anyway. */
static void test_deferred_job_overdue_runs(void **state)
{
	struct fx *f = *state;
	struct dir_pool *p;
	ocid_error *err = NULL;
	assert_int_equal(dir_pool_open(f->base, 0, &p, &err), 0);
	struct job_log log = {.mu = PTHREAD_MUTEX_INITIALIZER};
	struct job_arg a = {&log, 1};
	dir_pool_busy(p, true);
	dir_pool_defer(p, record_job, &a);
	for (int i = 0; i < 400 && ran(&log) == 0; i++)
		usleep(10 * 1000);
	assert_int_equal(ran(&log), 1);
	dir_pool_busy(p, false);
	dir_pool_close(p);
}

/* flush runs what waits in the caller and waits for the one the thread is
 * running; close runs what is left. */
static void test_deferred_flush_and_close(void **state)
{
	struct fx *f = *state;
	struct dir_pool *p;
	ocid_error *err = NULL;
	assert_int_equal(dir_pool_open(f->base, 0, &p, &err), 0);
	struct job_log log = {.mu = PTHREAD_MUTEX_INITIALIZER, .delay_ms = 300};
	struct job_arg a[4] = {{&log, 1}, {&log, 2}, {&log, 3}, {&log, 4}};
	dir_pool_defer(p, record_job, &a[0]);
	usleep(150 * 1000); /* the thread has taken it (quiet after 20 ms) and sleeps in it */
	dir_pool_busy(p, true);
	dir_pool_defer(p, record_job, &a[1]);
	dir_pool_flush(p);
	assert_int_equal(ran(&log), 2);
	assert_int_equal(dir_pool_pending(p), 0);
	assert_true(pthread_equal(log.thread[1], pthread_self()) || pthread_equal(log.thread[0], pthread_self()));
	log.delay_ms = 0;
	dir_pool_defer(p, record_job, &a[2]);
	dir_pool_defer(p, record_job, &a[3]);
	dir_pool_close(p); /* still busy: the thread would not have run them */
	assert_int_equal(ran(&log), 4);
	assert_int_equal(log.order[2], 3);
	assert_int_equal(log.order[3], 4);
}

/* What a crash leaves: a half-made tmp- dir (removed), trash (deleted),
 * ready ones (kept, numbering goes on after them), a stray name in ready/. */
static void test_reopen_after_crash(void **state)
{
	struct fx *f = *state;
	struct dir_pool *p;
	ocid_error *err = NULL;
	assert_int_equal(dir_pool_open(f->base, 2, &p, &err), 0);
	assert_true(dir_pool_wait_idle(p, 5000));
	dir_pool_close(p);

	char *tmp = xasprintf("%s/tmp-7", f->base);
	assert_int_equal(mkdir(tmp, 0700), 0);
	char *t1 = xasprintf("%s/trash/99", f->base);
	make_tree(t1, 3);
	char *stray = xasprintf("%s/ready/not-a-number", f->base);
	assert_int_equal(mkdir(stray, 0700), 0);

	assert_int_equal(dir_pool_open(f->base, 2, &p, &err), 0);
	assert_int_equal(access(tmp, F_OK), -1);
	assert_int_equal(dir_pool_ready(p), 2);
	assert_true(dir_pool_wait_idle(p, 5000));
	char *trash = xasprintf("%s/trash", f->base), *ready = xasprintf("%s/ready", f->base);
	assert_int_equal(entries(trash), 0);
	assert_int_equal(entries(ready), 2);
	assert_int_equal(access(stray, F_OK), -1);

	/* new entries are numbered after what was found (no clash with 99) */
	char *dest = xasprintf("%s/c", f->root);
	assert_int_equal(dir_pool_take(p, dest, &err), 1);
	assert_true(dir_pool_wait_idle(p, 5000));
	assert_int_equal(entries(ready), 2);
	dir_pool_close(p);
	free(tmp);
	free(t1);
	free(stray);
	free(trash);
	free(ready);
	free(dest);
}

/* A base that cannot be made: a clear error naming it. */
static void test_open_fails_clearly(void **state)
{
	struct fx *f = *state;
	char *file = xasprintf("%s/file", f->root);
	FILE *fp = fopen(file, "w");
	assert_non_null(fp);
	fclose(fp);
	char *base = xasprintf("%s/pool", file);
	struct dir_pool *p = NULL;
	ocid_error *err = NULL;
	assert_int_equal(dir_pool_open(base, 2, &p, &err), -1);
	assert_null(p);
	assert_non_null(err);
	assert_non_null(strstr(err->msg, base));
	err_free(err);
	free(file);
	free(base);
}

/* Spares that cannot be made (here: ready/ replaced by a file): take finds
 * none, the half-made one is cleaned up, and the thread backs off rather than
 * spinning (it reports idle). */
static void test_make_failure_backs_off(void **state)
{
	struct fx *f = *state;
	struct dir_pool *p;
	ocid_error *err = NULL;
	assert_int_equal(dir_pool_open(f->base, 2, &p, &err), 0);
	assert_true(dir_pool_wait_idle(p, 5000));
	dir_pool_busy(p, true);
	char *d1 = xasprintf("%s/d1", f->root), *d2 = xasprintf("%s/d2", f->root);
	assert_int_equal(dir_pool_take(p, d1, &err), 1);
	assert_int_equal(dir_pool_take(p, d2, &err), 1);
	char *ready = xasprintf("%s/ready", f->base);
	assert_int_equal(rmdir(ready), 0);
	FILE *fp = fopen(ready, "w");
	assert_non_null(fp);
	fclose(fp);
	dir_pool_busy(p, false);

	assert_true(dir_pool_wait_idle(p, 2000));
	assert_int_equal(dir_pool_ready(p), 0);
	char *d3 = xasprintf("%s/d3", f->root);
	assert_int_equal(dir_pool_take(p, d3, &err), 0);
	assert_int_equal(entries(f->base), 2); /* ready (the file) and trash: no tmp- left */
	dir_pool_close(p);
	free(d1);
	free(d2);
	free(d3);
	free(ready);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_spares_made_and_taken, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_pool_and_zero_spares, setup, teardown),
		cmocka_unit_test_setup_teardown(test_discard_deletes_behind, setup, teardown),
		cmocka_unit_test_setup_teardown(test_busy_forever_still_deletes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deferred_jobs_wait_for_quiet, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deferred_job_overdue_runs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deferred_flush_and_close, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_work_only_when_quiet, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen_after_crash, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_fails_clearly, setup, teardown),
		cmocka_unit_test_setup_teardown(test_make_failure_backs_off, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
