/* The sandbox manager: index, name reservations, references, lookups,
 * Status/List snapshots and the accessors the container module uses. The
 * lifecycle is in sandbox_run.c and sandbox_stop.c, persistence in
 * sandbox_store.c, start-up recovery in sandbox_restore.c. */
#include "pod/sandbox.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "pod/sandbox_files.h"
#include "pod/sandbox_internal.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/spawn.h"
#include "util/xalloc.h"

void warn_err(const char *msg, const char *id, const ocid_error *e)
{
	char esc[1024];
	log_escape(e && e->msg ? e->msg : "", esc, sizeof(esc));
	log_warn(msg, "pod=%s error=\"%s\"", id ? id : "", esc);
}

void step_timer_start(struct step_timer *t)
{
	t->last = spawn_now_ns();
	t->text[0] = '\0';
	t->len = 0;
}

void step_lap(struct step_timer *t, const char *step)
{
	int64_t now = spawn_now_ns();
	if (t->len < sizeof(t->text)) {
		int n = snprintf(t->text + t->len, sizeof(t->text) - t->len, "%s%s=%.1f", t->len ? " " : "", step,
				 (double)(now - t->last) / 1e6);
		if (n > 0)
			t->len += (size_t)n;
	}
	t->last = now;
}

/* ---- ocid-pause ---- */

static char pause_found[PATH_MAX];
static pthread_once_t pause_once = PTHREAD_ONCE_INIT;

static void pause_lookup(void)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return;
	exe[n] = '\0';
	char *slash = strrchr(exe, '/');
	if (slash == NULL)
		return;
	*slash = '\0';
	/* A build tree: <build>/src/daemon/ocid next to <build>/src/pause/ocid-pause. */
	char cand[PATH_MAX];
	if (snprintf(cand, sizeof(cand), "%s/../pause/ocid-pause", exe) < (int)sizeof(cand) &&
	    access(cand, X_OK) == 0 && realpath(cand, pause_found) != NULL)
		return;
	pause_found[0] = '\0';
}

const char *sandbox_find_pause(void)
{
	pthread_once(&pause_once, pause_lookup);
	return pause_found[0] ? pause_found : pod_pause_default_path();
}

/* runroot is volatile state (/run is a tmpfs on most hosts). When it sits on
 * a disk filesystem instead, pods/ and ns/ get small tmpfs mounts of their
 * own: a pod creates ~10 files and directories there, which cost far more on
 * a disk filesystem (ext4 inode allocation) than the rest of ocid's work.
 * Private propagation, like the pins' directory. */
