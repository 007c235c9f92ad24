/* image/registry: the registry client against a scripted HTTP server on
 * loopback (auth flows, redirects, retries, resumes, verification, limits,
 * cancellation), the pure parts (WWW-Authenticate parsing, endpoints and
 * mirrors, error messages, base64), and, when OCID_TEST_REGISTRY is set
 * (127.0.0.1:PORT/repo:tag, an insecure registry; credentials from
 * OCID_TEST_REGISTRY_USER and _PASS, _IDENTITY_TOKEN or _TOKEN), a pull of
 * every blob of that image from a real registry. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "image/auth_challenge.h"
#include "util/digest.h"
#include "image/image_config.h"
#include "image/manifest.h"
#include "image/platform.h"
#include "image/reference.h"
#include "image/registry.h"
#include "image/registry_internal.h"

/* ------------------------------------------------------------------ */
/* WWW-Authenticate parsing */

static void test_challenge_bearer(void **state)
{
	(void)state;
	struct auth_challenge *c = NULL;
	size_t n = 0;
	ocid_error *err = NULL;
	assert_int_equal(auth_challenges_parse(
				 "Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\","
				 "scope=\"repository:library/busybox:pull,push\"",
				 &c, &n, &err),
			 0);
	assert_int_equal(n, 1);
	assert_string_equal(c[0].scheme, "bearer");
	assert_string_equal(auth_challenge_param(&c[0], "realm"), "https://auth.docker.io/token");
	assert_string_equal(auth_challenge_param(&c[0], "service"), "registry.docker.io");
	/* a quoted comma stays in the value */
	assert_string_equal(auth_challenge_param(&c[0], "SCOPE"), "repository:library/busybox:pull,push");
	assert_null(auth_challenge_param(&c[0], "error"));
	auth_challenges_free(c, n);
}

static void test_challenge_multiple(void **state)
{
	(void)state;
	struct auth_challenge *c = NULL;
	size_t n = 0;
	ocid_error *err = NULL;
	assert_int_equal(auth_challenges_parse("Basic realm=\"Registry, Realm\", BEARER realm=y ,"
					       "  service = \"a\\\"b\\\\c\" ,, Negotiate, Other abc==",
					       &c, &n, &err),
			 0);
	assert_int_equal(n, 4);
	assert_string_equal(c[0].scheme, "basic");
	assert_string_equal(auth_challenge_param(&c[0], "realm"), "Registry, Realm");
	assert_int_equal(c[0].n_params, 1);
	assert_string_equal(c[1].scheme, "bearer");
	assert_string_equal(auth_challenge_param(&c[1], "realm"), "y");
	assert_string_equal(auth_challenge_param(&c[1], "service"), "a\"b\\c");
	assert_string_equal(c[2].scheme, "negotiate");
	assert_int_equal(c[2].n_params, 0);
	assert_string_equal(c[3].scheme, "other");
	assert_string_equal(c[3].token68, "abc==");
	assert_non_null(auth_challenge_find(c, n, "Bearer"));
	assert_null(auth_challenge_find(c, n, "digest"));

	/* a second header value appends */
	assert_int_equal(auth_challenges_parse("Bearer realm=\"z\"", &c, &n, &err), 0);
	assert_int_equal(n, 5);
	auth_challenges_free(c, n);
}

