#include "pod/cni_config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/cleanup.h"
#include "util/xalloc.h"

static const char *const supported_versions[] = {"0.3.0", "0.3.1", "0.4.0", "1.0.0", NULL};

bool cni_version_supported(const char *version)
{
	if (version == NULL)
		return false;
	for (size_t i = 0; supported_versions[i]; i++)
		if (strcmp(version, supported_versions[i]) == 0)
			return true;
	return false;
}

int cni_version_cmp(const char *a, const char *b)
{
	for (int part = 0; part < 3; part++) {
		long x = 0, y = 0;
		if (a && *a) {
			x = strtol(a, (char **)&a, 10);
			if (*a == '.')
				a++;
		}
		if (b && *b) {
			y = strtol(b, (char **)&b, 10);
			if (*b == '.')
				b++;
		}
		if (x != y)
			return x < y ? -1 : 1;
	}
	return 0;
}

/* The spec's rule for network names: an alphanumeric first character, then
 * alphanumerics, '_', '.' or '-'. (host-local also uses it as a directory
 * name, so this matters.) */
static bool valid_network_name(const char *s)
{
	if (!isalnum((unsigned char)s[0]))
		return false;
	for (const char *p = s + 1; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '.' && *p != '-')
			return false;
	return true;
}

static bool valid_plugin_type(const char *s)
{
	return s[0] != '\0' && strchr(s, '/') == NULL && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

void cni_network_free(struct cni_network *net)
{
	if (net == NULL)
		return;
	for (size_t i = 0; i < net->n_plugins; i++) {
		free(net->plugins[i].type);
		json_decref(net->plugins[i].conf);
	}
	free(net->plugins);
	free(net->origin);
	free(net->name);
	free(net->cni_version);
	json_decref(net->json);
	free(net);
}

static int parse_disable_check(json_t *v, const char *origin, bool *out, ocid_error **err)
{
	if (v == NULL) {
		*out = false;
		return 0;
	}
	if (json_is_boolean(v)) {
		*out = json_is_true(v);
		return 0;
	}
	/* Some configs in the wild write it as a string. */
	if (json_is_string(v) && (strcmp(json_string_value(v), "true") == 0 || strcmp(json_string_value(v), "false") == 0)) {
		*out = strcmp(json_string_value(v), "true") == 0;
		return 0;
	}
	return err_set(err, GRPC_INVALID_ARGUMENT, "%s: \"disableCheck\" must be true or false", origin);
}

static int check_plugin(json_t *p, const char *origin, size_t idx, bool single, ocid_error **err)
{
	char where[32] = "";
	if (!single)
		snprintf(where, sizeof(where), "plugins[%zu]: ", idx);
	if (!json_is_object(p))
		return err_set(err, GRPC_INVALID_ARGUMENT, "%s: %snot a JSON object", origin, where);
	json_t *type = json_object_get(p, "type");
	if (type == NULL)
		return err_set(err, GRPC_INVALID_ARGUMENT, "%s: %sno plugin \"type\"", origin, where);
	if (!json_is_string(type) || !valid_plugin_type(json_string_value(type)))
		return err_set(err, GRPC_INVALID_ARGUMENT, "%s: %sinvalid plugin \"type\" (a file name is expected)",
			       origin, where);
	json_t *caps = json_object_get(p, "capabilities");
	if (caps != NULL && !json_is_object(caps))
		return err_set(err, GRPC_INVALID_ARGUMENT, "%s: %s\"capabilities\" must be an object", origin, where);
	return 0;
}

int cni_network_from_json(json_t *root, const char *origin, struct cni_network **out, ocid_error **err)
{
	if (!json_is_object(root))
		return err_set(err, GRPC_INVALID_ARGUMENT, "%s: not a JSON object", origin);
	json_t *name = json_object_get(root, "name");
	if (!json_is_string(name) || json_string_length(name) == 0)
		return err_set(err, GRPC_INVALID_ARGUMENT, "%s: no network \"name\"", origin);
	if (!valid_network_name(json_string_value(name)))
		return err_set(err, GRPC_INVALID_ARGUMENT,
			       "%s: invalid network name \"%s\" (letters, digits, '_', '.', '-'; starting with a letter or digit)",
			       origin, json_string_value(name));
	json_t *version = json_object_get(root, "cniVersion");
	if (version == NULL)
		return err_set(err, GRPC_INVALID_ARGUMENT, "%s: no \"cniVersion\" (supported: %s)", origin,
			       CNI_SUPPORTED_VERSIONS);
	if (!json_is_string(version))
		return err_set(err, GRPC_INVALID_ARGUMENT, "%s: \"cniVersion\" must be a string", origin);
	if (!cni_version_supported(json_string_value(version)))
		return err_set(err, GRPC_INVALID_ARGUMENT, "%s: cniVersion \"%s\" is not supported (supported: %s)",
			       origin, json_string_value(version), CNI_SUPPORTED_VERSIONS);

	json_t *plugins = json_object_get(root, "plugins");
	bool single = plugins == NULL;
	bool disable_check = false;
	if (single) {
		if (check_plugin(root, origin, 0, true, err) < 0)
			return -1;
	} else {
		if (!json_is_array(plugins))
			return err_set(err, GRPC_INVALID_ARGUMENT, "%s: \"plugins\" must be a list", origin);
		if (json_array_size(plugins) == 0)
			return err_set(err, GRPC_INVALID_ARGUMENT, "%s: \"plugins\" is empty", origin);
		for (size_t i = 0; i < json_array_size(plugins); i++)
			if (check_plugin(json_array_get(plugins, i), origin, i, false, err) < 0)
				return -1;
		if (parse_disable_check(json_object_get(root, "disableCheck"), origin, &disable_check, err) < 0)
			return -1;
	}

	struct cni_network *net = xcalloc(1, sizeof(*net));
	net->origin = xstrdup(origin);
	net->name = xstrdup(json_string_value(name));
	net->cni_version = xstrdup(json_string_value(version));
	net->disable_check = disable_check;
	net->n_plugins = single ? 1 : json_array_size(plugins);
	net->plugins = xcalloc(net->n_plugins, sizeof(*net->plugins));
	for (size_t i = 0; i < net->n_plugins; i++) {
		json_t *p = single ? root : json_array_get(plugins, i);
		net->plugins[i].conf = json_deep_copy(p);
		net->plugins[i].type = xstrdup(json_string_value(json_object_get(p, "type")));
	}
	net->json = json_object();
	json_object_set_new(net->json, "cniVersion", json_string(net->cni_version));
	json_object_set_new(net->json, "name", json_string(net->name));
	if (disable_check)
		json_object_set_new(net->json, "disableCheck", json_true());
	json_t *list = json_array();
	for (size_t i = 0; i < net->n_plugins; i++)
		json_array_append(list, net->plugins[i].conf);
	json_object_set_new(net->json, "plugins", list);
	*out = net;
	return 0;
}

int cni_network_parse(const char *text, const char *origin, struct cni_network **out, ocid_error **err)
{
	json_error_t jerr;
	json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL)
		return err_set(err, GRPC_INVALID_ARGUMENT, "%s:%d: %s", origin, jerr.line, jerr.text);
	int r = cni_network_from_json(root, origin, out, err);
	json_decref(root);
	return r;
}

