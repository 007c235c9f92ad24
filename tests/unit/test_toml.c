/* The TOML subset parser: every supported feature, and every kind of
 * malformed input reported with the right FILE:LINE:COL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "config/toml.h"

static struct toml_node *parse_ok(const char *text)
{
	struct toml_node *root = NULL;
	ocid_error *err = NULL;
	int r = toml_parse(text, strlen(text), "t.toml", &root, &err);
	if (r < 0)
		print_error("unexpected parse error: %s\n", err->msg);
	assert_int_equal(r, 0);
	assert_null(err);
	assert_non_null(root);
	assert_int_equal(root->type, TOML_TABLE);
	return root;
}

/* Parsing must fail with a message that starts with "t.toml:" and contains
 * every one of the given pieces (NULL-terminated). */
static void expect_err_v(const char *text, size_t len, ...)
{
	struct toml_node *root = NULL;
	ocid_error *err = NULL;
	int r = toml_parse(text, len, "t.toml", &root, &err);
	if (r == 0)
		print_error("parse unexpectedly succeeded for: %s\n", text);
	assert_int_equal(r, -1);
	assert_null(root);
	assert_non_null(err);
	assert_int_equal(err->code, GRPC_INVALID_ARGUMENT);
	va_list ap;
	va_start(ap, len);
	const char *piece;
	bool ok = strncmp(err->msg, "t.toml:", 7) == 0;
	while ((piece = va_arg(ap, const char *)) != NULL)
		if (strstr(err->msg, piece) == NULL)
			ok = false;
	va_end(ap);
	if (!ok)
		print_error("error message was: %s\n", err->msg);
	assert_true(ok);
	err_free(err);
}

#define expect_err(text, ...) expect_err_v((text), strlen(text), __VA_ARGS__, (const char *)NULL)

static const struct toml_node *get(const struct toml_node *t, const char *key)
{
	const struct toml_node *v = toml_get(t, key);
	if (v == NULL)
		print_error("missing key %s\n", key);
	assert_non_null(v);
	return v;
}

static const char *get_str(const struct toml_node *t, const char *key)
{
	const struct toml_node *v = get(t, key);
	assert_int_equal(v->type, TOML_STRING);
	return v->str;
}

static int64_t get_int(const struct toml_node *t, const char *key)
{
	const struct toml_node *v = get(t, key);
	assert_int_equal(v->type, TOML_INTEGER);
	return v->integer;
}

/* ---- features ---- */

static void test_empty_input(void **state)
{
	(void)state;
	struct toml_node *root = parse_ok("");
	assert_int_equal(root->table.len, 0);
	toml_free(root);
	root = parse_ok("   \n\t\n# only a comment\n\n");
	assert_int_equal(root->table.len, 0);
	toml_free(root);
	struct toml_node *r2 = NULL;
	ocid_error *err = NULL;
	assert_int_equal(toml_parse(NULL, 0, "t.toml", &r2, &err), 0);
	assert_int_equal(r2->table.len, 0);
	toml_free(r2);
}

static void test_comments_and_strings(void **state)
{
	(void)state;
	struct toml_node *root = parse_ok("# leading comment\n"
					  "a = \"x\" # trailing comment\n"
					  "b = 'C:\\path\\n' #\n"
					  "c = \"# not a comment\"\n"
					  "d = \"\"\n"
					  "e = ''\n"
					  "  f\t=\t\"tab\"  \n");
	assert_string_equal(get_str(root, "a"), "x");
	assert_string_equal(get_str(root, "b"), "C:\\path\\n");
	assert_string_equal(get_str(root, "c"), "# not a comment");
	assert_string_equal(get_str(root, "d"), "");
	assert_string_equal(get_str(root, "e"), "");
	assert_string_equal(get_str(root, "f"), "tab");
	/* keys keep their order */
	assert_string_equal(root->table.items[0].key, "a");
	assert_string_equal(root->table.items[5].key, "f");
	toml_free(root);
}

