#include "image/reference.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/digest.h"
#include "util/cleanup.h"
#include "util/xalloc.h"

static bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
static bool is_alnum(char c) { return is_lower_alnum(c) || (c >= 'A' && c <= 'Z'); }
static bool is_word(char c) { return is_alnum(c) || c == '_'; }
static bool is_lower_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

static bool is_hex64(const char *s, size_t n)
{
	if (n != 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_lower_hex(s[i]))
			return false;
	return true;
}

bool image_tag_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 128 || !is_word(s[0]))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!is_word(s[i]) && s[i] != '.' && s[i] != '-')
			return false;
	return true;
}

/* host component: [A-Za-z0-9] or [A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9] */
static bool host_valid(const char *s, size_t n)
{
	if (n == 0)
		return false;
	if (s[0] == '[') {
		if (n < 3 || s[n - 1] != ']')
			return false;
		for (size_t i = 1; i + 1 < n; i++) {
			char c = s[i];
			if (!(is_lower_hex(c) || (c >= 'A' && c <= 'F') || c == ':'))
				return false;
		}
		return true;
	}
	size_t start = 0;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && s[i] != '.')
			continue;
		size_t len = i - start;
		if (len == 0 || !is_alnum(s[start]) || !is_alnum(s[i - 1]))
			return false;
		for (size_t j = start; j < i; j++)
			if (!is_alnum(s[j]) && s[j] != '-')
				return false;
		start = i + 1;
	}
	return true;
}

