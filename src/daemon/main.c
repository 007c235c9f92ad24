/* ocid: the daemon. Reads the configuration, then serves the CRI on its
 * unix socket until SIGTERM or SIGINT. `ocid config` prints the effective
 * configuration instead. */
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "cri/cri.h"
#include "ctr/container.h"
#include "image/pull.h"
#include "pod/sandbox.h"
#include "server/server.h"
#include "store/store.h"
#include "util/err.h"
#include "util/fs.h"
#include "util/log.h"

static int fail(ocid_error *err)
{
	fprintf(stderr, "ocid: %s\n", err ? err->msg : "unknown error");
	err_free(err);
	return 1;
}

static int print_config(const struct ocid_config *cfg)
{
	char *text = config_to_toml(cfg);
	if (text == NULL) {
		fputs("ocid: out of memory\n", stderr);
		return 1;
	}
	fputs(text, stdout);
	free(text);
	return 0;
}

/* The image store (recovered from whatever a crash left) and the puller,
 * ready before the first RPC can arrive. */
static int open_images(const struct ocid_config *cfg, struct store **store, struct image_puller **puller,
		       ocid_error **err)
{
	if (store_open(cfg->root, NULL, store, err) < 0)
		return -1;
	if (image_puller_new(*store, &cfg->image, NULL, puller, err) < 0) {
		store_close(*store);
		*store = NULL;
		return -1;
	}
	return 0;
}

static int serve(const struct ocid_config *cfg)
{
	ocid_error *err = NULL;
	/* Threads started before the server (the container exit watcher...)
	 * inherit this mask: SIGTERM/SIGINT must reach only the server's
	 * signalfd, or the first of them kills the daemon uncleanly. */
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	if (fs_mkdir_p(cfg->root, 0700, &err) < 0 || fs_mkdir_p(cfg->runroot, 0700, &err) < 0)
		return fail(err);

	struct store *store = NULL;
	struct image_puller *puller = NULL;
	if (open_images(cfg, &store, &puller, &err) < 0)
		return fail(err);
	/* Pod sandboxes, restored from the database (see pod/sandbox.h). */
	struct sandbox_mgr *pods = NULL;
	struct sandbox_mgr_opts pod_opts = {.cfg = cfg, .db = store->db};
	if (sandbox_mgr_open(&pod_opts, &pods, &err) < 0) {
		image_puller_free(puller);
		store_close(store);
		return fail(err);
	}
	/* Containers: re-attached to what runs, or cleaned up (ctr/container.h);
	 * registers the pod hooks, so it comes after the pods. */
	struct ctr_mgr *containers = NULL;
	struct ctr_mgr_opts ctr_opts = {.cfg = cfg, .store = store, .sandboxes = pods};
	if (ctr_mgr_open(&ctr_opts, &containers, &err) < 0) {
		sandbox_mgr_free(pods);
		image_puller_free(puller);
		store_close(store);
		return fail(err);
	}

	struct cri_service svc;
	if (cri_service_init(&svc, cfg, &err) < 0) {
		ctr_mgr_free(containers);
		sandbox_mgr_free(pods);
		image_puller_free(puller);
		store_close(store);
		return fail(err);
	}
	svc.store = store;
	svc.puller = puller;
	svc.pods = pods;
	svc.containers = containers;
	struct rpc_route *routes = NULL;
	size_t n_routes = 0;
	if (cri_routes_build(&svc, &routes, &n_routes, &err) < 0) {
		cri_service_fini(&svc);
		ctr_mgr_free(containers);
		sandbox_mgr_free(pods);
		image_puller_free(puller);
		store_close(store);
		return fail(err);
	}

	struct server_options opts = {
		.socket_path = cfg->listen,
		.routes = routes,
		.n_routes = n_routes,
		.workers = (unsigned)cfg->workers,
		.shutdown_grace_ms = cfg->shutdown_timeout > 0 ? cfg->shutdown_timeout * 1000 : 1,
	};
	struct server *srv = NULL;
	int rc = 0;
	if (server_new(&opts, &srv, &err) < 0) {
		rc = fail(err);
	} else {
		log_info("ocid started", "version=%s socket=%s root=%s runroot=%s", OCID_VERSION, cfg->listen,
			 cfg->root, cfg->runroot);
		if (server_run(srv, &err) < 0)
			rc = fail(err);
		else
			log_info("ocid stopped", NULL);
		server_free(srv);
	}
	cri_routes_free(routes, n_routes);
	cri_service_fini(&svc);
	ctr_mgr_free(containers);
	sandbox_mgr_free(pods);
	image_puller_free(puller);
	store_close(store);
	return rc;
}

int main(int argc, char **argv)
{
	/* glibc gives every thread that allocates its own arena and keeps freed
	 * memory there; with a pool that grows under load that is most of the
	 * daemon's anonymous memory. Two arenas are plenty for a few workers. */
	mallopt(M_ARENA_MAX, 2);
	struct ocid_config *cfg = NULL;
	int first = argc;
	ocid_error *err = NULL;
	switch (config_from_cli(argc, argv, &cfg, &first, &err)) {
	case CONFIG_CLI_HELP:
		config_usage(stdout, "ocid");
		printf("\nCommands:\n  (none)    serve the CRI on the listen socket\n"
		       "  config    print the effective configuration and exit\n");
		return 0;
	case CONFIG_CLI_VERSION:
		printf("ocid version %s (%s)\n", OCID_VERSION, OCID_BUILD_REV);
		return 0;
	case CONFIG_CLI_RUN:
		break;
	default:
		return fail(err);
	}
	log_set_level(cfg->log_level);

	int rc;
	if (first >= argc) {
		rc = serve(cfg);
	} else if (strcmp(argv[first], "config") == 0 && first + 1 == argc) {
		rc = print_config(cfg);
	} else {
		fprintf(stderr, "ocid: unknown command \"%s\" (try --help)\n", argv[first]);
		rc = 2;
	}
	config_free(cfg);
	return rc;
}
