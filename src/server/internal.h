/* Internals shared by the server's files. Nothing here is for other modules.
 *
 * Threads: one thread at a time is the poller (server_poll): it waits in
 * epoll and handles what comes, holding srv->loop_mu whenever it is not
 * waiting. Every fd, every nghttp2 session and every field marked "loop" is
 * touched only with loop_mu held. Any pool thread can be the poller: when a
 * turn dispatches a unary call and a pool thread is idle, the poller hands
 * the role to it and runs the call itself, so the request does not wait for
 * another thread to be scheduled. A worker that finishes a call delivers the
 * reply itself when loop_mu is free (the poller is waiting), so the reply
 * does not wait for the poller to be scheduled either.
 * Threads meet in these places:
 *   - loop_mu: the poller's state, taken by workers to deliver replies;
 *   - the job queue and the poller vacancy (workers.c);
 *   - the ready list (server.c): worker -> poller when loop_mu was busy, an
 *     rpc_call whose worker side has news, signalled by an eventfd;
 *   - the rpc_call's mutex/condvar: cancellation and send flow control.
 * Fields are grouped below by who may touch them. */
#ifndef OCID_SERVER_INTERNAL_H
#define OCID_SERVER_INTERNAL_H

#include <nghttp2/nghttp2.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "server/rpc.h"
#include "server/server.h"
#include "util/err.h"
#include "util/outbuf.h"

#define SERVER_MAX_CONNS 1024
#define SERVER_WORKER_STACK (512u * 1024u)
/* Threads started beyond the base pool while every worker is busy. */
#define SERVER_MAX_EXTRA_WORKERS 60u

int64_t mono_ns(void);

/* One length-prefixed gRPC message (prefix included) on its way out. */
struct outmsg {
	struct outmsg *next;
	size_t len;
	uint8_t data[];
};

void outmsg_free_list(struct outmsg *m);

/* What an epoll registration points at. */
enum ep_kind { EP_LISTENER, EP_SIGNAL, EP_WAKE, EP_CONN };
struct ep_tag {
	enum ep_kind kind;
};

struct conn {
	struct ep_tag tag; /* first: epoll data points here */
	atomic_int refs;   /* the loop's + one per rpc_call */
	struct server *srv;
	unsigned id;
	/* Request bodies held plus response bytes queued and not yet framed.
	 * Workers add (rpc_call_send), the loop subtracts. */
	atomic_size_t buffered;

	/* Loop (under srv->loop_mu). */
	int fd;
	nghttp2_session *session;
	struct outbuf out; /* framed bytes that the socket did not take yet */
	bool epollout;
	bool closed;
	bool dirty;
	bool goaway;
	struct conn *dirty_next;
	struct conn *prev, *next; /* srv->conns, or srv->closed once closed */
	struct rpc_call *calls;   /* attached calls (one per open stream) */
	unsigned n_streaming;     /* attached streaming calls */
};

void conn_ref(struct conn *c);
void conn_unref(struct conn *c);

enum call_state {
	CALL_READING = 0, /* headers seen, request body arriving */
	CALL_DISPATCHED,  /* a worker owns the request */
	CALL_FINISHED,    /* final status decided on the loop */
};

struct rpc_call {
	atomic_int refs;
	struct server *srv;
	struct conn *conn; /* holds a ref */
	const struct rpc_route *route;
	int32_t stream_id;
	int64_t start_ns;
	int64_t deadline_ns; /* 0: none */
	atomic_bool cancelled;

	/* Request body: the loop's until dispatch, then the worker's. */
	uint8_t *body;
	size_t body_len, body_cap;
	size_t body_accounted; /* bytes of body counted in conn->buffered */

	/* Loop (under srv->loop_mu). */
	enum call_state state;
	bool attached;       /* tied to an open nghttp2 stream */
	bool prefix_checked; /* first message prefix validated */
	bool resp_started;   /* response HEADERS submitted with a data provider */
	bool worker_done;    /* the worker's final status has been taken */
	bool logged;
	bool is_stream;
	uint8_t hdr_flags;   /* HDR_* below */
	char *path;          /* :path as received */
	char *bad_value;     /* offending header value for the error message */
	size_t msg_declared; /* declared length of the first message */
	struct outmsg *out_head, *out_tail; /* loop-owned response bytes */
	size_t out_off;
	int final_code;
	char *final_msg;
	size_t heap_idx; /* position in srv->heap, SIZE_MAX if absent */
	struct rpc_call *conn_prev, *conn_next;

	/* Worker -> loop, under mu. */
	pthread_mutex_t mu;
	pthread_cond_t cond;
	struct outmsg *pend_head, *pend_tail;
	size_t pend_bytes;
	bool done;      /* the worker finished */
	int done_code;
	char *done_msg;
	bool in_ready;  /* on srv's ready list (or about to be) */
	bool on_poller; /* run inline by the poller, which holds loop_mu */
	atomic_bool send_blocked;

	struct rpc_call *ready_next; /* under srv->ready_mu */
	struct rpc_call *job_next;   /* under the workers' mutex */
};

