/* ImageStatus: an absent image is an empty reply, not an error. verbose
 * adds info["info"]: JSON with the image config ("imageSpec"), manifest
 * digest and layer chain ids; and while a pull of the reference runs,
 * info["pull"]: its per-layer progress (image/pull.h), which is how
 * `ocic image pull` draws progress over a unary PullImage. */
#include <jansson.h>
#include <stdlib.h>

#include "cri/image_internal.h"
#include "image/pull.h"
#include "util/xalloc.h"

static Runtime__V1__ImageStatusResponse__InfoEntry *info_entry(const char *key, char *value_owned)
{
	Runtime__V1__ImageStatusResponse__InfoEntry *e = xmalloc(sizeof(*e));
	runtime__v1__image_status_response__info_entry__init(e);
	e->key = xstrdup(key);
	e->value = value_owned;
	return e;
}

static char *image_info(const struct image_record *rec)
{
	json_error_t jerr;
	json_t *config = json_loads(rec->config, 0, &jerr);
	json_t *layers = json_array();
	for (size_t i = 0; i < rec->n_layers; i++)
		json_array_append_new(layers, json_string(rec->layers[i]));
	json_t *o = json_pack("{s:s, s:s, s:o, s:I, s:o}", "id", rec->id, "manifestDigest", rec->manifest_digest,
			      "chainIDs", layers, "created", (json_int_t)rec->created, "imageSpec",
			      config ? config : json_null());
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (s == NULL)
		abort();
	return s;
}

int cri_image_status(struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp, ocid_error **err)
{
	struct cri_service *svc = rpc_call_data(call);
	const Runtime__V1__ImageStatusRequest *in = (const Runtime__V1__ImageStatusRequest *)req;
	struct image_record *rec = NULL;
	if (cri_image_find(svc, in->image, &rec, err) < 0)
		return -1;
	Runtime__V1__ImageStatusResponse *r = xmalloc(sizeof(*r));
	runtime__v1__image_status_response__init(r);
	if (rec)
		r->image = cri_image_from_record(rec);
	if (in->verbose) {
		char *progress = image_pull_progress(svc->puller, in->image->image);
		r->info = xcalloc(2, sizeof(*r->info));
		if (rec)
			r->info[r->n_info++] = info_entry("info", image_info(rec));
		if (progress)
			r->info[r->n_info++] = info_entry("pull", progress);
		if (r->n_info == 0) {
			free(r->info);
			r->info = NULL;
		}
	}
	image_record_free(rec);
	*resp = &r->base;
	return 0;
}
