/* The event loop: epoll over the listening socket, a signalfd, an eventfd for
 * worker completions and every connection; deadline timers; shutdown. Run
 * by whichever thread holds the poller role (internal.h). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "grpc/wire.h"
#include "server/internal.h"
#include "util/cleanup.h"
#include "util/log.h"

#define READ_BUF_SIZE (64u * 1024u)
#define MAX_EVENTS 64
#define ACCEPT_BATCH 32

/* ---- ready list: workers -> loop ---- */

static void flush_dirty(struct server *srv);

static void wake_poller(struct server *srv)
{
	uint64_t one = 1;
	while (write(srv->wake_fd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

void server_ready_push(struct server *srv, struct rpc_call *call)
{
	/* (counted before the reply can reach the client) */
	if (call->on_poller) { /* this thread holds loop_mu */
		atomic_fetch_add_explicit(&srv->replies_direct, 1, memory_order_relaxed);
		conn_deliver(call);
		return;
	}
	/* The poller is waiting in epoll (or between turns): deliver and send
	 * now, instead of waking it and waiting for it to be scheduled. */
	if (pthread_mutex_trylock(&srv->loop_mu) == 0) {
		atomic_fetch_add_explicit(&srv->replies_direct, 1, memory_order_relaxed);
		conn_deliver(call);
		flush_dirty(srv);
		/* A connection closed here is freed by the poller; a shutdown
		 * may now be complete. */
		bool wake = srv->closed != NULL || srv->shutting_down;
		pthread_mutex_unlock(&srv->loop_mu);
		if (wake)
			wake_poller(srv);
		return;
	}
	atomic_fetch_add_explicit(&srv->replies_via_loop, 1, memory_order_relaxed);
	call_ref(call);
	call->ready_next = NULL;
	pthread_mutex_lock(&srv->ready_mu);
	if (srv->ready_tail)
		srv->ready_tail->ready_next = call;
	else
		srv->ready_head = call;
	srv->ready_tail = call;
	bool signal = !srv->ready_signalled;
	srv->ready_signalled = true;
	pthread_mutex_unlock(&srv->ready_mu);
	if (signal)
		wake_poller(srv);
}

static struct rpc_call *ready_take(struct server *srv)
{
	pthread_mutex_lock(&srv->ready_mu);
	struct rpc_call *list = srv->ready_head;
	srv->ready_head = srv->ready_tail = NULL;
	srv->ready_signalled = false;
	pthread_mutex_unlock(&srv->ready_mu);
	return list;
}

static void drain_ready(struct server *srv)
{
	uint64_t v;
	while (read(srv->wake_fd, &v, sizeof(v)) < 0 && errno == EINTR)
		;
	struct rpc_call *call = ready_take(srv);
	while (call) {
		struct rpc_call *next = call->ready_next;
		conn_deliver(call);
		call_unref(call);
		call = next;
	}
}

/* ---- dirty connections: flushed once per loop iteration ---- */

void server_mark_dirty(struct server *srv, struct conn *c)
{
	if (c->dirty || c->closed)
		return;
	c->dirty = true;
	c->dirty_next = srv->dirty;
	srv->dirty = c;
}

static void flush_dirty(struct server *srv)
{
	while (srv->dirty) {
		struct conn *c = srv->dirty;
		srv->dirty = c->dirty_next;
		c->dirty = false;
		c->dirty_next = NULL;
		conn_flush(c);
	}
}

static void reap_closed(struct server *srv)
{
	while (srv->closed) {
		struct conn *c = srv->closed;
		srv->closed = c->next;
		conn_unref(c);
	}
}

/* ---- deadline heap (min-heap on deadline_ns, index kept in the call) ---- */

static void heap_set(struct server *srv, size_t i, struct rpc_call *call)
{
	srv->heap[i] = call;
	call->heap_idx = i;
}

static void heap_up(struct server *srv, size_t i)
{
	struct rpc_call *call = srv->heap[i];
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (srv->heap[parent]->deadline_ns <= call->deadline_ns)
			break;
		heap_set(srv, i, srv->heap[parent]);
		i = parent;
	}
	heap_set(srv, i, call);
}

static void heap_down(struct server *srv, size_t i)
{
	struct rpc_call *call = srv->heap[i];
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		int64_t best = call->deadline_ns;
		if (l < srv->heap_len && srv->heap[l]->deadline_ns < best) {
			m = l;
			best = srv->heap[l]->deadline_ns;
		}
		if (r < srv->heap_len && srv->heap[r]->deadline_ns < best)
			m = r;
		if (m == i)
			break;
		heap_set(srv, i, srv->heap[m]);
		i = m;
	}
	heap_set(srv, i, call);
}

void heap_add(struct server *srv, struct rpc_call *call)
{
	if (call->heap_idx != SIZE_MAX)
		return;
	if (srv->heap_len == srv->heap_cap) {
		size_t cap = srv->heap_cap ? srv->heap_cap * 2 : 64;
		struct rpc_call **h = realloc(srv->heap, cap * sizeof(*h));
		if (h == NULL) {
			/* Without a timer the deadline is not enforced by us; the
			 * client still enforces its own. */
			log_warn("out of memory for a deadline timer", "method=%s", call->path);
			return;
		}
		srv->heap = h;
		srv->heap_cap = cap;
	}
	size_t i = srv->heap_len++;
	heap_set(srv, i, call);
	heap_up(srv, i);
}

void heap_remove(struct server *srv, struct rpc_call *call)
{
	size_t i = call->heap_idx;
	if (i == SIZE_MAX)
		return;
	call->heap_idx = SIZE_MAX;
	struct rpc_call *last = srv->heap[--srv->heap_len];
	if (i == srv->heap_len)
		return;
	heap_set(srv, i, last);
	if (i > 0 && srv->heap[(i - 1) / 2]->deadline_ns > last->deadline_ns)
		heap_up(srv, i);
	else
		heap_down(srv, i);
}

static void fire_deadlines(struct server *srv, int64_t now)
{
	while (srv->heap_len > 0 && srv->heap[0]->deadline_ns <= now) {
		struct rpc_call *call = srv->heap[0];
		heap_remove(srv, call);
		conn_deadline(call);
	}
}

/* ---- epoll helpers ---- */

static int epoll_add(struct server *srv, int fd, struct ep_tag *tag, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = tag};
	return epoll_ctl(srv->epfd, EPOLL_CTL_ADD, fd, &ev);
}