static void test_escapes(void **state)
{
	(void)state;
	struct toml_node *root = parse_ok(
		"s = \"q\\\"q b\\\\s n\\n t\\t r\\r b\\b f\\f \\u00e9 \\U0001F600 \\u20AC\"\n");
	assert_string_equal(get_str(root, "s"),
			    "q\"q b\\s n\n t\t r\r b\b f\f \xc3\xa9 \xf0\x9f\x98\x80 \xe2\x82\xac");
	toml_free(root);
	/* raw UTF-8 passes through */
	root = parse_ok("s = \"caf\xc3\xa9\"\n'k\xc3\xa9y' = 1\n");
	assert_string_equal(get_str(root, "s"), "caf\xc3\xa9");
	assert_int_equal(get_int(root, "k\xc3\xa9y"), 1);
	toml_free(root);
}

static void test_quoted_and_dotted_keys(void **state)
{
	(void)state;
	struct toml_node *root = parse_ok("\"registry.k8s.io\" = [\"m1\"]\n"
					  "'lit.key' = 2\n"
					  "\"\" = 3\n"
					  "a.b.c = 1\n"
					  "a . b . d = 2\n"
					  "a.\"x.y\".z = 3\n"
					  "bare-key_1 = 4\n"
					  "1234 = 5\n");
	const struct toml_node *reg = get(root, "registry.k8s.io");
	assert_int_equal(reg->type, TOML_ARRAY);
	assert_int_equal(reg->array.len, 1);
	assert_string_equal(reg->array.items[0]->str, "m1");
	assert_int_equal(get_int(root, "lit.key"), 2);
	assert_int_equal(get_int(root, ""), 3);
	const struct toml_node *a = get(root, "a");
	assert_int_equal(a->type, TOML_TABLE);
	assert_int_equal(a->table.kind, TOML_TABLE_DOTTED);
	const struct toml_node *b = get(a, "b");
	assert_int_equal(get_int(b, "c"), 1);
	assert_int_equal(get_int(b, "d"), 2);
	assert_int_equal(get_int(get(a, "x.y"), "z"), 3);
	assert_int_equal(get_int(root, "bare-key_1"), 4);
	assert_int_equal(get_int(root, "1234"), 5);
	toml_free(root);
}

static void test_table_headers(void **state)
{
	(void)state;
	struct toml_node *root = parse_ok("top = 1\n"
					  "[ocid]\n"
					  "root = \"/x\"\n"
					  "[ocid.runtime.runtimes.runc]\n"
					  "runtime_path = \"/usr/bin/runc\"\n"
					  "[ ocid . image . mirrors ]  # spaces allowed\n"
					  "\"docker.io\" = [\"mirror.gcr.io\", \"m2\"]\n"
					  "[ocid.runtime]\n" /* implicit before, defined now */
					  "conmon = \"/c\"\n"
					  "[a.\"b.c\".'d']\n"
					  "k = true\n");
	assert_int_equal(get_int(root, "top"), 1);
	const struct toml_node *ocid = get(root, "ocid");
	assert_int_equal(ocid->table.kind, TOML_TABLE_HEADER);
	assert_int_equal(ocid->line, 2);
	assert_string_equal(get_str(ocid, "root"), "/x");
	const struct toml_node *rt = get(ocid, "runtime");
	assert_int_equal(rt->table.kind, TOML_TABLE_HEADER);
	assert_int_equal(rt->line, 8);
	assert_string_equal(get_str(rt, "conmon"), "/c");
	assert_string_equal(get_str(get(get(rt, "runtimes"), "runc"), "runtime_path"),
			    "/usr/bin/runc");
	const struct toml_node *mirrors = get(get(ocid, "image"), "mirrors");
	const struct toml_node *m = get(mirrors, "docker.io");
	assert_int_equal(m->array.len, 2);
	assert_string_equal(m->array.items[1]->str, "m2");
	const struct toml_node *d = get(get(get(root, "a"), "b.c"), "d");
	assert_true(get(d, "k")->boolean);
	toml_free(root);
}

static void test_integers(void **state)
{
	(void)state;
	struct toml_node *root = parse_ok("a = 0\nb = -5\nc = +7\nd = 1_000_000\ne = 0xff\n"
					  "f = 0o17\ng = 0b101\nh = 9223372036854775807\n"
					  "i = -9223372036854775808\nj = -0\nk = 0xDEAD_beef\n");
	assert_int_equal(get_int(root, "a"), 0);
	assert_int_equal(get_int(root, "b"), -5);
	assert_int_equal(get_int(root, "c"), 7);
	assert_int_equal(get_int(root, "d"), 1000000);
	assert_int_equal(get_int(root, "e"), 255);
	assert_int_equal(get_int(root, "f"), 15);
	assert_int_equal(get_int(root, "g"), 5);
	assert_true(get_int(root, "h") == INT64_MAX);
	assert_true(get_int(root, "i") == INT64_MIN);
	assert_int_equal(get_int(root, "j"), 0);
	assert_int_equal(get_int(root, "k"), 0xdeadbeef);
	toml_free(root);
}

