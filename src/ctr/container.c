/* The container manager: index, name reservations, references, lookups,
 * exits, Status/List snapshots and accessors. Create is in
 * container_create.c, Start/Stop/Remove and the rest of the runtime API in
 * container_ops.c, persistence in container_store.c, start-up recovery in
 * container_restore.c; the pod hooks are in container_ops.c too. */
#include "ctr/container.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>
#include <linux/magic.h>

#include "ctr/container_internal.h"
#include "util/cleanup.h"
#include "util/crilog.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/xalloc.h"

void ctr_warn(const char *msg, const char *id, const ocid_error *e)
{
	char esc[1024];
	log_escape(e && e->msg ? e->msg : "", esc, sizeof(esc));
	log_warn(msg, "container=%s error=\"%s\"", id ? id : "", esc);
}

/* ---- containers ---- */

struct container *container_alloc(struct ctr_mgr *m)
{
	struct container *c = xcalloc(1, sizeof(*c));
	atomic_init(&c->refs, 1);
	c->mgr = m;
	pthread_mutex_init(&c->op_lock, NULL);
	c->reason = xstrdup("");
	c->message = xstrdup("");
	return c;
}

struct container *container_ref(struct container *c)
{
	atomic_fetch_add(&c->refs, 1);
	return c;
}

void container_unref(struct container *c)
{
	if (c == NULL || atomic_fetch_sub(&c->refs, 1) != 1)
		return;
	if (c->config)
		protobuf_c_message_free_unpacked(&c->config->base, NULL);
	if (c->resources)
		protobuf_c_message_free_unpacked(&c->resources->base, NULL);
	free(c->pod_id);
	free(c->name);
	free(c->reservation);
	free(c->image_id);
	free(c->image_name);
	free(c->runtime);
	free(c->dir);
	free(c->bundle);
	free(c->rootfs);
	free(c->log_path);
	free(c->term_path);
	free(c->groups);
	free(c->reason);
	free(c->message);
	pthread_mutex_destroy(&c->op_lock);
	free(c);
}

const char *container_id(const struct container *c) { return c->id; }
const char *container_pod_id(const struct container *c) { return c->pod_id; }
const Runtime__V1__ContainerConfig *container_config(const struct container *c) { return c->config; }
const char *container_image_name(const struct container *c) { return c->image_name; }
const char *container_image_id(const struct container *c) { return c->image_id; }
int64_t container_created_at(const struct container *c) { return c->created_at; }
const char *container_log_path(const struct container *c) { return c->log_path; }
uint32_t container_uid(const struct container *c) { return c->uid; }
uint32_t container_gid(const struct container *c) { return c->gid; }
const int64_t *container_groups(const struct container *c, size_t *n)
{
	*n = c->n_groups;
	return c->groups;
}

struct ctr_ref ctr_ref_of(struct container *c)
{
	pthread_mutex_lock(&c->mgr->mu);
	int pid = c->pid;
	pthread_mutex_unlock(&c->mgr->mu);
	return (struct ctr_ref){.id = c->id, .runtime = c->runtime, .bundle = c->bundle, .pid = pid};
}

/* ---- reservations and index ---- */

char *ctr_reservation_key(const char *name, const char *pod_name, const char *pod_ns, const char *pod_uid,
			  uint32_t attempt)
{
	return xasprintf("%s_%s_%s_%s_%u", name ? name : "", pod_name ? pod_name : "", pod_ns ? pod_ns : "",
			 pod_uid ? pod_uid : "", attempt);
}

const char *ctr_reserve_locked(struct ctr_mgr *m, const char *key, const char *id)
{
	for (size_t i = 0; i < m->n_res; i++)
		if (strcmp(m->res[i].key, key) == 0)
			return m->res[i].id;
	if (m->n_res == m->cap_res) {
		m->cap_res = m->cap_res ? m->cap_res * 2 : 32;
		m->res = xrealloc(m->res, m->cap_res * sizeof(*m->res));
	}
	struct ctr_reservation *r = &m->res[m->n_res++];
	r->key = xstrdup(key);
	snprintf(r->id, sizeof(r->id), "%s", id);
	return NULL;
}

