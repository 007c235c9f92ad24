/* The pull pipeline (see pull.h): references, endpoints, manifests,
 * platform, config, then layers (pull_layers.c) and the image record. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "image/auth_file.h"
#include "image/image_config.h"
#include "image/manifest.h"
#include "image/platform.h"
#include "image/pull_internal.h"
#include "util/cleanup.h"
#include "util/log.h"
#include "util/xalloc.h"

int image_puller_new(struct store *store, const struct ocid_image_config *cfg,
		     const struct registry_options *reg_opts, struct image_puller **out, ocid_error **err)
{
	(void)err;
	struct image_puller *p = xcalloc(1, sizeof(*p));
	p->store = store;
	p->cfg = cfg;
	if (reg_opts)
		p->reg_opts = *reg_opts;
	pthread_mutex_init(&p->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->cond, &ca);
	pthread_condattr_destroy(&ca);
	*out = p;
	return 0;
}

void image_puller_free(struct image_puller *p)
{
	if (p == NULL)
		return;
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->mu);
	free(p);
}

struct store *image_puller_store(struct image_puller *p) { return p->store; }

char *const *image_puller_search(struct image_puller *p) { return p->cfg ? p->cfg->registries : NULL; }

/* ---- cancellation: the caller's, plus this pull's own abort ---- */

static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static bool user_cancelled(const struct registry_cancel *c)
{
	if (c == NULL || c->cancelled == NULL)
		return false;
	/* a passed deadline is reported as DEADLINE_EXCEEDED, not CANCELLED */
	if (c->deadline_ns > 0 && mono_ns() >= c->deadline_ns)
		return false;
	return c->cancelled(c->opaque);
}

bool pull_ctx_cancelled(void *opaque)
{
	struct pull_ctx *pc = opaque;
	return atomic_load(&pc->abort) || user_cancelled(pc->user_cancel);
}

int pull_ctx_check(struct pull_ctx *pc, ocid_error **err)
{
	const struct registry_cancel *c = pc->user_cancel;
	if (c && c->deadline_ns > 0 && mono_ns() >= c->deadline_ns)
		return err_set(err, GRPC_DEADLINE_EXCEEDED, "deadline exceeded");
	if (user_cancelled(c))
		return err_set(err, GRPC_CANCELLED, "cancelled");
	return 0;
}

void pull_ctx_init_cancel(struct pull_ctx *pc)
{
	atomic_init(&pc->abort, false);
	pc->cancel.deadline_ns = pc->user_cancel ? pc->user_cancel->deadline_ns : 0;
	pc->cancel.cancelled = pull_ctx_cancelled;
	pc->cancel.opaque = pc;
}

static bool stop_code(enum grpc_code c) { return c == GRPC_CANCELLED || c == GRPC_DEADLINE_EXCEEDED; }

/* ---- config blobs: fetched once however many pulls want them ---- */

static struct pull_flight *flight_find(struct image_puller *p, const char *digest)
{
	for (struct pull_flight *f = p->flights; f; f = f->next)
		if (strcmp(f->digest, digest) == 0)
			return f;
	return NULL;
}

static int flight_enter(struct pull_ctx *pc, const char *digest, ocid_error **err)
{
	struct image_puller *p = pc->p;
	pthread_mutex_lock(&p->mu);
	while (flight_find(p, digest)) {
		if (pull_ctx_check(pc, err) < 0) {
			pthread_mutex_unlock(&p->mu);
			return -1;
		}
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += 100000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&p->cond, &p->mu, &ts);
	}
	struct pull_flight *f = xcalloc(1, sizeof(*f));
	f->digest = xstrdup(digest);
	f->next = p->flights;
	p->flights = f;
	pthread_mutex_unlock(&p->mu);
	return 0;
}

