/* Registry credentials, WWW-Authenticate challenges and bearer tokens. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "image/auth_challenge.h"
#include "image/registry_internal.h"
#include "util/cleanup.h"
#include "util/log.h"
#include "util/xalloc.h"

char *registry_base64_encode(const void *buf, size_t len)
{
	char *out = xmalloc(4 * ((len + 2) / 3) + 1);
	EVP_EncodeBlock((unsigned char *)out, buf, (int)len);
	return out;
}

static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int registry_base64_decode(const char *s, char **out, size_t *len)
{
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
		n--;
	size_t pad = 0;
	while (pad < 2 && n > pad && s[n - 1 - pad] == '=')
		pad++;
	size_t data = n - pad;
	/* unpadded input is accepted too */
	if (pad > 0 && n % 4 != 0)
		return -1;
	if (data % 4 == 1)
		return -1;
	char *o = xmalloc(data * 3 / 4 + 1);
	size_t k = 0;
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < data; i++) {
		int v = b64_value(s[i]);
		if (v < 0) {
			free(o);
			return -1;
		}
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			o[k++] = (char)((acc >> bits) & 0xff);
		}
	}
	o[k] = '\0';
	*out = o;
	*len = k;
	return 0;
}

/* Visible ASCII only: values that go into a header line. */
static bool header_safe(const char *s)
{
	if (s == NULL || *s == '\0')
		return false;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x21 || *p > 0x7e)
			return false;
	return true;
}

static char *dup_nonempty(const char *s) { return s && *s ? xstrdup(s) : NULL; }

int registry_auth_init(struct registry_client *c, const struct registry_credentials *creds,
		       ocid_error **err)
{
	if (creds == NULL)
		return 0;
	if (creds->registry_token && *creds->registry_token) {
		if (!header_safe(creds->registry_token))
			return err_set(err, GRPC_INVALID_ARGUMENT,
				       "registry_token contains characters not allowed in a header");
		c->registry_token = xstrdup(creds->registry_token);
	}
	c->identity_token = dup_nonempty(creds->identity_token);
	if (creds->username && *creds->username) {
		c->username = xstrdup(creds->username);
		c->password = xstrdup(creds->password ? creds->password : "");
	} else if (creds->auth && *creds->auth) {
		char *dec = NULL;
		size_t len = 0;
		if (registry_base64_decode(creds->auth, &dec, &len) < 0)
			return err_set(err, GRPC_INVALID_ARGUMENT, "auth: not valid base64");
		char *colon = strchr(dec, ':');
		if (strlen(dec) != len || colon == NULL || colon == dec) {
			free(dec);
			return err_set(err, GRPC_INVALID_ARGUMENT,
				       "auth: expected base64 of \"username:password\"");
		}
		*colon = '\0';
		c->username = xstrdup(dec);
		c->password = xstrdup(colon + 1);
		explicit_bzero(dec, len);
		free(dec);
	}
	if (c->username && (strchr(c->username, ':') || strpbrk(c->username, "\r\n")))
		return err_set(err, GRPC_INVALID_ARGUMENT, "username must not contain ':' or newlines");
	return 0;
}

