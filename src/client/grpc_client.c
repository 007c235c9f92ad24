#include "client/grpc_client.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>

#include "client/duration.h"
#include "grpc/wire.h"
#include "util/cleanup.h"
#include "util/outbuf.h"

/* Raw calls keep every response byte; this bounds a misbehaving server. */
#define RAW_BODY_CAP (4u * GRPC_CLIENT_MAX_RECV)
#define READ_CHUNK (64u * 1024u)
/* What is kept of a body that is not gRPC (an error page). */
#define NON_GRPC_BODY_CAP (64u * 1024u)

enum call_mode { MODE_UNARY, MODE_RAW, MODE_STREAM };

struct call {
	int32_t stream_id;
	enum call_mode mode;

	/* request: prefix + body, owned */
	uint8_t *sbuf;
	size_t slen, soff;

	/* response headers and trailers */
	int http_status;
	bool content_type_seen, content_type_grpc;
	char *content_type;
	bool status_seen, status_bad;
	int grpc_status;
	char *grpc_message;

	/* end of the stream */
	bool eos_seen; /* END_STREAM from the peer */
	bool closed;
	uint32_t close_code;

	/* response bytes */
	uint8_t *rbuf;
	size_t rlen, rcap, scan;
	size_t n_msgs;
	size_t msg_off, msg_len; /* first message (unary, raw) */

	/* a failure we detected on the response: the stream is reset */
	bool failed;
	int fail_code;
	char *fail_msg;

	/* streaming */
	const ProtobufCMessageDescriptor *desc;
	grpc_stream_cb cb;
	void *ud;
	bool stopped;
};

struct grpc_client {
	char *sock_path;
	int fd;
	nghttp2_session *session;
	bool broken;
	bool goaway_seen;
	bool send_blocked;
	int io_errno;
	struct outbuf out; /* frames gathered by send_cb, one send() per round */
	struct call call;
};

/* ---- pure helpers ---- */

int grpc_endpoint_parse(const char *endpoint, char **path_out, ocid_error **err)
{
	if (endpoint == NULL || *endpoint == '\0')
		return err_set(err, GRPC_INVALID_ARGUMENT, "empty endpoint");
	const char *p = endpoint;
	if (strncmp(p, "unix://", 7) == 0) {
		p += 7;
	} else if (strncmp(p, "unix:", 5) == 0) {
		p += 5;
	} else if (strstr(p, "://") != NULL || strncmp(p, "tcp:", 4) == 0) {
		return err_set(err, GRPC_INVALID_ARGUMENT,
			       "endpoint %s: only unix sockets are supported", endpoint);
	}
	if (*p == '\0')
		return err_set(err, GRPC_INVALID_ARGUMENT, "endpoint %s: empty socket path",
			       endpoint);
	struct sockaddr_un sa;
	if (strlen(p) >= sizeof(sa.sun_path))
		return err_set(err, GRPC_INVALID_ARGUMENT,
			       "endpoint %s: socket path longer than %zu bytes", endpoint,
			       sizeof(sa.sun_path) - 1);
	char *s = strdup(p);
	if (s == NULL)
		return err_set(err, GRPC_RESOURCE_EXHAUSTED, "out of memory");
	*path_out = s;
	return 0;
}

enum grpc_code grpc_status_from_http(int http_status)
{
	switch (http_status) {
	case 400: return GRPC_INTERNAL;
	case 401: return GRPC_UNAUTHENTICATED;
	case 403: return GRPC_PERMISSION_DENIED;
	case 404: return GRPC_UNIMPLEMENTED;
	case 429:
	case 502:
	case 503:
	case 504: return GRPC_UNAVAILABLE;
	default: return GRPC_UNKNOWN;
	}
}

enum grpc_code grpc_status_from_h2_error(uint32_t h2_error)
{
	switch (h2_error) {
	case NGHTTP2_REFUSED_STREAM: return GRPC_UNAVAILABLE;
	case NGHTTP2_CANCEL: return GRPC_CANCELLED;
	case NGHTTP2_ENHANCE_YOUR_CALM: return GRPC_RESOURCE_EXHAUSTED;
	case NGHTTP2_INADEQUATE_SECURITY: return GRPC_PERMISSION_DENIED;
	default: return GRPC_INTERNAL;
	}
}

