/* ocic image pull|list|status|remove|fsinfo */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api.pb-c.h"
#include "client/duration.h"
#include "ocic/ocic.h"

static const char image_usage[] =
	"Usage: ocic image SUBCOMMAND\n"
	"\n"
	"  pull REF [--creds USER[:PASS]] [--pod-config F] [--pull-timeout D]\n"
	"        PullImage. --creds fills auth.username/password, --pod-config sends\n"
	"        F (a runtime.v1.PodSandboxConfig) as sandbox_config. The pull's\n"
	"        deadline is --pull-timeout (a duration; default 0: none), not the\n"
	"        global --timeout. Table: the image_ref returned, alone on a line.\n"
	"        On a terminal (stderr), per-layer progress is drawn on stderr while\n"
	"        the pull runs (ocic polls ImageStatus verbose, whose info[\"pull\"]\n"
	"        ocid fills for a pull in progress); otherwise nothing but the result.\n"
	"  list [REF] [-q|--quiet] [--no-trunc]\n"
	"        ListImages (filtered by REF if given). Table: IMAGE TAG IMAGE ID SIZE,\n"
	"        one row per tag ('<none>' for untagged images), IDs cut to 13\n"
	"        characters unless --no-trunc; -q prints only full image IDs.\n"
	"  status REF [-v|--verbose]\n"
	"        ImageStatus. Table: ID, Tags, Digests, Size, UID, Username, Pinned;\n"
	"        --verbose asks for and prints the info map. An image that is not\n"
	"        there is 'ocic: NOT_FOUND: image REF not found' and exit 1, in both\n"
	"        output modes.\n"
	"  remove REF   RemoveImage. Table: REF.\n"
	"  fsinfo       ImageFsInfo. Table: FILESYSTEM (image|container) MOUNTPOINT\n"
	"               USED INODES.\n";

static int no_args_or_ref(int argc, char **argv, const struct opt *opts, size_t nopts,
			  const char *what, bool want_ref, const char **ref)
{
	const char *pos[argc + 1];
	int npos;
	int rc = ocic_parse_args(argc, argv, opts, nopts, image_usage, pos, &npos);
	if (rc)
		return rc < 0 ? -1 : rc;
	if (want_ref && npos != 1)
		return ocic_usage_error(image_usage, "image %s: want exactly one image reference",
					what);
	if (!want_ref && npos > 1)
		return ocic_usage_error(image_usage, "image %s: too many arguments", what);
	*ref = npos ? pos[0] : NULL;
	return 0;
}

/* ---- pull progress: ImageStatus(verbose) polled on a second connection ---- */

struct pull_watch {
	const char *endpoint;
	const char *ref;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	bool stop;
	json_t *layers; /* the last "layers" array seen (guarded by mu) */
	int drawn;      /* lines on screen from the last draw */
};

/* info["pull"] of an ImageStatus reply, parsed; NULL if absent. */
static json_t *pull_info(const Runtime__V1__ImageStatusResponse *r)
{
	for (size_t i = 0; i < r->n_info; i++) {
		if (strcmp(r->info[i]->key, "pull") != 0)
			continue;
		json_error_t jerr;
		return json_loads(r->info[i]->value, 0, &jerr);
	}
	return NULL;
}

