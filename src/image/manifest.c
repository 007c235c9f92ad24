#include "image/manifest.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/digest.h"
#include "util/cleanup.h"
#include "util/xalloc.h"

static void json_cleanup(json_t **j) { json_decref(*j); }
#define cleanup_json __attribute__((cleanup(json_cleanup)))

void image_platform_free(struct image_platform *p)
{
	if (p == NULL)
		return;
	free(p->os);
	free(p->architecture);
	free(p->variant);
	free(p->os_version);
	free(p);
}

static void descriptor_clear(struct image_descriptor *d)
{
	free(d->media_type);
	free(d->digest);
	image_platform_free(d->platform);
	memset(d, 0, sizeof(*d));
}

void manifest_free(struct image_manifest *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->n_manifests; i++)
		descriptor_clear(&m->manifests[i]);
	free(m->manifests);
	descriptor_clear(&m->config);
	for (size_t i = 0; i < m->n_layers; i++)
		descriptor_clear(&m->layers[i].desc);
	free(m->layers);
	free(m);
}

bool manifest_is_index(const struct image_manifest *m)
{
	return m->kind == MANIFEST_OCI_INDEX || m->kind == MANIFEST_DOCKER_LIST;
}

const char *layer_compression_name(enum layer_compression c)
{
	switch (c) {
	case LAYER_GZIP:
		return "gzip";
	case LAYER_ZSTD:
		return "zstd";
	default:
		return "none";
	}
}

int layer_media_type_parse(const char *mt, enum layer_compression *out, ocid_error **err)
{
	static const struct {
		const char *type;
		enum layer_compression c;
	} known[] = {
		{MEDIA_OCI_LAYER, LAYER_UNCOMPRESSED},     {MEDIA_OCI_LAYER_GZIP, LAYER_GZIP},
		{MEDIA_OCI_LAYER_ZSTD, LAYER_ZSTD},        {MEDIA_DOCKER_LAYER, LAYER_UNCOMPRESSED},
		{MEDIA_DOCKER_LAYER_GZIP, LAYER_GZIP},
	};
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		if (strcmp(mt, known[i].type) == 0) {
			*out = known[i].c;
			return 0;
		}
	}
	if (strcmp(mt, MEDIA_DOCKER_FOREIGN_LAYER) == 0 || strcmp(mt, MEDIA_OCI_NONDIST_LAYER) == 0 ||
	    strcmp(mt, MEDIA_OCI_NONDIST_LAYER_GZIP) == 0 ||
	    strcmp(mt, MEDIA_OCI_NONDIST_LAYER_ZSTD) == 0)
		return err_set(err, GRPC_UNIMPLEMENTED,
			       "non-distributable (foreign) layer type %s is not supported", mt);
	return err_set(err, GRPC_UNIMPLEMENTED, "unsupported layer media type \"%.200s\"", mt);
}

/* The media type without parameters or surrounding blanks, in buf. */
static const char *bare_type(const char *ct, char *buf, size_t size)
{
	if (ct == NULL)
		return NULL;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	size_t n = strcspn(ct, "; \t");
	if (n == 0 || n >= size)
		return NULL;
	memcpy(buf, ct, n);
	buf[n] = '\0';
	for (size_t i = 0; i < n; i++)
		if (buf[i] >= 'A' && buf[i] <= 'Z')
			buf[i] = (char)(buf[i] - 'A' + 'a');
	return buf;
}

static const struct {
	const char *type;
	enum manifest_kind kind;
} manifest_types[] = {
	{MEDIA_OCI_INDEX, MANIFEST_OCI_INDEX},
	{MEDIA_DOCKER_LIST, MANIFEST_DOCKER_LIST},
	{MEDIA_OCI_MANIFEST, MANIFEST_OCI},
	{MEDIA_DOCKER_V2, MANIFEST_DOCKER_V2},
};

static int kind_of(const char *mt, enum manifest_kind *kind)
{
	for (size_t i = 0; i < sizeof(manifest_types) / sizeof(manifest_types[0]); i++)
		if (strcmp(mt, manifest_types[i].type) == 0) {
			if (kind)
				*kind = manifest_types[i].kind;
			return 0;
		}
	return -1;
}

static bool is_schema1(const char *mt)
{
	return strcmp(mt, MEDIA_DOCKER_V1) == 0 || strcmp(mt, MEDIA_DOCKER_V1_SIGNED) == 0;
}

bool manifest_media_type_supported(const char *media_type)
{
	char buf[256];
	const char *t = bare_type(media_type, buf, sizeof(buf));
	return t && kind_of(t, NULL) == 0;
}

