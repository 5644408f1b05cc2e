/* api_me.c: /v1/me: the caller's account, balances, transfers and the export document */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "apikey.h"
#include "app.h"
#include "payout.h"
#include "stripe.h"
#include "export.h"
#include "json.h"
#include "ledger.h"
#include "money.h"
#include "node.h"
#include "user.h"

#define PAGE_DEFAULT	50
#define PAGE_MAX	200

/* An amount both ways: exact micro-USD and a decimal string of dollars. */
static json_t *
amount(int64_t micro)
{
	char	usd[32];

	money_format(micro, usd, sizeof(usd));
	return json_pack("{s:I, s:s}", "micro_usd", (json_int_t)micro, "usd", usd);
}

/* The account object of /v1/me and the export (the arena's); NULL on error. */
static json_t *
account_json(struct req *r)
{
	struct ledger_balances	b;
	struct user		u;

	if (user_by_id(r->app->db, r->arena, r->auth.user_id, &u) != 0 ||
	    ledger_balances(r->app->db, r->arena, u.id, &b) != 0)
		return NULL;
	return json_arena(r->arena, json_pack("{s:s, s:I, s:s, s:s, s:s,"
	    " s:{s:o, s:o, s:o, s:o}}",
	    "object", "account", "id", (json_int_t)u.id, "email", u.email,
	    "role", u.role, "created_at", u.created_at, "balances",
	    "credit", amount(b.credit), "earnings", amount(b.earnings),
	    "held", amount(b.credit_held + b.earnings_held),
	    "spendable", amount(b.credit - b.credit_held + b.earnings -
	    b.earnings_held)));
}

/* GET /v1/me; with a session it also carries the CSRF token for /v1/keys. */
int
api_me(struct req *r)
{
	json_t	*me = account_json(r);

	if (me == NULL)
		return 500;
	if (r->auth.via == AUTH_SESSION)
		json_object_set_new(me, "csrf_token", json_string(r->auth.csrf));
	return resp_json(r, 200, me);
}

/* GET /v1/me/transfers?limit=N&before=ID: newest first, paged by id. */
int
api_me_transfers(struct req *r)
{
	long long	 limit = req_query_int(r, "limit", PAGE_DEFAULT, PAGE_MAX);
	long long	 before = req_query_int(r, "before", 0, INT64_MAX);
	int64_t		 next;
	json_t		*data;

	if (limit < 0)
		return resp_bad(r, "limit",
		    "'limit' must be an integer between 1 and 200");
	if (before < 0)
		return resp_bad(r, "before", "'before' must be a transfer id");
	if ((data = json_arena(r->arena, ledger_user_transfers(r->app->db,
	    r->arena, r->auth.user_id, before, (int)limit, &next))) == NULL)
		return 500;
	return resp_json(r, 200, json_arena(r->arena, json_pack("{s:s, s:O,"
	    " s:b, s:o}", "object", "list", "data", data, "has_more",
	    next != 0, "next_before", next != 0 ? json_integer(next) :
	    json_null())));
}

/* Every transfer of the caller, newest first (the arena's); NULL on error. */
static json_t *
all_transfers(struct req *r)
{
	json_t	*all = json_arena(r->arena, json_array()), *page;
	int64_t	 before = 0, next;

	do {
		if ((page = json_arena(r->arena, ledger_user_transfers(
		    r->app->db, r->arena, r->auth.user_id, before, PAGE_MAX,
		    &next))) == NULL)
			return NULL;
		json_array_extend(all, page);
		before = next;
	} while (next != 0);
	return all;
}

/*
 * Everything we hold about the caller as one JSON document (Privacy
 * Policy 5.9), the arena's: the account, API key metadata (never a
 * hash), every transfer, wallet event and request made, its nodes with
 * their models and prices (never a token), the requests they served
 * (the supplier's view: nothing about the consumer), its top-ups and
 * its payouts.
 * NULL on error.
 */
json_t *
me_export_document(struct req *r)
{
	json_t	*doc, *keys, *all, *requests, *nodes, *served, *events, *topups;
	json_t	*payouts;

	if ((doc = account_json(r)) == NULL)
		return NULL;
	json_object_del(doc, "object");
	if ((keys = json_arena(r->arena, apikey_list(r->app->db, r->arena,
	    r->auth.user_id))) == NULL ||
	    (all = all_transfers(r)) == NULL ||
	    (requests = usage_export(r, 0)) == NULL ||
	    (nodes = json_arena(r->arena, node_list(r->app->db, r->arena,
	    r->auth.user_id))) == NULL ||
	    (served = usage_export(r, 1)) == NULL ||
	    (events = json_arena(r->arena, export_wallet_events(r->app->db,
	    r->arena, r->auth.user_id))) == NULL ||
	    (topups = json_arena(r->arena, topup_list(r->app->db, r->arena,
	    r->auth.user_id))) == NULL ||
	    (payouts = json_arena(r->arena, payout_list(r->app->db, r->arena,
	    r->auth.user_id))) == NULL)
		return NULL;
	return json_arena(r->arena, json_pack("{s:s, s:s, s:O, s:O, s:O,"
	    " s:O, s:O, s:O, s:O, s:O, s:O}", "object", "export", "format",
	    "infrpool-export-1", "account", doc, "api_keys", keys, "transfers",
	    all, "wallet_events", events, "requests", requests, "nodes", nodes,
	    "served_requests", served, "topups", topups, "payouts", payouts));
}
