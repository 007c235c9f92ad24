/* Pod cgroup path logic: CRI cgroup_parent checks, finding the hierarchies
 * in mountinfo text (hybrid and pure v2 layouts, duplicates, read-only and
 * container mounts), directory mapping, and the persisted record. Pure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "pod/cgroup.h"

/* This machine: v1 controllers each in its own hierarchy, name=systemd, and
 * cgroup2 at /sys/fs/cgroup/unified (no optional fields). */
static const char *const hybrid_plain =
	"22 27 0:21 / /proc rw,relatime - proc proc rw\n"
	"27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard\n"
	"31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
	"32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
	"33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n"
	"34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset\n"
	"35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
	"36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices\n"
	"37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer\n"
	"38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio\n"
	"39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
	"40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
	"41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";

/* A systemd host in hybrid mode: shared: optional fields, co-mounted
 * controllers, xattr and release_agent options. */
static const char *const hybrid_systemd =
	"25 21 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:4 - tmpfs tmpfs ro,mode=755\n"
	"26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:5 - cgroup2 "
	"cgroup2 rw,nsdelegate\n"
	"27 25 0:24 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:6 - cgroup "
	"cgroup rw,xattr,name=systemd\n"
	"30 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:10 - "
	"cgroup cgroup rw,cpu,cpuacct\n"
	"31 25 0:28 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:11 - "
	"cgroup cgroup rw,net_cls,net_prio\n"
	"32 25 0:29 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:12 master:1 - "
	"cgroup cgroup rw,cpuset,noprefix,release_agent=/bin/true\n";

static const char *const pure_v2 =
	"21 1 0:20 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw\n"
	"24 21 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 "
	"rw,nsdelegate,memory_recursiveprot\n";

static struct cgroup_layout parse_ok(const char *text)
{
	struct cgroup_layout l;
	ocid_error *err = NULL;
	if (cgroup_layout_parse(text, &l, &err) < 0)
		fail_msg("parse failed: %s", err->msg);
	return l;
}

static const struct cgroup_hierarchy *find(const struct cgroup_layout *l, const char *mp)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->h[i].mountpoint, mp) == 0)
			return &l->h[i];
	return NULL;
}

static void test_parse_hybrid(void **state)
{
	(void)state;
	struct cgroup_layout l = parse_ok(hybrid_plain);
	assert_int_equal(l.n, 10);
	assert_false(l.pure_v2);
	const struct cgroup_hierarchy *h = find(&l, "/sys/fs/cgroup/memory");
	assert_non_null(h);
	assert_int_equal(h->version, 1);
	assert_string_equal(h->controllers, "memory");
	assert_string_equal(h->root, "/");
	assert_false(h->read_only);
	h = find(&l, "/sys/fs/cgroup/systemd");
	assert_non_null(h);
	assert_string_equal(h->controllers, "name=systemd");
	h = find(&l, "/sys/fs/cgroup/unified");
	assert_non_null(h);
	assert_int_equal(h->version, 2);
	assert_string_equal(h->controllers, "");
	assert_null(find(&l, "/sys/fs/cgroup"));
	assert_null(find(&l, "/proc"));
	cgroup_layout_free(&l);

	l = parse_ok(hybrid_systemd);
	assert_int_equal(l.n, 5);
	assert_false(l.pure_v2);
	h = find(&l, "/sys/fs/cgroup/cpu,cpuacct");
	assert_non_null(h);
	assert_string_equal(h->controllers, "cpu,cpuacct");
	h = find(&l, "/sys/fs/cgroup/systemd");
	assert_string_equal(h->controllers, "name=systemd");
	h = find(&l, "/sys/fs/cgroup/cpuset");
	assert_string_equal(h->controllers, "cpuset");
	assert_non_null(find(&l, "/sys/fs/cgroup/unified"));
	cgroup_layout_free(&l);
}