void ctr_release_locked(struct ctr_mgr *m, const char *key, const char *id)
{
	for (size_t i = 0; i < m->n_res; i++)
		if (strcmp(m->res[i].key, key) == 0 && strcmp(m->res[i].id, id) == 0) {
			free(m->res[i].key);
			m->res[i] = m->res[--m->n_res];
			return;
		}
}

void ctr_reservation_move_locked(struct ctr_mgr *m, const char *key, const char *from_id, const char *to_id)
{
	for (size_t i = 0; i < m->n_res; i++)
		if (strcmp(m->res[i].key, key) == 0 && strcmp(m->res[i].id, from_id) == 0)
			snprintf(m->res[i].id, sizeof(m->res[i].id), "%s", to_id);
}

void ctr_index_add_locked(struct ctr_mgr *m, struct container *c)
{
	if (m->n_items == m->cap_items) {
		m->cap_items = m->cap_items ? m->cap_items * 2 : 64;
		m->items = xrealloc(m->items, m->cap_items * sizeof(*m->items));
	}
	m->items[m->n_items++] = container_ref(c);
}

void ctr_index_del_locked(struct ctr_mgr *m, struct container *c)
{
	for (size_t i = 0; i < m->n_items; i++)
		if (m->items[i] == c) {
			/* keep the order (oldest first) */
			memmove(&m->items[i], &m->items[i + 1], (m->n_items - i - 1) * sizeof(*m->items));
			m->n_items--;
			container_unref(c);
			return;
		}
}

static int find_locked(struct ctr_mgr *m, const char *id, struct container **out, ocid_error **err)
{
	*out = NULL;
	if (id == NULL || *id == '\0')
		return err_set(err, GRPC_INVALID_ARGUMENT, "container id is required");
	size_t len = strlen(id);
	struct container *found = NULL;
	size_t matches = 0;
	for (size_t i = 0; i < m->n_items; i++) {
		struct container *c = m->items[i];
		if (strncmp(c->id, id, len) != 0)
			continue;
		if (c->id[len] == '\0') {
			*out = c;
			return 0;
		}
		found = c;
		matches++;
	}
	if (matches == 1) {
		*out = found;
		return 0;
	}
	if (matches > 1)
		return err_set(err, GRPC_NOT_FOUND, "container id prefix %s is ambiguous (%zu containers)", id,
			       matches);
	return err_set(err, GRPC_NOT_FOUND, "container %s not found", id);
}

int ctr_get(struct ctr_mgr *m, const char *id, struct container **out, ocid_error **err)
{
	pthread_mutex_lock(&m->mu);
	int rc = find_locked(m, id, out, err);
	if (rc == 0)
		container_ref(*out);
	pthread_mutex_unlock(&m->mu);
	return rc;
}

size_t ctr_count(struct ctr_mgr *m)
{
	pthread_mutex_lock(&m->mu);
	size_t n = m->n_items;
	pthread_mutex_unlock(&m->mu);
	return n;
}

/* ---- exits ---- */

static int64_t ts_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000LL + ts->tv_nsec;
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return ts_ns(&ts);
}