static void test_booleans(void **state)
{
	(void)state;
	struct toml_node *root = parse_ok("t = true\nf = false\narr = [true, false]\n");
	assert_int_equal(get(root, "t")->type, TOML_BOOLEAN);
	assert_true(get(root, "t")->boolean);
	assert_false(get(root, "f")->boolean);
	assert_false(get(root, "arr")->array.items[1]->boolean);
	toml_free(root);
}

static void test_arrays(void **state)
{
	(void)state;
	struct toml_node *root = parse_ok("empty = []\n"
					  "empty2 = [ # comment\n"
					  "]\n"
					  "one = [\"a\"]\n"
					  "multi = [\n"
					  "  \"/usr/lib/cni\",  # first\n"
					  "  # a comment line\n"
					  "  '/opt/cni/bin',\n"
					  "\n"
					  "]\n"
					  "nested = [[1, 2], [\"x\"], []]\n"
					  "mixed = [1, \"a\", true]\n"
					  "after = 1\n");
	assert_int_equal(get(root, "empty")->array.len, 0);
	assert_int_equal(get(root, "empty2")->array.len, 0);
	assert_int_equal(get(root, "one")->array.len, 1);
	const struct toml_node *multi = get(root, "multi");
	assert_int_equal(multi->line, 5);
	assert_int_equal(multi->array.len, 2);
	assert_string_equal(multi->array.items[0]->str, "/usr/lib/cni");
	assert_int_equal(multi->array.items[0]->line, 6);
	assert_string_equal(multi->array.items[1]->str, "/opt/cni/bin");
	assert_int_equal(multi->array.items[1]->line, 8);
	const struct toml_node *nested = get(root, "nested");
	assert_int_equal(nested->array.len, 3);
	assert_int_equal(nested->array.items[0]->array.items[1]->integer, 2);
	assert_int_equal(get(root, "mixed")->array.len, 3);
	assert_int_equal(get(root, "after")->line, 13);
	toml_free(root);
}

static void test_arrays_of_tables(void **state)
{
	(void)state;
	struct toml_node *root = parse_ok("[[x]]\n"
					  "name = \"a\"\n"
					  "[x.sub]\n"
					  "v = 1\n"
					  "[[x]]\n"
					  "name = \"b\"\n"
					  "[[x.inner]]\n"
					  "n = 1\n"
					  "[[x.inner]]\n"
					  "n = 2\n"
					  "[[x]]\n");
	const struct toml_node *x = get(root, "x");
	assert_int_equal(x->type, TOML_ARRAY);
	assert_true(x->array.of_tables);
	assert_int_equal(x->array.len, 3);
	assert_string_equal(get_str(x->array.items[0], "name"), "a");
	assert_int_equal(get_int(get(x->array.items[0], "sub"), "v"), 1);
	assert_string_equal(get_str(x->array.items[1], "name"), "b");
	const struct toml_node *inner = get(x->array.items[1], "inner");
	assert_int_equal(inner->array.len, 2);
	assert_int_equal(get_int(inner->array.items[1], "n"), 2);
	assert_int_equal(x->array.items[2]->table.len, 0);
	assert_int_equal(x->array.items[2]->line, 11);
	toml_free(root);
}

static void test_subtable_of_dotted_table(void **state)
{
	(void)state;
	/* TOML allows a [header] below a table made by dotted keys. */
	struct toml_node *root = parse_ok("[fruit]\n"
					  "apple.color = \"red\"\n"
					  "apple.taste.sweet = true\n"
					  "[fruit.apple.texture]\n"
					  "smooth = true\n");
	const struct toml_node *apple = get(get(root, "fruit"), "apple");
	assert_string_equal(get_str(apple, "color"), "red");
	assert_true(get(get(apple, "texture"), "smooth")->boolean);
	toml_free(root);
}

