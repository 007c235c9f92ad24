#include "config/toml.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/cleanup.h"

#define MAX_NESTING 64

/* ---- growable byte buffer ---- */

struct sb {
	char *s;
	size_t len, cap;
};

static int sb_put(struct sb *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 32;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *ns = realloc(b->s, cap);
		if (ns == NULL)
			return -1;
		b->s = ns;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
	return 0;
}

static int sb_putc(struct sb *b, char c) { return sb_put(b, &c, 1); }

/* Returns the finished string (never NULL unless out of memory). */
static char *sb_finish(struct sb *b)
{
	if (b->s == NULL)
		return strdup("");
	char *s = b->s;
	b->s = NULL;
	b->len = b->cap = 0;
	return s;
}

/* ---- UTF-8 ---- */

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0. */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t len;
	uint32_t cp, min;
	if (c < 0x80)
		return 1;
	if ((c & 0xe0) == 0xc0) {
		len = 2, cp = c & 0x1f, min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		len = 3, cp = c & 0x0f, min = 0x800;
	} else if ((c & 0xf8) == 0xf0) {
		len = 4, cp = c & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

static int utf8_encode(struct sb *b, uint32_t cp)
{
	char out[4];
	size_t n;
	if (cp < 0x80) {
		out[0] = (char)cp, n = 1;
	} else if (cp < 0x800) {
		out[0] = (char)(0xc0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		out[0] = (char)(0xe0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		out[0] = (char)(0xf0 | (cp >> 18));
		out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return sb_put(b, out, n);
}

/* ---- tree ---- */

static struct toml_node *node_new(enum toml_type type, int line, int col)
{
	struct toml_node *n = calloc(1, sizeof(*n));
	if (n) {
		n->type = type;
		n->line = line;
		n->col = col;
	}
	return n;
}

void toml_free(struct toml_node *n)
{
	if (n == NULL)
		return;
	switch (n->type) {
	case TOML_STRING:
		free(n->str);
		break;
	case TOML_ARRAY:
		for (size_t i = 0; i < n->array.len; i++)
			toml_free(n->array.items[i]);
		free(n->array.items);
		break;
	case TOML_TABLE:
		for (size_t i = 0; i < n->table.len; i++) {
			free(n->table.items[i].key);
			toml_free(n->table.items[i].value);
		}
		free(n->table.items);
		break;
	case TOML_INTEGER:
	case TOML_BOOLEAN:
		break;
	}
	free(n);
}

static struct toml_entry *table_find(const struct toml_node *t, const char *key)
{
	for (size_t i = 0; i < t->table.len; i++)
		if (strcmp(t->table.items[i].key, key) == 0)
			return &t->table.items[i];
	return NULL;
}

const struct toml_node *toml_get(const struct toml_node *t, const char *key)
{
	if (t == NULL || t->type != TOML_TABLE)
		return NULL;
	struct toml_entry *e = table_find(t, key);
	return e ? e->value : NULL;
}

/* Takes ownership of key and v (frees them on failure). */
static int table_add(struct toml_node *t, char *key, struct toml_node *v, int line, int col)
{
	if (t->table.len == t->table.cap) {
		size_t cap = t->table.cap ? t->table.cap * 2 : 8;
		struct toml_entry *items = realloc(t->table.items, cap * sizeof(*items));
		if (items == NULL) {
			free(key);
			toml_free(v);
			return -1;
		}
		t->table.items = items;
		t->table.cap = cap;
	}
	t->table.items[t->table.len++] = (struct toml_entry){key, v, line, col};
	return 0;
}

/* Takes ownership of v. */
static int array_push(struct toml_node *a, struct toml_node *v)
{
	if (a->array.len == a->array.cap) {
		size_t cap = a->array.cap ? a->array.cap * 2 : 8;
		struct toml_node **items = realloc(a->array.items, cap * sizeof(*items));
		if (items == NULL) {
			toml_free(v);
			return -1;
		}
		a->array.items = items;
		a->array.cap = cap;
	}
	a->array.items[a->array.len++] = v;
	return 0;
}

const char *toml_type_name(enum toml_type type)
{
	switch (type) {
	case TOML_TABLE:
		return "table";
	case TOML_ARRAY:
		return "array";
	case TOML_STRING:
		return "string";
	case TOML_INTEGER:
		return "integer";
	case TOML_BOOLEAN:
		return "boolean";
	}
	return "unknown";
}

/* ---- writing ---- */

static bool is_bare_char(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-';
}

bool toml_key_is_bare(const char *key)
{
	if (*key == '\0')
		return false;
	for (const char *s = key; *s; s++)
		if (!is_bare_char((unsigned char)*s))
			return false;
	return true;
}

void toml_write_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		switch (c) {
		case '"':
			fputs("\\\"", f);
			break;
		case '\\':
			fputs("\\\\", f);
			break;
		case '\b':
			fputs("\\b", f);
			break;
		case '\t':
			fputs("\\t", f);
			break;
		case '\n':
			fputs("\\n", f);
			break;
		case '\f':
			fputs("\\f", f);
			break;
		case '\r':
			fputs("\\r", f);
			break;
		default:
			if (c < 0x20 || c == 0x7f)
				fprintf(f, "\\u%04X", c);
			else
				fputc(c, f);
		}
	}
	fputc('"', f);
}

void toml_write_key(FILE *f, const char *key)
{
	if (toml_key_is_bare(key))
		fputs(key, f);
	else
		toml_write_string(f, key);
}

/* ---- parser ---- */

struct parser {
	const char *src;
	size_t len, pos;
	int line;
	size_t line_start;
	const char *name;
	ocid_error **err;
	struct toml_node *root, *cur;
};

struct keypart {
	char *s;
	int line, col;
};

struct keypath {
	struct keypart *parts;
	size_t n, cap;
};

static void keypath_clear(struct keypath *k)
{
	for (size_t i = 0; i < k->n; i++)
		free(k->parts[i].s);
	free(k->parts);
	k->parts = NULL;
	k->n = k->cap = 0;
}

static int peek(const struct parser *p)
{
	return p->pos < p->len ? (unsigned char)p->src[p->pos] : -1;
}

static int peek_at(const struct parser *p, size_t off)
{
	return p->pos + off < p->len ? (unsigned char)p->src[p->pos + off] : -1;
}

static void advance(struct parser *p)
{
	if (p->pos >= p->len)
		return;
	if (p->src[p->pos] == '\n') {
		p->line++;
		p->line_start = p->pos + 1;
	}
	p->pos++;
}

static int col_of(const struct parser *p)
{
	size_t c = p->pos - p->line_start + 1;
	return c > INT_MAX ? INT_MAX : (int)c;
}

__attribute__((format(printf, 4, 5))) static int perr_at(struct parser *p, int line, int col,
							   const char *fmt, ...)
{
	char *m = NULL;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&m, fmt, ap) < 0)
		m = NULL;
	va_end(ap);
	if (m == NULL)
		return err_set(p->err, GRPC_RESOURCE_EXHAUSTED, "out of memory");
	err_set(p->err, GRPC_INVALID_ARGUMENT, "%s:%d:%d: %s", p->name, line, col, m);
	free(m);
	return -1;
}

