/* The exit watcher: exit file content, files written in place or renamed
 * into the directory (as conmon does), conmon's temporaries ignored, OOM from
 * the persist dir, the startup scan, and the fd/dispatch form. */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "ctr/exit_watch.h"
#include "util/fs.h"
#include "util/xalloc.h"

static void test_parse(void **state)
{
	(void)state;
	int c = 99;
	assert_int_equal(exit_file_parse("0", 1, &c), 0);
	assert_int_equal(c, 0);
	assert_int_equal(exit_file_parse("137", 3, &c), 0);
	assert_int_equal(c, 137);
	assert_int_equal(exit_file_parse("3\n", 2, &c), 0);
	assert_int_equal(c, 3);
	assert_int_equal(exit_file_parse("-1", 2, &c), 0);
	assert_int_equal(c, -1);
	assert_int_equal(exit_file_parse("255", 3, &c), 0);
	assert_int_equal(c, 255);
	static const char *const bad[] = {"", "\n", "256", "-2", "1a", " 1x", "99999", "abc"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(exit_file_parse(bad[i], strlen(bad[i]), &c), -1);
}

struct rec {
	pthread_mutex_t mu;
	char ids[16][64];
	struct exit_info info[16];
	int n;
};

static void cb(const char *id, const struct exit_info *info, void *arg)
{
	struct rec *r = arg;
	pthread_mutex_lock(&r->mu);
	if (r->n < 16) {
		snprintf(r->ids[r->n], sizeof(r->ids[0]), "%s", id);
		r->info[r->n] = *info;
		r->n++;
	}
	pthread_mutex_unlock(&r->mu);
}

static int find(struct rec *r, const char *id)
{
	pthread_mutex_lock(&r->mu);
	int k = -1;
	for (int i = 0; i < r->n; i++)
		if (strcmp(r->ids[i], id) == 0)
			k = i;
	pthread_mutex_unlock(&r->mu);
	return k;
}

static int wait_for(struct rec *r, const char *id)
{
	for (int i = 0; i < 400; i++) {
		int k = find(r, id);
		if (k >= 0)
			return k;
		usleep(5000);
	}
	return -1;
}

static void put(const char *dir, const char *name, const char *content)
{
	char *p = xasprintf("%s/%s", dir, name);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
	free(p);
}

/* conmon's way: a temporary next to it, renamed over the name. */
static void put_renamed(const char *dir, const char *name, const char *content)
{
	char *tmp = xasprintf("%s.AB12CD", name);
	put(dir, tmp, content);
	char *a = xasprintf("%s/%s", dir, tmp), *b = xasprintf("%s/%s", dir, name);
	assert_int_equal(rename(a, b), 0);
	free(a);
	free(b);
	free(tmp);
}

static void test_watch(void **state)
{
	(void)state;
	char dir[] = "/tmp/test_exit_watch.XXXXXX";
	assert_non_null(mkdtemp(dir));
	char *exits = xasprintf("%s/exits", dir), *persist = xasprintf("%s/conmon", dir);
	assert_int_equal(mkdir(persist, 0700), 0);
	struct rec r = {.mu = PTHREAD_MUTEX_INITIALIZER};

	/* Exits from before the start: found by the scan. */
	assert_int_equal(mkdir(exits, 0700), 0);
	put(exits, "old", "4");
	put(exits, "stale.XYZ123", "1"); /* an interrupted conmon write */
	char *oomdir = xasprintf("%s/old", persist);
	assert_int_equal(mkdir(oomdir, 0700), 0);
	put(oomdir, "oom", "");
	free(oomdir);

	struct exit_watch *w = NULL;
	ocid_error *err = NULL;
	assert_int_equal(exit_watch_open(&w, exits, persist, cb, &r, &err), 0);
	assert_int_equal(exit_watch_start(w, &err), 0);
	assert_int_equal(exit_watch_scan(w, &err), 0);
	int k = find(&r, "old");
	assert_true(k >= 0);
	assert_int_equal(r.info[k].exit_code, 4);
	assert_true(r.info[k].oom);
	assert_int_equal(r.n, 1);

	struct timespec before;
	clock_gettime(CLOCK_REALTIME, &before);
	put_renamed(exits, "c1", "137");
	k = wait_for(&r, "c1");
	assert_true(k >= 0);
	assert_int_equal(r.info[k].exit_code, 137);
	assert_false(r.info[k].oom);
	assert_true(r.info[k].finished.tv_sec >= before.tv_sec - 1);

	put(exits, "c2", "0");
	k = wait_for(&r, "c2");
	assert_true(k >= 0);
	assert_int_equal(r.info[k].exit_code, 0);

	put(exits, "c3", "garbage"); /* logged, not reported */
	put(exits, "c4", "1");
	assert_true(wait_for(&r, "c4") >= 0);
	assert_int_equal(find(&r, "c3"), -1);
	assert_int_equal(find(&r, "c1.AB12CD"), -1);
	assert_int_equal(find(&r, "stale.XYZ123"), -1);
	exit_watch_close(w);

	/* exit_read on its own. */
	struct exit_info ei;
	assert_int_equal(exit_read(exits, persist, "c1", &ei, &err), 0);
	assert_int_equal(ei.exit_code, 137);
	assert_int_equal(exit_read(exits, persist, "nope", &ei, &err), -1);
	assert_int_equal(err->code, GRPC_NOT_FOUND);
	err_clear(&err);
	assert_int_equal(exit_read(exits, persist, "../x", &ei, &err), -1);
	assert_int_equal(err->code, GRPC_INVALID_ARGUMENT);
	err_clear(&err);

	/* The fd form, driven by the caller's poll; no persist root. */
	struct rec r2 = {.mu = PTHREAD_MUTEX_INITIALIZER};
	assert_int_equal(exit_watch_open(&w, exits, NULL, cb, &r2, &err), 0);
	put_renamed(exits, "c5", "2");
	struct pollfd p = {.fd = exit_watch_fd(w), .events = POLLIN};
	assert_int_equal(poll(&p, 1, 2000), 1);
	assert_int_equal(exit_watch_dispatch(w, &err), 0);
	k = find(&r2, "c5");
	assert_true(k >= 0);
	assert_int_equal(r2.info[k].exit_code, 2);
	assert_false(r2.info[k].oom);
	assert_int_equal(exit_watch_dispatch(w, &err), 0); /* nothing pending: fine */
	exit_watch_close(w);
	exit_watch_close(NULL);

	assert_int_equal(fs_remove_all(dir, &err), 0);
	free(exits);
	free(persist);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_watch),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
