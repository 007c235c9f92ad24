/* ctr/spec: the OCI config.json built from a CRI ContainerConfig, the pod,
 * the image config and host facts. Each test builds from a JSON
 * ContainerConfig (through the pbjson converter) against a fake rootfs with
 * /etc/passwd and /etc/group in a temporary directory, and checks the
 * resulting document or the error (code and the field it names). */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "ctr/spec.h"
#include "ctr/spec_internal.h"
#include "util/fs.h"
#include "util/pbjson.h"

/* ---- fixture ---- */

static char tmp[256];
static char rootfs[300], sandbox[300], volumes[300], outside[300], termlog[340];
static struct ocid_config *cfg;
static struct spec_host host;
static struct spec_image image;
static struct spec_input in;
static Runtime__V1__ContainerConfig *ctr_msg;
static Runtime__V1__PodSandboxConfig *pod_msg;
static struct spec_result res;

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static char *pathf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *pathf(const char *fmt, ...)
{
	static char buf[4][600];
	static int k;
	char *b = buf[k++ % 4];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(b, sizeof(buf[0]), fmt, ap);
	va_end(ap);
	return b;
}

static const char passwd_text[] = "root:x:0:0:root:/root:/bin/sh\n"
				  "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
				  "# a comment\n"
				  "broken line without fields\n"
				  "app:x:1000:1000:App:/home/app:/bin/sh\n"
				  "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
static const char group_text[] = "root:x:0:\n"
				 "wheel:x:10:root,app\n"
				 "app:x:1000:\n"
				 "docker:x:999:other,app\n"
				 "staff:x:50:\n";

static int group_setup(void **state)
{
	(void)state;
	snprintf(tmp, sizeof(tmp), "/tmp/ocid-test-spec-XXXXXX");
	if (mkdtemp(tmp) == NULL)
		return -1;
	snprintf(rootfs, sizeof(rootfs), "%s/rootfs", tmp);
	snprintf(sandbox, sizeof(sandbox), "%s/sandbox", tmp);
	snprintf(volumes, sizeof(volumes), "%s/volumes", tmp);
	snprintf(outside, sizeof(outside), "%s/outside", tmp);
	snprintf(termlog, sizeof(termlog), "%s/termination-log", sandbox);
	mkdir(rootfs, 0755);
	mkdir(pathf("%s/etc", rootfs), 0755);
	mkdir(sandbox, 0755);
	mkdir(volumes, 0755);
	mkdir(outside, 0755);
	write_file(pathf("%s/etc/passwd", rootfs), passwd_text);
	write_file(pathf("%s/etc/group", rootfs), group_text);
	write_file(pathf("%s/resolv.conf", sandbox), "nameserver 10.0.0.1\n");
	write_file(pathf("%s/hostname", sandbox), "pod\n");
	write_file(pathf("%s/hosts", sandbox), "127.0.0.1 localhost\n");
	write_file(pathf("%s/termination-log", sandbox), "");
	/* a host file an image might try to read through a symlink */
	write_file(pathf("%s/passwd", outside), "evil:x:4321:4321::/:/bin/sh\n");
	cfg = config_new();
	return cfg ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	config_free(cfg);
	ocid_error *err = NULL;
	fs_remove_all(tmp, &err);
	err_free(err);
	return 0;
}

static char *const img_env[] = {"PATH=/usr/bin:/bin", "A=1", "B=2", NULL};

static int setup(void **state)
{
	(void)state;
	memset(&host, 0, sizeof(host));
	host.oom_score_adj_min = -1000;
	host.cap_last_cap = 40;
	host.cap_bounding = (1ULL << 41) - 1;
	for (int r = 0; r < RLIM_NLIMITS; r++)
		host.rlimit_max[r] = RLIM_INFINITY;
	host.swap_accounting = true;
	snprintf(host.arch, sizeof(host.arch), "amd64");
	host.kernel_version = 6001;
	snprintf(host.dev_dir, sizeof(host.dev_dir), "/dev");
	memset(&image, 0, sizeof(image));
	image.env = img_env;
	image.name = "docker.io/library/busybox:latest";
	memset(&in, 0, sizeof(in));
	in.container_id = "c0ffee";
	in.sandbox_id = "5a4db0x";
	in.image = &image;
	in.rtcfg = &cfg->runtime;
	in.host = &host;
	in.rootfs = rootfs;
	in.sandbox_dir = sandbox;
	in.volumes_dir = volumes;
	in.net.path = "/run/ocid/ns/p/net";
	in.ipc.path = "/run/ocid/ns/p/ipc";
	in.uts.path = "/run/ocid/ns/p/uts";
	in.cgroup_parent = "/kubepods/podX";
	memset(&res, 0, sizeof(res));
	ctr_msg = NULL;
	pod_msg = NULL;
	spec_rootfs_no_openat2 = false;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	spec_result_free(&res);
	if (ctr_msg)
		protobuf_c_message_free_unpacked(&ctr_msg->base, NULL);
	if (pod_msg)
		protobuf_c_message_free_unpacked(&pod_msg->base, NULL);
	ctr_msg = NULL;
	pod_msg = NULL;
	return 0;
}

static void set_ctr(const char *json)
{
	json_error_t jerr;
	json_t *j = json_loads(json, 0, &jerr);
	if (j == NULL)
		fail_msg("bad test JSON: %s: %s", jerr.text, json);
	ocid_error *err = NULL;
	if (ctr_msg)
		protobuf_c_message_free_unpacked(&ctr_msg->base, NULL);
	ProtobufCMessage *m = NULL;
	if (pbjson_to_message(&runtime__v1__container_config__descriptor, j, &m, &err) < 0)
		fail_msg("pbjson: %s", err->msg);
	json_decref(j);
	ctr_msg = (Runtime__V1__ContainerConfig *)m;
	in.ctr = ctr_msg;
}

static void set_pod(const char *json)
{
	json_t *j = json_loads(json, 0, NULL);
	assert_non_null(j);
	ocid_error *err = NULL;
	ProtobufCMessage *m = NULL;
	if (pbjson_to_message(&runtime__v1__pod_sandbox_config__descriptor, j, &m, &err) < 0)
		fail_msg("pbjson: %s", err->msg);
	json_decref(j);
	if (pod_msg)
		protobuf_c_message_free_unpacked(&pod_msg->base, NULL);
	pod_msg = (Runtime__V1__PodSandboxConfig *)m;
	in.pod = pod_msg;
}

/* Builds from ctr JSON (NULL = keep the current one); fails the test on
 * error. */
static json_t *build(const char *json)
{
	if (json)
		set_ctr(json);
	spec_result_free(&res);
	ocid_error *err = NULL;
	if (spec_build(&in, &res, &err) < 0)
		fail_msg("spec_build: %s: %s", grpc_code_name(err->code), err->msg);
	assert_non_null(res.config);
	return res.config;
}

/* Expects a failure with code whose message contains needle. */
static void build_fails(const char *json, enum grpc_code code, const char *needle)
{
	if (json)
		set_ctr(json);
	spec_result_free(&res);
	ocid_error *err = NULL;
	if (spec_build(&in, &res, &err) == 0)
		fail_msg("spec_build succeeded, expected %s (%s)", grpc_code_name(code), needle);
	assert_null(res.config);
	if (err->code != code || strstr(err->msg, needle) == NULL)
		fail_msg("got %s \"%s\", want %s with \"%s\"", grpc_code_name(err->code), err->msg,
			 grpc_code_name(code), needle);
	err_free(err);
}

/* "a.b.c" lookups; "[n]" selects an array element: "process.args[1]". */
static json_t *jp(json_t *root, const char *path)
{
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", path);
	json_t *cur = root;
	char *save = NULL;
	for (char *t = strtok_r(buf, ".", &save); t && cur; t = strtok_r(NULL, ".", &save)) {
		char *br = strchr(t, '[');
		if (br)
			*br = '\0';
		if (*t)
			cur = json_object_get(cur, t);
		while (br && cur) {
			cur = json_array_get(cur, strtoul(br + 1, NULL, 10));
			br = strchr(br + 1, '[');
		}
	}
	return cur;
}

static const char *js(json_t *root, const char *path)
{
	json_t *v = jp(root, path);
	if (!json_is_string(v))
		fail_msg("%s is not a string", path);
	return json_string_value(v);
}

static long long ji(json_t *root, const char *path)
{
	json_t *v = jp(root, path);
	if (!json_is_integer(v))
		fail_msg("%s is not an integer", path);
	return json_integer_value(v);
}

/* The array as "a b c". */
static char *jlist(json_t *arr)
{
	static char buf[8192];
	size_t o = 0, i;
	json_t *v;
	buf[0] = '\0';
	json_array_foreach(arr, i, v) {
		char item[512];
		if (json_is_string(v))
			snprintf(item, sizeof(item), "%s", json_string_value(v));
		else
			snprintf(item, sizeof(item), "%lld", (long long)json_integer_value(v));
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%s", o ? " " : "", item);
	}
	return buf;
}

static bool in_list(json_t *arr, const char *s)
{
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
			return true;
	return false;
}

static json_t *mount_at(json_t *spec, const char *dest)
{
	size_t i;
	json_t *m;
	json_array_foreach(json_object_get(spec, "mounts"), i, m)
		if (strcmp(js(m, "destination"), dest) == 0)
			return m;
	return NULL;
}

/* ---- process: command and args ---- */

