/* pod/cni and pod/cni_config without privileges: network config parsing and
 * validation, finding a network (first valid, or by name), each plugin's
 * stdin (prevResult chaining, runtimeConfig only for declared capabilities,
 * portMappings format), CNI_ARGS, result parsing (0.3.1, 0.4.0, 1.0.0),
 * plugin error messages, and whole chains run against fake plugins (shell
 * scripts that record what they were given): order, rollback of a failed
 * ADD, DEL in reverse with the cached result, a missing netns, CHECK rules,
 * deadlines, and a config that appears later. */
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

#include <jansson.h>

#include "pod/cni.h"
#include "pod/cni_config.h"
#include "util/spawn.h"

/* ---- helpers ---- */

static char tmpdir[32];

static char *write_file(const char *dir, const char *name, const char *content)
{
	char *path = NULL;
	assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
	return path;
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return NULL;
	char *buf = calloc(1, 1 << 20);
	size_t n = fread(buf, 1, (1 << 20) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static struct cni_network *parse_ok(const char *text)
{
	struct cni_network *net = NULL;
	ocid_error *err = NULL;
	int r = cni_network_parse(text, "test.conflist", &net, &err);
	if (r < 0)
		fail_msg("parse failed: %s", err->msg);
	return net;
}

static void parse_fails(const char *text, const char *needle)
{
	struct cni_network *net = NULL;
	ocid_error *err = NULL;
	assert_int_equal(cni_network_parse(text, "test.conflist", &net, &err), -1);
	assert_null(net);
	assert_non_null(err);
	assert_int_equal(err->code, GRPC_INVALID_ARGUMENT);
	if (strstr(err->msg, needle) == NULL)
		fail_msg("error \"%s\" does not mention \"%s\"", err->msg, needle);
	err_free(err);
}

static json_t *J(const char *text)
{
	json_error_t e;
	json_t *j = json_loads(text, 0, &e);
	if (j == NULL)
		fail_msg("bad test JSON %s: %s", text, e.text);
	return j;
}

static void assert_json_equal(json_t *got, const char *want_text)
{
	json_t *want = J(want_text);
	if (!json_equal(got, want)) {
		char *g = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS);
		char *w = json_dumps(want, JSON_COMPACT | JSON_SORT_KEYS);
		fail_msg("JSON differs:\n got  %s\n want %s", g, w);
	}
	json_decref(want);
}

/* ---- network config ---- */

static void test_parse_conflist(void **state)
{
	(void)state;
	struct cni_network *net = parse_ok("{\"cniVersion\":\"1.0.0\",\"name\":\"pods\",\"disableCheck\":true,"
					   "\"plugins\":[{\"type\":\"bridge\",\"bridge\":\"cni0\"},"
					   "{\"type\":\"portmap\",\"capabilities\":{\"portMappings\":true}}]}");
	assert_string_equal(net->name, "pods");
	assert_string_equal(net->cni_version, "1.0.0");
	assert_true(net->disable_check);
	assert_int_equal(net->n_plugins, 2);
	assert_string_equal(net->plugins[0].type, "bridge");
	assert_string_equal(json_string_value(json_object_get(net->plugins[0].conf, "bridge")), "cni0");
	assert_string_equal(net->plugins[1].type, "portmap");
	assert_string_equal(net->origin, "test.conflist");
	assert_json_equal(net->json, "{\"cniVersion\":\"1.0.0\",\"name\":\"pods\",\"disableCheck\":true,"
				     "\"plugins\":[{\"type\":\"bridge\",\"bridge\":\"cni0\"},"
				     "{\"type\":\"portmap\",\"capabilities\":{\"portMappings\":true}}]}");
	cni_network_free(net);

	/* Every supported version; disableCheck as a string. */
	const char *versions[] = {"0.3.0", "0.3.1", "0.4.0", "1.0.0"};
	for (size_t i = 0; i < 4; i++) {
		char text[256];
		snprintf(text, sizeof(text),
			 "{\"cniVersion\":\"%s\",\"name\":\"n\",\"disableCheck\":\"false\",\"plugins\":[{\"type\":\"x\"}]}",
			 versions[i]);
		net = parse_ok(text);
		assert_string_equal(net->cni_version, versions[i]);
		assert_false(net->disable_check);
		cni_network_free(net);
	}
}

static void test_parse_single_conf(void **state)
{
	(void)state;
	struct cni_network *net = parse_ok("{\"cniVersion\":\"0.4.0\",\"name\":\"single\",\"type\":\"bridge\","
					   "\"ipam\":{\"type\":\"host-local\"}}");
	assert_int_equal(net->n_plugins, 1);
	assert_string_equal(net->name, "single");
	assert_string_equal(net->plugins[0].type, "bridge");
	assert_non_null(json_object_get(net->plugins[0].conf, "ipam"));
	assert_false(net->disable_check);
	/* As a list, the file is the one plugin. */
	assert_int_equal(json_array_size(json_object_get(net->json, "plugins")), 1);
	assert_string_equal(json_string_value(json_object_get(net->json, "cniVersion")), "0.4.0");
	cni_network_free(net);
}

static void test_parse_invalid(void **state)
{
	(void)state;
	parse_fails("{\"cniVersion\":\"0.2.0\",\"name\":\"n\",\"plugins\":[{\"type\":\"x\"}]}",
		    "cniVersion \"0.2.0\" is not supported (supported: 0.3.0, 0.3.1, 0.4.0, 1.0.0)");
	parse_fails("{\"cniVersion\":\"1.1.0\",\"name\":\"n\",\"plugins\":[{\"type\":\"x\"}]}",
		    "cniVersion \"1.1.0\" is not supported");
	parse_fails("{\"name\":\"n\",\"plugins\":[{\"type\":\"x\"}]}", "no \"cniVersion\"");
	parse_fails("{\"cniVersion\":1,\"name\":\"n\",\"plugins\":[{\"type\":\"x\"}]}", "must be a string");
	parse_fails("{\"cniVersion\":\"1.0.0\",\"plugins\":[{\"type\":\"x\"}]}", "no network \"name\"");
	parse_fails("{\"cniVersion\":\"1.0.0\",\"name\":\"../etc\",\"plugins\":[{\"type\":\"x\"}]}",
		    "invalid network name");
	parse_fails("{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"plugins\":[]}", "\"plugins\" is empty");
	parse_fails("{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"plugins\":{}}", "\"plugins\" must be a list");
	parse_fails("{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"plugins\":[{\"type\":\"x\"},{\"bridge\":\"b\"}]}",
		    "test.conflist: plugins[1]: no plugin \"type\"");
	parse_fails("{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"plugins\":[{\"type\":\"../../bin/sh\"}]}",
		    "invalid plugin \"type\"");
	parse_fails("{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"plugins\":[{\"type\":\"..\"}]}", "invalid plugin");
	parse_fails("{\"cniVersion\":\"1.0.0\",\"name\":\"n\"}", "no plugin \"type\"");
	parse_fails("{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"disableCheck\":1,\"plugins\":[{\"type\":\"x\"}]}",
		    "disableCheck");
	parse_fails("{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"plugins\":[{\"type\":\"x\",\"capabilities\":[]}]}",
		    "\"capabilities\" must be an object");
	parse_fails("[1]", "not a JSON object");
	parse_fails("{\"cniVersion\":", "test.conflist:1:");
	parse_fails("{\"name\":\"a\",\"name\":\"b\"}", "duplicate");
}

static void test_versions(void **state)
{
	(void)state;
	assert_true(cni_version_cmp("0.3.1", "0.4.0") < 0);
	assert_true(cni_version_cmp("1.0.0", "0.4.0") > 0);
	assert_int_equal(cni_version_cmp("0.4.0", "0.4.0"), 0);
	assert_true(cni_version_cmp("0.10.0", "0.4.0") > 0);
	assert_false(cni_version_supported("0.1.0"));
	assert_false(cni_version_supported(NULL));
	assert_true(cni_version_supported("0.3.0"));
}

static void test_config_load(void **state)
{
	(void)state;
	char dir[64];
	snprintf(dir, sizeof(dir), "%s/load", tmpdir);
	mkdir(dir, 0755);
	struct cni_network *net = NULL;
	ocid_error *err = NULL;

	assert_int_equal(cni_config_load(dir, NULL, &net, &err), -1);
	assert_int_equal(err->code, GRPC_FAILED_PRECONDITION);
	assert_non_null(strstr(err->msg, "no CNI configuration file in"));
	err_clear(&err);

	free(write_file(dir, "05-ignored.txt", "{}"));
	free(write_file(dir, "10-old.conf", "{\"cniVersion\":\"0.2.0\",\"name\":\"old\",\"type\":\"bridge\"}"));
	assert_int_equal(cni_config_load(dir, NULL, &net, &err), -1);
	assert_non_null(strstr(err->msg, "no valid CNI configuration"));
	assert_non_null(strstr(err->msg, "10-old.conf: cniVersion \"0.2.0\" is not supported"));
	err_clear(&err);

	free(write_file(dir, "20-a.conflist", "{\"cniVersion\":\"1.0.0\",\"name\":\"a\",\"plugins\":[{\"type\":\"x\"}]}"));
	free(write_file(dir, "30-b.json", "{\"cniVersion\":\"0.3.1\",\"name\":\"b\",\"type\":\"y\"}"));
	assert_int_equal(cni_config_load(dir, NULL, &net, &err), 0);
	assert_string_equal(net->name, "a");
	assert_non_null(strstr(net->origin, "/20-a.conflist"));
	cni_network_free(net);
	assert_int_equal(cni_config_load(dir, "", &net, &err), 0);
	assert_string_equal(net->name, "a");
	cni_network_free(net);

	assert_int_equal(cni_config_load(dir, "b", &net, &err), 0);
	assert_string_equal(net->name, "b");
	assert_string_equal(net->plugins[0].type, "y");
	cni_network_free(net);

	assert_int_equal(cni_config_load(dir, "zzz", &net, &err), -1);
	assert_int_equal(err->code, GRPC_FAILED_PRECONDITION);
	assert_non_null(strstr(err->msg, "no CNI network named \"zzz\""));
	assert_non_null(strstr(err->msg, "\"a\" (20-a.conflist)"));
	assert_non_null(strstr(err->msg, "\"b\" (30-b.json)"));
	err_clear(&err);

	char *path = NULL;
	assert_int_equal(cni_config_find(dir, &path, &err), 0);
	assert_non_null(strstr(path, "/20-a.conflist"));
	free(path);

	char missing[80];
	snprintf(missing, sizeof(missing), "%s/missing", tmpdir);
	assert_int_equal(cni_config_load(missing, NULL, &net, &err), -1);
	assert_non_null(strstr(err->msg, "no CNI configuration directory"));
	err_clear(&err);
}

/* ---- plugin stdin, CNI_ARGS, port mappings ---- */

static const struct cni_port_mapping test_ports[] = {
	{.container_port = 80, .host_port = 8080, .protocol = CNI_PROTO_TCP},
	{.container_port = 53, .host_port = 0, .protocol = CNI_PROTO_UDP}, /* not published */
	{.container_port = 53, .host_port = 5353, .protocol = CNI_PROTO_UDP, .host_ip = "127.0.0.1"},
	{.container_port = 9, .host_port = 9999, .protocol = CNI_PROTO_SCTP, .host_ip = ""},
};

static void test_plugin_stdin(void **state)
{
	(void)state;
	struct cni_network *net = parse_ok(
		"{\"cniVersion\":\"0.4.0\",\"name\":\"pods\",\"plugins\":["
		"{\"type\":\"bridge\",\"cniVersion\":\"0.3.0\",\"name\":\"other\",\"bridge\":\"cni0\","
		"\"runtimeConfig\":{\"stale\":1},\"prevResult\":{\"stale\":1}},"
		"{\"type\":\"portmap\",\"capabilities\":{\"portMappings\":true},\"snat\":true},"
		"{\"type\":\"tuning\",\"capabilities\":{\"portMappings\":false,\"mac\":true}}]}");
	struct cni_pod pod = {.container_id = "abc", .ports = test_ports, .n_ports = 4};
	ocid_error *err = NULL;

	json_t *in = cni_plugin_stdin(net, 0, &pod, NULL, &err);
	assert_non_null(in);
	assert_json_equal(in, "{\"type\":\"bridge\",\"cniVersion\":\"0.4.0\",\"name\":\"pods\",\"bridge\":\"cni0\"}");
	json_decref(in);

	json_t *prev = J("{\"cniVersion\":\"0.4.0\",\"ips\":[{\"version\":\"4\",\"address\":\"10.0.0.2/24\"}]}");
	in = cni_plugin_stdin(net, 1, &pod, prev, &err);
	assert_json_equal(in, "{\"type\":\"portmap\",\"cniVersion\":\"0.4.0\",\"name\":\"pods\",\"snat\":true,"
			      "\"prevResult\":{\"cniVersion\":\"0.4.0\",\"ips\":[{\"version\":\"4\",\"address\":\"10.0.0.2/24\"}]},"
			      "\"runtimeConfig\":{\"portMappings\":["
			      "{\"hostPort\":8080,\"containerPort\":80,\"protocol\":\"tcp\"},"
			      "{\"hostPort\":5353,\"containerPort\":53,\"protocol\":\"udp\",\"hostIP\":\"127.0.0.1\"},"
			      "{\"hostPort\":9999,\"containerPort\":9,\"protocol\":\"sctp\"}]}}");
	json_decref(in);

	/* A capability declared false, or one we have no value for: nothing. */
	in = cni_plugin_stdin(net, 2, &pod, prev, &err);
	assert_null(json_object_get(in, "runtimeConfig"));
	assert_null(json_object_get(in, "capabilities"));
	assert_true(json_equal(json_object_get(in, "prevResult"), prev));
	json_decref(in);

	/* No published ports: no runtimeConfig at all. */
	struct cni_pod bare = {.container_id = "abc"};
	in = cni_plugin_stdin(net, 1, &bare, NULL, &err);
	assert_null(json_object_get(in, "runtimeConfig"));
	assert_null(json_object_get(in, "prevResult"));
	json_decref(in);

	/* The network is not changed by building stdin. */
	assert_non_null(json_object_get(net->plugins[1].conf, "capabilities"));
	assert_null(cni_plugin_stdin(net, 3, &pod, NULL, &err));
	err_clear(&err);
	json_decref(prev);
	cni_network_free(net);
}

static void test_port_mappings_invalid(void **state)
{
	(void)state;
	ocid_error *err = NULL;
	struct cni_port_mapping bad[][1] = {
		{{.container_port = 80, .host_port = 70000}},
		{{.container_port = 0, .host_port = 80}},
		{{.container_port = 80, .host_port = 80, .protocol = (enum cni_protocol)7}},
		{{.container_port = 80, .host_port = 80, .host_ip = "not-an-ip"}},
	};
	const char *what[] = {"host port", "container port", "protocol", "host IP"};
	for (size_t i = 0; i < 4; i++) {
		struct cni_pod pod = {.container_id = "abc", .ports = bad[i], .n_ports = 1};
		assert_null(cni_port_mappings(&pod, &err));
		assert_int_equal(err->code, GRPC_INVALID_ARGUMENT);
		assert_non_null(strstr(err->msg, what[i]));
		err_clear(&err);
	}
	struct cni_port_mapping v6 = {.container_port = 80, .host_port = 80, .host_ip = "::1"};
	struct cni_pod pod = {.container_id = "abc", .ports = &v6, .n_ports = 1};
	json_t *pm = cni_port_mappings(&pod, &err);
	assert_json_equal(pm, "[{\"hostPort\":80,\"containerPort\":80,\"protocol\":\"tcp\",\"hostIP\":\"::1\"}]");
	json_decref(pm);
}

static void test_cni_args(void **state)
{
	(void)state;
	ocid_error *err = NULL;
	struct cni_pod pod = {.container_id = "0123abcd",
			      .pod_namespace = "default",
			      .pod_name = "nginx-1",
			      .pod_uid = "6f0a3c5e-1111-2222-3333-444455556666"};
	char *args = cni_build_args(&pod, &err);
	assert_string_equal(args, "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=nginx-1;"
				  "K8S_POD_INFRA_CONTAINER_ID=0123abcd;K8S_POD_UID=6f0a3c5e-1111-2222-3333-444455556666");
	free(args);

	struct cni_pod empty = {.container_id = "x"};
	args = cni_build_args(&empty, &err);
	assert_string_equal(args, "IgnoreUnknown=1;K8S_POD_NAMESPACE=;K8S_POD_NAME=;K8S_POD_INFRA_CONTAINER_ID=x;K8S_POD_UID=");
	free(args);

	pod.pod_name = "evil;K8S_POD_NAMESPACE=kube-system";
	assert_null(cni_build_args(&pod, &err));
	assert_int_equal(err->code, GRPC_INVALID_ARGUMENT);
	assert_non_null(strstr(err->msg, "K8S_POD_NAME"));
	err_clear(&err);
	pod.pod_name = "ok";
	pod.pod_namespace = "a=b";
	assert_null(cni_build_args(&pod, &err));
	assert_non_null(strstr(err->msg, "K8S_POD_NAMESPACE"));
	err_clear(&err);
}

static void test_check_pod(void **state)
{
	(void)state;
	ocid_error *err = NULL;
	struct cni_pod pod = {.container_id = "abc_1.2-3"};
	assert_int_equal(cni_check_pod(&pod, false, &err), 0);
	const char *bad_ids[] = {"", "-abc", "a/b", "a b", "a;b"};
	for (size_t i = 0; i < 5; i++) {
		pod.container_id = bad_ids[i];
		assert_int_equal(cni_check_pod(&pod, false, &err), -1);
		assert_int_equal(err->code, GRPC_INVALID_ARGUMENT);
		err_clear(&err);
	}
	pod.container_id = "abc";
	const char *bad_if[] = {"0123456789abcdef", "a/b", "a:b", "a b", ".", ".."};
	for (size_t i = 0; i < 6; i++) {
		pod.ifname = bad_if[i];
		assert_int_equal(cni_check_pod(&pod, false, &err), -1);
		assert_non_null(strstr(err->msg, "interface name"));
		err_clear(&err);
	}
	pod.ifname = "net1";
	assert_int_equal(cni_check_pod(&pod, true, &err), -1);
	assert_int_equal(err->code, GRPC_FAILED_PRECONDITION);
	err_clear(&err);
	pod.netns = "/etc/hostname";
	assert_int_equal(cni_check_pod(&pod, true, &err), -1);
	assert_non_null(strstr(err->msg, "is not a network namespace"));
	err_clear(&err);
	pod.netns = "/proc/self/ns/net";
	assert_int_equal(cni_check_pod(&pod, true, &err), 0);
}

/* ---- results ---- */

static void test_result_031(void **state)
{
	(void)state;
	struct cni_result *r = NULL;
	ocid_error *err = NULL;
	assert_int_equal(
		cni_result_parse("{\"cniVersion\":\"0.3.1\","
				 "\"interfaces\":[{\"name\":\"cni0\",\"mac\":\"aa:bb:cc:dd:ee:ff\"},"
				 "{\"name\":\"vethab\",\"mac\":\"11:22:33:44:55:66\"},"
				 "{\"name\":\"eth0\",\"mac\":\"de:ad:be:ef:00:01\",\"sandbox\":\"/run/netns/x\"}],"
				 "\"ips\":[{\"version\":\"4\",\"interface\":2,\"address\":\"10.88.0.5/16\",\"gateway\":\"10.88.0.1\"}],"
				 "\"routes\":[{\"dst\":\"0.0.0.0/0\"}],\"dns\":{}}",
				 &r, &err),
		0);
	assert_string_equal(r->cni_version, "0.3.1");
	assert_int_equal(r->n_interfaces, 3);
	assert_string_equal(r->interfaces[2].name, "eth0");
	assert_string_equal(r->interfaces[2].sandbox, "/run/netns/x");
	assert_string_equal(r->interfaces[0].sandbox, "");
	assert_int_equal(r->n_ips, 1);
	assert_string_equal(r->ips[0].address, "10.88.0.5/16");
	assert_string_equal(r->ips[0].ip, "10.88.0.5");
	assert_int_equal(r->ips[0].family, 4);
	assert_int_equal(r->ips[0].prefix_len, 16);
	assert_string_equal(r->ips[0].gateway, "10.88.0.1");
	assert_int_equal(r->ips[0].interface, 2);
	assert_int_equal(r->n_routes, 1);
	assert_string_equal(r->routes[0].dst, "0.0.0.0/0");
	assert_string_equal(r->routes[0].gw, "");
	assert_null(r->dns.nameservers[0]);
	assert_string_equal(r->dns.domain, "");
	assert_non_null(strstr(r->json, "\"10.88.0.5/16\""));
	cni_result_free(r);
}

static void test_result_040_dual_stack(void **state)
{
	(void)state;
	struct cni_result *r = NULL;
	ocid_error *err = NULL;
	assert_int_equal(cni_result_parse("{\"cniVersion\":\"0.4.0\",\"interfaces\":[{\"name\":\"eth0\",\"sandbox\":\"/n\"}],"
					  "\"ips\":[{\"version\":\"4\",\"interface\":0,\"address\":\"10.1.0.9/24\"},"
					  "{\"version\":\"6\",\"interface\":0,\"address\":\"fd00:10::9/64\",\"gateway\":\"fd00:10::1\"}],"
					  "\"routes\":[{\"dst\":\"::/0\",\"gw\":\"fd00:10::1\"}],"
					  "\"dns\":{\"nameservers\":[\"10.1.0.1\",\"fd00::53\"],\"domain\":\"cluster.local\","
					  "\"search\":[\"svc.cluster.local\"],\"options\":[\"ndots:5\"]}}",
					  &r, &err),
			 0);
	assert_int_equal(r->n_ips, 2);
	assert_int_equal(r->ips[1].family, 6);
	assert_string_equal(r->ips[1].ip, "fd00:10::9");
	assert_int_equal(r->ips[1].prefix_len, 64);
	assert_string_equal(r->routes[0].gw, "fd00:10::1");
	assert_string_equal(r->dns.nameservers[0], "10.1.0.1");
	assert_string_equal(r->dns.nameservers[1], "fd00::53");
	assert_null(r->dns.nameservers[2]);
	assert_string_equal(r->dns.domain, "cluster.local");
	assert_string_equal(r->dns.search[0], "svc.cluster.local");
	assert_string_equal(r->dns.options[0], "ndots:5");
	cni_result_free(r);
}

static void test_result_100(void **state)
{
	(void)state;
	struct cni_result *r = NULL;
	ocid_error *err = NULL;
	/* 1.0.0 has no "version" in ips; an IPAM-style result without interfaces. */
	assert_int_equal(cni_result_parse("{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.89.77.2/24\","
					  "\"gateway\":\"10.89.77.1\"},{\"address\":\"2001:db8::2/64\"}]}",
					  &r, &err),
			 0);
	assert_int_equal(r->n_interfaces, 0);
	assert_int_equal(r->n_ips, 2);
	assert_int_equal(r->ips[0].family, 4);
	assert_int_equal(r->ips[0].interface, -1);
	assert_int_equal(r->ips[1].family, 6);
	assert_int_equal(r->n_routes, 0);
	cni_result_free(r);

	/* A minimal result (e.g. a plugin that only configures the host). */
	assert_int_equal(cni_result_parse("{\"cniVersion\":\"1.0.0\"}", &r, &err), 0);
	assert_int_equal(r->n_ips, 0);
	cni_result_free(r);
}

static void result_fails(const char *json, const char *needle)
{
	struct cni_result *r = NULL;
	ocid_error *err = NULL;
	assert_int_equal(cni_result_parse(json, &r, &err), -1);
	assert_null(r);
	if (strstr(err->msg, needle) == NULL)
		fail_msg("error \"%s\" does not mention \"%s\"", err->msg, needle);
	err_free(err);
}

static void test_result_invalid(void **state)
{
	(void)state;
	result_fails("", "CNI result");
	result_fails("[]", "not a JSON object");
	result_fails("{\"ips\":[]}", "no cniVersion");
	result_fails("{\"cniVersion\":\"0.2.0\",\"ip4\":{\"ip\":\"10.0.0.1/24\"}}", "version \"0.2.0\" is not supported");
	result_fails("{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.0.0.1\"}]}", "not an address in CIDR form");
	result_fails("{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.0.0.1/33\"}]}", "CIDR");
	result_fails("{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"300.0.0.1/24\"}]}", "CIDR");
	result_fails("{\"cniVersion\":\"1.0.0\",\"ips\":[{}]}", "ips[0] has no address");
	result_fails("{\"cniVersion\":\"0.3.1\",\"ips\":[{\"version\":\"6\",\"address\":\"10.0.0.1/24\"}]}",
		     "version \"6\" does not match");
	result_fails("{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.0.0.1/24\",\"interface\":0}]}",
		     "invalid interface index");
	result_fails("{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.0.0.1/24\",\"gateway\":\"::1\"}]}",
		     "invalid gateway");
	result_fails("{\"cniVersion\":\"1.0.0\",\"routes\":[{\"gw\":\"10.0.0.1\"}]}", "routes[0]: invalid dst");
	result_fails("{\"cniVersion\":\"1.0.0\",\"interfaces\":[{}]}", "interfaces[0] has no name");
	result_fails("{\"cniVersion\":\"1.0.0\",\"dns\":{\"nameservers\":\"10.0.0.1\"}}", "dns.nameservers");
}

/* ---- plugin errors ---- */

static void test_plugin_error(void **state)
{
	(void)state;
	int code = -1;
	char *m = cni_plugin_error("bridge", "exited with status 1",
				   "{\"cniVersion\":\"1.0.0\",\"code\":7,\"msg\":\"invalid config\",\"details\":\"no subnet\"}\n",
				   "", &code);
	assert_string_equal(m, "plugin bridge failed (code 7): invalid config: no subnet");
	assert_int_equal(code, 7);
	free(m);

	m = cni_plugin_error("host-local", "exited with status 1", "{\"code\":11,\"msg\":\"busy\"}", "junk", &code);
	assert_string_equal(m, "plugin host-local failed (code 11): busy");
	assert_int_equal(code, 11);
	free(m);

	m = cni_plugin_error("x", "exited with status 2", "not json", "  panic: oh no\n", &code);
	assert_string_equal(m, "plugin x failed: exited with status 2: panic: oh no");
	assert_int_equal(code, 0);
	free(m);

	m = cni_plugin_error("x", "killed by signal 9 (SIGKILL)", "", "", &code);
	assert_string_equal(m, "plugin x failed: killed by signal 9 (SIGKILL)");
	free(m);

	m = cni_plugin_error("x", "exited with status 1", "plain words on stdout", "", &code);
	assert_string_equal(m, "plugin x failed: exited with status 1: plain words on stdout");
	free(m);
}

/* ---- chains against fake plugins ---- */

static char plugdir[64], confdir[64], recdir[64];
static char *plugin_dirs[3];
static struct ocid_network_config netcfg;

static const char fake_plugin[] =
	"#!/bin/sh\n"
	"d=%s\n"
	"t=$(basename \"$0\")\n"
	"cat > \"$d/in-$t-$CNI_COMMAND\"\n"
	"env | sort > \"$d/env-$t-$CNI_COMMAND\"\n"
	"echo \"$CNI_COMMAND $t\" >> \"$d/log\"\n"
	"case \"$t-$CNI_COMMAND\" in\n"
	"fake-a-ADD) echo '{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"name\":\"eth0\",\"sandbox\":\"/x\"}],"
	"\"ips\":[{\"address\":\"10.1.2.3/24\",\"interface\":0}]}' ;;\n"
	"fake-b-ADD) echo '{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"name\":\"eth0\",\"sandbox\":\"/x\"}],"
	"\"ips\":[{\"address\":\"10.1.2.3/24\",\"gateway\":\"10.1.2.1\",\"interface\":0},{\"address\":\"fd00::3/64\"}],"
	"\"dns\":{\"nameservers\":[\"10.1.2.1\"]}}' ;;\n"
	"fake-fail-ADD) echo '{\"cniVersion\":\"1.0.0\",\"code\":7,\"msg\":\"boom\",\"details\":\"on purpose\"}'; exit 1 ;;\n"
	"fake-faildel-DEL) echo '{\"cniVersion\":\"1.0.0\",\"code\":11,\"msg\":\"cannot delete\"}'; exit 1 ;;\n"
	"fake-slow-ADD) exec sleep 30 ;;\n"
	"fake-noresult-ADD) ;;\n"
	"*-ADD) echo '{\"cniVersion\":\"1.0.0\"}' ;;\n"
	"esac\n"
	"exit 0\n";

static int setup_chains(void **state)
{
	(void)state;
	snprintf(plugdir, sizeof(plugdir), "%s/plugins", tmpdir);
	snprintf(confdir, sizeof(confdir), "%s/net.d", tmpdir);
	snprintf(recdir, sizeof(recdir), "%s/rec", tmpdir);
	mkdir(plugdir, 0755);
	mkdir(confdir, 0755);
	mkdir(recdir, 0755);
	char script[4096];
	snprintf(script, sizeof(script), fake_plugin, recdir);
	char *main_path = write_file(plugdir, "fake-a", script);
	chmod(main_path, 0755);
	const char *links[] = {"fake-b", "fake-fail", "fake-faildel", "fake-slow", "fake-noresult", "fake-c"};
	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
		char *l = NULL;
		assert_true(asprintf(&l, "%s/%s", plugdir, links[i]) > 0);
		if (symlink(main_path, l) < 0)
			return -1;
		free(l);
	}
	free(main_path);
	/* A non-executable file with a plugin's name is skipped. */
	char *nx = write_file(plugdir, "fake-noexec", "#!/bin/sh\n");
	chmod(nx, 0644);
	free(nx);
	plugin_dirs[0] = "/nonexistent/cni";
	plugin_dirs[1] = plugdir;
	plugin_dirs[2] = NULL;
	netcfg.network_dir = confdir;
	netcfg.plugin_dirs = plugin_dirs;
	netcfg.cni_default_network = "";
	return 0;
}

