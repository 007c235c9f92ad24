/* Assembly of the OCI config: process (arguments with Kubernetes semantics,
 * environment, working directory, user), root, hostname, namespaces,
 * AppArmor, annotations; the other parts come from spec_*.c. Also the host
 * probe and the config.json text form. */
#include "ctr/spec_internal.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/log.h"
#include "util/xalloc.h"

#define OCI_VERSION "1.0.2"
#define DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* ---- JSON helpers ---- */

static void json_oom(void)
{
	log_emit(LOG_LEVEL_FATAL, "out of memory building a JSON document", NULL);
	abort();
}

void spec_json_set(json_t *obj, const char *key, json_t *value)
{
	if (value == NULL || json_object_set_new(obj, key, value) < 0)
		json_oom();
}

void spec_json_append(json_t *arr, json_t *value)
{
	if (value == NULL || json_array_append_new(arr, value) < 0)
		json_oom();
}

/* Length of the valid UTF-8 sequence at s, 0 if invalid. */
static size_t utf8_len(const unsigned char *s)
{
	unsigned char c = s[0];
	size_t n;
	uint32_t cp;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, cp = c & 0x07;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/* s with invalid UTF-8 bytes replaced by U+FFFD; NULL when s is valid. */
static char *utf8_fix(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n;
	while (*p && (n = utf8_len(p)) != 0)
		p += n;
	if (*p == '\0')
		return NULL;
	char *out = xmalloc(strlen(s) * 3 + 1);
	size_t o = 0;
	for (p = (const unsigned char *)s; *p;) {
		n = utf8_len(p);
		if (n == 0) {
			memcpy(out + o, "\xef\xbf\xbd", 3);
			o += 3;
			p++;
		} else {
			memcpy(out + o, p, n);
			o += n;
			p += n;
		}
	}
	out[o] = '\0';
	return out;
}

json_t *spec_json_str(const char *s)
{
	if (s == NULL)
		s = "";
	cleanup_free char *fixed = utf8_fix(s);
	json_t *j = json_string(fixed ? fixed : s);
	if (j == NULL)
		json_oom();
	return j;
}

/* An object key from untrusted text. */
static void set_str_key(json_t *obj, const char *key, json_t *value)
{
	cleanup_free char *fixed = utf8_fix(key ? key : "");
	spec_json_set(obj, fixed ? fixed : key ? key : "", value);
}

json_t *spec_json_strv(const char *const *v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		spec_json_append(a, spec_json_str(v[i]));
	return a;
}

static size_t strv_len(char *const *v)
{
	size_t n = 0;
	while (v && v[n])
		n++;
	return n;
}

/* ---- process ---- */

static int build_args(const struct spec_input *in, json_t *process, ocid_error **err)
{
	const Runtime__V1__ContainerConfig *c = in->ctr;
	char *const *entry = in->image ? in->image->entrypoint : NULL;
	char *const *cmd = in->image ? in->image->cmd : NULL;
	size_t n_entry = strv_len(entry), n_cmd = strv_len(cmd);
	/* Kubernetes: command replaces the image's Entrypoint (and drops its
	 * Cmd); args replace the Cmd. */
	if (c->n_command > 0) {
		entry = c->command;
		n_entry = c->n_command;
		cmd = c->args;
		n_cmd = c->n_args;
	} else if (c->n_args > 0) {
		cmd = c->args;
		n_cmd = c->n_args;
	}
	if (n_entry + n_cmd == 0)
		return err_set(err, GRPC_INVALID_ARGUMENT,
			       "no command to run: neither the container config (command, args) "
			       "nor the image (Entrypoint, Cmd) gives one");
	const char *first = n_entry ? entry[0] : cmd[0];
	if (first == NULL || *first == '\0')
		return err_set(err, GRPC_INVALID_ARGUMENT, "%s: the program name is empty",
			       c->n_command ? "command[0]"
			       : n_entry    ? "image Entrypoint[0]"
			       : c->n_args  ? "args[0]"
					    : "image Cmd[0]");
	json_t *args = json_array();
	for (size_t i = 0; i < n_entry; i++)
		spec_json_append(args, spec_json_str(entry[i]));
	for (size_t i = 0; i < n_cmd; i++)
		spec_json_append(args, spec_json_str(cmd[i]));
	spec_json_set(process, "args", args);
	return 0;
}

struct env {
	char **v;
	size_t n;
};

static size_t env_key_len(const char *kv)
{
	const char *eq = strchr(kv, '=');
	return eq ? (size_t)(eq - kv) : strlen(kv);
}

/* Sets kv ("KEY=VALUE"), replacing an entry with the same key in place. */
static void env_set(struct env *e, char *kv)
{
	size_t kl = env_key_len(kv);
	for (size_t i = 0; i < e->n; i++)
		if (env_key_len(e->v[i]) == kl && strncmp(e->v[i], kv, kl) == 0) {
			free(e->v[i]);
			e->v[i] = kv;
			return;
		}
	e->v = xrealloc(e->v, (e->n + 1) * sizeof(char *));
	e->v[e->n++] = kv;
}

static bool env_has(const struct env *e, const char *key)
{
	size_t kl = strlen(key);
	for (size_t i = 0; i < e->n; i++)
		if (env_key_len(e->v[i]) == kl && strncmp(e->v[i], key, kl) == 0)
			return true;
	return false;
}

static void env_free(struct env *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->v[i]);
	free(e->v);
}

