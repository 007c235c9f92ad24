/* util/pbjson: proto3 JSON mapping over protobuf-c descriptors, against the
 * test schema in pbjson_test.proto (one field of every kind). Leaks on the
 * error paths are caught by running this under ASan/LSan. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <float.h>
#include <math.h>
#include <cmocka.h>

#include "pbjson_test.pb-c.h"
#include "util/pbjson.h"

/* ---- helpers ---------------------------------------------------------- */

static json_t *load(const char *text)
{
	json_error_t je;
	json_t *j = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
	if (j == NULL)
		fail_msg("bad test JSON: %s: %s", text, je.text);
	return j;
}

static ProtobufCMessage *parse_ok(const ProtobufCMessageDescriptor *d, const char *text)
{
	json_t *j = load(text);
	ProtobufCMessage *m = NULL;
	ocid_error *err = NULL;
	int r = pbjson_to_message(d, j, &m, &err);
	json_decref(j);
	if (r != 0)
		fail_msg("unexpected error for %s: %s", text, err ? err->msg : "?");
	assert_null(err);
	assert_non_null(m);
	return m;
}

/* Asserts that text is rejected with INVALID_ARGUMENT and exactly want. */
static void expect_error(const ProtobufCMessageDescriptor *d, const char *text, const char *want)
{
	json_t *j = load(text);
	ProtobufCMessage *m = (ProtobufCMessage *)0x1;
	ocid_error *err = NULL;
	int r = pbjson_to_message(d, j, &m, &err);
	json_decref(j);
	assert_int_equal(r, -1);
	assert_null(m);
	assert_non_null(err);
	assert_int_equal(err->code, GRPC_INVALID_ARGUMENT);
	if (strcmp(err->msg, want) != 0)
		fail_msg("input %s\n  want: %s\n  got:  %s", text, want, err->msg);
	err_free(err);
}

static char *dump(const ProtobufCMessage *m)
{
	json_t *j = pbjson_from_message(m);
	assert_non_null(j);
	char *s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(17));
	json_decref(j);
	assert_non_null(s);
	return s;
}

static void assert_dump(const ProtobufCMessage *m, const char *want)
{
	char *s = dump(m);
	if (strcmp(s, want) != 0)
		fail_msg("\n  want: %s\n  got:  %s", want, s);
	free(s);
}

static uint8_t *pack(const ProtobufCMessage *m, size_t *len)
{
	*len = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = malloc(*len ? *len : 1);
	assert_non_null(buf);
	assert_int_equal(protobuf_c_message_pack(m, buf), *len);
	return buf;
}

static void assert_same_wire(const ProtobufCMessage *a, const ProtobufCMessage *b)
{
	size_t la, lb;
	uint8_t *pa = pack(a, &la), *pb = pack(b, &lb);
	assert_int_equal(la, lb);
	assert_memory_equal(pa, pb, la);
	free(pa);
	free(pb);
}

#define ALL_D (&pbjson__test__all__descriptor)
#define SCALARS_D (&pbjson__test__scalars__descriptor)

/* ---- output ----------------------------------------------------------- */

static void test_defaults_emitted(void **state)
{
	(void)state;
	Pbjson__Test__All all = PBJSON__TEST__ALL__INIT;
	/* Unset sub-messages and oneof are omitted; everything else is there. */
	assert_dump(&all.base,
		    "{\"snakeCaseName\":\"\",\"intList\":[],\"longList\":[],\"strList\":[],"
		    "\"blobList\":[],\"boolList\":[],\"dblList\":[],\"colorList\":[],\"innerList\":[],"
		    "\"labels\":{},\"innerById\":{},\"byFlag\":{},\"colorByU64\":{},\"aFloat\":0.0,"
		    "\"x2y\":0}");
	Pbjson__Test__Scalars sc = PBJSON__TEST__SCALARS__INIT;
	assert_dump(&sc.base,
		    "{\"i32\":0,\"s32\":0,\"sf32\":0,\"u32\":0,\"f32\":0,\"i64\":\"0\",\"s64\":\"0\","
		    "\"sf64\":\"0\",\"u64\":\"0\",\"f64\":\"0\",\"flt\":0.0,\"dbl\":0.0,\"flag\":false,"
		    "\"str\":\"\",\"blob\":\"\",\"color\":\"COLOR_UNSPECIFIED\"}");
}

static void test_scalar_output_forms(void **state)
{
	(void)state;
	uint8_t bytes[] = { 0xfb, 0xff, 0xbf, 'h', 'i' };
	Pbjson__Test__Scalars sc = PBJSON__TEST__SCALARS__INIT;
	sc.i32 = INT32_MIN;
	sc.s32 = -7;
	sc.sf32 = INT32_MAX;
	sc.u32 = UINT32_MAX;
	sc.f32 = 9;
	sc.i64 = INT64_MIN;
	sc.s64 = -1;
	sc.sf64 = INT64_MAX;
	sc.u64 = UINT64_MAX;
	sc.f64 = 12345678901234ULL;
	sc.flt = 0.1f;
	sc.dbl = 2.5;
	sc.flag = 1;
	sc.str = "h\xc3\xa9llo";
	sc.blob.data = bytes;
	sc.blob.len = sizeof(bytes);
	sc.color = PBJSON__TEST__COLOR__BLUE;
	assert_dump(&sc.base,
		    "{\"i32\":-2147483648,\"s32\":-7,\"sf32\":2147483647,\"u32\":4294967295,\"f32\":9,"
		    "\"i64\":\"-9223372036854775808\",\"s64\":\"-1\",\"sf64\":\"9223372036854775807\","
		    "\"u64\":\"18446744073709551615\",\"f64\":\"12345678901234\",\"flt\":0.10000000000000001,"
		    "\"dbl\":2.5,\"flag\":true,\"str\":\"h\xc3\xa9llo\",\"blob\":\"+/+/aGk=\","
		    "\"color\":\"BLUE\"}");

	/* A float is widened through its shortest decimal: 0.1f -> 0.1. */
	json_t *j = pbjson_from_message(&sc.base);
	assert_true(json_real_value(json_object_get(j, "flt")) == 0.1);
	json_decref(j);

	/* Non-finite floats, enum numbers without a name, bad UTF-8. */
	sc.flt = NAN;
	sc.dbl = -INFINITY;
	sc.color = 7;
	sc.str = "a\xff" "b";
	sc.blob.len = 1;
	j = pbjson_from_message(&sc.base);
	assert_string_equal(json_string_value(json_object_get(j, "flt")), "NaN");
	assert_string_equal(json_string_value(json_object_get(j, "dbl")), "-Infinity");
	assert_int_equal(json_integer_value(json_object_get(j, "color")), 7);
	assert_string_equal(json_string_value(json_object_get(j, "str")), "a\xef\xbf\xbd" "b");
	assert_string_equal(json_string_value(json_object_get(j, "blob")), "+w==");
	json_decref(j);
	sc.dbl = INFINITY;
	sc.blob.len = 2;
	j = pbjson_from_message(&sc.base);
	assert_string_equal(json_string_value(json_object_get(j, "dbl")), "Infinity");
	assert_string_equal(json_string_value(json_object_get(j, "blob")), "+/8=");
	json_decref(j);
}