static void reset_records(void)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "rm -f %s/* %s/*", recdir, confdir);
	assert_int_equal(system(cmd), 0);
}

static void write_net(const char *version, const char *plugins, bool disable_check)
{
	char text[2048];
	snprintf(text, sizeof(text), "{\"cniVersion\":\"%s\",\"name\":\"fakenet\",%s\"plugins\":[%s]}", version,
		 disable_check ? "\"disableCheck\":true," : "", plugins);
	free(write_file(confdir, "10-fake.conflist", text));
}

static char *record(const char *name)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", recdir, name);
	return read_file(path);
}

static void assert_log(const char *want)
{
	char *log = record("log");
	if (want == NULL) {
		assert_null(log);
		return;
	}
	assert_non_null(log);
	assert_string_equal(log, want);
	free(log);
}

static json_t *record_json(const char *name)
{
	char *text = record(name);
	assert_non_null(text);
	json_t *j = J(text);
	free(text);
	return j;
}

static const struct cni_port_mapping one_port[] = {{.container_port = 80, .host_port = 8080, .protocol = CNI_PROTO_TCP}};

static struct cni_pod fake_pod(void)
{
	return (struct cni_pod){.container_id = "pod1234",
				.netns = "/proc/self/ns/net",
				.pod_namespace = "ns1",
				.pod_name = "web",
				.pod_uid = "uid-1",
				.ports = one_port,
				.n_ports = 1};
}

