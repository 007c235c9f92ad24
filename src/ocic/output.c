/* ocic output: JSON replies, column tables, and the small formatters. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ocic/ocic.h"
#include "util/cleanup.h"
#include "util/pbjson.h"

int print_json_message(const ProtobufCMessage *msg)
{
	json_t *j = pbjson_from_message(msg);
	if (j == NULL) {
		fputs("ocic: RESOURCE_EXHAUSTED: cannot convert the reply to JSON\n", stderr);
		return OCIC_EXIT_FAIL;
	}
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(j);
	if (s == NULL) {
		fputs("ocic: RESOURCE_EXHAUSTED: cannot format JSON\n", stderr);
		return OCIC_EXIT_FAIL;
	}
	puts(s);
	free(s);
	return OCIC_EXIT_OK;
}

int load_json_message(const char *file, const ProtobufCMessageDescriptor *desc,
		      ProtobufCMessage **out, ocid_error **err)
{
	json_error_t je;
	json_t *j = json_load_file(file, JSON_REJECT_DUPLICATES, &je);
	if (j == NULL) {
		if (je.line <= 0)
			return err_set(err, GRPC_INVALID_ARGUMENT, "%s: %s", file, je.text);
		return err_set(err, GRPC_INVALID_ARGUMENT, "%s: line %d column %d: %s", file,
			       je.line, je.column, je.text);
	}
	if (!json_is_object(j)) {
		json_decref(j);
		return err_set(err, GRPC_INVALID_ARGUMENT, "%s: want a JSON object (%s)", file,
			       desc->name);
	}
	int rc = pbjson_to_message(desc, j, out, err);
	json_decref(j);
	if (rc < 0)
		return err_prefix(err, "%s", file);
	return 0;
}

/* ---- tables ---- */

struct table {
	size_t ncols, nrows, cap;
	char **cells; /* row-major, header first */
};

static char *xstrdup(const char *s)
{
	char *d = strdup(s ? s : "");
	if (d == NULL) {
		fputs("ocic: out of memory\n", stderr);
		exit(OCIC_EXIT_FAIL);
	}
	return d;
}

static void add_row(struct table *t, va_list ap)
{
	if (t->nrows == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 16;
		t->cells = realloc(t->cells, t->cap * t->ncols * sizeof(char *));
		if (t->cells == NULL) {
			fputs("ocic: out of memory\n", stderr);
			exit(OCIC_EXIT_FAIL);
		}
	}
	for (size_t i = 0; i < t->ncols; i++)
		t->cells[t->nrows * t->ncols + i] = xstrdup(va_arg(ap, const char *));
	t->nrows++;
}

struct table *table_new(size_t ncols, ...)
{
	struct table *t = calloc(1, sizeof(*t));
	if (t == NULL) {
		fputs("ocic: out of memory\n", stderr);
		exit(OCIC_EXIT_FAIL);
	}
	t->ncols = ncols;
	va_list ap;
	va_start(ap, ncols);
	add_row(t, ap);
	va_end(ap);
	return t;
}

void table_add(struct table *t, ...)
{
	va_list ap;
	va_start(ap, t);
	add_row(t, ap);
	va_end(ap);
}

/* Display width: UTF-8 continuation bytes take no column. */
static size_t width(const char *s)
{
	size_t w = 0;
	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return w;
}

void table_print(struct table *t)
{
	size_t *w = calloc(t->ncols, sizeof(size_t));
	if (w == NULL)
		exit(OCIC_EXIT_FAIL);
	for (size_t r = 0; r < t->nrows; r++)
		for (size_t c = 0; c < t->ncols; c++) {
			size_t n = width(t->cells[r * t->ncols + c]);
			if (n > w[c])
				w[c] = n;
		}
	for (size_t r = 0; r < t->nrows; r++) {
		char **row = t->cells + r * t->ncols;
		size_t last = t->ncols; /* no padding after the last non-empty cell */
		while (last > 1 && row[last - 1][0] == '\0')
			last--;
		for (size_t c = 0; c < t->ncols; c++) {
			if (c < last) {
				fputs(row[c], stdout);
				if (c + 1 < last)
					printf("%*s", (int)(w[c] - width(row[c]) + 3), "");
			}
			free(row[c]);
		}
		putchar('\n');
	}
	free(w);
	free(t->cells);
	free(t);
}

void print_kv(const char *key, const char *value)
{
	if (value && value[0])
		printf("%s:  %s\n", key, value);
	else
		printf("%s:\n", key);
}

/* ---- maps ---- */

static const char *str_field(const ProtobufCMessage *m, const char *name)
{
	const ProtobufCFieldDescriptor *f =
		protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);
	if (f == NULL || f->type != PROTOBUF_C_TYPE_STRING)
		return "";
	const char *s = *(char *const *)((const char *)m + f->offset);
	return s ? s : "";
}

void map_entry(const ProtobufCMessage *entry, const char **key, const char **value)
{
	*key = str_field(entry, "key");
	*value = str_field(entry, "value");
}

static int cmp_entry(const void *a, const void *b)
{
	const char *ka, *kb, *v;
	map_entry(*(ProtobufCMessage *const *)a, &ka, &v);
	map_entry(*(ProtobufCMessage *const *)b, &kb, &v);
	return strcmp(ka, kb);
}