static void test_oneof_output(void **state)
{
	(void)state;
	Pbjson__Test__All all = PBJSON__TEST__ALL__INIT;
	all.choice_case = PBJSON__TEST__ALL__CHOICE_CHOICE_NUM;
	all.choice_num = 5;
	json_t *j = pbjson_from_message(&all.base);
	assert_string_equal(json_string_value(json_object_get(j, "choiceNum")), "5");
	assert_null(json_object_get(j, "choiceStr"));
	assert_null(json_object_get(j, "choiceInner"));
	json_decref(j);

	/* A selected message member that is NULL shows as the default instance. */
	all.choice_case = PBJSON__TEST__ALL__CHOICE_CHOICE_INNER;
	all.choice_inner = NULL;
	j = pbjson_from_message(&all.base);
	char *s = json_dumps(json_object_get(j, "choiceInner"), JSON_COMPACT);
	assert_string_equal(s, "{\"name\":\"\",\"attempt\":0,\"tags\":[]}");
	free(s);
	assert_null(json_object_get(j, "choiceNum"));
	json_decref(j);
}

static void test_map_output(void **state)
{
	(void)state;
	Pbjson__Test__Inner in = PBJSON__TEST__INNER__INIT;
	in.name = "x";
	Pbjson__Test__All__InnerByIdEntry e1 = PBJSON__TEST__ALL__INNER_BY_ID_ENTRY__INIT;
	Pbjson__Test__All__InnerByIdEntry e2 = PBJSON__TEST__ALL__INNER_BY_ID_ENTRY__INIT;
	e1.key = -5;
	e1.value = &in;
	e2.key = 3; /* value NULL: the default instance */
	Pbjson__Test__All__InnerByIdEntry *ibi[] = { &e1, &e2 };

	Pbjson__Test__All__LabelsEntry l1 = PBJSON__TEST__ALL__LABELS_ENTRY__INIT;
	Pbjson__Test__All__LabelsEntry l2 = PBJSON__TEST__ALL__LABELS_ENTRY__INIT;
	l1.key = "k";
	l1.value = "first";
	l2.key = "k";
	l2.value = "last"; /* repeated key: last one wins, as on the wire */
	Pbjson__Test__All__LabelsEntry *labels[] = { &l1, &l2 };

	Pbjson__Test__All__ByFlagEntry b1 = PBJSON__TEST__ALL__BY_FLAG_ENTRY__INIT;
	b1.key = 1;
	b1.value = -3;
	Pbjson__Test__All__ByFlagEntry *bf[] = { &b1 };
	Pbjson__Test__All__ColorByU64Entry c1 = PBJSON__TEST__ALL__COLOR_BY_U64_ENTRY__INIT;
	c1.key = UINT64_MAX;
	c1.value = PBJSON__TEST__COLOR__GREEN;
	Pbjson__Test__All__ColorByU64Entry *cu[] = { &c1 };

	Pbjson__Test__All all = PBJSON__TEST__ALL__INIT;
	all.n_inner_by_id = 2;
	all.inner_by_id = ibi;
	all.n_labels = 2;
	all.labels = labels;
	all.n_by_flag = 1;
	all.by_flag = bf;
	all.n_color_by_u64 = 1;
	all.color_by_u64 = cu;
	json_t *j = pbjson_from_message(&all.base);
	char *s = json_dumps(json_object_get(j, "innerById"), JSON_COMPACT);
	assert_string_equal(s, "{\"-5\":{\"name\":\"x\",\"attempt\":0,\"tags\":[]},"
			       "\"3\":{\"name\":\"\",\"attempt\":0,\"tags\":[]}}");
	free(s);
	s = json_dumps(json_object_get(j, "labels"), JSON_COMPACT);
	assert_string_equal(s, "{\"k\":\"last\"}");
	free(s);
	s = json_dumps(json_object_get(j, "byFlag"), JSON_COMPACT);
	assert_string_equal(s, "{\"true\":\"-3\"}");
	free(s);
	s = json_dumps(json_object_get(j, "colorByU64"), JSON_COMPACT);
	assert_string_equal(s, "{\"18446744073709551615\":\"GREEN\"}");
	free(s);
	json_decref(j);
}

/* A top-level FakeEntry has key/value fields but is not nested in its user:
 * it stays a repeated message (array of objects), both ways. */
static void test_lookalike_entry_is_not_a_map(void **state)
{
	(void)state;
	Pbjson__Test__FakeEntry fe = PBJSON__TEST__FAKE_ENTRY__INIT;
	fe.key = "a";
	fe.value = "b";
	Pbjson__Test__FakeEntry *arr[] = { &fe };
	Pbjson__Test__UsesFake uf = PBJSON__TEST__USES_FAKE__INIT;
	uf.n_entries = 1;
	uf.entries = arr;
	assert_dump(&uf.base, "{\"entries\":[{\"key\":\"a\",\"value\":\"b\"}]}");

	ProtobufCMessage *m = parse_ok(&pbjson__test__uses_fake__descriptor,
				       "{\"entries\":[{\"key\":\"a\",\"value\":\"b\"}]}");
	assert_same_wire(m, &uf.base);
	protobuf_c_message_free_unpacked(m, NULL);
	expect_error(&pbjson__test__uses_fake__descriptor, "{\"entries\":{\"a\":\"b\"}}",
		     "entries: expected an array, got object");
}

/* ---- round trips -------------------------------------------------------- */