static void test_parse_pure_v2(void **state)
{
	(void)state;
	struct cgroup_layout l = parse_ok(pure_v2);
	assert_int_equal(l.n, 1);
	assert_true(l.pure_v2);
	assert_string_equal(l.h[0].mountpoint, "/sys/fs/cgroup");
	assert_int_equal(l.h[0].version, 2);

	char *d = cgroup_hierarchy_dir(&l.h[0], "/kubepods/besteffort/pod1");
	assert_string_equal(d, "/sys/fs/cgroup/kubepods/besteffort/pod1");
	free(d);
	cgroup_layout_free(&l);

	/* A named v1 hierarchy kept for old tools does not make it hybrid. */
	char *text = NULL;
	assert_true(asprintf(&text, "%s%s", pure_v2,
			     "30 24 0:40 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup "
			     "rw,name=systemd\n") > 0);
	l = parse_ok(text);
	assert_int_equal(l.n, 2);
	assert_true(l.pure_v2);
	cgroup_layout_free(&l);
	free(text);

	/* No cgroup at all. */
	l = parse_ok("22 27 0:21 / /proc rw,relatime - proc proc rw\n");
	assert_int_equal(l.n, 0);
	assert_false(l.pure_v2);
	cgroup_layout_free(&l);
}

static void test_parse_duplicates_ro_escapes(void **state)
{
	(void)state;
	const char *text =
		/* memory mounted twice: a sub-directory bind first, then the root */
		"50 31 0:32 /kube /mnt/kube-mem rw,relatime - cgroup cgroup rw,memory\n"
		"35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
		/* read-only pids hierarchy */
		"39 31 0:36 / /sys/fs/cgroup/pids ro,relatime - cgroup cgroup rw,pids\n"
		/* a mount point with a space */
		"41 31 0:38 / /mnt/my\\040cg rw,relatime - cgroup2 cgroup2 rw\n"
		/* optional fields and an odd source */
		"42 31 0:39 / /sys/fs/cgroup/freezer rw shared:3 master:2 - cgroup none "
		"rw,freezer\n";
	struct cgroup_layout l = parse_ok(text);
	assert_int_equal(l.n, 4);
	const struct cgroup_hierarchy *h = find(&l, "/sys/fs/cgroup/memory");
	assert_non_null(h);
	assert_null(find(&l, "/mnt/kube-mem"));
	h = find(&l, "/sys/fs/cgroup/pids");
	assert_non_null(h);
	assert_true(h->read_only);
	h = find(&l, "/mnt/my cg");
	assert_non_null(h);
	assert_int_equal(h->version, 2);
	assert_non_null(find(&l, "/sys/fs/cgroup/freezer"));
	cgroup_layout_free(&l);

	/* A cgroup line cut short is an error, not silently skipped. */
	ocid_error *err = NULL;
	assert_int_equal(cgroup_layout_parse("35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup\n", &l,
					     &err),
			 -1);
	assert_int_equal(err->code, GRPC_INTERNAL);
	assert_non_null(strstr(err->msg, "line 1"));
	err_free(err);
}

static void test_container_mount_root(void **state)
{
	(void)state;
	/* Inside a container the hierarchy's own directory is mounted read-only. */
	const char *text =
		"600 590 0:32 /docker/abc /sys/fs/cgroup/memory ro,nosuid - cgroup cgroup rw,memory\n";
	struct cgroup_layout l = parse_ok(text);
	assert_int_equal(l.n, 1);
	assert_true(l.h[0].read_only);
	assert_string_equal(l.h[0].root, "/docker/abc");
	/* A path under the mount root maps inside the mount... */
	char *d = cgroup_hierarchy_dir(&l.h[0], "/docker/abc/pod1");
	assert_string_equal(d, "/sys/fs/cgroup/memory/pod1");
	free(d);
	/* ...one elsewhere is taken relative to the mount (the container's view). */
	d = cgroup_hierarchy_dir(&l.h[0], "/docker/abcd/pod1");
	assert_string_equal(d, "/sys/fs/cgroup/memory/docker/abcd/pod1");
	free(d);

	/* Only read-only hierarchies: nothing to create in. */
	struct pod_cgroup *cg = NULL;
	ocid_error *err = NULL;
	assert_int_equal(pod_cgroup_create(&l, "/ocid/pod-x", &cg, &err), -1);
	assert_int_equal(err->code, GRPC_FAILED_PRECONDITION);
	assert_non_null(strstr(err->msg, "no writable"));
	err_free(err);
	assert_null(cg);
	cgroup_layout_free(&l);
}