static void zfree(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

void registry_auth_free(struct registry_client *c)
{
	zfree(c->username);
	zfree(c->password);
	zfree(c->identity_token);
	zfree(c->registry_token);
	for (size_t i = 0; i < c->n_tokens; i++) {
		free(c->tokens[i].host);
		free(c->tokens[i].scope);
		zfree(c->tokens[i].token);
	}
	free(c->tokens);
	for (size_t i = 0; i < c->n_hosts; i++) {
		free(c->hosts[i].host);
		free(c->hosts[i].realm);
		free(c->hosts[i].service);
	}
	free(c->hosts);
}

struct host_state *registry_host_state(struct registry_client *c, const char *host)
{
	for (size_t i = 0; i < c->n_hosts; i++)
		if (strcmp(c->hosts[i].host, host) == 0)
			return &c->hosts[i];
	c->hosts = xrealloc(c->hosts, (c->n_hosts + 1) * sizeof(*c->hosts));
	struct host_state *h = &c->hosts[c->n_hosts++];
	memset(h, 0, sizeof(*h));
	h->host = xstrdup(host);
	return h;
}

static bool have_password(const struct registry_client *c, const struct registry_endpoint *ep)
{
	return !ep->mirror && c->username != NULL;
}

static char *basic_value(const struct registry_client *c)
{
	cleanup_free char *up = xasprintf("%s:%s", c->username, c->password);
	cleanup_free char *b = registry_base64_encode(up, strlen(up));
	explicit_bzero(up, strlen(up));
	return xasprintf("Basic %s", b);
}

/* A cached, unexpired token (copied), or NULL. Call with the lock held. */
static char *cached_token(struct registry_client *c, const char *host, const char *scope)
{
	int64_t now = registry_now_ns();
	for (size_t i = 0; i < c->n_tokens; i++) {
		struct token_entry *t = &c->tokens[i];
		if (strcmp(t->host, host) == 0 && strcmp(t->scope, scope) == 0)
			return t->expires_ns > now ? xstrdup(t->token) : NULL;
	}
	return NULL;
}

static void store_token(struct registry_client *c, const char *host, const char *scope,
			const char *token, int64_t expires_ns)
{
	pthread_mutex_lock(&c->lock);
	struct token_entry *t = NULL;
	for (size_t i = 0; i < c->n_tokens; i++)
		if (strcmp(c->tokens[i].host, host) == 0 && strcmp(c->tokens[i].scope, scope) == 0)
			t = &c->tokens[i];
	if (t == NULL) {
		c->tokens = xrealloc(c->tokens, (c->n_tokens + 1) * sizeof(*c->tokens));
		t = &c->tokens[c->n_tokens++];
		t->host = xstrdup(host);
		t->scope = xstrdup(scope);
	} else {
		zfree(t->token);
	}
	t->token = xstrdup(token);
	t->expires_ns = expires_ns;
	pthread_mutex_unlock(&c->lock);
}

static void drop_token(struct registry_client *c, const char *host, const char *scope)
{
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->n_tokens; i++)
		if (strcmp(c->tokens[i].host, host) == 0 && strcmp(c->tokens[i].scope, scope) == 0)
			c->tokens[i].expires_ns = 0;
	pthread_mutex_unlock(&c->lock);
}

static char *escape(const char *s)
{
	char *e = curl_easy_escape(NULL, s, 0);
	if (e == NULL)
		abort();
	char *r = xstrdup(e);
	curl_free(e);
	return r;
}

