/* Cgroup resources, rlimits, oom_score_adj and sysctls: validated CRI values
 * mapped onto the runtime-spec, lowered where this host cannot grant more
 * (oom_score_adj, rlimits without CAP_SYS_RESOURCE). */
#include "ctr/spec_internal.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "util/cleanup.h"
#include "util/log.h"
#include "util/xalloc.h"

#define RES "linux.resources."

#define CPU_SHARES_MIN 2
#define CPU_SHARES_MAX 262144
#define CPU_PERIOD_MIN 1000
#define CPU_PERIOD_MAX 1000000
#define CPU_QUOTA_MIN 1000

/* "0-3,5,7-8": CPU or memory node lists. */
static bool cpuset_valid(const char *s)
{
	if (*s == '\0' || strlen(s) > 4096)
		return false;
	const char *p = s;
	for (;;) {
		if (!isdigit((unsigned char)*p))
			return false;
		char *end;
		unsigned long a = strtoul(p, &end, 10);
		p = end;
		if (*p == '-') {
			p++;
			if (!isdigit((unsigned char)*p))
				return false;
			unsigned long b = strtoul(p, &end, 10);
			if (b < a)
				return false;
			p = end;
		}
		if (*p == '\0')
			return true;
		if (*p != ',')
			return false;
		p++;
	}
}

/* "2MB", "1GB", "64KB". */
static bool page_size_valid(const char *s)
{
	size_t n = 0;
	while (isdigit((unsigned char)s[n]))
		n++;
	if (n == 0 || n > 10 || s[0] == '0')
		return false;
	static const char *const units[] = {"KB", "MB", "GB", "TB", "PB"};
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(s + n, units[i]) == 0)
			return true;
	return false;
}

static bool unified_key_valid(const char *k)
{
	if (k == NULL || *k == '\0' || strlen(k) > 255 || strchr(k, '/') ||
	    strcmp(k, ".") == 0 || strcmp(k, "..") == 0 || strchr(k, '.') == NULL)
		return false;
	for (const char *c = k; *c; c++)
		if (!isgraph((unsigned char)*c))
			return false;
	return true;
}

static int range_check(const char *field, int64_t v, int64_t min, int64_t max, ocid_error **err)
{
	if (v < min)
		return err_set(err, GRPC_INVALID_ARGUMENT, RES "%s: %" PRId64 " is below the "
			       "minimum %" PRId64, field, v, min);
	if (v > max)
		return err_set(err, GRPC_INVALID_ARGUMENT, RES "%s: %" PRId64 " is above the "
			       "maximum %" PRId64, field, v, max);
	return 0;
}

