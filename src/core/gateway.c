/* gateway.c: admission and settlement of inference requests, and their usage rows */
#include "config.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "apikey.h"
#include "arena.h"
#include "crypto.h"
#include "db.h"
#include "gateway.h"
#include "hold.h"
#include "iphash.h"
#include "json.h"
#include "log.h"
#include "money.h"
#include "ratelimit.h"
#include "str.h"


/*
 * Every active node serving a model, with its price, declared concurrency,
 * age in seconds, endpoint settings and its successes and failures over
 * the health window: today and the 13 UTC days before (node_outcomes, a
 * row a day, so the cost does not grow with the node's traffic).
 */
static const struct db_stmt q_candidates = {
	"gw_candidates",
	"SELECT n.id, n.connection, n.supply_type, m.upstream_model,"
	" m.price_in, m.price_out, n.max_concurrency,"
	" extract(epoch FROM now() - n.created_at)::bigint,"
	" n.base_url, n.api_token_sealed, h.ok, h.bad"
	" FROM node_models m JOIN nodes n ON n.id = m.node_id"
	" CROSS JOIN LATERAL (SELECT"
	"  coalesce(sum(o.ok), 0)::bigint AS ok,"
	"  coalesce(sum(o.bad), 0)::bigint AS bad"
	"  FROM node_outcomes o WHERE o.node_id = n.id"
	"  AND o.day > (now() AT TIME ZONE 'UTC')::date - 14) h"
	" WHERE m.model = $1 AND n.status = 'active' ORDER BY n.id",
	1, 0
};
/* Count a settled request's outcome in its node's row for today. */
static const struct db_stmt q_outcome = {
	"gw_count_outcome",
	"INSERT INTO node_outcomes (node_id, day, ok, bad)"
	" VALUES ($1, (now() AT TIME ZONE 'UTC')::date, $2, $3)"
	" ON CONFLICT (node_id, day) DO UPDATE"
	" SET ok = node_outcomes.ok + EXCLUDED.ok,"
	" bad = node_outcomes.bad + EXCLUDED.bad",
	3, 0
};
static const struct db_stmt q_insert = {
	"gw_insert_request",
	"INSERT INTO requests (task_id, hold_id, user_id, api_key_id, model,"
	" endpoint, stream, prompt_tokens, max_tokens, client_ip_hash,"
	" cand_nodes, cand_price_in, cand_price_out) VALUES ($1, $2, $3, $4,"
	" $5, $6, $7, $8, $9, $10, $11::bigint[], $12::bigint[],"
	" $13::bigint[])",
	13, 0
};
static const struct db_stmt q_lock = {
	"gw_lock_request",
	"SELECT id, status, cost, earning, prompt_tokens, max_tokens"
	" FROM requests WHERE hold_id = $1 FOR UPDATE",
	1, 0
};
/* A candidate's admitted prices, its owner and supply type. */
static const struct db_stmt q_candidate = {
	"gw_candidate",
	"SELECT c.pin, c.pout, n.user_id, n.supply_type FROM requests r"
	" CROSS JOIN LATERAL unnest(r.cand_nodes, r.cand_price_in,"
	"  r.cand_price_out) AS c(node, pin, pout)"
	" JOIN nodes n ON n.id = c.node WHERE r.id = $1 AND c.node = $2",
	2, 0
};
static const struct db_stmt q_finish = {
	"gw_finish_request",
	"UPDATE requests SET status = $2, node_id = $3, supply_type = $4,"
	" outcome = $5, tokens_in = $6, tokens_out = $7, reported_in = $8,"
	" reported_out = $9, counted_in = $10, counted_out = $11,"
	" ttft_ms = $12, duration_ms = $13, cost = $14, earning = $15,"
	" finished_at = now() WHERE id = $1 AND status = 'admitted'",
	15, 0
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

/* The candidates of an admission being built. */
struct cands {
	json_t		*list;
	struct str	 nodes, price_in, price_out;	/* "{…}" arrays */
	int64_t		 max_in, max_out;
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

/* Add candidate row i of res to c (the caller checked its prices); 0 or -1. */
static int
add_candidate(struct arena *a, const struct gateway_cfg *cfg,
    const struct crypto_keyring *keys, PGresult *res, int i,
    struct cands *c)
{
	int64_t	 node = db_int64(res, i, 0);
	int64_t	 pin = db_int64(res, i, 4), pout = db_int64(res, i, 5);
	json_t	*o, *token = NULL;

	if (!PQgetisnull(res, i, 9) &&
	    (token = open_token(a, keys, node, PQgetvalue(res, i, 9))) == NULL)
		return -1;
	o = json_pack("{s:I, s:s, s:s, s:s, s:I, s:I, s:I, s:I}",
	    "node_id", (json_int_t)node,
	    "connection", PQgetvalue(res, i, 1),
	    "supply_type", PQgetvalue(res, i, 2),
	    "upstream_model", PQgetvalue(res, i, 3),
	    "price_in", (json_int_t)pin, "price_out", (json_int_t)pout,
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
	json_array_append_new(c->list, o);
	str_printf(&c->nodes, "%s%" PRId64, c->nodes.len ? "," : "", node);
	str_printf(&c->price_in, "%s%" PRId64, c->price_in.len ? "," : "", pin);
	str_printf(&c->price_out, "%s%" PRId64, c->price_out.len ? "," : "",
	    pout);
	if (pin > c->max_in)
		c->max_in = pin;
	if (pout > c->max_out)
		c->max_out = pout;
	return 0;
}

/*
 * Collect the candidates for in->model into c. GW_OK, GW_NO_MODEL (no
 * active node serves it), GW_NO_CAPACITY (none within max_price or
 * usable) or GW_ERROR.
 */
static int
collect(struct db *db, struct arena *a, const struct gateway_cfg *cfg,
    const struct crypto_keyring *keys, const struct gw_admit *in,
    struct cands *c)
{
	const char	*p[1] = { in->model };
	PGresult	*res;
	int		 i;

	if ((res = db_exec(db, a, &q_candidates, p)) == NULL)
		return GW_ERROR;
	if (PQntuples(res) == 0)
		return GW_NO_MODEL;
	for (i = 0; i < PQntuples(res); i++) {
		if ((in->max_price_in >= 0 &&
		    db_int64(res, i, 4) > in->max_price_in) ||
		    (in->max_price_out >= 0 &&
		    db_int64(res, i, 5) > in->max_price_out))
			continue;
		(void)add_candidate(a, cfg, keys, res, i, c);
	}
	return json_array_size(c->list) > 0 ? GW_OK : GW_NO_CAPACITY;
}

/* Every usable candidate for model, as admit lists them. See gateway.h. */
int
gateway_candidates(struct db *db, struct arena *a,
    const struct gateway_cfg *cfg, const struct crypto_keyring *keys,
    const char *model, json_t **list)
{
	struct cands	 c = { NULL, STR_INIT, STR_INIT, STR_INIT, 0, 0 };
	struct gw_admit	 in;
	int		 rc;

	memset(&in, 0, sizeof(in));
	in.model = model;
	in.max_price_in = in.max_price_out = -1;
	*list = c.list = json_arena(a, json_array());
	rc = collect(db, a, cfg, keys, &in, &c);
	str_free(&c.nodes);
	str_free(&c.price_in);
	str_free(&c.price_out);
	return rc == GW_NO_CAPACITY ? GW_OK : rc;
}

/* Record the admitted request's row; GW_OK or GW_ERROR. */
static int
record(struct db *db, struct arena *a, const struct gw_admit *in,
    int64_t user_id, int64_t key_id, const struct cands *c,
    struct gw_admitted *out)
{
	char		 ip[IPHASH_LEN];
	const char	*p[13];

	memcpy(out->task_id, "t_", 2);
	if (crypto_token_base62(out->task_id + 2, GW_TASK_LEN - 1,
	    GW_TASK_LEN - 2) == -1)
		return GW_ERROR;
	p[9] = NULL;
	if (in->client_ip != NULL && *in->client_ip != '\0') {
		if (iphash(db, a, in->client_ip, ip) == -1)
			return GW_ERROR;
		p[9] = ip;
	}
	p[0] = out->task_id;
	p[1] = db_i64(a, out->hold_id);
	p[2] = db_i64(a, user_id);
	p[3] = db_i64(a, key_id);
	p[4] = in->model;
	p[5] = in->endpoint;
	p[6] = in->stream ? "true" : "false";
	p[7] = db_i64(a, in->prompt_tokens);
	p[8] = db_i64(a, out->max_tokens);
	p[10] = arena_printf(a, "{%s}", str_cstr(&c->nodes));
	p[11] = arena_printf(a, "{%s}", str_cstr(&c->price_in));
	p[12] = arena_printf(a, "{%s}", str_cstr(&c->price_out));
	return db_exec(db, a, &q_insert, p) == NULL ? GW_ERROR : GW_OK;
}

/* The worst case, rounded up to a micro-USD (at least 1); -1 on overflow. */
static int
worst_case(const struct gw_admit *in, const struct cands *c,
    long long max_tokens, int64_t *amount)
{
	int64_t	base;

	if (money_base(in->prompt_tokens, c->max_in, max_tokens, c->max_out,
	    &base) == -1)
		return -1;
	*amount = base / MONEY_UNIT + (base % MONEY_UNIT != 0);
	if (*amount == 0)
		*amount = 1;
	return 0;
}


/* Authenticate, collect, reserve and record, in one transaction. */
int
gateway_admit(struct db *db, struct arena *a, const struct gateway_cfg *cfg,
    const struct crypto_keyring *keys, const struct gw_admit *in,
    struct gw_admitted *out)
{
	struct cands	 c = { NULL, STR_INIT, STR_INIT, STR_INIT, 0, 0 };
	int64_t		 user_id, key_id;
	int		 rc = GW_ERROR;

	memset(out, 0, sizeof(*out));
	out->candidates = c.list = json_arena(a, json_array());
	out->max_tokens = strcmp(in->endpoint, "embeddings") == 0 ? 0 :
	    in->max_tokens;
	if (db_begin(db) == -1)
		return GW_ERROR;
	if ((rc = apikey_lookup(db, a, in->key, &user_id, &key_id,
	    NULL)) != 0) {
		rc = rc == 1 ? GW_BAD_KEY : GW_ERROR;
		goto out;
	}
	if (cfg->per_key_minute > 0 && (rc = ratelimit_hit(db, a,
	    arena_printf(a, "req:key:%" PRId64, key_id), (int)cfg->per_key_minute,
	    60, &out->retry_after)) != 0) {
		rc = rc == 1 ? GW_RATE_LIMITED : GW_ERROR;
		goto out;
	}
	if ((rc = collect(db, a, cfg, keys, in, &c)) != GW_OK)
		goto out;
	if (worst_case(in, &c, out->max_tokens, &out->amount) == -1) {
		rc = GW_TOO_COSTLY;
		goto out;
	}
	switch (hold_reserve(db, a, user_id, out->amount, cfg->hold_ttl,
	    &out->hold_id)) {
	case HOLD_OK:
		rc = record(db, a, in, user_id, key_id, &c, out);
		break;
	case HOLD_INSUFFICIENT:
		rc = GW_INSUFFICIENT;
		break;
	default:
		rc = GW_ERROR;
	}
out:
	str_free(&c.nodes);
	str_free(&c.price_in);
	str_free(&c.price_out);
	return db_finish(db, rc, rc != GW_ERROR, GW_ERROR);
}

/* The request row being settled. */
struct settling {
	int64_t		 id;
	int64_t		 prompt_tokens, max_tokens;	/* the caps */
	int64_t		 price_in, price_out;		/* the server's */
	int64_t		 supplier;			/* its owner */
	const char	*supply_type;
	int64_t		 tokens_in, tokens_out;		/* billed */
	int64_t		 charge, earning;
};

/* Billed tokens: the reported count, else the relay's, at most cap. */
static int64_t
billed(long long reported, long long counted, int64_t cap)
{
	int64_t	n = reported >= 0 ? reported : counted;

	return n < cap ? n : cap;
}

/*
 * Find s->node_id among the request's candidates and fill in its prices,
 * owner and supply type. GW_OK, GW_BAD_NODE or GW_ERROR.
 */
static int
serving_node(struct db *db, struct arena *a, const struct gw_settle *s,
    struct settling *r)
{
	const char	*p[2];
	PGresult	*res;

	p[0] = db_i64(a, r->id);
	p[1] = db_i64(a, s->node_id);
	if ((res = db_exec(db, a, &q_candidate, p)) == NULL)
		return GW_ERROR;
	if (PQntuples(res) != 1)
		return GW_BAD_NODE;
	r->price_in = db_int64(res, 0, 0);
	r->price_out = db_int64(res, 0, 1);
	r->supplier = db_int64(res, 0, 2);
	r->supply_type = arena_strdup(a, PQgetvalue(res, 0, 3));
	return GW_OK;
}

/*
 * Price the billed tokens at the server's prices: charge half up capped
 * at the hold, earning the floor after the fee. 0 or -1 (overflow).
 */
static int
price(const struct gateway_cfg *cfg, int64_t hold_amount, struct settling *r)
{
	struct money_split	m;
	int64_t			base;

	if (money_base(r->tokens_in, r->price_in, r->tokens_out, r->price_out,
	    &base) == -1 || money_split_base(base, cfg->fee_bp, &m) == -1)
		return -1;
	if (m.charge > hold_amount &&
	    money_split_amount(hold_amount, cfg->fee_bp, &m) == -1)
		return -1;
	r->charge = m.charge;
	r->earning = m.earning;
	return 0;
}

/*
 * Move the money of a served request: post the hold (or void it for
 * "rejected" and "unserved"). A hold the reaper already voided bills
 * nothing. GW_OK or GW_ERROR.
 */
static int
move_money(struct db *db, struct arena *a, const struct gateway_cfg *cfg,
    const struct gw_settle *s, struct settling *r)
{
	int64_t	 owner, amount;
	char	 status[8];
	int	 rc;

	if (strcmp(s->status, "rejected") == 0 ||
	    strcmp(s->status, "unserved") == 0) {
		r->tokens_in = r->tokens_out = r->charge = r->earning = 0;
		rc = hold_void(db, a, s->hold_id);
	} else {
		r->tokens_in = billed(s->tokens_in, s->counted_in,
		    r->prompt_tokens);
		r->tokens_out = billed(s->tokens_out, s->counted_out,
		    r->max_tokens);
		if (hold_get(db, a, s->hold_id, &owner, &amount, status) !=
		    HOLD_OK || price(cfg, amount, r) == -1)
			return GW_ERROR;
		rc = hold_post(db, a, s->hold_id, r->charge, r->earning,
		    r->supplier);
	}
	if (rc == HOLD_RESOLVED) {
		log_warn("hold %" PRId64 " was resolved before its settlement;"
		    " nothing billed", s->hold_id);
		r->charge = r->earning = 0;
		return GW_OK;
	}
	return rc == HOLD_OK ? GW_OK : GW_ERROR;
}

/* A nullable count as a parameter: NULL when negative. */
static const char *
opt(struct arena *a, long long v)
{
	return v >= 0 ? db_i64(a, v) : NULL;
}

/* Add a success or failure of the serving node to its health; GW_OK or
 * GW_ERROR. Neutral and missing outcomes do not count. */
static int
count_outcome(struct db *db, struct arena *a, const struct gw_settle *s)
{
	const char	*p[3];
	int		 ok;

	if (s->node_id <= 0 || s->outcome == NULL ||
	    strcmp(s->outcome, "neutral") == 0)
		return GW_OK;
	ok = strcmp(s->outcome, "success") == 0;
	p[0] = db_i64(a, s->node_id);
	p[1] = ok ? "1" : "0";
	p[2] = ok ? "0" : "1";
	return db_exec(db, a, &q_outcome, p) == NULL ? GW_ERROR : GW_OK;
}

/* Complete the request row and count the node's outcome; GW_OK or
 * GW_ERROR. */
static int
complete(struct db *db, struct arena *a, const struct gw_settle *s,
    const struct settling *r)
{
	const char	*p[15];

	p[0] = db_i64(a, r->id);
	p[1] = s->status;
	p[2] = s->node_id > 0 ? db_i64(a, s->node_id) : NULL;
	p[3] = s->node_id > 0 ? r->supply_type : NULL;
	p[4] = s->outcome;
	p[5] = db_i64(a, r->tokens_in);
	p[6] = db_i64(a, r->tokens_out);
	p[7] = opt(a, s->tokens_in);
	p[8] = opt(a, s->tokens_out);
	p[9] = db_i64(a, s->counted_in);
	p[10] = db_i64(a, s->counted_out);
	p[11] = opt(a, s->ttft_ms);
	p[12] = opt(a, s->duration_ms);
	p[13] = db_i64(a, r->charge);
	p[14] = db_i64(a, r->earning);
	if (db_exec(db, a, &q_finish, p) == NULL)
		return GW_ERROR;
	return count_outcome(db, a, s);
}

/* True for the statuses in which a node served (some of) the request. */
static int
served(const char *status)
{
	return strcmp(status, "ok") == 0 || strcmp(status, "cancelled") == 0 ||
	    strcmp(status, "failed") == 0;
}

/* Lock the request, replay or bill it, and complete its row, once. */
int
gateway_settle(struct db *db, struct arena *a, const struct gateway_cfg *cfg,
    const struct gw_settle *s, struct gw_settled *out)
{
	struct settling	 r;
	const char	*p[1];
	PGresult	*res;
	int		 rc = GW_ERROR;

	memset(out, 0, sizeof(*out));
	memset(&r, 0, sizeof(r));
	if (db_begin(db) == -1)
		return GW_ERROR;
	p[0] = db_i64(a, s->hold_id);
	if ((res = db_exec(db, a, &q_lock, p)) == NULL)
		goto out;
	if (PQntuples(res) == 0) {
		rc = GW_NOT_FOUND;
		goto out;
	}
	r.id = db_int64(res, 0, 0);
	if (strcmp(PQgetvalue(res, 0, 1), "admitted") != 0) {
		out->charged = db_int64(res, 0, 2);
		out->earning = db_int64(res, 0, 3);
		out->replayed = 1;
		rc = GW_OK;
		goto out;
	}
	r.prompt_tokens = db_int64(res, 0, 4);
	r.max_tokens = db_int64(res, 0, 5);
	if (s->node_id > 0)
		rc = serving_node(db, a, s, &r);
	else
		rc = served(s->status) ? GW_BAD_NODE : GW_OK;
	if (rc != GW_OK || (rc = move_money(db, a, cfg, s, &r)) != GW_OK ||
	    (rc = complete(db, a, s, &r)) != GW_OK)
		goto out;
	out->charged = r.charge;
	out->earning = r.earning;
out:
	return db_finish(db, rc, rc != GW_ERROR, GW_ERROR);
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
