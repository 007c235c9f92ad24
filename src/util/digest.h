/* Content digests as OCI and the distribution API write them:
 * "<algorithm>:<lowercase hex>", algorithm sha256 (64 hex) or sha512 (128 hex),
 * and a streaming hasher (OpenSSL EVP) that produces the same form. */
#ifndef OCID_IMAGE_DIGEST_H
#define OCID_IMAGE_DIGEST_H

#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

enum digest_algo {
	DIGEST_SHA256 = 0,
	DIGEST_SHA512 = 1,
};

/* "sha512:" + 128 hex digits, plus the terminating NUL. */
#define DIGEST_MAX_LEN (7 + 128 + 1)

/* True if s is a well-formed digest of a supported algorithm. */
bool digest_valid(const char *s);
/* Validates s; on success stores its algorithm in *algo (may be NULL).
 * Fails with INVALID_ARGUMENT: "invalid digest \"s\": <what is wrong>". */
int digest_parse(const char *s, enum digest_algo *algo, ocid_error **err);
/* "sha256" / "sha512". */
const char *digest_algo_name(enum digest_algo algo);
/* The hex part of a valid digest (the text after ':'). */
const char *digest_hex(const char *digest);

struct digester;

/* NULL only when OpenSSL cannot allocate a context. */
struct digester *digester_new(enum digest_algo algo);
void digester_free(struct digester *d);
void digester_update(struct digester *d, const void *buf, size_t len);
/* Starts over as if freshly created. */
void digester_reset(struct digester *d);
/* Bytes hashed since creation or the last reset. */
unsigned long long digester_count(const struct digester *d);
/* Writes "<algo>:<hex>" of everything hashed so far into out (at least
 * DIGEST_MAX_LEN bytes). The digester keeps its state (it can go on). */
void digester_current(const struct digester *d, char out[DIGEST_MAX_LEN]);

/* One-shot: the digest of buf in out. */
void digest_buffer(enum digest_algo algo, const void *buf, size_t len, char out[DIGEST_MAX_LEN]);

static inline void digester_cleanup(struct digester **d) { digester_free(*d); }
#define cleanup_digester __attribute__((cleanup(digester_cleanup)))

#endif