static void test_positions(void **state)
{
	(void)state;
	struct toml_node *root = parse_ok("\n\n  key = \"v\"\n[t]\nn=  42\n");
	assert_int_equal(root->table.items[0].line, 3);
	assert_int_equal(root->table.items[0].col, 3);
	const struct toml_node *v = get(root, "key");
	assert_int_equal(v->line, 3);
	assert_int_equal(v->col, 9);
	const struct toml_node *t = get(root, "t");
	assert_int_equal(t->line, 4);
	assert_int_equal(get(t, "n")->line, 5);
	assert_int_equal(get(t, "n")->col, 5);
	toml_free(root);
}

static void test_crlf_and_bom(void **state)
{
	(void)state;
	struct toml_node *root = parse_ok("\xEF\xBB\xBF"
					  "a = 1\r\n# c\r\n[t]\r\nb = [\r\n \"x\",\r\n]\r\n");
	assert_int_equal(get_int(root, "a"), 1);
	assert_int_equal(get(get(root, "t"), "b")->line, 4);
	toml_free(root);
	expect_err("a = 1\r\nb = 2\rc = 3\n", "t.toml:2:6:");
}

static void test_very_long_lines(void **state)
{
	(void)state;
	size_t n = 1 << 20;
	char *text = malloc(n + 64);
	assert_non_null(text);
	/* a 1 MiB string value, then an error on the next line */
	strcpy(text, "long = \"");
	size_t pos = strlen(text);
	memset(text + pos, 'x', n);
	pos += n;
	strcpy(text + pos, "\"\nnext = 1\n");
	struct toml_node *root = parse_ok(text);
	assert_int_equal(strlen(get_str(root, "long")), n);
	assert_int_equal(get(root, "next")->line, 2);
	toml_free(root);

	strcpy(text + pos, "\"\nbad value\n");
	expect_err(text, "t.toml:2:5:", "expected '=' after key \"bad\"");
	/* an error far into a long line reports the column */
	strcpy(text + pos, "\" junk\n");
	expect_err(text, "t.toml:1:1048587:", "after value");
	/* a very long key */
	memset(text, 'k', n);
	strcpy(text + n, " = 1\n");
	root = parse_ok(text);
	assert_int_equal(strlen(root->table.items[0].key), n);
	toml_free(root);
	free(text);
}

/* ---- malformed input ---- */

static void test_err_unterminated_string(void **state)
{
	(void)state;
	expect_err("a = 1\nb = \"abc\nc = 2\n", "t.toml:2:5:", "unterminated string");
	expect_err("a = \"abc", "t.toml:1:5:", "unterminated string");
	expect_err("a = 'abc\n", "t.toml:1:5:", "unterminated string");
	expect_err("a = \"abc\\", "t.toml:1:5:", "unterminated string");
	expect_err("\"key = 1\n", "t.toml:1:1:", "unterminated string");
}

static void test_err_bad_escape(void **state)
{
	(void)state;
	expect_err("\n\na = \"x\\qy\"\n", "t.toml:3:7:", "invalid escape sequence '\\q'");
	expect_err("a = \"\\u12\"\n", "t.toml:1:6:", "4 hex digits");
	expect_err("a = \"\\U0001F6\"\n", "t.toml:1:6:", "8 hex digits");
	expect_err("a = \"\\uD800\"\n", "t.toml:1:6:", "not a Unicode scalar value");
	expect_err("a = \"\\U00110000\"\n", "t.toml:1:6:", "not a Unicode scalar value");
	expect_err("a = \"\\u0000\"\n", "t.toml:1:6:", "NUL");
	expect_err("a = \"\\ \"\n", "t.toml:1:6:", "invalid escape sequence");
}

static void test_err_bad_string_bytes(void **state)
{
	(void)state;
	expect_err("a = \"x\x01y\"\n", "t.toml:1:7:", "control character 0x01");
	expect_err("a = 'x\x7f'\n", "t.toml:1:7:", "control character 0x7F");
	expect_err("a = \"\xc3\x28\"\n", "t.toml:1:6:", "invalid UTF-8");
	expect_err("a = \"\xed\xa0\x80\"\n", "t.toml:1:6:", "invalid UTF-8"); /* surrogate */
	expect_err("a = \"\xc0\xaf\"\n", "t.toml:1:6:", "invalid UTF-8");     /* overlong */
	expect_err_v("a = \"x\0y\"\n", 10, "t.toml:1:7:", "control character 0x00",
		     (const char *)NULL);
	expect_err_v("a = 1\0\n", 7, "t.toml:1:6:", "after value", (const char *)NULL);
	expect_err("# bad \x01 comment\n", "t.toml:1:7:", "control character");
}

