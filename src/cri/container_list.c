/* ListContainers: a snapshot of the index under a short lock (never behind
 * a Stop in progress); the reply is built afterwards. */
#include <stdlib.h>

#include "cri/container_common.h"
#include "cri/sandbox_internal.h"
#include "util/xalloc.h"

int cri_list_containers(struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
			ocid_error **err)
{
	const Runtime__V1__ListContainersRequest *in = (const Runtime__V1__ListContainersRequest *)req;
	struct ctr_mgr *m;
	if (cri_containers(call, &m, err) < 0)
		return -1;
	struct ctr_filter f = {0};
	const Runtime__V1__ContainerFilter *fi = in->filter;
	const char **keys = NULL, **values = NULL;
	if (fi) {
		f.id = fi->id;
		f.pod_id = fi->pod_sandbox_id;
		if (fi->state) {
			f.has_state = true;
			switch (fi->state->state) {
			case RUNTIME__V1__CONTAINER_STATE__CONTAINER_CREATED:
				f.state = CTR_CREATED;
				break;
			case RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING:
				f.state = CTR_RUNNING;
				break;
			case RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED:
				f.state = CTR_EXITED;
				break;
			default:
				f.state = CTR_UNKNOWN;
				break;
			}
		}
		cri_label_selector((void *const *)fi->label_selector, fi->n_label_selector, &keys, &values);
		f.label_keys = keys;
		f.label_values = values;
		f.n_labels = fi->n_label_selector;
	}
	struct ctr_snapshot *snaps = NULL;
	size_t n = 0;
	int rc = ctr_list(m, fi ? &f : NULL, &snaps, &n, err);
	free(keys);
	free(values);
	if (rc < 0)
		return -1;

	Runtime__V1__ListContainersResponse *r = xmalloc(sizeof(*r));
	runtime__v1__list_containers_response__init(r);
	r->n_containers = n;
	r->containers = n ? xcalloc(n, sizeof(*r->containers)) : NULL;
	for (size_t i = 0; i < n; i++) {
		struct container *c = snaps[i].c;
		const Runtime__V1__ContainerConfig *cfg = container_config(c);
		Runtime__V1__Container *p = xmalloc(sizeof(*p));
		runtime__v1__container__init(p);
		p->id = pb_strdup(container_id(c));
		p->pod_sandbox_id = pb_strdup(container_pod_id(c));
		p->metadata = cri_ctr_metadata(cfg->metadata);
		p->image = cri_ctr_image_spec(c);
		p->image_ref = pb_strdup(container_image_id(c));
		p->image_id = pb_strdup(container_image_id(c));
		p->state = cri_ctr_state(snaps[i].state);
		p->created_at = container_created_at(c);
		p->labels = cri_map_copy(&runtime__v1__container__labels_entry__descriptor, (void *const *)cfg->labels,
					 cfg->n_labels, &p->n_labels);
		p->annotations = cri_map_copy(&runtime__v1__container__annotations_entry__descriptor,
					      (void *const *)cfg->annotations, cfg->n_annotations, &p->n_annotations);
		r->containers[i] = p;
	}
	ctr_snapshots_free(snaps, n);
	*resp = &r->base;
	return 0;
}
