/* A pool of threads for unary calls fed by a FIFO job queue, and one
 * dedicated thread per streaming call up to a limit. The pool has a fixed
 * base; when every thread is busy (slow handlers: a StopContainer waits out
 * its grace period) extra threads are started, up to a limit, and leave after
 * they have been idle for a while, so a burst of slow calls never queues the
 * fast ones behind it. An idle pool thread also takes the poller role when
 * the poller hands it on (internal.h); that comes before queued jobs. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/internal.h"
#include "util/log.h"

struct workers {
	pthread_mutex_t mu;
	pthread_cond_t cond;        /* jobs queued or stop */
	pthread_cond_t stream_cond; /* a streaming thread ended */
	struct rpc_call *head, *tail;
	bool stop;
	unsigned n_threads; /* base threads, joined at the end */
	pthread_t *threads;
	unsigned n_idle;    /* threads waiting for a job */
	unsigned n_queued;  /* jobs not yet taken */
	unsigned n_extra, max_extra; /* detached threads beyond the base */
	unsigned n_streaming, max_streaming;
	bool poll_vacant; /* the poller role waits for an idle thread */
	bool loop_ended;
	int loop_rc;
	ocid_error *loop_err;
	struct server *srv;
	pthread_attr_t attr;
};

/* Extra threads leave after this long without work. */
#define EXTRA_IDLE_NS (10LL * 1000000000LL)

/* Polls until the role is handed on (then runs that call) or the loop ends. */
static void take_poll(struct workers *w)
{
	struct rpc_call *run = NULL;
	ocid_error *err = NULL;
	int rc = server_poll(w->srv, &run, &err);
	if (rc > 0)
		call_execute(run);
	else
		workers_loop_ended(w, rc, err);
}

enum pool_role {
	ROLE_BASE,  /* joined by workers_free */
	ROLE_EXTRA, /* leaves after EXTRA_IDLE_NS without work */
	ROLE_MAIN,  /* server_run's caller: leaves when the loop ends */
};

static void worker_loop(struct workers *w, enum pool_role role)
{
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (w->head == NULL && !w->poll_vacant && !w->stop && !(role == ROLE_MAIN && w->loop_ended)) {
			w->n_idle++;
			int rc = 0;
			if (role == ROLE_EXTRA) {
				struct timespec ts;
				clock_gettime(CLOCK_REALTIME, &ts);
				int64_t until = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec + EXTRA_IDLE_NS;
				ts.tv_sec = (time_t)(until / 1000000000LL);
				ts.tv_nsec = (long)(until % 1000000000LL);
				rc = pthread_cond_timedwait(&w->cond, &w->mu, &ts);
			} else {
				pthread_cond_wait(&w->cond, &w->mu);
			}
			w->n_idle--;
			if (rc == ETIMEDOUT && w->head == NULL && !w->poll_vacant)
				goto out;
		}
		if (w->stop || (role == ROLE_MAIN && w->loop_ended))
			break;
		if (w->poll_vacant) {
			w->poll_vacant = false;
			pthread_mutex_unlock(&w->mu);
			take_poll(w);
			pthread_mutex_lock(&w->mu);
			continue;
		}
		struct rpc_call *call = w->head;
		w->head = call->job_next;
		if (w->head == NULL)
			w->tail = NULL;
		w->n_queued--;
		call->job_next = NULL;
		pthread_mutex_unlock(&w->mu);
		call_execute(call);
		pthread_mutex_lock(&w->mu);
	}
out:
	if (role == ROLE_EXTRA) {
		w->n_extra--;
		pthread_cond_broadcast(&w->stream_cond);
	}
	pthread_mutex_unlock(&w->mu);
}

static void *worker_main(void *arg)
{
	pthread_setname_np(pthread_self(), "ocid-worker"); /* top -H, perf */
	worker_loop(arg, ROLE_BASE);
	return NULL;
}

static void *extra_worker_main(void *arg)
{
	pthread_setname_np(pthread_self(), "ocid-worker+");
	worker_loop(arg, ROLE_EXTRA);
	return NULL;
}

static void *stream_main(void *arg)
{
	pthread_setname_np(pthread_self(), "ocid-stream");
	struct rpc_call *call = arg;
	struct workers *w = call->srv->workers;
	call_execute(call);
	pthread_mutex_lock(&w->mu);
	w->n_streaming--;
	pthread_cond_broadcast(&w->stream_cond);
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

int workers_new(struct server *srv, unsigned n, unsigned max_streaming, struct workers **out,
		ocid_error **err)
{
	struct workers *w = calloc(1, sizeof(*w));
	if (w == NULL)
		return err_set(err, GRPC_RESOURCE_EXHAUSTED, "out of memory");
	w->threads = calloc(n, sizeof(*w->threads));
	if (w->threads == NULL) {
		free(w);
		return err_set(err, GRPC_RESOURCE_EXHAUSTED, "out of memory");
	}
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cond, NULL);
	pthread_cond_init(&w->stream_cond, NULL);
	w->srv = srv;
	pthread_attr_init(&w->attr);
	pthread_attr_setstacksize(&w->attr, SERVER_WORKER_STACK);
	w->max_streaming = max_streaming;
	w->max_extra = SERVER_MAX_EXTRA_WORKERS;
	*out = w;
	for (unsigned i = 0; i < n; i++) {
		int rc = pthread_create(&w->threads[i], &w->attr, worker_main, w);
		if (rc != 0) {
			err_set_errno(err, GRPC_RESOURCE_EXHAUSTED, rc, "start worker thread");
			workers_free(w);
			*out = NULL;
			return -1;
		}
		w->n_threads++;
	}
	return 0;
}

