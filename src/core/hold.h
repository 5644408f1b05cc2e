/* hold.h: two-phase holds on a user's credit: reserve, then post or void */
#ifndef IP_HOLD_H
#define IP_HOLD_H

#include <stdint.h>

struct arena;
struct db;

#define HOLD_OK			0
#define HOLD_RESOLVED		1	/* already posted or voided: nothing done */
#define HOLD_ERROR		(-1)	/* database error (logged) */
#define HOLD_INSUFFICIENT	(-2)	/* the user cannot cover the amount */
#define HOLD_INVALID		(-3)	/* no such hold, charge > hold, earning > charge, negative … */

/*
 * Each function runs in its own transaction, nesting inside a caller's
 * (db_begin); an outcome that changed nothing leaves a caller's
 * transaction usable, HOLD_ERROR has rolled back and dooms it.
 */

/*
 * Reserve amount (> 0) of the user's spendable balance for ttl_seconds
 * (0..366 days; 0 is already expired): from the credit account first,
 * then earnings. HOLD_OK with *hold_id set, HOLD_INSUFFICIENT (nothing
 * reserved), HOLD_INVALID or HOLD_ERROR.
 */
int	hold_reserve(struct db *, struct arena *, int64_t user_id,
	    int64_t amount, int64_t ttl_seconds, int64_t *hold_id);

/*
 * The same for up to *amount: what the user can spend of it is reserved
 * and left in *amount. HOLD_INSUFFICIENT when nothing is spendable.
 */
int	hold_reserve_upto(struct db *, struct arena *, int64_t user_id,
	    int64_t *amount, int64_t ttl_seconds, int64_t *hold_id);

/*
 * Post a held hold at charge (0..amount): the consumer pays charge (from
 * the credit account up to what the hold reserved there, then earnings),
 * the supplier's earnings account gets earning (0..charge; supplier 0
 * means none: everything to revenue), revenue gets charge - earning, and
 * the rest of the hold is released. Exactly once: a hold already posted
 * or voided gives HOLD_RESOLVED and nothing is done. A held hold past its
 * expiry can still be posted until the reaper voids it. A hold that was
 * drawn on (hold_draw) is never posted: HOLD_INVALID.
 */
int	hold_post(struct db *, struct arena *, int64_t hold_id, int64_t charge,
	    int64_t earning, int64_t supplier_user_id);

/*
 * One draw on a held hold (a lease's): in, the charge and earning wanted
 * and the supplier (user id, 0: none); out, what was drawn: charge capped
 * at what remains of the hold, earning at that charge, both 0 when the
 * hold is no longer held (voided, by a close or the reaper).
 */
struct hold_draw {
	int64_t		 hold_id;
	int64_t		 charge;
	int64_t		 earning;
	int64_t		 supplier;
	const char	*idem;		/* [A-Za-z0-9_]{1,64}, new for every draw */
};

/*
 * Draw on holds, n draws in order, in one transaction with set-based
 * statements: each pays its charge out of what remains of its hold
 * (credit first, then earnings, as a posting does) to the supplier's
 * earnings (earning) and revenue (the rest), keyed
 * "hold:<id>:draw:<idem>:<payer>:<payee>", and the hold's remaining
 * reservation shrinks by it; the hold stays held. Never past what
 * remains. An idem used before makes the whole call fail (HOLD_ERROR,
 * rolled back): callers keep their own record of what was drawn.
 * HOLD_OK (charge and earning set to what was drawn), HOLD_INVALID (no
 * such hold or supplier, bad values: nothing done) or HOLD_ERROR.
 */
int	hold_draw_many(struct db *, struct arena *, struct hold_draw *,
	    size_t n);

/* One draw; *drawn is what was drawn (0 for a resolved hold). */
int	hold_draw(struct db *, struct arena *, int64_t hold_id, int64_t charge,
	    int64_t earning, int64_t supplier_user_id, const char *idem,
	    int64_t *drawn);

/*
 * Release the whole hold, or what draws left of it: HOLD_OK,
 * HOLD_RESOLVED, HOLD_INVALID, HOLD_ERROR.
 */
int	hold_void(struct db *, struct arena *, int64_t hold_id);

/*
 * Give back what a held hold reserves beyond keep (>= 0) of what is not
 * drawn yet, earnings first; a hold with nothing drawn and keep 0 is
 * voided. HOLD_OK (also when nothing is beyond keep), HOLD_RESOLVED,
 * HOLD_INVALID or HOLD_ERROR.
 */
int	hold_trim(struct db *, struct arena *, int64_t hold_id, int64_t keep);

/*
 * Void every held hold past its expiry at now ("YYYY-MM-DDTHH:MM:SSZ",
 * the clock of the tick; NULL: the database's clock), each in its own
 * transaction; *voided counts them. HOLD_OK or HOLD_ERROR (outside a
 * caller's transaction, the holds voided before the error stay voided).
 */
int	hold_reap(struct db *, struct arena *, const char *now, int *voided);

/*
 * The hold's owner, amount and status ("held", "posted", "voided"), for
 * the API layer; HOLD_OK, HOLD_INVALID when unknown, or HOLD_ERROR.
 */
int	hold_get(struct db *, struct arena *, int64_t hold_id, int64_t *user_id,
	    int64_t *amount, char status[8]);

#endif