int cni_network_load_file(const char *path, struct cni_network **out, ocid_error **err)
{
	json_error_t jerr;
	json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL)
		return err_set(err, GRPC_INVALID_ARGUMENT, "%s:%d: %s", path, jerr.line, jerr.text);
	int r = cni_network_from_json(root, path, out, err);
	json_decref(root);
	return r;
}

/* ---- finding ---- */

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

static void append(char **list, const char *sep, const char *item)
{
	char *joined = xasprintf("%s%s%s", *list ? *list : "", *list ? sep : "", item);
	free(*list);
	*list = joined;
}

int cni_config_load(const char *dir, const char *name, struct cni_network **out, ocid_error **err)
{
	if (name != NULL && *name == '\0')
		name = NULL;
	struct dirent **names = NULL;
	int n = scandir(dir, &names, is_conf_name, alphasort);
	if (n < 0) {
		if (errno == ENOENT)
			return err_set(err, GRPC_FAILED_PRECONDITION, "no CNI configuration directory %s", dir);
		return err_set_errno(err, GRPC_FAILED_PRECONDITION, errno, "read CNI configuration directory %s", dir);
	}
	struct cni_network *found = NULL;
	cleanup_free char *problems = NULL;
	cleanup_free char *others = NULL; /* valid networks with another name */
	for (int i = 0; i < n; i++) {
		if (found == NULL) {
			cleanup_free char *p = xasprintf("%s/%s", dir, names[i]->d_name);
			struct cni_network *net = NULL;
			ocid_error *why = NULL;
			if (cni_network_load_file(p, &net, &why) < 0) {
				append(&problems, "; ", why->msg);
				err_free(why);
			} else if (name != NULL && strcmp(net->name, name) != 0) {
				cleanup_free char *item = xasprintf("\"%s\" (%s)", net->name, names[i]->d_name);
				append(&others, ", ", item);
				cni_network_free(net);
			} else {
				found = net;
			}
		}
		free(names[i]);
	}
	free(names);
	if (found != NULL) {
		*out = found;
		return 0;
	}
	if (name != NULL) {
		if (others)
			return err_set(err, GRPC_FAILED_PRECONDITION, "no CNI network named \"%s\" in %s (found %s%s%s)", name,
				       dir, others, problems ? "; invalid: " : "", problems ? problems : "");
		if (problems)
			return err_set(err, GRPC_FAILED_PRECONDITION, "no CNI network named \"%s\" in %s: %s", name, dir,
				       problems);
		return err_set(err, GRPC_FAILED_PRECONDITION, "no CNI network named \"%s\": no configuration file in %s",
			       name, dir);
	}
	if (problems)
		return err_set(err, GRPC_FAILED_PRECONDITION, "no valid CNI configuration in %s: %s", dir, problems);
	return err_set(err, GRPC_FAILED_PRECONDITION, "no CNI configuration file in %s", dir);
}

int cni_config_find(const char *dir, char **path, ocid_error **err)
{
	struct cni_network *net = NULL;
	if (cni_config_load(dir, NULL, &net, err) < 0)
		return -1;
	*path = steal_pointer(&net->origin);
	cni_network_free(net);
	return 0;
}
