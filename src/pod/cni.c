#include "pod/cni.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/log.h"
#include "util/spawn.h"
#include "util/xalloc.h"

#define CLEANUP_TIMEOUT_DEFAULT_NS (30LL * 1000000000LL)
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define ERROR_TEXT_MAX 1024

static void json_cleanup(json_t **j) { json_decref(*j); }
#define cleanup_json __attribute__((cleanup(json_cleanup)))

static void strv_cleanup(char ***v) { strv_free(*v); }
#define cleanup_strv __attribute__((cleanup(strv_cleanup)))

/* Appends "; text" to the message of *err. */
static void err_append(ocid_error **err, const char *text)
{
	if (err == NULL || *err == NULL)
		return;
	char *msg = xasprintf("%s; %s", (*err)->msg, text);
	free((*err)->msg);
	(*err)->msg = msg;
}

/* A warning about a failure that is not returned (network and container
 * names are validated, so only the error text needs escaping). */
static void warn_error(const char *msg, const char *network, const char *container, const char *error)
{
	char esc[1024];
	log_escape(error, esc, sizeof(esc));
	log_warn(msg, "network=%s container=%s error=\"%s\"", network ? network : "", container ? container : "", esc);
}

/* ---- validation ---- */

static bool valid_container_id(const char *s)
{
	if (s == NULL || !isalnum((unsigned char)s[0]))
		return false;
	for (const char *p = s + 1; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '.' && *p != '-')
			return false;
	return true;
}

static bool valid_ifname(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 15 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return false;
	for (const char *p = s; *p; p++)
		if (*p == '/' || *p == ':' || isspace((unsigned char)*p))
			return false;
	return true;
}

static const char *pod_ifname(const struct cni_pod *pod)
{
	return pod->ifname && *pod->ifname ? pod->ifname : CNI_DEFAULT_IFNAME;
}

/* A network namespace file (a bind mount of one, or /proc/PID/ns/net). */
static bool netns_usable(const char *path)
{
	struct statfs st;
	return path != NULL && *path != '\0' && statfs(path, &st) == 0 && (unsigned long)st.f_type == NSFS_MAGIC;
}

int cni_check_pod(const struct cni_pod *pod, bool need_netns, ocid_error **err)
{
	if (!valid_container_id(pod->container_id))
		return err_set(err, GRPC_INVALID_ARGUMENT, "invalid CNI container id \"%s\"",
			       pod->container_id ? pod->container_id : "");
	if (!valid_ifname(pod_ifname(pod)))
		return err_set(err, GRPC_INVALID_ARGUMENT, "invalid interface name \"%s\"", pod_ifname(pod));
	if (need_netns) {
		if (pod->netns == NULL || *pod->netns == '\0')
			return err_set(err, GRPC_FAILED_PRECONDITION, "no network namespace for the pod");
		if (!netns_usable(pod->netns))
			return err_set(err, GRPC_FAILED_PRECONDITION, "%s is not a network namespace", pod->netns);
	}
	return 0;
}

/* ---- CNI_ARGS and runtimeConfig ---- */

char *cni_build_args(const struct cni_pod *pod, ocid_error **err)
{
	struct {
		const char *key, *value;
	} kv[] = {
		{"K8S_POD_NAMESPACE", pod->pod_namespace},
		{"K8S_POD_NAME", pod->pod_name},
		{"K8S_POD_INFRA_CONTAINER_ID", pod->container_id},
		{"K8S_POD_UID", pod->pod_uid},
	};
	char *args = xstrdup("IgnoreUnknown=1");
	for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++) {
		const char *v = kv[i].value ? kv[i].value : "";
		if (strpbrk(v, ";=") != NULL) {
			free(args);
			err_set(err, GRPC_INVALID_ARGUMENT, "CNI_ARGS: %s value \"%s\" must not contain ';' or '='", kv[i].key,
				v);
			return NULL;
		}
		char *next = xasprintf("%s;%s=%s", args, kv[i].key, v);
		free(args);
		args = next;
	}
	return args;
}

