/* pod/cni with the real CNI plugins (Debian's containernetworking-plugins in
 * /usr/lib/cni): bridge + host-local + portmap into a network namespace this
 * test creates and pins itself. ADD gives the namespace an eth0 with the
 * result's address and a host-local reservation; CHECK passes; DEL removes
 * the veth pair, the reservation and the port-mapping rules, and is
 * idempotent, also once the namespace is gone. Failing chains (a bogus plugin
 * type, an invalid subnet, a plugin failing after bridge) report clear errors
 * and leave nothing behind.
 *
 * Needs root (as in CI); skipped otherwise. Uses a test-only bridge
 * (ocidcnit0), subnet 10.89.77.0/24, no ipMasq, no outside addresses.
 * Concurrent runs (several build dirs) are serialized by a lock file, since
 * they share the bridge, the subnet and the NAT table. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "pod/cni.h"
#include "util/spawn.h"

#define BRIDGE "ocidcnit0"
#define SUBNET_PREFIX "10.89.77."
#define NETNAME "ocid-cni-test"
#define SYS_PLUGINS "/usr/lib/cni"

static char tmpdir[32];
static char netns[64], confdir[64], ipamdir[64], plugdir[64];
static char *plugin_dirs[3];
static struct ocid_network_config netcfg;
static bool skip_all;

/* ---- helpers ---- */

static char *run_capture(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *run_capture(const char *fmt, ...)
{
	char *cmd = NULL;
	va_list ap;
	va_start(ap, fmt);
	assert_true(vasprintf(&cmd, fmt, ap) > 0);
	va_end(ap);
	const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
	const char *envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};
	struct spawn_opts o = {.argv = argv, .envp = envp, .deadline_ns = spawn_deadline_ms(20000)};
	struct spawn_result res;
	ocid_error *err = NULL;
	assert_int_equal(spawn_run(&o, &res, &err), 0);
	free(cmd);
	char *out = strdup(res.out);
	spawn_result_free(&res);
	return out;
}

static void write_conf(const char *text)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -f %s/*", confdir);
	assert_int_equal(system(cmd), 0);
	char path[128];
	snprintf(path, sizeof(path), "%s/10-test.conflist", confdir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void write_chain(const char *subnet, const char *extra_plugin)
{
	char text[2048];
	snprintf(text, sizeof(text),
		 "{\"cniVersion\":\"1.0.0\",\"name\":\"" NETNAME "\",\"plugins\":["
		 "{\"type\":\"bridge\",\"bridge\":\"" BRIDGE "\",\"isGateway\":true,\"ipMasq\":false,\"hairpinMode\":true,"
		 "\"ipam\":{\"type\":\"host-local\",\"dataDir\":\"%s\",\"ranges\":[[{\"subnet\":\"%s\"}]],"
		 "\"routes\":[{\"dst\":\"0.0.0.0/0\"}]}},"
		 "{\"type\":\"portmap\",\"capabilities\":{\"portMappings\":true}}%s%s]}",
		 ipamdir, subnet, extra_plugin ? "," : "", extra_plugin ? extra_plugin : "");
	write_conf(text);
}

/* Number of host-local reservations (files named like an address). */
static int reservations(void)
{
	char dir[128];
	snprintf(dir, sizeof(dir), "%s/" NETNAME, ipamdir);
	DIR *d = opendir(dir);
	if (d == NULL)
		return 0;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		if (strncmp(e->d_name, SUBNET_PREFIX, strlen(SUBNET_PREFIX)) == 0)
			n++;
	closedir(d);
	return n;
}

/* Interfaces in the test netns other than lo (as "name name ..."). */
static char *netns_links(void)
{
	return run_capture("nsenter --net=%s ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | grep -v '^lo$' | tr '\\n' ' '",
			   netns);
}

/* Ports of the test bridge on the host. */
static char *bridge_ports(void)
{
	return run_capture("ip -o link show master " BRIDGE " 2>/dev/null | wc -l | tr -d ' \\n'");
}

