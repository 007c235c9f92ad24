/* One HTTP exchange on libcurl, and the failure classification and
 * messages shared by the registry operations. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "image/registry_internal.h"
#include "util/cleanup.h"
#include "util/xalloc.h"

int64_t registry_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int registry_check_cancel(const struct registry_cancel *cancel, ocid_error **err)
{
	if (cancel == NULL)
		return 0;
	if (cancel->cancelled && cancel->cancelled(cancel->opaque))
		return err_set(err, GRPC_CANCELLED, "cancelled");
	if (cancel->deadline_ns > 0 && registry_now_ns() >= cancel->deadline_ns)
		return err_set(err, GRPC_DEADLINE_EXCEEDED, "deadline exceeded");
	return 0;
}

int registry_backoff(struct registry_client *c, int attempt, const char *retry_after,
		     const struct registry_cancel *cancel, ocid_error **err)
{
	int64_t ms = c->backoff_initial_ms;
	for (int i = 1; i < attempt && ms < 8000; i++)
		ms *= 2;
	if (ms > 8000)
		ms = 8000;
	/* jitter: up to +25% */
	pthread_mutex_lock(&c->lock);
	c->rng ^= c->rng << 13;
	c->rng ^= c->rng >> 7;
	c->rng ^= c->rng << 17;
	uint64_t r = c->rng;
	pthread_mutex_unlock(&c->lock);
	ms += (int64_t)(r % (uint64_t)(ms / 4 + 1));
	if (retry_after) {
		char *end;
		errno = 0;
		long s = strtol(retry_after, &end, 10);
		if (errno == 0 && end != retry_after && s >= 0) {
			if (s > 30)
				s = 30;
			if (s * 1000 > ms)
				ms = s * 1000;
		}
	}
	int64_t until = registry_now_ns() + ms * 1000000LL;
	if (cancel && cancel->deadline_ns > 0 && until >= cancel->deadline_ns)
		return err_set(err, GRPC_DEADLINE_EXCEEDED, "deadline exceeded before the next attempt");
	for (;;) {
		if (registry_check_cancel(cancel, err) < 0)
			return -1;
		int64_t left = until - registry_now_ns();
		if (left <= 0)
			return 0;
		if (left > 50000000)
			left = 50000000;
		struct timespec ts = {0, (long)left};
		nanosleep(&ts, NULL);
	}
}

bool registry_curl_transient(CURLcode code)
{
	switch (code) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP3:
		return true;
	default:
		return false;
	}
}

bool registry_status_transient(long status)
{
	return status == 408 || status == 429 || (status >= 500 && status <= 599 && status != 501 &&
						   status != 505);
}

char *registry_url_for_log(const char *url)
{
	size_t n = strcspn(url, "?#");
	if (n > 300)
		n = 300;
	return strndup(url, n);
}

char *registry_url_origin(const char *url)
{
	if (curl_lazy_load(NULL) < 0)
		return NULL;
	CURLU *u = curl_url();
	if (u == NULL)
		return NULL;
	char *scheme = NULL, *host = NULL, *port = NULL, *out = NULL;
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK) {
		out = xasprintf("%s://%s:%s", scheme, host, port);
		for (char *p = out; *p; p++)
			*p = (char)tolower((unsigned char)*p);
	}
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return out;
}

static char *printable_prefix(const char *body, size_t len)
{
	size_t n = len < 300 ? len : 300;
	char *s = xmalloc(n + 1);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)body[i];
		if (ch == '\n' || ch == '\r' || ch == '\t')
			ch = ' ';
		if (ch < 0x20 || ch >= 0x7f) {
			free(s);
			return NULL;
		}
		s[k++] = (char)ch;
	}
	while (k > 0 && s[k - 1] == ' ')
		k--;
	s[k] = '\0';
	if (k == 0 || s[0] == '<') { /* nothing, or an HTML page */
		free(s);
		return NULL;
	}
	return s;
}

char *registry_body_message(const char *body, size_t len)
{
	if (body == NULL || len == 0)
		return NULL;
	json_error_t jerr;
	json_t *root = json_loadb(body, len, 0, &jerr);
	if (root == NULL)
		return printable_prefix(body, len);
	char *out = NULL;
	size_t olen = 0;
	FILE *f = open_memstream(&out, &olen);
	if (f == NULL)
		abort();
	json_t *errors = json_object_get(root, "errors");
	size_t shown = 0;
	if (json_is_array(errors)) {
		size_t i;
		json_t *e;
		json_array_foreach(errors, i, e) {
			if (shown == 4)
				break;
			const char *msg = json_string_value(json_object_get(e, "message"));
			const char *code = json_string_value(json_object_get(e, "code"));
			if (msg == NULL && code == NULL)
				continue;
			fprintf(f, "%s%.300s", shown ? "; " : "", msg ? msg : code);
			if (msg && code)
				fprintf(f, " (%.64s)", code);
			shown++;
		}
	}
	if (shown == 0) {
		/* token servers: {"details": ...} or OAuth {"error": ..., "error_description": ...} */
		static const char *const keys[] = {"details", "error_description", "error", "message"};
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]) && shown == 0; i++) {
			const char *s = json_string_value(json_object_get(root, keys[i]));
			if (s && *s) {
				fprintf(f, "%.300s", s);
				shown++;
			}
		}
	}
	fclose(f);
	json_decref(root);
	if (shown == 0) {
		free(out);
		return NULL;
	}
	/* keep messages on one printable line */
	for (char *p = out; *p; p++)
		if ((unsigned char)*p < 0x20)
			*p = ' ';
	return out;
}

