/* The containers table of ocid.db: one row per container, written at each
 * step of its life (creating, created, running, exited) and deleted by
 * Remove. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctr/container_internal.h"
#include "util/cleanup.h"
#include "util/xalloc.h"

static const char *const row_names[] = {"creating", "created", "running", "exited"};

const char *ctr_row_state_name(enum ctr_row_state s)
{
	return (unsigned)s < sizeof(row_names) / sizeof(row_names[0]) ? row_names[s] : "exited";
}

int ctr_row_state_parse(const char *s, enum ctr_row_state *out)
{
	for (size_t i = 0; s && i < sizeof(row_names) / sizeof(row_names[0]); i++)
		if (strcmp(s, row_names[i]) == 0) {
			*out = (enum ctr_row_state)i;
			return 0;
		}
	return -1;
}

/* "1,2,3" */
static char *groups_text(const int64_t *g, size_t n)
{
	size_t cap = n * 21 + 1, o = 0;
	char *s = xmalloc(cap);
	s[0] = '\0';
	for (size_t i = 0; i < n; i++)
		o += (size_t)snprintf(s + o, cap - o, "%s%" PRId64, i ? "," : "", g[i]);
	return s;
}

static void groups_parse(const char *s, int64_t **g, size_t *n)
{
	*g = NULL;
	*n = 0;
	while (s && *s) {
		char *end;
		long long v = strtoll(s, &end, 10);
		if (end == s)
			break;
		*g = xrealloc(*g, (*n + 1) * sizeof(**g));
		(*g)[(*n)++] = v;
		s = *end == ',' ? end + 1 : end;
	}
}

/* A packed copy of a message (NULL for NULL). */
static uint8_t *pack(const ProtobufCMessage *msg, size_t *len)
{
	*len = 0;
	if (msg == NULL)
		return NULL;
	*len = protobuf_c_message_get_packed_size(msg);
	uint8_t *buf = xmalloc(*len ? *len : 1);
	protobuf_c_message_pack(msg, buf);
	return buf;
}

void *ctr_pb_dup(const ProtobufCMessage *msg)
{
	if (msg == NULL)
		return NULL;
	size_t len;
	cleanup_free uint8_t *buf = pack(msg, &len);
	ProtobufCMessage *copy = protobuf_c_message_unpack(msg->descriptor, NULL, len, buf);
	if (copy == NULL)
		abort(); /* we packed it ourselves: only allocation can fail */
	return copy;
}

/* ---- insert ---- */

struct insert_ctx {
	struct container *c;
	const uint8_t *config;
	size_t config_len;
	const char *groups;
};

static int insert_tx(store_db *db, void *p, ocid_error **err)
{
	struct insert_ctx *x = p;
	struct container *c = x->c;
	sqlite3_stmt *st = db_prepare(db,
				      "INSERT INTO containers (id, pod_id, name, attempt, state, config, image_id,"
				      " image_name, runtime, log_path, term_path, term_fallback, stop_signal,"
				      " kill_all, uid, gid, groups, created)"
				      " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
				      err);
	if (st == NULL ||
	    db_bind(db, st, err, "sssisbsssssdddiisi", c->id, c->pod_id, c->name, (int64_t)c->attempt,
		    ctr_row_state_name(c->state), x->config, x->config_len, c->image_id, c->image_name, c->runtime,
		    c->log_path, c->term_path, (int)c->term_fallback, c->stop_signal, (int)c->kill_all,
		    (int64_t)c->uid, (int64_t)c->gid, x->groups, c->created_at) < 0)
		return -1;
	return db_step(db, st, err) < 0 ? -1 : 0;
}

int ctr_db_insert(struct ctr_mgr *m, struct container *c, ocid_error **err)
{
	size_t len;
	cleanup_free uint8_t *cfg = pack(&c->config->base, &len);
	cleanup_free char *groups = groups_text(c->groups, c->n_groups);
	struct insert_ctx x = {.c = c, .config = cfg, .config_len = len, .groups = groups};
	if (db_write(m->db, insert_tx, &x, err) < 0)
		return err_prefix(err, "record container %s", c->id);
	return 0;
}

