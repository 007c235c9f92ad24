/* The container model's pure parts and its persistence: the containers
 * table round trip (insert 'creating', update, load, delete), name
 * reservations, the index and id prefixes, and the exit message
 * (termination message file; FallbackToLogsOnError's log tail, capped at 80
 * lines and 4096 bytes; CRI log lines decoded). No runtime is run. */
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

#include "ctr/container_internal.h"
#include "util/fs.h"
#include "util/xalloc.h"

struct fx {
	char dir[64];
	struct ctr_mgr m;
};

static int setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/ocid-ctr-test.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	char *db = xasprintf("%s/ocid.db", f->dir);
	ocid_error *err = NULL;
	if (db_open(db, &f->m.db, &err) < 0) {
		fprintf(stderr, "%s\n", err->msg);
		return -1;
	}
	free(db);
	f->m.ctr_root = xasprintf("%s/root", f->dir);
	f->m.ctr_run = xasprintf("%s/run", f->dir);
	pthread_mutex_init(&f->m.mu, NULL);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	for (size_t i = 0; i < f->m.n_items; i++)
		container_unref(f->m.items[i]);
	free(f->m.items);
	for (size_t i = 0; i < f->m.n_res; i++)
		free(f->m.res[i].key);
	free(f->m.res);
	db_close(f->m.db);
	fs_remove_all(f->dir, NULL);
	free(f->m.ctr_root);
	free(f->m.ctr_run);
	pthread_mutex_destroy(&f->m.mu);
	free(f);
	return 0;
}

static struct container *sample(struct ctr_mgr *m, const char *id)
{
	struct container *c = container_alloc(m);
	snprintf(c->id, sizeof(c->id), "%s", id);
	c->pod_id = xstrdup("pod1");
	c->config = xmalloc(sizeof(*c->config));
	runtime__v1__container_config__init(c->config);
	c->config->metadata = xmalloc(sizeof(*c->config->metadata));
	runtime__v1__container_metadata__init(c->config->metadata);
	c->config->metadata->name = xstrdup("web");
	c->config->metadata->attempt = 2;
	c->config->log_path = xstrdup("web/2.log");
	c->name = xstrdup("web");
	c->attempt = 2;
	c->image_id = xstrdup("sha256:abc");
	c->image_name = xstrdup("busybox");
	c->runtime = xstrdup("crun");
	c->log_path = xstrdup("/var/log/pods/x/web/2.log");
	c->term_path = xstrdup("/tmp/term");
	c->term_fallback = true;
	c->stop_signal = 3;
	c->kill_all = true;
	c->uid = 4294967294u;
	c->gid = 1000;
	c->groups = xcalloc(2, sizeof(int64_t));
	c->groups[0] = 100;
	c->groups[1] = 1001;
	c->n_groups = 2;
	c->created_at = 1700000000123456789LL;
	c->state = ROW_CTR_CREATING;
	ctr_set_paths(m, c);
	return c;
}

struct loaded {
	struct container *v[8];
	size_t n;
};

static int collect(struct ctr_mgr *m, struct container *c, void *arg)
{
	(void)m;
	struct loaded *l = arg;
	l->v[l->n++] = container_ref(c);
	return 0;
}

