#include "pod/namespaces.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/nsfs.h>
#include <linux/sched.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pod/cgroup.h"
#include "util/cleanup.h"
#include "util/proc.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/xalloc.h"

#ifndef OCID_PAUSE_PATH
#define OCID_PAUSE_PATH "/usr/local/libexec/ocid-pause"
#endif

/* Logs a failure to undo something while another error is being returned. */
static void warn_undo(const char *what, const char *key, const char *val, const ocid_error *e)
{
	char v[512], m[1024];
	log_escape(val ? val : "", v, sizeof(v));
	log_escape(e && e->msg ? e->msg : "", m, sizeof(m));
	log_warn(what, "%s=\"%s\" error=\"%s\"", key, v, m);
}

/* ---- sysctls ---- */

/* The separator of a sysctl name: '/' when it has one (dots are then part
 * of components), '.' otherwise. */
static char sysctl_sep(const char *name)
{
	return strchr(name, '/') ? '/' : '.';
}

/* Component i of name (0-based) as pointer + length; false past the end. */
static bool sysctl_component(const char *name, char sep, int i, const char **c, size_t *len)
{
	const char *p = name;
	for (int k = 0; k < i; k++) {
		p = strchr(p, sep);
		if (p == NULL)
			return false;
		p++;
	}
	const char *e = strchr(p, sep);
	*c = p;
	*len = e ? (size_t)(e - p) : strlen(p);
	return true;
}

static bool comp_is(const char *c, size_t len, const char *s)
{
	return strlen(s) == len && strncmp(c, s, len) == 0;
}

static bool comp_starts(const char *c, size_t len, const char *prefix)
{
	size_t n = strlen(prefix);
	return len >= n && strncmp(c, prefix, n) == 0;
}

enum pod_sysctl_ns pod_sysctl_namespace(const char *name)
{
	if (name == NULL)
		return POD_SYSCTL_NOT_NAMESPACED;
	char sep = sysctl_sep(name);
	const char *c0, *c1, *c2;
	size_t l0, l1, l2;
	if (!sysctl_component(name, sep, 0, &c0, &l0) || !sysctl_component(name, sep, 1, &c1, &l1) ||
	    l1 == 0)
		return POD_SYSCTL_NOT_NAMESPACED;
	if (comp_is(c0, l0, "net"))
		return POD_SYSCTL_NET;
	if (comp_is(c0, l0, "kernel")) {
		/* Kubernetes: kernel.shm*, kernel.msg* (prefixes), kernel.sem. */
		if (sysctl_component(name, sep, 2, &c2, &l2))
			return POD_SYSCTL_NOT_NAMESPACED;
		if (comp_starts(c1, l1, "shm") || comp_starts(c1, l1, "msg") || comp_is(c1, l1, "sem"))
			return POD_SYSCTL_IPC;
		return POD_SYSCTL_NOT_NAMESPACED;
	}
	if (comp_is(c0, l0, "fs") && comp_is(c1, l1, "mqueue") &&
	    sysctl_component(name, sep, 2, &c2, &l2) && l2 > 0)
		return POD_SYSCTL_IPC;
	return POD_SYSCTL_NOT_NAMESPACED;
}

