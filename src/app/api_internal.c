/* api_internal.c: the internal API's ping, and its shared 401 for a bad key */
#include "config.h"

#include "app.h"
#include "json.h"

/* GET /internal/ping: lets the relay check that it can reach us. */
int
api_internal_ping(struct req *r)
{
	return resp_json(r, 200, json_arena(r->arena, json_pack("{s:s}",
	    "status", "ok")));
}

/* The 401 for a key that is missing, unknown, revoked or expired. */
int
api_internal_bad_key(struct req *r, const char *key)
{
	return resp_api_error(r, 401, "invalid_request_error",
	    "invalid_api_key", NULL, *key == '\0' ?
	    "You didn't provide an API key. Send it as"
	    " 'Authorization: Bearer <key>'." :
	    "Incorrect API key provided.");
}