static char *nat_rules_for(const char *id)
{
	return run_capture("iptables -w -t nat -S 2>/dev/null | grep -c '%s' | tr -d '\\n'", id);
}

static void assert_nothing_left(const char *id)
{
	char *links = netns_links();
	assert_string_equal(links, "");
	free(links);
	char *ports = bridge_ports();
	assert_string_equal(ports, "0");
	free(ports);
	assert_int_equal(reservations(), 0);
	char *rules = nat_rules_for(id);
	assert_string_equal(rules, "0");
	free(rules);
}

static int make_netns(const char *path)
{
	int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	close(fd);
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (unshare(CLONE_NEWNET) < 0)
			_exit(1);
		if (mount("/proc/self/ns/net", path, NULL, MS_BIND, NULL) < 0)
			_exit(2);
		_exit(0);
	}
	int st;
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return -1;
	return 0;
}

static void drop_netns(const char *path)
{
	umount2(path, MNT_DETACH);
	unlink(path);
}

static const char *cur_id; /* the pod id of the running test, for teardown */

static struct cni_pod test_pod(const char *id)
{
	cur_id = id;
	static const struct cni_port_mapping ports[] = {
		{.container_port = 80, .host_port = 18777, .protocol = CNI_PROTO_TCP, .host_ip = "127.0.0.1"},
	};
	return (struct cni_pod){.container_id = id,
				.netns = netns,
				.pod_namespace = "default",
				.pod_name = "cni-root-test",
				.pod_uid = "0b7ad7a2-0000-4000-8000-000000000001",
				.ports = ports,
				.n_ports = 1};
}

static struct cni_call test_call(void)
{
	return (struct cni_call){.cfg = &netcfg, .deadline_ns = spawn_deadline_ms(30000)};
}

/* ---- tests ---- */

static void test_add_check_del(void **state)
{
	(void)state;
	if (skip_all)
		skip();
	write_chain("10.89.77.0/24", NULL);
	const char *id = "ocidcnitestpod01";
	struct cni_call call = test_call();
	struct cni_pod pod = test_pod(id);
	struct cni_result *res = NULL;
	char *cache = NULL;
	ocid_error *err = NULL;
	if (cni_add(&call, &pod, &res, &cache, &err) < 0)
		fail_msg("ADD: %s", err->msg);

	/* The result: one IPv4 address in the subnet on eth0 in our netns. */
	assert_string_equal(res->cni_version, "1.0.0");
	assert_int_equal(res->n_ips, 1);
	assert_int_equal(res->ips[0].family, 4);
	assert_int_equal(res->ips[0].prefix_len, 24);
	assert_memory_equal(res->ips[0].ip, SUBNET_PREFIX, strlen(SUBNET_PREFIX));
	assert_string_equal(res->ips[0].gateway, SUBNET_PREFIX "1");
	assert_true(res->ips[0].interface >= 0);
	struct cni_interface *itf = &res->interfaces[res->ips[0].interface];
	assert_string_equal(itf->name, "eth0");
	assert_string_equal(itf->sandbox, netns);
	const char *host_veth = NULL;
	for (size_t i = 0; i < res->n_interfaces; i++)
		if (*res->interfaces[i].sandbox == '\0' && strcmp(res->interfaces[i].name, BRIDGE) != 0)
			host_veth = res->interfaces[i].name;
	assert_non_null(host_veth);
	assert_true(if_nametoindex(host_veth) > 0);

	char *addrs = run_capture("nsenter --net=%s ip -o -4 addr show dev eth0", netns);
	char want[64];
	snprintf(want, sizeof(want), "inet %s ", res->ips[0].address);
	if (strstr(addrs, want) == NULL)
		fail_msg("eth0 in the netns lacks %s: %s", res->ips[0].address, addrs);
	free(addrs);
	char *route = run_capture("nsenter --net=%s ip -4 route show default", netns);
	assert_non_null(strstr(route, "via " SUBNET_PREFIX "1 dev eth0"));
	free(route);

	/* host-local's reservation names the container. */
	char rpath[160];
	snprintf(rpath, sizeof(rpath), "%s/" NETNAME "/%s", ipamdir, res->ips[0].ip);
	FILE *f = fopen(rpath, "r");
	assert_non_null(f);
	char line[256] = {0};
	assert_non_null(fgets(line, sizeof(line), f));
	fclose(f);
	assert_non_null(strstr(line, id));
	assert_int_equal(reservations(), 1);
	char *rules = nat_rules_for(id);
	assert_string_not_equal(rules, "0");
	free(rules);

	/* CHECK runs the chain against the live setup. portmap 1.1.1 wrongly
	 * looks for IPv6 rules of an IPv4-only pod when ip6tables exists
	 * (containernetworking/plugins#819): that one failure is tolerated
	 * here; test_check_without_ports requires a clean pass. */
	if (cni_check(&call, &pod, cache, &err) < 0) {
		if (strstr(err->msg, "plugin portmap failed") == NULL || strstr(err->msg, "ipv6") == NULL)
			fail_msg("CHECK: %s", err->msg);
		err_clear(&err);
	}

	/* The cache alone gives the IPs back (as after a restart). */
	struct cni_result *cached = NULL;
	assert_int_equal(cni_cache_result(cache, &cached, NULL, &err), 0);
	assert_string_equal(cached->ips[0].address, res->ips[0].address);
	cni_result_free(cached);

	/* DEL removes the veth pair, the reservation and the NAT rules. */
	char *veth = strdup(host_veth);
	if (cni_del(&call, &pod, cache, &err) < 0)
		fail_msg("DEL: %s", err->msg);
	assert_int_equal(if_nametoindex(veth), 0);
	assert_int_equal(access(rpath, F_OK), -1);
	assert_nothing_left(id);

	/* Again: nothing to do, still a success. */
	if (cni_del(&call, &pod, cache, &err) < 0)
		fail_msg("second DEL: %s", err->msg);
	free(veth);
	free(cache);
	cni_result_free(res);
}

