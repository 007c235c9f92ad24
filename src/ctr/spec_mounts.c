/* Mounts: the system ones every container gets, the pod's files, the CRI
 * mounts and the image's VOLUMEs, ordered so that a parent is always
 * mounted before what lies below it; masked and read-only paths; the root's
 * propagation.
 *
 * A CRI mount replaces a system mount at the same destination (the kubelet
 * mounts its own /etc/hosts and termination-log). A CRI mount source must
 * exist (it is resolved to its real path); its propagation needs the source
 * to be on a mount that propagates (shared for BIDIRECTIONAL, shared or
 * slave for HOST_TO_CONTAINER), as cri-o and containerd require. */
#include "ctr/spec_internal.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/cleanup.h"
#include "util/log.h"
#include "util/xalloc.h"

char *spec_path_clean(const char *path)
{
	if (path == NULL || path[0] != '/')
		return NULL;
	size_t len = strlen(path);
	char *out = xmalloc(len + 2);
	size_t o = 0;
	const char *p = path;
	while (*p) {
		while (*p == '/')
			p++;
		if (*p == '\0')
			break;
		const char *end = strchrnul(p, '/');
		size_t n = (size_t)(end - p);
		if (n == 1 && p[0] == '.') {
			/* nothing */
		} else if (n == 2 && p[0] == '.' && p[1] == '.') {
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--; /* the '/' before the dropped component */
		} else {
			out[o++] = '/';
			memcpy(out + o, p, n);
			o += n;
		}
		p = end;
	}
	if (o == 0)
		out[o++] = '/';
	out[o] = '\0';
	return out;
}

static size_t path_depth(const char *p)
{
	size_t d = 0;
	for (const char *c = p; *c; c++)
		if (*c == '/' && c[1] != '\0')
			d++;
	return d;
}

/* ---- the mount list ---- */

enum origin { M_SYSTEM, M_CRI, M_VOLUME };

struct mnt {
	char *dest;
	const char *type;
	char *source;
	const char *const *opts;
	bool ro; /* appends "ro" */
	enum origin origin;
};

struct mnt_list {
	struct mnt *m;
	size_t n;
};

static void add_mount(struct mnt_list *l, const char *dest, const char *type,
		      const char *source, const char *const *opts, bool ro, enum origin origin)
{
	l->m = xrealloc(l->m, (l->n + 1) * sizeof(*l->m));
	l->m[l->n++] = (struct mnt){
		.dest = xstrdup(dest),
		.type = type,
		.source = xstrdup(source),
		.opts = opts,
		.ro = ro,
		.origin = origin,
	};
}

static void mnt_list_free(struct mnt_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->m[i].dest);
		free(l->m[i].source);
	}
	free(l->m);
}

static bool has_dest(const struct mnt_list *l, const char *dest)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->m[i].dest, dest) == 0)
			return true;
	return false;
}

/* Option lists (file scope: struct mnt keeps pointers to them). */
static const char *const opt_proc[] = {"nosuid", "noexec", "nodev", NULL};
static const char *const opt_dev[] = {"nosuid", "strictatime", "mode=755", "size=65536k", NULL};
static const char *const opt_devpts[] = {"nosuid", "noexec", "newinstance", "ptmxmode=0666",
					 "mode=0620", "gid=5", NULL};
static const char *const opt_shm[] = {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k",
				      NULL};
static const char *const opt_bind_nosuid[] = {"rbind", "rprivate", "nosuid", "noexec", "nodev",
					       NULL};
static const char *const opt_cgroup[] = {"nosuid", "noexec", "nodev", "relatime", NULL};
static const char *const opt_bind_private[] = {"rbind", "rprivate", NULL};
static const char *const opt_bind_slave[] = {"rbind", "rslave", NULL};
static const char *const opt_bind_shared[] = {"rbind", "rshared", NULL};

/* ---- propagation of a CRI mount's source ---- */

/* The optional fields ("shared:1 master:2") of the mount holding path:
 * the mountinfo entry with the longest mount point that is a prefix of
 * path (the last such one, as later mounts cover earlier ones). */