#define HDR_METHOD_OK 0x01
#define HDR_CTYPE_OK 0x02
#define HDR_BAD_TIMEOUT 0x04
#define HDR_BAD_ENCODING 0x08
#define HDR_HAVE_CTYPE 0x10

struct workers;

struct server {
	struct server_options opts; /* defaults filled in */
	char *socket_path;
	dev_t sock_dev;
	ino_t sock_ino;

	int epfd;
	int listen_fd;
	int sig_fd;
	int wake_fd;  /* eventfd: workers -> loop */
	int spare_fd; /* reserve fd for EMFILE on accept */
	struct ep_tag listen_tag, sig_tag, wake_tag;

	pthread_condattr_t condattr; /* CLOCK_MONOTONIC */
	nghttp2_session_callbacks *h2_callbacks;
	nghttp2_option *h2_option;

	/* The poller's state: under loop_mu. */
	pthread_mutex_t loop_mu;
	struct conn *conns;
	struct conn *closed; /* freed at the end of the loop iteration */
	struct conn *dirty;
	unsigned n_conns;
	unsigned next_conn_id;
	struct rpc_call **heap;
	size_t heap_len, heap_cap;
	bool shutting_down;
	int64_t grace_deadline;
	int64_t accept_paused_until;
	uint8_t *rbuf;
	/* A unary call dispatched in this turn that the poller may run itself
	 * (holds a ref). */
	struct rpc_call *run_next;

	/* server_stats counters */
	atomic_ulong calls_on_poller, calls_queued, replies_direct, replies_via_loop;

	/* Worker -> loop. */
	pthread_mutex_t ready_mu;
	struct rpc_call *ready_head, *ready_tail;
	bool ready_signalled;

	struct workers *workers;
};

/* listener.c */
int listener_open(const char *path, int *fd_out, dev_t *dev, ino_t *ino, ocid_error **err);
/* Unlinks path if it is still the socket we bound. */
void listener_unlink(const char *path, dev_t dev, ino_t ino);

/* call.c */
struct rpc_call *call_new(struct conn *c, int32_t stream_id);
void call_ref(struct rpc_call *call);
void call_unref(struct rpc_call *call);
/* Sets the cancel flag and wakes the handler. Any thread. */
void call_cancel(struct rpc_call *call);
/* Worker side: unpack, run the handler, report. Consumes the caller's ref. */
void call_execute(struct rpc_call *call);
/* Frames msg into a new outmsg; RESOURCE_EXHAUSTED over max_message. */
int call_pack(struct rpc_call *call, const ProtobufCMessage *msg, struct outmsg **out,
	      ocid_error **err);

/* server.c */
/* Worker side: hands the call's news to the loop, delivering it at once when
 * loop_mu is free, else through the ready list (takes a ref). Called once
 * per false->true transition of call->in_ready, without loop_mu held. */
void server_ready_push(struct server *srv, struct rpc_call *call);
/* Polls until the loop ends (returns 0, or -1 with *err) or until this
 * thread handed the poller role on to run a call itself (returns 1, *run
 * holds a ref for call_execute). Called by whoever holds the role. */
int server_poll(struct server *srv, struct rpc_call **run, ocid_error **err);
void server_mark_dirty(struct server *srv, struct conn *c);
void heap_add(struct server *srv, struct rpc_call *call);
void heap_remove(struct server *srv, struct rpc_call *call);
int server_epoll_mod(struct server *srv, int fd, struct ep_tag *tag, uint32_t events);

/* conn.c */
int conn_callbacks_new(struct server *srv, ocid_error **err);
int conn_new(struct server *srv, int fd, ocid_error **err);
void conn_handle_events(struct conn *c, uint32_t events);
void conn_flush(struct conn *c);
void conn_close(struct conn *c, const char *why);
void conn_goaway(struct conn *c);
/* Shutdown grace expired: cancels every call and closes. */
void conn_abort(struct conn *c);
/* The loop takes what a worker reported (ready list). */
void conn_deliver(struct rpc_call *call);
/* The loop's deadline timer fired for this call. */
void conn_deadline(struct rpc_call *call);

/* workers.c */
int workers_new(struct server *srv, unsigned n, unsigned max_streaming,
		struct workers **out, ocid_error **err);
/* Queues a unary call (takes a ref). */
void workers_submit(struct workers *w, struct rpc_call *call);
/* The poller asks to give its role to an idle pool thread: true when one
 * will take it (the caller then stops polling). */
bool workers_hand_off_poll(struct workers *w);
/* The loop has ended (rc and err from server_poll, err taken): the thread
 * in workers_run_main returns. */
void workers_loop_ended(struct workers *w, int rc, ocid_error *err);
/* server_run's thread: polls first; once it has handed the poller role on,
 * serves as a pool thread until the loop ends (on whichever thread polls
 * last), then returns the loop's result. */
int workers_run_main(struct workers *w, ocid_error **err);
/* Starts a dedicated thread (takes a ref). -1 when at max_streaming. */
int workers_start_stream(struct workers *w, struct rpc_call *call);
/* Stops and joins the pool; waits for streaming threads; drops queued jobs. */
void workers_free(struct workers *w);

#endif