static void test_chain_add_del(void **state)
{
	(void)state;
	reset_records();
	write_net("1.0.0", "{\"type\":\"fake-a\",\"x\":1},{\"type\":\"fake-b\",\"capabilities\":{\"portMappings\":true}}",
		  false);
	struct cni_call call = {.cfg = &netcfg, .deadline_ns = spawn_deadline_ms(10000)};
	struct cni_pod pod = fake_pod();
	struct cni_result *res = NULL;
	char *cache = NULL;
	ocid_error *err = NULL;
	if (cni_add(&call, &pod, &res, &cache, &err) < 0)
		fail_msg("ADD: %s", err->msg);
	assert_log("ADD fake-a\nADD fake-b\n");

	/* The first plugin: no prevResult, no runtimeConfig. */
	json_t *in_a = record_json("in-fake-a-ADD");
	assert_json_equal(in_a, "{\"type\":\"fake-a\",\"x\":1,\"cniVersion\":\"1.0.0\",\"name\":\"fakenet\"}");
	json_decref(in_a);
	/* The second: the first one's result and its portMappings. */
	json_t *in_b = record_json("in-fake-b-ADD");
	assert_json_equal(in_b, "{\"type\":\"fake-b\",\"cniVersion\":\"1.0.0\",\"name\":\"fakenet\","
				"\"runtimeConfig\":{\"portMappings\":[{\"hostPort\":8080,\"containerPort\":80,\"protocol\":\"tcp\"}]},"
				"\"prevResult\":{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"name\":\"eth0\",\"sandbox\":\"/x\"}],"
				"\"ips\":[{\"address\":\"10.1.2.3/24\",\"interface\":0}]}}");
	json_decref(in_b);

	/* The environment: exactly the CNI variables and PATH. */
	char *env = record("env-fake-a-ADD");
	char want_env[1024];
	snprintf(want_env, sizeof(want_env),
		 "CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=web;K8S_POD_INFRA_CONTAINER_ID=pod1234;"
		 "K8S_POD_UID=uid-1\nCNI_COMMAND=ADD\nCNI_CONTAINERID=pod1234\nCNI_IFNAME=eth0\n"
		 "CNI_NETNS=/proc/self/ns/net\nCNI_PATH=/nonexistent/cni:%s\n",
		 plugdir);
	assert_memory_equal(env, want_env, strlen(want_env));
	assert_non_null(strstr(env, "\nPATH="));
	assert_null(strstr(env, "HOME="));
	free(env);

	/* The final result is the last plugin's. */
	assert_int_equal(res->n_ips, 2);
	assert_string_equal(res->ips[0].ip, "10.1.2.3");
	assert_string_equal(res->ips[1].ip, "fd00::3");
	assert_string_equal(res->dns.nameservers[0], "10.1.2.1");
	cni_result_free(res);

	/* The cache gives the result back. */
	char *netname = NULL;
	assert_int_equal(cni_cache_result(cache, &res, &netname, &err), 0);
	assert_string_equal(netname, "fakenet");
	assert_int_equal(res->n_ips, 2);
	free(netname);
	cni_result_free(res);

	/* CHECK in order, with the cached result. */
	reset_records();
	assert_int_equal(cni_check(&call, &pod, cache, &err), 0);
	assert_log("CHECK fake-a\nCHECK fake-b\n");
	json_t *in_check = record_json("in-fake-a-CHECK");
	assert_int_equal(json_array_size(json_object_get(json_object_get(in_check, "prevResult"), "ips")), 2);
	json_decref(in_check);

	/* DEL in reverse, with the cached result, even after the config file
	 * is gone (the cache holds the network). */
	reset_records();
	assert_int_equal(cni_del(&call, &pod, cache, &err), 0);
	assert_log("DEL fake-b\nDEL fake-a\n");
	json_t *in_del = record_json("in-fake-a-DEL");
	assert_int_equal(json_array_size(json_object_get(json_object_get(in_del, "prevResult"), "ips")), 2);
	assert_string_equal(json_string_value(json_object_get(in_del, "name")), "fakenet");
	json_decref(in_del);
	env = record("env-fake-b-DEL");
	assert_non_null(strstr(env, "CNI_COMMAND=DEL\n"));
	assert_non_null(strstr(env, "CNI_NETNS=/proc/self/ns/net\n"));
	free(env);
	free(cache);
}

