/* JSON <-> protobuf-c messages, driven only by the descriptors that protoc-c
 * generates, following the proto3 JSON mapping. See pbjson.h for the
 * contract; the choices made where the mapping leaves room:
 *
 * Output (pbjson_from_message)
 *   - Field keys are lowerCamelCase, computed from the proto name the way
 *     protoc computes json_name (protobuf-c 1.4 descriptors do not carry it).
 *   - Every field is emitted, defaults included, in tag order, except:
 *     a singular sub-message whose pointer is NULL is omitted (not null);
 *     of a oneof only the member named by the case is emitted; a field with
 *     explicit presence (LABEL_OPTIONAL: has_ flag or NULL pointer) is
 *     emitted only when present.
 *   - int64/uint64 family as decimal strings; 32-bit integers as numbers.
 *   - float/double as numbers; NaN and infinities as "NaN", "Infinity",
 *     "-Infinity". A float is widened through its shortest decimal form, so
 *     0.1f becomes 0.1, not 0.10000000149011612.
 *   - enum by value name; a number with no name is emitted as a number.
 *   - bytes as standard base64 with padding.
 *   - repeated as arrays; maps as objects (keys are decimal for integer
 *     keys, "true"/"false" for bool keys; a key repeated in the entries:
 *     last wins, as when parsing the wire format). A NULL message that must
 *     still be shown (map value, list element, selected oneof member) is
 *     emitted as the default instance.
 *   - A map is a repeated field of a "...Entry" message nested in the
 *     parent, named after the field, with exactly key = 1 and value = 2
 *     (what protoc generates); anything else is a plain repeated message.
 *   - A string that is not valid UTF-8 (protobuf-c does not check) has each
 *     bad byte replaced by U+FFFD rather than failing the whole message.
 *
 * Input (pbjson_to_message)
 *   - Keys may be the lowerCamelCase name or the proto field name. The same
 *     field twice (under both spellings) and two members of one oneof are
 *     errors. JSON null for a field leaves it at its default; null inside an
 *     array or as a map value is an error.
 *   - Integers: JSON integers, integral reals (1e3) and decimal strings, all
 *     range-checked against the field type. Floats: numbers, numeric strings,
 *     "NaN", "Infinity", "-Infinity"; a finite value that would round to
 *     infinity as a float is out of range for a float field.
 *   - bool: JSON true/false only (map keys: "true"/"false").
 *   - string: no embedded NUL. bytes: standard or URL-safe base64, padding
 *     optional.
 *   - enum: value name (unknown name is an error) or an int32 number.
 *   - Nesting deeper than PBJSON_MAX_DEPTH messages is rejected.
 *   - Errors are INVALID_ARGUMENT, "<path>: <what>" where path is built from
 *     the keys as written, "[i]" for array elements and ["k"] for map keys
 *     (untrusted text in messages is cut to QUOTE_MAX bytes); an unknown
 *     field is an error too. Allocation failure is RESOURCE_EXHAUSTED.
 *   - The result is built with malloc and protobuf_c_message_init only, so
 *     protobuf_c_message_free_unpacked(m, NULL) frees it; on error everything
 *     built so far is freed the same way. */
#include "util/pbjson.h"

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PBJSON_MAX_DEPTH 100
/* Longest piece of untrusted text (a key, an enum name) quoted in an error. */
#define QUOTE_MAX 128

#define MEMBER_PTR(msg, off) ((void *)((char *)(msg) + (off)))
#define CMEMBER_PTR(msg, off) ((const void *)((const char *)(msg) + (off)))

/* ------------------------------------------------------------------------ */
/* Descriptor helpers shared by both directions                             */

static size_t repeated_elem_size(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_ENUM:
		return 4;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		return 8;
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_STRING:
		return sizeof(char *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(ProtobufCMessage *);
	}
	return 0;
}

static bool is_map_key_type(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_DOUBLE:
	case PROTOBUF_C_TYPE_BYTES:
	case PROTOBUF_C_TYPE_ENUM:
	case PROTOBUF_C_TYPE_MESSAGE:
		return false;
	default:
		return true;
	}
}

static int ascii_lower(int c)
{
	return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c;
}

/* A map field is, to protobuf-c, a repeated field of a synthetic message
 * that protoc nests in the parent and names after the field
 * ("labels" -> "LabelsEntry"), with exactly key = 1 and value = 2. All of
 * that is checked, so a user message that merely looks like an entry is
 * still treated as a plain repeated message. */
