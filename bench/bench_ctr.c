/* Container lifecycle benchmark: CreateContainer+StartContainer and
 * StopContainer+RemoveContainer latency through a running ocid, against the
 * floor measured in the same run: conmon + runc creating, starting, killing
 * and deleting the same bundle (the config.json ocid wrote for a container
 * of the same pod; with --lower, on an overlay rootfs of its own mounted
 * beforehand, like ocid's) through the driver library alone
 * (src/ctr/ctr_runtime.h: no daemon, no gRPC, no database, no spec
 * building, no mount in the timing).
 *
 * Each phase runs N containers one by one, then N with C at a time (C
 * threads, one gRPC connection each), the floor's and ocid's interleaved
 * (see phase()). All N are created and started before the first is
 * stopped, so ocid's index holds N of them while it works. --rounds R
 * repeats the concurrent phase R times, for R * N / C pairs of batches.
 *
 *   bench-ctr --endpoint unix:///path/ocid.sock --pod POD_ID --config CTR.json
 *             [--n 100] [--concurrency 10] [--rounds 1] [--runtime runc] [--work-dir DIR]
 *             [--bundle-dir DIR] [--lower DIR:DIR...] [--ocid-pid PID] [--log-dir DIR]
 *
 * With --ocid-pid, every batch (the floor's and ocid's) starts only once the
 * daemon's CPU time has stood still for 50 ms: what ocid does in the
 * background after a call returns (recording exits, making and deleting
 * container directories: src/ctr/dir_pool.h) is then never counted against
 * the floor, nor is it hidden by running during the floor's batch.
 *
 * CTR.json is a runtime.v1.ContainerConfig whose command runs until killed
 * (metadata.name gets a suffix per container). bench/bench-ctr.sh sets up
 * the registry, the daemon, the image and the pod and runs this. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api.pb-c.h"
#include "client/grpc_client.h"
#include "config/config.h"
#include "ctr/ctr_runtime.h"
#include "ctr/rootfs.h"
#include "ctr/spec.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/proc.h"
#include "util/pbjson.h"
#include "util/xalloc.h"

#define RT "/runtime.v1.RuntimeService/"
#define CALL_TIMEOUT_NS 120000000000LL

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void die(const char *what, ocid_error *err)
{
	fprintf(stderr, "bench-ctr: %s: %s\n", what, err ? err->msg : strerror(errno));
	exit(1);
}

/* ---- options and shared state ---- */

static const char *endpoint, *pod_id, *config_path, *runtime_name = "runc", *work_dir, *lower_arg, *bundle_arg;
/* The image's layer dirs, top first: each floor container gets an overlay
 * of its own over them (mounted before the timing), as ocid's do. */
static char **lower;
static size_t n_lower;
static int n_total = 100, concurrency = 10, rounds = 1;
static int ocid_pid;
static const char *log_dir; /* --log-dir: the floor's logs where ocid's go */ /* --ocid-pid: batches start once the daemon is idle */
static Runtime__V1__ContainerConfig *tmpl;

/* The floor's bundle: the spec ocid wrote, and a driver. */
static json_t *floor_spec;
static char *floor_cg_parent; /* cgroupsPath without its last component */
static struct ctr_runtime *floor_rt;
static char *floor_dir;
static char *floor_ctr_dir; /* <floor_dir>/ctrs: upper/work dirs, spread as ocid's are */
/* Where the floor's bundles (config.json, the rootfs mountpoint, conmon's
 * attach socket and fifos) go: --bundle-dir, as ocid's go to
 * <runroot>/containers (a tmpfs of ocid's own when runroot is on disk);
 * their upper/work dirs and logs stay in floor_dir (upper/work under ctrs/), as ocid's stay on disk. */
static char *bundle_dir;

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

struct stats {
	double p50, p99, mean; /* ms */
};

static struct stats stats_of(int64_t *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_i64);
	double sum = 0;
	for (int i = 0; i < n; i++)
		sum += (double)v[i];
	struct stats s = {
		.p50 = (double)v[n / 2] / 1e6,
		.p99 = (double)v[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1] / 1e6,
		.mean = sum / n / 1e6,
	};
	return s;
}