static void test_args_semantics(void **state)
{
	(void)state;
	char *const entry[] = {"/entry", "-e", NULL};
	char *const cmd[] = {"cmd-a", "cmd-b", NULL};
	static const struct {
		const char *cri;      /* command/args JSON fragment */
		bool img_entry, img_cmd;
		const char *want;
	} t[] = {
		{"", true, true, "/entry -e cmd-a cmd-b"},
		{"", false, true, "cmd-a cmd-b"},
		{"", true, false, "/entry -e"},
		{"\"command\": [\"/bin/x\"],", true, true, "/bin/x"},
		{"\"command\": [\"/bin/x\"], \"args\": [\"1\"],", true, true, "/bin/x 1"},
		{"\"args\": [\"1\", \"2\"],", true, true, "/entry -e 1 2"},
		{"\"args\": [\"/bin/y\", \"2\"],", false, true, "/bin/y 2"},
		{"\"args\": [\"/bin/y\"],", false, false, "/bin/y"},
		{"\"command\": [\"/bin/x\"],", false, false, "/bin/x"},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		image.entrypoint = t[i].img_entry ? entry : NULL;
		image.cmd = t[i].img_cmd ? cmd : NULL;
		char json[256];
		snprintf(json, sizeof(json), "{%s \"metadata\": {\"name\": \"c\"}}", t[i].cri);
		json_t *s = build(json);
		const char *got = jlist(jp(s, "process.args"));
		if (strcmp(got, t[i].want) != 0)
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, got, t[i].want);
	}
	image.entrypoint = image.cmd = NULL;
	build_fails("{\"metadata\": {\"name\": \"c\"}}", GRPC_INVALID_ARGUMENT, "no command");
	build_fails("{\"metadata\": {\"name\": \"c\"}, \"command\": [\"\"]}", GRPC_INVALID_ARGUMENT,
		    "command[0]");
	build_fails("{\"command\": [\"x\"]}", GRPC_INVALID_ARGUMENT, "metadata.name");
}

/* ---- process: env, cwd, terminal ---- */

static void test_env_merge(void **state)
{
	(void)state;
	set_pod("{\"hostname\": \"web-0\"}");
	json_t *s = build("{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"], \"tty\": true,"
			  " \"envs\": [{\"key\": \"B\", \"value\": \"3\"},"
			  "            {\"key\": \"C\", \"value\": \"x=y\"},"
			  "            {\"key\": \"A\", \"value\": \"\"}]}");
	assert_string_equal(jlist(jp(s, "process.env")),
			    "PATH=/usr/bin:/bin A= B=3 C=x=y HOME=/root TERM=xterm HOSTNAME=web-0");
	assert_true(json_is_true(jp(s, "process.terminal")));

	/* PATH when the image has none; HOME from the user's entry. */
	image.env = NULL;
	s = build("{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"],"
		  " \"linux\": {\"security_context\": {\"run_as_user\": {\"value\": 1000}}}}");
	assert_string_equal(jlist(jp(s, "process.env")),
			    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "
			    "HOME=/home/app HOSTNAME=web-0");
	assert_true(json_is_false(jp(s, "process.terminal")));
	image.env = img_env;

	build_fails("{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"],"
		    " \"envs\": [{\"key\": \"\", \"value\": \"3\"}]}",
		    GRPC_INVALID_ARGUMENT, "envs[0].key");
	build_fails("{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"],"
		    " \"envs\": [{\"key\": \"A\"}, {\"key\": \"X=Y\"}]}",
		    GRPC_INVALID_ARGUMENT, "envs[1].key");

	/* Bytes that are not UTF-8 are replaced, not fatal. */
	set_ctr("{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"]}");
	free(ctr_msg->command[0]);
	ctr_msg->command[0] = strdup("/bin/\xff\xfe");
	s = build(NULL);
	assert_string_equal(js(s, "process.args[0]"), "/bin/\xef\xbf\xbd\xef\xbf\xbd");
}

static void test_workdir(void **state)
{
	(void)state;
	json_t *s = build("{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"]}");
	assert_string_equal(js(s, "process.cwd"), "/");
	image.working_dir = "app/./src/";
	s = build(NULL);
	assert_string_equal(js(s, "process.cwd"), "/app/src");
	s = build("{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"], \"working_dir\": "
		  "\"/work//dir/\"}");
	assert_string_equal(js(s, "process.cwd"), "/work/dir");
	image.working_dir = NULL;
	build_fails("{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"], \"working_dir\": "
		    "\"rel\"}",
		    GRPC_INVALID_ARGUMENT, "working_dir");
}

/* ---- user ---- */

static const char *user_of(json_t *s)
{
	static char buf[256];
	json_t *g = jp(s, "process.user.additionalGids");
	snprintf(buf, sizeof(buf), "%lld:%lld [%s]", ji(s, "process.user.uid"),
		 ji(s, "process.user.gid"), g ? jlist(g) : "");
	return buf;
}

static void test_user_image_forms(void **state)
{
	(void)state;
	static const struct {
		const char *user, *want;
	} t[] = {
		{"", "0:0 [10]"},
		{"root", "0:0 [10]"},
		{"app", "1000:1000 [10 999]"},
		{"1000", "1000:1000 [10 999]"},
		{"4242", "4242:0 []"},
		{"app:staff", "1000:50 []"},
		{"app:77", "1000:77 []"},
		{"1000:50", "1000:50 []"},
		{"4242:staff", "4242:50 []"},
		{"65534", "65534:65534 []"},
	};
	set_ctr("{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"]}");
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		image.user = t[i].user;
		json_t *s = build(NULL);
		if (strcmp(user_of(s), t[i].want) != 0)
			fail_msg("USER \"%s\": got %s, want %s", t[i].user, user_of(s), t[i].want);
	}
	image.user = "app";
	build(NULL);
	assert_string_equal(res.username, "app");
	assert_int_equal(res.uid, 1000);
	image.user = "4242";
	build(NULL);
	assert_null(res.username);

	image.user = "ghost";
	build_fails(NULL, GRPC_INVALID_ARGUMENT, "user \"ghost\" not found");
	image.user = "app:ghosts";
	build_fails(NULL, GRPC_INVALID_ARGUMENT, "group \"ghosts\" not found");
	image.user = "app:";
	build_fails(NULL, GRPC_INVALID_ARGUMENT, "empty group");
	image.user = ":50";
	build_fails(NULL, GRPC_INVALID_ARGUMENT, "empty user");
	image.user = NULL;
}

static void test_user_security_context(void **state)
{
	(void)state;
	image.user = "app";
	/* run_as_user wins over the image; run_as_group over the primary group;
	 * supplementary groups merged (Merge is the default). */
	json_t *s = build("{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"], \"linux\":"
			  " {\"security_context\": {\"run_as_user\": {\"value\": 0},"
			  " \"run_as_group\": {\"value\": 2000}, \"supplemental_groups\": [3000, "
			  "10]}}}");
	assert_string_equal(user_of(s), "0:2000 [3000 10]");
	s = build("{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"], \"linux\":"
		  " {\"security_context\": {\"run_as_username\": \"app\","
		  " \"supplemental_groups\": [3000]}}}");
	assert_string_equal(user_of(s), "1000:1000 [3000 10 999]");
	s = build("{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"], \"linux\":"
		  " {\"security_context\": {\"run_as_username\": \"app\","
		  " \"supplemental_groups\": [3000], \"supplemental_groups_policy\": "
		  "\"Strict\"}}}");
	assert_string_equal(user_of(s), "1000:1000 [3000]");
	build_fails("{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"], \"linux\":"
		    " {\"security_context\": {\"run_as_username\": \"ghost\"}}}",
		    GRPC_INVALID_ARGUMENT, "run_as_username: user \"ghost\" not found");
	build_fails("{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"], \"linux\":"
		    " {\"security_context\": {\"run_as_user\": {\"value\": -1}}}}",
		    GRPC_INVALID_ARGUMENT, "run_as_user: -1");
	build_fails("{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"], \"linux\":"
		    " {\"security_context\": {\"supplemental_groups\": [1, 4294967295]}}}",
		    GRPC_INVALID_ARGUMENT, "supplemental_groups[1]");

	/* run_as_non_root (the CRI does not carry it; the input does). */
	in.run_as_non_root = true;
	image.user = "";
	build_fails("{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"]}",
		    GRPC_INVALID_ARGUMENT, "run_as_non_root");
	image.user = "0:1000";
	build_fails(NULL, GRPC_INVALID_ARGUMENT, "uid 0");
	image.user = "app";
	assert_int_equal(ji(build(NULL), "process.user.uid"), 1000);
	build_fails("{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"], \"linux\":"
		    " {\"security_context\": {\"run_as_user\": {\"value\": 0}}}}",
		    GRPC_INVALID_ARGUMENT, "run_as_non_root");
	in.run_as_non_root = false;
	image.user = NULL;
}

/* A second rootfs under tmp with its own etc. */
static char *make_rootfs(const char *name)
{
	char *r = strdup(pathf("%s/%s", tmp, name));
	ocid_error *err = NULL;
	fs_remove_all(r, &err);
	err_free(err);
	mkdir(r, 0755);
	return r;
}

