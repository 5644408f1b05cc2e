/* test_ledger.c: the credit ledger and holds against a real PostgreSQL */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "arena.h"
#include "db.h"
#include "hold.h"
#include "json.h"
#include "ledger.h"
#include "money.h"
#include "str.h"
#include "unit.h"

#define WORKERS		25	/* processes in the concurrency test */
#define EACH		20	/* reservations each */

/* Test-only statements: users, raw reads, and deliberate corruption. */
static const struct db_stmt t_insert_user = {
	"test_insert_user",
	"INSERT INTO users (email, password_hash) VALUES ($1, 'test')"
	" RETURNING id",
	1, 0
};
static const struct db_stmt t_account = {
	"test_account",
	"SELECT balance, held FROM ledger_accounts WHERE id = $1",
	1, 0
};
static const struct db_stmt t_user_accounts = {
	"test_user_accounts",
	"SELECT count(*) FROM ledger_accounts WHERE user_id = $1",
	1, 0
};
static const struct db_stmt t_user_holds = {
	"test_user_holds",
	"SELECT count(*) FROM holds WHERE user_id = $1",
	1, 0
};
static const struct db_stmt t_by_key = {
	"test_by_key",
	"SELECT id, amount, hold_id FROM transfers WHERE idempotency_key = $1",
	1, 0
};
static const struct db_stmt t_update_transfer = {
	"test_update_transfer",
	"UPDATE transfers SET amount = amount + 1 WHERE id = $1",
	1, 0
};
static const struct db_stmt t_delete_transfer = {
	"test_delete_transfer",
	"DELETE FROM transfers WHERE id = $1",
	1, 0
};
static const struct db_stmt t_skew_balance = {
	"test_skew_balance",
	"UPDATE ledger_accounts SET balance = balance + $2 WHERE id = $1",
	2, 0
};
static const struct db_stmt t_skew_held = {
	"test_skew_held",
	"UPDATE ledger_accounts SET held = held + $2 WHERE id = $1",
	2, 0
};
static const struct db_stmt t_skew_charge = {
	"test_skew_charge",
	"UPDATE holds SET charge = charge + $2 WHERE id = $1",
	2, 0
};
static const struct db_stmt t_hold_drawn = {
	"test_hold_drawn",
	"SELECT drawn || ' ' || drawn_credit || ' ' || kept || ' ' || status"
	" FROM holds WHERE id = $1",
	1, 0
};
static const struct db_stmt t_unnest_text = {
	"test_unnest_text",
	"SELECT x FROM unnest($1::text[]) WITH ORDINALITY AS t(x, i) ORDER BY i",
	1, 0
};
static const struct db_stmt t_unnest_bigint = {
	"test_unnest_bigint",
	"SELECT x FROM unnest($1::bigint[]) WITH ORDINALITY AS t(x, i)"
	" ORDER BY i",
	1, 0
};
static const struct db_stmt t_skew_drawn = {
	"test_skew_drawn",
	"UPDATE holds SET drawn = drawn + $2, drawn_credit = drawn_credit + $2"
	" WHERE id = $1",
	2, 0
};
static const struct db_stmt t_expire = {
	"test_expire",
	"UPDATE holds SET expires_at = now() - interval '1 hour' WHERE id = $1",
	1, 0
};

static const char	*conninfo;
static struct db	*db;
static struct arena	*a;

/* Per test (in its forked child): a fresh connection and arena. */
static void
setup(void)
{
	db = db_new(conninfo);
	a = arena_new();
	ck_assert_msg(db_connect(db) == 0, "connect: %s", db_error(db));
}

/* After each test: close the connection, free the arena. */
static void
teardown(void)
{
	arena_free(a);
	db_free(db);
}

/* v as a parameter string in the arena. */
static const char *
num(int64_t v)
{
	return arena_printf(a, "%" PRId64, v);
}

/* Run a test statement with up to two parameters; returns its result. */
static PGresult *
run(const struct db_stmt *stmt, const char *p0, const char *p1)
{
	const char	*p[2] = { p0, p1 };
	PGresult	*res = db_exec(db, a, stmt, p);

	ck_assert_msg(res != NULL, "%s: %s", stmt->name, db_error(db));
	return res;
}

/* The first column of the first row of a result, as an integer. */
static int64_t
first(PGresult *res)
{
	ck_assert_int_ge(PQntuples(res), 1);
	return strtoll(PQgetvalue(res, 0, 0), NULL, 10);
}

/* A new user row with a unique lower-case email; no ledger accounts yet. */
static int64_t
insert_user(void)
{
	static int	 n;
	struct timespec	 ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return first(run(&t_insert_user, arena_printf(a,
	    "ledger-%d-%d-%ld@test.invalid", (int)getpid(), n++, ts.tv_nsec),
	    NULL));
}

/* A new user with both ledger accounts, empty. */
static int64_t
new_user(void)
{
	int64_t	u = insert_user();

	ck_assert_int_eq(ledger_open_user(db, a, u), LEDGER_OK);
	return u;
}

/* The id of an account (user 0 for a platform account). */
static int64_t
acc(enum ledger_kind kind, int64_t user)
{
	int64_t	id = 0;

	ck_assert_int_eq(ledger_account_id(db, a, kind, user, &id), LEDGER_OK);
	return id;
}

/* The cached balance of an account. */
static int64_t
balance_of(int64_t account)
{
	return first(run(&t_account, num(account), NULL));
}

/* Buy amount of credit (or earnings, for tests) for user from stripe. */
static void
fund(int64_t user, enum ledger_kind kind, int64_t amount)
{
	static int	n;

	ck_assert_int_eq(ledger_transfer(db, a, acc(LEDGER_STRIPE, 0),
	    acc(kind, user), amount, "purchase", arena_printf(a,
	    "test:fund:%" PRId64 ":%d:%d", user, (int)getpid(), n++), 0),
	    LEDGER_OK);
}

/* The user's balances. */
static struct ledger_balances
bal(int64_t user)
{
	struct ledger_balances	b;

	ck_assert_int_eq(ledger_balances(db, a, user, &b), LEDGER_OK);
	return b;
}

/* Assert all four balances of a user. */
static void
assert_bal(int64_t user, int64_t credit, int64_t credit_held,
    int64_t earnings, int64_t earnings_held)
{
	struct ledger_balances	b = bal(user);

	ck_assert_int_eq(b.credit, credit);
	ck_assert_int_eq(b.credit_held, credit_held);
	ck_assert_int_eq(b.earnings, earnings);
	ck_assert_int_eq(b.earnings_held, earnings_held);
}

/* The status of a hold. */
static const char *
status_of(int64_t hold)
{
	int64_t	user, amount;
	char	st[8];

	ck_assert_int_eq(hold_get(db, a, hold, &user, &amount, st), HOLD_OK);
	return arena_strdup(a, st);
}

/* Run the checker; returns its code and leaves the report in the arena. */
static int
check(const char **report)
{
	struct str	s = STR_INIT;
	int		rc = ledger_check(db, a, &s);

	*report = arena_strdup(a, str_cstr(&s));
	str_free(&s);
	return rc;
}

/* Every test ends with this: the whole ledger is consistent. */
static void
assert_clean(void)
{
	const char	*report;

	ck_assert_msg(check(&report) == 0, "ledger not clean:\n%s", report);
	ck_assert_ptr_nonnull(strstr(report, "clean: "));
}

