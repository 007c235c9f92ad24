/* CreateContainer: each step is undone in reverse when a later one fails.
 * The database row is written ('creating') before anything is made on disk,
 * so a crash at any point leaves a row that start-up recovery tears down. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ctr/container_internal.h"
#include "ctr/rootfs.h"
#include "image/image_config.h"
#include "image/lookup.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/spawn.h"
#include "util/xalloc.h"

/* kubelet's annotations for the termination message (pkg/kubelet/kuberuntime/labels.go) */
#define ANN_TERM_PATH "io.kubernetes.container.terminationMessagePath"
#define ANN_TERM_POLICY "io.kubernetes.container.terminationMessagePolicy"

void ctr_set_paths(struct ctr_mgr *m, struct container *c)
{
	free(c->dir);
	free(c->bundle);
	free(c->rootfs);
	c->dir = xasprintf("%s/%s", m->ctr_root, c->id);
	c->bundle = xasprintf("%s/%s", m->ctr_run, c->id);
	c->rootfs = xasprintf("%s/rootfs", c->bundle);
}

int ctr_new_id(char out[CTR_ID_LEN + 1], ocid_error **err)
{
	unsigned char b[CTR_ID_LEN / 2];
	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
		return err_set_errno(err, GRPC_INTERNAL, errno, "generate a container id");
	for (size_t i = 0; i < sizeof(b); i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
	return 0;
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static const char *annotation(const Runtime__V1__ContainerConfig *c, const char *key)
{
	for (size_t i = 0; i < c->n_annotations; i++)
		if (c->annotations[i]->key && strcmp(c->annotations[i]->key, key) == 0)
			return c->annotations[i]->value;
	return NULL;
}

/* Removes a log file conmon created for a container that never ran. */
static void remove_empty_log(const char *path)
{
	struct stat st;
	if (path && *path && lstat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 0)
		unlink(path);
}

void ctr_remove_files(struct ctr_mgr *m, const char *id, const char *bundle, const char *dir, bool dir_now)
{
	cleanup_err ocid_error *e = NULL;
	cleanup_free char *rootfs = xasprintf("%s/rootfs", bundle);
	if (rootfs_umount(rootfs, &e) < 0) {
		ctr_warn("teardown: unmount failed", id, e);
		err_clear(&e);
	}
	if (fs_remove_all(bundle, &e) < 0) {
		ctr_warn("teardown: cannot remove the bundle", id, e);
		err_clear(&e);
	}
	if ((dir_now ? fs_remove_all(dir, &e) : dir_pool_discard(m->pool, dir, &e)) < 0)
		ctr_warn("teardown: cannot remove the container directory", id, e);
}

void ctr_teardown_files(struct ctr_mgr *m, struct container *c, bool runtime_too)
{
	cleanup_err ocid_error *e = NULL;
	if (runtime_too) {
		struct ctr_ref ref = ctr_ref_of(c);
		if (ctr_runtime_handler(m->rt, c->runtime) == NULL)
			ref.runtime = NULL; /* a handler no longer configured: the default's state */
		if (ctr_runtime_remove(m->rt, &ref, &e) < 0) {
			ctr_warn("teardown: runtime delete failed", c->id, e);
			err_clear(&e);
		}
	}
	ctr_remove_files(m, c->id, c->bundle, c->dir, false);
}

/* The log file: <pod log_directory>/<log_path>; a container of a pod with
 * no log directory logs into its own directory. */
static int log_path_of(struct ctr_mgr *m, struct sandbox *sb, struct container *c, ocid_error **err)
{
	(void)m;
	const Runtime__V1__PodSandboxConfig *pc = sandbox_config(sb);
	const char *dir = pc && pc->log_directory && *pc->log_directory ? pc->log_directory : NULL;
	const char *rel = c->config->log_path && *c->config->log_path ? c->config->log_path : NULL;
	if (rel) {
		/* kubelet gives "<name>/<attempt>.log": stay below the directory */
		const char *p = rel;
		while (*p) {
			size_t n = strcspn(p, "/");
			if (n == 2 && p[0] == '.' && p[1] == '.')
				return err_set(err, GRPC_INVALID_ARGUMENT, "log_path \"%s\" leaves the log directory",
					       rel);
			p += n;
			while (*p == '/')
				p++;
		}
	}
	if (dir == NULL) {
		c->log_path = xasprintf("%s/%s.log", c->dir, c->id);
		return 0;
	}
	if (dir[0] != '/')
		return err_set(err, GRPC_INVALID_ARGUMENT, "pod log_directory \"%s\" is not absolute", dir);
	if (rel && rel[0] == '/')
		rel++;
	c->log_path = rel ? xasprintf("%s/%s", dir, rel) : xasprintf("%s/%s.log", dir, c->id);
	return 0;
}

/* Where the termination message is: a CRI mount at the termination
 * message path (kubelet's file), else a file of ours bound there. */
static void term_path_of(struct container *c, const char **ctr_path, bool *ours)
{
	const char *p = annotation(c->config, ANN_TERM_PATH);
	*ctr_path = p && p[0] == '/' ? p : SPEC_TERMINATION_MESSAGE_PATH;
	const char *pol = annotation(c->config, ANN_TERM_POLICY);
	c->term_fallback = pol && strcmp(pol, "FallbackToLogsOnError") == 0;
	for (size_t i = 0; i < c->config->n_mounts; i++) {
		const Runtime__V1__Mount *mt = c->config->mounts[i];
		if (mt->container_path && strcmp(mt->container_path, *ctr_path) == 0 && mt->host_path &&
		    mt->host_path[0] == '/') {
			c->term_path = xstrdup(mt->host_path);
			*ours = false;
			return;
		}
	}
	c->term_path = xasprintf("%s/termination-log", c->dir);
	*ours = true;
}

int ctr_make_dirs(struct ctr_mgr *m, const char *dir, const char *bundle, bool *pooled, ocid_error **err)
{
	int took = dir_pool_take(m->pool, dir, err);
	if (took < 0)
		return -1;
	*pooled = took == 1;
	if (!*pooled) {
		cleanup_free char *upper = xasprintf("%s/upper", dir);
		cleanup_free char *work = xasprintf("%s/work", dir);
		if (mkdir(dir, 0700) < 0)
			return err_set_errno(err, GRPC_INTERNAL, errno, "create %s", dir);
		if (mkdir(upper, 0755) < 0 || mkdir(work, 0700) < 0)
			return err_set_errno(err, GRPC_INTERNAL, errno, "create the overlay dirs in %s", dir);
	}
	cleanup_free char *rootfs = xasprintf("%s/rootfs", bundle);
	if (mkdir(bundle, 0700) < 0)
		return err_set_errno(err, GRPC_INTERNAL, errno, "create %s", bundle);
	if (mkdir(rootfs, 0755) < 0)
		return err_set_errno(err, GRPC_INTERNAL, errno, "create %s", rootfs);
	return 0;
}

int ctr_mount_rootfs(struct ctr_mgr *m, const struct image_record *img, const char *rootfs, const char *dir,
		     ocid_error **err)
{
	if (img->n_layers == 0)
		return err_set(err, GRPC_FAILED_PRECONDITION, "image %s has no layers", img->id);
	char **lower = NULL;
	size_t n = 0;
	if (layer_store_lower_dirs(m->store->layers, img->layers[img->n_layers - 1], &lower, &n, err) < 0)
		return err_prefix(err, "layers of image %s", img->id);
	cleanup_free char *upper = xasprintf("%s/upper", dir);
	cleanup_free char *work = xasprintf("%s/work", dir);
	int rc = rootfs_mount(rootfs, lower, n, upper, work, err);
	for (size_t i = 0; i < n; i++)
		free(lower[i]);
	free(lower);
	return rc;
}

static int mount_rootfs(struct ctr_mgr *m, struct container *c, const struct image_record *img, ocid_error **err)
{
	int64_t t0 = spawn_now_ns();
	int rc = ctr_mount_rootfs(m, img, c->rootfs, c->dir, err);
	log_debug("container rootfs", "container=%s layers=%zu mount_ms=%.2f", c->id, img->n_layers,
		  (double)(spawn_now_ns() - t0) / 1e6);
	return rc;
}

/* The pid namespace of a TARGET container: /proc/<pid>/ns/pid of a running
 * container of the same pod. */
static int target_pid_ns(struct ctr_mgr *m, struct container *c, char **out, ocid_error **err)
{
	*out = NULL;
	const Runtime__V1__LinuxContainerConfig *lc = c->config->linux;
	const Runtime__V1__NamespaceOption *o =
		lc && lc->security_context ? lc->security_context->namespace_options : NULL;
	if (o == NULL || o->pid != RUNTIME__V1__NAMESPACE_MODE__TARGET)
		return 0;
	struct container *t;
	if (o->target_id == NULL || *o->target_id == '\0')
		return err_set(err, GRPC_INVALID_ARGUMENT, "namespace_options.pid is TARGET but target_id is empty");
	if (ctr_get(m, o->target_id, &t, err) < 0)
		return err_prefix(err, "namespace_options.target_id");
	pthread_mutex_lock(&m->mu);
	int pid = t->state == ROW_CTR_RUNNING || t->state == ROW_CTR_CREATED ? t->pid : 0;
	pthread_mutex_unlock(&m->mu);
	bool same_pod = strcmp(t->pod_id, c->pod_id) == 0;
	container_unref(t);
	if (!same_pod)
		return err_set(err, GRPC_INVALID_ARGUMENT, "target container %s is in another pod", o->target_id);
	if (pid <= 0)
		return err_set(err, GRPC_FAILED_PRECONDITION, "target container %s is not running", o->target_id);
	*out = xasprintf("/proc/%d/ns/pid", pid);
	return 0;
}

/* The user the spec resolved, from process.user. */
static void take_user(struct container *c, const json_t *spec)
{
	json_t *u = json_object_get(json_object_get(spec, "process"), "user");
	c->uid = (uint32_t)json_integer_value(json_object_get(u, "uid"));
	c->gid = (uint32_t)json_integer_value(json_object_get(u, "gid"));
	json_t *g = json_object_get(u, "additionalGids");
	size_t n = json_array_size(g);
	free(c->groups);
	c->groups = n ? xcalloc(n, sizeof(*c->groups)) : NULL;
	for (size_t i = 0; i < n; i++)
		c->groups[i] = json_integer_value(json_array_get(g, i));
	c->n_groups = n;
}

/* The name to report for the image: what the request said, except that an
 * image id is reported as the image's first repo tag (as cri-o does; kubelet
 * creates containers by image id). */
static char *image_display_name(const char *spec, const struct image_record *img)
{
	const char *hex = strncmp(spec, "sha256:", 7) == 0 ? spec + 7 : spec;
	const char *id_hex = strncmp(img->id, "sha256:", 7) == 0 ? img->id + 7 : img->id;
	bool by_id = strlen(hex) >= 3 && strncmp(id_hex, hex, strlen(hex)) == 0;
	if (by_id && img->n_tags > 0)
		return xstrdup(img->tags[0]);
	return xstrdup(spec);
}

/* Ours, in the container's fresh directory (a pooled one has it already). */
static int write_termination_file(const struct container *c, ocid_error **err)
{
	int fd = open(c->term_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return err_set_errno(err, GRPC_INTERNAL, errno, "create %s", c->term_path);
	/* writable by the container's user */
	int rc = fchown(fd, c->uid, c->gid);
	close(fd);
	if (rc < 0)
		return err_set_errno(err, GRPC_INTERNAL, errno, "chown %s", c->term_path);
	return 0;
}

static int make_log_dir(const char *log_path, ocid_error **err)
{
	cleanup_free char *copy = xstrdup(log_path);
	const char *dir = dirname(copy);
	if (fs_mkdir_p(dir, 0755, err) < 0)
		return err_prefix(err, "log directory");
	return 0;
}

int ctr_create(struct ctr_mgr *m, const char *pod_id, const Runtime__V1__ContainerConfig *config,
	       const struct ctr_call *call, char **id_out, ocid_error **err)
{
	*id_out = NULL;
	if (config == NULL)
		return err_set(err, GRPC_INVALID_ARGUMENT, "config is required");
	if (config->metadata == NULL || config->metadata->name == NULL || config->metadata->name[0] == '\0')
		return err_set(err, GRPC_INVALID_ARGUMENT, "config.metadata.name is required");
	if (config->image == NULL || config->image->image == NULL || config->image->image[0] == '\0')
		return err_set(err, GRPC_INVALID_ARGUMENT, "config.image.image is required");
	if (pod_id == NULL || *pod_id == '\0')
		return err_set(err, GRPC_INVALID_ARGUMENT, "pod_sandbox_id is required");

	struct sandbox *sb = NULL;
	if (sandbox_get(m->sandboxes, pod_id, &sb, err) < 0)
		return -1;
	if (sandbox_use_begin(sb, err) < 0) {
		sandbox_unref(sb);
		return err_prefix(err, "create container in pod %s", pod_id);
	}

	int64_t t0 = spawn_now_ns();
	dir_pool_busy(m->pool, true);
	struct container *c = container_alloc(m);
	struct image_record *img = NULL;
	struct image_config *icfg = NULL;
	struct spec_result spec = {0};
	char *target_pid = NULL, *volumes_dir = NULL, *text = NULL, *cfg_path = NULL, *holder_id = NULL;
	bool reserved = false, held = false, row = false, files = false, created = false, pooled = false, warm = false;
	int rc = -1;

	if (ctr_new_id(c->id, err) < 0)
		goto fail;
	c->pod_id = xstrdup(sandbox_id(sb));
	c->config = ctr_pb_dup(&config->base);
	c->name = xstrdup(config->metadata->name);
	c->attempt = config->metadata->attempt;
	c->runtime = xstrdup(sandbox_runtime_name(sb));
	c->created_at = now_ns();
	c->state = ROW_CTR_CREATING;
	ctr_set_paths(m, c);
	if (ctr_runtime_handler(m->rt, c->runtime) == NULL) {
		err_set(err, GRPC_FAILED_PRECONDITION, "pod %s uses runtime handler \"%s\", which is not configured",
			c->pod_id, c->runtime);
		goto fail;
	}

	/* name */
	c->reservation = ctr_reservation_key(c->name, sandbox_name(sb), sandbox_namespace(sb), sandbox_uid(sb),
					     c->attempt);
	pthread_mutex_lock(&m->mu);
	const char *holder = ctr_reserve_locked(m, c->reservation, c->id);
	holder_id = holder ? xstrdup(holder) : NULL;
	pthread_mutex_unlock(&m->mu);
	if (holder_id) {
		err_set(err, GRPC_ALREADY_EXISTS, "container name \"%s\" (attempt %u) in pod %s is reserved for %s",
			c->name, c->attempt, c->pod_id, holder_id);
		goto fail;
	}
	reserved = true;

	/* image */
	if (image_lookup(m->store, m->cfg->image.registries, config->image->image, &img, err) < 0)
		goto fail;
	if (img == NULL) {
		err_set(err, GRPC_NOT_FOUND, "image \"%s\" not found", config->image->image);
		goto fail;
	}
	if (store_image_hold(m->store, img->id, err) < 0)
		goto fail;
	held = true;
	c->image_id = xstrdup(img->id);
	c->image_name = image_display_name(config->image->image, img);
	/* a rootfs mounted ahead for this image: the container takes its id */
	char warm_id[CTR_ID_LEN + 1];
	if (ctr_warm_take(m, img->id, warm_id)) {
		pthread_mutex_lock(&m->mu);
		ctr_reservation_move_locked(m, c->reservation, c->id, warm_id);
		pthread_mutex_unlock(&m->mu);
		memcpy(c->id, warm_id, sizeof(warm_id));
		ctr_set_paths(m, c);
		warm = files = true;
	}
	if (image_config_parse(img->config, strlen(img->config), &icfg, err) < 0) {
		err_prefix(err, "config of image %s", img->id);
		goto fail;
	}
	if (icfg->stop_signal && *icfg->stop_signal) {
		c->stop_signal = oci_signal_parse(icfg->stop_signal);
		if (c->stop_signal <= 0) {
			log_warn("unknown image STOPSIGNAL, using SIGTERM", "image=%s signal=\"%s\"", img->id,
				 icfg->stop_signal);
			c->stop_signal = 0;
		}
	}
	if (log_path_of(m, sb, c, err) < 0)
		goto fail;
	const char *term_ctr_path;
	bool term_ours;
	term_path_of(c, &term_ctr_path, &term_ours);
	const Runtime__V1__LinuxContainerConfig *lc = config->linux;
	const Runtime__V1__NamespaceOption *nso =
		lc && lc->security_context && lc->security_context->namespace_options
			? lc->security_context->namespace_options
			: NULL;
	if (nso == NULL) {
		const Runtime__V1__PodSandboxConfig *pc = sandbox_config(sb);
		if (pc && pc->linux && pc->linux->security_context)
			nso = pc->linux->security_context->namespace_options;
	}
	c->kill_all = nso && nso->pid != RUNTIME__V1__NAMESPACE_MODE__CONTAINER;
	if (target_pid_ns(m, c, &target_pid, err) < 0)
		goto fail;

	int64_t t_prep = spawn_now_ns();
	/* the row first: from here on a crash is cleaned up by recovery */
	if (ctr_db_insert(m, c, err) < 0)
		goto fail;
	row = true;
	files = true;
	int64_t t_row = spawn_now_ns();
	if (!warm && ctr_make_dirs(m, c->dir, c->bundle, &pooled, err) < 0)
		goto fail;
	int64_t t_dirs = spawn_now_ns();
	if (!warm && mount_rootfs(m, c, img, err) < 0)
		goto fail;
	int64_t t_mount = spawn_now_ns();

	/* config.json */
	struct spec_image si = {
		.entrypoint = icfg->entrypoint,
		.cmd = icfg->cmd,
		.env = icfg->env,
		.working_dir = icfg->working_dir,
		.user = icfg->user,
		.volumes = icfg->volumes,
		.name = c->image_name,
	};
	volumes_dir = xasprintf("%s/volumes", c->dir);
	struct spec_input in = {
		.container_id = c->id,
		.sandbox_id = c->pod_id,
		.ctr = c->config,
		.pod = sandbox_config(sb),
		.image = &si,
		.rtcfg = &m->cfg->runtime,
		.host = &m->host,
		.rootfs = c->rootfs,
		.sandbox_dir = sandbox_dir(sb),
		.shm_path = sandbox_shm_path(sb),
		.volumes_dir = volumes_dir,
		.net = {.path = sandbox_ns_path(sb, POD_NS_NET), .host = sandbox_host_network(sb)},
		.ipc = {.path = sandbox_ns_path(sb, POD_NS_IPC), .host = sandbox_host_ipc(sb)},
		.uts = {.path = sandbox_ns_path(sb, POD_NS_UTS), .host = sandbox_host_network(sb)},
		.pod_pid = sandbox_ns_path(sb, POD_NS_PID),
		.target_pid = target_pid,
		.cgroup_parent = sandbox_cgroup_path(sb),
		.termination_message_host_path = term_ours ? c->term_path : NULL,
		.termination_message_path = term_ctr_path,
	};
	if (spec_build(&in, &spec, err) < 0)
		goto fail;
	int64_t t_spec = spawn_now_ns();
	take_user(c, spec.config);
	if (spec.n_volumes && (mkdir(volumes_dir, 0755) < 0 || spec_volumes_create(&spec, err) < 0)) {
		if (err && *err == NULL)
			err_set_errno(err, GRPC_INTERNAL, errno, "create %s", volumes_dir);
		goto fail;
	}
	if (term_ours && write_termination_file(c, err) < 0)
		goto fail;
	text = spec_dumps(spec.config, err);
	if (text == NULL)
		goto fail;
	cfg_path = xasprintf("%s/config.json", c->bundle);
	/* runroot is volatile (a reboot empties it): no fsync needed */
	if (fs_write_atomic_volatile(cfg_path, text, strlen(text), 0600, err) < 0)
		goto fail;
	if (make_log_dir(c->log_path, err) < 0)
		goto fail;

	int64_t t_files = spawn_now_ns();
	/* conmon + runtime create */
	struct ctr_create_params cp = {
		.ref = {.id = c->id, .runtime = c->runtime, .bundle = c->bundle},
		.name = c->name,
		.log_path = c->log_path,
		.terminal = config->tty,
		.stdin = config->stdin,
		.stdin_once = config->stdin_once,
		.deadline_ns = call ? call->deadline_ns : 0,
	};
	struct conmon_created cc;
	if (ctr_runtime_create(m->rt, &cp, &cc, err) < 0)
		goto fail;
	created = true;
	int64_t t_conmon = spawn_now_ns();
	c->pid = cc.pid;
	c->state = ROW_CTR_CREATED;
	if (ctr_db_update(m, c, err) < 0)
		goto fail;

	pthread_mutex_lock(&m->mu);
	ctr_index_add_locked(m, c);
	pthread_mutex_unlock(&m->mu);
	int64_t t_end = spawn_now_ns();
	log_info("container created", "container=%s pod=%s name=%s image=%s runtime=%s ms=%.1f", c->id, c->pod_id,
		 c->name, c->image_id, c->runtime, (double)(t_end - t0) / 1e6);
	log_debug("container create steps", "container=%s prepare_ms=%.2f row_ms=%.2f dirs_ms=%.2f rootfs_ms=%.2f "
		  "spec_ms=%.2f files_ms=%.2f conmon_ms=%.2f record_ms=%.2f dirs=%s", c->id, (double)(t_prep - t0) / 1e6,
		  (double)(t_row - t_prep) / 1e6, (double)(t_dirs - t_row) / 1e6, (double)(t_mount - t_dirs) / 1e6,
		  (double)(t_spec - t_mount) / 1e6,
		  (double)(t_files - t_spec) / 1e6, (double)(t_conmon - t_files) / 1e6,
		  (double)(t_end - t_conmon) / 1e6, warm ? "warm" : pooled ? "ready" : "made");
	*id_out = xstrdup(c->id);
	rc = 0;
	goto out;

fail:
	if (files) {
		ctr_teardown_files(m, c, created);
		remove_empty_log(c->log_path);
	}
	if (row) {
		cleanup_err ocid_error *e = NULL;
		if (ctr_db_delete(m, c->id, &e) < 0)
			ctr_warn("cannot delete the record of a failed create", c->id, e);
	}
	if (held)
		store_image_release(m->store, c->image_id);
	if (reserved) {
		pthread_mutex_lock(&m->mu);
		ctr_release_locked(m, c->reservation, c->id);
		pthread_mutex_unlock(&m->mu);
	}
out:
	sandbox_use_end(sb);
	sandbox_unref(sb);
	dir_pool_busy(m->pool, false);
	container_unref(c);
	spec_result_free(&spec);
	image_config_free(icfg);
	image_record_free(img);
	free(target_pid);
	free(volumes_dir);
	free(text);
	free(cfg_path);
	free(holder_id);
	return rc;
}
