/* Image references, parsed and normalised as the container ecosystem does
 * (the docker/distribution reference grammar):
 *
 *   busybox                      -> docker.io/library/busybox:latest
 *   user/app                     -> docker.io/user/app:latest
 *   127.0.0.1:5000/x:tag         -> 127.0.0.1:5000/x:tag
 *   localhost/x                  -> localhost/x:latest
 *   host:443/a/b@sha256:<hex>    -> host:443/a/b@sha256:<hex>   (no tag added)
 *   name:tag@sha256:<hex>        -> both kept
 *
 * The first path component is a registry domain if it contains '.' or ':',
 * is "localhost", or has an upper-case letter; otherwise the name is a short
 * name (no registry given) and is put on docker.io ("library/" is added to
 * one-component docker.io names). index.docker.io is an alias of docker.io.
 * Repository paths are lower case: components of [a-z0-9] joined by '.',
 * '_', "__" or runs of '-', separated by '/'; the whole name is at most 255
 * characters. Tags match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}. Digests are
 * sha256 (64 hex) or sha512 (128 hex), lower case.
 *
 * Image IDs are a distinct kind: 64 lowercase hex digits, or "sha256:" and
 * 64 hex digits (the config digest), so ImageStatus and RemoveImage can look
 * an image up by id. */
#ifndef OCID_IMAGE_REFERENCE_H
#define OCID_IMAGE_REFERENCE_H

#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

#define IMAGE_DEFAULT_DOMAIN "docker.io"
#define IMAGE_DEFAULT_TAG "latest"
#define IMAGE_NAME_MAX 255

enum image_ref_kind {
	IMAGE_REF_NAMED = 0, /* a repository name with a tag and/or digest */
	IMAGE_REF_ID = 1,    /* an image id */
};

struct image_ref {
	enum image_ref_kind kind;
	/* IMAGE_REF_NAMED: */
	char *domain;    /* "docker.io", "127.0.0.1:5000", "[::1]:5000" */
	char *path;      /* "library/busybox" */
	char *tag;       /* NULL when only a digest was given */
	char *digest;    /* "sha256:<hex>" or NULL */
	bool short_name; /* no registry was named: resolve through the search list */
	char *short_path; /* short names: the path as written ("busybox", "library/x") */
	/* IMAGE_REF_ID: "sha256:<64 hex>" */
	char *id;
};

/* Parses and normalises s into *out (which the caller later releases with
 * image_ref_clear). Invalid input fails with INVALID_ARGUMENT naming the
 * problem, e.g. "invalid reference \"Busybox\": repository name must be
 * lowercase". Short names are put on docker.io; use image_ref_candidates to
 * apply a search list. */
int image_ref_parse(const char *s, struct image_ref *out, ocid_error **err);
/* Releases what *r owns and zeroes it. */
void image_ref_clear(struct image_ref *r);
/* A deep copy of src into *dst. */
void image_ref_copy(struct image_ref *dst, const struct image_ref *src);

/* The canonical string: "docker.io/library/busybox:latest",
 * "docker.io/library/busybox@sha256:...", "docker.io/library/busybox:1@sha256:...";
 * for an id, "sha256:<hex>". malloc'd. */
char *image_ref_string(const struct image_ref *r);
/* "domain/path" (the repository, as RepoTags/RepoDigests prefix). malloc'd. */
char *image_ref_repo(const struct image_ref *r);
/* "domain/path:tag", or NULL when r has no tag. malloc'd. */
char *image_ref_repo_tag(const struct image_ref *r);
/* "domain/path@digest" with the given digest (e.g. the manifest's). malloc'd. */
char *image_ref_repo_digest(const struct image_ref *r, const char *digest);
/* The tag or digest to ask the registry for: the digest when there is one
 * (it pins the content), otherwise the tag. */
const char *image_ref_manifest_ref(const struct image_ref *r);

/* The references to try, in order, for r. A reference that names its
 * registry is its only candidate; a short name gives one candidate per entry
 * of the search list (NULL-terminated; NULL or empty means docker.io), with
 * "library/" added for docker.io. *out is a malloc'd array of *n refs; free
 * with image_ref_array_free. An id has no candidates (INVALID_ARGUMENT). */
int image_ref_candidates(const struct image_ref *r, char *const *search,
			 struct image_ref **out, size_t *n, ocid_error **err);
void image_ref_array_free(struct image_ref *refs, size_t n);

/* Normalises a registry name as written in references and config:
 * "index.docker.io" -> "docker.io"; others unchanged. Returns a static
 * string or s itself. */
const char *image_domain_normalize(const char *s);
/* The host[:port] that serves the registry API for a domain:
 * "registry-1.docker.io" for docker.io, the domain itself otherwise. */
const char *image_domain_api_host(const char *domain);
/* True if s is a valid registry domain (host[:port], IPv6 in brackets). */
bool image_domain_valid(const char *s);
/* True if s is a valid tag. */
bool image_tag_valid(const char *s);

static inline void image_ref_cleanup(struct image_ref *r) { image_ref_clear(r); }
#define cleanup_image_ref __attribute__((cleanup(image_ref_cleanup)))

#endif
