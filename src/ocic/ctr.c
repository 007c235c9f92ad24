/* ocic ctr create|start|status|stop|remove|list|logs */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api.pb-c.h"
#include "util/crilog.h"
#include "ocic/ocic.h"
#include "util/cleanup.h"

static const char ctr_usage[] =
	"Usage: ocic ctr SUBCOMMAND\n"
	"\n"
	"  create --pod ID --config F [--pod-config F]\n"
	"        CreateContainer in pod ID; F is a runtime.v1.ContainerConfig (JSON),\n"
	"        --pod-config a runtime.v1.PodSandboxConfig sent as sandbox_config.\n"
	"        Table: the new container ID alone on a line.\n"
	"  start ID     StartContainer. Table: the ID.\n"
	"  status ID [-v|--verbose]\n"
	"        ContainerStatus. Table: ID, Name, Attempt, State, Created, Started,\n"
	"        Finished, Exit code, Reason, Message, Image, Image ref, Image ID,\n"
	"        Log path, Mounts, Labels, Annotations; --verbose asks for and prints\n"
	"        the info map.\n"
	"  stop ID [--timeout SECONDS]\n"
	"        StopContainer with that grace period (default 0: kill at once).\n"
	"        The call's deadline is the global --timeout plus SECONDS.\n"
	"        Table: the ID.\n"
	"  remove ID    RemoveContainer. Table: the ID.\n"
	"  list [--pod ID] [--id ID] [--state created|running|exited|unknown]\n"
	"       [--label K=V]... [-q|--quiet] [--no-trunc]\n"
	"        ListContainers (all states unless --state), newest first. Table:\n"
	"        CONTAINER IMAGE CREATED STATE NAME ATTEMPT POD ID, IDs cut to 13\n"
	"        characters unless --no-trunc; -q prints only full IDs.\n"
	"  exec [--timeout SECONDS] ID [--] CMD [ARG]...\n"
	"        ExecSync: runs CMD in the running container and waits (no\n"
	"        terminal, no stdin). Its stdout and stderr are copied to ours and\n"
	"        ocic exits with its status (1 if the call itself failed); a command\n"
	"        with options of its own goes after --. --timeout (default 0: none)\n"
	"        kills it at that point: DEADLINE_EXCEEDED.\n"
	"  logs [-f|--follow] [-t|--timestamps] [--tail N] ID\n"
	"        Reads the container's CRI log file (log_path from ContainerStatus)\n"
	"        on this machine and prints the text of each line: stdout lines to\n"
	"        stdout, stderr lines to stderr; partial (P) lines are joined.\n"
	"        --tail N starts at the last N lines. -f keeps reading new lines,\n"
	"        follows log rotation, and ends (exit 0) once the container has\n"
	"        exited or is gone and the file is drained.\n";

static int create(struct ocic *o, int argc, char **argv)
{
	const char *pod = NULL, *config = NULL, *pod_config = NULL;
	const struct opt opts[] = {
		{"pod", 0, OPT_STRING, &pod},
		{"config", 0, OPT_STRING, &config},
		{"pod-config", 0, OPT_STRING, &pod_config},
	};
	const char *pos[argc + 1];
	int npos;
	int rc = ocic_parse_args(argc, argv, opts, 3, ctr_usage, pos, &npos);
	if (rc)
		return rc < 0 ? OCIC_EXIT_OK : rc;
	if (npos)
		return ocic_usage_error(ctr_usage, "ctr create takes no arguments");
	if (pod == NULL || config == NULL)
		return ocic_usage_error(ctr_usage, "ctr create: --pod and --config are required");
	ocid_error *err = NULL;
	ProtobufCMessage *cfg = NULL, *pcfg = NULL;
	if (load_json_message(config, &runtime__v1__container_config__descriptor, &cfg, &err) < 0)
		return ocic_fail(err);
	if (pod_config && load_json_message(pod_config, &runtime__v1__pod_sandbox_config__descriptor,
					    &pcfg, &err) < 0) {
		protobuf_c_message_free_unpacked(cfg, NULL);
		return ocic_fail(err);
	}
	Runtime__V1__CreateContainerRequest req = RUNTIME__V1__CREATE_CONTAINER_REQUEST__INIT;
	req.pod_sandbox_id = (char *)pod;
	req.config = (Runtime__V1__ContainerConfig *)cfg;
	req.sandbox_config = (Runtime__V1__PodSandboxConfig *)pcfg;
	ProtobufCMessage *m = NULL;
	rc = ocic_call(o, RUNTIME_SERVICE "CreateContainer", &req.base,
		       &runtime__v1__create_container_response__descriptor, 0, &m, &err);
	protobuf_c_message_free_unpacked(cfg, NULL);
	if (pcfg)
		protobuf_c_message_free_unpacked(pcfg, NULL);
	if (rc < 0)
		return ocic_fail(err);
	return ocic_print_id_reply(o, m, ((Runtime__V1__CreateContainerResponse *)m)->container_id);
}