static void flight_leave(struct image_puller *p, const char *digest)
{
	pthread_mutex_lock(&p->mu);
	for (struct pull_flight **pp = &p->flights; *pp; pp = &(*pp)->next) {
		if (strcmp((*pp)->digest, digest) == 0) {
			struct pull_flight *f = *pp;
			*pp = f->next;
			free(f->digest);
			free(f);
			break;
		}
	}
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->mu);
}

/* The config JSON of desc: from an image already stored with it, from the
 * blob store, or from the registry (then kept as a blob). *wrote tells
 * whether this call added the blob. */
static int fetch_config(struct pull_ctx *pc, const struct image_descriptor *desc, char **body, size_t *len,
			bool *wrote, ocid_error **err)
{
	struct store *st = pc->p->store;
	*body = NULL;
	*wrote = false;
	if (desc->size > IMAGE_CONFIG_MAX_SIZE)
		return err_set(err, GRPC_RESOURCE_EXHAUSTED, "image config %s is %lld bytes, more than the %d allowed",
			       desc->digest, (long long)desc->size, IMAGE_CONFIG_MAX_SIZE);
	if (flight_enter(pc, desc->digest, err) < 0)
		return -1;
	int ret = 0;
	struct image_record *rec = NULL;
	if (images_get(st->images, desc->digest, &rec, err) < 0) {
		ret = -1;
	} else if (rec) {
		*len = strlen(rec->config);
		*body = steal_pointer(&rec->config);
		image_record_free(rec);
	} else if (blob_exists(st->blobs, desc->digest)) {
		ret = blob_read(st->blobs, desc->digest, IMAGE_CONFIG_MAX_SIZE, body, len, err);
	} else {
		ret = registry_get_blob_buffer(pc->client, pc->ep, desc->digest, desc->size, IMAGE_CONFIG_MAX_SIZE,
					       &pc->cancel, body, err);
		if (ret == 0) {
			*len = (size_t)desc->size;
			ret = blob_write(st->blobs, desc->digest, *body, *len, err);
			*wrote = ret == 0;
		}
	}
	flight_leave(pc->p, desc->digest);
	if (ret < 0) {
		free(*body);
		*body = NULL;
		return err_prefix(err, "image config %s", desc->digest);
	}
	return 0;
}

/* ---- one pull from one endpoint ---- */

static int get_manifest(struct pull_ctx *pc, const char *reference, struct registry_manifest *raw,
			struct image_manifest **m, ocid_error **err)
{
	memset(raw, 0, sizeof(*raw));
	if (registry_get_manifest(pc->client, pc->ep, reference, &pc->cancel, raw, err) < 0)
		return -1;
	if (manifest_parse(raw->body, raw->len, raw->media_type, m, err) < 0) {
		err_prefix(err, "manifest %s", raw->digest);
		registry_manifest_clear(raw);
		return -1;
	}
	return 0;
}

struct written {
	char *digests[3];
	size_t n;
};

static int keep_blob(struct pull_ctx *pc, struct written *w, const char *digest, const void *data, size_t len,
		     ocid_error **err)
{
	blob_store *bs = pc->p->store->blobs;
	if (blob_exists(bs, digest))
		return 0;
	if (blob_write(bs, digest, data, len, err) < 0)
		return -1;
	if (w->n < 3)
		w->digests[w->n++] = xstrdup(digest);
	return 0;
}

/* After a failure: blobs this pull added that no image stands for. */
static void drop_written(struct pull_ctx *pc, struct written *w, const char *config_digest)
{
	struct store *st = pc->p->store;
	struct image_record *rec = NULL;
	ocid_error *e = NULL;
	if (config_digest && images_get(st->images, config_digest, &rec, &e) == 0 && rec) {
		image_record_free(rec);
	} else {
		err_clear(&e);
		for (size_t i = 0; i < w->n; i++)
			if (blob_remove(st->blobs, w->digests[i], &e) < 0)
				err_clear(&e);
	}
}