#define perr(p, ...) perr_at((p), (p)->line, col_of(p), __VA_ARGS__)

static int oom(struct parser *p)
{
	return err_set(p->err, GRPC_RESOURCE_EXHAUSTED, "out of memory");
}

/* What the character c looks like in a message. */
static const char *describe(int c, char buf[16])
{
	if (c < 0)
		return "end of file";
	if (c == '\n')
		return "end of line";
	if (c == '\'')
		return "\"'\"";
	if (c > 0x20 && c < 0x7f)
		snprintf(buf, 16, "'%c'", c);
	else if (c == ' ')
		snprintf(buf, 16, "space");
	else
		snprintf(buf, 16, "byte 0x%02X", (unsigned)c);
	return buf;
}

/* A key path as it would be written, for messages: bare parts as they are,
 * others quoted ('...' when that needs no escaping). */
static char *keypath_show(const struct keypath *k, size_t n)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	if (f == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		const char *s = k->parts[i].s;
		if (i)
			fputc('.', f);
		bool literal_ok = true;
		for (const char *c = s; *c; c++)
			if (*c == '\'' || (unsigned char)*c < 0x20 || *c == 0x7f)
				literal_ok = false;
		if (toml_key_is_bare(s))
			fputs(s, f);
		else if (literal_ok)
			fprintf(f, "'%s'", s);
		else
			toml_write_string(f, s);
	}
	if (fclose(f) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

static void skip_ws(struct parser *p)
{
	while (peek(p) == ' ' || peek(p) == '\t')
		advance(p);
}

/* At '#': skips to the end of the line (not consuming the newline). */
static int skip_comment(struct parser *p)
{
	for (;;) {
		int c = peek(p);
		if (c < 0 || c == '\n')
			return 0;
		if (c == '\r' && peek_at(p, 1) == '\n')
			return 0;
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return perr(p, "control character 0x%02X in comment", (unsigned)c);
		advance(p);
	}
}

/* Consumes a newline ("\n" or "\r\n") if there is one. */
static bool eat_newline(struct parser *p)
{
	if (peek(p) == '\n') {
		advance(p);
		return true;
	}
	if (peek(p) == '\r' && peek_at(p, 1) == '\n') {
		advance(p);
		advance(p);
		return true;
	}
	return false;
}

/* Skips spaces, newlines and comments (inside arrays). */
static int skip_ws_nl(struct parser *p)
{
	for (;;) {
		skip_ws(p);
		if (peek(p) == '#') {
			if (skip_comment(p) < 0)
				return -1;
		}
		if (!eat_newline(p))
			return 0;
	}
}

/* After a key/value pair or a header: only a comment may follow. */
static int expect_eol(struct parser *p, const char *after)
{
	skip_ws(p);
	if (peek(p) == '#' && skip_comment(p) < 0)
		return -1;
	if (peek(p) < 0 || eat_newline(p))
		return 0;
	char buf[16];
	return perr(p, "unexpected %s after %s (expected end of line)", describe(peek(p), buf),
		    after);
}

/* Checks the raw byte at the cursor inside a string and copies it (a whole
 * UTF-8 sequence when it starts one). */
static int copy_string_byte(struct parser *p, struct sb *b)
{
	int c = peek(p);
	if ((c < 0x20 && c != '\t') || c == 0x7f)
		return perr(p, "control character 0x%02X in string must be escaped", (unsigned)c);
	size_t n = utf8_seq_len((const unsigned char *)p->src + p->pos, p->len - p->pos);
	if (n == 0)
		return perr(p, "invalid UTF-8 in string");
	if (sb_put(b, p->src + p->pos, n) < 0)
		return oom(p);
	for (size_t i = 0; i < n; i++)
		advance(p);
	return 0;
}

static int hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* At '"'. */
static int parse_basic_string(struct parser *p, char **out)
{
	int line = p->line, col = col_of(p);
	if (peek_at(p, 1) == '"' && peek_at(p, 2) == '"')
		return perr(p, "multi-line strings (\"\"\") are not supported");
	advance(p);
	struct sb b = {0};
	for (;;) {
		int c = peek(p);
		if (c < 0 || c == '\n' || (c == '\r' && peek_at(p, 1) == '\n')) {
			free(b.s);
			return perr_at(p, line, col, "unterminated string (missing closing '\"')");
		}
		if (c == '"') {
			advance(p);
			break;
		}
		if (c != '\\') {
			if (copy_string_byte(p, &b) < 0) {
				free(b.s);
				return -1;
			}
			continue;
		}
		int eline = p->line, ecol = col_of(p);
		advance(p);
		int e = peek(p);
		char ch = 0;
		int digits = 0;
		switch (e) {
		case 'b':
			ch = '\b';
			break;
		case 't':
			ch = '\t';
			break;
		case 'n':
			ch = '\n';
			break;
		case 'f':
			ch = '\f';
			break;
		case 'r':
			ch = '\r';
			break;
		case '"':
			ch = '"';
			break;
		case '\\':
			ch = '\\';
			break;
		case 'u':
			digits = 4;
			break;
		case 'U':
			digits = 8;
			break;
		default:
			free(b.s);
			if (e < 0 || e == '\n' || e == '\r')
				return perr_at(p, line, col,
					       "unterminated string (missing closing '\"')");
			if (e > 0x20 && e < 0x7f)
				return perr_at(p, eline, ecol,
					       "invalid escape sequence '\\%c' in string", e);
			return perr_at(p, eline, ecol, "invalid escape sequence in string");
		}
		advance(p);
		if (digits == 0) {
			if (sb_putc(&b, ch) < 0) {
				free(b.s);
				return oom(p);
			}
			continue;
		}
		uint32_t cp = 0;
		for (int i = 0; i < digits; i++) {
			int h = hex_value(peek(p));
			if (h < 0) {
				free(b.s);
				return perr_at(
					p, eline, ecol,
					"invalid escape sequence: '\\%c' needs %d hex digits", e,
					digits);
			}
			cp = (cp << 4) | (uint32_t)h;
			advance(p);
		}
		if (cp == 0) {
			free(b.s);
			return perr_at(p, eline, ecol, "NUL characters are not allowed in strings");
		}
		if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
			free(b.s);
			return perr_at(p, eline, ecol,
				       "escape sequence is not a Unicode scalar value");
		}
		if (utf8_encode(&b, cp) < 0) {
			free(b.s);
			return oom(p);
		}
	}
	if ((*out = sb_finish(&b)) == NULL)
		return oom(p);
	return 0;
}

