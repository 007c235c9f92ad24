#include "image/lookup.h"

#include <stdlib.h>

#include "image/reference.h"
#include "util/cleanup.h"
#include "util/xalloc.h"

static int by_ref(struct store *st, const struct image_ref *r, struct image_record **out, ocid_error **err)
{
	if (r->digest) {
		cleanup_free char *rd = image_ref_repo_digest(r, r->digest);
		return images_get_by_digest(st->images, rd, out, err);
	}
	cleanup_free char *rt = image_ref_repo_tag(r);
	return rt ? images_get_by_tag(st->images, rt, out, err) : 0;
}

int image_lookup(struct store *st, char *const *search, const char *spec, struct image_record **out,
		 ocid_error **err)
{
	*out = NULL;
	if (spec == NULL || *spec == '\0')
		return err_set(err, GRPC_INVALID_ARGUMENT, "no image specified");
	cleanup_image_ref struct image_ref ref = { 0 };
	ocid_error *parse_err = NULL;
	if (image_ref_parse(spec, &ref, &parse_err) == 0) {
		if (ref.kind == IMAGE_REF_ID)
			return images_get(st->images, ref.id, out, err);
		struct image_ref *cands = NULL;
		size_t n = 0;
		if (image_ref_candidates(&ref, search, &cands, &n, err) < 0)
			return -1;
		int rc = 0;
		for (size_t i = 0; i < n && rc == 0 && *out == NULL; i++)
			rc = by_ref(st, &cands[i], out, err);
		image_ref_array_free(cands, n);
		if (rc < 0 || *out)
			return rc;
	}
	/* names as stored, then an id prefix */
	if (images_resolve(st->images, spec, out, err) < 0) {
		err_free(parse_err);
		return -1;
	}
	if (*out == NULL && parse_err) {
		if (err && *err == NULL)
			*err = parse_err;
		else
			err_free(parse_err);
		return -1;
	}
	err_free(parse_err);
	return 0;
}
