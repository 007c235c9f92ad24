/* image/manifest, image/platform, image/image_config: parsing and
 * validating manifests, indexes and image configs; platform selection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "image/image_config.h"
#include "image/manifest.h"
#include "image/platform.h"

#define H(c) c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c
#define D1 "sha256:" H("1")
#define D2 "sha256:" H("2")
#define D3 "sha256:" H("3")
#define D4 "sha256:" H("4")
#define D5 "sha256:" H("5")

static struct image_manifest *parse_ok(const char *body, const char *ct)
{
	struct image_manifest *m = NULL;
	ocid_error *err = NULL;
	if (manifest_parse(body, strlen(body), ct, &m, &err) != 0) {
		fprintf(stderr, "manifest_parse: %s\n", err->msg);
		fail();
	}
	return m;
}

static void parse_fails(const char *body, const char *ct, enum grpc_code code, const char *msg)
{
	struct image_manifest *m = NULL;
	ocid_error *err = NULL;
	int rc = manifest_parse(body, strlen(body), ct, &m, &err);
	if (rc == 0) {
		fprintf(stderr, "unexpectedly parsed: %s\n", body);
		fail();
	}
	assert_null(m);
	if (err->code != code || strstr(err->msg, msg) == NULL) {
		fprintf(stderr, "got %s \"%s\", want %s \"%s\"\n", grpc_code_name(err->code), err->msg,
			grpc_code_name(code), msg);
		fail();
	}
	err_free(err);
}

#define CONFIG_DESC(mt) "{\"mediaType\":\"" mt "\",\"digest\":\"" D1 "\",\"size\":123}"
#define LAYER(mt, d, n) "{\"mediaType\":\"" mt "\",\"digest\":\"" d "\",\"size\":" #n "}"

static const char oci_manifest[] =
	"{\"schemaVersion\":2,\"mediaType\":\"" MEDIA_OCI_MANIFEST "\",\"config\":" CONFIG_DESC(
		MEDIA_OCI_CONFIG) ",\"layers\":[" LAYER(MEDIA_OCI_LAYER_GZIP, D2, 10) "," LAYER(MEDIA_OCI_LAYER_ZSTD, D3, 0) "," LAYER(MEDIA_OCI_LAYER, D4, 7) "],"
	"\"annotations\":{\"a\":\"b\"}}";

static void test_oci_manifest(void **state)
{
	(void)state;
	struct image_manifest *m = parse_ok(oci_manifest, "application/vnd.oci.image.manifest.v1+json");
	assert_int_equal(m->kind, MANIFEST_OCI);
	assert_false(manifest_is_index(m));
	assert_string_equal(m->media_type, MEDIA_OCI_MANIFEST);
	assert_string_equal(m->config.digest, D1);
	assert_int_equal(m->config.size, 123);
	assert_int_equal(m->n_layers, 3);
	assert_int_equal(m->layers[0].compression, LAYER_GZIP);
	assert_int_equal(m->layers[1].compression, LAYER_ZSTD);
	assert_int_equal(m->layers[1].desc.size, 0);
	assert_int_equal(m->layers[2].compression, LAYER_UNCOMPRESSED);
	assert_string_equal(m->layers[2].desc.digest, D4);
	assert_null(m->layers[0].desc.platform);
	manifest_free(m);

	/* Content-Type with parameters and odd case still agrees */
	m = parse_ok(oci_manifest, " Application/vnd.oci.image.manifest.v1+json; charset=utf-8");
	manifest_free(m);
}

