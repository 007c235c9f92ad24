/* Image manifests and indexes (OCI image-spec and Docker's manifest formats),
 * parsed with jansson and validated before any field is used.
 *
 * Error codes: content that is not what it claims to be (bad JSON, missing
 * or mistyped fields, malformed digests, negative sizes, a media type that
 * contradicts the document) is DATA_LOSS: the registry handed us corrupt
 * data. Well-formed content that ocid does not support (Docker schema 1,
 * non-distributable/foreign layers, unknown layer types, artifacts that are
 * not container images) is UNIMPLEMENTED. */
#ifndef OCID_IMAGE_MANIFEST_H
#define OCID_IMAGE_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/* Manifests and indexes */
#define MEDIA_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MEDIA_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MEDIA_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MEDIA_DOCKER_V2 "application/vnd.docker.distribution.manifest.v2+json"
#define MEDIA_DOCKER_V1 "application/vnd.docker.distribution.manifest.v1+json"
#define MEDIA_DOCKER_V1_SIGNED "application/vnd.docker.distribution.manifest.v1+prettyjws"
/* Image configs */
#define MEDIA_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define MEDIA_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
/* Layers */
#define MEDIA_OCI_LAYER "application/vnd.oci.image.layer.v1.tar"
#define MEDIA_OCI_LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define MEDIA_OCI_LAYER_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"
#define MEDIA_DOCKER_LAYER "application/vnd.docker.image.rootfs.diff.tar"
#define MEDIA_DOCKER_LAYER_GZIP "application/vnd.docker.image.rootfs.diff.tar.gzip"
#define MEDIA_DOCKER_FOREIGN_LAYER "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
#define MEDIA_OCI_NONDIST_LAYER "application/vnd.oci.image.layer.nondistributable.v1.tar"
#define MEDIA_OCI_NONDIST_LAYER_GZIP "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
#define MEDIA_OCI_NONDIST_LAYER_ZSTD "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"

/* The Accept header value for manifest requests: the four supported types,
 * plus schema 1 so that a registry holding only that answers with it and we
 * can say it is unsupported instead of "not found". */
#define MANIFEST_ACCEPT                                                                   \
	MEDIA_OCI_INDEX ", " MEDIA_OCI_MANIFEST ", " MEDIA_DOCKER_LIST ", " MEDIA_DOCKER_V2 \
			", " MEDIA_DOCKER_V1_SIGNED ", " MEDIA_DOCKER_V1

/* Manifest size bound (the registry client stops reading past it). */
#define MANIFEST_MAX_SIZE (4 * 1024 * 1024)
/* Image config size bound. */
#define IMAGE_CONFIG_MAX_SIZE (8 * 1024 * 1024)

struct image_platform {
	char *os;           /* "linux" */
	char *architecture; /* GOARCH: "amd64", "arm64", "arm", ... */
	char *variant;      /* "v7", "v8", or NULL */
	char *os_version;   /* or NULL */
};

struct image_descriptor {
	char *media_type;
	char *digest; /* validated */
	int64_t size; /* >= 0 */
	struct image_platform *platform; /* index entries only; NULL when absent */
};

enum manifest_kind {
	MANIFEST_OCI_INDEX = 0,
	MANIFEST_DOCKER_LIST,
	MANIFEST_OCI,
	MANIFEST_DOCKER_V2,
};

enum layer_compression {
	LAYER_UNCOMPRESSED = 0,
	LAYER_GZIP,
	LAYER_ZSTD,
};

struct image_layer {
	struct image_descriptor desc;
	enum layer_compression compression;
};

struct image_manifest {
	enum manifest_kind kind;
	const char *media_type; /* one of the MEDIA_* constants above */
	/* indexes (MANIFEST_OCI_INDEX, MANIFEST_DOCKER_LIST) */
	struct image_descriptor *manifests;
	size_t n_manifests;
	/* image manifests (MANIFEST_OCI, MANIFEST_DOCKER_V2) */
	struct image_descriptor config;
	struct image_layer *layers;
	size_t n_layers;
};

/* Parses and validates a manifest or index body. content_type is the
 * response's Content-Type (may be NULL): the document's own mediaType wins
 * when present; when both name known manifest types they must agree. A
 * manifest needs a config of an image config type and at least one layer,
 * every layer of a supported type. */
int manifest_parse(const char *body, size_t len, const char *content_type,
		   struct image_manifest **out, ocid_error **err);
void manifest_free(struct image_manifest *m);
bool manifest_is_index(const struct image_manifest *m);

/* True if media_type (parameters after ';' ignored) is one of the four
 * supported manifest/index types. */
bool manifest_media_type_supported(const char *media_type);

/* Maps a layer media type to its compression. Non-distributable ("foreign")
 * and unknown types fail with UNIMPLEMENTED. */
int layer_media_type_parse(const char *media_type, enum layer_compression *out,
			   ocid_error **err);
const char *layer_compression_name(enum layer_compression c);

void image_platform_free(struct image_platform *p);

static inline void manifest_cleanup(struct image_manifest **m) { manifest_free(*m); }
#define cleanup_manifest __attribute__((cleanup(manifest_cleanup)))

#endif
