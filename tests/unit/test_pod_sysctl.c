/* Which sysctls a pod may set (the Kubernetes namespaced sets), how their
 * names map to /proc/sys, and pod hostname checks. Pure logic. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "pod/namespaces.h"

static void test_namespace_classification(void **state)
{
	(void)state;
	/* net.* in the network namespace */
	assert_int_equal(pod_sysctl_namespace("net.ipv4.ip_forward"), POD_SYSCTL_NET);
	assert_int_equal(pod_sysctl_namespace("net.ipv4.ip_unprivileged_port_start"), POD_SYSCTL_NET);
	assert_int_equal(pod_sysctl_namespace("net.core.somaxconn"), POD_SYSCTL_NET);
	assert_int_equal(pod_sysctl_namespace("net/ipv4/conf/eth0.100/forwarding"), POD_SYSCTL_NET);
	/* IPC */
	assert_int_equal(pod_sysctl_namespace("kernel.shm_rmid_forced"), POD_SYSCTL_IPC);
	assert_int_equal(pod_sysctl_namespace("kernel.shmmax"), POD_SYSCTL_IPC);
	assert_int_equal(pod_sysctl_namespace("kernel.shmall"), POD_SYSCTL_IPC);
	assert_int_equal(pod_sysctl_namespace("kernel.shmmni"), POD_SYSCTL_IPC);
	assert_int_equal(pod_sysctl_namespace("kernel.msgmax"), POD_SYSCTL_IPC);
	assert_int_equal(pod_sysctl_namespace("kernel.msgmnb"), POD_SYSCTL_IPC);
	assert_int_equal(pod_sysctl_namespace("kernel.msgmni"), POD_SYSCTL_IPC);
	assert_int_equal(pod_sysctl_namespace("kernel.sem"), POD_SYSCTL_IPC);
	assert_int_equal(pod_sysctl_namespace("kernel/sem"), POD_SYSCTL_IPC);
	assert_int_equal(pod_sysctl_namespace("fs.mqueue.msg_max"), POD_SYSCTL_IPC);
	assert_int_equal(pod_sysctl_namespace("fs.mqueue.queues_max"), POD_SYSCTL_IPC);
	/* not namespaced */
	assert_int_equal(pod_sysctl_namespace("kernel.panic"), POD_SYSCTL_NOT_NAMESPACED);
	assert_int_equal(pod_sysctl_namespace("kernel.hostname"), POD_SYSCTL_NOT_NAMESPACED);
	assert_int_equal(pod_sysctl_namespace("kernel.semx"), POD_SYSCTL_NOT_NAMESPACED);
	assert_int_equal(pod_sysctl_namespace("kernel.sem.x"), POD_SYSCTL_NOT_NAMESPACED);
	assert_int_equal(pod_sysctl_namespace("vm.overcommit_memory"), POD_SYSCTL_NOT_NAMESPACED);
	assert_int_equal(pod_sysctl_namespace("fs.file-max"), POD_SYSCTL_NOT_NAMESPACED);
	assert_int_equal(pod_sysctl_namespace("fs.mqueue"), POD_SYSCTL_NOT_NAMESPACED);
	assert_int_equal(pod_sysctl_namespace("net"), POD_SYSCTL_NOT_NAMESPACED);
	assert_int_equal(pod_sysctl_namespace("network.x"), POD_SYSCTL_NOT_NAMESPACED);
	assert_int_equal(pod_sysctl_namespace(""), POD_SYSCTL_NOT_NAMESPACED);
	assert_int_equal(pod_sysctl_namespace(NULL), POD_SYSCTL_NOT_NAMESPACED);
}

static void expect_check_fails(const char *name, const char *value, bool host_net, bool host_ipc,
			       const char *needle)
{
	ocid_error *err = NULL;
	assert_int_equal(pod_sysctl_check(name, value, host_net, host_ipc, &err), -1);
	assert_non_null(err);
	assert_int_equal(err->code, GRPC_INVALID_ARGUMENT);
	if (strstr(err->msg, needle) == NULL)
		fail_msg("message \"%s\" lacks \"%s\"", err->msg, needle);
	err_free(err);
}

