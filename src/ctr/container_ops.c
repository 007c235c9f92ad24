/* Start, Stop, Remove, and the rest of the runtime API on an existing
 * container. No call holds the manager's mutex across runtime or monitor
 * I/O; Stop holds no container lock at all while it waits. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctr/container_internal.h"
#include "ctr/rootfs.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/spawn.h"
#include "util/xalloc.h"

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static const char *state_word(enum ctr_row_state s)
{
	switch (s) {
	case ROW_CTR_CREATED:
		return "created";
	case ROW_CTR_RUNNING:
		return "running";
	case ROW_CTR_EXITED:
		return "exited";
	default:
		return "being created";
	}
}

/* ---- start ---- */

int ctr_start(struct ctr_mgr *m, const char *id, ocid_error **err)
{
	struct container *c;
	if (ctr_get(m, id, &c, err) < 0)
		return -1;
	int rc = -1;
	dir_pool_busy(m->pool, true);
	pthread_mutex_lock(&c->op_lock);
	pthread_mutex_lock(&m->mu);
	enum ctr_row_state st = c->state;
	bool gone = c->removing || c->removed;
	pthread_mutex_unlock(&m->mu);
	if (gone) {
		err_set(err, GRPC_FAILED_PRECONDITION, "container %s is being removed", c->id);
		goto out;
	}
	if (st != ROW_CTR_CREATED) {
		err_set(err, GRPC_FAILED_PRECONDITION, "container %s is %s, not created: it cannot be started", c->id,
			state_word(st));
		goto out;
	}
	struct ctr_ref ref = ctr_ref_of(c);
	int64_t t0 = spawn_now_ns();
	if (ctr_runtime_start(m->rt, &ref, err) < 0) {
		err_prefix(err, "start container %s", c->id);
		goto out;
	}
	int64_t now = now_ns();
	pthread_mutex_lock(&m->mu);
	if (c->started_at == 0)
		c->started_at = c->finished_at && c->finished_at < now ? c->finished_at : now;
	if (c->state == ROW_CTR_CREATED)
		c->state = ROW_CTR_RUNNING;
	pthread_mutex_unlock(&m->mu);
	ocid_error *e = NULL;
	if (ctr_db_update(m, c, &e) < 0)
		ctr_warn("cannot record the start", c->id, e);
	err_free(e);
	log_info("container started", "container=%s ms=%.1f", c->id, (double)(spawn_now_ns() - t0) / 1e6);
	rc = 0;
out:
	pthread_mutex_unlock(&c->op_lock);
	dir_pool_busy(m->pool, false);
	container_unref(c);
	return rc;
}

/* ---- stop ---- */

/* timeout_s <= 0: SIGKILL at once. No lock is held while it waits. */
static int stop_container(struct ctr_mgr *m, struct container *c, int64_t timeout_s,
			  const struct ctr_stop_wait *wait, ocid_error **err)
{
	pthread_mutex_lock(&m->mu);
	bool done = c->exit_recorded || c->removed;
	enum ctr_row_state st = c->state;
	pthread_mutex_unlock(&m->mu);
	if (done)
		return 0;
	/* a created container has nothing to shut down gracefully */
	int timeout = st == ROW_CTR_CREATED || timeout_s <= 0 ? 0 : timeout_s > INT_MAX ? INT_MAX : (int)timeout_s;
	struct ctr_ref ref = ctr_ref_of(c);
	struct exit_info info;
	int64_t t0 = spawn_now_ns();
	if (ctr_runtime_stop(m->rt, &ref, timeout, c->stop_signal, c->kill_all, wait, &info, err) < 0)
		return err_prefix(err, "stop container %s", c->id);
	ctr_record_exit(m, c, &info, NULL, NULL);
	log_info("container stopped", "container=%s timeout=%d ms=%.1f", c->id, timeout,
		 (double)(spawn_now_ns() - t0) / 1e6);
	return 0;
}

/* A stop whose grace period goes on only waits: the pool may work. */
static void stop_long_wait(void *arg, bool begin)
{
	dir_pool_busy(arg, !begin);
}

int ctr_stop(struct ctr_mgr *m, const char *id, int64_t timeout_s, ocid_error **err)
{
	struct container *c;
	if (ctr_get(m, id, &c, err) < 0)
		return -1;
	dir_pool_busy(m->pool, true); /* deferred teardowns wait: see dir_pool.h */
	struct ctr_stop_wait wait = {.long_wait = stop_long_wait, .arg = m->pool};
	int rc = stop_container(m, c, timeout_s, &wait, err);
	dir_pool_busy(m->pool, false);
	container_unref(c);
	return rc;
}

/* ---- remove ---- */

struct removed_files {
	struct ctr_mgr *m;
	struct container *c; /* a ref */
};

/* A removed container's rootfs, bundle and directory, then its image hold:
 * on the pool's thread once ocid is quiet. If ocid dies first, the next
 * start sweeps what no record names (container_restore.c). */
