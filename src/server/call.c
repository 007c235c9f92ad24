/* Per-stream call state shared by the loop and a worker, the rpc.h API that
 * handlers see, and the worker side of running a call. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "grpc/wire.h"
#include "server/internal.h"
#include "util/log.h"

int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void outmsg_free_list(struct outmsg *m)
{
	while (m) {
		struct outmsg *next = m->next;
		free(m);
		m = next;
	}
}

static size_t outmsg_list_bytes(const struct outmsg *m)
{
	size_t n = 0;
	for (; m; m = m->next)
		n += m->len;
	return n;
}

struct rpc_call *call_new(struct conn *c, int32_t stream_id)
{
	struct rpc_call *call = calloc(1, sizeof(*call));
	if (call == NULL)
		return NULL;
	if (pthread_mutex_init(&call->mu, NULL) != 0) {
		free(call);
		return NULL;
	}
	if (pthread_cond_init(&call->cond, &c->srv->condattr) != 0) {
		pthread_mutex_destroy(&call->mu);
		free(call);
		return NULL;
	}
	atomic_init(&call->refs, 1);
	atomic_init(&call->cancelled, false);
	atomic_init(&call->send_blocked, false);
	call->srv = c->srv;
	call->conn = c;
	conn_ref(c);
	call->stream_id = stream_id;
	call->start_ns = mono_ns();
	call->heap_idx = SIZE_MAX;
	return call;
}

void call_ref(struct rpc_call *call)
{
	atomic_fetch_add_explicit(&call->refs, 1, memory_order_relaxed);
}

void call_unref(struct rpc_call *call)
{
	if (call == NULL || atomic_fetch_sub_explicit(&call->refs, 1, memory_order_acq_rel) != 1)
		return;
	/* Whatever is still held here was counted against the connection. */
	size_t held = call->body_accounted + outmsg_list_bytes(call->out_head) - call->out_off +
		      call->pend_bytes;
	if (held)
		atomic_fetch_sub(&call->conn->buffered, held);
	free(call->body);
	outmsg_free_list(call->out_head);
	outmsg_free_list(call->pend_head);
	free(call->path);
	free(call->bad_value);
	free(call->final_msg);
	free(call->done_msg);
	pthread_cond_destroy(&call->cond);
	pthread_mutex_destroy(&call->mu);
	conn_unref(call->conn);
	free(call);
}

void call_cancel(struct rpc_call *call)
{
	if (atomic_exchange(&call->cancelled, true))
		return;
	pthread_mutex_lock(&call->mu);
	pthread_cond_broadcast(&call->cond);
	pthread_mutex_unlock(&call->mu);
}

int call_pack(struct rpc_call *call, const ProtobufCMessage *msg, struct outmsg **out,
	      ocid_error **err)
{
	size_t size = protobuf_c_message_get_packed_size(msg);
	size_t max = call->srv->opts.max_message;
	if (size > max)
		return err_set(err, GRPC_RESOURCE_EXHAUSTED,
			       "grpc: trying to send message larger than max (%zu vs. %zu)", size,
			       max);
	struct outmsg *m = malloc(sizeof(*m) + GRPC_PREFIX_LEN + size);
	if (m == NULL)
		return err_set(err, GRPC_RESOURCE_EXHAUSTED, "out of memory packing a %zu byte reply",
			       size);
	m->next = NULL;
	m->len = GRPC_PREFIX_LEN + size;
	grpc_frame_prefix(m->data, (uint32_t)size);
	size_t packed = protobuf_c_message_pack(msg, m->data + GRPC_PREFIX_LEN);
	if (packed != size) {
		free(m);
		return err_set(err, GRPC_INTERNAL, "packing %s: %zu bytes instead of %zu",
			       msg->descriptor->name, packed, size);
	}
	*out = m;
	return 0;
}

/* Appends to the pending output (under mu) and tells the loop. */
static void push_locked(struct rpc_call *call, struct outmsg *m, bool *notify)
{
	if (m) {
		if (call->pend_tail)
			call->pend_tail->next = m;
		else
			call->pend_head = m;
		call->pend_tail = m;
		call->pend_bytes += m->len;
	}
	if (!call->in_ready) {
		call->in_ready = true;
		*notify = true;
	}
}

/* The worker's last word: final status (and the unary reply, if any). */
static void call_complete(struct rpc_call *call, int code, char *msg, struct outmsg *reply)
{
	bool notify = false;
	if (reply)
		atomic_fetch_add(&call->conn->buffered, reply->len);
	pthread_mutex_lock(&call->mu);
	push_locked(call, reply, &notify);
	call->done = true;
	call->done_code = code;
	call->done_msg = msg;
	pthread_mutex_unlock(&call->mu);
	if (notify)
		server_ready_push(call->srv, call);
}

