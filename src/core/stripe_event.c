/* stripe_event.c: Stripe's webhooks: each event once, and what it does to the ledger */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "arena.h"
#include "db.h"
#include "json.h"
#include "ledger.h"
#include "log.h"
#include "str.h"
#include "stripe.h"
#include "whsig.h"

#define MINOR		10000LL		/* micro-USD per cent */
#define BODY_MAX	(256 * 1024)

/* What applying an event can come to, besides a database error. */
enum outcome { APPLIED, SKIPPED, FAILED };

struct ev {
	struct db	*db;
	struct arena	*a;
	const char	*id;		/* evt_… */
	const char	*type;
	json_t		*obj;		/* data.object */
	const char	*outcome;	/* what it did */
	int64_t		 topup_id;	/* 0: none found */
	const char	*pi;		/* the payment intent, when it names one */
	json_t		*keep;		/* deferred: the numbers to apply it later */
};

/* The top-up a payment belongs to, locked. */
struct topup {
	int64_t		 id, user_id, amount, minor, refunded, disputed;
	const char	*status, *currency;
};

static const struct db_stmt q_record = {
	"stripe_event_record",
	"INSERT INTO stripe_events (id, type, outcome) VALUES ($1, $2, 'new')"
	" ON CONFLICT (id) DO NOTHING RETURNING id",
	2, 0
};
static const struct db_stmt q_done = {
	"stripe_event_done",
	"UPDATE stripe_events SET outcome = $2, topup_id = $3,"
	" payment_intent = $4, data = $5::jsonb, applied_at = CASE WHEN $2 <>"
	" 'deferred' THEN now() END WHERE id = $1",
	5, 0
};
#define TOPUP_COLS "id, user_id, amount, amount_minor, refunded, disputed," \
	" status, currency"
static const struct db_stmt q_topup_session = {
	"stripe_topup_session",
	"SELECT " TOPUP_COLS " FROM topups WHERE id = $1"
	" AND stripe_session_id = $2 FOR UPDATE",
	2, 0
};
static const struct db_stmt q_topup_pi = {
	"stripe_topup_pi",
	"SELECT " TOPUP_COLS " FROM topups WHERE payment_intent = $1 FOR UPDATE",
	1, 0
};
static const struct db_stmt q_paid = {
	"stripe_topup_paid",
	"UPDATE topups SET status = 'paid', paid_at = now(), payment_intent ="
	" coalesce(payment_intent, $2), updated_at = now() WHERE id = $1",
	2, 0
};
static const struct db_stmt q_status = {
	"stripe_topup_status",
	"UPDATE topups SET status = $2, payment_intent = coalesce(payment_intent,"
	" $3), updated_at = now() WHERE id = $1",
	3, 0
};
static const struct db_stmt q_refunded = {
	"stripe_topup_refunded",
	"UPDATE topups SET refunded = $2, updated_at = now() WHERE id = $1",
	2, 0
};
static const struct db_stmt q_disputed = {
	"stripe_topup_disputed",
	"UPDATE topups SET disputed = disputed + $2, updated_at = now()"
	" WHERE id = $1",
	2, 0
};
/* A dispute, the first time one of its events comes. */
static const struct db_stmt q_dispute_new = {
	"stripe_dispute_new",
	"INSERT INTO disputes (id, topup_id, amount_minor, status)"
	" VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING",
	4, 0
};
static const struct db_stmt q_dispute_lock = {
	"stripe_dispute_lock",
	"SELECT taken, returned, amount_minor FROM disputes WHERE id = $1"
	" FOR UPDATE",
	1, 0
};
static const struct db_stmt q_dispute_set = {
	"stripe_dispute_set",
	"UPDATE disputes SET status = $2, taken = $3, returned = $4,"
	" updated_at = now() WHERE id = $1",
	4, 0
};
static const struct db_stmt q_owed = {
	"stripe_owed",
	"SELECT owed FROM users WHERE id = $1 FOR NO KEY UPDATE", 1, 0
};
static const struct db_stmt q_owed_add = {
	"stripe_owed_add",
	"UPDATE users SET owed = owed + $2 WHERE id = $1", 2, 0
};
static const struct db_stmt q_avail = {
	"stripe_avail",
	"SELECT kind, id, balance - held FROM ledger_accounts WHERE user_id = $1"
	" ORDER BY kind",		/* credit, then earnings */
	1, 0
};
static const struct db_stmt q_deferred = {
	"stripe_deferred",
	"SELECT id, type, data::text FROM stripe_events WHERE payment_intent = $1"
	" AND outcome = 'deferred' ORDER BY received_at, id FOR UPDATE",
	1, 0
};

