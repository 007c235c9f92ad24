/* The gRPC server, driven in-process over its unix socket by a small nghttp2
 * client written here: status codes, deadlines, streaming, cancellation,
 * flow control, limits, shutdown.
 *
 * `test_server --serve PATH` runs the same server and routes until SIGTERM,
 * for poking at it with other clients (grpcio, grpcurl). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <nghttp2/nghttp2.h>

#include "api.pb-c.h"
#include "grpc/wire.h"
#include "server/server.h"
#include "util/log.h"

#define VERSION_PATH "/runtime.v1.RuntimeService/Version"
#define FOO_PATH "/runtime.v1.RuntimeService/Foo"
#define SLOW_PATH "/test.Test/Slow"
#define COUNT_PATH "/test.Test/Count"
#define TEST_MAX_MESSAGE (1u << 20)
#define TEST_MAX_STREAMING 4

/* ---- handlers ---- */

static atomic_int slow_started, slow_saw_cancel;
static atomic_int stream_saw_cancel, stream_sent, stream_running;

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static Runtime__V1__VersionResponse *new_response(const char *version)
{
	Runtime__V1__VersionResponse *r = malloc(sizeof(*r));
	runtime__v1__version_response__init(r);
	r->version = strdup(version);
	r->runtime_name = strdup("ocid-test");
	return r;
}

static int h_version(struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
		     ocid_error **err)
{
	(void)call;
	const Runtime__V1__VersionRequest *r = (const Runtime__V1__VersionRequest *)req;
	if (strcmp(r->version, "fail") == 0)
		return err_set(err, GRPC_NOT_FOUND, "no such thing: 100%% \"t\xc3\xa9st\"\n");
	if (strcmp(r->version, "null") == 0)
		return 0;
	Runtime__V1__VersionResponse *out = new_response(r->version);
	if (strcmp(r->version, "huge") == 0) {
		free(out->runtime_name);
		out->runtime_name = malloc(TEST_MAX_MESSAGE + 10);
		memset(out->runtime_name, 'x', TEST_MAX_MESSAGE + 9);
		out->runtime_name[TEST_MAX_MESSAGE + 9] = '\0';
	}
	*resp = &out->base;
	return 0;
}

/* Waits `version` milliseconds (or until cancelled). */
static int h_slow(struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
		  ocid_error **err)
{
	const Runtime__V1__VersionRequest *r = (const Runtime__V1__VersionRequest *)req;
	atomic_fetch_add(&slow_started, 1);
	if (rpc_call_wait_cancel(call, atoll(r->version) * 1000000LL)) {
		atomic_fetch_add(&slow_saw_cancel, 1);
		return err_set(err, GRPC_CANCELLED, "cancelled");
	}
	*resp = &new_response(r->version)->base;
	return 0;
}

/* Sends `version` messages; "forever" sends until cancelled; "big:N" sends
 * N messages of 1 KiB. */
static int h_count(struct rpc_call *call, const ProtobufCMessage *req, ocid_error **err)
{
	const Runtime__V1__VersionRequest *r = (const Runtime__V1__VersionRequest *)req;
	atomic_fetch_add(&stream_running, 1);
	int rc = 0;
	bool forever = strcmp(r->version, "forever") == 0;
	bool big = strncmp(r->version, "big:", 4) == 0;
	long n = forever ? -1 : atol(big ? r->version + 4 : r->version);
	char pad[1025];
	memset(pad, 'p', 1024);
	pad[1024] = '\0';
	for (long i = 0; n < 0 || i < n; i++) {
		char num[32];
		snprintf(num, sizeof(num), "%ld", i);
		Runtime__V1__VersionResponse m = RUNTIME__V1__VERSION_RESPONSE__INIT;
		m.version = num;
		if (big)
			m.runtime_name = pad;
		if (rpc_call_send(call, &m.base, err) < 0) {
			atomic_store(&stream_saw_cancel, 1);
			rc = -1;
			break;
		}
		atomic_fetch_add(&stream_sent, 1);
		if (forever && rpc_call_wait_cancel(call, 5000000)) {
			atomic_store(&stream_saw_cancel, 1);
			rc = err_set(err, GRPC_CANCELLED, "cancelled");
			break;
		}
	}
	atomic_fetch_sub(&stream_running, 1);
	return rc;
}

static const struct rpc_route test_routes[] = {
	{VERSION_PATH, &runtime__v1__version_request__descriptor,
	 &runtime__v1__version_response__descriptor, h_version, NULL, NULL, true},
	{FOO_PATH, &runtime__v1__version_request__descriptor,
	 &runtime__v1__version_response__descriptor, NULL, NULL, NULL, false},
	{SLOW_PATH, &runtime__v1__version_request__descriptor,
	 &runtime__v1__version_response__descriptor, h_slow, NULL, NULL, false},
	{COUNT_PATH, &runtime__v1__version_request__descriptor,
	 &runtime__v1__version_response__descriptor, NULL, h_count, NULL, false},
};

/* ---- a minimal gRPC client over nghttp2 ---- */

struct tstream {
	int32_t id;
	int http_status;
	int grpc_status; /* -1 until seen */
	char grpc_message[512];
	uint8_t *data;
	size_t len, cap;
	bool closed;
	uint32_t close_code;
	/* request body */
	uint8_t *req;
	size_t req_len, req_off;
	bool hold_open; /* do not send END_STREAM after req */
};

struct tclient {
	int fd;
	nghttp2_session *s;
	bool eof;
};

static ssize_t tc_send(nghttp2_session *s, const uint8_t *data, size_t len, int flags, void *ud)
{
	(void)s;
	(void)flags;
	struct tclient *tc = ud;
	ssize_t n = send(tc->fd, data, len, MSG_NOSIGNAL);
	if (n < 0)
		return errno == EAGAIN ? NGHTTP2_ERR_WOULDBLOCK : NGHTTP2_ERR_CALLBACK_FAILURE;
	return n;
}