static bool sysctl_name_syntax_ok(const char *name)
{
	size_t len = strlen(name);
	if (len == 0 || len > POD_SYSCTL_NAME_MAX)
		return false;
	char sep = sysctl_sep(name);
	for (int i = 0;; i++) {
		const char *c;
		size_t clen;
		if (!sysctl_component(name, sep, i, &c, &clen))
			break;
		if (clen == 0 || comp_is(c, clen, ".") || comp_is(c, clen, ".."))
			return false;
		for (size_t k = 0; k < clen; k++) {
			char ch = c[k];
			bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
				  (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' ||
				  (ch == '.' && sep == '/');
			if (!ok)
				return false;
		}
	}
	return true;
}

char *pod_sysctl_proc_path(const char *name)
{
	if (name == NULL || !sysctl_name_syntax_ok(name))
		return NULL;
	char *p = xstrdup(name);
	if (sysctl_sep(name) == '.')
		for (char *s = p; *s; s++)
			if (*s == '.')
				*s = '/';
	return p;
}

int pod_sysctl_check(const char *name, const char *value, bool host_network, bool host_ipc,
		     ocid_error **err)
{
	if (name == NULL || !sysctl_name_syntax_ok(name))
		return err_set(err, GRPC_INVALID_ARGUMENT, "invalid sysctl name \"%.*s\"",
			       POD_SYSCTL_NAME_MAX, name ? name : "");
	switch (pod_sysctl_namespace(name)) {
	case POD_SYSCTL_NOT_NAMESPACED:
		return err_set(err, GRPC_INVALID_ARGUMENT,
			       "sysctl %s is not allowed: it is not namespaced (pods may set net.*, "
			       "kernel.shm*, kernel.msg*, kernel.sem and fs.mqueue.*)",
			       name);
	case POD_SYSCTL_NET:
		if (host_network)
			return err_set(err, GRPC_INVALID_ARGUMENT,
				       "sysctl %s is not allowed: the pod uses the host network", name);
		break;
	case POD_SYSCTL_IPC:
		if (host_ipc)
			return err_set(err, GRPC_INVALID_ARGUMENT,
				       "sysctl %s is not allowed: the pod uses the host IPC namespace",
				       name);
		break;
	}
	if (value == NULL || *value == '\0')
		return err_set(err, GRPC_INVALID_ARGUMENT, "sysctl %s: empty value", name);
	size_t vlen = strlen(value);
	if (vlen > POD_SYSCTL_VALUE_MAX)
		return err_set(err, GRPC_INVALID_ARGUMENT, "sysctl %s: value longer than %d bytes",
			       name, POD_SYSCTL_VALUE_MAX);
	for (size_t i = 0; i < vlen; i++) {
		unsigned char ch = (unsigned char)value[i];
		if ((ch < ' ' && ch != '\t') || ch == 0x7f)
			return err_set(err, GRPC_INVALID_ARGUMENT,
				       "sysctl %s: value has a control character", name);
	}
	return 0;
}

int pod_hostname_check(const char *hostname, ocid_error **err)
{
	if (hostname == NULL || *hostname == '\0')
		return err_set(err, GRPC_INVALID_ARGUMENT, "empty hostname");
	size_t len = strlen(hostname);
	if (len > 64)
		return err_set(err, GRPC_INVALID_ARGUMENT, "hostname \"%.64s...\" is longer than 64 "
			       "characters", hostname);
	for (size_t i = 0; i < len; i++) {
		char c = hostname[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			  c == '-' || c == '.' || c == '_';
		if (!ok)
			return err_set(err, GRPC_INVALID_ARGUMENT,
				       "hostname \"%s\" has an invalid character at offset %zu", hostname,
				       i);
	}
	if (hostname[0] == '-' || hostname[0] == '.' || hostname[len - 1] == '-' ||
	    hostname[len - 1] == '.')
		return err_set(err, GRPC_INVALID_ARGUMENT,
			       "hostname \"%s\" starts or ends with '-' or '.'", hostname);
	return 0;
}

/* ---- namespace types ---- */

static const char *const ns_names[POD_NS_COUNT] = {"net", "ipc", "uts", "pid"};
static const int ns_clone_flags[POD_NS_COUNT] = {CLONE_NEWNET, CLONE_NEWIPC, CLONE_NEWUTS,
						 CLONE_NEWPID};

const char *pod_ns_type_name(enum pod_ns_type type)
{
	return (unsigned)type < POD_NS_COUNT ? ns_names[type] : "?";
}

void pod_ns_paths(const char *pin_dir, const bool want[POD_NS_COUNT], struct pod_ns *out)
{
	memset(out, 0, sizeof(*out));
	for (int t = 0; t < POD_NS_COUNT; t++)
		if (want[t])
			out->path[t] = xasprintf("%s/%s", pin_dir, ns_names[t]);
}

void pod_ns_free(struct pod_ns *ns)
{
	if (ns == NULL)
		return;
	for (int t = 0; t < POD_NS_COUNT; t++) {
		free(ns->path[t]);
		ns->path[t] = NULL;
	}
}

/* ---- pins ---- */

static bool is_nsfs(const char *path)
{
	struct statfs sfs;
	return statfs(path, &sfs) == 0 && (unsigned long)sfs.f_type == (unsigned long)NSFS_MAGIC;
}

int pod_ns_check_pin(const char *path, enum pod_ns_type type, ocid_error **err)
{
	struct statfs sfs;
	if (statfs(path, &sfs) < 0)
		return err_set_errno(err, errno == ENOENT ? GRPC_NOT_FOUND : GRPC_INTERNAL, errno,
				     "check pinned %s namespace %s", pod_ns_type_name(type), path);
	if ((unsigned long)sfs.f_type != (unsigned long)NSFS_MAGIC)
		return err_set(err, GRPC_FAILED_PRECONDITION,
			       "%s is not a pinned namespace (not an nsfs mount)", path);
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set_errno(err, GRPC_INTERNAL, errno, "open %s", path);
	int kind = ioctl(fd, NS_GET_NSTYPE);
	if (kind < 0) {
		if (errno == ENOTTY || errno == EINVAL)
			return 0; /* kernel without NS_GET_NSTYPE: the mount check must do */
		return err_set_errno(err, GRPC_INTERNAL, errno, "get namespace type of %s", path);
	}
	if ((unsigned)type >= POD_NS_COUNT || kind != ns_clone_flags[type])
		return err_set(err, GRPC_FAILED_PRECONDITION, "%s is pinned, but not a %s namespace",
			       path, pod_ns_type_name(type));
	return 0;
}

int pod_ns_check(const struct pod_ns *ns, ocid_error **err)
{
	for (int t = 0; t < POD_NS_COUNT; t++)
		if (ns->path[t] && pod_ns_check_pin(ns->path[t], (enum pod_ns_type)t, err) < 0)
			return -1;
	return 0;
}

/* Unmounts every mount on path (a pin may have been mounted twice) and
 * removes the file. Missing is fine. */
static int unpin(const char *path, ocid_error **err)
{
	for (int i = 0; i < 16; i++) {
		if (umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
			continue;
		if (errno == EINVAL || errno == ENOENT)
			break;
		return err_set_errno(err, GRPC_INTERNAL, errno, "unmount %s", path);
	}
	if (unlink(path) < 0 && errno != ENOENT)
		return err_set_errno(err, GRPC_INTERNAL, errno, "remove %s", path);
	return 0;
}

int pod_ns_remove(const char *pin_dir, ocid_error **err)
{
	if (pin_dir == NULL || *pin_dir == '\0')
		return err_set(err, GRPC_INVALID_ARGUMENT, "empty namespace pin directory");
	int ret = 0;
	for (int t = 0; t < POD_NS_COUNT; t++) {
		cleanup_free char *p = xasprintf("%s/%s", pin_dir, ns_names[t]);
		if (unpin(p, err) < 0)
			ret = -1; /* keep going: unpin what can be */
	}
	if (ret < 0)
		return err_prefix(err, "remove pod namespaces");
	if (rmdir(pin_dir) < 0 && errno != ENOENT)
		return err_set_errno(err, GRPC_INTERNAL, errno, "remove pod namespaces: remove %s",
				     pin_dir);
	return 0;
}

int pod_ns_root_prepare(const char *ns_root, ocid_error **err)
{
	if (fs_mkdir_p(ns_root, 0711, err) < 0)
		return err_prefix(err, "prepare namespace directory");
	if (mount("none", ns_root, "none", MS_PRIVATE, NULL) == 0)
		return 0;
	if (errno != EINVAL)
		return err_set_errno(err, GRPC_INTERNAL, errno, "make %s a private mount", ns_root);
	/* Not a mount point yet: bind it onto itself first. */
	if (mount(ns_root, ns_root, "none", MS_BIND, NULL) < 0)
		return err_set_errno(err, GRPC_INTERNAL, errno, "bind mount %s onto itself", ns_root);
	if (mount("none", ns_root, "none", MS_PRIVATE, NULL) < 0)
		return err_set_errno(err, GRPC_INTERNAL, errno, "make %s a private mount", ns_root);
	return 0;
}

/* Fails with ALREADY_EXISTS when path is a live pin; removes a stale file. */
static int pin_precheck(const char *path, ocid_error **err)
{
	if (is_nsfs(path))
		return err_set(err, GRPC_ALREADY_EXISTS, "a namespace is already pinned at %s", path);
	if (unlink(path) < 0 && errno != ENOENT)
		return err_set_errno(err, GRPC_INTERNAL, errno, "remove stale %s", path);
	return 0;
}

/* Bind-mounts /proc/<pid>/ns/<type> onto a new file at path. */
static int pin(pid_t pid, enum pod_ns_type type, const char *path, ocid_error **err)
{
	int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0444);
	if (fd < 0)
		return err_set_errno(err, errno == EEXIST ? GRPC_ALREADY_EXISTS : GRPC_INTERNAL,
				     errno, "create pin file %s", path);
	close(fd);
	char src[64];
	snprintf(src, sizeof(src), "/proc/%d/ns/%s", (int)pid, ns_names[type]);
	if (mount(src, path, "none", MS_BIND, NULL) < 0) {
		int e = errno;
		unlink(path);
		return err_set_errno(err, GRPC_INTERNAL, e, "pin %s namespace: bind mount %s on %s",
				     ns_names[type], src, path);
	}
	return 0;
}

/* ---- forked helpers: system calls only between fork and exit/exec ---- */

/* Closes every descriptor >= 3 except those in keep (unsorted, n small). */
static void close_fds_except(const int *keep, size_t n)
{
	int sorted[8];
	size_t m = 0;
	for (size_t i = 0; i < n && m < 8; i++)
		if (keep[i] >= 3)
			sorted[m++] = keep[i];
	for (size_t i = 1; i < m; i++)
		for (size_t k = i; k > 0 && sorted[k - 1] > sorted[k]; k--) {
			int t = sorted[k];
			sorted[k] = sorted[k - 1];
			sorted[k - 1] = t;
		}
	unsigned lo = 3;
	for (size_t i = 0; i <= m; i++) {
		unsigned hi = i < m ? (unsigned)sorted[i] : ~0U;
		if (hi > lo) {
			unsigned top = i < m ? hi - 1 : ~0U;
			if (close_range(lo, top, 0) < 0) {
				/* Pre-5.9 kernel: close one by one up to the limit. */
				struct rlimit rl;
				unsigned max = 65536;
				if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < max)
					max = (unsigned)rl.rlim_cur;
				for (unsigned fd = lo; fd <= top && fd < max; fd++)
					close((int)fd);
			}
		}
		if (i < m)
			lo = (unsigned)sorted[i] + 1;
	}
}

static void write_all_raw(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		len -= (size_t)w;
	}
}

