/* UpdateContainerResources (linux resources; windows ones are ignored). */
#include "cri/container_common.h"
#include "util/xalloc.h"

int cri_update_container_resources(struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
				   ocid_error **err)
{
	const Runtime__V1__UpdateContainerResourcesRequest *in =
		(const Runtime__V1__UpdateContainerResourcesRequest *)req;
	struct ctr_mgr *m;
	if (cri_containers(call, &m, err) < 0 || ctr_update_resources(m, in->container_id, in->linux, err) < 0)
		return -1;
	Runtime__V1__UpdateContainerResourcesResponse *r = xmalloc(sizeof(*r));
	runtime__v1__update_container_resources_response__init(r);
	*resp = &r->base;
	return 0;
}
