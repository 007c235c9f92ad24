#include "util/digest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

struct digester {
	EVP_MD_CTX *ctx;
	enum digest_algo algo;
	unsigned long long count;
};

static const EVP_MD *algo_md(enum digest_algo algo)
{
	return algo == DIGEST_SHA512 ? EVP_sha512() : EVP_sha256();
}

const char *digest_algo_name(enum digest_algo algo)
{
	return algo == DIGEST_SHA512 ? "sha512" : "sha256";
}

static int check(const char *s, enum digest_algo *algo, const char **why)
{
	const char *colon = strchr(s, ':');
	if (colon == NULL) {
		*why = "missing algorithm (expected \"sha256:<hex>\")";
		return -1;
	}
	size_t alen = (size_t)(colon - s), want;
	enum digest_algo a;
	if (alen == 6 && memcmp(s, "sha256", 6) == 0) {
		a = DIGEST_SHA256;
		want = 64;
	} else if (alen == 6 && memcmp(s, "sha512", 6) == 0) {
		a = DIGEST_SHA512;
		want = 128;
	} else {
		*why = "unsupported digest algorithm (sha256 and sha512 are supported)";
		return -1;
	}
	const char *hex = colon + 1;
	size_t n = 0;
	for (; hex[n]; n++) {
		char c = hex[n];
		if (c >= 'A' && c <= 'F') {
			*why = "hex digits must be lowercase";
			return -1;
		}
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
			*why = "encoded part is not hexadecimal";
			return -1;
		}
	}
	if (n != want) {
		*why = a == DIGEST_SHA256 ? "sha256 needs 64 hex digits" : "sha512 needs 128 hex digits";
		return -1;
	}
	if (algo)
		*algo = a;
	return 0;
}

bool digest_valid(const char *s)
{
	const char *why;
	return s != NULL && check(s, NULL, &why) == 0;
}

int digest_parse(const char *s, enum digest_algo *algo, ocid_error **err)
{
	const char *why = NULL;
	if (s == NULL)
		return err_set(err, GRPC_INVALID_ARGUMENT, "invalid digest: missing");
	if (check(s, algo, &why) < 0) {
		if (strlen(s) > 200)
			return err_set(err, GRPC_INVALID_ARGUMENT, "invalid digest \"%.200s...\": %s", s, why);
		return err_set(err, GRPC_INVALID_ARGUMENT, "invalid digest \"%s\": %s", s, why);
	}
	return 0;
}

const char *digest_hex(const char *digest)
{
	const char *colon = strchr(digest, ':');
	return colon ? colon + 1 : digest;
}

struct digester *digester_new(enum digest_algo algo)
{
	struct digester *d = calloc(1, sizeof(*d));
	if (d == NULL)
		return NULL;
	d->ctx = EVP_MD_CTX_new();
	d->algo = algo;
	if (d->ctx == NULL || EVP_DigestInit_ex(d->ctx, algo_md(algo), NULL) != 1) {
		digester_free(d);
		return NULL;
	}
	return d;
}

void digester_free(struct digester *d)
{
	if (d == NULL)
		return;
	EVP_MD_CTX_free(d->ctx);
	free(d);
}

void digester_update(struct digester *d, const void *buf, size_t len)
{
	if (len == 0)
		return;
	if (EVP_DigestUpdate(d->ctx, buf, len) != 1)
		abort(); /* cannot fail for the software sha2 implementations */
	d->count += len;
}

void digester_reset(struct digester *d)
{
	if (EVP_DigestInit_ex(d->ctx, algo_md(d->algo), NULL) != 1)
		abort();
	d->count = 0;
}

unsigned long long digester_count(const struct digester *d) { return d->count; }

static void format(enum digest_algo algo, const unsigned char *md, unsigned int n,
		   char out[DIGEST_MAX_LEN])
{
	static const char hexdig[] = "0123456789abcdef";
	size_t p = (size_t)snprintf(out, DIGEST_MAX_LEN, "%s:", digest_algo_name(algo));
	for (unsigned int i = 0; i < n && p + 2 < DIGEST_MAX_LEN; i++) {
		out[p++] = hexdig[md[i] >> 4];
		out[p++] = hexdig[md[i] & 15];
	}
	out[p] = '\0';
}

void digester_current(const struct digester *d, char out[DIGEST_MAX_LEN])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	EVP_MD_CTX *copy = EVP_MD_CTX_new();
	if (copy == NULL || EVP_MD_CTX_copy_ex(copy, d->ctx) != 1 ||
	    EVP_DigestFinal_ex(copy, md, &n) != 1)
		abort();
	EVP_MD_CTX_free(copy);
	format(d->algo, md, n, out);
}

void digest_buffer(enum digest_algo algo, const void *buf, size_t len, char out[DIGEST_MAX_LEN])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	if (EVP_Digest(buf, len, md, &n, algo_md(algo), NULL) != 1)
		abort();
	format(algo, md, n, out);
}