/* Parent side: tells a helper child to go on. The child may already be gone,
 * and a write to its pipe must not raise SIGPIPE in the caller (a test, or
 * a daemon thread), so SIGPIPE is blocked around it and a pending one taken. */
static void send_go(int fd)
{
	sigset_t pipe_set, old;
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	ssize_t w;
	do
		w = write(fd, "g", 1);
	while (w < 0 && errno == EINTR);
	if (w < 0 && errno == EPIPE) {
		struct timespec zero = {0, 0};
		sigtimedwait(&pipe_set, NULL, &zero);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* Reads exactly len bytes; returns len, 0 on EOF first, -1 on error. */
static ssize_t read_full(int fd, void *buf, size_t len)
{
	char *p = buf;
	size_t got = 0;
	while (got < len) {
		ssize_t r = read(fd, p + got, len - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			return (ssize_t)got == 0 ? 0 : -1;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

/* Waits for a child; a child somebody else reaped (ECHILD) counts as done. */
static void reap(pid_t pid, int *status)
{
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (status)
		*status = st;
}

enum ns_step {
	STEP_OK = 0,
	STEP_UNSHARE,
	STEP_HOSTNAME,
	STEP_LO_SOCKET,
	STEP_LO_GET,
	STEP_LO_SET,
	STEP_SYSCTL_OPEN,
	STEP_SYSCTL_WRITE,
	STEP_SETNS,
	STEP_EXEC,
};

struct child_report {
	int32_t step;
	int32_t err;
	int32_t index; /* sysctl or namespace index */
};

struct ns_child_args {
	int flags;
	const char *hostname;
	size_t hostname_len;
	bool lo_up;
	char **sysctl_paths; /* "/proc/sys/..." */
	const char *const *sysctl_values;
	size_t n_sysctls;
	int report_w;
	int go_r;
};

static void __attribute__((noreturn)) child_fail(int fd, enum ns_step step, int e, int index)
{
	struct child_report r = {.step = step, .err = e, .index = index};
	write_all_raw(fd, &r, sizeof(r));
	_exit(1);
}

static void __attribute__((noreturn)) ns_child(const struct ns_child_args *a)
{
	int keep[2] = {a->report_w, a->go_r};
	close_fds_except(keep, 2);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (unshare(a->flags) < 0)
		child_fail(a->report_w, STEP_UNSHARE, errno, -1);
	if ((a->flags & CLONE_NEWUTS) && a->hostname &&
	    sethostname(a->hostname, a->hostname_len) < 0)
		child_fail(a->report_w, STEP_HOSTNAME, errno, -1);
	if (a->lo_up) {
		int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (s < 0)
			child_fail(a->report_w, STEP_LO_SOCKET, errno, -1);
		struct ifreq ifr;
		memset(&ifr, 0, sizeof(ifr));
		memcpy(ifr.ifr_name, "lo", 3);
		if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
			child_fail(a->report_w, STEP_LO_GET, errno, -1);
		ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
		if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
			child_fail(a->report_w, STEP_LO_SET, errno, -1);
		close(s);
	}
	for (size_t i = 0; i < a->n_sysctls; i++) {
		int fd = open(a->sysctl_paths[i], O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			child_fail(a->report_w, STEP_SYSCTL_OPEN, errno, (int)i);
		size_t len = strlen(a->sysctl_values[i]);
		ssize_t w = write(fd, a->sysctl_values[i], len);
		if (w < 0 || (size_t)w != len)
			child_fail(a->report_w, STEP_SYSCTL_WRITE, w < 0 ? errno : EIO, (int)i);
		close(fd);
	}
	struct child_report ok = {.step = STEP_OK};
	write_all_raw(a->report_w, &ok, sizeof(ok));
	/* Stay alive (and the namespaces with us) until ocid has pinned them: it
	 * writes one byte, or closes its end when it gives up. */
	char b;
	while (read(a->go_r, &b, 1) < 0 && errno == EINTR)
		;
	_exit(0);
}

/* The error for a helper's report, as a message with context. */
static int report_error(const struct child_report *r, const struct pod_sysctl *sysctls,
			const char *hostname, ocid_error **err)
{
	int e = r->err;
	switch ((enum ns_step)r->step) {
	case STEP_UNSHARE:
		return err_set_errno(err, GRPC_INTERNAL, e, "unshare namespaces");
	case STEP_HOSTNAME:
		return err_set_errno(err, GRPC_INTERNAL, e, "set hostname %s", hostname);
	case STEP_LO_SOCKET:
		return err_set_errno(err, GRPC_INTERNAL, e, "bring lo up: socket");
	case STEP_LO_GET:
		return err_set_errno(err, GRPC_INTERNAL, e, "bring lo up: get flags");
	case STEP_LO_SET:
		return err_set_errno(err, GRPC_INTERNAL, e, "bring lo up: set flags");
	case STEP_SYSCTL_OPEN: {
		const char *name = sysctls[r->index].name;
		if (e == ENOENT)
			return err_set(err, GRPC_INVALID_ARGUMENT,
				       "sysctl %s does not exist in the pod's namespace (unknown to "
				       "this kernel, or not namespaced)",
				       name);
		if (e == EACCES || e == EPERM || e == EROFS)
			return err_set(err, GRPC_INVALID_ARGUMENT,
				       "sysctl %s cannot be set in the pod's namespace (read-only "
				       "there: not namespaced)",
				       name);
		return err_set_errno(err, GRPC_INTERNAL, e, "open sysctl %s", name);
	}
	case STEP_SYSCTL_WRITE: {
		const struct pod_sysctl *s = &sysctls[r->index];
		if (e == EINVAL || e == ERANGE || e == EIO)
			return err_set_errno(err, GRPC_INVALID_ARGUMENT, e,
					     "sysctl %s: value \"%s\" refused", s->name, s->value);
		return err_set_errno(err, GRPC_INTERNAL, e, "set sysctl %s=%s", s->name, s->value);
	}
	default:
		return err_set(err, GRPC_INTERNAL, "namespace helper: unknown failure %d (%s)",
			       r->step, strerror(e));
	}
}

int pod_ns_create(const struct pod_ns_spec *spec, struct pod_ns *out, ocid_error **err)
{
	memset(out, 0, sizeof(*out));
	if (spec->pin_dir == NULL || spec->pin_dir[0] != '/')
		return err_set(err, GRPC_INVALID_ARGUMENT, "namespace pin directory must be absolute");
	bool want[POD_NS_COUNT] = {spec->net, spec->ipc, spec->uts, false};
	const char *hostname = NULL;
	if (spec->uts && spec->hostname && *spec->hostname) {
		if (pod_hostname_check(spec->hostname, err) < 0)
			return -1;
		hostname = spec->hostname;
	}
	for (size_t i = 0; i < spec->n_sysctls; i++)
		if (pod_sysctl_check(spec->sysctls[i].name, spec->sysctls[i].value, !spec->net,
				     !spec->ipc, err) < 0)
			return -1;
	int flags = 0;
	for (int t = 0; t < POD_NS_COUNT; t++)
		if (want[t])
			flags |= ns_clone_flags[t];
	if (flags == 0)
		return 0; /* all host namespaces: nothing to pin */

	struct pod_ns pins;
	pod_ns_paths(spec->pin_dir, want, &pins);
	if (fs_mkdir_p(spec->pin_dir, 0700, err) < 0) {
		pod_ns_free(&pins);
		return err_prefix(err, "create pod namespaces");
	}
	for (int t = 0; t < POD_NS_COUNT; t++)
		if (pins.path[t] && pin_precheck(pins.path[t], err) < 0) {
			pod_ns_free(&pins);
			return err_prefix(err, "create pod namespaces");
		}

	/* Everything the helper needs is prepared here, before fork. */
	char **paths = xcalloc(spec->n_sysctls + 1, sizeof(*paths));
	const char **values = xcalloc(spec->n_sysctls + 1, sizeof(*values));
	for (size_t i = 0; i < spec->n_sysctls; i++) {
		cleanup_free char *rel = pod_sysctl_proc_path(spec->sysctls[i].name);
		paths[i] = xasprintf("/proc/sys/%s", rel);
		values[i] = spec->sysctls[i].value;
	}
	int report[2] = {-1, -1}, go[2] = {-1, -1};
	int ret = -1;
	pid_t pid = -1;
	if (pipe2(report, O_CLOEXEC) < 0 || pipe2(go, O_CLOEXEC) < 0) {
		err_set_errno(err, GRPC_INTERNAL, errno, "pipe");
		goto out;
	}
	struct ns_child_args args = {
		.flags = flags,
		.hostname = hostname,
		.hostname_len = hostname ? strlen(hostname) : 0,
		.lo_up = spec->net,
		.sysctl_paths = paths,
		.sysctl_values = values,
		.n_sysctls = spec->n_sysctls,
		.report_w = report[1],
		.go_r = go[0],
	};
	pid = fork();
	if (pid < 0) {
		err_set_errno(err, GRPC_INTERNAL, errno, "fork namespace helper");
		goto out;
	}
	if (pid == 0)
		ns_child(&args);
	close(report[1]);
	report[1] = -1;
	close(go[0]);
	go[0] = -1;

	struct child_report r;
	ssize_t n = read_full(report[0], &r, sizeof(r));
	if (n != (ssize_t)sizeof(r)) {
		int st = 0;
		close(go[1]);
		go[1] = -1;
		reap(pid, &st);
		pid = -1;
		err_set(err, GRPC_INTERNAL, "namespace helper died without a report (status %#x)", st);
		goto out;
	}
	if (r.step != STEP_OK) {
		report_error(&r, spec->sysctls, hostname, err);
		goto out;
	}
	for (int t = 0; t < POD_NS_COUNT; t++)
		if (pins.path[t] && pin(pid, (enum pod_ns_type)t, pins.path[t], err) < 0)
			goto out;
	ret = 0;
out:
	if (go[1] >= 0) {
		if (ret == 0)
			send_go(go[1]);
		close(go[1]);
	}
	if (pid > 0) {
		if (ret < 0)
			kill(pid, SIGKILL);
		reap(pid, NULL);
	}
	if (report[0] >= 0)
		close(report[0]);
	if (report[1] >= 0)
		close(report[1]);
	if (go[0] >= 0)
		close(go[0]);
	strv_free_n(paths, spec->n_sysctls);
	free(values);
	if (ret < 0) {
		ocid_error *ignored = NULL;
		if (pod_ns_remove(spec->pin_dir, &ignored) < 0)
			warn_undo("cannot undo pod namespaces", "dir", spec->pin_dir, ignored);
		err_free(ignored);
		pod_ns_free(&pins);
		return err_prefix(err, "create pod namespaces");
	}
	*out = pins;
	return 0;
}

/* ---- ocid-pause ---- */

const char *pod_pause_default_path(void)
{
	return OCID_PAUSE_PATH;
}

int pod_proc_start_time(pid_t pid, uint64_t *start_time, ocid_error **err)
{
	struct proc_stat ps;
	if (proc_stat_read((int)pid, &ps, err) < 0)
		return -1;
	*start_time = ps.start_time;
	return 0;
}

bool pod_pause_alive(pid_t pid, uint64_t start_time)
{
	struct proc_stat ps;
	return pid > 0 && proc_stat_read((int)pid, &ps, NULL) == 0 && ps.start_time == start_time &&
	       ps.state != 'Z' && ps.state != 'X';
}

void pod_pause_free(struct pod_pause *p)
{
	if (p == NULL)
		return;
	free(p->pidns_path);
	p->pidns_path = NULL;
}

struct pause_child_args {
	const char *path;
	int ns_fds[3];
	int ns_types[3];           /* CLONE_NEW* for setns */
	enum pod_ns_type kinds[3]; /* for error messages */
	size_t n_ns;
	int devnull;
	int go_r;
	int report_w; /* O_CLOEXEC: EOF once exec succeeded */
	int ready_w;  /* becomes ocid-pause's --ready-fd=3 */
};

/* The descriptor number ocid-pause reports readiness on. */
#define PAUSE_READY_FD 3

/* Moves fd above the standard descriptors (the daemon may run with some of
 * them closed, so a pipe can be 0, 1 or 2). */
static int lift_fd(int fd)
{
	if (fd < 0 || fd > 2)
		return fd;
	return fcntl(fd, F_DUPFD_CLOEXEC, 10);
}

static void __attribute__((noreturn)) pause_child(const struct pause_child_args *args)
{
	struct pause_child_args a = *args;
	a.report_w = lift_fd(a.report_w);
	if (a.report_w < 0)
		_exit(126);
	a.devnull = lift_fd(a.devnull);
	a.go_r = lift_fd(a.go_r);
	a.ready_w = lift_fd(a.ready_w);
	for (size_t i = 0; i < a.n_ns; i++)
		a.ns_fds[i] = lift_fd(a.ns_fds[i]);
	if (a.devnull < 0 || a.go_r < 0 || a.ready_w < 0)
		child_fail(a.report_w, STEP_EXEC, errno, -1);
	int keep[7] = {a.devnull, a.go_r, a.report_w, a.ready_w, -1, -1, -1};
	for (size_t i = 0; i < a.n_ns; i++) {
		if (a.ns_fds[i] < 0)
			child_fail(a.report_w, STEP_EXEC, errno, -1);
		keep[4 + i] = a.ns_fds[i];
	}
	close_fds_except(keep, 7);
	for (size_t i = 0; i < a.n_ns; i++)
		if (setns(a.ns_fds[i], a.ns_types[i]) < 0)
			child_fail(a.report_w, STEP_SETNS, errno, (int)i);
	/* Wait until ocid has moved us into the pod cgroup and pinned our PID
	 * namespace; EOF means it gave up. */
	char b;
	ssize_t r;
	while ((r = read(a.go_r, &b, 1)) < 0 && errno == EINTR)
		;
	if (r != 1)
		_exit(1);
	if (dup2(a.devnull, 0) < 0 || dup2(a.devnull, 1) < 0 || dup2(a.devnull, 2) < 0)
		child_fail(a.report_w, STEP_EXEC, errno, -1);
	setsid();
	if (chdir("/") < 0)
		child_fail(a.report_w, STEP_EXEC, errno, -1);
	/* PAUSE_READY_FD is ocid-pause's: move report_w off it first. */
	if (a.report_w == PAUSE_READY_FD) {
		int moved = fcntl(a.report_w, F_DUPFD_CLOEXEC, 10);
		if (moved < 0)
			_exit(126);
		a.report_w = moved;
	}
	if (a.ready_w != PAUSE_READY_FD) {
		if (dup2(a.ready_w, PAUSE_READY_FD) < 0) /* dup2 clears O_CLOEXEC */
			child_fail(a.report_w, STEP_EXEC, errno, -1);
	} else if (fcntl(PAUSE_READY_FD, F_SETFD, 0) < 0) {
		child_fail(a.report_w, STEP_EXEC, errno, -1);
	}
	int keep2[2] = {PAUSE_READY_FD, a.report_w};
	close_fds_except(keep2, 2);
	char ready_arg[] = "--ready-fd=3";
	char *const argv[] = {(char *)"ocid-pause", ready_arg, NULL};
	char *const envp[] = {NULL};
	execve(a.path, argv, envp);
	child_fail(a.report_w, STEP_EXEC, errno, -1);
}

static int pause_child_fn(void *arg)
{
	pause_child(arg);
}

/* clone(2) into a new PID namespace, fork-like (no CLONE_VM): the child runs
 * on a copy of this stack, which the parent can unmap at once. */
static pid_t clone_newpid(struct pause_child_args *a)
{
	const size_t size = 64 * 1024;
	void *stack = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK,
			   -1, 0);
	if (stack == MAP_FAILED)
		return -1;
	pid_t pid = clone(pause_child_fn, (char *)stack + size, CLONE_NEWPID | SIGCHLD, a);
	int saved = errno;
	munmap(stack, size);
	errno = saved;
	return pid;
}

static int pause_report_error(const struct child_report *r, const struct pause_child_args *a,
			      const char *path, ocid_error **err)
{
	if (r->step == STEP_SETNS)
		return err_set_errno(err, GRPC_INTERNAL, r->err, "join the pod's %s namespace",
				     r->index >= 0 && (size_t)r->index < a->n_ns
					     ? ns_names[a->kinds[r->index]]
					     : "?");
	return err_set_errno(err, GRPC_INTERNAL, r->err, "exec %s", path);
}

/* Kills and reaps a pause that did not make it. */
static void pause_abort(int pidfd, pid_t pid)
{
	if (pidfd >= 0)
		pidfd_send_signal(pidfd, SIGKILL, NULL, 0);
	else
		kill(pid, SIGKILL);
	reap(pid, NULL);
}

int pod_pause_start(const struct pod_pause_spec *spec, struct pod_pause *out, ocid_error **err)
{
	memset(out, 0, sizeof(*out));
	out->pid = -1;
	const char *path = spec->pause_path ? spec->pause_path : pod_pause_default_path();
	if (spec->pin_dir == NULL || spec->pin_dir[0] != '/')
		return err_set(err, GRPC_INVALID_ARGUMENT, "namespace pin directory must be absolute");
	if (spec->cgroup && (spec->cgroup_leaf == NULL || *spec->cgroup_leaf == '\0'))
		return err_set(err, GRPC_INVALID_ARGUMENT, "start ocid-pause: no cgroup leaf name");
	if (access(path, X_OK) < 0)
		return err_set_errno(err, GRPC_FAILED_PRECONDITION, errno,
				     "start ocid-pause: cannot execute %s", path);
	cleanup_free char *pin_path = xasprintf("%s/pid", spec->pin_dir);
	if (fs_mkdir_p(spec->pin_dir, 0700, err) < 0 || pin_precheck(pin_path, err) < 0)
		return err_prefix(err, "start ocid-pause");

	struct pause_child_args a = {
		.path = path, .devnull = -1, .go_r = -1, .report_w = -1, .ready_w = -1};
	int go_w = -1, report_r = -1, ready_r = -1, pidfd = -1, ret = -1;
	pid_t pid = -1;
	bool pinned = false;
	static const enum pod_ns_type join[] = {POD_NS_UTS, POD_NS_IPC, POD_NS_NET};
	for (size_t i = 0; spec->ns && i < 3; i++) {
		const char *p = spec->ns->path[join[i]];
		if (p == NULL)
			continue;
		int fd = open(p, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			err_set_errno(err, GRPC_INTERNAL, errno, "open %s", p);
			goto out;
		}
		a.ns_fds[a.n_ns] = fd;
		a.ns_types[a.n_ns] = ns_clone_flags[join[i]];
		a.kinds[a.n_ns] = join[i];
		a.n_ns++;
	}
	a.devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (a.devnull < 0) {
		err_set_errno(err, GRPC_INTERNAL, errno, "open /dev/null");
		goto out;
	}
	int p1[2], p2[2], p3[2];
	if (pipe2(p1, O_CLOEXEC) < 0) {
		err_set_errno(err, GRPC_INTERNAL, errno, "pipe");
		goto out;
	}
	a.go_r = p1[0];
	go_w = p1[1];
	if (pipe2(p2, O_CLOEXEC) < 0) {
		err_set_errno(err, GRPC_INTERNAL, errno, "pipe");
		goto out;
	}
	report_r = p2[0];
	a.report_w = p2[1];
	if (pipe2(p3, O_CLOEXEC) < 0) {
		err_set_errno(err, GRPC_INTERNAL, errno, "pipe");
		goto out;
	}
	ready_r = p3[0];
	a.ready_w = p3[1];

	/* clone3 rather than unshare: the child itself becomes pid 1 of the new
	 * namespace, and stays a child of ocid. */
	struct clone_args ca;
	memset(&ca, 0, sizeof(ca));
	ca.flags = CLONE_NEWPID | CLONE_PIDFD;
	ca.pidfd = (uint64_t)(uintptr_t)&pidfd;
	ca.exit_signal = SIGCHLD;
	pid = (pid_t)syscall(SYS_clone3, &ca, sizeof(ca));
	if (pid < 0 && errno == ENOSYS) {
		/* No clone3 (old kernel, valgrind, a seccomp filter): clone(2). */
		pidfd = -1;
		pid = clone_newpid(&a);
		if (pid > 0) {
			pidfd = pidfd_open(pid, 0); /* may be ENOSYS too: kill(2) then */
			if (pidfd < 0)
				pidfd = -1;
		}
	}
	if (pid < 0) {
		err_set_errno(err, GRPC_INTERNAL, errno, "clone (new PID namespace)");
		goto out;
	}
	if (pid == 0)
		pause_child(&a);
	close(a.go_r);
	a.go_r = -1;
	close(a.report_w);
	a.report_w = -1;
	close(a.ready_w);
	a.ready_w = -1;

	struct child_report r;
	if ((spec->cgroup && pod_cgroup_add_pid(spec->cgroup, spec->cgroup_leaf, pid, err) < 0) ||
	    pin(pid, POD_NS_PID, pin_path, err) < 0) {
		/* A child that failed early (setns) is the cause: say so instead. */
		struct pollfd early = {.fd = report_r, .events = POLLIN};
		if (poll(&early, 1, 0) == 1 && read_full(report_r, &r, sizeof(r)) == sizeof(r)) {
			err_clear(err);
			pause_report_error(&r, &a, path, err);
		}
		goto out;
	}
	pinned = true;
	send_go(go_w);
	close(go_w);
	go_w = -1;
	ssize_t n = read_full(report_r, &r, sizeof(r));
	if (n == (ssize_t)sizeof(r)) {
		pause_report_error(&r, &a, path, err);
		goto out;
	}
	if (n < 0) {
		err_set_errno(err, GRPC_INTERNAL, errno, "read from ocid-pause child");
		goto out;
	}
	/* EOF: exec succeeded. Now wait for its handlers to be in place. */
	struct pollfd pfd = {.fd = ready_r, .events = POLLIN};
	int pr;
	while ((pr = poll(&pfd, 1, 5000)) < 0 && errno == EINTR)
		;
	char ready = 0;
	if (pr <= 0 || read(ready_r, &ready, 1) != 1 || ready != 'R') {
		err_set(err, GRPC_INTERNAL, "%s did not report ready%s", path,
			pr == 0 ? " within 5 s" : " (it exited)");
		goto out;
	}
	if (pod_proc_start_time(pid, &out->start_time, err) < 0)
		goto out;
	out->pid = pid;
	out->pidns_path = steal_pointer(&pin_path);
	ret = 0;
out:
	if (ret < 0 && pid > 0)
		pause_abort(pidfd, pid);
	if (ret < 0 && pinned) {
		ocid_error *ignored = NULL;
		if (unpin(pin_path, &ignored) < 0)
			warn_undo("cannot unpin PID namespace", "path", pin_path, ignored);
		err_free(ignored);
	}
	if (ret < 0 && pid > 0 && spec->cgroup) {
		const char *leaves[] = {spec->cgroup_leaf, NULL};
		ocid_error *ignored = NULL;
		if (pod_cgroup_remove_leaves(spec->cgroup, leaves, &ignored) < 0)
			warn_undo("cannot remove ocid-pause cgroup", "leaf", spec->cgroup_leaf,
				  ignored);
		err_free(ignored);
	}
	for (size_t i = 0; i < a.n_ns; i++)
		close(a.ns_fds[i]);
	int fds[] = {a.devnull, a.go_r, a.report_w, a.ready_w, go_w, report_r, ready_r, pidfd};
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (fds[i] >= 0)
			close(fds[i]);
	if (ret < 0)
		return err_prefix(err, "start ocid-pause");
	return 0;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* True once (pid, start_time) has exited: reaped here when it is our child,
 * a zombie, gone, or its pid now another process's. */
static bool exited_nopidfd(pid_t pid, uint64_t start_time)
{
	int st;
	pid_t r = waitpid(pid, &st, WNOHANG);
	if (r == pid)
		return true;
	return !pod_pause_alive(pid, start_time);
}

/* Waits up to timeout_ms for the process to exit: with a pidfd by poll,
 * without (no pidfd_open) by looking every few milliseconds. */
static bool wait_exit(int pidfd, pid_t pid, uint64_t start_time, int timeout_ms)
{
	if (pidfd >= 0) {
		struct pollfd pfd = {.fd = pidfd, .events = POLLIN};
		int64_t deadline = now_ms() + timeout_ms;
		for (;;) {
			int64_t left = deadline - now_ms();
			int r = poll(&pfd, 1, left > 0 ? (int)left : 0);
			if (r < 0 && errno == EINTR)
				continue;
			return r > 0;
		}
	}
	int64_t deadline = now_ms() + timeout_ms;
	for (;;) {
		if (exited_nopidfd(pid, start_time))
			return true;
		if (now_ms() >= deadline)
			return false;
		sleep_ms(5);
	}
}

static int send_signal(int pidfd, pid_t pid, int sig)
{
	if (pidfd >= 0)
		return pidfd_send_signal(pidfd, sig, NULL, 0);
	return kill(pid, sig);
}

int pod_pause_stop(pid_t pid, uint64_t start_time, int timeout_ms, ocid_error **err)
{
	if (pid <= 0)
		return 0;
	cleanup_close int pidfd = pidfd_open(pid, 0);
	if (pidfd < 0) {
		if (errno == ESRCH)
			return 0; /* gone (and reaped) */
		if (errno != ENOSYS)
			return err_set_errno(err, GRPC_INTERNAL, errno,
					     "stop ocid-pause %d: pidfd_open", (int)pid);
		pidfd = -1; /* no pidfd_open: signals by pid (a tiny reuse race) */
	}
	/* Checked after pidfd_open: if it still matches, pidfd is that process. */
	uint64_t st = 0;
	ocid_error *e = NULL;
	if (pod_proc_start_time(pid, &st, &e) < 0) {
		bool gone = e->code == GRPC_NOT_FOUND;
		if (!gone) {
			int r = err_set(err, e->code, "stop ocid-pause %d: %s", (int)pid, e->msg);
			err_free(e);
			return r;
		}
		err_free(e);
		return 0;
	}
	if (st != start_time)
		return 0; /* the pid was reused: ours is long gone */
	if (send_signal(pidfd, pid, SIGTERM) < 0 && errno != ESRCH)
		return err_set_errno(err, GRPC_INTERNAL, errno, "stop ocid-pause %d: SIGTERM",
				     (int)pid);
	if (!wait_exit(pidfd, pid, start_time, timeout_ms < 0 ? 0 : timeout_ms)) {
		log_warn("ocid-pause did not exit on SIGTERM, killing it", "pid=%d", (int)pid);
		if (send_signal(pidfd, pid, SIGKILL) < 0 && errno != ESRCH)
			return err_set_errno(err, GRPC_INTERNAL, errno, "stop ocid-pause %d: SIGKILL",
					     (int)pid);
		if (!wait_exit(pidfd, pid, start_time, 5000))
			return err_set(err, GRPC_DEADLINE_EXCEEDED,
				       "stop ocid-pause %d: still running 5 s after SIGKILL", (int)pid);
	}
	/* Reap it when it is our child; ECHILD when it is not (after a restart). */
	if (pidfd >= 0) {
		siginfo_t si;
		while (waitid((idtype_t)P_PIDFD, (id_t)pidfd, &si, WEXITED) < 0 && errno == EINTR)
			;
	} else {
		while (waitpid(pid, NULL, WNOHANG) < 0 && errno == EINTR)
			;
	}
	return 0;
}
