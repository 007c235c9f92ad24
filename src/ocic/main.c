/* ocic: global flags, command dispatch, the shared call and error paths. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/duration.h"
#include "ocic/ocic.h"

static const char main_usage[] =
	"Usage: ocic [GLOBAL OPTIONS] COMMAND [ARGS...]\n"
	"\n"
	"Talks to ocid's CRI services (runtime.v1 RuntimeService and ImageService)\n"
	"over gRPC on a unix socket.\n"
	"\n"
	"Global options (before COMMAND):\n"
	"  --endpoint E     socket to dial: unix:///path, unix:/path or a plain path\n"
	"                   (default: $OCID_ENDPOINT, else " GRPC_CLIENT_DEFAULT_ENDPOINT ")\n"
	"  --timeout D      deadline of each call, a Go duration: 10s, 500ms, 2m, 1m30s;\n"
	"                   0 means none (default 10s). Sent as grpc-timeout.\n"
	"  -o, --output F   table (default) or json. json prints the whole reply as\n"
	"                   proto3 JSON (lowerCamelCase keys, every field present,\n"
	"                   64-bit integers as strings, enums by name), 2-space indent.\n"
	"  -h, --help       this text; 'ocic COMMAND --help' describes one command\n"
	"\n"
	"Commands:\n"
	"  version                            = runtime version\n"
	"  runtime version|status|config|events\n"
	"  pod create|status|stop|remove|list\n"
	"  ctr create|start|status|stop|remove|list|logs|exec\n"
	"  image pull|list|status|remove|fsinfo\n"
	"  raw METHOD                         send arbitrary bytes to a method\n"
	"\n"
	"Output and exit status:\n"
	"  0  success; the reply on stdout (table or JSON)\n"
	"  1  the call failed: 'ocic: CODE: message' on stderr, CODE being the gRPC\n"
	"     status name sent by ocid (e.g. NOT_FOUND, UNIMPLEMENTED), or\n"
	"     UNAVAILABLE (ocid not reachable, connection lost), DEADLINE_EXCEEDED\n"
	"     (--timeout passed), INVALID_ARGUMENT (bad input file: the message names\n"
	"     the file and the field), RESOURCE_EXHAUSTED (reply over 16 MiB)\n"
	"  2  usage error: 'ocic: <problem>' and the usage on stderr\n"
	"\n"
	"JSON input files (--config, --pod-config, raw --json) use the runtime.v1\n"
	"field names, in lowerCamelCase or as in the .proto (snake_case).\n";

int ocic_fail(ocid_error *err)
{
	if (err) {
		fprintf(stderr, "ocic: %s: %s\n", grpc_code_name(err->code),
			err->msg ? err->msg : "");
		err_free(err);
	} else {
		fprintf(stderr, "ocic: UNKNOWN: failed\n");
	}
	return OCIC_EXIT_FAIL;
}

int ocic_usage_error(const char *usage, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("ocic: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputs("\n\n", stderr);
	va_end(ap);
	fputs(usage, stderr);
	return OCIC_EXIT_USAGE;
}

int ocic_client(struct ocic *o, struct grpc_client **out, ocid_error **err)
{
	if (o->client == NULL && grpc_client_connect(o->endpoint, &o->client, err) < 0)
		return -1;
	*out = o->client;
	return 0;
}

int ocic_call(struct ocic *o, const char *path, const ProtobufCMessage *req,
	      const ProtobufCMessageDescriptor *resp_desc, int64_t extra_ns,
	      ProtobufCMessage **resp, ocid_error **err)
{
	struct grpc_client *c;
	if (ocic_client(o, &c, err) < 0)
		return -1;
	int64_t t = o->timeout_ns;
	if (t > 0 && extra_ns > 0)
		t = extra_ns > INT64_MAX - t ? INT64_MAX : t + extra_ns;
	return grpc_client_unary(c, path, req, resp_desc, t, resp, err);
}

int ocic_one_id(int argc, char **argv, const char *usage, const char *what, const char **id)
{
	const char *pos[argc + 1];
	int npos;
	int rc = ocic_parse_args(argc, argv, NULL, 0, usage, pos, &npos);
	if (rc)
		return rc;
	if (npos != 1)
		return ocic_usage_error(usage, "%s: want exactly one ID", what);
	*id = pos[0];
	return 0;
}

int ocic_print_id_reply(struct ocic *o, ProtobufCMessage *m, const char *id)
{
	int rc = OCIC_EXIT_OK;
	if (o->output == OCIC_OUT_JSON)
		rc = print_json_message(m);
	else
		puts(id);
	protobuf_c_message_free_unpacked(m, NULL);
	return rc;
}

int ocic_id_command(struct ocic *o, int argc, char **argv, const char *usage, const char *what,
		    const char *method, const ProtobufCMessageDescriptor *req_desc, const char *id_field,
		    const ProtobufCMessageDescriptor *resp_desc)
{
	const char *id;
	int rc = ocic_one_id(argc, argv, usage, what, &id);
	if (rc)
		return rc < 0 ? OCIC_EXIT_OK : rc;
	/* The request is built from its descriptor: one string field set. */
	const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(req_desc, id_field);
	ProtobufCMessage *req = calloc(1, req_desc->sizeof_message);
	if (f == NULL || f->type != PROTOBUF_C_TYPE_STRING || req == NULL) {
		free(req);
		ocid_error *e = NULL;
		err_set(&e, req ? GRPC_INTERNAL : GRPC_RESOURCE_EXHAUSTED, "%s: cannot build %s.%s", what,
			req_desc->name, id_field);
		return ocic_fail(e);
	}
	protobuf_c_message_init(req_desc, req);
	*(const char **)((char *)req + f->offset) = id;
	ProtobufCMessage *m = NULL;
	ocid_error *err = NULL;
	rc = ocic_call(o, method, req, resp_desc, 0, &m, &err);
	free(req); /* the id is not ours to free */
	if (rc < 0)
		return ocic_fail(err);
	return ocic_print_id_reply(o, m, id);
}

