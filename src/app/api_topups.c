/* api_topups.c: /v1/me/topups: buy credits through Stripe Checkout */
#include "config.h"

#include <string.h>

#include "app.h"
#include "arena.h"
#include "json.h"
#include "log.h"
#include "money.h"
#include "stripe.h"

int
topup_start(struct req *r, const char *amount_usd, json_t **out,
    const char **code, const char **message)
{
	struct stripe_cfg	 s;
	const char		*site = view_site_url(r);
	char			 err[512], lo[32], hi[32];
	int64_t			 amount;

	*out = NULL;
	*code = "internal_error";
	*message = "Something went wrong on our side; nothing was charged.";
	if (stripe_config(r->app->cfg, &s) == -1)
		return 500;
	money_format(s.min, lo, sizeof(lo));
	money_format(s.max, hi, sizeof(hi));
	*code = "amount_out_of_range";
	*message = arena_printf(r->arena, "Enter whole cents from $%.*s to "
	    "$%.*s, such as 10.00.", (int)(strlen(lo) - 4), lo,
	    (int)(strlen(hi) - 4), hi);
	if (amount_usd == NULL || money_parse(amount_usd, &amount) == -1)
		return 400;
	switch (topup_create(r->app->db, r->arena, &s, r->auth.user_id, amount,
	    arena_printf(r->arena, "%s/billing/success?session_id="
	    "{CHECKOUT_SESSION_ID}", site), arena_printf(r->arena,
	    "%s/billing/cancel", site), out, err, sizeof(err))) {
	case TOPUP_OK:
		json_arena(r->arena, *out);
		log_info("topup started user=%lld", (long long)r->auth.user_id);
		return 0;
	case TOPUP_AMOUNT:
		return 400;
	case TOPUP_DISABLED:
		*code = "topups_disabled";
		*message = "Top-ups are not set up on this platform.";
		return 503;
	case TOPUP_STRIPE:
		*code = "payment_provider";
		*message = "The payment provider could not start the checkout; "
		    "nothing was charged. Try again in a moment.";
		return 502;
	default:
		*code = "internal_error";
		*message = "Something went wrong on our side; nothing was "
		    "charged.";
		return 500;
	}
}

/* POST /v1/me/topups {"amount_usd": "10.00"} → 201 with the top-up. */
int
api_topups_create(struct req *r)
{
	const char	*amount = NULL, *code, *msg;
	char		 err[256];
	json_t		*t;
	int		 st;

	if (json_get_str(r->json, "amount_usd", 1, &amount, err,
	    sizeof(err)) < 0)
		return resp_bad(r, "amount_usd", err);
	if ((st = topup_start(r, amount, &t, &code, &msg)) != 0)
		return resp_api_error(r, st, st == 400 ?
		    "invalid_request_error" : "api_error", code, st == 400 ?
		    "amount_usd" : NULL, msg);
	return resp_json(r, 201, t);
}

/* GET /v1/me/topups */
int
api_topups_list(struct req *r)
{
	json_t	*list = json_arena(r->arena, topup_list(r->app->db, r->arena,
		    r->auth.user_id));

	if (list == NULL)
		return 500;
	return resp_json(r, 200, json_arena(r->arena, json_pack("{s:s, s:O}",
	    "object", "list", "data", list)));
}
