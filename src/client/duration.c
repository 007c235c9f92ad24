#include "client/duration.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static const struct {
	const char *name;
	int64_t ns;
} units[] = {
	{"ns", 1},
	{"us", 1000LL},
	{"\xc2\xb5s", 1000LL}, /* µs, U+00B5 */
	{"\xce\xbcs", 1000LL}, /* μs, U+03BC */
	{"ms", 1000000LL},
	{"s", 1000000000LL},
	{"m", 60LL * 1000000000LL},
	{"h", 3600LL * 1000000000LL},
};

int duration_parse(const char *s, int64_t *ns_out)
{
	if (s == NULL || *s == '\0')
		return -1;
	if (strcmp(s, "0") == 0) {
		*ns_out = 0;
		return 0;
	}
	int64_t total = 0;
	const char *p = s;
	while (*p) {
		/* integer part */
		int64_t whole = 0;
		bool digits = false;
		while (*p >= '0' && *p <= '9') {
			if (whole > (INT64_MAX - 9) / 10)
				return -1;
			whole = whole * 10 + (*p - '0');
			p++;
			digits = true;
		}
		/* fraction, kept to 18 digits */
		int64_t frac = 0, scale = 1;
		if (*p == '.') {
			p++;
			while (*p >= '0' && *p <= '9') {
				if (scale < 1000000000000000000LL) {
					frac = frac * 10 + (*p - '0');
					scale *= 10;
				}
				p++;
				digits = true;
			}
		}
		if (!digits)
			return -1;
		/* unit: longest match first ("ms" before "m") */
		int64_t unit = 0;
		size_t best = 0;
		for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
			size_t n = strlen(units[i].name);
			if (n > best && strncmp(p, units[i].name, n) == 0) {
				best = n;
				unit = units[i].ns;
			}
		}
		if (best == 0)
			return -1;
		p += best;
		if (whole > INT64_MAX / unit)
			return -1;
		int64_t v = whole * unit;
		/* frac/scale * unit, exact: the product fits in 128 bits */
		if (frac > 0) {
			__int128 f = (__int128)frac * unit / scale;
			if (f > (__int128)(INT64_MAX - v))
				return -1;
			v += (int64_t)f;
		}
		if (v > INT64_MAX - total)
			return -1;
		total += v;
	}
	*ns_out = total;
	return 0;
}

/* Appends v/div as a decimal with trailing zeros of the fraction trimmed. */
static int put_fixed(char *out, size_t size, int64_t v, int64_t div, const char *unit)
{
	int64_t whole = v / div, frac = v % div;
	if (frac == 0)
		return snprintf(out, size, "%lld%s", (long long)whole, unit);
	/* the fraction's digits, as many as div has zeros, trailing zeros cut */
	char fb[24];
	int width = 0;
	for (int64_t d = div; d > 1 && width < 20; d /= 10)
		width++;
	for (int i = width - 1; i >= 0; i--) {
		fb[i] = (char)('0' + frac % 10);
		frac /= 10;
	}
	size_t n = (size_t)width;
	while (n > 0 && fb[n - 1] == '0')
		n--;
	fb[n] = '\0';
	return snprintf(out, size, "%lld.%s%s", (long long)whole, fb, unit);
}

void duration_format(int64_t ns, char *out, size_t out_size)
{
	if (out_size == 0)
		return;
	const char *sign = "";
	uint64_t u;
	if (ns < 0) {
		sign = "-";
		u = (uint64_t)(-(ns + 1)) + 1;
	} else {
		u = (uint64_t)ns;
	}
	if (u == 0) {
		snprintf(out, out_size, "0s");
		return;
	}
	int n = snprintf(out, out_size, "%s", sign);
	if (n < 0 || (size_t)n >= out_size)
		return;
	char *p = out + n;
	size_t left = out_size - (size_t)n;
	if (u < 1000ULL) {
		snprintf(p, left, "%lluns", (unsigned long long)u);
		return;
	}
	if (u < 1000000ULL) {
		put_fixed(p, left, (int64_t)u, 1000, "\xc2\xb5s");
		return;
	}
	if (u < 1000000000ULL) {
		put_fixed(p, left, (int64_t)u, 1000000, "ms");
		return;
	}
	uint64_t h = u / 3600000000000ULL;
	uint64_t rem = u % 3600000000000ULL;
	uint64_t m = rem / 60000000000ULL;
	uint64_t s_ns = rem % 60000000000ULL;
	int w = 0;
	if (h > 0)
		w = snprintf(p, left, "%lluh%llum", (unsigned long long)h, (unsigned long long)m);
	else if (m > 0)
		w = snprintf(p, left, "%llum", (unsigned long long)m);
	if (w < 0 || (size_t)w >= left)
		return;
	put_fixed(p + w, left - (size_t)w, (int64_t)s_ns, 1000000000, "s");
}
