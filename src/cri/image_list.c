/* ListImages, optionally filtered by an image spec (a name or an id). */
#include <stdlib.h>

#include "cri/image_internal.h"
#include "util/xalloc.h"

int cri_list_images(struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp, ocid_error **err)
{
	struct cri_service *svc = rpc_call_data(call);
	const Runtime__V1__ListImagesRequest *in = (const Runtime__V1__ListImagesRequest *)req;
	if (cri_image_ready(svc, err) < 0)
		return -1;
	struct image_record **list = NULL;
	size_t n = 0;
	const Runtime__V1__ImageSpec *spec = in->filter ? in->filter->image : NULL;
	if (spec && spec->image && *spec->image) {
		struct image_record *rec = NULL;
		if (cri_image_find(svc, spec, &rec, err) < 0)
			return -1;
		if (rec) {
			list = xcalloc(1, sizeof(*list));
			list[n++] = rec;
		}
	} else if (images_list(svc->store->images, &list, &n, err) < 0) {
		return -1;
	}
	Runtime__V1__ListImagesResponse *r = xmalloc(sizeof(*r));
	runtime__v1__list_images_response__init(r);
	if (n > 0) {
		r->images = xcalloc(n, sizeof(*r->images));
		for (size_t i = 0; i < n; i++)
			r->images[i] = cri_image_from_record(list[i]);
		r->n_images = n;
	}
	image_records_free(list, n);
	*resp = &r->base;
	return 0;
}
