#include "cri/container_common.h"

#include <stdlib.h>

#include "util/xalloc.h"

int cri_containers(struct rpc_call *call, struct ctr_mgr **out, ocid_error **err)
{
	struct cri_service *svc = rpc_call_data(call);
	*out = svc->containers;
	if (*out == NULL)
		return err_set(err, GRPC_UNAVAILABLE, "containers are not available in this daemon");
	return 0;
}

void cri_ctr_call(struct rpc_call *call, struct ctr_call *out)
{
	out->deadline_ns = rpc_call_deadline(call);
}

Runtime__V1__ContainerMetadata *cri_ctr_metadata(const Runtime__V1__ContainerMetadata *m)
{
	Runtime__V1__ContainerMetadata *r = xmalloc(sizeof(*r));
	runtime__v1__container_metadata__init(r);
	r->name = pb_strdup(m ? m->name : NULL);
	r->attempt = m ? m->attempt : 0;
	return r;
}

Runtime__V1__ImageSpec *cri_ctr_image_spec(const struct container *c)
{
	Runtime__V1__ImageSpec *r = xmalloc(sizeof(*r));
	runtime__v1__image_spec__init(r);
	r->image = pb_strdup(container_image_name(c));
	const Runtime__V1__ImageSpec *req = container_config(c)->image;
	if (req && req->user_specified_image && *req->user_specified_image)
		r->user_specified_image = pb_strdup(req->user_specified_image);
	return r;
}

Runtime__V1__ContainerState cri_ctr_state(enum ctr_state s)
{
	switch (s) {
	case CTR_CREATED:
		return RUNTIME__V1__CONTAINER_STATE__CONTAINER_CREATED;
	case CTR_RUNNING:
		return RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING;
	case CTR_EXITED:
		return RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED;
	default:
		return RUNTIME__V1__CONTAINER_STATE__CONTAINER_UNKNOWN;
	}
}
