#include "pod/sandbox_files.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "pod/namespaces.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/xalloc.h"

/* Largest host resolv.conf copied. */
#define HOST_RESOLV_MAX (64 * 1024)

/* ---- resolv.conf ---- */

bool pod_dns_config_empty(const struct pod_dns_config *dns)
{
	return dns == NULL || (dns->n_servers == 0 && dns->n_searches == 0 && dns->n_options == 0);
}

static bool ip_literal_ok(const char *s, bool allow_zone)
{
	unsigned char buf[sizeof(struct in6_addr)];
	if (inet_pton(AF_INET, s, buf) == 1)
		return true;
	const char *pct = allow_zone ? strchr(s, '%') : NULL;
	if (pct == NULL)
		return inet_pton(AF_INET6, s, buf) == 1;
	/* fe80::1%eth0: a zone only makes sense for a link-local address. */
	size_t zlen = strlen(pct + 1);
	if (zlen == 0 || zlen >= IF_NAMESIZE || (size_t)(pct - s) >= INET6_ADDRSTRLEN)
		return false;
	for (const char *z = pct + 1; *z; z++)
		if (*z <= ' ' || *z == '/' || *z >= 0x7f)
			return false;
	char addr[INET6_ADDRSTRLEN];
	memcpy(addr, s, (size_t)(pct - s));
	addr[pct - s] = '\0';
	return inet_pton(AF_INET6, addr, buf) == 1;
}

static bool domain_ok(const char *d)
{
	size_t len = strlen(d);
	if (len > 0 && d[len - 1] == '.')
		len--;
	if (len == 0 || len > 253)
		return false;
	size_t label = 0;
	for (size_t i = 0; i < len; i++) {
		char c = d[i];
		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			  c == '-' || c == '_';
		if (!ok || ++label > 63)
			return false;
	}
	return label > 0;
}

static bool option_ok(const char *o)
{
	size_t len = strlen(o);
	if (len == 0 || len > 255)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)o[i] <= ' ' || o[i] == 0x7f || o[i] == '#' || o[i] == ';')
			return false;
	return true;
}

int pod_resolv_conf_render(const struct pod_dns_config *dns, char **out, ocid_error **err)
{
	*out = NULL;
	static const struct pod_dns_config none = {0};
	if (dns == NULL)
		dns = &none;
	if (dns->n_servers > POD_DNS_MAX_SERVERS)
		return err_set(err, GRPC_INVALID_ARGUMENT,
			       "dns_config: %zu servers, at most %d are allowed", dns->n_servers,
			       POD_DNS_MAX_SERVERS);
	for (size_t i = 0; i < dns->n_servers; i++)
		if (dns->servers[i] == NULL || !ip_literal_ok(dns->servers[i], true))
			return err_set(err, GRPC_INVALID_ARGUMENT,
				       "dns_config: server \"%.64s\" is not an IP address",
				       dns->servers[i] ? dns->servers[i] : "");
	if (dns->n_searches > POD_DNS_MAX_SEARCHES)
		return err_set(err, GRPC_INVALID_ARGUMENT,
			       "dns_config: %zu search domains, at most %d are allowed",
			       dns->n_searches, POD_DNS_MAX_SEARCHES);
	size_t chars = 0;
	for (size_t i = 0; i < dns->n_searches; i++) {
		if (dns->searches[i] == NULL || !domain_ok(dns->searches[i]))
			return err_set(err, GRPC_INVALID_ARGUMENT,
				       "dns_config: search domain \"%.253s\" is not a valid domain name",
				       dns->searches[i] ? dns->searches[i] : "");
		chars += strlen(dns->searches[i]) + (i ? 1 : 0);
	}
	if (chars > POD_DNS_MAX_SEARCH_CHARS)
		return err_set(err, GRPC_INVALID_ARGUMENT,
			       "dns_config: search list is %zu characters long, at most %d are "
			       "allowed",
			       chars, POD_DNS_MAX_SEARCH_CHARS);
	for (size_t i = 0; i < dns->n_options; i++)
		if (dns->options[i] == NULL || !option_ok(dns->options[i]))
			return err_set(err, GRPC_INVALID_ARGUMENT,
				       "dns_config: invalid option \"%.64s\"",
				       dns->options[i] ? dns->options[i] : "");

	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (f == NULL)
		return err_set_errno(err, GRPC_INTERNAL, errno, "open_memstream");
	for (size_t i = 0; i < dns->n_servers; i++)
		fprintf(f, "nameserver %s\n", dns->servers[i]);
	if (dns->n_searches) {
		fputs("search", f);
		for (size_t i = 0; i < dns->n_searches; i++)
			fprintf(f, " %s", dns->searches[i]);
		fputc('\n', f);
	}
	if (dns->n_options) {
		fputs("options", f);
		for (size_t i = 0; i < dns->n_options; i++)
			fprintf(f, " %s", dns->options[i]);
		fputc('\n', f);
	}
	if (fclose(f) != 0 || buf == NULL) {
		free(buf);
		return err_set(err, GRPC_INTERNAL, "render resolv.conf: out of memory");
	}
	*out = buf;
	return 0;
}

