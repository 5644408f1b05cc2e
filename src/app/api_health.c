/* api_health.c: GET /healthz, for load balancers and the operator */
#include "config.h"

#include "app.h"
#include "json.h"
#include "health.h"

/*
 * 200 with the schema version when the database answers, 503 when it
 * does not; the build version either way.
 */
int
api_healthz(struct req *r)
{
	long long	version = 0;
	int		ok;

	ok = health_schema_version(r->app->db, r->arena, &version) == 0;
	return resp_json(r, ok ? 200 : 503, json_arena(r->arena,
	    json_pack("{s:s, s:s, s:o, s:s}",
	    "status", ok ? "ok" : "degraded",
	    "database", ok ? "reachable" : "unreachable",
	    "schema_version", ok ? json_integer(version) : json_null(),
	    "version", PACKAGE_VERSION)));
}