static void test_check_without_ports(void **state)
{
	(void)state;
	if (skip_all)
		skip();
	write_chain("10.89.77.0/24", NULL);
	struct cni_call call = test_call();
	struct cni_pod pod = test_pod("ocidcnitestpod06");
	pod.n_ports = 0;
	char *cache = NULL;
	ocid_error *err = NULL;
	if (cni_add(&call, &pod, NULL, &cache, &err) < 0)
		fail_msg("ADD: %s", err->msg);
	if (cni_check(&call, &pod, cache, &err) < 0)
		fail_msg("CHECK: %s", err->msg);
	/* Break it: remove eth0 behind CNI's back; CHECK must notice. */
	char *out = run_capture("nsenter --net=%s ip link del eth0 && echo ok", netns);
	assert_string_equal(out, "ok\n");
	free(out);
	assert_int_equal(cni_check(&call, &pod, cache, &err), -1);
	assert_non_null(strstr(err->msg, "CNI CHECK in network " NETNAME ": plugin bridge failed"));
	err_clear(&err);
	if (cni_del(&call, &pod, cache, &err) < 0)
		fail_msg("DEL: %s", err->msg);
	assert_nothing_left(pod.container_id);
	free(cache);
}

static void test_del_after_netns_is_gone(void **state)
{
	(void)state;
	if (skip_all)
		skip();
	write_chain("10.89.77.0/24", NULL);
	char ns2[80];
	snprintf(ns2, sizeof(ns2), "%s/netns2", tmpdir);
	assert_int_equal(make_netns(ns2), 0);
	const char *id = "ocidcnitestpod02";
	struct cni_call call = test_call();
	struct cni_pod pod = test_pod(id);
	pod.netns = ns2;
	char *cache = NULL;
	ocid_error *err = NULL;
	if (cni_add(&call, &pod, NULL, &cache, &err) < 0)
		fail_msg("ADD: %s", err->msg);
	assert_int_equal(reservations(), 1);

	/* The namespace disappears (its veth with it); DEL still releases the
	 * address and the port mapping. */
	drop_netns(ns2);
	if (cni_del(&call, &pod, cache, &err) < 0)
		fail_msg("DEL without netns: %s", err->msg);
	assert_int_equal(reservations(), 0);
	char *rules = nat_rules_for(id);
	assert_string_equal(rules, "0");
	free(rules);
	free(cache);
	/* The kernel destroys the veth pair with the namespace, asynchronously. */
	char *ports = NULL;
	for (int i = 0; i < 100; i++) {
		free(ports);
		ports = bridge_ports();
		if (strcmp(ports, "0") == 0)
			break;
		usleep(50000);
	}
	assert_string_equal(ports, "0");
	free(ports);

	/* Same, without even a cache (an ADD that never finished). */
	if (cni_del(&call, &pod, NULL, &err) < 0)
		fail_msg("DEL without netns or cache: %s", err->msg);
}

