/* api_internal.c: the internal API the relay calls, behind the shared secret */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "arena.h"
#include "gateway.h"
#include "json.h"
#include "log.h"
#include "money.h"
#include "node.h"

/* A validation failure: the field and what is wrong with it. */
struct verr {
	const char	*param;
	char		 msg[256];
};

/* GET /internal/ping: lets the relay check that it can reach us. */
int
api_internal_ping(struct req *r)
{
	return resp_json(r, 200, json_arena(r->arena, json_pack("{s:s}",
	    "status", "ok")));
}

/* The 401 for a key that is missing, unknown, revoked or expired. */
int
api_internal_bad_key(struct req *r, const char *key)
{
	return resp_api_error(r, 401, "invalid_request_error",
	    "invalid_api_key", NULL, *key == '\0' ?
	    "You didn't provide an API key. Send it as"
	    " 'Authorization: Bearer <key>'." :
	    "Incorrect API key provided.");
}

/* Name param as the field a getter's message (already in e) is about; -1. */
static int
named(struct verr *e, const char *param)
{
	e->param = param;
	return -1;
}

/*
 * Get field key of obj, which must be one of the NULL-terminated words
 * (or absent when not required, leaving *out); 0 or -1.
 */
static int
get_word(json_t *obj, const char *key, int required,
    const char *const *words, const char **out, struct verr *e)
{
	const char	*v = NULL;
	size_t		 i;

	if (json_get_str(obj, key, required, &v, e->msg, sizeof(e->msg)) < 0)
		return named(e, key);
	if (v == NULL)
		return 0;
	for (i = 0; words[i] != NULL; i++)
		if (strcmp(v, words[i]) == 0) {
			*out = v;
			return 0;
		}
	snprintf(e->msg, sizeof(e->msg), "'%s' must be one of:", key);
	for (i = 0; words[i] != NULL; i++)
		snprintf(e->msg + strlen(e->msg), sizeof(e->msg) -
		    strlen(e->msg), " %s", words[i]);
	return named(e, key);
}

/* Get an optional integer field within [min, max]; -1 stays when absent. */
static int
get_opt(json_t *obj, const char *key, const char *param, long long min,
    long long max, long long *out, struct verr *e)
{
	*out = -1;
	if (json_get_int(obj, key, 0, min, max, out, e->msg,
	    sizeof(e->msg)) < 0)
		return named(e, param);
	return 0;
}

/* Read max_price (null, or {prompt, completion}, each optional) into in. */
static int
parse_max_price(json_t *body, struct gw_admit *in, struct verr *e)
{
	json_t	*mp = json_object_get(body, "max_price");

	in->max_price_in = in->max_price_out = -1;
	if (mp == NULL || json_is_null(mp))
		return 0;
	if (!json_is_object(mp)) {
		snprintf(e->msg, sizeof(e->msg), "'max_price' must be null or"
		    " an object {\"prompt\", \"completion\"}");
		return named(e, "max_price");
	}
	return get_opt(mp, "prompt", "max_price.prompt", 0, INT64_MAX,
	    &in->max_price_in, e) == -1 || get_opt(mp, "completion",
	    "max_price.completion", 0, INT64_MAX, &in->max_price_out, e) == -1 ?
	    -1 : 0;
}

/* Validate an admit body into in; 0 or -1 with e set. */
static int
parse_admit(struct req *r, json_t *body, struct gw_admit *in, struct verr *e)
{
	static const char *const endpoints[] = { "chat", "completions",
		"embeddings", NULL };
	const struct gateway_cfg *cfg = &r->app->gateway;

	memset(in, 0, sizeof(*in));
	in->key = "";
	in->max_tokens = cfg->default_max_tokens;
	if (json_get_str(body, "key", 0, &in->key, e->msg, sizeof(e->msg)) < 0)
		return named(e, "key");
	if (json_get_str(body, "model", 1, &in->model, e->msg,
	    sizeof(e->msg)) < 0)
		return named(e, "model");
	if (get_word(body, "endpoint", 1, endpoints, &in->endpoint, e) == -1)
		return -1;
	if (json_get_bool(body, "stream", 0, &in->stream, e->msg,
	    sizeof(e->msg)) < 0)
		return named(e, "stream");
	if (json_get_int(body, "max_tokens", 0, 1, cfg->max_tokens_cap,
	    &in->max_tokens, e->msg, sizeof(e->msg)) < 0)
		return named(e, "max_tokens");
	if (json_get_int(body, "prompt_tokens", 1, 0, GW_PROMPT_MAX,
	    &in->prompt_tokens, e->msg, sizeof(e->msg)) < 0)
		return named(e, "prompt_tokens");
	if (json_get_str(body, "client_ip", 0, &in->client_ip, e->msg,
	    sizeof(e->msg)) < 0)
		return named(e, "client_ip");
	return parse_max_price(body, in, e);
}

