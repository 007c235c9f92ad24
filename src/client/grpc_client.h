/* A blocking gRPC client over HTTP/2 (nghttp2, prior knowledge) on a unix
 * socket: what ocic and the tests use to talk to ocid.
 *
 * One client object is one connection and may be used by one thread at a
 * time; calls on it run one after the other. A connection that broke (peer
 * closed it, GOAWAY, I/O error) is re-dialled at the start of the next call.
 *
 * Errors: every failure returns -1 and fills *err. Its code is the server's
 * grpc-status (message: the decoded grpc-message); UNAVAILABLE when the
 * socket cannot be reached or the connection drops; DEADLINE_EXCEEDED when
 * timeout_ns passes locally; RESOURCE_EXHAUSTED for a response message over
 * GRPC_CLIENT_MAX_RECV; INTERNAL for protocol violations (no trailers, bad
 * framing, undecodable message); non-200 HTTP answers are mapped as grpc-go
 * maps them (grpc_status_from_http). */
#ifndef OCID_CLIENT_GRPC_CLIENT_H
#define OCID_CLIENT_GRPC_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "grpc/wire.h"
#include "util/err.h"

#ifdef OCID_VERSION
#define GRPC_CLIENT_USER_AGENT "ocic/" OCID_VERSION
#else
#define GRPC_CLIENT_USER_AGENT "ocic/0.1.0"
#endif
#define GRPC_CLIENT_DEFAULT_ENDPOINT "unix:///run/ocid/ocid.sock"
/* Largest response message accepted (kubelet's limit). */
#define GRPC_CLIENT_MAX_RECV GRPC_MAX_MESSAGE_DEFAULT

struct grpc_client;

/* Turns "unix:///p", "unix:/p", "unix://p" (relative) or a bare path into
 * the socket path. Other schemes, empty paths and paths too long for
 * sun_path are INVALID_ARGUMENT. *path_out is malloc'd. */
int grpc_endpoint_parse(const char *endpoint, char **path_out, ocid_error **err);

/* The gRPC code grpc-go gives a response whose HTTP status is not 200:
 * 400 INTERNAL, 401 UNAUTHENTICATED, 403 PERMISSION_DENIED, 404 UNIMPLEMENTED,
 * 429/502/503/504 UNAVAILABLE, anything else UNKNOWN. */
enum grpc_code grpc_status_from_http(int http_status);

/* The gRPC code for a stream reset by the peer with an HTTP/2 error code
 * (REFUSED_STREAM -> UNAVAILABLE, CANCEL -> CANCELLED, ENHANCE_YOUR_CALM ->
 * RESOURCE_EXHAUSTED, INADEQUATE_SECURITY -> PERMISSION_DENIED, else INTERNAL). */
enum grpc_code grpc_status_from_h2_error(uint32_t h2_error);

/* Connects to endpoint (see grpc_endpoint_parse) and sends the HTTP/2
 * preface. Failure to connect is UNAVAILABLE. */
int grpc_client_connect(const char *endpoint, struct grpc_client **out, ocid_error **err);
void grpc_client_free(struct grpc_client *c);

/* One unary call. path is the method path ("/runtime.v1.RuntimeService/Version").
 * timeout_ns <= 0 means no deadline (and no grpc-timeout header). On success
 * *resp is a message of type resp_desc; free it with
 * protobuf_c_message_free_unpacked(*resp, NULL). */
int grpc_client_unary(struct grpc_client *c, const char *path, const ProtobufCMessage *req,
		      const ProtobufCMessageDescriptor *resp_desc, int64_t timeout_ns,
		      ProtobufCMessage **resp, ocid_error **err);

/* The outcome of a raw call, as the wire gave it. */
struct grpc_raw_result {
	int status;          /* final gRPC status code, computed as for unary calls */
	char *message;       /* its message (decoded grpc-message, or ours); never NULL */
	int http_status;     /* :status, 0 if none came */
	uint8_t *body;       /* every DATA byte of the response, prefixes included */
	size_t body_len;
	size_t n_messages;   /* complete length-prefixed messages in body */
	const uint8_t *msg;  /* first message's payload (inside body), or NULL */
	size_t msg_len;
};
void grpc_raw_result_clear(struct grpc_raw_result *r);

/* Sends body as the request. With add_prefix, a 5-byte gRPC prefix
 * (uncompressed, length len) is put in front; without it the bytes go out
 * exactly as given. Returns 0 once the server answered, whatever the
 * status (see out->status), and -1 only for local failures: connection
 * (UNAVAILABLE), deadline (DEADLINE_EXCEEDED), out of memory. Response
 * messages over GRPC_CLIENT_MAX_RECV end the call with status
 * RESOURCE_EXHAUSTED in *out. */
int grpc_client_unary_raw(struct grpc_client *c, const char *path, const uint8_t *body,
			  size_t len, bool add_prefix, int64_t timeout_ns,
			  struct grpc_raw_result *out, ocid_error **err);

/* Called once per streamed message. The message is freed after the callback
 * returns. Return 0 to go on, non-zero to stop (the stream is cancelled). */
typedef int (*grpc_stream_cb)(const ProtobufCMessage *msg, void *userdata);

/* A server-streaming call. Returns 0 when the server ended the stream with
 * OK, 1 when the callback stopped it, -1 on error. timeout_ns as above
 * (covers the whole stream). */
int grpc_client_stream(struct grpc_client *c, const char *path, const ProtobufCMessage *req,
		       const ProtobufCMessageDescriptor *resp_desc, int64_t timeout_ns,
		       grpc_stream_cb cb, void *userdata, ocid_error **err);

#endif
