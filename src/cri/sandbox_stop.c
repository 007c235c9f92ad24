/* StopPodSandbox */
#include "cri/sandbox_internal.h"
#include "util/xalloc.h"

int cri_stop_pod_sandbox(struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
			 ocid_error **err)
{
	const Runtime__V1__StopPodSandboxRequest *in = (const Runtime__V1__StopPodSandboxRequest *)req;
	struct sandbox_mgr *pods;
	if (cri_pods(call, &pods, err) < 0)
		return -1;
	struct sandbox_call sc;
	cri_sandbox_call(call, &sc);
	if (sandbox_stop(pods, in->pod_sandbox_id, &sc, err) < 0)
		return -1;
	Runtime__V1__StopPodSandboxResponse *r = xmalloc(sizeof(*r));
	runtime__v1__stop_pod_sandbox_response__init(r);
	*resp = &r->base;
	return 0;
}
