/* StopPodSandbox and RemovePodSandbox. Both run with the pod's lifecycle
 * lock held (never the global one across I/O) and are idempotent: every step
 * tolerates what an earlier, interrupted or failed run already removed. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pod/cni.h"
#include "pod/sandbox_files.h"
#include "pod/sandbox_internal.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/spawn.h"
#include "util/xalloc.h"

#define HOOK_BUDGET_NS (30LL * 1000000000LL)
#define PAUSE_STOP_MS 2000

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int sandbox_cni_del(struct sandbox_mgr *m, struct sandbox *sb, const char *cache, ocid_error **err)
{
	const struct ocid_network_config *net = &m->cfg->network;
	if (cache == NULL || *cache == '\0') {
		/* ADD never finished: DEL needs the current config. With none,
		 * there is nothing that could run DEL: say so and go on. */
		struct cni_network *cur = NULL;
		ocid_error *e = NULL;
		const char *want = net->cni_default_network && *net->cni_default_network ? net->cni_default_network : NULL;
		if (cni_config_load(net->network_dir, want, &cur, &e) < 0) {
			warn_err("no CNI result cached and no network config: skipping CNI DEL", sb->id, e);
			err_free(e);
			return 0;
		}
		cni_network_free(cur);
	}
	size_t n_ports = 0;
	cleanup_free struct cni_port_mapping *ports = sandbox_cni_ports(sb->config, &n_ports);
	struct cni_pod cp = sandbox_cni_pod(sb, ports, n_ports);
	ocid_error *last = NULL;
	for (int attempt = 1; attempt <= m->cni_del_attempts; attempt++) {
		/* A fresh budget per attempt, not the caller's deadline, and no
		 * cancellation: a DEL that gives up leaks the pod's IP. */
		struct cni_call cc = {
			.cfg = net,
			.deadline_ns = spawn_now_ns() + m->cni_del_timeout_ns,
			.cleanup_timeout_ns = m->cni_del_timeout_ns,
		};
		err_clear(&last);
		if (cni_del(&cc, &cp, cache, &last) == 0)
			return 0;
		if (attempt < m->cni_del_attempts) {
			warn_err("CNI DEL failed, retrying", sb->id, last);
			sleep_ms(200L * attempt);
		}
	}
	if (err && *err == NULL)
		*err = last;
	else
		err_free(last);
	return err_prefix(err, "tear down the pod network (%d attempts)", m->cni_del_attempts);
}

/* Records the current state; a failure is logged (the caller is already
 * returning the error that matters, or the state will be written again). */
static void persist(struct sandbox_mgr *m, struct sandbox *sb)
{
	ocid_error *e = NULL;
	if (sandbox_db_update(m, sb, &e) < 0) {
		warn_err("cannot record pod sandbox state", sb->id, e);
		err_free(e);
	}
}

static void set_notready(struct sandbox_mgr *m, struct sandbox *sb, const char *reason)
{
	pthread_mutex_lock(&m->mu);
	if (sb->state != ROW_CREATING)
		sb->state = ROW_NOTREADY;
	sandbox_set_reason_locked(sb, reason);
	pthread_mutex_unlock(&m->mu);
}