static void test_oci_manifest_without_media_type(void **state)
{
	(void)state;
	const char *body = "{\"schemaVersion\":2,\"config\":" CONFIG_DESC(MEDIA_OCI_CONFIG)
			   ",\"layers\":[" LAYER(MEDIA_OCI_LAYER_GZIP, D2, 10) "]}";
	struct image_manifest *m = parse_ok(body, NULL);
	assert_int_equal(m->kind, MANIFEST_OCI);
	manifest_free(m);
	m = parse_ok(body, "application/octet-stream");
	assert_int_equal(m->kind, MANIFEST_OCI);
	manifest_free(m);
	/* the Content-Type decides when the body does not say */
	m = parse_ok(body, MEDIA_OCI_MANIFEST);
	assert_int_equal(m->kind, MANIFEST_OCI);
	manifest_free(m);
	/* an index without mediaType */
	m = parse_ok("{\"schemaVersion\":2,\"manifests\":[]}", NULL);
	assert_int_equal(m->kind, MANIFEST_OCI_INDEX);
	assert_int_equal(m->n_manifests, 0);
	manifest_free(m);
}

static void test_docker_v2(void **state)
{
	(void)state;
	const char *body = "{\"schemaVersion\":2,\"mediaType\":\"" MEDIA_DOCKER_V2
			   "\",\"config\":" CONFIG_DESC(MEDIA_DOCKER_CONFIG) ",\"layers\":[" LAYER(
				   MEDIA_DOCKER_LAYER_GZIP, D2, 99) "]}";
	struct image_manifest *m = parse_ok(body, MEDIA_DOCKER_V2);
	assert_int_equal(m->kind, MANIFEST_DOCKER_V2);
	assert_string_equal(m->media_type, MEDIA_DOCKER_V2);
	assert_string_equal(m->config.media_type, MEDIA_DOCKER_CONFIG);
	assert_int_equal(m->n_layers, 1);
	assert_int_equal(m->layers[0].compression, LAYER_GZIP);
	assert_int_equal(m->layers[0].desc.size, 99);
	manifest_free(m);
}

#define PLAT(os, arch) "\"platform\":{\"os\":\"" os "\",\"architecture\":\"" arch "\"}"
#define PLATV(os, arch, v) \
	"\"platform\":{\"os\":\"" os "\",\"architecture\":\"" arch "\",\"variant\":\"" v "\"}"
#define ENTRY(mt, d, plat) "{\"mediaType\":\"" mt "\",\"digest\":\"" d "\",\"size\":500," plat "}"

static void test_index_and_list(void **state)
{
	(void)state;
	const char *body =
		"{\"schemaVersion\":2,\"mediaType\":\"" MEDIA_OCI_INDEX "\",\"manifests\":[" ENTRY(
			MEDIA_OCI_MANIFEST, D1, PLAT("linux", "amd64")) "," ENTRY(MEDIA_OCI_MANIFEST, D2,
										 PLATV("linux", "arm64", "v8")) "]}";
	struct image_manifest *m = parse_ok(body, MEDIA_OCI_INDEX);
	assert_int_equal(m->kind, MANIFEST_OCI_INDEX);
	assert_true(manifest_is_index(m));
	assert_int_equal(m->n_manifests, 2);
	assert_string_equal(m->manifests[0].platform->os, "linux");
	assert_string_equal(m->manifests[0].platform->architecture, "amd64");
	assert_null(m->manifests[0].platform->variant);
	assert_string_equal(m->manifests[1].platform->variant, "v8");
	assert_int_equal(m->manifests[1].size, 500);
	manifest_free(m);

	const char *list =
		"{\"schemaVersion\":2,\"mediaType\":\"" MEDIA_DOCKER_LIST "\",\"manifests\":[" ENTRY(
			MEDIA_DOCKER_V2, D1, PLAT("linux", "amd64")) "]}";
	m = parse_ok(list, MEDIA_DOCKER_LIST);
	assert_int_equal(m->kind, MANIFEST_DOCKER_LIST);
	manifest_free(m);
}

