#include "image/auth_file.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "image/reference.h"
#include "util/cleanup.h"
#include "util/xalloc.h"

/* Auth files are small; anything larger is not one. */
#define AUTH_FILE_MAX (1024 * 1024)

void auth_entry_clear(struct auth_entry *e)
{
	free(e->username);
	free(e->password);
	free(e->auth);
	free(e->identity_token);
	free(e->registry_token);
	memset(e, 0, sizeof(*e));
}

void auth_entry_credentials(const struct auth_entry *e, struct registry_credentials *c)
{
	memset(c, 0, sizeof(*c));
	c->username = e->username;
	c->password = e->password;
	c->auth = e->auth;
	c->identity_token = e->identity_token;
	c->registry_token = e->registry_token;
}

static bool set(const char *s) { return s && *s; }

bool registry_credentials_given(const struct registry_credentials *c)
{
	return c && (set(c->username) || set(c->password) || set(c->auth) || set(c->identity_token) ||
		     set(c->registry_token));
}

/* The host[:port] of an auth file key: scheme and path dropped, docker.io's
 * aliases folded. malloc'd. */
static char *key_host(const char *key)
{
	const char *p = strstr(key, "://");
	p = p ? p + 3 : key;
	size_t n = strcspn(p, "/");
	cleanup_free char *host = strndup(p, n);
	if (host == NULL)
		abort();
	for (char *c = host; *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	if (strcmp(host, "registry-1.docker.io") == 0 || strcmp(host, "index.docker.io") == 0)
		return xstrdup(IMAGE_DEFAULT_DOMAIN);
	return xstrdup(image_domain_normalize(host));
}

static char *str_field(json_t *obj, const char *name)
{
	json_t *v = json_object_get(obj, name);
	return json_is_string(v) && json_string_length(v) > 0 ? xstrdup(json_string_value(v)) : NULL;
}

int auth_file_lookup(const char *path, const char *domain, struct auth_entry *out, bool *found,
		     ocid_error **err)
{
	memset(out, 0, sizeof(*out));
	*found = false;
	if (path == NULL || *path == '\0')
		return 0;
	struct stat st;
	if (stat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		return err_set_errno(err, GRPC_FAILED_PRECONDITION, errno, "auth file %s", path);
	}
	if (st.st_size > AUTH_FILE_MAX)
		return err_set(err, GRPC_FAILED_PRECONDITION, "auth file %s is larger than %d bytes", path,
			       AUTH_FILE_MAX);
	json_error_t jerr;
	json_t *root = json_load_file(path, 0, &jerr);
	if (root == NULL)
		return err_set(err, GRPC_FAILED_PRECONDITION, "auth file %s: line %d: %s", path, jerr.line,
			       jerr.text);
	json_t *auths = json_object_get(root, "auths");
	if (!json_is_object(root) || (auths && !json_is_object(auths))) {
		json_decref(root);
		return err_set(err, GRPC_FAILED_PRECONDITION, "auth file %s: \"auths\" is not an object", path);
	}
	cleanup_free char *want = key_host(domain);
	const char *key;
	json_t *entry;
	json_object_foreach(auths, key, entry)
	{
		if (!json_is_object(entry))
			continue;
		cleanup_free char *host = key_host(key);
		if (strcmp(host, want) != 0)
			continue;
		out->auth = str_field(entry, "auth");
		out->username = str_field(entry, "username");
		out->password = str_field(entry, "password");
		out->identity_token = str_field(entry, "identitytoken");
		out->registry_token = str_field(entry, "registrytoken");
		*found = true;
		break;
	}
	json_decref(root);
	return 0;
}
