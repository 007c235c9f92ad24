#include "grpc/wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void grpc_frame_prefix(uint8_t out[GRPC_PREFIX_LEN], uint32_t msg_len)
{
	out[0] = 0;
	out[1] = (uint8_t)(msg_len >> 24);
	out[2] = (uint8_t)(msg_len >> 16);
	out[3] = (uint8_t)(msg_len >> 8);
	out[4] = (uint8_t)msg_len;
}

enum grpc_frame_result grpc_frame_parse(const uint8_t *buf, size_t len, size_t max_len,
					const uint8_t **msg, size_t *msg_len, size_t *consumed)
{
	if (len < GRPC_PREFIX_LEN)
		return GRPC_FRAME_INCOMPLETE;
	if (buf[0] > 1)
		return GRPC_FRAME_BAD_FLAG;
	uint32_t n = ((uint32_t)buf[1] << 24) | ((uint32_t)buf[2] << 16) |
		     ((uint32_t)buf[3] << 8) | (uint32_t)buf[4];
	if (n > max_len)
		return GRPC_FRAME_TOO_LARGE;
	if (buf[0] == 1)
		return GRPC_FRAME_COMPRESSED;
	if (len - GRPC_PREFIX_LEN < n)
		return GRPC_FRAME_INCOMPLETE;
	*msg = buf + GRPC_PREFIX_LEN;
	*msg_len = n;
	*consumed = GRPC_PREFIX_LEN + (size_t)n;
	return GRPC_FRAME_OK;
}

int grpc_timeout_parse(const char *value, size_t len, int64_t *ns_out)
{
	if (len < 2 || len > 9)
		return -1;
	int64_t n = 0;
	for (size_t i = 0; i + 1 < len; i++) {
		if (value[i] < '0' || value[i] > '9')
			return -1;
		n = n * 10 + (value[i] - '0');
	}
	int64_t unit;
	switch (value[len - 1]) {
	case 'H': unit = 3600LL * 1000000000LL; break;
	case 'M': unit = 60LL * 1000000000LL; break;
	case 'S': unit = 1000000000LL; break;
	case 'm': unit = 1000000LL; break;
	case 'u': unit = 1000LL; break;
	case 'n': unit = 1; break;
	default: return -1;
	}
	/* 8 digits of hours overflow int64 nanoseconds: cap instead. */
	if (n > INT64_MAX / unit)
		n = INT64_MAX / unit;
	*ns_out = n * unit;
	return 0;
}

void grpc_timeout_format(int64_t ns, char *out, size_t out_size)
{
	static const struct { char unit; int64_t ns; } units[] = {
		{'n', 1}, {'u', 1000LL}, {'m', 1000000LL}, {'S', 1000000000LL},
		{'M', 60LL * 1000000000LL}, {'H', 3600LL * 1000000000LL},
	};
	if (ns < 1)
		ns = 1;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		/* Round up so the peer never sees a shorter deadline than ours. */
		int64_t v = ns / units[i].ns + (ns % units[i].ns != 0);
		if (v <= 99999999) {
			snprintf(out, out_size, "%lld%c", (long long)v, units[i].unit);
			return;
		}
	}
	snprintf(out, out_size, "99999999H");
}

char *grpc_message_encode(const char *msg)
{
	size_t len = strlen(msg);
	char *out = malloc(len * 3 + 1);
	if (out == NULL)
		return NULL;
	static const char hex[] = "0123456789ABCDEF";
	size_t j = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)msg[i];
		if (c >= 0x20 && c <= 0x7e && c != '%') {
			out[j++] = (char)c;
		} else {
			out[j++] = '%';
			out[j++] = hex[c >> 4];
			out[j++] = hex[c & 15];
		}
	}
	out[j] = '\0';
	return out;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

char *grpc_message_decode(const char *value, size_t len)
{
	char *out = malloc(len + 1);
	if (out == NULL)
		return NULL;
	size_t j = 0;
	for (size_t i = 0; i < len; i++) {
		int hi, lo;
		if (value[i] == '%' && i + 2 < len &&
		    (hi = hexval(value[i + 1])) >= 0 && (lo = hexval(value[i + 2])) >= 0) {
			out[j++] = (char)((hi << 4) | lo);
			i += 2;
		} else {
			out[j++] = value[i];
		}
	}
	out[j] = '\0';
	return out;
}
