#include <stdlib.h>

#include "cri/sandbox_internal.h"
#include "util/xalloc.h"

int cri_pods(struct rpc_call *call, struct sandbox_mgr **out, ocid_error **err)
{
	struct cri_service *svc = rpc_call_data(call);
	*out = svc->pods;
	if (*out == NULL)
		return err_set(err, GRPC_UNAVAILABLE, "pod sandboxes are not available in this daemon");
	return 0;
}

static bool call_cancelled(void *arg)
{
	return rpc_call_cancelled(arg);
}

void cri_sandbox_call(struct rpc_call *call, struct sandbox_call *out)
{
	out->deadline_ns = rpc_call_deadline(call);
	out->cancelled = call_cancelled;
	out->cancel_arg = call;
}

Runtime__V1__PodSandboxMetadata *cri_pod_metadata(const Runtime__V1__PodSandboxMetadata *m)
{
	Runtime__V1__PodSandboxMetadata *r = xmalloc(sizeof(*r));
	runtime__v1__pod_sandbox_metadata__init(r);
	r->name = pb_strdup(m ? m->name : NULL);
	r->uid = pb_strdup(m ? m->uid : NULL);
	r->namespace_ = pb_strdup(m ? m->namespace_ : NULL);
	r->attempt = m ? m->attempt : 0;
	return r;
}

/* Every map entry message of api.proto has this layout. */
struct kv_entry {
	ProtobufCMessage base;
	char *key;
	char *value;
};

void *cri_map_copy(const ProtobufCMessageDescriptor *entry_desc, void *const *src, size_t n, size_t *n_out)
{
	*n_out = n;
	if (n == 0)
		return NULL;
	struct kv_entry **v = xcalloc(n, sizeof(*v));
	for (size_t i = 0; i < n; i++) {
		const struct kv_entry *s = src[i];
		struct kv_entry *e = xmalloc(entry_desc->sizeof_message);
		protobuf_c_message_init(entry_desc, e);
		e->key = pb_strdup(s->key);
		e->value = pb_strdup(s->value);
		v[i] = e;
	}
	return v;
}

void cri_label_selector(void *const *entries, size_t n, const char ***keys, const char ***values)
{
	*keys = NULL;
	*values = NULL;
	if (n == 0)
		return;
	*keys = xcalloc(n, sizeof(char *));
	*values = xcalloc(n, sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		const struct kv_entry *e = entries[i];
		(*keys)[i] = e->key;
		(*values)[i] = e->value;
	}
}

Runtime__V1__PodSandboxState cri_pod_state(enum sandbox_state s)
{
	return s == SANDBOX_READY ? RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY
				  : RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_NOTREADY;
}