static void test_check(void **state)
{
	(void)state;
	ocid_error *err = NULL;
	assert_int_equal(pod_sysctl_check("net.ipv4.ip_forward", "1", false, false, &err), 0);
	assert_int_equal(pod_sysctl_check("net.ipv4.ip_local_port_range", "1024\t65000", false, true,
					  &err),
			 0);
	assert_int_equal(pod_sysctl_check("kernel.shm_rmid_forced", "1", true, false, &err), 0);
	assert_null(err);

	/* not namespaced: refused, naming the sysctl */
	expect_check_fails("kernel.panic", "1", false, false, "kernel.panic");
	expect_check_fails("vm.swappiness", "1", false, false, "not namespaced");
	/* host namespaces */
	expect_check_fails("net.ipv4.ip_forward", "1", true, false, "host network");
	expect_check_fails("kernel.msgmax", "8192", false, true, "host IPC");
	expect_check_fails("fs.mqueue.msg_max", "10", false, true, "fs.mqueue.msg_max");
	/* syntax: no traversal, no empty components */
	expect_check_fails("net/../../kernel/panic", "1", false, false, "invalid sysctl name");
	expect_check_fails("net.ipv4..ip_forward", "1", false, false, "invalid sysctl name");
	expect_check_fails("net.ipv4.ip_forward.", "1", false, false, "invalid sysctl name");
	expect_check_fails("net.ipv4.ip forward", "1", false, false, "invalid sysctl name");
	expect_check_fails("", "1", false, false, "invalid sysctl name");
	expect_check_fails(NULL, "1", false, false, "invalid sysctl name");
	/* values */
	expect_check_fails("net.ipv4.ip_forward", "", false, false, "empty value");
	expect_check_fails("net.ipv4.ip_forward", NULL, false, false, "empty value");
	expect_check_fails("net.ipv4.ip_forward", "1\n0", false, false, "control character");
	char *big = malloc(POD_SYSCTL_VALUE_MAX + 2);
	memset(big, '1', POD_SYSCTL_VALUE_MAX + 1);
	big[POD_SYSCTL_VALUE_MAX + 1] = '\0';
	expect_check_fails("net.ipv4.ip_forward", big, false, false, "longer than");
	free(big);
	char name[POD_SYSCTL_NAME_MAX + 8] = "net.";
	memset(name + 4, 'a', POD_SYSCTL_NAME_MAX);
	name[POD_SYSCTL_NAME_MAX + 4] = '\0';
	expect_check_fails(name, "1", false, false, "invalid sysctl name");
}

static void test_proc_path(void **state)
{
	(void)state;
	char *p = pod_sysctl_proc_path("net.ipv4.ip_forward");
	assert_string_equal(p, "net/ipv4/ip_forward");
	free(p);
	/* slash form keeps dots inside components (VLAN interface names) */
	p = pod_sysctl_proc_path("net/ipv4/conf/eth0.100/forwarding");
	assert_string_equal(p, "net/ipv4/conf/eth0.100/forwarding");
	free(p);
	p = pod_sysctl_proc_path("kernel.shm_rmid_forced");
	assert_string_equal(p, "kernel/shm_rmid_forced");
	free(p);
	assert_null(pod_sysctl_proc_path("net/../kernel/panic"));
	assert_null(pod_sysctl_proc_path("net/./ipv4"));
	assert_null(pod_sysctl_proc_path("/net/ipv4"));
	assert_null(pod_sysctl_proc_path("net.ipv4.ip_forward;rm"));
}

