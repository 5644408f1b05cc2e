/* hold.c: two-phase holds on a user's credit: reserve, then post or void */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "db.h"
#include "hold.h"
#include "ledger.h"
#include "log.h"
#include "str.h"

#define TTL_MAX		(366 * 86400LL)	/* the longest a hold may live */
#define REAP_BATCH	500		/* expired holds read at a time (q_expired) */

/* A hold row, read under its lock. */
struct hold {
	int64_t	id;
	int64_t	user_id;
	int64_t	amount;
	int64_t	from_credit;		/* reserved on credit_account */
	int64_t	from_earnings;		/* reserved on earnings_account */
	int64_t	credit_account;
	int64_t	earnings_account;
	int64_t	drawn;			/* paid out by draws so far */
	int64_t	drawn_credit;		/* of it from credit_account */
	int	held;			/* status is still "held" */
};

/* One side of a posting: an account and what it pays or gets. */
struct leg {
	int64_t		 account;
	int64_t		 amount;
	const char	*name;		/* for the idempotency key */
	const char	*kind;		/* the transfer kind (payees only) */
};

/* The user's two accounts, locked in id order, with what each can spend. */
static const struct db_stmt q_lock_user = {
	"hold_lock_user",
	"SELECT id, kind, balance - held FROM ledger_accounts"
	" WHERE user_id = $1 ORDER BY id FOR UPDATE",
	1, 0
};
static const struct db_stmt q_reserve = {
	"hold_reserve",
	"UPDATE ledger_accounts SET held = held + $2"
	" WHERE id = $1 AND balance - held >= $2",
	2, 0
};
static const struct db_stmt q_release = {
	"hold_release",
	"UPDATE ledger_accounts SET held = held - $2"
	" WHERE id = $1 AND held >= $2",
	2, 0
};
static const struct db_stmt q_insert = {
	"hold_insert",
	"INSERT INTO holds (user_id, credit_account, earnings_account, amount,"
	" from_credit, from_earnings, expires_at) VALUES ($1, $2, $3, $4, $5,"
	" $6, now() + $7::bigint * interval '1 second') RETURNING id",
	7, 0
};
static const struct db_stmt q_lock_hold = {
	"hold_lock",
	"SELECT user_id, amount, from_credit, from_earnings, credit_account,"
	" earnings_account, status = 'held', drawn, drawn_credit FROM holds"
	" WHERE id = $1 FOR UPDATE",
	1, 0
};
/* Every account a posting touches, locked in id order. */
static const struct db_stmt q_lock_accounts = {
	"hold_lock_accounts",
	"SELECT id FROM ledger_accounts WHERE id = ANY ($1::bigint[])"
	" ORDER BY id FOR UPDATE",
	1, 0
};
static const struct db_stmt q_posted = {
	"hold_posted",
	"UPDATE holds SET status = 'posted', charge = $2, earning = $3,"
	" supplier_user_id = $4, kept = $5, resolved_at = now()"
	" WHERE id = $1 AND status = 'held'",
	5, 0
};
/* Give back $2 of the credit part and $3 of the earnings part not drawn. */
static const struct db_stmt q_trim = {
	"hold_trim",
	"UPDATE holds SET amount = amount - $2 - $3,"
	" from_credit = from_credit - $2, from_earnings = from_earnings - $3"
	" WHERE id = $1 AND status = 'held'",
	3, 0
};
static const struct db_stmt q_voided = {
	"hold_voided",
	"UPDATE holds SET status = 'voided', resolved_at = now()"
	" WHERE id = $1 AND status = 'held'",
	1, 0
};
static const struct db_stmt q_expired = {
	"hold_expired",
	"SELECT id FROM holds WHERE status = 'held'"
	" AND expires_at <= coalesce($1::timestamptz, now())"
	" ORDER BY id LIMIT 500",
	1, DB_RETRY
};
static const struct db_stmt q_get = {
	"hold_get",
	"SELECT user_id, amount, status FROM holds WHERE id = $1",
	1, DB_RETRY
};


/* Run an UPDATE that must touch exactly one row; 0 or -1. */
static int
update_one(struct db *db, struct arena *a, const struct db_stmt *stmt,
    const char *const *p)
{
	PGresult	*res;

	if ((res = db_exec(db, a, stmt, p)) == NULL)
		return -1;
	if (atoi(PQcmdTuples(res)) != 1) {
		log_error("%s: account or hold %s not in the expected state",
		    stmt->name, p[0]);
		return -1;
	}
	return 0;
}