/* A platform account's id; -1 on error. */
static int64_t
platform(struct ev *e, enum ledger_kind k)
{
	int64_t	id;

	return ledger_account_id(e->db, e->a, k, 0, &id) == LEDGER_OK ? id : -1;
}

/*
 * One transfer: 0 made, 1 made before (its key; nothing to do, and what
 * goes with it was done then too), -1 error.
 */
static int
move(struct ev *e, int64_t from, int64_t to, int64_t amount, const char *kind,
    const char *key)
{
	int	rc;

	if (amount <= 0)
		return 1;
	rc = ledger_transfer(e->db, e->a, from, to, amount, kind, key, 0);
	if (rc == LEDGER_DUPLICATE)
		return 1;
	if (rc != LEDGER_OK) {
		log_error("stripe event %s: transfer %s failed (%d)", e->id, key,
		    rc);
		return -1;
	}
	return 0;
}

/*
 * Serialize the events about one payment: a refund that comes while its
 * checkout's completion is being applied waits for it, instead of not
 * seeing the payment yet and waiting for ever as deferred.
 */
static const struct db_stmt q_payment_lock = {
	"stripe_payment_lock",
	"SELECT pg_advisory_xact_lock(hashtextextended($1, 1785688692))",
	1, 0
};

static int
lock_payment(struct ev *e, const char *pi)
{
	const char	*p[1] = { pi };

	return pi == NULL || db_exec(e->db, e->a, &q_payment_lock, p) != NULL ?
	    0 : -1;
}

/*
 * Pay what the account owes from what it can spend, credit first:
 * to the receivable account, owed lowered to match.
 */
static int
repay(struct ev *e, int64_t user_id, const char *base)
{
	const char	*p[2] = { db_i64(e->a, user_id), NULL }, *key;
	PGresult	*res, *acc;
	int64_t		 owed, recv, x;
	int		 r, rc;

	if ((res = db_exec(e->db, e->a, &q_owed, p)) == NULL ||
	    PQntuples(res) != 1)
		return -1;
	if ((owed = db_int64(res, 0, 0)) == 0)
		return 0;
	if ((recv = platform(e, LEDGER_RECEIVABLE)) == -1 ||
	    (acc = db_exec(e->db, e->a, &q_avail, p)) == NULL)
		return -1;
	for (r = 0; r < PQntuples(acc) && owed > 0; r++) {
		x = db_int64(acc, r, 2) < owed ? db_int64(acc, r, 2) : owed;
		if (x <= 0)
			continue;
		key = arena_printf(e->a, "%s:repay:%s", base,
		    PQgetvalue(acc, r, 0));
		if ((rc = move(e, db_int64(acc, r, 1), recv, x, "debt_repaid",
		    key)) == -1)
			return -1;
		owed -= x;
		if (rc == 1)
			continue;
		p[1] = db_i64(e->a, -x);
		if (db_exec(e->db, e->a, &q_owed_add, p) == NULL ||
		    ledger_event(e->db, e->a, user_id, "debt_repaid", -x, key,
		    NULL) != LEDGER_OK)
			return -1;
	}
	return 0;
}

