/* stripe.h: money in through Stripe Checkout: the REST calls, the top-ups, the webhooks */
#ifndef IP_STRIPE_H
#define IP_STRIPE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct arena;
struct cfg;
struct db;

/* [stripe] of the configuration. */
struct stripe_cfg {
	const char	*secret_key;	/* "": top-ups are off */
	const char	*webhook_secret;	/* "": webhooks are refused */
	const char	*api_base;	/* https://api.stripe.com */
	const char	*currency;	/* usd */
	int64_t		 min, max;	/* micro-USD a top-up may be */
	long long	 timeout_ms;
	long long	 tolerance;	/* s a signature's time may be off */
};

/* Read it; 0, or -1 with the reason in cfg_error() or on stderr. */
int	stripe_config(struct cfg *, struct stripe_cfg *);

#define TOPUP_OK		0
#define TOPUP_DISABLED		1	/* no [stripe] secret_key */
#define TOPUP_AMOUNT		2	/* outside min..max, or not whole cents */
#define TOPUP_STRIPE		3	/* Stripe refused or did not answer: err says */
#define TOPUP_ERROR		(-1)	/* database */

/*
 * Start a top-up of amount micro-USD for the account: record it with the
 * Idempotency-Key of its Checkout Session, make the account's Stripe
 * Customer if it has none (once: its key is the account's), then the
 * Checkout Session (success_url and cancel_url absolute), and answer the
 * top-up object ({id, object, amount_usd, status, checkout_url,
 * stripe_session_id, created_at, …}, a new reference) in *out.
 */
int	topup_create(struct db *, struct arena *, const struct stripe_cfg *,
	    int64_t user_id, int64_t amount, const char *success_url,
	    const char *cancel_url, json_t **out, char *err, size_t errlen);

/* The account's top-ups, newest first (at most 100), as a new array; NULL on error. */
json_t	*topup_list(struct db *, struct arena *, int64_t user_id);

/* One of them by its Checkout Session id, or NULL (none, or an error). */
json_t	*topup_by_session(struct db *, struct arena *, int64_t user_id,
	    const char *session_id);
/* One of them by its id, or NULL (none, or an error). */
json_t	*topup_get(struct db *, struct arena *, int64_t user_id, int64_t id);

/*
 * A webhook delivery: verify its Stripe-Signature over the raw body, then
 * apply the event once (its id recorded in the same transaction as what
 * it changes). Returns 0 when it is recorded (new or a redelivery), with
 * *outcome saying what it did ("credited", "refunded", "duplicate",
 * "deferred", "unknown_topup", "ignored" …); 1 when it is refused (bad
 * signature or body: *outcome says why, for one log line), -1 on a
 * database error (Stripe delivers it again).
 */
int	stripe_webhook(struct db *, struct arena *, const struct stripe_cfg *,
	    const char *signature, const char *body, size_t len,
	    const char **outcome);

/* What the account owes after refunds and disputes (micro-USD); 0 or -1. */
int	stripe_owed(struct db *, struct arena *, int64_t user_id, int64_t *owed);

/*
 * topups-expire: top-ups still creating or open 25 hours after they began
 * are expired (Stripe's Checkout Sessions can be paid for 24 hours; one
 * left "creating" by a crash never reached the consumer). A payment that
 * comes for one later is still credited.
 */
struct job_ctx;
int	topup_job_expire(struct job_ctx *);

/* The operator's view: totals, accounts that owe, events that need a look. */
json_t	*stripe_overview(struct db *, struct arena *);

#endif