START_TEST(test_signup_once)
{
	int64_t		u = new_user(), promo = acc(LEDGER_PROMOTIONS, 0);
	int64_t		before = balance_of(promo);
	const char	*key = arena_printf(a, "signup:%" PRId64, u);

	ck_assert_int_eq(ledger_grant_signup(db, a, u, 5000000), LEDGER_OK);
	ck_assert_int_eq(ledger_grant_signup(db, a, u, 5000000),
	    LEDGER_DUPLICATE);
	ck_assert_int_eq(ledger_grant_signup(db, a, u, 7000000),
	    LEDGER_DUPLICATE);
	assert_bal(u, 5000000, 0, 0, 0);
	ck_assert_int_eq(balance_of(promo), before - 5000000);
	ck_assert_int_eq(PQntuples(run(&t_by_key, key, NULL)), 1);
	ck_assert_int_eq(ledger_grant_signup(db, a, u, 0), LEDGER_INVALID);
	/* A user without accounts yet gets them with the grant. */
	u = insert_user();
	ck_assert_int_eq(ledger_grant_signup(db, a, u, 1000), LEDGER_OK);
	assert_bal(u, 1000, 0, 0, 0);
	ck_assert_int_eq(ledger_grant_signup(db, a, 1LL << 60, 1000),
	    LEDGER_INVALID);
	assert_clean();
}
END_TEST

START_TEST(test_signup_in_callers_transaction)
{
	int64_t	u, v;

	/* Signup = user row + accounts + grant, committed together. */
	ck_assert_int_eq(db_begin(db), 0);
	u = insert_user();
	ck_assert_int_eq(ledger_open_user(db, a, u), LEDGER_OK);
	ck_assert_int_eq(ledger_open_user(db, a, u), LEDGER_OK);
	ck_assert_int_eq(ledger_grant_signup(db, a, u, 2000), LEDGER_OK);
	ck_assert_int_eq(db_commit(db), 0);
	assert_bal(u, 2000, 0, 0, 0);
	ck_assert_int_eq(first(run(&t_user_accounts, num(u), NULL)), 2);

	/* Rolled back: no accounts and the signup key is still free. */
	ck_assert_int_eq(db_begin(db), 0);
	v = insert_user();
	ck_assert_int_eq(ledger_grant_signup(db, a, v, 2000), LEDGER_OK);
	db_rollback(db);
	ck_assert_int_eq(first(run(&t_user_accounts, num(v), NULL)), 0);
	ck_assert_int_eq(PQntuples(run(&t_by_key, arena_printf(a,
	    "signup:%" PRId64, v), NULL)), 0);

	/* An outcome that changed nothing leaves the caller's transaction. */
	ck_assert_int_eq(db_begin(db), 0);
	ck_assert_int_eq(ledger_transfer(db, a, acc(LEDGER_CREDIT, u),
	    acc(LEDGER_REVENUE, 0), 2001, "test", "test:nested:too-much",
	    0), LEDGER_INSUFFICIENT);
	ck_assert_int_eq(ledger_grant_signup(db, a, u, 5), LEDGER_DUPLICATE);
	ck_assert_int_eq(ledger_transfer(db, a, acc(LEDGER_CREDIT, u),
	    acc(LEDGER_REVENUE, 0), 500, "test", arena_printf(a,
	    "test:nested:%" PRId64, u), 0), LEDGER_OK);
	ck_assert_int_eq(db_commit(db), 0);
	assert_bal(u, 1500, 0, 0, 0);
	assert_clean();
}
END_TEST

START_TEST(test_transfer_idempotent)
{
	int64_t		 u = new_user(), stripe = acc(LEDGER_STRIPE, 0);
	int64_t		 credit = acc(LEDGER_CREDIT, u);
	int64_t		 rev = acc(LEDGER_REVENUE, 0), s0 = balance_of(stripe);
	int64_t		 r0 = balance_of(rev), h;
	const char	*k1 = arena_printf(a, "test:buy:%" PRId64, u);
	const char	*k2 = arena_printf(a, "test:spend:%" PRId64, u);

	ck_assert_int_eq(ledger_transfer(db, a, stripe, credit, 1000,
	    "purchase", k1, 0), LEDGER_OK);
	ck_assert_int_eq(ledger_transfer(db, a, stripe, credit, 1000,
	    "purchase", k1, 0), LEDGER_DUPLICATE);
	ck_assert_int_eq(ledger_transfer(db, a, stripe, credit, 9999,
	    "purchase", k1, 0), LEDGER_DUPLICATE);
	assert_bal(u, 1000, 0, 0, 0);
	ck_assert_int_eq(balance_of(stripe), s0 - 1000);
	ck_assert_int_eq(PQntuples(run(&t_by_key, k1, NULL)), 1);

	/* Bad arguments change nothing. */
	ck_assert_int_eq(ledger_transfer(db, a, stripe, credit, 0, "purchase",
	    "test:x", 0), LEDGER_INVALID);
	ck_assert_int_eq(ledger_transfer(db, a, stripe, credit, -5, "purchase",
	    "test:x", 0), LEDGER_INVALID);
	ck_assert_int_eq(ledger_transfer(db, a, credit, credit, 5, "purchase",
	    "test:x", 0), LEDGER_INVALID);
	ck_assert_int_eq(ledger_transfer(db, a, stripe, credit, 5, "Bad Kind",
	    "test:x", 0), LEDGER_INVALID);
	ck_assert_int_eq(ledger_transfer(db, a, stripe, credit, 5, "purchase",
	    "", 0), LEDGER_INVALID);
	ck_assert_int_eq(ledger_transfer(db, a, stripe, 1LL << 60, 5,
	    "purchase", "test:x", 0), LEDGER_INVALID);
	ck_assert_int_eq(ledger_account_id(db, a, LEDGER_CREDIT, 0, &h),
	    LEDGER_INVALID);
	ck_assert_int_eq(ledger_account_id(db, a, LEDGER_REVENUE, u, &h),
	    LEDGER_INVALID);

	/* Too much: nothing moves and the key is not used up. */
	ck_assert_int_eq(ledger_transfer(db, a, credit, rev, 1001, "test", k2,
	    0), LEDGER_INSUFFICIENT);
	assert_bal(u, 1000, 0, 0, 0);
	ck_assert_int_eq(balance_of(rev), r0);
	ck_assert_int_eq(PQntuples(run(&t_by_key, k2, NULL)), 0);
	/* Held money cannot be spent. */
	ck_assert_int_eq(hold_reserve(db, a, u, 600, 3600, &h), HOLD_OK);
	ck_assert_int_eq(ledger_transfer(db, a, credit, rev, 401, "test", k2,
	    0), LEDGER_INSUFFICIENT);
	ck_assert_int_eq(ledger_transfer(db, a, credit, rev, 400, "test", k2,
	    0), LEDGER_OK);
	/* A retry is a duplicate even when it could no longer be covered. */
	ck_assert_int_eq(ledger_transfer(db, a, credit, rev, 400, "test", k2,
	    0), LEDGER_DUPLICATE);
	assert_bal(u, 600, 600, 0, 0);
	ck_assert_int_eq(balance_of(rev), r0 + 400);
	ck_assert_int_eq(hold_void(db, a, h), HOLD_OK);
	assert_clean();
}
END_TEST

