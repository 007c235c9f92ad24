#include "cri/cri.h"

#include <stdlib.h>
#include <string.h>

#include "api.pb-c.h"
#include "util/xalloc.h"

struct handler_entry {
	const char *method; /* short name, e.g. "Version" */
	rpc_unary_fn unary;
	rpc_stream_fn stream;
};

/* Handlers that never block and do no I/O to speak of: run on the event loop
 * (see struct rpc_route). ListContainers and ContainerStatus read a snapshot
 * under a short mutex (the verbose status also reads the container's
 * config.json from runroot): on the loop they never queue behind worker
 * threads busy with slow calls (StopContainers waiting out grace periods).
 * ListPodSandbox and PodSandboxStatus likewise (a snapshot of the pod index
 * under its short mutex): slow StopPodSandbox calls (CNI DEL) cannot delay
 * them. */
static const char *const loop_safe_methods[] = {"Version", "ListContainers", "ContainerStatus", "ListPodSandbox",
						"PodSandboxStatus"};

static bool loop_safe(const char *method)
{
	for (size_t i = 0; i < sizeof(loop_safe_methods) / sizeof(loop_safe_methods[0]); i++)
		if (strcmp(loop_safe_methods[i], method) == 0)
			return true;
	return false;
}

/* What ocid serves today; every other method of the services is routed too,
 * and answers UNIMPLEMENTED naming itself. */
static const struct handler_entry runtime_handlers[] = {
	{"Version", cri_version, NULL},
	{"Status", cri_status, NULL},
	{"RuntimeConfig", cri_runtime_config, NULL},
	{"UpdateRuntimeConfig", cri_update_runtime_config, NULL},
	{"RunPodSandbox", cri_run_pod_sandbox, NULL},
	{"StopPodSandbox", cri_stop_pod_sandbox, NULL},
	{"RemovePodSandbox", cri_remove_pod_sandbox, NULL},
	{"PodSandboxStatus", cri_pod_sandbox_status, NULL},
	{"ListPodSandbox", cri_list_pod_sandbox, NULL},
	{"CreateContainer", cri_create_container, NULL},
	{"StartContainer", cri_start_container, NULL},
	{"StopContainer", cri_stop_container, NULL},
	{"RemoveContainer", cri_remove_container, NULL},
	{"ListContainers", cri_list_containers, NULL},
	{"ContainerStatus", cri_container_status, NULL},
	{"UpdateContainerResources", cri_update_container_resources, NULL},
	{"ReopenContainerLog", cri_reopen_container_log, NULL},
	{"ExecSync", cri_exec_sync, NULL},
};

static const struct handler_entry image_handlers[] = {
	{"ListImages", cri_list_images, NULL},
	{"ImageStatus", cri_image_status, NULL},
	{"PullImage", cri_pull_image, NULL},
	{"RemoveImage", cri_remove_image, NULL},
	{"ImageFsInfo", cri_image_fs_info, NULL},
};

static const struct handler_entry *find_handler(const struct handler_entry *table, size_t n, const char *method)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(table[i].method, method) == 0)
			return &table[i];
	return NULL;
}

static void add_service(struct cri_service *svc, const ProtobufCServiceDescriptor *desc,
			const struct handler_entry *table, size_t n_table, struct rpc_route *routes, size_t *n)
{
	for (unsigned i = 0; i < desc->n_methods; i++) {
		const ProtobufCMethodDescriptor *m = &desc->methods[i];
		struct rpc_route *r = &routes[(*n)++];
		r->path = xasprintf("/%s/%s", desc->name, m->name);
		r->input = m->input;
		r->output = m->output;
		r->data = svc;
		const struct handler_entry *h = find_handler(table, n_table, m->name);
		if (h) {
			r->unary = h->unary;
			r->stream = h->stream;
			r->run_on_loop = h->unary && loop_safe(m->name);
		}
	}
}

int cri_routes_build(struct cri_service *svc, struct rpc_route **routes, size_t *n, ocid_error **err)
{
	(void)err;
	const ProtobufCServiceDescriptor *rt = &runtime__v1__runtime_service__descriptor;
	const ProtobufCServiceDescriptor *img = &runtime__v1__image_service__descriptor;
	struct rpc_route *out = xcalloc(rt->n_methods + img->n_methods, sizeof(*out));
	size_t count = 0;
	add_service(svc, rt, runtime_handlers, sizeof(runtime_handlers) / sizeof(runtime_handlers[0]), out, &count);
	add_service(svc, img, image_handlers, sizeof(image_handlers) / sizeof(image_handlers[0]), out, &count);
	*routes = out;
	*n = count;
	return 0;
}

void cri_routes_free(struct rpc_route *routes, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free((char *)routes[i].path);
	free(routes);
}

int cri_service_init(struct cri_service *svc, const struct ocid_config *cfg, ocid_error **err)
{
	(void)err;
	memset(svc, 0, sizeof(*svc));
	svc->cfg = cfg;
	pthread_mutex_init(&svc->lock, NULL);
	return 0;
}

void cri_service_fini(struct cri_service *svc)
{
	pthread_mutex_destroy(&svc->lock);
	free(svc->pod_cidr);
	svc->pod_cidr = NULL;
}
