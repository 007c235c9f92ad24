/* ListPodSandbox: a snapshot of the index under a short lock (never behind a
 * Stop in progress), replies built afterwards. */
#include <stdlib.h>

#include "cri/sandbox_internal.h"
#include "util/xalloc.h"

int cri_list_pod_sandbox(struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
			 ocid_error **err)
{
	const Runtime__V1__ListPodSandboxRequest *in = (const Runtime__V1__ListPodSandboxRequest *)req;
	struct sandbox_mgr *pods;
	if (cri_pods(call, &pods, err) < 0)
		return -1;
	struct sandbox_filter f = {0};
	const Runtime__V1__PodSandboxFilter *fi = in->filter;
	const char **keys = NULL, **values = NULL;
	if (fi) {
		f.id = fi->id;
		if (fi->state) {
			f.has_state = true;
			f.state = fi->state->state == RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY ? SANDBOX_READY
												: SANDBOX_NOTREADY;
		}
		cri_label_selector((void *const *)fi->label_selector, fi->n_label_selector, &keys, &values);
		f.label_keys = keys;
		f.label_values = values;
		f.n_labels = fi->n_label_selector;
	}
	struct sandbox_snapshot *snaps = NULL;
	size_t n = 0;
	int rc = sandbox_list(pods, fi ? &f : NULL, &snaps, &n, err);
	free(keys);
	free(values);
	if (rc < 0)
		return -1;

	Runtime__V1__ListPodSandboxResponse *r = xmalloc(sizeof(*r));
	runtime__v1__list_pod_sandbox_response__init(r);
	r->n_items = n;
	r->items = n ? xcalloc(n, sizeof(*r->items)) : NULL;
	for (size_t i = 0; i < n; i++) {
		struct sandbox *sb = snaps[i].sb;
		const Runtime__V1__PodSandboxConfig *c = sandbox_config(sb);
		Runtime__V1__PodSandbox *p = xmalloc(sizeof(*p));
		runtime__v1__pod_sandbox__init(p);
		p->id = pb_strdup(sandbox_id(sb));
		p->metadata = cri_pod_metadata(c->metadata);
		p->state = cri_pod_state(snaps[i].state);
		p->created_at = sandbox_created_at(sb);
		p->labels = cri_map_copy(&runtime__v1__pod_sandbox__labels_entry__descriptor, (void *const *)c->labels,
					 c->n_labels, &p->n_labels);
		p->annotations = cri_map_copy(&runtime__v1__pod_sandbox__annotations_entry__descriptor,
					      (void *const *)c->annotations, c->n_annotations, &p->n_annotations);
		p->runtime_handler = pb_strdup(sandbox_runtime_handler(sb));
		r->items[i] = p;
	}
	sandbox_snapshots_free(snaps, n);
	*resp = &r->base;
	return 0;
}
