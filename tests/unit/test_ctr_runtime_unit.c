/* The OCI runtime driver's pure parts: `runtime state` JSON, runtime error
 * messages, handler setup (roots, environment, mount namespace choice). */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ctr/ctr_runtime.h"
#include "ctr/oci_runtime.h"

static void test_state_parse(void **state)
{
	(void)state;
	struct oci_state st;
	ocid_error *err = NULL;
	assert_int_equal(oci_state_parse("{\"ociVersion\":\"1.0.2-dev\",\"id\":\"c1\",\"pid\":3942,"
					 "\"status\":\"created\",\"bundle\":\"/tmp/cx/b1\"}",
					 &st, &err),
			 0);
	assert_int_equal(st.status, OCI_STATUS_CREATED);
	assert_int_equal(st.pid, 3942);
	assert_string_equal(st.bundle, "/tmp/cx/b1");
	oci_state_free(&st);

	assert_int_equal(oci_state_parse("{\"id\":\"c1\",\"pid\":7,\"status\":\"running\"}", &st, &err), 0);
	assert_int_equal(st.status, OCI_STATUS_RUNNING);
	assert_int_equal(st.pid, 7);
	assert_null(st.bundle);
	oci_state_free(&st);

	/* A stopped container has no pid (runc reports 0, crun the old one). */
	assert_int_equal(oci_state_parse("{\"pid\":3942,\"status\":\"stopped\"}", &st, &err), 0);
	assert_int_equal(st.status, OCI_STATUS_STOPPED);
	assert_int_equal(st.pid, 0);
	oci_state_free(&st);

	assert_int_equal(oci_state_parse("{\"status\":\"paused\",\"pid\":1}", &st, &err), 0);
	assert_int_equal(st.status, OCI_STATUS_PAUSED);
	oci_state_free(&st);
	assert_int_equal(oci_state_parse("{\"status\":\"weird\",\"pid\":1}", &st, &err), 0);
	assert_int_equal(st.status, OCI_STATUS_UNKNOWN);
	oci_state_free(&st);
	assert_string_equal(oci_status_name(OCI_STATUS_RUNNING), "running");
	assert_string_equal(oci_status_name(OCI_STATUS_UNKNOWN), "unknown");

	static const char *const bad[] = {"", "null", "[]", "{\"pid\":1}", "{\"status\":\"running\",\"pid\":\"1\"}"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(oci_state_parse(bad[i], &st, &err), -1);
		assert_non_null(err);
		err_clear(&err);
		oci_state_free(&st);
	}
}

static void test_stderr_message(void **state)
{
	(void)state;
	char *m = oci_stderr_message("time=\"2026-11-28T20:15:28Z\" level=error msg=\"container not running\"\n");
	assert_string_equal(m, "container not running");
	free(m);
	m = oci_stderr_message("time=\"x\" level=warning msg=\"first\"\n"
			       "time=\"x\" level=error msg=\"exec: \\\"foo\\\": not found\"\n");
	assert_string_equal(m, "exec: \"foo\": not found");
	free(m);
	m = oci_stderr_message("cgroups in hybrid mode not supported, drop all controllers from cgroupv2\n\n");
	assert_string_equal(m, "cgroups in hybrid mode not supported, drop all controllers from cgroupv2");
	free(m);
	m = oci_stderr_message("line one\n  error opening file `/run/crun/x/status`: No such file or directory  \n");
	assert_string_equal(m, "error opening file `/run/crun/x/status`: No such file or directory");
	free(m);
	m = oci_stderr_message("");
	assert_string_equal(m, "");
	free(m);
	m = oci_stderr_message(NULL);
	assert_string_equal(m, "");
	free(m);
}

