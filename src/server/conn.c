/* One client connection: an nghttp2 server session fed from a non-blocking
 * unix socket, gRPC request validation per stream, and response framing.
 * Everything here runs with the server's loop_mu held (internal.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "grpc/wire.h"
#include "server/internal.h"
#include "util/log.h"

#define READ_BUF_SIZE (64u * 1024u)
#define READS_PER_EVENT 4
#define WBUF_TARGET (64u * 1024u)
#define STREAM_WINDOW (1u << 20)
#define CONN_WINDOW (4 << 20)
#define MAX_HEADER_LIST (64u * 1024u)
#define MAX_STATUS_MESSAGE 4096

#define NV_STATIC(n, v) \
	{ (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, sizeof(v) - 1, \
	  NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE }

static const nghttp2_nv response_headers[] = {
	NV_STATIC(":status", "200"),
	NV_STATIC("content-type", "application/grpc"),
};

/* ---- reference counting ---- */

void conn_ref(struct conn *c)
{
	atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
}

void conn_unref(struct conn *c)
{
	if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
		return;
	/* The loop closed it before dropping its own reference, so only the
	 * struct is left. */
	free(c);
}

/* ---- helpers ---- */

static size_t outmsg_bytes(const struct outmsg *m)
{
	size_t n = 0;
	for (; m; m = m->next)
		n += m->len;
	return n;
}

static void budget_sub(struct conn *c, size_t n)
{
	if (n)
		atomic_fetch_sub(&c->buffered, n);
}

static void log_call(struct rpc_call *call, int code, const char *msg)
{
	if (call->logged)
		return;
	call->logged = true;
	if (!log_enabled(LOG_LEVEL_DEBUG))
		return;
	long long us = (long long)((mono_ns() - call->start_ns) / 1000);
	if (code == GRPC_OK)
		log_debug("rpc", "method=%s status=OK duration_us=%lld conn=%u stream=%d",
			  call->path ? call->path : "-", us, call->conn->id, call->stream_id);
	else {
		char esc[512];
		log_escape(msg, esc, sizeof(esc));
		log_debug("rpc", "method=%s status=%s duration_us=%lld conn=%u stream=%d error=\"%s\"",
			  call->path ? call->path : "-", grpc_code_name(code), us, call->conn->id,
			  call->stream_id, esc);
	}
}

static void free_body(struct rpc_call *call)
{
	free(call->body);
	call->body = NULL;
	call->body_len = call->body_cap = 0;
	budget_sub(call->conn, call->body_accounted);
	call->body_accounted = 0;
}

/* Builds grpc-status/grpc-message and submits them, either as trailers
 * (after DATA) or as a trailers-only response. */
static int submit_status(struct rpc_call *call, bool trailers_only, int http_status)
{
	struct conn *c = call->conn;
	char status_buf[16], code_buf[16];
	char *encoded = NULL;
	nghttp2_nv nva[6];
	size_t n = 0;

	if (trailers_only) {
		snprintf(status_buf, sizeof(status_buf), "%d", http_status);
		nva[n++] = (nghttp2_nv){(uint8_t *)":status", (uint8_t *)status_buf, 7,
					strlen(status_buf), NGHTTP2_NV_FLAG_NO_COPY_NAME};
		nva[n++] = response_headers[1];
	}
	snprintf(code_buf, sizeof(code_buf), "%d", call->final_code);
	nva[n++] = (nghttp2_nv){(uint8_t *)"grpc-status", (uint8_t *)code_buf, 11,
				strlen(code_buf), NGHTTP2_NV_FLAG_NO_COPY_NAME};
	if (call->final_msg && call->final_msg[0]) {
		/* Keep the header block well under nghttp2's 64 KiB limit. */
		if (strlen(call->final_msg) > MAX_STATUS_MESSAGE)
			strcpy(call->final_msg + MAX_STATUS_MESSAGE - 4, "...");
		encoded = grpc_message_encode(call->final_msg);
		if (encoded)
			nva[n++] = (nghttp2_nv){(uint8_t *)"grpc-message", (uint8_t *)encoded, 12,
						strlen(encoded), NGHTTP2_NV_FLAG_NO_COPY_NAME};
	}
	if (call->hdr_flags & HDR_BAD_ENCODING)
		nva[n++] = (nghttp2_nv)NV_STATIC("grpc-accept-encoding", "identity");

	int rv = trailers_only
			 ? nghttp2_submit_response(c->session, call->stream_id, nva, n, NULL)
			 : nghttp2_submit_trailer(c->session, call->stream_id, nva, n);
	free(encoded);
	if (rv != 0)
		log_warn("cannot submit gRPC status", "conn=%u stream=%d error=\"%s\"", c->id,
			 call->stream_id, nghttp2_strerror(rv));
	return rv;
}

