#include "image/platform.h"

#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "util/cleanup.h"
#include "util/xalloc.h"

void image_platform_from_machine(const char *machine, const char **arch, const char **variant)
{
	static const struct {
		const char *machine, *arch, *variant;
	} map[] = {
		{"x86_64", "amd64", NULL},   {"amd64", "amd64", NULL},     {"aarch64", "arm64", "v8"},
		{"arm64", "arm64", "v8"},    {"armv8l", "arm", "v8"},      {"armv7l", "arm", "v7"},
		{"armv7", "arm", "v7"},      {"armv6l", "arm", "v6"},      {"armv5tel", "arm", "v5"},
		{"armv5tejl", "arm", "v5"},  {"i386", "386", NULL},        {"i486", "386", NULL},
		{"i586", "386", NULL},       {"i686", "386", NULL},        {"ppc64le", "ppc64le", NULL},
		{"ppc64", "ppc64", NULL},    {"s390x", "s390x", NULL},     {"riscv64", "riscv64", NULL},
		{"mips64", "mips64", NULL},  {"loongarch64", "loong64", NULL},
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(machine, map[i].machine) == 0) {
			*arch = map[i].arch;
			*variant = map[i].variant;
			return;
		}
	*arch = machine;
	*variant = NULL;
}

void image_platform_host(struct image_platform *out)
{
	memset(out, 0, sizeof(*out));
	struct utsname u;
	const char *arch = "amd64", *variant = NULL;
	if (uname(&u) == 0)
		image_platform_from_machine(u.machine, &arch, &variant);
	out->os = xstrdup("linux");
	out->architecture = xstrdup(arch);
	out->variant = variant ? xstrdup(variant) : NULL;
}

void image_platform_clear(struct image_platform *p)
{
	free(p->os);
	free(p->architecture);
	free(p->variant);
	free(p->os_version);
	memset(p, 0, sizeof(*p));
}

/* The variant that "" stands for on arch, for comparison. */
static const char *norm_variant(const char *arch, const char *variant)
{
	if (variant && *variant)
		return variant;
	if (strcmp(arch, "arm64") == 0)
		return "v8";
	if (strcmp(arch, "amd64") == 0)
		return "v1";
	if (strcmp(arch, "arm") == 0)
		return "v7";
	return "";
}

/* "v7" -> 7; -1 when not of that form. */
static int variant_level(const char *v)
{
	if (v[0] != 'v' || v[1] < '1' || v[1] > '9' || v[2] != '\0')
		return -1;
	return v[1] - '0';
}

int image_platform_score(const struct image_platform *want, const struct image_platform *c)
{
	if (c == NULL || c->os == NULL || c->architecture == NULL)
		return -1;
	if (strcmp(want->os, c->os) != 0 || strcmp(want->architecture, c->architecture) != 0)
		return -1;
	const char *wv = norm_variant(want->architecture, want->variant);
	const char *cv = norm_variant(c->architecture, c->variant);
	if (strcmp(wv, cv) == 0)
		return 100;
	/* 32-bit arm: a vN host runs lower variants; prefer the closest. */
	if (strcmp(want->architecture, "arm") == 0) {
		int w = variant_level(wv), v = variant_level(cv);
		if (w > 0 && v > 0 && v < w)
			return 100 - (w - v);
	}
	return -1;
}

char *image_platform_string(const struct image_platform *p)
{
	const char *os = p->os ? p->os : "?", *arch = p->architecture ? p->architecture : "?";
	if (p->variant && *p->variant)
		return xasprintf("%s/%s/%s", os, arch, p->variant);
	return xasprintf("%s/%s", os, arch);
}

static bool is_image_manifest_type(const char *mt)
{
	return strcmp(mt, MEDIA_OCI_MANIFEST) == 0 || strcmp(mt, MEDIA_DOCKER_V2) == 0;
}

int manifest_select_platform(const struct image_manifest *index, const struct image_platform *want,
			     const struct image_descriptor **out, ocid_error **err)
{
	*out = NULL;
	if (!manifest_is_index(index))
		return err_set(err, GRPC_INTERNAL, "platform selection needs an index");
	int best = -1;
	for (size_t i = 0; i < index->n_manifests; i++) {
		const struct image_descriptor *d = &index->manifests[i];
		if (!is_image_manifest_type(d->media_type))
			continue;
		int s = image_platform_score(want, d->platform);
		if (s > best) {
			best = s;
			*out = d;
		}
	}
	if (*out)
		return 0;

	/* Say what there is. */
	size_t cap = 256, len = 0;
	cleanup_free char *list = xmalloc(cap);
	list[0] = '\0';
	size_t shown = 0;
	for (size_t i = 0; i < index->n_manifests; i++) {
		const struct image_descriptor *d = &index->manifests[i];
		if (!is_image_manifest_type(d->media_type) || d->platform == NULL)
			continue;
		if (shown == 16) {
			len += (size_t)snprintf(list + len, cap - len, ", ...");
			break;
		}
		cleanup_free char *s = image_platform_string(d->platform);
		size_t need = len + strlen(s) + 8;
		if (need > cap) {
			cap = need * 2;
			list = xrealloc(list, cap);
		}
		len += (size_t)snprintf(list + len, cap - len, "%s%s", shown ? ", " : "", s);
		shown++;
	}
	cleanup_free char *w = image_platform_string(want);
	return err_set(err, GRPC_NOT_FOUND, "no image for platform %s in the manifest list (it has: %s)",
		       w, shown ? list : "nothing usable");
}
