/* Shared by the ImageService handlers (image_*.c). */
#ifndef OCID_CRI_IMAGE_INTERNAL_H
#define OCID_CRI_IMAGE_INTERNAL_H

#include "api.pb-c.h"
#include "cri/cri.h"
#include "store/store.h"
#include "util/err.h"

/* The image service is there (the store is open); UNAVAILABLE otherwise. */
int cri_image_ready(struct cri_service *svc, ocid_error **err);
/* The stored image an ImageSpec names (image/lookup.h); *out NULL if none. */
int cri_image_find(struct cri_service *svc, const Runtime__V1__ImageSpec *spec, struct image_record **out,
		   ocid_error **err);
/* A CRI Image for a record (malloc'd throughout). */
Runtime__V1__Image *cri_image_from_record(const struct image_record *r);

#endif
