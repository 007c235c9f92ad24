#include "util/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static _Atomic int current_level = LOG_LEVEL_INFO;

static const char *const level_names[] = {"fatal", "error", "warning", "info", "debug", "trace"};

void log_set_level(enum log_level level) { current_level = (int)level; }
enum log_level log_get_level(void) { return (enum log_level)current_level; }
bool log_enabled(enum log_level level) { return (int)level <= current_level; }

const char *log_level_name(enum log_level level)
{
	if ((int)level < 0 || level > LOG_LEVEL_TRACE)
		return "unknown";
	return level_names[level];
}

int log_level_parse(const char *name, enum log_level *out)
{
	static const struct { const char *name; enum log_level level; } table[] = {
		{"fatal", LOG_LEVEL_FATAL}, {"error", LOG_LEVEL_ERROR},
		{"warn", LOG_LEVEL_WARN},   {"warning", LOG_LEVEL_WARN},
		{"info", LOG_LEVEL_INFO},   {"debug", LOG_LEVEL_DEBUG},
		{"trace", LOG_LEVEL_TRACE},
	};
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		if (strcasecmp(name, table[i].name) == 0) {
			*out = table[i].level;
			return 0;
		}
	}
	return -1;
}

void log_escape(const char *in, char *out, size_t size)
{
	size_t j = 0;
	for (; in && *in && j + 5 < size; in++) {
		unsigned char ch = (unsigned char)*in;
		if (ch == '"' || ch == '\\') {
			out[j++] = '\\';
			out[j++] = (char)ch;
		} else if (ch < 0x20 || ch == 0x7f) {
			j += (size_t)snprintf(out + j, size - j, "\\x%02x", ch);
		} else {
			out[j++] = (char)ch;
		}
	}
	if (size)
		out[j] = '\0';
}

void log_emit(enum log_level level, const char *msg, const char *kv_fmt, ...)
{
	if (!log_enabled(level))
		return;
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	char stamp[40];
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);

	/* Build the whole line first so concurrent threads never interleave. */
	char *kv = NULL;
	if (kv_fmt && *kv_fmt) {
		va_list ap;
		va_start(ap, kv_fmt);
		if (vasprintf(&kv, kv_fmt, ap) < 0)
			kv = NULL;
		va_end(ap);
	}
	char esc[1024];
	log_escape(msg, esc, sizeof(esc));
	char *line = NULL;
	int n = asprintf(&line, "time=\"%s.%09ldZ\" level=%s msg=\"%s\"%s%s\n", stamp, ts.tv_nsec,
			 log_level_name(level), esc, kv ? " " : "", kv ? kv : "");
	if (n > 0) {
		fwrite(line, 1, (size_t)n, stderr);
		fflush(stderr);
	}
	free(line);
	free(kv);
}