static char *mount_propagation_of(const char *mountinfo, const char *path)
{
	size_t best_len = 0;
	char *best = NULL;
	const char *line = mountinfo;
	while (line && *line) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		cleanup_free char *copy = xmalloc(len + 1);
		memcpy(copy, line, len);
		copy[len] = '\0';
		char *f[16];
		size_t n = 0;
		char *save = NULL;
		for (char *t = strtok_r(copy, " ", &save); t && n < 16;
		     t = strtok_r(NULL, " ", &save))
			f[n++] = t;
		/* id parent maj:min root mountpoint options [optional...] - fstype */
		if (n >= 7) {
			char *mp = f[4];
			/* mountinfo escapes spaces as \040: compare only
			 * unescaped mount points (others are skipped) */
			size_t ml = strlen(mp);
			bool prefix = strcmp(mp, "/") == 0 ||
				      (strncmp(path, mp, ml) == 0 &&
				       (path[ml] == '/' || path[ml] == '\0'));
			if (prefix && !strchr(mp, '\\') && (ml >= best_len)) {
				best_len = ml;
				size_t cap = 1;
				for (size_t i = 6; i < n && strcmp(f[i], "-") != 0; i++)
					cap += strlen(f[i]) + 1;
				free(best);
				best = xmalloc(cap);
				best[0] = '\0';
				for (size_t i = 6; i < n && strcmp(f[i], "-") != 0; i++) {
					if (best[0])
						strcat(best, " ");
					strcat(best, f[i]);
				}
			}
		}
		line = nl ? nl + 1 : NULL;
	}
	return best;
}

static int check_propagation(const char *mountinfo, const char *source, bool need_shared,
			     size_t i, ocid_error **err)
{
	cleanup_free char *opt = mount_propagation_of(mountinfo, source);
	bool shared = opt && strstr(opt, "shared:");
	bool slave = opt && strstr(opt, "master:");
	if (shared || (!need_shared && slave))
		return 0;
	return err_set(err, GRPC_FAILED_PRECONDITION,
		       "mounts[%zu]: propagation %s needs %s to be on a %s mount, but its mount "
		       "is %s",
		       i, need_shared ? "BIDIRECTIONAL" : "HOST_TO_CONTAINER", source,
		       need_shared ? "shared" : "shared or slave", slave ? "a slave" : "private");
}

static char *read_mountinfo(ocid_error **err)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (f == NULL) {
		err_set_errno(err, GRPC_INTERNAL, errno, "open /proc/self/mountinfo");
		return NULL;
	}
	char *buf = NULL;
	size_t cap = 0;
	FILE *mem = open_memstream(&buf, &cap);
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		fwrite(chunk, 1, n, mem);
	fclose(f);
	fclose(mem);
	return buf;
}

/* ---- CRI mounts ---- */

static int add_cri_mounts(const struct spec_ctx *ctx, struct mnt_list *l, int *propagation,
			  ocid_error **err)
{
	const Runtime__V1__ContainerConfig *c = ctx->in->ctr;
	cleanup_free char *mountinfo = NULL;
	for (size_t i = 0; i < c->n_mounts; i++) {
		const Runtime__V1__Mount *m = c->mounts[i];
		if (m == NULL)
			continue;
		cleanup_free char *dest = spec_path_clean(m->container_path);
		if (dest == NULL)
			return err_set(err, GRPC_INVALID_ARGUMENT,
				       "mounts[%zu].container_path: \"%s\" is not an absolute path",
				       i, m->container_path ? m->container_path : "");
		if (strcmp(dest, "/") == 0)
			return err_set(err, GRPC_INVALID_ARGUMENT,
				       "mounts[%zu].container_path: cannot mount over \"/\"", i);
		if (has_dest(l, dest))
			return err_set(err, GRPC_INVALID_ARGUMENT,
				       "mounts[%zu].container_path: %s is mounted twice", i, dest);
		if (m->image && m->image->image && *m->image->image)
			return err_set(err, GRPC_INVALID_ARGUMENT,
				       "mounts[%zu].image: image volumes are not supported", i);
		if (m->n_uidmappings || m->n_gidmappings)
			return err_set(err, GRPC_INVALID_ARGUMENT,
				       "mounts[%zu]: id-mapped mounts are not supported", i);
		if (m->recursive_read_only)
			return err_set(err, GRPC_INVALID_ARGUMENT,
				       "mounts[%zu].recursive_read_only: not supported by this "
				       "runtime",
				       i);
		if (m->host_path == NULL || *m->host_path == '\0')
			return err_set(err, GRPC_INVALID_ARGUMENT, "mounts[%zu].host_path is empty",
				       i);
		if (m->host_path[0] != '/')
			return err_set(err, GRPC_INVALID_ARGUMENT,
				       "mounts[%zu].host_path: \"%s\" is not an absolute path", i,
				       m->host_path);
		cleanup_free char *src = realpath(m->host_path, NULL);
		if (src == NULL)
			return err_set_errno(err,
					     errno == ENOENT || errno == ENOTDIR
						     ? GRPC_INVALID_ARGUMENT
						     : GRPC_INTERNAL,
					     errno, "mounts[%zu].host_path %s", i, m->host_path);
		const char *const *opts;
		switch (m->propagation) {
		case RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_PRIVATE:
			opts = opt_bind_private;
			break;
		case RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_HOST_TO_CONTAINER:
		case RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_BIDIRECTIONAL: {
			bool shared = m->propagation ==
				      RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_BIDIRECTIONAL;
			if (mountinfo == NULL && (mountinfo = read_mountinfo(err)) == NULL)
				return -1;
			if (check_propagation(mountinfo, src, shared, i, err) < 0)
				return -1;
			opts = shared ? opt_bind_shared : opt_bind_slave;
			if (*propagation < (shared ? 2 : 1))
				*propagation = shared ? 2 : 1;
			break;
		}
		default:
			return err_set(err, GRPC_INVALID_ARGUMENT,
				       "mounts[%zu].propagation: unknown value %d", i,
				       (int)m->propagation);
		}
		add_mount(l, dest, "bind", src, opts, m->readonly, M_CRI);
	}
	return 0;
}