static int tc_on_header(nghttp2_session *s, const nghttp2_frame *frame, const uint8_t *name,
			size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
			void *ud)
{
	(void)flags;
	(void)ud;
	struct tstream *st = nghttp2_session_get_stream_user_data(s, frame->hd.stream_id);
	if (st == NULL)
		return 0;
	char v[1024];
	size_t n = valuelen < sizeof(v) - 1 ? valuelen : sizeof(v) - 1;
	memcpy(v, value, n);
	v[n] = '\0';
	if (namelen == 7 && memcmp(name, ":status", 7) == 0) {
		st->http_status = atoi(v);
	} else if (namelen == 11 && memcmp(name, "grpc-status", 11) == 0) {
		st->grpc_status = atoi(v);
	} else if (namelen == 12 && memcmp(name, "grpc-message", 12) == 0) {
		char *d = grpc_message_decode((const char *)value, valuelen);
		snprintf(st->grpc_message, sizeof(st->grpc_message), "%s", d);
		free(d);
	}
	return 0;
}

static int tc_on_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data,
		      size_t len, void *ud)
{
	(void)flags;
	(void)ud;
	struct tstream *st = nghttp2_session_get_stream_user_data(s, id);
	if (st == NULL)
		return 0;
	if (st->len + len > st->cap) {
		st->cap = (st->len + len) * 2;
		st->data = realloc(st->data, st->cap);
	}
	memcpy(st->data + st->len, data, len);
	st->len += len;
	return 0;
}

static int tc_on_close(nghttp2_session *s, int32_t id, uint32_t code, void *ud)
{
	(void)ud;
	struct tstream *st = nghttp2_session_get_stream_user_data(s, id);
	if (st) {
		st->closed = true;
		st->close_code = code;
	}
	return 0;
}

static ssize_t tc_read_body(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len,
			    uint32_t *flags, nghttp2_data_source *src, void *ud)
{
	(void)s;
	(void)id;
	(void)ud;
	struct tstream *st = src->ptr;
	size_t n = st->req_len - st->req_off;
	if (n > len)
		n = len;
	memcpy(buf, st->req + st->req_off, n);
	st->req_off += n;
	if (st->req_off == st->req_len) {
		if (!st->hold_open)
			*flags |= NGHTTP2_DATA_FLAG_EOF;
		else if (n == 0)
			return NGHTTP2_ERR_DEFERRED;
	}
	return (ssize_t)n;
}

static int tc_connect(struct tclient *tc, const char *path)
{
	memset(tc, 0, sizeof(*tc));
	tc->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	if (connect(tc->fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		close(tc->fd);
		return -1;
	}
	fcntl(tc->fd, F_SETFL, O_NONBLOCK);
	nghttp2_session_callbacks *cbs;
	nghttp2_session_callbacks_new(&cbs);
	nghttp2_session_callbacks_set_send_callback(cbs, tc_send);
	nghttp2_session_callbacks_set_on_header_callback(cbs, tc_on_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, tc_on_data);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, tc_on_close);
	nghttp2_session_client_new(&tc->s, cbs, tc);
	nghttp2_session_callbacks_del(cbs);
	nghttp2_submit_settings(tc->s, NGHTTP2_FLAG_NONE, NULL, 0);
	return 0;
}

static void tc_close(struct tclient *tc)
{
	nghttp2_session_del(tc->s);
	close(tc->fd);
}

/* One round of I/O: send what is queued, wait up to timeout_ms for input. */
static void tc_pump(struct tclient *tc, int timeout_ms)
{
	nghttp2_session_send(tc->s);
	struct pollfd p = {.fd = tc->fd, .events = POLLIN};
	if (nghttp2_session_want_write(tc->s))
		p.events |= POLLOUT;
	if (poll(&p, 1, timeout_ms) <= 0)
		return;
	if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
		uint8_t buf[65536];
		ssize_t n = recv(tc->fd, buf, sizeof(buf), 0);
		if (n > 0)
			nghttp2_session_mem_recv(tc->s, buf, (size_t)n);
		else if (n == 0)
			tc->eof = true;
	}
	nghttp2_session_send(tc->s);
}

static bool tc_wait_closed(struct tclient *tc, struct tstream *st, int timeout_ms)
{
	int64_t until = now_ms() + timeout_ms;
	while (!st->closed && !tc->eof && now_ms() < until)
		tc_pump(tc, 10);
	return st->closed;
}

static uint8_t *frame_version_request(const char *version, size_t *len)
{
	Runtime__V1__VersionRequest r = RUNTIME__V1__VERSION_REQUEST__INIT;
	r.version = (char *)version;
	size_t n = runtime__v1__version_request__get_packed_size(&r);
	uint8_t *buf = malloc(GRPC_PREFIX_LEN + n + 1);
	grpc_frame_prefix(buf, (uint32_t)n);
	runtime__v1__version_request__pack(&r, buf + GRPC_PREFIX_LEN);
	*len = GRPC_PREFIX_LEN + n;
	return buf;
}

#define NV(n, v) \
	{ (uint8_t *)(n), (uint8_t *)(v), strlen(n), strlen(v), NGHTTP2_NV_FLAG_NONE }

/* Starts a request; body (owned by st) may be NULL for none. extra is a
 * NULL-terminated list of name, value pairs. */
static void tc_start(struct tclient *tc, struct tstream *st, const char *path, uint8_t *body,
		     size_t body_len, bool hold_open, const char *const *extra)
{
	memset(st, 0, sizeof(*st));
	st->grpc_status = -1;
	st->req = body;
	st->req_len = body_len;
	st->hold_open = hold_open;
	nghttp2_nv nva[16] = {
		NV(":method", "POST"), NV(":scheme", "http"), NV(":path", path),
		NV(":authority", "localhost"), NV("te", "trailers"),
	};
	size_t n = 5;
	bool have_ct = false;
	for (size_t i = 0; extra && extra[i]; i += 2) {
		nva[n++] = (nghttp2_nv)NV(extra[i], extra[i + 1]);
		if (strcmp(extra[i], "content-type") == 0)
			have_ct = true;
	}
	if (!have_ct)
		nva[n++] = (nghttp2_nv)NV("content-type", "application/grpc");
	nghttp2_data_provider prd = {.source.ptr = st, .read_callback = tc_read_body};
	st->id = nghttp2_submit_request(tc->s, NULL, nva, n, (body || hold_open) ? &prd : NULL, st);
	assert_true(st->id > 0);
}

