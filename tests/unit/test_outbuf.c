/* util/outbuf: appended bytes go out in order, a full socket keeps the rest
 * for later, an error is reported, reset keeps or frees the memory. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "util/outbuf.h"

static void test_append_and_send(void **state)
{
	(void)state;
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	struct outbuf b = {0};
	assert_true(outbuf_append(&b, "HEAD", 4));
	assert_true(outbuf_append(&b, "DATA", 4));
	assert_int_equal(outbuf_pending(&b), 8);
	assert_int_equal(outbuf_send(&b, sv[0], MSG_NOSIGNAL), 0);
	assert_int_equal(outbuf_pending(&b), 0);
	char got[16] = {0};
	assert_int_equal(read(sv[1], got, sizeof(got)), 8);
	assert_string_equal(got, "HEADDATA");
	outbuf_free(&b);
	close(sv[0]);
	close(sv[1]);
}

static void test_full_socket_keeps_the_rest(void **state)
{
	(void)state;
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	int sz = 4096;
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	struct outbuf b = {0};
	static uint8_t chunk[65536];
	for (size_t i = 0; i < sizeof(chunk); i++)
		chunk[i] = (uint8_t)i;
	for (int i = 0; i < 16; i++)
		assert_true(outbuf_append(&b, chunk, sizeof(chunk)));
	assert_int_equal(outbuf_send(&b, sv[0], MSG_NOSIGNAL | MSG_DONTWAIT), 1);
	size_t left = outbuf_pending(&b);
	assert_true(left > 0 && left < 16 * sizeof(chunk));
	/* drain the peer and finish: every byte arrives once, in order */
	size_t total = 0;
	uint8_t buf[65536];
	while (total < 16 * sizeof(chunk)) {
		assert_true(outbuf_send(&b, sv[0], MSG_NOSIGNAL | MSG_DONTWAIT) >= 0);
		ssize_t n = read(sv[1], buf, sizeof(buf));
		assert_true(n > 0);
		for (ssize_t k = 0; k < n; k++)
			assert_int_equal(buf[k], (uint8_t)((total + (size_t)k) % sizeof(chunk)));
		total += (size_t)n;
	}
	assert_int_equal(total, 16 * sizeof(chunk));
	assert_int_equal(outbuf_pending(&b), 0);

	/* a closed peer is an error with errno */
	assert_true(outbuf_append(&b, "x", 1));
	close(sv[1]);
	assert_int_equal(outbuf_send(&b, sv[0], MSG_NOSIGNAL), -1);
	assert_int_equal(errno, EPIPE);
	assert_int_equal(outbuf_pending(&b), 1);

	/* reset: memory kept under the limit, freed over it */
	outbuf_reset(&b, SIZE_MAX);
	assert_int_equal(outbuf_pending(&b), 0);
	assert_non_null(b.data);
	outbuf_reset(&b, 0);
	assert_null(b.data);
	outbuf_free(&b);
	close(sv[0]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_append_and_send),
		cmocka_unit_test(test_full_socket_keeps_the_rest),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