static bool is_map_field(const ProtobufCMessageDescriptor *parent,
			 const ProtobufCFieldDescriptor *f)
{
	if (f->label != PROTOBUF_C_LABEL_REPEATED || f->type != PROTOBUF_C_TYPE_MESSAGE)
		return false;
	const ProtobufCMessageDescriptor *e = f->descriptor;
	if (e == NULL || e->n_fields != 2 || e->short_name == NULL || e->name == NULL)
		return false;

	size_t sl = strlen(e->short_name);
	if (sl <= 5 || strcmp(e->short_name + sl - 5, "Entry") != 0)
		return false;

	/* Nested directly in the parent: "<parent>.<short_name>". */
	size_t pl = strlen(parent->name);
	if (strncmp(e->name, parent->name, pl) != 0 || e->name[pl] != '.' ||
	    strcmp(e->name + pl + 1, e->short_name) != 0)
		return false;

	/* Named after the field: underscores dropped, case ignored. */
	const char *fn = f->name;
	size_t i = 0;
	for (; *fn; fn++) {
		if (*fn == '_')
			continue;
		if (i >= sl - 5 || ascii_lower((unsigned char)*fn) !=
					   ascii_lower((unsigned char)e->short_name[i]))
			return false;
		i++;
	}
	if (i != sl - 5)
		return false;

	const ProtobufCFieldDescriptor *k = &e->fields[0], *v = &e->fields[1];
	return k->id == 1 && strcmp(k->name, "key") == 0 &&
	       k->label != PROTOBUF_C_LABEL_REPEATED && is_map_key_type(k->type) &&
	       v->id == 2 && strcmp(v->name, "value") == 0 &&
	       v->label != PROTOBUF_C_LABEL_REPEATED;
}

/* protoc's json_name: drop '_' and upper-case the letter after it. */
static char *json_name(const char *proto_name)
{
	char *out = malloc(strlen(proto_name) + 1);
	if (out == NULL)
		return NULL;
	char *o = out;
	bool up = false;
	for (const char *p = proto_name; *p; p++) {
		if (*p == '_') {
			up = true;
			continue;
		}
		*o++ = (up && *p >= 'a' && *p <= 'z') ? (char)(*p - 'a' + 'A') : *p;
		up = false;
	}
	*o = '\0';
	return out;
}

static bool json_name_equals(const char *proto_name, const char *key)
{
	bool up = false;
	for (const char *p = proto_name; *p; p++) {
		if (*p == '_') {
			up = true;
			continue;
		}
		char c = (up && *p >= 'a' && *p <= 'z') ? (char)(*p - 'a' + 'A') : *p;
		up = false;
		if (*key != c)
			return false;
		key++;
	}
	return *key == '\0';
}

static const ProtobufCFieldDescriptor *find_field(const ProtobufCMessageDescriptor *d,
						  const char *key)
{
	const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(d, key);
	if (f != NULL)
		return f;
	for (unsigned i = 0; i < d->n_fields; i++)
		if (json_name_equals(d->fields[i].name, key))
			return &d->fields[i];
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* base64                                                                    */

static const char b64_std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

/* Standard or URL-safe alphabet, padding optional (but if present it must
 * complete the last quantum). Returns 0, or -1 if s is not base64, or -2 if
 * out of memory. An empty input gives data NULL, len 0. */
static int b64_decode(const char *s, size_t n, ProtobufCBinaryData *out)
{
	size_t pad = 0;
	while (n > 0 && s[n - 1] == '=' && pad < 2) {
		n--;
		pad++;
	}
	if (n % 4 == 1 || (pad > 0 && (n + pad) % 4 != 0))
		return -1;
	size_t olen = n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
	out->len = 0;
	out->data = NULL;
	if (olen == 0)
		return n == 0 ? 0 : -1;
	uint8_t *buf = malloc(olen);
	if (buf == NULL)
		return -2;
	size_t o = 0;
	uint32_t acc = 0;
	unsigned bits = 0;
	for (size_t i = 0; i < n; i++) {
		int v = b64_value((unsigned char)s[i]);
		if (v < 0) {
			free(buf);
			return -1;
		}
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf[o++] = (uint8_t)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	out->data = buf;
	out->len = o;
	return 0;
}

static char *b64_encode(const uint8_t *d, size_t n)
{
	if (n > (SIZE_MAX - 1) / 4 * 3 - 3)
		return NULL;
	char *out = malloc((n + 2) / 3 * 4 + 1);
	if (out == NULL)
		return NULL;
	char *o = out;
	size_t i = 0;
	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)d[i] << 16 | (uint32_t)d[i + 1] << 8 | d[i + 2];
		*o++ = b64_std[v >> 18];
		*o++ = b64_std[(v >> 12) & 63];
		*o++ = b64_std[(v >> 6) & 63];
		*o++ = b64_std[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)d[i] << 16;
		*o++ = b64_std[v >> 18];
		*o++ = b64_std[(v >> 12) & 63];
		*o++ = '=';
		*o++ = '=';
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)d[i] << 16 | (uint32_t)d[i + 1] << 8;
		*o++ = b64_std[v >> 18];
		*o++ = b64_std[(v >> 12) & 63];
		*o++ = b64_std[(v >> 6) & 63];
		*o++ = '=';
	}
	*o = '\0';
	return out;
}

/* ------------------------------------------------------------------------ */
/* UTF-8                                                                     */