static void tstream_free(struct tstream *st)
{
	free(st->data);
	free(st->req);
	st->data = st->req = NULL;
}

/* Splits st->data into VersionResponses; returns how many. */
static int decode_responses(struct tstream *st, Runtime__V1__VersionResponse **first,
			    Runtime__V1__VersionResponse **last)
{
	int count = 0;
	size_t off = 0;
	while (off < st->len) {
		const uint8_t *msg;
		size_t mlen, used;
		if (grpc_frame_parse(st->data + off, st->len - off, 64u << 20, &msg, &mlen, &used) !=
		    GRPC_FRAME_OK)
			return -1;
		Runtime__V1__VersionResponse *r = runtime__v1__version_response__unpack(NULL, mlen, msg);
		if (r == NULL)
			return -1;
		if (count == 0 && first) {
			*first = r;
		} else if (last) {
			if (*last)
				runtime__v1__version_response__free_unpacked(*last, NULL);
			*last = r;
		} else {
			runtime__v1__version_response__free_unpacked(r, NULL);
		}
		count++;
		off += used;
	}
	return count;
}

/* One unary Version-shaped call, start to finish. */
static void call_simple(struct tclient *tc, struct tstream *st, const char *path,
			const char *version, const char *const *extra)
{
	size_t len;
	uint8_t *body = frame_version_request(version, &len);
	tc_start(tc, st, path, body, len, false, extra);
	assert_true(tc_wait_closed(tc, st, 5000));
}

/* ---- fixture ---- */

struct fixture {
	char dir[64];
	char sock[100];
	struct server_options opts;
	struct server *srv;
	pthread_t thread;
	int run_rc;
	bool running;
};

static void *run_thread(void *arg)
{
	struct fixture *f = arg;
	ocid_error *err = NULL;
	f->run_rc = server_run(f->srv, &err);
	if (err) {
		fprintf(stderr, "server_run: %s\n", err->msg);
		err_free(err);
	}
	return NULL;
}

static void default_opts(struct fixture *f)
{
	memset(&f->opts, 0, sizeof(f->opts));
	f->opts.socket_path = f->sock;
	f->opts.routes = test_routes;
	f->opts.n_routes = sizeof(test_routes) / sizeof(test_routes[0]);
	f->opts.workers = 4;
	f->opts.max_message = TEST_MAX_MESSAGE;
	f->opts.max_streaming_calls = TEST_MAX_STREAMING;
	f->opts.shutdown_grace_ms = 2000;
}

static void start_server(struct fixture *f)
{
	ocid_error *err = NULL;
	int rc = server_new(&f->opts, &f->srv, &err);
	if (rc < 0)
		fail_msg("server_new: %s", err->msg);
	assert_int_equal(pthread_create(&f->thread, NULL, run_thread, f), 0);
	f->running = true;
}

/* SIGTERM (process-directed: every thread blocks it, the signalfd takes it)
 * must end server_run and remove the socket. */
static int64_t stop_server(struct fixture *f)
{
	if (!f->running)
		return 0;
	int64_t t0 = now_ms();
	kill(getpid(), SIGTERM);
	pthread_join(f->thread, NULL);
	f->running = false;
	int64_t took = now_ms() - t0;
	assert_int_equal(f->run_rc, 0);
	struct stat st;
	assert_int_equal(lstat(f->sock, &st), -1);
	assert_int_equal(errno, ENOENT);
	server_free(f->srv);
	f->srv = NULL;
	return took;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/ocid-test-server-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	/* A missing parent directory is created. */
	snprintf(f->sock, sizeof(f->sock), "%s/run/ocid.sock", f->dir);
	default_opts(f);
	atomic_store(&slow_started, 0);
	atomic_store(&slow_saw_cancel, 0);
	atomic_store(&stream_saw_cancel, 0);
	atomic_store(&stream_sent, 0);
	*state = f;
	return 0;
}

