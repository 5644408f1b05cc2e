/* settle.c: settlement of requests admitted on leases, a batch per transaction */
#include "config.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "db.h"
#include "gateway.h"
#include "hold.h"
#include "iphash.h"
#include "lease.h"
#include "log.h"
#include "money.h"
#include "settle.h"

/* The batch's leases, their holds locked in id order (as hold_draw does). */
static const struct db_stmt q_leases = {
	"settle_leases",
	"SELECT l.id, l.hold_id, l.user_id, coalesce(l.api_key_id, -1)"
	" FROM leases l JOIN holds h ON h.id = l.hold_id"
	" WHERE l.id = ANY ($1::bigint[]) ORDER BY h.id FOR UPDATE OF h",
	1, 0
};
/* Which of the nodes exist, with each one's owner and supply type. */
static const struct db_stmt q_nodes = {
	"settle_nodes",
	"SELECT x.i, n.user_id, n.supply_type FROM unnest($1::bigint[])"
	" WITH ORDINALITY AS x(node, i) JOIN nodes n ON n.id = x.node",
	1, 0
};
/* The requests of the batch settled before, with their results. */
static const struct db_stmt q_seen = {
	"settle_seen",
	"SELECT task_id, cost, earning FROM requests"
	" WHERE task_id = ANY ($1::text[])",
	1, 0
};
/* The charges a hold could not cover in full, corrected. */
static const struct db_stmt q_recost = {
	"settle_recost",
	"UPDATE requests r SET cost = x.cost, earning = x.earn"
	" FROM unnest($1::text[], $2::bigint[], $3::bigint[])"
	"  AS x(task, cost, earn) WHERE r.task_id = x.task",
	3, 0
};
/* Every new request's row, finished, in one statement. */
static const struct db_stmt q_insert = {
	"settle_insert",
	"INSERT INTO requests (task_id, lease_id, user_id, api_key_id, model,"
	" endpoint, stream, prompt_tokens, max_tokens, client_ip_hash,"
	" cand_nodes, cand_price_in, cand_price_out, status, node_id,"
	" supply_type, outcome, tokens_in, tokens_out, reported_in,"
	" reported_out, counted_in, counted_out, ttft_ms, duration_ms, cost,"
	" earning, finished_at)"
	" SELECT task, lease, uid, kid, model, endpoint, stream, pt, mt, ip,"
	"  CASE WHEN node IS NULL THEN '{}' ELSE ARRAY[node] END,"
	"  CASE WHEN node IS NULL THEN '{}' ELSE ARRAY[pin] END,"
	"  CASE WHEN node IS NULL THEN '{}' ELSE ARRAY[pout] END,"
	"  status, node, supply, outcome, tin, tout, rin, rout, cin, cout,"
	"  ttft, dur, cost, earn, now()"
	" FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[],"
	"  $5::text[], $6::text[], $7::boolean[], $8::bigint[], $9::bigint[],"
	"  $10::text[], $11::bigint[], $12::bigint[], $13::bigint[],"
	"  $14::text[], $15::text[], $16::text[], $17::bigint[],"
	"  $18::bigint[], $19::bigint[], $20::bigint[], $21::bigint[],"
	"  $22::bigint[], $23::bigint[], $24::bigint[], $25::bigint[],"
	"  $26::bigint[]) AS x(task, lease, uid, kid, model, endpoint, stream,"
	"  pt, mt, ip, node, pin, pout, status, supply, outcome, tin, tout,"
	"  rin, rout, cin, cout, ttft, dur, cost, earn)"
	" ON CONFLICT (task_id) DO NOTHING RETURNING task_id",
	26, 0
};
/* The nodes' successes and failures, added to today's rows. */
static const struct db_stmt q_outcomes = {
	"settle_outcomes",
	"INSERT INTO node_outcomes (node_id, day, ok, bad)"
	" SELECT node, (now() AT TIME ZONE 'UTC')::date, sum(ok), sum(bad)"
	" FROM unnest($1::bigint[], $2::bigint[], $3::bigint[])"
	"  AS x(node, ok, bad) GROUP BY node"
	" ON CONFLICT (node_id, day) DO UPDATE"
	" SET ok = node_outcomes.ok + EXCLUDED.ok,"
	" bad = node_outcomes.bad + EXCLUDED.bad",
	3, 0
};

/* A lease of the batch. */
struct blease {
	int64_t	id, hold_id, user_id, key_id;
};