static ssize_t data_read(nghttp2_session *session, int32_t stream_id, uint8_t *buf,
			 size_t length, uint32_t *data_flags, nghttp2_data_source *source,
			 void *user_data)
{
	(void)session;
	(void)stream_id;
	struct conn *c = user_data;
	struct rpc_call *call = source->ptr;
	size_t copied = 0;
	while (copied < length && call->out_head) {
		struct outmsg *m = call->out_head;
		size_t n = m->len - call->out_off;
		if (n > length - copied)
			n = length - copied;
		memcpy(buf + copied, m->data + call->out_off, n);
		copied += n;
		call->out_off += n;
		if (call->out_off == m->len) {
			call->out_head = m->next;
			if (call->out_head == NULL)
				call->out_tail = NULL;
			call->out_off = 0;
			free(m);
		}
	}
	budget_sub(c, copied);
	if (call->out_head == NULL && call->state == CALL_FINISHED) {
		*data_flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
		if (submit_status(call, false, 200) != 0)
			return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
		return (ssize_t)copied;
	}
	if (copied == 0)
		return NGHTTP2_ERR_DEFERRED;
	return (ssize_t)copied;
}

static void start_response(struct rpc_call *call)
{
	struct conn *c = call->conn;
	if (call->resp_started) {
		nghttp2_session_resume_data(c->session, call->stream_id);
		return;
	}
	nghttp2_data_provider prd = {.source.ptr = call, .read_callback = data_read};
	int rv = nghttp2_submit_response(c->session, call->stream_id, response_headers, 2, &prd);
	if (rv != 0) {
		log_warn("cannot submit a response", "conn=%u stream=%d error=\"%s\"", c->id,
			 call->stream_id, nghttp2_strerror(rv));
		nghttp2_submit_rst_stream(c->session, NGHTTP2_FLAG_NONE, call->stream_id,
					  NGHTTP2_INTERNAL_ERROR);
		return;
	}
	call->resp_started = true;
}

/* Decides the call's final status (msg is owned) and queues it behind any
 * response data. http_status other than 200 only for trailers-only. */
static void finish(struct rpc_call *call, int code, char *msg, int http_status)
{
	struct conn *c = call->conn;
	if (call->state == CALL_FINISHED) {
		free(msg);
		return;
	}
	if (call->state == CALL_READING)
		free_body(call);
	call->state = CALL_FINISHED;
	heap_remove(c->srv, call);
	call->final_code = code;
	free(call->final_msg);
	call->final_msg = msg;
	log_call(call, code, msg);

	if (call->resp_started || call->out_head) {
		start_response(call);
	} else {
		/* If the request is still arriving, on_frame_send resets the
		 * stream once this is on the wire. */
		if (submit_status(call, true, http_status) != 0)
			nghttp2_submit_rst_stream(c->session, NGHTTP2_FLAG_NONE, call->stream_id,
						  NGHTTP2_INTERNAL_ERROR);
	}
	server_mark_dirty(c->srv, c);
}

