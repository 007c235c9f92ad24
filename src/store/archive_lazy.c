/* See archive_lazy.h. */
#define ARCHIVE_LAZY_IMPL
#include "store/archive_lazy.h"

#include <pthread.h>
#include <stddef.h>
#include <stdio.h>

#include "util/lazylib.h"

#define ARCHIVE_LAZY_SONAME "libarchive.so.13"

struct archive_lazy_table archive_lazy;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static char load_error[512]; /* empty: loaded */

static const struct lazylib_sym syms[] = {
#define ARCHIVE_LAZY_SYM(name) {#name, offsetof(struct archive_lazy_table, name)},
	ARCHIVE_LAZY_FUNCS(ARCHIVE_LAZY_SYM)
#undef ARCHIVE_LAZY_SYM
};

static void load(void)
{
	struct archive_lazy_table t;
	void *h = lazylib_open(ARCHIVE_LAZY_SONAME, syms, sizeof(syms) / sizeof(syms[0]), &t, load_error,
			       sizeof(load_error));
	if (h == NULL)
		return;
	archive_lazy = t;
}

int archive_lazy_load(ocid_error **err)
{
	pthread_once(&load_once, load);
	if (load_error[0])
		return err_set(err, GRPC_INTERNAL, "%s", load_error);
	return 0;
}
