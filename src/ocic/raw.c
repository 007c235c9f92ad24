/* ocic raw: arbitrary bytes to an arbitrary method, for tests. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.pb-c.h"
#include "ocic/ocic.h"
#include "util/cleanup.h"
#include "util/pbjson.h"

static const char raw_usage[] =
	"Usage: ocic raw METHOD [BODY] [--no-prefix] [--resp-type TYPE]\n"
	"\n"
	"Sends one request to METHOD (\"/runtime.v1.RuntimeService/Version\"; the\n"
	"leading '/' may be left out) and reports what came back. BODY is one of:\n"
	"  --data-file F     the bytes of file F\n"
	"  --data-hex HEX    bytes given in hex (\"0a027631\")\n"
	"  --size N          N zero bytes (N <= 1 GiB)\n"
	"  --json F [--type TYPE]\n"
	"                    F converted to a message of TYPE (full name, e.g.\n"
	"                    runtime.v1.VersionRequest; default: METHOD's request\n"
	"                    type when METHOD is a runtime.v1 method) and packed\n"
	"  (none)            an empty message (0 bytes)\n"
	"The body goes out behind a 5-byte gRPC prefix (uncompressed, its length)\n"
	"unless --no-prefix, which sends the bytes exactly as given (no body at\n"
	"all: the HEADERS frame ends the stream).\n"
	"\n"
	"Report (table):\n"
	"  status: <number> <NAME>\n"
	"  message: <grpc-message, or the client's reason>\n"
	"  http-status: <:status, 0 if none>\n"
	"  response-bytes: <all DATA bytes received, prefixes included>\n"
	"  response-messages: <complete length-prefixed messages in them>\n"
	"  response:            (then the first message as JSON, when status is 0 and\n"
	"                        a response type is known: --resp-type TYPE, or\n"
	"                        METHOD's response type)\n"
	"With -o json: {\"status\", \"code\", \"message\", \"httpStatus\", \"responseBytes\",\n"
	"\"responseMessages\", \"response\"} (response null when not decoded).\n"
	"Exit 0 when status is 0 (and the response decoded, if one was to be),\n"
	"else 1; a local failure (cannot connect: UNAVAILABLE, --timeout passed:\n"
	"DEADLINE_EXCEEDED) is 'ocic: CODE: message' on stderr, exit 1.\n";

/* ---- message types reachable from the two services ---- */

static const ProtobufCServiceDescriptor *const services[] = {
	&runtime__v1__runtime_service__descriptor,
	&runtime__v1__image_service__descriptor,
};

#define MAX_TYPES 512

static const ProtobufCMessageDescriptor *seen[MAX_TYPES];
static size_t nseen;

static void visit(const ProtobufCMessageDescriptor *d)
{
	if (d == NULL)
		return;
	for (size_t i = 0; i < nseen; i++)
		if (seen[i] == d)
			return;
	if (nseen == MAX_TYPES)
		return;
	seen[nseen++] = d;
	for (unsigned i = 0; i < d->n_fields; i++)
		if (d->fields[i].type == PROTOBUF_C_TYPE_MESSAGE)
			visit(d->fields[i].descriptor);
}

const ProtobufCMessageDescriptor *ocic_find_type(const char *name)
{
	if (nseen == 0)
		for (size_t s = 0; s < sizeof(services) / sizeof(services[0]); s++)
			for (unsigned m = 0; m < services[s]->n_methods; m++) {
				visit(services[s]->methods[m].input);
				visit(services[s]->methods[m].output);
			}
	if (name[0] == '.')
		name++;
	for (size_t i = 0; i < nseen; i++)
		if (strcmp(seen[i]->name, name) == 0)
			return seen[i];
	return NULL;
}

