/* CRI container log lines, as conmon writes them and kubelet reads them:
 *   <RFC3339Nano timestamp> <stdout|stderr> <tags> <text>
 * where tags is ':'-separated and its first tag is P (partial: the text
 * goes on in the next line) or F (full line). */
#ifndef OCID_OCIC_CRILOG_H
#define OCID_OCIC_CRILOG_H

#include <stdbool.h>
#include <stddef.h>

enum crilog_stream { CRILOG_STDOUT = 1, CRILOG_STDERR = 2 };

struct crilog_line {
	const char *ts; /* not NUL-terminated */
	size_t ts_len;
	enum crilog_stream stream;
	bool partial;
	const char *text; /* not NUL-terminated, no newline */
	size_t text_len;
};

/* Parses one line given without its '\n'. Returns 0, or -1 if the line is
 * not in CRI format. The pointers in *out point into line. */
int crilog_parse(const char *line, size_t len, struct crilog_line *out);

#endif