START_TEST(test_post_splits_exactly)
{
	int64_t			c = new_user(), s = new_user(), h, user, amount;
	int64_t			rev = acc(LEDGER_REVENUE, 0), r0;
	struct money_split	split;
	char			st[8];
	PGresult		*res;

	fund(c, LEDGER_CREDIT, 10000);
	r0 = balance_of(rev);
	ck_assert_int_eq(hold_reserve(db, a, c, 10000, 3600, &h), HOLD_OK);
	assert_bal(c, 10000, 10000, 0, 0);
	ck_assert_int_eq(hold_get(db, a, h, &user, &amount, st), HOLD_OK);
	ck_assert_int_eq(user, c);
	ck_assert_int_eq(amount, 10000);
	ck_assert_str_eq(st, "held");

	/* 9,000 at a 5% fee: the supplier 8,550, the platform 450. */
	ck_assert_int_eq(money_split_amount(9000, 500, &split), 0);
	ck_assert_int_eq(split.earning, 8550);
	ck_assert_int_eq(hold_post(db, a, h, split.charge, split.earning, s),
	    HOLD_OK);
	assert_bal(c, 1000, 0, 0, 0);
	assert_bal(s, 0, 0, 8550, 0);
	ck_assert_int_eq(balance_of(rev), r0 + 450);
	ck_assert_str_eq(status_of(h), "posted");
	res = run(&t_by_key, arena_printf(a, "hold:%" PRId64
	    ":credit:supplier", h), NULL);
	ck_assert_int_eq(PQntuples(res), 1);
	ck_assert_str_eq(PQgetvalue(res, 0, 1), "8550");
	ck_assert_int_eq(strtoll(PQgetvalue(res, 0, 2), NULL, 10), h);
	res = run(&t_by_key, arena_printf(a, "hold:%" PRId64
	    ":credit:revenue", h), NULL);
	ck_assert_int_eq(PQntuples(res), 1);
	ck_assert_str_eq(PQgetvalue(res, 0, 1), "450");
	assert_clean();
}
END_TEST

START_TEST(test_credit_spent_before_earnings)
{
	int64_t	u = new_user(), s = new_user(), h1, h2;
	int64_t	rev = acc(LEDGER_REVENUE, 0), r0;

	fund(u, LEDGER_CREDIT, 4000);
	fund(u, LEDGER_EARNINGS, 10000);
	r0 = balance_of(rev);
	ck_assert_int_eq(hold_reserve(db, a, u, 3000, 3600, &h1), HOLD_OK);
	assert_bal(u, 4000, 3000, 10000, 0);
	/* 1,000 of credit is left: the other 5,000 come from earnings. */
	ck_assert_int_eq(hold_reserve(db, a, u, 6000, 3600, &h2), HOLD_OK);
	assert_bal(u, 4000, 4000, 10000, 5000);
	/* The charge takes the hold's 1,000 of credit first, then 4,000. */
	ck_assert_int_eq(hold_post(db, a, h2, 5000, 4750, s), HOLD_OK);
	assert_bal(u, 3000, 3000, 6000, 0);
	assert_bal(s, 0, 0, 4750, 0);
	ck_assert_int_eq(balance_of(rev), r0 + 250);
	ck_assert_int_eq(hold_void(db, a, h1), HOLD_OK);
	assert_bal(u, 3000, 0, 6000, 0);
	assert_clean();
}
END_TEST

START_TEST(test_insufficient_reserve_changes_nothing)
{
	int64_t	u = new_user(), poor = new_user(), h = 0;

	fund(u, LEDGER_CREDIT, 1000);
	fund(u, LEDGER_EARNINGS, 500);
	ck_assert_int_eq(hold_reserve(db, a, u, 1501, 3600, &h),
	    HOLD_INSUFFICIENT);
	ck_assert_int_eq(h, 0);
	assert_bal(u, 1000, 0, 500, 0);
	ck_assert_int_eq(first(run(&t_user_holds, num(u), NULL)), 0);
	ck_assert_int_eq(hold_reserve(db, a, poor, 1, 3600, &h),
	    HOLD_INSUFFICIENT);
	ck_assert_int_eq(hold_reserve(db, a, insert_user(), 1, 3600, &h),
	    HOLD_INSUFFICIENT);
	ck_assert_int_eq(hold_reserve(db, a, u, 0, 3600, &h), HOLD_INVALID);
	ck_assert_int_eq(hold_reserve(db, a, u, 10, -1, &h), HOLD_INVALID);
	ck_assert_int_eq(hold_reserve(db, a, u, 1500, 3600, &h), HOLD_OK);
	assert_bal(u, 1000, 1000, 500, 500);
	ck_assert_int_eq(hold_reserve(db, a, u, 1, 3600, &h),
	    HOLD_INSUFFICIENT);
	ck_assert_int_eq(first(run(&t_user_holds, num(u), NULL)), 1);
	assert_clean();
	ck_assert_int_eq(hold_void(db, a, h), HOLD_OK);
	assert_bal(u, 1000, 0, 500, 0);
	assert_clean();
}
END_TEST

/* What a worker process did: successes, expected refusals, anything else. */
struct tally {
	int	ok, refused, other;
};

typedef void	(*work_fn)(struct db *, struct arena *, const int64_t *,
		    struct tally *);

/* A forked worker: connect, say ready, wait for go, work, report, exit. */
static void __attribute__((noreturn))
worker(work_fn fn, const int64_t *arg, int ready[2], int go[2], int out[2])
{
	struct db	*wdb = db_new(conninfo);
	struct arena	*wa = arena_new();
	struct tally	 t = { 0, 0, 0 };
	char		 c = 'r';

	close(ready[0]);
	close(go[1]);
	close(out[0]);
	if (db_connect(wdb) == -1)
		t.other = 1;
	if (write(ready[1], &c, 1) != 1 || read(go[0], &c, 1) != 0)
		_exit(1);
	if (t.other == 0)
		fn(wdb, wa, arg, &t);
	if (write(out[1], &t, sizeof(t)) != (ssize_t)sizeof(t))
		_exit(1);
	db_free(wdb);
	arena_free(wa);
	_exit(0);
}

/*
 * Run fn in n forked processes, each with its own connection, released
 * together once all are connected (a pipe barrier). Returns the sums.
 */
