/* Pod cgroups, cgroupfs driver.
 *
 * A pod cgroup is a path relative to each hierarchy's root, taken from the
 * CRI cgroup_parent ("/kubepods/besteffort/pod<uid>"; the kubelet passes the
 * pod's own cgroup there) or, when empty, "/ocid/pod-<sandbox-id>". It is
 * created in every writable hierarchy found in /proc/self/mountinfo: each
 * mounted v1 hierarchy (including named ones such as name=systemd) and the
 * v2 one. Both layouts are handled: hybrid (v1 controllers plus cgroup2 at
 * /sys/fs/cgroup/unified) and pure v2 (cgroup2 at /sys/fs/cgroup). On pure v2
 * the controllers available are enabled in cgroup.subtree_control down to the
 * pod cgroup's parent, so the pod cgroup has them.
 *
 * The pod cgroup can be shared: the kubelet passes the same cgroup_parent to
 * every sandbox attempt of a pod. So ocid records, per hierarchy, how many
 * trailing components of the path it created, and removal takes away only
 * the child cgroups it is told about (a sandbox's ocid-pause leaf), then what
 * ocid created, leaf first, when no other child cgroup is left in it. */
#ifndef OCID_POD_CGROUP_H
#define OCID_POD_CGROUP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "util/err.h"

/* Longest accepted cgroup path (relative to a hierarchy root). */
#define CGROUP_PATH_MAX 1024

struct cgroup_hierarchy {
	char *mountpoint;  /* "/sys/fs/cgroup/memory" */
	char *root;        /* the hierarchy's directory mounted there, usually "/" */
	char *controllers; /* v1: "cpu,cpuacct", "name=systemd"; v2: "" */
	int version;       /* 1 or 2 */
	bool read_only;    /* mounted ro: skipped by create/remove */
};

struct cgroup_layout {
	struct cgroup_hierarchy *h;
	size_t n;
	bool pure_v2; /* a cgroup2 hierarchy and no v1 controller hierarchy */
};

/* Parses mountinfo text (the format of /proc/self/mountinfo) into the
 * mounted hierarchies, each listed once (a hierarchy mounted several times
 * is taken from the mount with the shortest root). Pure. Fails with INTERNAL
 * on a malformed line that names a cgroup filesystem. */
int cgroup_layout_parse(const char *mountinfo, struct cgroup_layout *out, ocid_error **err);
/* cgroup_layout_parse on /proc/self/mountinfo. */
int cgroup_layout_load(struct cgroup_layout *out, ocid_error **err);
void cgroup_layout_free(struct cgroup_layout *l);

/* Checks a cgroupfs path: absolute, at most CGROUP_PATH_MAX bytes, components
 * of 1..255 printable non-space characters other than '\\', none "." or ".."
 * or starting with "cgroup.", not the root itself. A systemd slice name
 * ("kubepods-pod1.slice") gets a message saying the cgroupfs driver is in
 * use. INVALID_ARGUMENT otherwise. Pure. */
int cgroup_path_check(const char *path, ocid_error **err);

/* The pod cgroup path for a CRI cgroup_parent: cgroup_parent itself (checked,
 * repeated and trailing '/' removed) or, when empty, "/ocid/pod-<sandbox_id>"
 * (sandbox_id: 1..128 of [A-Za-z0-9_-]). Pure. */
int pod_cgroup_path(const char *cgroup_parent, const char *sandbox_id, char **out,
		    ocid_error **err);

/* The directory of cgroup path in hierarchy h: the mountpoint joined with the
 * path (made relative to the mount's root when the path lies under it).
 * malloc'd. Pure. */
char *cgroup_hierarchy_dir(const struct cgroup_hierarchy *h, const char *path);

struct pod_cgroup_hier {
	char *mountpoint;
	char *root;
	int version;
	int created; /* trailing path components ocid created (0: it existed) */
};

struct pod_cgroup {
	char *path; /* "/kubepods/besteffort/pod<uid>" */
	bool pure_v2;
	struct pod_cgroup_hier *h;
	size_t n;
};

/* Creates path in every writable hierarchy of layout (an existing cgroup is
 * reused). On v1 cpuset, new cgroups get their parent's cpus and mems so that
 * processes can join them. On failure what was created is removed again. */
int pod_cgroup_create(const struct cgroup_layout *layout, const char *path,
		      struct pod_cgroup **out, ocid_error **err);

/* Moves pid (the whole thread group) into the pod cgroup in every hierarchy;
 * into its child cgroup `leaf` (created if missing) when leaf is not NULL. */
int pod_cgroup_add_pid(const struct pod_cgroup *cg, const char *leaf, pid_t pid,
		       ocid_error **err);

/* The directory of the pod cgroup in each hierarchy, for checks and
 * diagnostics: *dirs is a malloc'd array of cg->n malloc'd strings. */
void pod_cgroup_dirs(const struct pod_cgroup *cg, char ***dirs);

/* In every hierarchy: removes the child cgroups named in leaves (a
 * NULL-terminated list, or NULL; e.g. the sandbox's ocid-pause leaf), then,
 * where ocid created them, the pod cgroup, unless other child cgroups are
 * still in it (another sandbox of the same pod), and its created parents
 * while they are empty. Leaf first. A cgroup that is busy (processes still
 * exiting) is retried for about a second. Idempotent: gone cgroups are not an
 * error. Fails with FAILED_PRECONDITION when a cgroup stays busy, after
 * trying every hierarchy. */
int pod_cgroup_remove(const struct pod_cgroup *cg, const char *const *leaves, ocid_error **err);

/* Only the first step of pod_cgroup_remove: removes the child cgroups named
 * in leaves in every hierarchy (e.g. after a failed ocid-pause start). */
int pod_cgroup_remove_leaves(const struct pod_cgroup *cg, const char *const *leaves,
			     ocid_error **err);

/* The record to persist, and back:
 * {"path": P, "pure_v2": B, "hierarchies": [{"mountpoint": M, "root": R,
 *  "version": V, "created": N}, ...]} */
json_t *pod_cgroup_to_json(const struct pod_cgroup *cg);
int pod_cgroup_from_json(const json_t *j, struct pod_cgroup **out, ocid_error **err);

void pod_cgroup_free(struct pod_cgroup *cg);

static inline void pod_cgroup_cleanup(struct pod_cgroup **c) { pod_cgroup_free(*c); }
#define cleanup_pod_cgroup __attribute__((cleanup(pod_cgroup_cleanup)))
static inline void cgroup_layout_cleanup(struct cgroup_layout *l) { cgroup_layout_free(l); }
#define cleanup_cgroup_layout __attribute__((cleanup(cgroup_layout_cleanup)))

#endif