static const ProtobufCMethodDescriptor *find_method(const char *path)
{
	for (size_t s = 0; s < sizeof(services) / sizeof(services[0]); s++) {
		const ProtobufCServiceDescriptor *sd = services[s];
		size_t n = strlen(sd->name);
		if (path[0] != '/' || strncmp(path + 1, sd->name, n) != 0 || path[1 + n] != '/')
			continue;
		for (unsigned m = 0; m < sd->n_methods; m++)
			if (strcmp(path + 2 + n, sd->methods[m].name) == 0)
				return &sd->methods[m];
	}
	return NULL;
}

/* ---- body sources ---- */

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int read_file(const char *path, uint8_t **out, size_t *len, ocid_error **err)
{
	cleanup_fclose FILE *f = fopen(path, "rb");
	if (f == NULL)
		return err_set_errno(err, GRPC_INVALID_ARGUMENT, errno, "open %s", path);
	uint8_t *buf = NULL;
	size_t n = 0, cap = 0;
	for (;;) {
		if (n == cap) {
			cap = cap ? cap * 2 : 65536;
			uint8_t *nb = realloc(buf, cap);
			if (nb == NULL) {
				free(buf);
				return err_set(err, GRPC_RESOURCE_EXHAUSTED, "out of memory");
			}
			buf = nb;
		}
		size_t r = fread(buf + n, 1, cap - n, f);
		n += r;
		if (r == 0)
			break;
	}
	if (ferror(f)) {
		free(buf);
		return err_set(err, GRPC_INVALID_ARGUMENT, "read %s failed", path);
	}
	*out = buf;
	*len = n;
	return 0;
}

