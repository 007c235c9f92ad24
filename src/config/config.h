/* ocid's configuration: defaults, the main file, drop-ins, flags.
 *
 * Load order (later wins): built-in defaults, the main file (default
 * /etc/ocid/ocid.conf), every *.conf in the drop-in directory (default
 * /etc/ocid/ocid.conf.d) in byte-wise lexical order (names starting with '.'
 * are skipped), then command-line flags. Every value is checked where it is
 * set, so errors name their origin: "FILE:LINE: ocid.workers: ..." or
 * "--workers: ...". Unknown keys or tables are errors (typos are caught).
 *
 * Merge rules: a key that is set replaces the value (arrays are replaced
 * whole, not appended); [ocid.runtime.runtimes.NAME] adds a runtime or
 * overrides the keys it sets on an existing one; each key of
 * [ocid.image.mirrors] replaces that registry's mirror list.
 *
 * String lists are NULL-terminated arrays (never NULL themselves). All
 * strings are owned by the struct; config_free releases everything. */
#ifndef OCID_CONFIG_CONFIG_H
#define OCID_CONFIG_CONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "util/err.h"
#include "util/log.h"

#define OCID_DEFAULT_CONFIG_PATH "/etc/ocid/ocid.conf"
#define OCID_DEFAULT_CONFIG_DIR "/etc/ocid/ocid.conf.d"

/* [ocid.runtime.runtimes.NAME] */
struct ocid_runtime_handler {
	char *name;         /* the RuntimeClass handler name (RFC 1123 label) */
	char *runtime_path; /* absolute; required */
	char *runtime_root; /* absolute, or "" for the runtime's own default */
	char *runtime_type; /* "oci" */
	char *origin;       /* "FILE:LINE" where it was first defined; NULL if built in */
};

/* One key of [ocid.image.mirrors]. */
struct ocid_registry_mirrors {
	char *registry; /* host[:port] */
	char **mirrors; /* host[:port] list, tried in order before the registry */
};

struct ocid_runtime_config {
	char *default_runtime;
	char *default_runtime_origin; /* "FILE:LINE" or "--runtime"; NULL for the default */
	char *conmon;
	char **conmon_env;           /* "KEY=VALUE" */
	char *cgroup_manager;        /* "cgroupfs" */
	char **default_capabilities; /* "CHOWN" or "CAP_CHOWN" style */
	char **default_sysctls;      /* "name=value" */
	char **default_ulimits;      /* "name=soft[:hard]" */
	char *seccomp_profile;       /* absolute path; "" = built-in profile */
	int64_t log_size_max;        /* bytes; < 0 = unlimited, else >= 8192 */
	int64_t pids_limit;          /* <= 0 = no limit */
	int spare_container_dirs;    /* container directories made ahead (src/ctr/dir_pool.h); 0 = none */
	int warm_rootfs;             /* rootfs mounted ahead for the images used last (src/ctr/container_warm.c); 0 = none */
	struct ocid_runtime_handler *runtimes; /* in definition order; runc, crun first */
	size_t n_runtimes;
};

struct ocid_network_config {
	char *network_dir;
	char **plugin_dirs;
	char *cni_default_network; /* "" = first network found in network_dir */
};

struct ocid_image_config {
	char **registries; /* short-name search list */
	char **insecure_registries;
	int max_parallel_downloads;
	char *global_auth_file; /* "" = none */
	struct ocid_registry_mirrors *mirrors;
	size_t n_mirrors;
};

struct ocid_stream_config {
	char *address; /* IP literal */
	int port;      /* 0 = ephemeral */
	int idle_timeout; /* seconds; 0 = none */
};

struct ocid_config {
	/* [ocid] */
	char *root;
	char *runroot;
	char *listen; /* unix socket path */
	enum log_level log_level;
	int workers;
	int shutdown_timeout; /* seconds */
	struct ocid_runtime_config runtime; /* [ocid.runtime] */
	struct ocid_network_config network; /* [ocid.network] */
	struct ocid_image_config image;     /* [ocid.image] */
	struct ocid_stream_config stream;   /* [ocid.stream] */

	/* Where the configuration came from (not part of the printed config):
	 * NULL when that source was not read. */
	char *config_path;
	char *config_dir;
};

/* A config holding the built-in defaults, or NULL if out of memory. */
struct ocid_config *config_new(void);
void config_free(struct ocid_config *cfg);

/* Applies one file on top of cfg. If optional is true, a missing file is not
 * an error (returns 0, cfg unchanged). On error cfg may be partly updated:
 * load into a fresh config when the old one must survive a failure. */
int config_load_file(struct ocid_config *cfg, const char *path, bool optional, ocid_error **err);
/* Applies text as if it were a file called name. */
int config_load_string(struct ocid_config *cfg, const char *text, const char *name,
		       ocid_error **err);
/* Applies every *.conf in dir, in lexical order. optional as above. */
int config_load_dir(struct ocid_config *cfg, const char *dir, bool optional, ocid_error **err);
/* Cross-checks the whole config (default_runtime names a runtime, every
 * runtime has a path, ...) and re-checks every value. */
int config_validate(const struct ocid_config *cfg, ocid_error **err);

/* The runtime called name, or NULL. */
const struct ocid_runtime_handler *config_find_runtime(const struct ocid_config *cfg,
						       const char *name);
/* The mirror list for registry, or NULL. */
char **config_find_mirrors(const struct ocid_config *cfg, const char *registry);
size_t config_strv_len(char *const *v);

enum config_cli_result {
	CONFIG_CLI_ERROR = -1,  /* *err is set */
	CONFIG_CLI_RUN = 0,     /* *out holds the validated config */
	CONFIG_CLI_HELP = 1,    /* --help: print config_usage(); *out is NULL */
	CONFIG_CLI_VERSION = 2, /* --version; *out is NULL */
};

/* Parses the global flags (stopping at the first non-option argument, the
 * subcommand), loads the config file and drop-ins, applies the flags on top
 * (flags win), validates, and sets *first_arg to the index of the first
 * argument after the flags (argc when there is none). Returns a
 * config_cli_result. --help and --version win over everything and read no
 * files. */
int config_from_cli(int argc, char **argv, struct ocid_config **out, int *first_arg,
		    ocid_error **err);
/* The flag summary for --help ("Usage: PROG [FLAGS] [COMMAND]" and the
 * flags; the caller lists its commands). */
void config_usage(FILE *f, const char *prog);

/* The effective config as a file that parses back to the same config;
 * malloc'd, NULL if out of memory. */
char *config_to_toml(const struct ocid_config *cfg);
/* The same structure as JSON: {"ocid": {"root": ..., "runtime": {...}}}. */
json_t *config_to_json(const struct ocid_config *cfg);

static inline void config_cleanup(struct ocid_config **c) { config_free(*c); }
#define cleanup_config __attribute__((cleanup(config_cleanup)))

#endif
