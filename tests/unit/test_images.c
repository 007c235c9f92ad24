/* store/images and store/store: records, lookups, tag moves, removal with
 * layer and blob reclaim, the in-use hook, recovery after a crash mid-pull,
 * records served from memory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/store.h"
#include "test_store_util.h"

/* ---- a fake pull: blobs, layers, image record ---- */

struct fake_layer {
	struct buf blob;
	char diff_id[DIGEST_MAX_LEN];
	bool crash; /* die in the middle of unpacking it */
};

static void fake_layer_init(struct fake_layer *l, const char *name, const char *content)
{
	const struct te entries[] = { { .path = name, .data = content }, { .path = NULL } };
	struct buf tar = tar_build(entries);
	digest_buffer(DIGEST_SHA256, tar.data, tar.len, l->diff_id);
	l->blob = compress_buf(&tar, TF_ZSTD);
	l->crash = false;
	free(tar.data);
}

static ssize_t crashing_read(void *ctx, void *buf, size_t len, ocid_error **err)
{
	struct memsrc *m = ctx;
	if (m->pos > m->len / 2)
		kill(getpid(), SIGKILL); /* kill -9 in the middle of a pull */
	return mem_read(ctx, buf, len, err);
}

static int fill(void *ctx, const char *dir, struct layer_extract_result *res, ocid_error **err)
{
	struct fake_layer *l = ctx;
	struct memsrc src = { .data = l->blob.data, .len = l->blob.len, .chunk = 8 };
	struct layer_extract_opts opts = { .compression = EXTRACT_ZSTD, .expect_diff_id = l->diff_id };
	return layer_extract(dir, l->crash ? crashing_read : mem_read, &src, &opts, res, err);
}

struct fake_image {
	char id[DIGEST_MAX_LEN];
	char manifest_digest[DIGEST_MAX_LEN];
	char *config;
	char *manifest;
	struct fake_layer *layers;
	size_t n_layers;
	char chain[8][DIGEST_MAX_LEN];
};

static void fake_image_init(struct fake_image *img, struct fake_layer *layers, size_t n, const char *user)
{
	img->layers = layers;
	img->n_layers = n;
	char diffs[1024] = "";
	for (size_t i = 0; i < n; i++) {
		strcat(diffs, i ? ",\"" : "\"");
		strcat(diffs, layers[i].diff_id);
		strcat(diffs, "\"");
	}
	img->config = xasprintf("{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"User\":\"%s\"},"
				"\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[%s]}}",
				user, diffs);
	digest_buffer(DIGEST_SHA256, img->config, strlen(img->config), img->id);
	img->manifest = xasprintf("{\"schemaVersion\":2,\"config\":{\"digest\":\"%s\"}}", img->id);
	digest_buffer(DIGEST_SHA256, img->manifest, strlen(img->manifest), img->manifest_digest);
}

static void fake_image_free(struct fake_image *img)
{
	free(img->config);
	free(img->manifest);
}

/* What the pull pipeline will do. */
static int pull(struct store *s, struct fake_image *img, const char *tag, const char *repo, ocid_error **err)
{
	if (blob_write(s->blobs, img->manifest_digest, img->manifest, strlen(img->manifest), err) < 0 ||
	    blob_write(s->blobs, img->id, img->config, strlen(img->config), err) < 0)
		return -1;
	size_t held = 0;
	int ret = -1;
	for (size_t i = 0; i < img->n_layers; i++) {
		struct layer_request r = { .parent = i ? img->chain[i - 1] : NULL,
					   .diff_id = img->layers[i].diff_id,
					   .fill = fill,
					   .ctx = &img->layers[i] };
		if (layer_store_acquire(s->layers, &r, img->chain[i], NULL, err) < 0)
			goto out;
		held++;
	}
	const char *chain[8];
	for (size_t i = 0; i < img->n_layers; i++)
		chain[i] = img->chain[i];
	char *repo_digest = repo ? xasprintf("%s@%s", repo, img->manifest_digest) : NULL;
	struct image_put p = { .id = img->id,
			       .manifest_digest = img->manifest_digest,
			       .config = img->config,
			       .size = -1,
			       .tag = tag,
			       .repo_digest = repo_digest,
			       .layers = chain,
			       .n_layers = img->n_layers };
	ret = images_put(s->images, &p, err);
	free(repo_digest);
out:
	for (size_t i = 0; i < held; i++)
		layer_store_release(s->layers, img->chain[i]);
	return ret;
}