static void test_bogus_plugin_type(void **state)
{
	(void)state;
	if (skip_all)
		skip();
	write_chain("10.89.77.0/24", "{\"type\":\"ocid-bogus-plugin\"}");
	const char *id = "ocidcnitestpod03";
	struct cni_call call = test_call();
	struct cni_pod pod = test_pod(id);
	char *cache = NULL;
	ocid_error *err = NULL;
	assert_int_equal(cni_add(&call, &pod, NULL, &cache, &err), -1);
	assert_int_equal(err->code, GRPC_FAILED_PRECONDITION);
	assert_non_null(strstr(err->msg, "failed to find CNI plugin \"ocid-bogus-plugin\""));
	err_clear(&err);
	assert_null(cache);
	assert_nothing_left(id);
}

static void test_invalid_subnet(void **state)
{
	(void)state;
	if (skip_all)
		skip();
	write_chain("10.89.77.0/33", NULL);
	const char *id = "ocidcnitestpod04";
	struct cni_call call = test_call();
	struct cni_pod pod = test_pod(id);
	char *cache = NULL;
	ocid_error *err = NULL;
	assert_int_equal(cni_add(&call, &pod, NULL, &cache, &err), -1);
	assert_non_null(strstr(err->msg, "CNI ADD in network " NETNAME ": plugin bridge failed (code "));
	assert_non_null(strstr(err->msg, "10.89.77.0/33"));
	print_message("invalid subnet: %s\n", err->msg);
	err_clear(&err);
	assert_nothing_left(id);
}

static void test_failure_after_bridge(void **state)
{
	(void)state;
	if (skip_all)
		skip();
	/* bridge and portmap succeed, then a plugin fails: all is undone. */
	write_chain("10.89.77.0/24", "{\"type\":\"ocid-test-fail\"}");
	const char *id = "ocidcnitestpod05";
	struct cni_call call = test_call();
	struct cni_pod pod = test_pod(id);
	char *cache = NULL;
	ocid_error *err = NULL;
	assert_int_equal(cni_add(&call, &pod, NULL, &cache, &err), -1);
	assert_string_equal(err->msg, "CNI ADD in network " NETNAME ": plugin ocid-test-fail failed (code 7): "
				      "refusing on purpose: test");
	err_clear(&err);
	assert_nothing_left(id);
	char *ran = run_capture("cat %s/ran", tmpdir);
	assert_string_equal(ran, "ADD\nDEL\n");
	free(ran);
}

/* ---- setup ---- */

static int setup_test(void **state)
{
	(void)state;
	if (skip_all)
		return 0;
	cur_id = NULL;
	return make_netns(netns);
}

/* Whatever a failed test left: DEL with a valid chain, the namespace, the
 * reservations. */
