/* image/auth_file, image/lookup and store/image_holds: the pieces of the
 * image service that the integration tests (11-13-image-*.bats) cannot
 * reach directly: auth file matching, spec lookups, and the in-use hold a
 * container takes on its image (no container module calls it yet). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/auth_file.h"
#include "image/lookup.h"
#include "store/store.h"
#include "test_store_util.h"

static char *write_file(const char *dir, const char *name, const char *text)
{
	char *p = xasprintf("%s/%s", dir, name);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return p;
}

static void test_auth_file(void **state)
{
	(void)state;
	char *dir = tmpdir_new();
	char *path = write_file(dir, "auth.json",
				"{\"auths\": {"
				"\"http://127.0.0.1:5000/v2/\": {\"auth\": \"YWxpY2U6czNjcmV0\"},"
				"\"https://index.docker.io/v1/\": {\"identitytoken\": \"idtok\"},"
				"\"Registry.Example.COM\": {\"username\": \"u\", \"password\": \"p\", \"registrytoken\": \"rt\"},"
				"\"broken.example\": \"not an object\"}}");
	struct auth_entry e;
	bool found;
	ocid_error *err = NULL;

	assert_int_equal(auth_file_lookup(path, "127.0.0.1:5000", &e, &found, &err), 0);
	assert_true(found);
	assert_string_equal(e.auth, "YWxpY2U6czNjcmV0");
	assert_null(e.username);
	struct registry_credentials c;
	auth_entry_credentials(&e, &c);
	assert_true(registry_credentials_given(&c));
	auth_entry_clear(&e);

	assert_int_equal(auth_file_lookup(path, "docker.io", &e, &found, &err), 0);
	assert_true(found);
	assert_string_equal(e.identity_token, "idtok");
	auth_entry_clear(&e);

	assert_int_equal(auth_file_lookup(path, "registry.example.com", &e, &found, &err), 0);
	assert_true(found);
	assert_string_equal(e.username, "u");
	assert_string_equal(e.password, "p");
	assert_string_equal(e.registry_token, "rt");
	auth_entry_clear(&e);

	/* another port is another registry */
	assert_int_equal(auth_file_lookup(path, "127.0.0.1:5001", &e, &found, &err), 0);
	assert_false(found);
	assert_int_equal(auth_file_lookup(path, "broken.example", &e, &found, &err), 0);
	assert_false(found);

	/* no file: nothing found, no error; no path: the same */
	char *missing = xasprintf("%s/missing.json", dir);
	assert_int_equal(auth_file_lookup(missing, "docker.io", &e, &found, &err), 0);
	assert_false(found);
	assert_int_equal(auth_file_lookup("", "docker.io", &e, &found, &err), 0);
	assert_false(found);

	/* a file that is not an auth file names itself */
	char *bad = write_file(dir, "bad.json", "{\"auths\": [1, 2]}");
	assert_int_equal(auth_file_lookup(bad, "docker.io", &e, &found, &err), -1);
	assert_int_equal(err->code, GRPC_FAILED_PRECONDITION);
	assert_non_null(strstr(err->msg, bad));
	err_clear(&err);
	char *notjson = write_file(dir, "notjson.json", "{auths");
	assert_int_equal(auth_file_lookup(notjson, "docker.io", &e, &found, &err), -1);
	assert_int_equal(err->code, GRPC_FAILED_PRECONDITION);
	err_clear(&err);

	struct registry_credentials none = { .username = "", .password = NULL };
	assert_false(registry_credentials_given(&none));
	assert_false(registry_credentials_given(NULL));
	free(bad);
	free(notjson);
	free(missing);
	free(path);
	tmpdir_free(dir);
}

/* ---- a stored image without a registry ---- */

static int fake_fill(void *ctx, const char *diff_dir, struct layer_extract_result *res, ocid_error **err)
{
	const char *diff_id = ctx;
	if (mkdir(diff_dir, 0755) < 0)
		return err_set_errno(err, GRPC_INTERNAL, errno, "mkdir %s", diff_dir);
	char *f = xasprintf("%s/file", diff_dir);
	FILE *fp = fopen(f, "w");
	free(f);
	if (fp == NULL)
		return err_set(err, GRPC_INTERNAL, "create file");
	fputs("x\n", fp);
	fclose(fp);
	memset(res, 0, sizeof(*res));
	snprintf(res->diff_id, sizeof(res->diff_id), "%s", diff_id);
	res->tar_size = 2048;
	res->disk_bytes = 8192;
	res->disk_inodes = 2;
	return 0;
}

struct fake {
	char id[DIGEST_MAX_LEN];
	char manifest[DIGEST_MAX_LEN];
	char layer[DIGEST_MAX_LEN];
	char *config;
};