static void test_user_untrusted_rootfs(void **state)
{
	(void)state;
	set_ctr("{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"]}");
	image.user = "evil";

	/* /etc/passwd -> an absolute host path: resolved inside the rootfs
	 * (where it does not exist), never on the host. */
	char *r = make_rootfs("evil-abs");
	mkdir(pathf("%s/etc", r), 0755);
	assert_int_equal(symlink(pathf("%s/passwd", outside), pathf("%s/etc/passwd", r)), 0);
	in.rootfs = r;
	build_fails(NULL, GRPC_INVALID_ARGUMENT, "user \"evil\" not found");
	spec_rootfs_no_openat2 = true;
	build_fails(NULL, GRPC_INVALID_ARGUMENT, "refusing to follow a symlink");
	spec_rootfs_no_openat2 = false;
	free(r);

	/* ../../.. climbing out, and a symlinked /etc. */
	r = make_rootfs("evil-rel");
	mkdir(pathf("%s/etc", r), 0755);
	char rel[600];
	snprintf(rel, sizeof(rel), "../../../../../../../../..%s/passwd", outside);
	assert_int_equal(symlink(rel, pathf("%s/etc/passwd", r)), 0);
	in.rootfs = r;
	build_fails(NULL, GRPC_INVALID_ARGUMENT, "user \"evil\" not found");
	free(r);
	r = make_rootfs("evil-etc");
	assert_int_equal(symlink(outside, pathf("%s/etc", r)), 0);
	in.rootfs = r;
	build_fails(NULL, GRPC_INVALID_ARGUMENT, "user \"evil\" not found");
	spec_rootfs_no_openat2 = true;
	build_fails(NULL, GRPC_INVALID_ARGUMENT, "refusing to follow a symlink");
	spec_rootfs_no_openat2 = false;
	free(r);

	/* A symlink that stays inside the root is fine (with openat2). */
	r = make_rootfs("inside-link");
	mkdir(pathf("%s/etc", r), 0755);
	mkdir(pathf("%s/usr", r), 0755);
	write_file(pathf("%s/usr/passwd", r), "evil:x:77:78::/e:/bin/sh\n");
	assert_int_equal(symlink("/usr/passwd", pathf("%s/etc/passwd", r)), 0);
	in.rootfs = r;
	assert_string_equal(user_of(build(NULL)), "77:78 []");
	free(r);

	/* Not a regular file: a FIFO must neither block nor be read. */
	r = make_rootfs("fifo");
	mkdir(pathf("%s/etc", r), 0755);
	assert_int_equal(mkfifo(pathf("%s/etc/passwd", r), 0644), 0);
	in.rootfs = r;
	build_fails(NULL, GRPC_INVALID_ARGUMENT, "not a regular file");
	free(r);

	/* Over-long lines are skipped; what follows still counts. No
	 * /etc/group at all is fine. */
	r = make_rootfs("long");
	mkdir(pathf("%s/etc", r), 0755);
	size_t big = SPEC_ETC_LINE_MAX + 100;
	char *text = malloc(big + 64);
	memset(text, 'a', big);
	strcpy(text + big, ":x:1:1::/:/bin/sh\nevil:x:5:6::/:/bin/sh\n");
	write_file(pathf("%s/etc/passwd", r), text);
	free(text);
	in.rootfs = r;
	assert_string_equal(user_of(build(NULL)), "5:6 []");
	/* No /etc/passwd: numeric users still work, names do not. */
	unlink(pathf("%s/etc/passwd", r));
	build_fails(NULL, GRPC_INVALID_ARGUMENT, "not found");
	image.user = "0";
	assert_string_equal(user_of(build(NULL)), "0:0 []");
	free(r);

	in.rootfs = rootfs;
	image.user = NULL;
}

/* ---- capabilities ---- */

static char *caps_of(json_t *s, const char *set)
{
	char p[64];
	snprintf(p, sizeof(p), "process.capabilities.%s", set);
	return jlist(jp(s, p));
}

#define DEFAULT_CAPS                                                                          \
	"CAP_CHOWN CAP_DAC_OVERRIDE CAP_FOWNER CAP_FSETID CAP_KILL CAP_SETGID CAP_SETUID "    \
	"CAP_SETPCAP CAP_NET_BIND_SERVICE"

static void test_caps(void **state)
{
	(void)state;
	json_t *s = build("{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"]}");
	assert_string_equal(caps_of(s, "bounding"), DEFAULT_CAPS);
	assert_string_equal(caps_of(s, "effective"), DEFAULT_CAPS);
	assert_string_equal(caps_of(s, "permitted"), DEFAULT_CAPS);
	assert_string_equal(caps_of(s, "inheritable"), "");
	assert_string_equal(caps_of(s, "ambient"), "");

	s = build("{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"], \"linux\": "
		  "{\"security_context\": {\"capabilities\": {\"add_capabilities\": "
		  "[\"NET_ADMIN\", \"cap_sys_time\"], \"drop_capabilities\": [\"KILL\", "
		  "\"CAP_CHOWN\", \"audit_read\"]}}}}");
	assert_string_equal(caps_of(s, "bounding"),
			    "CAP_DAC_OVERRIDE CAP_FOWNER CAP_FSETID CAP_SETGID CAP_SETUID "
			    "CAP_SETPCAP CAP_NET_BIND_SERVICE CAP_NET_ADMIN CAP_SYS_TIME");

	s = build("{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"], \"linux\": "
		  "{\"security_context\": {\"capabilities\": {\"add_capabilities\": "
		  "[\"CHOWN\"], \"drop_capabilities\": [\"ALL\"]}}}}");
	assert_string_equal(caps_of(s, "effective"), "CAP_CHOWN");

	s = build("{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"], \"linux\": "
		  "{\"security_context\": {\"capabilities\": {\"drop_capabilities\": "
		  "[\"all\"]}}}}");
	assert_string_equal(caps_of(s, "permitted"), "");

	/* ALL = what this kernel has and ocid holds. */
	host.cap_last_cap = 39;
	host.cap_bounding &= ~(1ULL << 24); /* no CAP_SYS_RESOURCE */
	s = build("{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"], \"linux\": "
		  "{\"security_context\": {\"capabilities\": {\"add_capabilities\": [\"ALL\"], "
		  "\"drop_capabilities\": [\"SYS_ADMIN\"]}}}}");
	json_t *b = jp(s, "process.capabilities.bounding");
	assert_int_equal(json_array_size(b), 40 - 2);
	assert_false(in_list(b, "CAP_SYS_ADMIN"));
	assert_false(in_list(b, "CAP_SYS_RESOURCE"));
	assert_false(in_list(b, "CAP_CHECKPOINT_RESTORE"));
	assert_true(in_list(b, "CAP_BPF"));

	build_fails("{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"], \"linux\": "
		    "{\"security_context\": {\"capabilities\": {\"add_capabilities\": "
		    "[\"SYS_RESOURCE\"]}}}}",
		    GRPC_FAILED_PRECONDITION, "CAP_SYS_RESOURCE cannot be granted");
	build_fails("{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"], \"linux\": "
		    "{\"security_context\": {\"capabilities\": {\"add_capabilities\": "
		    "[\"CHECKPOINT_RESTORE\"]}}}}",
		    GRPC_FAILED_PRECONDITION, "not known to this kernel");
	build_fails("{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"], \"linux\": "
		    "{\"security_context\": {\"capabilities\": {\"add_capabilities\": "
		    "[\"CHOWN\", \"FLY\"]}}}}",
		    GRPC_INVALID_ARGUMENT,
		    "linux.security_context.capabilities.add_capabilities[1]: unknown "
		    "capability \"FLY\"");
	build_fails("{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"], \"linux\": "
		    "{\"security_context\": {\"capabilities\": {\"drop_capabilities\": "
		    "[\"CAP_\"]}}}}",
		    GRPC_INVALID_ARGUMENT, "drop_capabilities[0]");

	/* Ambient capabilities are also inheritable and permitted. */
	s = build("{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"], \"linux\": "
		  "{\"security_context\": {\"capabilities\": {\"drop_capabilities\": [\"ALL\"], "
		  "\"add_ambient_capabilities\": [\"NET_BIND_SERVICE\"]}}}}");
	assert_string_equal(caps_of(s, "ambient"), "CAP_NET_BIND_SERVICE");
	assert_string_equal(caps_of(s, "inheritable"), "CAP_NET_BIND_SERVICE");
	assert_string_equal(caps_of(s, "permitted"), "CAP_NET_BIND_SERVICE");

	assert_int_equal(spec_cap_from_name("Cap_Sys_Admin"), 21);
	assert_int_equal(spec_cap_from_name("ALL"), -1);
	assert_string_equal(spec_cap_name(40), "CAP_CHECKPOINT_RESTORE");
	assert_null(spec_cap_name(41));
}

/* ---- privileged, read-only root, masked paths ---- */

static void test_privileged(void **state)
{
	(void)state;
	host.cap_bounding &= ~(1ULL << 24);
	json_t *s = build("{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"], \"linux\": "
			  "{\"security_context\": {\"privileged\": true, \"capabilities\": "
			  "{\"drop_capabilities\": [\"ALL\"]}, \"masked_paths\": [\"/proc/x\"],"
			  " \"seccomp\": {\"profile_type\": \"RuntimeDefault\"}}}}");
	json_t *b = jp(s, "process.capabilities.effective");
	assert_int_equal(json_array_size(b), 40);
	assert_false(in_list(b, "CAP_SYS_RESOURCE"));
	assert_null(jp(s, "linux.seccomp"));
	assert_null(jp(s, "linux.maskedPaths"));
	assert_null(jp(s, "linux.readonlyPaths"));
	assert_null(jp(s, "process.apparmorProfile"));
	assert_false(in_list(jp(mount_at(s, "/sys"), "options"), "ro"));
	assert_false(in_list(jp(mount_at(s, "/sys/fs/cgroup"), "options"), "ro"));
	/* every host device, and no device restriction */
	json_t *rules = jp(s, "linux.resources.devices");
	assert_int_equal(json_array_size(rules), 1);
	assert_true(json_is_true(jp(rules, "[0].allow")));
	assert_string_equal(js(rules, "[0].access"), "rwm");
	size_t i;
	json_t *d;
	bool null_found = false;
	json_array_foreach(jp(s, "linux.devices"), i, d) {
		const char *p = js(d, "path");
		assert_true(strncmp(p, "/dev/", 5) == 0);
		assert_null(strstr(p, "/dev/pts/"));
		if (strcmp(p, "/dev/null") == 0) {
			null_found = true;
			assert_string_equal(js(d, "type"), "c");
			assert_int_equal(ji(d, "major"), 1);
			assert_int_equal(ji(d, "minor"), 3);
		}
	}
	assert_true(null_found);

	s = build("{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"]}");
	assert_true(in_list(jp(mount_at(s, "/sys"), "options"), "ro"));
	assert_true(in_list(jp(mount_at(s, "/sys/fs/cgroup"), "options"), "ro"));
}

