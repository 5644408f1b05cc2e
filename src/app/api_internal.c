/* api_internal.c: the internal API the relay calls, behind the shared secret */
#include "config.h"

#include "app.h"

/* GET /internal/ping: lets the relay check that it can reach us. */
int
api_internal_ping(struct req *r)
{
	return resp_json(r, 200, json_pack("{s:s}", "status", "ok"));
}