/* At '\''. */
static int parse_literal_string(struct parser *p, char **out)
{
	int line = p->line, col = col_of(p);
	if (peek_at(p, 1) == '\'' && peek_at(p, 2) == '\'')
		return perr(p, "multi-line strings (''') are not supported");
	advance(p);
	struct sb b = {0};
	for (;;) {
		int c = peek(p);
		if (c < 0 || c == '\n' || (c == '\r' && peek_at(p, 1) == '\n')) {
			free(b.s);
			return perr_at(p, line, col, "unterminated string (missing closing \"'\")");
		}
		if (c == '\'') {
			advance(p);
			break;
		}
		if (copy_string_byte(p, &b) < 0) {
			free(b.s);
			return -1;
		}
	}
	if ((*out = sb_finish(&b)) == NULL)
		return oom(p);
	return 0;
}

static int parse_key(struct parser *p, struct keypath *k)
{
	for (;;) {
		skip_ws(p);
		int line = p->line, col = col_of(p);
		int c = peek(p);
		char *s = NULL;
		if (c == '"') {
			if (parse_basic_string(p, &s) < 0)
				return -1;
		} else if (c == '\'') {
			if (parse_literal_string(p, &s) < 0)
				return -1;
		} else if (c >= 0 && is_bare_char(c)) {
			size_t start = p->pos;
			while (peek(p) >= 0 && is_bare_char(peek(p)))
				advance(p);
			s = strndup(p->src + start, p->pos - start);
			if (s == NULL)
				return oom(p);
		} else {
			char buf[16];
			return perr(p, "expected a key, found %s", describe(c, buf));
		}
		if (k->n == k->cap) {
			size_t cap = k->cap ? k->cap * 2 : 4;
			struct keypart *parts = realloc(k->parts, cap * sizeof(*parts));
			if (parts == NULL) {
				free(s);
				return oom(p);
			}
			k->parts = parts;
			k->cap = cap;
		}
		k->parts[k->n++] = (struct keypart){s, line, col};
		skip_ws(p);
		if (peek(p) != '.')
			return 0;
		advance(p);
	}
}