static void test_readonly_rootfs(void **state)
{
	(void)state;
	in.termination_message_host_path = termlog;
	json_t *s = build("{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"], \"linux\": "
			  "{\"security_context\": {\"readonly_rootfs\": true}}}");
	assert_true(json_is_true(jp(s, "root.readonly")));
	assert_string_equal(js(s, "root.path"), rootfs);
	assert_true(in_list(jp(mount_at(s, "/etc/hosts"), "options"), "ro"));
	assert_true(in_list(jp(mount_at(s, "/etc/resolv.conf"), "options"), "ro"));
	assert_false(in_list(jp(mount_at(s, "/dev/termination-log"), "options"), "ro"));
	s = build("{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"]}");
	assert_true(json_is_false(jp(s, "root.readonly")));
	assert_false(in_list(jp(mount_at(s, "/etc/hosts"), "options"), "ro"));
	in.termination_message_host_path = NULL;
}

static void test_masked_paths(void **state)
{
	(void)state;
	json_t *s = build("{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"]}");
	assert_string_equal(jlist(jp(s, "linux.maskedPaths")),
			    "/proc/acpi /proc/kcore /proc/keys /proc/latency_stats "
			    "/proc/timer_list /proc/timer_stats /proc/sched_debug /proc/scsi "
			    "/sys/firmware /sys/devices/virtual/powercap");
	assert_string_equal(jlist(jp(s, "linux.readonlyPaths")),
			    "/proc/asound /proc/bus /proc/fs /proc/irq /proc/sys "
			    "/proc/sysrq-trigger");
	s = build("{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"], \"linux\": "
		  "{\"security_context\": {\"masked_paths\": [\"/proc/a\", \"/proc/b\"],"
		  " \"readonly_paths\": [\"/proc/r\"]}}}");
	assert_string_equal(jlist(jp(s, "linux.maskedPaths")), "/proc/a /proc/b");
	assert_string_equal(jlist(jp(s, "linux.readonlyPaths")), "/proc/r");
	build_fails("{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"], \"linux\": "
		    "{\"security_context\": {\"readonly_paths\": [\"proc/r\"]}}}",
		    GRPC_INVALID_ARGUMENT, "readonly_paths[0]");
}

/* ---- mounts ---- */

static void test_mounts_order_and_options(void **state)
{
	(void)state;
	mkdir(pathf("%s/data", tmp), 0755);
	mkdir(pathf("%s/data/sub", tmp), 0755);
	assert_int_equal(symlink(pathf("%s/data", tmp), pathf("%s/data-link", tmp)), 0);
	char json[2048];
	snprintf(json, sizeof(json),
		 "{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"], \"mounts\": ["
		 "{\"container_path\": \"/srv/data/sub\", \"host_path\": \"%s/data/sub\", "
		 "\"readonly\": true},"
		 "{\"container_path\": \"/srv/data/\", \"host_path\": \"%s/data-link\", "
		 "\"selinux_relabel\": true},"
		 "{\"container_path\": \"/etc/hosts\", \"host_path\": \"%s/data\"}]}",
		 tmp, tmp, tmp);
	in.termination_message_host_path = termlog;
	in.termination_message_path = "/tmp/msg";
	json_t *s = build(json);
	/* parents before children, ties in insertion order */
	size_t i, prev_depth = 0;
	json_t *m;
	json_array_foreach(jp(s, "mounts"), i, m) {
		size_t depth = 0;
		for (const char *c = js(m, "destination"); *c; c++)
			depth += *c == '/';
		assert_true(depth >= prev_depth);
		prev_depth = depth;
	}
	json_t *sub = mount_at(s, "/srv/data/sub"), *data = mount_at(s, "/srv/data");
	assert_non_null(sub);
	assert_non_null(data);
	assert_string_equal(js(data, "source"), pathf("%s/data", tmp)); /* symlink resolved */
	assert_string_equal(js(data, "type"), "bind");
	assert_string_equal(jlist(jp(data, "options")), "rbind rprivate rw");
	assert_string_equal(jlist(jp(sub, "options")), "rbind rprivate ro");
	/* the CRI's /etc/hosts replaces the pod's */
	assert_string_equal(js(mount_at(s, "/etc/hosts"), "source"), pathf("%s/data", tmp));
	assert_string_equal(js(mount_at(s, "/etc/resolv.conf"), "source"),
			    pathf("%s/resolv.conf", sandbox));
	assert_string_equal(js(mount_at(s, "/etc/hostname"), "source"),
			    pathf("%s/hostname", sandbox));
	assert_string_equal(js(mount_at(s, "/tmp/msg"), "source"),
			    pathf("%s/termination-log", sandbox));
	assert_null(mount_at(s, "/dev/termination-log"));
	assert_null(jp(s, "linux.rootfsPropagation"));
	/* system mounts */
	assert_string_equal(js(mount_at(s, "/proc"), "type"), "proc");
	assert_string_equal(js(mount_at(s, "/dev"), "type"), "tmpfs");
	assert_string_equal(js(mount_at(s, "/dev/pts"), "type"), "devpts");
	assert_string_equal(js(mount_at(s, "/dev/mqueue"), "type"), "mqueue");
	assert_string_equal(js(mount_at(s, "/dev/shm"), "type"), "tmpfs");
	assert_string_equal(js(mount_at(s, "/sys/fs/cgroup"), "type"), "cgroup");
	in.termination_message_path = NULL;

	/* the pod's shm and the host's mqueue */
	in.shm_path = "/run/ocid/pods/x/shm";
	in.ipc.path = NULL;
	in.ipc.host = true;
	s = build(NULL);
	json_t *shm = mount_at(s, "/dev/shm");
	assert_string_equal(js(shm, "type"), "bind");
	assert_string_equal(js(shm, "source"), "/run/ocid/pods/x/shm");
	struct stat mq;
	if (stat("/dev/mqueue", &mq) == 0)
		assert_string_equal(js(mount_at(s, "/dev/mqueue"), "source"), "/dev/mqueue");
	else
		assert_null(mount_at(s, "/dev/mqueue"));
	assert_string_equal(js(mount_at(s, "/dev/termination-log"), "source"),
			    pathf("%s/termination-log", sandbox));
	in.shm_path = NULL;
	in.ipc.host = false;
	in.termination_message_host_path = NULL;

	/* no sandbox files */
	in.sandbox_dir = NULL;
	s = build(NULL);
	assert_null(mount_at(s, "/etc/resolv.conf"));
	in.sandbox_dir = sandbox;
}

static void test_mounts_errors(void **state)
{
	(void)state;
	char json[1024];
	snprintf(json, sizeof(json),
		 "{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"], \"mounts\": ["
		 "{\"container_path\": \"/a\", \"host_path\": \"%s/data\"},"
		 "{\"container_path\": \"/b\", \"host_path\": \"%s/no-such-dir\"}]}",
		 tmp, tmp);
	mkdir(pathf("%s/data", tmp), 0755);
	build_fails(json, GRPC_INVALID_ARGUMENT, "mounts[1].host_path");
	build_fails(json, GRPC_INVALID_ARGUMENT, "No such file or directory");
	snprintf(json, sizeof(json),
		 "{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"], \"mounts\": ["
		 "{\"container_path\": \"a\", \"host_path\": \"%s/data\"}]}",
		 tmp);
	build_fails(json, GRPC_INVALID_ARGUMENT, "mounts[0].container_path");
	snprintf(json, sizeof(json),
		 "{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"], \"mounts\": ["
		 "{\"container_path\": \"/a\", \"host_path\": \"%s/data\"},"
		 "{\"container_path\": \"/a/\", \"host_path\": \"%s/data\"}]}",
		 tmp, tmp);
	build_fails(json, GRPC_INVALID_ARGUMENT, "mounted twice");
	snprintf(json, sizeof(json),
		 "{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"], \"mounts\": ["
		 "{\"container_path\": \"/a\", \"host_path\": \"data\"}]}");
	build_fails(json, GRPC_INVALID_ARGUMENT, "mounts[0].host_path");
	snprintf(json, sizeof(json),
		 "{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"], \"mounts\": ["
		 "{\"container_path\": \"/a\", \"host_path\": \"%s/data\", "
		 "\"recursive_read_only\": true}]}",
		 tmp);
	build_fails(json, GRPC_INVALID_ARGUMENT, "recursive_read_only");
	snprintf(json, sizeof(json),
		 "{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"], \"mounts\": ["
		 "{\"container_path\": \"/..\", \"host_path\": \"%s/data\"}]}",
		 tmp);
	build_fails(json, GRPC_INVALID_ARGUMENT, "cannot mount over");
}

/* Propagation needs a source on a shared (or slave) mount: tried in a
 * private mount namespace of this test process, as root. */