static void test_store_round_trip(void **state)
{
	struct fx *f = *state;
	struct ctr_mgr *m = &f->m;
	ocid_error *err = NULL;
	struct container *c = sample(m, "aaaa1111");
	assert_int_equal(ctr_db_insert(m, c, &err), 0);
	/* the same id twice: the row is unique */
	assert_int_equal(ctr_db_insert(m, c, &err), -1);
	assert_int_equal(err->code, GRPC_ALREADY_EXISTS);
	err_clear(&err);

	struct loaded l = {0};
	assert_int_equal(ctr_db_load(m, collect, &l, &err), 0);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.v[0]->state, ROW_CTR_CREATING);
	container_unref(l.v[0]);

	c->state = ROW_CTR_EXITED;
	c->pid = 0;
	c->started_at = 1700000001000000000LL;
	c->finished_at = 1700000002000000000LL;
	c->exit_code = 137;
	c->oom = true;
	free(c->reason);
	c->reason = xstrdup("OOMKilled");
	free(c->message);
	c->message = xstrdup("it's \"quoted\"\nand two lines");
	c->resources = xmalloc(sizeof(*c->resources));
	runtime__v1__linux_container_resources__init(c->resources);
	c->resources->memory_limit_in_bytes = 1 << 26;
	assert_int_equal(ctr_db_update(m, c, &err), 0);

	l.n = 0;
	assert_int_equal(ctr_db_load(m, collect, &l, &err), 0);
	assert_int_equal(l.n, 1);
	struct container *d = l.v[0];
	assert_string_equal(d->id, "aaaa1111");
	assert_string_equal(d->pod_id, "pod1");
	assert_string_equal(d->name, "web");
	assert_int_equal(d->attempt, 2);
	assert_int_equal(d->state, ROW_CTR_EXITED);
	assert_true(d->exit_recorded);
	assert_string_equal(d->config->metadata->name, "web");
	assert_string_equal(d->config->log_path, "web/2.log");
	assert_string_equal(d->image_id, "sha256:abc");
	assert_string_equal(d->image_name, "busybox");
	assert_string_equal(d->runtime, "crun");
	assert_string_equal(d->log_path, "/var/log/pods/x/web/2.log");
	assert_string_equal(d->term_path, "/tmp/term");
	assert_true(d->term_fallback);
	assert_int_equal(d->stop_signal, 3);
	assert_true(d->kill_all);
	assert_int_equal(d->uid, 4294967294u);
	assert_int_equal(d->gid, 1000);
	assert_int_equal(d->n_groups, 2);
	assert_int_equal(d->groups[1], 1001);
	assert_int_equal(d->created_at, 1700000000123456789LL);
	assert_int_equal(d->started_at, 1700000001000000000LL);
	assert_int_equal(d->finished_at, 1700000002000000000LL);
	assert_int_equal(d->exit_code, 137);
	assert_true(d->oom);
	assert_string_equal(d->reason, "OOMKilled");
	assert_string_equal(d->message, "it's \"quoted\"\nand two lines");
	assert_non_null(d->resources);
	assert_int_equal(d->resources->memory_limit_in_bytes, 1 << 26);
	/* paths are derived from the manager's dirs */
	char *want = xasprintf("%s/aaaa1111/rootfs", m->ctr_run);
	assert_string_equal(d->rootfs, want);
	free(want);
	container_unref(d);

	assert_int_equal(ctr_db_delete(m, c->id, &err), 0);
	l.n = 0;
	assert_int_equal(ctr_db_load(m, collect, &l, &err), 0);
	assert_int_equal(l.n, 0);
	container_unref(c);
}

static void test_unreadable_config_is_torn_down(void **state)
{
	struct fx *f = *state;
	struct ctr_mgr *m = &f->m;
	ocid_error *err = NULL;
	struct container *c = sample(m, "bbbb2222");
	c->state = ROW_CTR_RUNNING;
	assert_int_equal(ctr_db_insert(m, c, &err), 0);
	assert_int_equal(db_exec(m->db, &err, "UPDATE containers SET config = x'ffff' WHERE id = ?", "s", c->id),
			 1);
	struct loaded l = {0};
	assert_int_equal(ctr_db_load(m, collect, &l, &err), 0);
	assert_int_equal(l.n, 1);
	/* recovery tears 'creating' rows down */
	assert_int_equal(l.v[0]->state, ROW_CTR_CREATING);
	container_unref(l.v[0]);
	container_unref(c);
}

static void test_reservations_and_index(void **state)
{
	struct fx *f = *state;
	struct ctr_mgr *m = &f->m;
	char *key = ctr_reservation_key("web", "pod", "ns", "uid", 3);
	assert_string_equal(key, "web_pod_ns_uid_3");
	assert_null(ctr_reserve_locked(m, key, "id1"));
	assert_string_equal(ctr_reserve_locked(m, key, "id2"), "id1");
	ctr_release_locked(m, key, "id2"); /* not the holder: no effect */
	assert_string_equal(ctr_reserve_locked(m, key, "id2"), "id1");
	ctr_release_locked(m, key, "id1");
	assert_null(ctr_reserve_locked(m, key, "id2"));
	free(key);

	struct container *a = sample(m, "abc123"), *b = sample(m, "abd456"), *c = sample(m, "abc");
	ctr_index_add_locked(m, a);
	ctr_index_add_locked(m, b);
	ctr_index_add_locked(m, c);
	struct container *got;
	ocid_error *err = NULL;
	assert_int_equal(ctr_get(m, "abd", &got, &err), 0);
	assert_ptr_equal(got, b);
	container_unref(got);
	/* a full id wins over being a prefix of another */
	assert_int_equal(ctr_get(m, "abc", &got, &err), 0);
	assert_ptr_equal(got, c);
	container_unref(got);
	assert_int_equal(ctr_get(m, "ab", &got, &err), -1);
	assert_int_equal(err->code, GRPC_NOT_FOUND);
	assert_non_null(strstr(err->msg, "ambiguous"));
	err_clear(&err);
	assert_int_equal(ctr_get(m, "zzz", &got, &err), -1);
	assert_int_equal(err->code, GRPC_NOT_FOUND);
	err_clear(&err);
	assert_int_equal(ctr_count(m), 3);
	/* the index keeps its order when one goes */
	ctr_index_del_locked(m, a);
	assert_ptr_equal(m->items[0], b);
	assert_ptr_equal(m->items[1], c);
	container_unref(a);
	container_unref(b);
	container_unref(c);
}