static void test_chain_del_without_netns_or_cache(void **state)
{
	(void)state;
	reset_records();
	write_net("0.4.0", "{\"type\":\"fake-a\"},{\"type\":\"fake-b\"}", false);
	struct cni_call call = {.cfg = &netcfg};
	struct cni_pod pod = fake_pod();
	char gone[128];
	snprintf(gone, sizeof(gone), "%s/no-such-netns", tmpdir);
	pod.netns = gone;
	ocid_error *err = NULL;
	assert_int_equal(cni_del(&call, &pod, NULL, &err), 0);
	assert_log("DEL fake-b\nDEL fake-a\n");
	char *env = record("env-fake-a-DEL");
	assert_null(strstr(env, "CNI_NETNS"));
	free(env);
	json_t *in = record_json("in-fake-a-DEL");
	assert_null(json_object_get(in, "prevResult"));
	json_decref(in);

	/* A garbage cache falls back to the current config. */
	reset_records();
	write_net("0.4.0", "{\"type\":\"fake-a\"}", false);
	pod.netns = NULL;
	assert_int_equal(cni_del(&call, &pod, "{not json", &err), 0);
	assert_log("DEL fake-a\n");

	/* Neither a cache nor a config: nothing to run, a clear error. */
	reset_records();
	assert_int_equal(cni_del(&call, &pod, NULL, &err), -1);
	assert_int_equal(err->code, GRPC_FAILED_PRECONDITION);
	assert_non_null(strstr(err->msg, "no CNI configuration file"));
	err_clear(&err);
}

