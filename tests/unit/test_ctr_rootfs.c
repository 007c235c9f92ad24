/* The overlay rootfs (ctr/rootfs.h), for real (root only; skipped
 * otherwise): layer order (top first), the upper dir taking writes,
 * idempotent unmounts, and more layers than mount(2)'s one-page option
 * string can name (the new mount API's lowerdir+), with the legacy path
 * refusing them clearly. */
#include <errno.h>
#include <fcntl.h>
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

#include "ctr/rootfs.h"
#include "util/fs.h"
#include "util/xalloc.h"

static char base[64];

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static char *read_text(const char *path)
{
	static char buf[256];
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return NULL;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return buf;
}

/* n lower dirs under a long prefix; dir i holds "layer" = i and "only<i>". */
static char **make_layers(const char *prefix, size_t n)
{
	char **v = xcalloc(n, sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		v[i] = xasprintf("%s/%03zu-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef/diff",
				 prefix, i);
		assert_int_equal(fs_mkdir_p(v[i], 0755, NULL), 0);
		char *p = xasprintf("%s/layer", v[i]);
		char text[16];
		snprintf(text, sizeof(text), "%zu", i);
		write_file(p, text);
		free(p);
		p = xasprintf("%s/only%zu", v[i], i);
		write_file(p, "x");
		free(p);
	}
	return v;
}

