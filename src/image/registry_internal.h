/* Shared between registry.c (operations, retries, redirects),
 * registry_http.c (one HTTP exchange on libcurl) and registry_auth.c
 * (credentials, challenges, tokens). Not for use outside src/image. */
#ifndef OCID_IMAGE_REGISTRY_INTERNAL_H
#define OCID_IMAGE_REGISTRY_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "image/curl_lazy.h"
#include "image/registry.h"

#define REGISTRY_MAX_REDIRECTS 10
#define REGISTRY_ERROR_BODY_MAX (64 * 1024)
#define REGISTRY_TOKEN_BODY_MAX (1024 * 1024)

enum host_auth_scheme { HOST_AUTH_UNKNOWN = 0, HOST_AUTH_BASIC, HOST_AUTH_BEARER };

struct host_state {
	char *host;
	/* transport for insecure hosts: 0 undecided, 1 https, 2 http */
	int transport;
	enum host_auth_scheme auth;
	char *realm;
	char *service;
};

struct token_entry {
	char *host;
	char *scope;
	char *token;
	int64_t expires_ns; /* CLOCK_MONOTONIC */
};

struct registry_client {
	CURLSH *share;
	pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
	pthread_mutex_t lock; /* guards hosts, tokens, rng */

	/* credentials (NULL when not given) */
	char *username;
	char *password;
	char *identity_token;
	char *registry_token;

	char *user_agent;
	char *ca_file;
	int max_attempts;
	int backoff_initial_ms;
	int connect_timeout_ms;
	int stall_timeout_s;

	struct host_state *hosts;
	size_t n_hosts;
	struct token_entry *tokens;
	size_t n_tokens;
	uint64_t rng;
};

struct http_response;

struct http_request {
	const char *method; /* "GET", "HEAD", "POST" */
	const char *url;
	const char *accept;        /* or NULL */
	const char *authorization; /* the header's value, or NULL */
	const char *form_body;     /* POST application/x-www-form-urlencoded, or NULL */
	int64_t range_from;        /* > 0: "Range: bytes=N-" */
	bool verify_tls;
	/* A 2xx body goes to on_data when set (after on_start, called once
	 * before the first byte), else is buffered up to max_body
	 * (RESOURCE_EXHAUSTED beyond). Other bodies are kept up to
	 * REGISTRY_ERROR_BODY_MAX for error messages. */
	int (*on_start)(void *opaque, const struct http_response *resp, ocid_error **err);
	int (*on_data)(void *opaque, const void *buf, size_t len, ocid_error **err);
	void *opaque;
	size_t max_body;
};

struct http_response {
	long status;
	CURLcode curl;
	char errbuf[CURL_ERROR_SIZE];
	char *content_type;
	char *docker_digest;
	char *content_range;
	char *retry_after;
	char *redirect_url;
	char **www_auth;
	size_t n_www_auth;
	int64_t content_length; /* -1 unknown */
	char *body;
	size_t len, cap;
	bool truncated;
	bool started;       /* on_start was called */
	ocid_error *error;  /* set when the transfer was stopped by us */
	const struct http_request *req;
	const struct registry_cancel *cancel;
};

void http_response_clear(struct http_response *r);
/* One HTTP exchange (no redirects, no retries). 0: a complete response
 * arrived (any status). -1: resp->error is set (a callback, a limit, the
 * cancel or the deadline stopped it) or, if not, resp->curl says what
 * failed in transport. */
int http_perform(struct registry_client *c, const struct http_request *req,
		 const struct registry_cancel *cancel, struct http_response *resp);

int64_t registry_now_ns(void);
/* CANCELLED / DEADLINE_EXCEEDED when the call should stop. */
int registry_check_cancel(const struct registry_cancel *cancel, ocid_error **err);
/* Sleeps before attempt number `attempt` (1-based retry count), honouring
 * retry_after (seconds, may be NULL), the deadline and cancellation. */
int registry_backoff(struct registry_client *c, int attempt, const char *retry_after,
		     const struct registry_cancel *cancel, ocid_error **err);
bool registry_curl_transient(CURLcode code);
bool registry_status_transient(long status);
/* Sets *err for a transport failure. */
int registry_transport_error(const struct http_request *req, const struct http_response *resp,
			     ocid_error **err);
/* Sets *err for an HTTP error status, with the registry's message. */
int registry_status_error(const struct http_request *req, const struct http_response *resp,
			  ocid_error **err);
/* "message (CODE); ..." from a distribution/token-server error body, or a
 * printable prefix of the body; NULL if nothing useful. malloc'd. */
char *registry_body_message(const char *body, size_t len);
/* The URL without its query string, for messages. malloc'd. */
char *registry_url_for_log(const char *url);
/* scheme://host:port of url, lower-cased, default ports filled in; NULL if
 * it cannot be parsed (or libcurl cannot be loaded). malloc'd. */
char *registry_url_origin(const char *url);

/* registry_auth.c */
int registry_auth_init(struct registry_client *c, const struct registry_credentials *creds,
		       ocid_error **err);
/* The Authorization header value to send to ep for scope, from what is
 * known (may fetch a bearer token when the host is known to want one).
 * *out is NULL when nothing is to be sent. */
int registry_auth_header(struct registry_client *c, const struct registry_endpoint *ep,
			 const char *scope, const struct registry_cancel *cancel, char **out,
			 ocid_error **err);
/* Handles a 401 from ep: learns the challenge and prepares credentials for
 * the next try (fetching a token). sent is the Authorization value that was
 * refused (or NULL); seen counts the 401s this operation already had (a
 * cached token may have expired once; a fresh one refused is final). Fails
 * with UNAUTHENTICATED when there is nothing more to try. */
int registry_auth_challenge(struct registry_client *c, const struct registry_endpoint *ep,
			    const char *scope, const struct http_request *req,
			    const struct http_response *resp, const char *sent, int seen,
			    const struct registry_cancel *cancel, ocid_error **err);
void registry_auth_free(struct registry_client *c);

/* host_state for host, created on first use; call with c->lock held. */
struct host_state *registry_host_state(struct registry_client *c, const char *host);

/* Base64 (standard alphabet, padded). decode is strict: returns -1 on bad
 * input; *out malloc'd and NUL-terminated. */
char *registry_base64_encode(const void *buf, size_t len);
int registry_base64_decode(const char *s, char **out, size_t *len);

#endif
