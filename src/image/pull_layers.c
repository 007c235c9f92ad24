/* Layers of one pull: a few worker threads take layers in turn and acquire
 * each through the layer store. A layer that has to be filled is streamed:
 * a download thread runs registry_get_blob into a bounded in-memory pipe,
 * and the worker runs layer_extract reading from it, so network, inflate
 * and disk overlap and nothing is staged on disk. The pipe reports end of
 * input only after the registry client verified the blob's size and
 * digest; the extractor then checks the diff_id (and the layer store again
 * against the config's). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "image/pull_internal.h"
#include "store/store.h"
#include "util/cleanup.h"
#include "util/log.h"
#include "util/xalloc.h"

#define PIPE_CAPACITY (1024 * 1024)

/* ---- a bounded byte pipe between two threads ---- */

struct blob_pipe {
	pthread_mutex_t mu;
	pthread_cond_t can_read, can_write;
	char *buf;
	size_t head, len; /* unread bytes: buf[head .. head+len) modulo PIPE_CAPACITY */
	bool writer_done;
	ocid_error *writer_err; /* why the writer stopped, if it failed */
	bool reader_gone;
	struct pull_ctx *pc; /* its cancellation stops the reader too */
};

static void pipe_init(struct blob_pipe *bp, struct pull_ctx *pc)
{
	memset(bp, 0, sizeof(*bp));
	bp->pc = pc;
	pthread_mutex_init(&bp->mu, NULL);
	pthread_cond_init(&bp->can_read, NULL);
	pthread_cond_init(&bp->can_write, NULL);
	bp->buf = xmalloc(PIPE_CAPACITY);
}

static void pipe_destroy(struct blob_pipe *bp)
{
	pthread_cond_destroy(&bp->can_read);
	pthread_cond_destroy(&bp->can_write);
	pthread_mutex_destroy(&bp->mu);
	free(bp->buf);
	err_free(bp->writer_err);
}

static int pipe_write(struct blob_pipe *bp, const void *data, size_t n, ocid_error **err)
{
	const char *src = data;
	pthread_mutex_lock(&bp->mu);
	while (n > 0) {
		while (bp->len == PIPE_CAPACITY && !bp->reader_gone)
			pthread_cond_wait(&bp->can_write, &bp->mu);
		if (bp->reader_gone) {
			pthread_mutex_unlock(&bp->mu);
			return err_set(err, GRPC_CANCELLED, "layer extraction stopped");
		}
		size_t tail = (bp->head + bp->len) % PIPE_CAPACITY;
		size_t room = PIPE_CAPACITY - bp->len;
		size_t chunk = PIPE_CAPACITY - tail; /* contiguous room at tail */
		if (chunk > room)
			chunk = room;
		if (chunk > n)
			chunk = n;
		memcpy(bp->buf + tail, src, chunk);
		bp->len += chunk;
		src += chunk;
		n -= chunk;
		pthread_cond_signal(&bp->can_read);
	}
	pthread_mutex_unlock(&bp->mu);
	return 0;
}

static void pipe_close_write(struct blob_pipe *bp, ocid_error *e)
{
	pthread_mutex_lock(&bp->mu);
	bp->writer_done = true;
	bp->writer_err = e;
	pthread_cond_broadcast(&bp->can_read);
	pthread_mutex_unlock(&bp->mu);
}

static void pipe_close_read(struct blob_pipe *bp)
{
	pthread_mutex_lock(&bp->mu);
	bp->reader_gone = true;
	pthread_cond_broadcast(&bp->can_write);
	pthread_mutex_unlock(&bp->mu);
}

