/* image/reference: parsing and normalising image references, image ids,
 * short-name candidates. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util/digest.h"
#include "image/reference.h"

#define H64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define H128 H64 H64

struct valid_case {
	const char *in;
	const char *canonical;
	const char *domain, *path, *tag, *digest;
	int short_name;
};

static const struct valid_case valid[] = {
	{"busybox", "docker.io/library/busybox:latest", "docker.io", "library/busybox", "latest", NULL, 1},
	{"busybox:1.36", "docker.io/library/busybox:1.36", "docker.io", "library/busybox", "1.36", NULL, 1},
	{"user/app", "docker.io/user/app:latest", "docker.io", "user/app", "latest", NULL, 1},
	{"user/app/sub:v1", "docker.io/user/app/sub:v1", "docker.io", "user/app/sub", "v1", NULL, 1},
	{"docker.io/busybox", "docker.io/library/busybox:latest", "docker.io", "library/busybox", "latest", NULL, 0},
	{"index.docker.io/busybox", "docker.io/library/busybox:latest", "docker.io", "library/busybox", "latest", NULL, 0},
	{"index.docker.io/user/app:x", "docker.io/user/app:x", "docker.io", "user/app", "x", NULL, 0},
	{"docker.io/library/busybox:latest", "docker.io/library/busybox:latest", "docker.io", "library/busybox", "latest", NULL, 0},
	{"registry-1.docker.io/library/busybox", "registry-1.docker.io/library/busybox:latest", "registry-1.docker.io", "library/busybox", "latest", NULL, 0},
	{"127.0.0.1:5000/x:tag", "127.0.0.1:5000/x:tag", "127.0.0.1:5000", "x", "tag", NULL, 0},
	{"127.0.0.1:5000/x", "127.0.0.1:5000/x:latest", "127.0.0.1:5000", "x", "latest", NULL, 0},
	{"localhost/x", "localhost/x:latest", "localhost", "x", "latest", NULL, 0},
	{"localhost:5000/a/b:t", "localhost:5000/a/b:t", "localhost:5000", "a/b", "t", NULL, 0},
	{"localhost", "docker.io/library/localhost:latest", "docker.io", "library/localhost", "latest", NULL, 1},
	{"localhost:5000", "docker.io/library/localhost:5000", "docker.io", "library/localhost", "5000", NULL, 1},
	{"host.example:443/a/b/c@sha256:" H64, "host.example:443/a/b/c@sha256:" H64, "host.example:443", "a/b/c", NULL, "sha256:" H64, 0},
	{"busybox@sha256:" H64, "docker.io/library/busybox@sha256:" H64, "docker.io", "library/busybox", NULL, "sha256:" H64, 1},
	{"busybox:1.36@sha256:" H64, "docker.io/library/busybox:1.36@sha256:" H64, "docker.io", "library/busybox", "1.36", "sha256:" H64, 1},
	{"quay.io/a/b@sha512:" H128, "quay.io/a/b@sha512:" H128, "quay.io", "a/b", NULL, "sha512:" H128, 0},
	{"registry.k8s.io/pause:3.9", "registry.k8s.io/pause:3.9", "registry.k8s.io", "pause", "3.9", NULL, 0},
	{"[::1]:5000/x:y", "[::1]:5000/x:y", "[::1]:5000", "x", "y", NULL, 0},
	{"[fe80::1]/x", "[fe80::1]/x:latest", "[fe80::1]", "x", "latest", NULL, 0},
	{"my-registry.example.com:5000/team_a/app.v2__x--y:TAG_1.0-rc", "my-registry.example.com:5000/team_a/app.v2__x--y:TAG_1.0-rc", "my-registry.example.com:5000", "team_a/app.v2__x--y", "TAG_1.0-rc", NULL, 0},
	{"a:_tag", "docker.io/library/a:_tag", "docker.io", "library/a", "_tag", NULL, 1},
	/* an upper-case first component is taken as a registry (ecosystem rule) */
	{"Example/app", "Example/app:latest", "Example", "app", "latest", NULL, 0},
	{"ab", "docker.io/library/ab:latest", "docker.io", "library/ab", "latest", NULL, 1},
	{"a1-b/c", "docker.io/a1-b/c:latest", "docker.io", "a1-b/c", "latest", NULL, 1},
};

