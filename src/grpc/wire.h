/* gRPC over HTTP/2 wire details shared by the server and by ocic: the 5-byte
 * message prefix, grpc-timeout values and percent-encoded grpc-message. */
#ifndef OCID_GRPC_WIRE_H
#define OCID_GRPC_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GRPC_PREFIX_LEN 5
/* kubelet's limit, both directions. */
#define GRPC_MAX_MESSAGE_DEFAULT (16u * 1024u * 1024u)

enum grpc_frame_result {
	GRPC_FRAME_INCOMPLETE = 0, /* need more bytes */
	GRPC_FRAME_OK,             /* one message found */
	GRPC_FRAME_TOO_LARGE,      /* declared length above the limit */
	GRPC_FRAME_COMPRESSED,     /* compressed flag set: we negotiate no encodings */
	GRPC_FRAME_BAD_FLAG,       /* flag byte other than 0 or 1 */
};

void grpc_frame_prefix(uint8_t out[GRPC_PREFIX_LEN], uint32_t msg_len);

/* Looks for one length-prefixed message at the start of buf. On
 * GRPC_FRAME_OK, *msg and *msg_len give the message and *consumed the bytes used.
 * Once 5 bytes are there, the declared length is checked against max_len, so
 * an oversized message is refused before it is buffered. */
enum grpc_frame_result grpc_frame_parse(const uint8_t *buf, size_t len, size_t max_len,
					const uint8_t **msg, size_t *msg_len, size_t *consumed);

/* Parses a grpc-timeout value ("100m", "5S", "1H": 1-8 digits and a unit of
 * H M S m u n) into nanoseconds. Returns -1 if malformed. */
int grpc_timeout_parse(const char *value, size_t len, int64_t *ns_out);
/* Formats ns as a grpc-timeout value with at most 8 digits. out >= 16 bytes. */
void grpc_timeout_format(int64_t ns, char *out, size_t out_size);

/* Percent-encodes a grpc-message per the gRPC spec (bytes outside 0x20..0x7e
 * and '%'). Returns a malloc'd string or NULL on allocation failure. */
char *grpc_message_encode(const char *msg);
/* Decodes; malformed escapes are kept literally, as the spec asks. */
char *grpc_message_decode(const char *value, size_t len);

#endif
