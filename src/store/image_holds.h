/* "In use" marks on images: the container module holds an image for as
 * long as a container made from it exists (store_image_hold on create,
 * store_image_release on removal, and again for every container it restores
 * at start-up: holds live in memory). images_remove consults them through
 * the in-use hook that store_open installs, so RemoveImage of a held image
 * fails with FAILED_PRECONDITION and the image is kept until the last hold
 * is dropped. Holds count: one per container.
 *
 * A hold is taken through images_with_image, which checks the image exists
 * under the lock a removal takes before it consults the holds, so it cannot
 * race a removal: either the removal sees the hold, or the hold sees the
 * image gone (NOT_FOUND). The holds' mutex is a leaf lock, never held while
 * calling the database. */
#ifndef OCID_STORE_IMAGE_HOLDS_H
#define OCID_STORE_IMAGE_HOLDS_H

#include <stdbool.h>

#include "store/db.h"
#include "util/err.h"

struct image_holds;

struct image_holds *image_holds_new(void);
void image_holds_free(struct image_holds *h);
/* An image_in_use_fn for images_set_in_use_hook (ctx: the holds). */
int image_holds_in_use(void *ctx, store_db *db, const char *image_id, ocid_error **err);
/* How many holds image_id has. */
unsigned image_holds_count(struct image_holds *h, const char *image_id);

#endif
