/* Finding the CNI network configuration: the first file in the conf dir, in
 * lexical order, ending in .conflist, .conf or .json that holds a valid
 * network (a name and a plugin type or a non-empty plugin list). */
#ifndef OCID_POD_CNI_CONFIG_H
#define OCID_POD_CNI_CONFIG_H

#include "util/err.h"

/* On success *path is the malloc'd path of the chosen file. When none is
 * usable, fails with FAILED_PRECONDITION and a message saying why (no file,
 * or each file's problem). */
int cni_config_find(const char *dir, char **path, ocid_error **err);

#endif
