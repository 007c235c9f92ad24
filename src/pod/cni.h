/* Running CNI plugin chains (CNI spec 1.0.0; networks of cniVersion 0.3.0 to
 * 1.0.0) for a pod sandbox: ADD, DEL and CHECK.
 *
 * Each call re-reads the network config (see cni_config.h): a config that
 * appears later is used without a restart. Plugins are found by type in the
 * configured plugin dirs (first executable match) and run through spawn_run
 * with an explicit environment: CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS,
 * CNI_IFNAME, CNI_ARGS (IgnoreUnknown=1 and the K8S_POD_* keys), CNI_PATH
 * and PATH (the plugins run iptables and friends).
 *
 * ADD runs the chain in order, each plugin getting the previous one's result
 * as prevResult; if any step fails, DEL is run for the whole chain in
 * reverse (with a fresh deadline) so nothing is left, and the plugin's error
 * is reported: "plugin bridge failed (code 7): msg: details".
 *
 * ADD hands back a cache (a JSON string: the network config used and the
 * final result) that the caller persists and gives to DEL and CHECK. DEL
 * uses the cached network config when there is one, so a pod can be torn
 * down after its config file changed or disappeared, and passes the cached
 * result as prevResult (for 0.4.0+). DEL tolerates a netns that is gone (the
 * plugins are told by an unset CNI_NETNS) and runs every plugin even when
 * one fails, reporting the first failure: plugins' DEL is idempotent, so
 * the caller simply retries.
 *
 * One shortcut: a "portmap" plugin is not run for a pod without host ports
 * (ADD, CHECK, DEL), where it does nothing but cost a plugin start and a
 * round of iptables. */
#ifndef OCID_POD_CNI_H
#define OCID_POD_CNI_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "pod/cni_config.h"
#include "util/err.h"

#define CNI_DEFAULT_IFNAME "eth0"

/* CRI's runtime.v1.Protocol values. */
enum cni_protocol {
	CNI_PROTO_TCP = 0,
	CNI_PROTO_UDP = 1,
	CNI_PROTO_SCTP = 2,
};

struct cni_port_mapping {
	int32_t container_port; /* 1..65535 */
	int32_t host_port;      /* <= 0: not published (skipped) */
	enum cni_protocol protocol;
	const char *host_ip; /* NULL or "" = every address */
};

/* The pod as CNI sees it. */
struct cni_pod {
	const char *container_id; /* the sandbox id */
	/* Path of the pinned netns. Required for ADD and CHECK; for DEL it may
	 * be NULL or no longer a netns, and plugins then get no CNI_NETNS. */
	const char *netns;
	const char *ifname; /* NULL = CNI_DEFAULT_IFNAME */
	const char *pod_namespace;
	const char *pod_name;
	const char *pod_uid;
	const struct cni_port_mapping *ports;
	size_t n_ports;
};

/* Where and how long. */
struct cni_call {
	const struct ocid_network_config *cfg; /* network_dir, plugin_dirs, cni_default_network */
	int64_t deadline_ns;                   /* CLOCK_MONOTONIC (spawn_now_ns); 0 = none */
	bool (*cancelled)(void *arg);          /* optional, as in spawn_opts */
	void *cancel_arg;
	/* Budget for the DEL that undoes a failed ADD (fresh, not the ADD's
	 * deadline); 0 = 30 s. */
	int64_t cleanup_timeout_ns;
};

struct cni_interface {
	char *name;
	char *mac;     /* "" when not given */
	char *sandbox; /* netns path; "" for host interfaces */
};

struct cni_ip {
	char *address; /* CIDR as given: "10.88.0.5/16", "fd00::5/64" */
	char *ip;      /* the address alone: "10.88.0.5" */
	int family;    /* 4 or 6 */
	int prefix_len;
	char *gateway;  /* "" when not given */
	int interface;  /* index into interfaces, -1 when not given */
};