static int build_env(const struct spec_input *in, const struct spec_user *u, json_t *process,
		     ocid_error **err)
{
	struct env e = {0};
	int rc = -1;
	char *const *img = in->image ? in->image->env : NULL;
	for (size_t i = 0; img && img[i]; i++)
		if (img[i][0] != '\0' && img[i][0] != '=')
			env_set(&e, xstrdup(img[i]));
	const Runtime__V1__ContainerConfig *c = in->ctr;
	for (size_t i = 0; i < c->n_envs; i++) {
		const Runtime__V1__KeyValue *kv = c->envs[i];
		if (kv == NULL || kv->key == NULL || kv->key[0] == '\0') {
			err_set(err, GRPC_INVALID_ARGUMENT, "envs[%zu].key is empty", i);
			goto out;
		}
		if (strchr(kv->key, '=')) {
			err_set(err, GRPC_INVALID_ARGUMENT, "envs[%zu].key: \"%s\" contains '='", i,
				kv->key);
			goto out;
		}
		env_set(&e, xasprintf("%s=%s", kv->key, kv->value ? kv->value : ""));
	}
	if (!env_has(&e, "PATH"))
		env_set(&e, xstrdup(DEFAULT_PATH));
	if (!env_has(&e, "HOME"))
		env_set(&e, xasprintf("HOME=%s", u->home ? u->home : "/"));
	if (c->tty && !env_has(&e, "TERM"))
		env_set(&e, xstrdup("TERM=xterm"));
	if (in->pod && in->pod->hostname && *in->pod->hostname && !env_has(&e, "HOSTNAME"))
		env_set(&e, xasprintf("HOSTNAME=%s", in->pod->hostname));
	spec_json_set(process, "env", spec_json_strv((const char *const *)e.v, e.n));
	rc = 0;
out:
	env_free(&e);
	return rc;
}

static int build_cwd(const struct spec_input *in, json_t *process, ocid_error **err)
{
	const char *wd = in->ctr->working_dir;
	cleanup_free char *clean = NULL;
	if (wd && *wd) {
		clean = spec_path_clean(wd);
		if (clean == NULL)
			return err_set(err, GRPC_INVALID_ARGUMENT,
				       "working_dir: \"%s\" is not an absolute path", wd);
	} else if (in->image && in->image->working_dir && *in->image->working_dir) {
		cleanup_free char *abs = xasprintf("/%s", in->image->working_dir);
		clean = spec_path_clean(abs);
	}
	spec_json_set(process, "cwd", spec_json_str(clean ? clean : "/"));
	return 0;
}

/* ---- AppArmor ---- */

