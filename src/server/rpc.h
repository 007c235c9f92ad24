/* What a CRI handler sees of the gRPC call it serves. Handlers run on worker
 * threads, never on the event loop; they may block (runc, a pull). */
#ifndef OCID_SERVER_RPC_H
#define OCID_SERVER_RPC_H

#include <stdbool.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "util/err.h"

struct rpc_call;

/* Unary handler. On success returns 0 and sets *resp to a message allocated
 * with malloc throughout (strings strdup'd or protobuf_c_empty_string,
 * sub-messages and arrays malloc'd), which the server packs and then frees
 * with protobuf_c_message_free_unpacked(resp, NULL). On failure returns < 0
 * with *err set; its code and message become grpc-status/grpc-message. */
typedef int (*rpc_unary_fn)(struct rpc_call *call, const ProtobufCMessage *req,
			    ProtobufCMessage **resp, ocid_error **err);

/* Server-streaming handler: sends any number of messages with rpc_call_send,
 * then returns 0 (status OK) or < 0 with *err. It should return soon after
 * rpc_call_cancelled() becomes true. */
typedef int (*rpc_stream_fn)(struct rpc_call *call, const ProtobufCMessage *req,
			     ocid_error **err);

struct rpc_route {
	/* "/runtime.v1.RuntimeService/Version" */
	const char *path;
	const ProtobufCMessageDescriptor *input;
	const ProtobufCMessageDescriptor *output;
	/* Exactly one of these is set; neither means UNIMPLEMENTED. */
	rpc_unary_fn unary;
	rpc_stream_fn stream;
	void *data; /* handler state, given back by rpc_call_data() */
	/* Unary handlers that never block and do no I/O (Version) may run on
	 * the event loop itself, saving two thread hand-offs per call. */
	bool run_on_loop;
};

void *rpc_call_data(struct rpc_call *call);
/* The route this call matched (its path names the method in logs/errors). */
const struct rpc_route *rpc_call_route(struct rpc_call *call);
/* True once the client reset the stream, the connection closed, the deadline
 * passed or the server is shutting down past its grace period. */
bool rpc_call_cancelled(struct rpc_call *call);
/* CLOCK_MONOTONIC deadline in ns from grpc-timeout; 0 when none was given. */
int64_t rpc_call_deadline(struct rpc_call *call);
/* Nanoseconds left before the deadline (INT64_MAX when none). */
int64_t rpc_call_time_left(struct rpc_call *call);
/* Streaming only: queues one message to the client. Blocks while the
 * connection's buffered bytes are over its limit. Fails (CANCELLED) once the
 * call is cancelled. Does not take ownership of msg. */
int rpc_call_send(struct rpc_call *call, const ProtobufCMessage *msg, ocid_error **err);
/* Sleeps up to ns nanoseconds, waking early when the call is cancelled.
 * Returns true if cancelled. For streaming handlers that poll. */
bool rpc_call_wait_cancel(struct rpc_call *call, int64_t ns);

#endif
