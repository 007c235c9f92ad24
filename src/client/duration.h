/* Durations as Go writes them ("10s", "500ms", "1m30s", "1.5h"), for
 * ocic's --timeout flags and for error messages. */
#ifndef OCID_CLIENT_DURATION_H
#define OCID_CLIENT_DURATION_H

#include <stddef.h>
#include <stdint.h>

/* Parses one or more <decimal number><unit> terms, units ns, us (or µs), ms,
 * s, m, h; "0" alone is allowed. No sign, no spaces. Returns 0, or -1 if
 * malformed or beyond int64 nanoseconds. */
int duration_parse(const char *s, int64_t *ns_out);

/* Writes ns the way Go's time.Duration.String() does ("1m30s", "500ms",
 * "0s"). out >= 32 bytes. */
void duration_format(int64_t ns, char *out, size_t out_size);

#endif