/* Length of the well-formed UTF-8 sequence at s (at most n bytes), or 0. */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	if (c < 0x80)
		return 1;
	size_t len;
	uint32_t cp;
	if (c >= 0xC2 && c <= 0xDF) {
		len = 2;
		cp = c & 0x1F;
	} else if (c >= 0xE0 && c <= 0xEF) {
		len = 3;
		cp = c & 0x0F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		len = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
	    (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return len;
}

/* A JSON string from C text that may not be valid UTF-8. */
static json_t *json_text(const char *s)
{
	if (s == NULL)
		s = "";
	size_t n = strlen(s);
	const unsigned char *u = (const unsigned char *)s;
	size_t bad = 0;
	for (size_t i = 0; i < n;) {
		size_t l = utf8_seq_len(u + i, n - i);
		if (l == 0) {
			bad++;
			i++;
		} else {
			i += l;
		}
	}
	if (bad == 0)
		return json_stringn_nocheck(s, n);
	if (bad > (SIZE_MAX - n - 1) / 2)
		return NULL;
	char *fixed = malloc(n + bad * 2 + 1);
	if (fixed == NULL)
		return NULL;
	char *o = fixed;
	for (size_t i = 0; i < n;) {
		size_t l = utf8_seq_len(u + i, n - i);
		if (l == 0) {
			memcpy(o, "\xEF\xBF\xBD", 3);
			o += 3;
			i++;
		} else {
			memcpy(o, s + i, l);
			o += l;
			i += l;
		}
	}
	json_t *j = json_stringn_nocheck(fixed, (size_t)(o - fixed));
	free(fixed);
	return j;
}

/* ------------------------------------------------------------------------ */
/* Output: message -> JSON                                                   */

static json_t *message_to_json(const ProtobufCMessage *msg);

static json_t *default_message_json(const ProtobufCMessageDescriptor *d)
{
	void *m = malloc(d->sizeof_message);
	if (m == NULL)
		return NULL;
	protobuf_c_message_init(d, m);
	json_t *j = message_to_json(m);
	free(m); /* an initialised message holds only static defaults */
	return j;
}

static json_t *nonfinite_json(double v)
{
	if (isnan(v))
		return json_string("NaN");
	return json_string(v > 0 ? "Infinity" : "-Infinity");
}

static json_t *float_json(float f)
{
	if (!isfinite(f))
		return nonfinite_json(f);
	char buf[64];
	double d = f;
	for (int prec = 1; prec <= 9; prec++) {
		snprintf(buf, sizeof(buf), "%.*g", prec, (double)f);
		double back = strtod(buf, NULL);
		if ((float)back == f) {
			d = back;
			break;
		}
	}
	return json_real(d);
}

/* The value at slot (a scalar, char *, ProtobufCBinaryData or message
 * pointer) as JSON. */
static json_t *value_to_json(const ProtobufCFieldDescriptor *f, const void *slot)
{
	char buf[32];
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		return json_integer(*(const int32_t *)slot);
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return json_integer(*(const uint32_t *)slot);
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		snprintf(buf, sizeof(buf), "%" PRId64, *(const int64_t *)slot);
		return json_string(buf);
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		snprintf(buf, sizeof(buf), "%" PRIu64, *(const uint64_t *)slot);
		return json_string(buf);
	case PROTOBUF_C_TYPE_FLOAT:
		return float_json(*(const float *)slot);
	case PROTOBUF_C_TYPE_DOUBLE: {
		double d = *(const double *)slot;
		return isfinite(d) ? json_real(d) : nonfinite_json(d);
	}
	case PROTOBUF_C_TYPE_BOOL:
		return json_boolean(*(const protobuf_c_boolean *)slot);
	case PROTOBUF_C_TYPE_ENUM: {
		int v = *(const int *)slot;
		const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(f->descriptor, v);
		return ev ? json_string(ev->name) : json_integer(v);
	}
	case PROTOBUF_C_TYPE_STRING:
		return json_text(*(char *const *)slot);
	case PROTOBUF_C_TYPE_BYTES: {
		const ProtobufCBinaryData *bd = slot;
		if (bd->len == 0 || bd->data == NULL)
			return json_string("");
		char *s = b64_encode(bd->data, bd->len);
		if (s == NULL)
			return NULL;
		json_t *j = json_string_nocheck(s);
		free(s);
		return j;
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessage *sub = *(ProtobufCMessage *const *)slot;
		return sub ? message_to_json(sub) : default_message_json(f->descriptor);
	}
	}
	return NULL;
}

static json_t *map_to_json(const ProtobufCFieldDescriptor *f, size_t n,
			   ProtobufCMessage *const *entries)
{
	const ProtobufCMessageDescriptor *ed = f->descriptor;
	const ProtobufCFieldDescriptor *kf = &ed->fields[0], *vf = &ed->fields[1];
	json_t *obj = json_object();
	if (obj == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		const ProtobufCMessage *e = entries[i];
		json_t *kj = NULL;
		if (e == NULL)
			continue;
		const void *kslot = CMEMBER_PTR(e, kf->offset);
		const void *vslot = CMEMBER_PTR(e, vf->offset);
		if (kf->type == PROTOBUF_C_TYPE_BOOL) {
			kj = json_string(*(const protobuf_c_boolean *)kslot ? "true" : "false");
		} else {
			kj = value_to_json(kf, kslot);
			/* 32-bit keys come back as numbers: print them. */
			if (kj != NULL && json_is_integer(kj)) {
				char buf[32];
				snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(kj));
				json_decref(kj);
				kj = json_string(buf);
			}
		}
		json_t *vj = value_to_json(vf, vslot);
		if (kj == NULL || vj == NULL) {
			json_decref(kj);
			json_decref(vj);
			json_decref(obj);
			return NULL;
		}
		/* set_new takes vj even when it fails; a repeated key: last wins. */
		int r = json_object_set_new(obj, json_string_value(kj), vj);
		json_decref(kj);
		if (r < 0) {
			json_decref(obj);
			return NULL;
		}
	}
	return obj;
}

