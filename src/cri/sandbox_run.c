/* RunPodSandbox */
#include <stdlib.h>

#include "cri/sandbox_internal.h"
#include "util/xalloc.h"

int cri_run_pod_sandbox(struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
			ocid_error **err)
{
	const Runtime__V1__RunPodSandboxRequest *in = (const Runtime__V1__RunPodSandboxRequest *)req;
	struct sandbox_mgr *pods;
	if (cri_pods(call, &pods, err) < 0)
		return -1;
	struct sandbox_call sc;
	cri_sandbox_call(call, &sc);
	char *id = NULL;
	if (sandbox_run(pods, in->config, in->runtime_handler, &sc, &id, err) < 0)
		return -1;
	Runtime__V1__RunPodSandboxResponse *r = xmalloc(sizeof(*r));
	runtime__v1__run_pod_sandbox_response__init(r);
	r->pod_sandbox_id = id;
	*resp = &r->base;
	return 0;
}