static int schema1_error(ocid_error **err)
{
	return err_set(err, GRPC_UNIMPLEMENTED,
		       "Docker schema 1 manifests are not supported (the format is deprecated; "
		       "push the image again with a current tool)");
}

/* RFC 6838 type "/" subtype, restricted-name characters, then optional
 * parameters we ignore (no parameters are valid in manifests, but tolerate). */
static bool media_type_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 255)
		return false;
	int slash = 0;
	size_t part = 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '/') {
			if (part == 0 || ++slash > 1)
				return false;
			part = 0;
			continue;
		}
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			  strchr("!#$&^_.+-", c) != NULL;
		if (!ok)
			return false;
		part++;
	}
	return slash == 1 && part > 0;
}

#define BAD(...) err_set(err, GRPC_DATA_LOSS, __VA_ARGS__)

static int get_string(json_t *obj, const char *key, bool required, char **out, const char *what,
		      ocid_error **err)
{
	json_t *v = json_object_get(obj, key);
	if (v == NULL || json_is_null(v)) {
		if (required)
			return BAD("%s: missing \"%s\"", what, key);
		*out = NULL;
		return 0;
	}
	if (!json_is_string(v))
		return BAD("%s: \"%s\" is not a string", what, key);
	if (strlen(json_string_value(v)) != json_string_length(v))
		return BAD("%s: \"%s\" contains a NUL character", what, key);
	*out = xstrdup(json_string_value(v));
	return 0;
}

static int parse_platform(json_t *j, struct image_platform **out, const char *what, ocid_error **err)
{
	if (!json_is_object(j))
		return BAD("%s: \"platform\" is not an object", what);
	struct image_platform *p = xcalloc(1, sizeof(*p));
	if (get_string(j, "architecture", true, &p->architecture, what, err) < 0 ||
	    get_string(j, "os", true, &p->os, what, err) < 0 ||
	    get_string(j, "variant", false, &p->variant, what, err) < 0 ||
	    get_string(j, "os.version", false, &p->os_version, what, err) < 0) {
		image_platform_free(p);
		return -1;
	}
	if (p->variant && *p->variant == '\0') {
		free(p->variant);
		p->variant = NULL;
	}
	*out = p;
	return 0;
}

static int parse_descriptor(json_t *j, bool with_platform, struct image_descriptor *d,
			    const char *what, ocid_error **err)
{
	memset(d, 0, sizeof(*d));
	if (!json_is_object(j))
		return BAD("%s is not an object", what);
	if (get_string(j, "mediaType", true, &d->media_type, what, err) < 0)
		goto fail;
	if (!media_type_valid(d->media_type)) {
		BAD("%s: invalid mediaType \"%.200s\"", what, d->media_type);
		goto fail;
	}
	if (get_string(j, "digest", true, &d->digest, what, err) < 0)
		goto fail;
	if (!digest_valid(d->digest)) {
		cleanup_err ocid_error *derr = NULL;
		digest_parse(d->digest, NULL, &derr);
		BAD("%s: %s", what, derr ? derr->msg : "invalid digest");
		goto fail;
	}
	json_t *size = json_object_get(j, "size");
	if (size == NULL) {
		BAD("%s: missing \"size\"", what);
		goto fail;
	}
	if (!json_is_integer(size) || json_integer_value(size) < 0) {
		BAD("%s: \"size\" must be a non-negative integer", what);
		goto fail;
	}
	d->size = json_integer_value(size);
	json_t *plat = json_object_get(j, "platform");
	if (with_platform && plat && !json_is_null(plat) &&
	    parse_platform(plat, &d->platform, what, err) < 0)
		goto fail;
	return 0;
fail:
	descriptor_clear(d);
	return -1;
}

static int parse_index(json_t *root, struct image_manifest *m, ocid_error **err)
{
	if (json_object_get(root, "config") || json_object_get(root, "layers"))
		return BAD("invalid index: it has \"config\" or \"layers\" (ambiguous document)");
	json_t *arr = json_object_get(root, "manifests");
	if (!json_is_array(arr))
		return BAD("invalid index: \"manifests\" is missing or not an array");
	size_t n = json_array_size(arr);
	m->manifests = xcalloc(n, sizeof(*m->manifests));
	for (size_t i = 0; i < n; i++) {
		char what[64];
		snprintf(what, sizeof(what), "invalid index: manifests[%zu]", i);
		if (parse_descriptor(json_array_get(arr, i), true, &m->manifests[i], what, err) < 0)
			return -1;
		m->n_manifests++;
	}
	return 0;
}