static void test_valid(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
		const struct valid_case *v = &valid[i];
		struct image_ref r;
		ocid_error *err = NULL;
		if (image_ref_parse(v->in, &r, &err) != 0) {
			fprintf(stderr, "parse %s: %s\n", v->in, err->msg);
			fail();
		}
		assert_int_equal(r.kind, IMAGE_REF_NAMED);
		char *s = image_ref_string(&r);
		if (strcmp(s, v->canonical) != 0)
			fprintf(stderr, "%s -> %s (want %s)\n", v->in, s, v->canonical);
		assert_string_equal(s, v->canonical);
		free(s);
		assert_string_equal(r.domain, v->domain);
		assert_string_equal(r.path, v->path);
		if (v->tag)
			assert_string_equal(r.tag, v->tag);
		else
			assert_null(r.tag);
		if (v->digest)
			assert_string_equal(r.digest, v->digest);
		else
			assert_null(r.digest);
		assert_int_equal(r.short_name, v->short_name);
		image_ref_clear(&r);
	}
}

struct invalid_case {
	const char *in;
	const char *msg; /* substring of the error */
};

static const struct invalid_case invalid[] = {
	{"", "empty"},
	{"Busybox", "invalid reference \"Busybox\": repository name must be lowercase"},
	{"docker.io/Library/busybox", "repository name must be lowercase"},
	{"busybox:", "invalid tag"},
	{"busybox:bad tag", "invalid tag"},
	{"busybox:-x", "invalid tag"},
	{"busybox:.x", "invalid tag"},
	{"busybox:" H64 H64 "x", "invalid tag"},
	{"busybox@", "invalid digest"},
	{"busybox@sha256:abc", "sha256 needs 64 hex digits"},
	{"busybox@sha256:" "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef", "lowercase"},
	{"busybox@md5:0123456789abcdef0123456789abcdef", "unsupported digest algorithm"},
	{"busybox@sha512:" H64, "sha512 needs 128 hex digits"},
	{"busybox@" H64, "missing algorithm"},
	{"busybox@sha256:" H64 "@sha256:" H64, "invalid digest"},
	{"-busybox", "components must be"},
	{"busybox-", "components must be"},
	{"bus..box", "components must be"},
	{"bus___box", "components must be"},
	{"a//b", "empty path component"},
	{"a/", "empty path component"},
	{"/a", "empty path component"},
	{"example.com/", "empty"},
	{"example.com:/a", "invalid registry name"},
	{"example.com:abc/a", "invalid registry name"},
	{"-example.com/a", "invalid registry name"},
	{"exa_mple.com/a", "invalid registry name"},
	{"[::1/a", "invalid registry name"},
	{"example.com:123456/a", "invalid registry name"},
	{":tag", "repository name is empty"},
	{"@sha256:" H64, "repository name is empty"},
	{"a b", "components must be"},
	{"busybox\n", "components must be"},
	{"sha256:abc", "image id must be"},
	{"sha256:" H64 "00", "image id must be"},
	{"docker.io/" H64, NULL}, /* valid: with a registry a hex path is a name */
};

static void test_invalid(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
		const struct invalid_case *v = &invalid[i];
		struct image_ref r;
		ocid_error *err = NULL;
		int rc = image_ref_parse(v->in, &r, &err);
		if (v->msg == NULL) {
			assert_int_equal(rc, 0);
			image_ref_clear(&r);
			continue;
		}
		if (rc == 0) {
			char *s = image_ref_string(&r);
			fprintf(stderr, "unexpectedly valid: \"%s\" -> %s\n", v->in, s);
			free(s);
			fail();
		}
		assert_non_null(err);
		assert_int_equal(err->code, GRPC_INVALID_ARGUMENT);
		if (strstr(err->msg, v->msg) == NULL) {
			fprintf(stderr, "\"%s\": message \"%s\" lacks \"%s\"\n", v->in, err->msg, v->msg);
			fail();
		}
		err_free(err);
	}
}

static void test_name_length(void **state)
{
	(void)state;
	char name[300];
	memset(name, 'a', sizeof(name));
	name[255] = '\0';
	struct image_ref r;
	ocid_error *err = NULL;
	assert_int_equal(image_ref_parse(name, &r, &err), 0);
	image_ref_clear(&r);
	name[255] = 'a';
	name[256] = '\0';
	assert_int_equal(image_ref_parse(name, &r, &err), -1);
	assert_non_null(strstr(err->msg, "longer than 255"));
	err_free(err);

	/* a huge input is quoted only in part */
	size_t big = 100000;
	char *huge = malloc(big + 1);
	memset(huge, 'A', big);
	huge[big] = '\0';
	err = NULL;
	assert_int_equal(image_ref_parse(huge, &r, &err), -1);
	assert_true(strlen(err->msg) < 1000);
	err_free(err);
	free(huge);
}

