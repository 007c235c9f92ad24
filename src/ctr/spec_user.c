/* The container's user and groups, resolved through the image's /etc/passwd
 * and /etc/group. The rootfs is untrusted: files are opened with every path
 * component resolved inside it (openat2 RESOLVE_IN_ROOT, or no symlinks at
 * all without openat2), only regular files of bounded size are read, and
 * malformed lines are skipped. */
#include "ctr/spec_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/xalloc.h"

bool spec_rootfs_no_openat2 = false;

bool spec_parse_id(const char *s, uint32_t *out)
{
	if (s == NULL || *s == '\0' || strlen(s) > 10)
		return false;
	uint64_t v = 0;
	for (const char *c = s; *c; c++) {
		if (*c < '0' || *c > '9')
			return false;
		v = v * 10 + (uint64_t)(*c - '0');
	}
	if (v > 4294967294u) /* (uid_t)-1 means "unchanged" to the kernel */
		return false;
	*out = (uint32_t)v;
	return true;
}

/* ---- opening a file inside the rootfs ---- */

static int open_in_root_openat2(int rootfd, const char *path)
{
	struct open_how how = {
		.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	int fd;
	do
		fd = (int)syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
	while (fd < 0 && errno == EAGAIN);
	return fd;
}

/* Component by component, never following a symlink or "..". */
static int open_in_root_nofollow(int rootfd, const char *path)
{
	cleanup_free char *copy = xstrdup(path);
	cleanup_close int dir = fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
	if (dir < 0)
		return -1;
	char *save = NULL;
	char *comp = strtok_r(copy, "/", &save);
	while (comp) {
		char *next = strtok_r(NULL, "/", &save);
		if (strcmp(comp, ".") == 0) {
			comp = next;
			continue;
		}
		if (strcmp(comp, "..") == 0) {
			errno = EXDEV;
			return -1;
		}
		int flags = next ? O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC
				 : O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
		int fd = openat(dir, comp, flags);
		if (fd < 0) {
			/* A symlinked directory shows as ENOTDIR with O_NOFOLLOW. */
			if (errno == ENOTDIR && next) {
				struct stat st;
				if (fstatat(dir, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
				    S_ISLNK(st.st_mode))
					errno = ELOOP;
			}
			return -1;
		}
		close(dir);
		dir = fd;
		comp = next;
	}
	return steal_fd(&dir);
}

int spec_rootfs_open(const char *rootfs, const char *path, int *out, ocid_error **err)
{
	*out = -1;
	cleanup_close int rootfd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return err_set_errno(err, GRPC_INTERNAL, errno, "open rootfs %s", rootfs);
	int fd = -1;
	bool fallback = __atomic_load_n(&spec_rootfs_no_openat2, __ATOMIC_RELAXED);
	if (!fallback) {
		fd = open_in_root_openat2(rootfd, path);
		if (fd < 0 && errno == ENOSYS) {
			__atomic_store_n(&spec_rootfs_no_openat2, true, __ATOMIC_RELAXED);
			fallback = true;
		}
	}
	if (fallback)
		fd = open_in_root_nofollow(rootfd, path);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		if (errno == ELOOP || errno == EXDEV)
			return err_set(err, GRPC_INVALID_ARGUMENT,
				       "image file %s: refusing to follow a symlink out of the "
				       "container's root",
				       path);
		return err_set_errno(err, GRPC_INTERNAL, errno, "open the image's %s", path);
	}
	cleanup_close int guard = fd;
	struct stat st;
	if (fstat(fd, &st) < 0)
		return err_set_errno(err, GRPC_INTERNAL, errno, "stat the image's %s", path);
	if (!S_ISREG(st.st_mode))
		return err_set(err, GRPC_INVALID_ARGUMENT, "image file %s is not a regular file",
			       path);
	*out = steal_fd(&guard);
	return 0;
}

/* The whole file (NUL-terminated), or *buf = NULL when it does not exist. */
static int read_etc_file(const char *rootfs, const char *path, char **buf, ocid_error **err)
{
	*buf = NULL;
	cleanup_close int fd = -1;
	if (spec_rootfs_open(rootfs, path, &fd, err) < 0)
		return -1;
	if (fd < 0)
		return 0;
	size_t cap = 4096, len = 0;
	cleanup_free char *data = xmalloc(cap + 1);
	for (;;) {
		if (len == cap) {
			if (cap >= SPEC_ETC_FILE_MAX)
				return err_set(err, GRPC_INVALID_ARGUMENT,
					       "image file %s is larger than %u bytes", path,
					       SPEC_ETC_FILE_MAX);
			cap *= 2;
			data = xrealloc(data, cap + 1);
		}
		ssize_t n = read(fd, data + len, cap - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return err_set_errno(err, GRPC_INTERNAL, errno, "read the image's %s", path);
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	data[len] = '\0';
	*buf = steal_pointer(&data);
	return 0;
}

/* Splits line at ':' into at most max fields (the last keeps the rest);
 * returns the count. */
static size_t split_fields(char *line, char **f, size_t max)
{
	size_t n = 0;
	f[n++] = line;
	for (char *c = line; *c && n < max; c++)
		if (*c == ':') {
			*c = '\0';
			f[n++] = c + 1;
		}
	return n;
}

/* Calls fn for each usable line (not empty, not a comment, not NIS "+"/"-",
 * no NUL, within SPEC_ETC_LINE_MAX); fn returns true to stop. */
static void for_each_line(char *buf, bool (*fn)(char *line, void *arg), void *arg)
{
	char *p = buf;
	while (p && *p) {
		char *nl = strchr(p, '\n');
		if (nl)
			*nl = '\0';
		size_t len = strlen(p);
		if (len > 0 && p[len - 1] == '\r')
			p[--len] = '\0';
		if (len > 0 && len <= SPEC_ETC_LINE_MAX && p[0] != '#' && p[0] != '+' &&
		    p[0] != '-' && fn(p, arg))
			return;
		p = nl ? nl + 1 : NULL;
	}
}

struct pw_query {
	const char *name; /* by name, or */
	uint32_t uid;     /* by uid when name is NULL */
	bool found;
	uint32_t out_uid, out_gid;
	char *out_name, *out_home;
};

static bool pw_match(char *line, void *arg)
{
	struct pw_query *q = arg;
	char *f[7];
	if (split_fields(line, f, 7) < 7)
		return false;
	uint32_t uid, gid;
	if (f[0][0] == '\0' || !spec_parse_id(f[2], &uid) || !spec_parse_id(f[3], &gid))
		return false;
	if (q->name ? strcmp(f[0], q->name) != 0 : uid != q->uid)
		return false;
	q->found = true;
	q->out_uid = uid;
	q->out_gid = gid;
	q->out_name = xstrdup(f[0]);
	q->out_home = xstrdup(f[5][0] == '/' ? f[5] : "/");
	return true;
}

struct gr_query {
	const char *name;   /* the group called name, or */
	const char *member; /* every group listing member */
	bool found;
	uint32_t gid;
	gid_t *gids;
	size_t n_gids;
};

static bool gr_match(char *line, void *arg)
{
	struct gr_query *q = arg;
	char *f[4];
	size_t n = split_fields(line, f, 4);
	if (n < 3)
		return false;
	uint32_t gid;
	if (f[0][0] == '\0' || !spec_parse_id(f[2], &gid))
		return false;
	if (q->name) {
		if (strcmp(f[0], q->name) != 0)
			return false;
		q->found = true;
		q->gid = gid;
		return true;
	}
	if (n < 4)
		return false;
	char *save = NULL;
	for (char *m = strtok_r(f[3], ",", &save); m; m = strtok_r(NULL, ",", &save)) {
		if (strcmp(m, q->member) == 0) {
			if (q->n_gids < 65536) {
				q->gids = xrealloc(q->gids, (q->n_gids + 1) * sizeof(gid_t));
				q->gids[q->n_gids++] = gid;
			}
			break;
		}
	}
	return false;
}

/* Lazily read /etc/passwd and /etc/group (each parse works on a copy, as
 * parsing writes into the buffer). */
struct etc_files {
	const char *rootfs;
	bool passwd_read, group_read;
	char *passwd, *group;
};

static int etc_lookup_passwd(struct etc_files *e, struct pw_query *q, ocid_error **err)
{
	if (!e->passwd_read) {
		if (read_etc_file(e->rootfs, "/etc/passwd", &e->passwd, err) < 0)
			return -1;
		e->passwd_read = true;
	}
	if (e->passwd) {
		cleanup_free char *copy = xstrdup(e->passwd);
		for_each_line(copy, pw_match, q);
	}
	return 0;
}

static int etc_lookup_group(struct etc_files *e, struct gr_query *q, ocid_error **err)
{
	if (!e->group_read) {
		if (read_etc_file(e->rootfs, "/etc/group", &e->group, err) < 0)
			return -1;
		e->group_read = true;
	}
	if (e->group) {
		cleanup_free char *copy = xstrdup(e->group);
		for_each_line(copy, gr_match, q);
	}
	return 0;
}

static void add_group(struct spec_user *u, gid_t g)
{
	for (size_t i = 0; i < u->n_groups; i++)
		if (u->groups[i] == g)
			return;
	u->groups = xrealloc(u->groups, (u->n_groups + 1) * sizeof(gid_t));
	u->groups[u->n_groups++] = g;
}

static int id_from_int64(int64_t v, const char *field, uint32_t *out, ocid_error **err)
{
	if (v < 0 || v > 4294967294LL)
		return err_set(err, GRPC_INVALID_ARGUMENT,
			       "%s: %lld is not a valid id (0..4294967294)", field, (long long)v);
	*out = (uint32_t)v;
	return 0;
}

/* Fills u from a passwd lookup by uid (an unknown uid is fine: gid 0). */
static int user_by_uid(struct etc_files *e, uint32_t uid, struct spec_user *u, ocid_error **err)
{
	struct pw_query q = {.uid = uid};
	if (etc_lookup_passwd(e, &q, err) < 0)
		return -1;
	u->uid = uid;
	u->gid = q.found ? q.out_gid : 0;
	u->name = q.out_name;
	u->home = q.found ? q.out_home : xstrdup("/");
	return 0;
}

static int user_by_name(struct etc_files *e, const char *name, const char *what,
			struct spec_user *u, ocid_error **err)
{
	struct pw_query q = {.name = name};
	if (etc_lookup_passwd(e, &q, err) < 0)
		return -1;
	if (!q.found)
		return err_set(err, GRPC_INVALID_ARGUMENT,
			       "%s: user \"%s\" not found in the image's /etc/passwd", what, name);
	u->uid = q.out_uid;
	u->gid = q.out_gid;
	u->name = q.out_name;
	u->home = q.out_home;
	return 0;
}

/* The image USER: "", "uid", "name", each optionally ":gid" or ":group". */
static int user_from_image(struct etc_files *e, const char *spec, struct spec_user *u,
			   bool *explicit_group, ocid_error **err)
{
	*explicit_group = false;
	if (spec == NULL || *spec == '\0')
		return user_by_uid(e, 0, u, err);
	cleanup_free char *copy = xstrdup(spec);
	char *group = strchr(copy, ':');
	if (group)
		*group++ = '\0';
	uint32_t id;
	if (*copy == '\0')
		return err_set(err, GRPC_INVALID_ARGUMENT, "image user \"%s\": empty user name",
			       spec);
	if (spec_parse_id(copy, &id)) {
		if (user_by_uid(e, id, u, err) < 0)
			return -1;
	} else if (user_by_name(e, copy, "image user", u, err) < 0) {
		return -1;
	}
	if (group == NULL)
		return 0;
	if (*group == '\0')
		return err_set(err, GRPC_INVALID_ARGUMENT, "image user \"%s\": empty group", spec);
	*explicit_group = true;
	if (spec_parse_id(group, &id)) {
		u->gid = id;
		return 0;
	}
	struct gr_query q = {.name = group};
	if (etc_lookup_group(e, &q, err) < 0)
		return -1;
	if (!q.found)
		return err_set(err, GRPC_INVALID_ARGUMENT,
			       "image user \"%s\": group \"%s\" not found in the image's "
			       "/etc/group",
			       spec, group);
	u->gid = q.gid;
	return 0;
}

int spec_user_resolve(const char *rootfs, const Runtime__V1__LinuxContainerSecurityContext *sc,
		      const char *image_user, struct spec_user *out, ocid_error **err)
{
	memset(out, 0, sizeof(*out));
	struct etc_files e = {.rootfs = rootfs};
	struct spec_user u = {0};
	bool explicit_group = false;
	int rc = -1;
	uint32_t id = 0;

	if (sc && sc->run_as_user) {
		if (id_from_int64(sc->run_as_user->value,
				  "linux.security_context.run_as_user", &id, err) < 0 ||
		    user_by_uid(&e, id, &u, err) < 0)
			goto out;
	} else if (sc && sc->run_as_username && *sc->run_as_username) {
		if (user_by_name(&e, sc->run_as_username, "linux.security_context.run_as_username",
				 &u, err) < 0)
			goto out;
	} else if (user_from_image(&e, image_user, &u, &explicit_group, err) < 0) {
		goto out;
	}
	if (sc && sc->run_as_group) {
		if (id_from_int64(sc->run_as_group->value, "linux.security_context.run_as_group",
				  &id, err) < 0)
			goto out;
		u.gid = id;
	}
	if (sc) {
		for (size_t i = 0; i < sc->n_supplemental_groups; i++) {
			char field[80];
			snprintf(field, sizeof(field),
				 "linux.security_context.supplemental_groups[%zu]", i);
			if (id_from_int64(sc->supplemental_groups[i], field, &id, err) < 0)
				goto out;
			add_group(&u, id);
		}
	}
	bool strict = sc && sc->supplemental_groups_policy ==
				  RUNTIME__V1__SUPPLEMENTAL_GROUPS_POLICY__Strict;
	if (!strict && !explicit_group && u.name) {
		struct gr_query q = {.member = u.name};
		if (etc_lookup_group(&e, &q, err) < 0) {
			free(q.gids);
			goto out;
		}
		for (size_t i = 0; i < q.n_gids; i++)
			add_group(&u, q.gids[i]);
		free(q.gids);
	}
	*out = u;
	memset(&u, 0, sizeof(u));
	rc = 0;
out:
	spec_user_free(&u);
	free(e.passwd);
	free(e.group);
	return rc;
}

void spec_user_free(struct spec_user *u)
{
	free(u->groups);
	free(u->name);
	free(u->home);
	memset(u, 0, sizeof(*u));
}
