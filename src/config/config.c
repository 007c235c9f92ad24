#include "config/config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "config/toml.h"
#include "util/cleanup.h"
#include "util/xalloc.h"

/* ---------------------------------------------------------------------- */
/* string lists */

size_t config_strv_len(char *const *v)
{
	size_t n = 0;
	while (v && v[n])
		n++;
	return n;
}

static char **strv_new_from(const char *const *src)
{
	size_t n = 0;
	while (src && src[n])
		n++;
	char **v = calloc(n + 1, sizeof(*v));
	if (v == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if ((v[i] = strdup(src[i])) == NULL) {
			strv_free(v);
			return NULL;
		}
	}
	return v;
}

static int strv_push(char ***v, const char *s)
{
	size_t n = config_strv_len(*v);
	char **nv = realloc(*v, (n + 2) * sizeof(*nv));
	if (nv == NULL)
		return -1;
	*v = nv;
	nv[n] = NULL;
	if ((nv[n] = strdup(s)) == NULL)
		return -1;
	nv[n + 1] = NULL;
	return 0;
}

/* Replaces *dst with a copy of s. */
static int str_replace(char **dst, const char *s)
{
	char *c = strdup(s);
	if (c == NULL)
		return -1;
	free(*dst);
	*dst = c;
	return 0;
}

static int oom(ocid_error **err) { return err_set(err, GRPC_RESOURCE_EXHAUSTED, "out of memory"); }

/* ---------------------------------------------------------------------- */
/* value checks: return 0, or -1 with *why set to a malloc'd reason */

__attribute__((format(printf, 2, 3))) static int why_set(char **why, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(why, fmt, ap) < 0)
		*why = NULL;
	va_end(ap);
	return -1;
}

static int check_abs_path(const char *v, char **why)
{
	if (v[0] != '/')
		return why_set(why, "must be an absolute path, got \"%s\"", v);
	return 0;
}

static int check_abs_path_or_empty(const char *v, char **why)
{
	return v[0] == '\0' ? 0 : check_abs_path(v, why);
}

static int check_socket_path(const char *v, char **why)
{
	if (check_abs_path(v, why) < 0)
		return -1;
	size_t max = sizeof(((struct sockaddr_un *)0)->sun_path) - 1;
	if (strlen(v) > max)
		return why_set(why,
			       "\"%s\" is too long for a unix socket path (%zu bytes, at most %zu)",
			       v, strlen(v), max);
	return 0;
}

/* RFC 1123 label, as Kubernetes requires of RuntimeClass handlers. */
static int check_runtime_name(const char *v, char **why)
{
	size_t n = strlen(v);
	bool ok = n > 0 && n <= 63 && v[0] != '-' && v[n - 1] != '-';
	for (size_t i = 0; ok && i < n; i++)
		ok = (v[i] >= 'a' && v[i] <= 'z') || (v[i] >= '0' && v[i] <= '9') || v[i] == '-';
	if (!ok)
		return why_set(why,
			       "runtime name \"%s\" must be a lowercase RFC 1123 label "
			       "(a-z, 0-9, '-', at most 63 characters)",
			       v);
	return 0;
}

static int check_cgroup_manager(const char *v, char **why)
{
	if (strcmp(v, "cgroupfs") == 0)
		return 0;
	if (strcmp(v, "systemd") == 0)
		return why_set(why,
			       "the systemd cgroup manager is not supported (use \"cgroupfs\")");
	return why_set(why, "unknown cgroup manager \"%s\" (only \"cgroupfs\" is supported)", v);
}

static int check_runtime_type(const char *v, char **why)
{
	if (strcmp(v, "oci") == 0)
		return 0;
	return why_set(why, "runtime type \"%s\" is not supported (only \"oci\")", v);
}

static const char *const capability_names[] = {
	"CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID",
	"SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST",
	"NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO",
	"SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
	"SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE",
	"AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM",
	"BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE", NULL,
};

/* "cap_chown" / "CAP_CHOWN" / "chown" -> "CHOWN". */
static void normalize_capability(char *v)
{
	size_t skip = strncasecmp(v, "CAP_", 4) == 0 ? 4 : 0;
	size_t i = 0;
	for (; v[i + skip]; i++)
		v[i] = (char)toupper((unsigned char)v[i + skip]);
	v[i] = '\0';
}

static int check_capability(const char *v, char **why)
{
	for (size_t i = 0; capability_names[i]; i++)
		if (strcmp(v, capability_names[i]) == 0)
			return 0;
	return why_set(why, "unknown capability \"%s\"", v);
}

static int check_env(const char *v, char **why)
{
	const char *eq = strchr(v, '=');
	if (eq == NULL || eq == v)
		return why_set(why, "\"%s\" is not of the form KEY=VALUE", v);
	return 0;
}

static int check_sysctl(const char *v, char **why)
{
	const char *eq = strchr(v, '=');
	if (eq == NULL || eq == v)
		return why_set(why, "\"%s\" is not of the form name=value", v);
	for (const char *c = v; c < eq; c++)
		if (isspace((unsigned char)*c))
			return why_set(why, "sysctl name in \"%s\" contains a space", v);
	return 0;
}

static bool parse_int64(const char *s, int64_t *out)
{
	if (*s == '\0' || isspace((unsigned char)*s))
		return false;
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || *end != '\0')
		return false;
	*out = v;
	return true;
}

static int check_ulimit(const char *v, char **why)
{
	static const char *const names[] = {
		"core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice",
		"nofile", "nproc", "rss", "rtprio", "rttime", "sigpending", "stack", NULL,
	};
	const char *eq = strchr(v, '=');
	if (eq == NULL)
		return why_set(why, "\"%s\" is not of the form name=soft[:hard]", v);
	bool known = false;
	for (size_t i = 0; names[i] && !known; i++)
		known = strlen(names[i]) == (size_t)(eq - v) && strncmp(v, names[i], eq - v) == 0;
	if (!known)
		return why_set(why, "unknown ulimit \"%.*s\" in \"%s\"", (int)(eq - v), v, v);
	cleanup_free char *vals = strdup(eq + 1);
	if (vals == NULL)
		return why_set(why, "out of memory");
	char *colon = strchr(vals, ':');
	if (colon)
		*colon = '\0';
	int64_t soft, hard;
	if (!parse_int64(vals, &soft) || (colon && !parse_int64(colon + 1, &hard)))
		return why_set(why, "\"%s\": limits must be integers (-1 = unlimited)", v);
	if (!colon)
		hard = soft;
	if (soft < -1 || hard < -1)
		return why_set(why, "\"%s\": limits must be >= -1 (-1 = unlimited)", v);
	if (hard != -1 && (soft == -1 || soft > hard))
		return why_set(why, "\"%s\": soft limit is above the hard limit", v);
	return 0;
}

