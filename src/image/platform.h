/* Choosing the image for this machine from an index or manifest list.
 *
 * Platforms use Go's GOOS/GOARCH names (what image indexes carry). The host
 * is "linux" plus uname's machine mapped to GOARCH (x86_64 -> amd64,
 * aarch64 -> arm64, armv7l -> arm/v7, ...). Matching: os and architecture
 * equal, variants compared after normalisation (arm64: "" == "v8"; amd64:
 * "" == "v1"; arm: "" == "v7"); an arm host of variant vN also accepts
 * lower variants, preferring the highest. Among equally good entries the
 * first in the index wins. */
#ifndef OCID_IMAGE_PLATFORM_H
#define OCID_IMAGE_PLATFORM_H

#include <stdbool.h>

#include "image/manifest.h"
#include "util/err.h"

/* Fills *out (strings malloc'd; clear with image_platform_clear) with the
 * platform of this machine. */
void image_platform_host(struct image_platform *out);
/* Maps a uname machine ("x86_64", "armv7l", ...) to GOARCH and variant
 * (static strings; variant may be NULL). Unknown machines map to themselves. */
void image_platform_from_machine(const char *machine, const char **arch, const char **variant);
void image_platform_clear(struct image_platform *p);

/* How well candidate suits want: < 0 not at all, higher is better. */
int image_platform_score(const struct image_platform *want, const struct image_platform *candidate);

/* Picks the entry of index (an OCI index or Docker manifest list) for want
 * and sets *out to it (owned by index). No match -> NOT_FOUND listing the
 * platforms on offer. Entries that are not image manifests are skipped. */
int manifest_select_platform(const struct image_manifest *index, const struct image_platform *want,
			     const struct image_descriptor **out, ocid_error **err);

/* "linux/arm64/v8" (variant omitted when empty). malloc'd. */
char *image_platform_string(const struct image_platform *p);

#endif
