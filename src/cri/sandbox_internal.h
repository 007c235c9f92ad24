/* Shared by the pod sandbox handlers (sandbox_*.c): reply building. */
#ifndef OCID_CRI_SANDBOX_INTERNAL_H
#define OCID_CRI_SANDBOX_INTERNAL_H

#include "api.pb-c.h"
#include "cri/cri.h"
#include "pod/sandbox.h"

/* The sandbox manager, or UNAVAILABLE when the daemon has none. */
int cri_pods(struct rpc_call *call, struct sandbox_mgr **out, ocid_error **err);
/* Deadline and cancellation of the RPC, for the sandbox module. */
void cri_sandbox_call(struct rpc_call *call, struct sandbox_call *out);

Runtime__V1__PodSandboxMetadata *cri_pod_metadata(const Runtime__V1__PodSandboxMetadata *m);
/* A map field copied from a config map (entries are {key, value} messages
 * of the given descriptor). */
void *cri_map_copy(const ProtobufCMessageDescriptor *entry_desc, void *const *src, size_t n, size_t *n_out);
/* A list filter's label_selector ({key, value} entries) as two parallel
 * arrays of borrowed strings; the caller frees both arrays. NULLs for n 0. */
void cri_label_selector(void *const *entries, size_t n, const char ***keys, const char ***values);
Runtime__V1__PodSandboxState cri_pod_state(enum sandbox_state s);

#endif
