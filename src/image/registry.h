/* A client for the Docker Registry HTTP API v2 / OCI distribution spec, on
 * libcurl.
 *
 * One client serves one pull (it holds that pull's credentials and the
 * tokens obtained with them) and may be used from several threads at once:
 * requests share connections, DNS and TLS sessions (a CURLSH), and the token
 * cache is locked.
 *
 * Transport: TLS with verification by default. An endpoint on the
 * insecure_registries list is tried over https without verification first;
 * if that fails below HTTP (no TLS there, connection refused) it is tried
 * over plain http, and the choice is remembered for the client's life (what
 * containers/image does). Redirects (blob storage) are followed by hand, at
 * most 10, http/https only; the Authorization header goes only to the
 * endpoint's own scheme://host:port, never to the redirect target.
 *
 * Retries: connect/TLS-handshake/receive errors, stalls (no byte for 30 s),
 * 408, 429 and 5xx are retried up to 5 attempts with exponential back-off
 * from 250 ms (doubling, capped at 8 s, with jitter; Retry-After honoured up
 * to 30 s), never past the deadline. A blob download that fails midway
 * resumes with a Range request; when the server answers a range with the
 * whole blob, the sink's reset callback is called and it starts over.
 *
 * Authentication: on 401 the WWW-Authenticate challenges are parsed. Bearer:
 * a token is fetched from the realm (GET with service/scope, with Basic
 * credentials when given; with an identity token, POST grant_type=
 * refresh_token) and cached per registry host + scope for the client's life
 * (refreshed after expires_in). Basic: the given username/password. A
 * registry_token is sent as the bearer token as is. Credentials are sent only
 * to the origin registry and its token realm, never to mirrors (a mirror is
 * used anonymously). Token realms must be https unless the endpoint is
 * insecure.
 *
 * Error codes:
 *   NOT_FOUND          404 (manifest or blob unknown, repository unknown)
 *   UNAUTHENTICATED    401 after authenticating, or credentials refused by
 *                      the token server (the registry's message is included)
 *   PERMISSION_DENIED  403
 *   INVALID_ARGUMENT   400, malformed credentials
 *   UNAVAILABLE        transient failures once the attempts are used up,
 *                      TLS verification failures, connection failures
 *   DEADLINE_EXCEEDED  the deadline passed;  CANCELLED  the call was cancelled
 *   DATA_LOSS          bytes that do not match their digest or size
 *   RESOURCE_EXHAUSTED a manifest (4 MiB) or buffered blob over its limit
 *   UNKNOWN            any other HTTP status
 *   (a sink's own error is returned as the sink set it) */
#ifndef OCID_IMAGE_REGISTRY_H
#define OCID_IMAGE_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "util/digest.h"
#include "image/reference.h"
#include "util/err.h"

/* CRI AuthConfig. All optional; strings are copied by registry_client_new.
 * Precedence: registry_token, then identity_token, then username/password,
 * then auth ("base64(user:pass)"). */
struct registry_credentials {
	const char *username;
	const char *password;
	const char *auth;
	const char *identity_token;
	const char *registry_token;
};

/* The RPC's deadline and cancellation, honoured by every request. */
struct registry_cancel {
	int64_t deadline_ns;             /* CLOCK_MONOTONIC; 0 = none */
	bool (*cancelled)(void *opaque); /* may be NULL */
	void *opaque;
};

struct registry_options {
	const char *user_agent;      /* NULL: "ocid/<version>" */
	int max_attempts;            /* 0: 5 */
	int backoff_initial_ms;      /* 0: 250 */
	int connect_timeout_ms;      /* 0: 30000 */
	int stall_timeout_s;         /* no byte received for this long: 0: 30 */
	const char *ca_file;         /* extra CA bundle, or NULL for the system's */
};

/* Where to fetch an image from: a mirror or the origin. */
struct registry_endpoint {
	char *host;       /* host[:port] of the API, e.g. "registry-1.docker.io" */
	char *repository; /* the repository there (a mirror may add a prefix) */
	bool insecure;    /* listed in insecure_registries */
	bool mirror;      /* credentials are not sent to mirrors */
};

