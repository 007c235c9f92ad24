/* Bytes on their way to a socket: appended at the end, sent from the front.
 * The gRPC server (per connection) and client gather HTTP/2 frames here so
 * that one send() carries all of them. */
#ifndef OCID_UTIL_OUTBUF_H
#define OCID_UTIL_OUTBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct outbuf {
	uint8_t *data;
	size_t len; /* bytes held */
	size_t off; /* of which sent already */
	size_t cap;
};

/* Bytes not sent yet. */
static inline size_t outbuf_pending(const struct outbuf *b)
{
	return b->len - b->off;
}

/* Appends n bytes; false when out of memory (b unchanged). */
bool outbuf_append(struct outbuf *b, const void *p, size_t n);

/* Sends what is pending with send(fd, ..., flags), retrying on EINTR:
 * 0 when all of it went (b is then empty), 1 when the socket is full
 * (EAGAIN: the rest stays), -1 with errno on an error. */
int outbuf_send(struct outbuf *b, int fd, int flags);

/* Forgets what is held; keeps the memory unless it exceeds keep bytes. */
void outbuf_reset(struct outbuf *b, size_t keep);

void outbuf_free(struct outbuf *b);

#endif
