/* ReopenContainerLog: kubelet renames the log file and calls this; on
 * return conmon has re-created it. */
#include "cri/container_common.h"
#include "util/xalloc.h"

int cri_reopen_container_log(struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
			     ocid_error **err)
{
	const Runtime__V1__ReopenContainerLogRequest *in = (const Runtime__V1__ReopenContainerLogRequest *)req;
	struct ctr_mgr *m;
	if (cri_containers(call, &m, err) < 0)
		return -1;
	struct ctr_call cc;
	cri_ctr_call(call, &cc);
	if (ctr_reopen_log(m, in->container_id, &cc, err) < 0)
		return -1;
	Runtime__V1__ReopenContainerLogResponse *r = xmalloc(sizeof(*r));
	runtime__v1__reopen_container_log_response__init(r);
	*resp = &r->base;
	return 0;
}