int registry_transport_error(const struct http_request *req, const struct http_response *resp,
			     ocid_error **err)
{
	cleanup_free char *url = registry_url_for_log(req->url);
	const char *detail = resp->errbuf[0] ? resp->errbuf : curl_easy_strerror(resp->curl);
	enum grpc_code code = GRPC_UNAVAILABLE;
	if (resp->curl == CURLE_URL_MALFORMAT || resp->curl == CURLE_UNSUPPORTED_PROTOCOL)
		code = GRPC_INVALID_ARGUMENT;
	if (resp->curl == CURLE_PEER_FAILED_VERIFICATION)
		return err_set(err, code, "%s %s: TLS certificate verification failed: %s", req->method,
			       url, detail);
	return err_set(err, code, "%s %s: %s", req->method, url, detail);
}

static const char *status_text(long s)
{
	switch (s) {
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 416: return "Range Not Satisfiable";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return "";
	}
}

int registry_status_error(const struct http_request *req, const struct http_response *resp,
			  ocid_error **err)
{
	cleanup_free char *url = registry_url_for_log(req->url);
	cleanup_free char *msg = registry_body_message(resp->body, resp->len);
	enum grpc_code code;
	long s = resp->status;
	if (s == 400)
		code = GRPC_INVALID_ARGUMENT;
	else if (s == 401)
		code = GRPC_UNAUTHENTICATED;
	else if (s == 403)
		code = GRPC_PERMISSION_DENIED;
	else if (s == 404)
		code = GRPC_NOT_FOUND;
	else if (registry_status_transient(s))
		code = GRPC_UNAVAILABLE;
	else
		code = GRPC_UNKNOWN;
	const char *text = status_text(s);
	return err_set(err, code, "%s %s: %ld%s%s%s%s", req->method, url, s, *text ? " " : "", text,
		       msg ? ": " : "", msg ? msg : "");
}

void http_response_clear(struct http_response *r)
{
	free(r->content_type);
	free(r->docker_digest);
	free(r->content_range);
	free(r->retry_after);
	free(r->redirect_url);
	for (size_t i = 0; i < r->n_www_auth; i++)
		free(r->www_auth[i]);
	free(r->www_auth);
	free(r->body);
	err_free(r->error);
	memset(r, 0, sizeof(*r));
	r->content_length = -1;
}

/* New response headers (a new status line): forget the previous ones. */
static void reset_headers(struct http_response *r)
{
	free(r->content_type);
	free(r->docker_digest);
	free(r->content_range);
	free(r->retry_after);
	for (size_t i = 0; i < r->n_www_auth; i++)
		free(r->www_auth[i]);
	free(r->www_auth);
	r->content_type = r->docker_digest = r->content_range = r->retry_after = NULL;
	r->www_auth = NULL;
	r->n_www_auth = 0;
	r->content_length = -1;
	r->status = 0;
}

static char *trimmed(const char *v, size_t n)
{
	while (n > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		n--;
	}
	while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t' || v[n - 1] == '\r' || v[n - 1] == '\n'))
		n--;
	char *s = xmalloc(n + 1);
	memcpy(s, v, n);
	s[n] = '\0';
	return s;
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *ud)
{
	struct http_response *r = ud;
	size_t n = size * nitems;
	if (n >= 5 && memcmp(buf, "HTTP/", 5) == 0) {
		reset_headers(r);
		const char *sp = memchr(buf, ' ', n);
		if (sp && (size_t)(sp - buf) + 4 <= n && isdigit((unsigned char)sp[1]) &&
		    isdigit((unsigned char)sp[2]) && isdigit((unsigned char)sp[3]))
			r->status = (sp[1] - '0') * 100 + (sp[2] - '0') * 10 + (sp[3] - '0');
		return n;
	}
	const char *colon = memchr(buf, ':', n);
	if (colon == NULL)
		return n;
	size_t nl = (size_t)(colon - buf);
	const char *v = colon + 1;
	size_t vl = n - nl - 1;
#define IS(name) (nl == sizeof(name) - 1 && strncasecmp(buf, name, nl) == 0)
	if (IS("content-type")) {
		free(r->content_type);
		r->content_type = trimmed(v, vl);
	} else if (IS("docker-content-digest")) {
		free(r->docker_digest);
		r->docker_digest = trimmed(v, vl);
	} else if (IS("content-range")) {
		free(r->content_range);
		r->content_range = trimmed(v, vl);
	} else if (IS("retry-after")) {
		free(r->retry_after);
		r->retry_after = trimmed(v, vl);
	} else if (IS("content-length")) {
		cleanup_free char *s = trimmed(v, vl);
		char *end;
		errno = 0;
		long long x = strtoll(s, &end, 10);
		if (errno == 0 && end != s && *end == '\0' && x >= 0)
			r->content_length = x;
	} else if (IS("www-authenticate") && r->n_www_auth < 16) {
		r->www_auth = xrealloc(r->www_auth, (r->n_www_auth + 1) * sizeof(char *));
		r->www_auth[r->n_www_auth++] = trimmed(v, vl);
	}
#undef IS
	return n;
}

