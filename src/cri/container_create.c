/* CreateContainer */
#include "cri/container_common.h"
#include "util/xalloc.h"

int cri_create_container(struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
			 ocid_error **err)
{
	const Runtime__V1__CreateContainerRequest *in = (const Runtime__V1__CreateContainerRequest *)req;
	struct ctr_mgr *m;
	if (cri_containers(call, &m, err) < 0)
		return -1;
	struct ctr_call cc;
	cri_ctr_call(call, &cc);
	char *id = NULL;
	/* The pod's own recorded config is used, not in->sandbox_config. */
	if (ctr_create(m, in->pod_sandbox_id, in->config, &cc, &id, err) < 0)
		return -1;
	Runtime__V1__CreateContainerResponse *r = xmalloc(sizeof(*r));
	runtime__v1__create_container_response__init(r);
	r->container_id = id;
	*resp = &r->base;
	return 0;
}
