/* The pods table of ocid.db (schema: src/store/migrations.c, "pod
 * sandboxes"). Callbacks run SQL only; values are copied out of the sandbox
 * under the manager's mutex before the database is touched (lock order:
 * module, then database). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "pod/sandbox_internal.h"
#include "util/cleanup.h"
#include "util/xalloc.h"

static const char *row_state_name(enum sandbox_row_state s)
{
	switch (s) {
	case ROW_CREATING: return "creating";
	case ROW_READY: return "ready";
	default: return "notready";
	}
}

static enum sandbox_row_state row_state_parse(const char *s)
{
	if (s && strcmp(s, "creating") == 0)
		return ROW_CREATING;
	if (s && strcmp(s, "ready") == 0)
		return ROW_READY;
	return ROW_NOTREADY;
}

static int ns_mask(const struct sandbox *sb)
{
	int mask = 0;
	for (int t = 0; t < POD_NS_COUNT; t++)
		if (sb->want_ns[t])
			mask |= 1 << t;
	return mask;
}

static char *ips_join(char **ips, size_t n)
{
	size_t len = 1;
	for (size_t i = 0; i < n; i++)
		len += strlen(ips[i]) + 1;
	char *s = xmalloc(len);
	s[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (i)
			strcat(s, ",");
		strcat(s, ips[i]);
	}
	return s;
}

static void ips_split(const char *s, char ***out, size_t *n)
{
	*out = NULL;
	*n = 0;
	if (s == NULL || *s == '\0')
		return;
	size_t cap = 1;
	for (const char *p = s; *p; p++)
		cap += *p == ',';
	char **v = xcalloc(cap, sizeof(char *));
	size_t k = 0;
	const char *p = s;
	while (*p && k < cap) {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		if (len)
			v[k++] = xasprintf("%.*s", (int)len, p);
		p += len + (e != NULL);
	}
	*out = v;
	*n = k;
}

/* ---- insert ---- */

struct insert_ctx {
	const struct sandbox *sb;
	const void *config;
	size_t config_len;
	int mask;
};

static int insert_fn(store_db *db, void *arg, ocid_error **err)
{
	struct insert_ctx *c = arg;
	const struct sandbox *sb = c->sb;
	int rc = db_exec(db, err,
			 "INSERT INTO pods (id, name, namespace, uid, attempt, state, created_at, config, "
			 "runtime_handler, runtime_name, dir, pin_dir, namespaces, netns, cgroup_path) "
			 "VALUES (?, ?, ?, ?, ?, 'creating', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			 "ssssiibssssdss", sb->id, sb->name, sb->namespace_, sb->uid, (int64_t)sb->attempt,
			 sb->created_at, c->config, c->config_len, sb->handler, sb->runtime_name, sb->dir,
			 sb->pin_dir, c->mask, sb->ns.path[POD_NS_NET], sb->cgroup_path);
	return rc < 0 ? -1 : 0;
}

int sandbox_db_insert(struct sandbox_mgr *m, struct sandbox *sb, ocid_error **err)
{
	size_t len = protobuf_c_message_get_packed_size(&sb->config->base);
	cleanup_free uint8_t *buf = xmalloc(len ? len : 1);
	protobuf_c_message_pack(&sb->config->base, buf);
	struct insert_ctx c = {sb, buf, len, ns_mask(sb)};
	if (db_write(m->db, insert_fn, &c, err) < 0)
		return err_prefix(err, "record pod sandbox %s", sb->id);
	return 0;
}

/* ---- update ---- */

struct update_ctx {
	const char *id;
	const char *state;
	char *reason;
	char *cgroup;
	int64_t pause_pid, pause_start;
	int net_attached;
	char *cni_cache;
	char *ips;
};

