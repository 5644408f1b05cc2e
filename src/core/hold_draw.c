/* hold_draw.c: draws on a held hold (a lease's), a batch at a time, set-based */
#include "config.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "db.h"
#include "hold.h"
#include "log.h"

#define IDEM_MAX	64	/* the longest idem a draw takes */

/* The holds of a batch, locked in id order. */
static const struct db_stmt q_lock_holds = {
	"draw_lock_holds",
	"SELECT id, amount, from_credit, credit_account, earnings_account,"
	" status = 'held', drawn, drawn_credit, kept FROM holds"
	" WHERE id = ANY ($1::bigint[]) ORDER BY id FOR UPDATE",
	1, 0
};
/* The suppliers' accounts, opened where missing. */
static const struct db_stmt q_open = {
	"draw_open_suppliers",
	"INSERT INTO ledger_accounts (kind, user_id)"
	" SELECT k, u.id FROM users u, unnest(ARRAY['credit', 'earnings']) k"
	" WHERE u.id = ANY ($1::bigint[]) ON CONFLICT DO NOTHING",
	1, 0
};
/*
 * Every account the batch touches, locked in id order: the consumers'
 * ($1), the suppliers' earnings ($2, by user) and revenue.
 */
static const struct db_stmt q_lock_accounts = {
	"draw_lock_accounts",
	"SELECT id, kind, coalesce(user_id, 0) FROM ledger_accounts"
	" WHERE id = ANY ($1::bigint[])"
	" OR (kind = 'earnings' AND user_id = ANY ($2::bigint[]))"
	" OR (kind = 'revenue' AND user_id IS NULL) ORDER BY id FOR UPDATE",
	2, 0
};
static const struct db_stmt q_transfers = {
	"draw_transfers",
	"INSERT INTO transfers (debit_account, credit_account, amount, kind,"
	" idempotency_key, hold_id) SELECT * FROM unnest($1::bigint[],"
	" $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::bigint[])"
	" ON CONFLICT (idempotency_key) DO NOTHING",
	6, 0
};
static const struct db_stmt q_balances = {
	"draw_balances",
	"UPDATE ledger_accounts a SET balance = a.balance + d.b,"
	" held = a.held + d.h FROM unnest($1::bigint[], $2::bigint[],"
	" $3::bigint[]) AS d(id, b, h) WHERE a.id = d.id",
	3, 0
};
static const struct db_stmt q_holds = {
	"draw_holds",
	"UPDATE holds h SET drawn = d.drawn, drawn_credit = d.dc, kept = d.kept"
	" FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[])"
	" AS d(id, drawn, dc, kept) WHERE h.id = d.id AND h.status = 'held'",
	4, 0
};

/* A locked hold and what the batch drew on it so far. */
struct dhold {
	int64_t	id, amount, from_credit, credit_account, earnings_account;
	int64_t	drawn, drawn_credit, kept;
	int	held, changed;
};

/* An account: its balance and held changes. */
struct dacct {
	int64_t	id, kind_user, balance, held;
	int	earnings;	/* a user's earnings account (kind_user: the user) */
};

/* The batch's transfers, as parallel arrays for q_transfers. */
struct pieces {
	int64_t		*debit, *credit, *amount, *hold;
	const char	**kind, **key;
	size_t		 n;
};

/* The state of one batch. */
struct batch {
	struct dhold	*holds;
	size_t		 nholds;
	struct dacct	*accts;
	size_t		 naccts;
	int64_t		 revenue;
	struct pieces	 p;
};