static void test_mounts_propagation(void **state)
{
	(void)state;
	if (geteuid() != 0 || unshare(CLONE_NEWNS) < 0)
		skip();
	assert_int_equal(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
	char *p = strdup(pathf("%s/prop", tmp));
	mkdir(p, 0755);
	assert_int_equal(mount("tmpfs", p, "tmpfs", 0, NULL), 0);
	mkdir(pathf("%s/dir", p), 0755);
	char json[1024];
	snprintf(json, sizeof(json),
		 "{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"], \"mounts\": ["
		 "{\"container_path\": \"/a\", \"host_path\": \"%s/dir\", \"propagation\": "
		 "\"PROPAGATION_HOST_TO_CONTAINER\"}]}",
		 p);
	build_fails(json, GRPC_FAILED_PRECONDITION, "shared or slave mount");
	assert_int_equal(mount(NULL, p, NULL, MS_SHARED, NULL), 0);
	json_t *s = build(json);
	assert_string_equal(jlist(jp(mount_at(s, "/a"), "options")), "rbind rslave rw");
	assert_string_equal(js(s, "linux.rootfsPropagation"), "rslave");
	snprintf(json, sizeof(json),
		 "{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"], \"mounts\": ["
		 "{\"container_path\": \"/a\", \"host_path\": \"%s/dir\", \"propagation\": "
		 "\"PROPAGATION_HOST_TO_CONTAINER\"},"
		 "{\"container_path\": \"/b\", \"host_path\": \"%s/dir\", \"propagation\": "
		 "\"PROPAGATION_BIDIRECTIONAL\", \"readonly\": true}]}",
		 p, p);
	s = build(json);
	assert_string_equal(jlist(jp(mount_at(s, "/b"), "options")), "rbind rshared ro");
	assert_string_equal(js(s, "linux.rootfsPropagation"), "rshared");
	/* a slave mount is enough for HOST_TO_CONTAINER only: p2 becomes a
	 * peer of p, then its slave */
	char *p2 = strdup(pathf("%s/prop2", tmp));
	mkdir(p2, 0755);
	assert_int_equal(mount(p, p2, NULL, MS_BIND, NULL), 0);
	assert_int_equal(mount(NULL, p2, NULL, MS_SLAVE, NULL), 0);
	snprintf(json, sizeof(json),
		 "{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"], \"mounts\": ["
		 "{\"container_path\": \"/a\", \"host_path\": \"%s/dir\", \"propagation\": "
		 "\"PROPAGATION_HOST_TO_CONTAINER\"},"
		 "{\"container_path\": \"/b\", \"host_path\": \"%s/dir\", \"propagation\": "
		 "\"PROPAGATION_BIDIRECTIONAL\"}]}",
		 p2, p2);
	build_fails(json, GRPC_FAILED_PRECONDITION, "mounts[1]: propagation BIDIRECTIONAL");
	build_fails(json, GRPC_FAILED_PRECONDITION, "its mount is a slave");
	umount2(p2, MNT_DETACH);
	free(p2);
	umount2(p, MNT_DETACH);
	free(p);
}

static void test_volumes(void **state)
{
	(void)state;
	char *const vols[] = {"/data", "var/lib/db/", "/covered", "/etc/hosts", "/data", "/", NULL};
	image.volumes = vols;
	image.user = "app";
	mkdir(pathf("%s/data", tmp), 0755);
	char json[1024];
	snprintf(json, sizeof(json),
		 "{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"], \"mounts\": ["
		 "{\"container_path\": \"/covered\", \"host_path\": \"%s/data\"}]}",
		 tmp);
	json_t *s = build(json);
	assert_int_equal(res.n_volumes, 2);
	assert_string_equal(res.volumes[0].container_path, "/data");
	assert_string_equal(res.volumes[0].host_path, pathf("%s/0-data", volumes));
	assert_string_equal(res.volumes[1].container_path, "/var/lib/db");
	assert_string_equal(res.volumes[1].host_path, pathf("%s/1-var_lib_db", volumes));
	assert_int_equal(res.volumes[1].uid, 1000);
	assert_string_equal(js(mount_at(s, "/var/lib/db"), "source"),
			    pathf("%s/1-var_lib_db", volumes));
	assert_string_equal(js(mount_at(s, "/covered"), "source"), pathf("%s/data", tmp));
	assert_string_equal(js(mount_at(s, "/etc/hosts"), "source"), pathf("%s/hosts", sandbox));
	ocid_error *err = NULL;
	assert_int_equal(spec_volumes_create(&res, &err), 0);
	assert_int_equal(spec_volumes_create(&res, &err), 0); /* idempotent */
	struct stat st;
	assert_int_equal(stat(res.volumes[1].host_path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	if (geteuid() == 0)
		assert_int_equal(st.st_uid, 1000);

	/* no volumes_dir: no image volumes */
	in.volumes_dir = NULL;
	s = build(NULL);
	assert_int_equal(res.n_volumes, 0);
	assert_null(mount_at(s, "/data"));
	in.volumes_dir = volumes;
	image.volumes = NULL;
	image.user = NULL;

	char *c = spec_path_clean("//a/./b/../c/");
	assert_string_equal(c, "/a/c");
	free(c);
	c = spec_path_clean("/../..");
	assert_string_equal(c, "/");
	free(c);
	assert_null(spec_path_clean("a/b"));
}

/* ---- devices ---- */

static void test_devices(void **state)
{
	(void)state;
	json_t *s = build("{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"], \"devices\": ["
			  "{\"container_path\": \"/dev/mynull\", \"host_path\": \"/dev/null\", "
			  "\"permissions\": \"rw\"},"
			  "{\"container_path\": \"/dev/z\", \"host_path\": \"/dev/zero\"}]}");
	json_t *devs = jp(s, "linux.devices");
	assert_int_equal(json_array_size(devs), 2);
	assert_string_equal(js(devs, "[0].path"), "/dev/mynull");
	assert_string_equal(js(devs, "[0].type"), "c");
	assert_int_equal(ji(devs, "[0].major"), 1);
	assert_int_equal(ji(devs, "[0].minor"), 3);
	assert_int_equal(ji(devs, "[0].fileMode"), 0666);
	json_t *rules = jp(s, "linux.resources.devices");
	assert_true(json_is_false(jp(rules, "[0].allow")));
	assert_string_equal(js(rules, "[0].access"), "rwm");
	assert_null(jp(rules, "[0].type"));
	/* the standard set, then the requested ones */
	size_t n = json_array_size(rules);
	assert_int_equal(n, 1 + 2 + 9 + 2);
	json_t *last = json_array_get(rules, n - 1), *mine = json_array_get(rules, n - 2);
	assert_int_equal(ji(mine, "major"), 1);
	assert_int_equal(ji(mine, "minor"), 3);
	assert_string_equal(js(mine, "access"), "rw");
	assert_int_equal(ji(last, "minor"), 5);
	assert_string_equal(js(last, "access"), "rwm");
	bool pts = false;
	size_t i;
	json_t *r;
	json_array_foreach(rules, i, r)
		if (jp(r, "major") && ji(r, "major") == 136 && jp(r, "minor") == NULL)
			pts = true;
	assert_true(pts);

	build_fails("{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"], \"devices\": ["
		    "{\"container_path\": \"/dev/x\", \"host_path\": \"/dev/null\", "
		    "\"permissions\": \"rwx\"}]}",
		    GRPC_INVALID_ARGUMENT, "devices[0].permissions");
	build_fails("{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"], \"devices\": ["
		    "{\"container_path\": \"/dev/x\", \"host_path\": \"/dev/no-such-dev\"}]}",
		    GRPC_INVALID_ARGUMENT, "devices[0].host_path /dev/no-such-dev");
	build_fails("{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"], \"devices\": ["
		    "{\"container_path\": \"/dev/x\", \"host_path\": \"/etc/passwd\"}]}",
		    GRPC_INVALID_ARGUMENT, "not a device");
	build_fails("{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"], \"devices\": ["
		    "{\"container_path\": \"x\", \"host_path\": \"/dev/null\"}]}",
		    GRPC_INVALID_ARGUMENT, "devices[0].container_path");
}

/* ---- seccomp ---- */

/* "allow", "allow-if" (with argument conditions), "errno:N" or "default". */
static const char *syscall_action(json_t *seccomp, const char *name)
{
	static char buf[32];
	size_t i;
	json_t *r;
	const char *found = "default";
	json_array_foreach(json_object_get(seccomp, "syscalls"), i, r) {
		if (!in_list(json_object_get(r, "names"), name))
			continue;
		const char *a = js(r, "action");
		if (strcmp(a, "SCMP_ACT_ALLOW") == 0) {
			if (json_array_size(json_object_get(r, "args")) == 0)
				return "allow";
			found = "allow-if";
		} else if (strcmp(a, "SCMP_ACT_ERRNO") == 0) {
			snprintf(buf, sizeof(buf), "errno:%lld", ji(r, "errnoRet"));
			found = buf;
		}
	}
	return found;
}