static bool all_match(const char *s, size_t n, const char *set)
{
	for (size_t i = 0; i < n; i++)
		if (strchr(set, s[i]) == NULL)
			return false;
	return true;
}

static bool looks_like_float(const char *s, size_t n)
{
	if (n > 0 && (s[0] == '+' || s[0] == '-'))
		s++, n--;
	if ((n == 3 && (memcmp(s, "inf", 3) == 0 || memcmp(s, "nan", 3) == 0)))
		return true;
	bool dot_or_exp = memchr(s, '.', n) || memchr(s, 'e', n) || memchr(s, 'E', n);
	return dot_or_exp && n > 0 && s[0] >= '0' && s[0] <= '9' &&
	       all_match(s, n, "0123456789_.eE+-");
}

static bool looks_like_date(const char *s, size_t n)
{
	return (n >= 5 && all_match(s, 4, "0123456789") && s[4] == '-') ||
	       (n >= 3 && all_match(s, 2, "0123456789") && s[2] == ':');
}

/* Digits with single underscores between them, in the given base. */
static int parse_digits(const char *s, size_t n, int base, uint64_t limit, uint64_t *out)
{
	uint64_t v = 0;
	bool prev_digit = false;
	if (n == 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '_') {
			if (!prev_digit || i + 1 == n)
				return -1;
			prev_digit = false;
			continue;
		}
		int d = hex_value((unsigned char)s[i]);
		if (d < 0 || d >= base)
			return -1;
		if (v > (limit - (uint64_t)d) / (uint64_t)base)
			return -2;
		v = v * (uint64_t)base + (uint64_t)d;
		prev_digit = true;
	}
	*out = v;
	return 0;
}