static const char *http_reason(int s)
{
	switch (s) {
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 413: return "Request Entity Too Large";
	case 415: return "Unsupported Media Type";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return "";
	}
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* ---- per-call state ---- */

static void call_reset(struct call *k)
{
	free(k->sbuf);
	free(k->content_type);
	free(k->grpc_message);
	free(k->rbuf);
	free(k->fail_msg);
	memset(k, 0, sizeof(*k));
	k->stream_id = -1;
}

static void call_fail(struct grpc_client *c, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Records a failure found in the response and resets the stream. */
static void call_fail(struct grpc_client *c, int code, const char *fmt, ...)
{
	struct call *k = &c->call;
	if (k->failed)
		return;
	k->failed = true;
	k->fail_code = code;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&k->fail_msg, fmt, ap) < 0)
		k->fail_msg = NULL;
	va_end(ap);
	if (!k->closed && k->stream_id > 0)
		nghttp2_submit_rst_stream(c->session, NGHTTP2_FLAG_NONE, k->stream_id,
					  NGHTTP2_CANCEL);
}

/* Walks the complete messages buffered so far. */
static void scan_messages(struct grpc_client *c)
{
	struct call *k = &c->call;
	while (!k->failed && !k->stopped) {
		const uint8_t *m;
		size_t mlen, used;
		enum grpc_frame_result r = grpc_frame_parse(k->rbuf + k->scan, k->rlen - k->scan,
							    GRPC_CLIENT_MAX_RECV, &m, &mlen, &used);
		if (r == GRPC_FRAME_INCOMPLETE)
			break;
		if (r == GRPC_FRAME_TOO_LARGE) {
			const uint8_t *p = k->rbuf + k->scan;
			uint32_t n = ((uint32_t)p[1] << 24) | ((uint32_t)p[2] << 16) |
				     ((uint32_t)p[3] << 8) | (uint32_t)p[4];
			call_fail(c, GRPC_RESOURCE_EXHAUSTED,
				  "grpc: received message larger than max (%u vs. %u)", n,
				  GRPC_CLIENT_MAX_RECV);
			break;
		}
		if (r == GRPC_FRAME_COMPRESSED) {
			call_fail(c, GRPC_INTERNAL,
				  "grpc: compressed flag set with identity encoding");
			break;
		}
		if (r == GRPC_FRAME_BAD_FLAG) {
			call_fail(c, GRPC_INTERNAL, "grpc: received unexpected payload format %d",
				  k->rbuf[k->scan]);
			break;
		}
		k->n_msgs++;
		if (k->mode == MODE_STREAM) {
			ProtobufCMessage *msg = protobuf_c_message_unpack(k->desc, NULL, mlen, m);
			if (msg == NULL) {
				call_fail(c, GRPC_INTERNAL,
					  "grpc: failed to unmarshal the received message as %s",
					  k->desc->name);
				break;
			}
			int rc = k->cb(msg, k->ud);
			protobuf_c_message_free_unpacked(msg, NULL);
			if (rc != 0) {
				k->stopped = true;
				if (!k->closed)
					nghttp2_submit_rst_stream(c->session, NGHTTP2_FLAG_NONE,
								  k->stream_id, NGHTTP2_CANCEL);
			}
		} else if (k->n_msgs == 1) {
			k->msg_off = (size_t)(m - k->rbuf);
			k->msg_len = mlen;
		} else if (k->mode == MODE_UNARY) {
			call_fail(c, GRPC_INTERNAL,
				  "cardinality violation: expected <EOF> for non server-streaming "
				  "RPCs, but received another message");
		}
		k->scan += used;
	}
	if (k->mode == MODE_STREAM && k->scan > 0) {
		memmove(k->rbuf, k->rbuf + k->scan, k->rlen - k->scan);
		k->rlen -= k->scan;
		k->scan = 0;
	}
}