static int parse_image_manifest(json_t *root, struct image_manifest *m, ocid_error **err)
{
	if (json_object_get(root, "manifests"))
		return BAD("invalid manifest: it has \"manifests\" (ambiguous document)");
	if (parse_descriptor(json_object_get(root, "config"), false, &m->config,
			     "invalid manifest: config", err) < 0) {
		if (json_object_get(root, "config") == NULL) {
			err_clear(err);
			return BAD("invalid manifest: missing \"config\"");
		}
		return -1;
	}
	if (strcmp(m->config.media_type, MEDIA_OCI_CONFIG) != 0 &&
	    strcmp(m->config.media_type, MEDIA_DOCKER_CONFIG) != 0)
		return err_set(err, GRPC_UNIMPLEMENTED,
			       "not a container image: the config has media type \"%s\" "
			       "(an OCI artifact?)",
			       m->config.media_type);
	json_t *arr = json_object_get(root, "layers");
	if (!json_is_array(arr))
		return BAD("invalid manifest: \"layers\" is missing or not an array");
	size_t n = json_array_size(arr);
	m->layers = xcalloc(n, sizeof(*m->layers));
	for (size_t i = 0; i < n; i++) {
		char what[64];
		snprintf(what, sizeof(what), "invalid manifest: layers[%zu]", i);
		struct image_layer *l = &m->layers[i];
		if (parse_descriptor(json_array_get(arr, i), false, &l->desc, what, err) < 0)
			return -1;
		m->n_layers++;
		if (layer_media_type_parse(l->desc.media_type, &l->compression, err) < 0)
			return err_prefix(err, "layer %zu (%s)", i, l->desc.digest);
	}
	return 0;
}

int manifest_parse(const char *body, size_t len, const char *content_type,
		   struct image_manifest **out, ocid_error **err)
{
	*out = NULL;
	if (len > MANIFEST_MAX_SIZE)
		return err_set(err, GRPC_RESOURCE_EXHAUSTED, "manifest of %zu bytes exceeds the %d byte limit",
			       len, MANIFEST_MAX_SIZE);
	json_error_t jerr;
	cleanup_json json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL)
		return BAD("invalid manifest: not JSON (line %d column %d: %s)", jerr.line, jerr.column,
			   jerr.text);
	if (!json_is_object(root))
		return BAD("invalid manifest: not a JSON object");

	json_t *sv = json_object_get(root, "schemaVersion");
	if (!json_is_integer(sv))
		return BAD("invalid manifest: \"schemaVersion\" is missing or not an integer");
	if (json_integer_value(sv) == 1)
		return schema1_error(err);
	if (json_integer_value(sv) != 2)
		return err_set(err, GRPC_UNIMPLEMENTED, "unsupported manifest schemaVersion %lld",
			       (long long)json_integer_value(sv));

	char ctbuf[256];
	const char *ct = bare_type(content_type, ctbuf, sizeof(ctbuf));
	bool ct_known = ct && (kind_of(ct, NULL) == 0 || is_schema1(ct));
	json_t *mtj = json_object_get(root, "mediaType");
	const char *mt = NULL;
	if (mtj && !json_is_null(mtj)) {
		if (!json_is_string(mtj))
			return BAD("invalid manifest: \"mediaType\" is not a string");
		mt = json_string_value(mtj);
		if (is_schema1(mt))
			return schema1_error(err);
		if (kind_of(mt, NULL) < 0)
			return err_set(err, GRPC_UNIMPLEMENTED, "unsupported manifest media type \"%.200s\"",
				       mt);
		if (ct_known && strcmp(ct, mt) != 0)
			return BAD("invalid manifest: its mediaType %s does not match the Content-Type %s",
				   mt, ct);
	} else if (ct_known) {
		if (is_schema1(ct))
			return schema1_error(err);
		mt = ct;
	} else if (json_object_get(root, "manifests")) {
		mt = MEDIA_OCI_INDEX;
	} else if (json_object_get(root, "config")) {
		mt = MEDIA_OCI_MANIFEST;
	} else {
		return BAD("invalid manifest: neither a manifest nor an index");
	}

	struct image_manifest *m = xcalloc(1, sizeof(*m));
	for (size_t i = 0; i < sizeof(manifest_types) / sizeof(manifest_types[0]); i++)
		if (strcmp(mt, manifest_types[i].type) == 0) {
			m->kind = manifest_types[i].kind;
			m->media_type = manifest_types[i].type;
		}
	int r = manifest_is_index(m) ? parse_index(root, m, err) : parse_image_manifest(root, m, err);
	if (r < 0) {
		manifest_free(m);
		return -1;
	}
	*out = m;
	return 0;
}