static void test_err_duplicate_key(void **state)
{
	(void)state;
	expect_err("a = 1\nb = 2\na = 3\n", "t.toml:3:1:",
		   "duplicate key \"a\" (first defined at line 1)");
	expect_err("[t]\nx = 1\n\"x\" = 2\n", "t.toml:3:1:", "duplicate key \"x\"");
	expect_err("a.b = 1\na.b = 2\n", "t.toml:2:1:", "duplicate key \"a.b\"");
	expect_err("a = 1\na.b = 2\n", "t.toml:2:1:", "already defined as an integer (line 1)");
	expect_err("[m]\n\"docker.io\" = []\n'docker.io' = []\n", "t.toml:3:1:",
		   "duplicate key \"'docker.io'\"");
}

static void test_err_duplicate_table(void **state)
{
	(void)state;
	expect_err("[a]\nx = 1\n[b]\n[a]\n", "t.toml:4:1:",
		   "table [a] is defined twice (first at line 1)");
	expect_err("[a.b]\n[a]\n[a.b]\n", "t.toml:3:1:", "table [a.b] is defined twice");
	expect_err("[ocid.image.mirrors]\n[ocid.image.\"mirrors\"]\n", "t.toml:2:1:",
		   "defined twice");
	expect_err("a = 1\n[a]\n", "t.toml:2:1:", "table [a] redefines key");
	expect_err("a = 1\n[a.b]\n", "t.toml:2:2:", "cannot be a table");
	expect_err("a.b = 1\n[a]\n", "t.toml:2:1:", "already defined by dotted keys");
	expect_err("[a.b]\nx = 1\n[a]\nb.y = 2\n", "t.toml:4:1:",
		   "cannot add to table \"b\" (defined at line 1) with dotted keys");
	expect_err("[a]\n[[a]]\n", "t.toml:2:1:", "cannot define array of tables [[a]]");
	expect_err("[[a]]\n[a]\n", "t.toml:2:1:", "already an array of tables");
	expect_err("a = []\n[[a]]\n", "t.toml:2:1:", "cannot define array of tables");
	expect_err("[[a]]\nb = 1\n[a.b]\n", "t.toml:3:1:",
		   "table [a.b] redefines key \"a.b\" (an integer, defined at line 2)");
}

static void test_err_missing_equals(void **state)
{
	(void)state;
	expect_err("\n\n\n\n\n\n\n\n\n\n\nroot \"/x\"\n", "t.toml:12:6:",
		   "expected '=' after key \"root\"");
	expect_err("root\n", "t.toml:1:5:", "expected '=' after key \"root\", found end of line");
	expect_err("root", "t.toml:1:5:", "found end of file");
	expect_err("a.\"b.c\" 1\n", "t.toml:1:9:", "expected '=' after key \"a.'b.c'\"");
	expect_err("= 1\n", "t.toml:1:1:", "missing key");
	expect_err("a. = 1\n", "t.toml:1:4:", "expected a key");
}

static void test_err_key_without_value(void **state)
{
	(void)state;
	expect_err("a = 1\nb =\n", "t.toml:2:4:", "missing value for key \"b\"");
	expect_err("b = # comment\n", "t.toml:1:5:", "missing value");
	expect_err("b =", "t.toml:1:4:", "missing value");
	expect_err("b = ,\n", "t.toml:1:5:", "expected a value");
}

static void test_err_garbage_after_value(void **state)
{
	(void)state;
	expect_err("a = 1 2\n", "t.toml:1:7:", "unexpected '2' after value");
	expect_err("a = \"x\" \"y\"\n", "t.toml:1:9:", "after value");
	expect_err("a = [1] x\n", "t.toml:1:9:", "after value");
	expect_err("a = true false\n", "t.toml:1:10:", "after value");
	expect_err("[t] x = 1\n", "t.toml:1:5:", "after table header");
	expect_err("[[t]] ]\n", "t.toml:1:7:", "after array-of-tables header");
}

