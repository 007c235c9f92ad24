/* The image configuration blob (OCI image-spec config.md; Docker's
 * container image JSON is the same shape for these fields), validated.
 * Malformed content is DATA_LOSS, as for manifests. */
#ifndef OCID_IMAGE_IMAGE_CONFIG_H
#define OCID_IMAGE_IMAGE_CONFIG_H

#include <jansson.h>
#include <stddef.h>

#include "image/manifest.h"
#include "util/err.h"

struct image_label {
	char *key;
	char *value;
};

/* String lists are NULL-terminated (never NULL themselves); absent strings
 * are NULL. */
struct image_config {
	char *architecture;
	char *os;
	char *variant;
	char *created; /* RFC 3339, unchecked */
	/* "config" */
	char *user;        /* "", "name", "uid", "uid:gid", "name:group" */
	char **env;        /* "KEY=VALUE" */
	char **entrypoint; /* NULL when unset (as opposed to empty) */
	char **cmd;        /* NULL when unset */
	char *working_dir;
	struct image_label *labels;
	size_t n_labels;
	char *stop_signal;
	char **volumes;       /* keys of "Volumes" */
	char **exposed_ports; /* keys of "ExposedPorts": "80/tcp" */
	/* "rootfs" */
	char **diff_ids; /* validated digests, one per layer */
	size_t n_diff_ids;
	/* The whole document, for verbose ImageStatus. */
	json_t *json;
};

int image_config_parse(const char *body, size_t len, struct image_config **out, ocid_error **err);
void image_config_free(struct image_config *c);
/* The config's diff_ids must pair with the manifest's layers: a count
 * mismatch is DATA_LOSS. */
int image_config_check_layers(const struct image_config *c, const struct image_manifest *m,
			      ocid_error **err);

static inline void image_config_cleanup(struct image_config **c) { image_config_free(*c); }
#define cleanup_image_config __attribute__((cleanup(image_config_cleanup)))

#endif