int server_epoll_mod(struct server *srv, int fd, struct ep_tag *tag, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = tag};
	return epoll_ctl(srv->epfd, EPOLL_CTL_MOD, fd, &ev);
}

/* ---- accept ---- */

static void accept_conns(struct server *srv)
{
	for (int i = 0; i < ACCEPT_BATCH && srv->listen_fd >= 0; i++) {
		int fd = accept4(srv->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			switch (errno) {
			case EINTR:
			case ECONNABORTED:
			case EPROTO:
				continue;
			case EAGAIN:
				return;
			case EMFILE:
			case ENFILE:
				/* Take the connection with our reserve fd and drop it, so the
				 * backlog does not keep the loop spinning. */
				log_warn("out of file descriptors: dropping a connection", NULL);
				if (srv->spare_fd >= 0) {
					close(srv->spare_fd);
					srv->spare_fd = -1;
					int tmp = accept4(srv->listen_fd, NULL, NULL, SOCK_CLOEXEC);
					if (tmp >= 0)
						close(tmp);
					srv->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
				}
				if (srv->spare_fd < 0) {
					/* No reserve: stop accepting for a moment. */
					srv->accept_paused_until = mono_ns() + 100000000LL;
					server_epoll_mod(srv, srv->listen_fd, &srv->listen_tag, 0);
				}
				return;
			default:
				log_warn("accept failed", "error=\"%s\"", strerror(errno));
				srv->accept_paused_until = mono_ns() + 100000000LL;
				server_epoll_mod(srv, srv->listen_fd, &srv->listen_tag, 0);
				return;
			}
		}
		if (srv->n_conns >= SERVER_MAX_CONNS) {
			log_warn("too many connections: dropping a new one", "max=%d",
				 SERVER_MAX_CONNS);
			close(fd);
			continue;
		}
		ocid_error *err = NULL;
		if (conn_new(srv, fd, &err) < 0) {
			log_warn("cannot set up a connection", "error=\"%s\"", err->msg);
			err_free(err);
		}
	}
}

