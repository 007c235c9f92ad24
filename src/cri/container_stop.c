/* StopContainer: waits (up to the timeout, then SIGKILL) without holding
 * any lock that Status or List take. */
#include "cri/container_common.h"
#include "util/xalloc.h"

int cri_stop_container(struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp, ocid_error **err)
{
	const Runtime__V1__StopContainerRequest *in = (const Runtime__V1__StopContainerRequest *)req;
	struct ctr_mgr *m;
	if (cri_containers(call, &m, err) < 0 || ctr_stop(m, in->container_id, in->timeout, err) < 0)
		return -1;
	Runtime__V1__StopContainerResponse *r = xmalloc(sizeof(*r));
	runtime__v1__stop_container_response__init(r);
	*resp = &r->base;
	return 0;
}
