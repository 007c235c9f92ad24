/* The pure parts of the gRPC client and of ocic: endpoint parsing, Go
 * durations for --timeout, status mapping, CRI log lines; plus a client
 * against a dead socket (UNAVAILABLE). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "client/duration.h"
#include "client/grpc_client.h"
#include "util/crilog.h"

static void endpoint_ok(const char *in, const char *want)
{
	char *p = NULL;
	ocid_error *err = NULL;
	assert_int_equal(grpc_endpoint_parse(in, &p, &err), 0);
	assert_null(err);
	assert_string_equal(p, want);
	free(p);
}

static void endpoint_bad(const char *in)
{
	char *p = NULL;
	ocid_error *err = NULL;
	assert_int_equal(grpc_endpoint_parse(in, &p, &err), -1);
	assert_non_null(err);
	assert_int_equal(err->code, GRPC_INVALID_ARGUMENT);
	assert_null(p);
	err_free(err);
}

static void test_endpoint_forms(void **state)
{
	(void)state;
	endpoint_ok("unix:///run/ocid/ocid.sock", "/run/ocid/ocid.sock");
	endpoint_ok("unix:/run/ocid/ocid.sock", "/run/ocid/ocid.sock");
	endpoint_ok("/tmp/x.sock", "/tmp/x.sock");
	endpoint_ok("relative.sock", "relative.sock");
	endpoint_ok("unix://relative.sock", "relative.sock");
}

static void test_endpoint_rejects(void **state)
{
	(void)state;
	endpoint_bad("");
	endpoint_bad(NULL);
	endpoint_bad("unix://");
	endpoint_bad("unix:");
	endpoint_bad("tcp://127.0.0.1:1234");
	endpoint_bad("http://localhost/x");
	char longp[200];
	memset(longp, 'a', sizeof(longp) - 1);
	longp[0] = '/';
	longp[sizeof(longp) - 1] = '\0';
	endpoint_bad(longp);
}

static int64_t dur(const char *s)
{
	int64_t v = -12345;
	assert_int_equal(duration_parse(s, &v), 0);
	return v;
}

static void dur_bad(const char *s)
{
	int64_t v = -12345;
	assert_int_equal(duration_parse(s, &v), -1);
	assert_int_equal(v, -12345);
}

static void test_duration_parse(void **state)
{
	(void)state;
	assert_int_equal(dur("10s"), 10000000000LL);
	assert_int_equal(dur("500ms"), 500000000LL);
	assert_int_equal(dur("2m"), 120000000000LL);
	assert_int_equal(dur("1h"), 3600000000000LL);
	assert_int_equal(dur("1m30s"), 90000000000LL);
	assert_int_equal(dur("1.5s"), 1500000000LL);
	assert_int_equal(dur(".5s"), 500000000LL);
	assert_int_equal(dur("100us"), 100000LL);
	assert_int_equal(dur("100\xc2\xb5s"), 100000LL);
	assert_int_equal(dur("7ns"), 7);
	assert_int_equal(dur("0"), 0);
	assert_int_equal(dur("0s"), 0);
	assert_int_equal(dur("1h2m3s4ms"), 3723004000000LL);
}

static void test_duration_rejects(void **state)
{
	(void)state;
	dur_bad("");
	dur_bad("10");
	dur_bad("s");
	dur_bad("-1s");
	dur_bad("1x");
	dur_bad("1 s");
	dur_bad("1.s.");
	dur_bad("99999999999h");
	dur_bad("10s ");
}

static void fmt_is(int64_t ns, const char *want)
{
	char b[32];
	duration_format(ns, b, sizeof(b));
	assert_string_equal(b, want);
}

static void test_duration_format(void **state)
{
	(void)state;
	fmt_is(0, "0s");
	fmt_is(10000000000LL, "10s");
	fmt_is(500000000LL, "500ms");
	fmt_is(1500000000LL, "1.5s");
	fmt_is(90000000000LL, "1m30s");
	fmt_is(120000000000LL, "2m0s");
	fmt_is(3600000000000LL, "1h0m0s");
	fmt_is(1500, "1.5\xc2\xb5s");
	fmt_is(7, "7ns");
	/* parse(format(x)) == x */
	int64_t v[] = {1, 999, 1000, 1234567, 999999999, 1000000001, 61000000000LL,
		       3723004000000LL};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char b[32];
		duration_format(v[i], b, sizeof(b));
		assert_int_equal(dur(b), v[i]);
	}
}