/* ---- update ---- */

struct update_ctx {
	const char *id;
	enum ctr_row_state state;
	int pid;
	int64_t started, finished;
	int exit_code;
	bool oom;
	char *reason, *message;
	uint8_t *resources;
	size_t resources_len;
	uint32_t uid, gid;
	char *groups;
};

static int update_tx(store_db *db, void *p, ocid_error **err)
{
	struct update_ctx *u = p;
	sqlite3_stmt *st = db_prepare(db,
				      "UPDATE containers SET state = ?, pid = ?, started = ?, finished = ?,"
				      " exit_code = ?, oom = ?, reason = ?, message = ?, resources = ?,"
				      " uid = ?, gid = ?, groups = ? WHERE id = ?",
				      err);
	if (st == NULL)
		return -1;
	int rc = u->resources
			 ? db_bind(db, st, err, "sdiiddssbiiss", ctr_row_state_name(u->state), u->pid, u->started,
				   u->finished, u->exit_code, (int)u->oom, u->reason, u->message, u->resources,
				   u->resources_len, (int64_t)u->uid, (int64_t)u->gid, u->groups, u->id)
			 : db_bind(db, st, err, "sdiiddssniiss", ctr_row_state_name(u->state), u->pid, u->started,
				   u->finished, u->exit_code, (int)u->oom, u->reason, u->message, (int64_t)u->uid,
				   (int64_t)u->gid, u->groups, u->id);
	if (rc < 0)
		return -1;
	return db_step(db, st, err) < 0 ? -1 : 0;
}

int ctr_db_update(struct ctr_mgr *m, struct container *c, ocid_error **err)
{
	struct update_ctx u = {.id = c->id};
	pthread_mutex_lock(&m->mu);
	u.state = c->state;
	u.pid = c->pid;
	u.started = c->started_at;
	u.finished = c->finished_at;
	u.exit_code = c->exit_code;
	u.oom = c->oom;
	u.reason = xstrdup(c->reason ? c->reason : "");
	u.message = xstrdup(c->message ? c->message : "");
	u.resources = pack(c->resources ? &c->resources->base : NULL, &u.resources_len);
	pthread_mutex_unlock(&m->mu);
	/* immutable once set at create */
	u.uid = c->uid;
	u.gid = c->gid;
	u.groups = groups_text(c->groups, c->n_groups);
	int rc = db_write(m->db, update_tx, &u, err);
	free(u.reason);
	free(u.message);
	free(u.resources);
	free(u.groups);
	if (rc < 0)
		return err_prefix(err, "update container %s", c->id);
	return 0;
}

/* ---- delete ---- */

struct delete_ctx {
	const char *id;
};

static int delete_tx(store_db *db, void *p, ocid_error **err)
{
	struct delete_ctx *d = p;
	return db_exec(db, err, "DELETE FROM containers WHERE id = ?", "s", d->id) < 0 ? -1 : 0;
}

int ctr_db_delete(struct ctr_mgr *m, const char *id, ocid_error **err)
{
	struct delete_ctx d = {.id = id};
	if (db_write(m->db, delete_tx, &d, err) < 0)
		return err_prefix(err, "delete container record %s", id);
	return 0;
}

/* ---- load ---- */

struct load_ctx {
	struct ctr_mgr *m;
	struct container **list;
	size_t n;
};

static char *col_str(sqlite3_stmt *st, int col)
{
	char *s = db_column_strdup(st, col);
	return s ? s : xstrdup("");
}