void strlist_free(struct strlist *l)
{
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static const struct opt *find_long(const struct opt *opts, size_t n, const char *name, size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(opts[i].name) == len && strncmp(opts[i].name, name, len) == 0)
			return &opts[i];
	return NULL;
}

static int store(const struct opt *o, const char *value, const char *usage)
{
	switch (o->kind) {
	case OPT_FLAG:
		*(bool *)o->dest = true;
		return 0;
	case OPT_STRING:
		*(const char **)o->dest = value;
		return 0;
	case OPT_LIST: {
		struct strlist *l = o->dest;
		const char **nv = realloc(l->v, (l->n + 1) * sizeof(*nv));
		if (nv == NULL) {
			fputs("ocic: out of memory\n", stderr);
			return OCIC_EXIT_FAIL;
		}
		nv[l->n++] = value;
		l->v = nv;
		return 0;
	}
	}
	(void)usage;
	return 0;
}

int ocic_parse_args(int argc, char **argv, const struct opt *opts, size_t nopts,
		    const char *usage, const char **pos, int *npos)
{
	*npos = 0;
	bool only_pos = false;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (only_pos || a[0] != '-' || a[1] == '\0') {
			pos[(*npos)++] = a;
			continue;
		}
		if (strcmp(a, "--") == 0) {
			only_pos = true;
			continue;
		}
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			fputs(usage, stdout);
			return -1;
		}
		const struct opt *o = NULL;
		const char *value = NULL;
		if (a[1] == '-') {
			const char *name = a + 2;
			const char *eq = strchr(name, '=');
			size_t len = eq ? (size_t)(eq - name) : strlen(name);
			o = find_long(opts, nopts, name, len);
			if (o == NULL)
				return ocic_usage_error(usage, "unknown option --%.*s", (int)len, name);
			if (eq) {
				if (o->kind == OPT_FLAG)
					return ocic_usage_error(usage, "option --%s takes no value",
								o->name);
				value = eq + 1;
			}
		} else {
			for (size_t k = 0; k < nopts; k++)
				if (opts[k].short_name && opts[k].short_name == a[1])
					o = &opts[k];
			if (o == NULL || (a[2] != '\0' && o->kind == OPT_FLAG))
				return ocic_usage_error(usage, "unknown option %s", a);
			if (a[2] != '\0')
				value = a + 2;
		}
		if (o->kind != OPT_FLAG && value == NULL) {
			if (i + 1 >= argc)
				return ocic_usage_error(usage, "option --%s needs a value", o->name);
			value = argv[++i];
		}
		int rc = store(o, value, usage);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static int global_value(int argc, char **argv, int *i, const char *lng, char shrt,
			const char **out)
{
	const char *a = argv[*i];
	size_t n = strlen(lng);
	if (strncmp(a, "--", 2) == 0 && strncmp(a + 2, lng, n) == 0) {
		if (a[2 + n] == '=') {
			*out = a + 3 + n;
			return 1;
		}
		if (a[2 + n] == '\0') {
			if (*i + 1 >= argc)
				return -1;
			*out = argv[++*i];
			return 1;
		}
	}
	if (shrt && a[0] == '-' && a[1] == shrt) {
		if (a[2] != '\0') {
			*out = a + 2;
			return 1;
		}
		if (*i + 1 >= argc)
			return -1;
		*out = argv[++*i];
		return 1;
	}
	return 0;
}

