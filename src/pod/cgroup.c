#include "pod/cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/log.h"
#include "util/xalloc.h"

/* Logs a failure to undo something while another error is being returned. */
static void warn_undo(const char *what, const char *key, const char *val, const ocid_error *e)
{
	char v[512], m[1024];
	log_escape(val ? val : "", v, sizeof(v));
	log_escape(e && e->msg ? e->msg : "", m, sizeof(m));
	log_warn(what, "%s=\"%s\" error=\"%s\"", key, v, m);
}

/* ---- mountinfo ---- */

/* Decodes mountinfo's octal escapes (\040 space, \011 tab, \012 newline,
 * \134 backslash) in place. */
static void unescape_octal(char *s)
{
	char *w = s;
	for (char *r = s; *r;) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
		    r[3] >= '0' && r[3] <= '7') {
			*w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
			r += 4;
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
}

static bool has_token(const char *list, const char *tok)
{
	size_t n = strlen(tok);
	for (const char *p = list; p && *p;) {
		const char *c = strchr(p, ',');
		size_t len = c ? (size_t)(c - p) : strlen(p);
		if (len == n && strncmp(p, tok, n) == 0)
			return true;
		p = c ? c + 1 : NULL;
	}
	return false;
}

/* The controllers (and name=...) among a v1 mount's super options. */
static char *v1_controllers(const char *superopts)
{
	static const char *const not_controllers[] = {
		"rw", "ro", "noprefix", "clone_children", "xattr", "cpuset_v2_mode",
		"favordynmods", "none", NULL,
	};
	cleanup_free char *copy = xstrdup(superopts);
	size_t cap = strlen(superopts) + 1;
	char *out = xcalloc(1, cap);
	char *save = NULL;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		bool skip = strncmp(t, "release_agent=", 14) == 0;
		for (size_t i = 0; !skip && not_controllers[i]; i++)
			skip = strcmp(t, not_controllers[i]) == 0;
		if (skip)
			continue;
		if (*out)
			strcat(out, ",");
		strcat(out, t);
	}
	return out;
}

struct parsed_mount {
	char *majmin;
	struct cgroup_hierarchy h;
};

static void hierarchy_free(struct cgroup_hierarchy *h)
{
	free(h->mountpoint);
	free(h->root);
	free(h->controllers);
	memset(h, 0, sizeof(*h));
}

