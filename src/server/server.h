/* The gRPC server: an epoll loop over every socket and nghttp2 session, and a
 * small pool of worker threads running handlers. The loop runs on whichever
 * thread holds the poller role (src/server/internal.h), starting with the
 * caller of server_run. */
#ifndef OCID_SERVER_SERVER_H
#define OCID_SERVER_SERVER_H

#include <stddef.h>

#include "server/rpc.h"
#include "util/err.h"

struct server;

struct server_options {
	const char *socket_path;         /* created 0660, parent dirs 0755 */
	const struct rpc_route *routes;  /* not copied: must outlive the server */
	size_t n_routes;
	unsigned workers;                /* worker threads for unary calls; 0 = 4 */
	size_t max_message;              /* 0 = GRPC_MAX_MESSAGE_DEFAULT (16 MiB) */
	unsigned max_streams_per_conn;   /* 0 = 128 */
	size_t max_conn_buffered;        /* bytes buffered per connection; 0 = 64 MiB */
	unsigned max_streaming_calls;    /* dedicated threads for streaming RPCs; 0 = 32 */
	int shutdown_grace_ms;           /* in-flight calls get this long; 0 = 10000 */
};

/* Binds the socket (replacing a stale socket file; any other kind of file at
 * the path is an error). */
int server_new(const struct server_options *opts, struct server **out, ocid_error **err);
/* Runs the loop until SIGTERM or SIGINT (blocked and read through a
 * signalfd), then shuts down: stops accepting, removes the socket, lets
 * in-flight calls finish up to the grace period, closes connections. */
int server_run(struct server *srv, ocid_error **err);
void server_free(struct server *srv);

/* How calls were carried, since the start (for tests and the benchmark). */
struct server_stats {
	unsigned long calls_on_poller;   /* unary calls run by the thread that read them */
	unsigned long calls_queued;      /* unary calls handed to the pool's queue */
	unsigned long replies_direct;    /* worker news sent by the worker itself */
	unsigned long replies_via_loop;  /* worker news left for the poller (it was busy) */
};
void server_get_stats(struct server *srv, struct server_stats *out);

#endif