/* tok is a run of [0-9A-Za-z_+-.:] starting with a digit or a sign. */
static int parse_number(struct parser *p, const char *tok, size_t n, int line, int col,
			int64_t *out)
{
	const char *s = tok;
	size_t m = n;
	bool neg = false, signed_ = false;
	if (m > 0 && (s[0] == '+' || s[0] == '-')) {
		neg = s[0] == '-';
		signed_ = true;
		s++, m--;
	}
	int base = 10;
	if (m >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o' || s[1] == 'b')) {
		base = s[1] == 'x' ? 16 : s[1] == 'o' ? 8 : 2;
		if (signed_)
			return perr_at(p, line, col,
				       "invalid integer \"%.*s\" (no sign allowed with 0%c)",
				       (int)n, tok, s[1]);
		s += 2, m -= 2;
	} else if (looks_like_float(tok, n)) {
		return perr_at(p, line, col, "floats are not supported (\"%.*s\")", (int)n, tok);
	} else if (looks_like_date(tok, n)) {
		return perr_at(p, line, col, "dates and times are not supported (\"%.*s\")", (int)n,
			       tok);
	} else if (m > 1 && s[0] == '0') {
		return perr_at(p, line, col,
			       "invalid integer \"%.*s\" (leading zeros are not allowed)", (int)n,
			       tok);
	}
	uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	uint64_t v;
	int r = parse_digits(s, m, base, limit, &v);
	if (r == -2)
		return perr_at(p, line, col, "integer \"%.*s\" is out of range (64-bit signed)",
			       (int)n, tok);
	if (r < 0)
		return perr_at(p, line, col, "invalid integer \"%.*s\"", (int)n, tok);
	if (neg)
		*out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
	else
		*out = (int64_t)v;
	return 0;
}

static int parse_value(struct parser *p, struct toml_node **out, int depth);

/* True when the cursor is at something like "key =" (or "a.b ="). */
static bool key_follows(const struct parser *p)
{
	size_t i = p->pos;
	while (i < p->len && (is_bare_char((unsigned char)p->src[i]) || p->src[i] == '.' ||
			      p->src[i] == ' ' || p->src[i] == '\t'))
		i++;
	return i > p->pos && i < p->len && p->src[i] == '=';
}

/* At '['. */
static int parse_array(struct parser *p, struct toml_node **out, int depth)
{
	int line = p->line, col = col_of(p);
	if (depth >= MAX_NESTING)
		return perr(p, "arrays nested too deeply (more than %d levels)", MAX_NESTING);
	struct toml_node *a = node_new(TOML_ARRAY, line, col);
	if (a == NULL)
		return oom(p);
	advance(p);
	for (;;) {
		if (skip_ws_nl(p) < 0)
			goto fail;
		int c = peek(p);
		if (c < 0) {
			perr_at(p, line, col, "unclosed array (missing ']')");
			goto fail;
		}
		if (c == ']') {
			advance(p);
			break;
		}
		if (c == ',') {
			perr(p, "expected a value or ']' in array, found ','");
			goto fail;
		}
		/* "key = ..." where a value should be means a missing ']'. */
		if (is_bare_char(c) && key_follows(p)) {
			perr_at(p, line, col, "unclosed array (missing ']')");
			goto fail;
		}
		struct toml_node *v = NULL;
		if (parse_value(p, &v, depth + 1) < 0)
			goto fail;
		if (array_push(a, v) < 0) {
			oom(p);
			goto fail;
		}
		if (skip_ws_nl(p) < 0)
			goto fail;
		c = peek(p);
		if (c == ',') {
			advance(p);
			continue;
		}
		if (c == ']') {
			advance(p);
			break;
		}
		if (c < 0 || c == '=' || (is_bare_char(c) && key_follows(p))) {
			perr_at(p, line, col, "unclosed array (missing ']')");
			goto fail;
		}
		char buf[16];
		perr(p, "expected ',' or ']' in array, found %s", describe(c, buf));
		goto fail;
	}
	*out = a;
	return 0;
fail:
	toml_free(a);
	return -1;
}

