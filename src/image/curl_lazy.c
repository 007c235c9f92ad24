/* See curl_lazy.h. */
#define CURL_LAZY_IMPL
#include "image/curl_lazy.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>

#include "util/lazylib.h"

#define CURL_LAZY_SONAME "libcurl.so.4"

struct curl_lazy_table curl_lazy;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static char load_error[512]; /* empty: loaded */

static const struct lazylib_sym syms[] = {
#define CURL_LAZY_SYM(name) {#name, offsetof(struct curl_lazy_table, name)},
	CURL_LAZY_FUNCS(CURL_LAZY_SYM)
#undef CURL_LAZY_SYM
};

static void load(void)
{
	struct curl_lazy_table t;
	void *h = lazylib_open(CURL_LAZY_SONAME, syms, sizeof(syms) / sizeof(syms[0]), &t, load_error,
			       sizeof(load_error));
	if (h == NULL)
		return;
	CURLcode rc = t.curl_global_init(CURL_GLOBAL_DEFAULT);
	if (rc != CURLE_OK) {
		snprintf(load_error, sizeof(load_error), "curl_global_init: %s", t.curl_easy_strerror(rc));
		dlclose(h);
		return;
	}
	curl_lazy = t;
}

int curl_lazy_load(ocid_error **err)
{
	pthread_once(&load_once, load);
	if (load_error[0])
		return err_set(err, GRPC_INTERNAL, "%s", load_error);
	return 0;
}