static void test_schema1(void **state)
{
	(void)state;
	parse_fails("{\"schemaVersion\":1,\"name\":\"x\",\"tag\":\"y\",\"fsLayers\":[]}",
		    MEDIA_DOCKER_V1_SIGNED, GRPC_UNIMPLEMENTED, "schema 1");
	parse_fails("{\"schemaVersion\":1}", NULL, GRPC_UNIMPLEMENTED, "schema 1");
	parse_fails("{\"schemaVersion\":2,\"mediaType\":\"" MEDIA_DOCKER_V1 "\"}", NULL,
		    GRPC_UNIMPLEMENTED, "schema 1");
	parse_fails("{\"schemaVersion\":2,\"config\":{}}", MEDIA_DOCKER_V1, GRPC_UNIMPLEMENTED,
		    "schema 1");
}

static void test_malformed(void **state)
{
	(void)state;
	parse_fails("", NULL, GRPC_DATA_LOSS, "not JSON");
	parse_fails("{", NULL, GRPC_DATA_LOSS, "not JSON");
	parse_fails("[]", NULL, GRPC_DATA_LOSS, "not a JSON object");
	parse_fails("{}", NULL, GRPC_DATA_LOSS, "schemaVersion");
	parse_fails("{\"schemaVersion\":\"2\"}", NULL, GRPC_DATA_LOSS, "schemaVersion");
	parse_fails("{\"schemaVersion\":3}", NULL, GRPC_UNIMPLEMENTED, "schemaVersion 3");
	parse_fails("{\"schemaVersion\":2}", NULL, GRPC_DATA_LOSS, "neither a manifest nor an index");
	parse_fails("{\"schemaVersion\":2,\"schemaVersion\":2,\"manifests\":[]}", NULL, GRPC_DATA_LOSS,
		    "duplicate");
	parse_fails("{\"schemaVersion\":2,\"mediaType\":5,\"manifests\":[]}", NULL, GRPC_DATA_LOSS,
		    "mediaType");
	parse_fails("{\"schemaVersion\":2,\"mediaType\":\"application/json\",\"manifests\":[]}", NULL,
		    GRPC_UNIMPLEMENTED, "unsupported manifest media type");
	/* the body and the Content-Type disagree */
	parse_fails(oci_manifest, MEDIA_DOCKER_V2, GRPC_DATA_LOSS, "does not match the Content-Type");
	parse_fails(oci_manifest, MEDIA_OCI_INDEX, GRPC_DATA_LOSS, "does not match the Content-Type");
	/* ambiguous documents */
	parse_fails("{\"schemaVersion\":2,\"mediaType\":\"" MEDIA_OCI_INDEX
		    "\",\"manifests\":[],\"layers\":[]}",
		    NULL, GRPC_DATA_LOSS, "ambiguous");
	parse_fails("{\"schemaVersion\":2,\"mediaType\":\"" MEDIA_OCI_MANIFEST
		    "\",\"manifests\":[],\"config\":" CONFIG_DESC(MEDIA_OCI_CONFIG) ",\"layers\":[]}",
		    NULL, GRPC_DATA_LOSS, "ambiguous");
	/* missing parts */
	parse_fails("{\"schemaVersion\":2,\"mediaType\":\"" MEDIA_OCI_MANIFEST "\",\"layers\":[]}",
		    NULL, GRPC_DATA_LOSS, "missing \"config\"");
	parse_fails("{\"schemaVersion\":2,\"mediaType\":\"" MEDIA_OCI_MANIFEST
		    "\",\"config\":" CONFIG_DESC(MEDIA_OCI_CONFIG) "}",
		    NULL, GRPC_DATA_LOSS, "\"layers\" is missing");
	parse_fails("{\"schemaVersion\":2,\"mediaType\":\"" MEDIA_OCI_INDEX "\"}", NULL,
		    GRPC_DATA_LOSS, "\"manifests\" is missing");
	parse_fails("{\"schemaVersion\":2,\"mediaType\":\"" MEDIA_OCI_INDEX "\",\"manifests\":[5]}",
		    NULL, GRPC_DATA_LOSS, "manifests[0] is not an object");
}

