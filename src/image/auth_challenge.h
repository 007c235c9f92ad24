/* Parsing WWW-Authenticate header values (RFC 7235 section 4.1): one value
 * may hold several challenges, each a scheme followed by a token68 or by
 * comma-separated name=value parameters (token or quoted-string, with
 * backslash escapes). A pure function, so it is unit-tested on its own:
 *
 *   Bearer realm="https://auth.example/token",service="reg",scope="repository:a:pull,push"
 *   Basic realm="x", Bearer realm="y"      (two challenges)
 */
#ifndef OCID_IMAGE_AUTH_CHALLENGE_H
#define OCID_IMAGE_AUTH_CHALLENGE_H

#include <stddef.h>

#include "util/err.h"

struct auth_param {
	char *name; /* lower-cased */
	char *value;
};

struct auth_challenge {
	char *scheme;  /* lower-cased: "bearer", "basic" */
	char *token68; /* or NULL */
	struct auth_param *params;
	size_t n_params;
};

/* Appends the challenges of one header value to *list (which holds *n;
 * start with NULL/0). A malformed value fails with INVALID_ARGUMENT and
 * leaves the list and count as they were. */
int auth_challenges_parse(const char *value, struct auth_challenge **list, size_t *n,
			  ocid_error **err);
void auth_challenges_free(struct auth_challenge *list, size_t n);
/* The first parameter called name (case-insensitive), or NULL. */
const char *auth_challenge_param(const struct auth_challenge *c, const char *name);
/* The first challenge of that scheme (case-insensitive), or NULL. */
const struct auth_challenge *auth_challenge_find(const struct auth_challenge *list, size_t n,
						 const char *scheme);

#endif