static int update_fn(store_db *db, void *arg, ocid_error **err)
{
	struct update_ctx *c = arg;
	int rc = db_exec(db, err,
			 "UPDATE pods SET state = ?, reason = ?, cgroup = ?, pause_pid = ?, pause_start = ?, "
			 "net_attached = ?, cni_cache = ?, ips = ? WHERE id = ?",
			 "sssiidsss", c->state, c->reason, c->cgroup, c->pause_pid, c->pause_start, c->net_attached,
			 c->cni_cache, c->ips, c->id);
	if (rc < 0)
		return -1;
	if (rc == 0)
		return err_set(err, GRPC_NOT_FOUND, "no database row");
	return 0;
}

int sandbox_db_update(struct sandbox_mgr *m, struct sandbox *sb, ocid_error **err)
{
	struct update_ctx c = {.id = sb->id};
	pthread_mutex_lock(&m->cg_mu);
	if (sb->cgroup) {
		json_t *j = pod_cgroup_to_json(sb->cgroup);
		c.cgroup = j ? json_dumps(j, JSON_COMPACT) : NULL;
		json_decref(j);
	}
	pthread_mutex_unlock(&m->cg_mu);
	pthread_mutex_lock(&m->mu);
	c.state = row_state_name(sb->state);
	c.reason = xstrdup(sb->reason ? sb->reason : "");
	c.pause_pid = sb->pause_pid;
	c.pause_start = (int64_t)sb->pause_start;
	c.net_attached = sb->net_attached;
	c.cni_cache = sb->cni_cache ? xstrdup(sb->cni_cache) : NULL;
	c.ips = ips_join(sb->ips, sb->n_ips);
	pthread_mutex_unlock(&m->mu);
	int rc = db_write(m->db, update_fn, &c, err);
	free(c.reason);
	free(c.cgroup);
	free(c.cni_cache);
	free(c.ips);
	if (rc < 0)
		return err_prefix(err, "update the record of pod sandbox %s", sb->id);
	return 0;
}

/* ---- delete ---- */

static int delete_fn(store_db *db, void *arg, ocid_error **err)
{
	return db_exec(db, err, "DELETE FROM pods WHERE id = ?", "s", (const char *)arg) < 0 ? -1 : 0;
}

int sandbox_db_delete(struct sandbox_mgr *m, const char *id, ocid_error **err)
{
	if (db_write(m->db, delete_fn, (void *)id, err) < 0)
		return err_prefix(err, "delete the record of pod sandbox %s", id);
	return 0;
}

/* ---- load ---- */

struct load_ctx {
	struct sandbox_mgr *m;
	struct sandbox **v;
	size_t n, cap;
};

static void load_free(struct load_ctx *c)
{
	for (size_t i = 0; i < c->n; i++)
		sandbox_unref(c->v[i]);
	free(c->v);
	c->v = NULL;
	c->n = c->cap = 0;
}