static void test_seccomp_default(void **state)
{
	(void)state;
	json_t *s = build("{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"]}");
	json_t *sc = jp(s, "linux.seccomp");
	assert_non_null(sc);
	assert_string_equal(js(sc, "defaultAction"), "SCMP_ACT_ERRNO");
	assert_int_equal(ji(sc, "defaultErrnoRet"), EPERM);
	assert_string_equal(jlist(jp(sc, "architectures")),
			    "SCMP_ARCH_X86_64 SCMP_ARCH_X86 SCMP_ARCH_X32");
	static const char *const allowed[] = {"read", "write", "openat", "execve", "mmap",
					      "futex", "exit_group", "arch_prctl",
					      "ptrace", "setuid", "socketpair", NULL};
	for (size_t i = 0; allowed[i]; i++) {
		if (strcmp(syscall_action(sc, allowed[i]), "allow") != 0)
			fail_msg("%s: %s", allowed[i], syscall_action(sc, allowed[i]));
	}
	static const char *const denied[] = {"keyctl", "add_key", "request_key", "mount",
					     "umount2", "unshare", "setns", "reboot",
					     "kexec_load", "init_module", "bpf", "swapon",
					     "pivot_root", "chroot", "open_by_handle_at",
					     "perf_event_open", "userfaultfd", "s390_runtime_instr",
					     NULL};
	for (size_t i = 0; denied[i]; i++)
		if (strcmp(syscall_action(sc, denied[i]), "default") != 0)
			fail_msg("%s: %s", denied[i], syscall_action(sc, denied[i]));
	assert_string_equal(syscall_action(sc, "clone"), "allow-if");
	assert_string_equal(syscall_action(sc, "socket"), "allow-if");
	assert_string_equal(syscall_action(sc, "personality"), "allow-if");
	assert_string_equal(syscall_action(sc, "clone3"), "errno:38");

	/* CAP_SYS_ADMIN unlocks mount, unshare, clone with namespaces */
	s = build("{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"], \"linux\": "
		  "{\"security_context\": {\"capabilities\": {\"add_capabilities\": "
		  "[\"SYS_ADMIN\", \"SYS_CHROOT\"]}}}}");
	sc = jp(s, "linux.seccomp");
	assert_string_equal(syscall_action(sc, "mount"), "allow");
	assert_string_equal(syscall_action(sc, "unshare"), "allow");
	assert_string_equal(syscall_action(sc, "clone"), "allow");
	assert_string_equal(syscall_action(sc, "clone3"), "allow");
	assert_string_equal(syscall_action(sc, "chroot"), "allow");
	assert_string_equal(syscall_action(sc, "keyctl"), "default");

	/* other architectures and old kernels */
	snprintf(host.arch, sizeof(host.arch), "arm64");
	host.kernel_version = 4004;
	sc = spec_seccomp_default(&host, 0);
	assert_string_equal(jlist(jp(sc, "architectures")), "SCMP_ARCH_AARCH64 SCMP_ARCH_ARM");
	assert_string_equal(syscall_action(sc, "arch_prctl"), "default");
	assert_string_equal(syscall_action(sc, "set_tls"), "allow");
	assert_string_equal(syscall_action(sc, "ptrace"), "default");

	/* built once per architecture, kernel and capabilities, then shared */
	json_t *again = spec_seccomp_default(&host, 0);
	assert_ptr_equal(again, sc);
	json_t *other = spec_seccomp_default(&host, 1ull << 21 /* CAP_SYS_ADMIN */);
	assert_ptr_not_equal(other, sc);
	assert_string_equal(syscall_action(other, "mount"), "allow");
	assert_string_equal(syscall_action(again, "mount"), "default");
	json_decref(other);
	json_decref(again);
	json_decref(sc);
}

static void test_seccomp_choices(void **state)
{
	(void)state;
	json_t *s = build("{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"], \"linux\": "
			  "{\"security_context\": {\"seccomp\": {\"profile_type\": "
			  "\"Unconfined\"}}}}");
	assert_null(jp(s, "linux.seccomp"));
	s = build("{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"], \"linux\": "
		  "{\"security_context\": {\"seccomp_profile_path\": \"unconfined\"}}}");
	assert_null(jp(s, "linux.seccomp"));
	s = build("{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"], \"linux\": "
		  "{\"security_context\": {\"seccomp_profile_path\": \"runtime/default\"}}}");
	assert_non_null(jp(s, "linux.seccomp"));

	/* Localhost: missing file, bad JSON, relative path */
	char json[1024];
	const char *missing = pathf("%s/no-such-profile.json", tmp);
	snprintf(json, sizeof(json),
		 "{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"], \"linux\": "
		 "{\"security_context\": {\"seccomp\": {\"profile_type\": \"Localhost\", "
		 "\"localhost_ref\": \"%s\"}}}}",
		 missing);
	build_fails(json, GRPC_NOT_FOUND, missing);
	const char *bad = pathf("%s/bad-profile.json", tmp);
	write_file(bad, "{\"defaultAction\": \"SCMP_ACT_ERRNO\", ");
	snprintf(json, sizeof(json),
		 "{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"], \"linux\": "
		 "{\"security_context\": {\"seccomp\": {\"profile_type\": \"Localhost\", "
		 "\"localhost_ref\": \"%s\"}}}}",
		 bad);
	build_fails(json, GRPC_INVALID_ARGUMENT, bad);
	build_fails(json, GRPC_INVALID_ARGUMENT, "invalid JSON");
	write_file(bad, "{\"syscalls\": []}");
	build_fails(json, GRPC_INVALID_ARGUMENT, "defaultAction");
	write_file(bad, "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": "
			"[1]}]}");
	build_fails(json, GRPC_INVALID_ARGUMENT, "syscalls[0]");
	build_fails("{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"], \"linux\": "
		    "{\"security_context\": {\"seccomp\": {\"profile_type\": \"Localhost\", "
		    "\"localhost_ref\": \"profiles/x.json\"}}}}",
		    GRPC_INVALID_ARGUMENT, "localhost_ref");
	build_fails("{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"], \"linux\": "
		    "{\"security_context\": {\"seccomp_profile_path\": \"docker/other\"}}}",
		    GRPC_INVALID_ARGUMENT, "seccomp_profile_path");

	/* a Docker-form profile: archMap and includes/excludes resolved */
	const char *good = pathf("%s/good-profile.json", tmp);
	write_file(good,
		   "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"defaultErrnoRet\": 1,"
		   " \"archMap\": [{\"architecture\": \"SCMP_ARCH_AARCH64\", "
		   "\"subArchitectures\": [\"SCMP_ARCH_ARM\"]},"
		   "  {\"architecture\": \"SCMP_ARCH_X86_64\", \"subArchitectures\": "
		   "[\"SCMP_ARCH_X86\"]}],"
		   " \"syscalls\": ["
		   "  {\"names\": [\"read\", \"write\"], \"action\": \"SCMP_ACT_ALLOW\"},"
		   "  {\"name\": \"getpid\", \"action\": \"SCMP_ACT_ALLOW\"},"
		   "  {\"names\": [\"mount\"], \"action\": \"SCMP_ACT_ALLOW\", \"includes\": "
		   "{\"caps\": [\"CAP_SYS_ADMIN\"]}},"
		   "  {\"names\": [\"arch_prctl\"], \"action\": \"SCMP_ACT_ALLOW\", "
		   "\"includes\": {\"arches\": [\"amd64\"]}},"
		   "  {\"names\": [\"set_tls\"], \"action\": \"SCMP_ACT_ALLOW\", \"includes\": "
		   "{\"arches\": [\"arm64\"]}},"
		   "  {\"names\": [\"clone3\"], \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": "
		   "38, \"excludes\": {\"caps\": [\"CAP_SYS_ADMIN\"]}},"
		   "  {\"names\": [\"ptrace\"], \"action\": \"SCMP_ACT_ALLOW\", \"includes\": "
		   "{\"minKernel\": \"9.0\"}},"
		   "  {\"names\": [\"socket\"], \"action\": \"SCMP_ACT_ALLOW\", \"args\": "
		   "[{\"index\": 0, \"value\": 40, \"op\": \"SCMP_CMP_NE\"}]}]}");
	snprintf(json, sizeof(json),
		 "{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"], \"linux\": "
		 "{\"security_context\": {\"seccomp_profile_path\": \"localhost/%s\"}}}",
		 good);
	s = build(json);
	json_t *sc = jp(s, "linux.seccomp");
	assert_string_equal(jlist(jp(sc, "architectures")), "SCMP_ARCH_X86_64 SCMP_ARCH_X86");
	assert_string_equal(syscall_action(sc, "read"), "allow");
	assert_string_equal(syscall_action(sc, "getpid"), "allow");
	assert_string_equal(syscall_action(sc, "mount"), "default");
	assert_string_equal(syscall_action(sc, "arch_prctl"), "allow");
	assert_string_equal(syscall_action(sc, "set_tls"), "default");
	assert_string_equal(syscall_action(sc, "clone3"), "errno:38");
	assert_string_equal(syscall_action(sc, "ptrace"), "default");
	assert_string_equal(syscall_action(sc, "socket"), "allow-if");
	assert_null(jp(sc, "archMap"));
	size_t i;
	json_t *r;
	json_array_foreach(jp(sc, "syscalls"), i, r) {
		assert_null(json_object_get(r, "includes"));
		assert_null(json_object_get(r, "excludes"));
	}

	/* the runtime's seccomp_profile replaces the built-in default */
	free(cfg->runtime.seccomp_profile);
	cfg->runtime.seccomp_profile = strdup(good);
	s = build("{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"]}");
	assert_string_equal(syscall_action(jp(s, "linux.seccomp"), "getpid"), "allow");
	assert_string_equal(syscall_action(jp(s, "linux.seccomp"), "openat"), "default");
	free(cfg->runtime.seccomp_profile);
	cfg->runtime.seccomp_profile = strdup(missing);
	build_fails(NULL, GRPC_FAILED_PRECONDITION, "ocid.runtime.seccomp_profile");
	free(cfg->runtime.seccomp_profile);
	cfg->runtime.seccomp_profile = strdup("");
}

/* ---- AppArmor ---- */