static bool is_2xx(long s) { return s >= 200 && s <= 299; }

static size_t on_write(char *buf, size_t size, size_t nmemb, void *ud)
{
	struct http_response *r = ud;
	const struct http_request *req = r->req;
	size_t n = size * nmemb;
	if (is_2xx(r->status) && req->on_data) {
		if (!r->started) {
			r->started = true;
			if (req->on_start && req->on_start(req->opaque, r, &r->error) < 0)
				return 0;
		}
		if (req->on_data(req->opaque, buf, n, &r->error) < 0)
			return 0;
		return n;
	}
	size_t limit = is_2xx(r->status) ? req->max_body : REGISTRY_ERROR_BODY_MAX;
	if (r->len + n > limit) {
		if (is_2xx(r->status)) {
			cleanup_free char *url = registry_url_for_log(req->url);
			err_set(&r->error, GRPC_RESOURCE_EXHAUSTED,
				"%s %s: response body exceeds the %zu byte limit", req->method, url, limit);
			return 0;
		}
		r->truncated = true;
		n = limit - r->len;
		if (n == 0)
			return size * nmemb;
	}
	if (r->len + n + 1 > r->cap) {
		size_t cap = r->cap ? r->cap : 4096;
		while (cap < r->len + n + 1)
			cap *= 2;
		r->body = xrealloc(r->body, cap);
		r->cap = cap;
	}
	memcpy(r->body + r->len, buf, n);
	r->len += n;
	r->body[r->len] = '\0';
	return size * nmemb;
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	struct http_response *r = ud;
	if (registry_check_cancel(r->cancel, &r->error) < 0)
		return 1;
	return 0;
}

int http_perform(struct registry_client *c, const struct http_request *req,
		 const struct registry_cancel *cancel, struct http_response *resp)
{
	http_response_clear(resp);
	resp->req = req;
	resp->cancel = cancel;
	if (registry_check_cancel(cancel, &resp->error) < 0)
		return -1;

	CURL *h = curl_easy_init();
	if (h == NULL) {
		err_set(&resp->error, GRPC_RESOURCE_EXHAUSTED, "cannot create a curl handle");
		return -1;
	}
	struct curl_slist *headers = NULL;
	cleanup_free char *auth_h = NULL, *accept_h = NULL, *range_h = NULL;
	if (req->accept) {
		accept_h = xasprintf("Accept: %s", req->accept);
		headers = curl_slist_append(headers, accept_h);
	}
	if (req->authorization) {
		auth_h = xasprintf("Authorization: %s", req->authorization);
		headers = curl_slist_append(headers, auth_h);
	}
	if (req->range_from > 0) {
		range_h = xasprintf("Range: bytes=%" PRId64 "-", req->range_from);
		headers = curl_slist_append(headers, range_h);
	}
	if (req->form_body)
		headers = curl_slist_append(headers,
					    "Content-Type: application/x-www-form-urlencoded");
	/* no "Expect: 100-continue" for small posts */
	headers = curl_slist_append(headers, "Expect:");

	curl_easy_setopt(h, CURLOPT_URL, req->url);
	curl_easy_setopt(h, CURLOPT_SHARE, c->share);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(h, CURLOPT_USERAGENT, c->user_agent);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, resp->errbuf);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, resp);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, resp);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, resp);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)c->connect_timeout_ms);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (long)c->stall_timeout_s);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, req->verify_tls ? 1L : 0L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, req->verify_tls ? 2L : 0L);
	if (c->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
	if (cancel && cancel->deadline_ns > 0) {
		int64_t left_ms = (cancel->deadline_ns - registry_now_ns()) / 1000000 + 1;
		if (left_ms < 1)
			left_ms = 1;
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)left_ms);
	}
	if (strcmp(req->method, "HEAD") == 0) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else if (strcmp(req->method, "POST") == 0) {
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->form_body ? req->form_body : "");
	}

	resp->curl = curl_easy_perform(h);
	char *redirect = NULL;
	if (resp->curl == CURLE_OK) {
		long status = 0;
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
		resp->status = status;
		if (curl_easy_getinfo(h, CURLINFO_REDIRECT_URL, &redirect) == CURLE_OK && redirect)
			resp->redirect_url = xstrdup(redirect);
	}
	curl_easy_cleanup(h);
	curl_slist_free_all(headers);

	if (resp->curl == CURLE_OK)
		return 0;
	if (resp->error == NULL && (resp->curl == CURLE_OPERATION_TIMEDOUT ||
				    resp->curl == CURLE_ABORTED_BY_CALLBACK))
		registry_check_cancel(cancel, &resp->error);
	return -1;
}
