/* ContainerStatus: a snapshot under a short lock (never behind a Stop in
 * progress); the reply is built afterwards. verbose adds "info": JSON with
 * the pid, sandbox id and the OCI runtime spec. */
#include <stdlib.h>

#include "cri/container_common.h"
#include "cri/sandbox_internal.h"
#include "util/xalloc.h"

static Runtime__V1__Mount **copy_mounts(const Runtime__V1__ContainerConfig *c, size_t *n)
{
	*n = c->n_mounts;
	if (c->n_mounts == 0)
		return NULL;
	Runtime__V1__Mount **v = xcalloc(c->n_mounts, sizeof(*v));
	for (size_t i = 0; i < c->n_mounts; i++) {
		const Runtime__V1__Mount *s = c->mounts[i];
		Runtime__V1__Mount *d = xmalloc(sizeof(*d));
		runtime__v1__mount__init(d);
		d->container_path = pb_strdup(s->container_path);
		d->host_path = pb_strdup(s->host_path);
		d->readonly = s->readonly;
		d->selinux_relabel = s->selinux_relabel;
		d->propagation = s->propagation;
		d->recursive_read_only = s->recursive_read_only;
		v[i] = d;
	}
	return v;
}

static Runtime__V1__ContainerUser *user_of(const struct container *c)
{
	Runtime__V1__ContainerUser *u = xmalloc(sizeof(*u));
	runtime__v1__container_user__init(u);
	u->linux = xmalloc(sizeof(*u->linux));
	runtime__v1__linux_container_user__init(u->linux);
	u->linux->uid = container_uid(c);
	u->linux->gid = container_gid(c);
	size_t n;
	const int64_t *g = container_groups(c, &n);
	u->linux->n_supplemental_groups = n;
	u->linux->supplemental_groups = n ? xcalloc(n, sizeof(int64_t)) : NULL;
	for (size_t i = 0; i < n; i++)
		u->linux->supplemental_groups[i] = g[i];
	return u;
}

int cri_container_status(struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
			 ocid_error **err)
{
	const Runtime__V1__ContainerStatusRequest *in = (const Runtime__V1__ContainerStatusRequest *)req;
	struct ctr_mgr *m;
	if (cri_containers(call, &m, err) < 0)
		return -1;
	struct ctr_snapshot s;
	if (ctr_status(m, in->container_id, &s, err) < 0)
		return -1;
	struct container *c = s.c;
	const Runtime__V1__ContainerConfig *cfg = container_config(c);

	Runtime__V1__ContainerStatus *st = xmalloc(sizeof(*st));
	runtime__v1__container_status__init(st);
	st->id = pb_strdup(container_id(c));
	st->metadata = cri_ctr_metadata(cfg->metadata);
	st->state = cri_ctr_state(s.state);
	st->created_at = container_created_at(c);
	st->started_at = s.started_at;
	st->finished_at = s.finished_at;
	st->exit_code = s.state == CTR_EXITED ? s.exit_code : 0;
	st->image = cri_ctr_image_spec(c);
	st->image_ref = pb_strdup(container_image_id(c));
	st->image_id = pb_strdup(container_image_id(c));
	st->reason = pb_strdup(s.reason);
	st->message = pb_strdup(s.message);
	st->labels = cri_map_copy(&runtime__v1__container_status__labels_entry__descriptor,
				  (void *const *)cfg->labels, cfg->n_labels, &st->n_labels);
	st->annotations = cri_map_copy(&runtime__v1__container_status__annotations_entry__descriptor,
				       (void *const *)cfg->annotations, cfg->n_annotations, &st->n_annotations);
	st->mounts = copy_mounts(cfg, &st->n_mounts);
	st->log_path = pb_strdup(container_log_path(c));
	const Runtime__V1__LinuxContainerResources *res =
		s.resources ? s.resources : cfg->linux ? cfg->linux->resources : NULL;
	if (res) {
		st->resources = xmalloc(sizeof(*st->resources));
		runtime__v1__container_resources__init(st->resources);
		if (s.resources) {
			st->resources->linux = s.resources; /* unpacked copy, malloc'd throughout */
			s.resources = NULL;
		} else {
			st->resources->linux = ctr_pb_dup(&res->base);
		}
	}
	st->user = user_of(c);

	Runtime__V1__ContainerStatusResponse *r = xmalloc(sizeof(*r));
	runtime__v1__container_status_response__init(r);
	r->status = st;
	if (in->verbose) {
		r->n_info = 1;
		r->info = xcalloc(1, sizeof(*r->info));
		Runtime__V1__ContainerStatusResponse__InfoEntry *e = xmalloc(sizeof(*e));
		runtime__v1__container_status_response__info_entry__init(e);
		e->key = xstrdup("info");
		e->value = ctr_verbose_info(m, &s);
		r->info[0] = e;
	}
	ctr_snapshot_clear(&s);
	*resp = &r->base;
	return 0;
}
