/* Capabilities: the runtime's default set, then the CRI lists in cri-o's
 * order: add "ALL", drop "ALL", each named add, each named drop. Privileged
 * means every capability. "ALL" is every capability this kernel has that
 * ocid itself holds (a capability outside ocid's bounding set cannot be
 * given: naming one is FAILED_PRECONDITION, and it is left out of "ALL").
 *
 * The bounding, effective and permitted sets are equal and the inheritable
 * and ambient sets hold only add_ambient_capabilities, as cri-o does; for a
 * non-root user the kernel clears the effective and permitted sets at exec,
 * which is what Kubernetes users expect. */
#include "ctr/spec_internal.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "util/log.h"

static const char *const cap_names[SPEC_CAP_COUNT] = {
	"CAP_CHOWN",           "CAP_DAC_OVERRIDE",    "CAP_DAC_READ_SEARCH",
	"CAP_FOWNER",          "CAP_FSETID",          "CAP_KILL",
	"CAP_SETGID",          "CAP_SETUID",          "CAP_SETPCAP",
	"CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
	"CAP_NET_ADMIN",       "CAP_NET_RAW",         "CAP_IPC_LOCK",
	"CAP_IPC_OWNER",       "CAP_SYS_MODULE",      "CAP_SYS_RAWIO",
	"CAP_SYS_CHROOT",      "CAP_SYS_PTRACE",      "CAP_SYS_PACCT",
	"CAP_SYS_ADMIN",       "CAP_SYS_BOOT",        "CAP_SYS_NICE",
	"CAP_SYS_RESOURCE",    "CAP_SYS_TIME",        "CAP_SYS_TTY_CONFIG",
	"CAP_MKNOD",           "CAP_LEASE",           "CAP_AUDIT_WRITE",
	"CAP_AUDIT_CONTROL",   "CAP_SETFCAP",         "CAP_MAC_OVERRIDE",
	"CAP_MAC_ADMIN",       "CAP_SYSLOG",          "CAP_WAKE_ALARM",
	"CAP_BLOCK_SUSPEND",   "CAP_AUDIT_READ",      "CAP_PERFMON",
	"CAP_BPF",             "CAP_CHECKPOINT_RESTORE",
};

int spec_cap_from_name(const char *name)
{
	if (name == NULL)
		return -1;
	const char *bare = strncasecmp(name, "CAP_", 4) == 0 ? name + 4 : name;
	for (int i = 0; i < SPEC_CAP_COUNT; i++)
		if (strcasecmp(bare, cap_names[i] + 4) == 0)
			return i;
	return -1;
}

const char *spec_cap_name(int cap)
{
	return cap >= 0 && cap < SPEC_CAP_COUNT ? cap_names[cap] : NULL;
}

static uint64_t all_caps(const struct spec_host *host)
{
	int last = host->cap_last_cap;
	if (last >= SPEC_CAP_COUNT)
		last = SPEC_CAP_COUNT - 1;
	uint64_t m = last < 0 ? 0 : (last >= 63 ? ~0ULL : ((1ULL << (last + 1)) - 1));
	return m & host->cap_bounding;
}

static bool is_all(const char *s)
{
	return s && strcasecmp(s, "ALL") == 0;
}

static int lookup(const struct spec_host *host, const char *list, size_t i, const char *name,
		  int *cap, ocid_error **err)
{
	*cap = spec_cap_from_name(name);
	if (*cap < 0)
		return err_set(err, GRPC_INVALID_ARGUMENT,
			       "linux.security_context.capabilities.%s[%zu]: unknown capability "
			       "\"%s\"",
			       list, i, name ? name : "");
	if (*cap > host->cap_last_cap)
		return err_set(err, GRPC_FAILED_PRECONDITION,
			       "linux.security_context.capabilities.%s[%zu]: %s is not known to "
			       "this kernel",
			       list, i, cap_names[*cap]);
	return 0;
}