int cgroup_layout_parse(const char *mountinfo, struct cgroup_layout *out, ocid_error **err)
{
	memset(out, 0, sizeof(*out));
	struct parsed_mount *m = NULL;
	size_t n = 0;
	cleanup_free char *text = xstrdup(mountinfo ? mountinfo : "");
	char *save_line = NULL;
	unsigned lineno = 0;
	int ret = 0;
	for (char *line = strtok_r(text, "\n", &save_line); line;
	     line = strtok_r(NULL, "\n", &save_line)) {
		lineno++;
		/* id parent maj:min root mountpoint options [optional...] - fstype source superopts */
		char *f[6];
		char *save = NULL;
		char *tok = strtok_r(line, " ", &save);
		size_t nf = 0;
		for (; tok && nf < 6; tok = strtok_r(NULL, " ", &save))
			f[nf++] = tok;
		if (nf < 6)
			continue; /* not a mount line we can read; cannot be a cgroup one we need */
		while (tok && strcmp(tok, "-") != 0)
			tok = strtok_r(NULL, " ", &save);
		char *fstype = tok ? strtok_r(NULL, " ", &save) : NULL;
		if (fstype == NULL || (strcmp(fstype, "cgroup") != 0 && strcmp(fstype, "cgroup2") != 0))
			continue;
		char *source = strtok_r(NULL, " ", &save);
		char *superopts = source ? strtok_r(NULL, " ", &save) : NULL;
		if (superopts == NULL) {
			ret = err_set(err, GRPC_INTERNAL,
				      "mountinfo line %u: %s mount without super options", lineno, fstype);
			break;
		}
		struct cgroup_hierarchy h = {0};
		h.version = strcmp(fstype, "cgroup2") == 0 ? 2 : 1;
		unescape_octal(f[3]);
		unescape_octal(f[4]);
		if (f[3][0] != '/' || f[4][0] != '/') {
			ret = err_set(err, GRPC_INTERNAL, "mountinfo line %u: relative root or mount point",
				      lineno);
			break;
		}
		h.root = xstrdup(f[3]);
		h.mountpoint = xstrdup(f[4]);
		h.controllers = h.version == 1 ? v1_controllers(superopts) : xstrdup("");
		h.read_only = has_token(f[5], "ro") || has_token(superopts, "ro");
		if (h.version == 1 && h.controllers[0] == '\0') {
			hierarchy_free(&h);
			continue;
		}
		/* The same hierarchy mounted again: keep the mount closest to its root. */
		size_t i;
		for (i = 0; i < n; i++)
			if (strcmp(m[i].majmin, f[2]) == 0)
				break;
		if (i < n) {
			if (strlen(h.root) < strlen(m[i].h.root) ||
			    (m[i].h.read_only && !h.read_only && strlen(h.root) == strlen(m[i].h.root))) {
				hierarchy_free(&m[i].h);
				m[i].h = h;
			} else {
				hierarchy_free(&h);
			}
			continue;
		}
		m = xrealloc(m, (n + 1) * sizeof(*m));
		m[n].majmin = xstrdup(f[2]);
		m[n].h = h;
		n++;
	}
	if (ret == 0 && n > 0) {
		out->h = xcalloc(n, sizeof(*out->h));
		out->n = n;
	}
	bool v2 = false, v1 = false;
	for (size_t i = 0; i < n; i++) {
		if (ret == 0) {
			out->h[i] = m[i].h;
			if (m[i].h.version == 2)
				v2 = true;
			else if (strncmp(m[i].h.controllers, "name=", 5) != 0 ||
				 strchr(m[i].h.controllers, ','))
				v1 = true;
		} else {
			hierarchy_free(&m[i].h);
		}
		free(m[i].majmin);
	}
	free(m);
	out->pure_v2 = v2 && !v1;
	return ret;
}

int cgroup_layout_load(struct cgroup_layout *out, ocid_error **err)
{
	memset(out, 0, sizeof(*out));
	cleanup_fclose FILE *f = fopen("/proc/self/mountinfo", "re");
	if (f == NULL)
		return err_set_errno(err, GRPC_INTERNAL, errno, "open /proc/self/mountinfo");
	cleanup_free char *buf = NULL;
	size_t len = 0;
	cleanup_fclose FILE *mem = open_memstream(&buf, &len);
	if (mem == NULL)
		return err_set_errno(err, GRPC_INTERNAL, errno, "open_memstream");
	char chunk[8192];
	size_t r;
	while ((r = fread(chunk, 1, sizeof(chunk), f)) > 0)
		fwrite(chunk, 1, r, mem);
	if (ferror(f))
		return err_set_errno(err, GRPC_INTERNAL, errno, "read /proc/self/mountinfo");
	fclose(mem);
	mem = NULL;
	if (cgroup_layout_parse(buf, out, err) < 0)
		return err_prefix(err, "/proc/self/mountinfo");
	return 0;
}

void cgroup_layout_free(struct cgroup_layout *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < l->n; i++)
		hierarchy_free(&l->h[i]);
	free(l->h);
	memset(l, 0, sizeof(*l));
}

/* ---- paths ---- */