static void write_text(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static void test_exit_message(void **state)
{
	struct fx *f = *state;
	struct container *c = sample(&f->m, "cccc");
	free(c->term_path);
	c->term_path = xasprintf("%s/term", f->dir);
	free(c->log_path);
	c->log_path = xasprintf("%s/ctr.log", f->dir);

	/* no file, no log */
	char *msg = ctr_exit_message(c, 1);
	assert_string_equal(msg, "");
	free(msg);

	/* a CRI log of 100 lines, one of them split in two partial lines */
	FILE *lf = fopen(c->log_path, "w");
	for (int i = 1; i <= 100; i++) {
		if (i == 99)
			fprintf(lf, "2026-01-01T00:00:00.000000000Z stdout P li\n"
				    "2026-01-01T00:00:00.000000001Z stdout F ne99\n");
		else
			fprintf(lf, "2026-01-01T00:00:00.000000000Z %s F line%d\n", i % 2 ? "stdout" : "stderr", i);
	}
	fclose(lf);
	msg = ctr_exit_message(c, 2);
	size_t lines = 0;
	for (char *p = msg; *p; p++)
		lines += *p == '\n';
	assert_int_equal(lines, CTR_MESSAGE_MAX_LINES);
	assert_true(strncmp(msg, "line21\n", 7) == 0);
	assert_non_null(strstr(msg, "\nline99\nline100\n"));
	free(msg);
	/* not for a clean exit */
	msg = ctr_exit_message(c, 0);
	assert_string_equal(msg, "");
	free(msg);
	/* not without the policy */
	c->term_fallback = false;
	msg = ctr_exit_message(c, 2);
	assert_string_equal(msg, "");
	free(msg);
	c->term_fallback = true;

	/* long lines: 4096 bytes, the end kept */
	lf = fopen(c->log_path, "w");
	for (int i = 0; i < 10; i++) {
		fprintf(lf, "2026-01-01T00:00:00Z stdout F ");
		for (int k = 0; k < 1000; k++)
			fputc('a' + i, lf);
		fputc('\n', lf);
	}
	fclose(lf);
	msg = ctr_exit_message(c, 2);
	assert_int_equal(strlen(msg), CTR_MESSAGE_MAX_BYTES);
	assert_int_equal(msg[strlen(msg) - 2], 'j');
	free(msg);

	/* the termination message file wins when it has something */
	write_text(c->term_path, "done: all good");
	msg = ctr_exit_message(c, 2);
	assert_string_equal(msg, "done: all good");
	free(msg);
	/* ... capped at 4096 bytes */
	lf = fopen(c->term_path, "w");
	for (int i = 0; i < 5000; i++)
		fputc('x', lf);
	fclose(lf);
	msg = ctr_exit_message(c, 0);
	assert_int_equal(strlen(msg), CTR_MESSAGE_MAX_BYTES);
	free(msg);
	container_unref(c);
}

static void test_pb_dup(void **state)
{
	(void)state;
	Runtime__V1__LinuxContainerResources r = RUNTIME__V1__LINUX_CONTAINER_RESOURCES__INIT;
	r.cpu_shares = 512;
	r.cpuset_cpus = "0-1";
	Runtime__V1__LinuxContainerResources *copy = ctr_pb_dup(&r.base);
	assert_int_equal(copy->cpu_shares, 512);
	assert_string_equal(copy->cpuset_cpus, "0-1");
	assert_ptr_not_equal(copy->cpuset_cpus, r.cpuset_cpus);
	protobuf_c_message_free_unpacked(&copy->base, NULL);
	assert_null(ctr_pb_dup(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_store_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unreadable_config_is_torn_down, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reservations_and_index, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exit_message, setup, teardown),
		cmocka_unit_test(test_pb_dup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
