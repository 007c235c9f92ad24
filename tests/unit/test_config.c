/* ocid's config schema: defaults, file and drop-in overrides, errors that
 * name FILE:LINE, command-line flags, and printing that round-trips. */
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

#include "config/config.h"
#include "config/toml.h"

/* ---- helpers ---- */

struct tmp {
	char dir[64];
};

static int setup_tmp(void **state)
{
	struct tmp *t = calloc(1, sizeof(*t));
	strcpy(t->dir, "/tmp/test_config.XXXXXX");
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

/* Writes dir/name (creating dir/ parents one level deep); returns the path. */
static char *write_file(const char *dir, const char *name, const char *content)
{
	char *path = NULL;
	assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
	char *slash = strrchr(path, '/');
	*slash = '\0';
	mkdir(path, 0755);
	*slash = '/';
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
	return path;
}

static struct ocid_config *load_ok(const char *text)
{
	struct ocid_config *cfg = config_new();
	assert_non_null(cfg);
	ocid_error *err = NULL;
	int r = config_load_string(cfg, text, "c.conf", &err);
	if (r == 0)
		r = config_validate(cfg, &err);
	if (r < 0)
		print_error("unexpected error: %s\n", err->msg);
	assert_int_equal(r, 0);
	return cfg;
}

static void assert_msg(const ocid_error *err, const char *want)
{
	assert_non_null(err);
	if (strstr(err->msg, want) == NULL)
		print_error("error message \"%s\" lacks \"%s\"\n", err->msg, want);
	assert_non_null(strstr(err->msg, want));
}

/* Loading (then validating) text must fail with a message that contains
 * every piece (NULL-terminated). */
static void load_err_v(const char *text, ...)
{
	struct ocid_config *cfg = config_new();
	assert_non_null(cfg);
	ocid_error *err = NULL;
	int r = config_load_string(cfg, text, "c.conf", &err);
	if (r == 0)
		r = config_validate(cfg, &err);
	if (r == 0)
		print_error("unexpectedly accepted:\n%s\n", text);
	assert_int_equal(r, -1);
	assert_int_equal(err->code, GRPC_INVALID_ARGUMENT);
	va_list ap;
	va_start(ap, text);
	const char *piece;
	while ((piece = va_arg(ap, const char *)) != NULL)
		assert_msg(err, piece);
	va_end(ap);
	err_free(err);
	config_free(cfg);
}
#define load_err(text, ...) load_err_v((text), __VA_ARGS__, (const char *)NULL)

static void assert_strv(char *const *v, const char *const *want)
{
	size_t n = 0;
	while (want[n])
		n++;
	assert_int_equal(config_strv_len(v), n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(v[i], want[i]);
}
#define STRV(...) ((const char *const[]){__VA_ARGS__, NULL})
#define EMPTY ((const char *const[]){NULL})

/* Runs config_from_cli on a NULL-terminated argument list. */
static int run_cli(struct ocid_config **cfg, int *first, ocid_error **err, ...)
{
	char *argv[64];
	int argc = 0;
	va_list ap;
	va_start(ap, err);
	const char *a;
	while ((a = va_arg(ap, const char *)) != NULL && argc < 63)
		argv[argc++] = (char *)a;
	va_end(ap);
	argv[argc] = NULL;
	return config_from_cli(argc, argv, cfg, first, err);
}
#define CLI(cfg, first, err, ...)                                                                  \
	run_cli((cfg), (first), (err), "ocid", __VA_ARGS__, (const char *)NULL)

/* ---- defaults ---- */

static void test_defaults(void **state)
{
	(void)state;
	struct ocid_config *c = config_new();
	assert_non_null(c);
	assert_string_equal(c->root, "/var/lib/ocid");
	assert_string_equal(c->runroot, "/run/ocid");
	assert_string_equal(c->listen, "/run/ocid/ocid.sock");
	assert_int_equal(c->log_level, LOG_LEVEL_INFO);
	assert_int_equal(c->workers, 4);
	assert_int_equal(c->shutdown_timeout, 10);

	assert_string_equal(c->runtime.default_runtime, "runc");
	assert_null(c->runtime.default_runtime_origin);
	assert_string_equal(c->runtime.conmon, "/usr/bin/conmon");
	assert_strv(c->runtime.conmon_env, EMPTY);
	assert_string_equal(c->runtime.cgroup_manager, "cgroupfs");
	assert_strv(c->runtime.default_capabilities,
		    STRV("CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "SETGID", "SETUID", "SETPCAP",
			 "NET_BIND_SERVICE", "KILL"));
	assert_strv(c->runtime.default_sysctls, EMPTY);
	assert_strv(c->runtime.default_ulimits, EMPTY);
	assert_string_equal(c->runtime.seccomp_profile, "");
	assert_int_equal(c->runtime.log_size_max, -1);
	assert_int_equal(c->runtime.spare_container_dirs, 16);
	assert_int_equal(c->runtime.warm_rootfs, 16);
	assert_int_equal(c->runtime.pids_limit, 0);
	assert_int_equal(c->runtime.n_runtimes, 2);
	const struct ocid_runtime_handler *runc = config_find_runtime(c, "runc");
	assert_non_null(runc);
	assert_string_equal(runc->runtime_path, "/usr/bin/runc");
	assert_string_equal(runc->runtime_root, "/run/runc");
	assert_string_equal(runc->runtime_type, "oci");
	assert_null(runc->origin);
	const struct ocid_runtime_handler *crun = config_find_runtime(c, "crun");
	assert_string_equal(crun->runtime_path, "/usr/bin/crun");
	assert_string_equal(crun->runtime_root, "/run/crun");
	assert_null(config_find_runtime(c, "kata"));

	assert_string_equal(c->network.network_dir, "/etc/cni/net.d");
	assert_strv(c->network.plugin_dirs, STRV("/usr/lib/cni", "/opt/cni/bin"));
	assert_string_equal(c->network.cni_default_network, "");

	assert_strv(c->image.registries, STRV("docker.io"));
	assert_strv(c->image.insecure_registries, EMPTY);
	assert_int_equal(c->image.max_parallel_downloads, 3);
	assert_string_equal(c->image.global_auth_file, "");
	assert_int_equal(c->image.n_mirrors, 0);
	assert_null(config_find_mirrors(c, "docker.io"));

	assert_string_equal(c->stream.address, "127.0.0.1");
	assert_int_equal(c->stream.port, 0);
	assert_int_equal(c->stream.idle_timeout, 0);
	assert_null(c->config_path);
	assert_null(c->config_dir);

	ocid_error *err = NULL;
	assert_int_equal(config_validate(c, &err), 0);
	config_free(c);
	config_free(NULL);
}

/* ---- overrides ---- */

static void test_full_file(void **state)
{
	(void)state;
	struct ocid_config *c = load_ok(
		"# a full config\n"
		"[ocid]\n"
		"root = \"/srv/ocid\"\n"
		"runroot = \"/run/o\"\n"
		"listen = \"/run/o/o.sock\"\n"
		"log_level = \"debug\"\n"
		"workers = 8\n"
		"shutdown_timeout = 0\n"
		"[ocid.runtime]\n"
		"default_runtime = \"crun\"\n"
		"conmon = \"/opt/conmon\"\n"
		"conmon_env = [\"PATH=/usr/bin\", \"A=\"]\n"
		"cgroup_manager = \"cgroupfs\"\n"
		"default_capabilities = [\"chown\", \"CAP_KILL\", \"cap_net_raw\"]\n"
		"default_sysctls = [\"net.ipv4.ping_group_range=0 2147483647\"]\n"
		"default_ulimits = [\"nofile=1024:4096\", \"core=-1\", \"nproc=10:-1\"]\n"
		"seccomp_profile = \"/etc/ocid/seccomp.json\"\n"
		"log_size_max = 8192\n"
		"spare_container_dirs = 0\n"
		"warm_rootfs = 3\n"
		"pids_limit = 1024\n"
		"[ocid.network]\n"
		"network_dir = \"/etc/cni/other\"\n"
		"plugin_dirs = [\"/usr/libexec/cni\"]\n"
		"cni_default_network = \"podman\"\n"
		"[ocid.image]\n"
		"registries = [\"quay.io\", \"docker.io\"]\n"
		"insecure_registries = [\"localhost:5000\", \"10.0.0.0/8\"]\n"
		"max_parallel_downloads = 32\n"
		"global_auth_file = \"/etc/ocid/auth.json\"\n"
		"[ocid.stream]\n"
		"address = \"::1\"\n"
		"port = 10010\n"
		"idle_timeout = 300\n");
	assert_string_equal(c->root, "/srv/ocid");
	assert_string_equal(c->runroot, "/run/o");
	assert_string_equal(c->listen, "/run/o/o.sock");
	assert_int_equal(c->log_level, LOG_LEVEL_DEBUG);
	assert_int_equal(c->workers, 8);
	assert_int_equal(c->shutdown_timeout, 0);
	assert_string_equal(c->runtime.default_runtime, "crun");
	assert_string_equal(c->runtime.default_runtime_origin, "c.conf:10");
	assert_string_equal(c->runtime.conmon, "/opt/conmon");
	assert_strv(c->runtime.conmon_env, STRV("PATH=/usr/bin", "A="));
	/* capabilities are normalised to cri-o's form */
	assert_strv(c->runtime.default_capabilities, STRV("CHOWN", "KILL", "NET_RAW"));
	assert_strv(c->runtime.default_sysctls, STRV("net.ipv4.ping_group_range=0 2147483647"));
	assert_strv(c->runtime.default_ulimits, STRV("nofile=1024:4096", "core=-1", "nproc=10:-1"));
	assert_string_equal(c->runtime.seccomp_profile, "/etc/ocid/seccomp.json");
	assert_int_equal(c->runtime.log_size_max, 8192);
	assert_int_equal(c->runtime.spare_container_dirs, 0);
	assert_int_equal(c->runtime.warm_rootfs, 3);
	assert_int_equal(c->runtime.pids_limit, 1024);
	assert_string_equal(c->network.network_dir, "/etc/cni/other");
	assert_strv(c->network.plugin_dirs, STRV("/usr/libexec/cni"));
	assert_string_equal(c->network.cni_default_network, "podman");
	assert_strv(c->image.registries, STRV("quay.io", "docker.io"));
	assert_strv(c->image.insecure_registries, STRV("localhost:5000", "10.0.0.0/8"));
	assert_int_equal(c->image.max_parallel_downloads, 32);
	assert_string_equal(c->image.global_auth_file, "/etc/ocid/auth.json");
	assert_string_equal(c->stream.address, "::1");
	assert_int_equal(c->stream.port, 10010);
	assert_int_equal(c->stream.idle_timeout, 300);
	config_free(c);
}

static void test_partial_and_dotted(void **state)
{
	(void)state;
	/* only the keys given change; dotted keys work like tables */
	struct ocid_config *c = load_ok("ocid.workers = 2\n"
					"ocid.log_level = \"WARNING\"\n"
					"ocid.network.plugin_dirs = [\"/cni\"]\n"
					"[ocid.image]\n"
					"registries = []\n");
	assert_int_equal(c->workers, 2);
	assert_int_equal(c->log_level, LOG_LEVEL_WARN);
	assert_strv(c->image.registries, EMPTY);
	assert_strv(c->network.plugin_dirs, STRV("/cni"));
	assert_string_equal(c->root, "/var/lib/ocid");
	assert_int_equal(c->image.max_parallel_downloads, 3);
	config_free(c);
	/* TOML forbids a [header] for a table made by dotted keys */
	load_err("ocid.workers = 2\n[ocid]\n",
		 "c.conf:2:1: table [ocid] is already defined by dotted keys");
}

static void test_runtime_tables(void **state)
{
	(void)state;
	struct ocid_config *c = load_ok("[ocid.runtime]\n"
					"default_runtime = \"kata\"\n"
					"[ocid.runtime.runtimes.runc]\n"
					"runtime_root = \"/run/runc-ocid\"\n"
					"[ocid.runtime.runtimes.kata]\n"
					"runtime_path = \"/usr/bin/kata-runtime\"\n"
					"[ocid.runtime.runtimes.\"crun\"]\n"
					"runtime_path = \"/opt/crun\"\n"
					"runtime_type = \"oci\"\n");
	assert_int_equal(c->runtime.n_runtimes, 3);
	const struct ocid_runtime_handler *runc = config_find_runtime(c, "runc");
	assert_string_equal(runc->runtime_path, "/usr/bin/runc"); /* kept */
	assert_string_equal(runc->runtime_root, "/run/runc-ocid");
	const struct ocid_runtime_handler *crun = config_find_runtime(c, "crun");
	assert_string_equal(crun->runtime_path, "/opt/crun");
	assert_string_equal(crun->runtime_root, "/run/crun");
	const struct ocid_runtime_handler *kata = config_find_runtime(c, "kata");
	assert_ptr_equal(kata, &c->runtime.runtimes[2]);
	assert_string_equal(kata->runtime_path, "/usr/bin/kata-runtime");
	assert_string_equal(kata->runtime_root, ""); /* empty for new ones */
	assert_string_equal(kata->runtime_type, "oci");
	assert_string_equal(kata->origin, "c.conf:5");
	assert_string_equal(c->runtime.default_runtime, "kata");
	config_free(c);

	load_err("[ocid.runtime.runtimes.kata]\nruntime_root = \"/run/kata\"\n",
		 "c.conf:1: ocid.runtime.runtimes.kata: runtime_path is required");
	load_err("[ocid.runtime.runtimes.runc]\nruntime_type = \"vm\"\n",
		 "c.conf:2: ocid.runtime.runtimes.runc.runtime_type:",
		 "runtime type \"vm\" is not supported (only \"oci\")");
	load_err("[ocid.runtime.runtimes.runc]\nruntime_path = \"runc\"\n",
		 "c.conf:2: ocid.runtime.runtimes.runc.runtime_path: must be an absolute path");
	load_err("[ocid.runtime.runtimes.runc]\npath = \"/x\"\n",
		 "c.conf:2: ocid.runtime.runtimes.runc.path: unknown key");
	load_err("[ocid.runtime.runtimes.\"Kata.v2\"]\nruntime_path = \"/x\"\n",
		 "c.conf:1: ocid.runtime.runtimes.\"Kata.v2\": runtime name \"Kata.v2\" must be a "
		 "lowercase RFC 1123 label");
	load_err("[ocid.runtime]\nruntimes = 1\n",
		 "c.conf:2: ocid.runtime.runtimes: expected a table, got an integer");
	load_err("[ocid.runtime.runtimes]\nkata = \"/usr/bin/kata\"\n",
		 "c.conf:2: ocid.runtime.runtimes.kata: expected a table, got a string");
}

static void test_default_runtime_unknown(void **state)
{
	(void)state;
	load_err("[ocid]\n[ocid.runtime]\n\ndefault_runtime = \"kata\"\n",
		 "c.conf:4: ocid.runtime.default_runtime: runtime \"kata\" is not configured "
		 "(configured: runc, crun)");
	load_err("[ocid.runtime]\ndefault_runtime = \"Runc\"\n",
		 "c.conf:2: ocid.runtime.default_runtime: runtime name \"Runc\" must be a "
		 "lowercase");
}

static void test_mirrors_table(void **state)
{
	(void)state;
	struct ocid_config *c = load_ok("[ocid.image.mirrors]\n"
					"\"docker.io\" = [\"mirror.gcr.io\", \"localhost:5001\"]\n"
					"\"registry.k8s.io\" = []\n"
					"quay = [\"q.example.com\"]\n");
	assert_int_equal(c->image.n_mirrors, 3);
	assert_string_equal(c->image.mirrors[0].registry, "docker.io");
	assert_strv(config_find_mirrors(c, "docker.io"), STRV("mirror.gcr.io", "localhost:5001"));
	assert_strv(config_find_mirrors(c, "registry.k8s.io"), EMPTY);
	assert_strv(config_find_mirrors(c, "quay"), STRV("q.example.com"));
	assert_null(config_find_mirrors(c, "ghcr.io"));

	/* a later file replaces one registry's list and keeps the others */
	ocid_error *err = NULL;
	assert_int_equal(config_load_string(c,
					    "[ocid.image.mirrors]\n"
					    "\"docker.io\" = [\"other.example.com\"]\n"
					    "\"ghcr.io\" = [\"g.example.com\"]\n",
					    "d.conf", &err),
			 0);
	assert_int_equal(c->image.n_mirrors, 4);
	assert_strv(config_find_mirrors(c, "docker.io"), STRV("other.example.com"));
	assert_strv(config_find_mirrors(c, "quay"), STRV("q.example.com"));
	assert_strv(config_find_mirrors(c, "ghcr.io"), STRV("g.example.com"));
	config_free(c);

	load_err("[ocid.image.mirrors]\n\"docker.io\" = \"mirror.gcr.io\"\n",
		 "c.conf:2: ocid.image.mirrors.\"docker.io\": expected an array of strings, got a "
		 "string");
	load_err(
		"[ocid.image.mirrors]\n\"docker.io\" = [\n\"a\",\n1]\n",
		"c.conf:4: ocid.image.mirrors.\"docker.io\"[1]: expected a string, got an integer");
	load_err("[ocid.image.mirrors]\n\"docker.io\" = [\"https://m.example.com\"]\n",
		 "c.conf:2:", "must not have a scheme");
	load_err("[ocid.image.mirrors]\n\"docker io\" = []\n", "c.conf:2:", "contains a space");
}

/* ---- errors ---- */

static void test_unknown_keys(void **state)
{
	(void)state;
	load_err("[ocid]\nroot = \"/x\"\nworker = 3\n",
		 "c.conf:3: ocid.worker: unknown key (did you mean \"workers\"?)");
	load_err("[ocid.runtime]\n\n\nfoo_bar_baz = 1\n",
		 "c.conf:4: ocid.runtime.foo_bar_baz: unknown key");
	load_err("[ocid.runtim]\nconmon = \"/x\"\n",
		 "c.conf:1: ocid.runtim: unknown table (did you mean \"runtime\"?)");
	load_err("[ocid.image.mirror]\n",
		 "c.conf:1: ocid.image.mirror: unknown table (did you mean \"mirrors\"?)");
	load_err("[ocid.stream.extra]\nx = 1\n", "c.conf:1: ocid.stream.extra: unknown table");
	load_err("[crio]\nroot = \"/x\"\n",
		 "c.conf:1: crio: unknown table (only [ocid] tables are read)");
	load_err("\nroot = \"/x\"\n", "c.conf:2: root: unknown key (only [ocid] tables are read)");
	load_err("[[ocid]]\n", "c.conf:1: ocid: expected a table, got an array of tables");
	load_err("ocid = 1\n", "c.conf:1: ocid: expected a table, got an integer");
	load_err("[ocid]\n[[ocid.runtime]]\n",
		 "c.conf:2: ocid.runtime: expected a table, got an array of tables");
}

static void test_wrong_types(void **state)
{
	(void)state;
	load_err("[ocid]\nworkers = \"4\"\n",
		 "c.conf:2: ocid.workers: expected an integer, got a string");
	load_err("[ocid]\nroot = 1\n", "c.conf:2: ocid.root: expected a string, got an integer");
	load_err("[ocid]\nroot = [\"/x\"]\n",
		 "c.conf:2: ocid.root: expected a string, got an array");
	load_err("[ocid]\nlog_level = true\n",
		 "c.conf:2: ocid.log_level: expected a string, got a boolean");
	load_err("[ocid.root]\n", "c.conf:1: ocid.root: expected a string, got a table");
	load_err("[ocid.network]\nplugin_dirs = \"/opt/cni/bin\"\n",
		 "c.conf:2: ocid.network.plugin_dirs: expected an array of strings, got a string");
	load_err("[ocid.network]\nplugin_dirs = [\n  \"/a\",\n  2,\n]\n",
		 "c.conf:4: ocid.network.plugin_dirs[1]: expected a string, got an integer");
	load_err("[ocid.network]\nplugin_dirs = [[\"/a\"]]\n",
		 "c.conf:2: ocid.network.plugin_dirs[0]: expected a string, got an array");
	load_err("[ocid]\nstream = 1\n", "c.conf:2: ocid.stream: expected a table, got an integer");
}

static void test_bad_values(void **state)
{
	(void)state;
	load_err("[ocid]\nworkers = 0\n",
		 "c.conf:2: ocid.workers: must be between 1 and 64, got 0");
	load_err("[ocid]\nworkers = 65\n",
		 "c.conf:2: ocid.workers: must be between 1 and 64, got 65");
	load_err("[ocid]\nshutdown_timeout = -1\n",
		 "c.conf:2: ocid.shutdown_timeout: must be between 0 and 3600");
	load_err("[ocid]\nshutdown_timeout = 3601\n", "c.conf:2:", "between 0 and 3600");
	load_err("[ocid.image]\nmax_parallel_downloads = 33\n", "c.conf:2:", "between 1 and 32");
	load_err("[ocid.image]\nmax_parallel_downloads = 0\n", "c.conf:2:", "between 1 and 32");
	load_err("[ocid.stream]\nport = 65536\n",
		 "c.conf:2: ocid.stream.port: must be between 0 and 65535");
	load_err("[ocid.stream]\nport = -1\n", "c.conf:2:", "between 0 and 65535");
	load_err("[ocid.stream]\nidle_timeout = -5\n", "c.conf:2:", "ocid.stream.idle_timeout");
	load_err("[ocid.stream]\naddress = \"localhost\"\n",
		 "c.conf:2: ocid.stream.address: \"localhost\" is not an IPv4 or IPv6 address");
	load_err("[ocid]\nlog_level = \"verbose\"\n",
		 "c.conf:2: ocid.log_level: invalid log level \"verbose\"");
	load_err("[ocid]\nroot = \"var/lib/ocid\"\n",
		 "c.conf:2: ocid.root: must be an absolute path, got \"var/lib/ocid\"");
	load_err("[ocid]\nrunroot = \"\"\n", "c.conf:2: ocid.runroot: must be an absolute path");
	char *text = NULL;
	char longpath[200];
	memset(longpath, 'x', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	assert_true(asprintf(&text, "[ocid]\nlisten = \"%s\"\n", longpath) > 0);
	load_err(text, "c.conf:2: ocid.listen:", "too long for a unix socket path");
	free(text);
	load_err("[ocid.runtime]\ncgroup_manager = \"systemd\"\n",
		 "c.conf:2: ocid.runtime.cgroup_manager: the systemd cgroup manager is not "
		 "supported");
	load_err("[ocid.runtime]\ncgroup_manager = \"cgroupfs2\"\n", "c.conf:2:",
		 "unknown cgroup manager \"cgroupfs2\"");
	load_err("[ocid.runtime]\ndefault_capabilities = [\"CHOWN\", \"CAP_FLY\"]\n",
		 "c.conf:2: ocid.runtime.default_capabilities: unknown capability \"FLY\"");
	load_err("[ocid.runtime]\nconmon_env = [\"NOEQUALS\"]\n", "c.conf:2:", "KEY=VALUE");
	load_err("[ocid.runtime]\ndefault_sysctls = [\"=1\"]\n", "c.conf:2:", "name=value");
	load_err("[ocid.runtime]\ndefault_ulimits = [\"nofiles=1\"]\n", "c.conf:2:",
		 "unknown ulimit \"nofiles\"");
	load_err("[ocid.runtime]\ndefault_ulimits = [\"nofile=10:5\"]\n", "c.conf:2:",
		 "soft limit is above the hard limit");
	load_err("[ocid.runtime]\ndefault_ulimits = [\"nofile=a:5\"]\n", "c.conf:2:",
		 "must be integers");
	load_err("[ocid.runtime]\ndefault_ulimits = [\"nofile\"]\n", "c.conf:2:", "name=soft");
	load_err("[ocid.runtime]\nlog_size_max = 100\n",
		 "c.conf:2: ocid.runtime.log_size_max: must be negative (unlimited) or at least "
		 "8192");
	load_err("[ocid.runtime]\npids_limit = -2\n", "c.conf:2:", "between -1 and");
	load_err("[ocid.runtime]\nseccomp_profile = \"seccomp.json\"\n", "c.conf:2:",
		 "absolute path");
	load_err("[ocid.network]\nplugin_dirs = []\n",
		 "c.conf:2: ocid.network.plugin_dirs: must not be empty");
	load_err("[ocid.network]\nplugin_dirs = [\"/ok\", \"rel\"]\n",
		 "c.conf:2:", "absolute path");
	load_err("[ocid.image]\nregistries = [\"\"]\n", "c.conf:2:", "registry name is empty");
	/* syntax errors come through with the column too */
	load_err("[ocid]\nroot \"/x\"\n", "c.conf:2:6: expected '=' after key \"root\"");
}

static void test_validate_programmatic(void **state)
{
	(void)state;
	struct ocid_config *c = config_new();
	ocid_error *err = NULL;
	c->workers = 0;
	assert_int_equal(config_validate(c, &err), -1);
	assert_msg(err, "ocid.workers: must be between 1 and 64, got 0");
	err_clear(&err);
	c->workers = 4;
	free(c->stream.address);
	c->stream.address = NULL;
	assert_int_equal(config_validate(c, &err), -1);
	assert_msg(err, "ocid.stream.address: is not set");
	err_clear(&err);
	c->stream.address = strdup("10.1.2.3");
	free(c->runtime.runtimes[1].runtime_path);
	c->runtime.runtimes[1].runtime_path = strdup("");
	assert_int_equal(config_validate(c, &err), -1);
	assert_msg(err, "ocid.runtime.runtimes.crun: runtime_path is required");
	err_clear(&err);
	config_free(c);
}

/* ---- files and drop-ins ---- */

static void test_dropin_order(void **state)
{
	struct tmp *t = *state;
	char *main_path = write_file(t->dir, "ocid.conf",
				     "[ocid]\nworkers = 2\nlog_level = \"error\"\n"
				     "[ocid.image]\nregistries = [\"quay.io\"]\n");
	char *dir = NULL;
	assert_true(asprintf(&dir, "%s/ocid.conf.d", t->dir) > 0);
	free(write_file(dir, "10-b.conf", "[ocid]\nworkers = 10\nshutdown_timeout = 1\n"));
	free(write_file(dir, "9-late.conf", "[ocid]\nworkers = 9\n")); /* "9" sorts after "10" */
	free(write_file(dir, "05-a.conf", "[ocid]\nworkers = 5\nlog_level = \"trace\"\n"
					  "[ocid.runtime.runtimes.kata]\nruntime_path = \"/k\"\n"));
	free(write_file(dir, "20-c.conf", "[ocid.runtime]\ndefault_runtime = \"kata\"\n"));
	/* ignored: wrong suffix, hidden, and a directory */
	free(write_file(dir, "99-z.conf.bak", "[ocid]\nworkers = 99\n"));
	free(write_file(dir, ".hidden.conf", "[ocid]\nworkers = 98\n"));
	free(write_file(dir, "README", "not toml at all ["));
	char *sub = NULL;
	assert_true(asprintf(&sub, "%s/sub.conf", dir) > 0);
	assert_int_equal(mkdir(sub, 0755), 0);

	struct ocid_config *c = NULL;
	ocid_error *err = NULL;
	int first = -1;
	int r = CLI(&c, &first, &err, "--config", main_path, "--config-dir", dir);
	if (r != CONFIG_CLI_RUN)
		print_error("%s\n", err->msg);
	assert_int_equal(r, CONFIG_CLI_RUN);
	assert_int_equal(first, 5);
	assert_int_equal(c->workers, 9);
	assert_int_equal(c->shutdown_timeout, 1);
	assert_int_equal(c->log_level, LOG_LEVEL_TRACE);
	assert_strv(c->image.registries, STRV("quay.io"));
	assert_string_equal(c->runtime.default_runtime, "kata");
	assert_string_equal(config_find_runtime(c, "kata")->runtime_path, "/k");
	assert_string_equal(c->config_path, main_path);
	assert_string_equal(c->config_dir, dir);
	config_free(c);

	/* an error in a drop-in names that file and line */
	char *bad = write_file(dir, "50-bad.conf", "[ocid]\n\nworkers = \"x\"\n");
	r = CLI(&c, &first, &err, "--config", main_path, "--config-dir", dir);
	assert_int_equal(r, CONFIG_CLI_ERROR);
	assert_null(c);
	char *want = NULL;
	assert_true(asprintf(&want, "%s:3: ocid.workers: expected an integer", bad) > 0);
	assert_msg(err, want);
	err_clear(&err);
	free(want);
	unlink(bad);
	free(bad);

	/* a drop-in naming a runtime that no file defines */
	bad = write_file(dir, "60-rt.conf", "[ocid.runtime]\ndefault_runtime = \"gvisor\"\n");
	r = CLI(&c, &first, &err, "--config", main_path, "--config-dir", dir);
	assert_int_equal(r, CONFIG_CLI_ERROR);
	assert_true(asprintf(&want, "%s:2: ocid.runtime.default_runtime: runtime \"gvisor\" is not "
				    "configured (configured: runc, crun, kata)",
			     bad) > 0);
	assert_msg(err, want);
	err_clear(&err);
	free(want);
	unlink(bad);
	free(bad);

	free(sub);
	free(dir);
	free(main_path);
}

static void test_missing_files(void **state)
{
	struct tmp *t = *state;
	char *missing = NULL, *missing_dir = NULL;
	assert_true(asprintf(&missing, "%s/nope.conf", t->dir) > 0);
	assert_true(asprintf(&missing_dir, "%s/nope.d", t->dir) > 0);
	ocid_error *err = NULL;

	/* optional sources that do not exist leave the defaults */
	struct ocid_config *c = config_new();
	assert_int_equal(config_load_file(c, missing, true, &err), 0);
	assert_int_equal(config_load_dir(c, missing_dir, true, &err), 0);
	assert_null(err);
	assert_int_equal(c->workers, 4);
	/* required ones are errors */
	assert_int_equal(config_load_file(c, missing, false, &err), -1);
	assert_int_equal(err->code, GRPC_NOT_FOUND);
	assert_msg(err, missing);
	err_clear(&err);
	assert_int_equal(config_load_dir(c, missing_dir, false, &err), -1);
	assert_msg(err, missing_dir);
	err_clear(&err);
	config_free(c);

	/* --config given explicitly and missing: error */
	int first;
	assert_int_equal(CLI(&c, &first, &err, "--config", missing, "--config-dir", ""),
			 CONFIG_CLI_ERROR);
	assert_null(c);
	assert_msg(err, missing);
	assert_msg(err, "No such file");
	err_clear(&err);
	/* so is an explicit --config-dir */
	assert_int_equal(CLI(&c, &first, &err, "--config", "", "--config-dir", missing_dir),
			 CONFIG_CLI_ERROR);
	assert_msg(err, missing_dir);
	err_clear(&err);
	/* "" turns a source off */
	assert_int_equal(CLI(&c, &first, &err, "--config", "", "--config-dir", ""),
			 CONFIG_CLI_RUN);
	assert_null(c->config_path);
	assert_null(c->config_dir);
	assert_int_equal(c->workers, 4);
	config_free(c);
	/* a syntax error in the main file */
	char *path = write_file(t->dir, "bad.conf", "[ocid]\nroot = \"/x\n");
	assert_int_equal(CLI(&c, &first, &err, "-c", path, "-d", ""), CONFIG_CLI_ERROR);
	char *want = NULL;
	assert_true(asprintf(&want, "%s:2:8: unterminated string", path) > 0);
	assert_msg(err, want);
	err_clear(&err);
	free(want);
	free(path);
	free(missing);
	free(missing_dir);
}

/* ---- command line ---- */

static void test_flags_beat_file(void **state)
{
	struct tmp *t = *state;
	char *path = write_file(t->dir, "ocid.conf",
				"[ocid]\n"
				"root = \"/file/root\"\n"
				"runroot = \"/file/run\"\n"
				"listen = \"/file/sock\"\n"
				"log_level = \"error\"\n"
				"workers = 2\n"
				"[ocid.runtime]\n"
				"conmon = \"/file/conmon\"\n"
				"[ocid.network]\n"
				"network_dir = \"/file/net\"\n"
				"plugin_dirs = [\"/file/cni\"]\n");
	struct ocid_config *c = NULL;
	ocid_error *err = NULL;
	int first;
	int r = CLI(&c, &first, &err, "--config", path, "--config-dir", "", "--root", "/flag/root",
		    "--runroot=/flag/run", "--listen", "/flag/sock", "--log-level", "trace",
		    "--workers", "16", "--conmon", "/flag/conmon", "--cni-config-dir", "/flag/net",
		    "--cni-plugin-dir", "/flag/cni1", "--cni-plugin-dir", "/flag/cni2");
	if (r != CONFIG_CLI_RUN)
		print_error("%s\n", err->msg);
	assert_int_equal(r, CONFIG_CLI_RUN);
	assert_int_equal(first, 22);
	assert_string_equal(c->root, "/flag/root");
	assert_string_equal(c->runroot, "/flag/run");
	assert_string_equal(c->listen, "/flag/sock");
	assert_int_equal(c->log_level, LOG_LEVEL_TRACE);
	assert_int_equal(c->workers, 16);
	assert_string_equal(c->runtime.conmon, "/flag/conmon");
	assert_string_equal(c->network.network_dir, "/flag/net");
	assert_strv(c->network.plugin_dirs, STRV("/flag/cni1", "/flag/cni2"));
	config_free(c);

	/* without flags the file wins over defaults */
	r = CLI(&c, &first, &err, "-c", path, "-d", "");
	assert_int_equal(r, CONFIG_CLI_RUN);
	assert_string_equal(c->root, "/file/root");
	assert_int_equal(c->log_level, LOG_LEVEL_ERROR);
	assert_strv(c->network.plugin_dirs, STRV("/file/cni"));
	config_free(c);

	/* --debug is --log-level debug; the last one given wins */
	r = CLI(&c, &first, &err, "-c", path, "-d", "", "--debug");
	assert_int_equal(c->log_level, LOG_LEVEL_DEBUG);
	config_free(c);
	r = CLI(&c, &first, &err, "-c", path, "-d", "", "--debug", "-l", "warn");
	assert_int_equal(c->log_level, LOG_LEVEL_WARN);
	config_free(c);
	free(path);
}

static void test_runtime_flag(void **state)
{
	(void)state;
	struct ocid_config *c = NULL;
	ocid_error *err = NULL;
	int first;
	/* a name selects the default runtime */
	assert_int_equal(CLI(&c, &first, &err, "-c", "", "-d", "", "--runtime", "crun"),
			 CONFIG_CLI_RUN);
	assert_string_equal(c->runtime.default_runtime, "crun");
	assert_string_equal(c->runtime.default_runtime_origin, "--runtime");
	assert_string_equal(config_find_runtime(c, "crun")->runtime_path, "/usr/bin/crun");
	config_free(c);
	/* a path replaces the default runtime's binary */
	assert_int_equal(CLI(&c, &first, &err, "-c", "", "-d", "", "--runtime", "/opt/bin/runc"),
			 CONFIG_CLI_RUN);
	assert_string_equal(c->runtime.default_runtime, "runc");
	assert_string_equal(config_find_runtime(c, "runc")->runtime_path, "/opt/bin/runc");
	assert_string_equal(config_find_runtime(c, "crun")->runtime_path, "/usr/bin/crun");
	config_free(c);
	/* both, in order */
	assert_int_equal(CLI(&c, &first, &err, "-c", "", "-d", "", "--runtime", "crun",
			     "--runtime=/opt/crun"),
			 CONFIG_CLI_RUN);
	assert_string_equal(c->runtime.default_runtime, "crun");
	assert_string_equal(config_find_runtime(c, "crun")->runtime_path, "/opt/crun");
	assert_string_equal(config_find_runtime(c, "runc")->runtime_path, "/usr/bin/runc");
	config_free(c);
	/* errors */
	assert_int_equal(CLI(&c, &first, &err, "-c", "", "-d", "", "--runtime", "kata"),
			 CONFIG_CLI_ERROR);
	assert_msg(err, "--runtime: runtime \"kata\" is not configured (configured: runc, crun)");
	err_clear(&err);
	assert_int_equal(CLI(&c, &first, &err, "-c", "", "-d", "", "--runtime", "bin/runc"),
			 CONFIG_CLI_ERROR);
	assert_msg(err, "--runtime: \"bin/runc\" is neither a runtime name nor an absolute path");
	err_clear(&err);
}

static void test_bad_flags(void **state)
{
	(void)state;
	struct ocid_config *c = NULL;
	ocid_error *err = NULL;
	int first;
	static const struct {
		const char *a, *b, *want;
	} cases[] = {
		{"--workers", "abc", "--workers: \"abc\" is not an integer"},
		{"--workers", "", "--workers: \"\" is not an integer"},
		{"--workers", "100", "--workers: must be between 1 and 64, got 100"},
		{"--log-level", "loud", "--log-level: invalid log level \"loud\""},
		{"--root", "relative", "--root: must be an absolute path"},
		{"--listen", "sock", "--listen: must be an absolute path"},
		{"--conmon", "conmon", "--conmon: must be an absolute path"},
		{"--cni-config-dir", "net.d", "--cni-config-dir: must be an absolute path"},
		{"--cni-plugin-dir", "cni", "--cni-plugin-dir: must be an absolute path"},
		{"--bogus", NULL, "unknown flag --bogus"},
		{"--bogus=1", NULL, "unknown flag --bogus"},
		{"-x", NULL, "unknown flag -x"},
		{"--debug=1", NULL, "flag --debug takes no value"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r = cases[i].b
				? CLI(&c, &first, &err, "-c", "", "-d", "", cases[i].a, cases[i].b)
				: CLI(&c, &first, &err, "-c", "", "-d", "", cases[i].a);
		assert_int_equal(r, CONFIG_CLI_ERROR);
		assert_null(c);
		assert_int_equal(err->code, GRPC_INVALID_ARGUMENT);
		assert_msg(err, cases[i].want);
		err_clear(&err);
	}
	/* a flag at the end without its value */
	assert_int_equal(CLI(&c, &first, &err, "-c", "", "--root"), CONFIG_CLI_ERROR);
	assert_msg(err, "flag --root needs a value");
	err_clear(&err);
	assert_int_equal(CLI(&c, &first, &err, "-c"), CONFIG_CLI_ERROR);
	assert_msg(err, "flag -c needs a value");
	err_clear(&err);
}

static void test_help_version_and_args(void **state)
{
	(void)state;
	struct ocid_config *c = NULL;
	ocid_error *err = NULL;
	int first = -1;
	assert_int_equal(CLI(&c, &first, &err, "--help"), CONFIG_CLI_HELP);
	assert_null(c);
	assert_null(err);
	assert_int_equal(CLI(&c, &first, &err, "-h"), CONFIG_CLI_HELP);
	/* help wins over bad flags and reads no files */
	assert_int_equal(CLI(&c, &first, &err, "--bogus", "--config", "/nonexistent", "--help"),
			 CONFIG_CLI_HELP);
	assert_null(err);
	assert_int_equal(CLI(&c, &first, &err, "--version"), CONFIG_CLI_VERSION);
	assert_int_equal(CLI(&c, &first, &err, "-v", "--workers", "x"), CONFIG_CLI_VERSION);
	assert_null(c);
	assert_null(err);

	/* the first non-option argument is the subcommand; flags after it are its own */
	assert_int_equal(CLI(&c, &first, &err, "-c", "", "-d", "", "--workers", "3", "config",
			     "--root", "/ignored"),
			 CONFIG_CLI_RUN);
	assert_int_equal(first, 7);
	assert_int_equal(c->workers, 3);
	assert_string_equal(c->root, "/var/lib/ocid");
	config_free(c);
	/* "--" ends the flags */
	assert_int_equal(CLI(&c, &first, &err, "-c", "", "-d", "", "--", "--root"), CONFIG_CLI_RUN);
	assert_int_equal(first, 6);
	config_free(c);
	/* no arguments after the flags: first == argc */
	assert_int_equal(CLI(&c, &first, &err, "-c", "", "-d", ""), CONFIG_CLI_RUN);
	assert_int_equal(first, 5);
	config_free(c);

	char *usage = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&usage, &len);
	config_usage(f, "ocid");
	fclose(f);
	assert_non_null(strstr(usage, "Usage: ocid"));
	assert_non_null(strstr(usage, "--cni-plugin-dir"));
	assert_non_null(strstr(usage, "--runtime"));
	free(usage);
}

/* ---- output ---- */

/* Prints c, loads the text onto fresh defaults, and checks both forms agree. */
static void round_trip(const struct ocid_config *c)
{
	char *text = config_to_toml(c);
	assert_non_null(text);
	struct ocid_config *back = config_new();
	ocid_error *err = NULL;
	int r = config_load_string(back, text, "printed.conf", &err);
	if (r == 0)
		r = config_validate(back, &err);
	if (r < 0)
		print_error("%s\n--- printed:\n%s\n", err->msg, text);
	assert_int_equal(r, 0);
	json_t *j1 = config_to_json(c);
	json_t *j2 = config_to_json(back);
	assert_non_null(j1);
	assert_non_null(j2);
	if (!json_equal(j1, j2)) {
		char *a = json_dumps(j1, JSON_INDENT(1) | JSON_SORT_KEYS);
		char *b = json_dumps(j2, JSON_INDENT(1) | JSON_SORT_KEYS);
		print_error("before:\n%s\nafter:\n%s\n", a, b);
		free(a);
		free(b);
	}
	assert_true(json_equal(j1, j2));
	char *text2 = config_to_toml(back);
	assert_string_equal(text, text2);
	json_decref(j1);
	json_decref(j2);
	free(text);
	free(text2);
	config_free(back);
}

static void test_to_toml_round_trip(void **state)
{
	(void)state;
	struct ocid_config *c = config_new();
	round_trip(c);
	char *text = config_to_toml(c);
	assert_non_null(strstr(text, "[ocid]\nroot = \"/var/lib/ocid\"\n"));
	assert_non_null(
		strstr(text, "[ocid.runtime.runtimes.runc]\nruntime_path = \"/usr/bin/runc\"\n"));
	assert_non_null(strstr(text, "default_capabilities = [\"CHOWN\", \"DAC_OVERRIDE\""));
	assert_non_null(strstr(text, "[ocid.image.mirrors]\n"));
	assert_non_null(strstr(text, "log_size_max = -1\n"));
	free(text);
	config_free(c);

	c = load_ok("[ocid]\n"
		    "root = \"/srv/with \\\"quote\\\" and \\\\ and \\t tab\"\n"
		    "log_level = \"warn\"\n"
		    "[ocid.runtime]\n"
		    "default_runtime = \"kata-2\"\n"
		    "conmon_env = [\"A=b c\", \"NL=x\\ny\", \"U=caf\\u00e9\"]\n"
		    "default_ulimits = [\"nofile=1:2\"]\n"
		    "log_size_max = 1048576\n"
		    "pids_limit = -1\n"
		    "[ocid.runtime.runtimes.kata-2]\n"
		    "runtime_path = \"/opt/kata\"\n"
		    "[ocid.network]\n"
		    "cni_default_network = \"net#1 = 'x'\"\n"
		    "[ocid.image]\n"
		    "registries = []\n"
		    "[ocid.image.mirrors]\n"
		    "\"registry.k8s.io\" = [\"m.example.com:5000\"]\n"
		    "\"localhost:5000\" = []\n"
		    "plain = [\"a\", \"b\"]\n"
		    "[ocid.stream]\n"
		    "address = \"0.0.0.0\"\n"
		    "port = 65535\n");
	round_trip(c);
	text = config_to_toml(c);
	assert_non_null(strstr(
		text, "[ocid.image.mirrors]\n\"registry.k8s.io\" = [\"m.example.com:5000\"]\n"
		      "\"localhost:5000\" = []\nplain = [\"a\", \"b\"]\n"));
	assert_non_null(strstr(text, "root = \"/srv/with \\\"quote\\\" and \\\\ and \\t tab\"\n"));
	assert_non_null(strstr(text, "log_level = \"warning\"\n"));
	free(text);
	config_free(c);
}

static void test_to_json(void **state)
{
	(void)state;
	struct ocid_config *c = load_ok("[ocid.image.mirrors]\n\"docker.io\" = [\"m\"]\n");
	json_t *j = config_to_json(c);
	assert_non_null(j);
	json_t *ocid = json_object_get(j, "ocid");
	assert_string_equal(json_string_value(json_object_get(ocid, "root")), "/var/lib/ocid");
	assert_string_equal(json_string_value(json_object_get(ocid, "log_level")), "info");
	assert_int_equal(json_integer_value(json_object_get(ocid, "workers")), 4);
	json_t *rt = json_object_get(ocid, "runtime");
	assert_int_equal(json_integer_value(json_object_get(rt, "log_size_max")), -1);
	json_t *runc = json_object_get(json_object_get(rt, "runtimes"), "runc");
	assert_string_equal(json_string_value(json_object_get(runc, "runtime_path")),
			    "/usr/bin/runc");
	assert_int_equal(json_array_size(json_object_get(rt, "default_capabilities")), 9);
	json_t *img = json_object_get(ocid, "image");
	json_t *m = json_object_get(json_object_get(img, "mirrors"), "docker.io");
	assert_string_equal(json_string_value(json_array_get(m, 0)), "m");
	assert_int_equal(
		json_integer_value(json_object_get(json_object_get(ocid, "stream"), "port")), 0);
	assert_non_null(json_object_get(json_object_get(ocid, "network"), "plugin_dirs"));
	/* no keys beyond the config file's */
	assert_int_equal(json_object_size(j), 1);
	assert_null(json_object_get(ocid, "config_path"));
	json_decref(j);
	config_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_full_file),
		cmocka_unit_test(test_partial_and_dotted),
		cmocka_unit_test(test_runtime_tables),
		cmocka_unit_test(test_default_runtime_unknown),
		cmocka_unit_test(test_mirrors_table),
		cmocka_unit_test(test_unknown_keys),
		cmocka_unit_test(test_wrong_types),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_validate_programmatic),
		cmocka_unit_test_setup_teardown(test_dropin_order, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_missing_files, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_flags_beat_file, setup_tmp, teardown_tmp),
		cmocka_unit_test(test_runtime_flag),
		cmocka_unit_test(test_bad_flags),
		cmocka_unit_test(test_help_version_and_args),
		cmocka_unit_test(test_to_toml_round_trip),
		cmocka_unit_test(test_to_json),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
