/* ledger.c: the double-entry credit ledger: accounts, transfers, checker */
#include "config.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "db.h"
#include "json.h"
#include "ledger.h"
#include "log.h"
#include "money.h"
#include "str.h"

#define KEY_MAX		200	/* idempotency key length, as in the schema */
#define KIND_MAX	32	/* transfer kind length, as in the schema */
#define PAGE_MAX	200	/* ledger_user_transfers' largest page */

/* Account kinds as the schema spells them, indexed by enum ledger_kind. */
static const char *const kind_names[] = {
	[LEDGER_CREDIT] = "credit",
	[LEDGER_EARNINGS] = "earnings",
	[LEDGER_REVENUE] = "revenue",
	[LEDGER_BOUNTY] = "bounty",
	[LEDGER_PROMOTIONS] = "promotions",
	[LEDGER_PAYOUT_FEES] = "payout_fees",
	[LEDGER_EXPIRED] = "expired",
	[LEDGER_STRIPE] = "stripe",
	[LEDGER_TREMENDOUS] = "tremendous",
	[LEDGER_RECEIVABLE] = "receivable",
	[LEDGER_PAYOUTS] = "payouts",
};

static const struct db_stmt q_open_user = {
	"ledger_open_user",
	"INSERT INTO ledger_accounts (kind, user_id)"
	" SELECT k, u.id FROM users u, unnest(ARRAY['credit', 'earnings']) k"
	" WHERE u.id = $1 AND NOT EXISTS (SELECT 1 FROM ledger_accounts a"
	"  WHERE a.user_id = u.id AND a.kind = k)"
	" ON CONFLICT DO NOTHING",
	1, 0
};
static const struct db_stmt q_count_user = {
	"ledger_count_user",
	"SELECT count(*) FROM ledger_accounts WHERE user_id = $1",
	1, 0
};
static const struct db_stmt q_platform_id = {
	"ledger_platform_id",
	"SELECT id FROM ledger_accounts WHERE kind = $1 AND user_id IS NULL",
	1, DB_RETRY
};
static const struct db_stmt q_user_id = {
	"ledger_user_id",
	"SELECT id FROM ledger_accounts WHERE user_id = $1 AND kind = $2",
	2, DB_RETRY
};
/* Both accounts of a transfer, locked in id order so no two wait in a cycle. */
static const struct db_stmt q_lock_pair = {
	"ledger_lock_pair",
	"SELECT id, balance - held, may_go_negative FROM ledger_accounts"
	" WHERE id IN ($1, $2) ORDER BY id FOR UPDATE",
	2, 0
};
static const struct db_stmt q_key_used = {
	"ledger_key_used",
	"SELECT 1 FROM transfers WHERE idempotency_key = $1",
	1, 0
};
static const struct db_stmt q_insert = {
	"ledger_insert",
	"INSERT INTO transfers (debit_account, credit_account, amount, kind,"
	" idempotency_key, hold_id) VALUES ($1, $2, $3, $4, $5, $6)"
	" ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
	6, 0
};
static const struct db_stmt q_debit = {
	"ledger_debit",
	"UPDATE ledger_accounts SET balance = balance - $2"
	" WHERE id = $1 AND (may_go_negative OR balance - held >= $2)",
	2, 0
};
static const struct db_stmt q_credit = {
	"ledger_credit",
	"UPDATE ledger_accounts SET balance = balance + $2 WHERE id = $1",
	2, 0
};
static const struct db_stmt q_balances = {
	"ledger_balances",
	"SELECT kind, balance, held FROM ledger_accounts WHERE user_id = $1",
	1, DB_RETRY
};
/*
 * A page of a user's transfers: the newest $3 transfer ids below $2 on
 * either account (four index scans), then one row per side the user is on.
 */