static int parse_value(struct parser *p, struct toml_node **out, int depth)
{
	int line = p->line, col = col_of(p);
	int c = peek(p);
	if (c == '"' || c == '\'') {
		char *s = NULL;
		if ((c == '"' ? parse_basic_string(p, &s) : parse_literal_string(p, &s)) < 0)
			return -1;
		struct toml_node *n = node_new(TOML_STRING, line, col);
		if (n == NULL) {
			free(s);
			return oom(p);
		}
		n->str = s;
		*out = n;
		return 0;
	}
	if (c == '[')
		return parse_array(p, out, depth);
	if (c == '{')
		return perr(p, "inline tables ({...}) are not supported; use a [table] header");
	if (c < 0 || !(is_bare_char(c) || c == '+')) {
		char buf[16];
		return perr(p, "expected a value (string, integer, boolean or array), found %s",
			    describe(c, buf));
	}
	size_t start = p->pos;
	while (peek(p) >= 0 && (is_bare_char(peek(p)) || peek(p) == '+' || peek(p) == '.' ||
				peek(p) == ':'))
		advance(p);
	const char *tok = p->src + start;
	size_t n = p->pos - start;
	if ((n == 4 && memcmp(tok, "true", 4) == 0) || (n == 5 && memcmp(tok, "false", 5) == 0)) {
		struct toml_node *b = node_new(TOML_BOOLEAN, line, col);
		if (b == NULL)
			return oom(p);
		b->boolean = n == 4;
		*out = b;
		return 0;
	}
	if ((c >= '0' && c <= '9') || c == '+' || c == '-' || looks_like_float(tok, n)) {
		int64_t v = 0;
		if (parse_number(p, tok, n, line, col, &v) < 0)
			return -1;
		struct toml_node *i = node_new(TOML_INTEGER, line, col);
		if (i == NULL)
			return oom(p);
		i->integer = v;
		*out = i;
		return 0;
	}
	return perr_at(p, line, col, "invalid value \"%.*s\" (strings must be quoted)", (int)n,
		       tok);
}

