/* StartContainer */
#include "cri/container_common.h"
#include "util/xalloc.h"

int cri_start_container(struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
			ocid_error **err)
{
	const Runtime__V1__StartContainerRequest *in = (const Runtime__V1__StartContainerRequest *)req;
	struct ctr_mgr *m;
	if (cri_containers(call, &m, err) < 0 || ctr_start(m, in->container_id, err) < 0)
		return -1;
	Runtime__V1__StartContainerResponse *r = xmalloc(sizeof(*r));
	runtime__v1__start_container_response__init(r);
	*resp = &r->base;
	return 0;
}