static void test_64hex_name(void **state)
{
	(void)state;
	struct image_ref r;
	ocid_error *err = NULL;
	/* a tagged 64-hex name is neither an id nor a valid repository */
	assert_int_equal(image_ref_parse(H64 ":tag", &r, &err), -1);
	assert_non_null(strstr(err->msg, "64 hexadecimal"));
	err_free(err);
}

static void test_ids(void **state)
{
	(void)state;
	struct image_ref r;
	ocid_error *err = NULL;
	assert_int_equal(image_ref_parse(H64, &r, &err), 0);
	assert_int_equal(r.kind, IMAGE_REF_ID);
	assert_string_equal(r.id, "sha256:" H64);
	char *s = image_ref_string(&r);
	assert_string_equal(s, "sha256:" H64);
	free(s);
	assert_null(image_ref_repo(&r));
	struct image_ref *cands = NULL;
	size_t n = 0;
	assert_int_equal(image_ref_candidates(&r, NULL, &cands, &n, &err), -1);
	assert_int_equal(err->code, GRPC_INVALID_ARGUMENT);
	err_free(err);
	err = NULL;
	image_ref_clear(&r);

	assert_int_equal(image_ref_parse("sha256:" H64, &r, &err), 0);
	assert_int_equal(r.kind, IMAGE_REF_ID);
	assert_string_equal(r.id, "sha256:" H64);
	image_ref_clear(&r);

	/* upper-case hex is not an id (and not a valid name) */
	assert_int_equal(image_ref_parse("0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
					 &r, &err),
			 -1);
	assert_non_null(strstr(err->msg, "lowercase"));
	err_free(err);
}

static void test_string_forms(void **state)
{
	(void)state;
	struct image_ref r;
	ocid_error *err = NULL;
	assert_int_equal(image_ref_parse("busybox:1.36@sha256:" H64, &r, &err), 0);
	char *repo = image_ref_repo(&r), *rt = image_ref_repo_tag(&r),
	     *rd = image_ref_repo_digest(&r, "sha256:" H64);
	assert_string_equal(repo, "docker.io/library/busybox");
	assert_string_equal(rt, "docker.io/library/busybox:1.36");
	assert_string_equal(rd, "docker.io/library/busybox@sha256:" H64);
	assert_string_equal(image_ref_manifest_ref(&r), "sha256:" H64);
	free(repo);
	free(rt);
	free(rd);
	image_ref_clear(&r);

	assert_int_equal(image_ref_parse("localhost/x@sha256:" H64, &r, &err), 0);
	assert_null(image_ref_repo_tag(&r));
	image_ref_clear(&r);

	assert_int_equal(image_ref_parse("x:y", &r, &err), 0);
	assert_string_equal(image_ref_manifest_ref(&r), "y");
	struct image_ref copy;
	image_ref_copy(&copy, &r);
	image_ref_clear(&r);
	char *s = image_ref_string(&copy);
	assert_string_equal(s, "docker.io/library/x:y");
	free(s);
	image_ref_clear(&copy);
}