static int load_tx(store_db *db, void *p, ocid_error **err)
{
	struct load_ctx *l = p;
	sqlite3_stmt *st = db_prepare(db,
				      "SELECT id, pod_id, name, attempt, state, config, image_id, image_name,"
				      " runtime, log_path, term_path, term_fallback, stop_signal, kill_all, uid,"
				      " gid, groups, created, pid, started, finished, exit_code, oom, reason,"
				      " message, resources FROM containers ORDER BY created, id",
				      err);
	if (st == NULL)
		return -1;
	int r;
	while ((r = db_step(db, st, err)) == 1) {
		struct container *c = container_alloc(l->m);
		cleanup_free char *id = col_str(st, 0);
		snprintf(c->id, sizeof(c->id), "%s", id);
		c->pod_id = col_str(st, 1);
		c->name = col_str(st, 2);
		c->attempt = (uint32_t)sqlite3_column_int64(st, 3);
		cleanup_free char *state = col_str(st, 4);
		bool bad = ctr_row_state_parse(state, &c->state) < 0;
		const void *cfg = sqlite3_column_blob(st, 5);
		int cfg_len = sqlite3_column_bytes(st, 5);
		c->config = (Runtime__V1__ContainerConfig *)protobuf_c_message_unpack(
			&runtime__v1__container_config__descriptor, NULL, (size_t)cfg_len, cfg);
		c->image_id = col_str(st, 6);
		c->image_name = col_str(st, 7);
		c->runtime = col_str(st, 8);
		c->log_path = col_str(st, 9);
		c->term_path = col_str(st, 10);
		c->term_fallback = sqlite3_column_int(st, 11) != 0;
		c->stop_signal = sqlite3_column_int(st, 12);
		c->kill_all = sqlite3_column_int(st, 13) != 0;
		c->uid = (uint32_t)sqlite3_column_int64(st, 14);
		c->gid = (uint32_t)sqlite3_column_int64(st, 15);
		cleanup_free char *groups = col_str(st, 16);
		groups_parse(groups, &c->groups, &c->n_groups);
		c->created_at = sqlite3_column_int64(st, 17);
		c->pid = sqlite3_column_int(st, 18);
		c->started_at = sqlite3_column_int64(st, 19);
		c->finished_at = sqlite3_column_int64(st, 20);
		c->exit_code = sqlite3_column_int(st, 21);
		c->oom = sqlite3_column_int(st, 22) != 0;
		free(c->reason);
		c->reason = col_str(st, 23);
		free(c->message);
		c->message = col_str(st, 24);
		if (sqlite3_column_type(st, 25) == SQLITE_BLOB) {
			const void *rb = sqlite3_column_blob(st, 25);
			int rl = sqlite3_column_bytes(st, 25);
			c->resources = (Runtime__V1__LinuxContainerResources *)protobuf_c_message_unpack(
				&runtime__v1__linux_container_resources__descriptor, NULL, (size_t)rl, rb);
		}
		if (c->config == NULL || c->config->metadata == NULL) {
			/* Unreadable config: keep the row as 'creating' so
			 * that recovery removes the container entirely. */
			if (c->config)
				protobuf_c_message_free_unpacked(&c->config->base, NULL);
			c->config = (Runtime__V1__ContainerConfig *)xmalloc(sizeof(*c->config));
			runtime__v1__container_config__init(c->config);
			bad = true;
		}
		if (bad)
			c->state = ROW_CTR_CREATING;
		c->exit_recorded = c->state == ROW_CTR_EXITED;
		ctr_set_paths(l->m, c);
		l->list = xrealloc(l->list, (l->n + 1) * sizeof(*l->list));
		l->list[l->n++] = c;
	}
	return r < 0 ? -1 : 0;
}

int ctr_db_load(struct ctr_mgr *m, int (*fn)(struct ctr_mgr *m, struct container *c, void *arg), void *arg,
		ocid_error **err)
{
	struct load_ctx l = {.m = m};
	int rc = db_read(m->db, load_tx, &l, err);
	for (size_t i = 0; rc == 0 && i < l.n; i++)
		if (fn(m, l.list[i], arg) < 0)
			rc = -1;
	if (rc < 0)
		err_prefix(err, "load containers");
	/* fn took its own references */
	for (size_t k = 0; k < l.n; k++)
		container_unref(l.list[k]);
	free(l.list);
	return rc;
}