void print_map(const char *title, ProtobufCMessage **entries, size_t n)
{
	if (n == 0)
		return;
	ProtobufCMessage **s = malloc(n * sizeof(*s));
	if (s == NULL)
		exit(OCIC_EXIT_FAIL);
	memcpy(s, entries, n * sizeof(*s));
	qsort(s, n, sizeof(*s), cmp_entry);
	printf("%s:\n", title);
	for (size_t i = 0; i < n; i++) {
		const char *k, *v;
		map_entry(s[i], &k, &v);
		printf("  %s:%s%s\n", k, v[0] ? " " : "", v);
	}
	free(s);
}

int build_map(const ProtobufCMessageDescriptor *entry_desc, const struct strlist *kv,
	      ProtobufCMessage ***out, size_t *nout, ocid_error **err)
{
	*out = NULL;
	*nout = 0;
	if (kv->n == 0)
		return 0;
	const ProtobufCFieldDescriptor *fk =
		protobuf_c_message_descriptor_get_field_by_name(entry_desc, "key");
	const ProtobufCFieldDescriptor *fv =
		protobuf_c_message_descriptor_get_field_by_name(entry_desc, "value");
	if (fk == NULL || fv == NULL)
		return err_set(err, GRPC_INTERNAL, "%s is not a map entry", entry_desc->name);
	ProtobufCMessage **v = calloc(kv->n, sizeof(*v));
	if (v == NULL)
		return err_set(err, GRPC_RESOURCE_EXHAUSTED, "out of memory");
	for (size_t i = 0; i < kv->n; i++) {
		const char *eq = strchr(kv->v[i], '=');
		if (eq == NULL || eq == kv->v[i]) {
			free_map(v, i);
			return err_set(err, GRPC_INVALID_ARGUMENT, "label %s: want KEY=VALUE",
				       kv->v[i]);
		}
		ProtobufCMessage *m = calloc(1, entry_desc->sizeof_message);
		char *k = strndup(kv->v[i], (size_t)(eq - kv->v[i]));
		char *val = strdup(eq + 1);
		if (m == NULL || k == NULL || val == NULL) {
			free(m);
			free(k);
			free(val);
			free_map(v, i);
			return err_set(err, GRPC_RESOURCE_EXHAUSTED, "out of memory");
		}
		protobuf_c_message_init(entry_desc, m);
		*(char **)((char *)m + fk->offset) = k;
		*(char **)((char *)m + fv->offset) = val;
		v[i] = m;
	}
	*out = v;
	*nout = kv->n;
	return 0;
}

void free_map(ProtobufCMessage **entries, size_t n)
{
	for (size_t i = 0; entries && i < n; i++)
		protobuf_c_message_free_unpacked(entries[i], NULL);
	free(entries);
}

/* ---- formatters ---- */

const char *enum_name(const ProtobufCEnumDescriptor *d, int value, char *buf, size_t n)
{
	const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(d, value);
	if (v)
		return v->name;
	snprintf(buf, n, "%d", value);
	return buf;
}

const char *fmt_age(int64_t ns, char *buf, size_t n)
{
	if (ns <= 0) {
		snprintf(buf, n, "%s", "");
		return buf;
	}
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	int64_t d = (int64_t)now.tv_sec - ns / 1000000000LL;
	if (d < 0)
		d = 0;
	static const struct {
		int64_t secs;
		const char *unit;
	} u[] = {{86400LL * 365, "year"}, {86400LL * 7, "week"}, {86400, "day"},
		 {3600, "hour"},           {60, "minute"},        {1, "second"}};
	if (d < 1) {
		snprintf(buf, n, "Less than a second ago");
		return buf;
	}
	for (size_t i = 0; i < sizeof(u) / sizeof(u[0]); i++) {
		if (d >= u[i].secs) {
			long long k = (long long)(d / u[i].secs);
			snprintf(buf, n, "%lld %s%s ago", k, u[i].unit, k == 1 ? "" : "s");
			break;
		}
	}
	return buf;
}

const char *fmt_time(int64_t ns, char *buf, size_t n)
{
	if (ns <= 0) {
		snprintf(buf, n, "%s", "");
		return buf;
	}
	time_t secs = (time_t)(ns / 1000000000LL);
	struct tm tm;
	gmtime_r(&secs, &tm);
	char d[32];
	strftime(d, sizeof(d), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, n, "%s.%09lldZ", d, (long long)(ns % 1000000000LL));
	return buf;
}

const char *fmt_size(uint64_t bytes, char *buf, size_t n)
{
	static const char *units[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB"};
	double v = (double)bytes;
	size_t i = 0;
	while (v >= 1000.0 && i + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1000.0;
		i++;
	}
	if (i == 0)
		snprintf(buf, n, "%lluB", (unsigned long long)bytes);
	else
		snprintf(buf, n, "%.4g%s", v, units[i]);
	return buf;
}

const char *fmt_id(const char *id, bool no_trunc, char *buf, size_t n)
{
	if (id == NULL)
		id = "";
	if (no_trunc) {
		snprintf(buf, n, "%s", id);
		return buf;
	}
	if (strncmp(id, "sha256:", 7) == 0)
		id += 7;
	snprintf(buf, n, "%.13s", id);
	return buf;
}