static int start(struct ocic *o, int argc, char **argv)
{
	return ocic_id_command(o, argc, argv, ctr_usage, "ctr start", RUNTIME_SERVICE "StartContainer",
			       &runtime__v1__start_container_request__descriptor, "container_id",
			       &runtime__v1__start_container_response__descriptor);
}

static int remove_ctr(struct ocic *o, int argc, char **argv)
{
	return ocic_id_command(o, argc, argv, ctr_usage, "ctr remove", RUNTIME_SERVICE "RemoveContainer",
			       &runtime__v1__remove_container_request__descriptor, "container_id",
			       &runtime__v1__remove_container_response__descriptor);
}

static int stop(struct ocic *o, int argc, char **argv)
{
	const char *timeout = NULL;
	const struct opt opts[] = {{"timeout", 0, OPT_STRING, &timeout}};
	const char *pos[argc + 1];
	int npos;
	int rc = ocic_parse_args(argc, argv, opts, 1, ctr_usage, pos, &npos);
	if (rc)
		return rc < 0 ? OCIC_EXIT_OK : rc;
	if (npos != 1)
		return ocic_usage_error(ctr_usage, "ctr stop: want exactly one container ID");
	long long secs = 0;
	if (timeout) {
		char *end;
		errno = 0;
		secs = strtoll(timeout, &end, 10);
		if (*timeout == '\0' || *end != '\0' || errno || secs < 0 || secs > 315360000LL)
			return ocic_usage_error(ctr_usage,
						"invalid --timeout %s: want whole seconds >= 0",
						timeout);
	}
	Runtime__V1__StopContainerRequest req = RUNTIME__V1__STOP_CONTAINER_REQUEST__INIT;
	req.container_id = (char *)pos[0];
	req.timeout = secs;
	ProtobufCMessage *m = NULL;
	ocid_error *err = NULL;
	if (ocic_call(o, RUNTIME_SERVICE "StopContainer", &req.base,
		      &runtime__v1__stop_container_response__descriptor, secs * 1000000000LL, &m,
		      &err) < 0)
		return ocic_fail(err);
	return ocic_print_id_reply(o, m, pos[0]);
}

static const char *state_word(Runtime__V1__ContainerState s)
{
	switch (s) {
	case RUNTIME__V1__CONTAINER_STATE__CONTAINER_CREATED: return "Created";
	case RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING: return "Running";
	case RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED: return "Exited";
	default: return "Unknown";
	}
}

static int container_status(struct ocic *o, const char *id, bool verbose,
			    Runtime__V1__ContainerStatusResponse **out, ocid_error **err)
{
	Runtime__V1__ContainerStatusRequest req = RUNTIME__V1__CONTAINER_STATUS_REQUEST__INIT;
	req.container_id = (char *)id;
	req.verbose = verbose;
	return ocic_call(o, RUNTIME_SERVICE "ContainerStatus", &req.base,
			 &runtime__v1__container_status_response__descriptor, 0,
			 (ProtobufCMessage **)out, err);
}