/* ---- ocid through gRPC ---- */

static struct grpc_client *connect_ocid(void)
{
	struct grpc_client *c = NULL;
	ocid_error *err = NULL;
	if (grpc_client_connect(endpoint, &c, &err) < 0)
		die("connect", err);
	return c;
}

static void call(struct grpc_client *c, const char *method, const ProtobufCMessage *req,
		 const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp)
{
	ocid_error *err = NULL;
	ProtobufCMessage *r = NULL;
	char path[128];
	snprintf(path, sizeof(path), RT "%s", method);
	if (grpc_client_unary(c, path, req, resp_desc, CALL_TIMEOUT_NS, &r, &err) < 0)
		die(method, err);
	if (resp)
		*resp = r;
	else
		protobuf_c_message_free_unpacked(r, NULL);
}

static char *ocid_create(struct grpc_client *c, const char *name)
{
	Runtime__V1__ContainerMetadata md = *tmpl->metadata;
	md.name = (char *)name;
	Runtime__V1__ContainerConfig cfg = *tmpl;
	cfg.metadata = &md;
	char log_path[160];
	snprintf(log_path, sizeof(log_path), "%s.log", name);
	cfg.log_path = log_path;
	Runtime__V1__CreateContainerRequest req = RUNTIME__V1__CREATE_CONTAINER_REQUEST__INIT;
	req.pod_sandbox_id = (char *)pod_id;
	req.config = &cfg;
	ProtobufCMessage *r;
	call(c, "CreateContainer", &req.base, &runtime__v1__create_container_response__descriptor, &r);
	char *id = xstrdup(((Runtime__V1__CreateContainerResponse *)r)->container_id);
	protobuf_c_message_free_unpacked(r, NULL);
	return id;
}

static void ocid_one_id(struct grpc_client *c, const char *method, const char *id)
{
	if (strcmp(method, "StartContainer") == 0) {
		Runtime__V1__StartContainerRequest req = RUNTIME__V1__START_CONTAINER_REQUEST__INIT;
		req.container_id = (char *)id;
		call(c, method, &req.base, &runtime__v1__start_container_response__descriptor, NULL);
	} else if (strcmp(method, "StopContainer") == 0) {
		Runtime__V1__StopContainerRequest req = RUNTIME__V1__STOP_CONTAINER_REQUEST__INIT;
		req.container_id = (char *)id;
		req.timeout = 0;
		call(c, method, &req.base, &runtime__v1__stop_container_response__descriptor, NULL);
	} else {
		Runtime__V1__RemoveContainerRequest req = RUNTIME__V1__REMOVE_CONTAINER_REQUEST__INIT;
		req.container_id = (char *)id;
		call(c, method, &req.base, &runtime__v1__remove_container_response__descriptor, NULL);
	}
}

/* ---- the floor: the driver on ocid's bundle ---- */

/* The floor container's own rootfs, mounted just before it is created
 * (outside the timing), so the host's mount table grows as with ocid. */
static void floor_mount(int idx, const char *tag)
{
	if (n_lower == 0)
		return;
	char *b = xasprintf("%s/bench-floor-%s-%d-%d", floor_ctr_dir, tag, (int)getpid(), idx);
	char *bb = xasprintf("%s/bench-floor-%s-%d-%d", bundle_dir, tag, (int)getpid(), idx);
	char *upper = xasprintf("%s/upper", b), *work = xasprintf("%s/work", b), *rootfs = xasprintf("%s/rootfs", bb);
	ocid_error *err = NULL;
	if (rootfs_mount(rootfs, lower, n_lower, upper, work, &err) < 0)
		die("floor rootfs", err);
	free(b);
	free(bb);
	free(upper);
	free(work);
	free(rootfs);
}

/* Init pids of the floor's containers, by index and tag ("s", "c"), as
 * ocid keeps them from create (so stop needs no `runc state`). */
static int floor_pids[2][4096];