static void draw(struct pull_watch *w, json_t *layers, bool final)
{
	if (!json_is_array(layers) || json_array_size(layers) == 0)
		return;
	if (w->drawn > 0)
		fprintf(stderr, "\033[%dA", w->drawn);
	size_t i;
	json_t *l;
	int lines = 0;
	json_array_foreach(layers, i, l)
	{
		const char *digest = json_string_value(json_object_get(l, "digest"));
		const char *status = json_string_value(json_object_get(l, "status"));
		json_int_t size = json_integer_value(json_object_get(l, "size"));
		json_int_t cur = json_integer_value(json_object_get(l, "current"));
		if (final && status && strcmp(status, "exists") != 0 && strcmp(status, "failed") != 0) {
			status = "done";
			cur = size;
		} else if (status && strcmp(status, "downloading") == 0 && size > 0 && cur >= size) {
			status = "unpacking"; /* all bytes in, the extractor finishing */
		}
		char hex[13], sb[32], cb[32];
		snprintf(hex, sizeof(hex), "%s", digest && strchr(digest, ':') ? strchr(digest, ':') + 1 : "?");
		fmt_size(size > 0 ? (uint64_t)size : 0, sb, sizeof(sb));
		fmt_size(cur > 0 ? (uint64_t)cur : 0, cb, sizeof(cb));
		int pct = size > 0 ? (int)(cur * 100 / size) : 0;
		fprintf(stderr, "\r\033[K%s  %-11s %9s / %-9s %3d%%\n", hex, status ? status : "?", cb, sb, pct);
		lines++;
	}
	w->drawn = lines;
	fflush(stderr);
}

static void *watch_main(void *arg)
{
	struct pull_watch *w = arg;
	struct grpc_client *c = NULL;
	ocid_error *err = NULL;
	if (grpc_client_connect(w->endpoint, &c, &err) < 0) {
		err_free(err);
		return NULL;
	}
	Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;
	Runtime__V1__ImageStatusRequest req = RUNTIME__V1__IMAGE_STATUS_REQUEST__INIT;
	spec.image = (char *)w->ref;
	req.image = &spec;
	req.verbose = true;
	pthread_mutex_lock(&w->mu);
	while (!w->stop) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 150000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&w->cond, &w->mu, &ts);
		if (w->stop)
			break;
		pthread_mutex_unlock(&w->mu);
		ProtobufCMessage *m = NULL;
		json_t *info = NULL;
		if (grpc_client_unary(c, IMAGE_SERVICE "ImageStatus", &req.base,
				      &runtime__v1__image_status_response__descriptor, 2000000000LL, &m, &err) == 0) {
			info = pull_info((Runtime__V1__ImageStatusResponse *)m);
			protobuf_c_message_free_unpacked(m, NULL);
		} else {
			err_clear(&err);
		}
		pthread_mutex_lock(&w->mu);
		json_t *layers = info ? json_object_get(info, "layers") : NULL;
		if (!w->stop && json_is_array(layers) && json_array_size(layers) > 0) {
			json_decref(w->layers);
			w->layers = json_incref(layers);
			draw(w, w->layers, false);
		}
		json_decref(info);
	}
	pthread_mutex_unlock(&w->mu);
	grpc_client_free(c);
	return NULL;
}

static bool watch_start(struct pull_watch *w, struct ocic *o, const char *ref, pthread_t *th)
{
	memset(w, 0, sizeof(*w));
	if (!isatty(STDERR_FILENO))
		return false;
	w->endpoint = o->endpoint;
	w->ref = ref;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cond, NULL);
	if (pthread_create(th, NULL, watch_main, w) != 0) {
		pthread_cond_destroy(&w->cond);
		pthread_mutex_destroy(&w->mu);
		return false;
	}
	return true;
}

static void watch_stop(struct pull_watch *w, pthread_t th, bool ok)
{
	pthread_mutex_lock(&w->mu);
	w->stop = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->mu);
	pthread_join(th, NULL);
	if (ok && w->layers)
		draw(w, w->layers, true);
	json_decref(w->layers);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->mu);
}

