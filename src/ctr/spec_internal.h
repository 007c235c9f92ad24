/* Shared between the spec_*.c files and their unit tests; not for other
 * modules (they use spec.h). */
#ifndef OCID_CTR_SPEC_INTERNAL_H
#define OCID_CTR_SPEC_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ctr/spec.h"

/* What every part of the assembly needs. */
struct spec_ctx {
	const struct spec_input *in;
	const Runtime__V1__LinuxContainerSecurityContext *sc; /* may be NULL */
	const Runtime__V1__LinuxContainerResources *res;      /* may be NULL */
	bool privileged;
	bool readonly_rootfs;
	uint64_t caps;    /* the bounding (= effective = permitted) set */
	uint64_t ambient; /* also in the inheritable set */
	uid_t uid;
	gid_t gid;
};

/* ---- spec_user.c ---- */

struct spec_user {
	uid_t uid;
	gid_t gid;
	gid_t *groups; /* supplementary, without duplicates */
	size_t n_groups;
	char *name; /* NULL when the uid has no /etc/passwd entry */
	char *home; /* "/" when unknown */
};

/* Largest /etc/passwd or /etc/group read from an image; longer lines are
 * skipped. */
#define SPEC_ETC_FILE_MAX (8u << 20)
#define SPEC_ETC_LINE_MAX (64u << 10)

/* Resolves the container's user (see spec.h): run_as_user, else
 * run_as_username, else the image USER; run_as_group overrides the group;
 * supplementary groups per supplemental_groups_policy. sc may be NULL. */
int spec_user_resolve(const char *rootfs, const Runtime__V1__LinuxContainerSecurityContext *sc,
		      const char *image_user, struct spec_user *out, ocid_error **err);
void spec_user_free(struct spec_user *u);

/* Opens path ("/etc/passwd") for reading inside rootfs, resolving every
 * component (symlinks included) as if rootfs were "/" (openat2
 * RESOLVE_IN_ROOT), or, where openat2 is missing, refusing any symlink on
 * the way. Only a regular file is accepted. Returns 0 with *fd set, 0 with
 * *fd = -1 when the file does not exist, < 0 on error. */
int spec_rootfs_open(const char *rootfs, const char *path, int *fd, ocid_error **err);
/* Tests set this to exercise the fallback without openat2. */
extern bool spec_rootfs_no_openat2;

/* "123" -> 123 for a uid or gid (0..4294967294); false otherwise. */
bool spec_parse_id(const char *s, uint32_t *out);

/* ---- spec_caps.c ---- */

#define SPEC_CAP_COUNT 41 /* CAP_CHOWN .. CAP_CHECKPOINT_RESTORE */

/* "CAP_CHOWN", "chown", "Cap_Chown" -> 0; -1 for an unknown name. */
int spec_cap_from_name(const char *name);
/* 0 -> "CAP_CHOWN"; NULL when out of range. */
const char *spec_cap_name(int cap);
/* Fills ctx->caps and ctx->ambient from the runtime defaults, the CRI
 * add/drop lists (with "ALL") and privileged. */
int spec_caps_compute(struct spec_ctx *ctx, ocid_error **err);
/* process.capabilities for the sets in ctx. */
json_t *spec_caps_json(const struct spec_ctx *ctx);

/* ---- spec_seccomp.c ---- */

/* linux.seccomp, or *out = NULL for none (unconfined, privileged). */
int spec_seccomp_build(const struct spec_ctx *ctx, json_t **out, ocid_error **err);
/* The built-in RuntimeDefault profile for a container with caps. */
json_t *spec_seccomp_default(const struct spec_host *host, uint64_t caps);
/* A profile file: OCI form (linux.seccomp as is) or the Docker/containers
 * form (archMap, includes/excludes), turned into the OCI form for host and
 * caps. Errors name the file. */
int spec_seccomp_load_file(const char *path, const struct spec_host *host, uint64_t caps,
			   json_t **out, ocid_error **err);

/* ---- spec_mounts.c ---- */

/* The cleaned form of an absolute path ("//a/./b/../c/" -> "/a/c"); NULL
 * for a relative or empty one. malloc'd. */
char *spec_path_clean(const char *path);
/* mounts, root.readonly's companions (masked and read-only paths),
 * rootfsPropagation, and the image volumes in out. */
int spec_mounts_build(const struct spec_ctx *ctx, json_t *spec, struct spec_result *out,
		      ocid_error **err);

/* ---- spec_devices.c ---- */

/* linux.devices and linux.resources.devices. */
int spec_devices_build(const struct spec_ctx *ctx, json_t *linux_obj, json_t *resources,
		       ocid_error **err);

/* ---- spec_resources.c ---- */

/* linux.resources (cpu, memory, hugepages, pids, unified) and
 * linux.cgroupsPath. */
int spec_resources_build(const struct spec_ctx *ctx, json_t *linux_obj, json_t *resources,
			 ocid_error **err);
/* process.rlimits. */
int spec_rlimits_build(const struct spec_ctx *ctx, json_t *process, ocid_error **err);
/* process.oomScoreAdj: the requested value clamped to host->oom_score_adj_min. */
int spec_oom_score_adj(const struct spec_ctx *ctx, int *out, ocid_error **err);
/* linux.sysctl from the runtime defaults and the pod's sysctls. */
int spec_sysctls_build(const struct spec_ctx *ctx, json_t *linux_obj, ocid_error **err);

/* ---- small JSON helpers (spec.c) ---- */

/* A JSON string for s; bytes that are not UTF-8 become U+FFFD (as Go's
 * encoder does), so untrusted input never fails the build. */
json_t *spec_json_str(const char *s);
/* json_array of strings (spec_json_str each). */
json_t *spec_json_strv(const char *const *v, size_t n);
/* Sets obj[key] = value (stealing the reference); aborts on allocation
 * failure, as xalloc does. */
void spec_json_set(json_t *obj, const char *key, json_t *value);
void spec_json_append(json_t *arr, json_t *value);

#endif
