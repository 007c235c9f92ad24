/* PullImage: image_ref is the image id (the config digest). */
#include <stdlib.h>

#include "cri/image_internal.h"
#include "image/pull.h"
#include "util/xalloc.h"

static bool call_cancelled(void *call) { return rpc_call_cancelled(call); }

static const char *opt(const char *s) { return s && *s ? s : NULL; }

int cri_pull_image(struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp, ocid_error **err)
{
	struct cri_service *svc = rpc_call_data(call);
	const Runtime__V1__PullImageRequest *in = (const Runtime__V1__PullImageRequest *)req;
	if (cri_image_ready(svc, err) < 0)
		return -1;
	const char *image = in->image ? in->image->image : NULL;
	if (image == NULL || *image == '\0')
		return err_set(err, GRPC_INVALID_ARGUMENT, "no image specified (image.image is empty)");
	struct registry_credentials creds = { 0 };
	if (in->auth) {
		creds.username = opt(in->auth->username);
		creds.password = opt(in->auth->password);
		creds.auth = opt(in->auth->auth);
		creds.identity_token = opt(in->auth->identity_token);
		creds.registry_token = opt(in->auth->registry_token);
	}
	struct registry_cancel cancel = {
		.deadline_ns = rpc_call_deadline(call),
		.cancelled = call_cancelled,
		.opaque = call,
	};
	char *id = NULL;
	if (image_pull(svc->puller, image, &creds, &cancel, &id, err) < 0)
		return -1;
	Runtime__V1__PullImageResponse *r = xmalloc(sizeof(*r));
	runtime__v1__pull_image_response__init(r);
	r->image_ref = id;
	*resp = &r->base;
	return 0;
}