/* store_read_fn */
static ssize_t pipe_read(void *ctx, void *out, size_t want, ocid_error **err)
{
	struct blob_pipe *bp = ctx;
	if (bp->pc && pull_ctx_cancelled(bp->pc)) {
		/* the extractor stops between blocks, even with all bytes in */
		if (pull_ctx_check(bp->pc, err) == 0)
			err_set(err, GRPC_CANCELLED, "cancelled");
		return -1;
	}
	pthread_mutex_lock(&bp->mu);
	while (bp->len == 0 && !bp->writer_done)
		pthread_cond_wait(&bp->can_read, &bp->mu);
	if (bp->len == 0) {
		ssize_t r = 0;
		if (bp->writer_err) {
			/* the download's own error, passed on unchanged (a copy:
			 * every later read reports it again) */
			err_set(err, bp->writer_err->code, "%s", bp->writer_err->msg);
			r = -1;
		}
		pthread_mutex_unlock(&bp->mu);
		return r;
	}
	size_t chunk = PIPE_CAPACITY - bp->head;
	if (chunk > bp->len)
		chunk = bp->len;
	if (chunk > want)
		chunk = want;
	memcpy(out, bp->buf + bp->head, chunk);
	bp->head = (bp->head + chunk) % PIPE_CAPACITY;
	bp->len -= chunk;
	if (bp->len == 0)
		bp->head = 0;
	pthread_cond_signal(&bp->can_write);
	pthread_mutex_unlock(&bp->mu);
	return (ssize_t)chunk;
}

/* ---- one layer ---- */

struct layer_job {
	struct pull_ctx *pc;
	const struct image_layer *layer;
	const char *diff_id;
	const char *parent; /* chain id below, or NULL */
	struct pull_layer_progress *prog; /* may be NULL */
	struct blob_pipe pipe;
};

static int sink_write(void *opaque, const void *buf, size_t len, ocid_error **err)
{
	struct layer_job *job = opaque;
	if (pipe_write(&job->pipe, buf, len, err) < 0)
		return -1;
	if (job->prog)
		atomic_fetch_add(&job->prog->current, (int64_t)len);
	return 0;
}

static void *download_main(void *arg)
{
	pthread_setname_np(pthread_self(), "ocid-download");
	struct layer_job *job = arg;
	struct pull_ctx *pc = job->pc;
	struct registry_blob_sink sink = { .write = sink_write, .reset = NULL, .opaque = job };
	ocid_error *e = NULL;
	if (registry_get_blob(pc->client, pc->ep, job->layer->desc.digest, job->layer->desc.size, &sink,
			      &pc->cancel, &e) < 0 &&
	    e == NULL)
		err_set(&e, GRPC_INTERNAL, "download failed");
	log_debug("layer download finished", "digest=%s ok=%d", job->layer->desc.digest, e == NULL);
	pipe_close_write(&job->pipe, e);
	return NULL;
}

static enum extract_compression extract_mode(enum layer_compression c)
{
	switch (c) {
	case LAYER_GZIP:
		return EXTRACT_GZIP;
	case LAYER_ZSTD:
		return EXTRACT_ZSTD;
	default:
		return EXTRACT_NONE;
	}
}

static bool stop_code(enum grpc_code c) { return c == GRPC_CANCELLED || c == GRPC_DEADLINE_EXCEEDED; }

/* Reads the pipe to its end: 0, or -1 with the download's error. */
static int drain(struct blob_pipe *bp, ocid_error **err)
{
	char buf[64 * 1024];
	ssize_t n;
	while ((n = pipe_read(bp, buf, sizeof(buf), err)) > 0)
		;
	return n < 0 ? -1 : 0;
}