static void test_candidates(void **state)
{
	(void)state;
	struct image_ref r, *c = NULL;
	size_t n = 0;
	ocid_error *err = NULL;

	/* short name, default search list */
	assert_int_equal(image_ref_parse("busybox", &r, &err), 0);
	assert_int_equal(image_ref_candidates(&r, NULL, &c, &n, &err), 0);
	assert_int_equal(n, 1);
	char *s = image_ref_string(&c[0]);
	assert_string_equal(s, "docker.io/library/busybox:latest");
	free(s);
	assert_false(c[0].short_name);
	image_ref_array_free(c, n);

	/* a search list: order kept, library/ only for docker.io, duplicates dropped */
	char *search[] = {"quay.io", "index.docker.io", "docker.io", "127.0.0.1:5000", NULL};
	assert_int_equal(image_ref_candidates(&r, search, &c, &n, &err), 0);
	assert_int_equal(n, 3);
	const char *want[] = {"quay.io/busybox:latest", "docker.io/library/busybox:latest",
			      "127.0.0.1:5000/busybox:latest"};
	for (size_t i = 0; i < n; i++) {
		s = image_ref_string(&c[i]);
		assert_string_equal(s, want[i]);
		free(s);
	}
	image_ref_array_free(c, n);
	image_ref_clear(&r);

	/* two-component short name with a digest */
	assert_int_equal(image_ref_parse("user/app@sha256:" H64, &r, &err), 0);
	char *search2[] = {"quay.io", "docker.io", NULL};
	assert_int_equal(image_ref_candidates(&r, search2, &c, &n, &err), 0);
	assert_int_equal(n, 2);
	s = image_ref_string(&c[0]);
	assert_string_equal(s, "quay.io/user/app@sha256:" H64);
	free(s);
	s = image_ref_string(&c[1]);
	assert_string_equal(s, "docker.io/user/app@sha256:" H64);
	free(s);
	image_ref_array_free(c, n);
	image_ref_clear(&r);

	/* a short name written as library/x stays library/x elsewhere */
	assert_int_equal(image_ref_parse("library/x", &r, &err), 0);
	char *search3[] = {"quay.io", NULL};
	assert_int_equal(image_ref_candidates(&r, search3, &c, &n, &err), 0);
	s = image_ref_string(&c[0]);
	assert_string_equal(s, "quay.io/library/x:latest");
	free(s);
	image_ref_array_free(c, n);
	image_ref_clear(&r);

	/* a qualified name ignores the search list */
	assert_int_equal(image_ref_parse("127.0.0.1:5000/x", &r, &err), 0);
	assert_int_equal(image_ref_candidates(&r, search, &c, &n, &err), 0);
	assert_int_equal(n, 1);
	s = image_ref_string(&c[0]);
	assert_string_equal(s, "127.0.0.1:5000/x:latest");
	free(s);
	image_ref_array_free(c, n);
	image_ref_clear(&r);

	/* a bad search entry */
	assert_int_equal(image_ref_parse("x", &r, &err), 0);
	char *bad[] = {"not a host", NULL};
	assert_int_equal(image_ref_candidates(&r, bad, &c, &n, &err), -1);
	assert_int_equal(err->code, GRPC_INVALID_ARGUMENT);
	err_free(err);
	image_ref_clear(&r);
}

static void test_domains(void **state)
{
	(void)state;
	assert_string_equal(image_domain_api_host("docker.io"), "registry-1.docker.io");
	assert_string_equal(image_domain_api_host("quay.io"), "quay.io");
	assert_string_equal(image_domain_normalize("index.docker.io"), "docker.io");
	assert_true(image_domain_valid("localhost:5000"));
	assert_true(image_domain_valid("[::1]:5000"));
	assert_true(image_domain_valid("a-b.c"));
	assert_false(image_domain_valid("a_b.c"));
	assert_false(image_domain_valid("a.b:"));
	assert_false(image_domain_valid(""));
	assert_true(image_tag_valid("v1.2.3-rc_1"));
	assert_false(image_tag_valid(""));
}

static void test_digests(void **state)
{
	(void)state;
	assert_true(digest_valid("sha256:" H64));
	assert_true(digest_valid("sha512:" H128));
	assert_false(digest_valid("sha256:" H128));
	assert_false(digest_valid("sha256:"));
	assert_false(digest_valid("sha384:" H64));
	assert_false(digest_valid(H64));
	char out[DIGEST_MAX_LEN];
	digest_buffer(DIGEST_SHA256, "", 0, out);
	assert_string_equal(out, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	digest_buffer(DIGEST_SHA256, "abc", 3, out);
	assert_string_equal(out, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	struct digester *d = digester_new(DIGEST_SHA512);
	digester_update(d, "a", 1);
	digester_update(d, "bc", 2);
	digester_current(d, out);
	assert_string_equal(out, "sha512:ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
				 "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f");
	assert_int_equal(digester_count(d), 3);
	digester_reset(d);
	assert_int_equal(digester_count(d), 0);
	digester_current(d, out);
	assert_string_equal(out, "sha512:cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
				 "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e");
	digester_free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),        cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_name_length),  cmocka_unit_test(test_64hex_name),
		cmocka_unit_test(test_ids),          cmocka_unit_test(test_string_forms),
		cmocka_unit_test(test_candidates),   cmocka_unit_test(test_domains),
		cmocka_unit_test(test_digests),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
