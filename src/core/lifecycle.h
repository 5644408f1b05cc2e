/* lifecycle.h: an account's end (deletion at 72 h) and its wallet's (expiry) */
#ifndef IP_LIFECYCLE_H
#define IP_LIFECYCLE_H

#include <stdint.h>

struct arena;
struct cfg;
struct db;
struct job_ctx;

/* [privacy] and [wallet] of the configuration, with the seeds' defaults. */
struct lifecycle_cfg {
	long long	deletion_grace;		/* s: 72 h */
	long long	events_keep;		/* s after anonymization: 365 d */
	long long	expiry;			/* s without activity: 365 d */
	long long	expiry_warning;		/* s before expiry: 30 d */
};

/* Read them; 0, or -1 with cfg_error(c) saying which. */
int	lifecycle_config(struct cfg *c, struct lifecycle_cfg *);

#define DELETION_OK		0
#define DELETION_ALREADY	1	/* ask: asked before; cancel: nothing asked */
#define DELETION_ERROR		(-1)

/*
 * Schedule the account's deletion grace seconds from now, record a wallet
 * event and queue the email that says when and how to cancel, in one
 * transaction. *due_at (RFC 3339 UTC, in the arena) is the deadline, the
 * earlier one when it was asked before (DELETION_ALREADY: nothing sent).
 */
int	deletion_ask(struct db *, struct arena *, struct cfg *, int64_t user_id,
	    const char **due_at);

/* Cancel it, with a wallet event and an email; DELETION_ALREADY: none asked. */
int	deletion_cancel(struct db *, struct arena *, struct cfg *,
	    int64_t user_id);

/*
 * The date the account's wallet expires without further activity (RFC
 * 3339 UTC, in the arena), or NULL when it has nothing to expire; -1 on a
 * database error, else 0.
 */
int	wallet_expiry_date(struct db *, struct arena *, struct cfg *,
	    int64_t user_id, const char **at);

/* The jobs (see jobs.c for their schedules). */
int	lifecycle_delete_due(struct job_ctx *);		/* account-delete */
int	lifecycle_events_prune(struct job_ctx *);	/* wallet-events-prune */
int	lifecycle_wallet_expiry(struct job_ctx *);	/* wallet-expiry */

#endif