static int run(int argc, char **argv)
{
	struct ocic o = {.timeout_ns = 10LL * 1000000000LL, .output = OCIC_OUT_TABLE};
	const char *env = getenv("OCID_ENDPOINT");
	o.endpoint = env && *env ? env : GRPC_CLIENT_DEFAULT_ENDPOINT;

	int i = 1;
	for (; i < argc; i++) {
		const char *a = argv[i];
		const char *v = NULL;
		int r;
		if (a[0] != '-')
			break;
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			fputs(main_usage, stdout);
			return OCIC_EXIT_OK;
		}
		if ((r = global_value(argc, argv, &i, "endpoint", 0, &v)) != 0) {
			if (r < 0)
				return ocic_usage_error(main_usage, "option --endpoint needs a value");
			o.endpoint = v;
		} else if ((r = global_value(argc, argv, &i, "timeout", 0, &v)) != 0) {
			if (r < 0)
				return ocic_usage_error(main_usage, "option --timeout needs a value");
			if (duration_parse(v, &o.timeout_ns) < 0)
				return ocic_usage_error(main_usage,
							"invalid --timeout %s: want a duration like "
							"10s, 500ms or 2m",
							v);
		} else if ((r = global_value(argc, argv, &i, "output", 'o', &v)) != 0) {
			if (r < 0)
				return ocic_usage_error(main_usage, "option --output needs a value");
			if (strcmp(v, "json") == 0)
				o.output = OCIC_OUT_JSON;
			else if (strcmp(v, "table") == 0)
				o.output = OCIC_OUT_TABLE;
			else
				return ocic_usage_error(main_usage,
							"invalid --output %s: want json or table", v);
		} else {
			return ocic_usage_error(main_usage, "unknown global option %s", a);
		}
	}
	if (i >= argc)
		return ocic_usage_error(main_usage, "no command given");

	const char *cmd = argv[i];
	int sub_argc = argc - i - 1;
	char **sub_argv = argv + i + 1;
	int rc;
	if (strcmp(cmd, "help") == 0) {
		fputs(main_usage, stdout);
		return OCIC_EXIT_OK;
	} else if (strcmp(cmd, "version") == 0) {
		rc = cmd_version(&o, sub_argc, sub_argv);
	} else if (strcmp(cmd, "runtime") == 0) {
		rc = cmd_runtime(&o, sub_argc, sub_argv);
	} else if (strcmp(cmd, "pod") == 0) {
		rc = cmd_pod(&o, sub_argc, sub_argv);
	} else if (strcmp(cmd, "ctr") == 0) {
		rc = cmd_ctr(&o, sub_argc, sub_argv);
	} else if (strcmp(cmd, "image") == 0) {
		rc = cmd_image(&o, sub_argc, sub_argv);
	} else if (strcmp(cmd, "raw") == 0) {
		rc = cmd_raw(&o, sub_argc, sub_argv);
	} else {
		return ocic_usage_error(main_usage, "unknown command %s", cmd);
	}
	grpc_client_free(o.client);
	return rc;
}

int main(int argc, char **argv)
{
	int rc = run(argc, argv);
	if (fflush(stdout) != 0 && rc == OCIC_EXIT_OK)
		rc = OCIC_EXIT_FAIL;
	return rc;
}
