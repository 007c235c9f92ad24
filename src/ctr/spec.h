/* A container's OCI runtime configuration (config.json, runtime-spec 1.0.2
 * as runc 1.1 and crun read it), built from the CRI ContainerConfig, the
 * pod's configuration, the image config and what the pod set up (pinned
 * namespaces, cgroup, shm, resolv.conf/hostname/hosts).
 *
 * Split by concern: spec.c (assembly: process, namespaces, AppArmor,
 * annotations, text form), spec_user.c (user and groups through the image's
 * /etc/passwd and /etc/group), spec_mounts.c (mounts, image volumes, masked
 * and read-only paths), spec_devices.c, spec_caps.c, spec_seccomp.c,
 * spec_resources.c (cgroup resources, rlimits, oom_score_adj, sysctls).
 *
 * Every rejected input is an INVALID_ARGUMENT error naming the CRI field
 * ("linux.resources.cpu_shares: 1 is below the minimum 2"); what this host
 * cannot do is FAILED_PRECONDITION (a named AppArmor profile on a kernel
 * without AppArmor, a capability ocid itself does not hold).
 *
 * Facts about the host (own oom_score_adj, capability bounding set, rlimits,
 * AppArmor, swap accounting, architecture) are probed once into a struct
 * spec_host, so building a spec reads only what belongs to the container:
 * the image's /etc/passwd and /etc/group, mount sources and devices (stat),
 * a Localhost seccomp profile, and /dev for a privileged container. */
#ifndef OCID_CTR_SPEC_H
#define OCID_CTR_SPEC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "api.pb-c.h"
#include "config/config.h"
#include "util/err.h"

/* Mount point of the termination message file when the caller names none. */
#define SPEC_TERMINATION_MESSAGE_PATH "/dev/termination-log"
/* RLIMIT_NOFILE (soft and hard) when default_ulimits does not set nofile,
 * like cri-o; lowered to what ocid itself may grant (spec_host). */
#define SPEC_DEFAULT_NOFILE 1048576
/* Prefix of a container's cgroup under the pod cgroup: <parent>/ocid-<id>. */
#define SPEC_CGROUP_PREFIX "ocid-"
/* Smallest memory limit accepted (cri-o's). */
#define SPEC_MEMORY_MIN (12 * 1024 * 1024)

/* What the host allows, probed once by spec_host_detect (tests fill it by
 * hand). */
struct spec_host {
	/* The lowest oom_score_adj ocid may give: its own when it lacks
	 * CAP_SYS_RESOURCE (the kernel refuses lower values), else -1000. */
	int oom_score_adj_min;
	/* /proc/sys/kernel/cap_last_cap. */
	int cap_last_cap;
	/* ocid's own bounding set: "ALL" and privileged mean every capability
	 * in it; asking for one outside it is FAILED_PRECONDITION. */
	uint64_t cap_bounding;
	/* Hard limit per RLIMIT_* that ocid may grant: its own hard limits
	 * without CAP_SYS_RESOURCE, RLIM_INFINITY with it. */
	uint64_t rlimit_max[RLIM_NLIMITS];
	/* /sys/module/apparmor/parameters/enabled is "Y". */
	bool apparmor;
	/* Profile for AppArmor RuntimeDefault; NULL = leave the container
	 * with the runtime's default (no profile named). */
	const char *apparmor_default;
	/* The memory cgroup accounts swap (memory.memsw.* on v1,
	 * memory.swap.max on v2): memory_swap_limit_in_bytes is applied
	 * only then, as cri-o does. */
	bool swap_accounting;
	/* GOARCH-style name of the native architecture ("amd64", "arm64"...),
	 * for the seccomp architectures and arch-specific rules. */
	char arch[16];
	/* Running kernel, major * 1000 + minor (6.1 -> 6001). */
	int kernel_version;
	/* Where privileged containers take their devices from; "/dev". */
	char dev_dir[64];
};

/* Probes the host. Never fails for a missing optional fact (no AppArmor, no
 * swap accounting): only when /proc is unreadable. */
int spec_host_detect(struct spec_host *out, ocid_error **err);

/* The parts of the image config the spec needs (filled by the caller from
 * struct image_config). Lists are NULL-terminated; NULL = unset. */