static int pull(struct ocic *o, int argc, char **argv)
{
	const char *creds = NULL, *pod_config = NULL, *pull_timeout = NULL, *ref;
	const struct opt opts[] = {
		{"creds", 0, OPT_STRING, &creds},
		{"pod-config", 0, OPT_STRING, &pod_config},
		{"pull-timeout", 0, OPT_STRING, &pull_timeout},
	};
	int rc = no_args_or_ref(argc, argv, opts, 3, "pull", true, &ref);
	if (rc)
		return rc < 0 ? OCIC_EXIT_OK : rc;
	int64_t deadline = 0;
	if (pull_timeout && duration_parse(pull_timeout, &deadline) < 0)
		return ocic_usage_error(image_usage, "invalid --pull-timeout %s", pull_timeout);
	ocid_error *err = NULL;
	ProtobufCMessage *pcfg = NULL;
	if (pod_config && load_json_message(pod_config, &runtime__v1__pod_sandbox_config__descriptor,
					    &pcfg, &err) < 0)
		return ocic_fail(err);
	Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;
	Runtime__V1__AuthConfig auth = RUNTIME__V1__AUTH_CONFIG__INIT;
	Runtime__V1__PullImageRequest req = RUNTIME__V1__PULL_IMAGE_REQUEST__INIT;
	spec.image = (char *)ref;
	req.image = &spec;
	req.sandbox_config = (Runtime__V1__PodSandboxConfig *)pcfg;
	char *user = NULL;
	if (creds) {
		const char *colon = strchr(creds, ':');
		user = colon ? strndup(creds, (size_t)(colon - creds)) : strdup(creds);
		if (user == NULL || user[0] == '\0') {
			free(user);
			if (pcfg)
				protobuf_c_message_free_unpacked(pcfg, NULL);
			return ocic_usage_error(image_usage, "invalid --creds: want USER[:PASS]");
		}
		auth.username = user;
		auth.password = (char *)(colon ? colon + 1 : "");
		req.auth = &auth;
	}
	struct grpc_client *c;
	ProtobufCMessage *m = NULL;
	rc = ocic_client(o, &c, &err);
	if (rc == 0) {
		struct pull_watch w;
		pthread_t th;
		bool watching = watch_start(&w, o, ref, &th);
		rc = grpc_client_unary(c, IMAGE_SERVICE "PullImage", &req.base,
				       &runtime__v1__pull_image_response__descriptor, deadline, &m,
				       &err);
		if (watching)
			watch_stop(&w, th, rc == 0);
	}
	free(user);
	if (pcfg)
		protobuf_c_message_free_unpacked(pcfg, NULL);
	if (rc < 0)
		return ocic_fail(err);
	if (o->output == OCIC_OUT_JSON)
		rc = print_json_message(m);
	else
		puts(((Runtime__V1__PullImageResponse *)m)->image_ref);
	protobuf_c_message_free_unpacked(m, NULL);
	return rc;
}

/* "repo:tag" -> repo and tag; the tag's ':' comes after the last '/'. */
static void split_tag(const char *rt, char *repo, size_t rn, const char **tag)
{
	const char *slash = strrchr(rt, '/');
	const char *colon = strrchr(slash ? slash : rt, ':');
	if (colon == NULL) {
		snprintf(repo, rn, "%s", rt);
		*tag = "<none>";
		return;
	}
	snprintf(repo, rn, "%.*s", (int)(colon - rt), rt);
	*tag = colon + 1;
}