static void store_fake(struct store *s, struct fake *f, const char *name, const char *user, const char *tag,
		       const char *repo)
{
	char diff[DIGEST_MAX_LEN];
	digest_buffer(DIGEST_SHA256, name, strlen(name), diff);
	f->config = xasprintf("{\"config\": {\"User\": \"%s\"}, \"rootfs\": {\"type\": \"layers\", "
			      "\"diff_ids\": [\"%s\"]}, \"name\": \"%s\"}",
			      user, diff, name);
	digest_buffer(DIGEST_SHA256, f->config, strlen(f->config), f->id);
	char *m = xasprintf("manifest of %s", name);
	digest_buffer(DIGEST_SHA256, m, strlen(m), f->manifest);
	free(m);
	struct layer_request req = { .diff_id = diff, .fill = fake_fill, .ctx = diff };
	ocid_error *err = NULL;
	assert_int_equal(layer_store_acquire(s->layers, &req, f->layer, NULL, &err), 0);
	char *rd = xasprintf("%s@%s", repo, f->manifest);
	const char *layers[] = { f->layer };
	struct image_put put = {
		.id = f->id,
		.manifest_digest = f->manifest,
		.config = f->config,
		.size = -1,
		.tag = tag,
		.repo_digest = rd,
		.layers = layers,
		.n_layers = 1,
	};
	if (images_put(s->images, &put, &err) < 0)
		fail_msg("images_put: %s", err->msg);
	layer_store_release(s->layers, f->layer);
	free(rd);
}

static struct store *open_store(const char *root)
{
	struct store_opts o = { .no_sync = true };
	struct store *s = NULL;
	ocid_error *err = NULL;
	if (store_open(root, &o, &s, &err) < 0)
		fail_msg("store_open: %s", err->msg);
	return s;
}

static const char *lookup_id(struct store *s, char *const *search, const char *spec)
{
	static char id[DIGEST_MAX_LEN];
	struct image_record *r = NULL;
	ocid_error *err = NULL;
	if (image_lookup(s, search, spec, &r, &err) < 0)
		fail_msg("lookup %s: %s", spec, err->msg);
	if (r == NULL)
		return NULL;
	snprintf(id, sizeof(id), "%s", r->id);
	image_record_free(r);
	return id;
}

static void test_lookup(void **state)
{
	(void)state;
	char *root = tmpdir_new();
	struct store *s = open_store(root);
	struct fake a, b;
	store_fake(s, &a, "a", "", "127.0.0.1:5000/app:latest", "127.0.0.1:5000/app");
	store_fake(s, &b, "b", "", "docker.io/library/busybox:1", "docker.io/library/busybox");
	char *search[] = { "127.0.0.1:5000", "docker.io", NULL };

	assert_string_equal(lookup_id(s, search, "127.0.0.1:5000/app"), a.id);
	assert_string_equal(lookup_id(s, search, "127.0.0.1:5000/app:latest"), a.id);
	assert_string_equal(lookup_id(s, search, "app"), a.id); /* short name, first registry */
	assert_string_equal(lookup_id(s, search, "busybox:1"), b.id); /* short name, second (library/) */
	assert_string_equal(lookup_id(s, NULL, "busybox:1"), b.id);
	assert_null(lookup_id(s, NULL, "app")); /* docker.io only: not there */
	assert_string_equal(lookup_id(s, search, a.id), a.id);
	assert_string_equal(lookup_id(s, search, a.id + 7), a.id); /* bare hex */
	char prefix[16];
	snprintf(prefix, sizeof(prefix), "%.12s", a.id + 7);
	if (strncmp(a.id + 7, b.id + 7, 12) != 0)
		assert_string_equal(lookup_id(s, search, prefix), a.id);
	char *by_digest = xasprintf("127.0.0.1:5000/app@%s", a.manifest);
	assert_string_equal(lookup_id(s, search, by_digest), a.id);
	char *by_digest_short = xasprintf("app@%s", a.manifest);
	assert_string_equal(lookup_id(s, search, by_digest_short), a.id);
	assert_null(lookup_id(s, search, "127.0.0.1:5000/app:other"));
	assert_null(lookup_id(s, search, "nothing"));

	struct image_record *r = NULL;
	ocid_error *err = NULL;
	assert_int_equal(image_lookup(s, search, "", &r, &err), -1);
	assert_int_equal(err->code, GRPC_INVALID_ARGUMENT);
	err_clear(&err);
	assert_int_equal(image_lookup(s, search, "Bad/Name!", &r, &err), -1);
	assert_int_equal(err->code, GRPC_INVALID_ARGUMENT);
	assert_non_null(strstr(err->msg, "Bad/Name!"));
	err_clear(&err);
	assert_null(r);

	free(by_digest);
	free(by_digest_short);
	free(a.config);
	free(b.config);
	store_close(s);
	tmpdir_free(root);
}

