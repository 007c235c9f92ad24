/* util/lazylib: functions resolved into a table at their offsets; a missing
 * library or function is a message naming it. */
#include <dlfcn.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>
#include <cmocka.h>

#include "util/lazylib.h"

struct table {
	pid_t (*getpid)(void);
	size_t (*strlen)(const char *);
};

static void test_resolves_into_the_table(void **state)
{
	(void)state;
	const struct lazylib_sym syms[] = {{"getpid", offsetof(struct table, getpid)},
					   {"strlen", offsetof(struct table, strlen)}};
	struct table t = {0};
	char msg[256] = "";
	void *h = lazylib_open("libc.so.6", syms, 2, &t, msg, sizeof(msg));
	assert_non_null(h);
	assert_int_equal(t.getpid(), getpid());
	assert_int_equal(t.strlen("four"), 4);
	dlclose(h);
}

static void test_failures_name_what_is_missing(void **state)
{
	(void)state;
	struct table t = {0};
	char msg[256] = "";
	const struct lazylib_sym missing[] = {{"no_such_function_here", 0}};
	assert_null(lazylib_open("libc.so.6", missing, 1, &t, msg, sizeof(msg)));
	assert_non_null(strstr(msg, "cannot load libc.so.6: "));
	assert_non_null(strstr(msg, "no_such_function_here"));
	assert_null(lazylib_open("libno-such-library.so.9", missing, 1, &t, msg, sizeof(msg)));
	assert_non_null(strstr(msg, "cannot load libno-such-library.so.9: "));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_resolves_into_the_table),
		cmocka_unit_test(test_failures_name_what_is_missing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
