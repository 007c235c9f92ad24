/* The ordered schema migrations of ocid.db (see db.h). */
#ifndef OCID_STORE_MIGRATIONS_H
#define OCID_STORE_MIGRATIONS_H

#include <stddef.h>

#include "store/db.h"

extern const struct db_migration store_migrations[];
extern const size_t store_migrations_count;

#endif