/* The endpoints for ref, in order: each configured mirror of ref's registry
 * (a mirror is "host[:port]" or "host[:port]/namespace"), then the origin.
 * cfg may be NULL (origin only, secure). The image keeps its own name
 * whichever endpoint serves it. Invalid mirror entries are skipped with a
 * warning. */
int registry_endpoints(const struct ocid_image_config *cfg, const struct image_ref *ref,
		       struct registry_endpoint **out, size_t *n, ocid_error **err);
void registry_endpoints_free(struct registry_endpoint *v, size_t n);
/* True if host (host[:port]) or, for docker.io's API host, its registry
 * name, is on cfg's insecure_registries. */
bool registry_host_insecure(const struct ocid_image_config *cfg, const char *host);

struct registry_client;

/* creds and opts may be NULL. Fails with INVALID_ARGUMENT for malformed
 * credentials (bad base64 in auth, no ':' in it). */
int registry_client_new(const struct registry_credentials *creds,
			const struct registry_options *opts, struct registry_client **out,
			ocid_error **err);
void registry_client_free(struct registry_client *c);

struct registry_manifest {
	char *body; /* NUL-terminated for convenience; len bytes */
	size_t len;
	char *media_type;             /* the Content-Type, or NULL */
	char digest[DIGEST_MAX_LEN];  /* verified digest of body */
};
void registry_manifest_clear(struct registry_manifest *m);

/* GET /v2/<repo>/manifests/<reference> (a tag or a digest), at most
 * MANIFEST_MAX_SIZE bytes. For a digest reference the body must hash to it;
 * for a tag the body must hash to Docker-Content-Digest when the registry
 * sends one. out->digest is then the digest of the body (sha256 unless the
 * reference or header said sha512). The body is not parsed: see
 * manifest_parse. */
int registry_get_manifest(struct registry_client *c, const struct registry_endpoint *ep,
			  const char *reference, const struct registry_cancel *cancel,
			  struct registry_manifest *out, ocid_error **err);

struct registry_manifest_head {
	char *digest;     /* Docker-Content-Digest if sent and valid, else NULL */
	char *media_type; /* Content-Type or NULL */
	int64_t size;     /* Content-Length or -1 */
};
void registry_manifest_head_clear(struct registry_manifest_head *h);
/* HEAD /v2/<repo>/manifests/<reference>: whether it exists, and its digest
 * (for "already present" checks). */
int registry_head_manifest(struct registry_client *c, const struct registry_endpoint *ep,
			   const char *reference, const struct registry_cancel *cancel,
			   struct registry_manifest_head *out, ocid_error **err);

/* Receives a blob's bytes as they arrive. Bytes are not verified until
 * registry_get_blob returns 0: on failure the sink must discard what it got. */
struct registry_blob_sink {
	/* The next len bytes. Return 0, or < 0 with *err set to stop (that error
	 * is what registry_get_blob returns). */
	int (*write)(void *opaque, const void *buf, size_t len, ocid_error **err);
	/* Everything written so far is void; the next write is byte 0 again.
	 * NULL if the sink cannot start over: a retry that needs it fails the
	 * download instead (UNAVAILABLE). */
	int (*reset)(void *opaque, ocid_error **err);
	void *opaque;
};

/* GET /v2/<repo>/blobs/<digest>, streamed to sink, hashed and counted as the
 * bytes flow: more than size bytes aborts at once; at the end the count
 * must equal size and the hash digest (DATA_LOSS otherwise). */
int registry_get_blob(struct registry_client *c, const struct registry_endpoint *ep,
		      const char *digest, int64_t size, const struct registry_blob_sink *sink,
		      const struct registry_cancel *cancel, ocid_error **err);
/* The same into memory (a config blob): size must be <= max
 * (RESOURCE_EXHAUSTED otherwise). *out is malloc'd, NUL-terminated, size
 * bytes. */
int registry_get_blob_buffer(struct registry_client *c, const struct registry_endpoint *ep,
			     const char *digest, int64_t size, size_t max,
			     const struct registry_cancel *cancel, char **out, ocid_error **err);

static inline void registry_client_cleanup(struct registry_client **c)
{
	registry_client_free(*c);
}
#define cleanup_registry_client __attribute__((cleanup(registry_client_cleanup)))

#endif
