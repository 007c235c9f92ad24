/* See archive_lazy.h. */
#define ARCHIVE_LAZY_IMPL
#include "store/archive_lazy.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define ARCHIVE_LAZY_SONAME "libarchive.so.13"

struct archive_lazy_table archive_lazy;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static char load_error[512]; /* empty: loaded */

static void load(void)
{
	void *h = dlopen(ARCHIVE_LAZY_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		const char *e = dlerror();
		snprintf(load_error, sizeof(load_error), "cannot load " ARCHIVE_LAZY_SONAME ": %s",
			 e ? e : "unknown error");
		return;
	}
	struct archive_lazy_table t;
	void *sym;
#define ARCHIVE_LAZY_RESOLVE(name) \
	sym = dlsym(h, #name); \
	if (sym == NULL) { \
		const char *e = dlerror(); \
		snprintf(load_error, sizeof(load_error), "cannot load " ARCHIVE_LAZY_SONAME ": %s", \
			 e ? e : "missing " #name); \
		dlclose(h); \
		return; \
	} \
	memcpy(&t.name, &sym, sizeof(sym));
	ARCHIVE_LAZY_FUNCS(ARCHIVE_LAZY_RESOLVE)
#undef ARCHIVE_LAZY_RESOLVE
	archive_lazy = t;
}

int archive_lazy_load(ocid_error **err)
{
	pthread_once(&load_once, load);
	if (load_error[0])
		return err_set(err, GRPC_INTERNAL, "%s", load_error);
	return 0;
}