struct spec_image {
	char *const *entrypoint;
	char *const *cmd;
	char *const *env;        /* "KEY=VALUE" */
	const char *working_dir; /* relative is taken from "/" */
	const char *user;        /* "", "name", "uid", "uid:gid", "name:group", ... */
	char *const *volumes;    /* absolute container paths */
	const char *name;        /* image name for annotations (may be NULL) */
};

/* One namespace the pod may share: host = the host's (no entry in the
 * spec), path = join that pinned namespace, neither = a new one. */
struct spec_ns {
	const char *path;
	bool host;
};

struct spec_input {
	const char *container_id; /* required */
	const char *sandbox_id;   /* required */
	const Runtime__V1__ContainerConfig *ctr;  /* required */
	const Runtime__V1__PodSandboxConfig *pod; /* may be NULL */
	const struct spec_image *image;           /* may be NULL */
	const struct ocid_runtime_config *rtcfg;  /* required */
	const struct spec_host *host;             /* required */

	const char *rootfs;      /* absolute; the mounted overlay (required) */
	const char *sandbox_dir; /* holds resolv.conf, hostname, hosts; NULL = none */
	const char *shm_path;    /* the pod's /dev/shm; NULL = a private tmpfs */
	/* Directory under which image VOLUMEs get fresh directories (see
	 * spec_result.volumes); NULL = image volumes are not mounted. */
	const char *volumes_dir;

	/* The pod's network, IPC and UTS namespaces. */
	struct spec_ns net, ipc, uts;
	/* PID namespace per NamespaceOption.pid of the container (or of the
	 * pod when the container has none; CONTAINER when neither has one):
	 * POD joins pod_pid (required then), TARGET joins target_pid
	 * (required then), NODE is the host's, CONTAINER a new one. */
	const char *pod_pid;
	const char *target_pid;

	/* cgroupfs path of the pod ("/kubepods/pod<uid>"); the container gets
	 * <cgroup_parent>/ocid-<id>. NULL = no cgroupsPath (the runtime's
	 * default). */
	const char *cgroup_parent;

	/* Host file bound read-write at termination_message_path (NULL =
	 * SPEC_TERMINATION_MESSAGE_PATH) unless a CRI mount already covers
	 * that path. NULL = none. */
	const char *termination_message_host_path;
	const char *termination_message_path;

	/* Refuse to run as uid 0 (the CRI does not carry runAsNonRoot: the
	 * kubelet checks it itself; ocic and tests may ask for it). */
	bool run_as_non_root;
};

/* An image VOLUME that needs a fresh directory before the runtime starts
 * the container (spec_volumes_create makes them). */
struct spec_volume {
	char *host_path;      /* <volumes_dir>/<n>-<escaped path> */
	char *container_path; /* cleaned */
	uid_t uid;            /* owner: the container's user */
	gid_t gid;
};

struct spec_result {
	json_t *config; /* the config.json document (see spec_dumps) */
	struct spec_volume *volumes;
	size_t n_volumes;
	/* The resolved user, for status and exec. */
	uid_t uid;
	gid_t gid;
	char *username; /* from /etc/passwd, NULL when not found there */
};

/* Builds the spec. On failure *out is left zeroed. */
int spec_build(const struct spec_input *in, struct spec_result *out, ocid_error **err);
void spec_result_free(struct spec_result *r);

/* Creates the volume directories (0755, owned by the container's user);
 * existing ones are kept. */
int spec_volumes_create(const struct spec_result *r, ocid_error **err);

/* The OCI LinuxResources object for UpdateContainerResources (cpu, memory,
 * hugepages, pids, unified), checked as spec_build checks them. */
int spec_resources_update(const Runtime__V1__LinuxContainerResources *res, const struct ocid_runtime_config *rtcfg,
			  const struct spec_host *host, json_t **out, ocid_error **err);

/* The config.json text (indented, newline-terminated). In the json_t an
 * unlimited rlimit is -1, since jansson integers are signed; the text has
 * the runtime-spec's 18446744073709551615. malloc'd. */
char *spec_dumps(const json_t *config, ocid_error **err);
/* Parses config.json text as written by spec_dumps (an unlimited rlimit
 * becomes -1 again). DATA_LOSS on malformed text. */
int spec_loads(const char *text, size_t len, json_t **out, ocid_error **err);

#endif
