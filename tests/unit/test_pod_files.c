/* A pod's /etc files: resolv.conf from DnsConfig (rendering and the
 * kubelet's limits), a copy of the host's when DnsConfig is empty, hostname
 * and hosts files, each replaced atomically in the sandbox directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <dirent.h>
#include <unistd.h>
#include <cmocka.h>

#include "pod/sandbox_files.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static char *render_ok(const struct pod_dns_config *dns)
{
	char *out = NULL;
	ocid_error *err = NULL;
	if (pod_resolv_conf_render(dns, &out, &err) < 0)
		fail_msg("render failed: %s", err->msg);
	return out;
}

static void render_fails(const struct pod_dns_config *dns, const char *needle)
{
	char *out = NULL;
	ocid_error *err = NULL;
	assert_int_equal(pod_resolv_conf_render(dns, &out, &err), -1);
	assert_null(out);
	assert_int_equal(err->code, GRPC_INVALID_ARGUMENT);
	if (strstr(err->msg, needle) == NULL)
		fail_msg("\"%s\" lacks \"%s\"", err->msg, needle);
	err_free(err);
}

static void test_render_full(void **state)
{
	(void)state;
	const char *servers[] = {"10.96.0.10", "fd00::10"};
	const char *searches[] = {"default.svc.cluster.local", "svc.cluster.local",
				  "cluster.local."};
	const char *options[] = {"ndots:5", "edns0"};
	struct pod_dns_config dns = {servers, N(servers), searches, N(searches), options,
				     N(options)};
	char *out = render_ok(&dns);
	assert_string_equal(out, "nameserver 10.96.0.10\n"
				 "nameserver fd00::10\n"
				 "search default.svc.cluster.local svc.cluster.local cluster.local.\n"
				 "options ndots:5 edns0\n");
	free(out);

	/* Only what is given. */
	struct pod_dns_config only_opts = {.options = options, .n_options = 1};
	out = render_ok(&only_opts);
	assert_string_equal(out, "options ndots:5\n");
	free(out);
	const char *zoned[] = {"fe80::1%eth0"};
	struct pod_dns_config z = {.servers = zoned, .n_servers = 1};
	out = render_ok(&z);
	assert_string_equal(out, "nameserver fe80::1%eth0\n");
	free(out);

	assert_true(pod_dns_config_empty(NULL));
	struct pod_dns_config empty = {0};
	assert_true(pod_dns_config_empty(&empty));
	assert_false(pod_dns_config_empty(&only_opts));
}

static void test_render_validation(void **state)
{
	(void)state;
	const char *four[] = {"1.1.1.1", "8.8.8.8", "9.9.9.9", "1.0.0.1"};
	struct pod_dns_config dns = {.servers = four, .n_servers = 4};
	render_fails(&dns, "at most 3");
	const char *bad_ips[][1] = {{"1.1.1"}, {"dns.example.com"}, {"1.1.1.1 8.8.8.8"},
				    {"::g"}, {"1.1.1.1%eth0"}, {"fe80::1%"}, {""}};
	for (size_t i = 0; i < N(bad_ips); i++) {
		struct pod_dns_config d = {.servers = bad_ips[i], .n_servers = 1};
		render_fails(&d, "not an IP address");
	}

	const char *bad_search[][1] = {{"a..b"}, {".a"}, {"a b"}, {"a/b"}, {""}, {"."},
				       {"x\nnameserver 6.6.6.6"}};
	for (size_t i = 0; i < N(bad_search); i++) {
		struct pod_dns_config d = {.searches = bad_search[i], .n_searches = 1};
		render_fails(&d, "not a valid domain name");
	}
	char label[80];
	memset(label, 'l', 64);
	label[64] = '\0';
	const char *long_label[] = {label};
	struct pod_dns_config ll = {.searches = long_label, .n_searches = 1};
	render_fails(&ll, "not a valid domain name");

	/* 33 search domains: too many. */
	const char *many[33];
	for (size_t i = 0; i < 33; i++)
		many[i] = "example.com";
	struct pod_dns_config m = {.searches = many, .n_searches = 33};
	render_fails(&m, "at most 32");
	m.n_searches = 32;
	free(render_ok(&m));

	/* 32 domains of 70 characters: over the 2048-character search line. */
	char dom[80];
	memset(dom, 'a', 70);
	dom[70] = '\0';
	for (size_t i = 0; i < 60; i += 10)
		dom[i] = '.';
	dom[0] = 'a';
	const char *wide[32];
	for (size_t i = 0; i < 32; i++)
		wide[i] = dom;
	struct pod_dns_config w = {.searches = wide, .n_searches = 32};
	render_fails(&w, "at most 2048");

	const char *bad_opts[][1] = {{""}, {"nd ots"}, {"a#b"}, {"x\nnameserver 6.6.6.6"}};
	for (size_t i = 0; i < N(bad_opts); i++) {
		struct pod_dns_config d = {.options = bad_opts[i], .n_options = 1};
		render_fails(&d, "invalid option");
	}
}

