#include "cri/cri.h"

#include <stdlib.h>
#include <unistd.h>

#include <jansson.h>

#include "api.pb-c.h"
#include "pod/cni_config.h"
#include "util/xalloc.h"

static Runtime__V1__RuntimeCondition *condition(const char *type, bool ok, const char *reason, const char *message)
{
	Runtime__V1__RuntimeCondition *c = xmalloc(sizeof(*c));
	runtime__v1__runtime_condition__init(c);
	c->type = pb_strdup(type);
	c->status = ok;
	c->reason = pb_strdup(reason);
	c->message = pb_strdup(message);
	return c;
}

/* The runtime is ready when the default OCI runtime and conmon can be run. */
static Runtime__V1__RuntimeCondition *runtime_condition(const struct ocid_config *cfg)
{
	const struct ocid_runtime_handler *h = config_find_runtime(cfg, cfg->runtime.default_runtime);
	if (h == NULL || access(h->runtime_path, X_OK) != 0) {
		char *msg = xasprintf("OCI runtime %s cannot be run (%s)", cfg->runtime.default_runtime,
				      h ? h->runtime_path : "not configured");
		Runtime__V1__RuntimeCondition *c = condition("RuntimeReady", false, "RuntimeNotReady", msg);
		free(msg);
		return c;
	}
	if (access(cfg->runtime.conmon, X_OK) != 0) {
		char *msg = xasprintf("conmon cannot be run (%s)", cfg->runtime.conmon);
		Runtime__V1__RuntimeCondition *c = condition("RuntimeReady", false, "RuntimeNotReady", msg);
		free(msg);
		return c;
	}
	return condition("RuntimeReady", true, "", "");
}

/* Looked up on every call, so a network config that appears later flips the
 * condition without a restart. */
static Runtime__V1__RuntimeCondition *network_condition(const struct ocid_config *cfg)
{
	struct cni_network *net = NULL;
	ocid_error *err = NULL;
	const char *want = cfg->network.cni_default_network;
	if (cni_config_load(cfg->network.network_dir, want && *want ? want : NULL, &net, &err) < 0) {
		char *msg = xasprintf("Network plugin returns error: %s", err->msg);
		err_free(err);
		Runtime__V1__RuntimeCondition *c = condition("NetworkReady", false, "NetworkPluginNotReady", msg);
		free(msg);
		return c;
	}
	cni_network_free(net);
	return condition("NetworkReady", true, "", "");
}

static Runtime__V1__StatusResponse__InfoEntry *info_entry(const char *key, char *value_owned)
{
	Runtime__V1__StatusResponse__InfoEntry *e = xmalloc(sizeof(*e));
	runtime__v1__status_response__info_entry__init(e);
	e->key = xstrdup(key);
	e->value = value_owned;
	return e;
}

int cri_status(struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp, ocid_error **err)
{
	(void)err;
	struct cri_service *svc = rpc_call_data(call);
	const struct ocid_config *cfg = svc->cfg;
	const Runtime__V1__StatusRequest *in = (const Runtime__V1__StatusRequest *)req;

	Runtime__V1__StatusResponse *r = xmalloc(sizeof(*r));
	runtime__v1__status_response__init(r);
	r->status = xmalloc(sizeof(*r->status));
	runtime__v1__runtime_status__init(r->status);
	r->status->n_conditions = 2;
	r->status->conditions = xcalloc(2, sizeof(*r->status->conditions));
	r->status->conditions[0] = runtime_condition(cfg);
	r->status->conditions[1] = network_condition(cfg);

	r->n_runtime_handlers = cfg->runtime.n_runtimes;
	r->runtime_handlers = xcalloc(cfg->runtime.n_runtimes, sizeof(*r->runtime_handlers));
	for (size_t i = 0; i < cfg->runtime.n_runtimes; i++) {
		Runtime__V1__RuntimeHandler *h = xmalloc(sizeof(*h));
		runtime__v1__runtime_handler__init(h);
		h->name = pb_strdup(cfg->runtime.runtimes[i].name);
		h->features = xmalloc(sizeof(*h->features));
		runtime__v1__runtime_handler_features__init(h->features);
		r->runtime_handlers[i] = h;
	}
	r->features = xmalloc(sizeof(*r->features));
	runtime__v1__runtime_features__init(r->features);

	if (in->verbose) {
		json_t *cj = config_to_json(cfg);
		char *config_text = cj ? json_dumps(cj, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
		json_decref(cj);
		if (config_text == NULL)
			config_text = xstrdup("{}");
		pthread_mutex_lock(&svc->lock);
		char *cidr = xstrdup(svc->pod_cidr ? svc->pod_cidr : "");
		pthread_mutex_unlock(&svc->lock);
		r->n_info = 3;
		r->info = xcalloc(3, sizeof(*r->info));
		r->info[0] = info_entry("config", config_text);
		r->info[1] = info_entry("podCIDR", cidr);
		r->info[2] = info_entry("version", xstrdup(OCID_VERSION " (" OCID_BUILD_REV ")"));
	}
	*resp = &r->base;
	return 0;
}