/* Add delta to account's held amount (under its lock); 0 or -1. */
static int
change_held(struct db *db, struct arena *a, const struct db_stmt *stmt,
    int64_t account, int64_t delta)
{
	const char	*p[2];

	if (delta == 0)
		return 0;
	p[0] = db_i64(a, account);
	p[1] = db_i64(a, delta);
	return update_one(db, a, stmt, p);
}

/*
 * Split amount over the user's locked accounts, credit first: sets
 * h->from_credit, h->from_earnings and the account ids. With upto, an
 * amount larger than what the user can spend is lowered to it. HOLD_OK,
 * HOLD_INSUFFICIENT (nothing spendable, or not enough without upto) or
 * HOLD_ERROR.
 */
static int
plan_reserve(struct db *db, struct arena *a, struct hold *h, int upto)
{
	const char	*p[1];
	PGresult	*res;
	int64_t		 credit_free = 0, earnings_free = 0;
	int		 i;

	p[0] = db_i64(a, h->user_id);
	if ((res = db_exec(db, a, &q_lock_user, p)) == NULL)
		return HOLD_ERROR;
	if (PQntuples(res) != 2)
		return HOLD_INSUFFICIENT;	/* no accounts: nothing */
	for (i = 0; i < 2; i++)
		if (strcmp(PQgetvalue(res, i, 1), "credit") == 0) {
			h->credit_account = db_int64(res, i, 0);
			credit_free = db_int64(res, i, 2);
		} else {
			h->earnings_account = db_int64(res, i, 0);
			earnings_free = db_int64(res, i, 2);
		}
	if (upto && h->amount > credit_free + earnings_free)
		h->amount = credit_free + earnings_free;
	if (h->amount <= 0)
		return HOLD_INSUFFICIENT;
	h->from_credit = credit_free > 0 ?
	    (h->amount < credit_free ? h->amount : credit_free) : 0;
	h->from_earnings = h->amount - h->from_credit;
	return h->from_earnings > earnings_free ? HOLD_INSUFFICIENT : HOLD_OK;
}

/*
 * Lock the user's accounts, split amount (or, with upto, what is
 * spendable of it) credit first, reserve, record; *amount is what was.
 */
static int
reserve(struct db *db, struct arena *a, int64_t user_id, int64_t *amount,
    int upto, int64_t ttl_seconds, int64_t *hold_id)
{
	struct hold	 h = { 0 };
	const char	*p[7];
	PGresult	*res;
	int		 rc;

	if (user_id <= 0 || *amount <= 0 || ttl_seconds < 0 ||
	    ttl_seconds > TTL_MAX)
		return HOLD_INVALID;
	if (db_begin(db) == -1)
		return HOLD_ERROR;
	h.user_id = user_id;
	h.amount = *amount;
	if ((rc = plan_reserve(db, a, &h, upto)) != HOLD_OK)
		goto out;
	rc = HOLD_ERROR;
	if (change_held(db, a, &q_reserve, h.credit_account,
	    h.from_credit) == -1 ||
	    change_held(db, a, &q_reserve, h.earnings_account,
	    h.from_earnings) == -1)
		goto out;
	p[0] = db_i64(a, user_id);
	p[1] = db_i64(a, h.credit_account);
	p[2] = db_i64(a, h.earnings_account);
	p[3] = db_i64(a, h.amount);
	p[4] = db_i64(a, h.from_credit);
	p[5] = db_i64(a, h.from_earnings);
	p[6] = db_i64(a, ttl_seconds);
	if ((res = db_exec(db, a, &q_insert, p)) == NULL)
		goto out;
	*hold_id = db_int64(res, 0, 0);
	*amount = h.amount;
	rc = HOLD_OK;
out:
	return db_finish(db, rc, rc != HOLD_ERROR, HOLD_ERROR);
}

/* Reserve exactly amount; see hold.h. */
int
hold_reserve(struct db *db, struct arena *a, int64_t user_id, int64_t amount,
    int64_t ttl_seconds, int64_t *hold_id)
{
	return reserve(db, a, user_id, &amount, 0, ttl_seconds, hold_id);
}