static void remove_files_later(void *arg)
{
	struct removed_files *r = arg;
	ctr_teardown_files(r->m, r->c, false);
	store_image_release(r->m->store, r->c->image_id);
	container_unref(r->c);
	free(r);
}

/* defer_files: the rootfs, bundle and directory go after the call returns
 * (RemoveContainer); a pod's removal takes them at once. */
static int remove_container(struct ctr_mgr *m, struct container *c, bool defer_files, ocid_error **err)
{
	pthread_mutex_lock(&c->op_lock);
	pthread_mutex_lock(&m->mu);
	if (c->removed) {
		pthread_mutex_unlock(&m->mu);
		pthread_mutex_unlock(&c->op_lock);
		return 0;
	}
	c->removing = true;
	pthread_mutex_unlock(&m->mu);
	dir_pool_busy(m->pool, true);

	int64_t t0 = spawn_now_ns();
	if (stop_container(m, c, 0, NULL, err) < 0)
		goto fail;
	int64_t t_stop = spawn_now_ns();
	struct ctr_ref ref = ctr_ref_of(c);
	if (ctr_runtime_handler(m->rt, c->runtime) == NULL)
		ref.runtime = NULL; /* its handler is no longer configured */
	if (ctr_runtime_remove(m->rt, &ref, err) < 0)
		goto fail;
	int64_t t_rt = spawn_now_ns();
	if (!defer_files) {
		if (rootfs_umount(c->rootfs, err) < 0)
			goto fail;
		if (fs_remove_all(c->bundle, err) < 0 || dir_pool_discard(m->pool, c->dir, err) < 0)
			goto fail;
	}
	int64_t t_files = spawn_now_ns();
	/* The record goes last: until then a failed removal can be retried. */
	if (ctr_db_delete(m, c->id, err) < 0)
		goto fail;
	log_debug("container remove steps", "container=%s stop_ms=%.2f runtime_ms=%.2f files_ms=%.2f record_ms=%.2f "
		  "files=%s", c->id, (double)(t_stop - t0) / 1e6, (double)(t_rt - t_stop) / 1e6,
		  (double)(t_files - t_rt) / 1e6, (double)(spawn_now_ns() - t_files) / 1e6,
		  defer_files ? "deferred" : "removed");

	pthread_mutex_lock(&m->mu);
	c->removed = true;
	ctr_release_locked(m, c->reservation, c->id);
	ctr_index_del_locked(m, c);
	pthread_mutex_unlock(&m->mu);
	if (defer_files) {
		struct removed_files *r = xmalloc(sizeof(*r));
		*r = (struct removed_files){.m = m, .c = container_ref(c)};
		dir_pool_defer(m->pool, remove_files_later, r);
	} else {
		store_image_release(m->store, c->image_id);
	}
	dir_pool_busy(m->pool, false);
	pthread_mutex_unlock(&c->op_lock);
	log_info("container removed", "container=%s ms=%.1f", c->id, (double)(spawn_now_ns() - t0) / 1e6);
	return 0;
fail:
	dir_pool_busy(m->pool, false);
	pthread_mutex_lock(&m->mu);
	c->removing = false;
	pthread_mutex_unlock(&m->mu);
	pthread_mutex_unlock(&c->op_lock);
	return err_prefix(err, "remove container %s", c->id);
}

int ctr_remove(struct ctr_mgr *m, const char *id, ocid_error **err)
{
	struct container *c;
	ocid_error *e = NULL;
	if (ctr_get(m, id, &c, &e) < 0) {
		if (e->code == GRPC_NOT_FOUND) {
			err_free(e);
			return 0;
		}
		if (err && *err == NULL)
			*err = e;
		else
			err_free(e);
		return -1;
	}
	int rc = remove_container(m, c, true, err);
	container_unref(c);
	return rc;
}

void ctr_release_image(struct ctr_mgr *m, const char *image_id)
{
	dir_pool_flush(m->pool);
	ctr_warm_drop_image(m, image_id);
}

/* ---- pod hooks ---- */

/* References to every container of pod_id. */
static struct container **pod_containers(struct ctr_mgr *m, const char *pod_id, size_t *n)
{
	pthread_mutex_lock(&m->mu);
	struct container **v = m->n_items ? xcalloc(m->n_items, sizeof(*v)) : NULL;
	size_t k = 0;
	for (size_t i = 0; i < m->n_items; i++)
		if (strcmp(m->items[i]->pod_id, pod_id) == 0)
			v[k++] = container_ref(m->items[i]);
	pthread_mutex_unlock(&m->mu);
	*n = k;
	return v;
}

static int hook_stop(void *arg, struct sandbox *sb, int64_t deadline_ns, ocid_error **err)
{
	(void)deadline_ns;
	struct ctr_mgr *m = arg;
	size_t n;
	struct container **v = pod_containers(m, sandbox_id(sb), &n);
	int rc = 0;
	/* The kubelet has stopped them gracefully before StopPodSandbox: what
	 * still runs is killed. */
	for (size_t i = 0; i < n; i++) {
		if (rc == 0 && stop_container(m, v[i], 0, NULL, err) < 0)
			rc = -1;
		container_unref(v[i]);
	}
	free(v);
	return rc;
}

