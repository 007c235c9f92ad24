#include <stdlib.h>

#include "cri/image_internal.h"
#include "image/lookup.h"
#include "image/pull.h"
#include "util/xalloc.h"

int cri_image_ready(struct cri_service *svc, ocid_error **err)
{
	if (svc->store == NULL || svc->puller == NULL)
		return err_set(err, GRPC_UNAVAILABLE, "the image store is not open");
	return 0;
}

int cri_image_find(struct cri_service *svc, const Runtime__V1__ImageSpec *spec, struct image_record **out,
		   ocid_error **err)
{
	*out = NULL;
	if (cri_image_ready(svc, err) < 0)
		return -1;
	const char *s = spec ? spec->image : NULL;
	if (s == NULL || *s == '\0')
		return err_set(err, GRPC_INVALID_ARGUMENT, "no image specified (image.image is empty)");
	return image_lookup(svc->store, image_puller_search(svc->puller), s, out, err);
}

Runtime__V1__Image *cri_image_from_record(const struct image_record *r)
{
	Runtime__V1__Image *im = xmalloc(sizeof(*im));
	runtime__v1__image__init(im);
	im->id = pb_strdup(r->id);
	im->repo_tags = strv_dup_n(r->tags, r->n_tags);
	im->n_repo_tags = r->n_tags;
	im->repo_digests = strv_dup_n(r->digests, r->n_digests);
	im->n_repo_digests = r->n_digests;
	im->size = r->size > 0 ? (uint64_t)r->size : 0;
	int64_t uid;
	char *username;
	image_user(r->user, &uid, &username);
	if (uid >= 0) {
		im->uid = xmalloc(sizeof(*im->uid));
		runtime__v1__int64_value__init(im->uid);
		im->uid->value = uid;
	}
	im->username = pb_strdup(username);
	free(username);
	im->spec = xmalloc(sizeof(*im->spec));
	runtime__v1__image_spec__init(im->spec);
	im->spec->image = pb_strdup(r->id);
	im->pinned = false;
	return im;
}
