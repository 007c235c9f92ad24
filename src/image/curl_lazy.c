/* See curl_lazy.h. */
#define CURL_LAZY_IMPL
#include "image/curl_lazy.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define CURL_LAZY_SONAME "libcurl.so.4"

struct curl_lazy_table curl_lazy;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static char load_error[512]; /* empty: loaded */

static void load(void)
{
	void *h = dlopen(CURL_LAZY_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		const char *e = dlerror();
		snprintf(load_error, sizeof(load_error), "cannot load " CURL_LAZY_SONAME ": %s",
			 e ? e : "unknown error");
		return;
	}
	struct curl_lazy_table t;
	void *sym;
#define CURL_LAZY_RESOLVE(name) \
	sym = dlsym(h, #name); \
	if (sym == NULL) { \
		const char *e = dlerror(); \
		snprintf(load_error, sizeof(load_error), "cannot load " CURL_LAZY_SONAME ": %s", \
			 e ? e : "missing " #name); \
		dlclose(h); \
		return; \
	} \
	memcpy(&t.name, &sym, sizeof(sym));
	CURL_LAZY_FUNCS(CURL_LAZY_RESOLVE)
#undef CURL_LAZY_RESOLVE
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
