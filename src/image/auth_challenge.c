#include "image/auth_challenge.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/xalloc.h"

static bool is_tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool is_token68_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("-._~+/", c) != NULL);
}

static const char *skip_ows(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

static size_t token_len(const char *p)
{
	size_t n = 0;
	while (is_tchar(p[n]))
		n++;
	return n;
}

static char *lower_dup(const char *s, size_t n)
{
	char *r = xmalloc(n + 1);
	for (size_t i = 0; i < n; i++)
		r[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] - 'A' + 'a') : s[i];
	r[n] = '\0';
	return r;
}

static char *dup_n(const char *s, size_t n)
{
	char *r = xmalloc(n + 1);
	memcpy(r, s, n);
	r[n] = '\0';
	return r;
}

/* After a name at p (a token), is there BWS "=" BWS followed by a value? */
static bool is_param_start(const char *p)
{
	size_t n = token_len(p);
	if (n == 0)
		return false;
	const char *q = skip_ows(p + n);
	if (*q != '=')
		return false;
	q = skip_ows(q + 1);
	return *q == '"' || is_tchar(*q);
}

static void challenge_clear(struct auth_challenge *c)
{
	free(c->scheme);
	free(c->token68);
	for (size_t i = 0; i < c->n_params; i++) {
		free(c->params[i].name);
		free(c->params[i].value);
	}
	free(c->params);
	memset(c, 0, sizeof(*c));
}

void auth_challenges_free(struct auth_challenge *list, size_t n)
{
	if (list == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		challenge_clear(&list[i]);
	free(list);
}

/* Parses a value (token or quoted-string) at *pp into a malloc'd string. */
static char *parse_value(const char **pp)
{
	const char *p = *pp;
	if (*p != '"') {
		size_t n = token_len(p);
		if (n == 0)
			return NULL;
		*pp = p + n;
		return dup_n(p, n);
	}
	p++;
	size_t cap = strlen(p) + 1, len = 0;
	char *out = xmalloc(cap);
	for (;;) {
		char c = *p++;
		if (c == '\0') {
			free(out);
			return NULL; /* unterminated */
		}
		if (c == '"')
			break;
		if (c == '\\') {
			if (*p == '\0') {
				free(out);
				return NULL;
			}
			c = *p++;
		}
		out[len++] = c;
	}
	out[len] = '\0';
	*pp = p;
	return out;
}

int auth_challenges_parse(const char *value, struct auth_challenge **list, size_t *n,
			  ocid_error **err)
{
	struct auth_challenge *v = NULL;
	size_t count = 0;
	const char *p = value;
	const char *why = NULL;

	for (;;) {
		/* empty list elements are allowed */
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		size_t sl = token_len(p);
		if (sl == 0) {
			why = "expected an authentication scheme";
			goto bad;
		}
		v = xrealloc(v, (count + 1) * sizeof(*v));
		struct auth_challenge *c = &v[count++];
		memset(c, 0, sizeof(*c));
		c->scheme = lower_dup(p, sl);
		p += sl;
		if (*p != ' ' && *p != '\t' && *p != ',' && *p != '\0') {
			why = "bad character after the scheme";
			goto bad;
		}
		p = skip_ows(p);
		if (*p == '\0')
			break;
		if (*p == ',')
			continue; /* a scheme without parameters, then the next challenge */

		/* token68? */
		if (!is_param_start(p)) {
			size_t t = 0;
			while (is_token68_char(p[t]))
				t++;
			if (t == 0) {
				why = "expected parameters or a token68";
				goto bad;
			}
			while (p[t] == '=')
				t++;
			c->token68 = dup_n(p, t);
			p = skip_ows(p + t);
			if (*p != ',' && *p != '\0') {
				why = "junk after token68";
				goto bad;
			}
			continue;
		}

		/* #auth-param; a comma followed by something that is not name=value
		 * starts the next challenge. */
		for (;;) {
			size_t nl = token_len(p);
			char *name = lower_dup(p, nl);
			p = skip_ows(p + nl);
			p = skip_ows(p + 1); /* '=' (checked by is_param_start) */
			char *val = parse_value(&p);
			if (val == NULL) {
				free(name);
				why = "unterminated or missing parameter value";
				goto bad;
			}
			c->params = xrealloc(c->params, (c->n_params + 1) * sizeof(*c->params));
			c->params[c->n_params++] = (struct auth_param){name, val};
			p = skip_ows(p);
			if (*p == '\0')
				break;
			if (*p != ',') {
				why = "expected ',' between parameters";
				goto bad;
			}
			const char *q = p;
			while (*q == ' ' || *q == '\t' || *q == ',')
				q++;
			if (!is_param_start(q))
				break; /* next challenge (or the end) */
			p = q;
		}
	}

	if (count > 0) {
		*list = xrealloc(*list, (*n + count) * sizeof(**list));
		memcpy(*list + *n, v, count * sizeof(*v));
		*n += count;
	}
	free(v);
	return 0;
bad:
	auth_challenges_free(v, count);
	return err_set(err, GRPC_INVALID_ARGUMENT, "malformed WWW-Authenticate header: %s", why);
}

const char *auth_challenge_param(const struct auth_challenge *c, const char *name)
{
	for (size_t i = 0; i < c->n_params; i++)
		if (strcasecmp(c->params[i].name, name) == 0)
			return c->params[i].value;
	return NULL;
}

const struct auth_challenge *auth_challenge_find(const struct auth_challenge *list, size_t n,
						 const char *scheme)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(list[i].scheme, scheme) == 0)
			return &list[i];
	return NULL;
}
