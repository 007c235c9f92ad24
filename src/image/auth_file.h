/* Credentials from a Docker-style auth file (config.json / auth.json):
 *
 *   {"auths": {"registry.example.com": {"auth": "base64(user:pass)"},
 *              "https://index.docker.io/v1/": {"identitytoken": "..."}}}
 *
 * Keys are matched on their host[:port] (a scheme and a path are ignored),
 * so "https://host:5000/v2/" and "host:5000" both name host:5000; docker.io
 * also answers to index.docker.io and registry-1.docker.io. Fields read:
 * auth, username, password, identitytoken, registrytoken. */
#ifndef OCID_IMAGE_AUTH_FILE_H
#define OCID_IMAGE_AUTH_FILE_H

#include <stdbool.h>

#include "image/registry.h"
#include "util/err.h"

/* Owned strings for a struct registry_credentials (NULL when absent). */
struct auth_entry {
	char *username;
	char *password;
	char *auth;
	char *identity_token;
	char *registry_token;
};
void auth_entry_clear(struct auth_entry *e);
/* Points c's fields at e's strings. */
void auth_entry_credentials(const struct auth_entry *e, struct registry_credentials *c);
/* True if any credential field is set (non-empty). */
bool registry_credentials_given(const struct registry_credentials *c);

/* Looks domain (a registry as references name it: "docker.io",
 * "127.0.0.1:5000") up in the auth file at path. *found tells whether an
 * entry matched. A missing file is not an error (nothing found); a file that
 * is not valid JSON of the expected shape is FAILED_PRECONDITION naming it. */
int auth_file_lookup(const char *path, const char *domain, struct auth_entry *out, bool *found,
		     ocid_error **err);

#endif