static json_t *repeated_to_json(const ProtobufCFieldDescriptor *f, size_t n, const void *arr)
{
	json_t *a = json_array();
	if (a == NULL)
		return NULL;
	size_t sz = repeated_elem_size(f->type);
	for (size_t i = 0; i < n; i++) {
		json_t *v = value_to_json(f, (const char *)arr + i * sz);
		if (v == NULL || json_array_append_new(a, v) < 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static json_t *message_to_json(const ProtobufCMessage *msg)
{
	const ProtobufCMessageDescriptor *d = msg->descriptor;
	json_t *obj = json_object();
	if (obj == NULL)
		return NULL;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const void *slot = CMEMBER_PTR(msg, f->offset);
		json_t *v;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)CMEMBER_PTR(msg, f->quantifier_offset);
			const void *arr = *(void *const *)slot;
			if (arr == NULL)
				n = 0;
			v = is_map_field(d, f) ? map_to_json(f, n, arr) : repeated_to_json(f, n, arr);
		} else {
			if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
				if (*(const uint32_t *)CMEMBER_PTR(msg, f->quantifier_offset) != f->id)
					continue;
			} else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
				if (*(void *const *)slot == NULL)
					continue;
			} else if (f->label == PROTOBUF_C_LABEL_OPTIONAL) {
				if (f->type == PROTOBUF_C_TYPE_STRING) {
					if (*(char *const *)slot == NULL)
						continue;
				} else if (!*(const protobuf_c_boolean *)CMEMBER_PTR(msg, f->quantifier_offset)) {
					continue;
				}
			}
			v = value_to_json(f, slot);
		}
		char *key = v ? json_name(f->name) : NULL;
		if (key == NULL) {
			json_decref(v);
			json_decref(obj);
			return NULL;
		}
		int r = json_object_set_new(obj, key, v);
		free(key);
		if (r < 0) {
			json_decref(obj);
			return NULL;
		}
	}
	return obj;
}

json_t *pbjson_from_message(const ProtobufCMessage *msg)
{
	if (msg == NULL || msg->descriptor == NULL ||
	    msg->descriptor->magic != PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC)
		return NULL;
	return message_to_json(msg);
}

/* ------------------------------------------------------------------------ */
/* Input: JSON -> message                                                    */

struct ctx {
	ocid_error **err;
	char *path; /* field path for error messages; NULL until first use */
	size_t len, cap;
	bool path_oom;
	unsigned depth;
};

static void path_append(struct ctx *c, const char *s, size_t n)
{
	if (c->path_oom)
		return;
	if (c->len + n + 1 > c->cap) {
		size_t cap = c->cap ? c->cap : 64;
		while (cap < c->len + n + 1)
			cap *= 2;
		char *p = realloc(c->path, cap);
		if (p == NULL) {
			c->path_oom = true;
			return;
		}
		c->path = p;
		c->cap = cap;
	}
	memcpy(c->path + c->len, s, n);
	c->len += n;
	c->path[c->len] = '\0';
}

/* How much of untrusted text s to quote: at most QUOTE_MAX bytes, cut at a
 * UTF-8 boundary; *more tells whether anything was left out. */
static int quote_len(const char *s, bool *more)
{
	size_t n = strlen(s);
	*more = n > QUOTE_MAX;
	if (!*more)
		return (int)n;
	n = QUOTE_MAX;
	while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
		n--;
	return (int)n;
}

static void path_append_quoted(struct ctx *c, const char *s)
{
	bool more;
	int n = quote_len(s, &more);
	path_append(c, s, (size_t)n);
	if (more)
		path_append(c, "...", 3);
}

static size_t path_push_key(struct ctx *c, const char *key)
{
	size_t saved = c->len;
	if (c->len > 0)
		path_append(c, ".", 1);
	path_append_quoted(c, key);
	return saved;
}

static size_t path_push_index(struct ctx *c, size_t i)
{
	size_t saved = c->len;
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "[%zu]", i);
	path_append(c, buf, (size_t)n);
	return saved;
}

static size_t path_push_map_key(struct ctx *c, const char *key)
{
	size_t saved = c->len;
	path_append(c, "[\"", 2);
	path_append_quoted(c, key);
	path_append(c, "\"]", 2);
	return saved;
}

static void path_pop(struct ctx *c, size_t saved)
{
	if (c->path_oom)
		return;
	c->len = saved;
	if (c->path)
		c->path[saved] = '\0';
}

