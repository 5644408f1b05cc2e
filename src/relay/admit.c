/* admit.c: admission by the model's candidates and the key's lease, without asking the app per request */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <event2/keyvalq_struct.h>

#include "http.h"
#include "infer.h"
#include "json.h"
#include "log.h"
#include "money.h"
#include "relay.h"
#include "util.h"

static const struct admit_hooks	*hooks;

static void	on_model(void *, long, json_t *);

void
admit_init(const struct admit_hooks *h)
{
	hooks = h;
}

void
admit_start(struct infer *in)
{
	models_get(in->model, on_model, in);
}

/* A candidate's price field, or -1 when it is not a price. */
static int64_t
price_field(json_t *c, const char *key)
{
	json_t	*v = json_object_get(c, key);

	return json_is_integer(v) && json_integer_value(v) >= 0 ?
	    json_integer_value(v) : -1;
}

/* Is c within the request's max_price (absent limits allow anything)? */
static int
within(struct infer *in, json_t *c)
{
	json_t	*mp = json_object_get(in->body, "max_price");
	json_t	*pi = json_object_get(mp, "prompt"), *po = json_object_get(mp,
		    "completion");

	return (!json_is_integer(pi) || price_field(c, "price_in") <=
	    json_integer_value(pi)) && (!json_is_integer(po) ||
	    price_field(c, "price_out") <= json_integer_value(po));
}

/*
 * Copy the candidates within max_price and note the highest prices among
 * them; -1 when the answer is not as documented.
 */
static int
read_candidates(struct infer *in, json_t *a, int64_t *max_in,
    int64_t *max_out)
{
	json_t			*list = json_object_get(a, "candidates"), *c;
	struct candidate	*k;
	size_t			 i;

	*max_in = *max_out = 0;
	if (!json_is_array(list))
		return -1;
	if ((in->cands = calloc(json_array_size(list) + 1,
	    sizeof(*in->cands))) == NULL)
		abort();
	json_array_foreach(list, i, c) {
		if (price_field(c, "price_in") < 0 ||
		    price_field(c, "price_out") < 0)
			return -1;
		if (!within(in, c))
			continue;
		k = &in->cands[in->ncands];
		k->node_id = json_integer_value(json_object_get(c, "node_id"));
		k->connection = json_string_value(json_object_get(c,
		    "connection"));
		k->supply_type = json_string_value(json_object_get(c,
		    "supply_type"));
		k->upstream_model = json_string_value(json_object_get(c,
		    "upstream_model"));
		k->base_url = json_string_value(json_object_get(c, "base_url"));
		k->api_token = json_string_value(json_object_get(c,
		    "api_token"));
		k->capacity = json_integer_value(json_object_get(c, "capacity"));
		k->health = json_integer_value(json_object_get(c, "health"));
		if (k->node_id <= 0 || k->connection == NULL ||
		    k->upstream_model == NULL)
			return -1;
		if (k->base_url == NULL)
			k->base_url = "";
		if (price_field(c, "price_in") > *max_in)
			*max_in = price_field(c, "price_in");
		if (price_field(c, "price_out") > *max_out)
			*max_out = price_field(c, "price_out");
		in->ncands++;
	}
	return 0;
}

/*
 * The worst case of the request in micro-USD: its prompt bound at the
 * highest input price and its output cap at the highest output price,
 * per 1M tokens, rounded up, at least 1; -1 when it overflows.
 */
static int64_t
worst_case(struct infer *in, int64_t max_in, int64_t max_out)
{
	__int128	w = (__int128)in->body_len * max_in +
			    (__int128)in->max_tokens * max_out;

	w = (w + 999999) / 1000000;
	if (w > INT64_MAX / 2)
		return -1;
	return w < 1 ? 1 : (int64_t)w;
}

/* Pass the app's own refusal (401, 402, 404, …) on to the consumer. */
static void
refuse(struct infer *in, long status, json_t *body)
{
	struct evhttp_request	*req = consumer_take(in);

	if (req != NULL)
		reply_json(req, (int)status, "Refused", body);
	hooks->refused(in);
}

/* Is the app's refusal body {"error": {"code": code}}? */
static int
refusal_says(json_t *body, const char *code)
{
	const char	*c = json_string_value(json_object_get(json_object_get(body,
			    "error"), "code"));

	return c != NULL && strcmp(c, code) == 0;
}

static void	on_lease(void *, long, json_t *, struct lease *);

/*
 * Refuse with status and body (taken) once the key is known to be good:
 * a bad key is told 401 first, as the app's admission always did.
 * retry_after (a static string) may be NULL.
 */
static void
refuse_after_key(struct infer *in, int status, json_t *body,
    const char *retry_after)
{
	in->pending = body;
	in->pending_status = status;
	in->pending_retry = retry_after;
	leases_get(in->key, in->client_ip, 1, on_lease, in);
}

/* The output cap: the body's or the default; -1 past the cap. */
static long long
max_tokens_of(struct infer *in, json_t *answer)
{
	json_t	*v = json_object_get(in->body, "max_tokens");

	if (strcmp(in->endpoint, "embeddings") == 0)
		return 0;
	if (!json_is_integer(v))
		v = json_object_get(in->body, "max_completion_tokens");
	if (!json_is_integer(v))
		return json_integer_value(json_object_get(answer,
		    "default_max_tokens"));
	return json_integer_value(v) > json_integer_value(json_object_get(
	    answer, "max_tokens_cap")) ? -1 : json_integer_value(v);
}