static void test_path_check(void **state)
{
	(void)state;
	ocid_error *err = NULL;
	assert_int_equal(cgroup_path_check("/kubepods/besteffort/pod123", &err), 0);
	assert_int_equal(cgroup_path_check("/a", &err), 0);
	assert_int_equal(cgroup_path_check("/machine.slice/x@y:z", &err), 0);
	assert_null(err);

	struct {
		const char *path;
		const char *needle;
	} bad[] = {
		{"", "empty"},
		{"relative/path", "not absolute"},
		{"kubepods-besteffort-pod1.slice", "systemd slice"},
		{"/", "hierarchy root"},
		{"/a/../b", "invalid component"},
		{"/a/./b", "invalid component"},
		{"/a//b", "invalid component"},
		{"/a/", "invalid component"},
		{"/a b", "invalid component"},
		{"/a\\b", "invalid component"},
		{"/a\nb", "invalid component"},
		{"/cgroup.procs", "invalid component"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(cgroup_path_check(bad[i].path, &err), -1);
		assert_int_equal(err->code, GRPC_INVALID_ARGUMENT);
		if (strstr(err->msg, bad[i].needle) == NULL)
			fail_msg("%s: \"%s\" lacks \"%s\"", bad[i].path, err->msg, bad[i].needle);
		err_clear(&err);
	}
	assert_int_equal(cgroup_path_check(NULL, &err), -1);
	err_clear(&err);

	/* bounded length: components and the whole path */
	char comp[300] = "/";
	memset(comp + 1, 'c', 256);
	comp[257] = '\0';
	assert_int_equal(cgroup_path_check(comp, &err), -1);
	err_clear(&err);
	char *longp = calloc(1, CGROUP_PATH_MAX + 16);
	for (size_t i = 0; i + 2 <= CGROUP_PATH_MAX + 2; i += 2)
		memcpy(longp + i, "/a", 2);
	assert_true(strlen(longp) > CGROUP_PATH_MAX);
	assert_int_equal(cgroup_path_check(longp, &err), -1);
	assert_non_null(strstr(err->msg, "more than"));
	err_clear(&err);
	free(longp);
}

static void test_pod_cgroup_path(void **state)
{
	(void)state;
	char *p = NULL;
	ocid_error *err = NULL;
	assert_int_equal(pod_cgroup_path("", "0123abcd", &p, &err), 0);
	assert_string_equal(p, "/ocid/pod-0123abcd");
	free(p);
	assert_int_equal(pod_cgroup_path(NULL, "id1", &p, &err), 0);
	assert_string_equal(p, "/ocid/pod-id1");
	free(p);
	assert_int_equal(pod_cgroup_path("/kubepods/burstable/pod1/", "id", &p, &err), 0);
	assert_string_equal(p, "/kubepods/burstable/pod1");
	free(p);
	assert_int_equal(pod_cgroup_path("//kubepods//pod1", "id", &p, &err), 0);
	assert_string_equal(p, "/kubepods/pod1");
	free(p);

	assert_int_equal(pod_cgroup_path("/kubepods/../etc", "id", &p, &err), -1);
	assert_null(p);
	assert_non_null(strstr(err->msg, "cgroup_parent"));
	err_clear(&err);
	assert_int_equal(pod_cgroup_path("kubepods.slice", "id", &p, &err), -1);
	assert_non_null(strstr(err->msg, "systemd slice"));
	err_clear(&err);
	assert_int_equal(pod_cgroup_path("/", "id", &p, &err), -1);
	err_clear(&err);
	assert_int_equal(pod_cgroup_path("", "", &p, &err), -1);
	err_clear(&err);
	assert_int_equal(pod_cgroup_path("", "../x", &p, &err), -1);
	err_clear(&err);
}

static void test_dir_mapping(void **state)
{
	(void)state;
	struct cgroup_hierarchy h = {.mountpoint = (char *)"/sys/fs/cgroup/memory",
				     .root = (char *)"/"};
	char *d = cgroup_hierarchy_dir(&h, "/ocid/pod-1");
	assert_string_equal(d, "/sys/fs/cgroup/memory/ocid/pod-1");
	free(d);
	h.mountpoint = (char *)"/sys/fs/cgroup/";
	d = cgroup_hierarchy_dir(&h, "/a");
	assert_string_equal(d, "/sys/fs/cgroup/a");
	free(d);
	h.mountpoint = (char *)"/";
	d = cgroup_hierarchy_dir(&h, "/a");
	assert_string_equal(d, "/a");
	free(d);
}

static void test_json_record(void **state)
{
	(void)state;
	struct pod_cgroup_hier hs[2] = {
		{.mountpoint = (char *)"/sys/fs/cgroup/memory", .root = (char *)"/", .version = 1,
		 .created = 2},
		{.mountpoint = (char *)"/sys/fs/cgroup/unified", .root = (char *)"/", .version = 2,
		 .created = 0},
	};
	struct pod_cgroup cg = {.path = (char *)"/ocid/pod-1", .pure_v2 = false, .h = hs, .n = 2};
	json_t *j = pod_cgroup_to_json(&cg);
	assert_non_null(j);
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	struct pod_cgroup *back = NULL;
	ocid_error *err = NULL;
	assert_int_equal(pod_cgroup_from_json(j, &back, &err), 0);
	json_decref(j);
	assert_string_equal(back->path, "/ocid/pod-1");
	assert_false(back->pure_v2);
	assert_int_equal(back->n, 2);
	assert_string_equal(back->h[0].mountpoint, "/sys/fs/cgroup/memory");
	assert_int_equal(back->h[0].created, 2);
	assert_int_equal(back->h[1].version, 2);
	json_t *j2 = pod_cgroup_to_json(back);
	char *s2 = json_dumps(j2, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(s, s2);
	free(s);
	free(s2);
	json_decref(j2);

	char **dirs = NULL;
	pod_cgroup_dirs(back, &dirs);
	assert_string_equal(dirs[0], "/sys/fs/cgroup/memory/ocid/pod-1");
	assert_string_equal(dirs[1], "/sys/fs/cgroup/unified/ocid/pod-1");
	free(dirs[0]);
	free(dirs[1]);
	free(dirs);
	pod_cgroup_free(back);

	/* Damaged records are refused. */
	const char *bad[] = {
		"{}",
		"{\"path\": \"/a/../b\", \"pure_v2\": false, \"hierarchies\": []}",
		"{\"path\": \"/a\", \"pure_v2\": false, \"hierarchies\": [{\"mountpoint\": "
		"\"rel\", \"root\": \"/\", \"version\": 1, \"created\": 1}]}",
		"{\"path\": \"/a\", \"pure_v2\": false, \"hierarchies\": [{\"mountpoint\": "
		"\"/m\", \"root\": \"/\", \"version\": 3, \"created\": 1}]}",
		"{\"path\": \"/a\", \"pure_v2\": false, \"hierarchies\": [{\"mountpoint\": "
		"\"/m\", \"root\": \"/\", \"version\": 1, \"created\": -1}]}",
		NULL,
	};
	for (size_t i = 0; bad[i]; i++) {
		json_t *b = json_loads(bad[i], 0, NULL);
		assert_non_null(b);
		assert_int_equal(pod_cgroup_from_json(b, &back, &err), -1);
		assert_null(back);
		err_clear(&err);
		json_decref(b);
	}
}

/* ---- create/remove logic on plain directories standing in for cgroupfs ---- */

static void put(const char *dir, const char *name, const char *text)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static char *get(const char *dir, const char *name)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	char *buf = calloc(1, 256);
	size_t n = fread(buf, 1, 255, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static bool isdir(const char *dir, const char *rel)
{
	char path[256];
	snprintf(path, sizeof(path), "%s%s", dir, rel);
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static void run_fake_layout(bool pure)
{
	char dir[] = "/tmp/test_pod_cgroup.XXXXXX";
	assert_non_null(mkdtemp(dir));
	put(dir, "cgroup.controllers", "cpu io memory pids\n");
	put(dir, "cgroup.subtree_control", "cpu\n");
	char *text = NULL;
	assert_true(asprintf(&text, "%s24 21 0:22 / %s rw,relatime - cgroup2 cgroup2 rw\n",
			     pure ? "" : "35 31 0:32 / /nonexistent/memory ro - cgroup cgroup rw,memory\n",
			     dir) > 0);
	struct cgroup_layout l = parse_ok(text);
	free(text);
	assert_int_equal(l.pure_v2, pure);

	ocid_error *err = NULL;
	struct pod_cgroup *cg = NULL;
	/* an existing parent, kept on removal */
	char keep[300];
	snprintf(keep, sizeof(keep), "%s/kubepods", dir);
	assert_int_equal(mkdir(keep, 0755), 0);
	if (pod_cgroup_create(&l, "/kubepods/burstable/pod1", &cg, &err) < 0)
		fail_msg("%s", err->msg);
	assert_int_equal(cg->n, 1); /* the read-only v1 hierarchy is skipped */
	assert_int_equal(cg->h[0].created, 2);
	assert_true(isdir(dir, "/kubepods/burstable/pod1"));
	/* controllers enabled for the children of the root on pure v2 only */
	char *sub = get(dir, "cgroup.subtree_control");
	assert_string_equal(sub, pure ? "+io +memory +pids" : "cpu\n");
	free(sub);

	/* the pause leaf and a sibling sandbox's cgroup */
	char pod[300];
	snprintf(pod, sizeof(pod), "%s/kubepods/burstable/pod1", dir);
	char other[320];
	snprintf(other, sizeof(other), "%s/ocid-other", pod);
	assert_int_equal(mkdir(other, 0755), 0);
	char leaf[320];
	snprintf(leaf, sizeof(leaf), "%s/ocid-sbx", pod);
	assert_int_equal(mkdir(leaf, 0755), 0);
	const char *leaves[] = {"ocid-sbx", NULL};
	if (pod_cgroup_remove(cg, leaves, &err) < 0)
		fail_msg("%s", err->msg);
	assert_false(isdir(dir, "/kubepods/burstable/pod1/ocid-sbx"));
	assert_true(isdir(dir, "/kubepods/burstable/pod1")); /* still used */
	assert_int_equal(rmdir(other), 0);
	if (pod_cgroup_remove(cg, leaves, &err) < 0)
		fail_msg("%s", err->msg);
	assert_false(isdir(dir, "/kubepods/burstable"));
	assert_true(isdir(dir, "/kubepods")); /* not ocid's */
	if (pod_cgroup_remove(cg, leaves, &err) < 0) /* idempotent */
		fail_msg("%s", err->msg);

	/* moving a pid writes cgroup.procs of the leaf */
	pod_cgroup_free(cg);
	if (pod_cgroup_create(&l, "/kubepods/pod2", &cg, &err) < 0)
		fail_msg("%s", err->msg);
	assert_int_equal(cg->h[0].created, 1);
	char pod2[300];
	snprintf(pod2, sizeof(pod2), "%s/kubepods/pod2/ocid-pause", dir);
	assert_int_equal(mkdir(pod2, 0755), 0);
	put(pod2, "cgroup.procs", "");
	if (pod_cgroup_add_pid(cg, "ocid-pause", 4242, &err) < 0)
		fail_msg("%s", err->msg);
	char *procs = get(pod2, "cgroup.procs");
	assert_string_equal(procs, "4242\n");
	free(procs);
	assert_int_equal(pod_cgroup_add_pid(cg, "../escape", 1, &err), -1);
	assert_int_equal(err->code, GRPC_INVALID_ARGUMENT);
	err_clear(&err);
	char procs_path[340];
	snprintf(procs_path, sizeof(procs_path), "%s/cgroup.procs", pod2);
	unlink(procs_path);
	const char *pl[] = {"ocid-pause", NULL};
	if (pod_cgroup_remove(cg, pl, &err) < 0)
		fail_msg("%s", err->msg);
	assert_false(isdir(dir, "/kubepods/pod2"));
	pod_cgroup_free(cg);

	/* a file in the way is a clear error, and nothing is left */
	put(keep, "blocker", "");
	assert_int_equal(pod_cgroup_create(&l, "/kubepods/blocker/pod3", &cg, &err), -1);
	assert_non_null(strstr(err->msg, "not a cgroup directory"));
	err_clear(&err);
	assert_null(cg);

	cgroup_layout_free(&l);
	char *cmd = NULL;
	assert_true(asprintf(&cmd, "rm -rf '%s'", dir) > 0);
	assert_int_equal(system(cmd), 0);
	free(cmd);
}

static void test_fake_pure_v2(void **state)
{
	(void)state;
	run_fake_layout(true);
}

static void test_fake_hybrid(void **state)
{
	(void)state;
	run_fake_layout(false);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_hybrid),
		cmocka_unit_test(test_parse_pure_v2),
		cmocka_unit_test(test_parse_duplicates_ro_escapes),
		cmocka_unit_test(test_container_mount_root),
		cmocka_unit_test(test_path_check),
		cmocka_unit_test(test_pod_cgroup_path),
		cmocka_unit_test(test_dir_mapping),
		cmocka_unit_test(test_json_record),
		cmocka_unit_test(test_fake_pure_v2),
		cmocka_unit_test(test_fake_hybrid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
