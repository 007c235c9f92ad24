/* Registry operations: manifests and blobs, over the request loop that
 * chooses the transport, authenticates, follows redirects and retries. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "image/manifest.h"
#include "image/registry_internal.h"
#include "util/cleanup.h"
#include "util/log.h"
#include "util/xalloc.h"

#ifndef OCID_VERSION
#define OCID_VERSION "dev"
#endif

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *ud)
{
	(void)h;
	(void)access;
	struct registry_client *c = ud;
	if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST)
		pthread_mutex_lock(&c->share_locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *ud)
{
	(void)h;
	struct registry_client *c = ud;
	if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST)
		pthread_mutex_unlock(&c->share_locks[data]);
}

int registry_client_new(const struct registry_credentials *creds,
			const struct registry_options *opts, struct registry_client **out,
			ocid_error **err)
{
	*out = NULL;
	if (curl_lazy_load(err) < 0)
		return -1;
	struct registry_client *c = xcalloc(1, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&c->share_locks[i], NULL);
	c->share = curl_share_init();
	if (c->share == NULL) {
		registry_client_free(c);
		return err_set(err, GRPC_RESOURCE_EXHAUSTED, "curl_share_init failed");
	}
	curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, share_lock);
	curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
	curl_share_setopt(c->share, CURLSHOPT_USERDATA, c);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);

	struct registry_options o = opts ? *opts : (struct registry_options){0};
	c->user_agent = o.user_agent ? xstrdup(o.user_agent) : xstrdup("ocid/" OCID_VERSION);
	c->ca_file = o.ca_file ? xstrdup(o.ca_file) : NULL;
	c->max_attempts = o.max_attempts > 0 ? o.max_attempts : 5;
	c->backoff_initial_ms = o.backoff_initial_ms > 0 ? o.backoff_initial_ms : 250;
	c->connect_timeout_ms = o.connect_timeout_ms > 0 ? o.connect_timeout_ms : 30000;
	c->stall_timeout_s = o.stall_timeout_s > 0 ? o.stall_timeout_s : 30;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	c->rng = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)c;
	if (c->rng == 0)
		c->rng = 0x9e3779b97f4a7c15ULL;

	if (registry_auth_init(c, creds, err) < 0) {
		registry_client_free(c);
		return -1;
	}
	*out = c;
	return 0;
}

void registry_client_free(struct registry_client *c)
{
	if (c == NULL)
		return;
	if (c->share)
		curl_share_cleanup(c->share);
	registry_auth_free(c);
	free(c->user_agent);
	free(c->ca_file);
	pthread_mutex_destroy(&c->lock);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&c->share_locks[i]);
	free(c);
}

/* ------------------------------------------------------------------ */
/* the request loop */

/* Waits before the next attempt; when the deadline or a cancel stops the
 * wait, the error says what was being retried. */
static int wait_retry(struct registry_client *c, int attempt, const char *retry_after,
		      const struct registry_cancel *cancel, const struct http_request *req,
		      const struct http_response *resp, bool transport, ocid_error **err)
{
	if (registry_backoff(c, attempt, retry_after, cancel, err) == 0)
		return 0;
	cleanup_err ocid_error *last = NULL;
	if (transport)
		registry_transport_error(req, resp, &last);
	else
		registry_status_error(req, resp, &last);
	if (last)
		err_prefix(err, "%s (retrying)", last->msg);
	return -1;
}

struct op {
	const char *method;
	const char *path; /* "/v2/<repo>/..." */
	const char *accept;
	size_t max_body;
	int (*on_start)(void *opaque, const struct http_response *resp, ocid_error **err);
	int (*on_data)(void *opaque, const void *buf, size_t len, ocid_error **err);
	int64_t (*resume_offset)(void *opaque);
	int (*restart)(void *opaque, ocid_error **err);
	void *opaque;
};

static int run_op(struct registry_client *c, const struct registry_endpoint *ep,
		  const struct op *op, const struct registry_cancel *cancel,
		  struct http_response *resp, ocid_error **err)
{
	cleanup_free char *scope = xasprintf("repository:%s:pull", ep->repository);
	int attempt = 1, seen401 = 0;