/* True when s is a usable idem: [A-Za-z0-9_]{1,IDEM_MAX}. */
static int
idem_ok(const char *s)
{
	size_t	n = s == NULL ? 0 : strlen(s);

	return n >= 1 && n <= IDEM_MAX && strspn(s, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == n;
}

/* The locked hold id of the batch (it is there: all were locked). */
static struct dhold *
find_hold(struct batch *b, int64_t id)
{
	size_t	i;

	for (i = 0; i < b->nholds; i++)
		if (b->holds[i].id == id)
			return &b->holds[i];
	return NULL;
}

/* The locked account id, or NULL. */
static struct dacct *
find_acct(struct batch *b, int64_t id)
{
	size_t	i;

	for (i = 0; i < b->naccts; i++)
		if (b->accts[i].id == id)
			return &b->accts[i];
	return NULL;
}

/* The earnings account of user u, or 0 when it has none. */
static int64_t
earnings_of(struct batch *b, int64_t u)
{
	size_t	i;

	for (i = 0; i < b->naccts; i++)
		if (b->accts[i].earnings && b->accts[i].kind_user == u)
			return b->accts[i].id;
	return 0;
}

/* Lock the draws' holds into b; HOLD_OK, HOLD_INVALID (one missing), ERROR. */
static int
lock_holds(struct db *db, struct arena *a, struct batch *b,
    const struct hold_draw *d, size_t n)
{
	int64_t		*ids = arena_calloc(a, n, sizeof(*ids));
	const char	*p[1];
	PGresult	*res;
	size_t		 i;
	int		 r;

	for (i = 0; i < n; i++)
		ids[i] = d[i].hold_id;
	p[0] = db_array_i64(a, ids, n);
	if ((res = db_exec(db, a, &q_lock_holds, p)) == NULL)
		return HOLD_ERROR;
	b->nholds = (size_t)PQntuples(res);
	b->holds = arena_calloc(a, b->nholds + 1, sizeof(*b->holds));
	for (r = 0; r < PQntuples(res); r++) {
		b->holds[r] = (struct dhold){ db_int64(res, r, 0),
		    db_int64(res, r, 1), db_int64(res, r, 2),
		    db_int64(res, r, 3), db_int64(res, r, 4),
		    db_int64(res, r, 6), db_int64(res, r, 7),
		    db_int64(res, r, 8),
		    strcmp(PQgetvalue(res, r, 5), "t") == 0, 0 };
	}
	for (i = 0; i < n; i++)
		if (find_hold(b, d[i].hold_id) == NULL)
			return HOLD_INVALID;
	return HOLD_OK;
}

/*
 * Lock the accounts the batch touches (p: the holds' accounts, the
 * suppliers) into b; the number of suppliers without an earnings account,
 * or -1.
 */
static int
read_accounts(struct db *db, struct arena *a, struct batch *b,
    const char *const *p, const int64_t *users, size_t nu)
{
	PGresult	*res;
	size_t		 i;
	int		 r, missing = 0;

	if ((res = db_exec(db, a, &q_lock_accounts, p)) == NULL)
		return -1;
	b->naccts = (size_t)PQntuples(res);
	b->accts = arena_calloc(a, b->naccts + 1, sizeof(*b->accts));
	for (r = 0; r < PQntuples(res); r++) {
		b->accts[r].id = db_int64(res, r, 0);
		b->accts[r].kind_user = db_int64(res, r, 2);
		b->accts[r].earnings = b->accts[r].kind_user > 0 &&
		    strcmp(PQgetvalue(res, r, 1), "earnings") == 0;
		if (strcmp(PQgetvalue(res, r, 1), "revenue") == 0)
			b->revenue = b->accts[r].id;
	}
	for (i = 0; i < nu; i++)
		if (earnings_of(b, users[i]) == 0)
			missing++;
	return missing;
}

/*
 * Lock every account the batch touches into b, opening the suppliers'
 * accounts where missing (a supplier's first earning). HOLD_OK,
 * HOLD_INVALID (a supplier without accounts: no such user) or HOLD_ERROR.
 */
static int
lock_accounts(struct db *db, struct arena *a, struct batch *b,
    const struct hold_draw *d, size_t n)
{
	int64_t		*users = arena_calloc(a, n + 1, sizeof(int64_t));
	int64_t		*mine = arena_calloc(a, 2 * b->nholds + 1,
			    sizeof(int64_t));
	const char	*p[2], *pu[1];
	size_t		 i, nu = 0;
	int		 missing;

	for (i = 0; i < n; i++)
		if (d[i].supplier > 0)
			users[nu++] = d[i].supplier;
	for (i = 0; i < b->nholds; i++) {
		mine[2 * i] = b->holds[i].credit_account;
		mine[2 * i + 1] = b->holds[i].earnings_account;
	}
	p[0] = db_array_i64(a, mine, 2 * b->nholds);
	p[1] = pu[0] = db_array_i64(a, users, nu);
	if ((missing = read_accounts(db, a, b, p, users, nu)) > 0) {
		if (db_exec(db, a, &q_open, pu) == NULL)
			return HOLD_ERROR;
		missing = read_accounts(db, a, b, p, users, nu);
	}
	if (missing == -1 || b->revenue == 0)
		return HOLD_ERROR;
	return missing > 0 ? HOLD_INVALID : HOLD_OK;
}

/* Add a transfer of amount from debit to credit (distinct) to the batch. */
static void
add_piece(struct arena *a, struct batch *b, int64_t hold, const char *idem,
    int64_t debit, const char *payer, int64_t credit, const char *payee,
    const char *kind, int64_t amount)
{
	struct pieces	*p = &b->p;

	p->debit[p->n] = debit;
	p->credit[p->n] = credit;
	p->amount[p->n] = amount;
	p->hold[p->n] = hold;
	p->kind[p->n] = kind;
	p->key[p->n] = arena_printf(a, "hold:%" PRId64 ":draw:%s:%s:%s", hold,
	    idem, payer, payee);
	p->n++;
	find_acct(b, debit)->balance -= amount;
	find_acct(b, credit)->balance += amount;
}

/*
 * Plan draw d on its hold h: cap it, then pay the payees (supplier, then
 * revenue) from the payers (credit, then earnings) piece by piece, as
 * hold_post does; a piece from an account to itself is kept.
 */
static void
plan(struct arena *a, struct batch *b, struct hold_draw *d, struct dhold *h)
{
	int64_t		 pay[2], get[2], acct[2], to[2], n;
	const char	*payer[2] = { "credit", "earnings" };
	const char	*payee[2] = { "supplier", "revenue" };
	const char	*kind[2] = { "usage", "fee" };
	size_t		 i = 0, j = 0;

	if (!h->held) {
		d->charge = d->earning = 0;
		return;
	}
	if (d->charge > h->amount - h->drawn) {
		/* The supplier's share of what is left, in proportion. */
		d->earning = d->charge == 0 ? 0 : (int64_t)((__int128)d->earning *
		    (h->amount - h->drawn) / d->charge);
		d->charge = h->amount - h->drawn;
	}
	if (d->earning > d->charge)
		d->earning = d->charge;
	pay[0] = h->from_credit - h->drawn_credit;
	if (pay[0] > d->charge)
		pay[0] = d->charge;
	pay[1] = d->charge - pay[0];
	acct[0] = h->credit_account;
	acct[1] = h->earnings_account;
	to[0] = d->supplier > 0 ? earnings_of(b, d->supplier) : 0;
	to[1] = b->revenue;
	get[0] = d->supplier > 0 ? d->earning : 0;
	get[1] = d->charge - get[0];
	find_acct(b, acct[0])->held -= pay[0];
	find_acct(b, acct[1])->held -= pay[1];
	h->drawn += d->charge;
	h->drawn_credit += pay[0];
	h->changed = 1;
	while (i < 2 && j < 2) {
		if (pay[i] == 0 || get[j] == 0) {
			if (pay[i] == 0)
				i++;
			else
				j++;
			continue;
		}
		n = pay[i] < get[j] ? pay[i] : get[j];
		pay[i] -= n;
		get[j] -= n;
		if (acct[i] == to[j])
			h->kept += n;
		else
			add_piece(a, b, h->id, d->idem, acct[i], payer[i],
			    to[j], payee[j], kind[j], n);
	}
}

/* Run a batch statement that must touch want rows; 0 or -1. */
static int
exec_n(struct db *db, struct arena *a, const struct db_stmt *st,
    const char *const *p, size_t want)
{
	PGresult	*res;

	if ((res = db_exec(db, a, st, p)) == NULL)
		return -1;
	if ((size_t)atoll(PQcmdTuples(res)) != want) {
		log_error("%s: %s rows, not %zu (an idem used before?)",
		    st->name, PQcmdTuples(res), want);
		return -1;
	}
	return 0;
}

/* Write the batch: its transfers, the accounts, the holds; 0 or -1. */
static int
write_batch(struct db *db, struct arena *a, struct batch *b)
{
	const char	*p[6];
	int64_t		*v[4];
	size_t		 i, k;

	p[0] = db_array_i64(a, b->p.debit, b->p.n);
	p[1] = db_array_i64(a, b->p.credit, b->p.n);
	p[2] = db_array_i64(a, b->p.amount, b->p.n);
	p[3] = db_array_str(a, b->p.kind, b->p.n);
	p[4] = db_array_str(a, b->p.key, b->p.n);
	p[5] = db_array_i64(a, b->p.hold, b->p.n);
	if (b->p.n > 0 && exec_n(db, a, &q_transfers, p, b->p.n) == -1)
		return -1;
	for (k = 0; k < 3; k++)
		v[k] = arena_calloc(a, b->naccts + 1, sizeof(int64_t));
	for (i = 0, k = 0; i < b->naccts; i++)
		if (b->accts[i].balance != 0 || b->accts[i].held != 0) {
			v[0][k] = b->accts[i].id;
			v[1][k] = b->accts[i].balance;
			v[2][k++] = b->accts[i].held;
		}
	for (i = 0; i < 3; i++)
		p[i] = db_array_i64(a, v[i], k);
	if (k > 0 && exec_n(db, a, &q_balances, p, k) == -1)
		return -1;
	for (k = 0; k < 4; k++)
		v[k] = arena_calloc(a, b->nholds + 1, sizeof(int64_t));
	for (i = 0, k = 0; i < b->nholds; i++)
		if (b->holds[i].changed) {
			v[0][k] = b->holds[i].id;
			v[1][k] = b->holds[i].drawn;
			v[2][k] = b->holds[i].drawn_credit;
			v[3][k++] = b->holds[i].kept;
		}
	for (i = 0; i < 4; i++)
		p[i] = db_array_i64(a, v[i], k);
	return k > 0 ? exec_n(db, a, &q_holds, p, k) : 0;
}

/* Check the draws' values; 0 or -1. */
static int
valid(const struct hold_draw *d, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (d[i].hold_id <= 0 || d[i].charge < 0 || d[i].earning < 0 ||
		    d[i].earning > d[i].charge || d[i].supplier < 0 ||
		    !idem_ok(d[i].idem))
			return -1;
	return 0;
}

/* Lock, plan every draw in order, then write it all. See hold.h. */
int
hold_draw_many(struct db *db, struct arena *a, struct hold_draw *d, size_t n)
{
	struct batch	 b;
	size_t		 i;
	int		 rc;

	if (n == 0)
		return HOLD_OK;
	if (valid(d, n) == -1)
		return HOLD_INVALID;
	memset(&b, 0, sizeof(b));
	b.p.debit = arena_calloc(a, 4 * n, sizeof(int64_t));
	b.p.credit = arena_calloc(a, 4 * n, sizeof(int64_t));
	b.p.amount = arena_calloc(a, 4 * n, sizeof(int64_t));
	b.p.hold = arena_calloc(a, 4 * n, sizeof(int64_t));
	b.p.kind = arena_calloc(a, 4 * n, sizeof(char *));
	b.p.key = arena_calloc(a, 4 * n, sizeof(char *));
	if (db_begin(db) == -1)
		return HOLD_ERROR;
	if ((rc = lock_holds(db, a, &b, d, n)) != HOLD_OK ||
	    (rc = lock_accounts(db, a, &b, d, n)) != HOLD_OK)
		goto out;
	for (i = 0; i < n; i++)
		plan(a, &b, &d[i], find_hold(&b, d[i].hold_id));
	rc = write_batch(db, a, &b) == -1 ? HOLD_ERROR : HOLD_OK;
out:
	return db_finish(db, rc, rc != HOLD_ERROR, HOLD_ERROR);
}

/* One draw through hold_draw_many; HOLD_RESOLVED when the hold is not held. */
int
hold_draw(struct db *db, struct arena *a, int64_t hold_id, int64_t charge,
    int64_t earning, int64_t supplier, const char *idem, int64_t *drawn)
{
	struct hold_draw	d = { hold_id, charge, earning, supplier, idem };
	char			status[8];
	int64_t			user, amount;
	int			rc;

	*drawn = 0;
	if ((rc = hold_draw_many(db, a, &d, 1)) != HOLD_OK)
		return rc;
	*drawn = d.charge;
	if (d.charge == 0 && hold_get(db, a, hold_id, &user, &amount,
	    status) == HOLD_OK && strcmp(status, "held") != 0)
		return HOLD_RESOLVED;
	return HOLD_OK;
}