static int failv(struct ctx *c, enum grpc_code code, const char *fmt, va_list ap)
{
	char *what = NULL;
	if (vasprintf(&what, fmt, ap) < 0)
		what = NULL;
	const char *w = what ? what : "invalid value";
	if (c->path_oom)
		err_set(c->err, code, "(path unavailable): %s", w);
	else if (c->len > 0)
		err_set(c->err, code, "%s: %s", c->path, w);
	else
		err_set(c->err, code, "%s", w);
	free(what);
	return -1;
}

__attribute__((format(printf, 2, 3))) static int fail(struct ctx *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	failv(c, GRPC_INVALID_ARGUMENT, fmt, ap);
	va_end(ap);
	return -1;
}

static int fail_oom(struct ctx *c)
{
	return err_set(c->err, GRPC_RESOURCE_EXHAUSTED, "%s%sout of memory",
		       c->len > 0 && !c->path_oom ? c->path : "",
		       c->len > 0 && !c->path_oom ? ": " : "");
}

static const char *kind(const json_t *j)
{
	switch (json_typeof(j)) {
	case JSON_OBJECT:
		return "object";
	case JSON_ARRAY:
		return "array";
	case JSON_STRING:
		return "string";
	case JSON_INTEGER:
		return "integer";
	case JSON_REAL:
		return "number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "boolean";
	case JSON_NULL:
		return "null";
	}
	return "value";
}

/* Decimal integer text: optional '-', then digits, nothing else.
 * Returns 0, -1 (not an integer) or -2 (out of range). */
static int parse_dec_i64(const char *s, size_t n, int64_t *out)
{
	bool neg = n > 0 && s[0] == '-';
	size_t i = neg ? 1 : 0;
	if (i == n)
		return -1;
	uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	uint64_t v = 0;
	bool over = false;
	for (; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		unsigned dgt = (unsigned)(s[i] - '0');
		if (v > (limit - dgt) / 10)
			over = true;
		else
			v = v * 10 + dgt;
	}
	if (over)
		return -2;
	*out = neg ? (v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v) : (int64_t)v;
	return 0;
}

static int parse_dec_u64(const char *s, size_t n, uint64_t *out)
{
	if (n > 0 && s[0] == '-') {
		int64_t v;
		int r = parse_dec_i64(s, n, &v);
		if (r == -1)
			return -1;
		if (v == 0) {
			*out = 0;
			return 0;
		}
		return -2;
	}
	if (n == 0)
		return -1;
	uint64_t v = 0;
	bool over = false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		unsigned dgt = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - dgt) / 10)
			over = true;
		else
			v = v * 10 + dgt;
	}
	if (over)
		return -2;
	*out = v;
	return 0;
}

static int get_i64(struct ctx *c, const json_t *j, int64_t lo, int64_t hi, const char *tname,
		   int64_t *out)
{
	int64_t v;
	switch (json_typeof(j)) {
	case JSON_INTEGER:
		v = json_integer_value(j);
		break;
	case JSON_REAL: {
		double d = json_real_value(j);
		if (d != trunc(d))
			return fail(c, "expected an integer, got number %g", d);
		if (!(d >= -0x1p63 && d < 0x1p63))
			return fail(c, "value %g out of range for %s", d, tname);
		v = (int64_t)d;
		break;
	}
	case JSON_STRING: {
		int r = parse_dec_i64(json_string_value(j), json_string_length(j), &v);
		if (r == -1)
			return fail(c, "expected an integer, got string");
		if (r == -2)
			return fail(c, "value out of range for %s", tname);
		break;
	}
	default:
		return fail(c, "expected an integer, got %s", kind(j));
	}
	if (v < lo || v > hi)
		return fail(c, "value %" PRId64 " out of range for %s", v, tname);
	*out = v;
	return 0;
}

static int get_u64(struct ctx *c, const json_t *j, uint64_t hi, const char *tname, uint64_t *out)
{
	uint64_t v;
	switch (json_typeof(j)) {
	case JSON_INTEGER: {
		json_int_t i = json_integer_value(j);
		if (i < 0)
			return fail(c, "value %" JSON_INTEGER_FORMAT " out of range for %s", i, tname);
		v = (uint64_t)i;
		break;
	}
	case JSON_REAL: {
		double d = json_real_value(j);
		if (d != trunc(d))
			return fail(c, "expected an integer, got number %g", d);
		if (!(d >= 0 && d < 0x1p64))
			return fail(c, "value %g out of range for %s", d, tname);
		v = (uint64_t)d;
		break;
	}
	case JSON_STRING: {
		int r = parse_dec_u64(json_string_value(j), json_string_length(j), &v);
		if (r == -1)
			return fail(c, "expected an integer, got string");
		if (r == -2)
			return fail(c, "value out of range for %s", tname);
		break;
	}
	default:
		return fail(c, "expected an integer, got %s", kind(j));
	}
	if (v > hi)
		return fail(c, "value %" PRIu64 " out of range for %s", v, tname);
	*out = v;
	return 0;
}

/* A decimal number in a string: JSON-number characters only, so strtod's
 * hex, "inf" and "nan" spellings and leading blanks are not accepted. */
static bool parse_number_text(const char *s, size_t n, double *out)
{
	if (n == 0 || n > 512)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!strchr("0123456789+-.eE", s[i]) || s[i] == '\0')
			return false;
	char *end = NULL;
	double d = strtod(s, &end);
	if (end != s + n)
		return false;
	*out = d;
	return true;
}