static bool component_ok(const char *c, size_t len)
{
	if (len == 0 || len > 255)
		return false;
	if ((len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.'))
		return false;
	if (len >= 7 && strncmp(c, "cgroup.", 7) == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)c[i];
		if (ch <= ' ' || ch >= 0x7f || ch == '\\' || ch == '/')
			return false;
	}
	return true;
}

int cgroup_path_check(const char *path, ocid_error **err)
{
	if (path == NULL || *path == '\0')
		return err_set(err, GRPC_INVALID_ARGUMENT, "empty cgroup path");
	size_t len = strlen(path);
	if (path[0] != '/') {
		if (len > 6 && strcmp(path + len - 6, ".slice") == 0)
			return err_set(err, GRPC_INVALID_ARGUMENT,
				       "cgroup parent %s is a systemd slice, but ocid uses the cgroupfs "
				       "driver: pass a cgroupfs path such as /kubepods/pod<uid>",
				       path);
		return err_set(err, GRPC_INVALID_ARGUMENT, "cgroup path %s is not absolute", path);
	}
	if (len > CGROUP_PATH_MAX)
		return err_set(err, GRPC_INVALID_ARGUMENT,
			       "cgroup path is %zu bytes long, more than %d", len, CGROUP_PATH_MAX);
	if (len == 1)
		return err_set(err, GRPC_INVALID_ARGUMENT, "cgroup path / is a hierarchy root");
	for (const char *p = path + 1;;) {
		const char *s = strchr(p, '/');
		size_t clen = s ? (size_t)(s - p) : strlen(p);
		if (!component_ok(p, clen))
			return err_set(err, GRPC_INVALID_ARGUMENT,
				       "cgroup path %s: invalid component \"%.*s\" (1-255 printable "
				       "characters without space or '\\', not \".\", \"..\" or "
				       "cgroup.*)",
				       path, (int)(clen > 255 ? 255 : clen), p);
		if (s == NULL)
			break;
		p = s + 1;
	}
	return 0;
}

int pod_cgroup_path(const char *cgroup_parent, const char *sandbox_id, char **out,
		    ocid_error **err)
{
	*out = NULL;
	if (cgroup_parent == NULL || *cgroup_parent == '\0') {
		size_t idlen = sandbox_id ? strlen(sandbox_id) : 0;
		if (idlen == 0 || idlen > 128 ||
		    strspn(sandbox_id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				       "0123456789_-") != idlen)
			return err_set(err, GRPC_INVALID_ARGUMENT,
				       "invalid sandbox id for a cgroup name \"%.128s\"",
				       sandbox_id ? sandbox_id : "");
		cleanup_free char *p = xasprintf("/ocid/pod-%s", sandbox_id);
		if (cgroup_path_check(p, err) < 0)
			return -1;
		*out = steal_pointer(&p);
		return 0;
	}
	/* Normalise repeated and trailing slashes. */
	cleanup_free char *p = xstrdup(cgroup_parent);
	char *w = p;
	for (const char *r = cgroup_parent; *r; r++) {
		if (*r == '/' && w > p && w[-1] == '/')
			continue;
		*w++ = *r;
	}
	*w = '\0';
	while (w - p > 1 && w[-1] == '/')
		*--w = '\0';
	if (cgroup_path_check(p, err) < 0)
		return err_prefix(err, "cgroup_parent");
	*out = steal_pointer(&p);
	return 0;
}

/* path relative to the mounted directory of a hierarchy whose mount root is
 * root: under root, the rest; otherwise the path itself (inside a container
 * the mount root stands for the hierarchy root). */
static const char *rel_to_root(const char *root, const char *path)
{
	if (strcmp(root, "/") == 0)
		return path;
	size_t n = strlen(root);
	if (strncmp(path, root, n) == 0 && (path[n] == '/' || path[n] == '\0'))
		return path + n;
	return path;
}

char *cgroup_hierarchy_dir(const struct cgroup_hierarchy *h, const char *path)
{
	const char *rel = rel_to_root(h->root, path);
	const char *mp = h->mountpoint;
	size_t mlen = strlen(mp);
	while (mlen > 1 && mp[mlen - 1] == '/')
		mlen--;
	if (mlen == 1 && mp[0] == '/')
		mlen = 0;
	return xasprintf("%.*s%s", (int)mlen, mp, rel);
}

static char *hier_dir(const struct pod_cgroup_hier *h, const char *path)
{
	struct cgroup_hierarchy tmp = {.mountpoint = h->mountpoint, .root = h->root};
	return cgroup_hierarchy_dir(&tmp, path);
}

/* ---- small file I/O ---- */

static int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	size_t len = strlen(s);
	ssize_t w = write(fd, s, len);
	int saved = errno;
	close(fd);
	if (w < 0) {
		errno = saved;
		return -1;
	}
	if ((size_t)w != len) {
		errno = EIO;
		return -1;
	}
	return 0;
}