#define MANIFEST_WITH_LAYER(layer)                                                   \
	"{\"schemaVersion\":2,\"mediaType\":\"" MEDIA_OCI_MANIFEST "\",\"config\":" CONFIG_DESC( \
		MEDIA_OCI_CONFIG) ",\"layers\":[" layer "]}"

static void test_descriptors(void **state)
{
	(void)state;
	parse_fails(MANIFEST_WITH_LAYER("{\"mediaType\":\"" MEDIA_OCI_LAYER_GZIP
					"\",\"digest\":\"sha256:abc\",\"size\":1}"),
		    NULL, GRPC_DATA_LOSS, "layers[0]: invalid digest");
	parse_fails(MANIFEST_WITH_LAYER("{\"mediaType\":\"" MEDIA_OCI_LAYER_GZIP
					"\",\"digest\":\"md5:00\",\"size\":1}"),
		    NULL, GRPC_DATA_LOSS, "unsupported digest algorithm");
	parse_fails(MANIFEST_WITH_LAYER("{\"mediaType\":\"" MEDIA_OCI_LAYER_GZIP "\",\"digest\":\"" D2
					"\",\"size\":-1}"),
		    NULL, GRPC_DATA_LOSS, "non-negative");
	parse_fails(MANIFEST_WITH_LAYER("{\"mediaType\":\"" MEDIA_OCI_LAYER_GZIP "\",\"digest\":\"" D2
					"\",\"size\":\"1\"}"),
		    NULL, GRPC_DATA_LOSS, "non-negative");
	parse_fails(MANIFEST_WITH_LAYER("{\"mediaType\":\"" MEDIA_OCI_LAYER_GZIP "\",\"digest\":\"" D2
					"\",\"size\":1.5}"),
		    NULL, GRPC_DATA_LOSS, "non-negative");
	parse_fails(MANIFEST_WITH_LAYER("{\"mediaType\":\"" MEDIA_OCI_LAYER_GZIP "\",\"digest\":\"" D2
					"\"}"),
		    NULL, GRPC_DATA_LOSS, "missing \"size\"");
	parse_fails(MANIFEST_WITH_LAYER("{\"digest\":\"" D2 "\",\"size\":1}"), NULL, GRPC_DATA_LOSS,
		    "missing \"mediaType\"");
	parse_fails(MANIFEST_WITH_LAYER("{\"mediaType\":\"no slash\",\"digest\":\"" D2
					"\",\"size\":1}"),
		    NULL, GRPC_DATA_LOSS, "invalid mediaType");
	parse_fails(MANIFEST_WITH_LAYER("{\"mediaType\":\"" MEDIA_OCI_LAYER_GZIP "\",\"size\":1}"),
		    NULL, GRPC_DATA_LOSS, "missing \"digest\"");
	/* an index entry with a broken platform */
	parse_fails("{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"" MEDIA_OCI_MANIFEST
		    "\",\"digest\":\"" D1 "\",\"size\":1,\"platform\":{\"os\":\"linux\"}}]}",
		    NULL, GRPC_DATA_LOSS, "architecture");
	parse_fails("{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"" MEDIA_OCI_MANIFEST
		    "\",\"digest\":\"" D1 "\",\"size\":1,\"platform\":\"linux/amd64\"}]}",
		    NULL, GRPC_DATA_LOSS, "platform");
}

