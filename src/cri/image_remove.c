/* RemoveImage by id, tag or digest: the whole image goes, with all its tags
 * and digests; the layers and blobs nothing else uses are deleted. Removing
 * an image that is not there succeeds (the RPC is idempotent, so concurrent
 * removals of one image all succeed). An image held by a container
 * (store_image_hold) is kept: FAILED_PRECONDITION. */
#include <stdlib.h>

#include "cri/image_internal.h"
#include "ctr/container.h"
#include "util/log.h"
#include "util/xalloc.h"

int cri_remove_image(struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp, ocid_error **err)
{
	struct cri_service *svc = rpc_call_data(call);
	const Runtime__V1__RemoveImageRequest *in = (const Runtime__V1__RemoveImageRequest *)req;
	struct image_record *rec = NULL;
	if (cri_image_find(svc, in->image, &rec, err) < 0)
		return -1;
	if (rec) {
		/* containers removed a moment ago still hold their images until
		 * their files are gone, and so do rootfs mounted ahead */
		if (svc->containers)
			ctr_release_image(svc->containers, rec->id);
		bool removed = false;
		int rc = store_remove_image(svc->store, rec->id, &removed, err);
		if (rc == 0 && removed)
			log_info("image removed", "image=%s id=%s", in->image->image, rec->id);
		image_record_free(rec);
		if (rc < 0)
			return -1;
	}
	Runtime__V1__RemoveImageResponse *r = xmalloc(sizeof(*r));
	runtime__v1__remove_image_response__init(r);
	*resp = &r->base;
	return 0;
}