/* Reads up to size-1 bytes; trailing whitespace trimmed. */
static int read_str(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t r = read(fd, buf, size - 1);
	int saved = errno;
	close(fd);
	if (r < 0) {
		errno = saved;
		return -1;
	}
	buf[r] = '\0';
	while (r > 0 && (buf[r - 1] == '\n' || buf[r - 1] == ' '))
		buf[--r] = '\0';
	return 0;
}

/* v1 cpuset: a new cgroup starts with empty cpus and mems, and no process
 * can join it until they are set; copy the parent's. Without the cpuset files
 * (another controller) this does nothing. */
static int cpuset_init(const char *dir, const char *parent, ocid_error **err)
{
	static const char *const files[][2] = {
		{"cpuset.cpus", "cpus"},
		{"cpuset.mems", "mems"},
	};
	for (size_t i = 0; i < 2; i++) {
		for (size_t k = 0; k < 2; k++) {
			cleanup_free char *mine = xasprintf("%s/%s", dir, files[i][k]);
			char cur[4096];
			if (read_str(mine, cur, sizeof(cur)) < 0) {
				if (errno == ENOENT)
					continue;
				return err_set_errno(err, GRPC_INTERNAL, errno, "read %s", mine);
			}
			if (cur[0] != '\0')
				break;
			cleanup_free char *theirs = xasprintf("%s/%s", parent, files[i][k]);
			char val[4096];
			if (read_str(theirs, val, sizeof(val)) < 0)
				return err_set_errno(err, GRPC_INTERNAL, errno, "read %s", theirs);
			if (val[0] != '\0' && write_str(mine, val) < 0)
				return err_set_errno(err, GRPC_INTERNAL, errno, "write %s", mine);
			break;
		}
	}
	return 0;
}

/* Pure v2: enables in dir's cgroup.subtree_control every controller dir has,
 * so that its children get them. Best effort: a cgroup with processes of its
 * own (the "no internal processes" rule) or a controller that cannot be
 * enabled is only logged. */
static void v2_enable_controllers(const char *dir)
{
	cleanup_free char *cpath = xasprintf("%s/cgroup.controllers", dir);
	cleanup_free char *spath = xasprintf("%s/cgroup.subtree_control", dir);
	char avail[1024], enabled[1024];
	if (read_str(cpath, avail, sizeof(avail)) < 0 || read_str(spath, enabled, sizeof(enabled)) < 0)
		return;
	char want[2048] = "";
	size_t wlen = 0;
	char *save = NULL;
	for (char *c = strtok_r(avail, " ", &save); c; c = strtok_r(NULL, " ", &save)) {
		bool on = false;
		char copy[1024];
		snprintf(copy, sizeof(copy), "%s", enabled);
		char *s2 = NULL;
		for (char *e = strtok_r(copy, " ", &s2); e && !on; e = strtok_r(NULL, " ", &s2))
			on = strcmp(e, c) == 0;
		if (!on && wlen + strlen(c) + 3 < sizeof(want))
			wlen += (size_t)snprintf(want + wlen, sizeof(want) - wlen, "%s+%s",
						 wlen ? " " : "", c);
	}
	if (wlen == 0 || write_str(spath, want) == 0)
		return;
	/* All at once failed: one by one, so one refusal does not block the rest. */
	save = NULL;
	for (char *c = strtok_r(want, " ", &save); c; c = strtok_r(NULL, " ", &save))
		if (write_str(spath, c) < 0)
			log_debug("cannot enable cgroup controller",
				  "cgroup=\"%s\" controller=%s error=\"%s\"", dir, c + 1, strerror(errno));
}

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* rmdir, retried while the cgroup is busy (processes still exiting).
 * 0 when removed or already gone; -1 with errno otherwise. */
static int rmdir_retry(const char *dir)
{
	for (int i = 0;; i++) {
		if (rmdir(dir) == 0 || errno == ENOENT)
			return 0;
		if (errno != EBUSY || i >= 100)
			return -1;
		sleep_ms(10);
	}
}