/* ---- nghttp2 callbacks ---- */

/* Writes what send_cb gathered; 0 when all of it went or the socket is
 * full (send_blocked), -1 on an error (io_errno). */
static int obuf_flush(struct grpc_client *c)
{
	int rc = outbuf_send(&c->out, c->fd, MSG_NOSIGNAL);
	if (rc < 0) {
		c->io_errno = errno;
		return -1;
	}
	if (rc == 1)
		c->send_blocked = true;
	return 0;
}

/* Gathers frames instead of writing each: a request's HEADERS and DATA
 * then reach the server in one write, which wakes its loop once, not twice. */
#define OBUF_MAX (256u * 1024u)

static ssize_t send_cb(nghttp2_session *s, const uint8_t *data, size_t len, int flags, void *ud)
{
	(void)s;
	(void)flags;
	struct grpc_client *c = ud;
	if (outbuf_pending(&c->out) >= OBUF_MAX) {
		if (obuf_flush(c) < 0)
			return NGHTTP2_ERR_CALLBACK_FAILURE;
		if (outbuf_pending(&c->out) >= OBUF_MAX)
			return NGHTTP2_ERR_WOULDBLOCK;
	}
	if (!outbuf_append(&c->out, data, len))
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	return (ssize_t)len;
}

/* nghttp2_session_send, then one write of what it produced. */
static int session_send(struct grpc_client *c)
{
	int rc = nghttp2_session_send(c->session);
	if (obuf_flush(c) < 0 && rc == 0)
		rc = NGHTTP2_ERR_CALLBACK_FAILURE;
	return rc;
}

