/* Finding a stored image from what an RPC's ImageSpec says: an image id
 * ("sha256:<hex>" or the bare hex), a reference as a user writes it
 * ("busybox", "127.0.0.1:5000/x:v1", "x@sha256:..."; short names through the
 * search list, as a pull would resolve them), a repo tag or digest exactly
 * as stored, or an unambiguous id prefix (at least 3 hex digits). */
#ifndef OCID_IMAGE_LOOKUP_H
#define OCID_IMAGE_LOOKUP_H

#include "store/store.h"
#include "util/err.h"

/* *out = NULL when nothing matches. An empty spec is INVALID_ARGUMENT; so is
 * a spec that is neither a stored name nor a valid reference (the message
 * says what is wrong with it), and an ambiguous id prefix. */
int image_lookup(struct store *st, char *const *search, const char *spec, struct image_record **out,
		 ocid_error **err);

#endif