static const struct db_stmt q_user_transfers = {
	"ledger_user_transfers",
	"WITH ua AS (SELECT id, kind FROM ledger_accounts WHERE user_id = $1),"
	" page AS (SELECT DISTINCT id FROM ("
	"  (SELECT id FROM transfers WHERE debit_account ="
	"   (SELECT id FROM ua WHERE kind = 'credit') AND id < $2"
	"   ORDER BY id DESC LIMIT $3)"
	"  UNION ALL (SELECT id FROM transfers WHERE credit_account ="
	"   (SELECT id FROM ua WHERE kind = 'credit') AND id < $2"
	"   ORDER BY id DESC LIMIT $3)"
	"  UNION ALL (SELECT id FROM transfers WHERE debit_account ="
	"   (SELECT id FROM ua WHERE kind = 'earnings') AND id < $2"
	"   ORDER BY id DESC LIMIT $3)"
	"  UNION ALL (SELECT id FROM transfers WHERE credit_account ="
	"   (SELECT id FROM ua WHERE kind = 'earnings') AND id < $2"
	"   ORDER BY id DESC LIMIT $3)) x"
	"  ORDER BY id DESC LIMIT $3)"
	" SELECT t.id,"
	"  to_char(t.created_at AT TIME ZONE 'UTC',"
	"   'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
	"  t.kind, ua.kind,"
	"  CASE WHEN t.credit_account = ua.id THEN t.amount ELSE -t.amount END,"
	"  t.hold_id, oa.kind"
	" FROM page JOIN transfers t ON t.id = page.id"
	" JOIN ua ON ua.id IN (t.debit_account, t.credit_account)"
	" JOIN ledger_accounts oa ON oa.id = CASE WHEN t.credit_account = ua.id"
	"  THEN t.debit_account ELSE t.credit_account END"
	" ORDER BY t.id DESC, ua.kind",
	3, DB_RETRY
};
/*
 * Everything ledger_check verifies, in one statement and so one snapshot:
 * a summary row, then one row per problem (code, id, label, n1, n2).
 */
static const struct db_stmt q_check = {
	"ledger_check",
	"WITH a AS (SELECT id, kind || coalesce(' of user ' || user_id, '')"
	"  AS label, balance, held, may_go_negative FROM ledger_accounts),"
	" flows AS (SELECT acct, sum(amt) AS total FROM ("
	"  SELECT credit_account AS acct, amount AS amt FROM transfers"
	"  UNION ALL SELECT debit_account, -amount FROM transfers) f"
	"  GROUP BY acct),"
	" reserved AS (SELECT acct, sum(amt) AS total FROM ("
	"  SELECT credit_account AS acct, from_credit - drawn_credit AS amt"
	"   FROM holds WHERE status = 'held'"
	"  UNION ALL SELECT earnings_account,"
	"   from_earnings - (drawn - drawn_credit) FROM holds"
	"   WHERE status = 'held') r GROUP BY acct),"
	" moved AS (SELECT hold_id, sum(amount) AS total FROM transfers"
	"  WHERE hold_id IS NOT NULL GROUP BY hold_id)"
	" SELECT 'summary', 0::bigint, ''::text,"
	"  (SELECT count(*) FROM a)::numeric,"
	"  (SELECT count(*) FROM transfers)::numeric,"
	"  (SELECT count(*) FROM holds WHERE status = 'held')::numeric"
	" UNION ALL SELECT 'missing', 0, k, 0, 0, 0 FROM unnest(ARRAY["
	"  'revenue', 'bounty', 'promotions', 'payout_fees', 'expired',"
	"  'stripe', 'tremendous', 'receivable', 'payouts']) k"
	"  WHERE NOT EXISTS (SELECT 1"
	"  FROM ledger_accounts p WHERE p.kind = k AND p.user_id IS NULL)"
	" UNION ALL SELECT 'sum', 0, '', sum(balance), 0, 0 FROM a"
	"  HAVING sum(balance) <> 0"
	" UNION ALL SELECT 'negative', id, label, balance, 0, 0 FROM a"
	"  WHERE balance < 0 AND NOT may_go_negative"
	" UNION ALL SELECT 'held', id, label, held, balance, 0 FROM a"
	"  WHERE held < 0 OR (held > 0 AND held > balance)"
	" UNION ALL SELECT 'balance', a.id, a.label, a.balance,"
	"  coalesce(f.total, 0), 0 FROM a LEFT JOIN flows f ON f.acct = a.id"
	"  WHERE a.balance <> coalesce(f.total, 0)"
	" UNION ALL SELECT 'reserved', a.id, a.label, a.held,"
	"  coalesce(r.total, 0), 0 FROM a LEFT JOIN reserved r ON r.acct = a.id"
	"  WHERE a.held <> coalesce(r.total, 0)"
	" UNION ALL SELECT 'owed', 0, '', (SELECT coalesce(sum(owed), 0)"
	"  FROM users), -balance, 0 FROM ledger_accounts WHERE kind ="
	"  'receivable' AND user_id IS NULL AND balance <> -(SELECT"
	"  coalesce(sum(owed), 0) FROM users)"
	" UNION ALL SELECT 'payouts', 0, '', balance, (SELECT coalesce(sum("
	"  amount), 0) FROM payouts WHERE status IN ('pending', 'sent',"
	"  'flagged')), 0 FROM ledger_accounts WHERE kind = 'payouts'"
	"  AND user_id IS NULL AND balance <> (SELECT coalesce(sum(amount), 0)"
	"  FROM payouts WHERE status IN ('pending', 'sent', 'flagged'))"
	" UNION ALL SELECT 'key', 0, idempotency_key, count(*), 0, 0"
	"  FROM transfers GROUP BY idempotency_key HAVING count(*) > 1"
	" UNION ALL SELECT 'hold', h.id, h.status, coalesce(m.total, 0),"
	"  coalesce(h.charge, h.drawn) - h.kept, 0"
	"  FROM holds h LEFT JOIN moved m ON m.hold_id = h.id"
	"  WHERE coalesce(m.total, 0) <> coalesce(h.charge, h.drawn) - h.kept",
	0, DB_RETRY
};