/* The answer to an admission that did not succeed. */
static int
admit_refused(struct req *r, int rc, const struct gw_admit *in,
    const struct gw_admitted *out)
{
	char	usd[32];

	switch (rc) {
	case GW_BAD_KEY:
		return api_internal_bad_key(r, in->key);
	case GW_NO_MODEL:
		return resp_api_error(r, 404, "invalid_request_error",
		    "model_not_found", "model", node_model_id_ok(in->model) ?
		    arena_printf(r->arena, "The model `%s` does not exist or"
		    " no active node serves it.", in->model) :
		    "The model does not exist.");
	case GW_NO_CAPACITY:
		resp_header(r, "Retry-After", "5");
		return resp_api_error(r, 503, "server_error", "no_capacity",
		    NULL, in->max_price_in >= 0 || in->max_price_out >= 0 ?
		    "No node serves this model within your max_price right"
		    " now; try again later." :
		    "No node can serve this model right now; try again later.");
	case GW_TOO_COSTLY:
		return resp_bad(r, "max_tokens", "The worst-case cost of this"
		    " request is too large to hold; send a smaller prompt or"
		    " max_tokens.");
	case GW_RATE_LIMITED:
		resp_header(r, "Retry-After", arena_printf(r->arena, "%d",
		    out->retry_after));
		return resp_api_error(r, 429, "requests", "rate_limit_exceeded",
		    NULL, "Rate limit reached for this API key; slow down and "
		    "retry after the time in Retry-After.");
	case GW_INSUFFICIENT:
		money_format(out->amount, usd, sizeof(usd));
		return resp_api_error(r, 402, "insufficient_quota",
		    "insufficient_quota", NULL, arena_printf(r->arena,
		    "Your credit balance is too low for this request: it needs"
		    " up to $%s.", usd));
	default:
		return 500;
	}
}

/* POST /internal/admit: see docs/internal.md. */
int
api_internal_admit(struct req *r)
{
	struct gw_admit		 in;
	struct gw_admitted	 out;
	struct verr		 e;
	int			 rc;

	if (parse_admit(r, r->json, &in, &e) == -1)
		return resp_bad(r, e.param, e.msg);
	rc = gateway_admit(r->app->db, r->arena, &r->app->gateway,
	    &r->app->keys, &in, &out);
	if (rc != GW_OK) {
		log_info("admit refused (%d)", rc);
		return admit_refused(r, rc, &in, &out);
	}
	log_info("admitted task %s hold %" PRId64 " amount %" PRId64
	    " candidates %zu", out.task_id, out.hold_id, out.amount,
	    json_array_size(out.candidates));
	return resp_json(r, 200, json_arena(r->arena,
	    json_pack("{s:I, s:s, s:I, s:O}",
	    "hold_id", (json_int_t)out.hold_id, "task_id", out.task_id,
	    "max_tokens", (json_int_t)out.max_tokens,
	    "candidates", out.candidates)));
}

/* Validate a settle body into s; 0 or -1 with e set. */
static int
parse_settle(json_t *body, struct gw_settle *s, struct verr *e)
{
	static const char *const statuses[] = { "ok", "cancelled", "failed",
		"rejected", "unserved", NULL };
	static const char *const outcomes[] = { "success", "failure",
		"neutral", NULL };
	long long	 hold, node = 0;

	memset(s, 0, sizeof(s[0]));
	if (json_get_int(body, "hold_id", 1, 1, INT64_MAX, &hold, e->msg,
	    sizeof(e->msg)) < 0)
		return named(e, "hold_id");
	if (json_get_int(body, "node_id", 0, 1, INT64_MAX, &node, e->msg,
	    sizeof(e->msg)) < 0)
		return named(e, "node_id");
	s->hold_id = hold;
	s->node_id = node;
	if (get_word(body, "status", 1, statuses, &s->status, e) == -1 ||
	    get_word(body, "outcome", 0, outcomes, &s->outcome, e) == -1 ||
	    get_opt(body, "tokens_in", "tokens_in", 0, INT64_MAX,
	    &s->tokens_in, e) == -1 ||
	    get_opt(body, "tokens_out", "tokens_out", 0, INT64_MAX,
	    &s->tokens_out, e) == -1 ||
	    get_opt(body, "counted_in", "counted_in", 0, INT64_MAX,
	    &s->counted_in, e) == -1 ||
	    get_opt(body, "counted_out", "counted_out", 0, INT64_MAX,
	    &s->counted_out, e) == -1 ||
	    get_opt(body, "ttft_ms", "ttft_ms", 0, INT64_MAX, &s->ttft_ms,
	    e) == -1 ||
	    get_opt(body, "duration_ms", "duration_ms", 0, INT64_MAX,
	    &s->duration_ms, e) == -1)
		return -1;
	if (s->counted_in < 0)
		s->counted_in = 0;
	if (s->counted_out < 0)
		s->counted_out = 0;
	return 0;
}

/* POST /internal/settle: see docs/internal.md. */
int
api_internal_settle(struct req *r)
{
	struct gw_settle	 s;
	struct gw_settled	 out;
	struct verr		 e;

	if (json_object_get(r->json, "requests") != NULL)
		return api_internal_settle_batch(r);
	if (parse_settle(r->json, &s, &e) == -1)
		return resp_bad(r, e.param, e.msg);
	switch (gateway_settle(r->app->db, r->arena, &r->app->gateway, &s,
	    &out)) {
	case GW_OK:
		break;
	case GW_NOT_FOUND:
		return resp_api_error(r, 404, "invalid_request_error",
		    "not_found", "hold_id", "No admitted request has this"
		    " hold.");
	case GW_BAD_NODE:
		return resp_bad(r, "node_id", s.node_id > 0 ? "'node_id' was not a"
		    " candidate of this request" : "'node_id' is required"
		    " when a node served the request");
	default:
		return 500;
	}
	log_info("settled hold %" PRId64 " %s charged %" PRId64 " earning %"
	    PRId64 "%s", s.hold_id, s.status, out.charged, out.earning,
	    out.replayed ? " (replayed)" : "");
	return resp_json(r, 200, json_arena(r->arena,
	    json_pack("{s:I, s:I, s:I, s:b}", "hold_id",
	    (json_int_t)s.hold_id, "charged", (json_int_t)out.charged,
	    "earning", (json_int_t)out.earning, "replayed", out.replayed)));
}