static void reply_error(struct rpc_call *call, int http_status, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void reply_error(struct rpc_call *call, int http_status, int code, const char *fmt, ...)
{
	char *msg = NULL;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	finish(call, code, msg, http_status);
}

/* Unlinks the call from its stream: the stream closed or the connection is
 * going away. Drops the stream's reference. */
static void detach(struct rpc_call *call, uint32_t h2_error)
{
	struct conn *c = call->conn;
	if (!call->attached)
		return;
	call->attached = false;
	heap_remove(c->srv, call);
	if (call->state != CALL_FINISHED) {
		call_cancel(call);
		if (call->state == CALL_READING)
			free_body(call);
		call->state = CALL_FINISHED;
		char why[64];
		snprintf(why, sizeof(why), "stream closed before the reply (h2 error %u)", h2_error);
		log_call(call, GRPC_CANCELLED, why);
	}
	budget_sub(c, outmsg_bytes(call->out_head) - call->out_off);
	outmsg_free_list(call->out_head);
	call->out_head = call->out_tail = NULL;
	call->out_off = 0;

	if (call->conn_prev)
		call->conn_prev->conn_next = call->conn_next;
	else
		c->calls = call->conn_next;
	if (call->conn_next)
		call->conn_next->conn_prev = call->conn_prev;
	call->conn_prev = call->conn_next = NULL;
	if (call->is_stream)
		c->n_streaming--;
	call_unref(call);
}

/* ---- request side ---- */

static const struct rpc_route *find_route(struct server *srv, const char *path)
{
	for (size_t i = 0; i < srv->opts.n_routes; i++)
		if (strcmp(srv->opts.routes[i].path, path) == 0)
			return &srv->opts.routes[i];
	return NULL;
}

static bool header_is(const uint8_t *name, size_t len, const char *lit)
{
	size_t n = strlen(lit);
	return len == n && memcmp(name, lit, n) == 0;
}

static void keep_bad_value(struct rpc_call *call, const uint8_t *value, size_t len)
{
	if (call->bad_value == NULL)
		call->bad_value = strndup((const char *)value, len > 200 ? 200 : len);
}

static int on_begin_headers(nghttp2_session *session, const nghttp2_frame *frame,
			    void *user_data)
{
	struct conn *c = user_data;
	if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	struct rpc_call *call = call_new(c, frame->hd.stream_id);
	if (call == NULL)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	call->attached = true;
	call->conn_next = c->calls;
	if (c->calls)
		c->calls->conn_prev = call;
	c->calls = call;
	nghttp2_session_set_stream_user_data(session, frame->hd.stream_id, call);
	return 0;
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name,
		     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
		     void *user_data)
{
	(void)flags;
	(void)user_data;
	if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	struct rpc_call *call = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
	if (call == NULL)
		return 0;
	if (namelen > 0 && name[0] == ':') {
		if (header_is(name, namelen, ":method")) {
			if (header_is(value, valuelen, "POST"))
				call->hdr_flags |= HDR_METHOD_OK;
			else
				keep_bad_value(call, value, valuelen);
		} else if (header_is(name, namelen, ":path") && call->path == NULL) {
			call->path = strndup((const char *)value, valuelen);
			if (call->path == NULL)
				return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
		}
	} else if (header_is(name, namelen, "content-type")) {
		static const char grpc_ct[] = "application/grpc";
		size_t n = sizeof(grpc_ct) - 1;
		call->hdr_flags |= HDR_HAVE_CTYPE;
		if (valuelen >= n && memcmp(value, grpc_ct, n) == 0 &&
		    (valuelen == n || value[n] == '+' || value[n] == ';'))
			call->hdr_flags |= HDR_CTYPE_OK;
		else
			keep_bad_value(call, value, valuelen);
	} else if (header_is(name, namelen, "grpc-timeout")) {
		int64_t ns;
		if (grpc_timeout_parse((const char *)value, valuelen, &ns) < 0) {
			call->hdr_flags |= HDR_BAD_TIMEOUT;
			keep_bad_value(call, value, valuelen);
		} else {
			int64_t d = ns > INT64_MAX - call->start_ns ? INT64_MAX : call->start_ns + ns;
			call->deadline_ns = d > 0 ? d : 1;
		}
	} else if (header_is(name, namelen, "grpc-encoding")) {
		if (!header_is(value, valuelen, "identity")) {
			call->hdr_flags |= HDR_BAD_ENCODING;
			keep_bad_value(call, value, valuelen);
		}
	}
	return 0;
}

static void request_headers_done(struct conn *c, struct rpc_call *call)
{
	struct server *srv = c->srv;
	const char *bad = call->bad_value ? call->bad_value : "";
	if (!(call->hdr_flags & HDR_METHOD_OK)) {
		reply_error(call, 405, GRPC_INTERNAL, "method %s not allowed: gRPC requires POST", bad);
		return;
	}
	if (!(call->hdr_flags & HDR_CTYPE_OK)) {
		reply_error(call, 415, GRPC_INTERNAL, "invalid gRPC request content-type \"%s\"",
			    (call->hdr_flags & HDR_HAVE_CTYPE) ? bad : "");
		return;
	}
	if (call->hdr_flags & HDR_BAD_TIMEOUT) {
		reply_error(call, 200, GRPC_INTERNAL, "malformed grpc-timeout: \"%s\"", bad);
		return;
	}
	const char *path = call->path ? call->path : "";
	call->route = find_route(srv, path);
	if (call->route == NULL) {
		reply_error(call, 200, GRPC_UNIMPLEMENTED, "unknown method %s", path);
		return;
	}
	if (call->route->unary == NULL && call->route->stream == NULL) {
		reply_error(call, 200, GRPC_UNIMPLEMENTED, "ocid does not implement %s", path);
		return;
	}
	if (call->hdr_flags & HDR_BAD_ENCODING) {
		reply_error(call, 200, GRPC_UNIMPLEMENTED,
			    "grpc: Decompressor is not installed for grpc-encoding \"%s\"", bad);
		return;
	}
	size_t buffered = atomic_load(&c->buffered);
	if (buffered > srv->opts.max_conn_buffered) {
		reply_error(call, 200, GRPC_RESOURCE_EXHAUSTED,
			    "connection has %zu bytes buffered, over its limit of %zu", buffered,
			    srv->opts.max_conn_buffered);
		return;
	}
	if (call->deadline_ns)
		heap_add(srv, call);
}

static uint32_t declared_len(const uint8_t *p)
{
	return ((uint32_t)p[1] << 24) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 8) | p[4];
}