/* 1 when dir has a child cgroup, 0 when not (or dir is gone), -1 on error. */
static int has_child_cgroup(const char *dir)
{
	DIR *d = opendir(dir);
	if (d == NULL)
		return errno == ENOENT ? 0 : -1;
	int found = 0;
	struct dirent *de;
	while (!found && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (de->d_type == DT_DIR) {
			found = 1;
		} else if (de->d_type == DT_UNKNOWN) {
			struct stat st;
			if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    S_ISDIR(st.st_mode))
				found = 1;
		}
	}
	closedir(d);
	return found;
}

static bool leaf_ok(const char *leaf)
{
	return leaf && component_ok(leaf, strlen(leaf));
}

static void remove_one(const struct pod_cgroup_hier *h, const char *path,
		       const char *const *leaves, bool leaves_only, ocid_error **err, int *ret)
{
	cleanup_free char *dir = hier_dir(h, path);
	for (size_t i = 0; leaves && leaves[i]; i++) {
		if (!leaf_ok(leaves[i])) {
			*ret = err_set(err, GRPC_INVALID_ARGUMENT, "invalid cgroup name %s", leaves[i]);
			return;
		}
		cleanup_free char *child = xasprintf("%s/%s", dir, leaves[i]);
		if (rmdir_retry(child) < 0) {
			*ret = err_set_errno(err, errno == EBUSY ? GRPC_FAILED_PRECONDITION : GRPC_INTERNAL,
					     errno, "remove cgroup %s", child);
			return;
		}
	}
	if (leaves_only || h->created <= 0)
		return;
	int busy = has_child_cgroup(dir);
	if (busy != 0) {
		if (busy < 0)
			*ret = err_set_errno(err, GRPC_INTERNAL, errno, "open cgroup %s", dir);
		else
			log_debug("pod cgroup still has child cgroups, left in place",
				  "cgroup=\"%s\"", dir);
		return;
	}
	if (rmdir_retry(dir) < 0) {
		*ret = err_set_errno(err, errno == EBUSY ? GRPC_FAILED_PRECONDITION : GRPC_INTERNAL,
				     errno, "remove cgroup %s", dir);
		return;
	}
	/* Parents ocid created, while they are empty (another pod may use them). */
	for (int i = 1; i < h->created; i++) {
		char *slash = strrchr(dir, '/');
		if (slash == NULL || slash == dir)
			break;
		*slash = '\0';
		if (rmdir(dir) < 0 && errno != ENOENT) {
			if (errno != EBUSY && errno != ENOTEMPTY && errno != EEXIST)
				log_warn("cannot remove cgroup", "cgroup=\"%s\" error=\"%s\"", dir,
					 strerror(errno));
			break;
		}
	}
}

/* Creates path in one hierarchy; *created = trailing components made. */
static int create_one(const struct pod_cgroup_hier *h, bool pure_v2, const char *path,
		      int *created, ocid_error **err)
{
	*created = 0;
	const char *rel = rel_to_root(h->root, path);
	if (rel[0] == '\0' || strcmp(rel, "/") == 0)
		return err_set(err, GRPC_INVALID_ARGUMENT, "cgroup %s is the root of %s", path,
			       h->mountpoint);
	for (int attempt = 0;; attempt++) {
		cleanup_free char *cur = hier_dir(h, "");
		int ncomp = 0, first_created = -1;
		bool retry = false;
		for (const char *p = rel + 1; *p;) {
			const char *s = strchr(p, '/');
			size_t clen = s ? (size_t)(s - p) : strlen(p);
			char *parent = cur;
			cur = xasprintf("%s/%.*s", parent, (int)clen, p);
			if (h->version == 2 && pure_v2)
				v2_enable_controllers(parent);
			if (mkdir(cur, 0755) == 0) {
				if (first_created < 0)
					first_created = ncomp;
				if (h->version == 1 && cpuset_init(cur, parent, err) < 0) {
					free(parent);
					*created = ncomp + 1 - first_created;
					return err_prefix(err, "set up cpuset cgroup");
				}
			} else if (errno == EEXIST) {
				struct stat st;
				if (stat(cur, &st) < 0 || !S_ISDIR(st.st_mode)) {
					free(parent);
					*created = first_created < 0 ? 0 : ncomp - first_created;
					return err_set(err, GRPC_FAILED_PRECONDITION,
						       "%s exists and is not a cgroup directory", cur);
				}
			} else if (errno == ENOENT && attempt < 5 && first_created < 0) {
				/* A parent was removed under us (another pod going away). */
				retry = true;
				free(parent);
				break;
			} else {
				int e = errno;
				free(parent);
				*created = first_created < 0 ? 0 : ncomp - first_created;
				return err_set_errno(err, GRPC_INTERNAL, e, "create cgroup %s", cur);
			}
			free(parent);
			ncomp++;
			p = s ? s + 1 : p + clen;
		}
		if (retry)
			continue;
		*created = first_created < 0 ? 0 : ncomp - first_created;
		return 0;
	}
}