static void test_err_bad_integer(void **state)
{
	(void)state;
	expect_err("\na = 12a\n", "t.toml:2:5:", "invalid integer \"12a\"");
	expect_err("a = 1__2\n", "t.toml:1:5:", "invalid integer");
	expect_err("a = 1_\n", "t.toml:1:5:", "invalid integer");
	expect_err("a = 012\n", "t.toml:1:5:", "leading zeros");
	expect_err("a = 9223372036854775808\n", "t.toml:1:5:", "out of range");
	expect_err("a = -9223372036854775809\n", "t.toml:1:5:", "out of range");
	expect_err("a = 0xfg\n", "t.toml:1:5:", "invalid integer");
	expect_err("a = -0x1\n", "t.toml:1:5:", "no sign allowed");
	expect_err("a = 0x\n", "t.toml:1:5:", "invalid integer");
	expect_err("a = +\n", "t.toml:1:5:", "invalid integer");
	expect_err("a = 1.5\n", "t.toml:1:5:", "floats are not supported");
	expect_err("a = 1e6\n", "t.toml:1:5:", "floats are not supported");
	expect_err("a = inf\n", "t.toml:1:5:", "floats are not supported");
	expect_err("a = 1979-05-27\n", "t.toml:1:5:", "dates and times are not supported");
	expect_err("a = 07:32:00\n", "t.toml:1:5:", "dates and times are not supported");
}

static void test_err_bad_values(void **state)
{
	(void)state;
	expect_err("a = foo\n", "t.toml:1:5:", "invalid value \"foo\" (strings must be quoted)");
	expect_err("a = True\n", "t.toml:1:5:", "invalid value \"True\"");
	expect_err("a = { x = 1 }\n", "t.toml:1:5:", "inline tables");
	expect_err("a = \"\"\"x\"\"\"\n", "t.toml:1:5:", "multi-line strings");
	expect_err("a = '''x'''\n", "t.toml:1:5:", "multi-line strings");
	expect_err("a = @\n", "t.toml:1:5:", "expected a value", "'@'");
}

static void test_err_arrays(void **state)
{
	(void)state;
	expect_err("a = [1,\n2\n", "t.toml:1:5:", "unclosed array");
	expect_err("x = 1\na = [\"/usr/lib/cni\",\n\"/opt\"\nb = 2\n", "t.toml:2:5:",
		   "unclosed array");
	expect_err("a = [\"x\",\nb = 1\n", "t.toml:1:5:", "unclosed array");
	expect_err("a = [", "t.toml:1:5:", "unclosed array");
	expect_err("a = [[1, 2]\n", "t.toml:1:5:", "unclosed array");
	expect_err("a = [1 2]\n", "t.toml:1:8:", "expected ',' or ']' in array, found '2'");
	expect_err("a = [1,,2]\n", "t.toml:1:8:", "found ','");
	expect_err("a = [,]\n", "t.toml:1:6:", "found ','");
	expect_err("a = [bare]\n", "t.toml:1:6:", "strings must be quoted");
	/* nesting is bounded */
	char deep[200];
	memset(deep, '[', sizeof(deep) - 1);
	deep[sizeof(deep) - 1] = '\0';
	char *text = NULL;
	assert_true(asprintf(&text, "a = %s\n", deep) > 0);
	expect_err(text, "nested too deeply");
	free(text);
}

static void test_err_stray_bracket(void **state)
{
	(void)state;
	expect_err("a = 1\n]\n", "t.toml:2:1:", "unexpected ']'");
	expect_err("a = 1\n  ]]\n", "t.toml:2:3:", "unexpected ']'");
	expect_err("[a\n", "t.toml:1:3:", "expected ']' to close the table header");
	expect_err("[[a]\n", "t.toml:1:4:", "expected ']]'");
	expect_err("[[a] ]\n", "t.toml:1:4:", "expected ']]'");
	expect_err("[]\n", "t.toml:1:2:", "expected a key, found ']'");
	expect_err("[a.]\n", "t.toml:1:4:", "expected a key");
	expect_err("{\n", "t.toml:1:1:", "expected a key or a [table] header");
}

/* ---- files and writers ---- */

