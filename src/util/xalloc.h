/* Allocation that aborts on exhaustion. Used for small, bounded allocations
 * (reply building, bookkeeping) where recovering from ENOMEM is not worth an
 * error path at every call; sizes taken from untrusted input are checked
 * against limits before they reach here. */
#ifndef OCID_UTIL_XALLOC_H
#define OCID_UTIL_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t size);
char *xstrdup(const char *s);
/* A copy of s, or protobuf-c's shared empty string when s is NULL or empty,
 * which is what protobuf_c_message_free_unpacked expects for unset strings. */
char *pb_strdup(const char *s);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Frees each string of a NULL-terminated array, then the array (NULL is fine). */
void strv_free(char **v);
/* Frees the first n strings of v, then v (NULL is fine). */
void strv_free_n(char **v, size_t n);
/* A copy of the n strings of v (NULL when n is 0). */
char **strv_dup_n(char *const *v, size_t n);

#endif