int spec_resources_build(const struct spec_ctx *ctx, json_t *linux_obj, json_t *resources,
			 ocid_error **err)
{
	const struct spec_input *in = ctx->in;
	if (in->cgroup_parent) {
		cleanup_free char *parent = spec_path_clean(in->cgroup_parent);
		cleanup_free char *trimmed = xstrdup(in->cgroup_parent);
		size_t l = strlen(trimmed);
		while (l > 1 && trimmed[l - 1] == '/')
			trimmed[--l] = '\0';
		if (parent == NULL || strcmp(parent, trimmed) != 0)
			return err_set(err, GRPC_INVALID_ARGUMENT,
				       "pod cgroup path \"%s\" is not a clean absolute path",
				       in->cgroup_parent);
		cleanup_free char *path =
			xasprintf("%s%s" SPEC_CGROUP_PREFIX "%s", parent,
				  strcmp(parent, "/") == 0 ? "" : "/", in->container_id);
		spec_json_set(linux_obj, "cgroupsPath", spec_json_str(path));
	}
	if (in->rtcfg->pids_limit > 0) {
		json_t *pids = json_object();
		spec_json_set(pids, "limit", json_integer(in->rtcfg->pids_limit));
		spec_json_set(resources, "pids", pids);
	}
	const Runtime__V1__LinuxContainerResources *r = ctx->res;
	if (r == NULL)
		return 0;

	json_t *cpu = json_object();
	spec_json_set(resources, "cpu", cpu);
	if (r->cpu_shares != 0) {
		if (range_check("cpu_shares", r->cpu_shares, CPU_SHARES_MIN, CPU_SHARES_MAX, err) <
		    0)
			return -1;
		spec_json_set(cpu, "shares", json_integer(r->cpu_shares));
	}
	if (r->cpu_quota != 0) {
		/* -1 = no limit */
		if (r->cpu_quota != -1 &&
		    range_check("cpu_quota", r->cpu_quota, CPU_QUOTA_MIN, INT64_MAX / 2, err) < 0)
			return -1;
		spec_json_set(cpu, "quota", json_integer(r->cpu_quota));
	}
	if (r->cpu_period != 0) {
		if (range_check("cpu_period", r->cpu_period, CPU_PERIOD_MIN, CPU_PERIOD_MAX, err) <
		    0)
			return -1;
		spec_json_set(cpu, "period", json_integer(r->cpu_period));
	}
	if (r->cpuset_cpus && *r->cpuset_cpus) {
		if (!cpuset_valid(r->cpuset_cpus))
			return err_set(err, GRPC_INVALID_ARGUMENT,
				       RES "cpuset_cpus: \"%s\" is not a CPU list (e.g. \"0-3,6\")",
				       r->cpuset_cpus);
		spec_json_set(cpu, "cpus", spec_json_str(r->cpuset_cpus));
	}
	if (r->cpuset_mems && *r->cpuset_mems) {
		if (!cpuset_valid(r->cpuset_mems))
			return err_set(err, GRPC_INVALID_ARGUMENT,
				       RES "cpuset_mems: \"%s\" is not a node list (e.g. \"0-1\")",
				       r->cpuset_mems);
		spec_json_set(cpu, "mems", spec_json_str(r->cpuset_mems));
	}

	json_t *mem = json_object();
	spec_json_set(resources, "memory", mem);
	if (r->memory_limit_in_bytes != 0) {
		if (range_check("memory_limit_in_bytes", r->memory_limit_in_bytes, SPEC_MEMORY_MIN,
				INT64_MAX, err) < 0)
			return -1;
		spec_json_set(mem, "limit", json_integer(r->memory_limit_in_bytes));
	}
	int64_t swap = r->memory_swap_limit_in_bytes;
	if (swap < -1)
		return err_set(err, GRPC_INVALID_ARGUMENT,
			       RES "memory_swap_limit_in_bytes: %" PRId64 " is below -1 (no limit)",
			       swap);
	if (swap > 0 && r->memory_limit_in_bytes > 0 && swap < r->memory_limit_in_bytes)
		return err_set(err, GRPC_INVALID_ARGUMENT,
			       RES "memory_swap_limit_in_bytes: %" PRId64 " is below "
			       "memory_limit_in_bytes %" PRId64 " (it counts memory plus swap)",
			       swap, r->memory_limit_in_bytes);
	if (swap > 0 && r->memory_limit_in_bytes == 0)
		return err_set(err, GRPC_INVALID_ARGUMENT,
			       RES "memory_swap_limit_in_bytes needs memory_limit_in_bytes");
	if (in->host->swap_accounting) {
		if (swap != 0)
			spec_json_set(mem, "swap", json_integer(swap));
		else if (r->memory_limit_in_bytes > 0) /* no swap beyond the limit */
			spec_json_set(mem, "swap", json_integer(r->memory_limit_in_bytes));
	} else if (swap != 0) {
		log_debug("swap accounting unavailable, memory_swap_limit_in_bytes ignored",
			  "container=%s", in->container_id);
	}

	if (r->n_hugepage_limits) {
		json_t *hp = json_array();
		spec_json_set(resources, "hugepageLimits", hp);
		for (size_t i = 0; i < r->n_hugepage_limits; i++) {
			const Runtime__V1__HugepageLimit *h = r->hugepage_limits[i];
			if (h == NULL || h->page_size == NULL || !page_size_valid(h->page_size))
				return err_set(err, GRPC_INVALID_ARGUMENT,
					       RES "hugepage_limits[%zu].page_size: \"%s\" is not a "
					       "page size (e.g. \"2MB\", \"1GB\")",
					       i, h && h->page_size ? h->page_size : "");
			if (h->limit > (uint64_t)INT64_MAX)
				return err_set(err, GRPC_INVALID_ARGUMENT,
					       RES "hugepage_limits[%zu].limit: %" PRIu64
					       " is too large",
					       i, h->limit);
			json_t *e = json_object();
			spec_json_set(e, "pageSize", spec_json_str(h->page_size));
			spec_json_set(e, "limit", json_integer((json_int_t)h->limit));
			spec_json_append(hp, e);
		}
	}
	if (r->n_unified) {
		json_t *u = json_object();
		spec_json_set(resources, "unified", u);
		for (size_t i = 0; i < r->n_unified; i++) {
			const char *k = r->unified[i]->key, *v = r->unified[i]->value;
			if (!unified_key_valid(k))
				return err_set(err, GRPC_INVALID_ARGUMENT,
					       RES "unified: \"%s\" is not a cgroup v2 file name",
					       k ? k : "");
			if (v == NULL || strchr(v, '\n'))
				return err_set(err, GRPC_INVALID_ARGUMENT,
					       RES "unified[\"%s\"]: the value must be one line",
					       k);
			spec_json_set(u, k, spec_json_str(v));
		}
	}
	return 0;
}