/* Reads up to max bytes from the end of path (all of it when smaller). */
static char *read_tail(const char *path, size_t max, size_t *len)
{
	*len = 0;
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return NULL;
	off_t start = st.st_size > (off_t)max ? st.st_size - (off_t)max : 0;
	if ((off_t)max > st.st_size)
		max = (size_t)st.st_size; /* a file that grows meanwhile is cut there */
	char *buf = xmalloc(max + 1);
	size_t n = 0;
	while (n < max) {
		ssize_t r = pread(fd, buf + n, max - n, start + (off_t)n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* The text of the last CTR_MESSAGE_MAX_LINES lines of a CRI log, at most
 * CTR_MESSAGE_MAX_BYTES (the end is kept), as kubelet builds the message of
 * FallbackToLogsOnError. */
static char *log_tail_message(const char *log_path)
{
	size_t len;
	/* CRI framing adds ~40 bytes per line: read enough for the cap. */
	cleanup_free char *raw = read_tail(log_path, 64 * 1024, &len);
	if (raw == NULL || len == 0)
		return NULL;
	/* skip a first line that the window cut */
	size_t off = 0;
	struct stat st;
	if (len == 64 * 1024 && stat(log_path, &st) == 0 && st.st_size > (off_t)len) {
		char *nl = memchr(raw, '\n', len);
		off = nl ? (size_t)(nl - raw) + 1 : len;
	}
	char *text = xmalloc(len + 1);
	size_t tl = 0;
	while (off < len) {
		char *nl = memchr(raw + off, '\n', len - off);
		size_t ll = nl ? (size_t)(nl - (raw + off)) : len - off;
		struct crilog_line l;
		if (crilog_parse(raw + off, ll, &l) == 0) {
			memcpy(text + tl, l.text, l.text_len);
			tl += l.text_len;
			if (!l.partial)
				text[tl++] = '\n';
		}
		off += ll + (nl ? 1 : 0);
	}
	text[tl] = '\0';
	/* the last N lines */
	size_t lines = 0, start = tl;
	while (start > 0) {
		if (text[start - 1] == '\n' && start != tl && ++lines == CTR_MESSAGE_MAX_LINES)
			break;
		start--;
	}
	if (tl - start > CTR_MESSAGE_MAX_BYTES)
		start = tl - CTR_MESSAGE_MAX_BYTES;
	memmove(text, text + start, tl - start + 1);
	return text;
}

char *ctr_exit_message(const struct container *c, int exit_code)
{
	if (c->term_path && c->term_path[0]) {
		size_t len;
		/* kubelet reads the first 4096 bytes of the file */
		cleanup_close int fd = open(c->term_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
		struct stat st;
		if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
			char *buf = xmalloc(CTR_MESSAGE_MAX_BYTES + 1);
			len = 0;
			while (len < CTR_MESSAGE_MAX_BYTES) {
				ssize_t r = read(fd, buf + len, CTR_MESSAGE_MAX_BYTES - len);
				if (r < 0 && errno == EINTR)
					continue;
				if (r <= 0)
					break;
				len += (size_t)r;
			}
			buf[len] = '\0';
			if (len > 0)
				return buf;
			free(buf);
		}
	}
	if (c->term_fallback && exit_code != 0 && c->log_path && c->log_path[0]) {
		char *m = log_tail_message(c->log_path);
		if (m)
			return m;
	}
	return xstrdup("");
}

void ctr_record_exit(struct ctr_mgr *m, struct container *c, const struct exit_info *info, const char *reason,
		     const char *message)
{
	int code = info->exit_code < 0 ? 255 : info->exit_code;
	pthread_mutex_lock(&m->mu);
	if (c->exit_recorded || c->removed) {
		pthread_mutex_unlock(&m->mu);
		return;
	}
	c->exit_recorded = true;
	c->state = ROW_CTR_EXITED;
	c->pid = 0;
	c->exit_code = code;
	c->oom = info->oom;
	c->finished_at = ts_ns(&info->finished);
	if (c->finished_at <= 0)
		c->finished_at = now_ns();
	if (c->started_at > c->finished_at)
		c->started_at = c->finished_at;
	free(c->reason);
	c->reason = xstrdup(reason ? reason : info->oom ? "OOMKilled" : code == 0 ? "Completed" : "Error");
	pthread_mutex_unlock(&m->mu);

	char *msg = message ? xstrdup(message) : ctr_exit_message(c, code);
	pthread_mutex_lock(&m->mu);
	free(c->message);
	c->message = msg;
	bool removed = c->removed;
	pthread_mutex_unlock(&m->mu);
	log_info("container exited", "container=%s exit_code=%d oom=%s", c->id, code, info->oom ? "true" : "false");
	cleanup_err ocid_error *e = NULL;
	if (!removed && ctr_db_update(m, c, &e) < 0)
		ctr_warn("cannot record the exit", c->id, e);
}

void ctr_on_exit(const char *id, const struct exit_info *info, void *arg)
{
	struct ctr_mgr *m = arg;
	struct container *c = NULL;
	pthread_mutex_lock(&m->mu);
	for (size_t i = 0; i < m->n_items; i++)
		if (strcmp(m->items[i]->id, id) == 0) {
			c = container_ref(m->items[i]);
			break;
		}
	pthread_mutex_unlock(&m->mu);
	if (c == NULL)
		return; /* being created or removed: they record it themselves */
	ctr_record_exit(m, c, info, NULL, NULL);
	container_unref(c);
}

/* ---- snapshots ---- */

static enum ctr_state cri_state(enum ctr_row_state s)
{
	switch (s) {
	case ROW_CTR_CREATED:
		return CTR_CREATED;
	case ROW_CTR_RUNNING:
		return CTR_RUNNING;
	case ROW_CTR_EXITED:
		return CTR_EXITED;
	default:
		return CTR_UNKNOWN;
	}
}

/* Under m->mu. full: reason, message and resources too. */
static void fill_locked(struct container *c, struct ctr_snapshot *s, bool full)
{
	memset(s, 0, sizeof(*s));
	s->c = container_ref(c);
	s->state = cri_state(c->state);
	s->started_at = c->started_at;
	s->finished_at = c->finished_at;
	s->exit_code = c->exit_code;
	s->oom = c->oom;
	s->pid = c->pid;
	if (full) {
		s->reason = xstrdup(c->reason ? c->reason : "");
		s->message = xstrdup(c->message ? c->message : "");
	}
}

void ctr_snapshot_clear(struct ctr_snapshot *s)
{
	if (s == NULL)
		return;
	if (s->c)
		container_unref(s->c);
	free(s->reason);
	free(s->message);
	if (s->resources)
		protobuf_c_message_free_unpacked(&s->resources->base, NULL);
	memset(s, 0, sizeof(*s));
}

int ctr_status(struct ctr_mgr *m, const char *id, struct ctr_snapshot *out, ocid_error **err)
{
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&m->mu);
	struct container *c;
	if (find_locked(m, id, &c, err) < 0) {
		pthread_mutex_unlock(&m->mu);
		return -1;
	}
	fill_locked(c, out, true);
	/* a packed copy is quick; unpack outside the lock */
	size_t len = 0;
	uint8_t *buf = NULL;
	if (c->resources) {
		len = protobuf_c_message_get_packed_size(&c->resources->base);
		buf = xmalloc(len ? len : 1);
		protobuf_c_message_pack(&c->resources->base, buf);
	}
	pthread_mutex_unlock(&m->mu);
	if (buf) {
		out->resources = (Runtime__V1__LinuxContainerResources *)protobuf_c_message_unpack(
			&runtime__v1__linux_container_resources__descriptor, NULL, len, buf);
		free(buf);
	}
	return 0;
}

static bool labels_match(const Runtime__V1__ContainerConfig *cfg, const struct ctr_filter *f)
{
	for (size_t k = 0; k < f->n_labels; k++) {
		bool ok = false;
		for (size_t i = 0; i < cfg->n_labels && !ok; i++) {
			const Runtime__V1__ContainerConfig__LabelsEntry *e = cfg->labels[i];
			ok = e->key && strcmp(e->key, f->label_keys[k]) == 0 && e->value &&
			     strcmp(e->value, f->label_values[k] ? f->label_values[k] : "") == 0;
		}
		if (!ok)
			return false;
	}
	return true;
}

int ctr_list(struct ctr_mgr *m, const struct ctr_filter *f, struct ctr_snapshot **out, size_t *n,
	     ocid_error **err)
{
	(void)err;
	*out = NULL;
	*n = 0;
	const char *id = f && f->id && *f->id ? f->id : NULL;
	const char *pod = f && f->pod_id && *f->pod_id ? f->pod_id : NULL;
	size_t id_len = id ? strlen(id) : 0, pod_len = pod ? strlen(pod) : 0;
	pthread_mutex_lock(&m->mu);
	struct ctr_snapshot *list = m->n_items ? xcalloc(m->n_items, sizeof(*list)) : NULL;
	size_t k = 0;
	for (size_t i = 0; i < m->n_items; i++) {
		struct container *c = m->items[i];
		if (id && strncmp(c->id, id, id_len) != 0)
			continue;
		if (pod && strncmp(c->pod_id, pod, pod_len) != 0)
			continue;
		if (f && f->has_state && cri_state(c->state) != f->state)
			continue;
		if (f && f->n_labels && !labels_match(c->config, f))
			continue;
		fill_locked(c, &list[k++], false);
	}
	pthread_mutex_unlock(&m->mu);
	if (k == 0) {
		free(list);
		list = NULL;
	}
	*out = list;
	*n = k;
	return 0;
}

void ctr_snapshots_free(struct ctr_snapshot *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		ctr_snapshot_clear(&s[i]);
	free(s);
}

char *ctr_verbose_info(struct ctr_mgr *m, const struct ctr_snapshot *s)
{
	struct container *c = s->c;
	json_t *info = json_object();
	json_object_set_new(info, "sandboxID", json_string(c->pod_id));
	json_object_set_new(info, "pid", json_integer(s->pid));
	json_object_set_new(info, "runtimeHandler", json_string(c->runtime));
	const Runtime__V1__LinuxContainerConfig *lc = c->config->linux;
	json_object_set_new(info, "privileged",
			    json_boolean(lc && lc->security_context && lc->security_context->privileged));
	json_object_set_new(info, "image", json_string(c->image_id));
	json_object_set_new(info, "bundle", json_string(c->bundle));
	json_object_set_new(info, "rootfs", json_string(c->rootfs));
	json_object_set_new(info, "stopSignal", json_integer(c->stop_signal ? c->stop_signal : SIGTERM));
	cleanup_free char *cfgp = xasprintf("%s/config.json", c->bundle);
	size_t len;
	cleanup_free char *text = read_tail(cfgp, 4u << 20, &len);
	json_t *spec = NULL;
	if (text && spec_loads(text, len, &spec, NULL) == 0)
		json_object_set_new(info, "runtimeSpec", spec);
	(void)m;
	char *out = json_dumps(info, JSON_COMPACT);
	json_decref(info);
	return out ? out : xstrdup("{}");
}

/* ---- the manager ---- */

static bool dir_is_empty(const char *dir)
{
	DIR *d = opendir(dir);
	if (d == NULL)
		return false;
	struct dirent *e;
	bool empty = true;
	while (empty && (e = readdir(d)) != NULL)
		empty = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0;
	closedir(d);
	return empty;
}

/* Bundles are volatile state (runroot; /run is a tmpfs on most hosts). When
 * runroot sits on a disk filesystem instead, <runroot>/containers gets a
 * small tmpfs of its own, as pods/ does (src/pod/sandbox.c): each container
 * makes ~6 inodes there (bundle, rootfs mountpoint, config.json, conmon's
 * attach socket, ctl and winsz fifos), which on ext4 cost 0.2-0.5 ms each.
 * Only over an empty directory (an older ocid's bundles stay visible), and
 * not at all when mounting is refused: the disk directory works too. The
 * mount outlives the daemon while containers exist (a restarted ocid finds
 * it); ctr_mgr_free takes it away when none is left. */
static void volatile_run_dir(const char *dir)
{
	struct statfs sfs;
	if (statfs(dir, &sfs) == 0 && (unsigned long)sfs.f_type == (unsigned long)TMPFS_MAGIC)
		return; /* runroot on tmpfs, or mounted by an earlier ocid */
	if (!dir_is_empty(dir))
		return;
	if (mount("ocid", dir, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0700,size=64m") < 0) {
		log_debug("runroot is not on tmpfs; no tmpfs for the bundles", "dir=%s err=\"%s\"", dir,
			  strerror(errno));
		return;
	}
	if (mount("none", dir, NULL, MS_PRIVATE, NULL) < 0) {
		log_warn("cannot make the bundles' tmpfs private; not using it", "dir=%s err=\"%s\"", dir,
			 strerror(errno));
		umount2(dir, MNT_DETACH);
		return;
	}
	log_info("runroot is not on tmpfs: mounted one for container bundles", "dir=%s", dir);
}

int ctr_mgr_open(const struct ctr_mgr_opts *opts, struct ctr_mgr **out, ocid_error **err)
{
	*out = NULL;
	const struct ocid_config *cfg = opts->cfg;
	struct ctr_mgr *m = xcalloc(1, sizeof(*m));
	pthread_mutex_init(&m->mu, NULL);
	m->cfg = cfg;
	m->store = opts->store;
	m->db = opts->store->db;
	m->sandboxes = opts->sandboxes;
	m->ctr_root = xasprintf("%s/containers", cfg->root);
	m->ctr_run = xasprintf("%s/containers", cfg->runroot);
	if (spec_host_detect(&m->host, err) < 0 || fs_mkdir_p(m->ctr_root, 0700, err) < 0 ||
	    fs_mkdir_p(m->ctr_run, 0700, err) < 0)
		goto fail;
	volatile_run_dir(m->ctr_run);
	fs_spread_subdirs(m->ctr_root); /* for directories made without the pool (dir_pool.c) */
	char *pool_dir = xasprintf("%s/.pool", m->ctr_root);
	int pool_rc = dir_pool_open(pool_dir, (size_t)cfg->runtime.spare_container_dirs, &m->pool, err);
	free(pool_dir);
	if (pool_rc < 0 || ctr_warm_open(m, (size_t)cfg->runtime.warm_rootfs, err) < 0)
		goto fail;
	if (ctr_runtime_new(&m->rt, cfg, cfg->runroot, opts->mntns, err) < 0 ||
	    exit_watch_open(&m->watch, ctr_runtime_exit_dir(m->rt), ctr_runtime_persist_root(m->rt), ctr_on_exit, m,
			    err) < 0)
		goto fail;
	/* Watching (inotify) has begun: exits from now on are queued. Restore
	 * re-attaches every container (reading exit files itself), then the
	 * thread takes the queued events and a scan catches the rest; a
	 * duplicate report is ignored. */
	if (ctr_restore_all(m, err) < 0 || exit_watch_start(m->watch, err) < 0 || exit_watch_scan(m->watch, err) < 0)
		goto fail;
	ctr_register_hooks(m);
	m->opened = true;
	*out = m;
	return 0;
fail:
	err_prefix(err, "containers");
	ctr_mgr_free(m);
	return -1;
}

void ctr_mgr_free(struct ctr_mgr *m)
{
	if (m == NULL)
		return;
	if (m->sandboxes)
		sandbox_mgr_set_hooks(m->sandboxes, &(struct sandbox_hooks){0});
	exit_watch_close(m->watch);
	dir_pool_close(m->pool);
	m->pool = NULL;
	ctr_warm_close(m);
	if (m->opened && m->n_items == 0 && m->ctr_run) {
		/* No container left after a clean run: take away the bundles'
		 * tmpfs (volatile_run_dir), so nothing stays under runroot. Not
		 * after a failed open: what restore did not load may still be there. */
		struct statfs sfs;
		if (statfs(m->ctr_run, &sfs) == 0 && (unsigned long)sfs.f_type == (unsigned long)TMPFS_MAGIC &&
		    dir_is_empty(m->ctr_run))
			umount2(m->ctr_run, MNT_DETACH);
	}
	for (size_t i = 0; i < m->n_items; i++)
		container_unref(m->items[i]);
	free(m->items);
	for (size_t i = 0; i < m->n_res; i++)
		free(m->res[i].key);
	free(m->res);
	ctr_runtime_free(m->rt);
	free(m->ctr_root);
	free(m->ctr_run);
	pthread_mutex_destroy(&m->mu);
	free(m);
}