	for (;;) {
		if (registry_check_cancel(cancel, err) < 0)
			return -1;
		pthread_mutex_lock(&c->lock);
		int transport = registry_host_state(c, ep->host)->transport;
		pthread_mutex_unlock(&c->lock);
		bool use_http = ep->insecure && transport == 2;
		cleanup_free char *url =
			xasprintf("%s://%s%s", use_http ? "http" : "https", ep->host, op->path);
		cleanup_free char *origin = registry_url_origin(url);
		if (origin == NULL)
			return err_set(err, GRPC_INVALID_ARGUMENT, "bad registry URL %s", url);
		cleanup_free char *authz = NULL;
		if (registry_auth_header(c, ep, scope, cancel, &authz, err) < 0)
			return -1;

		struct http_request req = {
			.method = op->method,
			.url = url,
			.accept = op->accept,
			.authorization = authz,
			.range_from = op->resume_offset ? op->resume_offset(op->opaque) : 0,
			.verify_tls = !ep->insecure,
			.on_start = op->on_start,
			.on_data = op->on_data,
			.opaque = op->opaque,
			.max_body = op->max_body,
		};
		cleanup_free char *cur = NULL;
		int hops = 0, rc;
		bool at_origin = true;
		for (;;) {
			rc = http_perform(c, &req, cancel, resp);
			if (rc < 0 || resp->status < 300 || resp->status > 399 || !resp->redirect_url)
				break;
			if (++hops > REGISTRY_MAX_REDIRECTS) {
				cleanup_free char *u = registry_url_for_log(url);
				return err_set(err, GRPC_UNAVAILABLE, "%s %s: too many redirects", op->method,
					       u);
			}
			free(cur);
			cur = steal_pointer(&resp->redirect_url);
			cleanup_free char *to = registry_url_origin(cur);
			if (to == NULL || (strncmp(to, "https://", 8) != 0 && strncmp(to, "http://", 7) != 0)) {
				cleanup_free char *u = registry_url_for_log(cur);
				return err_set(err, GRPC_UNAVAILABLE, "%s: refusing redirect to %s",
					       ep->host, u);
			}
			at_origin = strcmp(to, origin) == 0;
			req.url = cur;
			/* credentials stay with the registry itself */
			req.authorization = at_origin ? authz : NULL;
		}

		if (rc < 0) {
			if (resp->error) {
				*err = steal_pointer(&resp->error);
				return -1;
			}
			if (ep->insecure && !use_http && transport == 0 && hops == 0) {
				char esc[256];
				log_escape(resp->errbuf[0] ? resp->errbuf : curl_easy_strerror(resp->curl),
					   esc, sizeof(esc));
				log_debug("https failed on an insecure registry, trying http",
					  "host=%s error=\"%s\"", ep->host, esc);
				pthread_mutex_lock(&c->lock);
				registry_host_state(c, ep->host)->transport = 2;
				pthread_mutex_unlock(&c->lock);
				continue;
			}
			if (registry_curl_transient(resp->curl) && attempt < c->max_attempts) {
				char esc[256];
				log_escape(resp->errbuf[0] ? resp->errbuf : curl_easy_strerror(resp->curl),
					   esc, sizeof(esc));
				log_debug("retrying a registry request", "host=%s attempt=%d error=\"%s\"",
					  ep->host, attempt, esc);
				if (wait_retry(c, attempt, NULL, cancel, &req, resp, true, err) < 0)
					return -1;
				attempt++;
				continue;
			}
			registry_transport_error(&req, resp, err);
			if (attempt > 1)
				err_prefix(err, "after %d attempts", attempt);
			return -1;
		}
		if (ep->insecure && !use_http && transport == 0 && hops == 0) {
			pthread_mutex_lock(&c->lock);
			registry_host_state(c, ep->host)->transport = 1;
			pthread_mutex_unlock(&c->lock);
		}
		if (resp->status == 401 && at_origin) {
			if (seen401 >= 3 || registry_auth_challenge(c, ep, scope, &req, resp, authz,
								    seen401, cancel, err) < 0) {
				if (seen401 >= 3)
					registry_status_error(&req, resp, err);
				return -1;
			}
			seen401++;
			continue;
		}
		if (resp->status == 416 && req.range_from > 0 && op->restart &&
		    attempt < c->max_attempts) {
			if (op->restart(op->opaque, err) < 0)
				return -1;
			attempt++;
			continue;
		}
		if (registry_status_transient(resp->status) && attempt < c->max_attempts) {
			log_debug("retrying a registry request", "host=%s attempt=%d status=%ld",
				  ep->host, attempt, resp->status);
			if (wait_retry(c, attempt, resp->retry_after, cancel, &req, resp, false, err) < 0)
				return -1;
			attempt++;
			continue;
		}
		if (resp->status >= 200 && resp->status <= 299)
			return 0;
		registry_status_error(&req, resp, err);
		if (attempt > 1 && registry_status_transient(resp->status))
			err_prefix(err, "after %d attempts", attempt);
		return -1;
	}
}

/* ------------------------------------------------------------------ */
/* manifests */

void registry_manifest_clear(struct registry_manifest *m)
{
	free(m->body);
	free(m->media_type);
	memset(m, 0, sizeof(*m));
}