static int status(struct ocic *o, int argc, char **argv)
{
	bool verbose = false;
	const struct opt opts[] = {{"verbose", 'v', OPT_FLAG, &verbose}};
	const char *pos[argc + 1];
	int npos;
	int rc = ocic_parse_args(argc, argv, opts, 1, ctr_usage, pos, &npos);
	if (rc)
		return rc < 0 ? OCIC_EXIT_OK : rc;
	if (npos != 1)
		return ocic_usage_error(ctr_usage, "ctr status: want exactly one container ID");
	Runtime__V1__ContainerStatusResponse *r = NULL;
	ocid_error *err = NULL;
	if (container_status(o, pos[0], verbose, &r, &err) < 0)
		return ocic_fail(err);
	if (o->output == OCIC_OUT_JSON) {
		rc = print_json_message(&r->base);
		protobuf_c_message_free_unpacked(&r->base, NULL);
		return rc;
	}
	Runtime__V1__ContainerStatus *s = r->status;
	if (s) {
		char tb[48], ab[64];
		print_kv("ID", s->id);
		print_kv("Name", s->metadata ? s->metadata->name : "");
		printf("Attempt:  %u\n", s->metadata ? s->metadata->attempt : 0);
		print_kv("State", state_word(s->state));
		printf("Created:  %s (%s)\n", fmt_time(s->created_at, tb, sizeof(tb)),
		       fmt_age(s->created_at, ab, sizeof(ab)));
		print_kv("Started", fmt_time(s->started_at, tb, sizeof(tb)));
		print_kv("Finished", fmt_time(s->finished_at, tb, sizeof(tb)));
		printf("Exit code:  %d\n", s->exit_code);
		print_kv("Reason", s->reason);
		print_kv("Message", s->message);
		print_kv("Image", s->image ? s->image->image : "");
		print_kv("Image ref", s->image_ref);
		print_kv("Image ID", s->image_id);
		print_kv("Log path", s->log_path);
		if (s->n_mounts > 0) {
			printf("Mounts:\n");
			for (size_t i = 0; i < s->n_mounts; i++) {
				Runtime__V1__Mount *mt = s->mounts[i];
				printf("  %s -> %s%s\n", mt->host_path, mt->container_path,
				       mt->readonly ? " (ro)" : "");
			}
		}
		print_map("Labels", (ProtobufCMessage **)s->labels, s->n_labels);
		print_map("Annotations", (ProtobufCMessage **)s->annotations, s->n_annotations);
	}
	print_map("Info", (ProtobufCMessage **)r->info, r->n_info);
	protobuf_c_message_free_unpacked(&r->base, NULL);
	return OCIC_EXIT_OK;
}

static int cmp_created_desc(const void *a, const void *b)
{
	const Runtime__V1__Container *x = *(Runtime__V1__Container *const *)a;
	const Runtime__V1__Container *y = *(Runtime__V1__Container *const *)b;
	return (x->created_at < y->created_at) - (x->created_at > y->created_at);
}