static void test_apparmor(void **state)
{
	(void)state;
	const char *rd = "{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"], \"linux\": "
			 "{\"security_context\": {\"apparmor\": {\"profile_type\": "
			 "\"RuntimeDefault\"}}}}";
	const char *unc = "{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"], \"linux\": "
			  "{\"security_context\": {\"apparmor\": {\"profile_type\": "
			  "\"Unconfined\"}}}}";
	const char *local = "{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"], \"linux\": "
			    "{\"security_context\": {\"apparmor\": {\"profile_type\": "
			    "\"Localhost\", \"localhost_ref\": \"localhost/my-profile\"}}}}";
	const char *old = "{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"], \"linux\": "
			  "{\"security_context\": {\"apparmor_profile\": \"localhost/other\"}}}";
	/* no AppArmor on the host */
	assert_null(jp(build(rd), "process.apparmorProfile"));
	assert_null(jp(build(unc), "process.apparmorProfile"));
	build_fails(local, GRPC_FAILED_PRECONDITION, "AppArmor is not enabled");
	build_fails(old, GRPC_FAILED_PRECONDITION, "\"other\"");
	/* with AppArmor */
	host.apparmor = true;
	assert_null(jp(build(rd), "process.apparmorProfile"));
	host.apparmor_default = "ocid-default";
	assert_string_equal(js(build(rd), "process.apparmorProfile"), "ocid-default");
	assert_string_equal(js(build(unc), "process.apparmorProfile"), "unconfined");
	assert_string_equal(js(build(local), "process.apparmorProfile"), "my-profile");
	assert_string_equal(js(build(old), "process.apparmorProfile"), "other");
	build_fails("{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"], \"linux\": "
		    "{\"security_context\": {\"apparmor_profile\": \"weird\"}}}",
		    GRPC_INVALID_ARGUMENT, "apparmor_profile");
}

/* ---- namespaces and hostname ---- */

static const char *ns_summary(json_t *s)
{
	static char buf[512];
	size_t o = 0, i;
	json_t *n;
	buf[0] = '\0';
	json_array_foreach(jp(s, "linux.namespaces"), i, n) {
		json_t *p = json_object_get(n, "path");
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%s%s%s", o ? " " : "",
				      js(n, "type"), p ? "=" : "",
				      p ? json_string_value(p) : "");
	}
	return buf;
}

static void test_namespaces(void **state)
{
	(void)state;
	set_pod("{\"hostname\": \"web-0\"}");
	json_t *s = build("{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"]}");
	assert_string_equal(ns_summary(s), "pid network=/run/ocid/ns/p/net ipc=/run/ocid/ns/p/ipc "
					   "uts=/run/ocid/ns/p/uts mount");
	/* joining the pod's UTS namespace: never a hostname */
	assert_null(jp(s, "hostname"));

	in.pod_pid = "/run/ocid/ns/p/pid";
	s = build("{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"], \"linux\": "
		  "{\"security_context\": {\"namespace_options\": {\"pid\": \"POD\"}}}}");
	assert_string_equal(ns_summary(s), "pid=/run/ocid/ns/p/pid network=/run/ocid/ns/p/net "
					   "ipc=/run/ocid/ns/p/ipc uts=/run/ocid/ns/p/uts mount");
	in.net = (struct spec_ns){.host = true};
	in.ipc = (struct spec_ns){.host = true};
	in.uts = (struct spec_ns){.host = true};
	s = build("{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"], \"linux\": "
		  "{\"security_context\": {\"namespace_options\": {\"pid\": \"NODE\", "
		  "\"network\": \"NODE\", \"ipc\": \"NODE\"}}}}");
	assert_string_equal(ns_summary(s), "mount");
	assert_null(jp(s, "hostname"));
	in.target_pid = "/proc/1234/ns/pid";
	s = build("{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"], \"linux\": "
		  "{\"security_context\": {\"namespace_options\": {\"pid\": \"TARGET\", "
		  "\"target_id\": \"abc\"}}}}");
	assert_string_equal(ns_summary(s), "pid=/proc/1234/ns/pid mount");
	in.target_pid = NULL;
	build_fails(NULL, GRPC_INVALID_ARGUMENT, "target container \"abc\"");
	in.pod_pid = NULL;
	build_fails("{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"], \"linux\": "
		    "{\"security_context\": {\"namespace_options\": {\"pid\": \"POD\"}}}}",
		    GRPC_FAILED_PRECONDITION, "no shared PID namespace");

	/* the pod's options when the container has none */
	set_pod("{\"hostname\": \"web-0\", \"linux\": {\"security_context\": "
		"{\"namespace_options\": {\"pid\": \"NODE\"}}}}");
	s = build("{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"]}");
	assert_string_equal(ns_summary(s), "mount");

	/* all new (no pod): the hostname is the container's own */
	in.net = in.ipc = in.uts = (struct spec_ns){0};
	set_pod("{\"hostname\": \"web-0\"}");
	s = build(NULL);
	assert_string_equal(ns_summary(s), "pid network ipc uts mount");
	assert_string_equal(js(s, "hostname"), "web-0");

	build_fails("{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"], \"linux\": "
		    "{\"security_context\": {\"namespace_options\": {\"userns_options\": "
		    "{\"mode\": \"POD\", \"uids\": [{\"host_id\": 100000, \"container_id\": 0, "
		    "\"length\": 65536}]}}}}}",
		    GRPC_INVALID_ARGUMENT, "user namespaces are not supported");
	s = build("{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"], \"linux\": "
		  "{\"security_context\": {\"namespace_options\": {\"pid\": \"CONTAINER\", "
		  "\"userns_options\": {\"mode\": \"NODE\"}}}}}");
	assert_null(strstr(ns_summary(s), "user"));
}

/* ---- resources ---- */

static void test_resources(void **state)
{
	(void)state;
	cfg->runtime.pids_limit = 1024;
	json_t *s = build("{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"], \"linux\": "
			  "{\"resources\": {\"cpu_shares\": 512, \"cpu_quota\": 50000, "
			  "\"cpu_period\": 100000, \"cpuset_cpus\": \"0-1,3\", "
			  "\"cpuset_mems\": \"0\", \"memory_limit_in_bytes\": 268435456, "
			  "\"hugepage_limits\": [{\"page_size\": \"2MB\", \"limit\": 4194304}], "
			  "\"unified\": {\"memory.high\": \"200M\"}}}}");
	json_t *r = jp(s, "linux.resources");
	assert_int_equal(ji(r, "cpu.shares"), 512);
	assert_int_equal(ji(r, "cpu.quota"), 50000);
	assert_int_equal(ji(r, "cpu.period"), 100000);
	assert_string_equal(js(r, "cpu.cpus"), "0-1,3");
	assert_string_equal(js(r, "cpu.mems"), "0");
	assert_int_equal(ji(r, "memory.limit"), 268435456);
	assert_int_equal(ji(r, "memory.swap"), 268435456); /* no swap beyond the limit */
	assert_string_equal(js(r, "hugepageLimits[0].pageSize"), "2MB");
	assert_int_equal(ji(r, "hugepageLimits[0].limit"), 4194304);
	assert_string_equal(json_string_value(json_object_get(jp(r, "unified"), "memory.high")),
			    "200M");
	assert_int_equal(ji(r, "pids.limit"), 1024);
	assert_string_equal(js(s, "linux.cgroupsPath"), "/kubepods/podX/ocid-c0ffee");
	cfg->runtime.pids_limit = 0;

	s = build("{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"], \"linux\": "
		  "{\"resources\": {\"memory_limit_in_bytes\": 268435456, "
		  "\"memory_swap_limit_in_bytes\": 536870912}}}");
	assert_int_equal(ji(s, "linux.resources.memory.swap"), 536870912);
	assert_null(jp(s, "linux.resources.pids"));
	host.swap_accounting = false;
	s = build(NULL);
	assert_null(jp(s, "linux.resources.memory.swap"));
	assert_int_equal(ji(s, "linux.resources.memory.limit"), 268435456);
	in.cgroup_parent = NULL;
	s = build(NULL);
	assert_null(jp(s, "linux.cgroupsPath"));

	static const struct {
		const char *res, *msg;
	} bad[] = {
		{"\"cpu_shares\": 1", "linux.resources.cpu_shares: 1 is below the minimum 2"},
		{"\"cpu_shares\": 262145", "linux.resources.cpu_shares: 262145 is above the "
					   "maximum 262144"},
		{"\"cpu_quota\": 500", "linux.resources.cpu_quota: 500 is below the minimum 1000"},
		{"\"cpu_period\": 999", "linux.resources.cpu_period: 999 is below the minimum"},
		{"\"cpu_period\": 1000001", "cpu_period: 1000001 is above the maximum 1000000"},
		{"\"cpuset_cpus\": \"0-\"", "linux.resources.cpuset_cpus: \"0-\""},
		{"\"cpuset_cpus\": \"3-1\"", "cpuset_cpus"},
		{"\"cpuset_mems\": \"a\"", "linux.resources.cpuset_mems"},
		{"\"memory_limit_in_bytes\": 1000", "memory_limit_in_bytes: 1000 is below the "
						    "minimum 12582912"},
		{"\"memory_limit_in_bytes\": 268435456, \"memory_swap_limit_in_bytes\": 1000",
		 "memory_swap_limit_in_bytes: 1000 is below memory_limit_in_bytes"},
		{"\"memory_swap_limit_in_bytes\": -2", "memory_swap_limit_in_bytes: -2"},
		{"\"memory_swap_limit_in_bytes\": 268435456", "needs memory_limit_in_bytes"},
		{"\"hugepage_limits\": [{\"page_size\": \"2M\", \"limit\": 1}]",
		 "hugepage_limits[0].page_size: \"2M\""},
		{"\"unified\": {\"../x\": \"1\"}", "linux.resources.unified: \"../x\""},
		{"\"oom_score_adj\": 1001", "linux.resources.oom_score_adj: 1001 is above"},
		{"\"oom_score_adj\": -1001", "oom_score_adj: -1001 is below the minimum -1000"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char json[512];
		snprintf(json, sizeof(json),
			 "{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"], \"linux\": "
			 "{\"resources\": {%s}}}",
			 bad[i].res);
		build_fails(json, GRPC_INVALID_ARGUMENT, bad[i].msg);
	}
	in.cgroup_parent = "kubepods";
	build_fails("{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"]}",
		    GRPC_INVALID_ARGUMENT, "pod cgroup path");
	in.cgroup_parent = "/kubepods/../etc";
	build_fails(NULL, GRPC_INVALID_ARGUMENT, "pod cgroup path");
	in.cgroup_parent = "/kubepods/pod1/";
	assert_string_equal(js(build(NULL), "linux.cgroupsPath"), "/kubepods/pod1/ocid-c0ffee");
	in.cgroup_parent = "/kubepods/podX";
	s = build("{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"], \"linux\": "
		  "{\"resources\": {\"cpu_quota\": -1}}}");
	assert_int_equal(ji(s, "linux.resources.cpu.quota"), -1);
}

