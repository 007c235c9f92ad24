/* RunPodSandbox: validation first (nothing is created for bad input), then
 * the steps of sandbox.h in order, each recorded in `struct progress` so that
 * a failure undoes exactly what was done. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "pod/cni.h"
#include "pod/sandbox_files.h"
#include "pod/sandbox_internal.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/spawn.h"
#include "util/xalloc.h"

#define META_FIELD_MAX 253

/* ---- validation ---- */

static int check_meta_field(const char *what, const char *v, ocid_error **err)
{
	if (v == NULL || *v == '\0')
		return err_set(err, GRPC_INVALID_ARGUMENT,
			       "config.metadata.%s is required (a pod sandbox needs name, namespace and uid)", what);
	size_t len = strlen(v);
	if (len > META_FIELD_MAX)
		return err_set(err, GRPC_INVALID_ARGUMENT, "config.metadata.%s is longer than %d characters", what,
			       META_FIELD_MAX);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
			return err_set(err, GRPC_INVALID_ARGUMENT, "config.metadata.%s has a control character",
				       what);
	return 0;
}

static const char *mode_name(Runtime__V1__NamespaceMode m)
{
	switch (m) {
	case RUNTIME__V1__NAMESPACE_MODE__POD: return "POD";
	case RUNTIME__V1__NAMESPACE_MODE__CONTAINER: return "CONTAINER";
	case RUNTIME__V1__NAMESPACE_MODE__NODE: return "NODE";
	case RUNTIME__V1__NAMESPACE_MODE__TARGET: return "TARGET";
	default: return "unknown";
	}
}

static int check_namespaces(const Runtime__V1__PodSandboxConfig *c, ocid_error **err)
{
	if (c->linux == NULL || c->linux->security_context == NULL ||
	    c->linux->security_context->namespace_options == NULL)
		return 0;
	const Runtime__V1__NamespaceOption *o = c->linux->security_context->namespace_options;
	if (o->network != RUNTIME__V1__NAMESPACE_MODE__POD && o->network != RUNTIME__V1__NAMESPACE_MODE__NODE)
		return err_set(err, GRPC_INVALID_ARGUMENT,
			       "namespace_options.network %s is not valid for a pod sandbox (POD or NODE)",
			       mode_name(o->network));
	if (o->ipc != RUNTIME__V1__NAMESPACE_MODE__POD && o->ipc != RUNTIME__V1__NAMESPACE_MODE__NODE)
		return err_set(err, GRPC_INVALID_ARGUMENT,
			       "namespace_options.ipc %s is not valid for a pod sandbox (POD or NODE)",
			       mode_name(o->ipc));
	if (o->pid != RUNTIME__V1__NAMESPACE_MODE__POD && o->pid != RUNTIME__V1__NAMESPACE_MODE__CONTAINER &&
	    o->pid != RUNTIME__V1__NAMESPACE_MODE__NODE)
		return err_set(err, GRPC_INVALID_ARGUMENT,
			       "namespace_options.pid %s is not valid for a pod sandbox (POD, CONTAINER or NODE)",
			       mode_name(o->pid));
	if (o->userns_options && o->userns_options->mode != RUNTIME__V1__NAMESPACE_MODE__NODE)
		return err_set(err, GRPC_INVALID_ARGUMENT,
			       "namespace_options.userns_options mode %s: user namespaces are not supported "
			       "(use NODE)",
			       mode_name(o->userns_options->mode));
	return 0;
}

struct sysctl_set {
	struct pod_sysctl *v;
	size_t n;
	char **owned; /* names and values split from default_sysctls */
	size_t n_owned;
};

