/* ExecSync: runs a command in a running container and returns its output
 * and status. At the timeout the command's whole process group is killed and
 * reaped, and the call fails with DEADLINE_EXCEEDED, which kubelet turns
 * into a probe timeout. */
#include <stdlib.h>

#include "cri/container_common.h"
#include "util/xalloc.h"

int cri_exec_sync(struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp, ocid_error **err)
{
	const Runtime__V1__ExecSyncRequest *in = (const Runtime__V1__ExecSyncRequest *)req;
	struct ctr_mgr *m;
	if (cri_containers(call, &m, err) < 0)
		return -1;
	if (in->n_cmd == 0)
		return err_set(err, GRPC_INVALID_ARGUMENT, "cmd is required");
	const char **argv = xcalloc(in->n_cmd + 1, sizeof(*argv));
	for (size_t i = 0; i < in->n_cmd; i++)
		argv[i] = in->cmd[i];
	struct conmon_exec_result res;
	int rc = ctr_exec_sync(m, in->container_id, argv, in->timeout, &res, err);
	free(argv);
	if (rc < 0) {
		conmon_exec_result_free(&res);
		return -1;
	}
	if (res.timed_out) {
		conmon_exec_result_free(&res);
		return err_set(err, GRPC_DEADLINE_EXCEEDED, "command %s in container %s timed out after %lld s",
			       in->cmd[0], in->container_id, (long long)in->timeout);
	}
	Runtime__V1__ExecSyncResponse *r = xmalloc(sizeof(*r));
	runtime__v1__exec_sync_response__init(r);
	r->exit_code = res.exit_code;
	r->stdout.len = res.out_len;
	r->stdout.data = (uint8_t *)res.out;
	r->stderr.len = res.err_len;
	r->stderr.data = (uint8_t *)res.err;
	res.out = res.err = NULL;
	conmon_exec_result_free(&res);
	*resp = &r->base;
	return 0;
}