int pod_files_write_resolv_conf(const char *dir, const struct pod_dns_config *dns,
				const char *host_resolv_conf, ocid_error **err)
{
	cleanup_free char *path = xasprintf("%s/%s", dir, POD_FILE_RESOLV_CONF);
	if (!pod_dns_config_empty(dns)) {
		cleanup_free char *content = NULL;
		if (pod_resolv_conf_render(dns, &content, err) < 0)
			return -1;
		if (fs_write_atomic_volatile(path, content, strlen(content), 0644, err) < 0)
			return err_prefix(err, "write resolv.conf");
		return 0;
	}
	const char *src = host_resolv_conf ? host_resolv_conf : POD_HOST_RESOLV_CONF;
	cleanup_close int fd = open(src, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno != ENOENT)
		return err_set_errno(err, GRPC_INTERNAL, errno, "write resolv.conf: open %s", src);
	cleanup_free char *content = xmalloc(HOST_RESOLV_MAX + 1);
	size_t len = 0;
	if (fd < 0) {
		log_warn("host resolv.conf not found, pod gets an empty one", "path=\"%s\"", src);
	} else {
		for (;;) {
			ssize_t r = read(fd, content + len, HOST_RESOLV_MAX + 1 - len);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0)
				return err_set_errno(err, GRPC_INTERNAL, errno,
						     "write resolv.conf: read %s", src);
			if (r == 0)
				break;
			len += (size_t)r;
			if (len > HOST_RESOLV_MAX)
				return err_set(err, GRPC_FAILED_PRECONDITION,
					       "write resolv.conf: %s is larger than %d bytes", src,
					       HOST_RESOLV_MAX);
		}
	}
	if (fs_write_atomic_volatile(path, content, len, 0644, err) < 0)
		return err_prefix(err, "write resolv.conf");
	return 0;
}

/* ---- hostname, hosts ---- */

int pod_files_write_hostname(const char *dir, const char *hostname, ocid_error **err)
{
	if (pod_hostname_check(hostname, err) < 0)
		return -1;
	cleanup_free char *path = xasprintf("%s/%s", dir, POD_FILE_HOSTNAME);
	cleanup_free char *content = xasprintf("%s\n", hostname);
	if (fs_write_atomic_volatile(path, content, strlen(content), 0644, err) < 0)
		return err_prefix(err, "write hostname file");
	return 0;
}