static int setup_running(void **state)
{
	if (setup(state) < 0)
		return -1;
	start_server(*state);
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	stop_server(f);
	char path[160];
	snprintf(path, sizeof(path), "%s/run", f->dir);
	rmdir(path);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void wait_for(atomic_int *v, int want, int timeout_ms)
{
	int64_t until = now_ms() + timeout_ms;
	while (atomic_load(v) < want && now_ms() < until)
		usleep(1000);
	assert_true(atomic_load(v) >= want);
}

/* ---- tests ---- */

static void test_unary_ok(void **state)
{
	struct fixture *f = *state;
	struct tclient tc;
	assert_int_equal(tc_connect(&tc, f->sock), 0);
	struct stat st;
	assert_int_equal(stat(f->sock, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0660);

	for (int i = 0; i < 3; i++) {
		struct tstream s;
		call_simple(&tc, &s, VERSION_PATH, "0.1.0", NULL);
		assert_int_equal(s.http_status, 200);
		assert_int_equal(s.grpc_status, 0);
		Runtime__V1__VersionResponse *r = NULL;
		assert_int_equal(decode_responses(&s, &r, NULL), 1);
		assert_string_equal(r->version, "0.1.0");
		assert_string_equal(r->runtime_name, "ocid-test");
		runtime__v1__version_response__free_unpacked(r, NULL);
		tstream_free(&s);
	}
	/* An empty message is a valid (all-default) request. */
	struct tstream s;
	call_simple(&tc, &s, VERSION_PATH, "", NULL);
	assert_int_equal(s.grpc_status, 0);
	tstream_free(&s);
	tc_close(&tc);
}

static void test_unknown_and_unimplemented(void **state)
{
	struct fixture *f = *state;
	struct tclient tc;
	assert_int_equal(tc_connect(&tc, f->sock), 0);
	struct tstream s;
	call_simple(&tc, &s, "/x/y", "v", NULL);
	assert_int_equal(s.http_status, 200);
	assert_int_equal(s.grpc_status, 12);
	assert_string_equal(s.grpc_message, "unknown method /x/y");
	assert_int_equal(s.len, 0);
	tstream_free(&s);

	call_simple(&tc, &s, FOO_PATH, "v", NULL);
	assert_int_equal(s.grpc_status, 12);
	assert_non_null(strstr(s.grpc_message, FOO_PATH));
	tstream_free(&s);
	tc_close(&tc);
}

static void test_bad_requests(void **state)
{
	struct fixture *f = *state;
	struct tclient tc;
	assert_int_equal(tc_connect(&tc, f->sock), 0);
	struct tstream s;

	/* Not a protobuf. */
	uint8_t *body = malloc(8);
	grpc_frame_prefix(body, 3);
	memcpy(body + 5, "\xff\xff\xff", 3);
	tc_start(&tc, &s, VERSION_PATH, body, 8, false, NULL);
	assert_true(tc_wait_closed(&tc, &s, 5000));
	assert_int_equal(s.grpc_status, 3);
	assert_non_null(strstr(s.grpc_message, "cannot decode runtime.v1.VersionRequest"));
	tstream_free(&s);

	/* No message at all. */
	tc_start(&tc, &s, VERSION_PATH, NULL, 0, false, NULL);
	assert_true(tc_wait_closed(&tc, &s, 5000));
	assert_int_equal(s.grpc_status, 3);
	tstream_free(&s);

	/* Two messages. */
	size_t l1;
	uint8_t *one = frame_version_request("a", &l1);
	body = malloc(2 * l1);
	memcpy(body, one, l1);
	memcpy(body + l1, one, l1);
	free(one);
	tc_start(&tc, &s, VERSION_PATH, body, 2 * l1, false, NULL);
	assert_true(tc_wait_closed(&tc, &s, 5000));
	assert_int_equal(s.grpc_status, 3);
	tstream_free(&s);

	/* Truncated message. */
	body = frame_version_request("abcdef", &l1);
	tc_start(&tc, &s, VERSION_PATH, body, l1 - 2, false, NULL);
	assert_true(tc_wait_closed(&tc, &s, 5000));
	assert_int_equal(s.grpc_status, 3);
	tstream_free(&s);

	/* Compressed flag. */
	body = frame_version_request("abc", &l1);
	body[0] = 1;
	tc_start(&tc, &s, VERSION_PATH, body, l1, false, NULL);
	assert_true(tc_wait_closed(&tc, &s, 5000));
	assert_int_equal(s.grpc_status, 13);
	assert_non_null(strstr(s.grpc_message, "compressed"));
	tstream_free(&s);

	/* Not gRPC: HTTP 415 like grpc-go. */
	static const char *const ct[] = {"content-type", "application/json", NULL};
	call_simple(&tc, &s, VERSION_PATH, "v", ct);
	assert_int_equal(s.http_status, 415);
	assert_int_equal(s.grpc_status, 13);
	tstream_free(&s);
	static const char *const ct_proto[] = {"content-type", "application/grpc+proto", NULL};
	call_simple(&tc, &s, VERSION_PATH, "v", ct_proto);
	assert_int_equal(s.grpc_status, 0);
	tstream_free(&s);

	/* Malformed grpc-timeout: INTERNAL like grpc-go. */
	static const char *const to[] = {"grpc-timeout", "12x", NULL};
	call_simple(&tc, &s, VERSION_PATH, "v", to);
	assert_int_equal(s.grpc_status, 13);
	assert_non_null(strstr(s.grpc_message, "malformed grpc-timeout"));
	tstream_free(&s);

	/* A message encoding we do not have. */
	static const char *const enc[] = {"grpc-encoding", "gzip", NULL};
	call_simple(&tc, &s, VERSION_PATH, "v", enc);
	assert_int_equal(s.grpc_status, 12);
	tstream_free(&s);
	static const char *const ident[] = {"grpc-encoding", "identity", NULL};
	call_simple(&tc, &s, VERSION_PATH, "v", ident);
	assert_int_equal(s.grpc_status, 0);
	tstream_free(&s);

	/* A header HTTP/2 forbids: nghttp2 resets the stream. */
	static const char *const upper[] = {"connection", "keep-alive", NULL};
	call_simple(&tc, &s, VERSION_PATH, "v", upper);
	assert_int_equal(s.grpc_status, -1);
	assert_int_equal(s.close_code, NGHTTP2_PROTOCOL_ERROR);
	tstream_free(&s);

	/* The connection survived all of it. */
	call_simple(&tc, &s, VERSION_PATH, "still", NULL);
	assert_int_equal(s.grpc_status, 0);
	tstream_free(&s);
	tc_close(&tc);
}

static void test_handler_errors(void **state)
{
	struct fixture *f = *state;
	struct tclient tc;
	assert_int_equal(tc_connect(&tc, f->sock), 0);
	struct tstream s;
	call_simple(&tc, &s, VERSION_PATH, "fail", NULL);
	assert_int_equal(s.http_status, 200);
	assert_int_equal(s.grpc_status, 5);
	assert_string_equal(s.grpc_message, "no such thing: 100% \"t\xc3\xa9st\"\n");
	tstream_free(&s);

	call_simple(&tc, &s, VERSION_PATH, "null", NULL);
	assert_int_equal(s.grpc_status, 13);
	tstream_free(&s);

	/* A reply above max_message is not sent. */
	call_simple(&tc, &s, VERSION_PATH, "huge", NULL);
	assert_int_equal(s.grpc_status, 8);
	assert_int_equal(s.len, 0);
	assert_non_null(strstr(s.grpc_message, "larger than max"));
	tstream_free(&s);
	tc_close(&tc);
}

static void test_oversized_request(void **state)
{
	struct fixture *f = *state;
	struct tclient tc;
	assert_int_equal(tc_connect(&tc, f->sock), 0);
	struct tstream s;
	/* Only the prefix, declaring twice the limit; the stream stays open. */
	uint8_t *body = malloc(GRPC_PREFIX_LEN);
	grpc_frame_prefix(body, 2 * TEST_MAX_MESSAGE);
	tc_start(&tc, &s, VERSION_PATH, body, GRPC_PREFIX_LEN, true, NULL);
	assert_true(tc_wait_closed(&tc, &s, 5000));
	assert_int_equal(s.grpc_status, 8);
	char want[128];
	snprintf(want, sizeof(want), "grpc: received message larger than max (%u vs. %u)",
		 2 * TEST_MAX_MESSAGE, TEST_MAX_MESSAGE);
	assert_string_equal(s.grpc_message, want);
	/* The server asked us to stop sending. */
	assert_int_equal(s.close_code, NGHTTP2_NO_ERROR);
	tstream_free(&s);

	call_simple(&tc, &s, VERSION_PATH, "after", NULL);
	assert_int_equal(s.grpc_status, 0);
	tstream_free(&s);
	tc_close(&tc);
}

static void test_deadline(void **state)
{
	struct fixture *f = *state;
	struct tclient tc;
	assert_int_equal(tc_connect(&tc, f->sock), 0);
	struct tstream s;
	static const char *const to[] = {"grpc-timeout", "100m", NULL};
	int64_t t0 = now_ms();
	call_simple(&tc, &s, SLOW_PATH, "3000", to);
	int64_t took = now_ms() - t0;
	assert_int_equal(s.grpc_status, 4);
	assert_true(took >= 95 && took < 1500);
	tstream_free(&s);
	/* The handler was told. */
	wait_for(&slow_saw_cancel, 1, 2000);

	/* A generous deadline does not get in the way. */
	static const char *const to_ok[] = {"grpc-timeout", "5S", NULL};
	call_simple(&tc, &s, SLOW_PATH, "20", to_ok);
	assert_int_equal(s.grpc_status, 0);
	tstream_free(&s);

	/* Several deadlines, out of order: each fires on time. */
	static const char *const tos[][3] = {
		{"grpc-timeout", "300m", NULL}, {"grpc-timeout", "60m", NULL},
		{"grpc-timeout", "200m", NULL}, {"grpc-timeout", "30m", NULL},
		{"grpc-timeout", "250m", NULL}, {"grpc-timeout", "5S", NULL},
	};
	const int n = 6;
	struct tstream ss[6];
	int64_t closed_at[6] = {0};
	t0 = now_ms();
	for (int i = 0; i < n; i++) {
		size_t len;
		uint8_t *b = frame_version_request(i == 5 ? "400" : "3000", &len);
		tc_start(&tc, &ss[i], SLOW_PATH, b, len, false, tos[i]);
	}
	int64_t until = now_ms() + 5000;
	for (int done = 0; done < n && now_ms() < until;) {
		tc_pump(&tc, 5);
		done = 0;
		for (int i = 0; i < n; i++) {
			if (ss[i].closed && closed_at[i] == 0)
				closed_at[i] = now_ms() - t0;
			done += ss[i].closed;
		}
	}
	static const int expect_ms[] = {300, 60, 200, 30, 250, 400};
	for (int i = 0; i < n; i++) {
		assert_true(ss[i].closed);
		assert_int_equal(ss[i].grpc_status, i == 5 ? 0 : 4);
		assert_true(closed_at[i] >= expect_ms[i] - 5);
		assert_true(closed_at[i] < expect_ms[i] + 1000);
		tstream_free(&ss[i]);
	}
	tc_close(&tc);
}

static void test_streaming(void **state)
{
	struct fixture *f = *state;
	struct tclient tc;
	assert_int_equal(tc_connect(&tc, f->sock), 0);
	struct tstream s;
	call_simple(&tc, &s, COUNT_PATH, "500", NULL);
	assert_int_equal(s.http_status, 200);
	assert_int_equal(s.grpc_status, 0);
	Runtime__V1__VersionResponse *first = NULL, *last = NULL;
	assert_int_equal(decode_responses(&s, &first, &last), 500);
	assert_string_equal(first->version, "0");
	assert_string_equal(last->version, "499");
	runtime__v1__version_response__free_unpacked(first, NULL);
	runtime__v1__version_response__free_unpacked(last, NULL);
	tstream_free(&s);

	/* Zero messages: just OK. */
	call_simple(&tc, &s, COUNT_PATH, "0", NULL);
	assert_int_equal(s.grpc_status, 0);
	assert_int_equal(s.len, 0);
	tstream_free(&s);
	tc_close(&tc);
}

static void test_client_reset_cancels(void **state)
{
	struct fixture *f = *state;
	struct tclient tc;
	assert_int_equal(tc_connect(&tc, f->sock), 0);
	struct tstream s;
	size_t len;
	uint8_t *body = frame_version_request("forever", &len);
	tc_start(&tc, &s, COUNT_PATH, body, len, false, NULL);
	int64_t until = now_ms() + 5000;
	while (s.len < 20 && now_ms() < until)
		tc_pump(&tc, 10);
	assert_true(s.len >= 20);
	assert_int_equal(atomic_load(&stream_saw_cancel), 0);
	nghttp2_submit_rst_stream(tc.s, NGHTTP2_FLAG_NONE, s.id, NGHTTP2_CANCEL);
	tc_pump(&tc, 10);
	wait_for(&stream_saw_cancel, 1, 2000);
	tstream_free(&s);

	/* Closing the connection cancels too (unary this time). */
	body = frame_version_request("5000", &len);
	tc_start(&tc, &s, SLOW_PATH, body, len, false, NULL);
	until = now_ms() + 2000;
	while (atomic_load(&slow_started) < 1 && now_ms() < until)
		tc_pump(&tc, 10);
	tc_close(&tc);
	wait_for(&slow_saw_cancel, 1, 2000);
	tstream_free(&s);
}

static void test_streaming_limit(void **state)
{
	struct fixture *f = *state;
	struct tclient tc;
	assert_int_equal(tc_connect(&tc, f->sock), 0);
	struct tstream s[TEST_MAX_STREAMING + 1];
	for (int i = 0; i < TEST_MAX_STREAMING; i++) {
		size_t len;
		uint8_t *body = frame_version_request("forever", &len);
		tc_start(&tc, &s[i], COUNT_PATH, body, len, false, NULL);
	}
	int64_t until = now_ms() + 5000;
	while (atomic_load(&stream_running) < TEST_MAX_STREAMING && now_ms() < until)
		tc_pump(&tc, 10);
	assert_int_equal(atomic_load(&stream_running), TEST_MAX_STREAMING);
	struct tstream *extra = &s[TEST_MAX_STREAMING];
	call_simple(&tc, extra, COUNT_PATH, "1", NULL);
	assert_int_equal(extra->grpc_status, 8);
	tstream_free(extra);
	/* Unary calls are unaffected. */
	call_simple(&tc, extra, VERSION_PATH, "x", NULL);
	assert_int_equal(extra->grpc_status, 0);
	tstream_free(extra);
	tc_close(&tc);
	until = now_ms() + 5000;
	while (atomic_load(&stream_running) > 0 && now_ms() < until)
		usleep(1000);
	assert_int_equal(atomic_load(&stream_running), 0);
	for (int i = 0; i < TEST_MAX_STREAMING; i++)
		tstream_free(&s[i]);
}

/* With a small per-connection buffer, a streaming handler blocks in
 * rpc_call_send while the client reads nothing, and goes on when it reads. */
static void test_stream_backpressure(void **state)
{
	struct fixture *f = *state;
	f->opts.max_conn_buffered = 32 * 1024;
	start_server(f);
	struct tclient tc;
	assert_int_equal(tc_connect(&tc, f->sock), 0);
	struct tstream s;
	/* A request body bigger than the connection may buffer is refused. */
	size_t big = 100 * 1024;
	uint8_t *req = calloc(1, GRPC_PREFIX_LEN + big);
	grpc_frame_prefix(req, (uint32_t)big);
	tc_start(&tc, &s, VERSION_PATH, req, GRPC_PREFIX_LEN + big, false, NULL);
	assert_true(tc_wait_closed(&tc, &s, 5000));
	assert_int_equal(s.grpc_status, 8);
	assert_non_null(strstr(s.grpc_message, "buffered"));
	tstream_free(&s);

	size_t len;
	uint8_t *body = frame_version_request("big:2000", &len);
	tc_start(&tc, &s, COUNT_PATH, body, len, false, NULL);
	/* Send the request, then stop reading. */
	for (int i = 0; i < 5; i++)
		tc_pump(&tc, 5);
	usleep(300 * 1000);
	int sent = atomic_load(&stream_sent);
	assert_true(sent > 0);
	assert_true(sent < 500);
	usleep(100 * 1000);
	assert_int_equal(atomic_load(&stream_sent), sent); /* blocked */
	assert_true(tc_wait_closed(&tc, &s, 10000));
	assert_int_equal(s.grpc_status, 0);
	assert_int_equal(decode_responses(&s, NULL, NULL), 2000);
	tstream_free(&s);
	tc_close(&tc);
}

/* A client with large flow-control windows that stops reading: the
 * server's socket fills, it waits for EPOLLOUT (not reading meanwhile), and
 * delivers everything once the client reads again. */
static void test_slow_reader(void **state)
{
	struct fixture *f = *state;
	struct tclient tc;
	assert_int_equal(tc_connect(&tc, f->sock), 0);
	nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1u << 30}};
	nghttp2_submit_settings(tc.s, NGHTTP2_FLAG_NONE, iv, 1);
	nghttp2_session_set_local_window_size(tc.s, NGHTTP2_FLAG_NONE, 0, 1 << 30);
	struct tstream s;
	size_t len;
	uint8_t *body = frame_version_request("big:8000", &len);
	tc_start(&tc, &s, COUNT_PATH, body, len, false, NULL);
	for (int i = 0; i < 5; i++)
		tc_pump(&tc, 5);
	/* ~8 MiB: far more than a unix socket buffers. */
	int64_t until = now_ms() + 5000;
	while (atomic_load(&stream_sent) < 8000 && now_ms() < until)
		usleep(1000);
	assert_int_equal(atomic_load(&stream_sent), 8000);
	usleep(100 * 1000);
	/* Meanwhile, more calls queue up behind the full socket. */
	struct tstream v;
	size_t vlen;
	uint8_t *vbody = frame_version_request("behind", &vlen);
	tc_start(&tc, &v, VERSION_PATH, vbody, vlen, false, NULL);
	assert_true(tc_wait_closed(&tc, &s, 20000));
	assert_int_equal(s.grpc_status, 0);
	assert_int_equal(decode_responses(&s, NULL, NULL), 8000);
	assert_true(tc_wait_closed(&tc, &v, 5000));
	assert_int_equal(v.grpc_status, 0);
	tstream_free(&s);
	tstream_free(&v);
	tc_close(&tc);
}

