/* ocic pod create|status|stop|remove|list */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.pb-c.h"
#include "ocic/ocic.h"

static const char pod_usage[] =
	"Usage: ocic pod SUBCOMMAND\n"
	"\n"
	"  create --config F [--runtime-handler H]\n"
	"        RunPodSandbox with F read as a runtime.v1.PodSandboxConfig (JSON).\n"
	"        Table: the new pod ID alone on a line.\n"
	"  status ID [-v|--verbose]\n"
	"        PodSandboxStatus. Table: ID, Name, UID, Namespace, Attempt, State,\n"
	"        Created, IP, Additional IPs, Runtime handler, Labels, Annotations;\n"
	"        --verbose asks for and prints the info map.\n"
	"  stop ID      StopPodSandbox. Table: the ID.\n"
	"  remove ID    RemovePodSandbox. Table: the ID.\n"
	"  list [--id ID] [--state ready|notready] [--label K=V]... [-q|--quiet]\n"
	"       [--no-trunc]\n"
	"        ListPodSandbox with those filters, newest first. Table: POD ID\n"
	"        CREATED STATE NAME NAMESPACE ATTEMPT RUNTIME, IDs cut to 13\n"
	"        characters unless --no-trunc; -q prints only full IDs, one a line.\n";

static int create(struct ocic *o, int argc, char **argv)
{
	const char *config = NULL, *handler = NULL;
	const struct opt opts[] = {
		{"config", 0, OPT_STRING, &config},
		{"runtime-handler", 0, OPT_STRING, &handler},
	};
	const char *pos[argc + 1];
	int npos;
	int rc = ocic_parse_args(argc, argv, opts, 2, pod_usage, pos, &npos);
	if (rc)
		return rc < 0 ? OCIC_EXIT_OK : rc;
	if (npos)
		return ocic_usage_error(pod_usage, "pod create takes no arguments");
	if (config == NULL)
		return ocic_usage_error(pod_usage, "pod create: --config is required");
	ocid_error *err = NULL;
	ProtobufCMessage *cfg = NULL;
	if (load_json_message(config, &runtime__v1__pod_sandbox_config__descriptor, &cfg, &err) < 0)
		return ocic_fail(err);
	Runtime__V1__RunPodSandboxRequest req = RUNTIME__V1__RUN_POD_SANDBOX_REQUEST__INIT;
	req.config = (Runtime__V1__PodSandboxConfig *)cfg;
	req.runtime_handler = (char *)(handler ? handler : "");
	ProtobufCMessage *m = NULL;
	rc = ocic_call(o, RUNTIME_SERVICE "RunPodSandbox", &req.base,
		       &runtime__v1__run_pod_sandbox_response__descriptor, 0, &m, &err);
	protobuf_c_message_free_unpacked(cfg, NULL);
	if (rc < 0)
		return ocic_fail(err);
	return ocic_print_id_reply(o, m, ((Runtime__V1__RunPodSandboxResponse *)m)->pod_sandbox_id);
}

static int stop(struct ocic *o, int argc, char **argv)
{
	return ocic_id_command(o, argc, argv, pod_usage, "pod stop", RUNTIME_SERVICE "StopPodSandbox",
			       &runtime__v1__stop_pod_sandbox_request__descriptor, "pod_sandbox_id",
			       &runtime__v1__stop_pod_sandbox_response__descriptor);
}

static int remove_pod(struct ocic *o, int argc, char **argv)
{
	return ocic_id_command(o, argc, argv, pod_usage, "pod remove", RUNTIME_SERVICE "RemovePodSandbox",
			       &runtime__v1__remove_pod_sandbox_request__descriptor, "pod_sandbox_id",
			       &runtime__v1__remove_pod_sandbox_response__descriptor);
}

static const char *state_word(Runtime__V1__PodSandboxState s)
{
	switch (s) {
	case RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY: return "Ready";
	case RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_NOTREADY: return "NotReady";
	default: return "Unknown";
	}
}