static int apparmor_profile(const struct spec_ctx *ctx, const char **out, ocid_error **err)
{
	const struct spec_host *host = ctx->in->host;
	*out = NULL;
	if (ctx->privileged) {
		*out = host->apparmor ? "unconfined" : NULL;
		return 0;
	}
	const Runtime__V1__SecurityProfile *p = ctx->sc ? ctx->sc->apparmor : NULL;
	const char *field = "linux.security_context.apparmor";
	const char *name = NULL;
	int type;
	if (p) {
		type = p->profile_type;
		name = p->localhost_ref;
	} else {
		/* The deprecated string form, still sent by older clients. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
		const char *s = ctx->sc ? ctx->sc->apparmor_profile : NULL;
#pragma GCC diagnostic pop
		field = "linux.security_context.apparmor_profile";
		if (s == NULL || *s == '\0' || strcmp(s, "runtime/default") == 0) {
			type = RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__RuntimeDefault;
		} else if (strcmp(s, "unconfined") == 0) {
			type = RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Unconfined;
		} else if (strncmp(s, "localhost/", 10) == 0) {
			type = RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Localhost;
			name = s + 10;
		} else {
			return err_set(err, GRPC_INVALID_ARGUMENT,
				       "%s: unknown profile \"%s\" (runtime/default, unconfined or "
				       "localhost/<name>)",
				       field, s);
		}
	}
	switch (type) {
	case RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__RuntimeDefault:
		*out = host->apparmor ? host->apparmor_default : NULL;
		return 0;
	case RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Unconfined:
		*out = host->apparmor ? "unconfined" : NULL;
		return 0;
	case RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Localhost:
		if (name && strncmp(name, "localhost/", 10) == 0)
			name += 10;
		if (name == NULL || *name == '\0')
			return err_set(err, GRPC_INVALID_ARGUMENT,
				       "%s: a Localhost profile needs a profile name", field);
		for (const char *c = name; *c; c++)
			if (!isgraph((unsigned char)*c))
				return err_set(err, GRPC_INVALID_ARGUMENT,
					       "%s: \"%s\" is not a valid profile name", field, name);
		if (!host->apparmor)
			return err_set(err, GRPC_FAILED_PRECONDITION,
				       "%s: AppArmor is not enabled on this host, so profile "
				       "\"%s\" cannot be applied",
				       field, name);
		*out = name;
		return 0;
	default:
		return err_set(err, GRPC_INVALID_ARGUMENT, "%s.profile_type: unknown type %d",
			       field, type);
	}
}

/* ---- namespaces ---- */

static const Runtime__V1__NamespaceOption *ns_options(const struct spec_input *in)
{
	const Runtime__V1__LinuxContainerConfig *l = in->ctr->linux;
	if (l && l->security_context && l->security_context->namespace_options)
		return l->security_context->namespace_options;
	const Runtime__V1__LinuxPodSandboxConfig *pl = in->pod ? in->pod->linux : NULL;
	if (pl && pl->security_context && pl->security_context->namespace_options)
		return pl->security_context->namespace_options;
	return NULL;
}

static void add_ns(json_t *list, const char *type, const char *path)
{
	json_t *n = json_object();
	spec_json_set(n, "type", json_string(type));
	if (path)
		spec_json_set(n, "path", spec_json_str(path));
	spec_json_append(list, n);
}

static int add_shared_ns(json_t *list, const char *type, const struct spec_ns *ns,
			 ocid_error **err)
{
	if (ns->host)
		return 0;
	if (ns->path && ns->path[0] != '/')
		return err_set(err, GRPC_INTERNAL, "%s namespace path \"%s\" is not absolute",
			       type, ns->path);
	add_ns(list, type, ns->path);
	return 0;
}

static int build_namespaces(const struct spec_input *in, json_t *linux_obj, ocid_error **err)
{
	const Runtime__V1__NamespaceOption *o = ns_options(in);
	const Runtime__V1__UserNamespace *u = o ? o->userns_options : NULL;
	if (u && (u->mode == RUNTIME__V1__NAMESPACE_MODE__CONTAINER ||
		  u->mode == RUNTIME__V1__NAMESPACE_MODE__TARGET ||
		  (u->mode == RUNTIME__V1__NAMESPACE_MODE__POD && (u->n_uids || u->n_gids))))
		return err_set(err, GRPC_INVALID_ARGUMENT,
			       "namespace_options.userns_options: user namespaces are not "
			       "supported (only NODE)");
	json_t *list = json_array();
	spec_json_set(linux_obj, "namespaces", list);
	int pid = o ? (int)o->pid : RUNTIME__V1__NAMESPACE_MODE__CONTAINER;
	switch (pid) {
	case RUNTIME__V1__NAMESPACE_MODE__CONTAINER:
		add_ns(list, "pid", NULL);
		break;
	case RUNTIME__V1__NAMESPACE_MODE__POD:
		if (in->pod_pid == NULL)
			return err_set(err, GRPC_FAILED_PRECONDITION,
				       "namespace_options.pid is POD but the pod has no shared PID "
				       "namespace");
		add_ns(list, "pid", in->pod_pid);
		break;
	case RUNTIME__V1__NAMESPACE_MODE__NODE:
		break;
	case RUNTIME__V1__NAMESPACE_MODE__TARGET:
		if (in->target_pid == NULL)
			return err_set(err, GRPC_INVALID_ARGUMENT,
				       "namespace_options.pid is TARGET but target container \"%s\" "
				       "has no PID namespace to join",
				       o->target_id ? o->target_id : "");
		add_ns(list, "pid", in->target_pid);
		break;
	default:
		return err_set(err, GRPC_INVALID_ARGUMENT,
			       "namespace_options.pid: unknown mode %d", pid);
	}
	if (add_shared_ns(list, "network", &in->net, err) < 0 ||
	    add_shared_ns(list, "ipc", &in->ipc, err) < 0 ||
	    add_shared_ns(list, "uts", &in->uts, err) < 0)
		return -1;
	add_ns(list, "mount", NULL);
	return 0;
}

/* ---- annotations ---- */

static void build_annotations(const struct spec_input *in, json_t *spec)
{
	json_t *a = json_object();
	spec_json_set(spec, "annotations", a);
	const Runtime__V1__ContainerConfig *c = in->ctr;
	for (size_t i = 0; i < c->n_annotations; i++)
		if (c->annotations[i] && c->annotations[i]->key)
			set_str_key(a, c->annotations[i]->key,
				    spec_json_str(c->annotations[i]->value));
	/* ocid's own keys last, so that a CRI annotation cannot forge them
	 * (containerd's names, which runtimes and tools already read). */
	spec_json_set(a, "io.kubernetes.cri.container-type", json_string("container"));
	spec_json_set(a, "io.kubernetes.cri.container-name", spec_json_str(c->metadata->name));
	spec_json_set(a, "io.kubernetes.cri.sandbox-id", spec_json_str(in->sandbox_id));
	const Runtime__V1__PodSandboxMetadata *pm = in->pod ? in->pod->metadata : NULL;
	if (pm) {
		spec_json_set(a, "io.kubernetes.cri.sandbox-name", spec_json_str(pm->name));
		spec_json_set(a, "io.kubernetes.cri.sandbox-namespace",
			      spec_json_str(pm->namespace_));
		spec_json_set(a, "io.kubernetes.cri.sandbox-uid", spec_json_str(pm->uid));
	}
	const char *image = c->image && c->image->image && *c->image->image ? c->image->image
			    : in->image && in->image->name                     ? in->image->name
									       : NULL;
	if (image)
		spec_json_set(a, "io.kubernetes.cri.image-name", spec_json_str(image));
}

/* ---- assembly ---- */

static int check_input(const struct spec_input *in, ocid_error **err)
{
	if (in->ctr == NULL || in->rtcfg == NULL || in->host == NULL || in->container_id == NULL ||
	    in->sandbox_id == NULL || in->rootfs == NULL || in->rootfs[0] != '/')
		return err_set(err, GRPC_INTERNAL,
			       "spec_build: container config, runtime config, host facts, ids and "
			       "an absolute rootfs are required");
	if (in->ctr->metadata == NULL || in->ctr->metadata->name == NULL ||
	    in->ctr->metadata->name[0] == '\0')
		return err_set(err, GRPC_INVALID_ARGUMENT, "metadata.name is required");
	return 0;
}

static int build(const struct spec_input *in, json_t *spec, struct spec_result *out,
		 ocid_error **err)
{
	struct spec_ctx ctx = {.in = in};
	const Runtime__V1__LinuxContainerConfig *lc = in->ctr->linux;
	ctx.sc = lc ? lc->security_context : NULL;
	ctx.res = lc ? lc->resources : NULL;
	ctx.privileged = ctx.sc && ctx.sc->privileged;
	ctx.readonly_rootfs = ctx.sc && ctx.sc->readonly_rootfs;

	/* user */
	struct spec_user u;
	if (spec_user_resolve(in->rootfs, ctx.sc, in->image ? in->image->user : NULL, &u, err) <
	    0)
		return -1;
	ctx.uid = u.uid;
	ctx.gid = u.gid;
	out->uid = u.uid;
	out->gid = u.gid;
	out->username = u.name ? xstrdup(u.name) : NULL;
	if (in->run_as_non_root && u.uid == 0) {
		spec_user_free(&u);
		return err_set(err, GRPC_INVALID_ARGUMENT,
			       "run_as_non_root is set but the container would run as root "
			       "(uid 0)");
	}

	spec_json_set(spec, "ociVersion", json_string(OCI_VERSION));
	json_t *process = json_object();
	spec_json_set(spec, "process", process);
	spec_json_set(process, "terminal", json_boolean(in->ctr->tty));
	json_t *user = json_object();
	spec_json_set(user, "uid", json_integer(u.uid));
	spec_json_set(user, "gid", json_integer(u.gid));
	if (u.n_groups) {
		json_t *g = json_array();
		for (size_t i = 0; i < u.n_groups; i++)
			spec_json_append(g, json_integer(u.groups[i]));
		spec_json_set(user, "additionalGids", g);
	}
	spec_json_set(process, "user", user);
	int rc = build_args(in, process, err);
	if (rc == 0)
		rc = build_env(in, &u, process, err);
	spec_user_free(&u);
	if (rc < 0 || build_cwd(in, process, err) < 0)
		return -1;
	if (spec_caps_compute(&ctx, err) < 0)
		return -1;
	spec_json_set(process, "capabilities", spec_caps_json(&ctx));
	if (spec_rlimits_build(&ctx, process, err) < 0)
		return -1;
	spec_json_set(process, "noNewPrivileges", json_boolean(ctx.sc && ctx.sc->no_new_privs));
	const char *aa;
	if (apparmor_profile(&ctx, &aa, err) < 0)
		return -1;
	if (aa)
		spec_json_set(process, "apparmorProfile", spec_json_str(aa));
	int oom;
	if (spec_oom_score_adj(&ctx, &oom, err) < 0)
		return -1;
	spec_json_set(process, "oomScoreAdj", json_integer(oom));

	json_t *root = json_object();
	spec_json_set(root, "path", spec_json_str(in->rootfs));
	spec_json_set(root, "readonly", json_boolean(ctx.readonly_rootfs));
	spec_json_set(spec, "root", root);

	/* Only a container with a UTS namespace of its own gets the pod's
	 * hostname: one that joins the pod's would rename the whole pod, and
	 * the host's must never be renamed. */
	if (!in->uts.host && in->uts.path == NULL && in->pod && in->pod->hostname &&
	    *in->pod->hostname)
		spec_json_set(spec, "hostname", spec_json_str(in->pod->hostname));

	json_t *linux_obj = json_object();
	spec_json_set(spec, "linux", linux_obj);
	json_t *resources = json_object();
	spec_json_set(linux_obj, "resources", resources);
	if (build_namespaces(in, linux_obj, err) < 0 ||
	    spec_mounts_build(&ctx, spec, out, err) < 0 ||
	    spec_devices_build(&ctx, linux_obj, resources, err) < 0 ||
	    spec_resources_build(&ctx, linux_obj, resources, err) < 0 ||
	    spec_sysctls_build(&ctx, linux_obj, err) < 0)
		return -1;
	json_t *seccomp = NULL;
	if (spec_seccomp_build(&ctx, &seccomp, err) < 0)
		return -1;
	if (seccomp)
		spec_json_set(linux_obj, "seccomp", seccomp);
	build_annotations(in, spec);
	return 0;
}

int spec_build(const struct spec_input *in, struct spec_result *out, ocid_error **err)
{
	memset(out, 0, sizeof(*out));
	if (check_input(in, err) < 0)
		return -1;
	json_t *spec = json_object();
	if (spec == NULL)
		json_oom();
	if (build(in, spec, out, err) < 0) {
		json_decref(spec);
		spec_result_free(out);
		return -1;
	}
	out->config = spec;
	return 0;
}

void spec_result_free(struct spec_result *r)
{
	if (r == NULL)
		return;
	json_decref(r->config);
	for (size_t i = 0; i < r->n_volumes; i++) {
		free(r->volumes[i].host_path);
		free(r->volumes[i].container_path);
	}
	free(r->volumes);
	free(r->username);
	memset(r, 0, sizeof(*r));
}

/* ---- text form ---- */

#define RLIM_INF_TEXT "18446744073709551615"

char *spec_dumps(const json_t *config, ocid_error **err)
{
	/* compact: runc reads it, people read it through `jq` or the verbose
	 * status; indenting the seccomp profile's hundreds of names cost CPU on
	 * every create for no reader */
	const size_t flags = JSON_COMPACT | JSON_PRESERVE_ORDER;
	json_t *rl = json_object_get(json_object_get(config, "process"), "rlimits");
	bool unlimited = false;
	size_t i;
	json_t *e;
	json_array_foreach(rl, i, e)
		unlimited |= json_integer_value(json_object_get(e, "hard")) == -1 ||
			     json_integer_value(json_object_get(e, "soft")) == -1;
	char *text;
	if (!unlimited) {
		text = json_dumps(config, flags);
	} else {
		/* A placeholder no other string can equal (random), replaced
		 * in the text by the unsigned value jansson cannot print. */
		unsigned char rnd[12];
		if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
			uint64_t t = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)&rnd;
			memcpy(rnd, &t, sizeof(t));
		}
		char token[64];
		int tl = snprintf(token, sizeof(token), "\"ocid-rlimit-infinity-");
		for (size_t k = 0; k < sizeof(rnd); k++)
			tl += snprintf(token + tl, sizeof(token) - (size_t)tl, "%02x", rnd[k]);
		tl += snprintf(token + tl, sizeof(token) - (size_t)tl, "\"");
		json_t *copy = json_deep_copy(config);
		if (copy == NULL)
			json_oom();
		json_t *crl = json_object_get(json_object_get(copy, "process"), "rlimits");
		cleanup_free char *bare = xasprintf("%.*s", tl - 2, token + 1);
		json_array_foreach(crl, i, e) {
			static const char *const keys[] = {"hard", "soft"};
			for (size_t k = 0; k < 2; k++)
				if (json_integer_value(json_object_get(e, keys[k])) == -1)
					spec_json_set(e, keys[k], json_string(bare));
		}
		cleanup_free char *raw = json_dumps(copy, flags);
		json_decref(copy);
		if (raw == NULL)
			json_oom();
		size_t cap = strlen(raw) + 1, o = 0;
		text = malloc(cap); /* the replacement is shorter than the token */
		if (text == NULL)
			json_oom();
		for (const char *p = raw; *p;) {
			if (strncmp(p, token, (size_t)tl) == 0) {
				memcpy(text + o, RLIM_INF_TEXT, sizeof(RLIM_INF_TEXT) - 1);
				o += sizeof(RLIM_INF_TEXT) - 1;
				p += tl;
			} else {
				text[o++] = *p++;
			}
		}
		text[o] = '\0';
	}
	if (text == NULL)
		return err_set(err, GRPC_INTERNAL, "cannot serialize the OCI config"), NULL;
	size_t len = strlen(text);
	char *nl = xrealloc(text, len + 2);
	nl[len] = '\n';
	nl[len + 1] = '\0';
	return nl;
}

