/* ImageFsInfo: the bytes and inodes the unpacked image layers use, on the
 * filesystem of the layer store (its directory is the mountpoint). The
 * figures come from the layer records (summed at unpack time), so the call
 * costs one query, not a walk of the tree. */
#include <stdlib.h>
#include <time.h>

#include "cri/image_internal.h"
#include "util/xalloc.h"

int cri_image_fs_info(struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp, ocid_error **err)
{
	(void)req;
	struct cri_service *svc = rpc_call_data(call);
	if (cri_image_ready(svc, err) < 0)
		return -1;
	uint64_t bytes = 0, inodes = 0;
	const char *mountpoint = NULL;
	if (store_fs_usage(svc->store, &bytes, &inodes, &mountpoint, err) < 0)
		return -1;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	Runtime__V1__FilesystemUsage *u = xmalloc(sizeof(*u));
	runtime__v1__filesystem_usage__init(u);
	u->timestamp = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	u->fs_id = xmalloc(sizeof(*u->fs_id));
	runtime__v1__filesystem_identifier__init(u->fs_id);
	u->fs_id->mountpoint = pb_strdup(mountpoint);
	u->used_bytes = xmalloc(sizeof(*u->used_bytes));
	runtime__v1__uint64_value__init(u->used_bytes);
	u->used_bytes->value = bytes;
	u->inodes_used = xmalloc(sizeof(*u->inodes_used));
	runtime__v1__uint64_value__init(u->inodes_used);
	u->inodes_used->value = inodes;
	Runtime__V1__ImageFsInfoResponse *r = xmalloc(sizeof(*r));
	runtime__v1__image_fs_info_response__init(r);
	r->image_filesystems = xcalloc(1, sizeof(*r->image_filesystems));
	r->image_filesystems[0] = u;
	r->n_image_filesystems = 1;
	*resp = &r->base;
	return 0;
}