static int volatile_dir(const char *dir, ocid_error **err)
{
	if (fs_mkdir_p(dir, 0711, err) < 0)
		return -1;
	struct statfs sfs;
	if (statfs(dir, &sfs) == 0 && (unsigned long)sfs.f_type == (unsigned long)TMPFS_MAGIC)
		return 0; /* runroot on tmpfs, or mounted by an earlier ocid */
	if (mount("ocid", dir, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0711,size=64m") < 0)
		return err_set_errno(err, GRPC_INTERNAL, errno, "mount a tmpfs on %s", dir);
	if (mount("none", dir, NULL, MS_PRIVATE, NULL) < 0)
		return err_set_errno(err, GRPC_INTERNAL, errno, "make %s a private mount", dir);
	log_info("runroot is not on tmpfs: mounted one for pod state", "dir=%s", dir);
	return 0;
}

int sandbox_dirs_ready(struct sandbox_mgr *m, ocid_error **err)
{
	pthread_mutex_lock(&m->mu);
	int rc = 0;
	if (!m->dirs_ready) {
		rc = volatile_dir(m->pods_dir, err) < 0 || volatile_dir(m->ns_dir, err) < 0 ||
				     pod_ns_root_prepare(m->ns_dir, err) < 0
			     ? -1
			     : 0;
		m->dirs_ready = rc == 0;
	}
	pthread_mutex_unlock(&m->mu);
	if (rc < 0)
		return err_prefix(err, "prepare %s", m->pods_dir);
	return 0;
}

/* ---- objects ---- */

struct sandbox *sandbox_alloc(struct sandbox_mgr *m)
{
	struct sandbox *sb = xcalloc(1, sizeof(*sb));
	atomic_init(&sb->refs, 1);
	sb->mgr = m;
	pthread_mutex_init(&sb->op_lock, NULL);
	pthread_cond_init(&sb->users_cv, NULL);
	return sb;
}

struct sandbox *sandbox_ref(struct sandbox *sb)
{
	atomic_fetch_add(&sb->refs, 1);
	return sb;
}

void sandbox_unref(struct sandbox *sb)
{
	if (sb == NULL || atomic_fetch_sub(&sb->refs, 1) != 1)
		return;
	if (sb->config)
		protobuf_c_message_free_unpacked(&sb->config->base, NULL);
	free(sb->reservation);
	free(sb->handler);
	free(sb->runtime_name);
	free(sb->hostname);
	free(sb->dir);
	free(sb->pin_dir);
	free(sb->cgroup_leaf);
	pod_ns_free(&sb->ns);
	free(sb->cgroup_path);
	free(sb->shm_path);
	pod_cgroup_free(sb->cgroup);
	free(sb->reason);
	free(sb->cni_cache);
	strv_free_n(sb->ips, sb->n_ips);
	pthread_mutex_destroy(&sb->op_lock);
	pthread_cond_destroy(&sb->users_cv);
	free(sb);
}

void sandbox_set_ips_locked(struct sandbox *sb, char **ips, size_t n)
{
	strv_free_n(sb->ips, sb->n_ips);
	sb->ips = ips;
	sb->n_ips = n;
}

void sandbox_set_reason_locked(struct sandbox *sb, const char *reason)
{
	free(sb->reason);
	sb->reason = reason ? xstrdup(reason) : NULL;
}

/* ---- reservations and index (under m->mu) ---- */

char *sandbox_reservation_key(const char *name, const char *ns, const char *uid, uint32_t attempt)
{
	/* '\n' cannot be part of a name, namespace or uid the kubelet sends,
	 * and keeps "a_b"+"c" apart from "a"+"b_c". */
	return xasprintf("%s\n%s\n%s\n%u", name, ns, uid, attempt);
}

const char *sandbox_reserve_locked(struct sandbox_mgr *m, const char *key, const char *id)
{
	for (size_t i = 0; i < m->n_res; i++)
		if (strcmp(m->res[i].key, key) == 0)
			return m->res[i].id;
	if (m->n_res == m->cap_res) {
		m->cap_res = m->cap_res ? m->cap_res * 2 : 16;
		m->res = xrealloc(m->res, m->cap_res * sizeof(*m->res));
	}
	struct reservation *r = &m->res[m->n_res++];
	r->key = xstrdup(key);
	snprintf(r->id, sizeof(r->id), "%s", id);
	return NULL;
}

void sandbox_release_locked(struct sandbox_mgr *m, const char *key, const char *id)
{
	for (size_t i = 0; i < m->n_res; i++) {
		if (strcmp(m->res[i].key, key) == 0 && strcmp(m->res[i].id, id) == 0) {
			free(m->res[i].key);
			m->res[i] = m->res[--m->n_res];
			return;
		}
	}
}

void sandbox_index_add_locked(struct sandbox_mgr *m, struct sandbox *sb)
{
	if (m->n_items == m->cap_items) {
		m->cap_items = m->cap_items ? m->cap_items * 2 : 64;
		m->items = xrealloc(m->items, m->cap_items * sizeof(*m->items));
	}
	m->items[m->n_items++] = sandbox_ref(sb);
}

void sandbox_index_del_locked(struct sandbox_mgr *m, struct sandbox *sb)
{
	for (size_t i = 0; i < m->n_items; i++) {
		if (m->items[i] == sb) {
			memmove(&m->items[i], &m->items[i + 1], (m->n_items - i - 1) * sizeof(*m->items));
			m->n_items--;
			sandbox_unref(sb);
			return;
		}
	}
}

/* The sandbox whose id is id or starts with it. *ambiguous counts the
 * matches of a prefix that is not unique. */
static struct sandbox *lookup_locked(struct sandbox_mgr *m, const char *id, size_t *matches)
{
	size_t len = strlen(id);
	struct sandbox *found = NULL;
	*matches = 0;
	for (size_t i = 0; i < m->n_items; i++) {
		struct sandbox *sb = m->items[i];
		if (sb->state == ROW_CREATING || strncmp(sb->id, id, len) != 0)
			continue;
		if (sb->id[len] == '\0') {
			*matches = 1;
			return sb;
		}
		found = sb;
		(*matches)++;
	}
	return *matches == 1 ? found : NULL;
}

/* A reference to id. 0 and *out NULL when there is none (so callers choose
 * the code); -1 for an empty or ambiguous id. */
static int find(struct sandbox_mgr *m, const char *id, struct sandbox **out, ocid_error **err)
{
	*out = NULL;
	if (id == NULL || *id == '\0')
		return err_set(err, GRPC_INVALID_ARGUMENT, "pod sandbox id is empty");
	if (strlen(id) > SANDBOX_ID_LEN)
		return 0;
	pthread_mutex_lock(&m->mu);
	size_t matches = 0;
	struct sandbox *sb = lookup_locked(m, id, &matches);
	if (sb)
		sandbox_ref(sb);
	pthread_mutex_unlock(&m->mu);
	if (matches > 1)
		return err_set(err, GRPC_INVALID_ARGUMENT,
			       "pod sandbox id prefix %s is ambiguous: it matches %zu pods", id, matches);
	*out = sb;
	return 0;
}

int sandbox_get(struct sandbox_mgr *m, const char *id, struct sandbox **out, ocid_error **err)
{
	if (find(m, id, out, err) < 0)
		return -1;
	if (*out == NULL)
		return err_set(err, GRPC_NOT_FOUND, "pod sandbox %s not found", id);
	return 0;
}

int sandbox_find(struct sandbox_mgr *m, const char *id, struct sandbox **out, ocid_error **err)
{
	return find(m, id, out, err);
}

/* ---- derived fields ---- */

static bool ns_option(const Runtime__V1__PodSandboxConfig *c, Runtime__V1__NamespaceOption **out)
{
	*out = NULL;
	if (c->linux && c->linux->security_context && c->linux->security_context->namespace_options)
		*out = c->linux->security_context->namespace_options;
	return *out != NULL;
}

int sandbox_derive(struct sandbox_mgr *m, struct sandbox *sb, const char *dir, const char *pin_dir, ocid_error **err)
{
	const Runtime__V1__PodSandboxConfig *c = sb->config;
	sb->name = c->metadata->name;
	sb->namespace_ = c->metadata->namespace_;
	sb->uid = c->metadata->uid;
	sb->attempt = c->metadata->attempt;
	Runtime__V1__NamespaceOption *o;
	Runtime__V1__NamespaceMode net = RUNTIME__V1__NAMESPACE_MODE__POD, ipc = net, pid = net;
	if (ns_option(c, &o)) {
		net = o->network;
		ipc = o->ipc;
		pid = o->pid;
	}
	sb->host_network = net == RUNTIME__V1__NAMESPACE_MODE__NODE;
	sb->host_ipc = ipc == RUNTIME__V1__NAMESPACE_MODE__NODE;
	sb->pid_mode = pid == RUNTIME__V1__NAMESPACE_MODE__NODE ? SANDBOX_PID_NODE
		       : pid == RUNTIME__V1__NAMESPACE_MODE__POD ? SANDBOX_PID_POD
								    : SANDBOX_PID_CONTAINER;
	sb->want_ns[POD_NS_NET] = !sb->host_network;
	sb->want_ns[POD_NS_UTS] = !sb->host_network;
	sb->want_ns[POD_NS_IPC] = !sb->host_ipc;
	sb->want_ns[POD_NS_PID] = sb->pid_mode == SANDBOX_PID_POD;
	sb->dir = dir ? xstrdup(dir) : xasprintf("%s/%s", m->pods_dir, sb->id);
	sb->pin_dir = pin_dir ? xstrdup(pin_dir) : xasprintf("%s/%s", m->ns_dir, sb->id);
	sb->cgroup_leaf = xasprintf("ocid-%s", sb->id);
	pod_ns_paths(sb->pin_dir, sb->want_ns, &sb->ns);
	sb->shm_path = sb->host_ipc ? xstrdup(POD_HOST_SHM) : xasprintf("%s/shm", sb->dir);
	sb->reservation = sandbox_reservation_key(sb->name, sb->namespace_, sb->uid, sb->attempt);

	if (sb->host_network) {
		char host[HOST_NAME_MAX + 1] = "";
		if (gethostname(host, sizeof(host)) < 0 || host[0] == '\0')
			snprintf(host, sizeof(host), "localhost");
		host[HOST_NAME_MAX] = '\0';
		sb->hostname = xstrdup(host);
	} else if (c->hostname && *c->hostname) {
		sb->hostname = xstrdup(c->hostname);
	} else {
		ocid_error *ignored = NULL;
		if (pod_hostname_check(sb->name, &ignored) == 0)
			sb->hostname = xstrdup(sb->name);
		else
			sb->hostname = xasprintf("%.12s", sb->id);
		err_free(ignored);
	}
	const char *parent = c->linux && c->linux->cgroup_parent ? c->linux->cgroup_parent : "";
	if (pod_cgroup_path(parent, sb->id, &sb->cgroup_path, err) < 0)
		return -1; /* the message names cgroup_parent */
	return 0;
}

/* ---- manager ---- */

int sandbox_mgr_open(const struct sandbox_mgr_opts *opts, struct sandbox_mgr **out, ocid_error **err)
{
	*out = NULL;
	struct sandbox_mgr *m = xcalloc(1, sizeof(*m));
	m->cfg = opts->cfg;
	m->db = opts->db;
	m->pause_path = xstrdup(opts->pause_path ? opts->pause_path : sandbox_find_pause());
	m->pods_dir = xasprintf("%s/pods", opts->cfg->runroot);
	m->ns_dir = xasprintf("%s/ns", opts->cfg->runroot);
	m->cni_del_attempts = opts->cni_del_attempts > 0 ? opts->cni_del_attempts : 3;
	m->cni_del_timeout_ns = opts->cni_del_timeout_ns > 0 ? opts->cni_del_timeout_ns : 30LL * 1000000000LL;
	pthread_mutex_init(&m->mu, NULL);
	pthread_mutex_init(&m->cg_mu, NULL);
	if (fs_mkdir_p(m->pods_dir, 0711, err) < 0 || cgroup_layout_load(&m->layout, err) < 0 ||
	    sandbox_restore_all(m, err) < 0 || (m->n_items > 0 && sandbox_dirs_ready(m, err) < 0)) {
		sandbox_mgr_free(m);
		return err_prefix(err, "open pod sandboxes");
	}
	log_info("pod sandboxes loaded", "count=%zu pause=%s", m->n_items, m->pause_path);
	*out = m;
	return 0;
}

void sandbox_mgr_free(struct sandbox_mgr *m)
{
	if (m == NULL)
		return;
	if (m->n_items == 0) {
		/* No pod left: take away the mounts (the pins' directory, the
		 * tmpfs of volatile_dir) and the empty directories, so a daemon
		 * that stops cleanly leaves nothing under runroot. */
		const char *dirs[] = {m->ns_dir, m->pods_dir};
		for (size_t i = 0; i < 2; i++) {
			for (int k = 0; k < 4 && umount2(dirs[i], MNT_DETACH) == 0; k++)
				;
			rmdir(dirs[i]);
		}
	}
	for (size_t i = 0; i < m->n_items; i++)
		sandbox_unref(m->items[i]);
	free(m->items);
	for (size_t i = 0; i < m->n_res; i++)
		free(m->res[i].key);
	free(m->res);
	cgroup_layout_free(&m->layout);
	pthread_mutex_destroy(&m->mu);
	pthread_mutex_destroy(&m->cg_mu);
	free(m->pause_path);
	free(m->pods_dir);
	free(m->ns_dir);
	free(m);
}

void sandbox_mgr_set_hooks(struct sandbox_mgr *m, const struct sandbox_hooks *hooks)
{
	pthread_mutex_lock(&m->mu);
	if (hooks)
		m->hooks = *hooks;
	else
		memset(&m->hooks, 0, sizeof(m->hooks));
	pthread_mutex_unlock(&m->mu);
}

size_t sandbox_count(struct sandbox_mgr *m)
{
	pthread_mutex_lock(&m->mu);
	size_t n = m->n_items;
	pthread_mutex_unlock(&m->mu);
	return n;
}

/* ---- snapshots ---- */

static enum sandbox_state public_state(const struct sandbox *sb)
{
	return sb->state == ROW_READY ? SANDBOX_READY : SANDBOX_NOTREADY;
}

static void snapshot_locked(struct sandbox *sb, bool full, struct sandbox_snapshot *s)
{
	memset(s, 0, sizeof(*s));
	s->sb = sandbox_ref(sb);
	s->state = public_state(sb);
	s->pause_pid = sb->pause_pid;
	if (!full)
		return;
	if (s->state == SANDBOX_READY && sb->n_ips > 0) {
		s->ips = xcalloc(sb->n_ips, sizeof(char *));
		for (size_t i = 0; i < sb->n_ips; i++)
			s->ips[i] = xstrdup(sb->ips[i]);
		s->n_ips = sb->n_ips;
	}
	s->cni_cache = sb->net_attached && sb->cni_cache ? xstrdup(sb->cni_cache) : NULL;
	s->reason = sb->reason ? xstrdup(sb->reason) : NULL;
}

void sandbox_snapshot_clear(struct sandbox_snapshot *s)
{
	if (s == NULL)
		return;
	sandbox_unref(s->sb);
	strv_free_n(s->ips, s->n_ips);
	free(s->cni_cache);
	free(s->reason);
	memset(s, 0, sizeof(*s));
}

void sandbox_snapshots_free(struct sandbox_snapshot *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sandbox_snapshot_clear(&s[i]);
	free(s);
}

int sandbox_status(struct sandbox_mgr *m, const char *id, struct sandbox_snapshot *out, ocid_error **err)
{
	memset(out, 0, sizeof(*out));
	struct sandbox *sb = NULL;
	if (sandbox_get(m, id, &sb, err) < 0)
		return -1;
	pthread_mutex_lock(&m->mu);
	snapshot_locked(sb, true, out);
	pthread_mutex_unlock(&m->mu);
	sandbox_unref(sb);
	return 0;
}

static bool labels_match(const Runtime__V1__PodSandboxConfig *c, const struct sandbox_filter *f)
{
	for (size_t k = 0; k < f->n_labels; k++) {
		bool ok = false;
		for (size_t i = 0; i < c->n_labels && !ok; i++)
			ok = strcmp(c->labels[i]->key, f->label_keys[k]) == 0 &&
			     strcmp(c->labels[i]->value, f->label_values[k]) == 0;
		if (!ok)
			return false;
	}
	return true;
}

int sandbox_list(struct sandbox_mgr *m, const struct sandbox_filter *f, struct sandbox_snapshot **out,
		 size_t *n, ocid_error **err)
{
	(void)err;
	*out = NULL;
	*n = 0;
	pthread_mutex_lock(&m->mu);
	struct sandbox *only = NULL;
	if (f && f->id && *f->id) {
		/* An unknown or ambiguous id gives an empty list, not an error:
		 * the pod may just have been removed. */
		size_t matches = 0;
		only = lookup_locked(m, f->id, &matches);
		if (only == NULL) {
			pthread_mutex_unlock(&m->mu);
			return 0;
		}
	}
	struct sandbox_snapshot *v = xcalloc(m->n_items ? m->n_items : 1, sizeof(*v));
	size_t count = 0;
	for (size_t i = 0; i < m->n_items; i++) {
		struct sandbox *sb = m->items[i];
		if (sb->state == ROW_CREATING || (only && sb != only))
			continue;
		if (f && f->has_state && public_state(sb) != f->state)
			continue;
		if (f && f->n_labels && !labels_match(sb->config, f))
			continue;
		snapshot_locked(sb, false, &v[count++]);
	}
	pthread_mutex_unlock(&m->mu);
	*out = v;
	*n = count;
	return 0;
}

/* ---- container module guard ---- */

int sandbox_use_begin(struct sandbox *sb, ocid_error **err)
{
	struct sandbox_mgr *m = sb->mgr;
	pthread_mutex_lock(&m->mu);
	int rc = 0;
	if (sb->removed)
		rc = err_set(err, GRPC_NOT_FOUND, "pod sandbox %s not found", sb->id);
	else if (sb->stopping || sb->state != ROW_READY)
		rc = err_set(err, GRPC_FAILED_PRECONDITION, "pod sandbox %s is not ready%s%s", sb->id,
			     sb->reason ? ": " : "", sb->reason ? sb->reason : "");
	else
		sb->users++;
	pthread_mutex_unlock(&m->mu);
	return rc;
}

void sandbox_use_end(struct sandbox *sb)
{
	struct sandbox_mgr *m = sb->mgr;
	pthread_mutex_lock(&m->mu);
	if (sb->users > 0 && --sb->users == 0)
		pthread_cond_broadcast(&sb->users_cv);
	pthread_mutex_unlock(&m->mu);
}

/* ---- accessors ---- */

const char *sandbox_id(const struct sandbox *sb) { return sb->id; }
const Runtime__V1__PodSandboxConfig *sandbox_config(const struct sandbox *sb) { return sb->config; }
const char *sandbox_name(const struct sandbox *sb) { return sb->name; }
const char *sandbox_namespace(const struct sandbox *sb) { return sb->namespace_; }
const char *sandbox_uid(const struct sandbox *sb) { return sb->uid; }
uint32_t sandbox_attempt(const struct sandbox *sb) { return sb->attempt; }
int64_t sandbox_created_at(const struct sandbox *sb) { return sb->created_at; }
const char *sandbox_runtime_handler(const struct sandbox *sb) { return sb->handler; }
const char *sandbox_runtime_name(const struct sandbox *sb) { return sb->runtime_name; }
const char *sandbox_dir(const struct sandbox *sb) { return sb->dir; }
const char *sandbox_shm_path(const struct sandbox *sb) { return sb->shm_path; }
bool sandbox_host_network(const struct sandbox *sb) { return sb->host_network; }
bool sandbox_host_ipc(const struct sandbox *sb) { return sb->host_ipc; }
enum sandbox_pid_mode sandbox_pid_mode(const struct sandbox *sb) { return sb->pid_mode; }
const char *sandbox_cgroup_path(const struct sandbox *sb) { return sb->cgroup_path; }
const char *sandbox_hostname(const struct sandbox *sb) { return sb->hostname; }

const char *sandbox_ns_path(const struct sandbox *sb, enum pod_ns_type type)
{
	return (unsigned)type < POD_NS_COUNT ? sb->ns.path[type] : NULL;
}

enum sandbox_state sandbox_get_state(struct sandbox *sb)
{
	pthread_mutex_lock(&sb->mgr->mu);
	enum sandbox_state s = public_state(sb);
	pthread_mutex_unlock(&sb->mgr->mu);
	return s;
}
