/* A pod's namespaces, created without a pause container (cri-o's "pinns"
 * approach): a short-lived helper process unshares new net, ipc and uts
 * namespaces, sets the hostname, applies the pod's namespaced sysctls and
 * brings `lo` up in them; ocid bind-mounts /proc/<helper>/ns/<type> onto files
 * under the pod's pin directory, which keeps the namespaces alive after the
 * helper exits, and containers join them by path.
 *
 * Pin layout: <runroot>/ns/<sandbox-id>/{net,ipc,uts,pid}; a file is present
 * (and an nsfs mount) only for a namespace the pod owns. Host namespaces are
 * never pinned.
 *
 * A shared PID namespace cannot be pinned alone: it dies with its pid 1. For
 * those pods ocid starts `ocid-pause` (src/pause) as pid 1 of a new PID
 * namespace, joined to the pod's net/ipc/uts namespaces and placed in a child
 * cgroup of the pod cgroup, pins its pid namespace at
 * <pin_dir>/pid too, and records its pid and start time so that a restarted
 * daemon can recognise it.
 *
 * ocid is multi-threaded: no namespace is ever changed in one of its threads,
 * only in forked children that do nothing but system calls before they exit
 * or exec. */
#ifndef OCID_POD_NAMESPACES_H
#define OCID_POD_NAMESPACES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/err.h"

struct pod_cgroup;

/* ---- sysctls ---- */

enum pod_sysctl_ns {
	POD_SYSCTL_NOT_NAMESPACED = 0, /* refused for pods */
	POD_SYSCTL_NET,                /* net.* : the pod's network namespace */
	POD_SYSCTL_IPC,                /* kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.* */
};

struct pod_sysctl {
	const char *name;  /* "net.ipv4.ip_forward" or "net/ipv4/ip_forward" */
	const char *value; /* written as is ("1", "1024 65535") */
};

/* Longest accepted sysctl name and value. */
#define POD_SYSCTL_NAME_MAX 256
#define POD_SYSCTL_VALUE_MAX 4096

/* The namespace a sysctl belongs to, per Kubernetes' namespaced sets. Names
 * may use '.' or '/' as separator (with '/', dots are part of a component,
 * e.g. "net/ipv4/conf/eth0.100/forwarding"). Pure; syntax is not checked. */
enum pod_sysctl_ns pod_sysctl_namespace(const char *name);

/* Checks one of a pod's sysctls: the name's syntax (no empty, "." or ".."
 * components), that it is namespaced, that the pod owns that namespace (net.*
 * refused with host_network, IPC ones with host_ipc), and that the value is
 * one line of bounded length. Fails with INVALID_ARGUMENT naming the sysctl.
 * Pure. Whether the kernel has it (and it is writable in a non-initial
 * namespace) is only known when it is applied by pod_ns_create. */
int pod_sysctl_check(const char *name, const char *value, bool host_network, bool host_ipc,
		     ocid_error **err);

/* The path under /proc/sys for a name ("net/ipv4/ip_forward"), malloc'd, or
 * NULL when the name's syntax is invalid. */
char *pod_sysctl_proc_path(const char *name);

/* A pod hostname: 1..64 (HOST_NAME_MAX) characters of [A-Za-z0-9.-_], not
 * starting or ending with '-' or '.'. INVALID_ARGUMENT otherwise. Pure. */
int pod_hostname_check(const char *hostname, ocid_error **err);

/* ---- pinned namespaces ---- */

enum pod_ns_type {
	POD_NS_NET = 0,
	POD_NS_IPC,
	POD_NS_UTS,
	POD_NS_PID,
	POD_NS_COUNT,
};

/* "net", "ipc", "uts", "pid": also the pin file names. */
const char *pod_ns_type_name(enum pod_ns_type type);

struct pod_ns_spec {
	const char *pin_dir; /* <runroot>/ns/<sandbox-id>; created (0700) if missing */
	bool net, ipc, uts;  /* create a new namespace; false = the pod uses the host's */
	const char *hostname; /* set in the new uts namespace; ignored without one */
	const struct pod_sysctl *sysctls; /* applied in the new namespaces */
	size_t n_sysctls;
};

/* Pinned namespace files, NULL for a namespace the pod shares with the host. */
struct pod_ns {
	char *path[POD_NS_COUNT];
};

/* Call once at start-up with <runroot>/ns: makes it a mount point of its own
 * with private propagation, so that pins made under it are not copied into
 * other mount namespaces (which would keep pod namespaces alive after they
 * are unpinned). Idempotent. */
int pod_ns_root_prepare(const char *ns_root, ocid_error **err);