/* Rows an UPDATE or INSERT touched. */
static int
touched(PGresult *res)
{
	return atoi(PQcmdTuples(res));
}


/* True when s is a transfer kind: [a-z_]{1,32}. */
static int
valid_kind(const char *s)
{
	size_t	i;

	if (s == NULL)
		return 0;
	for (i = 0; s[i] != '\0'; i++)
		if ((!islower((unsigned char)s[i]) && s[i] != '_') ||
		    i >= KIND_MAX)
			return 0;
	return i > 0;
}

/* Insert the user's missing accounts, then count them; see ledger.h. */
int
ledger_open_user(struct db *db, struct arena *a, int64_t user_id)
{
	const char	*p[1];
	PGresult	*res;
	int		 rc = LEDGER_ERROR;

	if (user_id <= 0)
		return LEDGER_INVALID;
	if (db_begin(db) == -1)
		return LEDGER_ERROR;
	p[0] = db_i64(a, user_id);
	if (db_exec(db, a, &q_open_user, p) == NULL ||
	    (res = db_exec(db, a, &q_count_user, p)) == NULL)
		goto out;
	rc = db_int64(res, 0, 0) == 2 ? LEDGER_OK : LEDGER_INVALID;
out:
	return db_finish(db, rc, rc != LEDGER_ERROR, LEDGER_ERROR);
}

/* Look up one account by kind and owner; LEDGER_INVALID when there is none. */
int
ledger_account_id(struct db *db, struct arena *a, enum ledger_kind kind,
    int64_t user_id, int64_t *id)
{
	const char	*p[2];
	PGresult	*res;
	int		 user_kind;


	user_kind = kind == LEDGER_CREDIT || kind == LEDGER_EARNINGS;
	if ((unsigned)kind >= sizeof(kind_names) / sizeof(kind_names[0]) ||
	    user_id < 0 || user_kind != (user_id > 0))
		return LEDGER_INVALID;
	if (user_kind) {
		p[0] = db_i64(a, user_id);
		p[1] = kind_names[kind];
		res = db_exec(db, a, &q_user_id, p);
	} else {
		p[0] = kind_names[kind];
		res = db_exec(db, a, &q_platform_id, p);
	}
	if (res == NULL)
		return LEDGER_ERROR;
	if (PQntuples(res) != 1)
		return LEDGER_INVALID;
	*id = db_int64(res, 0, 0);
	return LEDGER_OK;
}

/*
 * Lock both accounts and decide whether a transfer may go ahead: LEDGER_OK,
 * LEDGER_DUPLICATE (key used), LEDGER_INSUFFICIENT, LEDGER_INVALID (no such
 * account) or LEDGER_ERROR. Changes nothing.
 */
static int
transfer_precheck(struct db *db, struct arena *a, int64_t debit,
    int64_t credit, int64_t amount, const char *key)
{
	const char	*p[2];
	PGresult	*res;
	int64_t		 avail;
	int		 r, may_go_negative;

	p[0] = db_i64(a, debit);
	p[1] = db_i64(a, credit);
	if ((res = db_exec(db, a, &q_lock_pair, p)) == NULL)
		return LEDGER_ERROR;
	if (PQntuples(res) != 2)
		return LEDGER_INVALID;
	r = db_int64(res, 0, 0) == debit ? 0 : 1;
	avail = db_int64(res, r, 1);
	may_go_negative = strcmp(PQgetvalue(res, r, 2), "t") == 0;
	p[0] = key;
	if ((res = db_exec(db, a, &q_key_used, p)) == NULL)
		return LEDGER_ERROR;
	if (PQntuples(res) > 0)
		return LEDGER_DUPLICATE;
	if (!may_go_negative && avail < amount)
		return LEDGER_INSUFFICIENT;
	return LEDGER_OK;
}