static void test_chain_add_fails_midway(void **state)
{
	(void)state;
	reset_records();
	write_net("1.0.0", "{\"type\":\"fake-a\"},{\"type\":\"fake-fail\"},{\"type\":\"fake-c\"}", false);
	struct cni_call call = {.cfg = &netcfg, .deadline_ns = spawn_deadline_ms(10000)};
	struct cni_pod pod = fake_pod();
	struct cni_result *res = NULL;
	char *cache = NULL;
	ocid_error *err = NULL;
	assert_int_equal(cni_add(&call, &pod, &res, &cache, &err), -1);
	assert_null(res);
	assert_null(cache);
	assert_int_equal(err->code, GRPC_UNKNOWN);
	assert_string_equal(err->msg, "CNI ADD in network fakenet: plugin fake-fail failed (code 7): boom: on purpose");
	err_clear(&err);
	/* The whole chain was deleted again, in reverse. */
	assert_log("ADD fake-a\nADD fake-fail\nDEL fake-c\nDEL fake-fail\nDEL fake-a\n");
	/* The undo tells plugins what had been set up so far. */
	json_t *in = record_json("in-fake-c-DEL");
	assert_non_null(json_object_get(json_object_get(in, "prevResult"), "ips"));
	json_decref(in);

	/* A plugin that returns no result on ADD is a failure too. */
	reset_records();
	write_net("1.0.0", "{\"type\":\"fake-a\"},{\"type\":\"fake-noresult\"}", false);
	assert_int_equal(cni_add(&call, &pod, &res, &cache, &err), -1);
	assert_non_null(strstr(err->msg, "plugin fake-noresult (ADD) returned no valid result: empty output"));
	err_clear(&err);
	assert_log("ADD fake-a\nADD fake-noresult\nDEL fake-noresult\nDEL fake-a\n");

	/* If undoing fails too, both are reported. */
	reset_records();
	write_net("1.0.0", "{\"type\":\"fake-faildel\"},{\"type\":\"fake-fail\"}", false);
	assert_int_equal(cni_add(&call, &pod, &res, &cache, &err), -1);
	assert_non_null(strstr(err->msg, "plugin fake-fail failed (code 7): boom: on purpose; undoing it failed too: "
					 "CNI DEL in network fakenet: plugin fake-faildel failed (code 11): cannot delete"));
	err_clear(&err);
	assert_log("ADD fake-faildel\nADD fake-fail\nDEL fake-fail\nDEL fake-faildel\n");
}

