/* The files a pod's containers mount from its sandbox directory:
 *   <dir>/resolv.conf  from the CRI DnsConfig, or a copy of the host's
 *   <dir>/hostname     the pod hostname and a newline
 *   <dir>/hosts        localhost entries, and the hostname mapped to the pod
 *                      IPs once CNI has given them
 *   <dir>/shm          a tmpfs per pod for /dev/shm (the host's /dev/shm
 *                      when the pod uses the host IPC namespace)
 * Files are replaced atomically (written aside, then renamed), so a
 * container starting meanwhile sees the old or the new content, never part;
 * not fsynced (fs_write_atomic_volatile): the sandbox directory is volatile
 * state under runroot. */
#ifndef OCID_POD_SANDBOX_FILES_H
#define OCID_POD_SANDBOX_FILES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define POD_FILE_RESOLV_CONF "resolv.conf"
#define POD_FILE_HOSTNAME "hostname"
#define POD_FILE_HOSTS "hosts"
#define POD_FILE_SHM "shm"

#define POD_HOST_RESOLV_CONF "/etc/resolv.conf"
#define POD_HOST_SHM "/dev/shm"
#define POD_SHM_DEFAULT_SIZE (64ull * 1024 * 1024)

/* Limits as the kubelet validates DNS config (MaxDNSNameservers,
 * MaxDNSSearchPaths, MaxDNSSearchListChars). */
#define POD_DNS_MAX_SERVERS 3
#define POD_DNS_MAX_SEARCHES 32
#define POD_DNS_MAX_SEARCH_CHARS 2048

/* The CRI DnsConfig: repeated strings as arrays with counts. */
struct pod_dns_config {
	const char *const *servers;
	size_t n_servers;
	const char *const *searches;
	size_t n_searches;
	const char *const *options;
	size_t n_options;
};

/* True when dns is NULL or all of its lists are empty. */
bool pod_dns_config_empty(const struct pod_dns_config *dns);

/* resolv.conf content for dns ("nameserver" lines, one "search" line, one
 * "options" line; each only when given), into *out (malloc'd). Checks:
 * at most POD_DNS_MAX_SERVERS IP literals (IPv6 with an optional %zone);
 * at most POD_DNS_MAX_SEARCHES domain names (labels of 1..63 of
 * [A-Za-z0-9_-], at most 253 characters, a trailing '.' allowed) whose
 * search line is at most POD_DNS_MAX_SEARCH_CHARS long; options of 1..255
 * printable characters without space or '#'. INVALID_ARGUMENT otherwise.
 * Pure. */
int pod_resolv_conf_render(const struct pod_dns_config *dns, char **out, ocid_error **err);

/* Writes <dir>/resolv.conf: rendered from dns, or, when dns is empty, a copy
 * of host_resolv_conf (NULL = /etc/resolv.conf), as cri-o does; a missing
 * host file gives an empty one. */
int pod_files_write_resolv_conf(const char *dir, const struct pod_dns_config *dns,
				const char *host_resolv_conf, ocid_error **err);

/* Writes <dir>/hostname ("<hostname>\n"). hostname is checked with
 * pod_hostname_check. */
int pod_files_write_hostname(const char *dir, const char *hostname, ocid_error **err);

/* /etc/hosts content: loopback and IPv6 multicast names, then one
 * "<ip>\t<hostname>" line per IP. INVALID_ARGUMENT for an IP that is not a
 * literal or a bad hostname. Pure. */
int pod_hosts_render(const char *hostname, const char *const *ips, size_t n_ips, char **out,
		     ocid_error **err);

/* Writes <dir>/hosts; call it with no IPs when the sandbox is created and
 * again with the pod IPs after CNI ADD (it replaces the file). */
int pod_files_write_hosts(const char *dir, const char *hostname, const char *const *ips,
			  size_t n_ips, ocid_error **err);

/* The pod's /dev/shm: with host_ipc, the host's /dev/shm; otherwise a tmpfs
 * mounted at <dir>/shm (mode 1777, nosuid, nodev, noexec, size_bytes, 0 =
 * POD_SHM_DEFAULT_SIZE), reused when already mounted (after a restart).
 * *shm_path (malloc'd) is the directory containers bind-mount. */
int pod_shm_setup(const char *dir, bool host_ipc, uint64_t size_bytes, char **shm_path,
		  ocid_error **err);

/* Unmounts <dir>/shm (every mount on it, lazily) and removes the directory.
 * Idempotent: nothing mounted or no directory is not an error. */
int pod_shm_teardown(const char *dir, ocid_error **err);

#endif