static char *floor_create_start(int idx, const char *tag)
{
	char *id = xasprintf("bench-floor-%s-%d-%d", tag, (int)getpid(), idx);
	char *bundle = xasprintf("%s/%s", bundle_dir, id);
	char *log = xasprintf("%s/%s.log", log_dir ? log_dir : floor_dir, id);
	struct ctr_create_params p = {
		.ref = {.id = id, .runtime = runtime_name, .bundle = bundle},
		.log_path = log,
	};
	struct conmon_created cc;
	ocid_error *err = NULL;
	if (ctr_runtime_create(floor_rt, &p, &cc, &err) < 0)
		die("floor create", err);
	p.ref.pid = cc.pid;
	if (idx < 4096)
		floor_pids[tag[0] == 'c'][idx] = cc.pid;
	if (ctr_runtime_start(floor_rt, &p.ref, &err) < 0)
		die("floor start", err);
	free(bundle);
	free(log);
	return id;
}

static void floor_stop_remove(const char *id, int idx, const char *tag)
{
	char *bundle = xasprintf("%s/%s", bundle_dir, id);
	struct ctr_ref ref = {.id = id, .runtime = runtime_name, .bundle = bundle,
			      .pid = idx < 4096 ? floor_pids[tag[0] == 'c'][idx] : 0};
	struct exit_info ei;
	ocid_error *err = NULL;
	if (ctr_runtime_stop(floor_rt, &ref, 0, 0, false, NULL, &ei, &err) < 0)
		die("floor stop", err);
	if (ctr_runtime_remove(floor_rt, &ref, &err) < 0)
		die("floor remove", err);
	free(bundle);
}

/* A bundle per floor container (outside the timing): the same config.json
 * with a cgroup of its own. */
static void floor_prepare(int idx, const char *tag)
{
	char *id = xasprintf("bench-floor-%s-%d-%d", tag, (int)getpid(), idx);
	char *bundle = xasprintf("%s/%s", bundle_dir, id);
	char *dir = xasprintf("%s/%s", floor_ctr_dir, id);
	ocid_error *err = NULL;
	if (fs_mkdir_p(bundle, 0700, &err) < 0 || fs_mkdir_p(dir, 0700, &err) < 0)
		die("floor bundle", err);
	json_t *spec = json_deep_copy(floor_spec);
	if (n_lower) {
		char *upper = xasprintf("%s/upper", dir), *work = xasprintf("%s/work", dir);
		char *rootfs = xasprintf("%s/rootfs", bundle);
		if (mkdir(upper, 0755) < 0 || mkdir(work, 0700) < 0 || mkdir(rootfs, 0755) < 0)
			die("floor rootfs dirs", NULL);
		json_object_set_new(json_object_get(spec, "root"), "path", json_string(rootfs));
		free(upper);
		free(work);
		free(rootfs);
	}
	json_t *linux_obj = json_object_get(spec, "linux");
	char *cg = xasprintf("%s/%s", floor_cg_parent, id);
	json_object_set_new(linux_obj, "cgroupsPath", json_string(cg));
	char *text = spec_dumps(spec, &err);
	if (text == NULL)
		die("floor spec", err);
	char *path = xasprintf("%s/config.json", bundle);
	if (fs_write_atomic(path, text, strlen(text), 0600, &err) < 0)
		die("floor config.json", err);
	json_decref(spec);
	free(text);
	free(path);
	free(cg);
	free(bundle);
	free(dir);
	free(id);
}

static void floor_cleanup(int idx, const char *tag)
{
	char *bundle = xasprintf("%s/bench-floor-%s-%d-%d", bundle_dir, tag, (int)getpid(), idx);
	char *dir = xasprintf("%s/bench-floor-%s-%d-%d", floor_ctr_dir, tag, (int)getpid(), idx);
	char *rootfs = xasprintf("%s/rootfs", bundle);
	rootfs_umount(rootfs, NULL);
	free(rootfs);
	fs_remove_all(bundle, NULL);
	fs_remove_all(dir, NULL);
	free(bundle);
	free(dir);
}

/* ---- phases ----
 *
 * The machine is shared (builds, other tests), so its load drifts: the
 * floor and ocid are interleaved to see the same drift. One by one: floor
 * container i, then ocid container i, for every i. C at a time: rounds of
 * C floor containers at once, then C ocid containers at once. Creating and
 * starting all of them comes first (so N of each run together), then
 * stopping and removing them the same way. */

