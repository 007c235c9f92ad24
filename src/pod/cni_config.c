#include "pod/cni_config.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "util/cleanup.h"
#include "util/xalloc.h"

static int has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n > m && strcmp(s + n - m, suffix) == 0;
}

static int is_conf_name(const struct dirent *d)
{
	return has_suffix(d->d_name, ".conflist") || has_suffix(d->d_name, ".conf") ||
	       has_suffix(d->d_name, ".json");
}

/* Returns NULL when the file holds a usable network, else why not. */
static char *check_network(const char *path)
{
	json_error_t jerr;
	json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL)
		return xasprintf("%s:%d: %s", path, jerr.line, jerr.text);
	char *why = NULL;
	json_t *name = json_object_get(root, "name");
	json_t *plugins = json_object_get(root, "plugins");
	json_t *type = json_object_get(root, "type");
	if (!json_is_object(root))
		why = xasprintf("%s: not a JSON object", path);
	else if (!json_is_string(name) || json_string_length(name) == 0)
		why = xasprintf("%s: no network name", path);
	else if (plugins != NULL && (!json_is_array(plugins) || json_array_size(plugins) == 0))
		why = xasprintf("%s: \"plugins\" must be a non-empty list", path);
	else if (plugins == NULL && !json_is_string(type))
		why = xasprintf("%s: no plugin type", path);
	json_decref(root);
	return why;
}

int cni_config_find(const char *dir, char **path, ocid_error **err)
{
	struct dirent **names = NULL;
	int n = scandir(dir, &names, is_conf_name, alphasort);
	if (n < 0) {
		if (errno == ENOENT)
			return err_set(err, GRPC_FAILED_PRECONDITION, "no CNI configuration directory %s", dir);
		return err_set_errno(err, GRPC_FAILED_PRECONDITION, errno, "read CNI configuration directory %s", dir);
	}
	char *found = NULL;
	cleanup_free char *problems = NULL;
	for (int i = 0; i < n; i++) {
		if (found == NULL) {
			cleanup_free char *p = xasprintf("%s/%s", dir, names[i]->d_name);
			cleanup_free char *why = check_network(p);
			if (why == NULL) {
				found = steal_pointer(&p);
			} else {
				char *joined = xasprintf("%s%s%s", problems ? problems : "", problems ? "; " : "", why);
				free(problems);
				problems = joined;
			}
		}
		free(names[i]);
	}
	free(names);
	if (found == NULL) {
		if (problems)
			return err_set(err, GRPC_FAILED_PRECONDITION, "no valid CNI configuration in %s: %s", dir, problems);
		return err_set(err, GRPC_FAILED_PRECONDITION, "no CNI configuration file in %s", dir);
	}
	*path = found;
	return 0;
}