static ssize_t data_read_cb(nghttp2_session *s, int32_t stream_id, uint8_t *buf, size_t length,
			    uint32_t *data_flags, nghttp2_data_source *source, void *ud)
{
	(void)s;
	(void)source;
	struct grpc_client *c = ud;
	struct call *k = &c->call;
	if (stream_id != k->stream_id)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	size_t n = k->slen - k->soff;
	if (n > length)
		n = length;
	if (n > 0)
		memcpy(buf, k->sbuf + k->soff, n);
	k->soff += n;
	if (k->soff == k->slen)
		*data_flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

static bool name_is(const uint8_t *name, size_t len, const char *lit)
{
	size_t n = strlen(lit);
	return len == n && memcmp(name, lit, n) == 0;
}

static int header_cb(nghttp2_session *s, const nghttp2_frame *frame, const uint8_t *name,
		     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
	(void)s;
	(void)flags;
	struct grpc_client *c = ud;
	struct call *k = &c->call;
	if (frame->hd.type != NGHTTP2_HEADERS || frame->hd.stream_id != k->stream_id)
		return 0;
	if (name_is(name, namelen, ":status")) {
		int v = 0;
		for (size_t i = 0; i < valuelen && i < 4; i++)
			v = v * 10 + (value[i] - '0');
		/* 1xx are informational; the final answer follows. */
		if (v >= 200)
			k->http_status = v;
	} else if (name_is(name, namelen, "content-type")) {
		k->content_type_seen = true;
		free(k->content_type);
		k->content_type = strndup((const char *)value, valuelen);
		k->content_type_grpc =
			valuelen >= 16 && memcmp(value, "application/grpc", 16) == 0 &&
			(valuelen == 16 || value[16] == '+' || value[16] == ';');
	} else if (name_is(name, namelen, "grpc-status")) {
		k->status_seen = true;
		int v = 0;
		bool ok = valuelen > 0 && valuelen <= 9;
		for (size_t i = 0; ok && i < valuelen; i++) {
			if (value[i] < '0' || value[i] > '9')
				ok = false;
			else
				v = v * 10 + (value[i] - '0');
		}
		k->status_bad = !ok;
		k->grpc_status = v;
	} else if (name_is(name, namelen, "grpc-message")) {
		free(k->grpc_message);
		k->grpc_message = grpc_message_decode((const char *)value, valuelen);
	}
	return 0;
}

static int frame_recv_cb(nghttp2_session *s, const nghttp2_frame *frame, void *ud)
{
	(void)s;
	struct grpc_client *c = ud;
	struct call *k = &c->call;
	if (frame->hd.type == NGHTTP2_GOAWAY)
		c->goaway_seen = true;
	if (frame->hd.stream_id == k->stream_id &&
	    (frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
	    (frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
		k->eos_seen = true;
	return 0;
}

static int data_chunk_cb(nghttp2_session *s, uint8_t flags, int32_t stream_id, const uint8_t *data,
			 size_t len, void *ud)
{
	(void)s;
	(void)flags;
	struct grpc_client *c = ud;
	struct call *k = &c->call;
	if (stream_id != k->stream_id || k->failed || k->stopped || len == 0)
		return 0;
	/* Not a gRPC answer (see final_status): keep a little of it, unparsed. */
	bool grpc_body = k->http_status == 200 && k->content_type_grpc;
	if (!grpc_body && k->rlen + len > NON_GRPC_BODY_CAP) {
		len = k->rlen < NON_GRPC_BODY_CAP ? NON_GRPC_BODY_CAP - k->rlen : 0;
		if (len == 0)
			return 0;
	}
	if (k->mode == MODE_RAW && k->rlen + len > RAW_BODY_CAP) {
		call_fail(c, GRPC_RESOURCE_EXHAUSTED, "response body larger than %u bytes",
			  RAW_BODY_CAP);
		return 0;
	}
	if (k->rlen + len > k->rcap) {
		size_t cap = k->rcap ? k->rcap : 4096;
		while (cap < k->rlen + len)
			cap *= 2;
		uint8_t *nb = realloc(k->rbuf, cap);
		if (nb == NULL) {
			call_fail(c, GRPC_RESOURCE_EXHAUSTED, "out of memory");
			return 0;
		}
		k->rbuf = nb;
		k->rcap = cap;
	}
	memcpy(k->rbuf + k->rlen, data, len);
	k->rlen += len;
	if (grpc_body)
		scan_messages(c);
	return 0;
}

static int stream_close_cb(nghttp2_session *s, int32_t stream_id, uint32_t error_code, void *ud)
{
	(void)s;
	struct grpc_client *c = ud;
	struct call *k = &c->call;
	if (stream_id == k->stream_id) {
		k->closed = true;
		k->close_code = error_code;
	}
	return 0;
}

/* ---- connection ---- */

static void conn_close(struct grpc_client *c)
{
	if (c->session) {
		nghttp2_session_del(c->session);
		c->session = NULL;
	}
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	outbuf_reset(&c->out, SIZE_MAX); /* bytes for the old connection */
}

static int conn_open(struct grpc_client *c, ocid_error **err)
{
	conn_close(c);
	c->broken = false;
	c->goaway_seen = false;
	c->send_blocked = false;
	c->io_errno = 0;

	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return err_set_errno(err, GRPC_UNAVAILABLE, errno, "socket");
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	memcpy(sa.sun_path, c->sock_path, strlen(c->sock_path) + 1);
	int rc;
	do
		rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	while (rc < 0 && errno == EINTR);
	if (rc < 0) {
		int e = errno;
		close(fd);
		return err_set_errno(err, GRPC_UNAVAILABLE, e, "connect unix://%s", c->sock_path);
	}
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		int e = errno;
		close(fd);
		return err_set_errno(err, GRPC_UNAVAILABLE, e, "set O_NONBLOCK");
	}
	c->fd = fd;

	nghttp2_session_callbacks *cbs;
	if (nghttp2_session_callbacks_new(&cbs) != 0)
		return err_set(err, GRPC_RESOURCE_EXHAUSTED, "out of memory");
	nghttp2_session_callbacks_set_send_callback(cbs, send_cb);
	nghttp2_session_callbacks_set_on_header_callback(cbs, header_cb);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, frame_recv_cb);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, data_chunk_cb);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, stream_close_cb);
	rc = nghttp2_session_client_new(&c->session, cbs, c);
	nghttp2_session_callbacks_del(cbs);
	if (rc != 0) {
		c->session = NULL;
		return err_set(err, GRPC_RESOURCE_EXHAUSTED, "nghttp2: %s", nghttp2_strerror(rc));
	}
	nghttp2_settings_entry iv[] = {
		{NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
		{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1u << 20},
	};
	rc = nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, iv, sizeof(iv) / sizeof(iv[0]));
	if (rc == 0)
		rc = nghttp2_session_set_local_window_size(c->session, NGHTTP2_FLAG_NONE, 0,
							   (int32_t)(GRPC_CLIENT_MAX_RECV * 2));
	if (rc == 0)
		rc = session_send(c); /* preface; may only be queued */
	if (rc != 0) {
		c->broken = true;
		return err_set(err, GRPC_UNAVAILABLE, "connect unix://%s: %s", c->sock_path,
			       c->io_errno ? strerror(c->io_errno) : nghttp2_strerror(rc));
	}
	return 0;
}