static int list(struct ocic *o, int argc, char **argv)
{
	const char *pod = NULL, *id = NULL, *state = NULL;
	bool quiet = false, no_trunc = false;
	struct strlist labels = {0};
	const struct opt opts[] = {
		{"pod", 0, OPT_STRING, &pod},
		{"id", 0, OPT_STRING, &id},
		{"state", 0, OPT_STRING, &state},
		{"label", 0, OPT_LIST, &labels},
		{"quiet", 'q', OPT_FLAG, &quiet},
		{"no-trunc", 0, OPT_FLAG, &no_trunc},
	};
	const char *pos[argc + 1];
	int npos;
	int rc = ocic_parse_args(argc, argv, opts, 6, ctr_usage, pos, &npos);
	if (rc) {
		strlist_free(&labels);
		return rc < 0 ? OCIC_EXIT_OK : rc;
	}
	if (npos) {
		strlist_free(&labels);
		return ocic_usage_error(ctr_usage, "ctr list takes no arguments");
	}
	Runtime__V1__ContainerFilter filter = RUNTIME__V1__CONTAINER_FILTER__INIT;
	Runtime__V1__ContainerStateValue sv = RUNTIME__V1__CONTAINER_STATE_VALUE__INIT;
	Runtime__V1__ListContainersRequest req = RUNTIME__V1__LIST_CONTAINERS_REQUEST__INIT;
	if (state) {
		static const struct {
			const char *word;
			Runtime__V1__ContainerState s;
		} states[] = {
			{"created", RUNTIME__V1__CONTAINER_STATE__CONTAINER_CREATED},
			{"running", RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING},
			{"exited", RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED},
			{"unknown", RUNTIME__V1__CONTAINER_STATE__CONTAINER_UNKNOWN},
		};
		size_t i;
		for (i = 0; i < sizeof(states) / sizeof(states[0]); i++)
			if (strcmp(state, states[i].word) == 0)
				break;
		if (i == sizeof(states) / sizeof(states[0])) {
			strlist_free(&labels);
			return ocic_usage_error(ctr_usage,
						"invalid --state %s: want created, running, exited "
						"or unknown",
						state);
		}
		sv.state = states[i].s;
		filter.state = &sv;
	}
	if (id)
		filter.id = (char *)id;
	if (pod)
		filter.pod_sandbox_id = (char *)pod;
	ocid_error *err = NULL;
	ProtobufCMessage **sel = NULL;
	size_t nsel = 0;
	if (build_map(&runtime__v1__container_filter__label_selector_entry__descriptor, &labels,
		      &sel, &nsel, &err) < 0) {
		strlist_free(&labels);
		return ocic_fail(err);
	}
	filter.label_selector = (Runtime__V1__ContainerFilter__LabelSelectorEntry **)sel;
	filter.n_label_selector = nsel;
	if (id || pod || state || nsel)
		req.filter = &filter;
	ProtobufCMessage *m = NULL;
	rc = ocic_call(o, RUNTIME_SERVICE "ListContainers", &req.base,
		       &runtime__v1__list_containers_response__descriptor, 0, &m, &err);
	free_map(sel, nsel);
	strlist_free(&labels);
	if (rc < 0)
		return ocic_fail(err);
	if (o->output == OCIC_OUT_JSON) {
		rc = print_json_message(m);
		protobuf_c_message_free_unpacked(m, NULL);
		return rc;
	}
	Runtime__V1__ListContainersResponse *r = (Runtime__V1__ListContainersResponse *)m;
	if (r->n_containers > 1)
		qsort(r->containers, r->n_containers, sizeof(r->containers[0]), cmp_created_desc);
	if (quiet) {
		for (size_t i = 0; i < r->n_containers; i++)
			puts(r->containers[i]->id);
	} else {
		struct table *t = table_new(7, "CONTAINER", "IMAGE", "CREATED", "STATE", "NAME",
					    "ATTEMPT", "POD ID");
		for (size_t i = 0; i < r->n_containers; i++) {
			Runtime__V1__Container *c = r->containers[i];
			char ib[80], pb[80], ab[64], at[16];
			snprintf(at, sizeof(at), "%u", c->metadata ? c->metadata->attempt : 0);
			const char *img = c->image && c->image->image[0] ? c->image->image
									 : c->image_ref;
			table_add(t, fmt_id(c->id, no_trunc, ib, sizeof(ib)), img,
				  fmt_age(c->created_at, ab, sizeof(ab)), state_word(c->state),
				  c->metadata ? c->metadata->name : "", at,
				  fmt_id(c->pod_sandbox_id, no_trunc, pb, sizeof(pb)));
		}
		table_print(t);
	}
	protobuf_c_message_free_unpacked(m, NULL);
	return OCIC_EXIT_OK;
}