static int check_held(const struct spec_host *host, const char *list, size_t i, int cap,
		      ocid_error **err)
{
	if (host->cap_bounding & (1ULL << cap))
		return 0;
	return err_set(err, GRPC_FAILED_PRECONDITION,
		       "linux.security_context.capabilities.%s[%zu]: %s cannot be granted: ocid "
		       "itself does not hold it",
		       list, i, cap_names[cap]);
}

int spec_caps_compute(struct spec_ctx *ctx, ocid_error **err)
{
	const struct spec_host *host = ctx->in->host;
	const uint64_t all = all_caps(host);
	ctx->caps = 0;
	ctx->ambient = 0;
	if (ctx->privileged) {
		ctx->caps = all;
		return 0;
	}
	char *const *defs = ctx->in->rtcfg->default_capabilities;
	for (size_t i = 0; defs && defs[i]; i++) {
		int cap = spec_cap_from_name(defs[i]);
		if (cap < 0 || !(all & (1ULL << cap))) {
			log_warn("default capability not available, left out", "capability=%s",
				 defs[i]);
			continue;
		}
		ctx->caps |= 1ULL << cap;
	}
	const Runtime__V1__Capability *c = ctx->sc ? ctx->sc->capabilities : NULL;
	if (c == NULL)
		return 0;
	for (size_t i = 0; i < c->n_add_capabilities; i++)
		if (is_all(c->add_capabilities[i]))
			ctx->caps = all;
	for (size_t i = 0; i < c->n_drop_capabilities; i++)
		if (is_all(c->drop_capabilities[i]))
			ctx->caps = 0;
	int cap;
	for (size_t i = 0; i < c->n_add_capabilities; i++) {
		if (is_all(c->add_capabilities[i]))
			continue;
		if (lookup(host, "add_capabilities", i, c->add_capabilities[i], &cap, err) < 0 ||
		    check_held(host, "add_capabilities", i, cap, err) < 0)
			return -1;
		ctx->caps |= 1ULL << cap;
	}
	for (size_t i = 0; i < c->n_drop_capabilities; i++) {
		if (is_all(c->drop_capabilities[i]))
			continue;
		/* Dropping a capability this kernel lacks is harmless. */
		cap = spec_cap_from_name(c->drop_capabilities[i]);
		if (cap < 0)
			return lookup(host, "drop_capabilities", i, c->drop_capabilities[i], &cap,
				      err);
		ctx->caps &= ~(1ULL << cap);
	}
	for (size_t i = 0; i < c->n_add_ambient_capabilities; i++) {
		const char *n = c->add_ambient_capabilities[i];
		if (is_all(n))
			return err_set(err, GRPC_INVALID_ARGUMENT,
				       "linux.security_context.capabilities."
				       "add_ambient_capabilities[%zu]: \"ALL\" is not accepted here",
				       i);
		if (lookup(host, "add_ambient_capabilities", i, n, &cap, err) < 0 ||
		    check_held(host, "add_ambient_capabilities", i, cap, err) < 0)
			return -1;
		/* An ambient capability must be permitted and inheritable too. */
		ctx->ambient |= 1ULL << cap;
		ctx->caps |= 1ULL << cap;
	}
	return 0;
}

static json_t *caps_list(uint64_t set)
{
	json_t *a = json_array();
	for (int i = 0; i < SPEC_CAP_COUNT; i++)
		if (set & (1ULL << i))
			spec_json_append(a, json_string(cap_names[i]));
	return a;
}

json_t *spec_caps_json(const struct spec_ctx *ctx)
{
	json_t *o = json_object();
	spec_json_set(o, "bounding", caps_list(ctx->caps));
	spec_json_set(o, "effective", caps_list(ctx->caps));
	spec_json_set(o, "permitted", caps_list(ctx->caps));
	spec_json_set(o, "inheritable", caps_list(ctx->ambient));
	spec_json_set(o, "ambient", caps_list(ctx->ambient));
	return o;
}