struct load_arg {
	const char *sock;
	int calls;
	atomic_int *ok;
};

static void *load_thread(void *p)
{
	struct load_arg *a = p;
	struct tclient tc;
	if (tc_connect(&tc, a->sock) < 0)
		return NULL;
	struct tstream *s = calloc((size_t)a->calls, sizeof(*s));
	static const char *const to[] = {"grpc-timeout", "10S", NULL};
	for (int i = 0; i < a->calls; i++) {
		char v[32];
		snprintf(v, sizeof(v), "v%d", i);
		size_t len;
		uint8_t *body = frame_version_request(v, &len);
		memset(&s[i], 0, sizeof(s[i]));
		s[i].grpc_status = -1;
		s[i].req = body;
		s[i].req_len = len;
		nghttp2_nv nva[] = {
			NV(":method", "POST"), NV(":scheme", "http"), NV(":path", VERSION_PATH),
			NV(":authority", "x"), NV("content-type", "application/grpc"),
			NV("te", "trailers"), NV(to[0], to[1]),
		};
		nghttp2_data_provider prd = {.source.ptr = &s[i], .read_callback = tc_read_body};
		s[i].id = nghttp2_submit_request(tc.s, NULL, nva, (i % 2) ? 7 : 6, &prd, &s[i]);
	}
	int64_t until = now_ms() + 20000;
	int done = 0;
	while (done < a->calls && now_ms() < until && !tc.eof) {
		tc_pump(&tc, 10);
		done = 0;
		for (int i = 0; i < a->calls; i++)
			done += s[i].closed;
	}
	for (int i = 0; i < a->calls; i++) {
		Runtime__V1__VersionResponse *r = NULL;
		char v[32];
		snprintf(v, sizeof(v), "v%d", i);
		if (s[i].closed && s[i].grpc_status == 0 && decode_responses(&s[i], &r, NULL) == 1 &&
		    strcmp(r->version, v) == 0)
			atomic_fetch_add(a->ok, 1);
		if (r)
			runtime__v1__version_response__free_unpacked(r, NULL);
		tstream_free(&s[i]);
	}
	free(s);
	tc_close(&tc);
	return NULL;
}