static bool valid_ip(const char *s)
{
	unsigned char buf[16];
	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

json_t *cni_port_mappings(const struct cni_pod *pod, ocid_error **err)
{
	static const char *const proto_names[] = {[CNI_PROTO_TCP] = "tcp", [CNI_PROTO_UDP] = "udp", [CNI_PROTO_SCTP] = "sctp"};
	json_t *arr = json_array();
	for (size_t i = 0; i < pod->n_ports; i++) {
		const struct cni_port_mapping *pm = &pod->ports[i];
		if (pm->host_port <= 0)
			continue;
		const char *what = NULL;
		if (pm->host_port > 65535)
			what = "host port";
		else if (pm->container_port <= 0 || pm->container_port > 65535)
			what = "container port";
		else if ((unsigned)pm->protocol > CNI_PROTO_SCTP)
			what = "protocol";
		else if (pm->host_ip && *pm->host_ip && !valid_ip(pm->host_ip))
			what = "host IP";
		if (what) {
			json_decref(arr);
			err_set(err, GRPC_INVALID_ARGUMENT, "port mapping %d->%d: invalid %s", pm->host_port,
				pm->container_port, what);
			return NULL;
		}
		json_t *m = json_object();
		json_object_set_new(m, "hostPort", json_integer(pm->host_port));
		json_object_set_new(m, "containerPort", json_integer(pm->container_port));
		json_object_set_new(m, "protocol", json_string(proto_names[pm->protocol]));
		if (pm->host_ip && *pm->host_ip)
			json_object_set_new(m, "hostIP", json_string(pm->host_ip));
		json_array_append_new(arr, m);
	}
	return arr;
}

json_t *cni_plugin_stdin(const struct cni_network *net, size_t index, const struct cni_pod *pod,
			 json_t *prev_result, ocid_error **err)
{
	if (index >= net->n_plugins) {
		err_set(err, GRPC_INTERNAL, "plugin index %zu out of range", index);
		return NULL;
	}
	json_t *src = net->plugins[index].conf;
	json_t *conf = json_deep_copy(src);
	json_object_set_new(conf, "cniVersion", json_string(net->cni_version));
	json_object_set_new(conf, "name", json_string(net->name));
	json_object_del(conf, "capabilities");
	json_object_del(conf, "runtimeConfig");
	json_object_del(conf, "prevResult");

	/* runtimeConfig: only what the plugin declares and we have values for. */
	json_t *caps = json_object_get(src, "capabilities");
	json_t *rc = json_object();
	if (json_is_true(json_object_get(caps, "portMappings"))) {
		json_t *pm = cni_port_mappings(pod, err);
		if (pm == NULL) {
			json_decref(rc);
			json_decref(conf);
			return NULL;
		}
		if (json_array_size(pm) > 0)
			json_object_set_new(rc, "portMappings", pm);
		else
			json_decref(pm);
	}
	if (json_object_size(rc) > 0)
		json_object_set_new(conf, "runtimeConfig", rc);
	else
		json_decref(rc);

	if (prev_result != NULL)
		json_object_set(conf, "prevResult", prev_result);
	return conf;
}

/* ---- errors ---- */

static char *trimmed(const char *s)
{
	while (*s && isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	if (n > ERROR_TEXT_MAX)
		return xasprintf("%.*s...", ERROR_TEXT_MAX, s);
	char *r = xmalloc(n + 1);
	memcpy(r, s, n);
	r[n] = '\0';
	return r;
}

char *cni_plugin_error(const char *type, const char *status, const char *out, const char *err_out, int *code)
{
	*code = 0;
	json_t *root = out && *out ? json_loads(out, JSON_DISABLE_EOF_CHECK, NULL) : NULL;
	json_t *msg = json_object_get(root, "msg");
	json_t *jcode = json_object_get(root, "code");
	if (json_is_object(root) && (json_is_string(msg) || json_is_integer(jcode))) {
		*code = json_is_integer(jcode) ? (int)json_integer_value(jcode) : 0;
		cleanup_free char *m = trimmed(json_is_string(msg) ? json_string_value(msg) : "");
		json_t *details = json_object_get(root, "details");
		cleanup_free char *d = trimmed(json_is_string(details) ? json_string_value(details) : "");
		char *r = xasprintf("plugin %s failed (code %d)%s%s%s%s", type, *code, *m ? ": " : "", m,
				    *d ? ": " : "", d);
		json_decref(root);
		return r;
	}
	json_decref(root);
	cleanup_free char *text = trimmed(err_out && *err_out ? err_out : out ? out : "");
	if (*text == '\0')
		return xasprintf("plugin %s failed: %s", type, status);
	return xasprintf("plugin %s failed: %s: %s", type, status, text);
}

/* ---- results ---- */

static void free_strv_field(char **v) { strv_free(v); }

void cni_result_free(struct cni_result *r)
{
	if (r == NULL)
		return;
	free(r->cni_version);
	for (size_t i = 0; i < r->n_interfaces; i++) {
		free(r->interfaces[i].name);
		free(r->interfaces[i].mac);
		free(r->interfaces[i].sandbox);
	}
	free(r->interfaces);
	for (size_t i = 0; i < r->n_ips; i++) {
		free(r->ips[i].address);
		free(r->ips[i].ip);
		free(r->ips[i].gateway);
	}
	free(r->ips);
	for (size_t i = 0; i < r->n_routes; i++) {
		free(r->routes[i].dst);
		free(r->routes[i].gw);
	}
	free(r->routes);
	free_strv_field(r->dns.nameservers);
	free(r->dns.domain);
	free_strv_field(r->dns.search);
	free_strv_field(r->dns.options);
	free(r->json);
	free(r);
}

/* The string at key, "" when absent; -1 when present but not a string. */
static int get_opt_str(json_t *obj, const char *key, char **out)
{
	json_t *v = json_object_get(obj, key);
	if (v == NULL || json_is_null(v)) {
		*out = xstrdup("");
		return 0;
	}
	if (!json_is_string(v)) {
		*out = NULL;
		return -1;
	}
	*out = xstrdup(json_string_value(v));
	return 0;
}

static int get_strv(json_t *obj, const char *key, char ***out, ocid_error **err)
{
	json_t *v = json_object_get(obj, key);
	size_t n = json_is_array(v) ? json_array_size(v) : 0;
	if (v != NULL && !json_is_null(v) && !json_is_array(v))
		return err_set(err, GRPC_INVALID_ARGUMENT, "CNI result: dns.%s must be a list", key);
	char **list = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		json_t *s = json_array_get(v, i);
		if (!json_is_string(s)) {
			strv_free(list);
			return err_set(err, GRPC_INVALID_ARGUMENT, "CNI result: dns.%s[%zu] must be a string", key, i);
		}
		list[i] = xstrdup(json_string_value(s));
	}
	*out = list;
	return 0;
}

/* "addr/prefix": family 4 or 6, the prefix, and the address alone. */
static int parse_cidr(const char *s, int *family, int *prefix, char **ip)
{
	const char *slash = strchr(s, '/');
	if (slash == NULL || slash == s || slash[1] == '\0')
		return -1;
	size_t alen = (size_t)(slash - s);
	cleanup_free char *addr = xmalloc(alen + 1);
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	unsigned char buf[16];
	int max;
	if (inet_pton(AF_INET, addr, buf) == 1) {
		*family = 4;
		max = 32;
	} else if (inet_pton(AF_INET6, addr, buf) == 1) {
		*family = 6;
		max = 128;
	} else {
		return -1;
	}
	int p = 0;
	for (const char *c = slash + 1; *c; c++) {
		if (!isdigit((unsigned char)*c) || p > max)
			return -1;
		p = p * 10 + (*c - '0');
	}
	if (p > max || (slash[1] == '0' && slash[2] != '\0'))
		return -1;
	*prefix = p;
	if (ip)
		*ip = steal_pointer(&addr);
	return 0;
}

static int ip_family(const char *s)
{
	unsigned char buf[16];
	if (inet_pton(AF_INET, s, buf) == 1)
		return 4;
	if (inet_pton(AF_INET6, s, buf) == 1)
		return 6;
	return 0;
}

static int parse_interfaces(json_t *root, struct cni_result *r, ocid_error **err)
{
	json_t *arr = json_object_get(root, "interfaces");
	if (arr == NULL || json_is_null(arr))
		return 0;
	if (!json_is_array(arr))
		return err_set(err, GRPC_INVALID_ARGUMENT, "CNI result: \"interfaces\" must be a list");
	r->interfaces = xcalloc(json_array_size(arr) + 1, sizeof(*r->interfaces));
	for (size_t i = 0; i < json_array_size(arr); i++) {
		json_t *o = json_array_get(arr, i);
		struct cni_interface *itf = &r->interfaces[r->n_interfaces];
		if (!json_is_object(o) || !json_is_string(json_object_get(o, "name")))
			return err_set(err, GRPC_INVALID_ARGUMENT, "CNI result: interfaces[%zu] has no name", i);
		r->n_interfaces++;
		itf->name = xstrdup(json_string_value(json_object_get(o, "name")));
		if (get_opt_str(o, "mac", &itf->mac) < 0 || get_opt_str(o, "sandbox", &itf->sandbox) < 0)
			return err_set(err, GRPC_INVALID_ARGUMENT, "CNI result: interfaces[%zu]: mac and sandbox must be strings", i);
	}
	return 0;
}

static int parse_ips(json_t *root, struct cni_result *r, ocid_error **err)
{
	json_t *arr = json_object_get(root, "ips");
	if (arr == NULL || json_is_null(arr))
		return 0;
	if (!json_is_array(arr))
		return err_set(err, GRPC_INVALID_ARGUMENT, "CNI result: \"ips\" must be a list");
	r->ips = xcalloc(json_array_size(arr) + 1, sizeof(*r->ips));
	for (size_t i = 0; i < json_array_size(arr); i++) {
		json_t *o = json_array_get(arr, i);
		json_t *addr = json_object_get(o, "address");
		if (!json_is_string(addr))
			return err_set(err, GRPC_INVALID_ARGUMENT, "CNI result: ips[%zu] has no address", i);
		struct cni_ip *ip = &r->ips[r->n_ips++];
		ip->interface = -1;
		ip->address = xstrdup(json_string_value(addr));
		if (parse_cidr(ip->address, &ip->family, &ip->prefix_len, &ip->ip) < 0)
			return err_set(err, GRPC_INVALID_ARGUMENT, "CNI result: ips[%zu]: \"%s\" is not an address in CIDR form",
				       i, ip->address);
		if (get_opt_str(o, "gateway", &ip->gateway) < 0 ||
		    (*ip->gateway && ip_family(ip->gateway) != ip->family))
			return err_set(err, GRPC_INVALID_ARGUMENT, "CNI result: ips[%zu]: invalid gateway", i);
		/* 0.3.x and 0.4.0 say the family; 1.0.0 dropped it. */
		json_t *ver = json_object_get(o, "version");
		if (ver != NULL) {
			const char *v = json_is_string(ver) ? json_string_value(ver) : "";
			if ((strcmp(v, "4") != 0 && strcmp(v, "6") != 0) || atoi(v) != ip->family)
				return err_set(err, GRPC_INVALID_ARGUMENT, "CNI result: ips[%zu]: version \"%s\" does not match %s",
					       i, v, ip->address);
		}
		json_t *itf = json_object_get(o, "interface");
		if (itf != NULL && !json_is_null(itf)) {
			if (!json_is_integer(itf) || json_integer_value(itf) < 0 ||
			    (size_t)json_integer_value(itf) >= r->n_interfaces)
				return err_set(err, GRPC_INVALID_ARGUMENT, "CNI result: ips[%zu]: invalid interface index", i);
			ip->interface = (int)json_integer_value(itf);
		}
	}
	return 0;
}

static int parse_routes(json_t *root, struct cni_result *r, ocid_error **err)
{
	json_t *arr = json_object_get(root, "routes");
	if (arr == NULL || json_is_null(arr))
		return 0;
	if (!json_is_array(arr))
		return err_set(err, GRPC_INVALID_ARGUMENT, "CNI result: \"routes\" must be a list");
	r->routes = xcalloc(json_array_size(arr) + 1, sizeof(*r->routes));
	for (size_t i = 0; i < json_array_size(arr); i++) {
		json_t *o = json_array_get(arr, i);
		json_t *dst = json_object_get(o, "dst");
		int fam, pfx;
		if (!json_is_string(dst) || parse_cidr(json_string_value(dst), &fam, &pfx, NULL) < 0)
			return err_set(err, GRPC_INVALID_ARGUMENT, "CNI result: routes[%zu]: invalid dst", i);
		struct cni_route *rt = &r->routes[r->n_routes++];
		rt->dst = xstrdup(json_string_value(dst));
		if (get_opt_str(o, "gw", &rt->gw) < 0 || (*rt->gw && ip_family(rt->gw) == 0))
			return err_set(err, GRPC_INVALID_ARGUMENT, "CNI result: routes[%zu]: invalid gw", i);
	}
	return 0;
}

static int parse_dns(json_t *root, struct cni_result *r, ocid_error **err)
{
	json_t *dns = json_object_get(root, "dns");
	if (dns != NULL && !json_is_null(dns) && !json_is_object(dns))
		return err_set(err, GRPC_INVALID_ARGUMENT, "CNI result: \"dns\" must be an object");
	if (get_strv(dns, "nameservers", &r->dns.nameservers, err) < 0 || get_strv(dns, "search", &r->dns.search, err) < 0 ||
	    get_strv(dns, "options", &r->dns.options, err) < 0)
		return -1;
	if (get_opt_str(dns, "domain", &r->dns.domain) < 0)
		return err_set(err, GRPC_INVALID_ARGUMENT, "CNI result: dns.domain must be a string");
	return 0;
}

int cni_result_from_json(json_t *root, struct cni_result **out, ocid_error **err)
{
	if (!json_is_object(root))
		return err_set(err, GRPC_INVALID_ARGUMENT, "CNI result: not a JSON object");
	json_t *ver = json_object_get(root, "cniVersion");
	if (!json_is_string(ver))
		return err_set(err, GRPC_INVALID_ARGUMENT, "CNI result: no cniVersion");
	if (!cni_version_supported(json_string_value(ver)))
		return err_set(err, GRPC_INVALID_ARGUMENT, "CNI result: version \"%s\" is not supported (supported: %s)",
			       json_string_value(ver), CNI_SUPPORTED_VERSIONS);
	struct cni_result *r = xcalloc(1, sizeof(*r));
	r->cni_version = xstrdup(json_string_value(ver));
	if (parse_interfaces(root, r, err) < 0 || parse_ips(root, r, err) < 0 || parse_routes(root, r, err) < 0 ||
	    parse_dns(root, r, err) < 0) {
		cni_result_free(r);
		return -1;
	}
	r->json = json_dumps(root, JSON_COMPACT);
	*out = r;
	return 0;
}

int cni_result_parse(const char *json, struct cni_result **out, ocid_error **err)
{
	json_error_t jerr;
	json_t *root = json_loads(json ? json : "", 0, &jerr);
	if (root == NULL)
		return err_set(err, GRPC_INVALID_ARGUMENT, "CNI result: %s", jerr.text);
	int r = cni_result_from_json(root, out, err);
	json_decref(root);
	return r;
}

/* ---- running plugins ---- */

/* The executable for type in the plugin dirs, or NULL. */
static char *find_plugin(const struct ocid_network_config *cfg, const char *type)
{
	for (char **d = cfg->plugin_dirs; d && *d; d++) {
		char *p = xasprintf("%s/%s", *d, type);
		struct stat st;
		if (stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0)
			return p;
		free(p);
	}
	return NULL;
}

static char *plugin_dirs_joined(const struct ocid_network_config *cfg, const char *sep)
{
	char *s = xstrdup("");
	for (char **d = cfg->plugin_dirs; d && *d; d++) {
		char *n = xasprintf("%s%s%s", s, *s ? sep : "", *d);
		free(s);
		s = n;
	}
	return s;
}

static int plugin_not_found(const struct ocid_network_config *cfg, const char *type, ocid_error **err)
{
	cleanup_free char *dirs = plugin_dirs_joined(cfg, " ");
	return err_set(err, GRPC_FAILED_PRECONDITION, "failed to find CNI plugin \"%s\" in [%s]", type, dirs);
}

static char **build_env(const char *command, const struct cni_pod *pod, const char *netns, const char *args,
			const struct ocid_network_config *cfg)
{
	const char *path = getenv("PATH");
	cleanup_free char *cni_path = plugin_dirs_joined(cfg, ":");
	char **env = xcalloc(8, sizeof(char *));
	size_t n = 0;
	env[n++] = xasprintf("CNI_COMMAND=%s", command);
	env[n++] = xasprintf("CNI_CONTAINERID=%s", pod->container_id);
	if (netns != NULL)
		env[n++] = xasprintf("CNI_NETNS=%s", netns);
	env[n++] = xasprintf("CNI_IFNAME=%s", pod_ifname(pod));
	env[n++] = xasprintf("CNI_ARGS=%s", args);
	env[n++] = xasprintf("CNI_PATH=%s", cni_path);
	env[n++] = xasprintf("PATH=%s", path && *path ? path : DEFAULT_PATH);
	return env;
}

struct chain {
	const struct cni_call *call;
	const struct cni_network *net;
	const struct cni_pod *pod;
	const char *command;
	char **env;
	int64_t deadline_ns;
	bool use_cancel;
};

/* Runs plugin index with stdin; for ADD, *result gets its output. */
static int run_plugin(const struct chain *c, size_t index, const char *plugin_path, json_t *stdin_json,
		      json_t **result, ocid_error **err)
{
	const char *type = c->net->plugins[index].type;
	cleanup_free char *input = json_dumps(stdin_json, JSON_COMPACT);
	const char *argv[] = {plugin_path, NULL};
	struct spawn_opts o = {
		.argv = argv,
		.envp = (const char *const *)c->env,
		.stdin_data = input,
		.stdin_len = strlen(input),
		.deadline_ns = c->deadline_ns,
		.cancelled = c->use_cancel ? c->call->cancelled : NULL,
		.cancel_arg = c->call->cancel_arg,
	};
	struct spawn_result res;
	int64_t t0 = spawn_now_ns();
	int rc = spawn_run(&o, &res, err);
	log_debug("cni plugin", "command=%s plugin=%s network=%s container=%s ms=%.1f exit=%d", c->command, type,
		  c->net->name, c->pod->container_id, (double)(spawn_now_ns() - t0) / 1e6,
		  res.exited ? res.exit_code : -1);
	if (rc < 0) {
		if (res.err_len > 0) {
			cleanup_free char *text = trimmed(res.err);
			err_append(err, text);
		}
		spawn_result_free(&res);
		return err_prefix(err, "plugin %s (%s)", type, c->command);
	}
	if (!spawn_success(&res)) {
		char status[64];
		int code = 0;
		cleanup_free char *msg = cni_plugin_error(type, spawn_describe(&res, status, sizeof(status)), res.out,
							  res.err, &code);
		spawn_result_free(&res);
		/* 11: "try again later" */
		return err_set(err, code == 11 ? GRPC_UNAVAILABLE : GRPC_UNKNOWN, "%s", msg);
	}
	if (result != NULL) {
		json_error_t jerr;
		json_t *r = json_loads(res.out, 0, &jerr);
		if (!json_is_object(r)) {
			json_decref(r);
			cleanup_free char *text = trimmed(res.out);
			spawn_result_free(&res);
			return err_set(err, GRPC_UNKNOWN, "plugin %s (%s) returned no valid result: %s%s%s", type, c->command,
				       *text ? text : "empty output", *text ? ": " : "", *text ? jerr.text : "");
		}
		*result = r;
	}
	spawn_result_free(&res);
	return 0;
}

/* portmap does nothing for a pod without host ports: its ADD and CHECK pass
 * prevResult through and its DEL removes chains that were never made. It is
 * skipped then, which saves a plugin start (~5 ms) and a round of iptables
 * on every ADD and DEL of such pods. Only the portmap type is treated so:
 * other plugins may do more than their capabilities say. */
static bool skip_plugin(const struct cni_plugin *pl, const struct cni_pod *pod)
{
	if (strcmp(pl->type, "portmap") != 0)
		return false;
	for (size_t i = 0; i < pod->n_ports; i++)
		if (pod->ports[i].host_port > 0)
			return false;
	return true;
}

/* DEL for the whole chain in reverse, with prev_result as prevResult (for
 * 0.4.0+). Every plugin runs even when one fails; the first error is kept.
 * A netns that is gone is not passed (no CNI_NETNS). */
static int del_chain(const struct cni_call *call, const struct cni_network *net, const struct cni_pod *pod,
		     json_t *prev_result, int64_t deadline_ns, bool use_cancel, ocid_error **err)
{
	cleanup_free char *args = cni_build_args(pod, err);
	if (args == NULL)
		return -1;
	const char *netns = netns_usable(pod->netns) ? pod->netns : NULL;
	cleanup_strv char **env = build_env("DEL", pod, netns, args, call->cfg);
	struct chain c = {call, net, pod, "DEL", env, deadline_ns, use_cancel};
	json_t *prev = cni_version_cmp(net->cni_version, "0.4.0") >= 0 ? prev_result : NULL;
	ocid_error *first = NULL;
	for (size_t k = net->n_plugins; k-- > 0;) {
		if (skip_plugin(&net->plugins[k], pod))
			continue;
		ocid_error *e = NULL;
		cleanup_free char *path = find_plugin(call->cfg, net->plugins[k].type);
		if (path == NULL) {
			plugin_not_found(call->cfg, net->plugins[k].type, &e);
		} else {
			cleanup_json json_t *in = cni_plugin_stdin(net, k, pod, prev, &e);
			if (in != NULL)
				run_plugin(&c, k, path, in, NULL, &e);
		}
		if (e == NULL)
			continue;
		bool stop = e->code == GRPC_DEADLINE_EXCEEDED || e->code == GRPC_CANCELLED;
		if (first == NULL) {
			first = e;
		} else {
			warn_error("CNI DEL failed", net->name, pod->container_id, e->msg);
			err_free(e);
		}
		if (stop)
			break;
	}
	if (first != NULL) {
		if (err != NULL && *err == NULL)
			*err = first;
		else
			err_free(first);
		return err_prefix(err, "CNI DEL in network %s", net->name);
	}
	return 0;
}

static int load_network(const struct cni_call *call, struct cni_network **net, ocid_error **err)
{
	const struct ocid_network_config *cfg = call->cfg;
	return cni_config_load(cfg->network_dir, cfg->cni_default_network, net, err);
}

int cni_add(const struct cni_call *call, const struct cni_pod *pod, struct cni_result **result, char **cache,
	    ocid_error **err)
{
	if (cni_check_pod(pod, true, err) < 0)
		return -1;
	cleanup_free char *args = cni_build_args(pod, err);
	if (args == NULL)
		return -1;
	cleanup_json json_t *ports = cni_port_mappings(pod, err);
	if (ports == NULL)
		return -1;
	cleanup_cni_network struct cni_network *net = NULL;
	if (load_network(call, &net, err) < 0)
		return -1;

	/* Every plugin must be there before anything runs. */
	char **paths = xcalloc(net->n_plugins + 1, sizeof(char *));
	cleanup_strv char **paths_owner = paths;
	for (size_t i = 0; i < net->n_plugins; i++) {
		paths[i] = find_plugin(call->cfg, net->plugins[i].type);
		if (paths[i] == NULL) {
			plugin_not_found(call->cfg, net->plugins[i].type, err);
			return err_prefix(err, "CNI network %s (%s)", net->name, net->origin);
		}
	}

	cleanup_strv char **env = build_env("ADD", pod, pod->netns, args, call->cfg);
	struct chain c = {call, net, pod, "ADD", env, call->deadline_ns, true};
	cleanup_json json_t *prev = NULL;
	int64_t t0 = spawn_now_ns();
	struct cni_result *parsed = NULL;
	for (size_t i = 0; i < net->n_plugins; i++) {
		if (skip_plugin(&net->plugins[i], pod))
			continue;
		cleanup_json json_t *in = cni_plugin_stdin(net, i, pod, prev, err);
		json_t *out = NULL;
		if (in == NULL || run_plugin(&c, i, paths[i], in, &out, err) < 0)
			goto undo;
		json_decref(prev);
		prev = out;
	}
	if (cni_result_from_json(prev, &parsed, err) < 0) {
		err_prefix(err, "plugin %s", net->plugins[net->n_plugins - 1].type);
		goto undo;
	}
	log_debug("CNI ADD", "network=%s container=%s ms=%.1f", net->name, pod->container_id,
		  (double)(spawn_now_ns() - t0) / 1e6);

	if (cache != NULL) {
		json_t *cj = json_object();
		json_object_set(cj, "network", net->json);
		json_object_set(cj, "result", prev);
		*cache = json_dumps(cj, JSON_COMPACT);
		json_decref(cj);
	}
	if (result != NULL)
		*result = parsed;
	else
		cni_result_free(parsed);
	return 0;

undo:;
	/* Undo with a fresh budget and no cancellation: nothing may be left. */
	int64_t budget = call->cleanup_timeout_ns > 0 ? call->cleanup_timeout_ns : CLEANUP_TIMEOUT_DEFAULT_NS;
	ocid_error *derr = NULL;
	if (del_chain(call, net, pod, prev, spawn_now_ns() + budget, false, &derr) < 0) {
		warn_error("undoing a failed CNI ADD failed", net->name, pod->container_id, derr->msg);
		cleanup_free char *text = xasprintf("undoing it failed too: %s", derr->msg);
		err_append(err, text);
		err_free(derr);
	}
	return err_prefix(err, "CNI ADD in network %s", net->name);
}

/* The network and result of a cache: both set, or -1 with *err. */
static int parse_cache(const char *cache, struct cni_network **net, json_t **result, ocid_error **err)
{
	json_error_t jerr;
	cleanup_json json_t *root = json_loads(cache, 0, &jerr);
	if (root == NULL)
		return err_set(err, GRPC_INVALID_ARGUMENT, "CNI cache: %s", jerr.text);
	json_t *r = json_object_get(root, "result");
	json_t *n = json_object_get(root, "network");
	if (!json_is_object(r) || !json_is_object(n))
		return err_set(err, GRPC_INVALID_ARGUMENT, "CNI cache: no network and result");
	if (cni_network_from_json(n, "cached network", net, err) < 0)
		return -1;
	*result = json_incref(r);
	return 0;
}

int cni_cache_result(const char *cache, struct cni_result **result, char **network_name, ocid_error **err)
{
	cleanup_cni_network struct cni_network *net = NULL;
	cleanup_json json_t *r = NULL;
	if (parse_cache(cache ? cache : "", &net, &r, err) < 0)
		return -1;
	if (cni_result_from_json(r, result, err) < 0)
		return err_prefix(err, "CNI cache");
	if (network_name != NULL)
		*network_name = steal_pointer(&net->name);
	return 0;
}

int cni_del(const struct cni_call *call, const struct cni_pod *pod, const char *cache, ocid_error **err)
{
	if (cni_check_pod(pod, false, err) < 0)
		return -1;
	cleanup_cni_network struct cni_network *net = NULL;
	cleanup_json json_t *prev = NULL;
	if (cache != NULL && *cache != '\0') {
		ocid_error *cerr = NULL;
		if (parse_cache(cache, &net, &prev, &cerr) < 0) {
			warn_error("unusable CNI cache, using the current network config", NULL, pod->container_id,
				   cerr->msg);
			err_free(cerr);
			cni_network_free(net);
			net = NULL;
		}
	}
	if (net == NULL && load_network(call, &net, err) < 0)
		return err_prefix(err, "CNI DEL");
	return del_chain(call, net, pod, prev, call->deadline_ns, true, err);
}

int cni_check(const struct cni_call *call, const struct cni_pod *pod, const char *cache, ocid_error **err)
{
	if (cni_check_pod(pod, true, err) < 0)
		return -1;
	if (cache == NULL || *cache == '\0')
		return err_set(err, GRPC_FAILED_PRECONDITION, "CNI CHECK: no result of a previous ADD");
	cleanup_cni_network struct cni_network *net = NULL;
	cleanup_json json_t *prev = NULL;
	if (parse_cache(cache, &net, &prev, err) < 0)
		return err_prefix(err, "CNI CHECK");
	if (cni_version_cmp(net->cni_version, "0.4.0") < 0 || net->disable_check)
		return 0;
	cleanup_free char *args = cni_build_args(pod, err);
	if (args == NULL)
		return -1;
	cleanup_strv char **env = build_env("CHECK", pod, pod->netns, args, call->cfg);
	struct chain c = {call, net, pod, "CHECK", env, call->deadline_ns, true};
	for (size_t i = 0; i < net->n_plugins; i++) {
		if (skip_plugin(&net->plugins[i], pod))
			continue;
		cleanup_free char *path = find_plugin(call->cfg, net->plugins[i].type);
		if (path == NULL) {
			plugin_not_found(call->cfg, net->plugins[i].type, err);
			return err_prefix(err, "CNI CHECK in network %s", net->name);
		}
		cleanup_json json_t *in = cni_plugin_stdin(net, i, pod, prev, err);
		if (in == NULL || run_plugin(&c, i, path, in, NULL, err) < 0)
			return err_prefix(err, "CNI CHECK in network %s", net->name);
	}
	return 0;
}