static int status(struct ocic *o, int argc, char **argv)
{
	bool verbose = false;
	const struct opt opts[] = {{"verbose", 'v', OPT_FLAG, &verbose}};
	const char *pos[argc + 1];
	int npos;
	int rc = ocic_parse_args(argc, argv, opts, 1, pod_usage, pos, &npos);
	if (rc)
		return rc < 0 ? OCIC_EXIT_OK : rc;
	if (npos != 1)
		return ocic_usage_error(pod_usage, "pod status: want exactly one pod ID");
	Runtime__V1__PodSandboxStatusRequest req = RUNTIME__V1__POD_SANDBOX_STATUS_REQUEST__INIT;
	req.pod_sandbox_id = (char *)pos[0];
	req.verbose = verbose;
	ProtobufCMessage *m = NULL;
	ocid_error *err = NULL;
	if (ocic_call(o, RUNTIME_SERVICE "PodSandboxStatus", &req.base,
		      &runtime__v1__pod_sandbox_status_response__descriptor, 0, &m, &err) < 0)
		return ocic_fail(err);
	if (o->output == OCIC_OUT_JSON) {
		rc = print_json_message(m);
		protobuf_c_message_free_unpacked(m, NULL);
		return rc;
	}
	Runtime__V1__PodSandboxStatusResponse *r = (Runtime__V1__PodSandboxStatusResponse *)m;
	Runtime__V1__PodSandboxStatus *s = r->status;
	if (s) {
		char tb[48], ab[64];
		Runtime__V1__PodSandboxMetadata *md = s->metadata;
		print_kv("ID", s->id);
		print_kv("Name", md ? md->name : "");
		print_kv("UID", md ? md->uid : "");
		print_kv("Namespace", md ? md->namespace_ : "");
		printf("Attempt:  %u\n", md ? md->attempt : 0);
		print_kv("State", state_word(s->state));
		printf("Created:  %s (%s)\n", fmt_time(s->created_at, tb, sizeof(tb)),
		       fmt_age(s->created_at, ab, sizeof(ab)));
		print_kv("IP", s->network ? s->network->ip : "");
		if (s->network && s->network->n_additional_ips > 0) {
			printf("Additional IPs:");
			for (size_t i = 0; i < s->network->n_additional_ips; i++)
				printf(" %s", s->network->additional_ips[i]->ip);
			putchar('\n');
		}
		print_kv("Runtime handler", s->runtime_handler);
		print_map("Labels", (ProtobufCMessage **)s->labels, s->n_labels);
		print_map("Annotations", (ProtobufCMessage **)s->annotations, s->n_annotations);
	}
	print_map("Info", (ProtobufCMessage **)r->info, r->n_info);
	protobuf_c_message_free_unpacked(m, NULL);
	return OCIC_EXIT_OK;
}

static int cmp_created_desc(const void *a, const void *b)
{
	const Runtime__V1__PodSandbox *x = *(Runtime__V1__PodSandbox *const *)a;
	const Runtime__V1__PodSandbox *y = *(Runtime__V1__PodSandbox *const *)b;
	return (x->created_at < y->created_at) - (x->created_at > y->created_at);
}