static void test_chain_missing_plugin(void **state)
{
	(void)state;
	reset_records();
	write_net("1.0.0", "{\"type\":\"fake-a\"},{\"type\":\"ocid-no-such-plugin\"}", false);
	struct cni_call call = {.cfg = &netcfg};
	struct cni_pod pod = fake_pod();
	char *cache = NULL;
	ocid_error *err = NULL;
	assert_int_equal(cni_add(&call, &pod, NULL, &cache, &err), -1);
	assert_int_equal(err->code, GRPC_FAILED_PRECONDITION);
	char want[512];
	snprintf(want, sizeof(want), "failed to find CNI plugin \"ocid-no-such-plugin\" in [/nonexistent/cni %s]", plugdir);
	assert_non_null(strstr(err->msg, want));
	err_clear(&err);
	assert_log(NULL); /* nothing ran */

	/* Not executable = not found. */
	write_net("1.0.0", "{\"type\":\"fake-noexec\"}", false);
	assert_int_equal(cni_add(&call, &pod, NULL, &cache, &err), -1);
	assert_non_null(strstr(err->msg, "\"fake-noexec\""));
	err_clear(&err);

	/* DEL still runs the plugins it finds, and reports the missing one. */
	reset_records();
	write_net("1.0.0", "{\"type\":\"fake-a\"},{\"type\":\"ocid-no-such-plugin\"}", false);
	assert_int_equal(cni_del(&call, &pod, NULL, &err), -1);
	assert_non_null(strstr(err->msg, "ocid-no-such-plugin"));
	err_clear(&err);
	assert_log("DEL fake-a\n");
}