/* [a.b.c] or [[a.b.c]], the cursor at the first '['. */
static int parse_header(struct parser *p)
{
	int line = p->line, col = col_of(p);
	bool aot = peek_at(p, 1) == '[';
	advance(p);
	if (aot)
		advance(p);
	struct keypath k = {0};
	int ret = -1;
	char *shown = NULL;
	if (parse_key(p, &k) < 0)
		goto out;
	skip_ws(p);
	if (peek(p) != ']' || (aot && peek_at(p, 1) != ']')) {
		char buf[16];
		perr(p, "expected '%s' to close the %s header, found %s", aot ? "]]" : "]",
		     aot ? "array-of-tables" : "table", describe(peek(p), buf));
		goto out;
	}
	advance(p);
	if (aot)
		advance(p);

	struct toml_node *t = p->root;
	for (size_t i = 0; i < k.n; i++) {
		struct keypart *kp = &k.parts[i];
		bool last = i + 1 == k.n;
		struct toml_entry *e = table_find(t, kp->s);
		if (e == NULL) {
			struct toml_node *nt = node_new(TOML_TABLE, line, col);
			if (nt == NULL) {
				oom(p);
				goto out;
			}
			nt->table.kind = last ? TOML_TABLE_HEADER : TOML_TABLE_IMPLICIT;
			struct toml_node *v = nt;
			if (last && aot) {
				v = node_new(TOML_ARRAY, line, col);
				if (v == NULL) {
					toml_free(nt);
					oom(p);
					goto out;
				}
				v->array.of_tables = true;
				if (array_push(v, nt) < 0) {
					toml_free(v);
					oom(p);
					goto out;
				}
			}
			char *key = strdup(kp->s);
			if (key == NULL || table_add(t, key, v, kp->line, kp->col) < 0) {
				if (key == NULL)
					toml_free(v);
				oom(p);
				goto out;
			}
			t = nt;
			continue;
		}
		struct toml_node *v = e->value;
		shown = keypath_show(&k, i + 1);
		if (shown == NULL) {
			oom(p);
			goto out;
		}
		if (!last) {
			if (v->type == TOML_TABLE) {
				t = v;
			} else if (v->type == TOML_ARRAY && v->array.of_tables) {
				t = v->array.items[v->array.len - 1];
			} else {
				perr_at(p, kp->line, kp->col,
					"key \"%s\" is already defined as %s %s at line %d, it "
					"cannot be a table",
					shown,
					v->type == TOML_INTEGER || v->type == TOML_ARRAY ? "an"
											 : "a",
					toml_type_name(v->type), e->line);
				goto out;
			}
		} else if (aot) {
			if (v->type != TOML_ARRAY || !v->array.of_tables) {
				perr_at(p, line, col,
					"cannot define array of tables [[%s]]: already defined as "
					"%s at line %d",
					shown, v->type == TOML_TABLE ? "a table" : "a value",
					e->line);
				goto out;
			}
			struct toml_node *nt = node_new(TOML_TABLE, line, col);
			if (nt == NULL || array_push(v, nt) < 0) {
				oom(p);
				goto out;
			}
			nt->table.kind = TOML_TABLE_HEADER;
			t = nt;
		} else if (v->type == TOML_TABLE && v->table.kind == TOML_TABLE_IMPLICIT) {
			v->table.kind = TOML_TABLE_HEADER;
			v->line = line;
			v->col = col;
			t = v;
		} else if (v->type == TOML_TABLE && v->table.kind == TOML_TABLE_HEADER) {
			perr_at(p, line, col, "table [%s] is defined twice (first at line %d)",
				shown, v->line);
			goto out;
		} else if (v->type == TOML_TABLE) {
			perr_at(p, line, col,
				"table [%s] is already defined by dotted keys at line %d", shown,
				v->line);
			goto out;
		} else if (v->type == TOML_ARRAY && v->array.of_tables) {
			perr_at(p, line, col,
				"[%s] is already an array of tables (line %d); use [[%s]] to add "
				"one",
				shown, v->line, shown);
			goto out;
		} else {
			perr_at(p, line, col,
				"table [%s] redefines key \"%s\" (%s %s, defined at line %d)",
				shown, shown,
				v->type == TOML_INTEGER || v->type == TOML_ARRAY ? "an" : "a",
				toml_type_name(v->type), e->line);
			goto out;
		}
		free(shown);
		shown = NULL;
	}
	p->cur = t;
	ret = expect_eol(p, aot ? "array-of-tables header" : "table header");
out:
	free(shown);
	keypath_clear(&k);
	return ret;
}

