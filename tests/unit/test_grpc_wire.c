#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "grpc/wire.h"

static void test_prefix_roundtrip(void **state)
{
	(void)state;
	uint8_t buf[5 + 3];
	grpc_frame_prefix(buf, 3);
	memcpy(buf + 5, "abc", 3);
	const uint8_t *msg;
	size_t len, used;
	assert_int_equal(grpc_frame_parse(buf, sizeof(buf), 100, &msg, &len, &used), GRPC_FRAME_OK);
	assert_int_equal(len, 3);
	assert_int_equal(used, 8);
	assert_memory_equal(msg, "abc", 3);
}

static void test_incomplete(void **state)
{
	(void)state;
	uint8_t buf[5 + 3];
	grpc_frame_prefix(buf, 3);
	const uint8_t *msg;
	size_t len, used;
	for (size_t n = 0; n < sizeof(buf); n++)
		assert_int_equal(grpc_frame_parse(buf, n, 100, &msg, &len, &used), GRPC_FRAME_INCOMPLETE);
}

static void test_too_large_seen_from_prefix(void **state)
{
	(void)state;
	uint8_t buf[5];
	grpc_frame_prefix(buf, 17u << 20);
	const uint8_t *msg;
	size_t len, used;
	assert_int_equal(grpc_frame_parse(buf, 5, GRPC_MAX_MESSAGE_DEFAULT, &msg, &len, &used),
			 GRPC_FRAME_TOO_LARGE);
	grpc_frame_prefix(buf, GRPC_MAX_MESSAGE_DEFAULT);
	assert_int_equal(grpc_frame_parse(buf, 5, GRPC_MAX_MESSAGE_DEFAULT, &msg, &len, &used),
			 GRPC_FRAME_INCOMPLETE);
}

static void test_flags(void **state)
{
	(void)state;
	uint8_t buf[6] = {1, 0, 0, 0, 1, 'x'};
	const uint8_t *msg;
	size_t len, used;
	assert_int_equal(grpc_frame_parse(buf, 6, 100, &msg, &len, &used), GRPC_FRAME_COMPRESSED);
	buf[0] = 7;
	assert_int_equal(grpc_frame_parse(buf, 6, 100, &msg, &len, &used), GRPC_FRAME_BAD_FLAG);
}

static void test_empty_message(void **state)
{
	(void)state;
	uint8_t buf[5];
	grpc_frame_prefix(buf, 0);
	const uint8_t *msg;
	size_t len = 99, used;
	assert_int_equal(grpc_frame_parse(buf, 5, 100, &msg, &len, &used), GRPC_FRAME_OK);
	assert_int_equal(len, 0);
	assert_int_equal(used, 5);
}

static void test_timeout_parse(void **state)
{
	(void)state;
	int64_t ns;
	assert_int_equal(grpc_timeout_parse("100m", 4, &ns), 0);
	assert_int_equal(ns, 100000000LL);
	assert_int_equal(grpc_timeout_parse("2S", 2, &ns), 0);
	assert_int_equal(ns, 2000000000LL);
	assert_int_equal(grpc_timeout_parse("1H", 2, &ns), 0);
	assert_int_equal(ns, 3600000000000LL);
	assert_int_equal(grpc_timeout_parse("7n", 2, &ns), 0);
	assert_int_equal(ns, 7);
	assert_int_equal(grpc_timeout_parse("99999999H", 9, &ns), 0);
	assert_true(ns > 0);
	assert_int_equal(grpc_timeout_parse("", 0, &ns), -1);
	assert_int_equal(grpc_timeout_parse("S", 1, &ns), -1);
	assert_int_equal(grpc_timeout_parse("10x", 3, &ns), -1);
	assert_int_equal(grpc_timeout_parse("1a0S", 4, &ns), -1);
	assert_int_equal(grpc_timeout_parse("123456789S", 10, &ns), -1);
}

static void test_timeout_format(void **state)
{
	(void)state;
	char out[16];
	int64_t ns;
	grpc_timeout_format(5000000000LL, out, sizeof(out));
	assert_int_equal(grpc_timeout_parse(out, strlen(out), &ns), 0);
	assert_true(ns >= 5000000000LL);
	grpc_timeout_format(123, out, sizeof(out));
	assert_string_equal(out, "123n");
	grpc_timeout_format(INT64_MAX, out, sizeof(out));
	assert_true(strlen(out) <= 9);
}

static void test_message_encoding(void **state)
{
	(void)state;
	char *e = grpc_message_encode("50% done\nnext: caf\xc3\xa9");
	assert_string_equal(e, "50%25 done%0Anext: caf%C3%A9");
	char *d = grpc_message_decode(e, strlen(e));
	assert_string_equal(d, "50% done\nnext: caf\xc3\xa9");
	free(e);
	free(d);
	/* Malformed escapes stay as they are. */
	d = grpc_message_decode("100%", 4);
	assert_string_equal(d, "100%");
	free(d);
	d = grpc_message_decode("%zz%4", 5);
	assert_string_equal(d, "%zz%4");
	free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prefix_roundtrip),
		cmocka_unit_test(test_incomplete),
		cmocka_unit_test(test_too_large_seen_from_prefix),
		cmocka_unit_test(test_flags),
		cmocka_unit_test(test_empty_message),
		cmocka_unit_test(test_timeout_parse),
		cmocka_unit_test(test_timeout_format),
		cmocka_unit_test(test_message_encoding),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