static void test_roundtrip_everything(void **state)
{
	(void)state;
	uint8_t bytes[256];
	for (int i = 0; i < 256; i++)
		bytes[i] = (uint8_t)i;

	Pbjson__Test__Scalars sc = PBJSON__TEST__SCALARS__INIT;
	sc.i32 = INT32_MIN;
	sc.s32 = INT32_MAX;
	sc.sf32 = -1;
	sc.u32 = UINT32_MAX;
	sc.f32 = 1;
	sc.i64 = INT64_MIN;
	sc.s64 = INT64_MAX;
	sc.sf64 = -2;
	sc.u64 = UINT64_MAX;
	sc.f64 = 1ULL << 63;
	sc.flt = 3.4028235e38f;
	sc.dbl = -1e-300;
	sc.flag = 1;
	sc.str = "snow \xe2\x98\x83 \"quoted\" \\ \n";
	sc.blob.data = bytes;
	sc.blob.len = sizeof(bytes);
	sc.color = PBJSON__TEST__COLOR__GREEN;

	char *tags[] = { "a", "", "c" };
	Pbjson__Test__Inner inner = PBJSON__TEST__INNER__INIT;
	inner.name = "inner";
	inner.attempt = 4;
	inner.n_tags = 3;
	inner.tags = tags;

	int32_t ints[] = { 1, -2, INT32_MAX };
	int64_t longs[] = { INT64_MIN, 0, 99 };
	char *strs[] = { "x", "y" };
	ProtobufCBinaryData blobs[] = { { 0, NULL }, { 3, bytes + 1 }, { 1, bytes + 255 } };
	protobuf_c_boolean bools[] = { 1, 0, 1 };
	double dbls[] = { 0.5, -1e10, 3 };
	Pbjson__Test__Color colors[] = { PBJSON__TEST__COLOR__RED, PBJSON__TEST__COLOR__BLUE };
	Pbjson__Test__Inner i1 = PBJSON__TEST__INNER__INIT, i2 = PBJSON__TEST__INNER__INIT;
	i1.name = "one";
	i2.attempt = -9;
	Pbjson__Test__Inner *inners[] = { &i1, &i2 };

	Pbjson__Test__All__LabelsEntry l1 = PBJSON__TEST__ALL__LABELS_ENTRY__INIT,
				       l2 = PBJSON__TEST__ALL__LABELS_ENTRY__INIT;
	l1.key = "app";
	l1.value = "web";
	l2.key = "io.kubernetes/x";
	l2.value = "";
	Pbjson__Test__All__LabelsEntry *labels[] = { &l1, &l2 };
	Pbjson__Test__All__InnerByIdEntry e1 = PBJSON__TEST__ALL__INNER_BY_ID_ENTRY__INIT;
	e1.key = INT32_MIN;
	e1.value = &i1;
	Pbjson__Test__All__InnerByIdEntry *ibi[] = { &e1 };
	Pbjson__Test__All__ByFlagEntry b1 = PBJSON__TEST__ALL__BY_FLAG_ENTRY__INIT,
				       b2 = PBJSON__TEST__ALL__BY_FLAG_ENTRY__INIT;
	b1.key = 0;
	b1.value = INT64_MAX;
	b2.key = 1;
	b2.value = 1;
	Pbjson__Test__All__ByFlagEntry *bf[] = { &b1, &b2 };
	Pbjson__Test__All__ColorByU64Entry c1 = PBJSON__TEST__ALL__COLOR_BY_U64_ENTRY__INIT;
	c1.key = 42;
	c1.value = PBJSON__TEST__COLOR__BLUE;
	Pbjson__Test__All__ColorByU64Entry *cu[] = { &c1 };

	Pbjson__Test__All all = PBJSON__TEST__ALL__INIT;
	all.scalars = &sc;
	all.inner = &inner;
	all.snake_case_name = "snake";
	all.n_int_list = 3;
	all.int_list = ints;
	all.n_long_list = 3;
	all.long_list = longs;
	all.n_str_list = 2;
	all.str_list = strs;
	all.n_blob_list = 3;
	all.blob_list = blobs;
	all.n_bool_list = 3;
	all.bool_list = bools;
	all.n_dbl_list = 3;
	all.dbl_list = dbls;
	all.n_color_list = 2;
	all.color_list = colors;
	all.n_inner_list = 2;
	all.inner_list = inners;
	all.n_labels = 2;
	all.labels = labels;
	all.n_inner_by_id = 1;
	all.inner_by_id = ibi;
	all.n_by_flag = 2;
	all.by_flag = bf;
	all.n_color_by_u64 = 1;
	all.color_by_u64 = cu;
	all.choice_case = PBJSON__TEST__ALL__CHOICE_CHOICE_INNER;
	all.choice_inner = &i2;
	all.a_float = -0.75f;
	all.x_2y = 77;

	/* message -> JSON text -> JSON -> message: same wire bytes, same JSON. */
	char *text = dump(&all.base);
	ProtobufCMessage *back = parse_ok(ALL_D, text);
	assert_same_wire(&all.base, back);
	char *text2 = dump(back);
	assert_string_equal(text, text2);
	free(text2);
	protobuf_c_message_free_unpacked(back, NULL);
	free(text);

	/* And through the wire: unpacked messages convert the same way. */
	size_t len;
	uint8_t *wire = pack(&all.base, &len);
	ProtobufCMessage *un = protobuf_c_message_unpack(ALL_D, NULL, len, wire);
	assert_non_null(un);
	text = dump(un);
	back = parse_ok(ALL_D, text);
	assert_same_wire(un, back);
	protobuf_c_message_free_unpacked(back, NULL);
	protobuf_c_message_free_unpacked(un, NULL);
	free(wire);
	free(text);

	/* Oneof with a scalar and a string member. */
	all.choice_case = PBJSON__TEST__ALL__CHOICE_CHOICE_STR;
	all.choice_str = "chosen";
	text = dump(&all.base);
	back = parse_ok(ALL_D, text);
	assert_same_wire(&all.base, back);
	protobuf_c_message_free_unpacked(back, NULL);
	free(text);
	all.choice_case = PBJSON__TEST__ALL__CHOICE_CHOICE_NUM;
	all.choice_num = INT64_MIN;
	text = dump(&all.base);
	back = parse_ok(ALL_D, text);
	assert_same_wire(&all.base, back);
	protobuf_c_message_free_unpacked(back, NULL);
	free(text);
}

/* ---- input -------------------------------------------------------------- */

static void test_camel_and_snake_names(void **state)
{
	(void)state;
	ProtobufCMessage *a = parse_ok(ALL_D,
		"{\"snakeCaseName\":\"s\",\"intList\":[1,2],\"innerById\":{\"1\":{\"name\":\"n\"}},"
		"\"choiceNum\":\"3\",\"aFloat\":1.5,\"x2y\":4,\"colorByU64\":{\"5\":\"RED\"}}");
	ProtobufCMessage *b = parse_ok(ALL_D,
		"{\"snake_case_name\":\"s\",\"int_list\":[1,2],\"inner_by_id\":{\"1\":{\"name\":\"n\"}},"
		"\"choice_num\":3,\"a_float\":1.5,\"x_2y\":4,\"color_by_u64\":{\"5\":1}}");
	assert_same_wire(a, b);
	Pbjson__Test__All *all = (Pbjson__Test__All *)a;
	assert_string_equal(all->snake_case_name, "s");
	assert_int_equal(all->n_int_list, 2);
	assert_int_equal(all->int_list[1], 2);
	assert_int_equal(all->n_inner_by_id, 1);
	assert_int_equal(all->inner_by_id[0]->key, 1);
	assert_string_equal(all->inner_by_id[0]->value->name, "n");
	assert_int_equal(all->choice_case, PBJSON__TEST__ALL__CHOICE_CHOICE_NUM);
	assert_int_equal(all->choice_num, 3);
	assert_true(all->a_float == 1.5f);
	assert_int_equal(all->x_2y, 4);
	assert_int_equal(all->color_by_u64[0]->key, 5);
	assert_int_equal(all->color_by_u64[0]->value, PBJSON__TEST__COLOR__RED);
	protobuf_c_message_free_unpacked(a, NULL);
	protobuf_c_message_free_unpacked(b, NULL);

	/* Mixed spellings in one object are fine as long as each field is once. */
	ProtobufCMessage *c = parse_ok(ALL_D, "{\"snake_case_name\":\"s\",\"intList\":[]}");
	protobuf_c_message_free_unpacked(c, NULL);
}