static void free_layers(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void mount_dirs(const char *name, char **upper, char **work, char **target)
{
	*upper = xasprintf("%s/%s/upper", base, name);
	*work = xasprintf("%s/%s/work", base, name);
	*target = xasprintf("%s/%s/rootfs", base, name);
	assert_int_equal(fs_mkdir_p(*upper, 0755, NULL), 0);
	assert_int_equal(fs_mkdir_p(*work, 0700, NULL), 0);
	assert_int_equal(fs_mkdir_p(*target, 0755, NULL), 0);
}

static void test_order_and_upper(void **state)
{
	(void)state;
	char *prefix = xasprintf("%s/layers3", base);
	/* lowerdir order is top first: layers[0] is the top */
	char **layers = make_layers(prefix, 3);
	char *upper, *work, *target;
	mount_dirs("m3", &upper, &work, &target);
	assert_false(rootfs_is_mounted(target));
	ocid_error *err = NULL;
	int rc = rootfs_mount(target, layers, 3, upper, work, &err);
	if (rc < 0)
		fail_msg("%s", err->msg);
	assert_true(rootfs_is_mounted(target));
	char *p = xasprintf("%s/layer", target);
	assert_string_equal(read_text(p), "0");
	free(p);
	for (int i = 0; i < 3; i++) {
		p = xasprintf("%s/only%d", target, i);
		assert_non_null(read_text(p));
		free(p);
	}
	p = xasprintf("%s/new", target);
	write_file(p, "written");
	free(p);
	p = xasprintf("%s/new", upper);
	assert_string_equal(read_text(p), "written");
	free(p);
	assert_int_equal(rootfs_umount(target, &err), 0);
	assert_false(rootfs_is_mounted(target));
	/* idempotent, and a missing target is fine */
	assert_int_equal(rootfs_umount(target, &err), 0);
	p = xasprintf("%s/nothing-here", base);
	assert_int_equal(rootfs_umount(p, &err), 0);
	free(p);
	free_layers(layers, 3);
	free(prefix);
	free(upper);
	free(work);
	free(target);
}

static void test_many_layers(void **state)
{
	(void)state;
	const size_t n = 120; /* ~120 * 100 bytes: over a page */
	char *prefix = xasprintf("%s/layers-many", base);
	char **layers = make_layers(prefix, n);
	char *upper, *work, *target;
	mount_dirs("many", &upper, &work, &target);
	ocid_error *err = NULL;

	/* mount(2) cannot name them all */
	rootfs_no_new_api = true;
	assert_int_equal(rootfs_mount(target, layers, n, upper, work, &err), -1);
	assert_int_equal(err->code, GRPC_FAILED_PRECONDITION);
	assert_non_null(strstr(err->msg, "120 layers"));
	err_clear(&err);
	rootfs_no_new_api = false;
	assert_false(rootfs_is_mounted(target));

	int rc = rootfs_mount(target, layers, n, upper, work, &err);
	if (rc < 0)
		fail_msg("%s", err->msg);
	char *p = xasprintf("%s/layer", target);
	assert_string_equal(read_text(p), "0");
	free(p);
	p = xasprintf("%s/only%zu", target, n - 1);
	assert_non_null(read_text(p));
	free(p);
	/* stacked mounts (as a retried create after a crash could leave): one
	 * rootfs_umount takes them all */
	char *upper2, *work2, *target2;
	mount_dirs("many2", &upper2, &work2, &target2);
	rc = rootfs_mount(target, layers, 2, upper2, work2, &err);
	if (rc < 0)
		fail_msg("%s", err->msg);
	assert_int_equal(rootfs_umount(target, &err), 0);
	assert_false(rootfs_is_mounted(target));
	free_layers(layers, n);
	free(prefix);
	free(upper);
	free(work);
	free(target);
	free(upper2);
	free(work2);
	free(target2);
}

/* A rootfs someone still holds open (a process left inside, an open
 * directory) is detached all the same, and what RemoveContainer does next
 * works at once: the mountpoint and the bundle around it can be deleted,
 * the upper and work directories moved away. */
static void test_umount_busy_then_remove(void **state)
{
	(void)state;
	ocid_error *err = NULL;
	char *prefix = xasprintf("%s/busy", base);
	char **layers = make_layers(prefix, 2);
	char *upper, *work, *target;
	mount_dirs("busy", &upper, &work, &target);
	if (rootfs_mount(target, layers, 2, upper, work, &err) < 0)
		fail_msg("%s", err->msg);
	int held = open(target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(held >= 0);
	assert_int_equal(rootfs_umount(target, &err), 0);
	assert_false(rootfs_is_mounted(target));
	/* the open directory still reads the old tree */
	assert_int_equal(faccessat(held, "layer", F_OK, 0), 0);
	assert_int_equal(rmdir(target), 0);
	char *moved = xasprintf("%s-moved", upper);
	assert_int_equal(rename(upper, moved), 0);
	close(held);
	free_layers(layers, 2);
	free(prefix);
	free(upper);
	free(work);
	free(target);
	free(moved);
}

static void test_bad_input(void **state)
{
	(void)state;
	char *upper, *work, *target;
	mount_dirs("bad", &upper, &work, &target);
	ocid_error *err = NULL;
	assert_int_equal(rootfs_mount(target, NULL, 0, upper, work, &err), -1);
	assert_int_equal(err->code, GRPC_FAILED_PRECONDITION);
	err_clear(&err);
	char *bad[] = {"/a,b"};
	assert_int_equal(rootfs_mount(target, bad, 1, upper, work, &err), -1);
	err_clear(&err);
	char *missing[] = {"/nonexistent/layer/diff"};
	assert_int_equal(rootfs_mount(target, missing, 1, upper, work, &err), -1);
	assert_non_null(strstr(err->msg, "/nonexistent/layer/diff"));
	err_clear(&err);
	assert_false(rootfs_is_mounted(target));
	free(upper);
	free(work);
	free(target);
}

static int setup(void **state)
{
	(void)state;
	snprintf(base, sizeof(base), "/tmp/ocid-rootfs-test.XXXXXX");
	if (mkdtemp(base) == NULL)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	/* anything still mounted below base */
	FILE *f = fopen("/proc/self/mountinfo", "r");
	char line[4096];
	while (f && fgets(line, sizeof(line), f)) {
		char mp[2048];
		if (sscanf(line, "%*s %*s %*s %*s %2047s", mp) == 1 && strncmp(mp, base, strlen(base)) == 0)
			rootfs_umount(mp, NULL);
	}
	if (f)
		fclose(f);
	fs_remove_all(base, NULL);
	return 0;
}

int main(void)
{
	if (geteuid() != 0) {
		printf("1..0 # SKIP needs root (overlay mounts)\n");
		return 0;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_and_upper),
		cmocka_unit_test(test_many_layers),
		cmocka_unit_test(test_umount_busy_then_remove),
		cmocka_unit_test(test_bad_input),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