static int exec_sync(struct ocic *o, int argc, char **argv)
{
	const char *timeout = NULL;
	const struct opt opts[] = {{"timeout", 0, OPT_STRING, &timeout}};
	/* options end at the container id: the rest is the command */
	int split = 0;
	while (split < argc && argv[split][0] == '-' && strcmp(argv[split], "--") != 0)
		split += strcmp(argv[split], "--timeout") == 0 ? 2 : 1;
	if (split < argc && strcmp(argv[split], "--") != 0)
		split++; /* the id */
	if (split > argc)
		split = argc;
	const char *pos[argc + 1];
	int npos;
	int rc = ocic_parse_args(split, argv, opts, 1, ctr_usage, pos, &npos);
	if (rc)
		return rc < 0 ? OCIC_EXIT_OK : rc;
	int rest = split;
	if (rest < argc && strcmp(argv[rest], "--") == 0)
		rest++;
	if (npos != 1 || rest >= argc)
		return ocic_usage_error(ctr_usage, "ctr exec: want a container ID and a command");
	long long secs = 0;
	if (timeout) {
		char *end;
		errno = 0;
		secs = strtoll(timeout, &end, 10);
		if (*timeout == '\0' || *end != '\0' || errno || secs < 0 || secs > 315360000LL)
			return ocic_usage_error(ctr_usage, "invalid --timeout %s: want whole seconds >= 0", timeout);
	}
	Runtime__V1__ExecSyncRequest req = RUNTIME__V1__EXEC_SYNC_REQUEST__INIT;
	req.container_id = (char *)pos[0];
	req.cmd = argv + rest;
	req.n_cmd = (size_t)(argc - rest);
	req.timeout = secs;
	ProtobufCMessage *m = NULL;
	ocid_error *err = NULL;
	if (ocic_call(o, RUNTIME_SERVICE "ExecSync", &req.base, &runtime__v1__exec_sync_response__descriptor,
		      secs * 1000000000LL, &m, &err) < 0)
		return ocic_fail(err);
	if (o->output == OCIC_OUT_JSON) {
		rc = print_json_message(m);
		protobuf_c_message_free_unpacked(m, NULL);
		return rc;
	}
	Runtime__V1__ExecSyncResponse *r = (Runtime__V1__ExecSyncResponse *)m;
	if (r->stdout.len)
		fwrite(r->stdout.data, 1, r->stdout.len, stdout);
	fflush(stdout);
	if (r->stderr.len)
		fwrite(r->stderr.data, 1, r->stderr.len, stderr);
	fflush(stderr);
	rc = r->exit_code < 0 ? 255 : r->exit_code > 255 ? 255 : r->exit_code;
	protobuf_c_message_free_unpacked(m, NULL);
	return rc;
}

/* ---- logs ---- */

struct log_reader {
	bool timestamps;
	bool mid_line; /* the last line printed was partial */
	enum crilog_stream last_stream;
	char *buf;
	size_t len, cap;
};

static void emit_line(struct log_reader *lr, const char *line, size_t len)
{
	struct crilog_line l;
	if (crilog_parse(line, len, &l) < 0) {
		fflush(stderr);
		fwrite(line, 1, len, stdout);
		putchar('\n');
		lr->mid_line = false;
		return;
	}
	FILE *f = l.stream == CRILOG_STDERR ? stderr : stdout;
	/* keep the two streams in file order when they share a terminal */
	if (l.stream != lr->last_stream)
		fflush(f == stdout ? stderr : stdout);
	if (lr->timestamps && !(lr->mid_line && lr->last_stream == l.stream)) {
		fwrite(l.ts, 1, l.ts_len, f);
		fputc(' ', f);
	}
	fwrite(l.text, 1, l.text_len, f);
	if (!l.partial)
		fputc('\n', f);
	lr->mid_line = l.partial;
	lr->last_stream = l.stream;
}