static int get_double(struct ctx *c, const json_t *j, bool is_float, double *out)
{
	double d;
	switch (json_typeof(j)) {
	case JSON_INTEGER:
		d = (double)json_integer_value(j);
		break;
	case JSON_REAL:
		d = json_real_value(j);
		break;
	case JSON_STRING: {
		const char *s = json_string_value(j);
		if (strcmp(s, "NaN") == 0)
			d = NAN;
		else if (strcmp(s, "Infinity") == 0)
			d = INFINITY;
		else if (strcmp(s, "-Infinity") == 0)
			d = -INFINITY;
		else if (!parse_number_text(s, json_string_length(j), &d))
			return fail(c, "expected a number, got string");
		else if (!isfinite(d))
			return fail(c, "value out of range for %s", is_float ? "float" : "double");
		break;
	}
	default:
		return fail(c, "expected a number, got %s", kind(j));
	}
	/* Beyond FLT_MAX by half an ulp or more, it would round to infinity. */
	if (is_float && isfinite(d) && fabs(d) >= (double)FLT_MAX + 0x1p103)
		return fail(c, "value %g out of range for float", d);
	*out = d;
	return 0;
}

static int get_string(struct ctx *c, const json_t *j, char **out)
{
	if (!json_is_string(j))
		return fail(c, "expected a string, got %s", kind(j));
	const char *s = json_string_value(j);
	size_t n = json_string_length(j);
	if (memchr(s, '\0', n) != NULL)
		return fail(c, "string contains a NUL character");
	char *copy = malloc(n + 1);
	if (copy == NULL)
		return fail_oom(c);
	memcpy(copy, s, n + 1);
	*out = copy;
	return 0;
}

static int parse_message(struct ctx *c, const ProtobufCMessageDescriptor *d, const json_t *j,
			 ProtobufCMessage **out);

/* Parses one value (not null, not repeated) into slot. On failure slot is
 * left as it was. */
static int parse_value(struct ctx *c, const ProtobufCFieldDescriptor *f, const json_t *j,
		       void *slot)
{
	int64_t i;
	uint64_t u;
	double d;
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		if (get_i64(c, j, INT32_MIN, INT32_MAX, "int32", &i) < 0)
			return -1;
		*(int32_t *)slot = (int32_t)i;
		return 0;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		if (get_u64(c, j, UINT32_MAX, "uint32", &u) < 0)
			return -1;
		*(uint32_t *)slot = (uint32_t)u;
		return 0;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		if (get_i64(c, j, INT64_MIN, INT64_MAX, "int64", &i) < 0)
			return -1;
		*(int64_t *)slot = i;
		return 0;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		if (get_u64(c, j, UINT64_MAX, "uint64", &u) < 0)
			return -1;
		*(uint64_t *)slot = u;
		return 0;
	case PROTOBUF_C_TYPE_FLOAT:
		if (get_double(c, j, true, &d) < 0)
			return -1;
		*(float *)slot = (float)d;
		return 0;
	case PROTOBUF_C_TYPE_DOUBLE:
		if (get_double(c, j, false, &d) < 0)
			return -1;
		*(double *)slot = d;
		return 0;
	case PROTOBUF_C_TYPE_BOOL:
		if (!json_is_boolean(j))
			return fail(c, "expected a boolean, got %s", kind(j));
		*(protobuf_c_boolean *)slot = json_is_true(j);
		return 0;
	case PROTOBUF_C_TYPE_ENUM: {
		const ProtobufCEnumDescriptor *ed = f->descriptor;
		if (json_is_string(j)) {
			const char *name = json_string_value(j);
			const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value_by_name(ed, name);
			if (ev == NULL || strlen(name) != json_string_length(j)) {
				bool more;
				int n = quote_len(name, &more);
				return fail(c, "unknown value \"%.*s%s\" for enum %s", n, name,
					    more ? "..." : "", ed->name);
			}
			*(int *)slot = ev->value;
			return 0;
		}
		if (json_is_number(j)) {
			if (get_i64(c, j, INT32_MIN, INT32_MAX, "enum", &i) < 0)
				return -1;
			*(int *)slot = (int)i;
			return 0;
		}
		return fail(c, "expected an enum name or number, got %s", kind(j));
	}
	case PROTOBUF_C_TYPE_STRING:
		return get_string(c, j, (char **)slot);
	case PROTOBUF_C_TYPE_BYTES: {
		if (!json_is_string(j))
			return fail(c, "expected a base64 string, got %s", kind(j));
		ProtobufCBinaryData bd;
		int r = b64_decode(json_string_value(j), json_string_length(j), &bd);
		if (r == -2)
			return fail_oom(c);
		if (r < 0)
			return fail(c, "invalid base64");
		*(ProtobufCBinaryData *)slot = bd;
		return 0;
	}
	case PROTOBUF_C_TYPE_MESSAGE:
		return parse_message(c, f->descriptor, j, (ProtobufCMessage **)slot);
	}
	return fail(c, "unsupported field type %d", (int)f->type);
}