void call_execute(struct rpc_call *call)
{
	const struct rpc_route *route = call->route;
	ocid_error *err = NULL;
	struct outmsg *reply = NULL;
	ProtobufCMessage *req = NULL;

	/* The loop checked there is exactly one complete message. */
	const uint8_t *payload = call->body + GRPC_PREFIX_LEN;
	size_t payload_len = call->body_len - GRPC_PREFIX_LEN;

	if (atomic_load(&call->cancelled)) {
		err_set(&err, GRPC_CANCELLED, "call cancelled before it started");
		goto done;
	}
	req = protobuf_c_message_unpack(route->input, NULL, payload_len, payload);
	/* The request body is no longer needed: release it and its budget. */
	free(call->body);
	call->body = NULL;
	atomic_fetch_sub(&call->conn->buffered, call->body_accounted);
	call->body_accounted = 0;
	if (req == NULL) {
		err_set(&err, GRPC_INVALID_ARGUMENT,
			"cannot decode %s: invalid protobuf encoding (%zu bytes)", route->input->name,
			payload_len);
		goto done;
	}

	if (route->unary) {
		ProtobufCMessage *resp = NULL;
		if (route->unary(call, req, &resp, &err) < 0) {
			if (err == NULL)
				err_set(&err, GRPC_UNKNOWN, "%s: handler failed without an error",
					route->path);
		} else if (resp == NULL) {
			err_clear(&err);
			err_set(&err, GRPC_INTERNAL, "%s: handler returned no response", route->path);
		} else {
			err_clear(&err);
			if (route->output && resp->descriptor != route->output)
				err_set(&err, GRPC_INTERNAL, "%s: handler returned a %s, not a %s",
					route->path, resp->descriptor->name, route->output->name);
			else
				call_pack(call, resp, &reply, &err);
		}
		if (resp)
			protobuf_c_message_free_unpacked(resp, NULL);
	} else {
		if (route->stream(call, req, &err) < 0) {
			if (err == NULL)
				err_set(&err, GRPC_UNKNOWN, "%s: handler failed without an error",
					route->path);
		} else {
			err_clear(&err);
		}
	}

done:
	if (req)
		protobuf_c_message_free_unpacked(req, NULL);
	if (err && (err->code == GRPC_INTERNAL || err->code == GRPC_UNKNOWN)) {
		char esc[512];
		log_escape(err->msg, esc, sizeof(esc));
		log_warn("rpc failed", "method=%s code=%s error=\"%s\"", route->path,
			 grpc_code_name(err->code), esc);
	}
	if (err) {
		int code = err->code == GRPC_OK ? GRPC_UNKNOWN : (int)err->code;
		char *msg = err->msg;
		err->msg = NULL;
		err_free(err);
		free(reply);
		call_complete(call, code, msg, NULL);
	} else {
		call_complete(call, GRPC_OK, NULL, reply);
	}
	call_unref(call);
}

/* ---- rpc.h ---- */

void *rpc_call_data(struct rpc_call *call)
{
	return call->route->data;
}

const struct rpc_route *rpc_call_route(struct rpc_call *call)
{
	return call->route;
}

bool rpc_call_cancelled(struct rpc_call *call)
{
	return atomic_load_explicit(&call->cancelled, memory_order_acquire);
}

int64_t rpc_call_deadline(struct rpc_call *call)
{
	return call->deadline_ns;
}

int64_t rpc_call_time_left(struct rpc_call *call)
{
	if (call->deadline_ns == 0)
		return INT64_MAX;
	int64_t left = call->deadline_ns - mono_ns();
	return left > 0 ? left : 0;
}

static void abs_timespec(int64_t abs_ns, struct timespec *ts)
{
	ts->tv_sec = (time_t)(abs_ns / 1000000000LL);
	ts->tv_nsec = (long)(abs_ns % 1000000000LL);
}

bool rpc_call_wait_cancel(struct rpc_call *call, int64_t ns)
{
	if (atomic_load(&call->cancelled))
		return true;
	if (ns <= 0)
		return false;
	int64_t now = mono_ns();
	int64_t until = ns > INT64_MAX - now ? INT64_MAX : now + ns;
	struct timespec ts;
	abs_timespec(until, &ts);
	pthread_mutex_lock(&call->mu);
	while (!atomic_load(&call->cancelled)) {
		int rc = pthread_cond_timedwait(&call->cond, &call->mu, &ts);
		if (rc == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&call->mu);
	return atomic_load(&call->cancelled);
}

int rpc_call_send(struct rpc_call *call, const ProtobufCMessage *msg, ocid_error **err)
{
	if (call->route->stream == NULL)
		return err_set(err, GRPC_INTERNAL, "%s: rpc_call_send on a unary call",
			       call->route->path);
	if (atomic_load(&call->cancelled))
		return err_set(err, GRPC_CANCELLED, "call cancelled");
	struct outmsg *m = NULL;
	if (call_pack(call, msg, &m, err) < 0)
		return -1;

	struct conn *c = call->conn;
	size_t limit = call->srv->opts.max_conn_buffered;
	bool notify = false;
	pthread_mutex_lock(&call->mu);
	for (;;) {
		/* Store the flag before reading the counter: the loop does the
		 * opposite, so one of us always sees the other. */
		atomic_store(&call->send_blocked, true);
		if (atomic_load(&call->cancelled) || atomic_load(&c->buffered) <= limit)
			break;
		pthread_cond_wait(&call->cond, &call->mu);
	}
	atomic_store(&call->send_blocked, false);
	if (atomic_load(&call->cancelled)) {
		pthread_mutex_unlock(&call->mu);
		free(m);
		return err_set(err, GRPC_CANCELLED, "call cancelled");
	}
	atomic_fetch_add(&c->buffered, m->len);
	push_locked(call, m, &notify);
	pthread_mutex_unlock(&call->mu);
	if (notify)
		server_ready_push(call->srv, call);
	return 0;
}