int pod_cgroup_create(const struct cgroup_layout *layout, const char *path,
		      struct pod_cgroup **out, ocid_error **err)
{
	*out = NULL;
	if (cgroup_path_check(path, err) < 0)
		return -1;
	struct pod_cgroup *cg = xcalloc(1, sizeof(*cg));
	cg->path = xstrdup(path);
	cg->pure_v2 = layout->pure_v2;
	cg->h = xcalloc(layout->n ? layout->n : 1, sizeof(*cg->h));
	for (size_t i = 0; i < layout->n; i++) {
		const struct cgroup_hierarchy *lh = &layout->h[i];
		if (lh->read_only)
			continue;
		struct pod_cgroup_hier *h = &cg->h[cg->n++];
		h->mountpoint = xstrdup(lh->mountpoint);
		h->root = xstrdup(lh->root);
		h->version = lh->version;
		if (create_one(h, cg->pure_v2, path, &h->created, err) < 0) {
			err_prefix(err, "create pod cgroup %s", path);
			ocid_error *ignored = NULL;
			int r = 0;
			for (size_t k = 0; k < cg->n; k++)
				remove_one(&cg->h[k], path, NULL, false, &ignored, &r);
			if (ignored)
				warn_undo("cannot undo pod cgroup", "cgroup", path, ignored);
			err_free(ignored);
			pod_cgroup_free(cg);
			return -1;
		}
	}
	if (cg->n == 0) {
		pod_cgroup_free(cg);
		return err_set(err, GRPC_FAILED_PRECONDITION,
			       "create pod cgroup %s: no writable cgroup hierarchy is mounted", path);
	}
	*out = cg;
	return 0;
}

int pod_cgroup_add_pid(const struct pod_cgroup *cg, const char *leaf, pid_t pid,
		       ocid_error **err)
{
	if (leaf && !leaf_ok(leaf))
		return err_set(err, GRPC_INVALID_ARGUMENT, "invalid cgroup name %s", leaf);
	char pidstr[32];
	snprintf(pidstr, sizeof(pidstr), "%d\n", (int)pid);
	for (size_t i = 0; i < cg->n; i++) {
		const struct pod_cgroup_hier *h = &cg->h[i];
		cleanup_free char *dir = hier_dir(h, cg->path);
		cleanup_free char *target = NULL;
		if (leaf) {
			target = xasprintf("%s/%s", dir, leaf);
			if (h->version == 2 && cg->pure_v2)
				v2_enable_controllers(dir);
			if (mkdir(target, 0755) == 0) {
				if (h->version == 1 && cpuset_init(target, dir, err) < 0)
					return err_prefix(err, "set up cgroup %s", target);
			} else if (errno != EEXIST) {
				return err_set_errno(err, GRPC_INTERNAL, errno, "create cgroup %s", target);
			}
		} else {
			target = xstrdup(dir);
		}
		cleanup_free char *procs = xasprintf("%s/cgroup.procs", target);
		if (write_str(procs, pidstr) < 0)
			return err_set_errno(err, errno == ESRCH ? GRPC_NOT_FOUND : GRPC_INTERNAL, errno,
					     "move pid %d into cgroup %s", (int)pid, target);
	}
	return 0;
}