/* Reserve what is spendable of *amount; see hold.h. */
int
hold_reserve_upto(struct db *db, struct arena *a, int64_t user_id,
    int64_t *amount, int64_t ttl_seconds, int64_t *hold_id)
{
	return reserve(db, a, user_id, amount, 1, ttl_seconds, hold_id);
}

/* Read and lock hold h->id: HOLD_OK, HOLD_INVALID (none) or HOLD_ERROR. */
static int
lock_hold(struct db *db, struct arena *a, struct hold *h)
{
	const char	*p[1];
	PGresult	*res;

	p[0] = db_i64(a, h->id);
	if ((res = db_exec(db, a, &q_lock_hold, p)) == NULL)
		return HOLD_ERROR;
	if (PQntuples(res) != 1)
		return HOLD_INVALID;
	h->user_id = db_int64(res, 0, 0);
	h->amount = db_int64(res, 0, 1);
	h->from_credit = db_int64(res, 0, 2);
	h->from_earnings = db_int64(res, 0, 3);
	h->credit_account = db_int64(res, 0, 4);
	h->earnings_account = db_int64(res, 0, 5);
	h->held = strcmp(PQgetvalue(res, 0, 6), "t") == 0;
	h->drawn = db_int64(res, 0, 7);
	h->drawn_credit = db_int64(res, 0, 8);
	return HOLD_OK;
}

/*
 * Lock hold id into h, in the caller's transaction: HOLD_OK when it is
 * still held, HOLD_RESOLVED when posted or voided, HOLD_INVALID when
 * unknown, or HOLD_ERROR.
 */
static int
lock_held(struct db *db, struct arena *a, int64_t id, struct hold *h)
{
	int	rc;

	h->id = id;
	if ((rc = lock_hold(db, a, h)) != HOLD_OK)
		return rc;
	return h->held ? HOLD_OK : HOLD_RESOLVED;
}

/* Lock the n accounts in ids (in id order); 0 or -1. */
static int
lock_accounts(struct db *db, struct arena *a, const int64_t *ids, size_t n)
{
	struct str	 s = STR_INIT;
	const char	*p[1];
	size_t		 i;

	str_putc(&s, '{');
	for (i = 0; i < n; i++)
		str_printf(&s, "%s%" PRId64, i > 0 ? "," : "", ids[i]);
	str_putc(&s, '}');
	p[0] = arena_strdup(a, str_cstr(&s));
	str_free(&s);
	return db_exec(db, a, &q_lock_accounts, p) == NULL ? -1 : 0;
}

/*
 * Release what the locked hold still reserves on both accounts (all of
 * it, less what draws paid out); 0 or -1.
 */
static int
release(struct db *db, struct arena *a, const struct hold *h)
{
	return change_held(db, a, &q_release, h->credit_account,
	    h->from_credit - h->drawn_credit) == -1 ||
	    change_held(db, a, &q_release, h->earnings_account,
	    h->from_earnings - (h->drawn - h->drawn_credit)) == -1 ? -1 : 0;
}

/*
 * Pay the payees from the payers (each pair of lists in order), one
 * transfer per overlapping piece, keyed "hold:<id>:<payer>:<payee>". A
 * piece from an account to itself needs no transfer and is added to
 * *kept. 0 or -1 (the caller rolls back).
 */
static int
pay(struct db *db, struct arena *a, int64_t hold_id, struct leg *payers,
    struct leg *payees, int64_t *kept)
{
	const char	*key;
	int64_t		 n;
	size_t		 i = 0, j = 0;
	int		 rc;

	while (i < 2 && j < 2) {
		if (payers[i].amount == 0 || payees[j].amount == 0) {
			if (payers[i].amount == 0)
				i++;
			else
				j++;
			continue;
		}
		n = payers[i].amount < payees[j].amount ? payers[i].amount :
		    payees[j].amount;
		payers[i].amount -= n;
		payees[j].amount -= n;
		if (payers[i].account == payees[j].account) {
			*kept += n;
			continue;
		}
		key = arena_printf(a, "hold:%" PRId64 ":%s:%s", hold_id,
		    payers[i].name, payees[j].name);
		if ((rc = ledger_transfer(db, a, payers[i].account,
		    payees[j].account, n, payees[j].kind, key, hold_id)) !=
		    LEDGER_OK) {
			log_error("hold %" PRId64 ": transfer %s failed (%d)",
			    hold_id, key, rc);
			return -1;
		}
	}
	return 0;
}