static void test_layer_types(void **state)
{
	(void)state;
	enum layer_compression c;
	ocid_error *err = NULL;
	assert_int_equal(layer_media_type_parse(MEDIA_DOCKER_LAYER_GZIP, &c, &err), 0);
	assert_int_equal(c, LAYER_GZIP);
	assert_int_equal(layer_media_type_parse(MEDIA_OCI_LAYER_ZSTD, &c, &err), 0);
	assert_int_equal(c, LAYER_ZSTD);
	assert_int_equal(layer_media_type_parse(MEDIA_OCI_LAYER, &c, &err), 0);
	assert_int_equal(c, LAYER_UNCOMPRESSED);
	assert_int_equal(layer_media_type_parse(MEDIA_DOCKER_LAYER, &c, &err), 0);
	assert_int_equal(c, LAYER_UNCOMPRESSED);
	assert_string_equal(layer_compression_name(LAYER_ZSTD), "zstd");

	parse_fails(MANIFEST_WITH_LAYER(LAYER(MEDIA_DOCKER_FOREIGN_LAYER, D2, 5)), NULL,
		    GRPC_UNIMPLEMENTED, "non-distributable");
	parse_fails(MANIFEST_WITH_LAYER(LAYER(MEDIA_OCI_NONDIST_LAYER_GZIP, D2, 5)), NULL,
		    GRPC_UNIMPLEMENTED, "non-distributable");
	parse_fails(MANIFEST_WITH_LAYER(LAYER("application/vnd.oci.image.layer.v1.tar+xz", D2, 5)),
		    NULL, GRPC_UNIMPLEMENTED, "unsupported layer media type");
	/* the error names the layer */
	parse_fails(MANIFEST_WITH_LAYER(LAYER(MEDIA_OCI_LAYER, D2, 5) "," LAYER("text/plain", D3, 5)),
		    NULL, GRPC_UNIMPLEMENTED, "layer 1 (" D3 ")");
	/* an artifact, not an image */
	parse_fails("{\"schemaVersion\":2,\"mediaType\":\"" MEDIA_OCI_MANIFEST
		    "\",\"config\":" CONFIG_DESC("application/vnd.cncf.helm.config.v1+json") ",\"layers\":[]}",
		    NULL, GRPC_UNIMPLEMENTED, "not a container image");

	assert_true(manifest_media_type_supported(MEDIA_OCI_INDEX "; charset=utf-8"));
	assert_false(manifest_media_type_supported(MEDIA_DOCKER_V1_SIGNED));
	assert_false(manifest_media_type_supported(NULL));
}

static void test_size_limit(void **state)
{
	(void)state;
	size_t n = MANIFEST_MAX_SIZE + 1;
	char *big = malloc(n);
	memset(big, ' ', n);
	struct image_manifest *m = NULL;
	ocid_error *err = NULL;
	assert_int_equal(manifest_parse(big, n, NULL, &m, &err), -1);
	assert_int_equal(err->code, GRPC_RESOURCE_EXHAUSTED);
	err_free(err);
	free(big);
}

/* ---- platforms ---- */

static struct image_platform plat(const char *arch, const char *variant)
{
	return (struct image_platform){.os = "linux", .architecture = (char *)arch,
				       .variant = (char *)variant};
}

static const char *select_digest(const char *body, struct image_platform want, ocid_error **err)
{
	static char digest[100];
	struct image_manifest *m = parse_ok(body, NULL);
	const struct image_descriptor *d = NULL;
	int rc = manifest_select_platform(m, &want, &d, err);
	if (rc == 0)
		snprintf(digest, sizeof(digest), "%s", d->digest);
	manifest_free(m);
	return rc == 0 ? digest : NULL;
}

static const char multi[] =
	"{\"schemaVersion\":2,\"mediaType\":\"" MEDIA_OCI_INDEX "\",\"manifests\":["
	ENTRY(MEDIA_OCI_MANIFEST, D5, PLAT("unknown", "unknown")) ","
	ENTRY(MEDIA_OCI_MANIFEST, D1, PLAT("linux", "amd64")) ","
	ENTRY(MEDIA_OCI_MANIFEST, D2, PLAT("linux", "arm64")) ","
	ENTRY(MEDIA_OCI_MANIFEST, D3, PLATV("linux", "arm", "v6")) ","
	ENTRY(MEDIA_OCI_MANIFEST, D4, PLATV("linux", "arm", "v7")) ","
	ENTRY(MEDIA_OCI_MANIFEST, D5, PLAT("windows", "amd64")) "]}";

