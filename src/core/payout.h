/* payout.h: money out: suppliers' earnings paid through Tremendous */
#ifndef IP_PAYOUT_H
#define IP_PAYOUT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

struct arena;
struct cfg;
struct db;
struct job_ctx;

/* [tremendous] of the configuration. */
struct payout_cfg {
	const char	*api_base;	/* …/api/v2 */
	const char	*api_key;	/* "": payouts are off */
	const char	*webhook_secret;
	const char	*funding_source_id;
	const char	*campaign_id;
	const char	*products;	/* "": none to choose; else "ID,ID,…" */
	int64_t		 min;		/* micro-USD: 1.00 */
	int64_t		 fee;		/* micro-USD: 0.50 */
	long long	 min_age;	/* s an account must have lived: 7 days */
	long long	 timeout_ms;
};

/* Read it; 0, or -1 with the reason on stderr or in cfg_error(). */
int	payout_config(struct cfg *, struct payout_cfg *);

/* Outcomes of payout_request(); each but PAYOUT_OK moved nothing. */
enum payout_rc {
	PAYOUT_ERROR = -1,	/* database (logged) */
	PAYOUT_OK = 0,
	PAYOUT_DISABLED,	/* no [tremendous] api_key */
	PAYOUT_AMOUNT,		/* not whole cents, or below the minimum */
	PAYOUT_TOO_YOUNG,	/* the account is younger than min_age */
	PAYOUT_STANDING,	/* the account is suspended, banned or deleted */
	PAYOUT_OWES,		/* the account owes after a refund or dispute */
	PAYOUT_IN_FLIGHT,	/* another payout is not finished yet */
	PAYOUT_INSUFFICIENT,	/* more than the payable earnings */
	PAYOUT_NO_RECIPIENT	/* no name to send it to: set one first */
};

/*
 * Pay amount micro-USD of the account's earnings out: checked, recorded
 * and moved into the payouts account in one transaction, then ordered
 * from Tremendous (a timeout or 5xx is tried again, later too, with the
 * same external_id; a definite refusal brings the money back). month is
 * "YYYY-MM-01" for the monthly job, NULL for a request. *id is the new
 * payout's. A message the supplier can read goes in why for refusals.
 */
int	payout_request(struct db *, struct arena *, struct cfg *,
	    int64_t user_id, int64_t amount, const char *month, int64_t *id,
	    const char **why);

/* What the account may be paid now (earnings beyond holds, whole cents). */
int	payout_payable(struct db *, struct arena *, int64_t user_id,
	    int64_t *payable);

/* The account's payouts, newest first (100), as a new array; NULL on error. */
json_t	*payout_list(struct db *, struct arena *, int64_t user_id);

/* The settings {recipient_name, recipient_email, mode, product} as a new object. */
json_t	*payout_settings_get(struct db *, struct arena *, int64_t user_id);

/*
 * Change them: name and email NULL (or "") fall back to the account's;
 * mode "manual" or "monthly"; product NULL or one the operator offers.
 * 0, 1 invalid (why says which), -1 error.
 */
int	payout_settings_set(struct db *, struct arena *, struct cfg *,
	    int64_t user_id, const char *name, const char *email,
	    const char *mode, const char *product, const char **why);

/*
 * A webhook delivery: verify Tremendous-Webhook-Signature over the raw
 * body, then apply the event once. 0 recorded (*outcome says what it did),
 * 1 refused (*outcome says why), 2 not recorded, to come again (a reward
 * we do not know while an order is on its way), -1 database error.
 */
int	payout_webhook(struct db *, struct arena *, struct cfg *,
	    const char *signature, const char *body, size_t len,
	    const char **outcome);

/*
 * The operator approves (release) or cancels (block) a flagged payout.
 * 0 done, 1 not flagged, 2 Tremendous refused (why), -1 error.
 */
int	payout_review(struct db *, struct arena *, struct cfg *, int64_t admin,
	    int64_t payout_id, int approve, const char **why);

/* The operator's view: in flight, failed, flagged, fees. New object; NULL on error. */
json_t	*payout_overview(struct db *, struct arena *);

/* The jobs. */
int	payout_job_monthly(struct job_ctx *);	/* payouts-monthly */
int	payout_job_retry(struct job_ctx *);	/* payouts-retry */
int	payout_job_check(struct job_ctx *);	/* payouts-check */

#endif