/*
 * The accounts a posting pays: the supplier's earnings (opened if need
 * be; none when supplier is 0) and revenue. HOLD_OK, HOLD_INVALID (no
 * such supplier) or HOLD_ERROR.
 */
static int
payee_accounts(struct db *db, struct arena *a, int64_t supplier,
    int64_t *supplier_account, int64_t *revenue)
{
	int	rc;

	*supplier_account = 0;
	if (supplier > 0 &&
	    ((rc = ledger_open_user(db, a, supplier)) != LEDGER_OK ||
	    (rc = ledger_account_id(db, a, LEDGER_EARNINGS, supplier,
	    supplier_account)) != LEDGER_OK))
		return rc == LEDGER_INVALID ? HOLD_INVALID : HOLD_ERROR;
	if (ledger_account_id(db, a, LEDGER_REVENUE, 0, revenue) != LEDGER_OK)
		return HOLD_ERROR;
	return HOLD_OK;
}

/* Move the money of a locked, held hold and mark it posted; 0 or -1. */
static int
post_locked(struct db *db, struct arena *a, const struct hold *h,
    int64_t charge, int64_t earning, int64_t supplier,
    int64_t supplier_account, int64_t revenue)
{
	int64_t		 ids[4], from_credit, kept = 0;
	const char	*p[5];
	struct leg	 payers[2], payees[2];

	from_credit = charge < h->from_credit ? charge : h->from_credit;
	payers[0] = (struct leg){ h->credit_account, from_credit, "credit",
	    NULL };
	payers[1] = (struct leg){ h->earnings_account, charge - from_credit,
	    "earnings", NULL };
	payees[0] = (struct leg){ supplier_account,
	    supplier > 0 ? earning : 0, "supplier", "usage" };
	payees[1] = (struct leg){ revenue, charge - payees[0].amount,
	    "revenue", "fee" };
	ids[0] = h->credit_account;
	ids[1] = h->earnings_account;
	ids[2] = revenue;
	ids[3] = supplier_account;
	if (lock_accounts(db, a, ids, supplier > 0 ? 4 : 3) == -1 ||
	    release(db, a, h) == -1 ||
	    pay(db, a, h->id, payers, payees, &kept) == -1)
		return -1;
	p[0] = db_i64(a, h->id);
	p[1] = db_i64(a, charge);
	p[2] = db_i64(a, earning);
	p[3] = supplier > 0 ? db_i64(a, supplier) : NULL;
	p[4] = db_i64(a, kept);
	return update_one(db, a, &q_posted, p);
}

/* Lock the hold, check it, then move the money once. See hold.h. */
int
hold_post(struct db *db, struct arena *a, int64_t hold_id, int64_t charge,
    int64_t earning, int64_t supplier)
{
	struct hold	h = { 0 };
	int64_t		supplier_account, revenue;
	int		rc;

	if (hold_id <= 0 || charge < 0 || earning < 0 || earning > charge ||
	    supplier < 0)
		return HOLD_INVALID;
	if (db_begin(db) == -1)
		return HOLD_ERROR;
	if ((rc = lock_held(db, a, hold_id, &h)) != HOLD_OK)
		goto out;
	if (charge > h.amount || h.drawn > 0) {
		rc = HOLD_INVALID;	/* a drawn hold is voided, never posted */
		goto out;
	}
	if ((rc = payee_accounts(db, a, supplier, &supplier_account,
	    &revenue)) != HOLD_OK)
		goto out;
	rc = post_locked(db, a, &h, charge, earning, supplier,
	    supplier_account, revenue) == -1 ? HOLD_ERROR : HOLD_OK;
out:
	return db_finish(db, rc, rc != HOLD_ERROR, HOLD_ERROR);
}