/*
 * Lock, check, insert the transfer row (the key decides), then move the
 * cached balances. See ledger.h for the outcomes.
 */
int
ledger_transfer(struct db *db, struct arena *a, int64_t debit,
    int64_t credit, int64_t amount, const char *kind, const char *key,
    int64_t hold_id)
{
	const char	*p[6];
	PGresult	*res;
	int		 rc;

	if (amount <= 0 || debit <= 0 || credit <= 0 || debit == credit ||
	    hold_id < 0 || !valid_kind(kind) || key == NULL ||
	    key[0] == '\0' || strlen(key) > KEY_MAX)
		return LEDGER_INVALID;
	if (db_begin(db) == -1)
		return LEDGER_ERROR;
	if ((rc = transfer_precheck(db, a, debit, credit, amount, key)) !=
	    LEDGER_OK)
		goto out;
	rc = LEDGER_ERROR;
	p[0] = db_i64(a, debit);
	p[1] = db_i64(a, credit);
	p[2] = db_i64(a, amount);
	p[3] = kind;
	p[4] = key;
	p[5] = hold_id > 0 ? db_i64(a, hold_id) : NULL;
	if ((res = db_exec(db, a, &q_insert, p)) == NULL)
		goto out;
	if (PQntuples(res) == 0) {
		/* A concurrent transfer took the key after the check. */
		rc = LEDGER_DUPLICATE;
		goto out;
	}
	p[1] = p[2];
	if ((res = db_exec(db, a, &q_debit, p)) == NULL)
		goto out;
	if (touched(res) != 1) {
		log_error("ledger: account %" PRId64 " cannot cover %" PRId64
		    " although locked and checked", debit, amount);
		goto out;
	}
	p[0] = db_i64(a, credit);
	if ((res = db_exec(db, a, &q_credit, p)) == NULL || touched(res) != 1)
		goto out;
	rc = LEDGER_OK;
out:
	return db_finish(db, rc, rc != LEDGER_ERROR, LEDGER_ERROR);
}

static const struct db_stmt q_event = {
	"ledger_event",
	"INSERT INTO wallet_events (user_id, kind, amount, transfer_id, detail)"
	" VALUES ($1, $2, $3, (SELECT id FROM transfers"
	" WHERE idempotency_key = $4), coalesce($5::jsonb, '{}'))",
	5, 0
};
/* A user's account with what it holds beyond its holds, and its newest transfer. */
static const struct db_stmt q_sweepable = {
	"ledger_sweepable",
	"SELECT a.id, a.kind, a.balance - a.held, coalesce(greatest("
	" (SELECT max(id) FROM transfers WHERE debit_account = a.id),"
	" (SELECT max(id) FROM transfers WHERE credit_account = a.id)), 0)"
	" FROM ledger_accounts a WHERE a.user_id = $1 ORDER BY a.id FOR UPDATE",
	1, 0
};

int
ledger_event(struct db *db, struct arena *a, int64_t user_id,
    const char *kind, int64_t amount, const char *transfer_key,
    const char *detail)
{
	const char	*p[5];

	if (user_id <= 0 || !valid_kind(kind))
		return LEDGER_INVALID;
	p[0] = db_i64(a, user_id);
	p[1] = kind;
	p[2] = transfer_key != NULL || amount != 0 ? db_i64(a, amount) : NULL;
	p[3] = transfer_key;
	p[4] = detail;
	return db_exec(db, a, &q_event, p) == NULL ? LEDGER_ERROR : LEDGER_OK;
}

