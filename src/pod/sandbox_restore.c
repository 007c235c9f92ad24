/* Start-up recovery: every recorded sandbox is indexed again with its name
 * reserved; what cannot be trusted is marked NOTREADY (Stop and Remove then
 * clean it up as usual); a sandbox a crash left 'creating' is torn down;
 * directories and pins under runroot that no record names are removed. */
#include <dirent.h>
#include <errno.h>
#include <linux/magic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>

#include "pod/sandbox_files.h"
#include "pod/sandbox_internal.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/xalloc.h"

static bool is_tmpfs(const char *path)
{
	struct statfs sfs;
	return statfs(path, &sfs) == 0 && (unsigned long)sfs.f_type == (unsigned long)TMPFS_MAGIC;
}

/* Why a READY sandbox cannot be kept ready, malloc'd, or NULL when it can. */
static char *check_ready(struct sandbox *sb)
{
	ocid_error *e = NULL;
	for (int t = 0; t < POD_NS_COUNT; t++) {
		if (sb->ns.path[t] == NULL)
			continue;
		if (pod_ns_check_pin(sb->ns.path[t], (enum pod_ns_type)t, &e) < 0) {
			char *why = xasprintf("%s namespace gone after restart: %s", pod_ns_type_name((enum pod_ns_type)t),
					      e->msg);
			err_free(e);
			return why;
		}
	}
	if (sb->pid_mode == SANDBOX_PID_POD && !pod_pause_alive(sb->pause_pid, sb->pause_start))
		return xasprintf("ocid-pause (pid %d) gone after restart", (int)sb->pause_pid);
	if (!sb->host_ipc && !is_tmpfs(sb->shm_path))
		return xasprintf("/dev/shm tmpfs %s gone after restart", sb->shm_path);
	return NULL;
}

/* First pass: every recorded sandbox back in the index, its name reserved. */
static int restore_index(struct sandbox_mgr *m, struct sandbox *sb, void *arg, ocid_error **err)
{
	(void)arg;
	(void)err;
	pthread_mutex_lock(&m->mu);
	const char *holder = sandbox_reserve_locked(m, sb->reservation, sb->id);
	if (holder == NULL)
		sandbox_index_add_locked(m, sb);
	pthread_mutex_unlock(&m->mu);
	if (holder) /* cannot happen with the UNIQUE constraint; keep the first */
		log_error("two pod sandboxes hold one name; ignoring the second", "pod=%s other=%s", sb->id, holder);
	return 0;
}

/* Second pass (all sandboxes indexed, so cgroup sharing is known). */
static void restore_one(struct sandbox_mgr *m, struct sandbox *sb)
{
	if (sb->state == ROW_CREATING) {
		/* The daemon died inside RunPodSandbox: undo, as that call would have. */
		log_warn("pod sandbox was being created when ocid stopped: removing it", "pod=%s", sb->id);
		ocid_error *e = NULL;
		pthread_mutex_lock(&sb->op_lock);
		if (sandbox_teardown_locked(m, sb, false, &e) < 0 || sandbox_destroy_locked(m, sb, &e) < 0) {
			warn_err("cannot remove a half-created pod sandbox; it stays NOTREADY", sb->id, e);
			pthread_mutex_lock(&m->mu);
			sb->state = ROW_NOTREADY;
			char *reason = xasprintf("creation interrupted, cleanup failed: %s", e ? e->msg : "");
			sandbox_set_reason_locked(sb, reason);
			free(reason);
			pthread_mutex_unlock(&m->mu);
			err_clear(&e);
			if (sandbox_db_update(m, sb, &e) < 0) {
				warn_err("cannot record pod sandbox state", sb->id, e);
				err_clear(&e);
			}
		}
		pthread_mutex_unlock(&sb->op_lock);
		return;
	}
	if (sb->state != ROW_READY)
		return;
	char *why = check_ready(sb);
	if (why == NULL)
		return;
	log_warn("pod sandbox cannot be restored as ready", "pod=%s reason=\"%s\"", sb->id, why);
	pthread_mutex_lock(&m->mu);
	sb->state = ROW_NOTREADY;
	sandbox_set_reason_locked(sb, why);
	pthread_mutex_unlock(&m->mu);
	free(why);
	ocid_error *e = NULL;
	if (sandbox_db_update(m, sb, &e) < 0) {
		warn_err("cannot record pod sandbox state", sb->id, e);
		err_free(e);
	}
}

static bool known_locked(struct sandbox_mgr *m, const char *id)
{
	for (size_t i = 0; i < m->n_items; i++)
		if (strcmp(m->items[i]->id, id) == 0)
			return true;
	return false;
}

/* Entries of dir that no indexed sandbox owns. */
static void sweep(struct sandbox_mgr *m, const char *dir, bool pins)
{
	DIR *d = opendir(dir);
	if (d == NULL)
		return;
	struct dirent *de;
	char **names = NULL;
	size_t n = 0;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (known_locked(m, de->d_name))
			continue;
		names = xrealloc(names, (n + 1) * sizeof(char *));
		names[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	for (size_t i = 0; i < n; i++) {
		cleanup_free char *path = xasprintf("%s/%s", dir, names[i]);
		ocid_error *e = NULL;
		int rc = pins ? pod_ns_remove(path, &e) : pod_shm_teardown(path, &e);
		if (rc == 0 && !pins)
			rc = fs_remove_all(path, &e);
		if (rc < 0)
			warn_err("cannot remove a leftover of an unknown pod sandbox", names[i], e);
		else
			log_info("removed a leftover of an unknown pod sandbox", "path=%s", path);
		err_free(e);
		free(names[i]);
	}
	free(names);
}

int sandbox_restore_all(struct sandbox_mgr *m, ocid_error **err)
{
	if (sandbox_db_load(m, restore_index, NULL, err) < 0)
		return -1;
	/* Start-up is single-threaded, but restore_one may drop items from the
	 * index: walk a copy. */
	pthread_mutex_lock(&m->mu);
	size_t n = m->n_items;
	struct sandbox **v = xcalloc(n ? n : 1, sizeof(*v));
	for (size_t i = 0; i < n; i++)
		v[i] = sandbox_ref(m->items[i]);
	pthread_mutex_unlock(&m->mu);
	for (size_t i = 0; i < n; i++) {
		restore_one(m, v[i]);
		sandbox_unref(v[i]);
	}
	free(v);
	/* Start-up is single-threaded: the index cannot change under sweep. */
	sweep(m, m->ns_dir, true);
	sweep(m, m->pods_dir, false);
	return 0;
}