int sandbox_teardown_locked(struct sandbox_mgr *m, struct sandbox *sb, bool run_hooks, ocid_error **err)
{
	int64_t t0 = spawn_now_ns();
	/* No new container may join; wait for those being created. */
	pthread_mutex_lock(&m->mu);
	sb->stopping = true;
	while (sb->users > 0)
		pthread_cond_wait(&sb->users_cv, &m->mu);
	struct sandbox_hooks hooks = m->hooks;
	pthread_mutex_unlock(&m->mu);

	if (run_hooks && hooks.stop_containers &&
	    hooks.stop_containers(hooks.arg, sb, spawn_now_ns() + HOOK_BUDGET_NS, err) < 0) {
		pthread_mutex_lock(&m->mu);
		sb->stopping = false;
		pthread_mutex_unlock(&m->mu);
		return err_prefix(err, "stop the containers of pod sandbox %s", sb->id);
	}

	pthread_mutex_lock(&m->mu);
	bool attached = sb->net_attached;
	cleanup_free char *cache = sb->cni_cache ? xstrdup(sb->cni_cache) : NULL;
	pid_t pause_pid = sb->pause_pid;
	uint64_t pause_start = sb->pause_start;
	/* Stopped before: only the (idempotent, cheap) unmounts run again. */
	bool already = sb->state == ROW_NOTREADY && !attached && pause_pid == 0 && sb->reason &&
		       strcmp(sb->reason, "stopped") == 0;
	pthread_mutex_unlock(&m->mu);

	if (attached) {
		if (sandbox_cni_del(m, sb, cache, err) < 0) {
			/* Keep the netns pinned so the next Stop can retry DEL with it. */
			set_notready(m, sb, "stopping: CNI DEL failed");
			persist(m, sb);
			return err_prefix(err, "stop pod sandbox %s", sb->id);
		}
		pthread_mutex_lock(&m->mu);
		sb->net_attached = false;
		free(sb->cni_cache);
		sb->cni_cache = NULL;
		sandbox_set_ips_locked(sb, NULL, 0);
		pthread_mutex_unlock(&m->mu);
	}
	if (pause_pid > 0) {
		if (pod_pause_stop(pause_pid, pause_start, PAUSE_STOP_MS, err) < 0) {
			set_notready(m, sb, "stopping: ocid-pause did not stop");
			persist(m, sb);
			return err_prefix(err, "stop pod sandbox %s", sb->id);
		}
		pthread_mutex_lock(&m->mu);
		sb->pause_pid = 0;
		sb->pause_start = 0;
		pthread_mutex_unlock(&m->mu);
	}
	if (pod_ns_remove(sb->pin_dir, err) < 0 || (!sb->host_ipc && pod_shm_teardown(sb->dir, err) < 0)) {
		set_notready(m, sb, "stopping: unmount failed");
		persist(m, sb);
		return err_prefix(err, "stop pod sandbox %s", sb->id);
	}
	if (already)
		return 0;
	set_notready(m, sb, "stopped");
	persist(m, sb);
	log_info("pod sandbox stopped", "pod=%s ms=%.1f", sb->id, (double)(spawn_now_ns() - t0) / 1e6);
	return 0;
}

/* Components of an absolute cgroupfs path ("/a/b" -> 2). */
static size_t path_depth(const char *p)
{
	size_t n = 0;
	for (const char *c = p; *c; c++)
		if (*c != '/' && (c == p || c[-1] == '/'))
			n++;
	return n;
}

/* How many leading components a and b share. */
static size_t common_depth(const char *a, const char *b)
{
	size_t n = 0;
	for (;;) {
		while (*a == '/')
			a++;
		while (*b == '/')
			b++;
		if (*a == '\0' || *b == '\0')
			return n;
		size_t la = strcspn(a, "/"), lb = strcspn(b, "/");
		if (la != lb || memcmp(a, b, la) != 0)
			return n;
		n++;
		a += la;
		b += lb;
	}
}

int sandbox_cgroup_release(struct sandbox_mgr *m, struct sandbox *sb, ocid_error **err)
{
	pthread_mutex_lock(&m->cg_mu);
	struct pod_cgroup *cg = sb->cgroup;
	if (cg == NULL) {
		pthread_mutex_unlock(&m->cg_mu);
		return 0;
	}
	/* The live sandbox sharing the most of this path. */
	struct sandbox *heir = NULL;
	size_t shared = 0;
	pthread_mutex_lock(&m->mu);
	for (size_t i = 0; i < m->n_items; i++) {
		struct sandbox *o = m->items[i];
		if (o == sb || o->removed || o->cgroup == NULL)
			continue;
		size_t d = common_depth(cg->path, o->cgroup->path);
		if (d > shared) {
			shared = d;
			heir = o;
		}
	}
	if (heir)
		sandbox_ref(heir);
	pthread_mutex_unlock(&m->mu);

	bool heir_changed = false;
	size_t depth = path_depth(cg->path);
	for (size_t i = 0; heir && i < cg->n; i++) {
		struct pod_cgroup_hier *h = &cg->h[i];
		if (h->created <= 0)
			continue;
		size_t top = depth - (size_t)h->created; /* index of the topmost component ocid created */
		if (shared <= top)
			continue; /* nothing this pod created is shared */
		/* Keep what the heir needs; hand it the claim on it. */
		h->created = (int)(depth - shared);
		for (size_t j = 0; j < heir->cgroup->n; j++) {
			struct pod_cgroup_hier *hh = &heir->cgroup->h[j];
			if (strcmp(hh->mountpoint, h->mountpoint) != 0)
				continue;
			int want = (int)(path_depth(heir->cgroup->path) - top);
			if (hh->created < want) {
				hh->created = want;
				heir_changed = true;
			}
		}
	}
	const char *leaves[] = {sb->cgroup_leaf, NULL};
	int rc = pod_cgroup_remove(cg, leaves, err);
	if (rc == 0) {
		pod_cgroup_free(cg);
		sb->cgroup = NULL;
	}
	pthread_mutex_unlock(&m->cg_mu);
	if (heir_changed) {
		ocid_error *e = NULL;
		if (sandbox_db_update(m, heir, &e) < 0 && e->code != GRPC_NOT_FOUND)
			warn_err("cannot record a cgroup claim handed over", heir->id, e);
		err_free(e);
	}
	sandbox_unref(heir);
	return rc;
}