struct cni_route {
	char *dst; /* CIDR */
	char *gw;  /* "" when not given */
};

struct cni_dns {
	char **nameservers; /* NULL-terminated, never NULL */
	char *domain;       /* "" when not given */
	char **search;
	char **options;
};

struct cni_result {
	char *cni_version;
	struct cni_interface *interfaces;
	size_t n_interfaces;
	struct cni_ip *ips;
	size_t n_ips;
	struct cni_route *routes;
	size_t n_routes;
	struct cni_dns dns;
	char *json; /* the result, compact */
};

/* ADD: on success *result (may be NULL if not wanted) is the chain's final
 * result and *cache the JSON string to persist for cni_del/cni_check. On
 * failure nothing is returned and the chain has been deleted again. */
int cni_add(const struct cni_call *call, const struct cni_pod *pod, struct cni_result **result, char **cache,
	    ocid_error **err);

/* DEL: cache is what cni_add returned, or NULL (ADD never finished: the
 * current config is used, without prevResult). Succeeds when everything is
 * already gone. */
int cni_del(const struct cni_call *call, const struct cni_pod *pod, const char *cache, ocid_error **err);

/* CHECK, with the cache of the ADD. Does nothing (returns 0) for networks
 * older than 0.4.0 or with disableCheck. */
int cni_check(const struct cni_call *call, const struct cni_pod *pod, const char *cache, ocid_error **err);

/* The result and network name stored in a cache (e.g. to report the pod's
 * IPs after a restart). network_name may be NULL. */
int cni_cache_result(const char *cache, struct cni_result **result, char **network_name, ocid_error **err);

/* ---- the pure parts (exposed for tests) ---- */

/* Parses a plugin's ADD result (0.3.0, 0.3.1, 0.4.0, 1.0.0 formats). */
int cni_result_parse(const char *json, struct cni_result **out, ocid_error **err);
int cni_result_from_json(json_t *root, struct cni_result **out, ocid_error **err);
void cni_result_free(struct cni_result *r);

/* "IgnoreUnknown=1;K8S_POD_NAMESPACE=..;K8S_POD_NAME=..;
 * K8S_POD_INFRA_CONTAINER_ID=..;K8S_POD_UID=..". Values containing ';' or
 * '=' are refused (INVALID_ARGUMENT). Returns a malloc'd string or NULL. */
char *cni_build_args(const struct cni_pod *pod, ocid_error **err);

/* runtimeConfig.portMappings for the pod: [{hostPort, containerPort,
 * protocol, hostIP?}] for the mappings with hostPort > 0. Returns a new
 * array (possibly empty), or NULL with *err set for invalid ports. */
json_t *cni_port_mappings(const struct cni_pod *pod, ocid_error **err);

/* The stdin of plugin index of net: its config with cniVersion and name of
 * the network, "capabilities" removed, runtimeConfig holding the declared
 * capabilities the runtime has values for (portMappings), and prevResult
 * (borrowed; NULL = none). Returns a new object, or NULL with *err set. */
json_t *cni_plugin_stdin(const struct cni_network *net, size_t index, const struct cni_pod *pod,
			 json_t *prev_result, ocid_error **err);

/* The message for a failed plugin run: from the JSON error on stdout
 * ({code, msg, details}): "plugin TYPE failed (code N): msg: details";
 * otherwise "plugin TYPE failed: STATUS: <stderr or stdout>". Sets
 * *code to the CNI error code (0 when there was none). Malloc'd. */
char *cni_plugin_error(const char *type, const char *status, const char *out, const char *err_out, int *code);

/* Checks a container id the way the spec asks (alphanumeric first, then
 * alphanumerics, '_', '.', '-') and an interface name (1-15 bytes, no '/',
 * ':' or whitespace, not "." or ".."). */
int cni_check_pod(const struct cni_pod *pod, bool need_netns, ocid_error **err);

#endif