static bool dir_exists(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static void test_holds(void **state)
{
	(void)state;
	char *root = tmpdir_new();
	struct store *s = open_store(root);
	struct fake a;
	store_fake(s, &a, "held", "app", "r.example/held:1", "r.example/held");
	char *dir = layer_store_diff_dir(s->layers, a.layer);
	assert_true(dir_exists(dir));
	ocid_error *err = NULL;
	bool removed = false;

	/* two containers hold it */
	assert_int_equal(store_image_hold(s, a.id, &err), 0);
	assert_int_equal(store_image_hold(s, a.id, &err), 0);
	assert_int_equal(image_holds_count(s->holds, a.id), 2);
	assert_int_equal(store_remove_image(s, a.id, &removed, &err), -1);
	assert_int_equal(err->code, GRPC_FAILED_PRECONDITION);
	assert_non_null(strstr(err->msg, "in use by a container"));
	err_clear(&err);
	struct image_record *r = NULL;
	assert_int_equal(images_get(s->images, a.id, &r, &err), 0);
	assert_non_null(r);
	assert_int_equal(r->n_tags, 1);
	image_record_free(r);
	assert_true(dir_exists(dir));

	/* one goes: still kept */
	store_image_release(s, a.id);
	assert_int_equal(store_remove_image(s, a.id, &removed, &err), -1);
	err_clear(&err);
	/* the last goes: removed with its layer */
	store_image_release(s, a.id);
	assert_int_equal(image_holds_count(s->holds, a.id), 0);
	assert_int_equal(store_remove_image(s, a.id, &removed, &err), 0);
	assert_true(removed);
	assert_false(dir_exists(dir));
	/* a hold on an absent image: NOT_FOUND, nothing recorded */
	assert_int_equal(store_image_hold(s, a.id, &err), -1);
	assert_int_equal(err->code, GRPC_NOT_FOUND);
	err_clear(&err);
	assert_int_equal(image_holds_count(s->holds, a.id), 0);
	store_image_release(s, a.id); /* releasing what is not held is harmless */

	free(dir);
	free(a.config);
	store_close(s);
	tmpdir_free(root);
}

struct race {
	struct store *s;
	const char *id;
	int hold_rc;
	int remove_rc;
	bool removed;
};

static void *hold_thread(void *p)
{
	struct race *r = p;
	ocid_error *err = NULL;
	r->hold_rc = store_image_hold(r->s, r->id, &err);
	err_free(err);
	return NULL;
}

static void *remove_thread(void *p)
{
	struct race *r = p;
	ocid_error *err = NULL;
	r->remove_rc = store_remove_image(r->s, r->id, &r->removed, &err);
	if (r->remove_rc < 0 && err->code != GRPC_FAILED_PRECONDITION)
		fprintf(stderr, "remove: %s\n", err->msg);
	err_free(err);
	return NULL;
}

/* A hold racing a removal: either the hold wins (the removal is refused and
 * the image stays) or the removal wins (the hold finds no image). */
static void test_hold_races_remove(void **state)
{
	(void)state;
	char *root = tmpdir_new();
	struct store *s = open_store(root);
	for (int i = 0; i < 20; i++) {
		struct fake a;
		char name[32];
		snprintf(name, sizeof(name), "race-%d", i);
		store_fake(s, &a, name, "", "r.example/race:1", "r.example/race");
		struct race r = { .s = s, .id = a.id };
		pthread_t t1, t2;
		pthread_create(&t1, NULL, hold_thread, &r);
		pthread_create(&t2, NULL, remove_thread, &r);
		pthread_join(t1, NULL);
		pthread_join(t2, NULL);
		struct image_record *rec = NULL;
		ocid_error *err = NULL;
		assert_int_equal(images_get(s->images, a.id, &rec, &err), 0);
		if (r.hold_rc == 0) {
			assert_int_equal(r.remove_rc, -1);
			assert_non_null(rec);
			store_image_release(s, a.id);
			assert_int_equal(store_remove_image(s, a.id, NULL, &err), 0);
		} else {
			assert_int_equal(r.remove_rc, 0);
			assert_true(r.removed);
			assert_null(rec);
		}
		image_record_free(rec);
		free(a.config);
	}
	store_close(s);
	tmpdir_free(root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_auth_file),
		cmocka_unit_test(test_lookup),
		cmocka_unit_test(test_holds),
		cmocka_unit_test(test_hold_races_remove),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