/* Creates, configures and pins the namespaces spec asks for (sysctls are
 * checked with pod_sysctl_check first). On success out->path[] holds the pin
 * files (out->path[POD_NS_PID] stays NULL: see pod_pause_start). On failure
 * nothing is left behind: no mounts, no pin files, no helper process.
 * Errors: INVALID_ARGUMENT for a bad hostname or sysctl (including one the
 * kernel does not have, or has but not per namespace), ALREADY_EXISTS when
 * a pin already exists there, INTERNAL otherwise; each says which step
 * failed. */
int pod_ns_create(const struct pod_ns_spec *spec, struct pod_ns *out, ocid_error **err);

/* Unpins (umount, MNT_DETACH) and removes every pin file in pin_dir (net,
 * ipc, uts, pid), then pin_dir itself. Idempotent: a missing pin or
 * directory is not an error. Does not stop an ocid-pause process. */
int pod_ns_remove(const char *pin_dir, ocid_error **err);

/* Checks that path is still a pinned namespace (an nsfs mount, statfs
 * NSFS_MAGIC) of the given type. NOT_FOUND when the file is missing,
 * FAILED_PRECONDITION when it is not a pin or the wrong kind. Used by
 * restart recovery. */
int pod_ns_check_pin(const char *path, enum pod_ns_type type, ocid_error **err);
/* pod_ns_check_pin for every non-NULL path of ns. A pinned PID namespace
 * outlives its pid 1 as a mount but cannot take new processes: recovery also
 * checks the ocid-pause with pod_pause_alive. */
int pod_ns_check(const struct pod_ns *ns, ocid_error **err);

/* The pin paths for pin_dir of the namespaces that are flagged in want[],
 * as pod_ns_create would return them (to rebuild a pod_ns after a restart). */
void pod_ns_paths(const char *pin_dir, const bool want[POD_NS_COUNT], struct pod_ns *out);

/* Frees the paths (not the pins) and NULLs them. */
void pod_ns_free(struct pod_ns *ns);

/* ---- the shared PID namespace: ocid-pause as its pid 1 ---- */

struct pod_pause_spec {
	const char *pause_path;         /* NULL = pod_pause_default_path() */
	const struct pod_ns *ns;        /* the pod's namespaces to join (NULL entries: host's) */
	const char *pin_dir;            /* the pid namespace is pinned at <pin_dir>/pid */
	const struct pod_cgroup *cgroup; /* NULL = stay in ocid's cgroups */
	/* The child cgroup of the pod cgroup ocid-pause runs in, e.g.
	 * "ocid-<sandbox-id>": per sandbox, because sandbox attempts of one pod
	 * share the pod cgroup; and on cgroup v2 the pod cgroup itself must stay
	 * free of processes so that its children (the containers) can have
	 * controllers enabled. Required with cgroup. Pass it to
	 * pod_cgroup_remove's leaves. */
	const char *cgroup_leaf;
};

struct pod_pause {
	pid_t pid;           /* in ocid's PID namespace */
	uint64_t start_time; /* /proc/<pid>/stat field 22, clock ticks after boot */
	char *pidns_path;    /* <pin_dir>/pid */
};

/* The installed ocid-pause (libexecdir). */
const char *pod_pause_default_path(void);

/* Starts ocid-pause as pid 1 of a new PID namespace (clone3 with
 * CLONE_NEWPID: it is a child of the calling process, which pod_pause_stop
 * reaps), joined to spec->ns, moved into <pod cgroup>/<cgroup_leaf> before it
 * execs, and pins the PID namespace at <pin_dir>/pid. Returns once ocid-pause
 * has said it is ready (its signal handlers are in place, so a stop at once
 * works). On failure nothing is left behind: the process is killed and
 * reaped, the pin and the leaf cgroup removed. */
int pod_pause_start(const struct pod_pause_spec *spec, struct pod_pause *out, ocid_error **err);

/* Stops the ocid-pause recorded as (pid, start_time): SIGTERM, up to
 * timeout_ms for it to exit, then SIGKILL. A process that is gone (or whose
 * pid now belongs to another process) counts as stopped: idempotent. Reaps
 * it when it is a child of the caller. Does not unpin (pod_ns_remove does). */
int pod_pause_stop(pid_t pid, uint64_t start_time, int timeout_ms, ocid_error **err);

/* True when pid is alive and still the process that started at start_time. */
bool pod_pause_alive(pid_t pid, uint64_t start_time);

/* Field 22 (starttime) of /proc/<pid>/stat. NOT_FOUND when pid is gone. */
int pod_proc_start_time(pid_t pid, uint64_t *start_time, ocid_error **err);

void pod_pause_free(struct pod_pause *p);

#endif