/* Reads what fd has and prints the complete lines; skip drops the first
 * skip lines. Returns 0 at EOF, -1 on a read error. */
static int drain(struct log_reader *lr, int fd, size_t *skip)
{
	char chunk[65536];
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		if (lr->len + (size_t)n > lr->cap) {
			size_t cap = lr->cap ? lr->cap : 65536;
			while (cap < lr->len + (size_t)n)
				cap *= 2;
			char *nb = realloc(lr->buf, cap);
			if (nb == NULL)
				return -1;
			lr->buf = nb;
			lr->cap = cap;
		}
		memcpy(lr->buf + lr->len, chunk, (size_t)n);
		lr->len += (size_t)n;
		size_t off = 0;
		for (;;) {
			char *nl = memchr(lr->buf + off, '\n', lr->len - off);
			if (nl == NULL)
				break;
			size_t ll = (size_t)(nl - (lr->buf + off));
			if (skip && *skip > 0)
				(*skip)--;
			else
				emit_line(lr, lr->buf + off, ll);
			off += ll + 1;
		}
		memmove(lr->buf, lr->buf + off, lr->len - off);
		lr->len -= off;
	}
	fflush(stdout);
	fflush(stderr);
	return 0;
}

static size_t count_lines(int fd)
{
	char chunk[65536];
	size_t n = 0;
	ssize_t r;
	while ((r = read(fd, chunk, sizeof(chunk))) > 0 || (r < 0 && errno == EINTR))
		for (ssize_t i = 0; i < r; i++)
			n += chunk[i] == '\n';
	return n;
}

static int open_log(const char *path, ocid_error **err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set_errno(err, errno == ENOENT ? GRPC_NOT_FOUND : GRPC_UNKNOWN, errno,
				     "open log file %s", path);
	return fd;
}

/* The container is over: exited, unknown, or removed. */
static int container_done(struct ocic *o, const char *id, bool *done, ocid_error **err)
{
	Runtime__V1__ContainerStatusResponse *r = NULL;
	ocid_error *e = NULL;
	if (container_status(o, id, false, &r, &e) < 0) {
		if (e->code == GRPC_NOT_FOUND) {
			err_free(e);
			*done = true;
			return 0;
		}
		*err = e;
		return -1;
	}
	*done = r->status == NULL ||
		r->status->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED ||
		r->status->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_UNKNOWN;
	protobuf_c_message_free_unpacked(&r->base, NULL);
	return 0;
}