void workers_submit(struct workers *w, struct rpc_call *call)
{
	atomic_fetch_add_explicit(&w->srv->calls_queued, 1, memory_order_relaxed);
	call_ref(call);
	call->job_next = NULL;
	pthread_mutex_lock(&w->mu);
	if (w->tail)
		w->tail->job_next = call;
	else
		w->head = call;
	w->tail = call;
	w->n_queued++;
	bool grow = w->n_queued + w->poll_vacant > w->n_idle && w->n_extra < w->max_extra && !w->stop;
	if (grow)
		w->n_extra++;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->mu);
	if (!grow)
		return;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, SERVER_WORKER_STACK);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_t t;
	int rc = pthread_create(&t, &attr, extra_worker_main, w);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		/* The job stays queued for the threads there are. */
		log_warn("cannot start an extra worker thread", "error=\"%s\"", strerror(rc));
		pthread_mutex_lock(&w->mu);
		w->n_extra--;
		pthread_cond_broadcast(&w->stream_cond);
		pthread_mutex_unlock(&w->mu);
	}
}

bool workers_hand_off_poll(struct workers *w)
{
	pthread_mutex_lock(&w->mu);
	/* an idle thread that no queued job will take */
	bool ok = !w->stop && !w->loop_ended && !w->poll_vacant && w->n_idle > w->n_queued;
	if (ok) {
		w->poll_vacant = true;
		pthread_cond_signal(&w->cond);
	}
	pthread_mutex_unlock(&w->mu);
	return ok;
}

void workers_loop_ended(struct workers *w, int rc, ocid_error *err)
{
	pthread_mutex_lock(&w->mu);
	w->loop_ended = true;
	w->loop_rc = rc;
	w->loop_err = err;
	pthread_cond_broadcast(&w->cond); /* server_run's thread, if it waits there */
	pthread_mutex_unlock(&w->mu);
}

int workers_run_main(struct workers *w, ocid_error **err)
{
	take_poll(w);
	worker_loop(w, ROLE_MAIN);
	pthread_mutex_lock(&w->mu);
	int rc = w->loop_rc;
	ocid_error *e = w->loop_err;
	w->loop_err = NULL;
	pthread_mutex_unlock(&w->mu);
	if (rc < 0 && err && *err == NULL)
		*err = e;
	else
		err_free(e);
	return rc;
}

int workers_start_stream(struct workers *w, struct rpc_call *call)
{
	pthread_mutex_lock(&w->mu);
	if (w->stop || w->n_streaming >= w->max_streaming) {
		pthread_mutex_unlock(&w->mu);
		return -1;
	}
	w->n_streaming++;
	pthread_mutex_unlock(&w->mu);

	call_ref(call);
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, SERVER_WORKER_STACK);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_t t;
	int rc = pthread_create(&t, &attr, stream_main, call);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		log_warn("cannot start a streaming thread", "error=\"%s\"", strerror(rc));
		call_unref(call);
		pthread_mutex_lock(&w->mu);
		w->n_streaming--;
		pthread_cond_broadcast(&w->stream_cond);
		pthread_mutex_unlock(&w->mu);
		return -1;
	}
	return 0;
}

void workers_free(struct workers *w)
{
	if (w == NULL)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = true;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->mu);
	for (unsigned i = 0; i < w->n_threads; i++)
		pthread_join(w->threads[i], NULL);

	/* Jobs nobody picked up: their calls were cancelled by the shutdown. */
	pthread_mutex_lock(&w->mu);
	struct rpc_call *call = w->head;
	w->head = w->tail = NULL;
	/* Streaming handlers were cancelled; they must return to let us go, and
	 * so must extra workers (they see stop). */
	while (w->n_streaming > 0 || w->n_extra > 0)
		pthread_cond_wait(&w->stream_cond, &w->mu);
	pthread_mutex_unlock(&w->mu);
	while (call) {
		struct rpc_call *next = call->job_next;
		call_unref(call);
		call = next;
	}

	pthread_attr_destroy(&w->attr);
	err_free(w->loop_err);
	pthread_cond_destroy(&w->stream_cond);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->mu);
	free(w->threads);
	free(w);
}