/* Sweep each of the user's accounts into expired; see ledger.h. */
int
ledger_sweep(struct db *db, struct arena *a, int64_t user_id,
    const char *kind, int64_t *moved)
{
	const char	*p[1], *key;
	PGresult	*res;
	int64_t		 to, amount;
	int		 r, rc;

	*moved = 0;
	if (user_id <= 0 || !valid_kind(kind))
		return LEDGER_INVALID;
	if (db_begin(db) == -1)
		return LEDGER_ERROR;
	p[0] = db_i64(a, user_id);
	if ((rc = ledger_account_id(db, a, LEDGER_EXPIRED, 0, &to)) !=
	    LEDGER_OK)
		goto out;
	rc = LEDGER_ERROR;
	if ((res = db_exec(db, a, &q_sweepable, p)) == NULL)
		goto out;
	for (r = 0; r < PQntuples(res); r++) {
		if ((amount = db_int64(res, r, 2)) <= 0)
			continue;
		key = arena_printf(a, "%s:%s:%s", kind, PQgetvalue(res, r, 0),
		    PQgetvalue(res, r, 3));
		rc = ledger_transfer(db, a, db_int64(res, r, 0), to, amount,
		    kind, key, 0);
		if (rc == LEDGER_DUPLICATE)
			continue;
		if (rc != LEDGER_OK || (rc = ledger_event(db, a, user_id, kind,
		    -amount, key, arena_printf(a, "{\"account\": \"%s\"}",
		    PQgetvalue(res, r, 1)))) != LEDGER_OK)
			goto out;
		*moved += amount;
	}
	rc = LEDGER_OK;
out:
	if (rc != LEDGER_OK) {
		*moved = 0;
		rc = LEDGER_ERROR;	/* rolled back: the caller's transaction too */
	}
	return db_finish(db, rc, rc == LEDGER_OK, LEDGER_ERROR);	/* all or nothing */
}

/* Open the accounts and move amount from promotions under "signup:<id>". */
int
ledger_grant_signup(struct db *db, struct arena *a, int64_t user_id,
    int64_t amount)
{
	const char	*key;
	int64_t		 from, to;
	int		 rc;

	if (user_id <= 0 || amount <= 0)
		return LEDGER_INVALID;
	if (db_begin(db) == -1)
		return LEDGER_ERROR;
	if ((rc = ledger_open_user(db, a, user_id)) != LEDGER_OK ||
	    (rc = ledger_account_id(db, a, LEDGER_PROMOTIONS, 0, &from)) !=
	    LEDGER_OK ||
	    (rc = ledger_account_id(db, a, LEDGER_CREDIT, user_id, &to)) !=
	    LEDGER_OK)
		goto out;
	key = arena_printf(a, "signup:%" PRId64, user_id);
	if ((rc = ledger_transfer(db, a, from, to, amount, "signup", key,
	    0)) == LEDGER_OK)
		rc = ledger_event(db, a, user_id, "signup_grant", amount, key,
		    NULL);
out:
	return db_finish(db, rc, rc != LEDGER_ERROR, LEDGER_ERROR);
}

/* Read both of the user's accounts into b (zeros for a missing one). */
int
ledger_balances(struct db *db, struct arena *a, int64_t user_id,
    struct ledger_balances *b)
{
	const char	*p[1];
	PGresult	*res;
	int		 i;

	memset(b, 0, sizeof(*b));
	p[0] = db_i64(a, user_id);
	if ((res = db_exec(db, a, &q_balances, p)) == NULL)
		return LEDGER_ERROR;
	for (i = 0; i < PQntuples(res); i++)
		if (strcmp(PQgetvalue(res, i, 0), "credit") == 0) {
			b->credit = db_int64(res, i, 1);
			b->credit_held = db_int64(res, i, 2);
		} else {
			b->earnings = db_int64(res, i, 1);
			b->earnings_held = db_int64(res, i, 2);
		}
	return LEDGER_OK;
}

/* One row of q_user_transfers as a JSON object (a new reference), or NULL. */
static json_t *
transfer_json(const PGresult *res, int r)
{
	char	 usd[32];
	json_t	*hold;

	money_format(db_int64(res, r, 4), usd, sizeof(usd));
	hold = PQgetisnull(res, r, 5) ? json_null() :
	    json_integer((json_int_t)db_int64(res, r, 5));
	return json_pack("{s:I, s:s, s:s, s:s, s:I, s:s, s:o, s:s}",
	    "id", (json_int_t)db_int64(res, r, 0),
	    "created_at", PQgetvalue(res, r, 1),
	    "kind", PQgetvalue(res, r, 2),
	    "account", PQgetvalue(res, r, 3),
	    "amount", (json_int_t)db_int64(res, r, 4),
	    "amount_usd", usd,
	    "hold_id", hold,
	    "counterparty", PQgetvalue(res, r, 6));
}

