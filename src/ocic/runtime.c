/* ocic runtime version|status|config|events */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.pb-c.h"
#include "ocic/ocic.h"
#include "util/pbjson.h"

static const char runtime_usage[] =
	"Usage: ocic runtime SUBCOMMAND\n"
	"\n"
	"  version                RuntimeService/Version. Table:\n"
	"                           Version:  0.1.0\n"
	"                           RuntimeName:  ...\n"
	"                           RuntimeVersion:  ...\n"
	"                           RuntimeApiVersion:  ...\n"
	"  status [-v|--verbose]  RuntimeService/Status. Table: the conditions\n"
	"                         (CONDITION STATUS REASON MESSAGE), then the runtime\n"
	"                         handlers; --verbose asks for and prints the info map.\n"
	"  config                 RuntimeService/RuntimeConfig. Table: CgroupDriver:  NAME\n"
	"  events [-n|--count N]  RuntimeService/GetContainerEvents (server streaming):\n"
	"                         one line per event as it comes (TIME TYPE CONTAINER\n"
	"                         POD; with -o json one compact JSON object per line).\n"
	"                         Ends after N events (exit 0); the global --timeout\n"
	"                         bounds the whole stream (use --timeout 0 to wait\n"
	"                         forever).\n";

static int version(struct ocic *o, int argc, char **argv)
{
	const char *pos[argc + 1];
	int npos;
	int rc = ocic_parse_args(argc, argv, NULL, 0, runtime_usage, pos, &npos);
	if (rc)
		return rc < 0 ? OCIC_EXIT_OK : rc;
	if (npos)
		return ocic_usage_error(runtime_usage, "runtime version takes no arguments");
	Runtime__V1__VersionRequest req = RUNTIME__V1__VERSION_REQUEST__INIT;
	req.version = "v1";
	ProtobufCMessage *m = NULL;
	ocid_error *err = NULL;
	if (ocic_call(o, RUNTIME_SERVICE "Version", &req.base,
		      &runtime__v1__version_response__descriptor, 0, &m, &err) < 0)
		return ocic_fail(err);
	if (o->output == OCIC_OUT_JSON) {
		rc = print_json_message(m);
	} else {
		Runtime__V1__VersionResponse *r = (Runtime__V1__VersionResponse *)m;
		printf("Version:  %s\n", r->version);
		printf("RuntimeName:  %s\n", r->runtime_name);
		printf("RuntimeVersion:  %s\n", r->runtime_version);
		printf("RuntimeApiVersion:  %s\n", r->runtime_api_version);
		rc = OCIC_EXIT_OK;
	}
	protobuf_c_message_free_unpacked(m, NULL);
	return rc;
}

int cmd_version(struct ocic *o, int argc, char **argv)
{
	return version(o, argc, argv);
}

static int status(struct ocic *o, int argc, char **argv)
{
	bool verbose = false;
	const struct opt opts[] = {{"verbose", 'v', OPT_FLAG, &verbose}};
	const char *pos[argc + 1];
	int npos;
	int rc = ocic_parse_args(argc, argv, opts, 1, runtime_usage, pos, &npos);
	if (rc)
		return rc < 0 ? OCIC_EXIT_OK : rc;
	if (npos)
		return ocic_usage_error(runtime_usage, "runtime status takes no arguments");
	Runtime__V1__StatusRequest req = RUNTIME__V1__STATUS_REQUEST__INIT;
	req.verbose = verbose;
	ProtobufCMessage *m = NULL;
	ocid_error *err = NULL;
	if (ocic_call(o, RUNTIME_SERVICE "Status", &req.base,
		      &runtime__v1__status_response__descriptor, 0, &m, &err) < 0)
		return ocic_fail(err);
	if (o->output == OCIC_OUT_JSON) {
		rc = print_json_message(m);
		protobuf_c_message_free_unpacked(m, NULL);
		return rc;
	}
	Runtime__V1__StatusResponse *r = (Runtime__V1__StatusResponse *)m;
	struct table *t = table_new(4, "CONDITION", "STATUS", "REASON", "MESSAGE");
	for (size_t i = 0; r->status && i < r->status->n_conditions; i++) {
		Runtime__V1__RuntimeCondition *c = r->status->conditions[i];
		table_add(t, c->type, c->status ? "true" : "false", c->reason, c->message);
	}
	table_print(t);
	if (r->n_runtime_handlers > 0) {
		putchar('\n');
		t = table_new(3, "RUNTIME HANDLER", "RECURSIVE READ-ONLY MOUNTS", "USER NAMESPACES");
		for (size_t i = 0; i < r->n_runtime_handlers; i++) {
			Runtime__V1__RuntimeHandler *h = r->runtime_handlers[i];
			bool rro = h->features && h->features->recursive_read_only_mounts;
			bool uns = h->features && h->features->user_namespaces;
			table_add(t, h->name[0] ? h->name : "(default)", rro ? "true" : "false",
				  uns ? "true" : "false");
		}
		table_print(t);
	}
	if (r->n_info > 0) {
		putchar('\n');
		print_map("Info", (ProtobufCMessage **)r->info, r->n_info);
	}
	protobuf_c_message_free_unpacked(m, NULL);
	return OCIC_EXIT_OK;
}

