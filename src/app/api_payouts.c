/* api_payouts.c: /v1/me/payouts and /v1/me/payout_settings: earnings paid out */
#include "config.h"

#include <string.h>

#include "app.h"
#include "arena.h"
#include "json.h"
#include "log.h"
#include "money.h"
#include "payout.h"

/* Each refusal of payout_request: status and code. */
static const struct {
	int		 rc, status;
	const char	*code;
} refusals[] = {
	{ PAYOUT_DISABLED, 503, "payouts_disabled" },
	{ PAYOUT_AMOUNT, 400, "amount_invalid" },
	{ PAYOUT_TOO_YOUNG, 403, "account_too_new" },
	{ PAYOUT_STANDING, 403, "account_not_active" },
	{ PAYOUT_OWES, 403, "account_in_debt" },
	{ PAYOUT_IN_FLIGHT, 409, "payout_in_flight" },
	{ PAYOUT_INSUFFICIENT, 400, "insufficient_earnings" },
	{ PAYOUT_NO_RECIPIENT, 400, "no_recipient" },
};

int
payout_start(struct req *r, const char *amount_usd, int64_t *id,
    const char **code, const char **message)
{
	int64_t	amount;
	size_t	i;
	int	rc;

	*code = "amount_invalid";
	*message = "Give the amount as a string of dollars, such as \"12.34\".";
	if (amount_usd == NULL || money_parse(amount_usd, &amount) == -1 ||
	    amount <= 0)
		return 400;
	rc = payout_request(r->app->db, r->arena, r->app->cfg,
	    r->auth.user_id, amount, NULL, id, message);
	if (rc == PAYOUT_OK)
		return 0;
	for (i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++)
		if (refusals[i].rc == rc) {
			*code = refusals[i].code;
			log_info("payout refused: %s", *code);
			return refusals[i].status;
		}
	*code = "internal_error";
	*message = "Something went wrong on our side; nothing was moved.";
	return 500;
}

/* POST /v1/me/payouts {"amount_usd": "12.34"} → 201 with the payout. */
int
api_payouts_create(struct req *r)
{
	const char	*amount = NULL, *code, *msg;
	char		 err[256];
	int64_t		 id;
	json_t		*list, *p;
	size_t		 i;
	int		 st;

	if (json_get_str(r->json, "amount_usd", 1, &amount, err,
	    sizeof(err)) < 0)
		return resp_bad(r, "amount_usd", err);
	if ((st = payout_start(r, amount, &id, &code, &msg)) != 0)
		return resp_api_error(r, st, st == 500 || st == 503 ?
		    "api_error" : "invalid_request_error", code, st == 400 ?
		    "amount_usd" : NULL, msg);
	if ((list = json_arena(r->arena, payout_list(r->app->db, r->arena,
	    r->auth.user_id))) == NULL)
		return 500;
	json_array_foreach(list, i, p)
		if (json_integer_value(json_object_get(p, "id")) == id)
			return resp_json(r, 201, p);
	return 500;
}

/* GET /v1/me/payouts: the list, and what is payable now. */
int
api_payouts_list(struct req *r)
{
	json_t	*list = json_arena(r->arena, payout_list(r->app->db, r->arena,
		    r->auth.user_id));
	int64_t	 payable;
	char	 usd[32];

	if (list == NULL || payout_payable(r->app->db, r->arena,
	    r->auth.user_id, &payable) == -1)
		return 500;
	money_format(payable, usd, sizeof(usd));
	usd[strlen(usd) - 4] = '\0';
	return resp_json(r, 200, json_arena(r->arena, json_pack(
	    "{s:s, s:O, s:s}", "object", "list", "data", list, "payable_usd",
	    usd)));
}

int
api_payout_settings_get(struct req *r)
{
	json_t	*s = json_arena(r->arena, payout_settings_get(r->app->db,
		    r->arena, r->auth.user_id));

	if (s == NULL)
		return 500;
	json_object_set_new(s, "object", json_string("payout_settings"));
	return resp_json(r, 200, s);
}

/* PUT /v1/me/payout_settings {recipient_name, recipient_email, mode, product}. */
int
api_payout_settings_put(struct req *r)
{
	const char	*name = NULL, *email = NULL, *mode = "manual";
	const char	*product = NULL, *why;
	char		 err[256];

	if (json_get_str(r->json, "recipient_name", 0, &name, err,
	    sizeof(err)) < 0)
		return resp_bad(r, "recipient_name", err);
	if (json_get_str(r->json, "recipient_email", 0, &email, err,
	    sizeof(err)) < 0)
		return resp_bad(r, "recipient_email", err);
	if (json_get_str(r->json, "mode", 0, &mode, err, sizeof(err)) < 0)
		return resp_bad(r, "mode", err);
	if (json_get_str(r->json, "product", 0, &product, err,
	    sizeof(err)) < 0)
		return resp_bad(r, "product", err);
	switch (payout_settings_set(r->app->db, r->arena, r->app->cfg,
	    r->auth.user_id, name, email, mode, product, &why)) {
	case 0:
		return api_payout_settings_get(r);
	case 1:
		return resp_bad(r, arena_strndup(r->arena, why,
		    strcspn(why, ":")), why);
	default:
		return 500;
	}
}