int spec_resources_update(const Runtime__V1__LinuxContainerResources *res, const struct ocid_runtime_config *rtcfg,
			  const struct spec_host *host, json_t **out, ocid_error **err)
{
	*out = NULL;
	Runtime__V1__ContainerConfig none = RUNTIME__V1__CONTAINER_CONFIG__INIT;
	struct spec_input in = {.container_id = "", .ctr = &none, .rtcfg = rtcfg, .host = host};
	struct spec_ctx ctx = {.in = &in, .res = res};
	json_t *linux_obj = json_object(), *resources = json_object();
	if (linux_obj == NULL || resources == NULL)
		abort();
	int rc = spec_resources_build(&ctx, linux_obj, resources, err);
	json_decref(linux_obj);
	if (rc < 0) {
		json_decref(resources);
		return -1;
	}
	*out = resources;
	return 0;
}

/* ---- rlimits ---- */

static const struct {
	const char *name;
	const char *oci;
	int resource;
} rlimit_names[] = {
	{"core", "RLIMIT_CORE", RLIMIT_CORE},
	{"cpu", "RLIMIT_CPU", RLIMIT_CPU},
	{"data", "RLIMIT_DATA", RLIMIT_DATA},
	{"fsize", "RLIMIT_FSIZE", RLIMIT_FSIZE},
	{"locks", "RLIMIT_LOCKS", RLIMIT_LOCKS},
	{"memlock", "RLIMIT_MEMLOCK", RLIMIT_MEMLOCK},
	{"msgqueue", "RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE},
	{"nice", "RLIMIT_NICE", RLIMIT_NICE},
	{"nofile", "RLIMIT_NOFILE", RLIMIT_NOFILE},
	{"nproc", "RLIMIT_NPROC", RLIMIT_NPROC},
	{"rss", "RLIMIT_RSS", RLIMIT_RSS},
	{"rtprio", "RLIMIT_RTPRIO", RLIMIT_RTPRIO},
	{"rttime", "RLIMIT_RTTIME", RLIMIT_RTTIME},
	{"sigpending", "RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
	{"stack", "RLIMIT_STACK", RLIMIT_STACK},
};
#define N_RLIMITS (sizeof(rlimit_names) / sizeof(rlimit_names[0]))

static bool parse_limit(const char *s, uint64_t *out)
{
	if (strcmp(s, "-1") == 0) {
		*out = RLIM_INFINITY;
		return true;
	}
	if (!isdigit((unsigned char)*s))
		return false;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end != '\0' || v > (unsigned long long)INT64_MAX)
		return false;
	*out = v;
	return true;
}

static json_t *limit_json(uint64_t v)
{
	/* -1 stands for RLIM_INFINITY in the json_t (see spec_dumps). */
	return json_integer(v == RLIM_INFINITY ? -1 : (json_int_t)v);
}

int spec_rlimits_build(const struct spec_ctx *ctx, json_t *process, ocid_error **err)
{
	uint64_t soft[N_RLIMITS], hard[N_RLIMITS];
	bool set[N_RLIMITS] = {false};
	for (size_t i = 0; i < N_RLIMITS; i++)
		if (rlimit_names[i].resource == RLIMIT_NOFILE) {
			soft[i] = hard[i] = SPEC_DEFAULT_NOFILE;
			set[i] = true;
		}
	char *const *ul = ctx->in->rtcfg->default_ulimits;
	for (size_t k = 0; ul && ul[k]; k++) {
		cleanup_free char *copy = xstrdup(ul[k]);
		char *eq = strchr(copy, '=');
		size_t i = N_RLIMITS;
		if (eq) {
			*eq = '\0';
			for (i = 0; i < N_RLIMITS && strcmp(rlimit_names[i].name, copy) != 0; i++)
				;
		}
		char *colon = eq ? strchr(eq + 1, ':') : NULL;
		if (colon)
			*colon = '\0';
		if (i == N_RLIMITS || !parse_limit(eq + 1, &soft[i]) ||
		    !parse_limit(colon ? colon + 1 : eq + 1, &hard[i]) || soft[i] > hard[i])
			return err_set(err, GRPC_FAILED_PRECONDITION,
				       "ocid.runtime.default_ulimits: bad entry \"%s\"", ul[k]);
		set[i] = true;
	}
	json_t *arr = json_array();
	for (size_t i = 0; i < N_RLIMITS; i++) {
		if (!set[i])
			continue;
		uint64_t max = ctx->in->host->rlimit_max[rlimit_names[i].resource];
		if (max != RLIM_INFINITY) {
			if (hard[i] > max)
				hard[i] = max;
			if (soft[i] > hard[i])
				soft[i] = hard[i];
		}
		json_t *e = json_object();
		spec_json_set(e, "type", json_string(rlimit_names[i].oci));
		spec_json_set(e, "hard", limit_json(hard[i]));
		spec_json_set(e, "soft", limit_json(soft[i]));
		spec_json_append(arr, e);
	}
	spec_json_set(process, "rlimits", arr);
	return 0;
}

/* ---- oom_score_adj ---- */

int spec_oom_score_adj(const struct spec_ctx *ctx, int *out, ocid_error **err)
{
	int64_t v = ctx->res ? ctx->res->oom_score_adj : 0;
	if (range_check("oom_score_adj", v, -1000, 1000, err) < 0)
		return -1;
	if (v < ctx->in->host->oom_score_adj_min)
		v = ctx->in->host->oom_score_adj_min;
	*out = (int)v;
	return 0;
}

/* ---- sysctls ---- */

enum sysctl_ns { SYSCTL_NONE, SYSCTL_NET, SYSCTL_IPC };

static bool has_prefix(const char *s, const char *p)
{
	return strncmp(s, p, strlen(p)) == 0;
}

/* The dotted form: with '/' separators, '.' and '/' are swapped (as the
 * kubelet does). NULL when a component is empty, "." or "..". */
static char *sysctl_normalize(const char *name)
{
	if (name == NULL || *name == '\0' || strlen(name) > 256)
		return NULL;
	char *n = xstrdup(name);
	if (strchr(n, '/'))
		for (char *c = n; *c; c++)
			*c = *c == '/' ? '.' : *c == '.' ? '/' : *c;
	for (char *c = n; *c; c++)
		if (!isgraph((unsigned char)*c) || *c == '=')
			goto bad;
	for (char *c = n, *start = n;; c++) {
		if (*c == '.' || *c == '\0') {
			size_t l = (size_t)(c - start);
			if (l == 0 || (l == 1 && start[0] == '/') ||
			    (l == 2 && start[0] == '/' && start[1] == '/'))
				goto bad;
			if (*c == '\0')
				break;
			start = c + 1;
		}
	}
	return n;
bad:
	free(n);
	return NULL;
}

static enum sysctl_ns sysctl_class(const char *n)
{
	if (has_prefix(n, "net."))
		return SYSCTL_NET;
	if (strcmp(n, "kernel.sem") == 0 || has_prefix(n, "kernel.shm") ||
	    has_prefix(n, "kernel.msg") || has_prefix(n, "fs.mqueue."))
		return SYSCTL_IPC;
	return SYSCTL_NONE;
}

/* NULL when fine, else why not. */
static const char *sysctl_refusal(const struct spec_input *in, const char *n)
{
	switch (sysctl_class(n)) {
	case SYSCTL_NET:
		return in->net.host ? "a network sysctl cannot be set with the host network"
				    : NULL;
	case SYSCTL_IPC:
		return in->ipc.host ? "an IPC sysctl cannot be set with the host IPC namespace"
				    : NULL;
	default:
		return "not a namespaced sysctl";
	}
}

int spec_sysctls_build(const struct spec_ctx *ctx, json_t *linux_obj, ocid_error **err)
{
	const struct spec_input *in = ctx->in;
	json_t *out = json_object();
	spec_json_set(linux_obj, "sysctl", out);
	char *const *defs = in->rtcfg->default_sysctls;
	for (size_t i = 0; defs && defs[i]; i++) {
		cleanup_free char *copy = xstrdup(defs[i]);
		char *eq = strchr(copy, '=');
		if (eq == NULL)
			continue;
		*eq = '\0';
		cleanup_free char *n = sysctl_normalize(copy);
		const char *why = n ? sysctl_refusal(in, n) : "bad name";
		if (why) {
			log_warn("default sysctl left out", "sysctl=%s reason=\"%s\"", copy, why);
			continue;
		}
		spec_json_set(out, n, spec_json_str(eq + 1));
	}
	const Runtime__V1__LinuxPodSandboxConfig *pl = in->pod ? in->pod->linux : NULL;
	for (size_t i = 0; pl && i < pl->n_sysctls; i++) {
		const char *k = pl->sysctls[i]->key, *v = pl->sysctls[i]->value;
		cleanup_free char *n = sysctl_normalize(k);
		if (n == NULL)
			return err_set(err, GRPC_INVALID_ARGUMENT,
				       "pod linux.sysctls: \"%s\" is not a sysctl name", k ? k : "");
		const char *why = sysctl_refusal(in, n);
		if (why)
			return err_set(err, GRPC_INVALID_ARGUMENT, "pod linux.sysctls[\"%s\"]: %s",
				       k, why);
		if (v == NULL || strchr(v, '\n') || strlen(v) > 4096)
			return err_set(err, GRPC_INVALID_ARGUMENT,
				       "pod linux.sysctls[\"%s\"]: the value must be one line",
				       k);
		spec_json_set(out, n, spec_json_str(v));
	}
	return 0;
}