static int row_to_sandbox(struct sandbox_mgr *m, sqlite3_stmt *st, struct sandbox **out, ocid_error **err)
{
	*out = NULL;
	const char *id = (const char *)sqlite3_column_text(st, 0);
	if (id == NULL || strlen(id) != SANDBOX_ID_LEN)
		return err_set(err, GRPC_DATA_LOSS, "pods table: a row has a bad id");
	struct sandbox *sb = sandbox_alloc(m);
	memcpy(sb->id, id, SANDBOX_ID_LEN + 1);
	sb->state = row_state_parse((const char *)sqlite3_column_text(st, 1));
	const char *reason = (const char *)sqlite3_column_text(st, 2);
	sb->reason = reason && *reason ? xstrdup(reason) : NULL;
	sb->created_at = sqlite3_column_int64(st, 3);
	const void *blob = sqlite3_column_blob(st, 4);
	size_t blen = (size_t)sqlite3_column_bytes(st, 4);
	sb->config = (Runtime__V1__PodSandboxConfig *)protobuf_c_message_unpack(
		&runtime__v1__pod_sandbox_config__descriptor, NULL, blen, blob);
	if (sb->config == NULL || sb->config->metadata == NULL) {
		sandbox_unref(sb);
		return err_set(err, GRPC_DATA_LOSS, "pods table: pod %s has an unreadable config", id);
	}
	sb->handler = db_column_strdup(st, 5);
	sb->runtime_name = db_column_strdup(st, 6);
	cleanup_free char *dir = db_column_strdup(st, 7);
	cleanup_free char *pin_dir = db_column_strdup(st, 8);
	if (sandbox_derive(m, sb, dir, pin_dir, err) < 0) {
		sandbox_unref(sb);
		return err_prefix(err, "pods table: pod %s", id);
	}
	/* The recorded namespaces win over what the config says today. */
	int mask = sqlite3_column_int(st, 9);
	for (int t = 0; t < POD_NS_COUNT; t++)
		sb->want_ns[t] = (mask >> t) & 1;
	pod_ns_free(&sb->ns);
	pod_ns_paths(sb->pin_dir, sb->want_ns, &sb->ns);
	sb->net_attached = sqlite3_column_int(st, 10) != 0;
	sb->cni_cache = db_column_strdup(st, 11);
	ips_split((const char *)sqlite3_column_text(st, 12), &sb->ips, &sb->n_ips);
	cleanup_free char *cgpath = db_column_strdup(st, 13);
	if (cgpath && *cgpath) {
		free(sb->cgroup_path);
		sb->cgroup_path = steal_pointer(&cgpath);
	}
	const char *cg = (const char *)sqlite3_column_text(st, 14);
	if (cg && *cg) {
		json_error_t jerr;
		json_t *j = json_loads(cg, 0, &jerr);
		ocid_error *e = NULL;
		if (j == NULL || pod_cgroup_from_json(j, &sb->cgroup, &e) < 0) {
			/* Keep the pod: Remove then leaves its cgroups (logged). */
			warn_err("unreadable cgroup record", id, e);
			err_free(e);
		}
		json_decref(j);
	}
	sb->pause_pid = (pid_t)sqlite3_column_int64(st, 15);
	sb->pause_start = (uint64_t)sqlite3_column_int64(st, 16);
	*out = sb;
	return 0;
}

static int load_fn(store_db *db, void *arg, ocid_error **err)
{
	struct load_ctx *c = arg;
	sqlite3_stmt *st = db_prepare(db,
				      "SELECT id, state, reason, created_at, config, runtime_handler, runtime_name, dir, "
				      "pin_dir, namespaces, net_attached, cni_cache, ips, cgroup_path, cgroup, "
				      "pause_pid, pause_start FROM pods ORDER BY created_at, id",
				      err);
	if (st == NULL)
		return -1;
	int r;
	while ((r = db_step(db, st, err)) == 1) {
		struct sandbox *sb = NULL;
		if (row_to_sandbox(c->m, st, &sb, err) < 0) {
			sqlite3_reset(st);
			return -1;
		}
		if (c->n == c->cap) {
			c->cap = c->cap ? c->cap * 2 : 16;
			c->v = xrealloc(c->v, c->cap * sizeof(*c->v));
		}
		c->v[c->n++] = sb;
	}
	return r < 0 ? -1 : 0;
}

int sandbox_db_load(struct sandbox_mgr *m, int (*fn)(struct sandbox_mgr *m, struct sandbox *sb, void *arg, ocid_error **err),
		    void *arg,
		    ocid_error **err)
{
	struct load_ctx c = {.m = m};
	if (db_read(m->db, load_fn, &c, err) < 0) {
		load_free(&c);
		return err_prefix(err, "load pod sandboxes");
	}
	/* The callbacks run outside the read transaction: they may write. */
	int rc = 0;
	for (size_t i = 0; i < c.n && rc == 0; i++)
		rc = fn(m, c.v[i], arg, err);
	load_free(&c);
	return rc;
}