int pod_hosts_render(const char *hostname, const char *const *ips, size_t n_ips, char **out,
		     ocid_error **err)
{
	*out = NULL;
	if (pod_hostname_check(hostname, err) < 0)
		return -1;
	for (size_t i = 0; i < n_ips; i++)
		if (ips[i] == NULL || !ip_literal_ok(ips[i], false))
			return err_set(err, GRPC_INVALID_ARGUMENT, "pod IP \"%.64s\" is not an IP address",
				       ips[i] ? ips[i] : "");
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (f == NULL)
		return err_set_errno(err, GRPC_INTERNAL, errno, "open_memstream");
	fputs("# Kubernetes-managed hosts file (ocid).\n"
	      "127.0.0.1\tlocalhost\n"
	      "::1\tlocalhost ip6-localhost ip6-loopback\n"
	      "fe00::0\tip6-localnet\n"
	      "fe00::0\tip6-mcastprefix\n"
	      "fe00::1\tip6-allnodes\n"
	      "fe00::2\tip6-allrouters\n",
	      f);
	for (size_t i = 0; i < n_ips; i++)
		fprintf(f, "%s\t%s\n", ips[i], hostname);
	if (fclose(f) != 0 || buf == NULL) {
		free(buf);
		return err_set(err, GRPC_INTERNAL, "render hosts: out of memory");
	}
	*out = buf;
	return 0;
}

int pod_files_write_hosts(const char *dir, const char *hostname, const char *const *ips,
			  size_t n_ips, ocid_error **err)
{
	cleanup_free char *content = NULL;
	if (pod_hosts_render(hostname, ips, n_ips, &content, err) < 0)
		return err_prefix(err, "write hosts file");
	cleanup_free char *path = xasprintf("%s/%s", dir, POD_FILE_HOSTS);
	if (fs_write_atomic_volatile(path, content, strlen(content), 0644, err) < 0)
		return err_prefix(err, "write hosts file");
	return 0;
}

/* ---- /dev/shm ---- */

/* A tmpfs mounted right on path (not just a directory inside one). */
static bool is_tmpfs_mountpoint(const char *path, const char *parent)
{
	struct statfs sfs;
	struct stat st, pst;
	if (statfs(path, &sfs) < 0 || (unsigned long)sfs.f_type != (unsigned long)TMPFS_MAGIC)
		return false;
	if (stat(path, &st) < 0 || stat(parent, &pst) < 0)
		return false;
	return st.st_dev != pst.st_dev;
}

int pod_shm_setup(const char *dir, bool host_ipc, uint64_t size_bytes, char **shm_path,
		  ocid_error **err)
{
	*shm_path = NULL;
	if (host_ipc) {
		*shm_path = xstrdup(POD_HOST_SHM);
		return 0;
	}
	if (size_bytes == 0)
		size_bytes = POD_SHM_DEFAULT_SIZE;
	cleanup_free char *path = xasprintf("%s/%s", dir, POD_FILE_SHM);
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		return err_set_errno(err, GRPC_INTERNAL, errno, "set up pod shm: create %s", path);
	if (!is_tmpfs_mountpoint(path, dir)) {
		char opts[64];
		snprintf(opts, sizeof(opts), "mode=1777,size=%llu", (unsigned long long)size_bytes);
		if (mount("shm", path, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, opts) < 0) {
			int e = errno;
			rmdir(path);
			return err_set_errno(err, GRPC_INTERNAL, e, "set up pod shm: mount tmpfs on %s",
					     path);
		}
	}
	*shm_path = steal_pointer(&path);
	return 0;
}

int pod_shm_teardown(const char *dir, ocid_error **err)
{
	cleanup_free char *path = xasprintf("%s/%s", dir, POD_FILE_SHM);
	for (int i = 0; i < 16; i++) {
		if (umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
			continue;
		if (errno == EINVAL || errno == ENOENT)
			break;
		return err_set_errno(err, GRPC_INTERNAL, errno, "unmount pod shm %s", path);
	}
	if (rmdir(path) < 0 && errno != ENOENT)
		return err_set_errno(err, GRPC_INTERNAL, errno, "remove %s", path);
	return 0;
}