/* What the batch knows of each request beyond what the relay sent. */
struct bill {
	struct blease	*lease;
	int64_t		 supplier;	/* the node's owner */
	const char	*supply_type;
	int64_t		 tokens_in, tokens_out;	/* billed */
	int		 served_ok;	/* the node exists */
};

/* The state of one batch. */
struct batch {
	struct settle_req	*r;
	size_t			 n;
	struct bill		*b;
	struct blease		*leases;
	size_t			 nleases;
	const struct gateway_cfg *cfg;
};

/* The lease id of the batch, or NULL. */
static struct blease *
find_lease(struct batch *bt, int64_t id)
{
	size_t	i;

	for (i = 0; i < bt->nleases; i++)
		if (bt->leases[i].id == id)
			return &bt->leases[i];
	return NULL;
}

/*
 * Read and lock the leases of the requests and of close; GW_OK,
 * GW_BAD_ELEMENT (*bad names the first unknown one) or GW_ERROR.
 */
static int
load_leases(struct db *db, struct arena *a, struct batch *bt,
    const int64_t *close, size_t nclose, struct settle_bad *bad)
{
	int64_t		*ids = arena_calloc(a, bt->n + nclose + 1, sizeof(*ids));
	const char	*p[1];
	PGresult	*res;
	size_t		 i;
	int		 r;

	for (i = 0; i < bt->n; i++)
		ids[i] = bt->r[i].lease_id;
	for (i = 0; i < nclose; i++)
		ids[bt->n + i] = close[i];
	p[0] = db_array_i64(a, ids, bt->n + nclose);
	if ((res = db_exec(db, a, &q_leases, p)) == NULL)
		return GW_ERROR;
	bt->nleases = (size_t)PQntuples(res);
	bt->leases = arena_calloc(a, bt->nleases + 1, sizeof(*bt->leases));
	for (r = 0; r < PQntuples(res); r++)
		bt->leases[r] = (struct blease){ db_int64(res, r, 0),
		    db_int64(res, r, 1), db_int64(res, r, 2),
		    db_int64(res, r, 3) };
	for (i = 0; i < bt->n + nclose; i++)
		if (find_lease(bt, ids[i]) == NULL) {
			bad->in_close = i >= bt->n;
			bad->index = i >= bt->n ? i - bt->n : i;
			bad->field = "lease_id";
			return GW_BAD_ELEMENT;
		}
	for (i = 0; i < bt->n; i++)
		bt->b[i].lease = find_lease(bt, bt->r[i].lease_id);
	return GW_OK;
}

/*
 * Check that each serving node exists, and learn its owner and supply
 * type; GW_OK, GW_BAD_ELEMENT or GW_ERROR. Whether it still serves the
 * model does not matter: the request was admitted when it did, at the
 * prices the relay sends (a supplier who drops a model or a node while a
 * request is in flight still earns for it, and the batch stays whole).
 */
static int
load_nodes(struct db *db, struct arena *a, struct batch *bt,
    struct settle_bad *bad)
{
	int64_t		*nodes = arena_calloc(a, bt->n + 1, sizeof(*nodes));
	const char	*p[1];
	PGresult	*res;
	size_t		 i, k;
	int		 r;

	for (i = 0; i < bt->n; i++)
		nodes[i] = bt->r[i].node_id > 0 ? bt->r[i].node_id : -1;
	p[0] = db_array_opt(a, nodes, bt->n);
	if ((res = db_exec(db, a, &q_nodes, p)) == NULL)
		return GW_ERROR;
	for (r = 0; r < PQntuples(res); r++) {
		k = (size_t)db_int64(res, r, 0) - 1;
		bt->b[k].served_ok = 1;
		bt->b[k].supplier = db_int64(res, r, 1);
		bt->b[k].supply_type = arena_strdup(a, PQgetvalue(res, r, 2));
	}
	for (i = 0; i < bt->n; i++)
		if (bt->r[i].node_id > 0 && !bt->b[i].served_ok) {
			bad->in_close = 0;
			bad->index = i;
			bad->field = "node_id";
			return GW_BAD_ELEMENT;
		}
	return GW_OK;
}

/*
 * Tokens an answer's text bytes may hold beyond one a byte: the end of
 * turn and other special tokens that print nothing.
 */
#define SILENT_TOKENS	16

/*
 * Billed tokens: the node's reported count when it is a count that could
 * be true, else the relay's; at most cap. A report above cap (the input's
 * cap is the request's bytes, the output's the max_tokens sent) or above
 * most (the most tokens the text forwarded could hold; -1: no bound) is
 * not one: billed as if the node had reported nothing, so inflating a
 * report can never raise the bill past our own count.
 */