/* Checks the first message's prefix as soon as it is there. Returns false
 * (after replying) if the request is refused. */
static bool check_prefix(struct rpc_call *call)
{
	const uint8_t *msg;
	size_t msg_len, used;
	size_t max = call->srv->opts.max_message;
	switch (grpc_frame_parse(call->body, call->body_len, max, &msg, &msg_len, &used)) {
	case GRPC_FRAME_INCOMPLETE:
	case GRPC_FRAME_OK:
		break;
	case GRPC_FRAME_TOO_LARGE:
		reply_error(call, 200, GRPC_RESOURCE_EXHAUSTED,
			    "grpc: received message larger than max (%u vs. %zu)",
			    declared_len(call->body), max);
		return false;
	case GRPC_FRAME_COMPRESSED:
		reply_error(call, 200, GRPC_INTERNAL,
			    "grpc: compressed flag set but no message encoding was negotiated "
			    "(ocid accepts identity only)");
		return false;
	case GRPC_FRAME_BAD_FLAG:
		reply_error(call, 200, GRPC_INTERNAL, "grpc: received unexpected payload format %u",
			    call->body[0]);
		return false;
	}
	call->prefix_checked = true;
	call->msg_declared = declared_len(call->body);
	return true;
}

static int on_data_chunk(nghttp2_session *session, uint8_t flags, int32_t stream_id,
			 const uint8_t *data, size_t len, void *user_data)
{
	(void)flags;
	struct conn *c = user_data;
	struct rpc_call *call = nghttp2_session_get_stream_user_data(session, stream_id);
	if (call == NULL || call->state != CALL_READING || call->route == NULL)
		return 0;
	struct server *srv = c->srv;
	size_t buffered = atomic_load(&c->buffered);
	if (buffered + len > srv->opts.max_conn_buffered) {
		reply_error(call, 200, GRPC_RESOURCE_EXHAUSTED,
			    "connection has %zu bytes buffered, over its limit of %zu",
			    buffered + len, srv->opts.max_conn_buffered);
		return 0;
	}
	size_t need = call->body_len + len;
	if (need > call->body_cap) {
		size_t cap = call->body_cap ? call->body_cap * 2 : 256;
		if (cap < need)
			cap = need;
		/* Never more than the first message can use, once it is known. */
		size_t full = GRPC_PREFIX_LEN + call->msg_declared;
		if (call->prefix_checked && need <= full && cap > full)
			cap = full;
		uint8_t *b = realloc(call->body, cap);
		if (b == NULL) {
			reply_error(call, 200, GRPC_RESOURCE_EXHAUSTED,
				    "out of memory for a %zu byte request", need);
			return 0;
		}
		call->body = b;
		call->body_cap = cap;
	}
	memcpy(call->body + call->body_len, data, len);
	call->body_len += len;
	call->body_accounted += len;
	atomic_fetch_add(&c->buffered, len);

	if (!call->prefix_checked && call->body_len >= GRPC_PREFIX_LEN && !check_prefix(call))
		return 0;
	if (call->prefix_checked && call->body_len > GRPC_PREFIX_LEN + call->msg_declared)
		reply_error(call, 200, GRPC_INVALID_ARGUMENT,
			    "%s takes exactly one request message, got more", call->path);
	return 0;
}