/* layer_fill_fn: download and unpack in one pass. */
static int fill_layer(void *ctx, const char *diff_dir, struct layer_extract_result *res, ocid_error **err)
{
	struct layer_job *job = ctx;
	if (job->prog) {
		atomic_store(&job->prog->current, 0);
		atomic_store(&job->prog->state, PULL_LAYER_DOWNLOADING);
	}
	log_debug("layer download started", "digest=%s size=%lld", job->layer->desc.digest, (long long)job->layer->desc.size);
	pipe_init(&job->pipe, job->pc);
	pthread_t th;
	int rc = pthread_create(&th, NULL, download_main, job);
	if (rc != 0) {
		pipe_destroy(&job->pipe);
		return err_set_errno(err, GRPC_RESOURCE_EXHAUSTED, rc, "start layer download thread");
	}
	struct layer_extract_opts opts = {
		.compression = extract_mode(job->layer->compression),
		.expect_digest = job->layer->desc.digest,
		.expect_size = job->layer->desc.size,
		.expect_diff_id = job->diff_id,
	};
	int ret = layer_extract(diff_dir, pipe_read, &job->pipe, &opts, res, err);
	if (ret < 0 && err && *err && !stop_code((*err)->code)) {
		/* The unpacking refused or could not parse the stream. If the
		 * bytes are not what the manifest promised, that is the real
		 * story (a corrupt blob, DATA_LOSS), not the garbage it made
		 * of the tar: read the rest, which the registry client checks. */
		ocid_error *dl_err = NULL;
		if (drain(&job->pipe, &dl_err) < 0 && dl_err && dl_err->code == GRPC_DATA_LOSS) {
			err_clear(err);
			*err = steal_pointer(&dl_err);
		}
		err_free(dl_err);
	}
	pipe_close_read(&job->pipe);
	pthread_join(th, NULL);
	pipe_destroy(&job->pipe);
	if (ret < 0)
		return err_prefix(err, "blob %s", job->layer->desc.digest);
	return 0;
}

/* ---- the worker pool ---- */

struct layers_run {
	struct pull_ctx *pc;
	const struct image_manifest *m;
	const struct image_config *cfg;
	char **chain;    /* chain ids, computed up front */
	bool *acquired;  /* a lease is held */
	bool *filled;    /* this pull unpacked it */
	pthread_mutex_t mu;
	size_t next;
	ocid_error *first_err;
};

static void record_failure(struct layers_run *run, ocid_error *e)
{
	pthread_mutex_lock(&run->mu);
	/* The first real failure wins over the cancellations it causes. */
	if (run->first_err == NULL || (run->first_err->code == GRPC_CANCELLED && e->code != GRPC_CANCELLED)) {
		err_free(run->first_err);
		run->first_err = e;
	} else {
		err_free(e);
	}
	pthread_mutex_unlock(&run->mu);
	atomic_store(&run->pc->abort, true);
}

static bool job_cancelled(void *ctx)
{
	struct layer_job *job = ctx;
	return pull_ctx_cancelled(job->pc);
}

static void *worker_main(void *arg)
{
	struct layers_run *run = arg;
	struct pull_ctx *pc = run->pc;
	for (;;) {
		pthread_mutex_lock(&run->mu);
		size_t i = run->next++;
		pthread_mutex_unlock(&run->mu);
		if (i >= run->m->n_layers || atomic_load(&pc->abort))
			break;
		ocid_error *ce = NULL;
		if (pull_ctx_check(pc, &ce) < 0) {
			record_failure(run, ce);
			break;
		}
		struct pull_layer_progress *prog =
			pc->prog && i < pc->prog->n_layers ? &pc->prog->layers[i] : NULL;
		struct layer_job job = {
			.pc = pc,
			.layer = &run->m->layers[i],
			.diff_id = run->cfg->diff_ids[i],
			.parent = i > 0 ? run->chain[i - 1] : NULL,
			.prog = prog,
		};
		struct layer_request req = {
			.parent = job.parent,
			.diff_id = job.diff_id,
			.fill = fill_layer,
			.ctx = &job,
			.cancelled = job_cancelled,
		};
		char id[DIGEST_MAX_LEN];
		bool filled = false;
		ocid_error *e = NULL;
		int rc = layer_store_acquire(pc->p->store->layers, &req, id, &filled, &e);
		if (rc < 0) {
			if (prog)
				atomic_store(&prog->state, PULL_LAYER_FAILED);
			if (e == NULL)
				err_set(&e, GRPC_INTERNAL, "layer %zu failed", i);
			err_prefix(&e, "layer %zu of %zu", i + 1, run->m->n_layers);
			record_failure(run, e);
			break;
		}
		run->acquired[i] = true;
		run->filled[i] = filled;
		if (prog) {
			if (!filled)
				atomic_store(&prog->current, prog->size);
			atomic_store(&prog->state, filled ? PULL_LAYER_DONE : PULL_LAYER_EXISTS);
		}
		if (strcmp(id, run->chain[i]) != 0) {
			ocid_error *ie = NULL;
			err_set(&ie, GRPC_INTERNAL, "layer store chain id %s, expected %s", id, run->chain[i]);
			record_failure(run, ie);
			break;
		}
	}
	return NULL;
}