/* Fetches a bearer token from realm for scope, caching it. */
static int fetch_token(struct registry_client *c, const struct registry_endpoint *ep,
		       const char *realm, const char *service, const char *scope,
		       const struct registry_cancel *cancel, ocid_error **err)
{
	bool https = strncasecmp(realm, "https://", 8) == 0;
	bool http = strncasecmp(realm, "http://", 7) == 0;
	if (!https && !(http && ep->insecure))
		return err_set(err, GRPC_UNAUTHENTICATED,
			       "%s: token realm \"%.200s\" is not an https URL", ep->host, realm);

	bool use_refresh = !ep->mirror && c->identity_token != NULL;
	cleanup_free char *url = NULL, *form = NULL, *authz = NULL;
	cleanup_free char *e_service = service ? escape(service) : NULL;
	cleanup_free char *e_scope = escape(scope);
	if (use_refresh) {
		cleanup_free char *e_tok = escape(c->identity_token);
		url = xstrdup(realm);
		form = xasprintf("grant_type=refresh_token&refresh_token=%s&client_id=ocid%s%s&scope=%s",
				 e_tok, service ? "&service=" : "", service ? e_service : "", e_scope);
	} else {
		cleanup_free char *e_account = have_password(c, ep) ? escape(c->username) : NULL;
		url = xasprintf("%s%s%s%s%sscope=%s%s%s", realm, strchr(realm, '?') ? "&" : "?",
				service ? "service=" : "", service ? e_service : "", service ? "&" : "",
				e_scope, e_account ? "&account=" : "", e_account ? e_account : "");
		if (have_password(c, ep))
			authz = basic_value(c);
	}

	struct http_request req = {
		.method = use_refresh ? "POST" : "GET",
		.url = url,
		.accept = "application/json",
		.authorization = authz,
		.form_body = form,
		.verify_tls = !ep->insecure,
		.max_body = REGISTRY_TOKEN_BODY_MAX,
	};
	struct http_response resp = {.content_length = -1};
	int attempt = 0;
	int rc = -1;
	for (;;) {
		if (http_perform(c, &req, cancel, &resp) < 0) {
			if (resp.error) {
				*err = resp.error;
				resp.error = NULL;
				goto out;
			}
			if (registry_curl_transient(resp.curl) && ++attempt < c->max_attempts) {
				if (registry_backoff(c, attempt, NULL, cancel, err) < 0)
					goto out;
				continue;
			}
			registry_transport_error(&req, &resp, err);
			err_prefix(err, "getting a token for %s", ep->host);
			goto out;
		}
		if (registry_status_transient(resp.status) && ++attempt < c->max_attempts) {
			if (registry_backoff(c, attempt, resp.retry_after, cancel, err) < 0)
				goto out;
			continue;
		}
		break;
	}
	if (resp.status == 401 || resp.status == 403) {
		cleanup_free char *msg = registry_body_message(resp.body, resp.len);
		err_set(err, resp.status == 401 ? GRPC_UNAUTHENTICATED : GRPC_PERMISSION_DENIED,
			"%s: the token server refused %s%s%s", ep->host,
			use_refresh || have_password(c, ep) ? "the credentials" : "anonymous access",
			msg ? ": " : "", msg ? msg : "");
		goto out;
	}
	if (resp.status < 200 || resp.status > 299) {
		registry_status_error(&req, &resp, err);
		err_prefix(err, "getting a token for %s", ep->host);
		goto out;
	}
	json_error_t jerr;
	json_t *root = json_loadb(resp.body ? resp.body : "", resp.len, 0, &jerr);
	const char *tok = NULL;
	if (root) {
		tok = json_string_value(json_object_get(root, "token"));
		if (tok == NULL || *tok == '\0')
			tok = json_string_value(json_object_get(root, "access_token"));
	}
	if (tok == NULL || !header_safe(tok)) {
		json_decref(root);
		err_set(err, GRPC_UNAUTHENTICATED, "%s: the token server's reply has no usable token",
			ep->host);
		goto out;
	}
	json_int_t expires_in = 60;
	json_t *ei = json_object_get(root, "expires_in");
	if (json_is_integer(ei) && json_integer_value(ei) > 60)
		expires_in = json_integer_value(ei);
	if (expires_in > 24 * 3600)
		expires_in = 24 * 3600;
	/* renew a little early so a token does not expire in flight */
	int64_t expires = registry_now_ns() + (int64_t)(expires_in - 10) * 1000000000LL;
	store_token(c, ep->host, scope, tok, expires);
	json_decref(root);
	rc = 0;
out:
	if (form)
		explicit_bzero(form, strlen(form));
	http_response_clear(&resp);
	return rc;
}

int registry_auth_header(struct registry_client *c, const struct registry_endpoint *ep,
			 const char *scope, const struct registry_cancel *cancel, char **out,
			 ocid_error **err)
{
	*out = NULL;
	if (c->registry_token && !ep->mirror) {
		*out = xasprintf("Bearer %s", c->registry_token);
		return 0;
	}
	pthread_mutex_lock(&c->lock);
	struct host_state *h = registry_host_state(c, ep->host);
	enum host_auth_scheme scheme = h->auth;
	cleanup_free char *realm = h->realm ? xstrdup(h->realm) : NULL;
	cleanup_free char *service = h->service ? xstrdup(h->service) : NULL;
	cleanup_free char *tok = scheme == HOST_AUTH_BEARER ? cached_token(c, ep->host, scope) : NULL;
	pthread_mutex_unlock(&c->lock);

	if (scheme == HOST_AUTH_BASIC) {
		if (have_password(c, ep))
			*out = basic_value(c);
		return 0;
	}
	if (scheme != HOST_AUTH_BEARER)
		return 0;
	if (tok == NULL) {
		/* the host wants tokens: get one for this scope before asking */
		if (fetch_token(c, ep, realm, service, scope, cancel, err) < 0)
			return -1;
		pthread_mutex_lock(&c->lock);
		tok = cached_token(c, ep->host, scope);
		pthread_mutex_unlock(&c->lock);
		if (tok == NULL)
			return 0;
	}
	*out = xasprintf("Bearer %s", tok);
	return 0;
}