/* A unary call is run by the thread that read it (the poller role passes to
 * an idle pool thread), and its reply is sent by that thread while the new
 * poller waits in epoll: no thread hand-off on either side. Afterwards the
 * poller role sits on a pool thread, and SIGTERM must still end server_run
 * (teardown checks it). Counts are taken around the calls, after a warm-up
 * call has let every pool thread reach its wait. */
static void test_calls_run_where_read(void **state)
{
	struct fixture *f = *state;
	f->opts.workers = 4;
	start_server(f);
	struct tclient tc;
	assert_int_equal(tc_connect(&tc, f->sock), 0);
	struct tstream s;
	call_simple(&tc, &s, SLOW_PATH, "50", NULL);
	assert_int_equal(s.grpc_status, 0);
	tstream_free(&s);
	struct server_stats st0;
	server_get_stats(f->srv, &st0);
	enum { N = 6 };
	for (int i = 0; i < N; i++) {
		/* 40 ms: the new poller is back in epoll_wait long before the
		 * reply, so the worker finds the loop free */
		call_simple(&tc, &s, SLOW_PATH, "40", NULL);
		assert_int_equal(s.grpc_status, 0);
		tstream_free(&s);
	}
	struct server_stats st;
	server_get_stats(f->srv, &st);
	unsigned long on_poller = st.calls_on_poller - st0.calls_on_poller;
	unsigned long queued = st.calls_queued - st0.calls_queued;
	unsigned long direct = st.replies_direct - st0.replies_direct;
	unsigned long via_loop = st.replies_via_loop - st0.replies_via_loop;
	assert_int_equal(on_poller + queued, N);
	assert_int_equal(direct + via_loop, N);
	/* One call at a time with four threads: one is nearly always idle to
	 * take the role, and the poller nearly always waits when a reply is
	 * ready. A loaded machine may delay a thread now and then (the old
	 * paths still work then): most calls, not all, must take the new ones. */
	assert_true(on_poller >= N - 2);
	assert_true(direct >= N - 2);
	/* Still answers, from whichever thread polls now. Version runs on the
	 * poller (run_on_loop): its reply goes out with the same turn's output,
	 * not through the ready list. */
	call_simple(&tc, &s, VERSION_PATH, "again", NULL);
	assert_int_equal(s.grpc_status, 0);
	tstream_free(&s);
	struct server_stats after;
	server_get_stats(f->srv, &after);
	assert_int_equal(after.replies_direct, st.replies_direct + 1);
	assert_int_equal(after.replies_via_loop, st.replies_via_loop);
	assert_int_equal(after.calls_on_poller + after.calls_queued, st.calls_on_poller + st.calls_queued);
	tc_close(&tc);
}