static int check_registry(const char *v, char **why)
{
	if (*v == '\0')
		return why_set(why, "registry name is empty");
	if (strstr(v, "://"))
		return why_set(why, "registry \"%s\" must not have a scheme", v);
	for (const char *c = v; *c; c++)
		if (isspace((unsigned char)*c) || (unsigned char)*c < 0x20)
			return why_set(why, "registry \"%s\" contains a space", v);
	return 0;
}

static int check_ip(const char *v, char **why)
{
	unsigned char buf[sizeof(struct in6_addr)];
	if (inet_pton(AF_INET, v, buf) == 1 || inet_pton(AF_INET6, v, buf) == 1)
		return 0;
	return why_set(why, "\"%s\" is not an IPv4 or IPv6 address", v);
}

static int check_log_size_max(int64_t v, char **why)
{
	if (v >= 0 && v < 8192)
		return why_set(why, "must be negative (unlimited) or at least 8192, got %" PRId64,
			       v);
	return 0;
}

/* ---------------------------------------------------------------------- */
/* schema */

enum fkind {
	K_STR,
	K_STRV,
	K_INT,   /* int */
	K_INT64, /* int64_t */
	K_LOGLEVEL,
};

struct field {
	const char *key;
	enum fkind kind;
	size_t off;
	int64_t min, max;                         /* K_INT, K_INT64 */
	int (*check)(const char *v, char **why);  /* K_STR, and each K_STRV item */
	int (*icheck)(int64_t v, char **why);     /* K_INT64 */
	void (*normalize)(char *v);               /* applied before check */
	size_t min_len;                           /* K_STRV */
};

#define F_OCID(k, ...) {.key = #k, .off = offsetof(struct ocid_config, k), __VA_ARGS__}
#define F_RT(k, ...) {.key = #k, .off = offsetof(struct ocid_runtime_config, k), __VA_ARGS__}
#define F_NET(k, ...) {.key = #k, .off = offsetof(struct ocid_network_config, k), __VA_ARGS__}
#define F_IMG(k, ...) {.key = #k, .off = offsetof(struct ocid_image_config, k), __VA_ARGS__}
#define F_STM(k, ...) {.key = #k, .off = offsetof(struct ocid_stream_config, k), __VA_ARGS__}
#define F_HND(k, ...) {.key = #k, .off = offsetof(struct ocid_runtime_handler, k), __VA_ARGS__}

static const struct field ocid_fields[] = {
	F_OCID(root, .kind = K_STR, .check = check_abs_path),
	F_OCID(runroot, .kind = K_STR, .check = check_abs_path),
	F_OCID(listen, .kind = K_STR, .check = check_socket_path),
	F_OCID(log_level, .kind = K_LOGLEVEL),
	F_OCID(workers, .kind = K_INT, .min = 1, .max = 64),
	F_OCID(shutdown_timeout, .kind = K_INT, .min = 0, .max = 3600),
	{0},
};

static const struct field runtime_fields[] = {
	F_RT(default_runtime, .kind = K_STR, .check = check_runtime_name),
	F_RT(conmon, .kind = K_STR, .check = check_abs_path),
	F_RT(conmon_env, .kind = K_STRV, .check = check_env),
	F_RT(cgroup_manager, .kind = K_STR, .check = check_cgroup_manager),
	F_RT(default_capabilities, .kind = K_STRV, .check = check_capability,
	     .normalize = normalize_capability),
	F_RT(default_sysctls, .kind = K_STRV, .check = check_sysctl),
	F_RT(default_ulimits, .kind = K_STRV, .check = check_ulimit),
	F_RT(seccomp_profile, .kind = K_STR, .check = check_abs_path_or_empty),
	F_RT(log_size_max, .kind = K_INT64, .min = INT64_MIN, .max = INT64_MAX,
	     .icheck = check_log_size_max),
	F_RT(pids_limit, .kind = K_INT64, .min = -1, .max = INT64_MAX),
	F_RT(spare_container_dirs, .kind = K_INT, .min = 0, .max = 1024),
	F_RT(warm_rootfs, .kind = K_INT, .min = 0, .max = 1024),
	{0},
};

static const struct field handler_fields[] = {
	F_HND(runtime_path, .kind = K_STR, .check = check_abs_path),
	F_HND(runtime_root, .kind = K_STR, .check = check_abs_path_or_empty),
	F_HND(runtime_type, .kind = K_STR, .check = check_runtime_type),
	{0},
};

static const struct field network_fields[] = {
	F_NET(network_dir, .kind = K_STR, .check = check_abs_path),
	F_NET(plugin_dirs, .kind = K_STRV, .check = check_abs_path, .min_len = 1),
	F_NET(cni_default_network, .kind = K_STR),
	{0},
};

static const struct field image_fields[] = {
	F_IMG(registries, .kind = K_STRV, .check = check_registry),
	F_IMG(insecure_registries, .kind = K_STRV, .check = check_registry),
	F_IMG(max_parallel_downloads, .kind = K_INT, .min = 1, .max = 32),
	F_IMG(global_auth_file, .kind = K_STR, .check = check_abs_path_or_empty),
	{0},
};

static const struct field stream_fields[] = {
	F_STM(address, .kind = K_STR, .check = check_ip),
	F_STM(port, .kind = K_INT, .min = 0, .max = 65535),
	F_STM(idle_timeout, .kind = K_INT, .min = 0, .max = INT_MAX),
	{0},
};

enum map_kind { MAP_NONE, MAP_RUNTIMES, MAP_MIRRORS };

struct section {
	const char *key;  /* key in [ocid]; NULL for [ocid] itself */
	const char *path; /* full table name */
	size_t off;       /* offset of its struct in struct ocid_config */
	const struct field *fields;
	enum map_kind map; /* the map sub-table it holds, printed after its fields */
	const char *map_key;
};

/* In print order; sections[0] is [ocid], the others are its sub-tables. */
static const struct section sections[] = {
	{NULL, "ocid", 0, ocid_fields, MAP_NONE, NULL},
	{"runtime", "ocid.runtime", offsetof(struct ocid_config, runtime), runtime_fields,
	 MAP_RUNTIMES, "runtimes"},
	{"network", "ocid.network", offsetof(struct ocid_config, network), network_fields,
	 MAP_NONE, NULL},
	{"image", "ocid.image", offsetof(struct ocid_config, image), image_fields, MAP_MIRRORS,
	 "mirrors"},
	{"stream", "ocid.stream", offsetof(struct ocid_config, stream), stream_fields, MAP_NONE,
	 NULL},
};
#define N_SECTIONS (sizeof(sections) / sizeof(sections[0]))

static const struct field *find_field(const struct field *fields, const char *key)
{
	for (const struct field *f = fields; f->key; f++)
		if (strcmp(f->key, key) == 0)
			return f;
	return NULL;
}

static void *at(void *base, size_t off) { return (char *)base + off; }
static const void *cat(const void *base, size_t off) { return (const char *)base + off; }

/* ---------------------------------------------------------------------- */
/* errors with an origin */

/* Where a value comes from: a file and line, a flag, or nothing (validate). */
struct origin {
	const char *file;
	int line;
	const char *flag;
};