static void test_chain_del_continues(void **state)
{
	(void)state;
	reset_records();
	write_net("1.0.0", "{\"type\":\"fake-a\"},{\"type\":\"fake-faildel\"},{\"type\":\"fake-b\"}", false);
	struct cni_call call = {.cfg = &netcfg};
	struct cni_pod pod = fake_pod();
	ocid_error *err = NULL;
	assert_int_equal(cni_del(&call, &pod, NULL, &err), -1);
	assert_int_equal(err->code, GRPC_UNAVAILABLE); /* code 11: try again later */
	assert_string_equal(err->msg, "CNI DEL in network fakenet: plugin fake-faildel failed (code 11): cannot delete");
	err_clear(&err);
	assert_log("DEL fake-b\nDEL fake-faildel\nDEL fake-a\n");
}

static void test_chain_check_rules(void **state)
{
	(void)state;
	struct cni_call call = {.cfg = &netcfg};
	struct cni_pod pod = fake_pod();
	ocid_error *err = NULL;
	char *cache = NULL;

	/* disableCheck: CHECK runs nothing. */
	reset_records();
	write_net("1.0.0", "{\"type\":\"fake-a\"}", true);
	assert_int_equal(cni_add(&call, &pod, NULL, &cache, &err), 0);
	reset_records();
	assert_int_equal(cni_check(&call, &pod, cache, &err), 0);
	assert_log(NULL);
	free(cache);

	/* 0.3.1 has no CHECK, and DEL gets no prevResult. */
	reset_records();
	write_net("0.3.1", "{\"type\":\"fake-a\"}", false);
	assert_int_equal(cni_add(&call, &pod, NULL, &cache, &err), 0);
	reset_records();
	assert_int_equal(cni_check(&call, &pod, cache, &err), 0);
	assert_log(NULL);
	assert_int_equal(cni_del(&call, &pod, cache, &err), 0);
	json_t *in = record_json("in-fake-a-DEL");
	assert_null(json_object_get(in, "prevResult"));
	assert_string_equal(json_string_value(json_object_get(in, "cniVersion")), "0.3.1");
	json_decref(in);
	free(cache);

	/* CHECK needs the ADD's result and a live netns. */
	assert_int_equal(cni_check(&call, &pod, NULL, &err), -1);
	assert_int_equal(err->code, GRPC_FAILED_PRECONDITION);
	err_clear(&err);
	pod.netns = "/nonexistent";
	assert_int_equal(cni_check(&call, &pod, "{}", &err), -1);
	assert_non_null(strstr(err->msg, "not a network namespace"));
	err_clear(&err);

	/* ADD needs a netns. */
	assert_int_equal(cni_add(&call, &pod, NULL, &cache, &err), -1);
	assert_int_equal(err->code, GRPC_FAILED_PRECONDITION);
	err_clear(&err);
}

