/* conmon's protocol, the pure parts: create/exec argv, sync-pipe replies,
 * pid files, and splitting ExecSync's CRI-format output. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ctr/conmon.h"

static size_t argv_len(char **v)
{
	size_t n = 0;
	while (v[n])
		n++;
	return n;
}

/* Index of arg in v, or -1. */
static int find(char **v, const char *arg)
{
	for (int i = 0; v[i]; i++)
		if (strcmp(v[i], arg) == 0)
			return i;
	return -1;
}

static void runtime(struct oci_runtime *rt, const char *root)
{
	struct ocid_runtime_handler h = {.name = "runc", .runtime_path = "/usr/bin/runc",
					 .runtime_root = (char *)root, .runtime_type = "oci"};
	ocid_error *err = NULL;
	assert_int_equal(oci_runtime_init(rt, &h, OCI_MNTNS_NEVER, NULL, &err), 0);
}

static void test_create_argv(void **state)
{
	(void)state;
	struct oci_runtime rt;
	runtime(&rt, "/run/test-runc");
	struct conmon_create_opts o = {
		.conmon_path = "/usr/bin/conmon", .rt = &rt, .id = "abc", .name = "k8s_name",
		.bundle = "/b/abc", .persist_dir = "/p/abc", .exit_dir = "/x", .log_path = "/l/0.log",
		.log_size_max = 1 << 20,
	};
	char **v = conmon_create_argv(&o);
	assert_string_equal(v[0], "/usr/bin/conmon");
	int i = find(v, "-c");
	assert_true(i > 0);
	assert_string_equal(v[i + 1], "abc");
	i = find(v, "-u");
	assert_string_equal(v[i + 1], "abc"); /* uuid defaults to the id */
	i = find(v, "-n");
	assert_string_equal(v[i + 1], "k8s_name");
	i = find(v, "-r");
	assert_string_equal(v[i + 1], "/usr/bin/runc");
	i = find(v, "--runtime-arg");
	assert_string_equal(v[i + 1], "--root=/run/test-runc");
	i = find(v, "-b");
	assert_string_equal(v[i + 1], "/b/abc");
	i = find(v, "-p");
	assert_string_equal(v[i + 1], "/p/abc/pidfile");
	i = find(v, "-P");
	assert_string_equal(v[i + 1], "/p/abc/conmon.pid");
	i = find(v, "-0");
	assert_string_equal(v[i + 1], "/p/abc");
	i = find(v, "-l");
	assert_string_equal(v[i + 1], "k8s-file:/l/0.log");
	assert_true(find(v, "--log-size-max=1048576") > 0);
	i = find(v, "--exit-dir");
	assert_string_equal(v[i + 1], "/x");
	assert_true(find(v, "--full-attach") > 0);
	assert_int_equal(find(v, "-t"), -1);
	assert_int_equal(find(v, "-i"), -1);
	assert_int_equal(find(v, "--leave-stdin-open"), -1);
	assert_int_equal(find(v, "--socket-dir-path"), -1);
	assert_int_equal(find(v, "--sync"), -1);
	assert_int_equal(find(v, "-e"), -1);
	conmon_argv_free(v);

	/* tty + stdin kept open; no --root for a runtime without one; unlimited log. */
	oci_runtime_free(&rt);
	runtime(&rt, "");
	o.terminal = true;
	o.stdin = true;
	o.stdin_once = false;
	o.log_size_max = -1;
	o.uuid = "u-1";
	v = conmon_create_argv(&o);
	assert_true(find(v, "-t") > 0);
	assert_true(find(v, "-i") > 0);
	assert_true(find(v, "--leave-stdin-open") > 0);
	assert_int_equal(find(v, "--runtime-arg"), -1);
	assert_string_equal(v[find(v, "-u") + 1], "u-1");
	for (size_t k = 0; k < argv_len(v); k++)
		assert_null(strstr(v[k], "--log-size-max"));
	conmon_argv_free(v);

	/* stdin_once: conmon closes stdin when the client goes. */
	o.stdin_once = true;
	v = conmon_create_argv(&o);
	assert_int_equal(find(v, "--leave-stdin-open"), -1);
	conmon_argv_free(v);
	oci_runtime_free(&rt);
}