static int teardown_test(void **state)
{
	(void)state;
	if (skip_all)
		return 0;
	if (cur_id != NULL) {
		write_chain("10.89.77.0/24", NULL);
		struct cni_call call = test_call();
		struct cni_pod pod = test_pod(cur_id);
		ocid_error *err = NULL;
		if (cni_del(&call, &pod, NULL, &err) < 0) {
			fprintf(stderr, "teardown DEL: %s\n", err->msg);
			err_free(err);
		}
	}
	drop_netns(netns);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'/* '%s'/ran", ipamdir, tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static int setup_all(void **state)
{
	(void)state;
	if (geteuid() != 0 || access(SYS_PLUGINS "/bridge", X_OK) != 0 || access(SYS_PLUGINS "/portmap", X_OK) != 0 ||
	    system("command -v nsenter >/dev/null && command -v ip >/dev/null && command -v iptables >/dev/null") != 0) {
		fprintf(stderr, "test_cni_root: needs root, " SYS_PLUGINS " plugins, ip, nsenter and iptables: skipped\n");
		skip_all = true;
		return 0;
	}
	int lock = open("/tmp/ocid-test-cni-root.lock", O_CREAT | O_RDWR | O_CLOEXEC, 0600);
	if (lock < 0 || flock(lock, LOCK_EX) < 0)
		return -1;
	/* Held until exit. */
	strcpy(tmpdir, "/tmp/test_cni_root.XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	snprintf(netns, sizeof(netns), "%s/netns", tmpdir);
	snprintf(confdir, sizeof(confdir), "%s/net.d", tmpdir);
	snprintf(ipamdir, sizeof(ipamdir), "%s/ipam", tmpdir);
	snprintf(plugdir, sizeof(plugdir), "%s/plugins", tmpdir);
	mkdir(confdir, 0755);
	mkdir(ipamdir, 0755);
	mkdir(plugdir, 0755);
	if (make_netns(netns) < 0) {
		fprintf(stderr, "test_cni_root: cannot create a network namespace: skipped\n");
		skip_all = true;
		return 0;
	}
	drop_netns(netns);
	/* A plugin that fails ADD with a CNI error and records what it ran. */
	char path[128], script[512];
	snprintf(path, sizeof(path), "%s/ocid-test-fail", plugdir);
	snprintf(script, sizeof(script),
		 "#!/bin/sh\ncat >/dev/null\necho \"$CNI_COMMAND\" >> %s/ran\n"
		 "if [ \"$CNI_COMMAND\" = ADD ]; then\n"
		 "  echo '{\"cniVersion\":\"1.0.0\",\"code\":7,\"msg\":\"refusing on purpose\",\"details\":\"test\"}'\n"
		 "  exit 1\nfi\nexit 0\n",
		 tmpdir);
	FILE *f = fopen(path, "w");
	if (f == NULL)
		return -1;
	fputs(script, f);
	fclose(f);
	chmod(path, 0755);
	plugin_dirs[0] = plugdir;
	plugin_dirs[1] = SYS_PLUGINS;
	plugin_dirs[2] = NULL;
	netcfg.network_dir = confdir;
	netcfg.plugin_dirs = plugin_dirs;
	netcfg.cni_default_network = "";
	return 0;
}

static int teardown_all(void **state)
{
	(void)state;
	if (tmpdir[0] == '\0')
		return 0;
	/* The bridge plugin never removes the bridge it created. */
	if (system("ip link del " BRIDGE " 2>/dev/null") != 0)
		fprintf(stderr, "test_cni_root: no bridge " BRIDGE " to remove\n");
	char cmd[96];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_add_check_del, setup_test, teardown_test),
		cmocka_unit_test_setup_teardown(test_check_without_ports, setup_test, teardown_test),
		cmocka_unit_test_setup_teardown(test_del_after_netns_is_gone, setup_test, teardown_test),
		cmocka_unit_test_setup_teardown(test_bogus_plugin_type, setup_test, teardown_test),
		cmocka_unit_test_setup_teardown(test_invalid_subnet, setup_test, teardown_test),
		cmocka_unit_test_setup_teardown(test_failure_after_bridge, setup_test, teardown_test),
	};
	return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
