/* page_payouts.c: Payouts: the supplier's earnings paid out, and the operator's view */
#include "config.h"

#include <string.h>
#include <time.h>

#include "app.h"
#include "arena.h"
#include "json.h"
#include "log.h"
#include "money.h"
#include "payout.h"

/* The first of next month (UTC), "YYYY-MM-01": when monthly payouts go. */
static const char *
next_first(struct arena *a)
{
	struct tm	tm;
	time_t		now = time(NULL);
	char		buf[11];

	gmtime_r(&now, &tm);
	tm.tm_mday = 1;
	tm.tm_mon += 1;
	tm.tm_hour = 12;
	now = timegm(&tm);
	gmtime_r(&now, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%d", &tm);
	return arena_strdup(a, buf);
}

/* The Payouts page with errors beside its forms (field → message) and a status. */
static int
payouts_page(struct req *r, int status, const char *field, const char *error,
    const char *amount)
{
	struct payout_cfg	 pc;
	json_t			*list, *set;
	int64_t			 payable;
	char			 usd[32], fee[32];

	if (payout_config(r->app->cfg, &pc) == -1 ||
	    payout_payable(r->app->db, r->arena, r->auth.user_id, &payable) ==
	    -1 || (list = json_arena(r->arena, payout_list(r->app->db,
	    r->arena, r->auth.user_id))) == NULL || (set = json_arena(r->arena,
	    payout_settings_get(r->app->db, r->arena, r->auth.user_id))) ==
	    NULL)
		return 500;
	money_format(payable, usd, sizeof(usd));
	usd[strlen(usd) - 4] = '\0';
	money_format(pc.fee, fee, sizeof(fee));
	fee[strlen(fee) - 4] = '\0';
	json_object_set_new(set, "monthly", json_boolean(strcmp(
	    json_string_value(json_object_get(set, "mode")), "monthly") == 0));
	return resp_page(r, status, "payouts", json_arena(r->arena, json_pack(
	    "{s:s, s:s, s:s, s:O, s:b, s:O, s:s, s:b, s:o, s:s}", "title",
	    "Payouts", "payable", usd, "fee", fee, "payouts", list,
	    "has_payouts", json_array_size(list) > 0, "settings", set,
	    "next_monthly", next_first(r->arena), "enabled", *pc.api_key !=
	    '\0', "errors", field != NULL ? json_pack("{s:s}", field, error) :
	    json_object(), "amount", amount != NULL ? amount : usd)));
}

int
page_payouts(struct req *r)
{
	return payouts_page(r, 200, NULL, NULL, NULL);
}

/* POST /payouts/request (form: amount_usd). */
int
page_payouts_request(struct req *r)
{
	const char	*amount = req_form(r, "amount_usd"), *code, *msg;
	int64_t		 id;
	int		 st;

	if ((st = payout_start(r, amount, &id, &code, &msg)) != 0)
		return payouts_page(r, st, "amount_usd", msg, amount);
	return resp_redirect(r, "/payouts", "payout_requested");
}

/* POST /payouts/settings (form: recipient_name, recipient_email, mode, product). */
int
page_payouts_settings(struct req *r)
{
	const char	*why;

	switch (payout_settings_set(r->app->db, r->arena, r->app->cfg,
	    r->auth.user_id, req_form(r, "recipient_name"), req_form(r,
	    "recipient_email"), req_form(r, "mode"), req_form(r, "product"),
	    &why)) {
	case 0:
		return resp_redirect(r, "/payouts", "payout_settings");
	case 1:
		return payouts_page(r, 400, arena_strndup(r->arena, why,
		    strcspn(why, ":")), why, NULL);
	default:
		return 500;
	}
}

/* GET /admin/payouts: in flight, flagged, failed; the fees collected. */
int
page_admin_payouts(struct req *r)
{
	json_t	*o = json_arena(r->arena, payout_overview(r->app->db,
		    r->arena));

	if (o == NULL)
		return 500;
	json_object_set_new(o, "title", json_string("Payouts"));
	return resp_page(r, 200, "admin_payouts", o);
}

/* POST /admin/payouts/{id}/approve and …/cancel: a flagged payout decided. */
static int
review(struct req *r, int approve)
{
	const char	*why;

	switch (payout_review(r->app->db, r->arena, r->app->cfg,
	    r->auth.user_id, r->path_id, approve, &why)) {
	case 0:
		log_info("payout %lld %s by the operator", (long long)r->path_id,
		    approve ? "approved" : "cancelled");
		return resp_redirect(r, "/admin/payouts", approve ?
		    "payout_approved" : "payout_cancelled");
	case 1:
		return resp_error(r, 409, "That payout is not held for review.");
	case 2:
		return resp_error(r, 502, why);
	default:
		return 500;
	}
}

int
page_admin_payout_approve(struct req *r)
{
	return review(r, 1);
}

int
page_admin_payout_cancel(struct req *r)
{
	return review(r, 0);
}
