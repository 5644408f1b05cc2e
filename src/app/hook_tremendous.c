/* hook_tremendous.c: POST /hooks/tremendous: Tremendous' signed webhook deliveries */
#include "config.h"

#include <string.h>

#include "app.h"
#include "json.h"
#include "log.h"
#include "payout.h"

/*
 * 200 once an event is recorded (new or a redelivery); 401 for a bad
 * signature, 400 for a body that is not an event, each one log line
 * without the payload; 500 on a database error, so it comes again.
 */
int
hook_tremendous(struct req *r)
{
	const char	*outcome = NULL;
	int		 rc;

	r->api = 1;
	rc = payout_webhook(r->app->db, r->arena, r->app->cfg, req_header(r,
	    "Tremendous-Webhook-Signature"), r->body != NULL ? r->body : "",
	    r->body_len, &outcome);
	if (rc == 1) {
		log_warn("tremendous webhook refused: %s", outcome);
		return resp_api_error(r, strncmp(outcome, "signature", 9) == 0 ?
		    401 : 400, "invalid_request_error", "invalid_webhook", NULL,
		    outcome);
	}
	if (rc == -1)
		return 500;
	if (rc == 2) {
		log_info("tremendous webhook: %s", outcome);
		return resp_api_error(r, 503, "api_error", "retry_later", NULL,
		    "That reward is not known yet; send it again later.");
	}
	log_info("tremendous webhook: %s", outcome);
	return resp_json(r, 200, json_arena(r->arena, json_pack("{s:b, s:s}",
	    "received", 1, "outcome", outcome)));
}