static int list(struct ocic *o, int argc, char **argv)
{
	bool quiet = false, no_trunc = false;
	const char *ref;
	const struct opt opts[] = {
		{"quiet", 'q', OPT_FLAG, &quiet},
		{"no-trunc", 0, OPT_FLAG, &no_trunc},
	};
	int rc = no_args_or_ref(argc, argv, opts, 2, "list", false, &ref);
	if (rc)
		return rc < 0 ? OCIC_EXIT_OK : rc;
	Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;
	Runtime__V1__ImageFilter filter = RUNTIME__V1__IMAGE_FILTER__INIT;
	Runtime__V1__ListImagesRequest req = RUNTIME__V1__LIST_IMAGES_REQUEST__INIT;
	if (ref) {
		spec.image = (char *)ref;
		filter.image = &spec;
		req.filter = &filter;
	}
	ProtobufCMessage *m = NULL;
	ocid_error *err = NULL;
	if (ocic_call(o, IMAGE_SERVICE "ListImages", &req.base,
		      &runtime__v1__list_images_response__descriptor, 0, &m, &err) < 0)
		return ocic_fail(err);
	if (o->output == OCIC_OUT_JSON) {
		rc = print_json_message(m);
		protobuf_c_message_free_unpacked(m, NULL);
		return rc;
	}
	Runtime__V1__ListImagesResponse *r = (Runtime__V1__ListImagesResponse *)m;
	if (quiet) {
		for (size_t i = 0; i < r->n_images; i++)
			puts(r->images[i]->id);
	} else {
		struct table *t = table_new(4, "IMAGE", "TAG", "IMAGE ID", "SIZE");
		for (size_t i = 0; i < r->n_images; i++) {
			Runtime__V1__Image *im = r->images[i];
			char ib[96], sb[32], repo[512];
			fmt_id(im->id, no_trunc, ib, sizeof(ib));
			fmt_size(im->size, sb, sizeof(sb));
			if (im->n_repo_tags == 0) {
				const char *tag;
				if (im->n_repo_digests > 0) {
					const char *d = im->repo_digests[0];
					const char *at = strchr(d, '@');
					snprintf(repo, sizeof(repo), "%.*s",
						 (int)(at ? at - d : (long)strlen(d)), d);
				} else {
					snprintf(repo, sizeof(repo), "<none>");
				}
				tag = "<none>";
				table_add(t, repo, tag, ib, sb);
			}
			for (size_t k = 0; k < im->n_repo_tags; k++) {
				const char *tag;
				split_tag(im->repo_tags[k], repo, sizeof(repo), &tag);
				table_add(t, repo, tag, ib, sb);
			}
		}
		table_print(t);
	}
	protobuf_c_message_free_unpacked(m, NULL);
	return OCIC_EXIT_OK;
}

static int status(struct ocic *o, int argc, char **argv)
{
	bool verbose = false;
	const char *ref;
	const struct opt opts[] = {{"verbose", 'v', OPT_FLAG, &verbose}};
	int rc = no_args_or_ref(argc, argv, opts, 1, "status", true, &ref);
	if (rc)
		return rc < 0 ? OCIC_EXIT_OK : rc;
	Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;
	Runtime__V1__ImageStatusRequest req = RUNTIME__V1__IMAGE_STATUS_REQUEST__INIT;
	spec.image = (char *)ref;
	req.image = &spec;
	req.verbose = verbose;
	ProtobufCMessage *m = NULL;
	ocid_error *err = NULL;
	if (ocic_call(o, IMAGE_SERVICE "ImageStatus", &req.base,
		      &runtime__v1__image_status_response__descriptor, 0, &m, &err) < 0)
		return ocic_fail(err);
	Runtime__V1__ImageStatusResponse *r = (Runtime__V1__ImageStatusResponse *)m;
	Runtime__V1__Image *im = r->image;
	if (im == NULL) {
		protobuf_c_message_free_unpacked(m, NULL);
		err_set(&err, GRPC_NOT_FOUND, "image %s not found", ref);
		return ocic_fail(err);
	}
	if (o->output == OCIC_OUT_JSON) {
		rc = print_json_message(m);
		protobuf_c_message_free_unpacked(m, NULL);
		return rc;
	}
	char sb[32];
	print_kv("ID", im->id);
	printf("Tags:");
	for (size_t i = 0; i < im->n_repo_tags; i++)
		printf(" %s", im->repo_tags[i]);
	printf("\nDigests:");
	for (size_t i = 0; i < im->n_repo_digests; i++)
		printf(" %s", im->repo_digests[i]);
	printf("\nSize:  %s (%llu bytes)\n", fmt_size(im->size, sb, sizeof(sb)),
	       (unsigned long long)im->size);
	if (im->uid)
		printf("UID:  %lld\n", (long long)im->uid->value);
	else
		printf("UID:\n");
	print_kv("Username", im->username);
	print_kv("Pinned", im->pinned ? "true" : "false");
	print_map("Info", (ProtobufCMessage **)r->info, r->n_info);
	protobuf_c_message_free_unpacked(m, NULL);
	return OCIC_EXIT_OK;
}

