/* One error type for the whole daemon (crun style): a fallible function
 * returns < 0 and fills *err; callers add context on the way up, so the
 * message that reaches the RPC boundary tells the whole story. The code is a
 * gRPC status code, chosen where the failure is first understood. */
#ifndef OCID_UTIL_ERR_H
#define OCID_UTIL_ERR_H

#include <stdarg.h>

enum grpc_code {
	GRPC_OK = 0,
	GRPC_CANCELLED = 1,
	GRPC_UNKNOWN = 2,
	GRPC_INVALID_ARGUMENT = 3,
	GRPC_DEADLINE_EXCEEDED = 4,
	GRPC_NOT_FOUND = 5,
	GRPC_ALREADY_EXISTS = 6,
	GRPC_PERMISSION_DENIED = 7,
	GRPC_RESOURCE_EXHAUSTED = 8,
	GRPC_FAILED_PRECONDITION = 9,
	GRPC_ABORTED = 10,
	GRPC_OUT_OF_RANGE = 11,
	GRPC_UNIMPLEMENTED = 12,
	GRPC_INTERNAL = 13,
	GRPC_UNAVAILABLE = 14,
	GRPC_DATA_LOSS = 15,
	GRPC_UNAUTHENTICATED = 16,
};

typedef struct ocid_error {
	enum grpc_code code;
	char *msg;
} ocid_error;

/* Sets *err (if err is not NULL and *err is NULL) and returns -1. */
int err_set(ocid_error **err, enum grpc_code code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Like err_set, appending ": strerror(errnum)". */
int err_set_errno(ocid_error **err, enum grpc_code code, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Prefixes context: "context: previous message". Returns -1. */
int err_prefix(ocid_error **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void err_free(ocid_error *e);
/* Frees *err and sets it to NULL. */
void err_clear(ocid_error **err);

/* "OK", "INVALID_ARGUMENT", ... ; "UNKNOWN" for codes outside 0..16. */
const char *grpc_code_name(int code);

static inline void err_cleanup(ocid_error **e) { err_clear(e); }
#define cleanup_err __attribute__((cleanup(err_cleanup)))

#endif
