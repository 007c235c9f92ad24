/* Start-up recovery of the store, run before anything else uses it. After a
 * crash (or kill -9 in the middle of a pull) it brings disk and database back
 * to agreement, deleting what cannot be trusted rather than half-keeping it:
 *  - layers still 'pulling' lose their rows and directories;
 *  - a ready layer whose directory is gone takes the images that use it down
 *    with it (logged);
 *  - ready layers no image uses are deleted (a pull that died before
 *    images_put; the next pull unpacks them again);
 *  - directories under overlay/ that are not ready layers (partial unpacks,
 *    renamed-aside removals) are removed;
 *  - blobs no image refers to are removed, and temporaries too.
 * It must not run while pulls are in progress (the store's lock file keeps a
 * second daemon off the same root). */
#ifndef OCID_STORE_RECOVER_H
#define OCID_STORE_RECOVER_H

#include "store/blobs.h"
#include "store/db.h"
#include "store/layers.h"
#include "util/err.h"

struct store_recovery_stats {
	size_t layers_removed;
	size_t dirs_removed;
	size_t images_removed;
	size_t blobs_removed;
};

int store_recover(store_db *db, layer_store *ls, blob_store *bs, struct store_recovery_stats *stats,
		  ocid_error **err);

#endif