int cmd_raw(struct ocic *o, int argc, char **argv)
{
	const char *data_file = NULL, *data_hex = NULL, *size = NULL, *json_file = NULL;
	const char *type = NULL, *resp_type = NULL;
	bool no_prefix = false;
	const struct opt opts[] = {
		{"data-file", 0, OPT_STRING, &data_file}, {"data-hex", 0, OPT_STRING, &data_hex},
		{"size", 0, OPT_STRING, &size},           {"json", 0, OPT_STRING, &json_file},
		{"type", 0, OPT_STRING, &type},           {"resp-type", 0, OPT_STRING, &resp_type},
		{"no-prefix", 0, OPT_FLAG, &no_prefix},
	};
	const char *pos[argc + 1];
	int npos;
	int rc = ocic_parse_args(argc, argv, opts, sizeof(opts) / sizeof(opts[0]), raw_usage, pos,
				 &npos);
	if (rc)
		return rc < 0 ? OCIC_EXIT_OK : rc;
	if (npos != 1)
		return ocic_usage_error(raw_usage, "raw: want exactly one METHOD");
	if ((data_file != NULL) + (data_hex != NULL) + (size != NULL) + (json_file != NULL) > 1)
		return ocic_usage_error(raw_usage,
					"raw: give at most one of --data-file, --data-hex, --size, "
					"--json");
	if (type && !json_file)
		return ocic_usage_error(raw_usage, "raw: --type goes with --json");

	cleanup_free char *path = NULL;
	if (asprintf(&path, "%s%s", pos[0][0] == '/' ? "" : "/", pos[0]) < 0)
		return OCIC_EXIT_FAIL;
	const ProtobufCMethodDescriptor *method = find_method(path);

	const ProtobufCMessageDescriptor *rdesc = NULL;
	if (resp_type) {
		rdesc = ocic_find_type(resp_type);
		if (rdesc == NULL)
			return ocic_usage_error(raw_usage, "raw: unknown message type %s", resp_type);
	} else if (method) {
		rdesc = method->output;
	}

	ocid_error *err = NULL;
	cleanup_free uint8_t *body = NULL;
	size_t len = 0;
	if (data_file) {
		if (read_file(data_file, &body, &len, &err) < 0)
			return ocic_fail(err);
	} else if (data_hex) {
		size_t n = strlen(data_hex);
		if (n % 2 != 0)
			return ocic_usage_error(raw_usage, "raw: --data-hex needs an even number of digits");
		body = malloc(n / 2 + 1);
		if (body == NULL)
			return OCIC_EXIT_FAIL;
		for (size_t i = 0; i < n; i += 2) {
			int hi = hexval(data_hex[i]), lo = hexval(data_hex[i + 1]);
			if (hi < 0 || lo < 0)
				return ocic_usage_error(raw_usage, "raw: --data-hex: not hex: %s",
							data_hex);
			body[len++] = (uint8_t)(hi << 4 | lo);
		}
	} else if (size) {
		char *end;
		errno = 0;
		unsigned long long n = strtoull(size, &end, 10);
		if (*size == '\0' || *size == '-' || *end != '\0' || errno || n > (1ULL << 30))
			return ocic_usage_error(raw_usage, "raw: invalid --size %s (0..1073741824)",
						size);
		body = calloc(1, n ? n : 1);
		if (body == NULL)
			return OCIC_EXIT_FAIL;
		len = n;
	} else if (json_file) {
		const ProtobufCMessageDescriptor *qdesc = NULL;
		if (type) {
			qdesc = ocic_find_type(type);
			if (qdesc == NULL)
				return ocic_usage_error(raw_usage, "raw: unknown message type %s", type);
		} else if (method) {
			qdesc = method->input;
		} else {
			return ocic_usage_error(raw_usage,
						"raw: --json to an unknown method needs --type");
		}
		ProtobufCMessage *m = NULL;
		if (load_json_message(json_file, qdesc, &m, &err) < 0)
			return ocic_fail(err);
		len = protobuf_c_message_get_packed_size(m);
		body = malloc(len ? len : 1);
		if (body == NULL) {
			protobuf_c_message_free_unpacked(m, NULL);
			return OCIC_EXIT_FAIL;
		}
		protobuf_c_message_pack(m, body);
		protobuf_c_message_free_unpacked(m, NULL);
	}

	struct grpc_client *c;
	if (ocic_client(o, &c, &err) < 0)
		return ocic_fail(err);
	struct grpc_raw_result r;
	if (grpc_client_unary_raw(c, path, body, len, !no_prefix, o->timeout_ns, &r, &err) < 0)
		return ocic_fail(err);

	ProtobufCMessage *resp = NULL;
	bool decode_failed = false;
	if (r.status == GRPC_OK && rdesc && r.msg) {
		resp = protobuf_c_message_unpack(rdesc, NULL, r.msg_len, r.msg);
		decode_failed = resp == NULL;
	}
	json_t *jresp = resp ? pbjson_from_message(resp) : NULL;
	if (o->output == OCIC_OUT_JSON) {
		json_t *j = json_pack("{s:i, s:s, s:s, s:i, s:I, s:I, s:o}", "status", r.status,
				      "code", grpc_code_name(r.status), "message", r.message,
				      "httpStatus", r.http_status, "responseBytes",
				      (json_int_t)r.body_len, "responseMessages",
				      (json_int_t)r.n_messages, "response",
				      jresp ? json_incref(jresp) : json_null());
		char *s = j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
		if (s)
			puts(s);
		free(s);
		json_decref(j);
	} else {
		printf("status: %d %s\n", r.status, grpc_code_name(r.status));
		printf("message: %s\n", r.message);
		printf("http-status: %d\n", r.http_status);
		printf("response-bytes: %zu\n", r.body_len);
		printf("response-messages: %zu\n", r.n_messages);
		if (jresp) {
			char *s = json_dumps(jresp, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
			printf("response:\n%s\n", s ? s : "");
			free(s);
		} else if (decode_failed) {
			printf("response: (not a valid %s)\n", rdesc->name);
		}
	}
	rc = r.status == GRPC_OK && !decode_failed ? OCIC_EXIT_OK : OCIC_EXIT_FAIL;
	json_decref(jresp);
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	grpc_raw_result_clear(&r);
	return rc;
}
