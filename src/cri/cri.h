/* The CRI front-end: one handler per RPC (or small group), each a thin layer
 * over the pod/ctr/image modules. This header holds the state every handler
 * shares and the route table given to the server. */
#ifndef OCID_CRI_CRI_H
#define OCID_CRI_CRI_H

#include <pthread.h>
#include <stddef.h>

#include "config/config.h"
#include "server/rpc.h"
#include "util/err.h"

struct store;
struct image_puller;
struct sandbox_mgr;
struct ctr_mgr;

struct cri_service {
	const struct ocid_config *cfg;
	/* The image service (set by the daemon after store_open; borrowed). */
	struct store *store;
	struct image_puller *puller;
	/* Pod sandboxes (set by the daemon after store_open; borrowed). */
	struct sandbox_mgr *pods;
	/* Containers (set by the daemon after the pods; borrowed). */
	struct ctr_mgr *containers;
	pthread_mutex_t lock; /* guards the mutable fields below */
	char *pod_cidr;       /* from UpdateRuntimeConfig */
};

int cri_service_init(struct cri_service *svc, const struct ocid_config *cfg, ocid_error **err);
void cri_service_fini(struct cri_service *svc);

/* Every method of runtime.v1.RuntimeService and ImageService, in proto
 * order; the ones without a handler yet answer UNIMPLEMENTED. The returned
 * array is malloc'd (paths too): free with cri_routes_free. */
int cri_routes_build(struct cri_service *svc, struct rpc_route **routes, size_t *n, ocid_error **err);
void cri_routes_free(struct rpc_route *routes, size_t n);

/* Handlers (rpc_unary_fn). rpc_call_data() is the struct cri_service. */
int cri_version(struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp, ocid_error **err);
int cri_status(struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp, ocid_error **err);
int cri_runtime_config(struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp, ocid_error **err);
int cri_update_runtime_config(struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
			      ocid_error **err);

/* Pod sandboxes (sandbox_*.c) */
int cri_run_pod_sandbox(struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp, ocid_error **err);
int cri_stop_pod_sandbox(struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp, ocid_error **err);
int cri_remove_pod_sandbox(struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
			   ocid_error **err);
int cri_pod_sandbox_status(struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
			   ocid_error **err);
int cri_list_pod_sandbox(struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp, ocid_error **err);

/* Containers (container_*.c) */
int cri_create_container(struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
			 ocid_error **err);
int cri_start_container(struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
			ocid_error **err);
int cri_stop_container(struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp, ocid_error **err);
int cri_remove_container(struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
			 ocid_error **err);
int cri_list_containers(struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
			ocid_error **err);
int cri_container_status(struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
			 ocid_error **err);
int cri_update_container_resources(struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
				   ocid_error **err);
int cri_reopen_container_log(struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
			     ocid_error **err);
int cri_exec_sync(struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp, ocid_error **err);

/* runtime.v1.ImageService (image_*.c) */
int cri_list_images(struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp, ocid_error **err);
int cri_image_status(struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp, ocid_error **err);
int cri_pull_image(struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp, ocid_error **err);
int cri_remove_image(struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp, ocid_error **err);
int cri_image_fs_info(struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp, ocid_error **err);

#endif