static void test_status_from_http(void **state)
{
	(void)state;
	assert_int_equal(grpc_status_from_http(400), GRPC_INTERNAL);
	assert_int_equal(grpc_status_from_http(401), GRPC_UNAUTHENTICATED);
	assert_int_equal(grpc_status_from_http(403), GRPC_PERMISSION_DENIED);
	assert_int_equal(grpc_status_from_http(404), GRPC_UNIMPLEMENTED);
	assert_int_equal(grpc_status_from_http(429), GRPC_UNAVAILABLE);
	assert_int_equal(grpc_status_from_http(502), GRPC_UNAVAILABLE);
	assert_int_equal(grpc_status_from_http(503), GRPC_UNAVAILABLE);
	assert_int_equal(grpc_status_from_http(504), GRPC_UNAVAILABLE);
	assert_int_equal(grpc_status_from_http(415), GRPC_UNKNOWN);
	assert_int_equal(grpc_status_from_http(500), GRPC_UNKNOWN);
	assert_int_equal(grpc_status_from_http(200), GRPC_UNKNOWN);
}

static void test_status_from_h2(void **state)
{
	(void)state;
	assert_int_equal(grpc_status_from_h2_error(0x7 /* REFUSED_STREAM */), GRPC_UNAVAILABLE);
	assert_int_equal(grpc_status_from_h2_error(0x8 /* CANCEL */), GRPC_CANCELLED);
	assert_int_equal(grpc_status_from_h2_error(0xb /* ENHANCE_YOUR_CALM */),
			 GRPC_RESOURCE_EXHAUSTED);
	assert_int_equal(grpc_status_from_h2_error(0xc /* INADEQUATE_SECURITY */),
			 GRPC_PERMISSION_DENIED);
	assert_int_equal(grpc_status_from_h2_error(0x0), GRPC_INTERNAL);
	assert_int_equal(grpc_status_from_h2_error(0x1), GRPC_INTERNAL);
	assert_int_equal(grpc_status_from_h2_error(0x2), GRPC_INTERNAL);
}

static void test_connect_missing_socket(void **state)
{
	(void)state;
	struct grpc_client *c = NULL;
	ocid_error *err = NULL;
	assert_int_equal(grpc_client_connect("unix:///nonexistent/dir/ocid.sock", &c, &err), -1);
	assert_null(c);
	assert_non_null(err);
	assert_int_equal(err->code, GRPC_UNAVAILABLE);
	assert_non_null(strstr(err->msg, "/nonexistent/dir/ocid.sock"));
	err_free(err);
}

static void crilog_ok(const char *line, enum crilog_stream stream, bool partial,
		      const char *text)
{
	struct crilog_line l;
	assert_int_equal(crilog_parse(line, strlen(line), &l), 0);
	assert_int_equal(l.stream, stream);
	assert_int_equal(l.partial, partial);
	assert_int_equal(l.text_len, strlen(text));
	assert_memory_equal(l.text, text, l.text_len);
	assert_int_equal(l.ts_len, strchr(line, ' ') - line);
}

static void test_crilog_parse(void **state)
{
	(void)state;
	crilog_ok("2016-10-06T00:17:09.669794202Z stdout F hello world", CRILOG_STDOUT, false,
		  "hello world");
	crilog_ok("2016-10-06T00:17:09.669794202Z stderr P part", CRILOG_STDERR, true, "part");
	crilog_ok("2016-10-06T00:17:09.669794202Z stdout F ", CRILOG_STDOUT, false, "");
	crilog_ok("2016-10-06T00:17:09.669794202Z stdout F", CRILOG_STDOUT, false, "");
	crilog_ok("2016-10-06T00:17:09.669794202Z stdout F:x  two  spaces", CRILOG_STDOUT, false,
		  " two  spaces");
	struct crilog_line l;
	const char *bad[] = {"", "nospace", "ts stdin F x", "ts stdout X x", "ts stdout  x",
			     "ts stdout", " stdout F x", "ts stdout PF x"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(crilog_parse(bad[i], strlen(bad[i]), &l), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_endpoint_forms),
		cmocka_unit_test(test_endpoint_rejects),
		cmocka_unit_test(test_duration_parse),
		cmocka_unit_test(test_duration_rejects),
		cmocka_unit_test(test_duration_format),
		cmocka_unit_test(test_status_from_http),
		cmocka_unit_test(test_status_from_h2),
		cmocka_unit_test(test_connect_missing_socket),
		cmocka_unit_test(test_crilog_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
