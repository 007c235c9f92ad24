/* Pod sandbox benchmark: starts ocid on a temporary root with a test CNI
 * network (bridge + host-local + portmap from /usr/lib/cni, its own bridge
 * and subnet), then measures RunPodSandbox, StopPodSandbox and
 * RemovePodSandbox latency (p50/p99) for N pods one by one and N pods P at a
 * time (P client threads, one connection each), and the daemon's RSS idle
 * and with N pods. Pods look like the kubelet's: own network and IPC
 * namespaces, PID namespace per container, DNS config, labels, annotations,
 * a cgroup parent.
 *
 *   bench-pod [--ocid PATH] [--pods N] [--parallel P] [--no-portmap]
 *             [--pid-pod] [--plugin-dir DIR] [--runroot-tmpfs]
 *
 * --runroot-tmpfs puts ocid's runroot (sandbox dirs, pins) on /dev/shm, as
 * /run is a tmpfs on most hosts (on this machine it is not).
 *
 * Runs as root (namespaces, mounts, cgroups, CNI). Cleans up after itself. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "api.pb-c.h"
#include "client/grpc_client.h"
#include "util/proc.h"

#define RUNTIME "/runtime.v1.RuntimeService/"
#define CALL_TIMEOUT_NS (120LL * 1000000000LL)
#define BRIDGE "ocidbench0"

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* VmRSS and RssAnon of pid, in kB. */
static void rss_kb(pid_t pid, long *rss, long *anon)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	*rss = *anon = -1;
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		sscanf(line, "VmRSS: %ld kB", rss);
		sscanf(line, "RssAnon: %ld kB", anon);
	}
	fclose(f);
}

/* CPU time of pid itself and of its reaped children (CNI plugins, helpers),
 * in ms (utime+stime, cutime+cstime of /proc/<pid>/stat). */
static void cpu_ms(pid_t pid, double *self, double *children)
{
	*self = *children = 0;
	struct proc_stat ps;
	if (proc_stat_read((int)pid, &ps, NULL) < 0)
		return;
	double tick = 1000.0 / (double)sysconf(_SC_CLK_TCK);
	*self = (double)(ps.utime + ps.stime) * tick;
	*children = (double)(ps.cutime + ps.cstime) * tick;
}

static bool pid_pod;

/* A kubelet-like pod config for pod i; strings live in buf. */
struct pod_cfg {
	Runtime__V1__PodSandboxConfig cfg;
	Runtime__V1__PodSandboxMetadata md;
	Runtime__V1__DNSConfig dns;
	Runtime__V1__LinuxPodSandboxConfig linux;
	Runtime__V1__LinuxSandboxSecurityContext sc;
	Runtime__V1__NamespaceOption ns;
	Runtime__V1__PodSandboxConfig__LabelsEntry lab[3];
	Runtime__V1__PodSandboxConfig__LabelsEntry *labp[3];
	Runtime__V1__PodSandboxConfig__AnnotationsEntry ann[2];
	Runtime__V1__PodSandboxConfig__AnnotationsEntry *annp[2];
	char name[64], uid[64], cgroup[128], seen[64];
	char *servers[1], *searches[3], *options[1];
};

