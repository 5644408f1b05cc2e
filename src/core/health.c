/* health.c: what /healthz reports about the database */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "health.h"

static const struct db_stmt q_schema_version = {
	"health_schema_version",
	"SELECT coalesce(max(version), 0) FROM schema_migrations",
	0, DB_RETRY
};

int
health_schema_version(struct db *db, struct arena *a, long long *version)
{
	PGresult	*res;

	if ((res = db_exec(db, a, &q_schema_version, NULL)) == NULL) {
		/* Reachable, but never migrated: no schema_migrations yet. */
		if (strcmp(db_sqlstate(db), "42P01") == 0) {
			*version = 0;
			return 0;
		}
		return -1;
	}
	*version = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	return 0;
}