/*
 * Take amount back to Stripe (a refund, a dispute): from what the account
 * can spend, credit first; what it already spent becomes owed, carried by
 * the receivable account.
 */
static int
take_back(struct ev *e, int64_t user_id, int64_t amount, const char *kind,
    const char *base)
{
	const char	*p[2] = { db_i64(e->a, user_id), NULL };
	PGresult	*acc;
	int64_t		 stripe, recv, x;
	int		 r;

	if ((stripe = platform(e, LEDGER_STRIPE)) == -1 ||
	    (recv = platform(e, LEDGER_RECEIVABLE)) == -1 ||
	    db_exec(e->db, e->a, &q_owed, p) == NULL ||	/* lock the account */
	    (acc = db_exec(e->db, e->a, &q_avail, p)) == NULL)
		return -1;
	for (r = 0; r < PQntuples(acc) && amount > 0; r++) {
		x = db_int64(acc, r, 2) < amount ? db_int64(acc, r, 2) : amount;
		if (x <= 0)
			continue;
		if (move(e, db_int64(acc, r, 1), stripe, x, kind,
		    arena_printf(e->a, "%s:%s", base, PQgetvalue(acc, r, 0))) ==
		    -1)
			return -1;
		amount -= x;
	}
	if (amount > 0) {
		if ((r = move(e, recv, stripe, amount, kind, arena_printf(e->a,
		    "%s:owed", base))) != 0)
			return r == -1 ? -1 : 0;
		p[1] = db_i64(e->a, amount);
		if (db_exec(e->db, e->a, &q_owed_add, p) == NULL)
			return -1;
		log_info("stripe event %s: account %" PRId64 " owes %" PRId64
		    " more", e->id, user_id, amount);
	}
	return 0;
}

/* Give amount back (a dispute won): what is owed first, then credit. */
static int
give_back(struct ev *e, int64_t user_id, int64_t amount, const char *base)
{
	const char	*p[2] = { db_i64(e->a, user_id), NULL };
	PGresult	*res;
	int64_t		 stripe, recv, owed, x, credit;
	int		 rc;

	if ((stripe = platform(e, LEDGER_STRIPE)) == -1 ||
	    (recv = platform(e, LEDGER_RECEIVABLE)) == -1 ||
	    ledger_account_id(e->db, e->a, LEDGER_CREDIT, user_id, &credit) !=
	    LEDGER_OK || (res = db_exec(e->db, e->a, &q_owed, p)) == NULL ||
	    PQntuples(res) != 1)
		return -1;
	owed = db_int64(res, 0, 0);
	x = owed < amount ? owed : amount;
	if (x > 0) {
		if ((rc = move(e, stripe, recv, x, "dispute_won",
		    arena_printf(e->a, "%s:owed", base))) == -1)
			return -1;
		p[1] = db_i64(e->a, -x);
		if (rc == 0 && db_exec(e->db, e->a, &q_owed_add, p) == NULL)
			return -1;
	}
	return move(e, stripe, credit, amount - x, "dispute_won",
	    arena_printf(e->a, "%s:credit", base)) == -1 ? -1 : 0;
}

/* Fill t from row 0 of res. */
static void
topup_fill(PGresult *res, struct topup *t)
{
	t->id = db_int64(res, 0, 0);
	t->user_id = db_int64(res, 0, 1);
	t->amount = db_int64(res, 0, 2);
	t->minor = db_int64(res, 0, 3);
	t->refunded = db_int64(res, 0, 4);
	t->disputed = db_int64(res, 0, 5);
	t->status = PQgetvalue(res, 0, 6);
	t->currency = PQgetvalue(res, 0, 7);
}

/* The top-up paid by payment intent e->pi, locked: 1, 0 none, -1 error. */
static int
topup_of_payment(struct ev *e, struct topup *t)
{
	const char	*p[1] = { e->pi };
	PGresult	*res;

	if (e->pi == NULL)
		return 0;
	if (lock_payment(e, e->pi) == -1 ||
	    (res = db_exec(e->db, e->a, &q_topup_pi, p)) == NULL)
		return -1;
	if (PQntuples(res) == 0)
		return 0;
	topup_fill(res, t);
	e->topup_id = t->id;
	return 1;
}

