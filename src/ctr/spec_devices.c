/* Devices: the CRI's (a device node, or a directory of them), found by stat
 * on the host, created in the container and allowed in the device cgroup;
 * the device cgroup denies everything else but the standard set (null,
 * zero, full, random, urandom, tty, console, ptmx, pts, and mknod of any
 * node). A privileged container gets every host device and no device
 * restriction. */
#include "ctr/spec_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "util/cleanup.h"
#include "util/xalloc.h"

#define DEV_WALK_DEPTH 8
#define DEV_MAX 8192

struct dev_list {
	json_t *devices; /* linux.devices */
	json_t *rules;   /* linux.resources.devices */
	size_t n;
};

static bool listed(const struct dev_list *l, const char *path)
{
	size_t i;
	json_t *d;
	json_array_foreach(l->devices, i, d)
		if (strcmp(json_string_value(json_object_get(d, "path")), path) == 0)
			return true;
	return false;
}

static json_t *rule(bool allow, const char *type, int64_t major, int64_t minor,
		    const char *access)
{
	json_t *r = json_object();
	spec_json_set(r, "allow", json_boolean(allow));
	if (type)
		spec_json_set(r, "type", json_string(type));
	if (major >= 0)
		spec_json_set(r, "major", json_integer(major));
	if (minor >= 0)
		spec_json_set(r, "minor", json_integer(minor));
	spec_json_set(r, "access", json_string(access));
	return r;
}

/* Adds the node st at container path dest; a rule too when access. */
static int add_node(struct dev_list *l, const char *dest, const struct stat *st,
		    const char *access, ocid_error **err)
{
	if (listed(l, dest))
		return 0;
	if (l->n >= DEV_MAX)
		return err_set(err, GRPC_INVALID_ARGUMENT, "more than %d devices", DEV_MAX);
	const char *type = S_ISCHR(st->st_mode) ? "c" : "b";
	json_t *d = json_object();
	spec_json_set(d, "path", spec_json_str(dest));
	spec_json_set(d, "type", json_string(type));
	spec_json_set(d, "major", json_integer(major(st->st_rdev)));
	spec_json_set(d, "minor", json_integer(minor(st->st_rdev)));
	spec_json_set(d, "fileMode", json_integer(st->st_mode & 07777));
	spec_json_set(d, "uid", json_integer(st->st_uid));
	spec_json_set(d, "gid", json_integer(st->st_gid));
	spec_json_append(l->devices, d);
	l->n++;
	if (access)
		spec_json_append(l->rules,
				 rule(true, type, major(st->st_rdev), minor(st->st_rdev), access));
	return 0;
}

static bool skip_dir(const char *name)
{
	static const char *const skip[] = {"pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts",
					   ".udev"};
	for (size_t i = 0; i < sizeof(skip) / sizeof(skip[0]); i++)
		if (strcmp(name, skip[i]) == 0)
			return true;
	return false;
}

/* Every device node below host dir (not following symlinks), mapped to
 * dest + the relative path. host_tree: skip the directories that hold
 * per-instance nodes (pts, shm...), as for a privileged container's /dev. */
static int walk(struct dev_list *l, int dirfd, const char *host, const char *dest,
		const char *access, bool host_tree, int depth, ocid_error **err)
{
	if (depth > DEV_WALK_DEPTH)
		return 0;
	int fd = dup(dirfd);
	if (fd < 0)
		return err_set_errno(err, GRPC_INTERNAL, errno, "dup");
	DIR *d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return err_set_errno(err, GRPC_INTERNAL, errno, "read directory %s", host);
	}
	int rc = 0;
	struct dirent *e;
	while (rc == 0 && (e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		struct stat st;
		if (fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue; /* gone meanwhile */
		cleanup_free char *h = xasprintf("%s/%s", host, e->d_name);
		cleanup_free char *c = xasprintf("%s/%s", dest, e->d_name);
		if (S_ISDIR(st.st_mode)) {
			if (host_tree && skip_dir(e->d_name))
				continue;
			cleanup_close int sub = openat(dirfd, e->d_name,
						       O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub >= 0)
				rc = walk(l, sub, h, c, access, host_tree, depth + 1, err);
		} else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
			if (host_tree && strcmp(e->d_name, "console") == 0 && depth == 0)
				continue;
			rc = add_node(l, c, &st, access, err);
		}
	}
	closedir(d);
	return rc;
}