static struct tally
run_concurrently(int n, work_fn fn, const int64_t *arg)
{
	int		 ready[2], go[2], out[2], i, status;
	struct tally	 sum = { 0, 0, 0 }, one;
	pid_t		 pid;
	char		 c;

	ck_assert_int_eq(pipe(ready), 0);
	ck_assert_int_eq(pipe(go), 0);
	ck_assert_int_eq(pipe(out), 0);
	for (i = 0; i < n; i++) {
		ck_assert_int_ne(pid = fork(), -1);
		if (pid == 0)
			worker(fn, arg, ready, go, out);
	}
	close(ready[1]);
	close(go[0]);
	close(out[1]);
	for (i = 0; i < n; i++)
		ck_assert_int_eq(read(ready[0], &c, 1), 1);
	close(go[1]);	/* everyone starts now */
	for (i = 0; i < n; i++) {
		ck_assert_int_eq(read(out[0], &one, sizeof(one)), sizeof(one));
		sum.ok += one.ok;
		sum.refused += one.refused;
		sum.other += one.other;
	}
	for (i = 0; i < n; i++) {
		ck_assert_int_ne(wait(&status), -1);
		ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	close(ready[0]);
	close(out[0]);
	return sum;
}

/* Worker: EACH reservations of 3,000 for user arg[0]. */
static void
reserve_many(struct db *wdb, struct arena *wa, const int64_t *arg,
    struct tally *t)
{
	int64_t	h;
	int	i;

	for (i = 0; i < EACH; i++)
		switch (hold_reserve(wdb, wa, arg[0], 3000, 3600, &h)) {
		case HOLD_OK:
			t->ok++;
			break;
		case HOLD_INSUFFICIENT:
			t->refused++;
			break;
		default:
			t->other++;
		}
}

/* Worker: post hold arg[0] at 4,000 with 3,800 to supplier arg[1]. */
static void
post_once(struct db *wdb, struct arena *wa, const int64_t *arg,
    struct tally *t)
{
	switch (hold_post(wdb, wa, arg[0], 4000, 3800, arg[1])) {
	case HOLD_OK:
		t->ok++;
		break;
	case HOLD_RESOLVED:
		t->refused++;
		break;
	default:
		t->other++;
	}
}

START_TEST(test_post_twice_credits_once)
{
	int64_t		c = new_user(), s = new_user(), arg[2];
	struct tally	t;

	fund(c, LEDGER_CREDIT, 10000);
	ck_assert_int_eq(hold_reserve(db, a, c, 5000, 3600, &arg[0]), HOLD_OK);
	ck_assert_int_eq(hold_post(db, a, arg[0], 4000, 3800, s), HOLD_OK);
	ck_assert_int_eq(hold_post(db, a, arg[0], 4000, 3800, s),
	    HOLD_RESOLVED);
	ck_assert_int_eq(hold_post(db, a, arg[0], 5000, 0, 0), HOLD_RESOLVED);
	ck_assert_int_eq(hold_void(db, a, arg[0]), HOLD_RESOLVED);
	assert_bal(c, 6000, 0, 0, 0);
	assert_bal(s, 0, 0, 3800, 0);

	/* Retries racing each other: one posts, the rest see it resolved. */
	ck_assert_int_eq(hold_reserve(db, a, c, 5000, 3600, &arg[0]), HOLD_OK);
	arg[1] = s;
	t = run_concurrently(8, post_once, arg);
	ck_assert_int_eq(t.ok, 1);
	ck_assert_int_eq(t.refused, 7);
	ck_assert_int_eq(t.other, 0);
	assert_bal(c, 2000, 0, 0, 0);
	assert_bal(s, 0, 0, 7600, 0);
	assert_clean();
}
END_TEST

START_TEST(test_void_then_post_is_resolved)
{
	int64_t	u = new_user(), s = new_user(), h;

	fund(u, LEDGER_CREDIT, 2000);
	fund(u, LEDGER_EARNINGS, 2000);
	ck_assert_int_eq(hold_reserve(db, a, u, 3000, 3600, &h), HOLD_OK);
	assert_bal(u, 2000, 2000, 2000, 1000);
	ck_assert_int_eq(hold_void(db, a, h), HOLD_OK);
	assert_bal(u, 2000, 0, 2000, 0);
	ck_assert_int_eq(hold_post(db, a, h, 1000, 900, s), HOLD_RESOLVED);
	ck_assert_int_eq(hold_void(db, a, h), HOLD_RESOLVED);
	ck_assert_str_eq(status_of(h), "voided");
	assert_bal(u, 2000, 0, 2000, 0);
	assert_bal(s, 0, 0, 0, 0);
	assert_clean();
}
END_TEST

START_TEST(test_bad_posts_are_invalid)
{
	int64_t	u = new_user(), s = new_user(), h, user, amount;
	char	st[8];

	fund(u, LEDGER_CREDIT, 1000);
	ck_assert_int_eq(hold_reserve(db, a, u, 1000, 3600, &h), HOLD_OK);
	ck_assert_int_eq(hold_post(db, a, h, 1001, 0, s), HOLD_INVALID);
	ck_assert_int_eq(hold_post(db, a, h, 500, 600, s), HOLD_INVALID);
	ck_assert_int_eq(hold_post(db, a, h, -1, 0, s), HOLD_INVALID);
	ck_assert_int_eq(hold_post(db, a, h, 500, -1, s), HOLD_INVALID);
	ck_assert_int_eq(hold_post(db, a, h, 500, 100, -1), HOLD_INVALID);
	ck_assert_int_eq(hold_post(db, a, h, 500, 100, 1LL << 60),
	    HOLD_INVALID);
	ck_assert_int_eq(hold_post(db, a, 0, 500, 100, s), HOLD_INVALID);
	ck_assert_int_eq(hold_post(db, a, 1LL << 60, 500, 100, s),
	    HOLD_INVALID);
	ck_assert_int_eq(hold_void(db, a, 1LL << 60), HOLD_INVALID);
	ck_assert_int_eq(hold_get(db, a, 1LL << 60, &user, &amount, st),
	    HOLD_INVALID);
	ck_assert_str_eq(status_of(h), "held");
	assert_bal(u, 1000, 1000, 0, 0);
	assert_bal(s, 0, 0, 0, 0);
	/* The whole hold, all of it to the supplier. */
	ck_assert_int_eq(hold_post(db, a, h, 1000, 1000, s), HOLD_OK);
	assert_bal(u, 0, 0, 0, 0);
	assert_bal(s, 0, 0, 1000, 0);
	assert_clean();
}
END_TEST

START_TEST(test_no_supplier_and_self_supply)
{
	int64_t	c = new_user(), me = new_user(), h;
	int64_t	rev = acc(LEDGER_REVENUE, 0), r0;

	fund(c, LEDGER_CREDIT, 10000);
	r0 = balance_of(rev);
	ck_assert_int_eq(hold_reserve(db, a, c, 10000, 3600, &h), HOLD_OK);
	ck_assert_int_eq(hold_post(db, a, h, 9000, 8550, 0), HOLD_OK);
	assert_bal(c, 1000, 0, 0, 0);
	ck_assert_int_eq(balance_of(rev), r0 + 9000);

	/* A supplier using its own node, paying from its own earnings. */
	fund(me, LEDGER_CREDIT, 1000);
	fund(me, LEDGER_EARNINGS, 10000);
	ck_assert_int_eq(hold_reserve(db, a, me, 10000, 3600, &h), HOLD_OK);
	ck_assert_int_eq(hold_post(db, a, h, 9000, 8550, me), HOLD_OK);
	/* credit 1000 -> earnings (usage); earnings 7550 stays; 450 fee. */
	assert_bal(me, 0, 0, 10000 + 1000 - 450, 0);
	ck_assert_int_eq(balance_of(rev), r0 + 9000 + 450);

	/* A charge of 0 just releases the hold. */
	ck_assert_int_eq(hold_reserve(db, a, c, 100, 3600, &h), HOLD_OK);
	ck_assert_int_eq(hold_post(db, a, h, 0, 0, me), HOLD_OK);
	assert_bal(c, 1000, 0, 0, 0);
	ck_assert_str_eq(status_of(h), "posted");
	assert_clean();
}
END_TEST

START_TEST(test_reaper_voids_expired_only)
{
	int64_t	u = new_user(), fresh, zero, past, posted;
	int	n = -1;

	fund(u, LEDGER_CREDIT, 10000);
	ck_assert_int_eq(hold_reserve(db, a, u, 1000, 0, &zero), HOLD_OK);
	ck_assert_int_eq(hold_reserve(db, a, u, 1000, 3600, &fresh), HOLD_OK);
	ck_assert_int_eq(hold_reserve(db, a, u, 1000, 3600, &past), HOLD_OK);
	run(&t_expire, num(past), NULL);
	ck_assert_int_eq(hold_reserve(db, a, u, 1000, 0, &posted), HOLD_OK);
	ck_assert_int_eq(hold_post(db, a, posted, 500, 0, 0), HOLD_OK);
	assert_bal(u, 9500, 3000, 0, 0);

	ck_assert_int_eq(hold_reap(db, a, NULL, &n), HOLD_OK);
	ck_assert_int_ge(n, 2);
	ck_assert_str_eq(status_of(zero), "voided");
	ck_assert_str_eq(status_of(past), "voided");
	ck_assert_str_eq(status_of(fresh), "held");
	ck_assert_str_eq(status_of(posted), "posted");
	assert_bal(u, 9500, 1000, 0, 0);
	ck_assert_int_eq(hold_reap(db, a, NULL, &n), HOLD_OK);
	ck_assert_int_eq(n, 0);
	ck_assert_int_eq(hold_void(db, a, fresh), HOLD_OK);
	assert_clean();
}
END_TEST

START_TEST(test_transfers_are_immutable)
{
	int64_t		 u = new_user();
	const char	*key = arena_printf(a, "test:immutable:%" PRId64, u);
	const char	*p[1];
	PGresult	*res;

	ck_assert_int_eq(ledger_transfer(db, a, acc(LEDGER_STRIPE, 0),
	    acc(LEDGER_CREDIT, u), 1234, "purchase", key, 0), LEDGER_OK);
	res = run(&t_by_key, key, NULL);
	p[0] = arena_strdup(a, PQgetvalue(res, 0, 0));
	ck_assert_ptr_null(db_exec(db, a, &t_update_transfer, p));
	ck_assert_str_eq(db_sqlstate(db), "P0001");
	ck_assert_ptr_nonnull(strstr(db_error(db), "immutable"));
	ck_assert_ptr_null(db_exec(db, a, &t_delete_transfer, p));
	ck_assert_str_eq(db_sqlstate(db), "P0001");
	res = run(&t_by_key, key, NULL);
	ck_assert_str_eq(PQgetvalue(res, 0, 1), "1234");
	assert_bal(u, 1234, 0, 0, 0);
	assert_clean();
}
END_TEST

/* Entry i of a page, checked to be an object. */
static json_t *
entry(json_t *page, size_t i)
{
	json_t	*o = json_array_get(page, i);

	ck_assert_ptr_nonnull(o);
	ck_assert(json_is_object(o));
	return o;
}

/* Integer field of an object. */
static int64_t
jint(json_t *o, const char *k)
{
	ck_assert(json_is_integer(json_object_get(o, k)));
	return json_integer_value(json_object_get(o, k));
}

/* String field of an object. */
static const char *
jstr(json_t *o, const char *k)
{
	ck_assert(json_is_string(json_object_get(o, k)));
	return json_string_value(json_object_get(o, k));
}

/* A page, owned by the arena; asserts its length. */
static json_t *
page(int64_t user, int64_t before, int limit, size_t want, int64_t *next)
{
	json_t	*p;

	p = json_arena(a, ledger_user_transfers(db, a, user, before, limit,
	    next));

	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(json_array_size(p), want);
	return p;
}

START_TEST(test_user_transfers_pages)
{
	int64_t		 u = new_user(), s = new_user(), next, h, self;
	json_t		*p, *o;
	const char	*t;
	int		 i;

	for (i = 1; i <= 7; i++)
		fund(u, LEDGER_CREDIT, i);
	p = page(u, 0, 3, 3, &next);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(jint(entry(p, i), "amount"), 7 - i);
	o = entry(p, 0);
	ck_assert_str_eq(jstr(o, "account"), "credit");
	ck_assert_str_eq(jstr(o, "counterparty"), "stripe");
	ck_assert_str_eq(jstr(o, "kind"), "purchase");
	ck_assert_str_eq(jstr(o, "amount_usd"), "0.000007");
	ck_assert(json_is_null(json_object_get(o, "hold_id")));
	t = jstr(o, "created_at");
	ck_assert_uint_eq(strlen(t), 20);
	ck_assert(t[4] == '-' && t[10] == 'T' && t[19] == 'Z');
	ck_assert_int_eq(next, jint(entry(p, 2), "id"));
	ck_assert_int_gt(jint(entry(p, 0), "id"), jint(entry(p, 1), "id"));
	p = page(u, next, 3, 3, &next);
	ck_assert_int_eq(jint(entry(p, 0), "amount"), 4);
	ck_assert_int_eq(jint(entry(p, 2), "amount"), 2);
	ck_assert_int_ne(next, 0);
	p = page(u, next, 3, 1, &next);
	ck_assert_int_eq(jint(entry(p, 0), "amount"), 1);
	ck_assert_int_eq(next, 0);
	(void)page(u, 0, 7, 7, &next);
	ck_assert_int_eq(next, 0);
	(void)page(u, 0, 6, 6, &next);
	ck_assert_int_ne(next, 0);

	/* Between the user's own accounts: two entries, one page. */
	ck_assert_int_eq(ledger_transfer(db, a, acc(LEDGER_CREDIT, u),
	    acc(LEDGER_EARNINGS, u), 10, "test", arena_printf(a,
	    "test:self:%" PRId64, u), 0), LEDGER_OK);
	p = page(u, 0, 1, 2, &next);
	self = jint(entry(p, 0), "id");
	ck_assert_int_eq(jint(entry(p, 1), "id"), self);
	ck_assert_int_eq(next, self);
	ck_assert_str_eq(jstr(entry(p, 0), "account"), "credit");
	ck_assert_int_eq(jint(entry(p, 0), "amount"), -10);
	ck_assert_str_eq(jstr(entry(p, 0), "counterparty"), "earnings");
	ck_assert_str_eq(jstr(entry(p, 1), "account"), "earnings");
	ck_assert_int_eq(jint(entry(p, 1), "amount"), 10);
	ck_assert_str_eq(jstr(entry(p, 1), "amount_usd"), "0.000010");
	p = page(u, next, 1, 1, &next);
	ck_assert_int_eq(jint(entry(p, 0), "amount"), 7);

	/* A posted hold: money out, tied to the hold. */
	ck_assert_int_eq(hold_reserve(db, a, u, 3, 3600, &h), HOLD_OK);
	ck_assert_int_eq(hold_post(db, a, h, 3, 2, s), HOLD_OK);
	p = page(u, 0, 2, 2, &next);
	ck_assert_int_eq(jint(entry(p, 0), "amount"), -1);
	ck_assert_str_eq(jstr(entry(p, 0), "counterparty"), "revenue");
	ck_assert_str_eq(jstr(entry(p, 0), "kind"), "fee");
	ck_assert_str_eq(jstr(entry(p, 0), "amount_usd"), "-0.000001");
	ck_assert_int_eq(jint(entry(p, 0), "hold_id"), h);
	ck_assert_int_eq(jint(entry(p, 1), "amount"), -2);
	ck_assert_str_eq(jstr(entry(p, 1), "counterparty"), "earnings");
	ck_assert_str_eq(jstr(entry(p, 1), "kind"), "usage");
	p = page(s, 0, 10, 1, &next);
	ck_assert_int_eq(jint(entry(p, 0), "amount"), 2);
	ck_assert_str_eq(jstr(entry(p, 0), "account"), "earnings");
	ck_assert_str_eq(jstr(entry(p, 0), "counterparty"), "credit");
	ck_assert_int_eq(next, 0);

	(void)page(insert_user(), 0, 10, 0, &next);
	ck_assert_int_eq(next, 0);
	ck_assert_ptr_null(ledger_user_transfers(db, a, u, 0, 0, &next));
	ck_assert_ptr_null(ledger_user_transfers(db, a, u, 0, 201, &next));
	assert_clean();
}
END_TEST

START_TEST(test_concurrent_reservations)
{
	int64_t		u = insert_user();
	struct tally	t;

	ck_assert_int_eq(ledger_grant_signup(db, a, u, 1000000), LEDGER_OK);
	t = run_concurrently(WORKERS, reserve_many, &u);
	ck_assert_int_eq(t.ok, 333);
	ck_assert_int_eq(t.refused, WORKERS * EACH - 333);
	ck_assert_int_eq(t.other, 0);
	assert_bal(u, 1000000, 999000, 0, 0);
	ck_assert_int_eq(first(run(&t_user_holds, num(u), NULL)), 333);
	assert_clean();
}
END_TEST

/* "drawn drawn_credit kept status" of a hold. */
static const char *
drawn_of(int64_t hold)
{
	return arena_strdup(a, PQgetvalue(run(&t_hold_drawn, num(hold), NULL),
	    0, 0));
}

/* Draw on hold h, assert the outcome, and return what was drawn. */
static int64_t
draw(int64_t h, int64_t charge, int64_t earning, int64_t supplier,
    const char *idem, int want)
{
	int64_t	got = -1;

	ck_assert_int_eq(hold_draw(db, a, h, charge, earning, supplier, idem,
	    &got), want);
	return got;
}

START_TEST(test_trim_gives_back_beyond_keep)
{
	int64_t	c = new_user(), s = new_user(), h, h2, amt = 15000;

	fund(c, LEDGER_CREDIT, 10000);
	fund(c, LEDGER_EARNINGS, 5000);
	ck_assert_int_eq(hold_reserve_upto(db, a, c, &amt, 3600, &h), HOLD_OK);
	ck_assert_int_eq(draw(h, 4000, 3800, s, "tt1", HOLD_OK), 4000);
	assert_bal(c, 6000, 6000, 5000, 5000);
	/* Keep 2,000 of the 11,000 left: earnings go back first. */
	ck_assert_int_eq(hold_trim(db, a, h, 2000), HOLD_OK);
	assert_bal(c, 6000, 2000, 5000, 0);
	assert_clean();
	/* Again: nothing is beyond keep now. */
	ck_assert_int_eq(hold_trim(db, a, h, 2000), HOLD_OK);
	assert_bal(c, 6000, 2000, 5000, 0);
	/* A draw stops at what was kept. */
	ck_assert_int_eq(draw(h, 3000, 0, s, "tt2", HOLD_OK), 2000);
	assert_bal(c, 4000, 0, 5000, 0);
	ck_assert_str_eq(drawn_of(h), "6000 6000 0 held");
	ck_assert_int_eq(hold_trim(db, a, h, 0), HOLD_OK);
	ck_assert_int_eq(hold_trim(db, a, h, -1), HOLD_INVALID);
	ck_assert_int_eq(hold_void(db, a, h), HOLD_OK);
	ck_assert_int_eq(hold_trim(db, a, h, 0), HOLD_RESOLVED);
	/* Nothing drawn and nothing kept: the hold is voided. */
	amt = 1000;
	ck_assert_int_eq(hold_reserve_upto(db, a, c, &amt, 3600, &h2),
	    HOLD_OK);
	ck_assert_int_eq(hold_trim(db, a, h2, 0), HOLD_OK);
	ck_assert_str_eq(drawn_of(h2), "0 0 0 voided");
	assert_bal(c, 4000, 0, 5000, 0);
	assert_clean();
}
END_TEST

START_TEST(test_draws_split_and_stop_at_the_hold)
{
	int64_t		c = new_user(), s = new_user(), poor = new_user();
	int64_t		rev = acc(LEDGER_REVENUE, 0), r0, h, x, amt;
	PGresult	*res;

	fund(c, LEDGER_CREDIT, 10000);
	fund(c, LEDGER_EARNINGS, 5000);
	r0 = balance_of(rev);
	/* A lease asks for more than is spendable: it gets what is. */
	amt = 20000;
	ck_assert_int_eq(hold_reserve_upto(db, a, c, &amt, 3600, &h), HOLD_OK);
	ck_assert_int_eq(amt, 15000);
	assert_bal(c, 10000, 10000, 5000, 5000);
	amt = 1;
	ck_assert_int_eq(hold_reserve_upto(db, a, c, &amt, 3600, &x),
	    HOLD_INSUFFICIENT);
	ck_assert_int_eq(hold_reserve_upto(db, a, poor, &amt, 3600, &x),
	    HOLD_INSUFFICIENT);
	ck_assert_int_eq(first(run(&t_user_holds, num(c), NULL)), 1);

	/* 4,000 from credit: 3,800 to the supplier, 200 to revenue. */
	ck_assert_int_eq(draw(h, 4000, 3800, s, "t1", HOLD_OK), 4000);
	assert_bal(c, 6000, 6000, 5000, 5000);
	assert_bal(s, 0, 0, 3800, 0);
	ck_assert_int_eq(balance_of(rev), r0 + 200);
	ck_assert_str_eq(drawn_of(h), "4000 4000 0 held");
	res = run(&t_by_key, arena_printf(a, "hold:%" PRId64
	    ":draw:t1:credit:supplier", h), NULL);
	ck_assert_int_eq(PQntuples(res), 1);
	ck_assert_str_eq(PQgetvalue(res, 0, 1), "3800");
	assert_clean();
	/* 9,000 with no supplier: the last 6,000 of credit, 3,000 of earnings. */
	ck_assert_int_eq(draw(h, 9000, 0, 0, "t2", HOLD_OK), 9000);
	assert_bal(c, 0, 0, 2000, 2000);
	ck_assert_int_eq(balance_of(rev), r0 + 9200);
	assert_clean();
	/*
	 * 5,000 wanted, 2,000 left: never past the hold; the supplier gets
	 * its share of what is left in proportion (4,000 × 2/5 = 1,600), the
	 * fee stays the platform's.
	 */
	ck_assert_int_eq(draw(h, 5000, 4000, s, "t3", HOLD_OK), 2000);
	assert_bal(c, 0, 0, 0, 0);
	assert_bal(s, 0, 0, 5400, 0);
	ck_assert_str_eq(drawn_of(h), "15000 10000 0 held");
	ck_assert_int_eq(draw(h, 1, 0, s, "t4", HOLD_OK), 0);
	/* A drawn hold is voided at the end, never posted. */
	ck_assert_int_eq(hold_post(db, a, h, 0, 0, 0), HOLD_INVALID);
	ck_assert_int_eq(hold_void(db, a, h), HOLD_OK);
	ck_assert_int_eq(draw(h, 1, 0, s, "t5", HOLD_RESOLVED), 0);
	ck_assert_str_eq(drawn_of(h), "15000 10000 0 voided");
	ck_assert_int_eq(balance_of(rev), r0 + 9600);
	/* Bad draws change nothing. */
	ck_assert_int_eq(draw(h, 5, 6, s, "t6", HOLD_INVALID), 0);
	ck_assert_int_eq(draw(h, -1, 0, s, "t6", HOLD_INVALID), 0);
	ck_assert_int_eq(draw(h, 5, 0, s, "bad idem", HOLD_INVALID), 0);
	ck_assert_int_eq(draw(h, 5, 0, 1LL << 60, "t6", HOLD_INVALID), 0);
	ck_assert_int_eq(draw(1LL << 60, 5, 0, s, "t6", HOLD_INVALID), 0);
	assert_clean();
}
END_TEST

START_TEST(test_void_of_a_drawn_hold_releases_the_rest)
{
	int64_t	c = new_user(), s = new_user(), h, h2;
	int	n = -1;

	fund(c, LEDGER_CREDIT, 3000);
	fund(c, LEDGER_EARNINGS, 3000);
	ck_assert_int_eq(hold_reserve(db, a, c, 5000, 3600, &h), HOLD_OK);
	ck_assert_int_eq(draw(h, 3500, 3000, s, "a1", HOLD_OK), 3500);
	assert_bal(c, 0, 0, 2500, 1500);
	ck_assert_int_eq(hold_void(db, a, h), HOLD_OK);
	assert_bal(c, 0, 0, 2500, 0);
	assert_clean();
	/* The reaper voids an expired lease hold the same way. */
	ck_assert_int_eq(hold_reserve(db, a, c, 2000, 3600, &h2), HOLD_OK);
	ck_assert_int_eq(draw(h2, 500, 0, 0, "a2", HOLD_OK), 500);
	run(&t_expire, num(h2), NULL);
	ck_assert_int_eq(hold_reap(db, a, NULL, &n), HOLD_OK);
	ck_assert_int_ge(n, 1);
	ck_assert_str_eq(drawn_of(h2), "500 0 0 voided");
	assert_bal(c, 0, 0, 2000, 0);
	ck_assert_int_eq(draw(h2, 500, 0, 0, "a3", HOLD_RESOLVED), 0);
	assert_bal(c, 0, 0, 2000, 0);
	assert_clean();
}
END_TEST

START_TEST(test_draw_self_supply_and_reused_idem)
{
	int64_t	me = new_user(), s = new_user(), h;

	fund(me, LEDGER_CREDIT, 1000);
	fund(me, LEDGER_EARNINGS, 10000);
	ck_assert_int_eq(hold_reserve(db, a, me, 10000, 3600, &h), HOLD_OK);
	/* credit 1000 -> earnings (usage); 7,550 of earnings kept; 450 fee. */
	ck_assert_int_eq(draw(h, 9000, 8550, me, "k1", HOLD_OK), 9000);
	assert_bal(me, 0, 0, 10000 + 1000 - 450, 1000);
	ck_assert_str_eq(drawn_of(h), "9000 1000 7550 held");
	assert_clean();
	/* The same idem again: refused whole, nothing moves. */
	ck_assert_int_eq(draw(h, 500, 0, s, "k1", HOLD_ERROR), 0);
	assert_bal(me, 0, 0, 10550, 1000);
	ck_assert_str_eq(drawn_of(h), "9000 1000 7550 held");
	ck_assert_int_eq(hold_void(db, a, h), HOLD_OK);
	assert_bal(me, 0, 0, 10550, 0);
	assert_clean();
}
END_TEST

/* Worker: draw 1,000 (950 to supplier arg[1]) on hold arg[0]. */
static void
draw_once(struct db *wdb, struct arena *wa, const int64_t *arg,
    struct tally *t)
{
	int64_t	got;

	if (hold_draw(wdb, wa, arg[0], 1000, 950, arg[1], arena_printf(wa,
	    "w%d", (int)getpid()), &got) != HOLD_OK)
		t->other++;
	else if (got == 1000)
		t->ok++;
	else if (got == 0)
		t->refused++;
	else
		t->other++;
}

START_TEST(test_concurrent_draws_stop_at_the_hold)
{
	int64_t		c = new_user(), arg[2];
	struct tally	t;

	fund(c, LEDGER_CREDIT, 20000);
	ck_assert_int_eq(hold_reserve(db, a, c, 5000, 3600, &arg[0]), HOLD_OK);
	arg[1] = new_user();
	t = run_concurrently(12, draw_once, arg);
	ck_assert_int_eq(t.ok, 5);
	ck_assert_int_eq(t.refused, 7);
	ck_assert_int_eq(t.other, 0);
	assert_bal(c, 15000, 0, 0, 0);
	assert_bal(arg[1], 0, 0, 4750, 0);
	ck_assert_int_eq(hold_void(db, a, arg[0]), HOLD_OK);
	assert_clean();
}
END_TEST

START_TEST(test_array_params_round_trip)
{
	static const char *const in[] = { "a\"b", "c\\d", "e,f", "{g}", NULL,
		"", "NULL", " spaced ", "t_AbC" };
	int64_t		 nums[] = { 5, -1, 0, INT64_MAX };
	const char	*p[1];
	PGresult	*res;
	size_t		 i, n = sizeof(in) / sizeof(in[0]);

	p[0] = db_array_str(a, in, n);
	ck_assert_ptr_nonnull(res = db_exec(db, a, &t_unnest_text, p));
	ck_assert_int_eq(PQntuples(res), (int)n);
	for (i = 0; i < n; i++)
		if (in[i] == NULL)
			ck_assert(PQgetisnull(res, (int)i, 0));
		else
			ck_assert_str_eq(PQgetvalue(res, (int)i, 0), in[i]);
	p[0] = db_array_opt(a, nums, 4);
	ck_assert_str_eq(p[0], "{5,NULL,0,9223372036854775807}");
	ck_assert_ptr_nonnull(res = db_exec(db, a, &t_unnest_bigint, p));
	ck_assert_int_eq(PQntuples(res), 4);
	ck_assert(PQgetisnull(res, 1, 0));
	ck_assert_str_eq(PQgetvalue(res, 3, 0), "9223372036854775807");
	ck_assert_str_eq(db_array_i64(a, nums, 2), "{5,-1}");
	ck_assert_str_eq(db_array_i64(a, nums, 0), "{}");
}
END_TEST

START_TEST(test_check_detects_corruption)
{
	int64_t		 u = new_user(), credit = acc(LEDGER_CREDIT, u), h, p;
	const char	*report, *want;

	fund(u, LEDGER_CREDIT, 5000);
	ck_assert_int_eq(hold_reserve(db, a, u, 1000, 3600, &h), HOLD_OK);
	assert_clean();

	run(&t_skew_balance, num(credit), "7");
	ck_assert_int_eq(check(&report), 1);
	want = arena_printf(a, "account %" PRId64 " (credit of user %" PRId64
	    "): cached balance 0.005007 but its transfers sum to 0.005000\n",
	    credit, u);
	ck_assert_msg(strstr(report, want) != NULL, "report: %s", report);
	ck_assert_ptr_nonnull(strstr(report,
	    "balances sum to 0.000007, not 0\n"));
	ck_assert_ptr_null(strstr(report, "clean"));
	run(&t_skew_balance, num(credit), "-7");
	assert_clean();

	run(&t_skew_held, num(credit), "5");
	ck_assert_int_eq(check(&report), 1);
	want = arena_printf(a, "account %" PRId64 " (credit of user %" PRId64
	    "): held 0.001005 but its open holds reserve 0.001000\n", credit,
	    u);
	ck_assert_msg(strstr(report, want) != NULL, "report: %s", report);
	run(&t_skew_held, num(credit), "-5");
	assert_clean();

	ck_assert_int_eq(hold_reserve(db, a, u, 1000, 3600, &p), HOLD_OK);
	ck_assert_int_eq(hold_post(db, a, p, 600, 0, 0), HOLD_OK);
	run(&t_skew_charge, num(p), "1");
	ck_assert_int_eq(check(&report), 1);
	want = arena_printf(a, "hold %" PRId64 " (posted): its transfers sum"
	    " to 0.000600, expected 0.000601\n", p);
	ck_assert_msg(strstr(report, want) != NULL, "report: %s", report);
	run(&t_skew_charge, num(p), "-1");
	assert_clean();

	/* A lease hold's draws: transfers and reservations must agree. */
	ck_assert_int_eq(hold_reserve(db, a, u, 1000, 3600, &p), HOLD_OK);
	ck_assert_int_eq(draw(p, 300, 0, 0, "skew", HOLD_OK), 300);
	assert_clean();
	run(&t_skew_drawn, num(p), "1");
	ck_assert_int_eq(check(&report), 1);
	want = arena_printf(a, "hold %" PRId64 " (held): its transfers sum"
	    " to 0.000300, expected 0.000301\n", p);
	ck_assert_msg(strstr(report, want) != NULL, "report: %s", report);
	ck_assert_ptr_nonnull(strstr(report, "but its open holds reserve"));
	run(&t_skew_drawn, num(p), "-1");
	assert_clean();
	ck_assert_int_eq(hold_void(db, a, p), HOLD_OK);
	ck_assert_int_eq(hold_void(db, a, h), HOLD_OK);
	assert_clean();
}
END_TEST

/* The value of NAME=... in the stack's environment file, or NULL. */
static char *
stack_value(const char *name)
{
	const char	*path = getenv("INFRPOOL_TEST_ENV");
	char		 line[1024];
	size_t		 n = strlen(name);
	FILE		*f;
	char		*v = NULL;

	if (path == NULL || (f = fopen(path, "r")) == NULL)
		return NULL;
	while (v == NULL && fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, name, n) == 0 && line[n] == '=') {
			line[strcspn(line, "\n")] = '\0';
			v = arena_strdup(a, line + n + 1);
		}
	fclose(f);
	return v;
}