static void written_clear(struct written *w)
{
	for (size_t i = 0; i < w->n; i++)
		free(w->digests[i]);
	w->n = 0;
}

static int pull_from(struct pull_ctx *pc, char **image_id, ocid_error **err)
{
	struct store *st = pc->p->store;
	const struct image_ref *ref = pc->ref;
	struct registry_manifest top = { 0 }, plat = { 0 };
	struct image_manifest *m_top = NULL, *m_plat = NULL;
	struct image_config *cfg = NULL;
	char *config = NULL;
	size_t config_len = 0;
	char **chain = NULL;
	size_t n_chain = 0;
	struct written w = { 0 };
	bool config_wrote = false;
	const char *config_digest = NULL;
	cleanup_free char *repo_tag = NULL, *repo_digest = NULL;
	int ret = -1;

	if (get_manifest(pc, image_ref_manifest_ref(ref), &top, &m_top, err) < 0)
		goto out;
	const struct image_manifest *m = m_top;
	const char *manifest_digest = top.digest;
	if (manifest_is_index(m_top)) {
		struct image_platform want = { 0 };
		image_platform_host(&want);
		const struct image_descriptor *d = NULL;
		int rc = manifest_select_platform(m_top, &want, &d, err);
		image_platform_clear(&want);
		if (rc < 0) {
			err_prefix(err, "index %s", top.digest);
			goto out;
		}
		if (get_manifest(pc, d->digest, &plat, &m_plat, err) < 0)
			goto out;
		if ((int64_t)plat.len != d->size) {
			err_set(err, GRPC_DATA_LOSS, "manifest %s is %zu bytes, the index says %lld", d->digest,
				plat.len, (long long)d->size);
			goto out;
		}
		if (manifest_is_index(m_plat)) {
			err_set(err, GRPC_UNIMPLEMENTED, "index %s points to another index %s (nested indexes are not supported)",
				top.digest, d->digest);
			goto out;
		}
		m = m_plat;
		manifest_digest = plat.digest;
	}

	config_digest = m->config.digest;
	if (fetch_config(pc, &m->config, &config, &config_len, &config_wrote, err) < 0)
		goto out;
	if (config_wrote && w.n < 3)
		w.digests[w.n++] = xstrdup(config_digest);
	if (image_config_parse(config, config_len, &cfg, err) < 0 || image_config_check_layers(cfg, m, err) < 0) {
		err_prefix(err, "image config %s", config_digest);
		goto out;
	}

	pull_progress_set_layers(pc->p, pc->prog, m);
	if (pull_layers(pc, m, cfg, &chain, err) < 0)
		goto out;
	n_chain = m->n_layers;

	/* the verified manifests, kept next to the config */
	if (keep_blob(pc, &w, top.digest, top.body, top.len, err) < 0 ||
	    (m_plat && keep_blob(pc, &w, plat.digest, plat.body, plat.len, err) < 0)) {
		pull_layers_release(pc, chain, m->n_layers, true);
		goto out;
	}

	repo_tag = image_ref_repo_tag(ref);
	repo_digest = image_ref_repo_digest(ref, top.digest);
	struct image_put put = {
		.id = config_digest,
		.manifest_digest = manifest_digest,
		.config = config,
		.size = -1,
		.tag = repo_tag,
		.repo_digest = repo_digest,
		.layers = (const char *const *)chain,
		.n_layers = m->n_layers,
	};
	if (images_put(st->images, &put, err) < 0) {
		pull_layers_release(pc, chain, m->n_layers, true);
		goto out;
	}
	pull_layers_release(pc, chain, m->n_layers, false);
	/* a removal racing this pull may have taken the blobs: put them back */
	ocid_error *e = NULL;
	if (!blob_exists(st->blobs, config_digest) && blob_write(st->blobs, config_digest, config, config_len, &e) < 0)
		err_clear(&e);
	if (!blob_exists(st->blobs, top.digest) && blob_write(st->blobs, top.digest, top.body, top.len, &e) < 0)
		err_clear(&e);
	*image_id = xstrdup(config_digest);
	{
		cleanup_free char *name = image_ref_string(ref);
		log_info("image pulled", "image=%s id=%s digest=%s from=%s", name, config_digest, top.digest,
			 pc->ep->host);
	}
	ret = 0;
out:
	if (ret < 0)
		drop_written(pc, &w, config_digest);
	written_clear(&w);
	if (chain) {
		for (size_t i = 0; i < n_chain; i++)
			free(chain[i]);
		free(chain);
	}
	image_config_free(cfg);
	free(config);
	manifest_free(m_plat);
	manifest_free(m_top);
	registry_manifest_clear(&plat);
	registry_manifest_clear(&top);
	return ret;
}