static bool perms_valid(const char *p)
{
	if (*p == '\0' || strlen(p) > 3)
		return false;
	for (const char *c = p; *c; c++)
		if ((*c != 'r' && *c != 'w' && *c != 'm') || strchr(c + 1, *c))
			return false;
	return true;
}

static int add_cri_devices(const struct spec_ctx *ctx, struct dev_list *l, ocid_error **err)
{
	const Runtime__V1__ContainerConfig *c = ctx->in->ctr;
	for (size_t i = 0; i < c->n_devices; i++) {
		const Runtime__V1__Device *d = c->devices[i];
		if (d == NULL)
			continue;
		cleanup_free char *dest = spec_path_clean(d->container_path);
		if (dest == NULL || strcmp(dest, "/") == 0)
			return err_set(err, GRPC_INVALID_ARGUMENT,
				       "devices[%zu].container_path: \"%s\" is not an absolute path",
				       i, d->container_path ? d->container_path : "");
		if (d->host_path == NULL || d->host_path[0] != '/')
			return err_set(err, GRPC_INVALID_ARGUMENT,
				       "devices[%zu].host_path: \"%s\" is not an absolute path", i,
				       d->host_path ? d->host_path : "");
		const char *perms = d->permissions && *d->permissions ? d->permissions : "rwm";
		if (!perms_valid(perms))
			return err_set(err, GRPC_INVALID_ARGUMENT,
				       "devices[%zu].permissions: \"%s\" is not a combination of "
				       "r, w and m",
				       i, perms);
		struct stat st;
		if (stat(d->host_path, &st) < 0)
			return err_set_errno(err,
					     errno == ENOENT || errno == ENOTDIR
						     ? GRPC_INVALID_ARGUMENT
						     : GRPC_INTERNAL,
					     errno, "devices[%zu].host_path %s", i, d->host_path);
		if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
			if (add_node(l, dest, &st, perms, err) < 0)
				return -1;
		} else if (S_ISDIR(st.st_mode)) {
			cleanup_close int fd =
				open(d->host_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (fd < 0)
				return err_set_errno(err, GRPC_INTERNAL, errno,
						     "devices[%zu].host_path %s", i, d->host_path);
			if (walk(l, fd, d->host_path, dest, perms, false, 0, err) < 0)
				return err_prefix(err, "devices[%zu]", i);
		} else {
			return err_set(err, GRPC_INVALID_ARGUMENT,
				       "devices[%zu].host_path: %s is not a device or a directory",
				       i, d->host_path);
		}
	}
	return 0;
}

int spec_devices_build(const struct spec_ctx *ctx, json_t *linux_obj, json_t *resources,
		       ocid_error **err)
{
	struct dev_list l = {.devices = json_array(), .rules = json_array()};
	spec_json_set(linux_obj, "devices", l.devices);
	spec_json_set(resources, "devices", l.rules);
	if (ctx->privileged) {
		spec_json_append(l.rules, rule(true, NULL, -1, -1, "rwm"));
		if (add_cri_devices(ctx, &l, err) < 0)
			return -1;
		const char *dev = ctx->in->host->dev_dir[0] ? ctx->in->host->dev_dir : "/dev";
		cleanup_close int fd = open(dev, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			return err_set_errno(err, GRPC_INTERNAL, errno, "open %s", dev);
		return walk(&l, fd, dev, "/dev", NULL, true, 0, err);
	}
	spec_json_append(l.rules, rule(false, NULL, -1, -1, "rwm"));
	spec_json_append(l.rules, rule(true, "c", -1, -1, "m"));
	spec_json_append(l.rules, rule(true, "b", -1, -1, "m"));
	static const struct {
		int major, minor;
	} std[] = {
		{1, 3}, /* null */    {1, 5}, /* zero */    {1, 7}, /* full */
		{1, 8}, /* random */  {1, 9}, /* urandom */ {5, 0}, /* tty */
		{5, 1}, /* console */ {5, 2}, /* ptmx */    {136, -1}, /* pts/N */
	};
	for (size_t i = 0; i < sizeof(std) / sizeof(std[0]); i++)
		spec_json_append(l.rules, rule(true, "c", std[i].major, std[i].minor, "rwm"));
	return add_cri_devices(ctx, &l, err);
}