static void test_integers_accept_numbers_and_strings(void **state)
{
	(void)state;
	ProtobufCMessage *m = parse_ok(SCALARS_D,
		"{\"i32\":\"-12\",\"s32\":1e3,\"sf32\":-2147483648,\"u32\":\"4294967295\","
		"\"f32\":4294967295,\"i64\":\"-9223372036854775808\",\"s64\":9223372036854775807,"
		"\"sf64\":\"0\",\"u64\":\"18446744073709551615\",\"f64\":1e19,\"flt\":3,"
		"\"dbl\":\"2.5e-3\"}");
	Pbjson__Test__Scalars *sc = (Pbjson__Test__Scalars *)m;
	assert_int_equal(sc->i32, -12);
	assert_int_equal(sc->s32, 1000);
	assert_int_equal(sc->sf32, INT32_MIN);
	assert_int_equal(sc->u32, UINT32_MAX);
	assert_int_equal(sc->f32, UINT32_MAX);
	assert_true(sc->i64 == INT64_MIN);
	assert_true(sc->s64 == INT64_MAX);
	assert_true(sc->sf64 == 0);
	assert_true(sc->u64 == UINT64_MAX);
	assert_true(sc->f64 == 10000000000000000000ULL);
	assert_true(sc->flt == 3.0f);
	assert_true(sc->dbl == 2.5e-3);
	protobuf_c_message_free_unpacked(m, NULL);

	m = parse_ok(SCALARS_D, "{\"flt\":\"NaN\",\"dbl\":\"-Infinity\"}");
	sc = (Pbjson__Test__Scalars *)m;
	assert_true(isnan(sc->flt));
	assert_true(isinf(sc->dbl) && sc->dbl < 0);
	protobuf_c_message_free_unpacked(m, NULL);
	m = parse_ok(SCALARS_D, "{\"flt\":\"Infinity\",\"dbl\":\"NaN\",\"u64\":\"-0\"}");
	sc = (Pbjson__Test__Scalars *)m;
	assert_true(isinf(sc->flt) && sc->flt > 0);
	assert_true(isnan(sc->dbl));
	protobuf_c_message_free_unpacked(m, NULL);
}

static void test_enum_input(void **state)
{
	(void)state;
	ProtobufCMessage *m = parse_ok(ALL_D,
		"{\"scalars\":{\"color\":\"GREEN\"},\"colorList\":[\"RED\",5,9,\"COLOR_UNSPECIFIED\"]}");
	Pbjson__Test__All *all = (Pbjson__Test__All *)m;
	assert_int_equal(all->scalars->color, PBJSON__TEST__COLOR__GREEN);
	assert_int_equal(all->n_color_list, 4);
	assert_int_equal(all->color_list[0], PBJSON__TEST__COLOR__RED);
	assert_int_equal(all->color_list[1], PBJSON__TEST__COLOR__BLUE);
	assert_int_equal(all->color_list[2], 9); /* open enum: unknown numbers kept */
	assert_int_equal(all->color_list[3], 0);
	json_t *j = pbjson_from_message(m);
	char *s = json_dumps(json_object_get(j, "colorList"), JSON_COMPACT);
	assert_string_equal(s, "[\"RED\",\"BLUE\",9,\"COLOR_UNSPECIFIED\"]");
	free(s);
	json_decref(j);
	protobuf_c_message_free_unpacked(m, NULL);
}

static void test_bytes_base64_variants(void **state)
{
	(void)state;
	ProtobufCMessage *m = parse_ok(ALL_D,
		"{\"blobList\":[\"aGVsbG8=\",\"aGVsbG8\",\"-_-_\",\"+/+/\",\"\",\"aGk\",\"aGk=\","
		"\"YQ==\",\"YQ\"]}");
	Pbjson__Test__All *all = (Pbjson__Test__All *)m;
	assert_int_equal(all->n_blob_list, 9);
	assert_int_equal(all->blob_list[0].len, 5);
	assert_memory_equal(all->blob_list[0].data, "hello", 5);
	assert_int_equal(all->blob_list[1].len, 5);
	assert_memory_equal(all->blob_list[1].data, "hello", 5);
	const uint8_t fbffbf[] = { 0xfb, 0xff, 0xbf };
	assert_int_equal(all->blob_list[2].len, 3);
	assert_memory_equal(all->blob_list[2].data, fbffbf, 3);
	assert_memory_equal(all->blob_list[3].data, fbffbf, 3);
	assert_int_equal(all->blob_list[4].len, 0);
	assert_int_equal(all->blob_list[5].len, 2);
	assert_memory_equal(all->blob_list[6].data, "hi", 2);
	assert_int_equal(all->blob_list[7].len, 1);
	assert_int_equal(all->blob_list[8].len, 1);
	assert_memory_equal(all->blob_list[8].data, "a", 1);
	json_t *j = pbjson_from_message(m);
	char *s = json_dumps(json_object_get(j, "blobList"), JSON_COMPACT);
	/* Output is always the standard alphabet with padding. */
	assert_string_equal(s, "[\"aGVsbG8=\",\"aGVsbG8=\",\"+/+/\",\"+/+/\",\"\",\"aGk=\",\"aGk=\","
			       "\"YQ==\",\"YQ==\"]");
	free(s);
	json_decref(j);
	protobuf_c_message_free_unpacked(m, NULL);

	m = parse_ok(SCALARS_D, "{\"blob\":\"AAEC\"}");
	Pbjson__Test__Scalars *sc = (Pbjson__Test__Scalars *)m;
	assert_int_equal(sc->blob.len, 3);
	assert_int_equal(sc->blob.data[2], 2);
	protobuf_c_message_free_unpacked(m, NULL);
}

static void test_null_leaves_default(void **state)
{
	(void)state;
	ProtobufCMessage *m = parse_ok(ALL_D,
		"{\"scalars\":null,\"inner\":null,\"snakeCaseName\":null,\"intList\":null,"
		"\"labels\":null,\"choiceStr\":null,\"choiceInner\":null,\"aFloat\":null}");
	Pbjson__Test__All def = PBJSON__TEST__ALL__INIT;
	assert_same_wire(m, &def.base);
	Pbjson__Test__All *all = (Pbjson__Test__All *)m;
	assert_null(all->scalars);
	assert_string_equal(all->snake_case_name, "");
	assert_int_equal(all->choice_case, PBJSON__TEST__ALL__CHOICE__NOT_SET);
	protobuf_c_message_free_unpacked(m, NULL);

	/* A null oneof member does not count as setting the oneof. */
	m = parse_ok(ALL_D, "{\"choiceStr\":null,\"choiceInner\":{\"name\":\"q\"}}");
	all = (Pbjson__Test__All *)m;
	assert_int_equal(all->choice_case, PBJSON__TEST__ALL__CHOICE_CHOICE_INNER);
	assert_string_equal(all->choice_inner->name, "q");
	protobuf_c_message_free_unpacked(m, NULL);

	/* Empty containers stay empty. */
	m = parse_ok(ALL_D, "{\"intList\":[],\"labels\":{},\"scalars\":{}}");
	all = (Pbjson__Test__All *)m;
	assert_int_equal(all->n_int_list, 0);
	assert_int_equal(all->n_labels, 0);
	assert_non_null(all->scalars);
	protobuf_c_message_free_unpacked(m, NULL);
}