int registry_auth_challenge(struct registry_client *c, const struct registry_endpoint *ep,
			    const char *scope, const struct http_request *req,
			    const struct http_response *resp, const char *sent, int seen,
			    const struct registry_cancel *cancel, ocid_error **err)
{
	cleanup_free char *url = registry_url_for_log(req->url);
	cleanup_free char *msg = registry_body_message(resp->body, resp->len);
#define REFUSED(what)                                                                         \
	err_set(err, GRPC_UNAUTHENTICATED, "%s %s: 401 Unauthorized (%s)%s%s", req->method, url, \
		what, msg ? ": " : "", msg ? msg : "")

	struct auth_challenge *ch = NULL;
	size_t n = 0;
	for (size_t i = 0; i < resp->n_www_auth; i++) {
		cleanup_err ocid_error *perr = NULL;
		if (auth_challenges_parse(resp->www_auth[i], &ch, &n, &perr) < 0) {
			char esc[256];
			log_escape(perr->msg, esc, sizeof(esc));
			log_warn("ignoring a malformed WWW-Authenticate header", "host=%s error=\"%s\"",
				 ep->host, esc);
		}
	}
	int rc = -1;
	const struct auth_challenge *bearer = auth_challenge_find(ch, n, "bearer");
	const struct auth_challenge *basic = auth_challenge_find(ch, n, "basic");

	if (c->registry_token && !ep->mirror) {
		REFUSED("the registry token was refused");
		goto out;
	}
	if (bearer) {
		const char *realm = auth_challenge_param(bearer, "realm");
		const char *service = auth_challenge_param(bearer, "service");
		if (realm == NULL || *realm == '\0') {
			REFUSED("the Bearer challenge has no realm");
			goto out;
		}
		bool sent_bearer = sent && strncmp(sent, "Bearer ", 7) == 0;
		pthread_mutex_lock(&c->lock);
		struct host_state *h = registry_host_state(c, ep->host);
		h->auth = HOST_AUTH_BEARER;
		free(h->realm);
		free(h->service);
		h->realm = xstrdup(realm);
		h->service = service ? xstrdup(service) : NULL;
		pthread_mutex_unlock(&c->lock);
		if (sent_bearer) {
			drop_token(c, ep->host, scope);
			if (seen > 0) {
				/* a token fetched for this very request was refused */
				REFUSED(have_password(c, ep) || (c->identity_token && !ep->mirror)
						? "access denied with the given credentials"
						: "anonymous access denied; credentials may be required");
				goto out;
			}
		}
		/* Ask for our own scope: the challenge's names the same repository
		 * (and may ask for actions a pull does not need). */
		rc = fetch_token(c, ep, realm, service, scope, cancel, err);
		goto out;
	}
	if (basic) {
		if (!have_password(c, ep)) {
			REFUSED(ep->mirror ? "the mirror requires credentials; none are sent to mirrors"
					   : "the registry requires credentials and none were given");
			goto out;
		}
		if (sent && strncmp(sent, "Basic ", 6) == 0) {
			REFUSED("the credentials were refused");
			goto out;
		}
		pthread_mutex_lock(&c->lock);
		registry_host_state(c, ep->host)->auth = HOST_AUTH_BASIC;
		pthread_mutex_unlock(&c->lock);
		rc = 0;
		goto out;
	}
	REFUSED(n ? "no supported authentication scheme offered" : "no WWW-Authenticate challenge");
out:
	auth_challenges_free(ch, n);
	return rc;
#undef REFUSED
}
