/* A TOML subset parser producing a plain tree.
 *
 * Supported: comments; bare, basic-quoted and literal-quoted keys; dotted
 * keys; [table] and [[array.of.tables]] headers (dotted, quoted parts);
 * basic strings with escapes (\b \t \n \f \r \" \\ \uXXXX \UXXXXXXXX) and
 * literal strings; integers (sign, underscores, 0x/0o/0b); booleans; arrays
 * (multi-line, comments inside, trailing comma). Not supported, and reported
 * as such: floats, dates, multi-line strings, inline tables.
 *
 * Every error is "FILE:LINE:COL: what is wrong". Every node records the line
 * and column it was written at, so a schema layer can report bad values as
 * "FILE:LINE: ...". */
#ifndef OCID_CONFIG_TOML_H
#define OCID_CONFIG_TOML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util/err.h"

enum toml_type {
	TOML_TABLE,
	TOML_ARRAY,
	TOML_STRING,
	TOML_INTEGER,
	TOML_BOOLEAN,
};

/* How a table came to exist; the parser uses it to refuse redefinitions. */
enum toml_table_kind {
	TOML_TABLE_IMPLICIT, /* only mentioned as a parent in a [a.b] header */
	TOML_TABLE_HEADER,   /* defined by a [header] or [[header]] (or the root) */
	TOML_TABLE_DOTTED,   /* created by a dotted key: a.b = 1 */
};

struct toml_node;

struct toml_entry {
	char *key;
	struct toml_node *value;
	int line, col; /* where the key was written */
};

struct toml_node {
	enum toml_type type;
	int line, col; /* where the value (or the defining header) was written */
	union {
		char *str;       /* TOML_STRING: UTF-8, no NUL inside */
		int64_t integer; /* TOML_INTEGER */
		bool boolean;    /* TOML_BOOLEAN */
		struct {
			struct toml_node **items;
			size_t len, cap;
			bool of_tables; /* made by [[header]] */
		} array;
		struct {
			struct toml_entry *items; /* in the order written */
			size_t len, cap;
			enum toml_table_kind kind;
		} table;
	};
};

/* Parses len bytes of text; name is used in error messages only. On success
 * *out is a new TOML_TABLE (the root). */
int toml_parse(const char *text, size_t len, const char *name, struct toml_node **out,
	       ocid_error **err);
/* Reads and parses a whole file. A missing file is a NOT_FOUND error. */
int toml_parse_file(const char *path, struct toml_node **out, ocid_error **err);
void toml_free(struct toml_node *node);

/* The value of key in table t, or NULL (also NULL when t is not a table). */
const struct toml_node *toml_get(const struct toml_node *t, const char *key);
/* "table", "array", "string", "integer", "boolean". */
const char *toml_type_name(enum toml_type type);

/* Writes key the way TOML needs it: bare when it is made only of
 * A-Z a-z 0-9 _ -, otherwise as a basic string. */
void toml_write_key(FILE *f, const char *key);
/* Writes s as a TOML basic string ("...", escaped as needed). */
void toml_write_string(FILE *f, const char *s);
/* True when key can be written without quotes. */
bool toml_key_is_bare(const char *key);

static inline void toml_node_cleanup(struct toml_node **n) { toml_free(*n); }
#define cleanup_toml __attribute__((cleanup(toml_node_cleanup)))

#endif