int spec_loads(const char *text, size_t len, json_t **out, ocid_error **err)
{
	*out = NULL;
	/* Numbers 18446744073709551615 outside strings become -1. */
	cleanup_free char *buf = xmalloc(len + 1);
	size_t o = 0;
	bool in_str = false;
	const size_t tl = sizeof(RLIM_INF_TEXT) - 1;
	for (size_t i = 0; i < len;) {
		char c = text[i];
		if (in_str) {
			buf[o++] = c;
			i++;
			if (c == '\\' && i < len)
				buf[o++] = text[i++];
			else if (c == '"')
				in_str = false;
			continue;
		}
		if (c == '"')
			in_str = true;
		if (c >= '0' && c <= '9' && (i == 0 || !isdigit((unsigned char)text[i - 1])) &&
		    i + tl <= len && memcmp(text + i, RLIM_INF_TEXT, tl) == 0 &&
		    (i + tl == len || !isalnum((unsigned char)text[i + tl])) &&
		    (i + tl == len || (text[i + tl] != '.' && text[i + tl] != 'e' &&
				       text[i + tl] != 'E'))) {
			buf[o++] = '-';
			buf[o++] = '1';
			i += tl;
			continue;
		}
		buf[o++] = c;
		i++;
	}
	json_error_t jerr;
	*out = json_loadb(buf, o, JSON_REJECT_DUPLICATES, &jerr);
	if (*out == NULL)
		return err_set(err, GRPC_DATA_LOSS, "OCI config: invalid JSON at line %d: %s",
			       jerr.line, jerr.text);
	return 0;
}