/* ---- system mounts ---- */

static bool file_exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

static void add_system(struct mnt_list *l, const char *dest, const char *type,
		       const char *source, const char *const *opts, bool ro)
{
	if (!has_dest(l, dest))
		add_mount(l, dest, type, source, opts, ro, M_SYSTEM);
}

static void add_system_mounts(const struct spec_ctx *ctx, struct mnt_list *l)
{
	const struct spec_input *in = ctx->in;
	add_system(l, "/proc", "proc", "proc", opt_proc, false);
	add_system(l, "/dev", "tmpfs", "tmpfs", opt_dev, false);
	add_system(l, "/dev/pts", "devpts", "devpts", opt_devpts, false);
	if (in->shm_path)
		add_system(l, "/dev/shm", "bind", in->shm_path, opt_bind_nosuid, false);
	else
		add_system(l, "/dev/shm", "tmpfs", "shm", opt_shm, false);
	/* The host's message queues with the host's IPC namespace (when the
	 * host has them mounted), a fresh mqueue otherwise. */
	if (in->ipc.host) {
		if (file_exists("/dev/mqueue"))
			add_system(l, "/dev/mqueue", "bind", "/dev/mqueue", opt_bind_nosuid, false);
	} else
		add_system(l, "/dev/mqueue", "mqueue", "mqueue", opt_proc, false);
	add_system(l, "/sys", "sysfs", "sysfs", opt_proc, !ctx->privileged);
	add_system(l, "/sys/fs/cgroup", "cgroup", "cgroup", opt_cgroup, !ctx->privileged);
	if (in->sandbox_dir) {
		static const char *const files[] = {"resolv.conf", "hostname", "hosts"};
		for (size_t i = 0; i < 3; i++) {
			cleanup_free char *src = xasprintf("%s/%s", in->sandbox_dir, files[i]);
			cleanup_free char *dest = xasprintf("/etc/%s", files[i]);
			if (!file_exists(src)) {
				log_debug("pod file missing, not mounted", "path=%s", src);
				continue;
			}
			add_system(l, dest, "bind", src, opt_bind_nosuid, ctx->readonly_rootfs);
		}
	}
	if (in->termination_message_host_path) {
		const char *p = in->termination_message_path ? in->termination_message_path
							     : SPEC_TERMINATION_MESSAGE_PATH;
		cleanup_free char *dest = spec_path_clean(p);
		if (dest && strcmp(dest, "/") != 0)
			add_system(l, dest, "bind", in->termination_message_host_path,
				   opt_bind_private, false);
	}
}

/* ---- image volumes ---- */

static int add_volumes(const struct spec_ctx *ctx, struct mnt_list *l, struct spec_result *out)
{
	const struct spec_input *in = ctx->in;
	if (in->volumes_dir == NULL || in->image == NULL || in->image->volumes == NULL)
		return 0;
	for (size_t i = 0; in->image->volumes[i]; i++) {
		const char *v = in->image->volumes[i];
		/* Docker takes a relative VOLUME from "/". */
		cleanup_free char *abs = xasprintf("/%s", v);
		cleanup_free char *dest = spec_path_clean(abs);
		if (dest == NULL || strcmp(dest, "/") == 0) {
			log_warn("image volume ignored", "volume=\"%s\"", v);
			continue;
		}
		if (has_dest(l, dest))
			continue;
		/* "<n>-var_lib_data": the index keeps names unique. */
		char name[96];
		int len = snprintf(name, sizeof(name), "%zu-%s", out->n_volumes, dest + 1);
		if (len < 0)
			continue;
		for (char *c = name; *c; c++)
			if (*c == '/' || !((unsigned char)*c > 0x20 && (unsigned char)*c < 0x7f))
				*c = '_';
		cleanup_free char *host = xasprintf("%s/%s", in->volumes_dir, name);
		out->volumes = xrealloc(out->volumes, (out->n_volumes + 1) * sizeof(*out->volumes));
		out->volumes[out->n_volumes++] = (struct spec_volume){
			.host_path = xstrdup(host),
			.container_path = xstrdup(dest),
			.uid = ctx->uid,
			.gid = ctx->gid,
		};
		add_mount(l, dest, "bind", host, opt_bind_private, false, M_VOLUME);
	}
	return 0;
}