static void dispatch(struct conn *c, struct rpc_call *call)
{
	struct server *srv = c->srv;
	const uint8_t *msg;
	size_t msg_len, used;
	const char *path = call->path;

	if (call->body_len == 0) {
		reply_error(call, 200, GRPC_INVALID_ARGUMENT, "%s: request has no message", path);
		return;
	}
	if (!call->prefix_checked && !check_prefix(call))
		return;
	if (grpc_frame_parse(call->body, call->body_len, srv->opts.max_message, &msg, &msg_len,
			     &used) != GRPC_FRAME_OK) {
		reply_error(call, 200, GRPC_INVALID_ARGUMENT,
			    "%s: request message truncated (%zu of %zu bytes)", path,
			    call->body_len - (call->body_len < GRPC_PREFIX_LEN ? 0 : GRPC_PREFIX_LEN),
			    (size_t)(call->body_len < GRPC_PREFIX_LEN ? 0 : call->msg_declared));
		return;
	}
	if (used != call->body_len) {
		reply_error(call, 200, GRPC_INVALID_ARGUMENT,
			    "%s takes exactly one request message, got more", path);
		return;
	}
	if (call->route->stream) {
		call->state = CALL_DISPATCHED;
		if (workers_start_stream(srv->workers, call) < 0) {
			call->state = CALL_READING; /* the body is still ours */
			reply_error(call, 200, GRPC_RESOURCE_EXHAUSTED,
				    "too many streaming calls in flight (max %u)",
				    srv->opts.max_streaming_calls);
			return;
		}
		call->is_stream = true;
		c->n_streaming++;
	} else if (call->route->run_on_loop) {
		/* Constant-time handlers skip the thread hand-offs; the reply is
		 * delivered at once (server_ready_push) and sent with this turn's
		 * output. */
		call->state = CALL_DISPATCHED;
		call->on_poller = true;
		call_ref(call);
		call_ref(call);
		call_execute(call);
		call->on_poller = false;
		call_unref(call);
	} else {
		call->state = CALL_DISPATCHED;
		if (srv->run_next == NULL) {
			/* may run on this thread at the end of the turn */
			call_ref(call);
			srv->run_next = call;
		} else {
			workers_submit(srv->workers, call);
		}
	}
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
	struct conn *c = user_data;
	if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA)
		return 0;
	struct rpc_call *call = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
	if (call == NULL)
		return 0;
	bool end = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;
	if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST &&
	    call->state == CALL_READING)
		request_headers_done(c, call);
	if (end && call->state == CALL_READING)
		dispatch(c, call);
	return 0;
}

/* Our side of a stream ended while the client is still sending: ask it to
 * stop (RFC 9113 8.1). Submitting the RST_STREAM earlier would keep the
 * response itself from being sent. */
static int on_frame_send(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
	(void)user_data;
	if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
	    (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) &&
	    nghttp2_session_get_stream_remote_close(session, frame->hd.stream_id) == 0)
		nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id,
					  NGHTTP2_NO_ERROR);
	return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code,
			   void *user_data)
{
	(void)user_data;
	struct rpc_call *call = nghttp2_session_get_stream_user_data(session, stream_id);
	if (call)
		detach(call, error_code);
	return 0;
}

int conn_callbacks_new(struct server *srv, ocid_error **err)
{
	nghttp2_session_callbacks *cbs;
	if (nghttp2_session_callbacks_new(&cbs) != 0)
		return err_set(err, GRPC_RESOURCE_EXHAUSTED, "out of memory");
	nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
	nghttp2_session_callbacks_set_on_frame_send_callback(cbs, on_frame_send);
	srv->h2_callbacks = cbs;

	nghttp2_option *opt;
	if (nghttp2_option_new(&opt) != 0)
		return err_set(err, GRPC_RESOURCE_EXHAUSTED, "out of memory");
	/* Nothing uses RFC 7540 priorities here: keep no closed streams. */
	nghttp2_option_set_no_closed_streams(opt, 1);
	srv->h2_option = opt;
	return 0;
}

/* ---- connection lifecycle and I/O ---- */