int sandbox_destroy_locked(struct sandbox_mgr *m, struct sandbox *sb, ocid_error **err)
{
	pthread_mutex_lock(&m->mu);
	struct sandbox_hooks hooks = m->hooks;
	pthread_mutex_unlock(&m->mu);
	if (hooks.remove_containers && hooks.remove_containers(hooks.arg, sb, err) < 0)
		return err_prefix(err, "remove the containers of pod sandbox %s", sb->id);
	if (sandbox_cgroup_release(m, sb, err) < 0)
		return err_prefix(err, "remove pod sandbox %s", sb->id);
	if (fs_remove_all(sb->dir, err) < 0)
		return err_prefix(err, "remove pod sandbox %s", sb->id);
	if (rmdir(sb->pin_dir) < 0 && errno != ENOENT)
		log_warn("cannot remove namespace pin directory", "pod=%s dir=%s errno=%d", sb->id, sb->pin_dir, errno);
	if (sandbox_db_delete(m, sb->id, err) < 0)
		return err_prefix(err, "remove pod sandbox %s", sb->id);
	pthread_mutex_lock(&m->mu);
	sb->removed = true;
	sandbox_release_locked(m, sb->reservation, sb->id);
	sandbox_index_del_locked(m, sb);
	pthread_cond_broadcast(&sb->users_cv);
	pthread_mutex_unlock(&m->mu);
	return 0;
}

int sandbox_stop(struct sandbox_mgr *m, const char *id, const struct sandbox_call *call, ocid_error **err)
{
	(void)call; /* cleanup runs on budgets of its own */
	struct sandbox *sb = NULL;
	if (sandbox_find(m, id, &sb, err) < 0)
		return -1;
	if (sb == NULL) {
		log_info("StopPodSandbox of an unknown pod: nothing to do", "pod=%s", id);
		return 0;
	}
	pthread_mutex_lock(&sb->op_lock);
	int rc = 0;
	if (!sb->removed)
		rc = sandbox_teardown_locked(m, sb, true, err);
	pthread_mutex_unlock(&sb->op_lock);
	sandbox_unref(sb);
	return rc;
}

int sandbox_remove(struct sandbox_mgr *m, const char *id, const struct sandbox_call *call, ocid_error **err)
{
	(void)call;
	struct sandbox *sb = NULL;
	if (sandbox_find(m, id, &sb, err) < 0)
		return -1;
	if (sb == NULL) {
		log_info("RemovePodSandbox of an unknown pod: nothing to do", "pod=%s", id);
		return 0;
	}
	int64_t t0 = spawn_now_ns();
	pthread_mutex_lock(&sb->op_lock);
	int rc = 0;
	if (!sb->removed) {
		rc = sandbox_teardown_locked(m, sb, true, err);
		if (rc == 0)
			rc = sandbox_destroy_locked(m, sb, err);
		if (rc == 0)
			log_info("pod sandbox removed", "pod=%s ms=%.1f", sb->id, (double)(spawn_now_ns() - t0) / 1e6);
	}
	pthread_mutex_unlock(&sb->op_lock);
	sandbox_unref(sb);
	return rc;
}