/* ---- host facts ---- */

/* The hex value of "Key:\t..." in /proc/self/status. */
static bool status_hex(const char *status, const char *key, uint64_t *out)
{
	const char *p = strstr(status, key);
	if (p == NULL)
		return false;
	p += strlen(key);
	char *end;
	errno = 0;
	unsigned long long v = strtoull(p, &end, 16);
	if (errno || end == p)
		return false;
	*out = v;
	return true;
}

static char *read_small(const char *path)
{
	FILE *f = fopen(path, "re");
	if (f == NULL)
		return NULL;
	char *buf = xmalloc(16384);
	size_t n = fread(buf, 1, 16383, f);
	fclose(f);
	buf[n] = '\0';
	return buf;
}

static const char *goarch_of(const char *machine)
{
	static const struct {
		const char *machine, *goarch;
	} map[] = {
		{"x86_64", "amd64"},   {"i386", "386"},       {"i486", "386"},
		{"i586", "386"},       {"i686", "386"},       {"aarch64", "arm64"},
		{"arm64", "arm64"},    {"armv7l", "arm"},     {"armv6l", "arm"},
		{"armv8l", "arm"},     {"ppc64le", "ppc64le"}, {"s390x", "s390x"},
		{"riscv64", "riscv64"}, {"mips64", "mips64"}, {"mips64el", "mips64le"},
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(machine, map[i].machine) == 0)
			return map[i].goarch;
	return machine;
}