static char *origin_str(const struct origin *o)
{
	char *s = NULL;
	if (o->file) {
		if (asprintf(&s, "%s:%d", o->file, o->line) < 0)
			return NULL;
		return s;
	}
	return o->flag ? strdup(o->flag) : NULL;
}

/* "ORIGIN: PATH: msg"; the path is left out for flags (the flag names it). */
__attribute__((format(printf, 4, 5))) static int verr(ocid_error **err, const struct origin *o,
						      const char *path, const char *fmt, ...)
{
	char *m = NULL;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&m, fmt, ap) < 0)
		m = NULL;
	va_end(ap);
	if (m == NULL)
		return oom(err);
	if (o && o->file)
		err_set(err, GRPC_INVALID_ARGUMENT, "%s:%d: %s: %s", o->file, o->line, path, m);
	else if (o && o->flag)
		err_set(err, GRPC_INVALID_ARGUMENT, "%s: %s", o->flag, m);
	else
		err_set(err, GRPC_INVALID_ARGUMENT, "%s: %s", path, m);
	free(m);
	return -1;
}

static int why_err(ocid_error **err, const struct origin *o, const char *path, char *why)
{
	if (why == NULL)
		return oom(err);
	verr(err, o, path, "%s", why);
	free(why);
	return -1;
}