int conn_new(struct server *srv, int fd, ocid_error **err)
{
	struct conn *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		close(fd);
		return err_set(err, GRPC_RESOURCE_EXHAUSTED, "out of memory");
	}
	c->tag.kind = EP_CONN;
	atomic_init(&c->refs, 1);
	atomic_init(&c->buffered, 0);
	c->srv = srv;
	c->fd = fd;
	c->id = ++srv->next_conn_id;
	if (nghttp2_session_server_new2(&c->session, srv->h2_callbacks, c, srv->h2_option) != 0) {
		close(fd);
		free(c);
		return err_set(err, GRPC_RESOURCE_EXHAUSTED, "out of memory");
	}
	nghttp2_settings_entry iv[] = {
		{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, srv->opts.max_streams_per_conn},
		{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW},
		{NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, MAX_HEADER_LIST},
		{NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
	};
	int rv = nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, iv,
					 sizeof(iv) / sizeof(iv[0]));
	if (rv == 0)
		rv = nghttp2_session_set_local_window_size(c->session, NGHTTP2_FLAG_NONE, 0,
							   CONN_WINDOW);
	if (rv != 0) {
		nghttp2_session_del(c->session);
		close(fd);
		free(c);
		return err_set(err, GRPC_INTERNAL, "nghttp2 settings: %s", nghttp2_strerror(rv));
	}
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &c->tag};
	if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int e = errno;
		nghttp2_session_del(c->session);
		close(fd);
		free(c);
		return err_set_errno(err, GRPC_INTERNAL, e, "epoll_ctl");
	}
	c->next = srv->conns;
	if (srv->conns)
		srv->conns->prev = c;
	srv->conns = c;
	srv->n_conns++;
	log_debug("connection opened", "conn=%u connections=%u", c->id, srv->n_conns);
	server_mark_dirty(srv, c); /* our SETTINGS */
	return 0;
}