enum target { OCID, FLOOR };

struct slot {
	enum target target;
	const char *tag;
	int idx;
	struct grpc_client *client; /* ocid */
	char **id;                  /* in/out */
	int64_t *lat;               /* out, ns */
	bool up;
};

static void run_slot(struct slot *s)
{
	if (s->up && s->target == FLOOR)
		floor_mount(s->idx, s->tag);
	int64_t t0 = now_ns();
	if (s->up) {
		if (s->target == OCID) {
			char name[64];
			snprintf(name, sizeof(name), "bench-%s-%d", s->tag, s->idx);
			*s->id = ocid_create(s->client, name);
			ocid_one_id(s->client, "StartContainer", *s->id);
		} else {
			*s->id = floor_create_start(s->idx, s->tag);
		}
	} else {
		if (s->target == OCID) {
			ocid_one_id(s->client, "StopContainer", *s->id);
			ocid_one_id(s->client, "RemoveContainer", *s->id);
		} else {
			floor_stop_remove(*s->id, s->idx, s->tag);
		}
	}
	*s->lat = now_ns() - t0;
}

static void *slot_thread(void *arg)
{
	run_slot(arg);
	return NULL;
}

/* utime + stime of --ocid-pid, in clock ticks; -1 when unreadable. */
static long long ocid_cpu_ticks(void)
{
	struct proc_stat ps;
	if (proc_stat_read(ocid_pid, &ps, NULL) < 0)
		return -1;
	return (long long)(ps.utime + ps.stime);
}

/* Waits (up to 3 s) until ocid's CPU time has not moved for 50 ms. */
static void settle_ocid(void)
{
	if (ocid_pid <= 0)
		return;
	long long last = ocid_cpu_ticks();
	int still = 0;
	for (int i = 0; i < 120 && still < 2 && last >= 0; i++) {
		usleep(25000);
		long long now = ocid_cpu_ticks();
		still = now == last ? still + 1 : 0;
		last = now;
	}
}