/* Lock the hold and release everything it reserved, once. */
int
hold_void(struct db *db, struct arena *a, int64_t hold_id)
{
	struct hold	 h = { 0 };
	int64_t		 ids[2];
	const char	*p[1];
	int		 rc;

	if (hold_id <= 0)
		return HOLD_INVALID;
	if (db_begin(db) == -1)
		return HOLD_ERROR;
	if ((rc = lock_held(db, a, hold_id, &h)) != HOLD_OK)
		goto out;
	ids[0] = h.credit_account;
	ids[1] = h.earnings_account;
	p[0] = db_i64(a, hold_id);
	rc = lock_accounts(db, a, ids, 2) == -1 || release(db, a, &h) == -1 ||
	    update_one(db, a, &q_voided, p) == -1 ? HOLD_ERROR : HOLD_OK;
out:
	return db_finish(db, rc, rc != HOLD_ERROR, HOLD_ERROR);
}

int
hold_trim(struct db *db, struct arena *a, int64_t hold_id, int64_t keep)
{
	struct hold	 h = { 0 };
	int64_t		 ids[2], left_c, left_e, rest, rel_c, rel_e;
	const char	*p[3];
	int		 rc;

	if (hold_id <= 0 || keep < 0)
		return HOLD_INVALID;
	if (db_begin(db) == -1)
		return HOLD_ERROR;
	if ((rc = lock_held(db, a, hold_id, &h)) != HOLD_OK)
		goto out;
	left_c = h.from_credit - h.drawn_credit;
	left_e = h.from_earnings - (h.drawn - h.drawn_credit);
	if ((rest = left_c + left_e - keep) <= 0)
		goto out;		/* nothing beyond keep: HOLD_OK */
	if (h.drawn + keep == 0) {
		rc = hold_void(db, a, hold_id);
		goto out;
	}
	/* Earnings first: the draws to come take credit first. */
	rel_e = rest < left_e ? rest : left_e;
	rel_c = rest - rel_e;
	ids[0] = h.credit_account;
	ids[1] = h.earnings_account;
	p[0] = db_i64(a, hold_id);
	p[1] = db_i64(a, rel_c);
	p[2] = db_i64(a, rel_e);
	rc = lock_accounts(db, a, ids, 2) == -1 ||
	    change_held(db, a, &q_release, h.credit_account, rel_c) == -1 ||
	    change_held(db, a, &q_release, h.earnings_account, rel_e) == -1 ||
	    update_one(db, a, &q_trim, p) == -1 ? HOLD_ERROR : HOLD_OK;
out:
	return db_finish(db, rc, rc != HOLD_ERROR, HOLD_ERROR);
}

/*
 * Void expired holds batch by batch, each hold in its own transaction
 * (a scratch arena bounds memory). HOLD_OK or HOLD_ERROR.
 */
int
hold_reap(struct db *db, struct arena *a, const char *now, int *voided)
{
	const char	*p[1] = { now };
	struct arena	*tmp = arena_new();
	PGresult	*res;
	int		 i, n, rc = HOLD_OK, batch;

	*voided = 0;
	do {
		arena_reset(tmp);
		if ((res = db_exec(db, tmp, &q_expired, p)) == NULL) {
			rc = HOLD_ERROR;
			break;
		}
		n = PQntuples(res);
		for (i = 0, batch = 0; i < n && rc == HOLD_OK; i++)
			switch (hold_void(db, tmp, db_int64(res, i, 0))) {
			case HOLD_OK:
				batch++;
				break;
			case HOLD_ERROR:
				rc = HOLD_ERROR;
				break;
			}
		*voided += batch;
	} while (rc == HOLD_OK && n == REAP_BATCH && batch > 0);
	arena_free(tmp);
	if (*voided > 0)
		log_info("voided %d expired hold%s", *voided,
		    *voided == 1 ? "" : "s");
	return rc;
}

/* Read one hold's owner, amount and status (no lock). */
int
hold_get(struct db *db, struct arena *a, int64_t hold_id, int64_t *user_id,
    int64_t *amount, char status[8])
{
	const char	*p[1];
	PGresult	*res;

	if (hold_id <= 0)
		return HOLD_INVALID;
	p[0] = db_i64(a, hold_id);
	if ((res = db_exec(db, a, &q_get, p)) == NULL)
		return HOLD_ERROR;
	if (PQntuples(res) != 1)
		return HOLD_INVALID;
	*user_id = db_int64(res, 0, 0);
	*amount = db_int64(res, 0, 1);
	snprintf(status, 8, "%s", PQgetvalue(res, 0, 2));
	return HOLD_OK;
}