static int parse_map_key(struct ctx *c, const ProtobufCFieldDescriptor *kf, const char *key,
			 void *slot)
{
	size_t n = strlen(key);
	int64_t i;
	uint64_t u;
	int r;
	switch (kf->type) {
	case PROTOBUF_C_TYPE_STRING: {
		char *s = malloc(n + 1);
		if (s == NULL)
			return fail_oom(c);
		memcpy(s, key, n + 1);
		*(char **)slot = s;
		return 0;
	}
	case PROTOBUF_C_TYPE_BOOL:
		if (strcmp(key, "true") == 0)
			*(protobuf_c_boolean *)slot = 1;
		else if (strcmp(key, "false") == 0)
			*(protobuf_c_boolean *)slot = 0;
		else
			return fail(c, "invalid map key: expected \"true\" or \"false\"");
		return 0;
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64: {
		bool is32 = kf->type == PROTOBUF_C_TYPE_INT32 || kf->type == PROTOBUF_C_TYPE_SINT32 ||
			    kf->type == PROTOBUF_C_TYPE_SFIXED32;
		r = parse_dec_i64(key, n, &i);
		if (r == -1)
			return fail(c, "invalid map key: expected an integer");
		if (r == -2 || (is32 && (i < INT32_MIN || i > INT32_MAX)))
			return fail(c, "invalid map key: out of range for %s", is32 ? "int32" : "int64");
		if (is32)
			*(int32_t *)slot = (int32_t)i;
		else
			*(int64_t *)slot = i;
		return 0;
	}
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64: {
		bool is32 = kf->type == PROTOBUF_C_TYPE_UINT32 || kf->type == PROTOBUF_C_TYPE_FIXED32;
		r = parse_dec_u64(key, n, &u);
		if (r == -1)
			return fail(c, "invalid map key: expected an integer");
		if (r == -2 || (is32 && u > UINT32_MAX))
			return fail(c, "invalid map key: out of range for %s", is32 ? "uint32" : "uint64");
		if (is32)
			*(uint32_t *)slot = (uint32_t)u;
		else
			*(uint64_t *)slot = u;
		return 0;
	}
	default:
		return fail(c, "unsupported map key type");
	}
}

/* The array is attached to msg (with its count) before it is filled, so a
 * failure half way is cleaned up by protobuf_c_message_free_unpacked: the
 * still-zeroed elements are NULL pointers / empty bytes, which it skips. */
static int parse_repeated(struct ctx *c, const ProtobufCFieldDescriptor *f, const json_t *j,
			  ProtobufCMessage *msg)
{
	if (!json_is_array(j))
		return fail(c, "expected an array, got %s", kind(j));
	size_t n = json_array_size(j);
	if (n == 0)
		return 0;
	size_t sz = repeated_elem_size(f->type);
	void *arr = calloc(n, sz);
	if (arr == NULL)
		return fail_oom(c);
	*(void **)MEMBER_PTR(msg, f->offset) = arr;
	*(size_t *)MEMBER_PTR(msg, f->quantifier_offset) = n;
	for (size_t i = 0; i < n; i++) {
		const json_t *el = json_array_get(j, i);
		size_t saved = path_push_index(c, i);
		int r = json_is_null(el) ? fail(c, "null is not allowed in an array")
					 : parse_value(c, f, el, (char *)arr + i * sz);
		if (r < 0)
			return -1;
		path_pop(c, saved);
	}
	return 0;
}

static int parse_map(struct ctx *c, const ProtobufCFieldDescriptor *f, const json_t *j,
		     ProtobufCMessage *msg)
{
	if (!json_is_object(j))
		return fail(c, "expected an object, got %s", kind(j));
	size_t n = json_object_size(j);
	if (n == 0)
		return 0;
	const ProtobufCMessageDescriptor *ed = f->descriptor;
	const ProtobufCFieldDescriptor *kf = &ed->fields[0], *vf = &ed->fields[1];
	ProtobufCMessage **arr = calloc(n, sizeof(*arr));
	if (arr == NULL)
		return fail_oom(c);
	*(void **)MEMBER_PTR(msg, f->offset) = arr;
	*(size_t *)MEMBER_PTR(msg, f->quantifier_offset) = n;

	size_t i = 0, klen;
	const char *key;
	json_t *val;
	json_object_keylen_foreach((json_t *)j, key, klen, val) {
		if (i >= n)
			break;
		size_t saved = path_push_map_key(c, key);
		if (strlen(key) != klen)
			return fail(c, "map key contains a NUL character");
		ProtobufCMessage *e = malloc(ed->sizeof_message);
		if (e == NULL)
			return fail_oom(c);
		protobuf_c_message_init(ed, e);
		arr[i++] = e;
		if (parse_map_key(c, kf, key, MEMBER_PTR(e, kf->offset)) < 0)
			return -1;
		if (json_is_null(val))
			return fail(c, "null is not allowed as a map value");
		if (parse_value(c, vf, val, MEMBER_PTR(e, vf->offset)) < 0)
			return -1;
		if (vf->label == PROTOBUF_C_LABEL_OPTIONAL && vf->type != PROTOBUF_C_TYPE_STRING &&
		    vf->type != PROTOBUF_C_TYPE_MESSAGE)
			*(protobuf_c_boolean *)MEMBER_PTR(e, vf->quantifier_offset) = 1;
		if (kf->label == PROTOBUF_C_LABEL_OPTIONAL && kf->type != PROTOBUF_C_TYPE_STRING)
			*(protobuf_c_boolean *)MEMBER_PTR(e, kf->quantifier_offset) = 1;
		path_pop(c, saved);
	}
	*(size_t *)MEMBER_PTR(msg, f->quantifier_offset) = i;
	return 0;
}

