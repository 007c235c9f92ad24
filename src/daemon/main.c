/* ocid: the daemon. Reads the configuration, then serves the CRI on its
 * unix socket until SIGTERM or SIGINT. `ocid config` prints the effective
 * configuration instead. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "cri/cri.h"
#include "server/server.h"
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

static int serve(const struct ocid_config *cfg)
{
	ocid_error *err = NULL;
	if (fs_mkdir_p(cfg->root, 0700, &err) < 0 || fs_mkdir_p(cfg->runroot, 0700, &err) < 0)
		return fail(err);

	struct cri_service svc;
	if (cri_service_init(&svc, cfg, &err) < 0)
		return fail(err);
	struct rpc_route *routes = NULL;
	size_t n_routes = 0;
	if (cri_routes_build(&svc, &routes, &n_routes, &err) < 0) {
		cri_service_fini(&svc);
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
	return rc;
}

int main(int argc, char **argv)
{
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