static void test_parse_file(void **state)
{
	(void)state;
	char dir[] = "/tmp/test_toml.XXXXXX";
	assert_non_null(mkdtemp(dir));
	char *path = NULL;
	assert_true(asprintf(&path, "%s/ocid.conf", dir) > 0);

	struct toml_node *root = NULL;
	ocid_error *err = NULL;
	assert_int_equal(toml_parse_file(path, &root, &err), -1);
	assert_int_equal(err->code, GRPC_NOT_FOUND);
	assert_non_null(strstr(err->msg, path));
	err_clear(&err);

	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("[ocid]\nroot = \"/x\"\nroot = \"/y\"\n", f);
	fclose(f);
	assert_int_equal(toml_parse_file(path, &root, &err), -1);
	char *want = NULL;
	assert_true(asprintf(&want, "%s:3:1: duplicate key \"root\"", path) > 0);
	if (strstr(err->msg, want) == NULL)
		print_error("got: %s\n", err->msg);
	assert_non_null(strstr(err->msg, want));
	free(want);
	err_clear(&err);

	f = fopen(path, "w");
	fputs("[ocid]\nroot = \"/x\"\n", f);
	fclose(f);
	assert_int_equal(toml_parse_file(path, &root, &err), 0);
	assert_string_equal(get_str(get(root, "ocid"), "root"), "/x");
	toml_free(root);

	/* a directory is not a file */
	assert_int_equal(toml_parse_file(dir, &root, &err), -1);
	assert_non_null(strstr(err->msg, "directory"));
	err_clear(&err);

	unlink(path);
	rmdir(dir);
	free(path);
}

static char *write_to_string(void (*fn)(FILE *, const char *), const char *s)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	fn(f, s);
	fclose(f);
	return out;
}

static void test_writers_round_trip(void **state)
{
	(void)state;
	const char *values[] = {"", "plain", "q\"uote", "back\\slash", "nl\nx", "tab\tx",
				"ctl\x01\x1f\x7f", "caf\xc3\xa9", "#hash", "a.b", "'single'"};
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		char *key = write_to_string(toml_write_key, values[i]);
		char *val = write_to_string(toml_write_string, values[i]);
		char *text = NULL;
		assert_true(asprintf(&text, "%s = %s\n", key, val) > 0);
		struct toml_node *root = parse_ok(text);
		assert_int_equal(root->table.len, 1);
		assert_string_equal(root->table.items[0].key, values[i]);
		assert_string_equal(root->table.items[0].value->str, values[i]);
		toml_free(root);
		free(key);
		free(val);
		free(text);
	}
	assert_true(toml_key_is_bare("runc"));
	assert_true(toml_key_is_bare("a-b_C9"));
	assert_false(toml_key_is_bare("docker.io"));
	assert_false(toml_key_is_bare(""));
	char *k = write_to_string(toml_write_key, "registry.k8s.io");
	assert_string_equal(k, "\"registry.k8s.io\"");
	free(k);
}

static void test_type_names(void **state)
{
	(void)state;
	assert_string_equal(toml_type_name(TOML_TABLE), "table");
	assert_string_equal(toml_type_name(TOML_ARRAY), "array");
	assert_string_equal(toml_type_name(TOML_STRING), "string");
	assert_string_equal(toml_type_name(TOML_INTEGER), "integer");
	assert_string_equal(toml_type_name(TOML_BOOLEAN), "boolean");
	assert_null(toml_get(NULL, "x"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_input),
		cmocka_unit_test(test_comments_and_strings),
		cmocka_unit_test(test_escapes),
		cmocka_unit_test(test_quoted_and_dotted_keys),
		cmocka_unit_test(test_table_headers),
		cmocka_unit_test(test_integers),
		cmocka_unit_test(test_booleans),
		cmocka_unit_test(test_arrays),
		cmocka_unit_test(test_arrays_of_tables),
		cmocka_unit_test(test_subtable_of_dotted_table),
		cmocka_unit_test(test_positions),
		cmocka_unit_test(test_crlf_and_bom),
		cmocka_unit_test(test_very_long_lines),
		cmocka_unit_test(test_err_unterminated_string),
		cmocka_unit_test(test_err_bad_escape),
		cmocka_unit_test(test_err_bad_string_bytes),
		cmocka_unit_test(test_err_duplicate_key),
		cmocka_unit_test(test_err_duplicate_table),
		cmocka_unit_test(test_err_missing_equals),
		cmocka_unit_test(test_err_key_without_value),
		cmocka_unit_test(test_err_garbage_after_value),
		cmocka_unit_test(test_err_bad_integer),
		cmocka_unit_test(test_err_bad_values),
		cmocka_unit_test(test_err_arrays),
		cmocka_unit_test(test_err_stray_bracket),
		cmocka_unit_test(test_parse_file),
		cmocka_unit_test(test_writers_round_trip),
		cmocka_unit_test(test_type_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
