#include "cri/cri.h"

#include <stdlib.h>

#include "api.pb-c.h"
#include "util/log.h"
#include "util/xalloc.h"

int cri_runtime_config(struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp, ocid_error **err)
{
	(void)call;
	(void)req;
	(void)err;
	Runtime__V1__RuntimeConfigResponse *r = xmalloc(sizeof(*r));
	runtime__v1__runtime_config_response__init(r);
	r->linux = xmalloc(sizeof(*r->linux));
	runtime__v1__linux_runtime_configuration__init(r->linux);
	/* Only the cgroupfs manager is supported (config validation refuses systemd). */
	r->linux->cgroup_driver = RUNTIME__V1__CGROUP_DRIVER__CGROUPFS;
	*resp = &r->base;
	return 0;
}

int cri_update_runtime_config(struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
			      ocid_error **err)
{
	(void)err;
	struct cri_service *svc = rpc_call_data(call);
	const Runtime__V1__UpdateRuntimeConfigRequest *in = (const Runtime__V1__UpdateRuntimeConfigRequest *)req;
	/* The kubelet sends the node's pod CIDR; an empty one changes nothing. */
	const char *cidr = NULL;
	if (in->runtime_config && in->runtime_config->network_config)
		cidr = in->runtime_config->network_config->pod_cidr;
	if (cidr && *cidr) {
		pthread_mutex_lock(&svc->lock);
		free(svc->pod_cidr);
		svc->pod_cidr = xstrdup(cidr);
		pthread_mutex_unlock(&svc->lock);
		log_info("pod CIDR updated", "pod_cidr=%s", cidr);
	}
	Runtime__V1__UpdateRuntimeConfigResponse *r = xmalloc(sizeof(*r));
	runtime__v1__update_runtime_config_response__init(r);
	*resp = &r->base;
	return 0;
}