static void test_chain_deadline(void **state)
{
	(void)state;
	reset_records();
	write_net("1.0.0", "{\"type\":\"fake-a\"},{\"type\":\"fake-slow\"}", false);
	struct cni_call call = {.cfg = &netcfg, .deadline_ns = spawn_deadline_ms(300)};
	struct cni_pod pod = fake_pod();
	ocid_error *err = NULL;
	char *cache = NULL;
	int64_t t0 = spawn_now_ns();
	assert_int_equal(cni_add(&call, &pod, NULL, &cache, &err), -1);
	assert_true(spawn_now_ns() - t0 < 5000000000LL);
	assert_int_equal(err->code, GRPC_DEADLINE_EXCEEDED);
	assert_non_null(strstr(err->msg, "plugin fake-slow (ADD)"));
	err_clear(&err);
	/* The undo had its own budget: the whole chain was deleted. (Under heavy
	 * load the slow plugin may be killed before it logged its ADD.) */
	char *log = record("log");
	assert_non_null(log);
	if (strcmp(log, "ADD fake-a\nADD fake-slow\nDEL fake-slow\nDEL fake-a\n") != 0)
		assert_string_equal(log, "ADD fake-a\nDEL fake-slow\nDEL fake-a\n");
	free(log);
}

static void test_config_appears_later(void **state)
{
	(void)state;
	reset_records();
	struct cni_call call = {.cfg = &netcfg};
	struct cni_pod pod = fake_pod();
	ocid_error *err = NULL;
	char *cache = NULL;
	assert_int_equal(cni_add(&call, &pod, NULL, &cache, &err), -1);
	assert_int_equal(err->code, GRPC_FAILED_PRECONDITION);
	err_clear(&err);
	write_net("1.0.0", "{\"type\":\"fake-a\"}", false);
	assert_int_equal(cni_add(&call, &pod, NULL, &cache, &err), 0);
	assert_log("ADD fake-a\n");
	free(cache);

	/* cni_default_network picks a network by name. */
	reset_records();
	write_net("1.0.0", "{\"type\":\"fake-a\"}", false);
	free(write_file(confdir, "20-other.conflist",
			"{\"cniVersion\":\"1.0.0\",\"name\":\"other\",\"plugins\":[{\"type\":\"fake-b\"}]}"));
	netcfg.cni_default_network = "other";
	assert_int_equal(cni_add(&call, &pod, NULL, &cache, &err), 0);
	assert_log("ADD fake-b\n");
	free(cache);
	netcfg.cni_default_network = "missing";
	assert_int_equal(cni_add(&call, &pod, NULL, &cache, &err), -1);
	assert_non_null(strstr(err->msg, "no CNI network named \"missing\""));
	err_clear(&err);
	netcfg.cni_default_network = "";
}

static int setup_all(void **state)
{
	(void)state;
	strcpy(tmpdir, "/tmp/test_cni.XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	return setup_chains(state);
}

static int teardown_all(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_conflist),
		cmocka_unit_test(test_parse_single_conf),
		cmocka_unit_test(test_parse_invalid),
		cmocka_unit_test(test_versions),
		cmocka_unit_test(test_config_load),
		cmocka_unit_test(test_plugin_stdin),
		cmocka_unit_test(test_port_mappings_invalid),
		cmocka_unit_test(test_cni_args),
		cmocka_unit_test(test_check_pod),
		cmocka_unit_test(test_result_031),
		cmocka_unit_test(test_result_040_dual_stack),
		cmocka_unit_test(test_result_100),
		cmocka_unit_test(test_result_invalid),
		cmocka_unit_test(test_plugin_error),
		cmocka_unit_test(test_chain_add_del),
		cmocka_unit_test(test_chain_del_without_netns_or_cache),
		cmocka_unit_test(test_chain_add_fails_midway),
		cmocka_unit_test(test_chain_missing_plugin),
		cmocka_unit_test(test_chain_del_continues),
		cmocka_unit_test(test_chain_check_rules),
		cmocka_unit_test(test_chain_deadline),
		cmocka_unit_test(test_config_appears_later),
	};
	return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
