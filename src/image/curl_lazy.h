/* libcurl, loaded on first use. The daemon is not linked against libcurl:
 * its dependency chain (gnutls, krb5, ldap, p11-kit, nettle, ...) costs
 * about 3 MB of RSS at start-up, and only image pulls need it. This header
 * replaces <curl/curl.h> for the image code: it declares a table of the
 * libcurl functions ocid calls (typed from curl's own prototypes) and maps
 * each name to its entry, so call sites read as plain libcurl calls.
 *
 * curl_lazy_load() must have succeeded before any of them is called; it
 * dlopens libcurl.so.4 once (pthread_once), resolves the table and runs
 * curl_global_init. curl's GCC type-check macros are disabled (they would
 * redefine curl_easy_setopt and friends). */
#ifndef OCID_IMAGE_CURL_LAZY_H
#define OCID_IMAGE_CURL_LAZY_H

#ifndef CURL_DISABLE_TYPECHECK
#define CURL_DISABLE_TYPECHECK
#endif
#include <curl/curl.h>

#include "util/err.h"

#define CURL_LAZY_FUNCS(X) \
	X(curl_global_init) \
	X(curl_easy_init) \
	X(curl_easy_setopt) \
	X(curl_easy_perform) \
	X(curl_easy_getinfo) \
	X(curl_easy_cleanup) \
	X(curl_easy_strerror) \
	X(curl_easy_escape) \
	X(curl_free) \
	X(curl_slist_append) \
	X(curl_slist_free_all) \
	X(curl_share_init) \
	X(curl_share_setopt) \
	X(curl_share_cleanup) \
	X(curl_url) \
	X(curl_url_set) \
	X(curl_url_get) \
	X(curl_url_cleanup)

struct curl_lazy_table {
#define CURL_LAZY_MEMBER(name) __typeof__(name) *name;
	CURL_LAZY_FUNCS(CURL_LAZY_MEMBER)
#undef CURL_LAZY_MEMBER
};
extern struct curl_lazy_table curl_lazy;

/* 0 once libcurl is loaded and initialised; else -1 with INTERNAL
 * "cannot load libcurl.so.4: <dlerror>" (or the curl_global_init failure),
 * the same every time. */
int curl_lazy_load(ocid_error **err);

#ifndef CURL_LAZY_IMPL
/* curl.h defines these three as pass-through macros when type checks are off. */
#undef curl_easy_setopt
#undef curl_easy_getinfo
#undef curl_share_setopt
#define curl_global_init curl_lazy.curl_global_init
#define curl_easy_init curl_lazy.curl_easy_init
#define curl_easy_setopt curl_lazy.curl_easy_setopt
#define curl_easy_perform curl_lazy.curl_easy_perform
#define curl_easy_getinfo curl_lazy.curl_easy_getinfo
#define curl_easy_cleanup curl_lazy.curl_easy_cleanup
#define curl_easy_strerror curl_lazy.curl_easy_strerror
#define curl_easy_escape curl_lazy.curl_easy_escape
#define curl_free curl_lazy.curl_free
#define curl_slist_append curl_lazy.curl_slist_append
#define curl_slist_free_all curl_lazy.curl_slist_free_all
#define curl_share_init curl_lazy.curl_share_init
#define curl_share_setopt curl_lazy.curl_share_setopt
#define curl_share_cleanup curl_lazy.curl_share_cleanup
#define curl_url curl_lazy.curl_url
#define curl_url_set curl_lazy.curl_url_set
#define curl_url_get curl_lazy.curl_url_get
#define curl_url_cleanup curl_lazy.curl_url_cleanup
#endif

#endif
