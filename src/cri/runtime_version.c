#include "cri/cri.h"

#include "api.pb-c.h"
#include "util/xalloc.h"

/* The CRI "version" field is the kubelet runtime API version the runtime
 * speaks, which crictl prints as "Version". */
#define CRI_KUBELET_API_VERSION "0.1.0"

int cri_version(struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp, ocid_error **err)
{
	(void)call;
	(void)req;
	(void)err;
	Runtime__V1__VersionResponse *r = xmalloc(sizeof(*r));
	runtime__v1__version_response__init(r);
	r->version = pb_strdup(CRI_KUBELET_API_VERSION);
	r->runtime_name = pb_strdup("ocid");
	r->runtime_version = pb_strdup(OCID_VERSION);
	r->runtime_api_version = pb_strdup("v1");
	*resp = &r->base;
	return 0;
}
