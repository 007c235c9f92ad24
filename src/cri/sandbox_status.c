/* PodSandboxStatus, with `verbose` info {"info": JSON} describing how the
 * pod is built (pins, ocid-pause, cgroup, CNI result...). */
#include <stdlib.h>

#include <jansson.h>

#include "cri/sandbox_internal.h"
#include "util/xalloc.h"

static Runtime__V1__NamespaceOption *ns_options(const Runtime__V1__PodSandboxConfig *c)
{
	Runtime__V1__NamespaceOption *o = xmalloc(sizeof(*o));
	runtime__v1__namespace_option__init(o);
	if (c->linux && c->linux->security_context && c->linux->security_context->namespace_options) {
		const Runtime__V1__NamespaceOption *src = c->linux->security_context->namespace_options;
		o->network = src->network;
		o->pid = src->pid;
		o->ipc = src->ipc;
	}
	return o;
}

static const char *pid_mode_name(enum sandbox_pid_mode m)
{
	switch (m) {
	case SANDBOX_PID_POD: return "POD";
	case SANDBOX_PID_NODE: return "NODE";
	default: return "CONTAINER";
	}
}

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static char *info_json(const struct sandbox_snapshot *s)
{
	struct sandbox *sb = s->sb;
	json_t *o = json_object();
	json_object_set_new(o, "id", json_string(sandbox_id(sb)));
	json_object_set_new(o, "pid", json_integer(s->pause_pid));
	json_object_set_new(o, "netns", json_string(sandbox_ns_path(sb, POD_NS_NET) ? sandbox_ns_path(sb, POD_NS_NET) : ""));
	json_t *ns = json_object();
	for (int t = 0; t < POD_NS_COUNT; t++)
		json_object_set_new(ns, pod_ns_type_name((enum pod_ns_type)t), str_or_null(sandbox_ns_path(sb, (enum pod_ns_type)t)));
	json_object_set_new(o, "namespaces", ns);
	json_object_set_new(o, "hostNetwork", json_boolean(sandbox_host_network(sb)));
	json_object_set_new(o, "hostIPC", json_boolean(sandbox_host_ipc(sb)));
	json_object_set_new(o, "pidMode", json_string(pid_mode_name(sandbox_pid_mode(sb))));
	json_object_set_new(o, "cgroup", json_string(sandbox_cgroup_path(sb)));
	json_object_set_new(o, "sandboxDir", json_string(sandbox_dir(sb)));
	json_object_set_new(o, "shm", json_string(sandbox_shm_path(sb)));
	json_object_set_new(o, "hostname", json_string(sandbox_hostname(sb)));
	json_object_set_new(o, "runtimeHandler", json_string(sandbox_runtime_handler(sb)));
	json_object_set_new(o, "runtimeName", json_string(sandbox_runtime_name(sb)));
	json_object_set_new(o, "reason", json_string(s->reason ? s->reason : ""));
	if (s->cni_cache) {
		json_t *cache = json_loads(s->cni_cache, 0, NULL);
		json_t *net = cache ? json_object_get(cache, "network") : NULL;
		json_t *name = net ? json_object_get(net, "name") : NULL;
		json_t *res = cache ? json_object_get(cache, "result") : NULL;
		if (json_is_string(name))
			json_object_set(o, "cniNetwork", name);
		if (res)
			json_object_set(o, "cniResult", res);
		json_decref(cache);
	}
	char *text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return text ? text : xstrdup("{}");
}

int cri_pod_sandbox_status(struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
			   ocid_error **err)
{
	const Runtime__V1__PodSandboxStatusRequest *in = (const Runtime__V1__PodSandboxStatusRequest *)req;
	struct sandbox_mgr *pods;
	if (cri_pods(call, &pods, err) < 0)
		return -1;
	struct sandbox_snapshot s;
	if (sandbox_status(pods, in->pod_sandbox_id, &s, err) < 0)
		return -1;
	struct sandbox *sb = s.sb;
	const Runtime__V1__PodSandboxConfig *c = sandbox_config(sb);

	Runtime__V1__PodSandboxStatus *st = xmalloc(sizeof(*st));
	runtime__v1__pod_sandbox_status__init(st);
	st->id = pb_strdup(sandbox_id(sb));
	st->metadata = cri_pod_metadata(c->metadata);
	st->state = cri_pod_state(s.state);
	st->created_at = sandbox_created_at(sb);
	st->network = xmalloc(sizeof(*st->network));
	runtime__v1__pod_sandbox_network_status__init(st->network);
	st->network->ip = pb_strdup(s.n_ips ? s.ips[0] : NULL);
	if (s.n_ips > 1) {
		st->network->n_additional_ips = s.n_ips - 1;
		st->network->additional_ips = xcalloc(s.n_ips - 1, sizeof(*st->network->additional_ips));
		for (size_t i = 1; i < s.n_ips; i++) {
			Runtime__V1__PodIP *ip = xmalloc(sizeof(*ip));
			runtime__v1__pod_ip__init(ip);
			ip->ip = pb_strdup(s.ips[i]);
			st->network->additional_ips[i - 1] = ip;
		}
	}
	st->linux = xmalloc(sizeof(*st->linux));
	runtime__v1__linux_pod_sandbox_status__init(st->linux);
	st->linux->namespaces = xmalloc(sizeof(*st->linux->namespaces));
	runtime__v1__namespace__init(st->linux->namespaces);
	st->linux->namespaces->options = ns_options(c);
	st->labels = cri_map_copy(&runtime__v1__pod_sandbox_status__labels_entry__descriptor, (void *const *)c->labels,
				  c->n_labels, &st->n_labels);
	st->annotations = cri_map_copy(&runtime__v1__pod_sandbox_status__annotations_entry__descriptor,
				       (void *const *)c->annotations, c->n_annotations, &st->n_annotations);
	st->runtime_handler = pb_strdup(sandbox_runtime_handler(sb));

	Runtime__V1__PodSandboxStatusResponse *r = xmalloc(sizeof(*r));
	runtime__v1__pod_sandbox_status_response__init(r);
	r->status = st;
	if (in->verbose) {
		Runtime__V1__PodSandboxStatusResponse__InfoEntry *e = xmalloc(sizeof(*e));
		runtime__v1__pod_sandbox_status_response__info_entry__init(e);
		e->key = xstrdup("info");
		e->value = info_json(&s);
		r->n_info = 1;
		r->info = xcalloc(1, sizeof(*r->info));
		r->info[0] = e;
	}
	sandbox_snapshot_clear(&s);
	*resp = &r->base;
	return 0;
}