static int64_t
billed(long long reported, long long counted, long long cap, long long most)
{
	long long	n = counted;

	if (reported >= 0 && reported <= cap && (most < 0 || reported <= most))
		n = reported;
	return n < cap ? n : cap;
}

/* True for the statuses in which a node served (some of) the request. */
static int
served(const char *status)
{
	return strcmp(status, "ok") == 0 || strcmp(status, "cancelled") == 0 ||
	    strcmp(status, "failed") == 0;
}

/*
 * Price request r before its draw: the capped tokens at its prices,
 * charge half up, earning the floor after the fee; a charge above
 * reserved (or one that overflows, which can only be above it) is
 * reserved, split at the fee as well. A request served by the
 * consumer's own node is free and earns nothing, and is neutral for the
 * node's health: otherwise it would turn credit (bought, granted or
 * promotional) into payable earnings (docs/payouts.md).
 */
static void
price(const struct gateway_cfg *cfg, struct settle_req *r, struct bill *b)
{
	struct money_split	m;
	int64_t			base;

	r->charged = r->earning = 0;
	b->tokens_in = b->tokens_out = 0;
	if (!served(r->status))
		return;
	b->tokens_in = billed(r->tokens_in, r->counted_in, r->prompt_tokens,
	    -1);
	b->tokens_out = strcmp(r->endpoint, "embeddings") == 0 ? 0 :
	    billed(r->tokens_out, r->counted_out, r->max_tokens,
	    r->bytes_out < 0 ? -1 : r->bytes_out + SILENT_TOKENS);
	if (b->supplier == b->lease->user_id) {
		r->outcome = "neutral";
		return;
	}
	if ((money_base(b->tokens_in, r->price_in, b->tokens_out, r->price_out,
	    &base) == -1 || money_split_base(base, cfg->fee_bp, &m) == -1 ||
	    m.charge > r->reserved) &&
	    money_split_amount(r->reserved, cfg->fee_bp, &m) == -1)
		m.charge = m.earning = 0;	/* reserved is never negative */
	r->charged = m.charge;
	r->earning = m.earning < m.charge ? m.earning : m.charge;
}

/* Parallel arrays of the requests' rows, for q_insert. */
struct rows {
	const char	**task, **model, **endpoint, **stream, **ip, **status;
	const char	**supply, **outcome;
	int64_t		 *lease, *uid, *kid, *pt, *mt, *node, *pin, *pout;
	int64_t		 *tin, *tout, *rin, *rout, *cin, *cout, *ttft, *dur;
	int64_t		 *cost, *earn;
};

/* Allocate every array of rows for n requests. */
static void
rows_alloc(struct arena *a, struct rows *w, size_t n)
{
	const char	***s[] = { &w->task, &w->model, &w->endpoint,
	    &w->stream, &w->ip, &w->status, &w->supply, &w->outcome };
	int64_t		**v[] = { &w->lease, &w->uid, &w->kid, &w->pt,
	    &w->mt, &w->node, &w->pin, &w->pout, &w->tin, &w->tout, &w->rin,
	    &w->rout, &w->cin, &w->cout, &w->ttft, &w->dur, &w->cost,
	    &w->earn };
	size_t		 i;

	for (i = 0; i < sizeof(s) / sizeof(s[0]); i++)
		*s[i] = arena_calloc(a, n + 1, sizeof(char *));
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		*v[i] = arena_calloc(a, n + 1, sizeof(int64_t));
}

/* Put request k of the batch in row k; 0 or -1 (hashing the address). */
static int
row(struct db *db, struct arena *a, struct batch *bt, struct rows *w,
    size_t k)
{
	const struct settle_req	*r = &bt->r[k];
	const struct bill	*b = &bt->b[k];
	char			*ip;

	w->task[k] = r->request_id;
	w->lease[k] = b->lease->id;
	w->uid[k] = b->lease->user_id;
	w->kid[k] = b->lease->key_id;
	w->model[k] = r->model;
	w->endpoint[k] = r->endpoint;
	w->stream[k] = r->stream ? "true" : "false";
	w->pt[k] = r->prompt_tokens;
	w->mt[k] = strcmp(r->endpoint, "embeddings") == 0 ? 0 : r->max_tokens;
	if (r->client_ip != NULL && *r->client_ip != '\0') {
		ip = arena_alloc(a, IPHASH_LEN);
		if (iphash(db, a, r->client_ip, ip) == -1)
			return -1;
		w->ip[k] = ip;
	}
	w->node[k] = r->node_id > 0 ? r->node_id : -1;
	w->pin[k] = r->price_in;
	w->pout[k] = r->price_out;
	w->status[k] = r->status;
	w->supply[k] = r->node_id > 0 ? b->supply_type : NULL;
	w->outcome[k] = r->outcome;
	w->tin[k] = b->tokens_in;
	w->tout[k] = b->tokens_out;
	w->rin[k] = r->tokens_in;
	w->rout[k] = r->tokens_out;
	w->cin[k] = r->counted_in;
	w->cout[k] = r->counted_out;
	w->ttft[k] = r->ttft_ms;
	w->dur[k] = r->duration_ms;
	w->cost[k] = r->charged;
	w->earn[k] = r->earning;
	return 0;
}