static int remove_image(struct ocic *o, int argc, char **argv)
{
	const char *ref;
	int rc = no_args_or_ref(argc, argv, NULL, 0, "remove", true, &ref);
	if (rc)
		return rc < 0 ? OCIC_EXIT_OK : rc;
	Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;
	Runtime__V1__RemoveImageRequest req = RUNTIME__V1__REMOVE_IMAGE_REQUEST__INIT;
	spec.image = (char *)ref;
	req.image = &spec;
	ProtobufCMessage *m = NULL;
	ocid_error *err = NULL;
	if (ocic_call(o, IMAGE_SERVICE "RemoveImage", &req.base,
		      &runtime__v1__remove_image_response__descriptor, 0, &m, &err) < 0)
		return ocic_fail(err);
	if (o->output == OCIC_OUT_JSON)
		rc = print_json_message(m);
	else
		puts(ref);
	protobuf_c_message_free_unpacked(m, NULL);
	return rc;
}

static void fs_rows(struct table *t, const char *kind, Runtime__V1__FilesystemUsage **v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char ub[32], ib[32];
		Runtime__V1__FilesystemUsage *u = v[i];
		if (u->used_bytes)
			fmt_size(u->used_bytes->value, ub, sizeof(ub));
		else
			snprintf(ub, sizeof(ub), "-");
		if (u->inodes_used)
			snprintf(ib, sizeof(ib), "%llu", (unsigned long long)u->inodes_used->value);
		else
			snprintf(ib, sizeof(ib), "-");
		table_add(t, kind, u->fs_id ? u->fs_id->mountpoint : "", ub, ib);
	}
}

static int fsinfo(struct ocic *o, int argc, char **argv)
{
	const char *ref;
	int rc = no_args_or_ref(argc, argv, NULL, 0, "fsinfo", false, &ref);
	if (rc)
		return rc < 0 ? OCIC_EXIT_OK : rc;
	if (ref)
		return ocic_usage_error(image_usage, "image fsinfo takes no arguments");
	Runtime__V1__ImageFsInfoRequest req = RUNTIME__V1__IMAGE_FS_INFO_REQUEST__INIT;
	ProtobufCMessage *m = NULL;
	ocid_error *err = NULL;
	if (ocic_call(o, IMAGE_SERVICE "ImageFsInfo", &req.base,
		      &runtime__v1__image_fs_info_response__descriptor, 0, &m, &err) < 0)
		return ocic_fail(err);
	if (o->output == OCIC_OUT_JSON) {
		rc = print_json_message(m);
		protobuf_c_message_free_unpacked(m, NULL);
		return rc;
	}
	Runtime__V1__ImageFsInfoResponse *r = (Runtime__V1__ImageFsInfoResponse *)m;
	struct table *t = table_new(4, "FILESYSTEM", "MOUNTPOINT", "USED", "INODES");
	fs_rows(t, "image", r->image_filesystems, r->n_image_filesystems);
	fs_rows(t, "container", r->container_filesystems, r->n_container_filesystems);
	table_print(t);
	protobuf_c_message_free_unpacked(m, NULL);
	return OCIC_EXIT_OK;
}

int cmd_image(struct ocic *o, int argc, char **argv)
{
	if (argc < 1)
		return ocic_usage_error(image_usage, "image: missing subcommand");
	const char *sub = argv[0];
	if (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0 || strcmp(sub, "help") == 0) {
		fputs(image_usage, stdout);
		return OCIC_EXIT_OK;
	}
	if (strcmp(sub, "pull") == 0)
		return pull(o, argc - 1, argv + 1);
	if (strcmp(sub, "list") == 0)
		return list(o, argc - 1, argv + 1);
	if (strcmp(sub, "status") == 0)
		return status(o, argc - 1, argv + 1);
	if (strcmp(sub, "remove") == 0)
		return remove_image(o, argc - 1, argv + 1);
	if (strcmp(sub, "fsinfo") == 0)
		return fsinfo(o, argc - 1, argv + 1);
	return ocic_usage_error(image_usage, "image: unknown subcommand %s", sub);
}
