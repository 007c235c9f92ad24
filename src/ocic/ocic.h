/* ocic internals shared by the command files. */
#ifndef OCID_OCIC_OCIC_H
#define OCID_OCIC_OCIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

#include "client/grpc_client.h"
#include "util/err.h"

#define OCIC_EXIT_OK 0
#define OCIC_EXIT_FAIL 1
#define OCIC_EXIT_USAGE 2

enum ocic_output { OCIC_OUT_TABLE, OCIC_OUT_JSON };

struct ocic {
	const char *endpoint;
	int64_t timeout_ns; /* 0: no deadline */
	enum ocic_output output;
	struct grpc_client *client; /* dialled on first use */
};

/* ---- main.c: calls, errors, argument parsing ---- */

/* The connection, dialled on first use. */
int ocic_client(struct ocic *o, struct grpc_client **out, ocid_error **err);

/* A unary call to "/runtime.v1.<service>/<method>" with the global deadline
 * plus extra_ns. */
int ocic_call(struct ocic *o, const char *path, const ProtobufCMessage *req,
	      const ProtobufCMessageDescriptor *resp_desc, int64_t extra_ns,
	      ProtobufCMessage **resp, ocid_error **err);

/* Prints "ocic: CODE: message" to stderr, frees err, returns OCIC_EXIT_FAIL. */
int ocic_fail(ocid_error *err);
/* Prints "ocic: <message>" and the usage to stderr, returns OCIC_EXIT_USAGE. */
int ocic_usage_error(const char *usage, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

enum opt_kind { OPT_FLAG, OPT_STRING, OPT_LIST };

struct strlist {
	const char **v;
	size_t n;
};

struct opt {
	const char *name; /* long name without "--" */
	char short_name;  /* 0 if none */
	enum opt_kind kind;
	void *dest; /* bool *, const char **, struct strlist * */
};

/* Parses argv[0..argc) (the words after the command) against opts; options
 * may come before or after positionals, "--name value" or "--name=value";
 * "--" ends options. Positionals are stored in pos (must hold argc entries).
 * Returns 0, OCIC_EXIT_USAGE after printing the error, or -1 when --help
 * was printed (the caller exits 0). */
int ocic_parse_args(int argc, char **argv, const struct opt *opts, size_t nopts,
		    const char *usage, const char **pos, int *npos);
void strlist_free(struct strlist *l);

/* Exactly one positional ID ("what" names the command in the error):
 * 0, OCIC_EXIT_USAGE, or -1 after --help. */
int ocic_one_id(int argc, char **argv, const char *usage, const char *what, const char **id);
/* The reply of create/start/stop/remove: the message as JSON with -o json,
 * else just the ID. Frees m. */
int ocic_print_id_reply(struct ocic *o, ProtobufCMessage *m, const char *id);
/* A command whose request is one ID: "ocic ctr start ID" and the like.
 * method is the RPC path, id_field the request's string field. */
int ocic_id_command(struct ocic *o, int argc, char **argv, const char *usage, const char *what,
		    const char *method, const ProtobufCMessageDescriptor *req_desc, const char *id_field,
		    const ProtobufCMessageDescriptor *resp_desc);

/* Parses "K=V" labels into the map entries of a filter's label_selector. */

/* ---- output.c ---- */

/* Prints msg as proto3 JSON, 2-space indent, newline. */
int print_json_message(const ProtobufCMessage *msg);
/* Reads file as JSON and converts it to a message of type desc. */
int load_json_message(const char *file, const ProtobufCMessageDescriptor *desc,
		      ProtobufCMessage **out, ocid_error **err);

/* "Key:  value", or "Key:" when value is empty. */
void print_kv(const char *key, const char *value);

struct table;
struct table *table_new(size_t ncols, ...); /* column headers */
void table_add(struct table *t, ...);      /* ncols const char * cells */
void table_print(struct table *t);          /* prints and frees */

/* Entry k/v of a map<string,string> field, read through its descriptor. */
void map_entry(const ProtobufCMessage *entry, const char **key, const char **value);
/* Prints "Title:" then "  key: value" lines (sorted); nothing if n == 0. */
void print_map(const char *title, ProtobufCMessage **entries, size_t n);
/* Builds n map entries of type entry_desc from "K=V" strings. */
int build_map(const ProtobufCMessageDescriptor *entry_desc, const struct strlist *kv,
	      ProtobufCMessage ***out, size_t *nout, ocid_error **err);
void free_map(ProtobufCMessage **entries, size_t n);

/* Name of an enum value ("SANDBOX_READY"), or the number. */
const char *enum_name(const ProtobufCEnumDescriptor *d, int value, char *buf, size_t n);
/* "3 minutes ago" from Unix nanoseconds; "" for 0. */
const char *fmt_age(int64_t ns, char *buf, size_t n);
/* RFC 3339 UTC with nanoseconds; "" for 0. */
const char *fmt_time(int64_t ns, char *buf, size_t n);
/* "1.23MB", decimal units as crictl prints them. */
const char *fmt_size(uint64_t bytes, char *buf, size_t n);
/* The first 13 characters of an ID (after "sha256:"), unless no_trunc. */
const char *fmt_id(const char *id, bool no_trunc, char *buf, size_t n);

/* ---- commands ---- */
int cmd_runtime(struct ocic *o, int argc, char **argv);
int cmd_version(struct ocic *o, int argc, char **argv);
int cmd_pod(struct ocic *o, int argc, char **argv);
int cmd_ctr(struct ocic *o, int argc, char **argv);
int cmd_image(struct ocic *o, int argc, char **argv);
int cmd_raw(struct ocic *o, int argc, char **argv);

/* raw.c: a message type by full name ("runtime.v1.VersionRequest"), found
 * through the services' methods; NULL if none. */
const ProtobufCMessageDescriptor *ocic_find_type(const char *name);

#define RUNTIME_SERVICE "/runtime.v1.RuntimeService/"
#define IMAGE_SERVICE "/runtime.v1.ImageService/"

#endif
