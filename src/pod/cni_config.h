/* CNI network configurations: parsing and finding them.
 *
 * A network is read from a .conflist (name, cniVersion, disableCheck,
 * plugins[]) or from a single-plugin .conf/.json (the file is the plugin and
 * carries name and cniVersion), which becomes a one-plugin list. Which form a
 * file has is read from its content: an object with "plugins" is a list.
 *
 * Finding: the files in the conf dir ending in .conflist, .conf or .json, in
 * byte-wise lexical order; the first that holds a valid network wins, or,
 * when a network name is asked for (ocid.network.cni_default_network), the
 * first valid one with that name. Files are read on every call, so a config
 * that appears or changes later is picked up without a restart. */
#ifndef OCID_POD_CNI_CONFIG_H
#define OCID_POD_CNI_CONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

/* The CNI spec versions ocid runs plugins with. */
#define CNI_SUPPORTED_VERSIONS "0.3.0, 0.3.1, 0.4.0, 1.0.0"

struct cni_plugin {
	char *type;   /* executable name: no '/', not "." or ".." */
	json_t *conf; /* the plugin object as written (owned reference) */
};

struct cni_network {
	char *origin; /* file it came from, or a description ("cache") */
	char *name;
	char *cni_version;
	bool disable_check;
	struct cni_plugin *plugins;
	size_t n_plugins;
	/* The network in .conflist form ({cniVersion, name, disableCheck?,
	 * plugins}), for caching with an ADD result (owned reference). */
	json_t *json;
};

/* True for the versions in CNI_SUPPORTED_VERSIONS. */
bool cni_version_supported(const char *version);
/* Compares "X.Y.Z" versions numerically (<0, 0, >0); unparsable parts
 * count as 0. */
int cni_version_cmp(const char *a, const char *b);

/* Builds a network from a parsed document (a list or a single plugin).
 * origin names the source in messages. Errors are INVALID_ARGUMENT with
 * "origin: what is wrong". root is not stolen. */
int cni_network_from_json(json_t *root, const char *origin, struct cni_network **out, ocid_error **err);
/* Same from text. */
int cni_network_parse(const char *text, const char *origin, struct cni_network **out, ocid_error **err);
/* Same from a file (origin = path). */
int cni_network_load_file(const char *path, struct cni_network **out, ocid_error **err);
void cni_network_free(struct cni_network *net);

/* The first valid network in dir (name NULL or ""), or the first valid one
 * called name. When none is usable, fails with FAILED_PRECONDITION and a
 * message saying why (no file, each file's problem, or the names found). */
int cni_config_load(const char *dir, const char *name, struct cni_network **out, ocid_error **err);

/* As cni_config_load with no name, giving the chosen file's malloc'd path. */
int cni_config_find(const char *dir, char **path, ocid_error **err);

static inline void cni_network_cleanup(struct cni_network **n) { cni_network_free(*n); }
#define cleanup_cni_network __attribute__((cleanup(cni_network_cleanup)))

#endif