static void test_oom_score_adj(void **state)
{
	(void)state;
	const char *fmt = "{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"], \"linux\": "
			  "{\"resources\": {\"oom_score_adj\": %d}}}";
	char json[256];
	host.oom_score_adj_min = 0; /* no CAP_SYS_RESOURCE, ocid at 0 */
	snprintf(json, sizeof(json), fmt, -998);
	assert_int_equal(ji(build(json), "process.oomScoreAdj"), 0);
	snprintf(json, sizeof(json), fmt, 1000);
	assert_int_equal(ji(build(json), "process.oomScoreAdj"), 1000);
	host.oom_score_adj_min = -500;
	snprintf(json, sizeof(json), fmt, -998);
	assert_int_equal(ji(build(json), "process.oomScoreAdj"), -500);
	snprintf(json, sizeof(json), fmt, -100);
	assert_int_equal(ji(build(json), "process.oomScoreAdj"), -100);
	host.oom_score_adj_min = -1000;
	snprintf(json, sizeof(json), fmt, -998);
	assert_int_equal(ji(build(json), "process.oomScoreAdj"), -998);
	assert_int_equal(ji(build("{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"]}"),
			    "process.oomScoreAdj"),
			 0);
}

static void test_rlimits_and_text(void **state)
{
	(void)state;
	json_t *s = build("{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"]}");
	assert_string_equal(js(s, "process.rlimits[0].type"), "RLIMIT_NOFILE");
	assert_int_equal(ji(s, "process.rlimits[0].hard"), 1048576);
	assert_int_equal(ji(s, "process.rlimits[0].soft"), 1048576);
	/* lowered to what ocid may grant */
	host.rlimit_max[RLIMIT_NOFILE] = 20000;
	s = build(NULL);
	assert_int_equal(ji(s, "process.rlimits[0].hard"), 20000);
	assert_int_equal(ji(s, "process.rlimits[0].soft"), 20000);

	char **old = cfg->runtime.default_ulimits;
	char *ul[] = {"core=-1", "nofile=1024:4096", "nproc=100:-1", NULL};
	cfg->runtime.default_ulimits = ul;
	host.rlimit_max[RLIMIT_NOFILE] = 2048;
	s = build(NULL);
	assert_string_equal(js(s, "process.rlimits[0].type"), "RLIMIT_CORE");
	assert_int_equal(ji(s, "process.rlimits[0].hard"), -1);
	assert_int_equal(ji(s, "process.rlimits[1].soft"), 1024);
	assert_int_equal(ji(s, "process.rlimits[1].hard"), 2048);
	assert_int_equal(ji(s, "process.rlimits[2].soft"), 100);
	assert_int_equal(ji(s, "process.rlimits[2].hard"), -1);

	/* the text carries RLIM_INFINITY as the unsigned value, and reads back */
	set_pod("{\"annotations\": {}, \"hostname\": \"h\"}");
	s = build("{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"], \"envs\": [{\"key\": "
		  "\"K\", \"value\": \"18446744073709551615\"}], \"annotations\": "
		  "{\"n\": \"ocid-rlimit-infinity-\"}}");
	ocid_error *err = NULL;
	char *text = spec_dumps(s, &err);
	assert_non_null(text);
	assert_non_null(strstr(text, "\"hard\":18446744073709551615"));
	assert_non_null(strstr(text, "\"K=18446744073709551615\""));
	assert_null(strstr(text, "ocid-rlimit-infinity-0"));
	assert_int_equal(text[strlen(text) - 1], '\n');
	json_t *back = NULL;
	assert_int_equal(spec_loads(text, strlen(text), &back, &err), 0);
	assert_true(json_equal(back, s));
	json_decref(back);
	free(text);
	assert_int_equal(spec_loads("{", 1, &back, &err), -1);
	assert_int_equal(err->code, GRPC_DATA_LOSS);
	err_clear(&err);

	char *bad[] = {"nofile=x", NULL};
	cfg->runtime.default_ulimits = bad;
	build_fails(NULL, GRPC_FAILED_PRECONDITION, "default_ulimits");
	cfg->runtime.default_ulimits = old;
}

static void test_sysctls(void **state)
{
	(void)state;
	char **old = cfg->runtime.default_sysctls;
	char *defs[] = {"net.ipv4.ping_group_range=0 2147483647", "kernel.panic=1", NULL};
	cfg->runtime.default_sysctls = defs;
	set_pod("{\"linux\": {\"sysctls\": {\"net.ipv4.ip_unprivileged_port_start\": \"0\", "
		"\"kernel/shm_rmid_forced\": \"1\", \"net/ipv4/conf/eth0.100/forwarding\": "
		"\"1\"}}}");
	json_t *s = build("{\"metadata\": {\"name\": \"c\"}, \"command\": [\"x\"]}");
	json_t *sy = jp(s, "linux.sysctl");
	assert_string_equal(json_string_value(json_object_get(sy, "net.ipv4.ping_group_range")),
			    "0 2147483647");
	assert_null(json_object_get(sy, "kernel.panic")); /* not namespaced: left out */
	assert_string_equal(
		json_string_value(json_object_get(sy, "net.ipv4.ip_unprivileged_port_start")),
		"0");
	assert_string_equal(json_string_value(json_object_get(sy, "kernel.shm_rmid_forced")),
			    "1");
	assert_non_null(json_object_get(sy, "net.ipv4.conf.eth0/100.forwarding"));

	in.net = (struct spec_ns){.host = true};
	build_fails(NULL, GRPC_INVALID_ARGUMENT, "host network");
	in.net = (struct spec_ns){.path = "/run/ocid/ns/p/net"};
	set_pod("{\"linux\": {\"sysctls\": {\"kernel.panic\": \"1\"}}}");
	build_fails(NULL, GRPC_INVALID_ARGUMENT, "pod linux.sysctls[\"kernel.panic\"]");
	set_pod("{\"linux\": {\"sysctls\": {\"net..x\": \"1\"}}}");
	build_fails(NULL, GRPC_INVALID_ARGUMENT, "not a sysctl name");
	set_pod("{\"linux\": {\"sysctls\": {\"net.x\": \"1\\n2\"}}}");
	build_fails(NULL, GRPC_INVALID_ARGUMENT, "one line");
	cfg->runtime.default_sysctls = old;
}

static void test_annotations(void **state)
{
	(void)state;
	set_pod("{\"metadata\": {\"name\": \"web\", \"namespace\": \"prod\", \"uid\": \"u-1\"}}");
	json_t *s = build("{\"metadata\": {\"name\": \"app\"}, \"image\": {\"image\": "
			  "\"sha256:abc\"}, \"command\": [\"x\"], \"annotations\": {\"a\": \"b\","
			  " \"io.kubernetes.cri.container-type\": \"sandbox\"}}");
	json_t *a = jp(s, "annotations");
	static const char *const want[][2] = {
		{"a", "b"},
		{"io.kubernetes.cri.container-type", "container"},
		{"io.kubernetes.cri.container-name", "app"},
		{"io.kubernetes.cri.sandbox-id", "5a4db0x"},
		{"io.kubernetes.cri.sandbox-name", "web"},
		{"io.kubernetes.cri.sandbox-namespace", "prod"},
		{"io.kubernetes.cri.sandbox-uid", "u-1"},
		{"io.kubernetes.cri.image-name", "sha256:abc"},
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		assert_string_equal(json_string_value(json_object_get(a, want[i][0])), want[i][1]);
	assert_string_equal(js(s, "ociVersion"), "1.0.2");
	assert_true(json_is_false(jp(s, "process.noNewPrivileges")));
	s = build("{\"metadata\": {\"name\": \"app\"}, \"command\": [\"x\"], \"linux\": "
		  "{\"security_context\": {\"no_new_privs\": true}}}");
	assert_true(json_is_true(jp(s, "process.noNewPrivileges")));
	assert_string_equal(json_string_value(json_object_get(jp(s, "annotations"),
							      "io.kubernetes.cri.image-name")),
			    "docker.io/library/busybox:latest");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_args_semantics),
		T(test_env_merge),
		T(test_workdir),
		T(test_user_image_forms),
		T(test_user_security_context),
		T(test_user_untrusted_rootfs),
		T(test_caps),
		T(test_privileged),
		T(test_readonly_rootfs),
		T(test_masked_paths),
		T(test_mounts_order_and_options),
		T(test_mounts_errors),
		T(test_volumes),
		T(test_devices),
		T(test_seccomp_default),
		T(test_seccomp_choices),
		T(test_apparmor),
		T(test_namespaces),
		T(test_resources),
		T(test_oom_score_adj),
		T(test_rlimits_and_text),
		T(test_sysctls),
		T(test_annotations),
		/* last: it moves this process into a mount namespace of its own */
		T(test_mounts_propagation),
#undef T
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