static void test_exec_argv(void **state)
{
	(void)state;
	struct oci_runtime rt;
	runtime(&rt, "/r");
	json_t *proc = json_object();
	struct conmon_exec_opts o = {.conmon_path = "/usr/bin/conmon", .rt = &rt, .id = "abc", .process = proc,
				     .scratch_dir = "/s", .timeout_s = 3};
	char **v = conmon_exec_argv(&o, "/s/e/process.json", "/s/e/output.log", "/s/e/pid");
	assert_true(find(v, "-e") > 0);
	assert_true(find(v, "--sync") > 0);
	assert_string_equal(v[find(v, "--exec-process-spec") + 1], "/s/e/process.json");
	assert_string_equal(v[find(v, "-l") + 1], "k8s-file:/s/e/output.log");
	assert_string_equal(v[find(v, "-p") + 1], "/s/e/pid");
	assert_string_equal(v[find(v, "-c") + 1], "abc");
	assert_string_equal(v[find(v, "--runtime-arg") + 1], "--root=/r");
	/* conmon's own timeout is only a backstop, later than ocid's. */
	assert_true(find(v, "--timeout=8") > 0);
	/* No bundle: it would re-create the main container's fifos. */
	assert_int_equal(find(v, "-b"), -1);
	assert_int_equal(find(v, "--exit-dir"), -1);
	conmon_argv_free(v);
	o.timeout_s = 0;
	v = conmon_exec_argv(&o, "a", "b", "c");
	for (size_t k = 0; v[k]; k++)
		assert_null(strstr(v[k], "--timeout"));
	conmon_argv_free(v);
	json_decref(proc);
	oci_runtime_free(&rt);
}

static void test_parse_reply(void **state)
{
	(void)state;
	int v;
	char *msg;
	ocid_error *err = NULL;
	assert_int_equal(conmon_parse_reply("{\"pid\": 4685}", &v, &msg, &err), 0);
	assert_int_equal(v, 4685);
	assert_null(msg);
	assert_int_equal(conmon_parse_reply("{\"pid\": -1, \"message\": \"runc create failed: \\\"x\\\"\\n\"}", &v,
					    &msg, &err),
			 0);
	assert_int_equal(v, -1);
	assert_string_equal(msg, "runc create failed: \"x\"\n");
	free(msg);
	assert_int_equal(conmon_parse_reply("{\"exit_code\": 137}", &v, &msg, &err), 0);
	assert_int_equal(v, 137);
	assert_int_equal(conmon_parse_reply("{\"exit_code\": -1, \"message\": \"command timed out\"}", &v, &msg, &err),
			 0);
	assert_int_equal(v, -1);
	assert_string_equal(msg, "command timed out");
	free(msg);
	assert_int_equal(conmon_parse_reply("{\"data\": 12}", &v, NULL, &err), 0);
	assert_int_equal(v, 12);

	static const char *const bad[] = {"", "pid 3", "[1]", "{\"pid\": \"3\"}", "{\"other\": 1}",
					  "{\"pid\": 99999999999}", "{\"pid\": 1.5}"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(conmon_parse_reply(bad[i], &v, &msg, &err), -1);
		assert_non_null(err);
		assert_int_equal(err->code, GRPC_INTERNAL);
		err_clear(&err);
	}
}

static void test_parse_pid(void **state)
{
	(void)state;
	assert_int_equal(conmon_parse_pid("123"), 123);
	assert_int_equal(conmon_parse_pid("123\n"), 123);
	assert_int_equal(conmon_parse_pid(" 7 \n"), 7);
	assert_int_equal(conmon_parse_pid(""), -1);
	assert_int_equal(conmon_parse_pid("0"), -1);
	assert_int_equal(conmon_parse_pid("-5"), -1);
	assert_int_equal(conmon_parse_pid("12x"), -1);
	assert_int_equal(conmon_parse_pid("99999999999"), -1);
	assert_int_equal(conmon_parse_pid(NULL), -1);
}

static void test_split_crilog(void **state)
{
	(void)state;
	const char *log = "2026-11-28T20:13:40.943871103+00:00 stdout F out1\n"
			  "2026-11-28T20:13:40.943920026+00:00 stderr F err1\n"
			  "2026-11-28T20:13:40.943920026+00:00 stdout P par\n"
			  "2026-11-28T20:13:40.943920026+00:00 stdout P tial\n"
			  "garbage line\n"
			  "2026-11-28T20:13:40.943920026+00:00 stdout F  end\n"
			  "2026-11-28T20:13:40.943920026+00:00 stderr P no newline";
	char *out, *err;
	size_t ol, el;
	bool trunc;
	conmon_split_crilog(log, strlen(log), 1 << 20, &out, &ol, &err, &el, &trunc);
	assert_string_equal(out, "out1\npartial end\n");
	assert_int_equal(ol, strlen(out));
	assert_string_equal(err, "err1\nno newline");
	assert_false(trunc);
	free(out);
	free(err);

	conmon_split_crilog(log, strlen(log), 3, &out, &ol, &err, &el, &trunc);
	assert_string_equal(out, "out");
	assert_string_equal(err, "err");
	assert_true(trunc);
	free(out);
	free(err);

	conmon_split_crilog("", 0, 10, &out, &ol, &err, &el, &trunc);
	assert_string_equal(out, "");
	assert_string_equal(err, "");
	assert_int_equal(ol + el, 0);
	free(out);
	free(err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_argv),
		cmocka_unit_test(test_exec_argv),
		cmocka_unit_test(test_parse_reply),
		cmocka_unit_test(test_parse_pid),
		cmocka_unit_test(test_split_crilog),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