static void sysctl_set_free(struct sysctl_set *s)
{
	for (size_t i = 0; i < s->n_owned; i++)
		free(s->owned[i]);
	free(s->owned);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

/* Replaces an entry of the same name, or appends. */
static void sysctl_put(struct sysctl_set *s, size_t cap, const char *name, const char *value)
{
	for (size_t i = 0; i < s->n; i++) {
		if (strcmp(s->v[i].name, name) == 0) {
			s->v[i].value = value;
			return;
		}
	}
	if (s->n < cap)
		s->v[s->n++] = (struct pod_sysctl){name, value};
}

/* ocid.runtime.default_sysctls that apply to this pod (others are skipped:
 * net.* with the host network, IPC ones with host IPC), then the pod's own,
 * each checked strictly (INVALID_ARGUMENT for an unsafe one). */
static int build_sysctls(struct sandbox_mgr *m, const Runtime__V1__PodSandboxConfig *c, bool host_net,
			 bool host_ipc, struct sysctl_set *out, ocid_error **err)
{
	memset(out, 0, sizeof(*out));
	size_t n_def = config_strv_len(m->cfg->runtime.default_sysctls);
	size_t n_pod = c->linux ? c->linux->n_sysctls : 0;
	size_t cap = n_def + n_pod;
	out->v = xcalloc(cap ? cap : 1, sizeof(*out->v));
	out->owned = xcalloc(2 * n_def + 1, sizeof(char *));
	for (size_t i = 0; i < n_def; i++) {
		const char *d = m->cfg->runtime.default_sysctls[i];
		const char *eq = strchr(d, '=');
		if (eq == NULL)
			continue;
		char *name = xasprintf("%.*s", (int)(eq - d), d);
		char *value = xstrdup(eq + 1);
		out->owned[out->n_owned++] = name;
		out->owned[out->n_owned++] = value;
		ocid_error *e = NULL;
		if (pod_sysctl_check(name, value, host_net, host_ipc, &e) < 0) {
			log_debug("default sysctl does not apply to this pod", "sysctl=%s", name);
			err_free(e);
			continue;
		}
		sysctl_put(out, cap, name, value);
	}
	for (size_t i = 0; i < n_pod; i++) {
		const char *name = c->linux->sysctls[i]->key;
		const char *value = c->linux->sysctls[i]->value;
		if (pod_sysctl_check(name, value, host_net, host_ipc, err) < 0) {
			sysctl_set_free(out);
			return err_prefix(err, "linux.sysctls");
		}
		sysctl_put(out, cap, name, value);
	}
	return 0;
}

static void dns_of(const Runtime__V1__PodSandboxConfig *c, struct pod_dns_config *dns)
{
	memset(dns, 0, sizeof(*dns));
	if (c->dns_config == NULL)
		return;
	dns->servers = (const char *const *)c->dns_config->servers;
	dns->n_servers = c->dns_config->n_servers;
	dns->searches = (const char *const *)c->dns_config->searches;
	dns->n_searches = c->dns_config->n_searches;
	dns->options = (const char *const *)c->dns_config->options;
	dns->n_options = c->dns_config->n_options;
}

struct cni_pod sandbox_cni_pod(const struct sandbox *sb, const struct cni_port_mapping *ports, size_t n_ports)
{
	return (struct cni_pod){
		.container_id = sb->id,
		.netns = sb->ns.path[POD_NS_NET],
		.pod_namespace = sb->namespace_,
		.pod_name = sb->name,
		.pod_uid = sb->uid,
		.ports = ports,
		.n_ports = n_ports,
	};
}

struct cni_port_mapping *sandbox_cni_ports(const Runtime__V1__PodSandboxConfig *c, size_t *n)
{
	*n = c->n_port_mappings;
	struct cni_port_mapping *p = xcalloc(*n ? *n : 1, sizeof(*p));
	for (size_t i = 0; i < *n; i++) {
		const Runtime__V1__PortMapping *pm = c->port_mappings[i];
		p[i].container_port = pm->container_port;
		p[i].host_port = pm->host_port;
		p[i].protocol = pm->protocol == RUNTIME__V1__PROTOCOL__UDP    ? CNI_PROTO_UDP
				: pm->protocol == RUNTIME__V1__PROTOCOL__SCTP ? CNI_PROTO_SCTP
									      : CNI_PROTO_TCP;
		p[i].host_ip = pm->host_ip;
	}
	return p;
}

/* Everything that can be checked without creating anything. */
static int validate(struct sandbox_mgr *m, const Runtime__V1__PodSandboxConfig *c, const char *handler,
		    const struct ocid_runtime_handler **rt, ocid_error **err)
{
	if (c == NULL)
		return err_set(err, GRPC_INVALID_ARGUMENT, "config is required");
	if (c->metadata == NULL)
		return err_set(err, GRPC_INVALID_ARGUMENT,
			       "config.metadata is required (a pod sandbox needs name, namespace and uid)");
	if (check_meta_field("name", c->metadata->name, err) < 0 ||
	    check_meta_field("namespace", c->metadata->namespace_, err) < 0 ||
	    check_meta_field("uid", c->metadata->uid, err) < 0)
		return -1;
	const char *want = handler && *handler ? handler : m->cfg->runtime.default_runtime;
	*rt = config_find_runtime(m->cfg, want);
	if (*rt == NULL) {
		char names[512] = "";
		size_t off = 0;
		for (size_t i = 0; i < m->cfg->runtime.n_runtimes && off < sizeof(names); i++)
			off += (size_t)snprintf(names + off, sizeof(names) - off, "%s%s", i ? ", " : "",
						m->cfg->runtime.runtimes[i].name);
		return err_set(err, GRPC_INVALID_ARGUMENT,
			       "runtime handler \"%s\" is not configured (configured: %s)", want, names);
	}
	if (check_namespaces(c, err) < 0)
		return -1;
	bool host_net = false;
	if (c->linux && c->linux->security_context && c->linux->security_context->namespace_options)
		host_net = c->linux->security_context->namespace_options->network == RUNTIME__V1__NAMESPACE_MODE__NODE;
	if (!host_net && c->hostname && *c->hostname && pod_hostname_check(c->hostname, err) < 0)
		return err_prefix(err, "config.hostname");
	struct pod_dns_config dns;
	dns_of(c, &dns);
	if (!pod_dns_config_empty(&dns)) {
		cleanup_free char *text = NULL;
		if (pod_resolv_conf_render(&dns, &text, err) < 0)
			return err_prefix(err, "config.dns_config");
	}
	if (!host_net) {
		/* No network to join: say so before anything is created (ADD
		 * reads the config again, so one that appears meanwhile works). */
		const struct ocid_network_config *net = &m->cfg->network;
		struct cni_network *found = NULL;
		const char *want = net->cni_default_network && *net->cni_default_network ? net->cni_default_network
											   : NULL;
		if (cni_config_load(net->network_dir, want, &found, err) < 0)
			return err_prefix(err, "the pod network is not ready");
		cni_network_free(found);
	}
	if (!host_net && c->n_port_mappings > 0) {
		size_t n;
		cleanup_free struct cni_port_mapping *ports = sandbox_cni_ports(c, &n);
		struct cni_pod pod = {.ports = ports, .n_ports = n};
		json_t *j = cni_port_mappings(&pod, err);
		if (j == NULL)
			return err_prefix(err, "config.port_mappings");
		json_decref(j);
	}
	return 0;
}

/* ---- helpers ---- */

static void random_id(char out[SANDBOX_ID_LEN + 1])
{
	unsigned char b[SANDBOX_ID_LEN / 2];
	size_t got = 0;
	while (got < sizeof(b)) {
		ssize_t r = getrandom(b + got, sizeof(b) - got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			abort(); /* no entropy source at all: nothing sensible to do */
		got += (size_t)r;
	}
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < sizeof(b); i++) {
		out[2 * i] = hex[b[i] >> 4];
		out[2 * i + 1] = hex[b[i] & 15];
	}
	out[SANDBOX_ID_LEN] = '\0';
}

static int64_t realtime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* A deep copy of a message (pack + unpack). */
static Runtime__V1__PodSandboxConfig *config_copy(const Runtime__V1__PodSandboxConfig *c)
{
	size_t len = protobuf_c_message_get_packed_size(&c->base);
	cleanup_free uint8_t *buf = xmalloc(len ? len : 1);
	protobuf_c_message_pack(&c->base, buf);
	return (Runtime__V1__PodSandboxConfig *)protobuf_c_message_unpack(&runtime__v1__pod_sandbox_config__descriptor,
									   NULL, len, buf);
}

/* ---- the steps and their undo ---- */

struct progress {
	bool reserved, row, dir, cgroup, ns, pause, shm, cni;
	char *cni_cache; /* after a successful ADD */
};

/* Undoes what p says was done. Returns 0 when everything is gone, -1 when
 * something could not be removed (logged; *why says what). */
static int undo(struct sandbox_mgr *m, struct sandbox *sb, struct progress *p, char **why)
{
	int rc = 0;
	ocid_error *e = NULL;
#define UNDO_FAIL(what)                                                                            \
	do {                                                                                       \
		warn_err("undoing a failed RunPodSandbox: " what " failed", sb->id, e);            \
		if (*why == NULL)                                                                  \
			*why = xasprintf("%s", e ? e->msg : what);                                 \
		err_clear(&e);                                                                     \
		rc = -1;                                                                           \
	} while (0)
	if (p->cni) {
		if (sandbox_cni_del(m, sb, p->cni_cache, &e) < 0)
			UNDO_FAIL("CNI DEL");
		else
			p->cni = false;
	}
	if (p->shm && !sb->host_ipc) {
		if (pod_shm_teardown(sb->dir, &e) < 0)
			UNDO_FAIL("unmount shm");
		else
			p->shm = false;
	}
	if (p->pause) {
		if (pod_pause_stop(sb->pause_pid, sb->pause_start, 2000, &e) < 0)
			UNDO_FAIL("stop ocid-pause");
		else
			p->pause = false;
	}
	if (p->cgroup) {
		if (sandbox_cgroup_release(m, sb, &e) < 0)
			UNDO_FAIL("remove cgroups");
		else
			p->cgroup = false;
	}
	if (p->ns) {
		if (pod_ns_remove(sb->pin_dir, &e) < 0)
			UNDO_FAIL("unpin namespaces");
		else
			p->ns = false;
	}
	if (p->dir && rc == 0) {
		if (fs_remove_all(sb->dir, &e) < 0)
			UNDO_FAIL("remove sandbox directory");
		else
			p->dir = false;
	}
#undef UNDO_FAIL
	return rc;
}

static int do_steps(struct sandbox_mgr *m, struct sandbox *sb, const struct sandbox_call *call,
		    struct sysctl_set *sysctls, struct progress *p, struct step_timer *tm, ocid_error **err)
{
	const Runtime__V1__PodSandboxConfig *c = sb->config;

	if (sandbox_db_insert(m, sb, err) < 0)
		return -1;
	p->row = true;
	step_lap(tm, "record");

	if (sandbox_dirs_ready(m, err) < 0)
		return -1;
	if (fs_mkdir_p(sb->dir, 0711, err) < 0)
		return err_prefix(err, "create sandbox directory");
	p->dir = true;

	struct pod_ns_spec spec = {
		.pin_dir = sb->pin_dir,
		.net = sb->want_ns[POD_NS_NET],
		.ipc = sb->want_ns[POD_NS_IPC],
		.uts = sb->want_ns[POD_NS_UTS],
		.hostname = sb->hostname,
		.sysctls = sysctls->v,
		.n_sysctls = sysctls->n,
	};
	struct pod_ns made;
	p->ns = true; /* pod_ns_create cleans up after itself; the pin dir may stay */
	if (pod_ns_create(&spec, &made, err) < 0)
		return -1;
	pod_ns_free(&made);
	step_lap(tm, "namespaces");

	/* The pod cgroup, under the cgroup mutex: once sb->cgroup is set, a
	 * concurrent removal of a pod sharing its path (or parents) sees this
	 * one and leaves the shared directories alone (sandbox_cgroup_release),
	 * so ocid-pause can join it without holding the mutex. */
	if (m->layout.n > 0) {
		pthread_mutex_lock(&m->cg_mu);
		int rc = pod_cgroup_create(&m->layout, sb->cgroup_path, &sb->cgroup, err);
		pthread_mutex_unlock(&m->cg_mu);
		if (rc < 0)
			return -1;
		p->cgroup = true;
	}
	step_lap(tm, "cgroup");
	if (sb->pid_mode == SANDBOX_PID_POD) {
		struct pod_pause_spec ps = {
			.pause_path = m->pause_path,
			.ns = &sb->ns,
			.pin_dir = sb->pin_dir,
			.cgroup = sb->cgroup,
			.cgroup_leaf = sb->cgroup ? sb->cgroup_leaf : NULL,
		};
		struct pod_pause pause;
		if (pod_pause_start(&ps, &pause, err) < 0)
			return -1;
		pthread_mutex_lock(&m->mu);
		sb->pause_pid = pause.pid;
		sb->pause_start = pause.start_time;
		pthread_mutex_unlock(&m->mu);
		pod_pause_free(&pause);
		p->pause = true;
		step_lap(tm, "pause");
	}

	struct pod_dns_config dns;
	dns_of(c, &dns);
	if (pod_files_write_resolv_conf(sb->dir, &dns, NULL, err) < 0 ||
	    pod_files_write_hostname(sb->dir, sb->hostname, err) < 0)
		return -1;
	cleanup_free char *shm = NULL;
	p->shm = true;
	if (pod_shm_setup(sb->dir, sb->host_ipc, 0, &shm, err) < 0)
		return -1;
	step_lap(tm, "files+shm");

	if (sb->host_network) {
		if (pod_files_write_hosts(sb->dir, sb->hostname, NULL, 0, err) < 0)
			return -1;
		pthread_mutex_lock(&m->mu);
		sb->state = ROW_READY;
		pthread_mutex_unlock(&m->mu);
		return sandbox_db_update(m, sb, err);
	}

	/* The netns path is in the row since the insert; now say a DEL is owed
	 * (and record cgroup and ocid-pause) before ADD runs. */
	pthread_mutex_lock(&m->mu);
	sb->net_attached = true;
	pthread_mutex_unlock(&m->mu);
	p->cni = true;
	if (sandbox_db_update(m, sb, err) < 0)
		return -1;
	step_lap(tm, "record");

	size_t n_ports = 0;
	cleanup_free struct cni_port_mapping *ports = sandbox_cni_ports(c, &n_ports);
	struct cni_pod cp = sandbox_cni_pod(sb, ports, n_ports);
	struct cni_call cc = {
		.cfg = &m->cfg->network,
		.deadline_ns = call ? call->deadline_ns : 0,
		.cancelled = call ? call->cancelled : NULL,
		.cancel_arg = call ? call->cancel_arg : NULL,
		.cleanup_timeout_ns = m->cni_del_timeout_ns,
	};
	struct cni_result *res = NULL;
	if (cni_add(&cc, &cp, &res, &p->cni_cache, err) < 0) {
		/* cni_add has run DEL itself. */
		p->cni = false;
		pthread_mutex_lock(&m->mu);
		sb->net_attached = false;
		pthread_mutex_unlock(&m->mu);
		return err_prefix(err, "set up the pod network");
	}
	char **ips = xcalloc(res->n_ips ? res->n_ips : 1, sizeof(char *));
	for (size_t i = 0; i < res->n_ips; i++)
		ips[i] = xstrdup(res->ips[i].ip);
	size_t n_ips = res->n_ips;
	cni_result_free(res);
	step_lap(tm, "cni_add");

	if (pod_files_write_hosts(sb->dir, sb->hostname, (const char *const *)ips, n_ips, err) < 0) {
		for (size_t i = 0; i < n_ips; i++)
			free(ips[i]);
		free(ips);
		return -1;
	}
	pthread_mutex_lock(&m->mu);
	sandbox_set_ips_locked(sb, ips, n_ips);
	sb->cni_cache = xstrdup(p->cni_cache);
	sb->state = ROW_READY;
	pthread_mutex_unlock(&m->mu);
	return sandbox_db_update(m, sb, err);
}

int sandbox_run(struct sandbox_mgr *m, const Runtime__V1__PodSandboxConfig *config, const char *handler,
		const struct sandbox_call *call, char **id, ocid_error **err)
{
	*id = NULL;
	int64_t t0 = spawn_now_ns();
	const struct ocid_runtime_handler *rt = NULL;
	if (validate(m, config, handler, &rt, err) < 0)
		return -1;

	struct sandbox *sb = sandbox_alloc(m);
	random_id(sb->id);
	sb->config = config_copy(config);
	sb->created_at = realtime_ns();
	sb->handler = xstrdup(handler ? handler : "");
	sb->runtime_name = xstrdup(rt->name);
	sb->state = ROW_CREATING;
	if (sandbox_derive(m, sb, NULL, NULL, err) < 0) {
		sandbox_unref(sb);
		return -1;
	}
	struct sysctl_set sysctls;
	if (build_sysctls(m, sb->config, sb->host_network, sb->host_ipc, &sysctls, err) < 0) {
		sandbox_unref(sb);
		return -1;
	}

	pthread_mutex_lock(&m->mu);
	const char *holder = sandbox_reserve_locked(m, sb->reservation, sb->id);
	char holder_id[SANDBOX_ID_LEN + 1] = "";
	if (holder)
		snprintf(holder_id, sizeof(holder_id), "%s", holder);
	else
		sandbox_index_add_locked(m, sb); /* hidden while 'creating' */
	pthread_mutex_unlock(&m->mu);
	if (holder) {
		err_set(err, GRPC_ALREADY_EXISTS,
			"pod sandbox name %s in namespace %s (uid %s, attempt %u) is reserved by pod %s", sb->name,
			sb->namespace_, sb->uid, sb->attempt, holder_id);
		sysctl_set_free(&sysctls);
		sandbox_unref(sb);
		return -1;
	}

	struct progress p = {.reserved = true};
	struct step_timer tm;
	step_timer_start(&tm);
	int rc = do_steps(m, sb, call, &sysctls, &p, &tm, err);
	step_lap(&tm, "final");
	sysctl_set_free(&sysctls);
	if (rc == 0) {
		free(p.cni_cache);
		char ipbuf[128] = "";
		pthread_mutex_lock(&m->mu);
		if (sb->n_ips)
			snprintf(ipbuf, sizeof(ipbuf), "%s", sb->ips[0]);
		pthread_mutex_unlock(&m->mu);
		log_info("pod sandbox ready", "pod=%s name=%s namespace=%s attempt=%u ip=%s ms=%.1f", sb->id, sb->name,
			 sb->namespace_, sb->attempt, ipbuf, (double)(spawn_now_ns() - t0) / 1e6);
		log_debug("pod sandbox run steps", "pod=%s %s", sb->id, tm.text);
		*id = xstrdup(sb->id);
		sandbox_unref(sb);
		return 0;
	}

	/* Undo with no deadline of the call: nothing may be left. */
	char *why = NULL;
	if (undo(m, sb, &p, &why) == 0) {
		ocid_error *e = NULL;
		if (p.row && sandbox_db_delete(m, sb->id, &e) < 0) {
			warn_err("undoing a failed RunPodSandbox: delete record failed", sb->id, e);
			err_free(e);
		}
		pthread_mutex_lock(&m->mu);
		sb->removed = true;
		sandbox_release_locked(m, sb->reservation, sb->id);
		sandbox_index_del_locked(m, sb);
		pthread_mutex_unlock(&m->mu);
	} else {
		/* Keep what could not be removed visible, NOTREADY, so that a
		 * RemovePodSandbox (or the kubelet's garbage collection) can
		 * finish the job; the name stays reserved by it. */
		pthread_mutex_lock(&m->mu);
		sb->state = ROW_NOTREADY;
		char *reason = xasprintf("setup failed and cleanup is incomplete: %s", why);
		sandbox_set_reason_locked(sb, reason);
		free(reason);
		sb->net_attached = p.cni;
		pthread_mutex_unlock(&m->mu);
		ocid_error *e = NULL;
		if (p.row && sandbox_db_update(m, sb, &e) < 0) {
			warn_err("cannot record a half-removed pod sandbox", sb->id, e);
			err_free(e);
		}
		if (err && *err) {
			char *msg = xasprintf("%s (cleanup incomplete, pod %s kept as NOTREADY: %s)", (*err)->msg,
					      sb->id, why);
			free((*err)->msg);
			(*err)->msg = msg;
		}
	}
	free(why);
	free(p.cni_cache);
	sandbox_unref(sb);
	return err_prefix(err, "run pod sandbox");
}