/* ---- masked and read-only paths ---- */

static const char *const default_masked[] = {
	"/proc/acpi",         "/proc/kcore",       "/proc/keys",
	"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
	"/proc/sched_debug",  "/proc/scsi",        "/sys/firmware",
	"/sys/devices/virtual/powercap", NULL,
};
static const char *const default_readonly[] = {
	"/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
	NULL,
};

static int path_list(const char *field, char *const *cri, size_t n, const char *const *defaults,
		     json_t **out, ocid_error **err)
{
	json_t *a = json_array();
	if (n == 0) {
		for (size_t i = 0; defaults[i]; i++)
			spec_json_append(a, json_string(defaults[i]));
		*out = a;
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		if (cri[i] == NULL || cri[i][0] != '/') {
			json_decref(a);
			return err_set(err, GRPC_INVALID_ARGUMENT,
				       "linux.security_context.%s[%zu]: \"%s\" is not an absolute "
				       "path",
				       field, i, cri[i] ? cri[i] : "");
		}
		spec_json_append(a, spec_json_str(cri[i]));
	}
	*out = a;
	return 0;
}

/* ---- assembly ---- */

int spec_mounts_build(const struct spec_ctx *ctx, json_t *spec, struct spec_result *out,
		      ocid_error **err)
{
	struct mnt_list l = {0};
	int propagation = 0; /* 1 = rslave, 2 = rshared */
	int rc = -1;
	if (add_cri_mounts(ctx, &l, &propagation, err) < 0)
		goto out;
	add_system_mounts(ctx, &l);
	if (add_volumes(ctx, &l, out) < 0)
		goto out;

	/* Stable insertion sort by depth: parents first, ties in order. */
	for (size_t i = 1; i < l.n; i++) {
		struct mnt t = l.m[i];
		size_t d = path_depth(t.dest), j = i;
		while (j > 0 && path_depth(l.m[j - 1].dest) > d) {
			l.m[j] = l.m[j - 1];
			j--;
		}
		l.m[j] = t;
	}
	json_t *mounts = json_array();
	spec_json_set(spec, "mounts", mounts);
	for (size_t i = 0; i < l.n; i++) {
		const struct mnt *m = &l.m[i];
		json_t *e = json_object();
		spec_json_set(e, "destination", spec_json_str(m->dest));
		spec_json_set(e, "type", json_string(m->type));
		spec_json_set(e, "source", spec_json_str(m->source));
		json_t *opts = json_array();
		for (size_t j = 0; m->opts[j]; j++)
			spec_json_append(opts, json_string(m->opts[j]));
		if (m->origin == M_CRI)
			spec_json_append(opts, json_string(m->ro ? "ro" : "rw"));
		else if (m->ro)
			spec_json_append(opts, json_string("ro"));
		spec_json_set(e, "options", opts);
		spec_json_append(mounts, e);
	}

	json_t *linux_obj = json_object_get(spec, "linux");
	if (propagation)
		spec_json_set(linux_obj, "rootfsPropagation",
			      json_string(propagation == 2 ? "rshared" : "rslave"));
	if (!ctx->privileged) {
		const Runtime__V1__LinuxContainerSecurityContext *sc = ctx->sc;
		json_t *masked = NULL, *ro = NULL;
		if (path_list("masked_paths", sc ? sc->masked_paths : NULL,
			      sc ? sc->n_masked_paths : 0, default_masked, &masked, err) < 0)
			goto out;
		spec_json_set(linux_obj, "maskedPaths", masked);
		if (path_list("readonly_paths", sc ? sc->readonly_paths : NULL,
			      sc ? sc->n_readonly_paths : 0, default_readonly, &ro, err) < 0)
			goto out;
		spec_json_set(linux_obj, "readonlyPaths", ro);
	}
	rc = 0;
out:
	mnt_list_free(&l);
	return rc;
}

int spec_volumes_create(const struct spec_result *r, ocid_error **err)
{
	for (size_t i = 0; i < r->n_volumes; i++) {
		const struct spec_volume *v = &r->volumes[i];
		if (mkdir(v->host_path, 0755) < 0) {
			if (errno != EEXIST)
				return err_set_errno(err, GRPC_INTERNAL, errno,
						     "create volume directory %s", v->host_path);
			continue;
		}
		if (chown(v->host_path, v->uid, v->gid) < 0)
			return err_set_errno(err, GRPC_INTERNAL, errno, "chown volume directory %s",
					     v->host_path);
	}
	return 0;
}
