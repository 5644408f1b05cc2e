/* api_receipts.c: GET /v1/receipts/{task} and the JWKS that verifies receipts */
#include "config.h"

#include <inttypes.h>

#include "app.h"
#include "arena.h"
#include "json.h"
#include "log.h"
#include "receipt.h"

/*
 * GET /v1/receipts/{task}: the signed receipt of a settled request, for
 * the consumer who paid and the supplier whose node served it; anyone
 * else gets the 404 of a task that does not exist.
 */
int
api_receipt(struct req *r)
{
	json_t		*claims;
	const char	*jws = NULL;

	switch (receipt_get(r->app->db, r->arena, &r->app->keys,
	    view_site_url(r), r->path_task, r->auth.user_id, &claims, &jws)) {
	case RECEIPT_OK:
		json_arena(r->arena, claims);
		return resp_json(r, 200, json_arena(r->arena, json_pack(
		    "{s:s, s:s, s:s, s:O}", "object", "receipt", "task_id",
		    r->path_task, "jws", jws, "claims", claims)));
	case RECEIPT_NONE:
		return resp_api_error(r, 404, "invalid_request_error",
		    "receipt_not_found", NULL, "No such request, or not one "
		    "of yours; a receipt exists once the request is settled, "
		    "a moment after its answer ends.");
	case RECEIPT_PENDING:
		return resp_api_error(r, 409, "invalid_request_error",
		    "receipt_pending", NULL, "This request has not been "
		    "settled yet; its receipt exists once it has finished.");
	case RECEIPT_NO_KEYS:
		return resp_api_error(r, 503, "server_error",
		    "receipts_disabled", NULL, "Receipts are not set up on "
		    "this platform ([crypto] keys is empty).");
	default:
		return 500;
	}
}

/*
 * GET /.well-known/infrpool-receipt-keys: every receipt signing key,
 * retired ones too, as a public JWKS.
 */
int
api_receipt_keys(struct req *r)
{
	json_t	*jwks = json_arena(r->arena, receipt_jwks(r->app->db, r->arena,
		    &r->app->keys));

	r->api = 1;
	if (jwks == NULL)
		return 500;
	return resp_json(r, 200, jwks);
}
