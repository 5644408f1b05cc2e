/* page_billing.c: Billing: top up through Stripe Checkout, and what came of it */
#include "config.h"

#include <string.h>

#include "app.h"
#include "arena.h"
#include "json.h"
#include "money.h"
#include "stripe.h"

/* The Billing page with an error (NULL: none) and a status. */
static int
billing_page(struct req *r, int status, const char *amount, const char *error)
{
	struct stripe_cfg	 s;
	json_t			*list;
	int64_t			 owed;
	char			 buf[32], lo[32], hi[32];

	if (stripe_config(r->app->cfg, &s) == -1 ||
	    stripe_owed(r->app->db, r->arena, r->auth.user_id, &owed) == -1 ||
	    (list = json_arena(r->arena, topup_list(r->app->db, r->arena,
	    r->auth.user_id))) == NULL)
		return 500;
	money_format(owed, buf, sizeof(buf));
	money_format(s.min, lo, sizeof(lo));
	money_format(s.max, hi, sizeof(hi));
	lo[strlen(lo) - 4] = '\0';
	hi[strlen(hi) - 4] = '\0';
	return resp_page(r, status, "billing", json_arena(r->arena, json_pack(
	    "{s:s, s:O, s:b, s:o, s:s, s:s, s:s, s:b, s:o}", "title", "Billing",
	    "topups", list, "has_topups", json_array_size(list) > 0, "owed",
	    owed > 0 ? json_string(buf) : json_null(), "min", lo, "max", hi,
	    "amount", amount != NULL ? amount : "10.00", "enabled",
	    *s.secret_key != '\0', "error", error != NULL ?
	    json_string(error) : json_null())));
}

int
page_billing(struct req *r)
{
	return billing_page(r, 200, NULL, NULL);
}

/*
 * POST /billing/topup (form: amount_usd): to our page that sends the
 * browser on to Stripe. A form may only lead to this site (CSP
 * form-action 'self', which holds for its redirects too), so the last
 * step is a link, followed by infrpool.js at once.
 */
int
page_billing_topup(struct req *r)
{
	const char	*amount = req_form(r, "amount_usd"), *code, *msg;
	json_t		*t;
	int		 st;

	if ((st = topup_start(r, amount, &t, &code, &msg)) != 0)
		return billing_page(r, st, amount, msg);
	return resp_redirect(r, arena_printf(r->arena, "/billing/pay/%lld",
	    (long long)json_integer_value(json_object_get(t, "id"))), NULL);
}

/* GET /billing/pay/{id}: on to the top-up's checkout, while it is open. */
int
page_billing_pay(struct req *r)
{
	json_t	*t = json_arena(r->arena, topup_get(r->app->db, r->arena,
		    r->auth.user_id, r->path_id));

	if (t == NULL)
		return 404;
	return resp_page(r, 200, "billing_back", json_arena(r->arena,
	    json_pack("{s:s, s:O, s:o}", "title", "To the payment", "go", t,
	    "checkout_url", json_incref(json_object_get(t, "checkout_url")))));
}

/* GET /billing/success?session_id=cs_…: back from a checkout. */
int
page_billing_success(struct req *r)
{
	const char	*sid = req_query(r, "session_id");
	json_t		*t = NULL;

	if (sid != NULL && strlen(sid) < 256)
		t = json_arena(r->arena, topup_by_session(r->app->db, r->arena,
		    r->auth.user_id, sid));
	return resp_page(r, t != NULL ? 200 : 404, "billing_back",
	    json_arena(r->arena, json_pack("{s:s, s:o, s:b}", "title",
	    "Thank you", "topup", t != NULL ? json_incref(t) : json_null(),
	    "paid", t != NULL && strcmp(json_string_value(json_object_get(t,
	    "status")), "paid") == 0)));
}

/* GET /billing/cancel */
int
page_billing_cancel(struct req *r)
{
	return resp_page(r, 200, "billing_back", json_arena(r->arena,
	    json_pack("{s:s, s:b}", "title", "Checkout cancelled",
	    "cancelled", 1)));
}

/* GET /admin/billing: money in, refunds, disputes, accounts that owe. */
int
page_admin_billing(struct req *r)
{
	json_t	*o = json_arena(r->arena, stripe_overview(r->app->db,
		    r->arena));

	if (o == NULL)
		return 500;
	json_object_set_new(o, "title", json_string("Billing"));
	return resp_page(r, 200, "admin_billing", o);
}
