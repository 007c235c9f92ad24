/* RemoveContainer: idempotent, an unknown id succeeds. */
#include "cri/container_common.h"
#include "util/xalloc.h"

int cri_remove_container(struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
			 ocid_error **err)
{
	const Runtime__V1__RemoveContainerRequest *in = (const Runtime__V1__RemoveContainerRequest *)req;
	struct ctr_mgr *m;
	if (cri_containers(call, &m, err) < 0)
		return -1;
	if (in->container_id == NULL || in->container_id[0] == '\0')
		return err_set(err, GRPC_INVALID_ARGUMENT, "container_id is required");
	if (ctr_remove(m, in->container_id, err) < 0)
		return -1;
	Runtime__V1__RemoveContainerResponse *r = xmalloc(sizeof(*r));
	runtime__v1__remove_container_response__init(r);
	*resp = &r->base;
	return 0;
}