static void test_select_platform(void **state)
{
	(void)state;
	ocid_error *err = NULL;
	assert_string_equal(select_digest(multi, plat("amd64", NULL), &err), D1);
	/* arm64: "" and "v8" are the same */
	assert_string_equal(select_digest(multi, plat("arm64", "v8"), &err), D2);
	assert_string_equal(select_digest(multi, plat("arm64", NULL), &err), D2);
	/* arm: exact variant first, then the closest lower one */
	assert_string_equal(select_digest(multi, plat("arm", "v7"), &err), D4);
	assert_string_equal(select_digest(multi, plat("arm", "v6"), &err), D3);
	assert_string_equal(select_digest(multi, plat("arm", "v8"), &err), D4);
	assert_string_equal(select_digest(multi, plat("arm", NULL), &err), D4); /* "" = v7 */
	/* nothing for arm v5 or s390x: the error lists what there is */
	assert_null(select_digest(multi, plat("arm", "v5"), &err));
	assert_int_equal(err->code, GRPC_NOT_FOUND);
	assert_non_null(strstr(err->msg, "linux/arm/v5"));
	assert_non_null(strstr(err->msg, "linux/amd64, "));
	assert_non_null(strstr(err->msg, "linux/arm/v7"));
	err_free(err);
	err = NULL;
	assert_null(select_digest(multi, plat("s390x", NULL), &err));
	assert_int_equal(err->code, GRPC_NOT_FOUND);
	err_free(err);
	err = NULL;

	/* variant-specific entries and first-of-equals */
	const char *v8 = "{\"schemaVersion\":2,\"manifests\":["
			 ENTRY(MEDIA_OCI_MANIFEST, D1, PLATV("linux", "arm64", "v8")) ","
			 ENTRY(MEDIA_OCI_MANIFEST, D2, PLAT("linux", "arm64")) "]}";
	assert_string_equal(select_digest(v8, plat("arm64", NULL), &err), D1);
	/* amd64 v3 binaries are not picked for a plain amd64 host */
	const char *v3 = "{\"schemaVersion\":2,\"manifests\":["
			 ENTRY(MEDIA_OCI_MANIFEST, D1, PLATV("linux", "amd64", "v3")) ","
			 ENTRY(MEDIA_OCI_MANIFEST, D2, PLATV("linux", "amd64", "v1")) "]}";
	assert_string_equal(select_digest(v3, plat("amd64", NULL), &err), D2);
	/* entries that are not image manifests (nested index, attestation
	 * blobs) and entries without a platform are skipped */
	const char *odd = "{\"schemaVersion\":2,\"manifests\":["
			  ENTRY(MEDIA_OCI_INDEX, D1, PLAT("linux", "amd64")) ","
			  "{\"mediaType\":\"" MEDIA_OCI_MANIFEST "\",\"digest\":\"" D2 "\",\"size\":1},"
			  ENTRY(MEDIA_DOCKER_V2, D3, PLAT("linux", "amd64")) "]}";
	assert_string_equal(select_digest(odd, plat("amd64", NULL), &err), D3);
	const char *none = "{\"schemaVersion\":2,\"manifests\":[]}";
	assert_null(select_digest(none, plat("amd64", NULL), &err));
	assert_non_null(strstr(err->msg, "nothing usable"));
	err_free(err);
	err = NULL;

	/* not an index */
	struct image_manifest *m = parse_ok(oci_manifest, NULL);
	const struct image_descriptor *d;
	struct image_platform w = plat("amd64", NULL);
	assert_int_equal(manifest_select_platform(m, &w, &d, &err), -1);
	err_free(err);
	manifest_free(m);
}