/* One page of the user's transfers as a new JSON array; NULL on error. */
json_t *
ledger_user_transfers(struct db *db, struct arena *a, int64_t user_id,
    int64_t before_id, int limit, int64_t *next_before)
{
	const char	*p[3];
	PGresult	*res;
	json_t		*list, *o;
	int64_t		 id, last = 0;
	int		 i, n = 0;

	*next_before = 0;
	if (user_id <= 0 || before_id < 0 || limit < 1 || limit > PAGE_MAX)
		return NULL;
	p[0] = db_i64(a, user_id);
	p[1] = db_i64(a, before_id > 0 ? before_id : INT64_MAX);
	/* One transfer more than asked: is there a next page? */
	p[2] = db_i64(a, (int64_t)limit + 1);
	if ((res = db_exec(db, a, &q_user_transfers, p)) == NULL)
		return NULL;
	if ((list = json_array()) == NULL)
		abort();
	for (i = 0; i < PQntuples(res); i++) {
		if ((id = db_int64(res, i, 0)) != last && ++n > limit) {
			*next_before = last;
			break;
		}
		last = id;
		if ((o = transfer_json(res, i)) == NULL ||
		    json_array_append_new(list, o) == -1)
			abort();
	}
	return list;
}

/* "account 12 (credit of user 7)" for a row of q_check. */
static void
put_account(struct str *out, const PGresult *res, int r)
{
	str_printf(out, "account %s (%s): ", PQgetvalue(res, r, 1),
	    PQgetvalue(res, r, 2));
}

/* Append the report line for problem row r of q_check. */
static void
put_problem(struct str *out, const PGresult *res, int r)
{
	const char	*code = PQgetvalue(res, r, 0);
	char		 x[32], y[32];

	money_format(db_int64(res, r, 3), x, sizeof(x));
	money_format(db_int64(res, r, 4), y, sizeof(y));
	if (strcmp(code, "missing") == 0)
		str_printf(out, "platform account %s is missing\n",
		    PQgetvalue(res, r, 2));
	else if (strcmp(code, "sum") == 0)
		str_printf(out, "balances sum to %s, not 0\n", x);
	else if (strcmp(code, "owed") == 0)
		str_printf(out, "accounts owe %s but the receivable account "
		    "carries %s\n", x, y);
	else if (strcmp(code, "payouts") == 0)
		str_printf(out, "the payouts account holds %s but the payouts "
		    "in flight are %s\n", x, y);
	else if (strcmp(code, "key") == 0)
		str_printf(out, "idempotency key \"%s\" is used %s times\n",
		    PQgetvalue(res, r, 2), PQgetvalue(res, r, 3));
	else if (strcmp(code, "hold") == 0)
		str_printf(out, "hold %s (%s): its transfers sum to %s,"
		    " expected %s\n", PQgetvalue(res, r, 1),
		    PQgetvalue(res, r, 2), x, y);
	else {
		put_account(out, res, r);
		if (strcmp(code, "negative") == 0)
			str_printf(out, "balance %s is negative\n", x);
		else if (strcmp(code, "held") == 0)
			str_printf(out, "held %s is outside 0..balance %s\n",
			    x, y);
		else if (strcmp(code, "balance") == 0)
			str_printf(out, "cached balance %s but its transfers"
			    " sum to %s\n", x, y);
		else
			str_printf(out, "held %s but its open holds reserve"
			    " %s\n", x, y);
	}
}

/* Run q_check and turn its rows into report lines; 0, 1 or -1. */
int
ledger_check(struct db *db, struct arena *a, struct str *report)
{
	PGresult	*res;
	int		 i, summary = -1, problems = 0;

	if ((res = db_exec(db, a, &q_check, NULL)) == NULL)
		return -1;
	for (i = 0; i < PQntuples(res); i++)
		if (strcmp(PQgetvalue(res, i, 0), "summary") == 0)
			summary = i;
		else {
			put_problem(report, res, i);
			problems++;
		}
	if (problems > 0) {
		log_warn("ledger check found %d problem%s", problems,
		    problems == 1 ? "" : "s");
		return 1;
	}
	if (summary == -1)
		return -1;
	str_printf(report, "clean: %s accounts, %s transfers, %s open holds\n",
	    PQgetvalue(res, summary, 3), PQgetvalue(res, summary, 4),
	    PQgetvalue(res, summary, 5));
	return 0;
}