/* ---- one candidate name ---- */

/* The image already stored under ref, if the registry still says so:
 * *image_id set (malloc'd) when nothing has to be pulled. */
static int check_present(struct pull_ctx *pc, const struct registry_endpoint *eps, size_t n_eps, char **image_id,
			 ocid_error **err)
{
	struct store *st = pc->p->store;
	const struct image_ref *ref = pc->ref;
	*image_id = NULL;
	cleanup_free char *repo_tag = image_ref_repo_tag(ref);
	struct image_record *rec = NULL;
	if (ref->digest) {
		/* pinned content: the repo digest is proof enough */
		cleanup_free char *rd = image_ref_repo_digest(ref, ref->digest);
		if (images_get_by_digest(st->images, rd, &rec, err) < 0)
			return -1;
		if (rec == NULL)
			return 0;
		if (repo_tag && images_tag(st->images, rec->id, repo_tag, err) < 0) {
			image_record_free(rec);
			return -1;
		}
		*image_id = steal_pointer(&rec->id);
		image_record_free(rec);
		return 0;
	}
	if (repo_tag == NULL)
		return 0;
	if (images_get_by_tag(st->images, repo_tag, &rec, err) < 0)
		return -1;
	if (rec == NULL)
		return 0;
	cleanup_free char *digest = NULL;
	for (size_t i = 0; i < n_eps && digest == NULL; i++) {
		pc->ep = &eps[i];
		struct registry_manifest_head h = { 0 };
		ocid_error *e = NULL;
		if (registry_head_manifest(pc->client, pc->ep, ref->tag, &pc->cancel, &h, &e) == 0) {
			digest = h.digest ? xstrdup(h.digest) : NULL;
			registry_manifest_head_clear(&h);
			break; /* no digest in the answer: a full GET decides */
		}
		if (stop_code(e->code) || !eps[i].mirror) {
			*err = e;
			image_record_free(rec);
			return -1;
		}
		err_free(e);
	}
	pc->ep = NULL;
	if (digest) {
		cleanup_free char *rd = image_ref_repo_digest(ref, digest);
		bool same = strcmp(rec->manifest_digest, digest) == 0;
		for (size_t i = 0; i < rec->n_digests && !same; i++)
			same = strcmp(rec->digests[i], rd) == 0;
		if (same)
			*image_id = steal_pointer(&rec->id);
	}
	image_record_free(rec);
	return 0;
}