static void resume_accept(struct server *srv, int64_t now)
{
	if (srv->accept_paused_until == 0 || now < srv->accept_paused_until)
		return;
	srv->accept_paused_until = 0;
	if (srv->listen_fd >= 0) {
		if (srv->spare_fd < 0)
			srv->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		server_epoll_mod(srv, srv->listen_fd, &srv->listen_tag, EPOLLIN);
	}
}

/* ---- shutdown ---- */

static void begin_shutdown(struct server *srv, int signo)
{
	if (srv->shutting_down)
		return;
	const char *name = sigabbrev_np(signo);
	log_info("shutting down", "signal=SIG%s connections=%u grace_ms=%d", name ? name : "?",
		 srv->n_conns, srv->opts.shutdown_grace_ms);
	srv->shutting_down = true;
	srv->grace_deadline = mono_ns() + (int64_t)srv->opts.shutdown_grace_ms * 1000000LL;
	if (srv->listen_fd >= 0) {
		epoll_ctl(srv->epfd, EPOLL_CTL_DEL, srv->listen_fd, NULL);
		close(srv->listen_fd);
		srv->listen_fd = -1;
		listener_unlink(srv->socket_path, srv->sock_dev, srv->sock_ino);
	}
	for (struct conn *c = srv->conns; c; c = c->next)
		conn_goaway(c);
}

static void handle_signals(struct server *srv)
{
	struct signalfd_siginfo si;
	for (;;) {
		ssize_t n = read(srv->sig_fd, &si, sizeof(si));
		if (n < 0 && errno == EINTR)
			continue;
		if (n != (ssize_t)sizeof(si))
			return;
		if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
			begin_shutdown(srv, (int)si.ssi_signo);
	}
}

static int loop_timeout_ms(struct server *srv, int64_t now)
{
	int64_t next = INT64_MAX;
	if (srv->heap_len > 0)
		next = srv->heap[0]->deadline_ns;
	if (srv->shutting_down && srv->grace_deadline < next)
		next = srv->grace_deadline;
	if (srv->accept_paused_until && srv->accept_paused_until < next)
		next = srv->accept_paused_until;
	if (next == INT64_MAX)
		return -1;
	if (next <= now)
		return 0;
	int64_t ms = (next - now + 999999) / 1000000;
	return ms > 60000 ? 60000 : (int)ms;
}

/* The call this turn may run on the poller's thread: handed to the pool
 * unless another thread takes the poller role. Under loop_mu. */
static struct rpc_call *take_run_next(struct server *srv)
{
	struct rpc_call *call = srv->run_next;
	if (call == NULL)
		return NULL;
	srv->run_next = NULL;
	if (!srv->shutting_down && workers_hand_off_poll(srv->workers)) {
		atomic_fetch_add_explicit(&srv->calls_on_poller, 1, memory_order_relaxed);
		return call;
	}
	workers_submit(srv->workers, call);
	call_unref(call);
	return NULL;
}

