/* api_lease.c: the relay's caches: leases, candidates per model, the change feed */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>

#include "app.h"
#include "arena.h"
#include "gateway.h"
#include "json.h"
#include "lease.h"
#include "log.h"

/* POST /internal/lease: see docs/internal.md. */
int
api_internal_lease(struct req *r)
{
	const struct gateway_cfg	*cfg = &r->app->gateway;
	const char			*key = "";
	long long			 want = 0;
	struct lease			 l;
	char				 err[256];
	int				 rc;

	if (json_get_str(r->json, "key", 0, &key, err, sizeof(err)) < 0)
		return resp_bad(r, "key", err);
	if (json_get_int(r->json, "want", 0, INT64_MIN, INT64_MAX, &want, err,
	    sizeof(err)) < 0)
		return resp_bad(r, "want", err);
	if ((rc = lease_grant(r->app->db, r->arena, cfg, key, want, &l)) !=
	    GW_OK) {
		log_info("lease refused (%d)", rc);
		if (rc == GW_BAD_KEY)
			return api_internal_bad_key(r, key);
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
	    "ttl_ms", (json_int_t)cfg->lease_ttl * 1000,
	    "key_id", (json_int_t)l.key_id, "user_id", (json_int_t)l.user_id,
	    "per_minute", (json_int_t)cfg->per_key_minute,
	    "default_max_tokens", (json_int_t)cfg->default_max_tokens,
	    "max_tokens_cap", (json_int_t)cfg->max_tokens_cap)));
}