static int pull_candidate(struct image_puller *p, const struct image_ref *ref, const struct registry_credentials *creds,
			  const struct registry_cancel *cancel, struct pull_progress *prog, char **image_id,
			  ocid_error **err)
{
	cleanup_free char *name = image_ref_string(ref);
	pull_progress_set_name(p, prog, name);

	/* credentials: the request's, else the auth file's */
	struct auth_entry ae = { 0 };
	struct registry_credentials file_creds;
	if (!registry_credentials_given(creds) && p->cfg && p->cfg->global_auth_file &&
	    *p->cfg->global_auth_file) {
		bool found = false;
		if (auth_file_lookup(p->cfg->global_auth_file, ref->domain, &ae, &found, err) < 0)
			return -1;
		if (found) {
			auth_entry_credentials(&ae, &file_creds);
			creds = &file_creds;
		}
	}
	struct registry_client *client = NULL;
	int rc = registry_client_new(creds, &p->reg_opts, &client, err);
	auth_entry_clear(&ae);
	if (rc < 0)
		return -1;

	struct registry_endpoint *eps = NULL;
	size_t n_eps = 0;
	if (registry_endpoints(p->cfg, ref, &eps, &n_eps, err) < 0) {
		registry_client_free(client);
		return -1;
	}
	struct pull_ctx pc = { .p = p, .ref = ref, .client = client, .user_cancel = cancel, .prog = prog };
	pull_ctx_init_cancel(&pc);

	int ret = check_present(&pc, eps, n_eps, image_id, err);
	if (ret == 0 && *image_id) {
		log_info("image is up to date", "image=%s id=%s", name, *image_id);
		goto out;
	}
	if (ret == 0) {
		ret = -1;
		for (size_t i = 0; i < n_eps; i++) {
			pc.ep = &eps[i];
			atomic_store(&pc.abort, false);
			ocid_error *e = NULL;
			if (pull_from(&pc, image_id, &e) == 0) {
				ret = 0;
				break;
			}
			if (stop_code(e->code) || !eps[i].mirror || i + 1 == n_eps) {
				*err = e;
				break;
			}
			char esc[1024];
			log_escape(e->msg, esc, sizeof(esc));
			log_warn("pull from mirror failed, trying the next endpoint", "image=%s mirror=%s error=\"%s\"",
				 name, eps[i].host, esc);
			err_free(e);
		}
	}
out:
	registry_endpoints_free(eps, n_eps);
	registry_client_free(client);
	return ret;
}

int image_pull(struct image_puller *p, const char *image, const struct registry_credentials *creds,
	       const struct registry_cancel *cancel, char **image_id, ocid_error **err)
{
	*image_id = NULL;
	if (image == NULL || *image == '\0')
		return err_set(err, GRPC_INVALID_ARGUMENT, "no image specified");
	cleanup_image_ref struct image_ref ref = { 0 };
	if (image_ref_parse(image, &ref, err) < 0)
		return -1;
	if (ref.kind == IMAGE_REF_ID)
		return err_set(err, GRPC_INVALID_ARGUMENT,
			       "cannot pull %s: an image id names no registry; pull by name or digest", image);
	struct image_ref *cands = NULL;
	size_t n_cands = 0;
	if (image_ref_candidates(&ref, image_puller_search(p), &cands, &n_cands, err) < 0)
		return -1;
	cleanup_free char *key = image_ref_string(&ref);
	struct pull_progress *prog = pull_progress_begin(p, key);

	int ret = -1;
	char *tried = NULL; /* "name: error; ..." for a short name that no registry had */
	enum grpc_code code = GRPC_NOT_FOUND;
	for (size_t i = 0; i < n_cands; i++) {
		ocid_error *e = NULL;
		if (pull_candidate(p, &cands[i], creds, cancel, prog, image_id, &e) == 0) {
			ret = 0;
			break;
		}
		cleanup_free char *cname = image_ref_string(&cands[i]);
		if (n_cands == 1) {
			*err = e;
			err_prefix(err, "pull %s", cname);
			break;
		}
		char *t = xasprintf("%s%s%s: %s", tried ? tried : "", tried ? "; " : "", cname, e->msg);
		free(tried);
		tried = t;
		/* only "not there" moves on to the next registry of the search list */
		if (e->code != GRPC_NOT_FOUND || i + 1 == n_cands) {
			code = e->code;
			err_free(e);
			err_set(err, code, "pull %s: %s", image, tried);
			break;
		}
		err_free(e);
	}
	free(tried);
	pull_progress_end(p, prog);
	image_ref_array_free(cands, n_cands);
	return ret;
}