/* path + "." + key, the key quoted when TOML needs it. */
static char *path_join(const char *path, const char *key)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	if (f == NULL)
		return NULL;
	fprintf(f, "%s.", path);
	toml_write_key(f, key);
	if (fclose(f) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

/* ---------------------------------------------------------------------- */
/* setting values (shared by files, flags and validation) */

static int check_int(const struct field *f, int64_t v, const struct origin *o, const char *path,
		     ocid_error **err)
{
	if (v < f->min || v > f->max)
		return verr(err, o, path,
			    "must be between %" PRId64 " and %" PRId64 ", got %" PRId64, f->min,
			    f->max, v);
	char *why = NULL;
	if (f->icheck && f->icheck(v, &why) < 0)
		return why_err(err, o, path, why);
	return 0;
}

static int set_int(const struct field *f, void *base, int64_t v, const struct origin *o,
		   const char *path, ocid_error **err)
{
	if (check_int(f, v, o, path, err) < 0)
		return -1;
	if (f->kind == K_INT)
		*(int *)at(base, f->off) = (int)v;
	else
		*(int64_t *)at(base, f->off) = v;
	return 0;
}

static int check_string(const struct field *f, const char *v, const struct origin *o,
			const char *path, ocid_error **err)
{
	char *why = NULL;
	if (f->kind == K_LOGLEVEL) {
		enum log_level l;
		if (log_level_parse(v, &l) < 0)
			return verr(
				err, o, path,
				"invalid log level \"%s\" (fatal, error, warn, info, debug, trace)",
				v);
		return 0;
	}
	if (f->check && f->check(v, &why) < 0)
		return why_err(err, o, path, why);
	return 0;
}

static int set_string(const struct field *f, void *base, const char *value, const struct origin *o,
		      const char *path, ocid_error **err)
{
	cleanup_free char *v = strdup(value);
	if (v == NULL)
		return oom(err);
	if (f->normalize)
		f->normalize(v);
	if (check_string(f, v, o, path, err) < 0)
		return -1;
	if (f->kind == K_LOGLEVEL) {
		log_level_parse(v, (enum log_level *)at(base, f->off));
		return 0;
	}
	char **dst = at(base, f->off);
	free(*dst);
	*dst = steal_pointer(&v);
	return 0;
}

static int check_strv(const struct field *f, char *const *v, const struct origin *o,
		      const char *path, ocid_error **err)
{
	size_t n = config_strv_len(v);
	if (n < f->min_len)
		return verr(err, o, path, "must not be empty");
	for (size_t i = 0; i < n; i++) {
		char *why = NULL;
		if (f->check && f->check(v[i], &why) < 0)
			return why_err(err, o, path, why);
	}
	return 0;
}

/* Takes ownership of v (a NULL-terminated list). */
static int set_strv(const struct field *f, void *base, char **v, const struct origin *o,
		    const char *path, ocid_error **err)
{
	for (size_t i = 0; f->normalize && v[i]; i++)
		f->normalize(v[i]);
	if (check_strv(f, v, o, path, err) < 0) {
		strv_free(v);
		return -1;
	}
	char ***dst = at(base, f->off);
	strv_free(*dst);
	*dst = v;
	return 0;
}

/* ---------------------------------------------------------------------- */
/* defaults */

static struct ocid_runtime_handler *add_runtime(struct ocid_runtime_config *rt, const char *name,
						const char *path, const char *root)
{
	struct ocid_runtime_handler *r =
		realloc(rt->runtimes, (rt->n_runtimes + 1) * sizeof(*rt->runtimes));
	if (r == NULL)
		return NULL;
	rt->runtimes = r;
	struct ocid_runtime_handler *h = &r[rt->n_runtimes];
	*h = (struct ocid_runtime_handler){
		.name = strdup(name),
		.runtime_path = strdup(path),
		.runtime_root = strdup(root),
		.runtime_type = strdup("oci"),
	};
	rt->n_runtimes++;
	if (!h->name || !h->runtime_path || !h->runtime_root || !h->runtime_type)
		return NULL; /* stays in the list; config_free releases it */
	return h;
}

static void runtime_handler_free(struct ocid_runtime_handler *h)
{
	free(h->name);
	free(h->runtime_path);
	free(h->runtime_root);
	free(h->runtime_type);
	free(h->origin);
}

static int set_mirrors(struct ocid_image_config *img, const char *registry, char **mirrors)
{
	for (size_t i = 0; i < img->n_mirrors; i++) {
		if (strcmp(img->mirrors[i].registry, registry) == 0) {
			strv_free(img->mirrors[i].mirrors);
			img->mirrors[i].mirrors = mirrors;
			return 0;
		}
	}
	struct ocid_registry_mirrors *m =
		realloc(img->mirrors, (img->n_mirrors + 1) * sizeof(*img->mirrors));
	if (m == NULL) {
		strv_free(mirrors);
		return -1;
	}
	img->mirrors = m;
	char *r = strdup(registry);
	if (r == NULL) {
		strv_free(mirrors);
		return -1;
	}
	m[img->n_mirrors++] = (struct ocid_registry_mirrors){r, mirrors};
	return 0;
}

void config_free(struct ocid_config *cfg)
{
	if (cfg == NULL)
		return;
	for (size_t s = 0; s < N_SECTIONS; s++) {
		void *base = at(cfg, sections[s].off);
		for (const struct field *f = sections[s].fields; f->key; f++) {
			if (f->kind == K_STR)
				free(*(char **)at(base, f->off));
			else if (f->kind == K_STRV)
				strv_free(*(char ***)at(base, f->off));
		}
	}
	for (size_t i = 0; i < cfg->runtime.n_runtimes; i++)
		runtime_handler_free(&cfg->runtime.runtimes[i]);
	free(cfg->runtime.runtimes);
	free(cfg->runtime.default_runtime_origin);
	for (size_t i = 0; i < cfg->image.n_mirrors; i++) {
		free(cfg->image.mirrors[i].registry);
		strv_free(cfg->image.mirrors[i].mirrors);
	}
	free(cfg->image.mirrors);
	free(cfg->config_path);
	free(cfg->config_dir);
	free(cfg);
}

struct ocid_config *config_new(void)
{
	static const char *const caps[] = {"CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "SETGID",
					   "SETUID", "SETPCAP", "NET_BIND_SERVICE", "KILL", NULL};
	static const char *const plugin_dirs[] = {"/usr/lib/cni", "/opt/cni/bin", NULL};
	static const char *const registries[] = {"docker.io", NULL};
	static const char *const none[] = {NULL};

	struct ocid_config *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->root = strdup("/var/lib/ocid");
	c->runroot = strdup("/run/ocid");
	c->listen = strdup("/run/ocid/ocid.sock");
	c->log_level = LOG_LEVEL_INFO;
	c->workers = 4;
	c->shutdown_timeout = 10;

	struct ocid_runtime_config *rt = &c->runtime;
	rt->default_runtime = strdup("runc");
	rt->conmon = strdup("/usr/bin/conmon");
	rt->conmon_env = strv_new_from(none);
	rt->cgroup_manager = strdup("cgroupfs");
	rt->default_capabilities = strv_new_from(caps);
	rt->default_sysctls = strv_new_from(none);
	rt->default_ulimits = strv_new_from(none);
	rt->seccomp_profile = strdup("");
	rt->log_size_max = -1;
	rt->pids_limit = 0;
	rt->spare_container_dirs = 16;
	rt->warm_rootfs = 16;
	bool ok = add_runtime(rt, "runc", "/usr/bin/runc", "/run/runc") &&
		  add_runtime(rt, "crun", "/usr/bin/crun", "/run/crun");

	c->network.network_dir = strdup("/etc/cni/net.d");
	c->network.plugin_dirs = strv_new_from(plugin_dirs);
	c->network.cni_default_network = strdup("");

	c->image.registries = strv_new_from(registries);
	c->image.insecure_registries = strv_new_from(none);
	c->image.max_parallel_downloads = 3;
	c->image.global_auth_file = strdup("");

	c->stream.address = strdup("127.0.0.1");
	c->stream.port = 0;
	c->stream.idle_timeout = 0;

	/* Every string and list field must now be set. */
	for (size_t s = 0; ok && s < N_SECTIONS; s++) {
		void *base = at(c, sections[s].off);
		for (const struct field *f = sections[s].fields; ok && f->key; f++)
			if (f->kind == K_STR || f->kind == K_STRV)
				ok = *(void **)at(base, f->off) != NULL;
	}
	if (!ok) {
		config_free(c);
		return NULL;
	}
	return c;
}

const struct ocid_runtime_handler *config_find_runtime(const struct ocid_config *cfg,
						       const char *name)
{
	for (size_t i = 0; i < cfg->runtime.n_runtimes; i++)
		if (strcmp(cfg->runtime.runtimes[i].name, name) == 0)
			return &cfg->runtime.runtimes[i];
	return NULL;
}

char **config_find_mirrors(const struct ocid_config *cfg, const char *registry)
{
	for (size_t i = 0; i < cfg->image.n_mirrors; i++)
		if (strcmp(cfg->image.mirrors[i].registry, registry) == 0)
			return cfg->image.mirrors[i].mirrors;
	return NULL;
}

/* "runc, crun" */
static char *runtime_names(const struct ocid_config *cfg)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	if (f == NULL)
		return NULL;
	for (size_t i = 0; i < cfg->runtime.n_runtimes; i++)
		fprintf(f, "%s%s", i ? ", " : "", cfg->runtime.runtimes[i].name);
	if (fclose(f) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

/* ---------------------------------------------------------------------- */
/* applying a parsed file */

struct loader {
	struct ocid_config *cfg;
	const char *file;
	ocid_error **err;
};

static const char *article(enum toml_type t)
{
	return t == TOML_INTEGER || t == TOML_ARRAY ? "an" : "a";
}

static int type_err(struct loader *L, const struct toml_node *v, const char *path,
		    const char *expected)
{
	struct origin o = {L->file, v->line, NULL};
	const char *got = v->type == TOML_ARRAY && v->array.of_tables ? "array of tables"
								       : toml_type_name(v->type);
	return verr(L->err, &o, path, "expected %s, got %s %s", expected,
		    v->type == TOML_ARRAY && v->array.of_tables ? "an" : article(v->type), got);
}

/* Levenshtein distance, for "did you mean". Keys are short. */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 64 || lb > 64)
		return SIZE_MAX;
	size_t row[65];
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

static int unknown_key(struct loader *L, const struct section *sec, const struct toml_entry *e,
		       const char *path)
{
	const char *best = NULL;
	size_t best_d = 3;
	for (const struct field *f = sec->fields; f->key; f++) {
		size_t d = edit_distance(e->key, f->key);
		if (d < best_d)
			best = f->key, best_d = d;
	}
	for (size_t s = 1; s < N_SECTIONS && sec == &sections[0]; s++) {
		size_t d = edit_distance(e->key, sections[s].key);
		if (d < best_d)
			best = sections[s].key, best_d = d;
	}
	if (sec->map_key && edit_distance(e->key, sec->map_key) < best_d)
		best = sec->map_key;
	struct origin o = {L->file, e->line, NULL};
	const char *what = e->value->type == TOML_TABLE ? "unknown table" : "unknown key";
	if (best)
		return verr(L->err, &o, path, "%s (did you mean \"%s\"?)", what, best);
	return verr(L->err, &o, path, "%s", what);
}

static int apply_field(struct loader *L, const struct field *f, void *base,
		       const struct toml_node *v, const char *path)
{
	struct origin o = {L->file, v->line, NULL};
	switch (f->kind) {
	case K_STR:
	case K_LOGLEVEL:
		if (v->type != TOML_STRING)
			return type_err(L, v, path, "a string");
		return set_string(f, base, v->str, &o, path, L->err);
	case K_INT:
	case K_INT64:
		if (v->type != TOML_INTEGER)
			return type_err(L, v, path, "an integer");
		return set_int(f, base, v->integer, &o, path, L->err);
	case K_STRV: {
		if (v->type != TOML_ARRAY || v->array.of_tables)
			return type_err(L, v, path, "an array of strings");
		char **list = calloc(v->array.len + 1, sizeof(*list));
		if (list == NULL)
			return oom(L->err);
		for (size_t i = 0; i < v->array.len; i++) {
			const struct toml_node *item = v->array.items[i];
			if (item->type != TOML_STRING) {
				strv_free(list);
				cleanup_free char *ip = NULL;
				if (asprintf(&ip, "%s[%zu]", path, i) < 0)
					return oom(L->err);
				return type_err(L, item, ip, "a string");
			}
			if ((list[i] = strdup(item->str)) == NULL) {
				strv_free(list);
				return oom(L->err);
			}
		}
		return set_strv(f, base, list, &o, path, L->err);
	}
	}
	return -1;
}

static int apply_fields(struct loader *L, const struct section *sec, const struct field *fields,
			void *base, const struct toml_node *t, const char *path);

static int apply_runtimes(struct loader *L, const struct toml_node *t, const char *path)
{
	struct ocid_runtime_config *rt = &L->cfg->runtime;
	static const struct section handler_sec = {NULL, NULL, 0, handler_fields, MAP_NONE, NULL};
	for (size_t i = 0; i < t->table.len; i++) {
		const struct toml_entry *e = &t->table.items[i];
		cleanup_free char *hpath = path_join(path, e->key);
		if (hpath == NULL)
			return oom(L->err);
		struct origin o = {L->file, e->line, NULL};
		char *why = NULL;
		if (check_runtime_name(e->key, &why) < 0)
			return why_err(L->err, &o, hpath, why);
		if (e->value->type != TOML_TABLE)
			return type_err(L, e->value, hpath, "a table");
		struct ocid_runtime_handler *h = (struct ocid_runtime_handler *)config_find_runtime(
			L->cfg, e->key);
		if (h == NULL) {
			h = add_runtime(rt, e->key, "", "");
			if (h == NULL)
				return oom(L->err);
			struct origin ho = {L->file, e->value->line, NULL};
			if ((h->origin = origin_str(&ho)) == NULL)
				return oom(L->err);
		}
		if (apply_fields(L, &handler_sec, handler_fields, h, e->value, hpath) < 0)
			return -1;
	}
	return 0;
}

static int apply_mirrors(struct loader *L, const struct toml_node *t, const char *path)
{
	static const struct field mirror_field = {.key = "", .kind = K_STRV, .off = 0,
						  .check = check_registry};
	for (size_t i = 0; i < t->table.len; i++) {
		const struct toml_entry *e = &t->table.items[i];
		cleanup_free char *mpath = path_join(path, e->key);
		if (mpath == NULL)
			return oom(L->err);
		struct origin o = {L->file, e->line, NULL};
		char *why = NULL;
		if (check_registry(e->key, &why) < 0)
			return why_err(L->err, &o, mpath, why);
		/* Parse into a scratch slot with the shared list rules, then move. */
		char **list = NULL;
		if (apply_field(L, &mirror_field, &list, e->value, mpath) < 0)
			return -1;
		if (set_mirrors(&L->cfg->image, e->key, list) < 0)
			return oom(L->err);
	}
	return 0;
}

static int apply_fields(struct loader *L, const struct section *sec, const struct field *fields,
			void *base, const struct toml_node *t, const char *path)
{
	for (size_t i = 0; i < t->table.len; i++) {
		const struct toml_entry *e = &t->table.items[i];
		cleanup_free char *kpath = path_join(path, e->key);
		if (kpath == NULL)
			return oom(L->err);
		const struct field *f = find_field(fields, e->key);
		if (f) {
			if (apply_field(L, f, base, e->value, kpath) < 0)
				return -1;
			if (sec == &sections[1] && strcmp(f->key, "default_runtime") == 0) {
				struct origin o = {L->file, e->value->line, NULL};
				char *s = origin_str(&o);
				if (s == NULL)
					return oom(L->err);
				free(L->cfg->runtime.default_runtime_origin);
				L->cfg->runtime.default_runtime_origin = s;
			}
			continue;
		}
		const struct section *sub = NULL;
		for (size_t s = 1; s < N_SECTIONS && sec == &sections[0]; s++)
			if (strcmp(e->key, sections[s].key) == 0)
				sub = &sections[s];
		if (sub || (sec->map_key && strcmp(e->key, sec->map_key) == 0)) {
			if (e->value->type != TOML_TABLE)
				return type_err(L, e->value, kpath, "a table");
			int r;
			if (sub)
				r = apply_fields(L, sub, sub->fields, at(L->cfg, sub->off),
						 e->value, kpath);
			else if (sec->map == MAP_RUNTIMES)
				r = apply_runtimes(L, e->value, kpath);
			else
				r = apply_mirrors(L, e->value, kpath);
			if (r < 0)
				return -1;
			continue;
		}
		return unknown_key(L, sec, e, kpath);
	}
	return 0;
}

static int apply_doc(struct ocid_config *cfg, const struct toml_node *root, const char *file,
		     ocid_error **err)
{
	struct loader L = {cfg, file, err};
	for (size_t i = 0; i < root->table.len; i++) {
		const struct toml_entry *e = &root->table.items[i];
		struct origin o = {file, e->line, NULL};
		if (strcmp(e->key, "ocid") != 0) {
			cleanup_free char *k = path_join("", e->key);
			return verr(err, &o, k ? k + 1 : e->key,
				    "unknown %s (only [ocid] tables are read)",
				    e->value->type == TOML_TABLE ? "table" : "key");
		}
		if (e->value->type != TOML_TABLE)
			return type_err(&L, e->value, "ocid", "a table");
		if (apply_fields(&L, &sections[0], ocid_fields, cfg, e->value, "ocid") < 0)
			return -1;
	}
	return 0;
}

int config_load_string(struct ocid_config *cfg, const char *text, const char *name,
		       ocid_error **err)
{
	cleanup_toml struct toml_node *root = NULL;
	if (toml_parse(text, strlen(text), name, &root, err) < 0)
		return -1;
	return apply_doc(cfg, root, name, err);
}

int config_load_file(struct ocid_config *cfg, const char *path, bool optional, ocid_error **err)
{
	cleanup_toml struct toml_node *root = NULL;
	ocid_error *e = NULL;
	if (toml_parse_file(path, &root, &e) < 0) {
		if (optional && e && e->code == GRPC_NOT_FOUND) {
			err_free(e);
			return 0;
		}
		if (err && *err == NULL)
			*err = e;
		else
			err_free(e);
		return -1;
	}
	return apply_doc(cfg, root, path, err);
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int config_load_dir(struct ocid_config *cfg, const char *dir, bool optional, ocid_error **err)
{
	DIR *d = opendir(dir);
	if (d == NULL) {
		if (optional && errno == ENOENT)
			return 0;
		return err_set_errno(err,
				     errno == ENOENT ? GRPC_NOT_FOUND : GRPC_FAILED_PRECONDITION,
				     errno, "config drop-in directory %s", dir);
	}
	char **names = NULL;
	size_t n = 0;
	int ret = -1;
	struct dirent *de;
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);
		if (de->d_name[0] == '.' || len <= 5 || strcmp(de->d_name + len - 5, ".conf") != 0)
			continue;
		char **nn = realloc(names, (n + 1) * sizeof(*names));
		if (nn == NULL) {
			oom(err);
			goto out;
		}
		names = nn;
		if (asprintf(&names[n], "%s/%s", dir, de->d_name) < 0) {
			oom(err);
			goto out;
		}
		n++;
		errno = 0;
	}
	if (errno) {
		err_set_errno(err, GRPC_FAILED_PRECONDITION, errno, "read directory %s", dir);
		goto out;
	}
	if (n)
		qsort(names, n, sizeof(*names), cmp_names);
	for (size_t i = 0; i < n; i++) {
		struct stat st;
		if (stat(names[i], &st) < 0) {
			err_set_errno(err, GRPC_FAILED_PRECONDITION, errno, "config drop-in %s",
				      names[i]);
			goto out;
		}
		if (!S_ISREG(st.st_mode))
			continue;
		if (config_load_file(cfg, names[i], false, err) < 0)
			goto out;
	}
	ret = 0;
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	return ret;
}