static void pod_cfg_init(struct pod_cfg *p, int i)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "bench-%d", i);
	snprintf(p->uid, sizeof(p->uid), "6b0b2c1e-bench-%08d", i);
	snprintf(p->cgroup, sizeof(p->cgroup), "/ocid-bench/pod%s", p->uid);
	snprintf(p->seen, sizeof(p->seen), "2026-01-01T00:00:%02d.000000000Z", i % 60);
	runtime__v1__pod_sandbox_config__init(&p->cfg);
	runtime__v1__pod_sandbox_metadata__init(&p->md);
	p->md.name = p->name;
	p->md.uid = p->uid;
	p->md.namespace_ = (char *)"default";
	p->cfg.metadata = &p->md;
	p->cfg.hostname = p->name;
	p->cfg.log_directory = (char *)"/var/log/pods/bench";
	runtime__v1__dnsconfig__init(&p->dns);
	p->servers[0] = (char *)"10.96.0.10";
	p->searches[0] = (char *)"default.svc.cluster.local";
	p->searches[1] = (char *)"svc.cluster.local";
	p->searches[2] = (char *)"cluster.local";
	p->options[0] = (char *)"ndots:5";
	p->dns.servers = p->servers;
	p->dns.n_servers = 1;
	p->dns.searches = p->searches;
	p->dns.n_searches = 3;
	p->dns.options = p->options;
	p->dns.n_options = 1;
	p->cfg.dns_config = &p->dns;
	static const char *lk[3] = {"app", "io.kubernetes.pod.name", "io.kubernetes.pod.namespace"};
	for (int k = 0; k < 3; k++) {
		runtime__v1__pod_sandbox_config__labels_entry__init(&p->lab[k]);
		p->lab[k].key = (char *)lk[k];
		p->lab[k].value = k == 1 ? p->name : (char *)(k == 0 ? "bench" : "default");
		p->labp[k] = &p->lab[k];
	}
	p->cfg.labels = p->labp;
	p->cfg.n_labels = 3;
	runtime__v1__pod_sandbox_config__annotations_entry__init(&p->ann[0]);
	p->ann[0].key = (char *)"kubernetes.io/config.seen";
	p->ann[0].value = p->seen;
	runtime__v1__pod_sandbox_config__annotations_entry__init(&p->ann[1]);
	p->ann[1].key = (char *)"kubernetes.io/config.source";
	p->ann[1].value = (char *)"api";
	p->annp[0] = &p->ann[0];
	p->annp[1] = &p->ann[1];
	p->cfg.annotations = p->annp;
	p->cfg.n_annotations = 2;
	runtime__v1__linux_pod_sandbox_config__init(&p->linux);
	p->linux.cgroup_parent = p->cgroup;
	runtime__v1__linux_sandbox_security_context__init(&p->sc);
	runtime__v1__namespace_option__init(&p->ns);
	p->ns.network = RUNTIME__V1__NAMESPACE_MODE__POD;
	p->ns.ipc = RUNTIME__V1__NAMESPACE_MODE__POD;
	p->ns.pid = pid_pod ? RUNTIME__V1__NAMESPACE_MODE__POD : RUNTIME__V1__NAMESPACE_MODE__CONTAINER;
	p->sc.namespace_options = &p->ns;
	p->linux.security_context = &p->sc;
	p->cfg.linux = &p->linux;
}

enum op { OP_RUN, OP_STOP, OP_REMOVE, OP_COUNT };
static const char *const op_names[OP_COUNT] = {"RunPodSandbox", "StopPodSandbox", "RemovePodSandbox"};

struct job {
	const char *endpoint;
	int first, count;     /* pods [first, first+count) */
	char (*ids)[65];      /* shared, indexed by pod */
	int64_t *lat[OP_COUNT]; /* shared, indexed by pod */
	int failures;
	pthread_barrier_t *barrier;
};

static int do_op(struct grpc_client *c, enum op op, int i, struct job *j, ocid_error **err)
{
	ProtobufCMessage *resp = NULL;
	int rc;
	int64_t t0 = now_ns();
	if (op == OP_RUN) {
		struct pod_cfg p;
		pod_cfg_init(&p, i);
		Runtime__V1__RunPodSandboxRequest req = RUNTIME__V1__RUN_POD_SANDBOX_REQUEST__INIT;
		req.config = &p.cfg;
		rc = grpc_client_unary(c, RUNTIME "RunPodSandbox", &req.base,
				       &runtime__v1__run_pod_sandbox_response__descriptor, CALL_TIMEOUT_NS, &resp, err);
		if (rc == 0)
			snprintf(j->ids[i], 65, "%s", ((Runtime__V1__RunPodSandboxResponse *)resp)->pod_sandbox_id);
	} else if (op == OP_STOP) {
		Runtime__V1__StopPodSandboxRequest req = RUNTIME__V1__STOP_POD_SANDBOX_REQUEST__INIT;
		req.pod_sandbox_id = j->ids[i];
		rc = grpc_client_unary(c, RUNTIME "StopPodSandbox", &req.base,
				       &runtime__v1__stop_pod_sandbox_response__descriptor, CALL_TIMEOUT_NS, &resp, err);
	} else {
		Runtime__V1__RemovePodSandboxRequest req = RUNTIME__V1__REMOVE_POD_SANDBOX_REQUEST__INIT;
		req.pod_sandbox_id = j->ids[i];
		rc = grpc_client_unary(c, RUNTIME "RemovePodSandbox", &req.base,
				       &runtime__v1__remove_pod_sandbox_response__descriptor, CALL_TIMEOUT_NS, &resp, err);
	}
	j->lat[op][i] = now_ns() - t0;
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	return rc;
}