/*
 * Some rows were not written (ins: the task ids that were): mark the
 * others as replays, with the results of their first settlement; 0 or -1.
 */
static int
mark_replays(struct db *db, struct arena *a, struct batch *bt,
    PGresult *ins)
{
	const char	**ids = arena_calloc(a, bt->n + 1, sizeof(*ids));
	const char	*p[1];
	PGresult	*res;
	size_t		 i, k = 0;
	int		 r;

	for (i = 0; i < bt->n; i++) {
		bt->r[i].replayed = 1;
		for (r = 0; r < PQntuples(ins); r++)
			if (strcmp(bt->r[i].request_id, PQgetvalue(ins, r,
			    0)) == 0)
				bt->r[i].replayed = 0;
		if (bt->r[i].replayed)
			ids[k++] = bt->r[i].request_id;
	}
	p[0] = db_array_str(a, ids, k);
	if ((res = db_exec(db, a, &q_seen, p)) == NULL)
		return -1;
	if ((size_t)PQntuples(res) != k) {
		log_error("settle: %zu requests neither written nor found",
		    k - (size_t)PQntuples(res));
		return -1;
	}
	for (r = 0; r < PQntuples(res); r++)
		for (i = 0; i < bt->n; i++)
			if (bt->r[i].replayed && strcmp(bt->r[i].request_id,
			    PQgetvalue(res, r, 0)) == 0) {
				bt->r[i].charged = db_int64(res, r, 1);
				bt->r[i].earning = db_int64(res, r, 2);
			}
	return 0;
}

/*
 * Write every request's row, priced, in one statement; the unique task id
 * turns away those settled before (a replay, or a batch settling them
 * concurrently, whose commit the insert waits for). 0 or -1.
 */
static int
insert_rows(struct db *db, struct arena *a, struct batch *bt)
{
	struct rows	 w;
	const char	*p[26];
	PGresult	*res;
	size_t		 i;

	if (bt->n == 0)
		return 0;
	rows_alloc(a, &w, bt->n);
	for (i = 0; i < bt->n; i++) {
		price(bt->cfg, &bt->r[i], &bt->b[i]);
		if (row(db, a, bt, &w, i) == -1)
			return -1;
	}
	p[0] = db_array_str(a, w.task, bt->n);
	p[1] = db_array_i64(a, w.lease, bt->n);
	p[2] = db_array_i64(a, w.uid, bt->n);
	p[3] = db_array_opt(a, w.kid, bt->n);
	p[4] = db_array_str(a, w.model, bt->n);
	p[5] = db_array_str(a, w.endpoint, bt->n);
	p[6] = db_array_str(a, w.stream, bt->n);
	p[7] = db_array_i64(a, w.pt, bt->n);
	p[8] = db_array_i64(a, w.mt, bt->n);
	p[9] = db_array_str(a, w.ip, bt->n);
	p[10] = db_array_opt(a, w.node, bt->n);
	p[11] = db_array_i64(a, w.pin, bt->n);
	p[12] = db_array_i64(a, w.pout, bt->n);
	p[13] = db_array_str(a, w.status, bt->n);
	p[14] = db_array_str(a, w.supply, bt->n);
	p[15] = db_array_str(a, w.outcome, bt->n);
	p[16] = db_array_i64(a, w.tin, bt->n);
	p[17] = db_array_i64(a, w.tout, bt->n);
	p[18] = db_array_opt(a, w.rin, bt->n);
	p[19] = db_array_opt(a, w.rout, bt->n);
	p[20] = db_array_i64(a, w.cin, bt->n);
	p[21] = db_array_i64(a, w.cout, bt->n);
	p[22] = db_array_opt(a, w.ttft, bt->n);
	p[23] = db_array_opt(a, w.dur, bt->n);
	p[24] = db_array_i64(a, w.cost, bt->n);
	p[25] = db_array_i64(a, w.earn, bt->n);
	if ((res = db_exec(db, a, &q_insert, p)) == NULL)
		return -1;
	return (size_t)PQntuples(res) == bt->n ? 0 : mark_replays(db, a, bt,
	    res);
}