static void test_runtime_init(void **state)
{
	(void)state;
	struct oci_runtime rt;
	ocid_error *err = NULL;
	struct ocid_runtime_handler runc = {.name = "runc", .runtime_path = "/usr/bin/runc", .runtime_root = "",
					    .runtime_type = "oci"};
	assert_int_equal(oci_runtime_init(&rt, &runc, OCI_MNTNS_AUTO, NULL, &err), 0);
	assert_string_equal(rt.name, "runc");
	assert_null(rt.root);
	assert_string_equal(rt.state_root, "/run/runc");
	assert_false(rt.private_mntns); /* never for runc */
	assert_non_null(rt.envp[0]);
	assert_memory_equal(rt.envp[0], "PATH=", 5);
	assert_null(rt.envp[1]);
	char buf[64];
	assert_null(oci_runtime_root_arg(&rt, buf, sizeof(buf)));
	oci_runtime_free(&rt);

	struct ocid_runtime_handler crun = {.name = "fast", .runtime_path = "/opt/crun", .runtime_root = "/run/x",
					    .runtime_type = "oci"};
	char *env[] = {"PATH=/opt/bin", "FOO=1", NULL};
	assert_int_equal(oci_runtime_init(&rt, &crun, OCI_MNTNS_ALWAYS, env, &err), 0);
	assert_true(rt.private_mntns);
	assert_string_equal(rt.root, "/run/x");
	assert_string_equal(rt.state_root, "/run/x");
	assert_string_equal(rt.envp[0], "PATH=/opt/bin");
	assert_string_equal(rt.envp[1], "FOO=1");
	assert_null(rt.envp[2]);
	assert_string_equal(oci_runtime_root_arg(&rt, buf, sizeof(buf)), "--root=/run/x");
	oci_runtime_free(&rt);

	/* AUTO for crun follows the host. */
	crun.runtime_path = "/usr/bin/crun";
	assert_int_equal(oci_runtime_init(&rt, &crun, OCI_MNTNS_AUTO, NULL, &err), 0);
	assert_int_equal(rt.private_mntns, oci_host_hybrid_v2_controllers());
	oci_runtime_free(&rt);
	assert_int_equal(oci_runtime_init(&rt, &crun, OCI_MNTNS_NEVER, NULL, &err), 0);
	assert_false(rt.private_mntns);
	oci_runtime_free(&rt);

	struct ocid_runtime_handler rel = {.name = "x", .runtime_path = "runc", .runtime_root = ""};
	assert_int_equal(oci_runtime_init(&rt, &rel, OCI_MNTNS_AUTO, NULL, &err), -1);
	assert_int_equal(err->code, GRPC_INVALID_ARGUMENT);
	err_clear(&err);
}

/* Ids that could escape a directory never reach the runtime. */
static void test_bad_ids(void **state)
{
	(void)state;
	struct oci_runtime rt;
	ocid_error *err = NULL;
	struct ocid_runtime_handler h = {.name = "runc", .runtime_path = "/nonexistent/runc", .runtime_root = "/nonexistent"};
	assert_int_equal(oci_runtime_init(&rt, &h, OCI_MNTNS_NEVER, NULL, &err), 0);
	static const char *const bad[] = {"", "..", ".", "a/b", "-rf", "a\nb"};
	struct oci_state st;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(oci_runtime_state(&rt, bad[i], &st, 0, &err), -1);
		assert_int_equal(err->code, GRPC_INVALID_ARGUMENT);
		err_clear(&err);
		assert_int_equal(oci_runtime_kill(&rt, bad[i], 9, false, 0, &err), -1);
		assert_int_equal(err->code, GRPC_INVALID_ARGUMENT);
		err_clear(&err);
	}
	/* A missing state dir answers NOT_FOUND without running anything. */
	assert_int_equal(oci_runtime_state(&rt, "abc", &st, 0, &err), -1);
	assert_int_equal(err->code, GRPC_NOT_FOUND);
	err_clear(&err);
	assert_int_equal(oci_runtime_delete(&rt, "abc", false, 0, &err), 0);
	assert_int_equal(oci_runtime_kill(&rt, "abc", 0, false, 0, &err), -1);
	assert_int_equal(err->code, GRPC_INVALID_ARGUMENT);
	err_clear(&err);
	oci_runtime_free(&rt);
	assert_string_equal(ctr_rt_state_name(CTR_RT_GONE), "gone");
	assert_string_equal(ctr_rt_state_name(CTR_RT_RUNNING), "running");
}

static void test_signal_parse(void **state)
{
	(void)state;
	assert_int_equal(oci_signal_parse("SIGTERM"), SIGTERM);
	assert_int_equal(oci_signal_parse("TERM"), SIGTERM);
	assert_int_equal(oci_signal_parse("sigquit"), SIGQUIT);
	assert_int_equal(oci_signal_parse("9"), SIGKILL);
	assert_int_equal(oci_signal_parse("SIGWINCH"), SIGWINCH);
	assert_int_equal(oci_signal_parse("SIGRTMIN"), SIGRTMIN);
	assert_int_equal(oci_signal_parse("SIGRTMIN+3"), SIGRTMIN + 3);
	assert_int_equal(oci_signal_parse("RTMAX-1"), SIGRTMAX - 1);
	static const char *const bad[] = {"", "SIG", "NOPE", "0", "99", "9x", "SIGRTMIN-1", "SIGRTMAX+1",
					  "SIGRTMIN+99", "SIGRTMIN+", NULL};
	for (size_t i = 0; bad[i]; i++)
		assert_int_equal(oci_signal_parse(bad[i]), -1);
	assert_int_equal(oci_signal_parse(NULL), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_state_parse),
		cmocka_unit_test(test_stderr_message),
		cmocka_unit_test(test_runtime_init),
		cmocka_unit_test(test_bad_ids),
		cmocka_unit_test(test_signal_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