/* The app could not be asked (for the lease or the candidates): 503. */
static void
unavailable(struct infer *in)
{
	consumer_fail(in, 503, "service_unavailable", "The platform could "
	    "not admit the request right now; try again.");
	hooks->refused(in);
}

/*
 * The model's candidates: within max_price, priced at the worst case;
 * then the key's lease, with room for it.
 */
static void
on_model(void *arg, long status, json_t *answer)
{
	struct infer	*in = arg;
	int64_t		 max_in, max_out;
	char		 msg[96];

	if (in->req == NULL) {		/* the consumer left meanwhile */
		hooks->refused(in);
		return;
	}
	if (status != 200) {
		if (status != 0)
			refuse_after_key(in, (int)status, json_incref(answer),
			    NULL);
		else
			unavailable(in);
		return;
	}
	json_decref(in->admit);
	in->admit = json_incref(answer);
	if ((in->max_tokens = max_tokens_of(in, answer)) < 0) {
		snprintf(msg, sizeof(msg), "'max_tokens' must be an integer "
		    "between 1 and %lld", (long long)json_integer_value(
		    json_object_get(answer, "max_tokens_cap")));
		reply_error(consumer_take(in), 400, "invalid_request_error",
		    "invalid_request", "max_tokens", msg);
		hooks->refused(in);
		return;
	}
	free(in->cands);
	in->cands = NULL;
	in->ncands = 0;
	if (read_candidates(in, answer, &max_in, &max_out) == -1) {
		log_error("candidates answer not as documented");
		consumer_fail(in, 502, "internal_error", "The platform gave an "
		    "answer the relay cannot read.");
		hooks->refused(in);
		return;
	}
	if (in->ncands == 0)
		refuse_after_key(in, 503, http_openai_error("server_error",
		    "no_capacity", NULL, json_is_object(json_object_get(in->body,
		    "max_price")) ? "No node serves this model within your "
		    "max_price right now; try again later." :
		    "No node can serve this model right now; try again later."),
		    "5");
	else if ((in->reserved = worst_case(in, max_in, max_out)) == -1)
		refuse_after_key(in, 400, http_openai_error(
		    "invalid_request_error", "invalid_request", "max_tokens",
		    "The worst-case cost of this request is too large to hold; "
		    "send a smaller prompt or max_tokens."), NULL);
	else
		leases_get(in->key, in->client_ip, in->reserved, on_lease, in);
}

/* No lease has room for the request: 402. */
static void
too_poor(struct infer *in)
{
	char	usd[32], msg[128];

	money_format(in->reserved, usd, sizeof(usd));
	snprintf(msg, sizeof(msg), "Your credit balance is too low for this "
	    "request: it needs up to $%s.", usd);
	consumer_fail(in, 402, "insufficient_quota", msg);
	hooks->refused(in);
}

/*
 * The key's lease: the refusal waiting for the key's check, or the
 * key's per-minute limit, then the worst case reserved of the lease's
 * budget and the first attempt. The lease is used only within this call:
 * a retired one may be freed once idle.
 */
static void
on_lease(void *arg, long status, json_t *refusal, struct lease *l)
{
	struct infer		*in = arg;
	struct evhttp_request	*req;
	char			 ra[16];
	int			 wait;

	if (in->req == NULL) {
		hooks->refused(in);
		return;
	}
	if (in->pending != NULL && !(status == 401 && refusal != NULL)) {
		req = consumer_take(in);
		if (in->pending_retry != NULL)
			evhttp_add_header(evhttp_request_get_output_headers(req),
			    "Retry-After", in->pending_retry);
		reply_json(req, in->pending_status, "Refused", in->pending);
		hooks->refused(in);
		return;
	}
	if (status != 200) {
		/*
		 * Too poor for this request: said in its dollars; any
		 * other 402 (an account that owes) as the app said it.
		 */
		if (status == 402 && !refusal_says(refusal, "account_in_debt"))
			too_poor(in);
		else if (status != 0 && refusal != NULL)
			refuse(in, status, refusal);
		else
			unavailable(in);
		return;
	}
	if ((wait = leases_minute(l)) > 0) {
		snprintf(ra, sizeof(ra), "%d", wait);
		evhttp_add_header(evhttp_request_get_output_headers(in->req),
		    "Retry-After", ra);
		reply_error(consumer_take(in), 429, "requests",
		    "rate_limit_exceeded", NULL, "Rate limit reached for this "
		    "API key; slow down and retry after the time in "
		    "Retry-After.");
		hooks->refused(in);
		return;
	}
	if (leases_take(l, in->reserved) == -1) {
		/*
		 * Others spent it first, or it was sized for a smaller
		 * request: the next lease, sized for this one. 402 only when
		 * a lease fetched for it cannot cover it either.
		 */
		if (++in->lease_tries > 2) {
			too_poor(in);
			return;
		}
		leases_get(in->key, in->client_ip, in->reserved, on_lease, in);
		return;
	}
	in->lease = l;
	in->admitted_ms = util_now_ms();
	hooks->admitted(in);
}
