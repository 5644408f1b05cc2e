/* gateway.c: a model's candidates for the relay; usage rows of requests */
#include "config.h"

#include <inttypes.h>
#include <string.h>

#include "arena.h"
#include "crypto.h"
#include "db.h"
#include "gateway.h"
#include "json.h"
#include "log.h"
#include "money.h"
#include "str.h"

/*
 * Every active node of an active account (a suspended, banned or deleted
 * one's nodes are not routed) serving a model, with its price, declared
 * concurrency, age in seconds, endpoint settings and its successes and
 * failures over the health window: today and the 13 UTC days before
 * (node_outcomes, a row a day, so the cost does not grow with the node's
 * traffic).
 */
static const struct db_stmt q_candidates = {
	"gw_candidates",
	"SELECT n.id, n.connection, n.supply_type, m.upstream_model,"
	" m.price_in, m.price_out, n.max_concurrency,"
	" extract(epoch FROM now() - n.created_at)::bigint,"
	" n.base_url, n.api_token_sealed, h.ok, h.bad"
	" FROM node_models m JOIN nodes n ON n.id = m.node_id"
	" JOIN users u ON u.id = n.user_id AND u.status = 'active'"
	" CROSS JOIN LATERAL (SELECT"
	"  coalesce(sum(o.ok), 0)::bigint AS ok,"
	"  coalesce(sum(o.bad), 0)::bigint AS bad"
	"  FROM node_outcomes o WHERE o.node_id = n.id"
	"  AND o.day > (now() AT TIME ZONE 'UTC')::date - 14) h"
	" WHERE m.model = $1 AND n.status = 'active' ORDER BY n.id",
	1, 0
};
/* Usage rows; the filters are the same for both views. */
#define USAGE_COLS(amount) \
	"SELECT r.id, r.task_id, " DB_TS("r.created_at") ", " \
	DB_TS("r.finished_at") ", r.model, r.node_id, r.supply_type," \
	" r.endpoint, r.stream, r.tokens_in, r.tokens_out, r.ttft_ms," \
	" r.duration_ms, " amount ", r.status FROM requests r"
#define USAGE_FILTERS \
	" AND ($2::text IS NULL OR r.model = $2)" \
	" AND ($3::timestamptz IS NULL OR r.created_at >= $3::timestamptz)" \
	" AND ($4::timestamptz IS NULL OR r.created_at < $4::timestamptz)" \
	" AND ($5::bigint = 0 OR r.id < $5::bigint)" \
	" ORDER BY r.id DESC LIMIT $6"
static const struct db_stmt q_usage = {
	"gw_usage",
	USAGE_COLS("r.cost") " WHERE r.user_id = $1" USAGE_FILTERS,
	6, DB_RETRY
};
static const struct db_stmt q_supplier_usage = {
	"gw_supplier_usage",
	USAGE_COLS("r.earning") " JOIN nodes n ON n.id = r.node_id"
	" WHERE n.user_id = $1" USAGE_FILTERS,
	6, DB_RETRY
};

/*
 * The usable share of declared concurrency: ramp_start_pct of it for a
 * brand-new node, growing linearly to all of it after ramp_days; at
 * least 1.
 */
static long long
capacity(const struct gateway_cfg *cfg, long long declared, int64_t age)
{
	long long	ramp = cfg->ramp_days * 86400, start = cfg->ramp_start_pct;
	long long	cap;

	if (ramp <= 0 || age >= ramp || start >= 100)
		return declared;
	if (age < 0)
		age = 0;
	cap = declared * (start * ramp + (100 - start) * age) / (100 * ramp);
	return cap < 1 ? 1 : cap;
}

/* Successes per thousand of counted outcomes; 1000 with none. */
static long long
health(int64_t ok, int64_t bad)
{
	return ok + bad == 0 ? 1000 : ok * 1000 / (ok + bad);
}

/*
 * Open node's sealed token (aad "node:<id>") into a new JSON string;
 * NULL (logged) when it cannot be opened. The plaintext is wiped.
 */
static json_t *
open_token(struct arena *a, const struct crypto_keyring *keys, int64_t node,
    const char *sealed)
{
	struct str	 plain = STR_INIT;
	json_t		*v = NULL;

	if (crypto_open(keys, sealed, arena_printf(a, "node:%" PRId64, node),
	    &plain) == -1)
		log_warn("node %" PRId64 ": its API token does not open with"
		    " the configured keys; skipped", node);
	else
		v = json_stringn(str_cstr(&plain), plain.len);
	if (plain.buf != NULL)
		explicit_bzero(plain.buf, plain.cap);
	str_free(&plain);
	return v;
}

/*
 * Candidate row i of res as a JSON object (new reference), endpoint ones
 * with the decrypted token; NULL when its token does not open.
 */
