/* Leveled log lines to stderr, logfmt style as cri-o's logrus writes them:
 *   time="2026-11-28T19:51:51.123456789Z" level=info msg="listening" socket=/run/ocid/ocid.sock
 * The key=value tail is printf-formatted by the caller: text that may hold
 * spaces or quotes goes through log_escape and is quoted (k=\"%s\"). */
#ifndef OCID_UTIL_LOG_H
#define OCID_UTIL_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level {
	LOG_LEVEL_FATAL = 0,
	LOG_LEVEL_ERROR,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
	LOG_LEVEL_TRACE,
};

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parses "error", "warn"/"warning", "info", "debug", "trace", "fatal". */
int log_level_parse(const char *name, enum log_level *out);
const char *log_level_name(enum log_level level);
bool log_enabled(enum log_level level);

/* Escapes text for a quoted logfmt value (quotes, backslashes, control
 * bytes); truncates to fit size. */
void log_escape(const char *in, char *out, size_t size);

/* msg is escaped here. kv_fmt may be NULL; otherwise it is formatted and appended after msg. */
void log_emit(enum log_level level, const char *msg, const char *kv_fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_error(msg, ...) log_emit(LOG_LEVEL_ERROR, msg, __VA_ARGS__)
#define log_warn(msg, ...) log_emit(LOG_LEVEL_WARN, msg, __VA_ARGS__)
#define log_info(msg, ...) log_emit(LOG_LEVEL_INFO, msg, __VA_ARGS__)
#define log_debug(msg, ...) \
	do { \
		if (log_enabled(LOG_LEVEL_DEBUG)) \
			log_emit(LOG_LEVEL_DEBUG, msg, __VA_ARGS__); \
	} while (0)

#endif