static void test_hosts_render(void **state)
{
	(void)state;
	char *out = NULL;
	ocid_error *err = NULL;
	assert_int_equal(pod_hosts_render("mypod", NULL, 0, &out, &err), 0);
	assert_non_null(strstr(out, "127.0.0.1\tlocalhost\n"));
	assert_non_null(strstr(out, "::1\tlocalhost ip6-localhost ip6-loopback\n"));
	assert_null(strstr(out, "mypod"));
	free(out);

	const char *ips[] = {"10.88.0.5", "fd00::5"};
	assert_int_equal(pod_hosts_render("mypod", ips, 2, &out, &err), 0);
	assert_non_null(strstr(out, "\n10.88.0.5\tmypod\nfd00::5\tmypod\n"));
	free(out);

	const char *bad[] = {"10.88.0"};
	assert_int_equal(pod_hosts_render("mypod", bad, 1, &out, &err), -1);
	assert_int_equal(err->code, GRPC_INVALID_ARGUMENT);
	err_clear(&err);
	assert_int_equal(pod_hosts_render("my pod", NULL, 0, &out, &err), -1);
	err_clear(&err);
}

/* ---- files on disk ---- */

struct tmp {
	char dir[64];
};

static int setup_tmp(void **state)
{
	struct tmp *t = calloc(1, sizeof(*t));
	strcpy(t->dir, "/tmp/test_pod_files.XXXXXX");
	if (mkdtemp(t->dir) == NULL)
		return -1;
	*state = t;
	return 0;
}

static int teardown_tmp(void **state)
{
	struct tmp *t = *state;
	char *cmd = NULL;
	if (asprintf(&cmd, "rm -rf '%s'", t->dir) > 0 && system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", t->dir);
	free(cmd);
	free(t);
	return 0;
}

static char *slurp(const char *dir, const char *name)
{
	char *path = NULL;
	assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
	FILE *f = fopen(path, "r");
	free(path);
	if (f == NULL)
		return NULL;
	char *buf = calloc(1, 65536);
	size_t n = fread(buf, 1, 65535, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* Only the expected files: no temporary leftovers. */
static void assert_entries(const char *dir, size_t expected)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (strstr(de->d_name, ".tmp"))
			fail_msg("temporary file left: %s", de->d_name);
		n++;
	}
	closedir(d);
	assert_int_equal(n, expected);
}

static void test_write_files(void **state)
{
	struct tmp *t = *state;
	ocid_error *err = NULL;
	char sbx[128], host[128];
	snprintf(sbx, sizeof(sbx), "%s/sandbox", t->dir);
	snprintf(host, sizeof(host), "%s/host-resolv.conf", t->dir);
	assert_int_equal(mkdir(sbx, 0755), 0);

	/* Empty DnsConfig: the host's file, byte for byte. */
	const char *host_text = "# host\nnameserver 192.0.2.1\nsearch example.org\n";
	write_text(host, host_text);
	struct pod_dns_config empty = {0};
	assert_int_equal(pod_files_write_resolv_conf(sbx, &empty, host, &err), 0);
	char *got = slurp(sbx, "resolv.conf");
	assert_string_equal(got, host_text);
	free(got);
	assert_int_equal(pod_files_write_resolv_conf(sbx, NULL, host, &err), 0);

	/* A DnsConfig replaces it. */
	const char *servers[] = {"10.96.0.10"};
	struct pod_dns_config dns = {.servers = servers, .n_servers = 1};
	assert_int_equal(pod_files_write_resolv_conf(sbx, &dns, host, &err), 0);
	got = slurp(sbx, "resolv.conf");
	assert_string_equal(got, "nameserver 10.96.0.10\n");
	free(got);
	struct stat st;
	char path[256];
	snprintf(path, sizeof(path), "%s/resolv.conf", sbx);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);

	/* An invalid one leaves the previous file. */
	const char *bad[] = {"not-an-ip"};
	struct pod_dns_config bad_dns = {.servers = bad, .n_servers = 1};
	assert_int_equal(pod_files_write_resolv_conf(sbx, &bad_dns, host, &err), -1);
	assert_int_equal(err->code, GRPC_INVALID_ARGUMENT);
	err_clear(&err);
	got = slurp(sbx, "resolv.conf");
	assert_string_equal(got, "nameserver 10.96.0.10\n");
	free(got);

	/* No host file: an empty one. */
	char missing[160];
	snprintf(missing, sizeof(missing), "%s/none", t->dir);
	assert_int_equal(pod_files_write_resolv_conf(sbx, NULL, missing, &err), 0);
	got = slurp(sbx, "resolv.conf");
	assert_string_equal(got, "");
	free(got);

	assert_int_equal(pod_files_write_hostname(sbx, "web-0", &err), 0);
	got = slurp(sbx, "hostname");
	assert_string_equal(got, "web-0\n");
	free(got);
	assert_int_equal(pod_files_write_hostname(sbx, "-bad", &err), -1);
	err_clear(&err);

	assert_int_equal(pod_files_write_hosts(sbx, "web-0", NULL, 0, &err), 0);
	got = slurp(sbx, "hosts");
	assert_null(strstr(got, "web-0"));
	free(got);
	const char *ips[] = {"10.88.0.7"};
	assert_int_equal(pod_files_write_hosts(sbx, "web-0", ips, 1, &err), 0);
	got = slurp(sbx, "hosts");
	assert_non_null(strstr(got, "127.0.0.1\tlocalhost\n"));
	assert_non_null(strstr(got, "\n10.88.0.7\tweb-0\n"));
	free(got);

	assert_entries(sbx, 3);

	/* A directory that does not exist: a clear error. */
	char nodir[160];
	snprintf(nodir, sizeof(nodir), "%s/nodir", t->dir);
	assert_int_equal(pod_files_write_hostname(nodir, "web-0", &err), -1);
	assert_non_null(strstr(err->msg, "hostname"));
	err_clear(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_render_full),
		cmocka_unit_test(test_render_validation),
		cmocka_unit_test(test_hosts_render),
		cmocka_unit_test_setup_teardown(test_write_files, setup_tmp, teardown_tmp),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