/* Credit a paid top-up once, repay what its account owes, then apply what waited. */
static int apply_deferred(struct ev *, const char *pi);

static int
credit_topup(struct ev *e, struct topup *t)
{
	const char	*p[2] = { db_i64(e->a, t->id), e->pi };
	const char	*base = arena_printf(e->a, "stripe:topup:%" PRId64, t->id);
	const char	*u[1] = { db_i64(e->a, t->user_id) };
	int64_t		 stripe, credit;

	if (strcmp(t->status, "paid") == 0) {
		e->outcome = "already_credited";
		return 0;
	}
	/* The account's row first, as refunds lock it: no two wait in a cycle. */
	if (db_exec(e->db, e->a, &q_owed, u) == NULL ||
	    (stripe = platform(e, LEDGER_STRIPE)) == -1 ||
	    ledger_open_user(e->db, e->a, t->user_id) != LEDGER_OK ||
	    ledger_account_id(e->db, e->a, LEDGER_CREDIT, t->user_id,
	    &credit) != LEDGER_OK ||
	    move(e, stripe, credit, t->amount, "topup", base) == -1 ||
	    ledger_event(e->db, e->a, t->user_id, "topup", t->amount, base,
	    arena_printf(e->a, "{\"topup_id\": %" PRId64 "}", t->id)) !=
	    LEDGER_OK || db_exec(e->db, e->a, &q_paid, p) == NULL ||
	    repay(e, t->user_id, base) == -1)
		return -1;
	e->outcome = "credited";
	log_info("topup %" PRId64 " credited", t->id);
	return e->pi != NULL ? apply_deferred(e, e->pi) : 0;
}

/* checkout.session.*: the top-up named by the session's metadata. */
static int
on_session(struct ev *e)
{
	const char	*sid = json_string_value(json_object_get(e->obj, "id"));
	const char	*ref, *cur, *pay, *p[3];
	json_t		*md = json_object_get(e->obj, "metadata");
	struct topup	 t;
	PGresult	*res;

	ref = json_string_value(json_object_get(md, "topup_id"));
	if (ref == NULL)
		ref = json_string_value(json_object_get(e->obj,
		    "client_reference_id"));
	e->pi = json_string_value(json_object_get(e->obj, "payment_intent"));
	if (sid == NULL || ref == NULL || strspn(ref, "0123456789") !=
	    strlen(ref) || strlen(ref) == 0 || strlen(ref) > 18) {
		e->outcome = "unknown_topup";
		return 0;
	}
	p[0] = ref;
	p[1] = sid;
	if (lock_payment(e, e->pi) == -1 ||
	    (res = db_exec(e->db, e->a, &q_topup_session, p)) == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		e->outcome = "unknown_topup";
		return 0;
	}
	topup_fill(res, &t);
	e->topup_id = t.id;
	cur = json_string_value(json_object_get(e->obj, "currency"));
	pay = json_string_value(json_object_get(e->obj, "payment_status"));
	if (strcmp(e->type, "checkout.session.expired") == 0) {
		e->outcome = "expired";
		p[1] = "expired";
		p[2] = NULL;
		return strcmp(t.status, "open") != 0 ? 0 :
		    db_exec(e->db, e->a, &q_status, p) == NULL ? -1 : 0;
	}
	if (json_integer_value(json_object_get(e->obj, "amount_total")) !=
	    t.minor || cur == NULL || strcmp(cur, t.currency) != 0) {
		log_warn("stripe event %s: amount or currency differs from "
		    "topup %" PRId64, e->id, t.id);
		e->outcome = "mismatch";
		return 0;
	}
	if (strcmp(e->type, "checkout.session.async_payment_failed") == 0) {
		e->outcome = "payment_failed";
		p[1] = "failed";
		p[2] = e->pi;
		return strcmp(t.status, "paid") == 0 ? 0 :
		    db_exec(e->db, e->a, &q_status, p) == NULL ? -1 : 0;
	}
	if (pay != NULL && strcmp(pay, "paid") == 0)
		return credit_topup(e, &t);
	/* Completed but not paid yet: a bank debit that settles later. */
	e->outcome = "processing";
	p[1] = "processing";
	p[2] = e->pi;
	if (strcmp(t.status, "open") != 0 && strcmp(t.status, "creating") != 0)
		return 0;
	return db_exec(e->db, e->a, &q_status, p) == NULL ? -1 : 0;
}