static void test_error_unknown_field(void **state)
{
	(void)state;
	expect_error(ALL_D, "{\"foo\":1}", "unknown field \"foo\" in pbjson.test.All");
	expect_error(ALL_D, "{\"inner\":{\"nme\":\"x\"}}",
		     "inner: unknown field \"nme\" in pbjson.test.Inner");
	expect_error(ALL_D, "{\"innerList\":[{},{\"Name\":\"x\"}]}",
		     "innerList[1]: unknown field \"Name\" in pbjson.test.Inner");
	/* Neither spelling is case-folded. */
	expect_error(ALL_D, "{\"SnakeCaseName\":\"\"}",
		     "unknown field \"SnakeCaseName\" in pbjson.test.All");
	expect_error(ALL_D, "{\"snake_caseName\":\"\"}",
		     "unknown field \"snake_caseName\" in pbjson.test.All");

	/* A NUL inside a key (the parser refuses them, but a built object can
	 * have one) does not cut it down to a known name. */
	json_t *o = json_object(), *labels = json_object();
	json_object_setn_new(o, "x2y\0z", 5, json_integer(1));
	ProtobufCMessage *m = NULL;
	ocid_error *err = NULL;
	assert_int_equal(pbjson_to_message(ALL_D, o, &m, &err), -1);
	assert_string_equal(err->msg, "unknown field \"x2y\" in pbjson.test.All");
	err_clear(&err);
	json_object_clear(o);
	json_object_setn_new(labels, "a\0b", 3, json_string("v"));
	json_object_set_new(o, "labels", labels);
	assert_int_equal(pbjson_to_message(ALL_D, o, &m, &err), -1);
	assert_string_equal(err->msg, "labels[\"a\"]: map key contains a NUL character");
	err_clear(&err);
	json_decref(o);

	/* Long untrusted keys are cut in the message. */
	char key[400], text[500], want[300];
	memset(key, 'k', sizeof(key) - 1);
	key[sizeof(key) - 1] = '\0';
	snprintf(text, sizeof(text), "{\"%s\":1}", key);
	snprintf(want, sizeof(want), "unknown field \"%.128s...\" in pbjson.test.All", key);
	expect_error(ALL_D, text, want);
	/* ... and never inside a UTF-8 sequence: 100 + 9 * 3 bytes, not 128. */
	char euros[100 + 20 * 3 + 1];
	memset(euros, 'k', 100);
	for (int i = 0; i < 20; i++)
		memcpy(euros + 100 + i * 3, "\xe2\x82\xac", 3);
	euros[sizeof(euros) - 1] = '\0';
	snprintf(text, sizeof(text), "{\"scalars\":{\"color\":\"%s\"}}", euros);
	snprintf(want, sizeof(want), "scalars.color: unknown value \"%.127s...\" for enum pbjson.test.Color",
		 euros);
	expect_error(ALL_D, text, want);
}

static void test_error_wrong_type(void **state)
{
	(void)state;
	expect_error(ALL_D, "[1]", "expected an object, got array");
	expect_error(ALL_D, "{\"inner\":{\"attempt\":\"abc\"}}",
		     "inner.attempt: expected an integer, got string");
	expect_error(ALL_D, "{\"inner\":{\"attempt\":\" 1\"}}",
		     "inner.attempt: expected an integer, got string");
	expect_error(ALL_D, "{\"inner\":{\"attempt\":true}}",
		     "inner.attempt: expected an integer, got boolean");
	expect_error(ALL_D, "{\"scalars\":{\"i32\":1.5}}",
		     "scalars.i32: expected an integer, got number 1.5");
	expect_error(ALL_D, "{\"scalars\":{\"u64\":[]}}",
		     "scalars.u64: expected an integer, got array");
	expect_error(ALL_D, "{\"scalars\":{\"flag\":1}}",
		     "scalars.flag: expected a boolean, got integer");
	expect_error(ALL_D, "{\"scalars\":{\"flag\":\"true\"}}",
		     "scalars.flag: expected a boolean, got string");
	expect_error(ALL_D, "{\"scalars\":{\"str\":5}}",
		     "scalars.str: expected a string, got integer");
	expect_error(ALL_D, "{\"scalars\":{\"str\":\"a\\u0000b\"}}",
		     "scalars.str: string contains a NUL character");
	expect_error(ALL_D, "{\"scalars\":{\"dbl\":\"abc\"}}",
		     "scalars.dbl: expected a number, got string");
	expect_error(ALL_D, "{\"scalars\":{\"dbl\":\"0x10\"}}",
		     "scalars.dbl: expected a number, got string");
	expect_error(ALL_D, "{\"scalars\":{\"dbl\":\"inf\"}}",
		     "scalars.dbl: expected a number, got string");
	expect_error(ALL_D, "{\"scalars\":{\"flt\":{}}}",
		     "scalars.flt: expected a number, got object");
	expect_error(ALL_D, "{\"scalars\":{\"blob\":12}}",
		     "scalars.blob: expected a base64 string, got integer");
	expect_error(ALL_D, "{\"scalars\":{\"color\":true}}",
		     "scalars.color: expected an enum name or number, got boolean");
	expect_error(ALL_D, "{\"inner\":\"x\"}", "inner: expected an object, got string");
	expect_error(ALL_D, "{\"labels\":[]}", "labels: expected an object, got array");
	expect_error(ALL_D, "{\"labels\":{\"a\":1}}", "labels[\"a\"]: expected a string, got integer");
	expect_error(ALL_D, "{\"labels\":{\"a\":null}}",
		     "labels[\"a\"]: null is not allowed as a map value");
	expect_error(ALL_D, "{\"intList\":{}}", "intList: expected an array, got object");
	expect_error(ALL_D, "{\"intList\":[1,null]}", "intList[1]: null is not allowed in an array");
	expect_error(ALL_D, "{\"innerList\":[{},{\"attempt\":\"x\"}]}",
		     "innerList[1].attempt: expected an integer, got string");
	expect_error(ALL_D, "{\"innerList\":[5]}", "innerList[0]: expected an object, got integer");
	expect_error(ALL_D, "{\"innerById\":{\"7\":{\"name\":5}}}",
		     "innerById[\"7\"].name: expected a string, got integer");
	expect_error(ALL_D, "{\"innerById\":{\"x\":{}}}",
		     "innerById[\"x\"]: invalid map key: expected an integer");
	expect_error(ALL_D, "{\"byFlag\":{\"yes\":\"1\"}}",
		     "byFlag[\"yes\"]: invalid map key: expected \"true\" or \"false\"");
	expect_error(ALL_D, "{\"colorByU64\":{\"-1\":\"RED\"}}",
		     "colorByU64[\"-1\"]: invalid map key: out of range for uint64");
	/* Snake-case keys appear in the path as written. */
	expect_error(ALL_D, "{\"inner_list\":[{\"attempt\":[]}]}",
		     "inner_list[0].attempt: expected an integer, got array");
}