void registry_manifest_head_clear(struct registry_manifest_head *h)
{
	free(h->digest);
	free(h->media_type);
	memset(h, 0, sizeof(*h));
	h->size = -1;
}

static int check_reference(const char *reference, ocid_error **err)
{
	if (reference == NULL || *reference == '\0')
		return err_set(err, GRPC_INVALID_ARGUMENT, "empty manifest reference");
	if (strchr(reference, ':'))
		return digest_parse(reference, NULL, err);
	if (!image_tag_valid(reference))
		return err_set(err, GRPC_INVALID_ARGUMENT, "invalid tag \"%.200s\"", reference);
	return 0;
}

int registry_get_manifest(struct registry_client *c, const struct registry_endpoint *ep,
			  const char *reference, const struct registry_cancel *cancel,
			  struct registry_manifest *out, ocid_error **err)
{
	memset(out, 0, sizeof(*out));
	if (check_reference(reference, err) < 0)
		return -1;
	cleanup_free char *path = xasprintf("/v2/%s/manifests/%s", ep->repository, reference);
	struct op op = {
		.method = "GET",
		.path = path,
		.accept = MANIFEST_ACCEPT,
		.max_body = MANIFEST_MAX_SIZE,
	};
	struct http_response resp = {.content_length = -1};
	if (run_op(c, ep, &op, cancel, &resp, err) < 0) {
		http_response_clear(&resp);
		return err_prefix(err, "manifest %s of %s/%s", reference, ep->host, ep->repository);
	}

	const char *body = resp.body ? resp.body : "";
	const char *want = NULL;
	if (strchr(reference, ':'))
		want = reference;
	else if (resp.docker_digest && digest_valid(resp.docker_digest))
		want = resp.docker_digest;
	enum digest_algo algo = DIGEST_SHA256;
	if (want)
		digest_parse(want, &algo, NULL);
	digest_buffer(algo, body, resp.len, out->digest);
	if (want && strcmp(want, out->digest) != 0) {
		err_set(err, GRPC_DATA_LOSS,
			"manifest %s of %s/%s: content does not match its digest %s (got %s)",
			reference, ep->host, ep->repository, want, out->digest);
		http_response_clear(&resp);
		memset(out, 0, sizeof(*out));
		return -1;
	}
	out->body = resp.body ? steal_pointer(&resp.body) : xstrdup("");
	out->len = resp.len;
	out->media_type = steal_pointer(&resp.content_type);
	http_response_clear(&resp);
	return 0;
}

int registry_head_manifest(struct registry_client *c, const struct registry_endpoint *ep,
			   const char *reference, const struct registry_cancel *cancel,
			   struct registry_manifest_head *out, ocid_error **err)
{
	memset(out, 0, sizeof(*out));
	out->size = -1;
	if (check_reference(reference, err) < 0)
		return -1;
	cleanup_free char *path = xasprintf("/v2/%s/manifests/%s", ep->repository, reference);
	struct op op = {
		.method = "HEAD",
		.path = path,
		.accept = MANIFEST_ACCEPT,
	};
	struct http_response resp = {.content_length = -1};
	if (run_op(c, ep, &op, cancel, &resp, err) < 0) {
		http_response_clear(&resp);
		return err_prefix(err, "manifest %s of %s/%s", reference, ep->host, ep->repository);
	}
	if (resp.docker_digest && digest_valid(resp.docker_digest))
		out->digest = steal_pointer(&resp.docker_digest);
	out->media_type = steal_pointer(&resp.content_type);
	out->size = resp.content_length;
	http_response_clear(&resp);
	return 0;
}

/* ------------------------------------------------------------------ */
/* blobs */

struct blob_state {
	const struct registry_blob_sink *sink;
	struct digester *dg;
	const char *digest;
	int64_t size;
};

static int blob_restart(void *opaque, ocid_error **err)
{
	struct blob_state *b = opaque;
	if (digester_count(b->dg) == 0)
		return 0;
	if (b->sink->reset == NULL)
		return err_set(err, GRPC_UNAVAILABLE,
			       "blob %s: the download was interrupted and cannot be resumed", b->digest);
	if (b->sink->reset(b->sink->opaque, err) < 0)
		return -1;
	digester_reset(b->dg);
	return 0;
}

static int64_t blob_offset(void *opaque)
{
	struct blob_state *b = opaque;
	return (int64_t)digester_count(b->dg);
}

