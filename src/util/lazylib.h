/* A shared library opened on first use (dlopen), its functions resolved into
 * a table of pointers: libcurl and libarchive cost memory at start-up that a
 * daemon which never pulls an image does not need. */
#ifndef OCID_UTIL_LAZYLIB_H
#define OCID_UTIL_LAZYLIB_H

#include <stddef.h>

/* A function to resolve, and where in the caller's table its pointer goes. */
struct lazylib_sym {
	const char *name;
	size_t offset;
};

/* Opens soname and stores the address of every syms[i].name at
 * table + syms[i].offset. Returns the handle, or NULL with
 * "cannot load SONAME: <why>" in err_buf (the library is then closed). */
void *lazylib_open(const char *soname, const struct lazylib_sym *syms, size_t n, void *table, char *err_buf,
		   size_t err_len);

#endif
