/* Shared by the container handlers (container_*.c): reply building. */
#ifndef OCID_CRI_CONTAINER_COMMON_H
#define OCID_CRI_CONTAINER_COMMON_H

#include "api.pb-c.h"
#include "cri/cri.h"
#include "ctr/container.h"

/* The container manager, or UNAVAILABLE when the daemon has none. */
int cri_containers(struct rpc_call *call, struct ctr_mgr **out, ocid_error **err);
void cri_ctr_call(struct rpc_call *call, struct ctr_call *out);

Runtime__V1__ContainerMetadata *cri_ctr_metadata(const Runtime__V1__ContainerMetadata *m);
Runtime__V1__ImageSpec *cri_ctr_image_spec(const struct container *c);
Runtime__V1__ContainerState cri_ctr_state(enum ctr_state s);

#endif