static void test_challenge_missing_and_bad(void **state)
{
	(void)state;
	struct auth_challenge *c = NULL;
	size_t n = 0;
	ocid_error *err = NULL;
	assert_int_equal(auth_challenges_parse("Bearer realm=\"https://x/token\"", &c, &n, &err), 0);
	assert_null(auth_challenge_param(&c[0], "service"));
	assert_null(auth_challenge_param(&c[0], "scope"));
	auth_challenges_free(c, n);
	c = NULL;
	n = 0;
	assert_int_equal(auth_challenges_parse("Bearer", &c, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(c[0].n_params, 0);
	auth_challenges_free(c, n);
	c = NULL;
	n = 0;
	assert_int_equal(auth_challenges_parse("", &c, &n, &err), 0);
	assert_int_equal(n, 0);
	assert_int_equal(auth_challenges_parse("  , ", &c, &n, &err), 0);
	assert_int_equal(n, 0);

	static const char *const bad[] = {
		"Bearer realm=\"unterminated",
		"Bearer realm=\"x\" service=\"y\"",
		"=x",
		"Bearer realm=\"x\\",
		"Bearer realm=\"x\"junk",
		"Bear\"er realm=x",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err = NULL;
		if (auth_challenges_parse(bad[i], &c, &n, &err) == 0) {
			fprintf(stderr, "accepted: %s\n", bad[i]);
			fail();
		}
		assert_int_equal(err->code, GRPC_INVALID_ARGUMENT);
		assert_int_equal(n, 0);
		err_free(err);
	}
}

/* ------------------------------------------------------------------ */
/* endpoints, mirrors, helpers */

static void test_endpoints(void **state)
{
	(void)state;
	char *insecure[] = {"127.0.0.1:5000", "docker.io", NULL};
	char *k8s_mirrors[] = {"127.0.0.1:5000", "mirror.example/cache/k8s/", "bad host", NULL};
	char *hub_mirrors[] = {"index.docker.io", NULL};
	struct ocid_registry_mirrors mirrors[] = {
		{"registry.k8s.io", k8s_mirrors},
		{"docker.io", hub_mirrors},
	};
	char *search[] = {"docker.io", NULL};
	struct ocid_image_config cfg = {
		.registries = search,
		.insecure_registries = insecure,
		.max_parallel_downloads = 3,
		.mirrors = mirrors,
		.n_mirrors = 2,
	};
	struct image_ref r;
	ocid_error *err = NULL;
	struct registry_endpoint *ep = NULL;
	size_t n = 0;

	assert_int_equal(image_ref_parse("registry.k8s.io/pause:3.9", &r, &err), 0);
	assert_int_equal(registry_endpoints(&cfg, &r, &ep, &n, &err), 0);
	assert_int_equal(n, 3); /* two valid mirrors, then the origin */
	assert_string_equal(ep[0].host, "127.0.0.1:5000");
	assert_string_equal(ep[0].repository, "pause");
	assert_true(ep[0].insecure);
	assert_true(ep[0].mirror);
	assert_string_equal(ep[1].host, "mirror.example");
	assert_string_equal(ep[1].repository, "cache/k8s/pause");
	assert_false(ep[1].insecure);
	assert_true(ep[1].mirror);
	assert_string_equal(ep[2].host, "registry.k8s.io");
	assert_string_equal(ep[2].repository, "pause");
	assert_false(ep[2].mirror);
	assert_false(ep[2].insecure);
	registry_endpoints_free(ep, n);
	image_ref_clear(&r);

	/* docker.io: API host, insecure by registry name, mirror alias */
	assert_int_equal(image_ref_parse("busybox", &r, &err), 0);
	assert_int_equal(registry_endpoints(&cfg, &r, &ep, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(ep[0].host, "registry-1.docker.io");
	assert_true(ep[0].mirror);
	assert_string_equal(ep[1].host, "registry-1.docker.io");
	assert_string_equal(ep[1].repository, "library/busybox");
	assert_true(ep[1].insecure);
	registry_endpoints_free(ep, n);
	image_ref_clear(&r);

	/* no config: the origin only */
	assert_int_equal(image_ref_parse("quay.io/a/b:c", &r, &err), 0);
	assert_int_equal(registry_endpoints(NULL, &r, &ep, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(ep[0].host, "quay.io");
	assert_false(ep[0].insecure);
	registry_endpoints_free(ep, n);
	image_ref_clear(&r);

	assert_true(registry_host_insecure(&cfg, "127.0.0.1:5000"));
	assert_false(registry_host_insecure(&cfg, "127.0.0.1:5001"));
	assert_false(registry_host_insecure(NULL, "127.0.0.1:5000"));
}

static void test_helpers(void **state)
{
	(void)state;
	const char *e = "{\"errors\":[{\"code\":\"MANIFEST_UNKNOWN\",\"message\":\"manifest unknown\","
			"\"detail\":{}},{\"code\":\"X\"}]}";
	char *s = registry_body_message(e, strlen(e));
	assert_string_equal(s, "manifest unknown (MANIFEST_UNKNOWN); X");
	free(s);
	const char *d = "{\"details\":\"incorrect username or password\"}";
	s = registry_body_message(d, strlen(d));
	assert_string_equal(s, "incorrect username or password");
	free(s);
	s = registry_body_message("plain\ntext", 10);
	assert_string_equal(s, "plain text");
	free(s);
	assert_null(registry_body_message("<html>x</html>", 14));
	assert_null(registry_body_message("\x01\x02", 2));
	assert_null(registry_body_message("{}", 2));

	s = registry_url_origin("HTTPS://Example.COM/v2/x?y");
	assert_string_equal(s, "https://example.com:443");
	free(s);
	s = registry_url_origin("http://127.0.0.1:5000/v2/");
	assert_string_equal(s, "http://127.0.0.1:5000");
	free(s);
	s = registry_url_for_log("https://s3.example/blob?X-Amz-Signature=secret");
	assert_string_equal(s, "https://s3.example/blob");
	free(s);

	s = registry_base64_encode("user:pass", 9);
	assert_string_equal(s, "dXNlcjpwYXNz");
	free(s);
	size_t len;
	assert_int_equal(registry_base64_decode("dXNlcjpwYXNz", &s, &len), 0);
	assert_string_equal(s, "user:pass");
	free(s);
	assert_int_equal(registry_base64_decode("YQ==", &s, &len), 0);
	assert_string_equal(s, "a");
	free(s);
	assert_int_equal(registry_base64_decode("YQ", &s, &len), 0);
	assert_string_equal(s, "a");
	free(s);
	assert_int_equal(registry_base64_decode("Y", &s, &len), -1);
	assert_int_equal(registry_base64_decode("YQ=", &s, &len), -1);
	assert_int_equal(registry_base64_decode("a!==", &s, &len), -1);
}

static void test_credentials(void **state)
{
	(void)state;
	struct registry_client *c = NULL;
	ocid_error *err = NULL;
	struct registry_credentials bad = {.auth = "not base64!"};
	assert_int_equal(registry_client_new(&bad, NULL, &c, &err), -1);
	assert_int_equal(err->code, GRPC_INVALID_ARGUMENT);
	err_free(err);
	err = NULL;
	struct registry_credentials nocolon = {.auth = "dXNlcg=="}; /* "user" */
	assert_int_equal(registry_client_new(&nocolon, NULL, &c, &err), -1);
	assert_non_null(strstr(err->msg, "username:password"));
	err_free(err);
	err = NULL;
	struct registry_credentials badtok = {.registry_token = "a\r\nX-Evil: 1"};
	assert_int_equal(registry_client_new(&badtok, NULL, &c, &err), -1);
	err_free(err);
	err = NULL;
	struct registry_credentials good = {.auth = "dXNlcjpwYTpzcw=="}; /* user:pa:ss */
	assert_int_equal(registry_client_new(&good, NULL, &c, &err), 0);
	assert_string_equal(c->username, "user");
	assert_string_equal(c->password, "pa:ss");
	registry_client_free(c);
}

/* ------------------------------------------------------------------ */
/* a scripted HTTP/1.1 server on loopback */

struct fake_req {
	char method[16];
	char path[2048];
	char authorization[512];
	char range[64];
	char body[4096];
	/* the scenario, as set with fake_set when the request arrived */
	const void *data;
	int step;
};

struct fake;
typedef void (*fake_handler)(struct fake *f, const struct fake_req *r, int fd);

#define FAKE_LOG 64
struct fake {
	int lfd;
	int port;
	pthread_t thread;
	atomic_bool stop;
	fake_handler handler;
	pthread_mutex_t mu;
	int n;
	struct fake_req log[FAKE_LOG];
	int tls_attempts;
	char host[64];
	/* scenario state (under mu) */
	const void *data;
	int step;
	struct fake *other;
};

static void send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
		if (w <= 0)
			return;
		p += w;
		len -= (size_t)w;
	}
}

static void respond(int fd, int status, const char *extra_headers, const void *body, size_t len)
{
	char head[4096];
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 %d X\r\nContent-Length: %zu\r\nConnection: close\r\n%s\r\n", status,
			 len, extra_headers ? extra_headers : "");
	send_all(fd, head, (size_t)n);
	if (body && len)
		send_all(fd, body, len);
}

static void respond_json(int fd, int status, const char *extra, const char *json)
{
	char h[2048];
	snprintf(h, sizeof(h), "Content-Type: application/json\r\n%s", extra ? extra : "");
	respond(fd, status, h, json, strlen(json));
}

static void header_value(const char *headers, const char *name, char *out, size_t size)
{
	out[0] = '\0';
	size_t nl = strlen(name);
	for (const char *p = headers; p && *p;) {
		const char *eol = strstr(p, "\r\n");
		if (eol == NULL)
			break;
		if ((size_t)(eol - p) > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			const char *v = p + nl + 1;
			while (*v == ' ')
				v++;
			size_t n = (size_t)(eol - v);
			if (n >= size)
				n = size - 1;
			memcpy(out, v, n);
			out[n] = '\0';
			return;
		}
		p = eol + 2;
	}
}

static void *fake_main(void *arg)
{
	struct fake *f = arg;
	while (!atomic_load(&f->stop)) {
		struct pollfd p = {f->lfd, POLLIN, 0};
		if (poll(&p, 1, 50) <= 0)
			continue;
		int fd = accept(f->lfd, NULL, NULL);
		if (fd < 0)
			continue;
		char buf[16384];
		size_t len = 0;
		char *end = NULL;
		while (len < sizeof(buf) - 1) {
			ssize_t r = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
			if (r <= 0)
				break;
			if (len == 0 && buf[0] == 0x16) { /* a TLS ClientHello: no TLS here */
				len = 0;
				pthread_mutex_lock(&f->mu);
				f->tls_attempts++;
				pthread_mutex_unlock(&f->mu);
				break;
			}
			len += (size_t)r;
			buf[len] = '\0';
			if ((end = strstr(buf, "\r\n\r\n")) != NULL)
				break;
		}
		if (end == NULL) {
			close(fd);
			continue;
		}
		struct fake_req req;
		memset(&req, 0, sizeof(req));
		sscanf(buf, "%15s %2047s", req.method, req.path);
		char *headers = strstr(buf, "\r\n") + 2;
		end[2] = '\0';
		header_value(headers, "Authorization", req.authorization, sizeof(req.authorization));
		header_value(headers, "Range", req.range, sizeof(req.range));
		char cl[32];
		header_value(headers, "Content-Length", cl, sizeof(cl));
		size_t want = (size_t)atol(cl), have = len - (size_t)(end + 4 - buf);
		if (want >= sizeof(req.body))
			want = sizeof(req.body) - 1;
		if (have > want)
			have = want;
		memcpy(req.body, end + 4, have);
		while (have < want) {
			ssize_t r = recv(fd, req.body + have, want - have, 0);
			if (r <= 0)
				break;
			have += (size_t)r;
		}
		pthread_mutex_lock(&f->mu);
		req.data = f->data;
		req.step = f->step++;
		if (f->n < FAKE_LOG)
			f->log[f->n] = req;
		f->n++;
		pthread_mutex_unlock(&f->mu);
		f->handler(f, &req, fd);
		close(fd);
	}
	return NULL;
}

static struct fake *fake_start(fake_handler h)
{
	struct fake *f = calloc(1, sizeof(*f));
	f->handler = h;
	pthread_mutex_init(&f->mu, NULL);
	f->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(f->lfd >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(f->lfd, 16), 0);
	socklen_t al = sizeof(a);
	getsockname(f->lfd, (struct sockaddr *)&a, &al);
	f->port = ntohs(a.sin_port);
	snprintf(f->host, sizeof(f->host), "127.0.0.1:%d", f->port);
	pthread_create(&f->thread, NULL, fake_main, f);
	return f;
}

static void fake_stop(struct fake *f)
{
	atomic_store(&f->stop, true);
	pthread_join(f->thread, NULL);
	close(f->lfd);
	pthread_mutex_destroy(&f->mu);
	free(f);
}

static int fake_count(struct fake *f, const char *path_prefix)
{
	int k = 0;
	pthread_mutex_lock(&f->mu);
	for (int i = 0; i < f->n && i < FAKE_LOG; i++)
		if (strncmp(f->log[i].path, path_prefix, strlen(path_prefix)) == 0)
			k++;
	pthread_mutex_unlock(&f->mu);
	return k;
}

static struct registry_endpoint endpoint(struct fake *f, bool insecure)
{
	return (struct registry_endpoint){.host = f->host, .repository = "repo", .insecure = insecure};
}

static void fake_set(struct fake *f, const void *data, int step)
{
	pthread_mutex_lock(&f->mu);
	f->data = data;
	f->step = step;
	pthread_mutex_unlock(&f->mu);
}

#define FAKE_GET(f, field)                       \
	({                                       \
		pthread_mutex_lock(&(f)->mu);    \
		__typeof__((f)->field) v_ = (f)->field; \
		pthread_mutex_unlock(&(f)->mu);  \
		v_;                              \
	})

static struct registry_client *client(const struct registry_credentials *creds)
{
	struct registry_options o = {.backoff_initial_ms = 1, .connect_timeout_ms = 2000,
				     .stall_timeout_s = 5, .max_attempts = 4};
	struct registry_client *c = NULL;
	ocid_error *err = NULL;
	if (registry_client_new(creds, &o, &c, &err) < 0) {
		fprintf(stderr, "%s\n", err->msg);
		fail();
	}
	return c;
}

static const char manifest_body[] =
	"{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
	"\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":"
	"\"sha256:0000000000000000000000000000000000000000000000000000000000000000\",\"size\":2},"
	"\"layers\":[]}";

static const char blob_data_bytes[] = "0123456789abcdefghijklmnopqrstuvwxyz";
#define BLOB_LEN (sizeof(blob_data_bytes) - 1)

static char blob_digest_buf[DIGEST_MAX_LEN];
static pthread_once_t blob_digest_once = PTHREAD_ONCE_INIT;
static void blob_digest_init(void)
{
	digest_buffer(DIGEST_SHA256, blob_data_bytes, BLOB_LEN, blob_digest_buf);
}

static char *blob_digest(void)
{
	pthread_once(&blob_digest_once, blob_digest_init);
	return blob_digest_buf;
}

/* ---- bearer tokens ---- */

static void h_bearer(struct fake *f, const struct fake_req *r, int fd)
{
	char chal[512];
	snprintf(chal, sizeof(chal),
		 "WWW-Authenticate: Bearer realm=\"%s://127.0.0.1:%d/token\",service=\"fake\","
		 "scope=\"repository:repo:pull\"\r\n",
		 r->data && strcmp(r->data, "ftprealm") == 0 ? "ftp" : "http", f->port);
	if (strncmp(r->path, "/token", 6) == 0) {
		const char *mode = r->data;
		if (strcmp(r->method, "POST") == 0) {
			if (strstr(r->body, "grant_type=refresh_token") &&
			    strstr(r->body, "refresh_token=REFRESH") && strstr(r->body, "service=fake") &&
			    strstr(r->body, "scope=repository%3Arepo%3Apull"))
				respond_json(fd, 200, NULL, "{\"access_token\":\"T3\",\"expires_in\":300}");
			else
				respond_json(fd, 401, NULL, "{\"error\":\"invalid_grant\"}");
			return;
		}
		if (strstr(r->path, "service=fake") == NULL ||
		    strstr(r->path, "scope=repository%3Arepo%3Apull") == NULL) {
			respond_json(fd, 400, NULL, "{\"details\":\"bad query\"}");
			return;
		}
		if (r->authorization[0]) {
			if (strcmp(r->authorization, "Basic dXNlcjpwYXNz") == 0 &&
			    strstr(r->path, "account=user"))
				respond_json(fd, 200, NULL, "{\"token\":\"T2\"}");
			else
				respond_json(fd, 401, NULL,
					     "{\"details\":\"incorrect username or password\"}");
			return;
		}
		if (mode && strcmp(mode, "private") == 0)
			respond_json(fd, 200, NULL, "{\"token\":\"ANON\"}");
		else
			respond_json(fd, 200, NULL, "{\"token\":\"T1\",\"expires_in\":300}");
		return;
	}
	bool ok = strcmp(r->authorization, "Bearer T1") == 0 ||
		  strcmp(r->authorization, "Bearer T2") == 0 ||
		  strcmp(r->authorization, "Bearer T3") == 0 ||
		  strcmp(r->authorization, "Bearer RT") == 0;
	if (!ok) {
		respond_json(fd, 401, chal,
			     "{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":\"authentication "
			     "required\"}]}");
		return;
	}
	if (strncmp(r->path, "/v2/repo/manifests/", 19) == 0) {
		char h[256];
		snprintf(h, sizeof(h), "Content-Type: application/vnd.oci.image.manifest.v1+json\r\n");
		respond(fd, 200, h, manifest_body, strlen(manifest_body));
		return;
	}
	respond_json(fd, 404, NULL, "{\"errors\":[{\"code\":\"BLOB_UNKNOWN\",\"message\":\"blob unknown\"}]}");
}

static void test_bearer_anonymous(void **state)
{
	(void)state;
	struct fake *f = fake_start(h_bearer);
	struct registry_client *c = client(NULL);
	struct registry_endpoint ep = endpoint(f, true);
	struct registry_manifest m;
	ocid_error *err = NULL;
	if (registry_get_manifest(c, &ep, "latest", NULL, &m, &err) < 0) {
		fprintf(stderr, "%s\n", err->msg);
		fail();
	}
	assert_int_equal(m.len, strlen(manifest_body));
	assert_string_equal(m.media_type, "application/vnd.oci.image.manifest.v1+json");
	char want[DIGEST_MAX_LEN];
	digest_buffer(DIGEST_SHA256, manifest_body, strlen(manifest_body), want);
	assert_string_equal(m.digest, want);
	registry_manifest_clear(&m);
	/* https was tried once, then plain http was remembered */
	assert_int_equal(FAKE_GET(f, tls_attempts), 1);
	assert_int_equal(fake_count(f, "/token"), 1);

	/* the token is cached and sent up front: one request, no new token */
	int before = fake_count(f, "/v2/");
	assert_int_equal(registry_get_manifest(c, &ep, "other", NULL, &m, &err), 0);
	registry_manifest_clear(&m);
	assert_int_equal(fake_count(f, "/v2/"), before + 1);
	assert_int_equal(fake_count(f, "/token"), 1);
	assert_int_equal(FAKE_GET(f, tls_attempts), 1);

	/* 404 after auth */
	assert_int_equal(registry_get_blob_buffer(c, &ep, want, 3, 100, NULL, &(char *){NULL}, &err), -1);
	assert_int_equal(err->code, GRPC_NOT_FOUND);
	assert_non_null(strstr(err->msg, "blob unknown (BLOB_UNKNOWN)"));
	err_free(err);
	registry_client_free(c);
	fake_stop(f);
}

static void test_bearer_credentials(void **state)
{
	(void)state;
	struct fake *f = fake_start(h_bearer);
	struct registry_endpoint ep = endpoint(f, true);
	struct registry_manifest m;
	ocid_error *err = NULL;

	struct registry_credentials good = {.username = "user", .password = "pass"};
	struct registry_client *c = client(&good);
	assert_int_equal(registry_get_manifest(c, &ep, "latest", NULL, &m, &err), 0);
	registry_manifest_clear(&m);
	registry_client_free(c);

	/* wrong password: UNAUTHENTICATED with the token server's message */
	struct registry_credentials wrong = {.username = "user", .password = "nope"};
	c = client(&wrong);
	assert_int_equal(registry_get_manifest(c, &ep, "latest", NULL, &m, &err), -1);
	assert_int_equal(err->code, GRPC_UNAUTHENTICATED);
	assert_non_null(strstr(err->msg, "incorrect username or password"));
	err_free(err);
	err = NULL;
	registry_client_free(c);

	/* identity token: POST grant_type=refresh_token */
	struct registry_credentials idt = {.identity_token = "REFRESH"};
	c = client(&idt);
	assert_int_equal(registry_get_manifest(c, &ep, "latest", NULL, &m, &err), 0);
	registry_manifest_clear(&m);
	registry_client_free(c);

	/* registry token: used as is, no token request */
	int tokens = fake_count(f, "/token");
	struct registry_credentials rt = {.registry_token = "RT"};
	c = client(&rt);
	assert_int_equal(registry_get_manifest(c, &ep, "latest", NULL, &m, &err), 0);
	registry_manifest_clear(&m);
	assert_int_equal(fake_count(f, "/token"), tokens);
	registry_client_free(c);

	/* a mirror never gets the credentials: it is used anonymously */
	struct registry_endpoint mirror = ep;
	mirror.mirror = true;
	c = client(&wrong);
	assert_int_equal(registry_get_manifest(c, &mirror, "latest", NULL, &m, &err), 0);
	registry_manifest_clear(&m);
	registry_client_free(c);

	/* an anonymous token without access: UNAUTHENTICATED, registry's message */
	fake_set(f, "private", 0);
	c = client(NULL);
	assert_int_equal(registry_get_manifest(c, &ep, "latest", NULL, &m, &err), -1);
	assert_int_equal(err->code, GRPC_UNAUTHENTICATED);
	assert_non_null(strstr(err->msg, "authentication required"));
	err_free(err);
	err = NULL;
	registry_client_free(c);

	/* a realm that is not http(s) is refused */
	fake_set(f, "ftprealm", 0);
	c = client(NULL);
	assert_int_equal(registry_get_manifest(c, &ep, "latest", NULL, &m, &err), -1);
	assert_int_equal(err->code, GRPC_UNAUTHENTICATED);
	assert_non_null(strstr(err->msg, "is not an https URL"));
	err_free(err);
	registry_client_free(c);
	fake_stop(f);
}

/* ---- basic auth ---- */

static void h_basic(struct fake *f, const struct fake_req *r, int fd)
{
	(void)f;
	if (strcmp(r->authorization, "Basic dXNlcjpwYXNz") != 0) {
		respond_json(fd, 401, "WWW-Authenticate: Basic realm=\"Registry Realm\"\r\n",
			     "{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":\"authentication "
			     "required\"}]}");
		return;
	}
	respond(fd, 200, "Content-Type: application/vnd.oci.image.manifest.v1+json\r\n",
		manifest_body, strlen(manifest_body));
}

static void test_basic(void **state)
{
	(void)state;
	struct fake *f = fake_start(h_basic);
	struct registry_endpoint ep = endpoint(f, true);
	struct registry_manifest m;
	ocid_error *err = NULL;

	struct registry_credentials good = {.auth = "dXNlcjpwYXNz"};
	struct registry_client *c = client(&good);
	assert_int_equal(registry_get_manifest(c, &ep, "latest", NULL, &m, &err), 0);
	registry_manifest_clear(&m);
	/* known to want basic now: sent up front */
	int before = FAKE_GET(f, n);
	assert_int_equal(registry_get_manifest(c, &ep, "latest", NULL, &m, &err), 0);
	registry_manifest_clear(&m);
	assert_int_equal(FAKE_GET(f, n), before + 1);
	registry_client_free(c);

	c = client(NULL);
	assert_int_equal(registry_get_manifest(c, &ep, "latest", NULL, &m, &err), -1);
	assert_int_equal(err->code, GRPC_UNAUTHENTICATED);
	assert_non_null(strstr(err->msg, "none were given"));
	err_free(err);
	err = NULL;
	registry_client_free(c);

	struct registry_credentials wrong = {.username = "user", .password = "x"};
	c = client(&wrong);
	assert_int_equal(registry_get_manifest(c, &ep, "latest", NULL, &m, &err), -1);
	assert_int_equal(err->code, GRPC_UNAUTHENTICATED);
	assert_non_null(strstr(err->msg, "refused"));
	assert_non_null(strstr(err->msg, "authentication required"));
	err_free(err);
	registry_client_free(c);
	fake_stop(f);
}

/* ---- redirects ---- */

static void h_storage(struct fake *f, const struct fake_req *r, int fd)
{
	(void)f;
	(void)r;
	respond(fd, 200, NULL, blob_data_bytes, BLOB_LEN);
}

static void h_redirect(struct fake *f, const struct fake_req *r, int fd)
{
	if (strcmp(r->authorization, "Bearer RT") != 0) {
		respond_json(fd, 401, "WWW-Authenticate: Basic realm=\"x\"\r\n", "{}");
		return;
	}
	char h[2200];
	if (strstr(r->path, "/blobs/")) {
		/* first hop stays here (relative), second goes to the storage host */
		if (strstr(r->path, "hop") == NULL) {
			snprintf(h, sizeof(h), "Location: %s?hop=1\r\n", r->path);
			respond(fd, 307, h, NULL, 0);
		} else {
			snprintf(h, sizeof(h), "Location: http://127.0.0.1:%d/storage/blob?sig=s\r\n",
				 f->other->port);
			respond(fd, 302, h, NULL, 0);
		}
		return;
	}
	respond(fd, 404, NULL, NULL, 0);
}

static void test_redirects(void **state)
{
	(void)state;
	struct fake *storage = fake_start(h_storage);
	struct fake *f = fake_start(h_redirect);
	f->other = storage;
	struct registry_credentials rt = {.registry_token = "RT"};
	struct registry_client *c = client(&rt);
	struct registry_endpoint ep = endpoint(f, true);
	ocid_error *err = NULL;
	char *out = NULL;
	if (registry_get_blob_buffer(c, &ep, blob_digest(), BLOB_LEN, 1000, NULL, &out, &err) < 0) {
		fprintf(stderr, "%s\n", err->msg);
		fail();
	}
	assert_memory_equal(out, blob_data_bytes, BLOB_LEN);
	free(out);
	/* same origin keeps the Authorization header; the storage host never sees it */
	assert_int_equal(fake_count(f, "/v2/repo/blobs/"), 2);
	assert_string_equal(f->log[1].authorization, "Bearer RT");
	assert_int_equal(FAKE_GET(storage, n), 1);
	assert_string_equal(storage->log[0].path, "/storage/blob?sig=s");
	assert_string_equal(storage->log[0].authorization, "");
	registry_client_free(c);
	fake_stop(f);
	fake_stop(storage);
}

static void h_loop(struct fake *f, const struct fake_req *r, int fd)
{
	(void)f;
	char h[2200];
	snprintf(h, sizeof(h), "Location: %s\r\n", r->path);
	respond(fd, 302, h, NULL, 0);
}

static void test_redirect_loop(void **state)
{
	(void)state;
	struct fake *f = fake_start(h_loop);
	struct registry_client *c = client(NULL);
	struct registry_endpoint ep = endpoint(f, true);
	ocid_error *err = NULL;
	struct registry_manifest m;
	assert_int_equal(registry_get_manifest(c, &ep, "x", NULL, &m, &err), -1);
	assert_int_equal(err->code, GRPC_UNAVAILABLE);
	assert_non_null(strstr(err->msg, "too many redirects"));
	err_free(err);
	registry_client_free(c);
	fake_stop(f);
}

/* ---- retries, resumes, verification ---- */

static void h_flaky(struct fake *f, const struct fake_req *r, int fd)
{
	const char *mode = r->data;
	int step = r->step;
	if (strcmp(mode, "503") == 0) {
		if (step < 2)
			respond_json(fd, step == 0 ? 503 : 429, "Retry-After: 0\r\n", "{}");
		else
			respond(fd, 200, NULL, blob_data_bytes, BLOB_LEN);
	} else if (strcmp(mode, "always503") == 0) {
		respond_json(fd, 503, NULL, "{\"errors\":[{\"code\":\"UNAVAILABLE\",\"message\":\"down\"}]}");
	} else if (strcmp(mode, "cut") == 0 || strcmp(mode, "cut-norange") == 0) {
		if (step == 0) {
			/* announce everything, send half, hang up */
			char head[256];
			int n = snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n",
					 BLOB_LEN);
			send_all(fd, head, (size_t)n);
			send_all(fd, blob_data_bytes, 10);
		} else if (strcmp(mode, "cut") == 0 && strcmp(r->range, "bytes=10-") == 0) {
			char h[128];
			snprintf(h, sizeof(h), "Content-Range: bytes 10-%zu/%zu\r\n", BLOB_LEN - 1, BLOB_LEN);
			respond(fd, 206, h, blob_data_bytes + 10, BLOB_LEN - 10);
		} else {
			respond(fd, 200, NULL, blob_data_bytes, BLOB_LEN);
		}
	} else if (strcmp(mode, "corrupt") == 0) {
		char bad[BLOB_LEN];
		memcpy(bad, blob_data_bytes, BLOB_LEN);
		bad[5] ^= 1;
		respond(fd, 200, NULL, bad, BLOB_LEN);
	} else if (strcmp(mode, "long") == 0) {
		/* no Content-Length, more bytes than the manifest says */
		const char head[] = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n";
		send_all(fd, head, sizeof(head) - 1);
		send_all(fd, blob_data_bytes, BLOB_LEN);
		send_all(fd, "extra", 5);
	} else if (strcmp(mode, "short") == 0) {
		const char head[] = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n";
		send_all(fd, head, sizeof(head) - 1);
		send_all(fd, blob_data_bytes, BLOB_LEN - 1);
	} else if (strcmp(mode, "stall") == 0) {
		for (int i = 0; i < 500 && !atomic_load(&f->stop); i++)
			usleep(20000); /* 10 s, or until the server stops */
	} else if (strcmp(mode, "manifest") == 0) {
		char h[256];
		snprintf(h, sizeof(h), "Docker-Content-Digest: %s\r\n", blob_digest());
		respond(fd, 200, h, strstr(r->path, "bad") ? "tampered" : blob_data_bytes,
			strstr(r->path, "bad") ? 8 : BLOB_LEN);
	} else if (strcmp(mode, "huge") == 0) {
		size_t n = MANIFEST_MAX_SIZE + 10;
		char *big = malloc(n);
		memset(big, ' ', n);
		respond(fd, 200, NULL, big, n);
		free(big);
	}
}

struct counting_sink {
	char buf[256];
	size_t len;
	int resets;
	int fail_after; /* > 0: fail once len reaches it */
};

static int cs_write(void *opaque, const void *buf, size_t len, ocid_error **err)
{
	struct counting_sink *s = opaque;
	if (s->len + len > sizeof(s->buf))
		return err_set(err, GRPC_INTERNAL, "sink overflow");
	memcpy(s->buf + s->len, buf, len);
	s->len += len;
	if (s->fail_after > 0 && s->len >= (size_t)s->fail_after)
		return err_set(err, GRPC_ABORTED, "sink says stop");
	return 0;
}

static int cs_reset(void *opaque, ocid_error **err)
{
	(void)err;
	struct counting_sink *s = opaque;
	s->len = 0;
	s->resets++;
	return 0;
}

static int get_blob(struct fake *f, const char *mode, struct counting_sink *s, bool with_reset,
		    const struct registry_cancel *cancel, ocid_error **err)
{
	fake_set(f, mode, 0);
	memset(s, 0, sizeof(*s) - sizeof(s->fail_after));
	struct registry_client *c = client(NULL);
	struct registry_endpoint ep = endpoint(f, true);
	struct registry_blob_sink sink = {cs_write, with_reset ? cs_reset : NULL, s};
	int rc = registry_get_blob(c, &ep, blob_digest(), BLOB_LEN, &sink, cancel, err);
	registry_client_free(c);
	return rc;
}

static void test_retries(void **state)
{
	(void)state;
	struct fake *f = fake_start(h_flaky);
	struct counting_sink s = {0};
	ocid_error *err = NULL;

	/* 503, 429, then the blob */
	assert_int_equal(get_blob(f, "503", &s, true, NULL, &err), 0);
	assert_int_equal(s.len, BLOB_LEN);
	assert_int_equal(FAKE_GET(f, step), 3);

	/* down for good: UNAVAILABLE after max_attempts (4) */
	assert_int_equal(get_blob(f, "always503", &s, true, NULL, &err), -1);
	assert_int_equal(err->code, GRPC_UNAVAILABLE);
	assert_non_null(strstr(err->msg, "after 4 attempts"));
	assert_non_null(strstr(err->msg, "down (UNAVAILABLE)"));
	assert_int_equal(FAKE_GET(f, step), 4);
	err_free(err);
	err = NULL;

	/* cut mid-blob: resumed with a Range request, no reset */
	assert_int_equal(get_blob(f, "cut", &s, true, NULL, &err), 0);
	assert_int_equal(s.len, BLOB_LEN);
	assert_memory_equal(s.buf, blob_data_bytes, BLOB_LEN);
	assert_int_equal(s.resets, 0);
	assert_int_equal(FAKE_GET(f, step), 2);

	/* cut, and the server ignores the Range: the sink starts over */
	assert_int_equal(get_blob(f, "cut-norange", &s, true, NULL, &err), 0);
	assert_int_equal(s.len, BLOB_LEN);
	assert_memory_equal(s.buf, blob_data_bytes, BLOB_LEN);
	assert_int_equal(s.resets, 1);

	/* ... and a sink that cannot start over fails the download */
	assert_int_equal(get_blob(f, "cut-norange", &s, false, NULL, &err), -1);
	assert_int_equal(err->code, GRPC_UNAVAILABLE);
	assert_non_null(strstr(err->msg, "cannot be resumed"));
	err_free(err);
	fake_stop(f);
}

static void test_verification(void **state)
{
	(void)state;
	struct fake *f = fake_start(h_flaky);
	struct counting_sink s = {0};
	ocid_error *err = NULL;

	assert_int_equal(get_blob(f, "corrupt", &s, true, NULL, &err), -1);
	assert_int_equal(err->code, GRPC_DATA_LOSS);
	assert_non_null(strstr(err->msg, "does not match its digest"));
	err_free(err);
	err = NULL;

	assert_int_equal(get_blob(f, "long", &s, true, NULL, &err), -1);
	assert_int_equal(err->code, GRPC_DATA_LOSS);
	assert_non_null(strstr(err->msg, "more than the"));
	assert_true(s.len <= BLOB_LEN);
	err_free(err);
	err = NULL;

	assert_int_equal(get_blob(f, "short", &s, true, NULL, &err), -1);
	assert_int_equal(err->code, GRPC_DATA_LOSS);
	assert_non_null(strstr(err->msg, "got 35 bytes"));
	err_free(err);
	err = NULL;

	/* Content-Length disagrees with the descriptor: stopped before any byte */
	fake_set(f, "503", 2);
	struct registry_client *c = client(NULL);
	struct registry_endpoint ep = endpoint(f, true);
	struct registry_blob_sink sink = {cs_write, cs_reset, &s};
	s.len = 0;
	assert_int_equal(registry_get_blob(c, &ep, blob_digest(), BLOB_LEN + 1, &sink, NULL, &err), -1);
	assert_int_equal(err->code, GRPC_DATA_LOSS);
	assert_int_equal(s.len, 0);
	err_free(err);
	err = NULL;

	/* a sink error comes back as the sink set it */
	s.fail_after = 5;
	assert_int_equal(get_blob(f, "503", &s, true, NULL, &err), -1);
	assert_int_equal(err->code, GRPC_ABORTED);
	assert_non_null(strstr(err->msg, "sink says stop"));
	err_free(err);
	err = NULL;
	s.fail_after = 0;

	/* manifests: by digest and by tag against Docker-Content-Digest */
	fake_set(f, "manifest", 0);
	struct registry_manifest m;
	assert_int_equal(registry_get_manifest(c, &ep, blob_digest(), NULL, &m, &err), 0);
	assert_string_equal(m.digest, blob_digest());
	registry_manifest_clear(&m);
	assert_int_equal(registry_get_manifest(c, &ep, "tag", NULL, &m, &err), 0);
	registry_manifest_clear(&m);
	assert_int_equal(registry_get_manifest(c, &ep, "bad", NULL, &m, &err), -1);
	assert_int_equal(err->code, GRPC_DATA_LOSS);
	err_free(err);
	err = NULL;
	struct registry_manifest_head head;
	assert_int_equal(registry_head_manifest(c, &ep, "tag", NULL, &head, &err), 0);
	assert_string_equal(head.digest, blob_digest());
	registry_manifest_head_clear(&head);
	/* bad references are refused before any request */
	assert_int_equal(registry_get_manifest(c, &ep, "a/b", NULL, &m, &err), -1);
	assert_int_equal(err->code, GRPC_INVALID_ARGUMENT);
	err_free(err);
	err = NULL;

	/* a manifest over the limit */
	fake_set(f, "huge", 0);
	assert_int_equal(registry_get_manifest(c, &ep, "tag", NULL, &m, &err), -1);
	assert_int_equal(err->code, GRPC_RESOURCE_EXHAUSTED);
	err_free(err);
	err = NULL;
	/* a buffered blob over its limit is refused up front */
	char *out = NULL;
	assert_int_equal(registry_get_blob_buffer(c, &ep, blob_digest(), 100, 99, NULL, &out, &err), -1);
	assert_int_equal(err->code, GRPC_RESOURCE_EXHAUSTED);
	err_free(err);
	registry_client_free(c);
	fake_stop(f);
}

static atomic_int cancel_flag;
static bool is_cancelled(void *opaque)
{
	(void)opaque;
	return atomic_load(&cancel_flag) != 0;
}

static void *cancel_later(void *arg)
{
	(void)arg;
	usleep(200000);
	atomic_store(&cancel_flag, 1);
	return NULL;
}

static int64_t now_ms(void) { return registry_now_ns() / 1000000; }

static void test_cancel_and_deadline(void **state)
{
	(void)state;
	struct fake *f = fake_start(h_flaky);
	struct counting_sink s = {0};
	ocid_error *err = NULL;

	atomic_store(&cancel_flag, 0);
	struct registry_cancel cancel = {.cancelled = is_cancelled};
	pthread_t t;
	pthread_create(&t, NULL, cancel_later, NULL);
	int64_t t0 = now_ms();
	assert_int_equal(get_blob(f, "stall", &s, true, &cancel, &err), -1);
	pthread_join(t, NULL);
	assert_int_equal(err->code, GRPC_CANCELLED);
	assert_true(now_ms() - t0 < 4000); /* progress callbacks come at least once a second */
	err_free(err);
	err = NULL;

	struct registry_cancel deadline = {.deadline_ns = registry_now_ns() + 300000000LL};
	t0 = now_ms();
	assert_int_equal(get_blob(f, "stall", &s, true, &deadline, &err), -1);
	assert_int_equal(err->code, GRPC_DEADLINE_EXCEEDED);
	assert_true(now_ms() - t0 < 4000);
	err_free(err);
	err = NULL;

	/* a retry that would start after the deadline is not waited for, and the
	 * error says what was being retried */
	{
		struct registry_options o = {.backoff_initial_ms = 2000, .max_attempts = 4};
		struct registry_client *slow = NULL;
		assert_int_equal(registry_client_new(NULL, &o, &slow, &err), 0);
		struct fake *f2 = fake_start(h_flaky); /* f may still be stalling */
		fake_set(f2, "always503", 0);
		struct registry_endpoint ep = endpoint(f2, true);
		struct registry_cancel soon = {.deadline_ns = registry_now_ns() + 500000000LL};
		struct registry_blob_sink sink = {cs_write, cs_reset, &s};
		t0 = now_ms();
		assert_int_equal(registry_get_blob(slow, &ep, blob_digest(), BLOB_LEN, &sink, &soon, &err),
				 -1);
		assert_true(now_ms() - t0 < 400);
		assert_int_equal(err->code, GRPC_DEADLINE_EXCEEDED);
		assert_non_null(strstr(err->msg, "503 Service Unavailable: down (UNAVAILABLE) (retrying)"));
		err_free(err);
		err = NULL;
		registry_client_free(slow);
		fake_stop(f2);
	}

	/* a deadline already past: nothing is sent */
	int before = FAKE_GET(f, n);
	struct registry_cancel past = {.deadline_ns = registry_now_ns() - 1};
	assert_int_equal(get_blob(f, "503", &s, true, &past, &err), -1);
	assert_int_equal(err->code, GRPC_DEADLINE_EXCEEDED);
	assert_int_equal(FAKE_GET(f, n), before);
	err_free(err);
	fake_stop(f);
}

static void test_connection_refused(void **state)
{
	(void)state;
	/* a port nobody listens on */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	bind(fd, (struct sockaddr *)&a, sizeof(a));
	socklen_t al = sizeof(a);
	getsockname(fd, (struct sockaddr *)&a, &al);
	close(fd);
	char host[64];
	snprintf(host, sizeof(host), "127.0.0.1:%d", ntohs(a.sin_port));
	struct registry_endpoint ep = {.host = host, .repository = "repo", .insecure = true};
	struct registry_client *c = client(NULL);
	ocid_error *err = NULL;
	struct registry_manifest m;
	assert_int_equal(registry_get_manifest(c, &ep, "x", NULL, &m, &err), -1);
	assert_int_equal(err->code, GRPC_UNAVAILABLE);
	assert_non_null(strstr(err->msg, "after 4 attempts"));
	err_free(err);
	registry_client_free(c);
}


/* ---- one client, many threads ---- */

struct par_arg {
	struct registry_client *c;
	struct registry_endpoint ep;
	int failures;
};

static void *par_main(void *opaque)
{
	struct par_arg *a = opaque;
	for (int i = 0; i < 4; i++) {
		ocid_error *err = NULL;
		char *out = NULL;
		if (registry_get_blob_buffer(a->c, &a->ep, blob_digest(), BLOB_LEN, 100, NULL, &out,
					     &err) < 0 ||
		    memcmp(out, blob_data_bytes, BLOB_LEN) != 0) {
			if (err)
				fprintf(stderr, "%s\n", err->msg);
			a->failures++;
		}
		err_free(err);
		free(out);
	}
	return NULL;
}

static void test_parallel(void **state)
{
	(void)state;
	struct fake *f = fake_start(h_storage);
	struct registry_client *c = client(NULL);
	struct par_arg args[8];
	pthread_t th[8];
	for (int i = 0; i < 8; i++) {
		args[i] = (struct par_arg){c, endpoint(f, true), 0};
		pthread_create(&th[i], NULL, par_main, &args[i]);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(args[i].failures, 0);
	}
	assert_int_equal(FAKE_GET(f, n), 32);
	registry_client_free(c);
	fake_stop(f);
}

/* ------------------------------------------------------------------ */
/* a real registry */

static int discard_write(void *opaque, const void *buf, size_t len, ocid_error **err)
{
	(void)buf;
	(void)err;
	*(uint64_t *)opaque += len;
	return 0;
}

static int discard_reset(void *opaque, ocid_error **err)
{
	(void)err;
	*(uint64_t *)opaque = 0;
	return 0;
}

static void test_live_registry(void **state)
{
	(void)state;
	const char *target = getenv("OCID_TEST_REGISTRY");
	if (target == NULL || *target == '\0')
		skip();
	struct image_ref ref;
	ocid_error *err = NULL;
	if (image_ref_parse(target, &ref, &err) < 0) {
		fprintf(stderr, "%s\n", err->msg);
		fail();
	}
	char *insecure[] = {ref.domain, NULL};
	struct ocid_image_config cfg = {.insecure_registries = insecure};
	struct registry_endpoint *eps = NULL;
	size_t n_eps = 0;
	assert_int_equal(registry_endpoints(&cfg, &ref, &eps, &n_eps, &err), 0);
	struct registry_credentials creds = {
		.username = getenv("OCID_TEST_REGISTRY_USER"),
		.password = getenv("OCID_TEST_REGISTRY_PASS"),
		.identity_token = getenv("OCID_TEST_REGISTRY_IDENTITY_TOKEN"),
		.registry_token = getenv("OCID_TEST_REGISTRY_TOKEN"),
	};
	struct registry_client *c = client(&creds);
	struct registry_cancel cancel = {.deadline_ns = registry_now_ns() + 60000000000LL};
	struct registry_endpoint *ep = &eps[n_eps - 1];

	struct registry_manifest raw;
	if (registry_get_manifest(c, ep, image_ref_manifest_ref(&ref), &cancel, &raw, &err) < 0) {
		fprintf(stderr, "%s\n", err->msg);
		fail();
	}
	struct image_manifest *m = NULL;
	if (manifest_parse(raw.body, raw.len, raw.media_type, &m, &err) < 0) {
		fprintf(stderr, "%s\n", err->msg);
		fail();
	}
	printf("# %s: %s %s\n", target, m->media_type, raw.digest);
	struct registry_manifest_head head;
	assert_int_equal(registry_head_manifest(c, ep, image_ref_manifest_ref(&ref), &cancel, &head, &err), 0);
	if (head.digest)
		assert_string_equal(head.digest, raw.digest);
	registry_manifest_head_clear(&head);

	if (manifest_is_index(m)) {
		struct image_platform host;
		image_platform_host(&host);
		const struct image_descriptor *d = NULL;
		if (manifest_select_platform(m, &host, &d, &err) < 0) {
			fprintf(stderr, "%s\n", err->msg);
			fail();
		}
		char *digest = strdup(d->digest);
		printf("# selected %s\n", digest);
		image_platform_clear(&host);
		manifest_free(m);
		registry_manifest_clear(&raw);
		assert_int_equal(registry_get_manifest(c, ep, digest, &cancel, &raw, &err), 0);
		assert_string_equal(raw.digest, digest);
		free(digest);
		assert_int_equal(manifest_parse(raw.body, raw.len, raw.media_type, &m, &err), 0);
	}
	char *cfgbuf = NULL;
	if (registry_get_blob_buffer(c, ep, m->config.digest, m->config.size, IMAGE_CONFIG_MAX_SIZE,
				     &cancel, &cfgbuf, &err) < 0) {
		fprintf(stderr, "%s\n", err->msg);
		fail();
	}
	struct image_config *ic = NULL;
	assert_int_equal(image_config_parse(cfgbuf, (size_t)m->config.size, &ic, &err), 0);
	assert_int_equal(image_config_check_layers(ic, m, &err), 0);
	printf("# config %s/%s user=%s layers=%zu\n", ic->os, ic->architecture,
	       ic->user ? ic->user : "", m->n_layers);
	for (size_t i = 0; i < m->n_layers; i++) {
		uint64_t got = 0;
		struct registry_blob_sink sink = {discard_write, discard_reset, &got};
		if (registry_get_blob(c, ep, m->layers[i].desc.digest, m->layers[i].desc.size, &sink,
				      &cancel, &err) < 0) {
			fprintf(stderr, "%s\n", err->msg);
			fail();
		}
		assert_int_equal(got, (uint64_t)m->layers[i].desc.size);
		printf("# layer %s %s %" PRIu64 " bytes\n", m->layers[i].desc.digest,
		       layer_compression_name(m->layers[i].compression), got);
	}
	/* a tag that does not exist */
	struct registry_manifest none;
	assert_int_equal(registry_get_manifest(c, ep, "no-such-tag-ocid", &cancel, &none, &err), -1);
	assert_int_equal(err->code, GRPC_NOT_FOUND);
	printf("# %s\n", err->msg);
	err_free(err);

	image_config_free(ic);
	free(cfgbuf);
	manifest_free(m);
	registry_manifest_clear(&raw);
	registry_client_free(c);
	registry_endpoints_free(eps, n_eps);
	image_ref_clear(&ref);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_challenge_bearer),
		cmocka_unit_test(test_challenge_multiple),
		cmocka_unit_test(test_challenge_missing_and_bad),
		cmocka_unit_test(test_endpoints),
		cmocka_unit_test(test_helpers),
		cmocka_unit_test(test_credentials),
		cmocka_unit_test(test_bearer_anonymous),
		cmocka_unit_test(test_bearer_credentials),
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_redirects),
		cmocka_unit_test(test_redirect_loop),
		cmocka_unit_test(test_retries),
		cmocka_unit_test(test_verification),
		cmocka_unit_test(test_cancel_and_deadline),
		cmocka_unit_test(test_connection_refused),
		cmocka_unit_test(test_parallel),
		cmocka_unit_test(test_live_registry),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
