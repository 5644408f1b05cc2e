/* api_lease.c: the relay's caches: leases, candidates per model, the change feed */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>

#include "app.h"
#include "arena.h"
#include "changes.h"
#include "gateway.h"
#include "json.h"
#include "lease.h"
#include "log.h"
#include "node.h"

/* POST /internal/lease: see docs/internal.md. */
int
api_internal_lease(struct req *r)
{
	const struct gateway_cfg	*cfg = &r->app->gateway;
	const char			*key = "";
	long long			 want = 0, id = 0, keep = 0;
	struct lease_retire		 retire = { 0, 0 };
	struct lease			 l;
	json_t				*rt;
	char				 err[256];
	int				 rc;

	if (json_get_str(r->json, "key", 0, &key, err, sizeof(err)) < 0)
		return resp_bad(r, "key", err);
	if (json_get_int(r->json, "want", 0, INT64_MIN, INT64_MAX, &want, err,
	    sizeof(err)) < 0)
		return resp_bad(r, "want", err);
	if ((rt = json_object_get(r->json, "retire")) != NULL &&
	    !json_is_null(rt)) {
		if (json_get_int(rt, "lease_id", 1, 1, INT64_MAX, &id, err,
		    sizeof(err)) < 0)
			return resp_bad(r, "retire.lease_id", err);
		if (json_get_int(rt, "keep", 1, 0, INT64_MAX, &keep, err,
		    sizeof(err)) < 0)
			return resp_bad(r, "retire.keep", err);
		retire.lease_id = id;
		retire.keep = keep;
	}
	if ((rc = lease_grant(r->app->db, r->arena, cfg, key, want, &retire,
	    &l)) != GW_OK) {
		log_info("lease refused (%d)", rc);
		if (rc == GW_BAD_KEY)
			return api_internal_bad_key(r, key);
		if (rc == GW_SUSPENDED || rc == GW_BANNED)
			return resp_api_error(r, 403, "invalid_request_error",
			    rc == GW_BANNED ? "account_banned" :
			    "account_suspended", NULL, rc == GW_BANNED ?
			    "This account is banned: its API keys no longer"
			    " work." : "Your account is suspended (read-only):"
			    " it cannot make requests until the operator lifts"
			    " the suspension. The email we sent says why.");
		if (rc == GW_OWES)
			return resp_api_error(r, 402, "insufficient_quota",
			    "account_in_debt", NULL, arena_printf(r->arena,
			    "A refund or a dispute took back credit this "
			    "account had already spent: it owes %s. Top up "
			    "on the Billing page to go on.", json_string_value(
			    json_arena(r->arena, view_usd(r->arena,
			    l.owed)))));
		if (rc == GW_INSUFFICIENT)
			return resp_api_error(r, 402, "insufficient_quota",
			    "insufficient_quota", NULL, "Your credit balance is"
			    " too low for this request.");
		return 500;
	}
	log_info("lease %" PRId64 " hold %" PRId64 " budget %" PRId64 " key %"
	    PRId64, l.id, l.hold_id, l.budget, l.key_id);
	return resp_json(r, 200, json_arena(r->arena, json_pack("{s:I, s:I,"
	    " s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
	    "lease_id", (json_int_t)l.id, "hold_id", (json_int_t)l.hold_id,
	    "budget", (json_int_t)l.budget,
	    "ttl_ms", (json_int_t)l.ttl_ms,
	    "key_id", (json_int_t)l.key_id, "user_id", (json_int_t)l.user_id,
	    "per_minute", (json_int_t)cfg->per_key_minute,
	    "default_max_tokens", (json_int_t)cfg->default_max_tokens,
	    "max_tokens_cap", (json_int_t)cfg->max_tokens_cap)));
}

/* POST /internal/candidates {"model"}: see docs/internal.md. */
int
api_internal_candidates(struct req *r)
{
	const char	*model = NULL;
	json_t		*list;
	int64_t		 version;
	char		 err[256];
	int		 rc;

	if (json_get_str(r->json, "model", 1, &model, err, sizeof(err)) < 0)
		return resp_bad(r, "model", err);
	if (changes_seq(r->app->db, r->arena, &version) == -1)
		return 500;
	rc = gateway_candidates(r->app->db, r->arena, &r->app->gateway,
	    &r->app->keys, model, &list);
	if (rc == GW_NO_MODEL)
		return resp_api_error(r, 404, "invalid_request_error",
		    "model_not_found", "model", node_model_id_ok(model) ?
		    arena_printf(r->arena, "The model `%s` does not exist or"
		    " no active node serves it.", model) :
		    "The model does not exist.");
	if (rc != GW_OK)
		return 500;
	return resp_json(r, 200, json_arena(r->arena, json_pack("{s:s, s:I,"
	    " s:I, s:I, s:O}", "model", model, "version", (json_int_t)version,
	    "default_max_tokens",
	    (json_int_t)r->app->gateway.default_max_tokens,
	    "max_tokens_cap", (json_int_t)r->app->gateway.max_tokens_cap,
	    "candidates", list)));
}

/* POST /internal/changes {"since"}: see docs/internal.md. */
int
api_internal_changes(struct req *r)
{
	long long	 since = 0;
	json_t		*list;
	int64_t		 seq;
	char		 err[256];
	int		 rc;

	if (json_get_int(r->json, "since", 1, 0, INT64_MAX, &since, err,
	    sizeof(err)) < 0)
		return resp_bad(r, "since", err);
	if ((rc = changes_since(r->app->db, r->arena, since, &list, &seq)) ==
	    -1)
		return 500;
	if (rc == 1)
		return resp_json(r, 200, json_arena(r->arena, json_pack(
		    "{s:I, s:b}", "seq", (json_int_t)seq, "reset", 1)));
	return resp_json(r, 200, json_arena(r->arena, json_pack("{s:I, s:o}",
	    "seq", (json_int_t)seq, "changes", list)));
}
