#include "util/lazylib.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

void *lazylib_open(const char *soname, const struct lazylib_sym *syms, size_t n, void *table, char *err_buf,
		   size_t err_len)
{
	void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		const char *e = dlerror();
		snprintf(err_buf, err_len, "cannot load %s: %s", soname, e ? e : "unknown error");
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		void *sym = dlsym(h, syms[i].name);
		if (sym == NULL) {
			const char *e = dlerror();
			snprintf(err_buf, err_len, "cannot load %s: %s%s", soname, e ? "" : "missing ",
				 e ? e : syms[i].name);
			dlclose(h);
			return NULL;
		}
		memcpy((char *)table + syms[i].offset, &sym, sizeof(sym));
	}
	return h;
}