static void test_host_platform(void **state)
{
	(void)state;
	const char *arch, *variant;
	image_platform_from_machine("x86_64", &arch, &variant);
	assert_string_equal(arch, "amd64");
	assert_null(variant);
	image_platform_from_machine("aarch64", &arch, &variant);
	assert_string_equal(arch, "arm64");
	assert_string_equal(variant, "v8");
	image_platform_from_machine("armv7l", &arch, &variant);
	assert_string_equal(arch, "arm");
	assert_string_equal(variant, "v7");
	image_platform_from_machine("armv6l", &arch, &variant);
	assert_string_equal(variant, "v6");
	image_platform_from_machine("i686", &arch, &variant);
	assert_string_equal(arch, "386");
	image_platform_from_machine("ppc64le", &arch, &variant);
	assert_string_equal(arch, "ppc64le");
	image_platform_from_machine("weird", &arch, &variant);
	assert_string_equal(arch, "weird");

	struct image_platform h;
	image_platform_host(&h);
	assert_string_equal(h.os, "linux");
	assert_non_null(h.architecture);
	char *s = image_platform_string(&h);
	assert_true(strncmp(s, "linux/", 6) == 0);
	free(s);
	image_platform_clear(&h);
}

/* ---- image config ---- */

static const char full_config[] =
	"{\"architecture\":\"amd64\",\"os\":\"linux\",\"created\":\"2024-01-01T00:00:00Z\","
	"\"config\":{\"User\":\"1000:1000\",\"Env\":[\"PATH=/usr/bin:/bin\",\"A=\"],"
	"\"Entrypoint\":[\"/bin/sh\",\"-c\"],\"Cmd\":[\"echo hi\"],\"WorkingDir\":\"/work\","
	"\"Labels\":{\"org.example\":\"yes\",\"b\":\"\"},\"StopSignal\":\"SIGQUIT\","
	"\"Volumes\":{\"/data\":{}},\"ExposedPorts\":{\"80/tcp\":{},\"53/udp\":{}}},"
	"\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" D1 "\",\"" D2 "\",\"" D3 "\"]},"
	"\"history\":[{\"created_by\":\"x\"}]}";

static struct image_config *config_ok(const char *body)
{
	struct image_config *c = NULL;
	ocid_error *err = NULL;
	if (image_config_parse(body, strlen(body), &c, &err) != 0) {
		fprintf(stderr, "image_config_parse: %s\n", err->msg);
		fail();
	}
	return c;
}

static void config_fails(const char *body, const char *msg)
{
	struct image_config *c = NULL;
	ocid_error *err = NULL;
	assert_int_equal(image_config_parse(body, strlen(body), &c, &err), -1);
	assert_null(c);
	if (err->code != GRPC_DATA_LOSS || strstr(err->msg, msg) == NULL) {
		fprintf(stderr, "got %s \"%s\", want \"%s\"\n", grpc_code_name(err->code), err->msg, msg);
		fail();
	}
	err_free(err);
}