int spec_host_detect(struct spec_host *out, ocid_error **err)
{
	memset(out, 0, sizeof(*out));
	cleanup_free char *status = read_small("/proc/self/status");
	if (status == NULL)
		return err_set_errno(err, GRPC_INTERNAL, errno, "read /proc/self/status");
	uint64_t eff = 0, bnd = 0;
	if (!status_hex(status, "CapEff:", &eff) || !status_hex(status, "CapBnd:", &bnd))
		return err_set(err, GRPC_INTERNAL, "no capability sets in /proc/self/status");
	out->cap_bounding = bnd;
	bool sys_resource = eff & (1ULL << 24);

	cleanup_free char *last = read_small("/proc/sys/kernel/cap_last_cap");
	out->cap_last_cap = last ? atoi(last) : SPEC_CAP_COUNT - 1;
	if (out->cap_last_cap <= 0)
		out->cap_last_cap = SPEC_CAP_COUNT - 1;

	out->oom_score_adj_min = -1000;
	if (!sys_resource) {
		cleanup_free char *adj = read_small("/proc/self/oom_score_adj");
		if (adj == NULL)
			return err_set_errno(err, GRPC_INTERNAL, errno,
					     "read /proc/self/oom_score_adj");
		out->oom_score_adj_min = atoi(adj);
	}
	for (int r = 0; r < RLIM_NLIMITS; r++) {
		struct rlimit rl;
		out->rlimit_max[r] = RLIM_INFINITY;
		if (!sys_resource && getrlimit(r, &rl) == 0)
			out->rlimit_max[r] = rl.rlim_max;
	}

	cleanup_free char *aa = read_small("/sys/module/apparmor/parameters/enabled");
	out->apparmor = aa && aa[0] == 'Y';
	out->apparmor_default = NULL;

	struct stat st;
	out->swap_accounting = stat("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes", &st) == 0;
	if (!out->swap_accounting && stat("/sys/fs/cgroup/cgroup.controllers", &st) == 0) {
		/* cgroup v2 only: our own cgroup shows whether swap is
		 * accounted. */
		cleanup_free char *cg = read_small("/proc/self/cgroup");
		const char *p = cg ? strstr(cg, "0::") : NULL;
		if (p) {
			p += 3;
			size_t l = strcspn(p, "\n");
			cleanup_free char *f =
				xasprintf("/sys/fs/cgroup%.*s/memory.swap.max", (int)l, p);
			out->swap_accounting = stat(f, &st) == 0;
		}
	}

	struct utsname un;
	if (uname(&un) == 0) {
		const char *arch = goarch_of(un.machine);
		if (strlen(arch) < sizeof(out->arch))
			memcpy(out->arch, arch, strlen(arch) + 1);
		unsigned maj = 0, min = 0;
		if (sscanf(un.release, "%u.%u", &maj, &min) == 2)
			out->kernel_version = (int)(maj * 1000 + min);
	}
	snprintf(out->dev_dir, sizeof(out->dev_dir), "/dev");
	return 0;
}