static void test_hostname(void **state)
{
	(void)state;
	ocid_error *err = NULL;
	assert_int_equal(pod_hostname_check("pod-1", &err), 0);
	assert_int_equal(pod_hostname_check("node1.example.com", &err), 0);
	assert_int_equal(pod_hostname_check("a", &err), 0);
	char h64[65];
	memset(h64, 'h', 64);
	h64[64] = '\0';
	assert_int_equal(pod_hostname_check(h64, &err), 0);
	assert_null(err);

	const char *bad[] = {"", "-pod", "pod-", ".pod", "pod.", "po d", "pod/1", "pod\n", NULL};
	for (size_t i = 0; bad[i]; i++) {
		assert_int_equal(pod_hostname_check(bad[i], &err), -1);
		assert_int_equal(err->code, GRPC_INVALID_ARGUMENT);
		err_clear(&err);
	}
	assert_int_equal(pod_hostname_check(NULL, &err), -1);
	err_clear(&err);
	char h65[66];
	memset(h65, 'h', 65);
	h65[65] = '\0';
	assert_int_equal(pod_hostname_check(h65, &err), -1);
	assert_non_null(strstr(err->msg, "longer than 64"));
	err_clear(&err);
}

static void test_ns_names_and_paths(void **state)
{
	(void)state;
	assert_string_equal(pod_ns_type_name(POD_NS_NET), "net");
	assert_string_equal(pod_ns_type_name(POD_NS_IPC), "ipc");
	assert_string_equal(pod_ns_type_name(POD_NS_UTS), "uts");
	assert_string_equal(pod_ns_type_name(POD_NS_PID), "pid");
	bool want[POD_NS_COUNT] = {true, false, true, true};
	struct pod_ns ns;
	pod_ns_paths("/run/ocid/ns/abc", want, &ns);
	assert_string_equal(ns.path[POD_NS_NET], "/run/ocid/ns/abc/net");
	assert_null(ns.path[POD_NS_IPC]);
	assert_string_equal(ns.path[POD_NS_UTS], "/run/ocid/ns/abc/uts");
	assert_string_equal(ns.path[POD_NS_PID], "/run/ocid/ns/abc/pid");
	pod_ns_free(&ns);
	assert_null(ns.path[POD_NS_NET]);
}

static void test_create_refuses_before_forking(void **state)
{
	(void)state;
	/* Invalid input is refused before any process or file is made. */
	struct pod_sysctl s = {"kernel.panic", "1"};
	struct pod_ns_spec spec = {
		.pin_dir = "/nonexistent/ocid-test/ns/x",
		.net = true, .ipc = true, .uts = true,
		.hostname = "pod",
		.sysctls = &s, .n_sysctls = 1,
	};
	struct pod_ns ns;
	ocid_error *err = NULL;
	assert_int_equal(pod_ns_create(&spec, &ns, &err), -1);
	assert_int_equal(err->code, GRPC_INVALID_ARGUMENT);
	assert_non_null(strstr(err->msg, "kernel.panic"));
	err_clear(&err);

	s = (struct pod_sysctl){"net.ipv4.ip_forward", "1"};
	spec.net = false;
	assert_int_equal(pod_ns_create(&spec, &ns, &err), -1);
	assert_non_null(strstr(err->msg, "host network"));
	err_clear(&err);

	spec.n_sysctls = 0;
	spec.hostname = "bad host";
	assert_int_equal(pod_ns_create(&spec, &ns, &err), -1);
	assert_int_equal(err->code, GRPC_INVALID_ARGUMENT);
	err_clear(&err);

	spec.pin_dir = "relative/ns";
	spec.hostname = "pod";
	assert_int_equal(pod_ns_create(&spec, &ns, &err), -1);
	assert_int_equal(err->code, GRPC_INVALID_ARGUMENT);
	err_clear(&err);

	/* Everything shared with the host: nothing to create. */
	struct pod_ns_spec host = {.pin_dir = "/nonexistent/ocid-test/ns/y"};
	assert_int_equal(pod_ns_create(&host, &ns, &err), 0);
	for (int t = 0; t < POD_NS_COUNT; t++)
		assert_null(ns.path[t]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_namespace_classification),
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_proc_path),
		cmocka_unit_test(test_hostname),
		cmocka_unit_test(test_ns_names_and_paths),
		cmocka_unit_test(test_create_refuses_before_forking),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