static void test_config(void **state)
{
	(void)state;
	struct image_config *c = config_ok(full_config);
	assert_string_equal(c->architecture, "amd64");
	assert_string_equal(c->os, "linux");
	assert_string_equal(c->user, "1000:1000");
	assert_string_equal(c->env[0], "PATH=/usr/bin:/bin");
	assert_string_equal(c->env[1], "A=");
	assert_null(c->env[2]);
	assert_string_equal(c->entrypoint[0], "/bin/sh");
	assert_string_equal(c->entrypoint[1], "-c");
	assert_null(c->entrypoint[2]);
	assert_string_equal(c->cmd[0], "echo hi");
	assert_string_equal(c->working_dir, "/work");
	assert_int_equal(c->n_labels, 2);
	assert_string_equal(c->stop_signal, "SIGQUIT");
	assert_string_equal(c->volumes[0], "/data");
	assert_null(c->volumes[1]);
	assert_non_null(c->exposed_ports[1]);
	assert_int_equal(c->n_diff_ids, 3);
	assert_string_equal(c->diff_ids[2], D3);
	assert_non_null(c->json);
	assert_non_null(json_object_get(c->json, "history"));

	/* pairs with a three-layer manifest, not with a one-layer one */
	struct image_manifest *m = parse_ok(oci_manifest, NULL);
	ocid_error *err = NULL;
	assert_int_equal(image_config_check_layers(c, m, &err), 0);
	manifest_free(m);
	m = parse_ok(MANIFEST_WITH_LAYER(LAYER(MEDIA_OCI_LAYER, D2, 5)), NULL);
	assert_int_equal(image_config_check_layers(c, m, &err), -1);
	assert_int_equal(err->code, GRPC_DATA_LOSS);
	assert_non_null(strstr(err->msg, "3 diff_ids but the manifest has 1 layers"));
	err_free(err);
	manifest_free(m);
	image_config_free(c);

	/* minimal: no "config"; Cmd null and Entrypoint empty are distinct */
	c = config_ok("{\"architecture\":\"arm64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\","
		      "\"diff_ids\":[]}}");
	assert_null(c->user);
	assert_null(c->cmd);
	assert_null(c->entrypoint);
	assert_null(c->env[0]);
	assert_null(c->volumes[0]);
	assert_int_equal(c->n_labels, 0);
	assert_int_equal(c->n_diff_ids, 0);
	image_config_free(c);
	c = config_ok("{\"architecture\":\"arm64\",\"os\":\"linux\",\"config\":{\"Cmd\":null,"
		      "\"Entrypoint\":[],\"Labels\":null,\"Env\":null},"
		      "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}");
	assert_null(c->cmd);
	assert_non_null(c->entrypoint);
	assert_null(c->entrypoint[0]);
	image_config_free(c);
}

static void test_config_invalid(void **state)
{
	(void)state;
	config_fails("nope", "not JSON");
	config_fails("[]", "not a JSON object");
	config_fails("{\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}",
		     "\"architecture\" and \"os\" are required");
	config_fails("{\"architecture\":\"amd64\",\"os\":\"linux\"}", "rootfs");
	config_fails("{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"x\","
		     "\"diff_ids\":[]}}",
		     "rootfs.type");
	config_fails("{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\"}}",
		     "diff_ids");
	config_fails("{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\","
		     "\"diff_ids\":[\"sha256:abc\"]}}",
		     "diff_ids[0] is not a valid digest");
	config_fails("{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\","
		     "\"diff_ids\":[\"" D1 "\",5]}}",
		     "diff_ids[1]");
	config_fails("{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Env\":[\"NOEQUALS\"]},"
		     "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}",
		     "KEY=VALUE");
	config_fails("{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Cmd\":\"sh\"},"
		     "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}",
		     "\"Cmd\" is not an array");
	config_fails("{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Labels\":{\"a\":1}},"
		     "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}",
		     "label \"a\"");
	config_fails("{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"User\":0},"
		     "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}",
		     "\"User\" is not a string");
	config_fails("{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":5,"
		     "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}",
		     "\"config\" is not an object");
	config_fails("{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Volumes\":[\"/x\"]},"
		     "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}",
		     "\"Volumes\" is not an object");
	/* NUL inside strings is refused by the JSON parser itself */
	config_fails("{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"User\":\"a\\u0000b\"},"
		     "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}",
		     "not JSON");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_oci_manifest),
		cmocka_unit_test(test_oci_manifest_without_media_type),
		cmocka_unit_test(test_docker_v2),
		cmocka_unit_test(test_index_and_list),
		cmocka_unit_test(test_schema1),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_descriptors),
		cmocka_unit_test(test_layer_types),
		cmocka_unit_test(test_size_limit),
		cmocka_unit_test(test_select_platform),
		cmocka_unit_test(test_host_platform),
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_config_invalid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