int grpc_client_connect(const char *endpoint, struct grpc_client **out, ocid_error **err)
{
	struct grpc_client *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return err_set(err, GRPC_RESOURCE_EXHAUSTED, "out of memory");
	c->fd = -1;
	c->call.stream_id = -1;
	if (grpc_endpoint_parse(endpoint, &c->sock_path, err) < 0 || conn_open(c, err) < 0) {
		grpc_client_free(c);
		return -1;
	}
	*out = c;
	return 0;
}

void grpc_client_free(struct grpc_client *c)
{
	if (c == NULL)
		return;
	conn_close(c);
	call_reset(&c->call);
	outbuf_free(&c->out);
	free(c->sock_path);
	free(c);
}

/* ---- one call ---- */

static int conn_error(struct grpc_client *c, int rc, ocid_error **err)
{
	c->broken = true;
	if (c->io_errno == EPIPE || c->io_errno == ECONNRESET)
		return err_set(err, GRPC_UNAVAILABLE, "connection to unix://%s closed by the server",
			       c->sock_path);
	if (c->io_errno)
		return err_set_errno(err, GRPC_UNAVAILABLE, c->io_errno,
				     "connection to unix://%s", c->sock_path);
	return err_set(err, GRPC_UNAVAILABLE, "connection to unix://%s: %s", c->sock_path,
		       nghttp2_strerror(rc));
}

/* Best effort: pushes out what is queued (RST_STREAM, WINDOW_UPDATE) without waiting. */
static void flush_nowait(struct grpc_client *c)
{
	if (c->session && !c->broken && session_send(c) != 0)
		c->broken = true;
}

/* Runs the exchange until the stream closes, fails or is stopped. Returns
 * -1 with err for local failures (connection, deadline). */
static int pump(struct grpc_client *c, int64_t deadline, int64_t timeout_ns, ocid_error **err)
{
	struct call *k = &c->call;
	uint8_t buf[READ_CHUNK];
	for (;;) {
		if (k->closed || k->failed || k->stopped)
			break;
		c->send_blocked = false;
		int rc = session_send(c);
		if (rc != 0)
			return conn_error(c, rc, err);
		if (k->closed || k->failed || k->stopped)
			break;
		if (!nghttp2_session_want_read(c->session) &&
		    !nghttp2_session_want_write(c->session)) {
			c->broken = true;
			return err_set(err, GRPC_UNAVAILABLE,
				       "connection to unix://%s closed by the server (GOAWAY)",
				       c->sock_path);
		}
		int wait_ms = -1;
		if (deadline > 0) {
			int64_t left = deadline - now_ns();
			if (left <= 0)
				goto deadline;
			int64_t ms = left / 1000000 + 1;
			wait_ms = ms > 3600000 ? 3600000 : (int)ms;
		}
		struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
		if (c->send_blocked)
			pfd.events |= POLLOUT;
		int n = poll(&pfd, 1, wait_ms);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return err_set_errno(err, GRPC_UNAVAILABLE, errno, "poll");
		}
		if (n == 0)
			continue; /* the deadline check above decides */
		if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
			for (;;) {
				ssize_t r = read(c->fd, buf, sizeof(buf));
				if (r < 0 && errno == EINTR)
					continue;
				if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
					break;
				if (r < 0) {
					c->io_errno = errno;
					return conn_error(c, 0, err);
				}
				if (r == 0) {
					c->broken = true;
					if (k->closed || k->failed || k->stopped)
						break;
					return err_set(err, GRPC_UNAVAILABLE,
						       "connection to unix://%s closed by the server "
						       "before the response was complete",
						       c->sock_path);
				}
				ssize_t m = nghttp2_session_mem_recv(c->session, buf, (size_t)r);
				if (m < 0) {
					c->broken = true;
					return err_set(err, GRPC_UNAVAILABLE,
						       "connection to unix://%s: http2: %s",
						       c->sock_path, nghttp2_strerror((int)m));
				}
				if ((size_t)r < sizeof(buf))
					break;
			}
		}
	}
	flush_nowait(c);
	return 0;