static struct store *open_store(const char *root)
{
	struct store *s = NULL;
	ocid_error *err = NULL;
	struct store_opts opts = { .no_sync = true };
	if (store_open(root, &opts, &s, &err) < 0)
		fail_msg("%s", err->msg);
	return s;
}

static size_t count_dir(const char *path)
{
	DIR *d = opendir(path);
	if (d == NULL)
		return 0;
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static int count_rows(struct store *s, const char *table)
{
	char *sql = xasprintf("SELECT count(*) FROM %s", table);
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db_handle(s->db), sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	int n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	free(sql);
	return n;
}

/* ---- tests ---- */

static void test_put_get_lookups(void **state)
{
	(void)state;
	char *root = tmpdir_new();
	struct store *s = open_store(root);
	struct fake_layer l[2];
	fake_layer_init(&l[0], "base", "base");
	fake_layer_init(&l[1], "app", "app");
	struct fake_image img;
	fake_image_init(&img, l, 2, "1000:1000");
	ocid_error *err = NULL;
	if (pull(s, &img, "docker.io/library/app:1", "docker.io/library/app", &err) < 0)
		fail_msg("%s", err->msg);

	struct image_record *r = NULL;
	assert_int_equal(images_get(s->images, img.id, &r, &err), 0);
	assert_non_null(r);
	assert_string_equal(r->id, img.id);
	assert_string_equal(r->manifest_digest, img.manifest_digest);
	assert_string_equal(r->config, img.config);
	assert_string_equal(r->user, "1000:1000");
	assert_int_equal(r->n_tags, 1);
	assert_string_equal(r->tags[0], "docker.io/library/app:1");
	assert_int_equal(r->n_digests, 1);
	assert_int_equal(r->n_layers, 2);
	assert_string_equal(r->layers[0], l[0].diff_id);
	assert_string_equal(r->layers[1], img.chain[1]);
	assert_true(r->size > (int64_t)strlen(img.config));
	assert_true(r->created > 0);
	char *repo_digest = xstrdup(r->digests[0]);
	image_record_free(r);

	const char *refs[] = { img.id, "docker.io/library/app:1", repo_digest, digest_hex(img.id) };
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(images_resolve(s->images, refs[i], &r, &err), 0);
		assert_non_null(r);
		assert_string_equal(r->id, img.id);
		image_record_free(r);
	}
	char prefix[20];
	snprintf(prefix, sizeof(prefix), "%.12s", digest_hex(img.id));
	assert_int_equal(images_get_by_id_prefix(s->images, prefix, &r, &err), 0);
	assert_non_null(r);
	image_record_free(r);
	assert_int_equal(images_get_by_tag(s->images, "docker.io/library/app:2", &r, &err), 0);
	assert_null(r);
	assert_int_equal(images_get_by_digest(s->images, repo_digest, &r, &err), 0);
	assert_non_null(r);
	image_record_free(r);
	assert_int_equal(images_resolve(s->images, "nothing:here", &r, &err), 0);
	assert_null(r);
	assert_int_equal(images_resolve(s->images, "", &r, &err), -1);
	err_clear(&err);

	/* pulling again only adds names */
	if (pull(s, &img, "docker.io/library/app:latest", NULL, &err) < 0)
		fail_msg("%s", err->msg);
	struct image_record **list;
	size_t n;
	assert_int_equal(images_list(s->images, &list, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(list[0]->n_tags, 2);
	image_records_free(list, n);

	free(repo_digest);
	fake_image_free(&img);
	free(l[0].blob.data);
	free(l[1].blob.data);
	store_close(s);
	tmpdir_free(root);
}

static void test_user(void **state)
{
	(void)state;
	struct {
		const char *user;
		int64_t uid;
		const char *name;
	} cases[] = {
		{ "", -1, NULL },       { "1000", 1000, NULL },     { "0:0", 0, NULL },
		{ "nobody", -1, "nobody" }, { "www:www", -1, "www" }, { "1000:staff", 1000, NULL },
		{ ":1", -1, NULL },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t uid;
		char *name;
		image_user(cases[i].user, &uid, &name);
		assert_int_equal(uid, cases[i].uid);
		if (cases[i].name)
			assert_string_equal(name, cases[i].name);
		else
			assert_null(name);
		free(name);
	}
}

static void test_tag_moves(void **state)
{
	(void)state;
	char *root = tmpdir_new();
	struct store *s = open_store(root);
	struct fake_layer la[1], lb[1];
	fake_layer_init(&la[0], "a", "version one");
	fake_layer_init(&lb[0], "a", "version two");
	struct fake_image a, b;
	fake_image_init(&a, la, 1, "");
	fake_image_init(&b, lb, 1, "");
	ocid_error *err = NULL;
	assert_int_equal(pull(s, &a, "r/app:latest", "r/app", &err), 0);
	assert_int_equal(pull(s, &a, "r/app:v1", NULL, &err), 0);
	assert_int_equal(pull(s, &b, "r/app:latest", "r/app", &err), 0);

	struct image_record *r;
	assert_int_equal(images_get_by_tag(s->images, "r/app:latest", &r, &err), 0);
	assert_string_equal(r->id, b.id);
	image_record_free(r);
	/* the old image keeps its other names and stays listed */
	assert_int_equal(images_get(s->images, a.id, &r, &err), 0);
	assert_int_equal(r->n_tags, 1);
	assert_string_equal(r->tags[0], "r/app:v1");
	image_record_free(r);
	/* tag and untag directly */
	assert_int_equal(images_tag(s->images, a.id, "r/app:latest", &err), 0);
	assert_int_equal(images_get_by_tag(s->images, "r/app:latest", &r, &err), 0);
	assert_string_equal(r->id, a.id);
	image_record_free(r);
	bool removed;
	assert_int_equal(images_untag(s->images, "r/app:v1", &removed, &err), 0);
	assert_true(removed);
	assert_int_equal(images_untag(s->images, "r/app:v1", &removed, &err), 0);
	assert_false(removed);
	assert_int_equal(images_tag(s->images, "sha256:0000000000000000000000000000000000000000000000000000000000000000",
				    "x:y", &err),
			 -1);
	assert_int_equal(err->code, GRPC_NOT_FOUND);
	err_clear(&err);

	struct image_record **list;
	size_t n;
	assert_int_equal(images_list(s->images, &list, &n, &err), 0);
	assert_int_equal(n, 2);
	image_records_free(list, n);

	fake_image_free(&a);
	fake_image_free(&b);
	free(la[0].blob.data);
	free(lb[0].blob.data);
	store_close(s);
	tmpdir_free(root);
}

static void test_put_needs_ready_layers(void **state)
{
	(void)state;
	char *root = tmpdir_new();
	struct store *s = open_store(root);
	const char *layers[] = { "sha256:1234567812345678123456781234567812345678123456781234567812345678" };
	struct image_put p = { .id = "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc",
			       .manifest_digest = "sha256:dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd",
			       .config = "{}",
			       .size = 1,
			       .tag = "x:y",
			       .layers = layers,
			       .n_layers = 1 };
	ocid_error *err = NULL;
	assert_int_equal(images_put(s->images, &p, &err), -1);
	assert_int_equal(err->code, GRPC_FAILED_PRECONDITION);
	err_clear(&err);
	assert_int_equal(count_rows(s, "images"), 0);
	assert_int_equal(count_rows(s, "image_names"), 0);
	p.config = "not json";
	p.n_layers = 0;
	assert_int_equal(images_put(s->images, &p, &err), -1);
	assert_int_equal(err->code, GRPC_INVALID_ARGUMENT);
	err_clear(&err);
	store_close(s);
	tmpdir_free(root);
}

static void test_remove_reclaims(void **state)
{
	(void)state;
	char *root = tmpdir_new();
	struct store *s = open_store(root);
	struct fake_layer base, l1, l2;
	fake_layer_init(&base, "base", "shared base");
	fake_layer_init(&l1, "one", "one");
	fake_layer_init(&l2, "two", "two");
	struct fake_layer la[2] = { base, l1 }, lb[2] = { base, l2 };
	struct fake_image a, b;
	fake_image_init(&a, la, 2, "");
	fake_image_init(&b, lb, 2, "");
	ocid_error *err = NULL;
	assert_int_equal(pull(s, &a, "r/a:1", "r/a", &err), 0);
	assert_int_equal(pull(s, &a, "r/a:2", NULL, &err), 0);
	assert_int_equal(pull(s, &b, "r/b:1", "r/b", &err), 0);
	char *overlay = xasprintf("%s/overlay", root);
	char *blobs = xasprintf("%s/blobs/sha256", root);
	assert_int_equal(count_dir(overlay), 3); /* the base is stored once */
	assert_int_equal(count_dir(blobs), 4);
	uint64_t bytes0, inodes0, bytes1, inodes1;
	const char *mnt;
	assert_int_equal(store_fs_usage(s, &bytes0, &inodes0, &mnt, &err), 0);
	assert_string_equal(mnt, overlay);

	/* removal by one tag removes the image with all its tags */
	struct image_record *r;
	assert_int_equal(images_resolve(s->images, "r/a:2", &r, &err), 0);
	bool removed;
	assert_int_equal(store_remove_image(s, r->id, &removed, &err), 0);
	assert_true(removed);
	image_record_free(r);
	assert_int_equal(images_resolve(s->images, "r/a:1", &r, &err), 0);
	assert_null(r);
	assert_int_equal(images_resolve(s->images, "r/a:2", &r, &err), 0);
	assert_null(r);
	assert_int_equal(count_dir(overlay), 2); /* base kept for b */
	assert_int_equal(count_dir(blobs), 2);
	assert_int_equal(store_fs_usage(s, &bytes1, &inodes1, NULL, &err), 0);
	assert_true(bytes1 < bytes0 && inodes1 < inodes0);

	/* idempotent */
	assert_int_equal(store_remove_image(s, a.id, &removed, &err), 0);
	assert_false(removed);

	assert_int_equal(store_remove_image(s, b.id, &removed, &err), 0);
	assert_true(removed);
	assert_int_equal(count_dir(overlay), 0);
	assert_int_equal(count_dir(blobs), 0);
	assert_int_equal(count_rows(s, "layers"), 0);
	assert_int_equal(count_rows(s, "layer_digests"), 0);
	assert_int_equal(count_rows(s, "image_layers"), 0);
	assert_int_equal(count_rows(s, "image_names"), 0);
	assert_int_equal(count_rows(s, "image_digests"), 0);
	assert_int_equal(store_fs_usage(s, &bytes1, &inodes1, NULL, &err), 0);
	assert_int_equal(bytes1, 0);
	assert_int_equal(inodes1, 0);

	free(overlay);
	free(blobs);
	fake_image_free(&a);
	fake_image_free(&b);
	free(base.blob.data);
	free(l1.blob.data);
	free(l2.blob.data);
	store_close(s);
	tmpdir_free(root);
}

static int in_use_hook(void *ctx, store_db *db, const char *image_id, ocid_error **err)
{
	(void)db;
	(void)err;
	return strcmp(ctx, image_id) == 0;
}

static void test_in_use_refused(void **state)
{
	(void)state;
	char *root = tmpdir_new();
	struct store *s = open_store(root);
	struct fake_layer l[1];
	fake_layer_init(&l[0], "x", "x");
	struct fake_image img;
	fake_image_init(&img, l, 1, "");
	ocid_error *err = NULL;
	assert_int_equal(pull(s, &img, "r/x:1", NULL, &err), 0);
	images_set_in_use_hook(s->images, in_use_hook, img.id);
	bool removed;
	assert_int_equal(store_remove_image(s, img.id, &removed, &err), -1);
	assert_int_equal(err->code, GRPC_FAILED_PRECONDITION);
	assert_non_null(strstr(err->msg, "in use by a container"));
	err_clear(&err);
	struct image_record *r;
	assert_int_equal(images_get(s->images, img.id, &r, &err), 0);
	assert_non_null(r);
	assert_int_equal(r->n_tags, 1);
	image_record_free(r);
	images_set_in_use_hook(s->images, NULL, NULL);
	assert_int_equal(store_remove_image(s, img.id, &removed, &err), 0);
	assert_true(removed);
	fake_image_free(&img);
	free(l[0].blob.data);
	store_close(s);
	tmpdir_free(root);
}

struct remover {
	struct store *s;
	const char *id;
	int rc;
	bool removed;
};

static void *remove_thread(void *p)
{
	struct remover *r = p;
	ocid_error *err = NULL;
	r->rc = store_remove_image(r->s, r->id, &r->removed, &err);
	err_free(err);
	return NULL;
}

static void test_concurrent_removals(void **state)
{
	(void)state;
	char *root = tmpdir_new();
	struct store *s = open_store(root);
	struct fake_layer l[1];
	fake_layer_init(&l[0], "x", "x");
	struct fake_image img;
	fake_image_init(&img, l, 1, "");
	ocid_error *err = NULL;
	assert_int_equal(pull(s, &img, "r/x:1", NULL, &err), 0);
	enum { N = 6 };
	struct remover rm[N];
	pthread_t t[N];
	for (int i = 0; i < N; i++) {
		rm[i] = (struct remover){ .s = s, .id = img.id };
		pthread_create(&t[i], NULL, remove_thread, &rm[i]);
	}
	int removed = 0;
	for (int i = 0; i < N; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(rm[i].rc, 0);
		removed += rm[i].removed;
	}
	assert_int_equal(removed, 1);
	char *overlay = xasprintf("%s/overlay", root);
	assert_int_equal(count_dir(overlay), 0);
	free(overlay);
	fake_image_free(&img);
	free(l[0].blob.data);
	store_close(s);
	tmpdir_free(root);
}

static void test_ambiguous_prefix(void **state)
{
	(void)state;
	char *root = tmpdir_new();
	struct store *s = open_store(root);
	ocid_error *err = NULL;
	const char *ids[] = { "sha256:abc1111111111111111111111111111111111111111111111111111111111111",
			      "sha256:abc2222222222222222222222222222222222222222222222222222222222222" };
	for (int i = 0; i < 2; i++) {
		struct image_put p = { .id = ids[i],
				       .manifest_digest = ids[i],
				       .config = "{}",
				       .size = 1 };
		assert_int_equal(images_put(s->images, &p, &err), 0);
	}
	struct image_record *r;
	assert_int_equal(images_get_by_id_prefix(s->images, "abc", &r, &err), -1);
	assert_int_equal(err->code, GRPC_INVALID_ARGUMENT);
	err_clear(&err);
	assert_int_equal(images_get_by_id_prefix(s->images, "abc2", &r, &err), 0);
	assert_string_equal(r->id, ids[1]);
	image_record_free(r);
	assert_int_equal(images_get_by_id_prefix(s->images, "ab", &r, &err), 0); /* too short */
	assert_null(r);
	store_close(s);
	tmpdir_free(root);
}

/* kill -9 in the middle of a pull leaves no image record, and the next pull
 * completes cleanly. */
static void test_recovery_after_crash_mid_pull(void **state)
{
	(void)state;
	char *root = tmpdir_new();
	struct fake_layer l[3];
	fake_layer_init(&l[0], "base", "base content");
	fake_layer_init(&l[1], "mid", "middle content");
	fake_layer_init(&l[2], "top", "top content, long enough to be read in several chunks");
	l[2].crash = true;
	struct fake_image img;
	fake_image_init(&img, l, 3, "");

	/* the same root is in use by another "daemon" */
	struct store *s = open_store(root);
	struct store *other = NULL;
	ocid_error *err = NULL;
	assert_int_equal(store_open(root, NULL, &other, &err), -1);
	assert_int_equal(err->code, GRPC_FAILED_PRECONDITION);
	err_clear(&err);
	store_close(s);

	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct store *cs = NULL;
		ocid_error *cerr = NULL;
		if (store_open(root, NULL, &cs, &cerr) < 0)
			_exit(2);
		pull(cs, &img, "r/crash:1", "r/crash", &cerr);
		_exit(3); /* not reached: the third layer kills us */
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);

	/* what the crash left */
	char *overlay = xasprintf("%s/overlay", root);
	char *blobs = xasprintf("%s/blobs/sha256", root);
	assert_int_equal(count_dir(overlay), 3); /* two ready, one partial */
	assert_int_equal(count_dir(blobs), 2);

	s = open_store(root);
	assert_int_equal(s->recovered.images_removed, 0);
	assert_int_equal(s->recovered.layers_removed, 3); /* one pulling, two unused */
	assert_int_equal(s->recovered.dirs_removed, 3);
	assert_int_equal(s->recovered.blobs_removed, 2);
	assert_int_equal(count_rows(s, "images"), 0);
	assert_int_equal(count_rows(s, "layers"), 0);
	assert_int_equal(count_dir(overlay), 0);
	assert_int_equal(count_dir(blobs), 0);
	struct image_record *r;
	assert_int_equal(images_resolve(s->images, "r/crash:1", &r, &err), 0);
	assert_null(r);

	/* the next pull completes */
	l[2].crash = false;
	if (pull(s, &img, "r/crash:1", "r/crash", &err) < 0)
		fail_msg("%s", err->msg);
	assert_int_equal(images_resolve(s->images, "r/crash:1", &r, &err), 0);
	assert_non_null(r);
	assert_int_equal(r->n_layers, 3);
	image_record_free(r);
	char *top = layer_store_diff_dir(s->layers, img.chain[2]);
	char *f = xasprintf("%s/top", top);
	assert_true(path_exists(f));
	free(f);
	free(top);
	store_close(s);

	/* a layer directory lost behind our back takes its images with it */
	s = open_store(root);
	assert_int_equal(s->recovered.layers_removed, 0);
	char *mid = xasprintf("%s/%s", overlay, digest_hex(img.chain[1]));
	assert_int_equal(fs_remove_all(mid, &err), 0);
	store_close(s);
	s = open_store(root);
	assert_int_equal(s->recovered.images_removed, 1);
	assert_int_equal(count_rows(s, "images"), 0);
	assert_int_equal(count_rows(s, "layers"), 0);
	assert_int_equal(count_dir(overlay), 0);
	store_close(s);

	free(mid);
	free(overlay);
	free(blobs);
	fake_image_free(&img);
	for (int i = 0; i < 3; i++)
		free(l[i].blob.data);
	tmpdir_free(root);
}

/* ---- records from memory ---- */

struct blocker {
	store_db *db;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	bool inside, release;
};

/* A write transaction that keeps the database's lock until released (or
 * for 3 s at most). */
static int block_tx(store_db *db, void *p, ocid_error **err)
{
	(void)db;
	(void)err;
	struct blocker *b = p;
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 3;
	pthread_mutex_lock(&b->mu);
	b->inside = true;
	pthread_cond_broadcast(&b->cond);
	while (!b->release && pthread_cond_timedwait(&b->cond, &b->mu, &until) == 0)
		;
	pthread_mutex_unlock(&b->mu);
	return 0;
}

static void *blocker_thread(void *p)
{
	struct blocker *b = p;
	ocid_error *err = NULL;
	if (db_write(b->db, block_tx, b, &err) < 0)
		fail_msg("%s", err->msg);
	return NULL;
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void count_hold(void *ctx)
{
	(*(int *)ctx)++;
}

/* Lookups, lists and holds do not wait for a write transaction in flight
 * (every container row write is one): they are answered from memory. */
static void test_reads_do_not_wait_for_writers(void **state)
{
	(void)state;
	char *root = tmpdir_new();
	struct store *s = open_store(root);
	struct fake_layer l;
	fake_layer_init(&l, "base", "base");
	struct fake_image img;
	fake_image_init(&img, &l, 1, "");
	ocid_error *err = NULL;
	if (pull(s, &img, "r.example/app:1", NULL, &err) < 0)
		fail_msg("%s", err->msg);
	struct image_record *r = NULL;
	assert_int_equal(images_get(s->images, img.id, &r, &err), 0); /* loads them */
	image_record_free(r);

	struct blocker b = { .db = s->db };
	pthread_mutex_init(&b.mu, NULL);
	pthread_cond_init(&b.cond, NULL);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, blocker_thread, &b), 0);
	pthread_mutex_lock(&b.mu);
	while (!b.inside)
		pthread_cond_wait(&b.cond, &b.mu);
	pthread_mutex_unlock(&b.mu);

	int64_t t0 = mono_ms();
	assert_int_equal(images_resolve(s->images, "r.example/app:1", &r, &err), 0);
	assert_non_null(r);
	assert_string_equal(r->id, img.id);
	image_record_free(r);
	struct image_record **list;
	size_t n;
	assert_int_equal(images_list(s->images, &list, &n, &err), 0);
	assert_int_equal(n, 1);
	image_records_free(list, n);
	int held = 0;
	assert_int_equal(images_with_image(s->images, img.id, count_hold, &held, &err), 0);
	assert_int_equal(held, 1);
	int64_t took = mono_ms() - t0;

	pthread_mutex_lock(&b.mu);
	b.release = true;
	pthread_cond_broadcast(&b.cond);
	pthread_mutex_unlock(&b.mu);
	pthread_join(t, NULL);
	assert_true(took < 1000); /* the blocker holds the lock for 3 s */

	pthread_cond_destroy(&b.cond);
	pthread_mutex_destroy(&b.mu);
	fake_image_free(&img);
	free(l.blob.data);
	store_close(s);
	tmpdir_free(root);
}

