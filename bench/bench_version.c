/* Version RPC benchmark: starts ocid on a temporary socket, measures its idle
 * RSS, then Version latency (p50/p99) and throughput from 1 and 4 concurrent
 * clients (one connection each), and its RSS after 100k calls in all.
 *
 *   bench-version [--ocid PATH] [--calls N]     (N per phase, default 50000)
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "api.pb-c.h"
#include "client/grpc_client.h"

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long rss_kb(pid_t pid)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	long kb = -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

struct worker {
	const char *endpoint;
	int calls;
	int64_t *lat; /* ns per call */
	int failures;
};

static void *run_worker(void *arg)
{
	struct worker *w = arg;
	struct grpc_client *c = NULL;
	ocid_error *err = NULL;
	if (grpc_client_connect(w->endpoint, &c, &err) < 0) {
		fprintf(stderr, "connect: %s\n", err->msg);
		err_free(err);
		w->failures = w->calls;
		return NULL;
	}
	Runtime__V1__VersionRequest req = RUNTIME__V1__VERSION_REQUEST__INIT;
	for (int i = 0; i < w->calls; i++) {
		ProtobufCMessage *resp = NULL;
		int64_t t0 = now_ns();
		if (grpc_client_unary(c, "/runtime.v1.RuntimeService/Version", &req.base,
				      &runtime__v1__version_response__descriptor, 10000000000LL, &resp, &err) < 0) {
			if (w->failures++ == 0)
				fprintf(stderr, "call: %s\n", err->msg);
			err_clear(&err);
			w->lat[i] = 0;
			continue;
		}
		w->lat[i] = now_ns() - t0;
		protobuf_c_message_free_unpacked(resp, NULL);
	}
	grpc_client_free(c);
	return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static int phase(const char *endpoint, int clients, int calls_total)
{
	int per = calls_total / clients;
	struct worker w[16];
	pthread_t th[16];
	int64_t *all = calloc((size_t)per * (size_t)clients, sizeof(int64_t));
	int64_t t0 = now_ns();
	for (int i = 0; i < clients; i++) {
		w[i] = (struct worker){.endpoint = endpoint, .calls = per, .lat = all + (size_t)i * per};
		pthread_create(&th[i], NULL, run_worker, &w[i]);
	}
	int failures = 0;
	for (int i = 0; i < clients; i++) {
		pthread_join(th[i], NULL);
		failures += w[i].failures;
	}
	double secs = (double)(now_ns() - t0) / 1e9;
	size_t n = (size_t)per * (size_t)clients;
	qsort(all, n, sizeof(int64_t), cmp_i64);
	size_t skip = (size_t)failures; /* failed calls sort first as 0 */
	size_t ok = n - skip;
	if (ok == 0) {
		printf("version %d client(s): all %zu calls failed\n", clients, n);
		free(all);
		return -1;
	}
	double p50 = (double)all[skip + ok / 2] / 1000.0;
	double p99 = (double)all[skip + (ok * 99) / 100] / 1000.0;
	printf("version %d client(s): %zu calls, p50 %.1f us, p99 %.1f us, %.0f calls/s, %d failed\n", clients, n,
	       p50, p99, (double)ok / secs, failures);
	free(all);
	return failures ? -1 : 0;
}

int main(int argc, char **argv)
{
	const char *ocid = "build/src/daemon/ocid";
	int calls = 50000;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--ocid") == 0 && i + 1 < argc)
			ocid = argv[++i];
		else if (strcmp(argv[i], "--calls") == 0 && i + 1 < argc)
			calls = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: %s [--ocid PATH] [--calls N]\n", argv[0]);
			return 2;
		}
	}
	if (calls < 100)
		calls = 100;
	char dir[] = "/tmp/ocid-bench.XXXXXX";
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	char sock[256], root[256], run[256], conf[256], confd[256], endpoint[300];
	snprintf(sock, sizeof(sock), "%s/run/ocid.sock", dir);
	snprintf(root, sizeof(root), "%s/root", dir);
	snprintf(run, sizeof(run), "%s/run", dir);
	snprintf(conf, sizeof(conf), "%s/none.conf", dir);
	snprintf(confd, sizeof(confd), "%s/conf.d", dir);
	snprintf(endpoint, sizeof(endpoint), "unix://%s", sock);
	FILE *f = fopen(conf, "w");
	if (f)
		fclose(f);
	mkdir(confd, 0755);

	pid_t pid = fork();
	if (pid == 0) {
		execl(ocid, ocid, "--config", conf, "--config-dir", confd, "--root", root, "--runroot", run,
		      "--listen", sock, "--log-level", "error", (char *)NULL);
		perror("exec ocid");
		_exit(127);
	}
	struct stat st;
	for (int i = 0; i < 500 && stat(sock, &st) != 0; i++)
		usleep(10000);
	if (stat(sock, &st) != 0) {
		fprintf(stderr, "ocid did not start\n");
		kill(pid, SIGKILL);
		return 1;
	}
	usleep(200000);
	printf("ocid idle RSS: %ld kB\n", rss_kb(pid));
	int rc = 0;
	rc |= phase(endpoint, 1, calls);
	rc |= phase(endpoint, 4, calls);
	/* Top up to 100k calls in all before reading RSS again. */
	if (2 * calls < 100000)
		rc |= phase(endpoint, 4, 100000 - 2 * calls);
	printf("ocid RSS after %d calls: %ld kB\n", 2 * calls < 100000 ? 100000 : 2 * calls, rss_kb(pid));
	kill(pid, SIGTERM);
	int status = 0;
	waitpid(pid, &status, 0);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		rc = 1;
	return rc ? 1 : 0;
}