/* ---------------------------------------------------------------------- */
/* validation */

static int validate_fields(const struct field *fields, const void *base, const char *path,
			   ocid_error **err)
{
	for (const struct field *f = fields; f->key; f++) {
		cleanup_free char *kpath = path_join(path, f->key);
		if (kpath == NULL)
			return oom(err);
		const void *p = cat(base, f->off);
		int r = 0;
		switch (f->kind) {
		case K_STR:
			if (*(char *const *)p == NULL)
				r = verr(err, NULL, kpath, "is not set");
			else
				r = check_string(f, *(char *const *)p, NULL, kpath, err);
			break;
		case K_LOGLEVEL: {
			enum log_level l = *(const enum log_level *)p;
			if ((int)l < LOG_LEVEL_FATAL || l > LOG_LEVEL_TRACE)
				r = verr(err, NULL, kpath, "invalid log level %d", (int)l);
			break;
		}
		case K_INT:
			r = check_int(f, *(const int *)p, NULL, kpath, err);
			break;
		case K_INT64:
			r = check_int(f, *(const int64_t *)p, NULL, kpath, err);
			break;
		case K_STRV:
			r = check_strv(f, *(char **const *)p, NULL, kpath, err);
			break;
		}
		if (r < 0)
			return -1;
	}
	return 0;
}