int server_poll(struct server *srv, struct rpc_call **run, ocid_error **err)
{
	struct epoll_event events[MAX_EVENTS];
	*run = NULL;
	pthread_mutex_lock(&srv->loop_mu);
	for (;;) {
		if (srv->shutting_down && srv->conns == NULL)
			break;
		int64_t now = mono_ns();
		int timeout = loop_timeout_ms(srv, now);
		pthread_mutex_unlock(&srv->loop_mu);
		int n = epoll_wait(srv->epfd, events, MAX_EVENTS, timeout);
		int saved = errno;
		pthread_mutex_lock(&srv->loop_mu);
		if (n < 0) {
			if (saved == EINTR)
				continue;
			pthread_mutex_unlock(&srv->loop_mu);
			return err_set_errno(err, GRPC_INTERNAL, saved, "epoll_wait");
		}
		for (int i = 0; i < n; i++) {
			struct ep_tag *tag = events[i].data.ptr;
			switch (tag->kind) {
			case EP_LISTENER:
				accept_conns(srv);
				break;
			case EP_SIGNAL:
				handle_signals(srv);
				break;
			case EP_WAKE:
				drain_ready(srv);
				break;
			case EP_CONN:
				conn_handle_events((struct conn *)tag, events[i].events);
				break;
			}
		}
		now = mono_ns();
		fire_deadlines(srv, now);
		resume_accept(srv, now);
		if (srv->shutting_down && now >= srv->grace_deadline && srv->conns) {
			log_warn("shutdown grace period over: cancelling calls in flight",
				 "connections=%u", srv->n_conns);
			while (srv->conns)
				conn_abort(srv->conns);
		}
		flush_dirty(srv);
		reap_closed(srv);
		*run = take_run_next(srv);
		if (*run) {
			pthread_mutex_unlock(&srv->loop_mu);
			return 1;
		}
	}
	/* Finish what workers report during the last moments. */
	flush_dirty(srv);
	reap_closed(srv);
	pthread_mutex_unlock(&srv->loop_mu);
	log_info("server stopped", NULL);
	return 0;
}

int server_run(struct server *srv, ocid_error **err)
{
	log_info("listening", "socket=%s", srv->socket_path);
	return workers_run_main(srv->workers, err);
}

void server_get_stats(struct server *srv, struct server_stats *out)
{
	out->calls_on_poller = atomic_load(&srv->calls_on_poller);
	out->calls_queued = atomic_load(&srv->calls_queued);
	out->replies_direct = atomic_load(&srv->replies_direct);
	out->replies_via_loop = atomic_load(&srv->replies_via_loop);
}

/* ---- construction ---- */

static void fill_defaults(struct server_options *o)
{
	if (o->workers == 0)
		o->workers = 4;
	if (o->max_message == 0)
		o->max_message = GRPC_MAX_MESSAGE_DEFAULT;
	if (o->max_streams_per_conn == 0)
		o->max_streams_per_conn = 128;
	if (o->max_conn_buffered == 0)
		o->max_conn_buffered = 64u * 1024u * 1024u;
	if (o->max_streaming_calls == 0)
		o->max_streaming_calls = 32;
	if (o->shutdown_grace_ms <= 0)
		o->shutdown_grace_ms = 10000;
}