static void test_error_out_of_range(void **state)
{
	(void)state;
	expect_error(ALL_D, "{\"scalars\":{\"i32\":1e12}}",
		     "scalars.i32: value 1000000000000 out of range for int32");
	expect_error(ALL_D, "{\"scalars\":{\"i32\":2147483648}}",
		     "scalars.i32: value 2147483648 out of range for int32");
	expect_error(ALL_D, "{\"scalars\":{\"s32\":\"-2147483649\"}}",
		     "scalars.s32: value -2147483649 out of range for int32");
	expect_error(ALL_D, "{\"scalars\":{\"u32\":-1}}",
		     "scalars.u32: value -1 out of range for uint32");
	expect_error(ALL_D, "{\"scalars\":{\"f32\":\"4294967296\"}}",
		     "scalars.f32: value 4294967296 out of range for uint32");
	expect_error(ALL_D, "{\"scalars\":{\"i64\":\"9223372036854775808\"}}",
		     "scalars.i64: value out of range for int64");
	expect_error(ALL_D, "{\"scalars\":{\"i64\":1e19}}",
		     "scalars.i64: value 1e+19 out of range for int64");
	expect_error(ALL_D, "{\"scalars\":{\"u64\":\"-1\"}}",
		     "scalars.u64: value out of range for uint64");
	expect_error(ALL_D, "{\"scalars\":{\"u64\":\"18446744073709551616\"}}",
		     "scalars.u64: value out of range for uint64");
	expect_error(ALL_D, "{\"scalars\":{\"f64\":-1}}",
		     "scalars.f64: value -1 out of range for uint64");
	expect_error(ALL_D, "{\"scalars\":{\"flt\":1e39}}",
		     "scalars.flt: value 1e+39 out of range for float");
	expect_error(ALL_D, "{\"scalars\":{\"flt\":-3.5e38}}",
		     "scalars.flt: value -3.5e+38 out of range for float");
	/* Just above FLT_MAX but rounding to it (its shortest form) is fine. */
	ProtobufCMessage *m = parse_ok(SCALARS_D, "{\"flt\":3.4028235e38}");
	assert_true(((Pbjson__Test__Scalars *)m)->flt == FLT_MAX);
	protobuf_c_message_free_unpacked(m, NULL);
	expect_error(ALL_D, "{\"scalars\":{\"dbl\":\"1e999\"}}",
		     "scalars.dbl: value out of range for double");
	expect_error(ALL_D, "{\"scalars\":{\"color\":4294967296}}",
		     "scalars.color: value 4294967296 out of range for enum");
	expect_error(ALL_D, "{\"innerById\":{\"2147483648\":{}}}",
		     "innerById[\"2147483648\"]: invalid map key: out of range for int32");
	expect_error(ALL_D, "{\"x2y\":4294967296}", "x2y: value 4294967296 out of range for uint32");
}

static void test_error_bad_enum_name(void **state)
{
	(void)state;
	expect_error(ALL_D, "{\"scalars\":{\"color\":\"PURPLE\"}}",
		     "scalars.color: unknown value \"PURPLE\" for enum pbjson.test.Color");
	expect_error(ALL_D, "{\"scalars\":{\"color\":\"red\"}}",
		     "scalars.color: unknown value \"red\" for enum pbjson.test.Color");
	expect_error(ALL_D, "{\"colorList\":[\"RED\",\"1\"]}",
		     "colorList[1]: unknown value \"1\" for enum pbjson.test.Color");
	expect_error(ALL_D, "{\"colorByU64\":{\"1\":\"NOPE\"}}",
		     "colorByU64[\"1\"]: unknown value \"NOPE\" for enum pbjson.test.Color");
}

static void test_error_bad_base64(void **state)
{
	(void)state;
	expect_error(ALL_D, "{\"scalars\":{\"blob\":\"a\"}}", "scalars.blob: invalid base64");
	expect_error(ALL_D, "{\"scalars\":{\"blob\":\"ab!d\"}}", "scalars.blob: invalid base64");
	expect_error(ALL_D, "{\"scalars\":{\"blob\":\"ab=c\"}}", "scalars.blob: invalid base64");
	expect_error(ALL_D, "{\"scalars\":{\"blob\":\"abc==\"}}", "scalars.blob: invalid base64");
	expect_error(ALL_D, "{\"scalars\":{\"blob\":\"ab c\"}}", "scalars.blob: invalid base64");
	expect_error(ALL_D, "{\"scalars\":{\"blob\":\"=\"}}", "scalars.blob: invalid base64");
	expect_error(ALL_D, "{\"blobList\":[\"YQ==\",\"Y===\"]}", "blobList[1]: invalid base64");
}

static void test_error_duplicates_and_oneof(void **state)
{
	(void)state;
	expect_error(ALL_D, "{\"snake_case_name\":\"a\",\"snakeCaseName\":\"b\"}",
		     "snakeCaseName: field \"snake_case_name\" given more than once");
	expect_error(ALL_D, "{\"choiceStr\":\"x\",\"choiceNum\":\"5\"}",
		     "choiceNum: only one field of a oneof may be set, \"choice_str\" is set too");
	expect_error(ALL_D, "{\"choiceInner\":{},\"choice_str\":\"x\"}",
		     "choice_str: only one field of a oneof may be set, \"choice_inner\" is set too");
	/* A failed oneof member leaves nothing behind (checked by LSan). */
	expect_error(ALL_D, "{\"choiceInner\":{\"name\":\"x\",\"tags\":[\"a\",1]}}",
		     "choiceInner.tags[1]: expected a string, got integer");
	expect_error(ALL_D, "{\"choiceStr\":\"abc\",\"choiceInner\":{\"name\":\"x\"}}",
		     "choiceInner: only one field of a oneof may be set, \"choice_str\" is set too");
}

/* Errors late in a large input, after strings, arrays, maps, sub-messages and
 * oneofs have been built: the partial message is freed, nothing leaks. */