/* While a long call runs on the thread that read it, the poller role is on
 * another thread: the next call is read at once and not held behind the long
 * one (it runs where it was read, or queued for an extra worker when no
 * thread is idle). */
static void test_busy_pool_keeps_polling(void **state)
{
	struct fixture *f = *state;
	f->opts.workers = 1;
	start_server(f);
	struct tclient tc;
	assert_int_equal(tc_connect(&tc, f->sock), 0);
	struct tstream a, b;
	/* warm-up: the pool thread reaches its wait */
	call_simple(&tc, &a, SLOW_PATH, "20", NULL);
	assert_int_equal(a.grpc_status, 0);
	tstream_free(&a);
	atomic_store(&slow_started, 0);
	size_t len;
	uint8_t *body = frame_version_request("800", &len);
	tc_start(&tc, &a, SLOW_PATH, body, len, false, NULL);
	int64_t until = now_ms() + 2000;
	while (atomic_load(&slow_started) < 1 && now_ms() < until)
		tc_pump(&tc, 5);
	assert_int_equal(atomic_load(&slow_started), 1);
	struct server_stats st0;
	server_get_stats(f->srv, &st0);
	int64_t t0 = now_ms();
	call_simple(&tc, &b, SLOW_PATH, "10", NULL);
	assert_int_equal(b.grpc_status, 0);
	assert_true(now_ms() - t0 < 600); /* not behind the 800 ms call */
	struct server_stats st;
	server_get_stats(f->srv, &st);
	/* queued when no thread was idle; run where read when an extra worker
	 * started earlier (a slow machine) was */
	assert_int_equal(st.calls_queued - st0.calls_queued + st.calls_on_poller - st0.calls_on_poller, 1);
	assert_true(tc_wait_closed(&tc, &a, 5000));
	assert_int_equal(a.grpc_status, 0);
	tstream_free(&a);
	tstream_free(&b);
	tc_close(&tc);
}

static void test_many_concurrent(void **state)
{
	struct fixture *f = *state;
	enum { CONNS = 8, CALLS = 200 };
	atomic_int ok = 0;
	pthread_t t[CONNS];
	struct load_arg a = {f->sock, CALLS, &ok};
	for (int i = 0; i < CONNS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, load_thread, &a), 0);
	for (int i = 0; i < CONNS; i++)
		pthread_join(t[i], NULL);
	/* More calls per connection than SETTINGS_MAX_CONCURRENT_STREAMS: the
	 * client library queues the rest, every one still completes. */
	assert_int_equal(atomic_load(&ok), CONNS * CALLS);
}

/* Slow handlers beyond the base pool do not queue: extra workers start, so
 * six 600 ms calls on a 2-thread pool all run at once. */
static void test_pool_grows_for_slow_calls(void **state)
{
	struct fixture *f = *state;
	f->opts.workers = 2;
	start_server(f);
	enum { N = 6 };
	struct tclient tc;
	assert_int_equal(tc_connect(&tc, f->sock), 0);
	struct tstream s[N];
	int64_t t0 = now_ms();
	for (int i = 0; i < N; i++) {
		size_t len;
		uint8_t *body = frame_version_request("600", &len); /* the stream owns it */
		tc_start(&tc, &s[i], SLOW_PATH, body, len, false, NULL);
	}
	int64_t until = t0 + 400;
	while (atomic_load(&slow_started) < N && now_ms() < until)
		tc_pump(&tc, 5);
	/* With a fixed pool only 2 would have started by now. */
	assert_int_equal(atomic_load(&slow_started), N);
	/* six at once, three threads: the poller could not hand all of them
	 * on, so some went through the queue (and its extra workers) */
	struct server_stats st;
	server_get_stats(f->srv, &st);
	assert_true(st.calls_queued >= 1);
	assert_int_equal(st.calls_queued + st.calls_on_poller, N);
	for (int i = 0; i < N; i++) {
		assert_true(tc_wait_closed(&tc, &s[i], 5000));
		assert_int_equal(s[i].grpc_status, 0);
		tstream_free(&s[i]);
	}
	assert_true(now_ms() - t0 < 1500);
	tc_close(&tc);
}