/* Runs op for the job's pods, one after the other on one connection. */
static void run_ops(struct grpc_client *c, struct job *j, enum op op)
{
	for (int i = j->first; i < j->first + j->count; i++) {
		ocid_error *err = NULL;
		if (do_op(c, op, i, j, &err) < 0) {
			if (j->failures++ == 0)
				fprintf(stderr, "%s pod %d: %s\n", op_names[op], i, err->msg);
			err_free(err);
			j->lat[op][i] = -1;
		}
	}
}

static void *worker(void *arg)
{
	struct job *j = arg;
	struct grpc_client *c = NULL;
	ocid_error *err = NULL;
	if (grpc_client_connect(j->endpoint, &c, &err) < 0) {
		fprintf(stderr, "connect: %s\n", err->msg);
		err_free(err);
		j->failures = j->count * OP_COUNT;
	}
	for (int op = 0; op < OP_COUNT; op++) {
		if (c)
			run_ops(c, j, (enum op)op);
		pthread_barrier_wait(j->barrier);
		/* The main thread reads RSS between the run and stop phases. */
		if (op == OP_RUN)
			pthread_barrier_wait(j->barrier);
	}
	grpc_client_free(c);
	return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static void report(const char *label, int64_t *lat, int n, double wall_s)
{
	int64_t *v = malloc(sizeof(int64_t) * (size_t)n);
	int ok = 0;
	for (int i = 0; i < n; i++)
		if (lat[i] >= 0)
			v[ok++] = lat[i];
	if (ok == 0) {
		printf("  %-18s all %d failed\n", label, n);
		free(v);
		return;
	}
	qsort(v, (size_t)ok, sizeof(int64_t), cmp_i64);
	char rate[48] = "";
	if (wall_s > 0)
		snprintf(rate, sizeof(rate), ", %.1f pods/s", (double)ok / wall_s);
	printf("  %-18s p50 %7.1f ms  p99 %7.1f ms  max %7.1f ms  (%d ok, %d failed%s)\n", label,
	       (double)v[ok / 2] / 1e6, (double)v[(ok * 99) / 100] / 1e6, (double)v[ok - 1] / 1e6, ok, n - ok, rate);
	free(v);
}

/* ListPodSandbox (no filter) and PodSandboxStatus latency with the pods
 * there: what the kubelet does every second. */
enum { LIST_CALLS = 200 };

static size_t list_status(const char *endpoint, const char *some_id, int64_t lat[2][LIST_CALLS])
{
	struct grpc_client *c = NULL;
	ocid_error *err = NULL;
	for (int i = 0; i < LIST_CALLS; i++)
		lat[0][i] = lat[1][i] = -1;
	if (grpc_client_connect(endpoint, &c, &err) < 0) {
		err_free(err);
		return 0;
	}
	enum { CALLS = LIST_CALLS };
	size_t items = 0;
	for (int i = 0; i < CALLS; i++) {
		Runtime__V1__ListPodSandboxRequest lreq = RUNTIME__V1__LIST_POD_SANDBOX_REQUEST__INIT;
		Runtime__V1__PodSandboxStatusRequest sreq = RUNTIME__V1__POD_SANDBOX_STATUS_REQUEST__INIT;
		sreq.pod_sandbox_id = (char *)some_id;
		ProtobufCMessage *resp = NULL;
		int64_t t0 = now_ns();
		if (grpc_client_unary(c, RUNTIME "ListPodSandbox", &lreq.base,
				      &runtime__v1__list_pod_sandbox_response__descriptor, CALL_TIMEOUT_NS, &resp, &err) < 0) {
			err_clear(&err);
			lat[0][i] = -1;
		} else {
			lat[0][i] = now_ns() - t0;
			items = ((Runtime__V1__ListPodSandboxResponse *)resp)->n_items;
			protobuf_c_message_free_unpacked(resp, NULL);
		}
		resp = NULL;
		t0 = now_ns();
		if (grpc_client_unary(c, RUNTIME "PodSandboxStatus", &sreq.base,
				      &runtime__v1__pod_sandbox_status_response__descriptor, CALL_TIMEOUT_NS, &resp,
				      &err) < 0) {
			err_clear(&err);
			lat[1][i] = -1;
		} else {
			lat[1][i] = now_ns() - t0;
			protobuf_c_message_free_unpacked(resp, NULL);
		}
	}
	grpc_client_free(c);
	return items;
}

/* One round: n pods, p clients; prints latencies and the RSS with n pods. */
static int round_(const char *endpoint, pid_t daemon, int n, int p, const char *title)
{
	char (*ids)[65] = calloc((size_t)n, 65);
	int64_t *lat[OP_COUNT];
	for (int op = 0; op < OP_COUNT; op++)
		lat[op] = calloc((size_t)n, sizeof(int64_t));
	pthread_barrier_t barrier;
	pthread_barrier_init(&barrier, NULL, (unsigned)p + 1);
	struct job *jobs = calloc((size_t)p, sizeof(*jobs));
	pthread_t *th = calloc((size_t)p, sizeof(*th));
	int per = n / p, extra = n % p, first = 0;
	for (int k = 0; k < p; k++) {
		int cnt = per + (k < extra);
		jobs[k] = (struct job){.endpoint = endpoint, .first = first, .count = cnt, .ids = ids, .barrier = &barrier};
		memcpy(jobs[k].lat, lat, sizeof(lat));
		first += cnt;
		pthread_create(&th[k], NULL, worker, &jobs[k]);
	}
	double wall[OP_COUNT], cpu_self[OP_COUNT], cpu_child[OP_COUNT];
	static int64_t list_lat[2][LIST_CALLS];
	size_t list_items = 0;
	long rss = -1, anon = -1;
	for (int op = 0; op < OP_COUNT; op++) {
		int64_t t0 = now_ns();
		double s0, c0, s1, c1;
		cpu_ms(daemon, &s0, &c0);
		pthread_barrier_wait(&barrier);
		wall[op] = (double)(now_ns() - t0) / 1e9;
		cpu_ms(daemon, &s1, &c1);
		cpu_self[op] = (s1 - s0) / n;
		cpu_child[op] = (c1 - c0) / n;
		if (op == OP_RUN) {
			usleep(100000);
			rss_kb(daemon, &rss, &anon);
			if (n >= 10)
				list_items = list_status(endpoint, ids[n / 2], list_lat);
			pthread_barrier_wait(&barrier);
		}
	}
	int failures = 0;
	for (int k = 0; k < p; k++) {
		pthread_join(th[k], NULL);
		failures += jobs[k].failures;
	}
	printf("%s (%d pods, %d at a time):\n", title, n, p);
	for (int op = 0; op < OP_COUNT; op++) {
		report(op_names[op], lat[op], n, wall[op]);
		printf("  %-18s CPU per pod: ocid %.1f ms, its children (CNI plugins, helpers) %.1f ms\n", "",
		       cpu_self[op], cpu_child[op]);
	}
	if (n >= 10) {
		char label[64];
		snprintf(label, sizeof(label), "List (%zu pods)", list_items);
		report(label, list_lat[0], LIST_CALLS, 0);
		report("PodSandboxStatus", list_lat[1], LIST_CALLS, 0);
	}
	printf("  daemon with %d pods: VmRSS %ld kB, RssAnon %ld kB\n", n, rss, anon);
	for (int op = 0; op < OP_COUNT; op++)
		free(lat[op]);
	free(ids);
	free(jobs);
	free(th);
	pthread_barrier_destroy(&barrier);
	return failures ? -1 : 0;
}

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
}

