#include <stdlib.h>
#include <string.h>

#include "image/registry.h"
#include "util/cleanup.h"
#include "util/log.h"
#include "util/xalloc.h"

static bool on_list(char *const *list, const char *host)
{
	for (char *const *p = list; p && *p; p++)
		if (strcmp(image_domain_normalize(*p), image_domain_normalize(host)) == 0)
			return true;
	return false;
}

bool registry_host_insecure(const struct ocid_image_config *cfg, const char *host)
{
	if (cfg == NULL)
		return false;
	if (on_list(cfg->insecure_registries, host))
		return true;
	/* docker.io's API host counts as docker.io */
	return strcmp(host, image_domain_api_host(IMAGE_DEFAULT_DOMAIN)) == 0 &&
	       on_list(cfg->insecure_registries, IMAGE_DEFAULT_DOMAIN);
}

void registry_endpoints_free(struct registry_endpoint *v, size_t n)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		free(v[i].host);
		free(v[i].repository);
	}
	free(v);
}

/* "host[:port]" or "host[:port]/namespace/..." -> host and prefix. */
static bool split_mirror(const char *m, char **host, char **prefix)
{
	const char *slash = strchr(m, '/');
	*host = slash ? strndup(m, (size_t)(slash - m)) : xstrdup(m);
	*prefix = NULL;
	if (*host == NULL)
		abort();
	if (!image_domain_valid(*host))
		goto bad;
	if (slash) {
		const char *p = slash + 1;
		size_t n = strlen(p);
		while (n > 0 && p[n - 1] == '/')
			n--;
		if (n == 0)
			return true;
		/* a lowercase repository path prefix */
		for (size_t i = 0; i < n; i++) {
			char c = p[i];
			if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
			      c == '-' || c == '/'))
				goto bad;
			if (c == '/' && (i == 0 || p[i - 1] == '/'))
				goto bad;
		}
		*prefix = strndup(p, n);
		if (*prefix == NULL)
			abort();
	}
	return true;
bad:
	free(*host);
	*host = NULL;
	return false;
}

int registry_endpoints(const struct ocid_image_config *cfg, const struct image_ref *ref,
		       struct registry_endpoint **out, size_t *n, ocid_error **err)
{
	*out = NULL;
	*n = 0;
	if (ref->kind != IMAGE_REF_NAMED)
		return err_set(err, GRPC_INVALID_ARGUMENT, "an image id has no registry");
	char *const *mirrors = NULL;
	size_t n_mirrors = 0;
	if (cfg) {
		for (size_t i = 0; i < cfg->n_mirrors; i++)
			if (strcmp(image_domain_normalize(cfg->mirrors[i].registry), ref->domain) == 0) {
				mirrors = cfg->mirrors[i].mirrors;
				break;
			}
	}
	while (mirrors && mirrors[n_mirrors])
		n_mirrors++;

	struct registry_endpoint *v = xcalloc(n_mirrors + 1, sizeof(*v));
	size_t k = 0;
	for (size_t i = 0; i < n_mirrors; i++) {
		char *host, *prefix;
		if (!split_mirror(mirrors[i], &host, &prefix)) {
			char esc[256];
			log_escape(mirrors[i], esc, sizeof(esc));
			log_warn("ignoring invalid registry mirror", "registry=%s mirror=\"%s\"",
				 ref->domain, esc);
			continue;
		}
		v[k].host = xstrdup(image_domain_api_host(image_domain_normalize(host)));
		v[k].repository = prefix ? xasprintf("%s/%s", prefix, ref->path) : xstrdup(ref->path);
		v[k].insecure = registry_host_insecure(cfg, host);
		v[k].mirror = true;
		free(host);
		free(prefix);
		k++;
	}
	v[k].host = xstrdup(image_domain_api_host(ref->domain));
	v[k].repository = xstrdup(ref->path);
	v[k].insecure = registry_host_insecure(cfg, ref->domain) ||
			registry_host_insecure(cfg, v[k].host);
	v[k].mirror = false;
	k++;
	*out = v;
	*n = k;
	return 0;
}