static int blob_start(void *opaque, const struct http_response *resp, ocid_error **err)
{
	struct blob_state *b = opaque;
	int64_t have = (int64_t)digester_count(b->dg);
	if (resp->status == 206) {
		/* "bytes START-END/TOTAL" */
		long long start = -1, end = -1;
		char total[32] = "";
		if (have == 0 || resp->content_range == NULL ||
		    sscanf(resp->content_range, "bytes %lld-%lld/%31s", &start, &end, total) != 3 ||
		    start != have || end != b->size - 1 ||
		    (strcmp(total, "*") != 0 && strtoll(total, NULL, 10) != b->size))
			return err_set(err, GRPC_UNAVAILABLE,
				       "blob %s: the registry answered the resume with a bad range (%s)",
				       b->digest, resp->content_range ? resp->content_range : "none");
		return 0;
	}
	if (have > 0 && blob_restart(b, err) < 0)
		return -1;
	if (resp->content_length >= 0 && resp->content_length != b->size)
		return err_set(err, GRPC_DATA_LOSS,
			       "blob %s: the registry sends %" PRId64 " bytes, the manifest says %" PRId64,
			       b->digest, resp->content_length, b->size);
	return 0;
}

static int blob_data(void *opaque, const void *buf, size_t len, ocid_error **err)
{
	struct blob_state *b = opaque;
	if ((unsigned long long)b->size - digester_count(b->dg) < len)
		return err_set(err, GRPC_DATA_LOSS,
			       "blob %s: more than the %" PRId64 " bytes the manifest says", b->digest,
			       b->size);
	digester_update(b->dg, buf, len);
	return b->sink->write(b->sink->opaque, buf, len, err);
}

int registry_get_blob(struct registry_client *c, const struct registry_endpoint *ep,
		      const char *digest, int64_t size, const struct registry_blob_sink *sink,
		      const struct registry_cancel *cancel, ocid_error **err)
{
	enum digest_algo algo;
	if (digest_parse(digest, &algo, err) < 0)
		return -1;
	if (size < 0)
		return err_set(err, GRPC_INVALID_ARGUMENT, "blob %s: negative size", digest);
	cleanup_digester struct digester *dg = digester_new(algo);
	if (dg == NULL)
		return err_set(err, GRPC_RESOURCE_EXHAUSTED, "cannot create a digest context");
	struct blob_state b = {sink, dg, digest, size};
	cleanup_free char *path = xasprintf("/v2/%s/blobs/%s", ep->repository, digest);
	struct op op = {
		.method = "GET",
		.path = path,
		.max_body = 0,
		.on_start = blob_start,
		.on_data = blob_data,
		.resume_offset = blob_offset,
		.restart = blob_restart,
		.opaque = &b,
	};
	struct http_response resp = {.content_length = -1};
	int rc = run_op(c, ep, &op, cancel, &resp, err);
	http_response_clear(&resp);
	if (rc < 0)
		return err_prefix(err, "blob %s of %s/%s", digest, ep->host, ep->repository);
	if ((int64_t)digester_count(dg) != size)
		return err_set(err, GRPC_DATA_LOSS,
			       "blob %s of %s/%s: got %llu bytes, the manifest says %" PRId64, digest,
			       ep->host, ep->repository, digester_count(dg), size);
	char got[DIGEST_MAX_LEN];
	digester_current(dg, got);
	if (strcmp(got, digest) != 0)
		return err_set(err, GRPC_DATA_LOSS, "blob %s of %s/%s: content does not match its digest (got %s)",
			       digest, ep->host, ep->repository, got);
	return 0;
}

struct mem_sink {
	char *buf;
	size_t len, cap;
};

static int mem_write(void *opaque, const void *buf, size_t len, ocid_error **err)
{
	(void)err;
	struct mem_sink *m = opaque;
	/* registry_get_blob stops before more than size bytes, and cap = size + 1 */
	memcpy(m->buf + m->len, buf, len);
	m->len += len;
	return 0;
}

static int mem_reset(void *opaque, ocid_error **err)
{
	(void)err;
	((struct mem_sink *)opaque)->len = 0;
	return 0;
}

int registry_get_blob_buffer(struct registry_client *c, const struct registry_endpoint *ep,
			     const char *digest, int64_t size, size_t max,
			     const struct registry_cancel *cancel, char **out, ocid_error **err)
{
	*out = NULL;
	if (size < 0 || (uint64_t)size > max)
		return err_set(err, GRPC_RESOURCE_EXHAUSTED,
			       "blob %s: %" PRId64 " bytes is over the %zu byte limit", digest, size, max);
	struct mem_sink m = {xmalloc((size_t)size + 1), 0, (size_t)size + 1};
	struct registry_blob_sink sink = {mem_write, mem_reset, &m};
	if (registry_get_blob(c, ep, digest, size, &sink, cancel, err) < 0) {
		free(m.buf);
		return -1;
	}
	m.buf[m.len] = '\0';
	*out = m.buf;
	return 0;
}