int main(int argc, char **argv)
{
	const char *ocid = "build/src/daemon/ocid";
	const char *plugin_dir = "/usr/lib/cni";
	int pods = 100, parallel = 10;
	bool portmap = true, tmpfs_run = false;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--ocid") == 0 && i + 1 < argc)
			ocid = argv[++i];
		else if (strcmp(argv[i], "--pods") == 0 && i + 1 < argc)
			pods = atoi(argv[++i]);
		else if (strcmp(argv[i], "--parallel") == 0 && i + 1 < argc)
			parallel = atoi(argv[++i]);
		else if (strcmp(argv[i], "--plugin-dir") == 0 && i + 1 < argc)
			plugin_dir = argv[++i];
		else if (strcmp(argv[i], "--no-portmap") == 0)
			portmap = false;
		else if (strcmp(argv[i], "--pid-pod") == 0)
			pid_pod = true;
		else if (strcmp(argv[i], "--runroot-tmpfs") == 0)
			tmpfs_run = true;
		else {
			fprintf(stderr,
				"usage: %s [--ocid PATH] [--pods N] [--parallel P] [--no-portmap] [--pid-pod] "
				"[--plugin-dir DIR] [--runroot-tmpfs]\n",
				argv[0]);
			return 2;
		}
	}
	if (pods < 1 || pods > 250 || parallel < 1 || parallel > pods) {
		fprintf(stderr, "bench-pod: want 1 <= parallel <= pods <= 250\n");
		return 2;
	}
	if (geteuid() != 0) {
		fprintf(stderr, "bench-pod: needs root (namespaces, mounts, cgroups, CNI)\n");
		return 2;
	}
	char dir[] = "/tmp/ocid-bench-pod.XXXXXX";
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	char sock[300], root[256], run[200], conf[256], confd[256], cni[256], endpoint[320], path[512], text[2048];
	char shmdir[] = "/dev/shm/ocid-bench-run.XXXXXX";
	if (tmpfs_run && !mkdtemp(shmdir)) {
		perror("mkdtemp /dev/shm");
		return 1;
	}
	snprintf(run, sizeof(run), "%s/run", tmpfs_run ? shmdir : dir);
	snprintf(sock, sizeof(sock), "%s/ocid.sock", run);
	snprintf(root, sizeof(root), "%s/root", dir);
	snprintf(conf, sizeof(conf), "%s/none.conf", dir);
	snprintf(confd, sizeof(confd), "%s/conf.d", dir);
	snprintf(cni, sizeof(cni), "%s/cni", dir);
	snprintf(endpoint, sizeof(endpoint), "unix://%s", sock);
	write_file(conf, "");
	mkdir(confd, 0755);
	mkdir(cni, 0755);
	snprintf(path, sizeof(path), "%s/10-bench.conflist", cni);
	snprintf(text, sizeof(text),
		 "{\"cniVersion\": \"1.0.0\", \"name\": \"ocid-bench\", \"plugins\": [\n"
		 "  {\"type\": \"bridge\", \"bridge\": \"" BRIDGE "\", \"isGateway\": true, \"ipMasq\": false,\n"
		 "   \"ipam\": {\"type\": \"host-local\", \"dataDir\": \"%s/ipam\",\n"
		 "            \"routes\": [{\"dst\": \"0.0.0.0/0\"}], \"ranges\": [[{\"subnet\": \"10.89.250.0/24\"}]]}}%s\n"
		 "]}\n",
		 dir, portmap ? ",\n  {\"type\": \"portmap\", \"capabilities\": {\"portMappings\": true}}" : "");
	write_file(path, text);

	pid_t pid = fork();
	if (pid == 0) {
		execl(ocid, ocid, "--config", conf, "--config-dir", confd, "--root", root, "--runroot", run, "--listen",
		      sock, "--cni-config-dir", cni, "--cni-plugin-dir", plugin_dir, "--log-level", "error",
		      (char *)NULL);
		perror("exec ocid");
		_exit(127);
	}
	struct stat st;
	for (int i = 0; i < 500 && stat(sock, &st) != 0; i++)
		usleep(10000);
	int rc = 0;
	if (stat(sock, &st) != 0) {
		fprintf(stderr, "ocid did not start\n");
		rc = 1;
		goto out;
	}
	usleep(200000);
	long rss, anon;
	rss_kb(pid, &rss, &anon);
	printf("network: bridge + host-local%s; pods: own net/ipc/uts, pid %s; runroot on %s\n",
	       portmap ? " + portmap" : "", pid_pod ? "POD (ocid-pause)" : "CONTAINER", tmpfs_run ? "tmpfs" : "/tmp (ext4: ocid mounts tmpfs on pods/ and ns/)");
	printf("ocid idle: VmRSS %ld kB, RssAnon %ld kB\n", rss, anon);
	/* Warm-up: the bridge gets created by the first ADD. */
	rc |= round_(endpoint, pid, 2, 1, "warm-up") ? 1 : 0;
	rc |= round_(endpoint, pid, pods, 1, "one by one") ? 1 : 0;
	rc |= round_(endpoint, pid, pods, parallel, "concurrent") ? 1 : 0;
	rss_kb(pid, &rss, &anon);
	printf("ocid after the rounds (0 pods): VmRSS %ld kB, RssAnon %ld kB\n", rss, anon);
out:
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	snprintf(path, sizeof(path), "%s/ns", run);
	umount2(path, MNT_DETACH);
	snprintf(path, sizeof(path),
		 "ip link del " BRIDGE " 2>/dev/null; rm -rf %s%s%s; rmdir /sys/fs/cgroup/*/ocid-bench 2>/dev/null", dir,
		 tmpfs_run ? " " : "", tmpfs_run ? shmdir : "");
	if (system(path) < 0)
		rc = 1;
	return rc ? 1 : 0;
}