static int hook_remove(void *arg, struct sandbox *sb, ocid_error **err)
{
	struct ctr_mgr *m = arg;
	size_t n;
	struct container **v = pod_containers(m, sandbox_id(sb), &n);
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		if (rc == 0 && remove_container(m, v[i], false, err) < 0)
			rc = -1;
		container_unref(v[i]);
	}
	free(v);
	return rc;
}

void ctr_register_hooks(struct ctr_mgr *m)
{
	struct sandbox_hooks h = {.stop_containers = hook_stop, .remove_containers = hook_remove, .arg = m};
	sandbox_mgr_set_hooks(m->sandboxes, &h);
}

/* ---- log, exec, resources ---- */

/* A reference to a running container (FAILED_PRECONDITION otherwise). */
static int get_running(struct ctr_mgr *m, const char *id, const char *what, struct container **out,
		       ocid_error **err)
{
	if (ctr_get(m, id, out, err) < 0)
		return -1;
	pthread_mutex_lock(&m->mu);
	enum ctr_row_state st = (*out)->state;
	bool gone = (*out)->removing || (*out)->removed;
	pthread_mutex_unlock(&m->mu);
	if (st == ROW_CTR_RUNNING && !gone)
		return 0;
	err_set(err, GRPC_FAILED_PRECONDITION, "%s: container %s is %s, not running", what, (*out)->id,
		gone ? "being removed" : state_word(st));
	container_unref(*out);
	*out = NULL;
	return -1;
}

int ctr_reopen_log(struct ctr_mgr *m, const char *id, const struct ctr_call *call, ocid_error **err)
{
	struct container *c;
	if (get_running(m, id, "reopen log", &c, err) < 0)
		return -1;
	struct ctr_ref ref = ctr_ref_of(c);
	int rc = ctr_runtime_reopen_log(m->rt, &ref, c->log_path, call ? call->deadline_ns : 0, err);
	container_unref(c);
	return rc;
}

int ctr_exec_sync(struct ctr_mgr *m, const char *id, const char *const *argv, int64_t timeout_s,
		  struct conmon_exec_result *out, ocid_error **err)
{
	memset(out, 0, sizeof(*out));
	if (argv == NULL || argv[0] == NULL)
		return err_set(err, GRPC_INVALID_ARGUMENT, "exec: cmd is empty");
	if (timeout_s < 0)
		return err_set(err, GRPC_INVALID_ARGUMENT, "exec: timeout %lld is negative", (long long)timeout_s);
	struct container *c;
	if (get_running(m, id, "exec", &c, err) < 0)
		return -1;
	struct ctr_ref ref = ctr_ref_of(c);
	int t = timeout_s > INT_MAX ? INT_MAX : (int)timeout_s;
	int rc = ctr_runtime_exec_sync(m->rt, &ref, argv, t, out, err);
	container_unref(c);
	return rc;
}

int ctr_update_resources(struct ctr_mgr *m, const char *id, const Runtime__V1__LinuxContainerResources *res,
			 ocid_error **err)
{
	if (res == NULL)
		return 0; /* nothing for linux */
	struct container *c;
	if (ctr_get(m, id, &c, err) < 0)
		return -1;
	int rc = -1;
	json_t *oci = NULL;
	pthread_mutex_lock(&c->op_lock);
	pthread_mutex_lock(&m->mu);
	enum ctr_row_state st = c->state;
	bool gone = c->removing || c->removed;
	pthread_mutex_unlock(&m->mu);
	if (gone || (st != ROW_CTR_CREATED && st != ROW_CTR_RUNNING)) {
		err_set(err, GRPC_FAILED_PRECONDITION, "update resources: container %s is %s", c->id,
			gone ? "being removed" : state_word(st));
		goto out;
	}
	if (spec_resources_update(res, &m->cfg->runtime, &m->host, &oci, err) < 0)
		goto out;
	struct ctr_ref ref = ctr_ref_of(c);
	if (ctr_runtime_update(m->rt, &ref, oci, err) < 0) {
		err_prefix(err, "update resources of %s", c->id);
		goto out;
	}
	Runtime__V1__LinuxContainerResources *copy = ctr_pb_dup(&res->base);
	pthread_mutex_lock(&m->mu);
	Runtime__V1__LinuxContainerResources *old = c->resources;
	c->resources = copy;
	pthread_mutex_unlock(&m->mu);
	if (old)
		protobuf_c_message_free_unpacked(&old->base, NULL);
	ocid_error *e = NULL;
	if (ctr_db_update(m, c, &e) < 0)
		ctr_warn("cannot record the new resources", c->id, e);
	err_free(e);
	rc = 0;
out:
	pthread_mutex_unlock(&c->op_lock);
	json_decref(oci);
	container_unref(c);
	return rc;
}