static int origin_err(ocid_error **err, const char *origin, const char *path, const char *what)
{
	if (origin)
		return err_set(err, GRPC_INVALID_ARGUMENT, "%s: %s: %s", origin, path, what);
	return err_set(err, GRPC_INVALID_ARGUMENT, "%s: %s", path, what);
}

int config_validate(const struct ocid_config *cfg, ocid_error **err)
{
	for (size_t s = 0; s < N_SECTIONS; s++)
		if (validate_fields(sections[s].fields, cat(cfg, sections[s].off), sections[s].path,
				    err) < 0)
			return -1;
	const struct ocid_runtime_config *rt = &cfg->runtime;
	if (rt->n_runtimes == 0)
		return err_set(err, GRPC_INVALID_ARGUMENT,
			       "ocid.runtime.runtimes: no runtime is configured");
	for (size_t i = 0; i < rt->n_runtimes; i++) {
		const struct ocid_runtime_handler *h = &rt->runtimes[i];
		char *why = NULL;
		if (h->name == NULL || check_runtime_name(h->name, &why) < 0) {
			if (h->name == NULL)
				return err_set(err, GRPC_INVALID_ARGUMENT,
					       "ocid.runtime.runtimes: runtime without a name");
			return why_err(err, NULL, "ocid.runtime.runtimes", why);
		}
		cleanup_free char *hpath = path_join("ocid.runtime.runtimes", h->name);
		if (hpath == NULL)
			return oom(err);
		if (h->runtime_path == NULL || h->runtime_path[0] == '\0')
			return origin_err(err, h->origin, hpath, "runtime_path is required");
		if (validate_fields(handler_fields, h, hpath, err) < 0) {
			if (h->origin)
				err_prefix(err, "%s", h->origin);
			return -1;
		}
		for (size_t j = 0; j < i; j++)
			if (strcmp(rt->runtimes[j].name, h->name) == 0)
				return origin_err(err, h->origin, hpath,
						  "runtime is defined twice");
	}
	if (config_find_runtime(cfg, rt->default_runtime) == NULL) {
		cleanup_free char *names = runtime_names(cfg);
		cleanup_free char *what = NULL;
		if (names == NULL ||
		    asprintf(&what, "runtime \"%s\" is not configured (configured: %s)",
			     rt->default_runtime, names) < 0)
			return oom(err);
		return origin_err(err, rt->default_runtime_origin, "ocid.runtime.default_runtime",
				  what);
	}
	for (size_t i = 0; i < cfg->image.n_mirrors; i++) {
		const struct ocid_registry_mirrors *m = &cfg->image.mirrors[i];
		static const struct field mf = {.key = "", .kind = K_STRV, .check = check_registry};
		char *why = NULL;
		if (m->registry == NULL)
			return err_set(err, GRPC_INVALID_ARGUMENT,
				       "ocid.image.mirrors: entry without a registry");
		cleanup_free char *mpath = path_join("ocid.image.mirrors", m->registry);
		if (mpath == NULL)
			return oom(err);
		if (check_registry(m->registry, &why) < 0)
			return why_err(err, NULL, mpath, why);
		if (check_strv(&mf, m->mirrors, NULL, mpath, err) < 0)
			return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------------- */
/* output */

static void write_field(FILE *f, const struct field *fd, const void *base)
{
	const void *p = cat(base, fd->off);
	toml_write_key(f, fd->key);
	fputs(" = ", f);
	switch (fd->kind) {
	case K_STR:
		toml_write_string(f, *(char *const *)p ? *(char *const *)p : "");
		break;
	case K_LOGLEVEL:
		toml_write_string(f, log_level_name(*(const enum log_level *)p));
		break;
	case K_INT:
		fprintf(f, "%d", *(const int *)p);
		break;
	case K_INT64:
		fprintf(f, "%" PRId64, *(const int64_t *)p);
		break;
	case K_STRV: {
		char *const *v = *(char **const *)p;
		fputc('[', f);
		for (size_t i = 0; v && v[i]; i++) {
			if (i)
				fputs(", ", f);
			toml_write_string(f, v[i]);
		}
		fputc(']', f);
		break;
	}
	}
	fputc('\n', f);
}

char *config_to_toml(const struct ocid_config *cfg)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	if (f == NULL)
		return NULL;
	fputs("# ocid configuration\n", f);
	for (size_t s = 0; s < N_SECTIONS; s++) {
		const struct section *sec = &sections[s];
		const void *base = cat(cfg, sec->off);
		fprintf(f, "\n[%s]\n", sec->path);
		for (const struct field *fd = sec->fields; fd->key; fd++)
			write_field(f, fd, base);
		if (sec->map == MAP_RUNTIMES) {
			for (size_t i = 0; i < cfg->runtime.n_runtimes; i++) {
				const struct ocid_runtime_handler *h = &cfg->runtime.runtimes[i];
				fprintf(f, "\n[%s.%s.", sec->path, sec->map_key);
				toml_write_key(f, h->name);
				fputs("]\n", f);
				for (const struct field *fd = handler_fields; fd->key; fd++)
					write_field(f, fd, h);
			}
		} else if (sec->map == MAP_MIRRORS) {
			fprintf(f, "\n[%s.%s]\n", sec->path, sec->map_key);
			for (size_t i = 0; i < cfg->image.n_mirrors; i++) {
				const struct ocid_registry_mirrors *m = &cfg->image.mirrors[i];
				struct field fd = {.key = m->registry, .kind = K_STRV, .off = 0};
				write_field(f, &fd, &m->mirrors);
			}
		}
	}
	if (fclose(f) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

static json_t *strv_to_json(char *const *v)
{
	json_t *a = json_array();
	for (size_t i = 0; a && v && v[i]; i++) {
		if (json_array_append_new(a, json_string(v[i])) < 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static json_t *field_to_json(const struct field *fd, const void *base)
{
	const void *p = cat(base, fd->off);
	switch (fd->kind) {
	case K_STR:
		return json_string(*(char *const *)p ? *(char *const *)p : "");
	case K_LOGLEVEL:
		return json_string(log_level_name(*(const enum log_level *)p));
	case K_INT:
		return json_integer(*(const int *)p);
	case K_INT64:
		return json_integer((json_int_t) * (const int64_t *)p);
	case K_STRV:
		return strv_to_json(*(char **const *)p);
	}
	return NULL;
}

/* Sets obj[key] = v (stealing v); false on failure (v released). */
static bool jset(json_t *obj, const char *key, json_t *v)
{
	if (obj == NULL || v == NULL) {
		json_decref(v);
		return false;
	}
	return json_object_set_new(obj, key, v) == 0;
}

static json_t *fields_to_json(const struct field *fields, const void *base)
{
	json_t *o = json_object();
	for (const struct field *fd = fields; o && fd->key; fd++) {
		if (!jset(o, fd->key, field_to_json(fd, base))) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

json_t *config_to_json(const struct ocid_config *cfg)
{
	json_t *ocid = fields_to_json(ocid_fields, cfg);
	for (size_t s = 1; ocid && s < N_SECTIONS; s++) {
		const struct section *sec = &sections[s];
		json_t *o = fields_to_json(sec->fields, cat(cfg, sec->off));
		json_t *map = sec->map != MAP_NONE ? json_object() : NULL;
		bool ok = o != NULL && (sec->map == MAP_NONE || map != NULL);
		if (ok && sec->map == MAP_RUNTIMES) {
			for (size_t i = 0; ok && i < cfg->runtime.n_runtimes; i++) {
				const struct ocid_runtime_handler *h = &cfg->runtime.runtimes[i];
				ok = jset(map, h->name, fields_to_json(handler_fields, h));
			}
		} else if (ok && sec->map == MAP_MIRRORS) {
			for (size_t i = 0; ok && i < cfg->image.n_mirrors; i++) {
				const struct ocid_registry_mirrors *m = &cfg->image.mirrors[i];
				ok = jset(map, m->registry, strv_to_json(m->mirrors));
			}
		}
		if (ok && map) {
			ok = jset(o, sec->map_key, map);
			map = NULL;
		}
		json_decref(map);
		if (!ok || !jset(ocid, sec->key, o)) {
			if (!ok)
				json_decref(o);
			json_decref(ocid);
			return NULL;
		}
	}
	if (ocid == NULL)
		return NULL;
	json_t *root = json_object();
	if (!jset(root, "ocid", ocid)) {
		json_decref(root);
		return NULL;
	}
	return root;
}

/* ---------------------------------------------------------------------- */
/* command line */

enum {
	OPT_ROOT = 256,
	OPT_RUNROOT,
	OPT_LISTEN,
	OPT_DEBUG,
	OPT_CNI_CONFIG_DIR,
	OPT_CNI_PLUGIN_DIR,
	OPT_RUNTIME,
	OPT_CONMON,
	OPT_WORKERS,
};

static const struct option long_options[] = {
	{"config", required_argument, NULL, 'c'},
	{"config-dir", required_argument, NULL, 'd'},
	{"root", required_argument, NULL, OPT_ROOT},
	{"runroot", required_argument, NULL, OPT_RUNROOT},
	{"listen", required_argument, NULL, OPT_LISTEN},
	{"log-level", required_argument, NULL, 'l'},
	{"debug", no_argument, NULL, OPT_DEBUG},
	{"cni-config-dir", required_argument, NULL, OPT_CNI_CONFIG_DIR},
	{"cni-plugin-dir", required_argument, NULL, OPT_CNI_PLUGIN_DIR},
	{"runtime", required_argument, NULL, OPT_RUNTIME},
	{"conmon", required_argument, NULL, OPT_CONMON},
	{"workers", required_argument, NULL, OPT_WORKERS},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'v'},
	{NULL, 0, NULL, 0},
};

/* Flags that set one schema field: the section index and the key. */
static const struct {
	int opt;
	const char *flag;
	size_t section;
	const char *key;
} flag_fields[] = {
	{OPT_ROOT, "--root", 0, "root"},
	{OPT_RUNROOT, "--runroot", 0, "runroot"},
	{OPT_LISTEN, "--listen", 0, "listen"},
	{'l', "--log-level", 0, "log_level"},
	{OPT_WORKERS, "--workers", 0, "workers"},
	{OPT_CONMON, "--conmon", 1, "conmon"},
	{OPT_CNI_CONFIG_DIR, "--cni-config-dir", 2, "network_dir"},
};

void config_usage(FILE *f, const char *prog)
{
	fprintf(f,
		"Usage: %s [FLAGS] [COMMAND]\n"
		"\n"
		"Flags (they override the configuration files):\n"
		"  -c, --config PATH       main config file (default " OCID_DEFAULT_CONFIG_PATH
		"; \"\" for none)\n"
		"  -d, --config-dir DIR    drop-in directory, *.conf read in lexical order\n"
		"                          (default " OCID_DEFAULT_CONFIG_DIR "; \"\" for none)\n"
		"      --root DIR          persistent state (ocid.root)\n"
		"      --runroot DIR       volatile state (ocid.runroot)\n"
		"      --listen PATH       CRI gRPC unix socket (ocid.listen)\n"
		"  -l, --log-level LEVEL   fatal, error, warn, info, debug or trace\n"
		"      --debug             same as --log-level debug\n"
		"      --cni-config-dir DIR  CNI network configs (ocid.network.network_dir)\n"
		"      --cni-plugin-dir DIR  CNI plugin directory; repeat for several, replaces\n"
		"                          ocid.network.plugin_dirs\n"
		"      --runtime NAME|PATH the default runtime by name, or the path of the\n"
		"                          default runtime's binary\n"
		"      --conmon PATH       conmon binary (ocid.runtime.conmon)\n"
		"      --workers N         RPC worker threads, 1..64 (ocid.workers)\n"
		"  -h, --help              show this help\n"
		"  -v, --version           show the version\n",
		prog);
}

struct flag_value {
	int opt;
	const char *value;
};

static int apply_runtime_flag(struct ocid_config *cfg, const char *v, ocid_error **err)
{
	struct origin o = {NULL, 0, "--runtime"};
	if (strchr(v, '/') == NULL) {
		if (config_find_runtime(cfg, v) == NULL) {
			cleanup_free char *names = runtime_names(cfg);
			return verr(err, &o, NULL,
				    "runtime \"%s\" is not configured (configured: %s)", v,
				    names ? names : "?");
		}
		if (str_replace(&cfg->runtime.default_runtime, v) < 0 ||
		    str_replace(&cfg->runtime.default_runtime_origin, "--runtime") < 0)
			return oom(err);
		return 0;
	}
	if (v[0] != '/')
		return verr(err, &o, NULL,
			    "\"%s\" is neither a runtime name nor an absolute path", v);
	struct ocid_runtime_handler *h = (struct ocid_runtime_handler *)config_find_runtime(
		cfg, cfg->runtime.default_runtime);
	if (h == NULL)
		return verr(err, &o, NULL, "the default runtime \"%s\" is not configured",
			    cfg->runtime.default_runtime);
	if (str_replace(&h->runtime_path, v) < 0)
		return oom(err);
	return 0;
}

static int apply_flag(struct ocid_config *cfg, const struct flag_value *fv, ocid_error **err)
{
	if (fv->opt == OPT_DEBUG) {
		cfg->log_level = LOG_LEVEL_DEBUG;
		return 0;
	}
	if (fv->opt == OPT_RUNTIME)
		return apply_runtime_flag(cfg, fv->value, err);
	for (size_t i = 0; i < sizeof(flag_fields) / sizeof(flag_fields[0]); i++) {
		if (flag_fields[i].opt != fv->opt)
			continue;
		const struct section *sec = &sections[flag_fields[i].section];
		const struct field *f = find_field(sec->fields, flag_fields[i].key);
		struct origin o = {NULL, 0, flag_fields[i].flag};
		void *base = at(cfg, sec->off);
		if (f->kind == K_INT) {
			int64_t n;
			if (!parse_int64(fv->value, &n))
				return verr(err, &o, NULL, "\"%s\" is not an integer", fv->value);
			return set_int(f, base, n, &o, NULL, err);
		}
		return set_string(f, base, fv->value, &o, NULL, err);
	}
	return err_set(err, GRPC_INTERNAL, "unhandled flag %d", fv->opt);
}

/* getopt said '?': an unknown (or ambiguous) flag, or a value given to a
 * flag that takes none (--debug=1). */
static void bad_flag(ocid_error **err, const char *arg, int opt)
{
	if (strncmp(arg, "--", 2) != 0) {
		err_set(err, GRPC_INVALID_ARGUMENT, "unknown flag -%c",
			opt > 0 && opt < 256 ? opt : '?');
		return;
	}
	const char *eq = strchr(arg, '=');
	if (eq) {
		for (const struct option *o = long_options; o->name; o++) {
			if (o->has_arg == no_argument &&
			    strlen(o->name) == (size_t)(eq - arg - 2) &&
			    strncmp(o->name, arg + 2, eq - arg - 2) == 0) {
				err_set(err, GRPC_INVALID_ARGUMENT, "flag --%s takes no value",
					o->name);
				return;
			}
		}
	}
	err_set(err, GRPC_INVALID_ARGUMENT, "unknown flag %.*s",
		eq ? (int)(eq - arg) : (int)strlen(arg), arg);
}

int config_from_cli(int argc, char **argv, struct ocid_config **out, int *first_arg,
		    ocid_error **err)
{
	*out = NULL;
	*first_arg = argc;
	const char *config_path = NULL, *config_dir = NULL;
	struct flag_value *flags = calloc((size_t)(argc > 0 ? argc : 1), sizeof(*flags));
	size_t n_flags = 0;
	char **plugin_dirs = NULL;
	bool help = false, version = false;
	cleanup_err ocid_error *flag_err = NULL;
	int ret = CONFIG_CLI_ERROR;
	struct ocid_config *cfg = NULL;
	if (flags == NULL) {
		oom(err);
		goto out;
	}

	optind = 0; /* full re-initialisation (glibc), so this can run more than once */
	opterr = 0;
	int c, idx;
	while ((c = getopt_long(argc, argv, "+:c:d:l:hv", long_options, &idx)) != -1) {
		switch (c) {
		case 'h':
			help = true;
			break;
		case 'v':
			version = true;
			break;
		case 'c':
			config_path = optarg;
			break;
		case 'd':
			config_dir = optarg;
			break;
		case '?':
			bad_flag(&flag_err, argv[optind - 1], optopt);
			break;
		case ':':
			err_set(&flag_err, GRPC_INVALID_ARGUMENT, "flag %s needs a value",
				argv[optind - 1]);
			break;
		case OPT_CNI_PLUGIN_DIR:
			if (strv_push(&plugin_dirs, optarg) < 0) {
				oom(err);
				goto out;
			}
			break;
		default:
			flags[n_flags++] = (struct flag_value){c, optarg};
			break;
		}
	}
	*first_arg = optind;
	if (help || version) {
		ret = help ? CONFIG_CLI_HELP : CONFIG_CLI_VERSION;
		goto out;
	}
	if (flag_err) {
		*err = steal_pointer(&flag_err);
		goto out;
	}

	if ((cfg = config_new()) == NULL) {
		oom(err);
		goto out;
	}
	const char *path = config_path ? config_path : OCID_DEFAULT_CONFIG_PATH;
	if (path[0]) {
		struct stat st;
		if (config_load_file(cfg, path, config_path == NULL, err) < 0)
			goto out;
		if (stat(path, &st) == 0 && (cfg->config_path = strdup(path)) == NULL) {
			oom(err);
			goto out;
		}
	}
	const char *dir = config_dir ? config_dir : OCID_DEFAULT_CONFIG_DIR;
	if (dir[0]) {
		struct stat st;
		if (config_load_dir(cfg, dir, config_dir == NULL, err) < 0)
			goto out;
		if (stat(dir, &st) == 0 && (cfg->config_dir = strdup(dir)) == NULL) {
			oom(err);
			goto out;
		}
	}
	for (size_t i = 0; i < n_flags; i++)
		if (apply_flag(cfg, &flags[i], err) < 0)
			goto out;
	if (plugin_dirs) {
		struct origin o = {NULL, 0, "--cni-plugin-dir"};
		const struct field *f = find_field(network_fields, "plugin_dirs");
		int r = set_strv(f, &cfg->network, plugin_dirs, &o, NULL, err);
		plugin_dirs = NULL;
		if (r < 0)
			goto out;
	}
	if (config_validate(cfg, err) < 0)
		goto out;
	*out = steal_pointer(&cfg);
	ret = CONFIG_CLI_RUN;
out:
	strv_free(plugin_dirs);
	free(flags);
	config_free(cfg);
	return ret;
}