static json_t *
candidate(struct arena *a, const struct gateway_cfg *cfg,
    const struct crypto_keyring *keys, PGresult *res, int i)
{
	int64_t	 node = db_int64(res, i, 0);
	json_t	*o, *token = NULL;

	if (!PQgetisnull(res, i, 9) &&
	    (token = open_token(a, keys, node, PQgetvalue(res, i, 9))) == NULL)
		return NULL;
	o = json_pack("{s:I, s:s, s:s, s:s, s:I, s:I, s:I, s:I}",
	    "node_id", (json_int_t)node,
	    "connection", PQgetvalue(res, i, 1),
	    "supply_type", PQgetvalue(res, i, 2),
	    "upstream_model", PQgetvalue(res, i, 3),
	    "price_in", (json_int_t)db_int64(res, i, 4),
	    "price_out", (json_int_t)db_int64(res, i, 5),
	    "capacity", (json_int_t)capacity(cfg, db_int64(res, i, 6),
	    db_int64(res, i, 7)),
	    "health", (json_int_t)health(db_int64(res, i, 10),
	    db_int64(res, i, 11)));
	if (strcmp(PQgetvalue(res, i, 1), "endpoint") == 0) {
		json_object_set_new(o, "base_url", json_string(PQgetvalue(res,
		    i, 8)));
		json_object_set_new(o, "api_token", token ? token :
		    json_string(""));
	}
	return o;
}

/* Every usable candidate for model. See gateway.h. */
int
gateway_candidates(struct db *db, struct arena *a,
    const struct gateway_cfg *cfg, const struct crypto_keyring *keys,
    const char *model, json_t **list)
{
	const char	*p[1] = { model };
	PGresult	*res;
	json_t		*o;
	int		 i;

	*list = json_arena(a, json_array());
	if ((res = db_exec(db, a, &q_candidates, p)) == NULL)
		return GW_ERROR;
	if (PQntuples(res) == 0)
		return GW_NO_MODEL;
	for (i = 0; i < PQntuples(res); i++)
		if ((o = candidate(a, cfg, keys, res, i)) != NULL)
			json_array_append_new(*list, o);
	return GW_OK;
}

/* Column c of row i as a JSON integer, or null. */
static json_t *
int_or_null(PGresult *res, int i, int c)
{
	return PQgetisnull(res, i, c) ? json_null() :
	    json_integer(db_int64(res, i, c));
}

/* Column c of row i as a JSON string, or null. */
static json_t *
str_or_null(PGresult *res, int i, int c)
{
	return PQgetisnull(res, i, c) ? json_null() :
	    json_string(PQgetvalue(res, i, c));
}

/* Column c of row i as {micro_usd, usd}, or null. */
static json_t *
amount_or_null(PGresult *res, int i, int c)
{
	char	usd[32];

	if (PQgetisnull(res, i, c))
		return json_null();
	money_format(db_int64(res, i, c), usd, sizeof(usd));
	return json_pack("{s:I, s:s}", "micro_usd",
	    (json_int_t)db_int64(res, i, c), "usd", usd);
}

/* One usage row as JSON; amount is "cost" or "earning". */
static json_t *
usage_row(PGresult *res, int i, const char *amount)
{
	return json_pack("{s:I, s:s, s:s, s:o, s:s, s:o, s:o, s:s, s:b, s:o,"
	    " s:o, s:o, s:o, s:o, s:s}",
	    "id", (json_int_t)db_int64(res, i, 0),
	    "task_id", PQgetvalue(res, i, 1),
	    "created_at", PQgetvalue(res, i, 2),
	    "finished_at", str_or_null(res, i, 3),
	    "model", PQgetvalue(res, i, 4),
	    "node_id", int_or_null(res, i, 5),
	    "supply_type", str_or_null(res, i, 6),
	    "endpoint", PQgetvalue(res, i, 7),
	    "stream", strcmp(PQgetvalue(res, i, 8), "t") == 0,
	    "tokens_in", int_or_null(res, i, 9),
	    "tokens_out", int_or_null(res, i, 10),
	    "ttft_ms", int_or_null(res, i, 11),
	    "duration_ms", int_or_null(res, i, 12),
	    amount, amount_or_null(res, i, 13),
	    "status", PQgetvalue(res, i, 14));
}

/* One page of usage rows, fetching one more to know if there is more. */
json_t *
gateway_usage(struct db *db, struct arena *a, const struct gw_usage *q,
    int64_t *next_before)
{
	const char	*p[6];
	PGresult	*res;
	json_t		*list;
	int		 i, n;

	*next_before = 0;
	if (q->limit < 1 || q->limit > 200)
		return NULL;
	p[0] = db_i64(a, q->user_id);
	p[1] = q->model;
	p[2] = q->since;
	p[3] = q->until;
	p[4] = db_i64(a, q->before);
	p[5] = db_i64(a, q->limit + 1);
	if ((res = db_exec(db, a, q->supplier ? &q_supplier_usage : &q_usage,
	    p)) == NULL)
		return NULL;
	n = PQntuples(res) > q->limit ? q->limit : PQntuples(res);
	list = json_array();
	for (i = 0; i < n; i++)
		json_array_append_new(list, usage_row(res, i, q->supplier ?
		    "earning" : "cost"));
	if (PQntuples(res) > q->limit)
		*next_before = db_int64(res, n - 1, 0);
	return list;
}