/*
 * The event's projection kept while deferred: the fields apply() reads,
 * nothing else (a charge carries the payer's name and address).
 */
static json_t *
project(json_t *obj)
{
	static const char *const keep[] = { "id", "object", "payment_intent",
	    "amount", "amount_refunded", "currency", "status" };
	json_t	*out = json_object(), *v;
	size_t	 i;

	for (i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
		if ((v = json_object_get(obj, keep[i])) != NULL &&
		    (json_is_string(v) || json_is_integer(v)))
			json_object_set(out, keep[i], v);
	return out;
}

/* Keep a refund or a dispute for a payment not paid yet; applied when it is. */
static int
defer(struct ev *e)
{
	e->outcome = "deferred";
	e->keep = project(e->obj);
	return 0;
}

/* charge.refunded: amount_refunded is cumulative; take back what is new. */
static int
on_refund(struct ev *e)
{
	const char	*cur = json_string_value(json_object_get(e->obj, "currency"));
	const char	*ch = json_string_value(json_object_get(e->obj, "id"));
	json_int_t	 total = json_integer_value(json_object_get(e->obj,
			    "amount_refunded"));
	const char	*p[2];
	struct topup	 t;
	int		 rc;

	if ((rc = topup_of_payment(e, &t)) != 1)
		return rc == -1 ? -1 : defer(e);
	if (strcmp(t.status, "paid") != 0)
		return defer(e);
	if (ch == NULL || cur == NULL || strcmp(cur, t.currency) != 0 ||
	    total < 0 || total > t.minor) {
		e->outcome = "mismatch";
		return 0;
	}
	if (total <= t.refunded) {
		e->outcome = "already_refunded";
		return 0;
	}
	if (take_back(e, t.user_id, (total - t.refunded) * MINOR, "refund",
	    arena_printf(e->a, "stripe:refund:%s:%lld", ch, (long long)total))
	    == -1 || ledger_event(e->db, e->a, t.user_id, "refund",
	    -(total - t.refunded) * MINOR, NULL, arena_printf(e->a,
	    "{\"topup_id\": %" PRId64 "}", t.id)) != LEDGER_OK)
		return -1;
	p[0] = db_i64(e->a, t.id);
	p[1] = db_i64(e->a, total);
	if (db_exec(e->db, e->a, &q_refunded, p) == NULL)
		return -1;
	e->outcome = "refunded";
	return 0;
}

/*
 * charge.dispute.*: the disputed amount is taken back when Stripe takes the
 * funds (created, unless it is an inquiry, whose status starts with
 * "warning_" and takes nothing; funds_withdrawn; closed as lost) and given
 * back once when they come back (funds_reinstated; closed as won). Each
 * once, in whatever order the events come: a dispute given back before it
 * was taken is never taken.
 */
static int
on_dispute(struct ev *e)
{
	const char	*dp = json_string_value(json_object_get(e->obj, "id"));
	const char	*st = json_string_value(json_object_get(e->obj, "status"));
	const char	*cur = json_string_value(json_object_get(e->obj, "currency"));
	json_int_t	 amount = json_integer_value(json_object_get(e->obj,
			    "amount"));
	const char	*p[5], *base;
	struct topup	 t;
	PGresult	*res;
	int		 rc, give, take, taken, returned;

	if ((rc = topup_of_payment(e, &t)) != 1)
		return rc == -1 ? -1 : defer(e);
	if (strcmp(t.status, "paid") != 0)
		return defer(e);
	if (dp == NULL || strncmp(dp, "dp_", 3) != 0 || st == NULL ||
	    cur == NULL || strcmp(cur, t.currency) != 0 || amount <= 0 ||
	    amount > t.minor) {
		e->outcome = "mismatch";
		return 0;
	}
	give = strcmp(e->type, "charge.dispute.funds_reinstated") == 0 ||
	    (strcmp(e->type, "charge.dispute.closed") == 0 &&
	    strcmp(st, "won") == 0);
	take = !give && (strcmp(e->type, "charge.dispute.funds_withdrawn") ==
	    0 || (strcmp(e->type, "charge.dispute.created") == 0 &&
	    strncmp(st, "warning_", 8) != 0) ||
	    (strcmp(e->type, "charge.dispute.closed") == 0 &&
	    strcmp(st, "lost") == 0));
	base = arena_printf(e->a, "stripe:dispute:%s", dp);
	p[0] = dp;
	p[1] = db_i64(e->a, t.id);
	p[2] = db_i64(e->a, amount);
	p[3] = st;
	if (db_exec(e->db, e->a, &q_dispute_new, p) == NULL ||
	    (res = db_exec(e->db, e->a, &q_dispute_lock, p)) == NULL ||
	    PQntuples(res) != 1)
		return -1;
	taken = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	returned = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
	amount = db_int64(res, 0, 2);
	e->outcome = "dispute_updated";
	if (take && !taken && !returned) {
		if (take_back(e, t.user_id, amount * MINOR, "dispute",
		    arena_printf(e->a, "%s:taken", base)) == -1 ||
		    ledger_event(e->db, e->a, t.user_id, "dispute",
		    -amount * MINOR, NULL, arena_printf(e->a,
		    "{\"topup_id\": %" PRId64 "}", t.id)) != LEDGER_OK)
			return -1;
		taken = 1;
		p[1] = db_i64(e->a, amount);
		e->outcome = "dispute_taken";
	} else if (give && !returned) {
		if (taken && (give_back(e, t.user_id, amount * MINOR,
		    arena_printf(e->a, "%s:returned", base)) == -1 ||
		    ledger_event(e->db, e->a, t.user_id, "dispute_won",
		    amount * MINOR, NULL, arena_printf(e->a,
		    "{\"topup_id\": %" PRId64 "}", t.id)) != LEDGER_OK))
			return -1;
		p[1] = db_i64(e->a, taken ? -amount : 0);
		returned = 1;
		e->outcome = "dispute_won";
	} else
		p[1] = "0";
	p[0] = db_i64(e->a, t.id);
	if (strcmp(p[1], "0") != 0 &&
	    db_exec(e->db, e->a, &q_disputed, p) == NULL)
		return -1;
	p[0] = dp;
	p[1] = st;
	p[2] = taken ? "t" : "f";
	p[3] = returned ? "t" : "f";
	return db_exec(e->db, e->a, &q_dispute_set, p) == NULL ? -1 : 0;
}

/* Apply e by its type. */
static int
apply(struct ev *e)
{
	if (strncmp(e->type, "checkout.session.", 17) == 0)
		return on_session(e);
	e->pi = json_string_value(json_object_get(e->obj, "payment_intent"));
	if (strcmp(e->type, "charge.refunded") == 0)
		return on_refund(e);
	if (strcmp(e->type, "charge.dispute.created") == 0 ||
	    strcmp(e->type, "charge.dispute.closed") == 0 ||
	    strcmp(e->type, "charge.dispute.funds_withdrawn") == 0 ||
	    strcmp(e->type, "charge.dispute.funds_reinstated") == 0)
		return on_dispute(e);
	e->outcome = "ignored";
	return 0;
}

/* Record e's outcome (and what a deferred one keeps). */
static int
finish(struct ev *e)
{
	const char	*p[5];
	char		*keep = NULL;
	PGresult	*res;

	if (e->keep != NULL)
		keep = json_dumps(e->keep, JSON_COMPACT);
	p[0] = e->id;
	p[1] = e->outcome;
	p[2] = e->topup_id > 0 ? db_i64(e->a, e->topup_id) : NULL;
	p[3] = e->pi;
	p[4] = keep != NULL ? arena_strdup(e->a, keep) : NULL;
	free(keep);
	res = db_exec(e->db, e->a, &q_done, p);
	return res == NULL ? -1 : 0;
}

/* Apply the events that waited for payment pi, in the order they came. */
static int
apply_deferred(struct ev *paid, const char *pi)
{
	const char	*p[1] = { pi };
	PGresult	*res;
	struct ev	 e;
	int		 r;

	if ((res = db_exec(paid->db, paid->a, &q_deferred, p)) == NULL)
		return -1;
	for (r = 0; r < PQntuples(res); r++) {
		memset(&e, 0, sizeof(e));
		e.db = paid->db;
		e.a = paid->a;
		e.id = PQgetvalue(res, r, 0);
		e.type = PQgetvalue(res, r, 1);
		e.obj = json_arena(e.a, json_loads(PQgetvalue(res, r, 2), 0,
		    NULL));
		if (e.obj == NULL || apply(&e) == -1 || finish(&e) == -1) {
			json_decref(e.keep);
			return -1;
		}
		log_info("stripe event %s (%s) applied later: %s", e.id, e.type,
		    e.outcome);
		json_decref(e.keep);
	}
	return 0;
}

int
stripe_webhook(struct db *db, struct arena *a, const struct stripe_cfg *s,
    const char *signature, const char *body, size_t len,
    const char **outcome)
{
	struct ev	 e;
	const char	*p[2], *why;
	json_t		*root, *data;
	PGresult	*res;
	int		 rc;

	memset(&e, 0, sizeof(e));
	if (*s->webhook_secret == '\0') {
		*outcome = "webhooks are not configured ([stripe] webhook_secret)";
		return 1;
	}
	if (len > BODY_MAX) {
		*outcome = "body too large";
		return 1;
	}
	if (whsig_stripe_verify(signature, body, len, s->webhook_secret,
	    time(NULL), (long)s->tolerance, &why) == -1) {
		*outcome = arena_printf(a, "signature: %s", why);
		return 1;
	}
	root = json_arena(a, json_loadb(body, len, 0, NULL));
	data = json_object_get(json_object_get(root, "data"), "object");
	e.id = json_string_value(json_object_get(root, "id"));
	e.type = json_string_value(json_object_get(root, "type"));
	if (!json_is_object(data) || e.id == NULL || e.type == NULL ||
	    strncmp(e.id, "evt_", 4) != 0 || strlen(e.id) > 254 ||
	    strspn(e.id + 4, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789_") != strlen(e.id + 4) || strlen(e.id) == 4 ||
	    *e.type == '\0' || strlen(e.type) > 100) {
		*outcome = "not a Stripe event";
		return 1;
	}
	e.db = db;
	e.a = a;
	e.obj = data;
	if (db_begin(db) == -1)
		return -1;
	p[0] = e.id;
	p[1] = e.type;
	/* A redelivery waits here for the first to commit, then finds it. */
	if ((res = db_exec(db, a, &q_record, p)) == NULL) {
		rc = -1;
		goto out;
	}
	if (PQntuples(res) == 0) {
		*outcome = "duplicate";
		rc = 0;
		goto out;
	}
	rc = apply(&e) == -1 || finish(&e) == -1 ? -1 : 0;
	*outcome = e.outcome;
out:
	json_decref(e.keep);
	return db_finish(db, rc, rc == 0, -1);
}