/* key = value, the cursor at the key. */
static int parse_keyval(struct parser *p)
{
	struct keypath k = {0};
	int ret = -1;
	char *shown = NULL;
	if (parse_key(p, &k) < 0)
		goto out;
	if ((shown = keypath_show(&k, k.n)) == NULL) {
		oom(p);
		goto out;
	}
	skip_ws(p);
	if (peek(p) != '=') {
		char buf[16];
		perr(p, "expected '=' after key \"%s\", found %s", shown, describe(peek(p), buf));
		goto out;
	}
	advance(p);
	skip_ws(p);
	int c = peek(p);
	if (c < 0 || c == '\n' || c == '#' || (c == '\r' && peek_at(p, 1) == '\n')) {
		perr(p, "missing value for key \"%s\"", shown);
		goto out;
	}
	struct toml_node *v = NULL;
	if (parse_value(p, &v, 0) < 0)
		goto out;

	struct toml_node *t = p->cur;
	for (size_t i = 0; i + 1 < k.n; i++) {
		struct keypart *kp = &k.parts[i];
		struct toml_entry *e = table_find(t, kp->s);
		if (e == NULL) {
			struct toml_node *nt = node_new(TOML_TABLE, kp->line, kp->col);
			char *key = strdup(kp->s);
			if (nt == NULL || key == NULL) {
				free(nt);
				free(key);
				toml_free(v);
				oom(p);
				goto out;
			}
			nt->table.kind = TOML_TABLE_DOTTED;
			if (table_add(t, key, nt, kp->line, kp->col) < 0) {
				toml_free(v);
				oom(p);
				goto out;
			}
			t = nt;
			continue;
		}
		char *part = keypath_show(&k, i + 1);
		if (part == NULL) {
			toml_free(v);
			oom(p);
			goto out;
		}
		if (e->value->type == TOML_TABLE && e->value->table.kind == TOML_TABLE_DOTTED) {
			t = e->value;
		} else if (e->value->type == TOML_TABLE) {
			perr_at(p, kp->line, kp->col,
				"cannot add to table \"%s\" (defined at line %d) with dotted keys",
				part, e->value->line);
		} else {
			perr_at(p, kp->line, kp->col,
				"key \"%s\" is already defined as %s%s (line %d), it cannot be a "
				"table",
				part,
				e->value->type == TOML_INTEGER || e->value->type == TOML_ARRAY
					? "an "
					: "a ",
				e->value->type == TOML_ARRAY && e->value->array.of_tables
					? "array of tables"
					: toml_type_name(e->value->type),
				e->line);
		}
		free(part);
		if (t != e->value) {
			toml_free(v);
			goto out;
		}
	}
	struct keypart *last = &k.parts[k.n - 1];
	struct toml_entry *e = table_find(t, last->s);
	if (e) {
		toml_free(v);
		perr_at(p, k.parts[0].line, k.parts[0].col,
			"duplicate key \"%s\" (first defined at line %d)", shown, e->line);
		goto out;
	}
	if (table_add(t, last->s, v, k.parts[0].line, k.parts[0].col) < 0) {
		last->s = NULL;
		oom(p);
		goto out;
	}
	last->s = NULL; /* now owned by the table */
	ret = expect_eol(p, "value");
out:
	free(shown);
	keypath_clear(&k);
	return ret;
}

int toml_parse(const char *text, size_t len, const char *name, struct toml_node **out,
	       ocid_error **err)
{
	struct parser p = {
		.src = text,
		.len = len,
		.line = 1,
		.name = name ? name : "<input>",
		.err = err,
	};
	p.root = node_new(TOML_TABLE, 1, 1);
	if (p.root == NULL)
		return oom(&p);
	p.root->table.kind = TOML_TABLE_HEADER;
	p.cur = p.root;
	if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
		p.pos = p.line_start = 3;
	for (;;) {
		skip_ws(&p);
		int c = peek(&p);
		if (c < 0)
			break;
		if (eat_newline(&p))
			continue;
		int r;
		if (c == '#')
			r = skip_comment(&p);
		else if (c == '[')
			r = parse_header(&p);
		else if (c == '"' || c == '\'' || is_bare_char(c))
			r = parse_keyval(&p);
		else if (c == ']')
			r = perr(&p, "unexpected ']' (no table header or array is open)");
		else if (c == '=')
			r = perr(&p, "missing key before '='");
		else {
			char buf[16];
			r = perr(&p, "expected a key or a [table] header, found %s",
				 describe(c, buf));
		}
		if (r < 0) {
			toml_free(p.root);
			return -1;
		}
	}
	*out = p.root;
	return 0;
}

int toml_parse_file(const char *path, struct toml_node **out, ocid_error **err)
{
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set_errno(err,
				     errno == ENOENT ? GRPC_NOT_FOUND : GRPC_FAILED_PRECONDITION,
				     errno, "open %s", path);
	struct stat st;
	if (fstat(fd, &st) < 0)
		return err_set_errno(err, GRPC_INTERNAL, errno, "stat %s", path);
	if (S_ISDIR(st.st_mode))
		return err_set(err, GRPC_FAILED_PRECONDITION, "read %s: is a directory", path);
	size_t cap = S_ISREG(st.st_mode) && st.st_size > 0 ? (size_t)st.st_size + 1 : 4096;
	size_t len = 0;
	cleanup_free char *buf = malloc(cap);
	if (buf == NULL)
		return err_set(err, GRPC_RESOURCE_EXHAUSTED, "out of memory");
	for (;;) {
		if (len == cap) {
			char *nb = realloc(buf, cap * 2);
			if (nb == NULL)
				return err_set(err, GRPC_RESOURCE_EXHAUSTED, "out of memory");
			buf = nb;
			cap *= 2;
		}
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return err_set_errno(err, GRPC_FAILED_PRECONDITION, errno, "read %s", path);
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	return toml_parse(buf, len, path, out, err);
}