static bool domain_valid_n(const char *s, size_t n)
{
	/* host[:port]; an IPv6 host is bracketed, so the port colon follows ']' */
	size_t host_end = n;
	if (n > 0 && s[0] == '[') {
		const char *rb = memchr(s, ']', n);
		if (rb == NULL)
			return false;
		host_end = (size_t)(rb - s) + 1;
		if (host_end < n && s[host_end] != ':')
			return false;
	} else {
		const char *colon = memchr(s, ':', n);
		if (colon)
			host_end = (size_t)(colon - s);
	}
	if (!host_valid(s, host_end))
		return false;
	if (host_end == n)
		return true;
	/* ":" port */
	size_t plen = n - host_end - 1;
	if (plen == 0 || plen > 5)
		return false;
	for (size_t i = host_end + 1; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

bool image_domain_valid(const char *s) { return s != NULL && domain_valid_n(s, strlen(s)); }

const char *image_domain_normalize(const char *s)
{
	if (strcmp(s, "index.docker.io") == 0)
		return IMAGE_DEFAULT_DOMAIN;
	return s;
}

const char *image_domain_api_host(const char *domain)
{
	if (strcmp(domain, IMAGE_DEFAULT_DOMAIN) == 0)
		return "registry-1.docker.io";
	return domain;
}

/* One path component: [a-z0-9]+ ((\.|_|__|-+)[a-z0-9]+)* */
static bool component_valid(const char *s, size_t n)
{
	size_t i = 0;
	if (n == 0 || !is_lower_alnum(s[0]))
		return false;
	while (i < n) {
		while (i < n && is_lower_alnum(s[i]))
			i++;
		if (i == n)
			return true;
		/* a separator, then alnum again */
		if (s[i] == '.') {
			i++;
		} else if (s[i] == '_') {
			i++;
			if (i < n && s[i] == '_')
				i++;
		} else if (s[i] == '-') {
			while (i < n && s[i] == '-')
				i++;
		} else {
			return false;
		}
		if (i == n || !is_lower_alnum(s[i]))
			return false;
	}
	return true;
}

static const char *path_problem(const char *p)
{
	for (const char *c = p; *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			return "repository name must be lowercase";
	if (*p == '\0')
		return "repository name is empty";
	const char *start = p;
	for (const char *c = p;; c++) {
		if (*c != '/' && *c != '\0')
			continue;
		if (c == start)
			return "repository name has an empty path component";
		if (!component_valid(start, (size_t)(c - start)))
			return "repository name components must be lowercase letters and digits "
			       "separated by '.', '_', '__' or '-'";
		if (*c == '\0')
			break;
		start = c + 1;
	}
	return NULL;
}

static int fail(ocid_error **err, const char *s, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(ocid_error **err, const char *s, const char *fmt, ...)
{
	cleanup_free char *reason = NULL;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&reason, fmt, ap) < 0)
		reason = NULL;
	va_end(ap);
	const char *why = reason ? reason : "invalid";
	if (strlen(s) > 256)
		return err_set(err, GRPC_INVALID_ARGUMENT, "invalid reference \"%.256s...\": %s", s,
			       why);
	return err_set(err, GRPC_INVALID_ARGUMENT, "invalid reference \"%s\": %s", s, why);
}

void image_ref_clear(struct image_ref *r)
{
	free(r->domain);
	free(r->path);
	free(r->tag);
	free(r->digest);
	free(r->short_path);
	free(r->id);
	memset(r, 0, sizeof(*r));
}

static char *dup_or_null(const char *s) { return s ? xstrdup(s) : NULL; }

void image_ref_copy(struct image_ref *dst, const struct image_ref *src)
{
	dst->kind = src->kind;
	dst->domain = dup_or_null(src->domain);
	dst->path = dup_or_null(src->path);
	dst->tag = dup_or_null(src->tag);
	dst->digest = dup_or_null(src->digest);
	dst->short_name = src->short_name;
	dst->short_path = dup_or_null(src->short_path);
	dst->id = dup_or_null(src->id);
}

/* Sets domain/path from a domain and the remainder, adding "library/". */
static void set_name(struct image_ref *r, const char *domain, const char *remainder)
{
	domain = image_domain_normalize(domain);
	r->domain = xstrdup(domain);
	if (strcmp(domain, IMAGE_DEFAULT_DOMAIN) == 0 && strchr(remainder, '/') == NULL)
		r->path = xasprintf("library/%s", remainder);
	else
		r->path = xstrdup(remainder);
}

int image_ref_parse(const char *s, struct image_ref *out, ocid_error **err)
{
	memset(out, 0, sizeof(*out));
	if (s == NULL || *s == '\0')
		return err_set(err, GRPC_INVALID_ARGUMENT, "invalid reference \"\": empty");

	size_t len = strlen(s);
	/* image ids */
	if (is_hex64(s, len)) {
		out->kind = IMAGE_REF_ID;
		out->id = xasprintf("sha256:%s", s);
		return 0;
	}
	if (strncmp(s, "sha256:", 7) == 0 && strchr(s, '/') == NULL && strchr(s, '@') == NULL) {
		if (!is_hex64(s + 7, len - 7))
			return fail(err, s, "image id must be \"sha256:\" and 64 lowercase hex digits");
		out->kind = IMAGE_REF_ID;
		out->id = xstrdup(s);
		return 0;
	}

	if (len > 4096)
		return fail(err, s, "reference is too long");
	cleanup_free char *buf = xstrdup(s);
	char *name = buf;

	/* name [":" tag] ["@" digest] */
	char *at = strchr(name, '@');
	if (at) {
		*at = '\0';
		const char *dg = at + 1;
		cleanup_err ocid_error *derr = NULL;
		if (digest_parse(dg, NULL, &derr) < 0)
			return fail(err, s, "%s", derr->msg);
	}
	char *tag = NULL;
	char *colon = strrchr(name, ':');
	char *slash = strrchr(name, '/');
	if (colon && (slash == NULL || colon > slash)) {
		*colon = '\0';
		tag = colon + 1;
		if (!image_tag_valid(tag))
			return fail(err, s,
				    "invalid tag \"%s\" (want [A-Za-z0-9_][A-Za-z0-9_.-]{0,127})",
				    tag);
	}
	if (*name == '\0')
		return fail(err, s, "repository name is empty");
	if (strlen(name) > IMAGE_NAME_MAX)
		return fail(err, s, "repository name is longer than 255 characters");

	/* domain: the first component, if it looks like a host */
	const char *domain = NULL;
	char *remainder = name;
	char *first_slash = strchr(name, '/');
	if (first_slash) {
		size_t flen = (size_t)(first_slash - name);
		bool is_domain = memchr(name, '.', flen) || memchr(name, ':', flen) ||
				 (flen == 9 && memcmp(name, "localhost", 9) == 0);
		for (size_t i = 0; !is_domain && i < flen; i++)
			if (name[i] >= 'A' && name[i] <= 'Z')
				is_domain = true;
		if (is_domain) {
			*first_slash = '\0';
			domain = name;
			remainder = first_slash + 1;
			if (!domain_valid_n(domain, flen))
				return fail(err, s, "invalid registry name \"%s\"", domain);
		}
	}
	const char *problem = path_problem(remainder);
	if (problem)
		return fail(err, s, "%s", problem);
	if (domain == NULL && is_hex64(remainder, strlen(remainder)))
		return fail(err, s,
			    "a repository name cannot be 64 hexadecimal digits (it is an image id)");

	out->kind = IMAGE_REF_NAMED;
	out->short_name = domain == NULL;
	if (out->short_name)
		out->short_path = xstrdup(remainder);
	set_name(out, domain ? domain : IMAGE_DEFAULT_DOMAIN, remainder);
	if (tag)
		out->tag = xstrdup(tag);
	if (at)
		out->digest = xstrdup(at + 1);
	if (out->tag == NULL && out->digest == NULL)
		out->tag = xstrdup(IMAGE_DEFAULT_TAG);
	return 0;
}

char *image_ref_string(const struct image_ref *r)
{
	if (r->kind == IMAGE_REF_ID)
		return xstrdup(r->id);
	return xasprintf("%s/%s%s%s%s%s", r->domain, r->path, r->tag ? ":" : "",
			 r->tag ? r->tag : "", r->digest ? "@" : "", r->digest ? r->digest : "");
}

char *image_ref_repo(const struct image_ref *r)
{
	if (r->kind == IMAGE_REF_ID)
		return NULL;
	return xasprintf("%s/%s", r->domain, r->path);
}

char *image_ref_repo_tag(const struct image_ref *r)
{
	if (r->kind == IMAGE_REF_ID || r->tag == NULL)
		return NULL;
	return xasprintf("%s/%s:%s", r->domain, r->path, r->tag);
}

char *image_ref_repo_digest(const struct image_ref *r, const char *digest)
{
	if (r->kind == IMAGE_REF_ID)
		return NULL;
	return xasprintf("%s/%s@%s", r->domain, r->path, digest);
}

const char *image_ref_manifest_ref(const struct image_ref *r)
{
	return r->digest ? r->digest : r->tag;
}

void image_ref_array_free(struct image_ref *refs, size_t n)
{
	if (refs == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		image_ref_clear(&refs[i]);
	free(refs);
}

int image_ref_candidates(const struct image_ref *r, char *const *search,
			 struct image_ref **out, size_t *n, ocid_error **err)
{
	*out = NULL;
	*n = 0;
	if (r->kind == IMAGE_REF_ID)
		return err_set(err, GRPC_INVALID_ARGUMENT,
			       "image id %s cannot be pulled: name a repository", r->id);
	if (!r->short_name) {
		struct image_ref *v = xcalloc(1, sizeof(*v));
		image_ref_copy(&v[0], r);
		*out = v;
		*n = 1;
		return 0;
	}
	const char *bare = r->short_path ? r->short_path : r->path;

	static char *const default_search[] = {(char *)IMAGE_DEFAULT_DOMAIN, NULL};
	if (search == NULL || search[0] == NULL)
		search = default_search;
	size_t count = 0;
	while (search[count])
		count++;
	struct image_ref *v = xcalloc(count, sizeof(*v));
	size_t k = 0;
	for (size_t i = 0; i < count; i++) {
		const char *dom = image_domain_normalize(search[i]);
		if (!image_domain_valid(dom)) {
			image_ref_array_free(v, k);
			return err_set(err, GRPC_INVALID_ARGUMENT,
				       "invalid registry \"%s\" in the search list", search[i]);
		}
		/* skip duplicates (docker.io and index.docker.io) */
		bool dup = false;
		for (size_t j = 0; j < k; j++)
			if (strcmp(v[j].domain, dom) == 0)
				dup = true;
		if (dup)
			continue;
		struct image_ref *c = &v[k++];
		c->kind = IMAGE_REF_NAMED;
		c->short_name = false;
		set_name(c, dom, bare);
		c->tag = dup_or_null(r->tag);
		c->digest = dup_or_null(r->digest);
	}
	*out = v;
	*n = k;
	return 0;
}