/* In-flight calls finish within the grace period; new connections are
 * refused once shutdown starts. */
static void test_shutdown_graceful(void **state)
{
	struct fixture *f = *state;
	f->opts.shutdown_grace_ms = 3000;
	start_server(f);
	struct tclient tc;
	assert_int_equal(tc_connect(&tc, f->sock), 0);
	struct tstream s;
	size_t len;
	uint8_t *body = frame_version_request("300", &len);
	tc_start(&tc, &s, SLOW_PATH, body, len, false, NULL);
	int64_t until = now_ms() + 2000;
	while (atomic_load(&slow_started) < 1 && now_ms() < until)
		tc_pump(&tc, 5);
	assert_int_equal(atomic_load(&slow_started), 1);
	kill(getpid(), SIGTERM);
	assert_true(tc_wait_closed(&tc, &s, 5000));
	assert_int_equal(s.grpc_status, 0);
	assert_int_equal(atomic_load(&slow_saw_cancel), 0);
	tstream_free(&s);
	pthread_join(f->thread, NULL);
	f->running = false;
	assert_int_equal(f->run_rc, 0);
	struct stat st;
	assert_int_equal(lstat(f->sock, &st), -1);
	server_free(f->srv);
	f->srv = NULL;
	tc_close(&tc);
}

/* Calls that outlive the grace period are cancelled and server_run ends. */
static void test_shutdown_grace_expiry(void **state)
{
	struct fixture *f = *state;
	f->opts.shutdown_grace_ms = 200;
	start_server(f);
	struct tclient tc;
	assert_int_equal(tc_connect(&tc, f->sock), 0);
	struct tstream s;
	size_t len;
	uint8_t *body = frame_version_request("10000", &len);
	tc_start(&tc, &s, SLOW_PATH, body, len, false, NULL);
	int64_t until = now_ms() + 2000;
	while (atomic_load(&slow_started) < 1 && now_ms() < until)
		tc_pump(&tc, 5);
	assert_int_equal(atomic_load(&slow_started), 1);
	int64_t took = stop_server(f);
	assert_true(took >= 150 && took < 2000);
	assert_int_equal(atomic_load(&slow_saw_cancel), 1);
	tc_wait_closed(&tc, &s, 1000);
	assert_true(s.closed || tc.eof);
	tstream_free(&s);
	tc_close(&tc);
}

static void test_socket_file_handling(void **state)
{
	struct fixture *f = *state;
	char path[160];
	snprintf(path, sizeof(path), "%s/run", f->dir);
	mkdir(path, 0755);

	/* A stale socket (nobody listening) is replaced. */
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", f->sock);
	assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	close(fd);
	start_server(f);
	struct tclient tc;
	assert_int_equal(tc_connect(&tc, f->sock), 0);
	tc_close(&tc);

	/* A live one is not touched. */
	struct server *other = NULL;
	ocid_error *err = NULL;
	assert_int_equal(server_new(&f->opts, &other, &err), -1);
	assert_non_null(strstr(err->msg, "listening"));
	err_clear(&err);
	stop_server(f);

	/* Any other kind of file is an error. */
	fd = open(f->sock, O_CREAT | O_WRONLY, 0600);
	close(fd);
	assert_int_equal(server_new(&f->opts, &other, &err), -1);
	assert_non_null(strstr(err->msg, "not a socket"));
	err_clear(&err);
	unlink(f->sock);

	/* server_free without server_run removes the socket too. */
	assert_int_equal(server_new(&f->opts, &other, &err), 0);
	server_free(other);
	struct stat st;
	assert_int_equal(lstat(f->sock, &st), -1);
}

/* ---- --serve mode ---- */

static int serve(const char *path)
{
	log_set_level(getenv("OCID_TEST_DEBUG") ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO);
	struct server_options o = {
		.socket_path = path,
		.routes = test_routes,
		.n_routes = sizeof(test_routes) / sizeof(test_routes[0]),
	};
	struct server *srv;
	ocid_error *err = NULL;
	if (server_new(&o, &srv, &err) < 0 || server_run(srv, &err) < 0) {
		fprintf(stderr, "%s\n", err->msg);
		return 1;
	}
	server_free(srv);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--serve") == 0)
		return serve(argv[2]);
	if (getenv("OCID_TEST_DEBUG"))
		log_set_level(LOG_LEVEL_DEBUG);
	else
		log_set_level(LOG_LEVEL_ERROR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_unary_ok, setup_running, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_and_unimplemented, setup_running, teardown),
		cmocka_unit_test_setup_teardown(test_bad_requests, setup_running, teardown),
		cmocka_unit_test_setup_teardown(test_handler_errors, setup_running, teardown),
		cmocka_unit_test_setup_teardown(test_oversized_request, setup_running, teardown),
		cmocka_unit_test_setup_teardown(test_deadline, setup_running, teardown),
		cmocka_unit_test_setup_teardown(test_streaming, setup_running, teardown),
		cmocka_unit_test_setup_teardown(test_client_reset_cancels, setup_running, teardown),
		cmocka_unit_test_setup_teardown(test_streaming_limit, setup_running, teardown),
		cmocka_unit_test_setup_teardown(test_stream_backpressure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slow_reader, setup_running, teardown),
		cmocka_unit_test_setup_teardown(test_many_concurrent, setup_running, teardown),
		cmocka_unit_test_setup_teardown(test_calls_run_where_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_busy_pool_keeps_polling, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool_grows_for_slow_calls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shutdown_graceful, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shutdown_grace_expiry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_socket_file_handling, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