/* Run infrpoolctl -c config cmd arg, output into out; its exit status. */
static int
ctl(const char *config, const char *cmd, const char *arg, char *out,
    size_t len)
{
	const char	*dir = getenv("INFRPOOL_BUILDDIR");
	int		 fd[2], status;
	ssize_t		 n, got = 0;
	pid_t		 pid;

	ck_assert_int_eq(pipe(fd), 0);
	ck_assert_int_ne(pid = fork(), -1);
	if (pid == 0) {
		dup2(fd[1], 1);
		close(fd[0]);
		execl(arena_printf(a, "%s/src/ctl/infrpoolctl", dir),
		    "infrpoolctl", "-c", config, cmd, arg, (char *)NULL);
		_exit(127);
	}
	close(fd[1]);
	while ((size_t)got < len - 1 &&
	    (n = read(fd[0], out + got, len - 1 - (size_t)got)) > 0)
		got += n;
	out[got] = '\0';
	close(fd[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	return WEXITSTATUS(status);
}

START_TEST(test_infrpoolctl_commands)
{
	char	*config = stack_value("INFRPOOL_CONFIG"), out[4096];
	int64_t	 u, credit, h;

	if (config == NULL || getenv("INFRPOOL_BUILDDIR") == NULL)
		return;		/* run by hand, without t/run-test */
	u = new_user();
	credit = acc(LEDGER_CREDIT, u);
	fund(u, LEDGER_CREDIT, 100);
	ck_assert_int_eq(ctl(config, "ledger", "check", out, sizeof(out)), 0);
	ck_assert_msg(strncmp(out, "clean: ", 7) == 0, "output: %s", out);
	run(&t_skew_balance, num(credit), "1");
	ck_assert_int_eq(ctl(config, "ledger", "check", out, sizeof(out)), 1);
	ck_assert_ptr_nonnull(strstr(out, "cached balance"));
	run(&t_skew_balance, num(credit), "-1");
	ck_assert_int_eq(ctl(config, "ledger", "bogus", out, sizeof(out)), 2);
	ck_assert_int_eq(hold_reserve(db, a, u, 100, 0, &h), HOLD_OK);
	ck_assert_int_eq(ctl(config, "holds", "reap", out, sizeof(out)), 0);
	ck_assert_str_eq(out, "voided 1 expired holds\n");
	ck_assert_str_eq(status_of(h), "voided");
	ck_assert_int_eq(ctl(config, "holds", "reap", out, sizeof(out)), 0);
	ck_assert_str_eq(out, "voided 0 expired holds\n");
	assert_clean();
}
END_TEST

int
main(void)
{
	Suite	*s;
	TCase	*tc;

	if ((conninfo = getenv("INFRPOOL_TEST_CONNINFO")) == NULL) {
		puts("1..0 # SKIP INFRPOOL_TEST_CONNINFO is not set"
		    " (run through t/run-test)");
		return 0;
	}
	s = suite_create("ledger");
	tc = tcase_create("db");
	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_signup_once);
	tcase_add_test(tc, test_signup_in_callers_transaction);
	tcase_add_test(tc, test_transfer_idempotent);
	tcase_add_test(tc, test_post_splits_exactly);
	tcase_add_test(tc, test_credit_spent_before_earnings);
	tcase_add_test(tc, test_insufficient_reserve_changes_nothing);
	tcase_add_test(tc, test_post_twice_credits_once);
	tcase_add_test(tc, test_void_then_post_is_resolved);
	tcase_add_test(tc, test_bad_posts_are_invalid);
	tcase_add_test(tc, test_no_supplier_and_self_supply);
	tcase_add_test(tc, test_reaper_voids_expired_only);
	tcase_add_test(tc, test_transfers_are_immutable);
	tcase_add_test(tc, test_user_transfers_pages);
	tcase_add_test(tc, test_concurrent_reservations);
	tcase_add_test(tc, test_draws_split_and_stop_at_the_hold);
	tcase_add_test(tc, test_trim_gives_back_beyond_keep);
	tcase_add_test(tc, test_void_of_a_drawn_hold_releases_the_rest);
	tcase_add_test(tc, test_draw_self_supply_and_reused_idem);
	tcase_add_test(tc, test_concurrent_draws_stop_at_the_hold);
	tcase_add_test(tc, test_array_params_round_trip);
	tcase_add_test(tc, test_check_detects_corruption);
	tcase_add_test(tc, test_infrpoolctl_commands);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
