#include "image/image_config.h"

#include <stdlib.h>
#include <string.h>

#include "util/digest.h"
#include "util/cleanup.h"
#include "util/xalloc.h"

#define BAD(...) err_set(err, GRPC_DATA_LOSS, __VA_ARGS__)

void image_config_free(struct image_config *c)
{
	if (c == NULL)
		return;
	free(c->architecture);
	free(c->os);
	free(c->variant);
	free(c->created);
	free(c->user);
	strv_free(c->env);
	strv_free(c->entrypoint);
	strv_free(c->cmd);
	free(c->working_dir);
	for (size_t i = 0; i < c->n_labels; i++) {
		free(c->labels[i].key);
		free(c->labels[i].value);
	}
	free(c->labels);
	free(c->stop_signal);
	strv_free(c->volumes);
	strv_free(c->exposed_ports);
	strv_free(c->diff_ids);
	json_decref(c->json);
	free(c);
}

static bool clean_string(json_t *v)
{
	return json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v);
}

static int opt_string(json_t *obj, const char *key, char **out, ocid_error **err)
{
	json_t *v = obj ? json_object_get(obj, key) : NULL;
	*out = NULL;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!clean_string(v))
		return BAD("invalid image config: \"%s\" is not a string", key);
	*out = xstrdup(json_string_value(v));
	return 0;
}

/* An array of strings; *out stays NULL when absent or null. */
static int opt_string_array(json_t *obj, const char *key, char ***out, ocid_error **err)
{
	json_t *v = obj ? json_object_get(obj, key) : NULL;
	*out = NULL;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_array(v))
		return BAD("invalid image config: \"%s\" is not an array of strings", key);
	size_t n = json_array_size(v);
	char **r = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_array_get(v, i);
		if (!clean_string(e)) {
			strv_free(r);
			return BAD("invalid image config: \"%s\"[%zu] is not a string", key, i);
		}
		r[i] = xstrdup(json_string_value(e));
	}
	*out = r;
	return 0;
}

/* The keys of an object whose values are objects ({"80/tcp": {}}). */
static int opt_key_set(json_t *obj, const char *key, char ***out, ocid_error **err)
{
	json_t *v = obj ? json_object_get(obj, key) : NULL;
	*out = xcalloc(1, sizeof(char *));
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_object(v))
		return BAD("invalid image config: \"%s\" is not an object", key);
	size_t n = json_object_size(v), i = 0;
	free(*out);
	*out = xcalloc(n + 1, sizeof(char *));
	const char *k;
	json_t *val;
	json_object_foreach(v, k, val) {
		(void)val;
		(*out)[i++] = xstrdup(k);
	}
	return 0;
}

int image_config_parse(const char *body, size_t len, struct image_config **out, ocid_error **err)
{
	*out = NULL;
	if (len > IMAGE_CONFIG_MAX_SIZE)
		return err_set(err, GRPC_RESOURCE_EXHAUSTED,
			       "image config of %zu bytes exceeds the %d byte limit", len,
			       IMAGE_CONFIG_MAX_SIZE);
	json_error_t jerr;
	json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL)
		return BAD("invalid image config: not JSON (line %d column %d: %s)", jerr.line,
			   jerr.column, jerr.text);
	struct image_config *c = xcalloc(1, sizeof(*c));
	c->json = root;
	if (!json_is_object(root)) {
		BAD("invalid image config: not a JSON object");
		goto fail;
	}
	if (opt_string(root, "architecture", &c->architecture, err) < 0 ||
	    opt_string(root, "os", &c->os, err) < 0 || opt_string(root, "variant", &c->variant, err) < 0 ||
	    opt_string(root, "created", &c->created, err) < 0)
		goto fail;
	if (c->architecture == NULL || c->os == NULL) {
		BAD("invalid image config: \"architecture\" and \"os\" are required");
		goto fail;
	}

	json_t *cfg = json_object_get(root, "config");
	if (cfg && json_is_null(cfg))
		cfg = NULL;
	if (cfg && !json_is_object(cfg)) {
		BAD("invalid image config: \"config\" is not an object");
		goto fail;
	}
	if (opt_string(cfg, "User", &c->user, err) < 0 ||
	    opt_string_array(cfg, "Env", &c->env, err) < 0 ||
	    opt_string_array(cfg, "Entrypoint", &c->entrypoint, err) < 0 ||
	    opt_string_array(cfg, "Cmd", &c->cmd, err) < 0 ||
	    opt_string(cfg, "WorkingDir", &c->working_dir, err) < 0 ||
	    opt_string(cfg, "StopSignal", &c->stop_signal, err) < 0 ||
	    opt_key_set(cfg, "Volumes", &c->volumes, err) < 0 ||
	    opt_key_set(cfg, "ExposedPorts", &c->exposed_ports, err) < 0)
		goto fail;
	if (c->env == NULL)
		c->env = xcalloc(1, sizeof(char *));
	for (char **e = c->env; *e; e++)
		if (strchr(*e, '=') == NULL || **e == '=') {
			BAD("invalid image config: Env entry \"%.100s\" is not KEY=VALUE", *e);
			goto fail;
		}
	json_t *labels = cfg ? json_object_get(cfg, "Labels") : NULL;
	if (labels && !json_is_null(labels)) {
		if (!json_is_object(labels)) {
			BAD("invalid image config: \"Labels\" is not an object");
			goto fail;
		}
		c->labels = xcalloc(json_object_size(labels) + 1, sizeof(*c->labels));
		const char *k;
		json_t *v;
		json_object_foreach(labels, k, v) {
			if (!clean_string(v)) {
				BAD("invalid image config: label \"%.100s\" is not a string", k);
				goto fail;
			}
			c->labels[c->n_labels].key = xstrdup(k);
			c->labels[c->n_labels].value = xstrdup(json_string_value(v));
			c->n_labels++;
		}
	}

	json_t *rootfs = json_object_get(root, "rootfs");
	if (!json_is_object(rootfs)) {
		BAD("invalid image config: \"rootfs\" is missing or not an object");
		goto fail;
	}
	json_t *type = json_object_get(rootfs, "type");
	if (!json_is_string(type) || strcmp(json_string_value(type), "layers") != 0) {
		BAD("invalid image config: rootfs.type must be \"layers\"");
		goto fail;
	}
	json_t *ids = json_object_get(rootfs, "diff_ids");
	if (!json_is_array(ids)) {
		BAD("invalid image config: rootfs.diff_ids is missing or not an array");
		goto fail;
	}
	size_t n = json_array_size(ids);
	c->diff_ids = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_array_get(ids, i);
		if (!clean_string(e) || !digest_valid(json_string_value(e))) {
			BAD("invalid image config: rootfs.diff_ids[%zu] is not a valid digest", i);
			goto fail;
		}
		c->diff_ids[i] = xstrdup(json_string_value(e));
		c->n_diff_ids++;
	}
	*out = c;
	return 0;
fail:
	image_config_free(c);
	return -1;
}

int image_config_check_layers(const struct image_config *c, const struct image_manifest *m,
			      ocid_error **err)
{
	if (c->n_diff_ids != m->n_layers)
		return BAD("image config lists %zu diff_ids but the manifest has %zu layers",
			   c->n_diff_ids, m->n_layers);
	return 0;
}