/* Runs the slots all at once (one thread each); wall time in ns. */
static int64_t run_batch(struct slot *slots, int n)
{
	int64_t t0 = now_ns();
	if (n == 1) {
		run_slot(&slots[0]);
		return now_ns() - t0;
	}
	pthread_t *th = xcalloc((size_t)n, sizeof(*th));
	for (int i = 0; i < n; i++)
		pthread_create(&th[i], NULL, slot_thread, &slots[i]);
	for (int i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	free(th);
	return now_ns() - t0;
}

struct side {
	int64_t *up, *down; /* per container, ns */
	char **ids;
	int64_t wall_up, wall_down;
};

struct result {
	struct stats up, down;
	/* ocid only: the median over batches of (mean latency of ocid's batch -
	 * mean of the floor's batch run next to it), ms */
	double paired_up, paired_down;
	double paired_up_lo, paired_up_hi, paired_down_lo, paired_down_hi; /* ~95% interval */
	int n_pairs;
	double wall_up, wall_down; /* s */
	double cpu_ms; /* CPU per container lifecycle: the bench process's for the
			* floor (its driver calls), the daemon's (all threads) for ocid */
	double fg_cpu_ms; /* ocid: the part spent while its own batches ran */
	double fg_up_ms, fg_down_ms; /* ocid: that part, while creating+starting and while stopping+removing */
	double client_cpu_ms; /* ocid: the bench process's CPU in ocid's batches (gRPC client) */
};

static int64_t self_cpu_ns(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ((int64_t)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000LL +
	       ((int64_t)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000LL;
}

static struct result result_of(struct side *sd, int n)
{
	struct result r = {
		.up = stats_of(sd->up, n),
		.down = stats_of(sd->down, n),
		.wall_up = (double)sd->wall_up / 1e9,
		.wall_down = (double)sd->wall_down / 1e9,
	};
	return r;
}

static double batch_mean_ms(const int64_t *v, int first, int cnt)
{
	double sum = 0;
	for (int i = 0; i < cnt; i++)
		sum += (double)v[first + i];
	return sum / cnt / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* The median of v, and a distribution-free ~95% confidence interval for it
 * from order statistics (the sign test: ranks n/2 -+ 0.98 sqrt(n)). */
static double median_ci(double *v, int n, double *lo, double *hi)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	double half = 0.98 * sqrt((double)n);
	int l = (int)floor((double)n / 2 - half), h = (int)ceil((double)n / 2 + half) - 1;
	*lo = v[l < 0 ? 0 : l];
	*hi = v[h >= n ? n - 1 : h];
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* One phase at width C (1 = one by one), both sides interleaved: each batch
 * of the floor's runs next to the same batch of ocid's, the floor first in
 * even batches and ocid first in odd ones, so neither side always inherits
 * what the other left running (runc and conmon exiting, the kernel's
 * deferred work). The paired figure compares each batch with its partner:
 * far less noisy than p50 against p50 when the machine's speed drifts
 * between batches. `rounds` repeats the whole phase (N up, then N down) for
 * more batches without more containers running at once. */
static void phase(int width, int rounds, const char *tag, struct result *floor_res, struct result *ocid_res)
{
	int n = n_total;
	int per_round = (n + width - 1) / width;
	int n_batches = per_round * rounds;
	int total = n * rounds;
	double *pair_up = xcalloc((size_t)n_batches, sizeof(double));
	double *pair_down = xcalloc((size_t)n_batches, sizeof(double));
	struct side sides[2];
	for (int k = 0; k < 2; k++) {
		sides[k].up = xcalloc((size_t)total, sizeof(int64_t));
		sides[k].down = xcalloc((size_t)total, sizeof(int64_t));
		sides[k].ids = xcalloc((size_t)total, sizeof(char *));
		sides[k].wall_up = sides[k].wall_down = 0;
	}
	struct grpc_client **clients = xcalloc((size_t)width, sizeof(*clients));
	for (int i = 0; i < width; i++)
		clients[i] = connect_ocid();
	struct slot *slots = xcalloc((size_t)width, sizeof(*slots));
	int64_t floor_cpu = 0, client_cpu = 0;
	long long ocid_fg_ticks = 0, ocid_fg_pass[2] = {0, 0};
	settle_ocid();
	long long ocid_ticks0 = ocid_cpu_ticks();
	for (int round = 0; round < rounds; round++) {
		char rtag[32];
		snprintf(rtag, sizeof(rtag), "%s%d", tag, round);
		int base = round * n;
		for (int i = 0; i < n; i++)
			floor_prepare(i, rtag);
		for (int pass = 0; pass < 2; pass++) {
			bool up = pass == 0;
			for (int first = 0; first < n; first += width) {
				int cnt = first + width <= n ? width : n - first;
				int b = round * per_round + first / width;
				for (int j = 0; j < 2; j++) {
					int k = b % 2 ? 1 - j : j;
					enum target t = k == 0 ? FLOOR : OCID;
					struct side *sd = &sides[k];
					for (int i = 0; i < cnt; i++) {
						int at = base + first + i;
						slots[i] = (struct slot){.target = t, .tag = rtag, .idx = first + i,
									 .client = clients[i], .id = &sd->ids[at],
									 .lat = up ? &sd->up[at] : &sd->down[at], .up = up};
					}
					settle_ocid();
					int64_t cpu0 = self_cpu_ns();
					long long ticks0 = t == OCID ? ocid_cpu_ticks() : 0;
					int64_t wall = run_batch(slots, cnt);
					if (t == FLOOR) {
						floor_cpu += self_cpu_ns() - cpu0;
					} else {
						client_cpu += self_cpu_ns() - cpu0;
						if (ticks0 >= 0) {
							long long d = ocid_cpu_ticks() - ticks0;
							ocid_fg_ticks += d;
							ocid_fg_pass[pass] += d;
						}
					}
					if (up)
						sd->wall_up += wall;
					else
						sd->wall_down += wall;
				}
				int64_t *fl = up ? sides[0].up : sides[0].down, *oc = up ? sides[1].up : sides[1].down;
				(up ? pair_up : pair_down)[b] =
					batch_mean_ms(oc, base + first, cnt) - batch_mean_ms(fl, base + first, cnt);
			}
		}
		for (int i = 0; i < n; i++)
			floor_cleanup(i, rtag);
	}
	settle_ocid();
	long long ocid_ticks1 = ocid_cpu_ticks();
	*floor_res = result_of(&sides[0], total);
	*ocid_res = result_of(&sides[1], total);
	/* per round, as one round's figures are */
	floor_res->wall_up /= rounds;
	floor_res->wall_down /= rounds;
	ocid_res->wall_up /= rounds;
	ocid_res->wall_down /= rounds;
	ocid_res->paired_up = median_ci(pair_up, n_batches, &ocid_res->paired_up_lo, &ocid_res->paired_up_hi);
	ocid_res->paired_down =
		median_ci(pair_down, n_batches, &ocid_res->paired_down_lo, &ocid_res->paired_down_hi);
	ocid_res->n_pairs = n_batches;
	free(pair_up);
	free(pair_down);
	double tick_ms = 1000.0 / (double)sysconf(_SC_CLK_TCK);
	floor_res->cpu_ms = (double)floor_cpu / 1e6 / total;
	ocid_res->cpu_ms = ocid_ticks0 >= 0 && ocid_ticks1 >= 0 ? (double)(ocid_ticks1 - ocid_ticks0) * tick_ms / total
							       : -1;
	ocid_res->fg_cpu_ms = (double)ocid_fg_ticks * tick_ms / total;
	ocid_res->fg_up_ms = (double)ocid_fg_pass[0] * tick_ms / total;
	ocid_res->fg_down_ms = (double)ocid_fg_pass[1] * tick_ms / total;
	ocid_res->client_cpu_ms = (double)client_cpu / 1e6 / total;
	for (int i = 0; i < width; i++)
		grpc_client_free(clients[i]);
	free(clients);
	free(slots);
	for (int k = 0; k < 2; k++) {
		for (int i = 0; i < total; i++)
			free(sides[k].ids[i]);
		free(sides[k].ids);
		free(sides[k].up);
		free(sides[k].down);
	}
}

static void print_row(const char *what, const struct result *r)
{
	printf("| %-34s | %7.1f | %7.1f | %7.1f | %7.1f | %6.2f s | %6.2f s |\n", what, r->up.p50, r->up.p99,
	       r->down.p50, r->down.p99, r->wall_up, r->wall_down);
}

/* ---- setup: a probe container gives the floor its bundle ---- */

static void probe(void)
{
	struct grpc_client *c = connect_ocid();
	char *id = ocid_create(c, "bench-probe");
	Runtime__V1__ContainerStatusRequest req = RUNTIME__V1__CONTAINER_STATUS_REQUEST__INIT;
	req.container_id = id;
	req.verbose = true;
	ProtobufCMessage *r;
	call(c, "ContainerStatus", &req.base, &runtime__v1__container_status_response__descriptor, &r);
	Runtime__V1__ContainerStatusResponse *st = (Runtime__V1__ContainerStatusResponse *)r;
	const char *info = NULL;
	for (size_t i = 0; i < st->n_info; i++)
		if (strcmp(st->info[i]->key, "info") == 0)
			info = st->info[i]->value;
	json_error_t jerr;
	json_t *j = info ? json_loads(info, 0, &jerr) : NULL;
	json_t *spec = json_object_get(j, "runtimeSpec");
	if (!json_is_object(spec)) {
		fprintf(stderr, "bench-ctr: no runtimeSpec in the verbose status of the probe container\n");
		exit(1);
	}
	floor_spec = json_deep_copy(spec);
	const char *cg = json_string_value(json_object_get(json_object_get(spec, "linux"), "cgroupsPath"));
	if (cg == NULL || strrchr(cg, '/') == NULL) {
		fprintf(stderr, "bench-ctr: the probe's spec has no cgroupsPath\n");
		exit(1);
	}
	floor_cg_parent = strndup(cg, (size_t)(strrchr(cg, '/') - cg));
	/* The floor's processes are not part of the pod: drop the annotations
	 * that say they are; the rest (namespaces, mounts, rootfs) is kept. */
	json_object_del(floor_spec, "annotations");
	json_decref(j);
	protobuf_c_message_free_unpacked(r, NULL);
	grpc_client_free(c);
	free(id); /* the probe stays (created) until the pod goes: its rootfs is the floor's */
}

int main(int argc, char **argv)
{
	/* the driver's own step timings ("conmon create", ...) for the floor */
	const char *debug = getenv("BENCH_CTR_DEBUG");
	if (debug && *debug)
		log_set_level(LOG_LEVEL_DEBUG);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (v && strcmp(a, "--endpoint") == 0)
			endpoint = v;
		else if (v && strcmp(a, "--pod") == 0)
			pod_id = v;
		else if (v && strcmp(a, "--config") == 0)
			config_path = v;
		else if (v && strcmp(a, "--n") == 0)
			n_total = atoi(v);
		else if (v && strcmp(a, "--rounds") == 0)
			rounds = atoi(v);
		else if (v && strcmp(a, "--concurrency") == 0)
			concurrency = atoi(v);
		else if (v && strcmp(a, "--runtime") == 0)
			runtime_name = v;
		else if (v && strcmp(a, "--work-dir") == 0)
			work_dir = v;
		else if (v && strcmp(a, "--lower") == 0)
			lower_arg = v;
		else if (v && strcmp(a, "--bundle-dir") == 0)
			bundle_arg = v;
		else if (v && strcmp(a, "--ocid-pid") == 0)
			ocid_pid = atoi(v);
		else if (v && strcmp(a, "--log-dir") == 0)
			log_dir = v;
		else {
			fprintf(stderr,
				"usage: %s --endpoint E --pod ID --config CTR.json [--n N] [--concurrency C] [--rounds R] "
				"[--runtime runc] [--work-dir DIR] [--bundle-dir DIR] [--lower DIR:DIR...] [--ocid-pid PID] [--log-dir DIR]\n",
				argv[0]);
			return 2;
		}
		i++;
	}
	if (!endpoint || !pod_id || !config_path || n_total < 1 || concurrency < 1 || concurrency > n_total || rounds < 1) {
		fprintf(stderr, "bench-ctr: --endpoint, --pod and --config are required\n");
		return 2;
	}
	char *lower_copy = lower_arg ? xstrdup(lower_arg) : NULL;
	for (char *save = NULL, *tok = lower_copy ? strtok_r(lower_copy, ":", &save) : NULL; tok;
	     tok = strtok_r(NULL, ":", &save)) {
		lower = xrealloc(lower, (n_lower + 1) * sizeof(*lower));
		lower[n_lower++] = xstrdup(tok);
	}
	free(lower_copy);
	signal(SIGPIPE, SIG_IGN);
	ocid_error *err = NULL;
	json_error_t jerr;
	json_t *cj = json_load_file(config_path, 0, &jerr);
	if (cj == NULL) {
		fprintf(stderr, "bench-ctr: %s: %s\n", config_path, jerr.text);
		return 1;
	}
	ProtobufCMessage *m = NULL;
	if (pbjson_to_message(&runtime__v1__container_config__descriptor, cj, &m, &err) < 0)
		die(config_path, err);
	json_decref(cj);
	tmpl = (Runtime__V1__ContainerConfig *)m;
	if (tmpl->metadata == NULL)
		die("config has no metadata", NULL);

	char tmp[] = "/tmp/ocid-bench-ctr.XXXXXX";
	floor_dir = work_dir ? xstrdup(work_dir) : xstrdup(mkdtemp(tmp) ? tmp : "/tmp");
	bundle_dir = xstrdup(bundle_arg ? bundle_arg : floor_dir);
	/* the floor's container directories spread over the filesystem's
	 * allocation groups, as ocid's are (src/ctr/dir_pool.c) */
	floor_ctr_dir = xasprintf("%s/ctrs", floor_dir);
	if (fs_mkdir_p(floor_ctr_dir, 0700, &err) < 0)
		die("floor dirs", err);
	fs_spread_subdirs(floor_ctr_dir);
	char *run_dir = xasprintf("%s/floor-run", floor_dir);
	struct ocid_config *cfg = config_new();
	if (cfg == NULL || ctr_runtime_new(&floor_rt, cfg, run_dir, OCI_MNTNS_AUTO, &err) < 0)
		die("floor runtime", err);
	probe();

	printf("containers: %d per phase, concurrency %d (%d round%s), runtime %s\n\n", n_total, concurrency, rounds,
	       rounds == 1 ? "" : "s", runtime_name);
	printf("| %-34s | create+start p50 | p99 | stop+remove p50 | p99 | wall up | wall down |\n", "");
	printf("|---|---|---|---|---|---|---|\n");
	struct result fs, os, fc, oc;
	phase(1, 1, "s", &fs, &os);
	print_row("floor (conmon+runc), one by one", &fs);
	print_row("ocid, one by one", &os);
	phase(concurrency, rounds, "c", &fc, &oc);
	char label[64];
	snprintf(label, sizeof(label), "floor, %d at a time", concurrency);
	print_row(label, &fc);
	snprintf(label, sizeof(label), "ocid, %d at a time", concurrency);
	print_row(label, &oc);
	printf("\nocid over the floor (p50, ms): one by one: create+start %+.1f, stop+remove %+.1f, total %+.1f\n",
	       os.up.p50 - fs.up.p50, os.down.p50 - fs.down.p50, os.up.p50 + os.down.p50 - fs.up.p50 - fs.down.p50);
	printf("                               %d at a time: create+start %+.1f, stop+remove %+.1f, total %+.1f\n",
	       concurrency, oc.up.p50 - fc.up.p50, oc.down.p50 - fc.down.p50,
	       oc.up.p50 + oc.down.p50 - fc.up.p50 - fc.down.p50);
	printf("ocid over the floor (mean, ms): one by one %+.1f, %d at a time %+.1f\n",
	       os.up.mean + os.down.mean - fs.up.mean - fs.down.mean, concurrency,
	       oc.up.mean + oc.down.mean - fc.up.mean - fc.down.mean);
	printf("ocid over the floor, paired (median over batches of ocid's batch mean - its partner floor batch's, "
	       "[~95%% interval], ms):\n"
	       "  one by one (%d pairs): create+start %+.1f [%+.1f, %+.1f], stop+remove %+.1f [%+.1f, %+.1f]\n"
	       "  %d at a time (%d pairs): create+start %+.1f [%+.1f, %+.1f], stop+remove %+.1f [%+.1f, %+.1f]\n",
	       os.n_pairs, os.paired_up, os.paired_up_lo, os.paired_up_hi, os.paired_down, os.paired_down_lo,
	       os.paired_down_hi, concurrency, oc.n_pairs, oc.paired_up, oc.paired_up_lo, oc.paired_up_hi,
	       oc.paired_down, oc.paired_down_lo, oc.paired_down_hi);
	if (ocid_pid > 0)
		printf("CPU per container lifecycle (ms): floor's driver calls (bench process) %.2f one by one, "
		       "%.2f %d at a time; ocid (all threads) %.2f, %.2f, of which during its calls %.2f, %.2f\n",
		       fs.cpu_ms, fc.cpu_ms, concurrency, os.cpu_ms, oc.cpu_ms, os.fg_cpu_ms, oc.fg_cpu_ms);
	if (ocid_pid > 0)
		printf("  ocid during its calls: create+start %.2f, stop+remove %.2f one by one; %.2f, %.2f %d at a time; "
		       "the bench process in ocid's batches (gRPC client + driver-free) %.2f, %.2f\n",
		       os.fg_up_ms, os.fg_down_ms, oc.fg_up_ms, oc.fg_down_ms, concurrency, os.client_cpu_ms,
		       oc.client_cpu_ms);

	ctr_runtime_free(floor_rt);
	config_free(cfg);
	if (!work_dir)
		fs_remove_all(floor_dir, NULL);
	free(run_dir);
	free(floor_dir);
	free(floor_ctr_dir);
	free(bundle_dir);
	free(floor_cg_parent);
	json_decref(floor_spec);
	protobuf_c_message_free_unpacked(&tmpl->base, NULL);
	return 0;
}