void conn_close(struct conn *c, const char *why)
{
	struct server *srv = c->srv;
	if (c->closed)
		return;
	while (c->calls)
		detach(c->calls, NGHTTP2_CANCEL);
	c->closed = true;
	epoll_ctl(srv->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	nghttp2_session_del(c->session);
	c->session = NULL;
	outbuf_free(&c->out);

	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	srv->n_conns--;
	/* Freed at the end of the loop iteration: epoll may still hand us
	 * events for it in this batch. */
	c->prev = NULL;
	c->next = srv->closed;
	srv->closed = c;
	log_debug("connection closed", "conn=%u reason=\"%s\" connections=%u", c->id, why,
		  srv->n_conns);
}

static void conn_read(struct conn *c)
{
	uint8_t *buf = c->srv->rbuf;
	for (int i = 0; i < READS_PER_EVENT; i++) {
		ssize_t n = recv(c->fd, buf, READ_BUF_SIZE, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			if (errno != ECONNRESET)
				log_warn("read from client failed", "conn=%u error=\"%s\"", c->id,
					 strerror(errno));
			conn_close(c, "read error");
			return;
		}
		if (n == 0) {
			conn_close(c, "closed by peer");
			return;
		}
		ssize_t rv = nghttp2_session_mem_recv(c->session, buf, (size_t)n);
		if (rv < 0) {
			log_warn("HTTP/2 error", "conn=%u error=\"%s\"", c->id,
				 nghttp2_strerror((int)rv));
			conn_close(c, "protocol error");
			return;
		}
		if ((size_t)n < READ_BUF_SIZE)
			break;
	}
	server_mark_dirty(c->srv, c);
}

void conn_handle_events(struct conn *c, uint32_t events)
{
	if (c->closed)
		return;
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		conn_read(c);
	if (!c->closed)
		server_mark_dirty(c->srv, c);
}

/* While the socket will not take our output, stop reading input too: a
 * client that sends requests without reading replies gets no further. */
static void set_epollout(struct conn *c, bool on)
{
	if (c->epollout == on)
		return;
	c->epollout = on;
	server_epoll_mod(c->srv, c->fd, &c->tag, on ? EPOLLOUT : EPOLLIN);
}

/* Lets streaming handlers blocked in rpc_call_send go on once the
 * connection is back under its limit. */
static void wake_senders(struct conn *c)
{
	if (c->n_streaming == 0 || atomic_load(&c->buffered) > c->srv->opts.max_conn_buffered)
		return;
	for (struct rpc_call *call = c->calls; call; call = call->conn_next) {
		if (call->is_stream && atomic_load(&call->send_blocked)) {
			pthread_mutex_lock(&call->mu);
			pthread_cond_broadcast(&call->cond);
			pthread_mutex_unlock(&call->mu);
		}
	}
}

void conn_flush(struct conn *c)
{
	if (c->closed)
		return;
	for (;;) {
		int sent = outbuf_send(&c->out, c->fd, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (sent == 1) {
			set_epollout(c, true);
			wake_senders(c);
			return;
		}
		if (sent < 0) {
			if (errno != EPIPE && errno != ECONNRESET)
				log_warn("write to client failed", "conn=%u error=\"%s\"", c->id, strerror(errno));
			conn_close(c, "write error");
			return;
		}
		while (c->out.len < WBUF_TARGET) {
			const uint8_t *p;
			ssize_t n = nghttp2_session_mem_send(c->session, &p);
			if (n < 0) {
				log_warn("HTTP/2 error", "conn=%u error=\"%s\"", c->id,
					 nghttp2_strerror((int)n));
				conn_close(c, "protocol error");
				return;
			}
			if (n == 0)
				break;
			if (!outbuf_append(&c->out, p, (size_t)n)) {
				log_warn("out of memory for connection output", "conn=%u", c->id);
				conn_close(c, "out of memory");
				return;
			}
		}
		if (c->out.len == 0)
			break;
	}
	set_epollout(c, false);
	outbuf_reset(&c->out, 4 * WBUF_TARGET);
	if (!nghttp2_session_want_read(c->session) && !nghttp2_session_want_write(c->session)) {
		conn_close(c, c->goaway ? "shutdown" : "session finished");
		return;
	}
	wake_senders(c);
}

void conn_goaway(struct conn *c)
{
	if (c->closed || c->goaway)
		return;
	c->goaway = true;
	nghttp2_submit_goaway(c->session, NGHTTP2_FLAG_NONE,
			      nghttp2_session_get_last_proc_stream_id(c->session), NGHTTP2_NO_ERROR,
			      NULL, 0);
	server_mark_dirty(c->srv, c);
}

void conn_abort(struct conn *c)
{
	if (c->closed)
		return;
	for (struct rpc_call *call = c->calls; call; call = call->conn_next) {
		call_cancel(call);
		nghttp2_submit_rst_stream(c->session, NGHTTP2_FLAG_NONE, call->stream_id,
					  NGHTTP2_CANCEL);
	}
	/* Best effort: one non-blocking pass over what is queued. */
	conn_flush(c);
	conn_close(c, "shutdown grace period over");
}

/* ---- worker reports and timers ---- */

void conn_deliver(struct rpc_call *call)
{
	pthread_mutex_lock(&call->mu);
	struct outmsg *pend = call->pend_head;
	size_t pend_bytes = call->pend_bytes;
	call->pend_head = call->pend_tail = NULL;
	call->pend_bytes = 0;
	bool done = call->done && !call->worker_done;
	int code = call->done_code;
	char *msg = NULL;
	if (done) {
		msg = call->done_msg;
		call->done_msg = NULL;
	}
	call->in_ready = false;
	pthread_mutex_unlock(&call->mu);
	if (done)
		call->worker_done = true;

	struct conn *c = call->conn;
	if (!call->attached || call->state == CALL_FINISHED || c->closed) {
		budget_sub(c, pend_bytes);
		outmsg_free_list(pend);
		free(msg);
		return;
	}
	if (pend) {
		if (call->out_tail)
			call->out_tail->next = pend;
		else
			call->out_head = pend;
		struct outmsg *t = pend;
		while (t->next)
			t = t->next;
		call->out_tail = t;
	}
	if (done)
		finish(call, code, msg, 200);
	else if (pend)
		start_response(call);
	server_mark_dirty(c->srv, c);
}

void conn_deadline(struct rpc_call *call)
{
	struct conn *c = call->conn;
	if (!call->attached || call->state == CALL_FINISHED || c->closed)
		return;
	call_cancel(call);
	/* Keep a message that is partly on the wire; drop the rest. */
	struct outmsg *keep = call->out_off > 0 ? call->out_head : NULL;
	struct outmsg *drop = keep ? keep->next : call->out_head;
	if (keep)
		keep->next = NULL;
	call->out_head = call->out_tail = keep;
	budget_sub(c, outmsg_bytes(drop));
	outmsg_free_list(drop);
	finish(call, GRPC_DEADLINE_EXCEEDED, strdup("deadline exceeded"), 200);
}