int server_new(const struct server_options *opts, struct server **out, ocid_error **err)
{
	*out = NULL;
	if (opts->socket_path == NULL)
		return err_set(err, GRPC_INVALID_ARGUMENT, "no socket path");
	if (opts->max_message && opts->max_message > UINT32_MAX)
		return err_set(err, GRPC_INVALID_ARGUMENT, "max_message above 4 GiB");

	struct server *srv = calloc(1, sizeof(*srv));
	if (srv == NULL)
		return err_set(err, GRPC_RESOURCE_EXHAUSTED, "out of memory");
	srv->opts = *opts;
	fill_defaults(&srv->opts);
	srv->epfd = srv->listen_fd = srv->sig_fd = srv->wake_fd = srv->spare_fd = -1;
	srv->listen_tag.kind = EP_LISTENER;
	srv->sig_tag.kind = EP_SIGNAL;
	srv->wake_tag.kind = EP_WAKE;
	pthread_mutex_init(&srv->ready_mu, NULL);
	pthread_mutex_init(&srv->loop_mu, NULL);
	pthread_condattr_init(&srv->condattr);
	pthread_condattr_setclock(&srv->condattr, CLOCK_MONOTONIC);
	srv->socket_path = strdup(opts->socket_path);
	srv->rbuf = malloc(READ_BUF_SIZE);
	if (srv->socket_path == NULL || srv->rbuf == NULL) {
		err_set(err, GRPC_RESOURCE_EXHAUSTED, "out of memory");
		goto fail;
	}

	/* Only the signalfd sees these; workers inherit the mask. */
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	sigdelset(&mask, SIGPIPE);
	srv->sig_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (srv->sig_fd < 0) {
		err_set_errno(err, GRPC_INTERNAL, errno, "signalfd");
		goto fail;
	}
	srv->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (srv->wake_fd < 0) {
		err_set_errno(err, GRPC_INTERNAL, errno, "eventfd");
		goto fail;
	}
	srv->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (srv->epfd < 0) {
		err_set_errno(err, GRPC_INTERNAL, errno, "epoll_create1");
		goto fail;
	}
	srv->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (conn_callbacks_new(srv, err) < 0)
		goto fail;
	if (listener_open(srv->socket_path, &srv->listen_fd, &srv->sock_dev, &srv->sock_ino,
			  err) < 0)
		goto fail;
	if (epoll_add(srv, srv->listen_fd, &srv->listen_tag, EPOLLIN) < 0 ||
	    epoll_add(srv, srv->sig_fd, &srv->sig_tag, EPOLLIN) < 0 ||
	    epoll_add(srv, srv->wake_fd, &srv->wake_tag, EPOLLIN) < 0) {
		err_set_errno(err, GRPC_INTERNAL, errno, "epoll_ctl");
		goto fail;
	}
	if (workers_new(srv, srv->opts.workers, srv->opts.max_streaming_calls, &srv->workers,
			err) < 0)
		goto fail;
	*out = srv;
	return 0;
fail:
	server_free(srv);
	return err_prefix(err, "start gRPC server");
}

void server_free(struct server *srv)
{
	if (srv == NULL)
		return;
	/* Connections left (server_run not called, or failed): drop them. */
	pthread_mutex_lock(&srv->loop_mu);
	while (srv->conns)
		conn_abort(srv->conns);
	reap_closed(srv);
	if (srv->run_next) {
		call_unref(srv->run_next);
		srv->run_next = NULL;
	}
	pthread_mutex_unlock(&srv->loop_mu);
	workers_free(srv->workers);
	srv->workers = NULL;
	/* Reports that arrived after the loop stopped. */
	struct rpc_call *call = ready_take(srv);
	while (call) {
		struct rpc_call *next = call->ready_next;
		call_unref(call);
		call = next;
	}
	if (srv->listen_fd >= 0) {
		close(srv->listen_fd);
		listener_unlink(srv->socket_path, srv->sock_dev, srv->sock_ino);
	}
	if (srv->sig_fd >= 0)
		close(srv->sig_fd);
	if (srv->wake_fd >= 0)
		close(srv->wake_fd);
	if (srv->epfd >= 0)
		close(srv->epfd);
	if (srv->spare_fd >= 0)
		close(srv->spare_fd);
	if (srv->h2_callbacks)
		nghttp2_session_callbacks_del(srv->h2_callbacks);
	if (srv->h2_option)
		nghttp2_option_del(srv->h2_option);
	free(srv->heap);
	free(srv->rbuf);
	free(srv->socket_path);
	pthread_condattr_destroy(&srv->condattr);
	pthread_mutex_destroy(&srv->ready_mu);
	pthread_mutex_destroy(&srv->loop_mu);
	free(srv);
}