deadline:
	if (!k->closed && k->stream_id > 0) {
		nghttp2_submit_rst_stream(c->session, NGHTTP2_FLAG_NONE, k->stream_id,
					  NGHTTP2_CANCEL);
		flush_nowait(c);
	}
	char d[32];
	duration_format(timeout_ns, d, sizeof(d));
	return err_set(err, GRPC_DEADLINE_EXCEEDED, "deadline exceeded after %s", d);
}

/* Between calls nobody reads the socket: take in what the server said
 * meanwhile (GOAWAY, or the connection closed) so that a dead connection is
 * re-dialled instead of failing the next call. */
static void absorb_idle_input(struct grpc_client *c)
{
	uint8_t buf[4096];
	for (;;) {
		struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
		if (poll(&pfd, 1, 0) <= 0 || !(pfd.revents & (POLLIN | POLLHUP | POLLERR)))
			return;
		ssize_t r = read(c->fd, buf, sizeof(buf));
		if (r < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (r <= 0 || nghttp2_session_mem_recv(c->session, buf, (size_t)r) < 0) {
			c->broken = true;
			return;
		}
	}
}

/* Starts a call with k->sbuf/k->slen already set (sbuf may be NULL: no DATA). */
static int start_and_run(struct grpc_client *c, const char *path, bool has_body,
			 int64_t timeout_ns, ocid_error **err)
{
	struct call *k = &c->call;
	int64_t deadline = 0;
	if (timeout_ns > 0) {
		int64_t now = now_ns();
		deadline = timeout_ns > INT64_MAX - now ? INT64_MAX : now + timeout_ns;
	}

	if (!c->broken && c->session != NULL && c->fd >= 0)
		absorb_idle_input(c);
	if (c->broken || c->session == NULL ||
	    (!nghttp2_session_want_read(c->session) && !nghttp2_session_want_write(c->session))) {
		if (conn_open(c, err) < 0)
			return -1;
	}

	char tmo[16];
	char ua[] = GRPC_CLIENT_USER_AGENT;
#define NV(n, v, vl) {(uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, (vl), NGHTTP2_NV_FLAG_NONE}
	nghttp2_nv nva[8] = {
		NV(":method", "POST", 4),
		NV(":scheme", "http", 4),
		NV(":path", path, strlen(path)),
		NV(":authority", "localhost", 9),
		NV("content-type", "application/grpc", 16),
		NV("te", "trailers", 8),
		NV("user-agent", ua, sizeof(ua) - 1),
	};
	size_t nvlen = 7;
	if (timeout_ns > 0) {
		grpc_timeout_format(timeout_ns, tmo, sizeof(tmo));
		nghttp2_nv t = NV("grpc-timeout", tmo, strlen(tmo));
		nva[nvlen++] = t;
	}
#undef NV
	nghttp2_data_provider prd = {.source = {.ptr = c}, .read_callback = data_read_cb};
	int32_t id = nghttp2_submit_request(c->session, NULL, nva, nvlen, has_body ? &prd : NULL,
					    NULL);
	if (id < 0) {
		if (id == NGHTTP2_ERR_STREAM_ID_NOT_AVAILABLE) {
			/* stream ids exhausted: a fresh connection */
			if (conn_open(c, err) < 0)
				return -1;
			id = nghttp2_submit_request(c->session, NULL, nva, nvlen,
						    has_body ? &prd : NULL, NULL);
		}
		if (id < 0)
			return err_set(err, GRPC_INTERNAL, "submit request: %s",
				       nghttp2_strerror(id));
	}
	k->stream_id = id;
	return pump(c, deadline, timeout_ns, err);
}

/* Folds what the wire said into one status (grpc-go's precedence). The
 * message is malloc'd. */
static void final_status(struct call *k, bool goaway, int *code, char **msg)
{
	char *m = NULL;
	int rc;
	if (k->failed) {
		*code = k->fail_code;
		*msg = k->fail_msg ? strdup(k->fail_msg) : NULL;
		goto out;
	}
	if (k->http_status == 0) {
		if (k->closed && !k->eos_seen && goaway && k->close_code == NGHTTP2_REFUSED_STREAM) {
			*code = GRPC_UNAVAILABLE;
			rc = asprintf(&m, "the server sent GOAWAY before handling the call");
		} else if (k->closed && !k->eos_seen) {
			*code = grpc_status_from_h2_error(k->close_code);
			rc = asprintf(&m, "stream terminated by RST_STREAM with error code: %s",
				      nghttp2_http2_strerror(k->close_code));
		} else {
			*code = GRPC_INTERNAL;
			rc = asprintf(&m, "server closed the stream without sending headers");
		}
		*msg = rc < 0 ? NULL : m;
		goto out;
	}
	if (k->http_status != 200) {
		*code = grpc_status_from_http(k->http_status);
		rc = asprintf(&m, "unexpected HTTP status code received from server: %d (%s)%s%s",
			      k->http_status, http_reason(k->http_status),
			      k->grpc_message ? "; grpc-message: " : "",
			      k->grpc_message ? k->grpc_message : "");
		*msg = rc < 0 ? NULL : m;
		goto out;
	}
	if (!k->content_type_grpc) {
		*code = GRPC_UNKNOWN;
		if (k->content_type_seen)
			rc = asprintf(&m, "transport: received unexpected content-type \"%s\"",
				      k->content_type ? k->content_type : "");
		else
			rc = asprintf(&m, "transport: missing content-type field");
		*msg = rc < 0 ? NULL : m;
		goto out;
	}
	if (k->closed && !k->eos_seen) {
		*code = grpc_status_from_h2_error(k->close_code);
		rc = asprintf(&m, "stream terminated by RST_STREAM with error code: %s",
			      nghttp2_http2_strerror(k->close_code));
		*msg = rc < 0 ? NULL : m;
		goto out;
	}
	if (!k->status_seen) {
		*code = GRPC_INTERNAL;
		*msg = strdup("server closed the stream without sending trailers");
		goto out;
	}
	if (k->status_bad) {
		*code = GRPC_INTERNAL;
		*msg = strdup("transport: malformed grpc-status");
		goto out;
	}
	*code = k->grpc_status;
	*msg = strdup(k->grpc_message ? k->grpc_message : "");
out:
	if (*msg == NULL)
		*msg = strdup("out of memory");
}

static int prepare_request(struct call *k, const ProtobufCMessage *req, ocid_error **err)
{
	size_t n = protobuf_c_message_get_packed_size(req);
	if (n > UINT32_MAX)
		return err_set(err, GRPC_RESOURCE_EXHAUSTED, "request message too large");
	k->sbuf = malloc(GRPC_PREFIX_LEN + n);
	if (k->sbuf == NULL)
		return err_set(err, GRPC_RESOURCE_EXHAUSTED, "out of memory");
	grpc_frame_prefix(k->sbuf, (uint32_t)n);
	protobuf_c_message_pack(req, k->sbuf + GRPC_PREFIX_LEN);
	k->slen = GRPC_PREFIX_LEN + n;
	return 0;
}

int grpc_client_unary(struct grpc_client *c, const char *path, const ProtobufCMessage *req,
		      const ProtobufCMessageDescriptor *resp_desc, int64_t timeout_ns,
		      ProtobufCMessage **resp, ocid_error **err)
{
	struct call *k = &c->call;
	call_reset(k);
	k->mode = MODE_UNARY;
	if (prepare_request(k, req, err) < 0)
		return -1;
	if (start_and_run(c, path, true, timeout_ns, err) < 0) {
		call_reset(k);
		return -1;
	}
	int code;
	cleanup_free char *msg = NULL;
	final_status(k, c->goaway_seen, &code, &msg);
	if (code == GRPC_OK && k->n_msgs == 0) {
		code = GRPC_INTERNAL;
		free(msg);
		msg = strdup("grpc: the server sent no response message");
	}
	if (code != GRPC_OK) {
		call_reset(k);
		return err_set(err, (enum grpc_code)code, "%s", msg ? msg : "");
	}
	ProtobufCMessage *m =
		protobuf_c_message_unpack(resp_desc, NULL, k->msg_len, k->rbuf + k->msg_off);
	call_reset(k);
	if (m == NULL)
		return err_set(err, GRPC_INTERNAL,
			       "grpc: failed to unmarshal the received message as %s",
			       resp_desc->name);
	*resp = m;
	return 0;
}

void grpc_raw_result_clear(struct grpc_raw_result *r)
{
	free(r->message);
	free(r->body);
	memset(r, 0, sizeof(*r));
}

int grpc_client_unary_raw(struct grpc_client *c, const char *path, const uint8_t *body,
			  size_t len, bool add_prefix, int64_t timeout_ns,
			  struct grpc_raw_result *out, ocid_error **err)
{
	struct call *k = &c->call;
	memset(out, 0, sizeof(*out));
	call_reset(k);
	k->mode = MODE_RAW;
	if (add_prefix && len > UINT32_MAX)
		return err_set(err, GRPC_INVALID_ARGUMENT, "body longer than a gRPC prefix can say");
	size_t total = len + (add_prefix ? GRPC_PREFIX_LEN : 0);
	if (total > 0) {
		k->sbuf = malloc(total);
		if (k->sbuf == NULL)
			return err_set(err, GRPC_RESOURCE_EXHAUSTED, "out of memory");
		if (add_prefix)
			grpc_frame_prefix(k->sbuf, (uint32_t)len);
		if (len > 0)
			memcpy(k->sbuf + (add_prefix ? GRPC_PREFIX_LEN : 0), body, len);
		k->slen = total;
	}
	if (start_and_run(c, path, total > 0, timeout_ns, err) < 0) {
		call_reset(k);
		return -1;
	}
	final_status(k, c->goaway_seen, &out->status, &out->message);
	out->http_status = k->http_status;
	out->body = steal_pointer(&k->rbuf);
	out->body_len = k->rlen;
	out->n_messages = k->n_msgs;
	if (k->n_msgs > 0) {
		out->msg = out->body + k->msg_off;
		out->msg_len = k->msg_len;
	}
	call_reset(k);
	return 0;
}

int grpc_client_stream(struct grpc_client *c, const char *path, const ProtobufCMessage *req,
		       const ProtobufCMessageDescriptor *resp_desc, int64_t timeout_ns,
		       grpc_stream_cb cb, void *userdata, ocid_error **err)
{
	struct call *k = &c->call;
	call_reset(k);
	k->mode = MODE_STREAM;
	k->desc = resp_desc;
	k->cb = cb;
	k->ud = userdata;
	if (prepare_request(k, req, err) < 0)
		return -1;
	if (start_and_run(c, path, true, timeout_ns, err) < 0) {
		call_reset(k);
		return -1;
	}
	if (k->stopped) {
		call_reset(k);
		return 1;
	}
	int code;
	cleanup_free char *msg = NULL;
	final_status(k, c->goaway_seen, &code, &msg);
	call_reset(k);
	if (code != GRPC_OK)
		return err_set(err, (enum grpc_code)code, "%s", msg ? msg : "");
	return 0;
}