static int logs(struct ocic *o, int argc, char **argv)
{
	bool follow = false, timestamps = false;
	const char *tail = NULL;
	const struct opt opts[] = {
		{"follow", 'f', OPT_FLAG, &follow},
		{"timestamps", 't', OPT_FLAG, &timestamps},
		{"tail", 0, OPT_STRING, &tail},
	};
	const char *pos[argc + 1];
	int npos;
	int rc = ocic_parse_args(argc, argv, opts, 3, ctr_usage, pos, &npos);
	if (rc)
		return rc < 0 ? OCIC_EXIT_OK : rc;
	if (npos != 1)
		return ocic_usage_error(ctr_usage, "ctr logs: want exactly one container ID");
	long long tail_n = -1;
	if (tail) {
		char *end;
		tail_n = strtoll(tail, &end, 10);
		if (*tail == '\0' || *end != '\0' || tail_n < 0)
			return ocic_usage_error(ctr_usage, "invalid --tail %s", tail);
	}
	const char *id = pos[0];
	Runtime__V1__ContainerStatusResponse *r = NULL;
	ocid_error *err = NULL;
	if (container_status(o, id, false, &r, &err) < 0)
		return ocic_fail(err);
	cleanup_free char *path = NULL;
	if (r->status && r->status->log_path[0])
		path = strdup(r->status->log_path);
	protobuf_c_message_free_unpacked(&r->base, NULL);
	if (path == NULL) {
		err_set(&err, GRPC_FAILED_PRECONDITION, "container %s has no log path", id);
		return ocic_fail(err);
	}
	cleanup_close int fd = open_log(path, &err);
	if (fd < 0)
		return ocic_fail(err);

	struct log_reader lr = {.timestamps = timestamps};
	size_t skip = 0;
	if (tail_n >= 0) {
		size_t total = count_lines(fd);
		skip = total > (size_t)tail_n ? total - (size_t)tail_n : 0;
		if (lseek(fd, 0, SEEK_SET) < 0) {
			err_set_errno(&err, GRPC_UNKNOWN, errno, "seek %s", path);
			return ocic_fail(err);
		}
	}
	if (drain(&lr, fd, &skip) < 0) {
		free(lr.buf);
		err_set_errno(&err, GRPC_UNKNOWN, errno, "read %s", path);
		return ocic_fail(err);
	}
	rc = OCIC_EXIT_OK;
	struct timespec tick = {.tv_nsec = 100 * 1000000L};
	int polls = 0;
	while (follow) {
		nanosleep(&tick, NULL);
		if (drain(&lr, fd, NULL) < 0) {
			err_set_errno(&err, GRPC_UNKNOWN, errno, "read %s", path);
			rc = ocic_fail(err);
			break;
		}
		/* Rotated: the path now names another file (or none yet). The old
		 * one is drained; move to the new one once it is there. */
		struct stat a, b;
		if (fstat(fd, &a) == 0 && stat(path, &b) == 0 &&
		    (a.st_ino != b.st_ino || a.st_dev != b.st_dev)) {
			int nfd = open(path, O_RDONLY | O_CLOEXEC);
			if (nfd >= 0) {
				close(fd);
				fd = nfd;
				lr.len = 0; /* an unterminated tail of the old file is dropped */
				continue;
			}
		}
		if (++polls % 10 == 0) {
			bool done = false;
			if (container_done(o, id, &done, &err) < 0) {
				rc = ocic_fail(err);
				break;
			}
			if (done) {
				if (drain(&lr, fd, NULL) < 0) {
					err_set_errno(&err, GRPC_UNKNOWN, errno, "read %s", path);
					rc = ocic_fail(err);
				}
				break;
			}
		}
	}
	/* A last line without its newline yet: print what is there. */
	if (rc == OCIC_EXIT_OK && lr.len > 0) {
		emit_line(&lr, lr.buf, lr.len);
		if (lr.mid_line)
			putchar('\n');
	}
	free(lr.buf);
	return rc;
}

int cmd_ctr(struct ocic *o, int argc, char **argv)
{
	if (argc < 1)
		return ocic_usage_error(ctr_usage, "ctr: missing subcommand");
	const char *sub = argv[0];
	if (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0 || strcmp(sub, "help") == 0) {
		fputs(ctr_usage, stdout);
		return OCIC_EXIT_OK;
	}
	if (strcmp(sub, "create") == 0)
		return create(o, argc - 1, argv + 1);
	if (strcmp(sub, "start") == 0)
		return start(o, argc - 1, argv + 1);
	if (strcmp(sub, "status") == 0)
		return status(o, argc - 1, argv + 1);
	if (strcmp(sub, "stop") == 0)
		return stop(o, argc - 1, argv + 1);
	if (strcmp(sub, "remove") == 0)
		return remove_ctr(o, argc - 1, argv + 1);
	if (strcmp(sub, "list") == 0)
		return list(o, argc - 1, argv + 1);
	if (strcmp(sub, "logs") == 0)
		return logs(o, argc - 1, argv + 1);
	if (strcmp(sub, "exec") == 0)
		return exec_sync(o, argc - 1, argv + 1);
	return ocic_usage_error(ctr_usage, "ctr: unknown subcommand %s", sub);
}