static int list(struct ocic *o, int argc, char **argv)
{
	const char *id = NULL, *state = NULL;
	bool quiet = false, no_trunc = false;
	struct strlist labels = {0};
	const struct opt opts[] = {
		{"id", 0, OPT_STRING, &id},
		{"state", 0, OPT_STRING, &state},
		{"label", 0, OPT_LIST, &labels},
		{"quiet", 'q', OPT_FLAG, &quiet},
		{"no-trunc", 0, OPT_FLAG, &no_trunc},
	};
	const char *pos[argc + 1];
	int npos;
	int rc = ocic_parse_args(argc, argv, opts, 5, pod_usage, pos, &npos);
	if (rc) {
		strlist_free(&labels);
		return rc < 0 ? OCIC_EXIT_OK : rc;
	}
	if (npos) {
		strlist_free(&labels);
		return ocic_usage_error(pod_usage, "pod list takes no arguments");
	}
	Runtime__V1__PodSandboxFilter filter = RUNTIME__V1__POD_SANDBOX_FILTER__INIT;
	Runtime__V1__PodSandboxStateValue sv = RUNTIME__V1__POD_SANDBOX_STATE_VALUE__INIT;
	Runtime__V1__ListPodSandboxRequest req = RUNTIME__V1__LIST_POD_SANDBOX_REQUEST__INIT;
	ocid_error *err = NULL;
	if (state) {
		if (strcmp(state, "ready") == 0) {
			sv.state = RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY;
		} else if (strcmp(state, "notready") == 0) {
			sv.state = RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_NOTREADY;
		} else {
			strlist_free(&labels);
			return ocic_usage_error(pod_usage, "invalid --state %s: want ready or notready",
						state);
		}
		filter.state = &sv;
	}
	if (id)
		filter.id = (char *)id;
	ProtobufCMessage **sel = NULL;
	size_t nsel = 0;
	if (build_map(&runtime__v1__pod_sandbox_filter__label_selector_entry__descriptor, &labels,
		      &sel, &nsel, &err) < 0) {
		strlist_free(&labels);
		return ocic_fail(err);
	}
	filter.label_selector = (Runtime__V1__PodSandboxFilter__LabelSelectorEntry **)sel;
	filter.n_label_selector = nsel;
	if (id || state || nsel)
		req.filter = &filter;
	ProtobufCMessage *m = NULL;
	rc = ocic_call(o, RUNTIME_SERVICE "ListPodSandbox", &req.base,
		       &runtime__v1__list_pod_sandbox_response__descriptor, 0, &m, &err);
	free_map(sel, nsel);
	strlist_free(&labels);
	if (rc < 0)
		return ocic_fail(err);
	if (o->output == OCIC_OUT_JSON) {
		rc = print_json_message(m);
		protobuf_c_message_free_unpacked(m, NULL);
		return rc;
	}
	Runtime__V1__ListPodSandboxResponse *r = (Runtime__V1__ListPodSandboxResponse *)m;
	if (r->n_items > 1)
		qsort(r->items, r->n_items, sizeof(r->items[0]), cmp_created_desc);
	if (quiet) {
		for (size_t i = 0; i < r->n_items; i++)
			puts(r->items[i]->id);
	} else {
		struct table *t = table_new(7, "POD ID", "CREATED", "STATE", "NAME", "NAMESPACE",
					    "ATTEMPT", "RUNTIME");
		for (size_t i = 0; i < r->n_items; i++) {
			Runtime__V1__PodSandbox *p = r->items[i];
			char ib[80], ab[64], at[16];
			snprintf(at, sizeof(at), "%u", p->metadata ? p->metadata->attempt : 0);
			table_add(t, fmt_id(p->id, no_trunc, ib, sizeof(ib)),
				  fmt_age(p->created_at, ab, sizeof(ab)), state_word(p->state),
				  p->metadata ? p->metadata->name : "",
				  p->metadata ? p->metadata->namespace_ : "", at,
				  p->runtime_handler[0] ? p->runtime_handler : "(default)");
		}
		table_print(t);
	}
	protobuf_c_message_free_unpacked(m, NULL);
	return OCIC_EXIT_OK;
}

int cmd_pod(struct ocic *o, int argc, char **argv)
{
	if (argc < 1)
		return ocic_usage_error(pod_usage, "pod: missing subcommand");
	const char *sub = argv[0];
	if (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0 || strcmp(sub, "help") == 0) {
		fputs(pod_usage, stdout);
		return OCIC_EXIT_OK;
	}
	if (strcmp(sub, "create") == 0)
		return create(o, argc - 1, argv + 1);
	if (strcmp(sub, "status") == 0)
		return status(o, argc - 1, argv + 1);
	if (strcmp(sub, "stop") == 0)
		return stop(o, argc - 1, argv + 1);
	if (strcmp(sub, "remove") == 0)
		return remove_pod(o, argc - 1, argv + 1);
	if (strcmp(sub, "list") == 0)
		return list(o, argc - 1, argv + 1);
	return ocic_usage_error(pod_usage, "pod: unknown subcommand %s", sub);
}