static int config(struct ocic *o, int argc, char **argv)
{
	const char *pos[argc + 1];
	int npos;
	int rc = ocic_parse_args(argc, argv, NULL, 0, runtime_usage, pos, &npos);
	if (rc)
		return rc < 0 ? OCIC_EXIT_OK : rc;
	if (npos)
		return ocic_usage_error(runtime_usage, "runtime config takes no arguments");
	Runtime__V1__RuntimeConfigRequest req = RUNTIME__V1__RUNTIME_CONFIG_REQUEST__INIT;
	ProtobufCMessage *m = NULL;
	ocid_error *err = NULL;
	if (ocic_call(o, RUNTIME_SERVICE "RuntimeConfig", &req.base,
		      &runtime__v1__runtime_config_response__descriptor, 0, &m, &err) < 0)
		return ocic_fail(err);
	if (o->output == OCIC_OUT_JSON) {
		rc = print_json_message(m);
	} else {
		Runtime__V1__RuntimeConfigResponse *r = (Runtime__V1__RuntimeConfigResponse *)m;
		char b[16];
		printf("CgroupDriver:  %s\n",
		       r->linux ? enum_name(&runtime__v1__cgroup_driver__descriptor,
					    (int)r->linux->cgroup_driver, b, sizeof(b))
				: "(not reported)");
		rc = OCIC_EXIT_OK;
	}
	protobuf_c_message_free_unpacked(m, NULL);
	return rc;
}

struct events_state {
	struct ocic *o;
	long want, seen;
	int rc;
};

static int on_event(const ProtobufCMessage *msg, void *ud)
{
	struct events_state *s = ud;
	const Runtime__V1__ContainerEventResponse *e = (const Runtime__V1__ContainerEventResponse *)msg;
	if (s->o->output == OCIC_OUT_JSON) {
		json_t *j = pbjson_from_message(msg);
		char *txt = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
		json_decref(j);
		if (txt == NULL) {
			s->rc = OCIC_EXIT_FAIL;
			return 1;
		}
		puts(txt);
		free(txt);
	} else {
		char tb[48], eb[16];
		printf("%s   %s   %s   %s\n", fmt_time(e->created_at, tb, sizeof(tb)),
		       enum_name(&runtime__v1__container_event_type__descriptor,
				 (int)e->container_event_type, eb, sizeof(eb)),
		       e->container_id,
		       e->pod_sandbox_status && e->pod_sandbox_status->id[0]
			       ? e->pod_sandbox_status->id
			       : "-");
	}
	fflush(stdout);
	s->seen++;
	return s->want > 0 && s->seen >= s->want;
}

static int events(struct ocic *o, int argc, char **argv)
{
	const char *count = NULL;
	const struct opt opts[] = {{"count", 'n', OPT_STRING, &count}};
	const char *pos[argc + 1];
	int npos;
	int rc = ocic_parse_args(argc, argv, opts, 1, runtime_usage, pos, &npos);
	if (rc)
		return rc < 0 ? OCIC_EXIT_OK : rc;
	if (npos)
		return ocic_usage_error(runtime_usage, "runtime events takes no arguments");
	struct events_state s = {.o = o};
	if (count) {
		char *end;
		s.want = strtol(count, &end, 10);
		if (*count == '\0' || *end != '\0' || s.want <= 0)
			return ocic_usage_error(runtime_usage, "invalid --count %s", count);
	}
	Runtime__V1__GetEventsRequest req = RUNTIME__V1__GET_EVENTS_REQUEST__INIT;
	struct grpc_client *c;
	ocid_error *err = NULL;
	if (ocic_client(o, &c, &err) < 0)
		return ocic_fail(err);
	rc = grpc_client_stream(c, RUNTIME_SERVICE "GetContainerEvents", &req.base,
				&runtime__v1__container_event_response__descriptor, o->timeout_ns,
				on_event, &s, &err);
	if (rc < 0)
		return ocic_fail(err);
	return s.rc;
}

int cmd_runtime(struct ocic *o, int argc, char **argv)
{
	if (argc < 1)
		return ocic_usage_error(runtime_usage, "runtime: missing subcommand");
	const char *sub = argv[0];
	if (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0 || strcmp(sub, "help") == 0) {
		fputs(runtime_usage, stdout);
		return OCIC_EXIT_OK;
	}
	if (strcmp(sub, "version") == 0)
		return version(o, argc - 1, argv + 1);
	if (strcmp(sub, "status") == 0)
		return status(o, argc - 1, argv + 1);
	if (strcmp(sub, "config") == 0)
		return config(o, argc - 1, argv + 1);
	if (strcmp(sub, "events") == 0)
		return events(o, argc - 1, argv + 1);
	return ocic_usage_error(runtime_usage, "runtime: unknown subcommand %s", sub);
}
