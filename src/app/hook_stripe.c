/* hook_stripe.c: POST /hooks/stripe: Stripe's signed webhook deliveries */
#include "config.h"

#include "app.h"
#include "json.h"
#include "log.h"
#include "stripe.h"

/*
 * 200 once an event is recorded (new or a redelivery), so Stripe stops;
 * 400 for a bad signature or body, logged as one line without the
 * payload; 500 on a database error, so Stripe delivers it again.
 */
int
hook_stripe(struct req *r)
{
	struct stripe_cfg	 s;
	const char		*outcome = NULL;
	int			 rc;

	r->api = 1;
	if (stripe_config(r->app->cfg, &s) == -1)
		return 500;
	rc = stripe_webhook(r->app->db, r->arena, &s, req_header(r,
	    "Stripe-Signature"), r->body != NULL ? r->body : "", r->body_len,
	    &outcome);
	if (rc == 1) {
		log_warn("stripe webhook refused: %s", outcome);
		return resp_api_error(r, 400, "invalid_request_error",
		    "invalid_webhook", NULL, outcome);
	}
	if (rc == -1)
		return 500;
	log_info("stripe webhook: %s", outcome);
	return resp_json(r, 200, json_arena(r->arena, json_pack("{s:b, s:s}",
	    "received", 1, "outcome", outcome)));
}
