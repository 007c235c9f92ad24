#include "util/crilog.h"

#include <string.h>

int crilog_parse(const char *line, size_t len, struct crilog_line *out)
{
	const char *end = line + len;
	const char *sp = memchr(line, ' ', len);
	if (sp == NULL || sp == line)
		return -1;
	out->ts = line;
	out->ts_len = (size_t)(sp - line);

	const char *p = sp + 1;
	sp = memchr(p, ' ', (size_t)(end - p));
	if (sp == NULL)
		return -1;
	if (sp - p == 6 && memcmp(p, "stdout", 6) == 0)
		out->stream = CRILOG_STDOUT;
	else if (sp - p == 6 && memcmp(p, "stderr", 6) == 0)
		out->stream = CRILOG_STDERR;
	else
		return -1;

	p = sp + 1;
	if (p >= end)
		return -1;
	sp = memchr(p, ' ', (size_t)(end - p));
	const char *tags_end = sp ? sp : end;
	if (tags_end == p)
		return -1;
	const char *colon = memchr(p, ':', (size_t)(tags_end - p));
	const char *first_end = colon ? colon : tags_end;
	if (first_end - p != 1 || (*p != 'P' && *p != 'F'))
		return -1;
	out->partial = *p == 'P';
	if (sp) {
		out->text = sp + 1;
		out->text_len = (size_t)(end - (sp + 1));
	} else {
		out->text = end;
		out->text_len = 0;
	}
	return 0;
}
