/* ledger.h: the double-entry credit ledger: accounts, transfers, checker */
#ifndef IP_LEDGER_H
#define IP_LEDGER_H

#include <stdint.h>

#include <jansson.h>

struct arena;
struct db;
struct str;

/*
 * Account kinds. Each user has a credit account (bought or granted
 * credits, spent first) and an earnings account (what their nodes earned;
 * spendable, the only part paid out). Every other kind is one platform
 * account; promotions, stripe and tremendous are the source and contra
 * accounts, the only ones that may go negative. All balances sum to zero.
 */
enum ledger_kind {
	LEDGER_CREDIT,
	LEDGER_EARNINGS,
	LEDGER_REVENUE,
	LEDGER_BOUNTY,
	LEDGER_PROMOTIONS,
	LEDGER_PAYOUT_FEES,
	LEDGER_EXPIRED,
	LEDGER_STRIPE,
	LEDGER_TREMENDOUS,
	LEDGER_RECEIVABLE,	/* what accounts owe after refunds and disputes (negative) */
	LEDGER_PAYOUTS		/* payouts in flight: left the earnings, not yet delivered */
};

#define LEDGER_OK		0
#define LEDGER_DUPLICATE	1	/* idempotency key already used: nothing done */
#define LEDGER_ERROR		(-1)	/* database error (logged) */
#define LEDGER_INSUFFICIENT	(-2)	/* the debit account cannot cover it */
#define LEDGER_INVALID		(-3)	/* bad arguments (amount <= 0, same account, …) */

/* A user's two accounts; spendable = credit - credit_held + earnings - earnings_held. */
struct ledger_balances {
	int64_t	credit, credit_held, earnings, earnings_held;
};

/*
 * Every function below runs in its own transaction, which nests inside a
 * caller's (db_begin). An outcome that changed nothing (DUPLICATE,
 * INSUFFICIENT, INVALID) leaves a caller's transaction usable; ERROR has
 * rolled back, which dooms it. Statement results live in the arena.
 */

/*
 * Make the user's credit and earnings accounts; idempotent. LEDGER_OK, or
 * LEDGER_INVALID when there is no such user.
 */
int	ledger_open_user(struct db *, struct arena *, int64_t user_id);

/*
 * The id of an account: a user's (credit, earnings) or a platform one
 * (user_id 0). LEDGER_INVALID when there is no such account.
 */
int	ledger_account_id(struct db *, struct arena *, enum ledger_kind,
	    int64_t user_id, int64_t *id);

/*
 * Move amount (> 0) from debit_account to credit_account as one immutable
 * transfer of kind ([a-z_]{1,32}) under idempotency_key (1..200 bytes),
 * optionally tied to a hold (0: none), updating both cached balances.
 * The debit account must cover it from balance - held unless it may go
 * negative. LEDGER_OK, LEDGER_DUPLICATE (key used before: nothing done),
 * LEDGER_INSUFFICIENT, LEDGER_INVALID or LEDGER_ERROR.
 */
int	ledger_transfer(struct db *, struct arena *, int64_t debit_account,
	    int64_t credit_account, int64_t amount, const char *kind,
	    const char *idempotency_key, int64_t hold_id);

/*
 * Grant signup credits from promotions to the user's credit account
 * (opened if need be) under key "signup:<user id>": LEDGER_OK once, then
 * LEDGER_DUPLICATE.
 */
int	ledger_grant_signup(struct db *, struct arena *, int64_t user_id,
	    int64_t amount);

/*
 * Record a wallet event the user sees (kind [a-z_]{1,32}): with the
 * transfer under transfer_key (or NULL) and amount (signed, from the
 * user's side; 0 without a transfer is a notice, kept as no amount);
 * detail is a JSON object or NULL. LEDGER_OK, LEDGER_INVALID or LEDGER_ERROR.
 */
int	ledger_event(struct db *, struct arena *, int64_t user_id,
	    const char *kind, int64_t amount, const char *transfer_key,
	    const char *detail);

/*
 * Move what each of the user's accounts holds beyond its open holds to the
 * platform's expired account: a transfer of kind ("expiry", "forfeit")
 * under "<kind>:<account id>:<the account's newest transfer id>", so a
 * repeat of the same sweep is a no-op, and a wallet event of that kind for
 * each. *moved is the total moved. Money still held stays; sweep again
 * once the holds are resolved. LEDGER_OK, or LEDGER_INVALID (bad arguments,
 * nothing done), or LEDGER_ERROR (anything else: rolled back).
 */
int	ledger_sweep(struct db *, struct arena *, int64_t user_id,
	    const char *kind, int64_t *moved);

/*
 * The user's balances (zero when the user has no accounts); LEDGER_OK or
 * LEDGER_ERROR.
 */
int	ledger_balances(struct db *, struct arena *, int64_t user_id,
	    struct ledger_balances *);

/*
 * The transfers touching a user's accounts, newest first: at most limit
 * (1..200) transfers with ids below before_id (0 = from the newest), as a
 * JSON array of {"id","created_at" (RFC 3339 UTC),"kind","account"
 * ("credit"|"earnings"),"amount" (signed micro-USD from the user's side:
 * + in, - out),"amount_usd" (money_format),"hold_id" (or null),
 * "counterparty" (the other account's kind)}. A transfer between the
 * user's own two accounts is two entries with the same id, never split
 * across pages. *next_before is the id to pass for the next page, or 0
 * when there is none. Returns NULL on error or bad arguments; the caller
 * owns the json_t (json_decref, or json_arena).
 */
json_t	*ledger_user_transfers(struct db *, struct arena *, int64_t user_id,
	    int64_t before_id, int limit, int64_t *next_before);

/*
 * Verify the ledger in one snapshot: all balances sum to 0; no balance is
 * negative where not allowed; 0 <= held <= balance; each cached balance
 * equals its transfers (credits - debits); what accounts owe (users.owed)
 * is what the receivable account carries; the payouts account holds what
 * the payouts in flight are; each held equals what its open
 * holds still reserve (less what draws paid out); each idempotency key
 * appears once; each hold's transfers sum to its posted charge, or to
 * what was drawn on it (less what a supplier kept). Appends one line
 * per problem to report, or one summary line when clean ("clean: N
 * accounts, M transfers, K open holds"). Returns 0 clean, 1 problems
 * found, -1 database error.
 */
int	ledger_check(struct db *, struct arena *, struct str *report);

#endif