static int parse_field(struct ctx *c, const ProtobufCMessageDescriptor *d,
		       const ProtobufCFieldDescriptor *f, const json_t *j, ProtobufCMessage *msg)
{
	if (f->label == PROTOBUF_C_LABEL_REPEATED)
		return is_map_field(d, f) ? parse_map(c, f, j, msg) : parse_repeated(c, f, j, msg);

	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
		uint32_t *which = MEMBER_PTR(msg, f->quantifier_offset);
		if (*which != 0) {
			const ProtobufCFieldDescriptor *other = protobuf_c_message_descriptor_get_field(d, *which);
			return fail(c, "only one field of a oneof may be set, \"%s\" is set too",
				    other ? other->name : "?");
		}
		/* The union member may hold anything until the case is set. */
		void *slot = MEMBER_PTR(msg, f->offset);
		if (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE)
			*(void **)slot = NULL;
		else if (f->type == PROTOBUF_C_TYPE_BYTES)
			*(ProtobufCBinaryData *)slot = (ProtobufCBinaryData){ 0, NULL };
		if (parse_value(c, f, j, slot) < 0)
			return -1;
		*which = f->id;
		return 0;
	}

	if (parse_value(c, f, j, MEMBER_PTR(msg, f->offset)) < 0)
		return -1;
	if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING &&
	    f->type != PROTOBUF_C_TYPE_MESSAGE)
		*(protobuf_c_boolean *)MEMBER_PTR(msg, f->quantifier_offset) = 1;
	return 0;
}

/* Builds into a fresh message; *out is set only on success. */
static int parse_message(struct ctx *c, const ProtobufCMessageDescriptor *d, const json_t *j,
			 ProtobufCMessage **out)
{
	if (!json_is_object(j))
		return fail(c, "expected an object, got %s", kind(j));
	if (c->depth >= PBJSON_MAX_DEPTH)
		return fail(c, "messages nested deeper than %d", PBJSON_MAX_DEPTH);

	ProtobufCMessage *msg = malloc(d->sizeof_message);
	bool *seen = calloc(d->n_fields ? d->n_fields : 1, sizeof(*seen));
	if (msg == NULL || seen == NULL) {
		free(msg);
		free(seen);
		return fail_oom(c);
	}
	protobuf_c_message_init(d, msg);
	c->depth++;

	int rc = 0;
	const char *key;
	size_t klen;
	json_t *val;
	json_object_keylen_foreach((json_t *)j, key, klen, val) {
		const ProtobufCFieldDescriptor *f = strlen(key) == klen ? find_field(d, key) : NULL;
		if (f == NULL) {
			bool more;
			int n = quote_len(key, &more);
			rc = fail(c, "unknown field \"%.*s%s\" in %s", n, key, more ? "..." : "",
				  d->name);
			break;
		}
		size_t saved = path_push_key(c, key);
		size_t idx = (size_t)(f - d->fields);
		if (seen[idx]) {
			rc = fail(c, "field \"%s\" given more than once", f->name);
			break;
		}
		seen[idx] = true;
		if (!json_is_null(val) && parse_field(c, d, f, val, msg) < 0) {
			rc = -1;
			break;
		}
		path_pop(c, saved);
	}

	for (unsigned i = 0; rc == 0 && i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		if (f->label == PROTOBUF_C_LABEL_REQUIRED &&
		    (f->type == PROTOBUF_C_TYPE_MESSAGE || f->type == PROTOBUF_C_TYPE_STRING) &&
		    *(void **)MEMBER_PTR(msg, f->offset) == NULL)
			rc = fail(c, "missing required field \"%s\" in %s", f->name, d->name);
	}

	c->depth--;
	free(seen);
	if (rc < 0) {
		protobuf_c_message_free_unpacked(msg, NULL);
		return -1;
	}
	*out = msg;
	return 0;
}

int pbjson_to_message(const ProtobufCMessageDescriptor *desc, json_t *json,
		      ProtobufCMessage **out, ocid_error **err)
{
	*out = NULL;
	if (desc == NULL || desc->magic != PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC)
		return err_set(err, GRPC_INTERNAL, "pbjson: not a message descriptor");
	if (json == NULL)
		return err_set(err, GRPC_INVALID_ARGUMENT, "expected a JSON object, got nothing");
	struct ctx c = { .err = err };
	ProtobufCMessage *m = NULL;
	int r = parse_message(&c, desc, json, &m);
	free(c.path);
	if (r < 0)
		return -1;
	*out = m;
	return 0;
}