static void test_error_frees_partial_message(void **state)
{
	(void)state;
	static const char *head =
		"{\"scalars\":{\"str\":\"s\",\"blob\":\"aGk=\",\"i64\":\"5\",\"color\":\"RED\"},"
		"\"inner\":{\"name\":\"n\",\"tags\":[\"a\",\"b\"]},\"snakeCaseName\":\"x\","
		"\"strList\":[\"a\",\"b\",\"c\"],\"blobList\":[\"aGk=\",\"\"],\"longList\":[\"1\"],"
		"\"innerList\":[{\"name\":\"x\",\"tags\":[\"t\"]},{\"name\":\"y\"}],"
		"\"labels\":{\"a\":\"b\",\"c\":\"d\"},\"innerById\":{\"1\":{\"name\":\"n\",\"tags\":[\"q\"]}},"
		"\"choiceStr\":\"s\",";
	static const struct {
		const char *tail, *want;
	} cases[] = {
		{ "\"colorList\":[\"RED\",\"NOPE\"]}",
		  "colorList[1]: unknown value \"NOPE\" for enum pbjson.test.Color" },
		{ "\"str_list\":[]}", "str_list: field \"str_list\" given more than once" },
		{ "\"bogus\":1}", "unknown field \"bogus\" in pbjson.test.All" },
		{ "\"inner_list\":[]}", "inner_list: field \"inner_list\" given more than once" },
		{ "\"byFlag\":{\"true\":\"1\",\"false\":\"x\"}}",
		  "byFlag[\"false\"]: expected an integer, got string" },
		{ "\"inner_by_id\":{}}", "inner_by_id: field \"inner_by_id\" given more than once" },
		{ "\"colorByU64\":{\"1\":\"RED\",\"2\":\"BLUE\",\"z\":\"RED\"}}",
		  "colorByU64[\"z\"]: invalid map key: expected an integer" },
		{ "\"choiceInner\":{\"name\":\"i\"}}",
		  "choiceInner: only one field of a oneof may be set, \"choice_str\" is set too" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *text = NULL;
		assert_true(asprintf(&text, "%s%s", head, cases[i].tail) > 0);
		expect_error(ALL_D, text, cases[i].want);
		free(text);
	}
	/* Errors deep inside nested arrays and maps. */
	expect_error(ALL_D,
		     "{\"innerList\":[{\"name\":\"a\",\"tags\":[\"x\"]},{\"name\":\"b\",\"tags\":[\"x\",5]}]}",
		     "innerList[1].tags[1]: expected a string, got integer");
	expect_error(ALL_D,
		     "{\"innerById\":{\"1\":{\"name\":\"a\"},\"2\":{\"tags\":[\"x\"],\"attempt\":\"bad\"}}}",
		     "innerById[\"2\"].attempt: expected an integer, got string");
	/* And the same head is fine on its own. */
	char *text = NULL;
	assert_true(asprintf(&text, "%s\"aFloat\":1}", head) > 0);
	ProtobufCMessage *m = parse_ok(ALL_D, text);
	free(text);
	protobuf_c_message_free_unpacked(m, NULL);
}

/* Every value of a complete message, one at a time, replaced by [[]] (wrong
 * for every field kind): each is an error that names a path, and whatever
 * was built around it is freed (LSan). */
static const char full_json[] =
	"{\"scalars\":{\"i32\":-1,\"s32\":2,\"sf32\":3,\"u32\":4,\"f32\":5,\"i64\":\"6\","
	"\"s64\":\"-7\",\"sf64\":\"8\",\"u64\":\"9\",\"f64\":\"10\",\"flt\":1.5,\"dbl\":2.5,"
	"\"flag\":true,\"str\":\"s\",\"blob\":\"aGk=\",\"color\":\"RED\"},"
	"\"inner\":{\"name\":\"n\",\"attempt\":1,\"tags\":[\"a\",\"b\"]},"
	"\"snakeCaseName\":\"x\",\"intList\":[1,2],\"longList\":[\"1\",2],"
	"\"strList\":[\"a\",\"b\"],\"blobList\":[\"aGk=\",\"\"],\"boolList\":[true,false],"
	"\"dblList\":[1,2.5],\"colorList\":[\"RED\",5],"
	"\"innerList\":[{\"name\":\"x\",\"tags\":[\"t\"]},{\"name\":\"y\",\"attempt\":2}],"
	"\"labels\":{\"a\":\"b\",\"c\":\"d\"},"
	"\"innerById\":{\"1\":{\"name\":\"n\",\"tags\":[\"q\"]},\"2\":{}},"
	"\"byFlag\":{\"true\":\"1\",\"false\":2},\"colorByU64\":{\"3\":\"BLUE\"},"
	"\"choiceInner\":{\"name\":\"c\",\"tags\":[\"u\",\"v\"]},\"aFloat\":0.5,\"x2y\":3}";

/* Calls fn on every value slot under v: fn(root, slot) must replace it and
 * put it back. */
static size_t each_slot(json_t *root, json_t *v, void (*fn)(json_t *root, json_t *parent,
							      const char *key, size_t index))
{
	size_t n = 0;
	if (json_is_object(v)) {
		const char *key;
		json_t *child;
		json_object_foreach(v, key, child) {
			fn(root, v, key, 0);
			n += 1 + each_slot(root, child, fn);
		}
	} else if (json_is_array(v)) {
		for (size_t i = 0; i < json_array_size(v); i++) {
			fn(root, v, NULL, i);
			n += 1 + each_slot(root, json_array_get(v, i), fn);
		}
	}
	return n;
}

static void break_one(json_t *root, json_t *parent, const char *key, size_t index)
{
	json_t *saved = json_incref(key ? json_object_get(parent, key) : json_array_get(parent, index));
	json_t *bad = json_pack("[[]]");
	if (key)
		json_object_set_new(parent, key, bad);
	else
		json_array_set_new(parent, index, bad);

	ProtobufCMessage *m = (ProtobufCMessage *)0x1;
	ocid_error *err = NULL;
	assert_int_equal(pbjson_to_message(ALL_D, root, &m, &err), -1);
	assert_null(m);
	assert_int_equal(err->code, GRPC_INVALID_ARGUMENT);
	/* "<path>: expected ..., got array" or "...: null/array..." with a path. */
	assert_non_null(strstr(err->msg, ": "));
	assert_non_null(strstr(err->msg, "got array"));
	err_free(err);

	if (key)
		json_object_set_new(parent, key, saved);
	else
		json_array_set_new(parent, index, saved);
}

static void test_error_at_every_value(void **state)
{
	(void)state;
	json_t *root = load(full_json);
	ProtobufCMessage *m = parse_ok(ALL_D, full_json);
	protobuf_c_message_free_unpacked(m, NULL);
	size_t n = each_slot(root, root, break_one);
	assert_int_equal(n, 74);
	/* Put back intact. */
	m = parse_ok(ALL_D, full_json);
	ProtobufCMessage *m2 = NULL;
	ocid_error *err = NULL;
	assert_int_equal(pbjson_to_message(ALL_D, root, &m2, &err), 0);
	assert_same_wire(m, m2);
	protobuf_c_message_free_unpacked(m, NULL);
	protobuf_c_message_free_unpacked(m2, NULL);
	json_decref(root);
}

static void test_nesting_limit(void **state)
{
	(void)state;
	/* 99 levels below the top are fine, 100 are not. */
	for (int depth = 99; depth <= 100; depth++) {
		size_t cap = (size_t)depth * 12 + 16;
		char *text = malloc(cap);
		if (text == NULL)
			abort();
		char *p = text;
		for (int i = 0; i < depth; i++) {
			memcpy(p, "{\"child\":", 9);
			p += 9;
		}
		*p++ = '{';
		for (int i = 0; i <= depth; i++)
			*p++ = '}';
		*p = '\0';
		json_t *j = load(text);
		ProtobufCMessage *m = NULL;
		ocid_error *err = NULL;
		int r = pbjson_to_message(&pbjson__test__tree__descriptor, j, &m, &err);
		if (depth == 99) {
			assert_int_equal(r, 0);
			char *s = dump(m);
			ProtobufCMessage *back = parse_ok(&pbjson__test__tree__descriptor, s);
			assert_same_wire(m, back);
			protobuf_c_message_free_unpacked(back, NULL);
			free(s);
			protobuf_c_message_free_unpacked(m, NULL);
		} else {
			assert_int_equal(r, -1);
			assert_null(m);
			assert_int_equal(err->code, GRPC_INVALID_ARGUMENT);
			assert_non_null(strstr(err->msg, "child.child: messages nested deeper than 100"));
			err_free(err);
		}
		json_decref(j);
		free(text);
	}
}

static void test_large_repeated(void **state)
{
	(void)state;
	json_t *arr = json_array();
	for (int i = 0; i < 20000; i++)
		json_array_append_new(arr, json_integer(i - 10000));
	json_t *obj = json_pack("{s:o}", "intList", arr);
	ProtobufCMessage *m = NULL;
	ocid_error *err = NULL;
	assert_int_equal(pbjson_to_message(ALL_D, obj, &m, &err), 0);
	Pbjson__Test__All *all = (Pbjson__Test__All *)m;
	assert_int_equal(all->n_int_list, 20000);
	assert_int_equal(all->int_list[19999], 9999);
	json_t *back = pbjson_from_message(m);
	assert_true(json_equal(json_object_get(back, "intList"), json_object_get(obj, "intList")));
	json_decref(back);
	json_decref(obj);
	protobuf_c_message_free_unpacked(m, NULL);
}

static void test_api_edges(void **state)
{
	(void)state;
	ProtobufCMessage *m = (ProtobufCMessage *)0x1;
	ocid_error *err = NULL;
	assert_int_equal(pbjson_to_message(ALL_D, NULL, &m, &err), -1);
	assert_null(m);
	assert_int_equal(err->code, GRPC_INVALID_ARGUMENT);
	err_clear(&err);
	assert_null(pbjson_from_message(NULL));
	/* err may be NULL: the failure is still reported by the return value. */
	json_t *j = load("{\"foo\":1}");
	assert_int_equal(pbjson_to_message(ALL_D, j, &m, NULL), -1);
	assert_null(m);
	json_decref(j);
}

/* ---- explicit presence (LABEL_OPTIONAL with has_ flags) -----------------
 * protoc-c 1.4.1 refuses proto3 `optional`, so this is a hand-written
 * descriptor shaped like what it generates for proto2 optional fields. */

typedef struct {
	ProtobufCMessage base;
	protobuf_c_boolean has_num;
	int32_t num;
	char *name;
	protobuf_c_boolean has_blob;
	ProtobufCBinaryData blob;
	protobuf_c_boolean has_color;
	int color;
	ProtobufCMessage *inner;
} OptMsg;

static const ProtobufCMessageDescriptor opt_desc;

static void opt_init(ProtobufCMessage *m)
{
	memset(m, 0, sizeof(OptMsg));
	m->descriptor = &opt_desc;
}

static const ProtobufCFieldDescriptor opt_fields[] = {
	{ "num", 1, PROTOBUF_C_LABEL_OPTIONAL, PROTOBUF_C_TYPE_INT32, offsetof(OptMsg, has_num),
	  offsetof(OptMsg, num), NULL, NULL, 0, 0, NULL, NULL },
	{ "name", 2, PROTOBUF_C_LABEL_OPTIONAL, PROTOBUF_C_TYPE_STRING, 0, offsetof(OptMsg, name),
	  NULL, NULL, 0, 0, NULL, NULL },
	{ "blob", 3, PROTOBUF_C_LABEL_OPTIONAL, PROTOBUF_C_TYPE_BYTES, offsetof(OptMsg, has_blob),
	  offsetof(OptMsg, blob), NULL, NULL, 0, 0, NULL, NULL },
	{ "color", 4, PROTOBUF_C_LABEL_OPTIONAL, PROTOBUF_C_TYPE_ENUM, offsetof(OptMsg, has_color),
	  offsetof(OptMsg, color), &pbjson__test__color__descriptor, NULL, 0, 0, NULL, NULL },
	{ "inner", 5, PROTOBUF_C_LABEL_OPTIONAL, PROTOBUF_C_TYPE_MESSAGE, 0, offsetof(OptMsg, inner),
	  &pbjson__test__inner__descriptor, NULL, 0, 0, NULL, NULL },
};
static const unsigned opt_by_name[] = { 2, 3, 4, 1, 0 }; /* blob color inner name num */
static const ProtobufCIntRange opt_ranges[] = { { 1, 0 }, { 0, 5 } };
static const ProtobufCMessageDescriptor opt_desc = {
	PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC, "test.Opt", "Opt", "Opt", "test", sizeof(OptMsg),
	5, opt_fields, opt_by_name, 1, opt_ranges, opt_init, NULL, NULL, NULL,
};

static void test_explicit_presence(void **state)
{
	(void)state;
	OptMsg o;
	opt_init(&o.base);
	assert_dump(&o.base, "{}");
	o.has_num = 1; /* present even when zero */
	o.name = "";
	assert_dump(&o.base, "{\"num\":0,\"name\":\"\"}");

	ProtobufCMessage *m = parse_ok(&opt_desc,
		"{\"num\":0,\"blob\":\"\",\"color\":\"RED\",\"inner\":{}}");
	OptMsg *p = (OptMsg *)m;
	assert_true(p->has_num && p->num == 0);
	assert_null(p->name);
	assert_true(p->has_blob && p->blob.len == 0);
	assert_true(p->has_color && p->color == PBJSON__TEST__COLOR__RED);
	assert_non_null(p->inner);
	assert_dump(m, "{\"num\":0,\"blob\":\"\",\"color\":\"RED\",\"inner\":{\"name\":\"\",\"attempt\":0,"
		       "\"tags\":[]}}");
	protobuf_c_message_free_unpacked(m, NULL);

	m = parse_ok(&opt_desc, "{\"name\":\"n\",\"num\":null}");
	p = (OptMsg *)m;
	assert_false(p->has_num);
	assert_string_equal(p->name, "n");
	assert_dump(m, "{\"name\":\"n\"}");
	protobuf_c_message_free_unpacked(m, NULL);

	expect_error(&opt_desc, "{\"name\":\"n\",\"blob\":\"%%\"}", "blob: invalid base64");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_emitted),
		cmocka_unit_test(test_scalar_output_forms),
		cmocka_unit_test(test_oneof_output),
		cmocka_unit_test(test_map_output),
		cmocka_unit_test(test_lookalike_entry_is_not_a_map),
		cmocka_unit_test(test_roundtrip_everything),
		cmocka_unit_test(test_camel_and_snake_names),
		cmocka_unit_test(test_integers_accept_numbers_and_strings),
		cmocka_unit_test(test_enum_input),
		cmocka_unit_test(test_bytes_base64_variants),
		cmocka_unit_test(test_null_leaves_default),
		cmocka_unit_test(test_error_unknown_field),
		cmocka_unit_test(test_error_wrong_type),
		cmocka_unit_test(test_error_out_of_range),
		cmocka_unit_test(test_error_bad_enum_name),
		cmocka_unit_test(test_error_bad_base64),
		cmocka_unit_test(test_error_duplicates_and_oneof),
		cmocka_unit_test(test_error_frees_partial_message),
		cmocka_unit_test(test_error_at_every_value),
		cmocka_unit_test(test_nesting_limit),
		cmocka_unit_test(test_large_repeated),
		cmocka_unit_test(test_api_edges),
		cmocka_unit_test(test_explicit_presence),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