void pull_layers_release(struct pull_ctx *pc, char **chain_ids, size_t n, bool gc)
{
	layer_store *ls = pc->p->store->layers;
	for (size_t i = 0; i < n; i++)
		layer_store_release(ls, chain_ids[i]);
	if (gc && n > 0) {
		ocid_error *e = NULL;
		size_t removed = 0;
		if (layer_store_remove_unused(ls, chain_ids, n, &removed, &e) < 0) {
			char esc[1024];
			log_escape(e->msg, esc, sizeof(esc));
			log_warn("cannot remove layers of a failed pull", "error=\"%s\"", esc);
			err_free(e);
		} else if (removed > 0) {
			log_debug("removed layers of a failed pull", "count=%zu", removed);
		}
	}
}

int pull_layers(struct pull_ctx *pc, const struct image_manifest *m, const struct image_config *cfg,
		char ***chain_ids, ocid_error **err)
{
	*chain_ids = NULL;
	size_t n = m->n_layers;
	struct layers_run run = {
		.pc = pc,
		.m = m,
		.cfg = cfg,
		.chain = xcalloc(n, sizeof(char *)),
		.acquired = xcalloc(n, sizeof(bool)),
		.filled = xcalloc(n, sizeof(bool)),
	};
	pthread_mutex_init(&run.mu, NULL);
	for (size_t i = 0; i < n; i++) {
		char id[DIGEST_MAX_LEN];
		layer_chain_id(i > 0 ? run.chain[i - 1] : NULL, cfg->diff_ids[i], id);
		run.chain[i] = xstrdup(id);
	}

	size_t workers = (size_t)(pc->p->cfg && pc->p->cfg->max_parallel_downloads > 0
					  ? pc->p->cfg->max_parallel_downloads
					  : 3);
	if (workers > n)
		workers = n;
	pthread_t *th = xcalloc(workers ? workers : 1, sizeof(*th));
	size_t started = 0;
	for (size_t i = 1; i < workers; i++) {
		if (pthread_create(&th[i], NULL, worker_main, &run) != 0)
			break;
		started = i;
	}
	worker_main(&run); /* this thread is a worker too */
	for (size_t i = 1; i <= started; i++)
		pthread_join(th[i], NULL);
	free(th);

	int ret = 0;
	if (run.first_err) {
		*err = run.first_err;
		run.first_err = NULL;
		/* drop what this pull holds; delete what nothing else uses */
		char **held = xcalloc(n, sizeof(char *));
		size_t n_held = 0;
		for (size_t i = 0; i < n; i++)
			if (run.acquired[i])
				held[n_held++] = run.chain[i];
		pull_layers_release(pc, held, n_held, true);
		free(held);
		ret = -1;
	} else {
		*chain_ids = run.chain;
		run.chain = NULL;
	}
	if (run.chain) {
		for (size_t i = 0; i < n; i++)
			free(run.chain[i]);
		free(run.chain);
	}
	free(run.acquired);
	free(run.filled);
	pthread_mutex_destroy(&run.mu);
	return ret;
}
