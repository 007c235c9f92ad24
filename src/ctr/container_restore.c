/* Start-up recovery: every row of the containers table is re-attached to
 * what runs, or torn down when it cannot be restored:
 *  - 'creating' (ocid died inside CreateContainer): runtime state, conmon,
 *    mount, directories and row are removed;
 *  - a container whose pod is gone: removed the same way;
 *  - created/running: the runtime and conmon are asked. An exit file means
 *    it exited while ocid was down (its code is taken from there); a live
 *    container with a live conmon is kept; one whose conmon is gone is killed
 *    (no exit would ever be recorded) and one the runtime no longer knows is
 *    recorded as exited with an error.
 * Name reservations and image holds live in memory and are taken again for
 * every container kept. */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ctr/container_internal.h"
#include "ctr/rootfs.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/xalloc.h"

struct restore_stats {
	size_t kept, exited, lost, removed;
};

static void remove_empty_log(const char *path)
{
	struct stat st;
	if (path && *path && lstat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 0)
		unlink(path);
}

/* Everything of c, row included. */
static void tear_down(struct ctr_mgr *m, struct container *c, const char *why)
{
	log_warn("removing a container that cannot be restored", "container=%s reason=\"%s\"", c->id, why);
	ctr_teardown_files(m, c, true);
	if (c->state == ROW_CTR_CREATING)
		remove_empty_log(c->log_path);
	cleanup_err ocid_error *e = NULL;
	if (ctr_db_delete(m, c->id, &e) < 0)
		ctr_warn("cannot delete the record", c->id, e);
}

static int restore_one(struct ctr_mgr *m, struct container *c, void *arg)
{
	struct restore_stats *stats = arg;
	if (c->state == ROW_CTR_CREATING) {
		tear_down(m, c, "ocid stopped while creating it");
		stats->removed++;
		return 0;
	}
	struct sandbox *sb = NULL;
	cleanup_err ocid_error *e = NULL;
	if (sandbox_get(m->sandboxes, c->pod_id, &sb, &e) < 0 || strcmp(sandbox_id(sb), c->pod_id) != 0) {
		if (sb)
			sandbox_unref(sb);
		tear_down(m, c, "its pod is gone");
		stats->removed++;
		return 0;
	}
	c->reservation =
		ctr_reservation_key(c->name, sandbox_name(sb), sandbox_namespace(sb), sandbox_uid(sb), c->attempt);
	sandbox_unref(sb);
	if (ctr_runtime_handler(m->rt, c->runtime) == NULL)
		log_warn("container's runtime handler is no longer configured; using the default", "container=%s "
			 "runtime=%s", c->id, c->runtime);

	/* what became of it while ocid was down */
	struct exit_info exit = {.exit_code = -1};
	bool have_exit = false;
	const char *lost = NULL;
	if (c->state == ROW_CTR_CREATED || c->state == ROW_CTR_RUNNING) {
		struct ctr_ref ref = ctr_ref_of(c);
		if (ctr_runtime_handler(m->rt, c->runtime) == NULL)
			ref.runtime = NULL;
		struct ctr_rt_status st;
		if (ctr_runtime_status(m->rt, &ref, &st, &e) < 0) {
			ctr_warn("cannot ask the runtime about a container", c->id, e);
			err_clear(&e);
			st.state = CTR_RT_GONE;
			st.exited = false;
			st.conmon_alive = false;
		}
		if (st.exited) {
			exit = st.exit;
			have_exit = true;
		} else if (st.state != CTR_RT_GONE && st.state != CTR_RT_STOPPED && st.conmon_alive) {
			pthread_mutex_lock(&m->mu);
			c->pid = st.pid;
			pthread_mutex_unlock(&m->mu);
		} else if (st.state != CTR_RT_GONE && st.state != CTR_RT_STOPPED) {
			/* its monitor is gone: no exit would ever be recorded */
			if (ctr_runtime_stop(m->rt, &ref, 0, SIGKILL, c->kill_all, NULL, &exit, &e) < 0) {
				ctr_warn("cannot kill a container whose conmon is gone", c->id, e);
				err_clear(&e);
			}
			exit.exit_code = 255;
			clock_gettime(CLOCK_REALTIME, &exit.finished);
			have_exit = true;
			lost = "its monitor (conmon) was gone after an ocid restart; the container was killed";
		} else {
			exit.exit_code = 255;
			clock_gettime(CLOCK_REALTIME, &exit.finished);
			have_exit = true;
			lost = "the container was gone after an ocid restart";
		}
	}

	if (store_image_hold(m->store, c->image_id, &e) < 0) {
		ctr_warn("the image of a restored container is gone", c->id, e);
		err_clear(&e);
	}
	pthread_mutex_lock(&m->mu);
	const char *holder = ctr_reserve_locked(m, c->reservation, c->id);
	if (holder)
		log_warn("restored container's name is held by another one", "container=%s holder=%s", c->id, holder);
	ctr_index_add_locked(m, c);
	pthread_mutex_unlock(&m->mu);
	if (have_exit) {
		ctr_record_exit(m, c, &exit, lost ? "Error" : NULL, lost);
		if (lost)
			stats->lost++;
		else
			stats->exited++;
	} else {
		stats->kept++;
	}
	return 0;
}

static bool indexed(struct ctr_mgr *m, const char *id)
{
	bool found = false;
	pthread_mutex_lock(&m->mu);
	for (size_t i = 0; i < m->n_items && !found; i++)
		found = strcmp(m->items[i]->id, id) == 0;
	pthread_mutex_unlock(&m->mu);
	return found;
}

/* Directories no row names (a crash between removing a container's row and
 * its files cannot leave one, but a database restored from a backup can):
 * unmounted and removed. */
static void sweep(struct ctr_mgr *m, const char *dir, bool bundles, size_t *removed)
{
	DIR *d = opendir(dir);
	if (d == NULL)
		return;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || indexed(m, de->d_name))
			continue;
		cleanup_free char *path = xasprintf("%s/%s", dir, de->d_name);
		cleanup_err ocid_error *e = NULL;
		if (bundles) {
			cleanup_free char *rootfs = xasprintf("%s/rootfs", path);
			if (rootfs_umount(rootfs, &e) < 0) {
				ctr_warn("cannot unmount a stale rootfs", de->d_name, e);
				continue;
			}
		}
		log_warn("removing a stale container directory", "path=%s", path);
		if (fs_remove_all(path, &e) < 0)
			ctr_warn("cannot remove a stale container directory", de->d_name, e);
		else
			(*removed)++;
	}
	closedir(d);
}

int ctr_restore_all(struct ctr_mgr *m, ocid_error **err)
{
	struct restore_stats stats = {0};
	if (ctr_db_load(m, restore_one, &stats, err) < 0)
		return -1;
	size_t stale = 0;
	sweep(m, m->ctr_run, true, &stale);
	sweep(m, m->ctr_root, false, &stale);
	if (stale)
		log_warn("stale container directories removed", "count=%zu", stale);
	if (stats.kept + stats.exited + stats.lost + stats.removed > 0)
		log_info("containers restored", "kept=%zu exited_meanwhile=%zu lost=%zu removed=%zu", stats.kept,
			 stats.exited, stats.lost, stats.removed);
	return 0;
}