static int delete_images_tx(store_db *db, void *p, ocid_error **err)
{
	(void)p;
	return db_exec(db, err, "DELETE FROM images", "") < 0 ? -1 : 0;
}

/* Every change is seen by the next lookup: tags, untags, removals, a new
 * image, and a change made behind the store's back once it is dropped. */
static void test_lookups_follow_changes(void **state)
{
	(void)state;
	char *root = tmpdir_new();
	struct store *s = open_store(root);
	struct fake_layer l[2];
	fake_layer_init(&l[0], "a", "a");
	fake_layer_init(&l[1], "b", "b");
	struct fake_image a, b;
	fake_image_init(&a, &l[0], 1, "");
	fake_image_init(&b, &l[1], 1, "");
	ocid_error *err = NULL;
	if (pull(s, &a, "r.example/a:1", NULL, &err) < 0)
		fail_msg("%s", err->msg);
	struct image_record *r = NULL;
	assert_int_equal(images_resolve(s->images, "r.example/b:1", &r, &err), 0);
	assert_null(r);

	if (pull(s, &b, "r.example/b:1", NULL, &err) < 0)
		fail_msg("%s", err->msg);
	assert_int_equal(images_resolve(s->images, "r.example/b:1", &r, &err), 0);
	assert_non_null(r);
	assert_string_equal(r->id, b.id);
	image_record_free(r);

	assert_int_equal(images_tag(s->images, b.id, "r.example/a:1", &err), 0); /* moves the tag */
	assert_int_equal(images_get_by_tag(s->images, "r.example/a:1", &r, &err), 0);
	assert_string_equal(r->id, b.id);
	image_record_free(r);
	assert_int_equal(images_get(s->images, a.id, &r, &err), 0);
	assert_int_equal(r->n_tags, 0);
	image_record_free(r);

	bool removed = false;
	assert_int_equal(images_untag(s->images, "r.example/a:1", &removed, &err), 0);
	assert_true(removed);
	assert_int_equal(images_get_by_tag(s->images, "r.example/a:1", &r, &err), 0);
	assert_null(r);

	struct image_removal rm;
	assert_int_equal(images_remove(s->images, a.id, &rm, &err), 0);
	assert_true(rm.removed);
	image_removal_clear(&rm);
	assert_int_equal(images_get(s->images, a.id, &r, &err), 0);
	assert_null(r);
	int held = 0;
	assert_int_equal(images_with_image(s->images, a.id, count_hold, &held, &err), -1);
	assert_int_equal(err->code, GRPC_NOT_FOUND);
	err_clear(&err);
	assert_int_equal(held, 0);

	/* behind the store's back, as start-up recovery does */
	assert_int_equal(db_write(s->db, delete_images_tx, NULL, &err), 0);
	images_cache_drop(s->images);
	assert_int_equal(images_get(s->images, b.id, &r, &err), 0);
	assert_null(r);
	struct image_record **list;
	size_t n;
	assert_int_equal(images_list(s->images, &list, &n, &err), 0);
	assert_int_equal(n, 0);
	image_records_free(list, n);

	fake_image_free(&a);
	fake_image_free(&b);
	free(l[0].blob.data);
	free(l[1].blob.data);
	store_close(s);
	tmpdir_free(root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_get_lookups),
		cmocka_unit_test(test_user),
		cmocka_unit_test(test_tag_moves),
		cmocka_unit_test(test_put_needs_ready_layers),
		cmocka_unit_test(test_remove_reclaims),
		cmocka_unit_test(test_in_use_refused),
		cmocka_unit_test(test_concurrent_removals),
		cmocka_unit_test(test_ambiguous_prefix),
		cmocka_unit_test(test_recovery_after_crash_mid_pull),
		cmocka_unit_test(test_reads_do_not_wait_for_writers),
		cmocka_unit_test(test_lookups_follow_changes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