void pod_cgroup_dirs(const struct pod_cgroup *cg, char ***dirs)
{
	*dirs = xcalloc(cg->n ? cg->n : 1, sizeof(**dirs));
	for (size_t i = 0; i < cg->n; i++)
		(*dirs)[i] = hier_dir(&cg->h[i], cg->path);
}

int pod_cgroup_remove(const struct pod_cgroup *cg, const char *const *leaves, ocid_error **err)
{
	if (cg == NULL)
		return 0;
	int ret = 0;
	/* Every hierarchy is tried; the first error is reported. */
	for (size_t i = 0; i < cg->n; i++)
		remove_one(&cg->h[i], cg->path, leaves, false, err, &ret);
	if (ret < 0)
		return err_prefix(err, "remove pod cgroup %s", cg->path);
	return 0;
}

int pod_cgroup_remove_leaves(const struct pod_cgroup *cg, const char *const *leaves,
			     ocid_error **err)
{
	if (cg == NULL)
		return 0;
	int ret = 0;
	for (size_t i = 0; i < cg->n; i++)
		remove_one(&cg->h[i], cg->path, leaves, true, err, &ret);
	if (ret < 0)
		return err_prefix(err, "remove child cgroups of %s", cg->path);
	return 0;
}

json_t *pod_cgroup_to_json(const struct pod_cgroup *cg)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < cg->n; i++)
		json_array_append_new(arr, json_pack("{s:s, s:s, s:i, s:i}",
						     "mountpoint", cg->h[i].mountpoint,
						     "root", cg->h[i].root,
						     "version", cg->h[i].version,
						     "created", cg->h[i].created));
	return json_pack("{s:s, s:b, s:o}", "path", cg->path, "pure_v2", cg->pure_v2,
			 "hierarchies", arr);
}

int pod_cgroup_from_json(const json_t *j, struct pod_cgroup **out, ocid_error **err)
{
	*out = NULL;
	const char *path = NULL;
	int pure_v2 = 0;
	json_t *arr = NULL;
	json_error_t jerr;
	memset(&jerr, 0, sizeof(jerr));
	if (json_unpack_ex((json_t *)j, &jerr, 0, "{s:s, s:b, s:o}", "path", &path, "pure_v2",
			   &pure_v2, "hierarchies", &arr) < 0 ||
	    !json_is_array(arr))
		return err_set(err, GRPC_DATA_LOSS, "pod cgroup record: %s", jerr.text);
	if (cgroup_path_check(path, err) < 0)
		return err_prefix(err, "pod cgroup record");
	struct pod_cgroup *cg = xcalloc(1, sizeof(*cg));
	cg->path = xstrdup(path);
	cg->pure_v2 = pure_v2;
	size_t n = json_array_size(arr);
	cg->h = xcalloc(n ? n : 1, sizeof(*cg->h));
	for (size_t i = 0; i < n; i++) {
		const char *mp = NULL, *root = NULL;
		int version = 0, created = 0;
		if (json_unpack_ex(json_array_get(arr, i), &jerr, 0, "{s:s, s:s, s:i, s:i}",
				   "mountpoint", &mp, "root", &root, "version", &version, "created",
				   &created) < 0 ||
		    mp[0] != '/' || root[0] != '/' || (version != 1 && version != 2) || created < 0 ||
		    created > CGROUP_PATH_MAX) {
			pod_cgroup_free(cg);
			return err_set(err, GRPC_DATA_LOSS, "pod cgroup record: hierarchy %zu: %s", i,
				       jerr.text[0] ? jerr.text : "invalid values");
		}
		jerr.text[0] = '\0';
		cg->h[i].mountpoint = xstrdup(mp);
		cg->h[i].root = xstrdup(root);
		cg->h[i].version = version;
		cg->h[i].created = created;
		cg->n++;
	}
	*out = cg;
	return 0;
}

void pod_cgroup_free(struct pod_cgroup *cg)
{
	if (cg == NULL)
		return;
	for (size_t i = 0; i < cg->n; i++) {
		free(cg->h[i].mountpoint);
		free(cg->h[i].root);
	}
	free(cg->h);
	free(cg->path);
	free(cg);
}