/*
 * Draw the new requests' charges on their leases' holds; where a hold had
 * less left than a charge, correct the request's row to what was drawn.
 * 0 or -1.
 */
static int
draw_all(struct db *db, struct arena *a, struct batch *bt)
{
	struct hold_draw	*d = arena_calloc(a, bt->n + 1, sizeof(*d));
	size_t			*of = arena_calloc(a, bt->n + 1, sizeof(*of));
	const char		**task, *p[3];
	int64_t			*cost, *earn;
	size_t			 i, k = 0, nfix = 0;

	for (i = 0; i < bt->n; i++) {
		if (bt->r[i].replayed || bt->r[i].charged == 0)
			continue;
		d[k] = (struct hold_draw){ bt->b[i].lease->hold_id,
		    bt->r[i].charged, bt->r[i].earning, bt->b[i].supplier,
		    bt->r[i].request_id };
		of[k++] = i;
	}
	if (hold_draw_many(db, a, d, k) != HOLD_OK)
		return -1;
	task = arena_calloc(a, k + 1, sizeof(*task));
	cost = arena_calloc(a, k + 1, sizeof(*cost));
	earn = arena_calloc(a, k + 1, sizeof(*earn));
	for (i = 0; i < k; i++) {
		if (d[i].charge == bt->r[of[i]].charged &&
		    d[i].earning == bt->r[of[i]].earning)
			continue;
		bt->r[of[i]].charged = d[i].charge;
		bt->r[of[i]].earning = d[i].earning;
		task[nfix] = bt->r[of[i]].request_id;
		cost[nfix] = d[i].charge;
		earn[nfix++] = d[i].earning;
	}
	if (nfix == 0)
		return 0;
	p[0] = db_array_str(a, task, nfix);
	p[1] = db_array_i64(a, cost, nfix);
	p[2] = db_array_i64(a, earn, nfix);
	return db_exec(db, a, &q_recost, p) == NULL ? -1 : 0;
}

/* Count the new requests' successes and failures per node; 0 or -1. */
static int
count_outcomes(struct db *db, struct arena *a, struct batch *bt)
{
	int64_t		*node = arena_calloc(a, bt->n + 1, sizeof(int64_t));
	int64_t		*ok = arena_calloc(a, bt->n + 1, sizeof(int64_t));
	int64_t		*bad = arena_calloc(a, bt->n + 1, sizeof(int64_t));
	const char	*p[3];
	size_t		 i, k = 0;

	for (i = 0; i < bt->n; i++) {
		if (bt->r[i].replayed || bt->r[i].node_id <= 0 ||
		    bt->r[i].outcome == NULL ||
		    strcmp(bt->r[i].outcome, "neutral") == 0)
			continue;
		node[k] = bt->r[i].node_id;
		ok[k] = strcmp(bt->r[i].outcome, "success") == 0;
		bad[k] = !ok[k];
		k++;
	}
	if (k == 0)
		return 0;
	p[0] = db_array_i64(a, node, k);
	p[1] = db_array_i64(a, ok, k);
	p[2] = db_array_i64(a, bad, k);
	return db_exec(db, a, &q_outcomes, p) == NULL ? -1 : 0;
}

/* Lock, check, write, bill, count, close: one transaction. See settle.h. */
int
settle_batch(struct db *db, struct arena *a, const struct gateway_cfg *cfg,
    struct settle_req *reqs, size_t n, const int64_t *close, size_t nclose,
    struct settle_bad *bad)
{
	struct batch	bt;
	int		rc;

	memset(&bt, 0, sizeof(bt));
	bt.r = reqs;
	bt.n = n;
	bt.b = arena_calloc(a, n + 1, sizeof(*bt.b));
	bt.cfg = cfg;
	if (db_begin(db) == -1)
		return GW_ERROR;
	if ((rc = load_leases(db, a, &bt, close, nclose, bad)) != GW_OK ||
	    (rc = load_nodes(db, a, &bt, bad)) != GW_OK)
		goto out;
	rc = GW_ERROR;
	if (insert_rows(db, a, &bt) == -1 ||
	    draw_all(db, a, &bt) == -1 ||
	    count_outcomes(db, a, &bt) == -1 ||
	    lease_close(db, a, close, nclose) != GW_OK)
		goto out;
	rc = GW_OK;
out:
	return db_finish(db, rc, rc == GW_OK, GW_ERROR);
}
