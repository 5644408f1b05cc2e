/* payout_int.h: what payout.c and payout_event.c share */
#ifndef IP_PAYOUT_INT_H
#define IP_PAYOUT_INT_H

#include <stdint.h>

#include <jansson.h>

struct arena;
struct cfg;
struct db;
struct payout_cfg;

/* A payout as payout_load() reads it (locked); strings in the arena. */
struct payout_row {
	int64_t		 id, user_id, amount, fee, value_cents;
	const char	*status, *name, *email, *product, *reward_id;
	const char	*account_email;		/* whom we tell */
	const char	*external_id;		/* "payout-<id>", set by payout_send */
};

/* Read and lock payout id: 0, 1 none, -1 error. */
int	payout_load(struct db *, struct arena *, int64_t id, struct payout_row *);

/* End it (delivered, failed, cancelled), moving the money: 0, 1 already ended, -1. */
int	payout_finish(struct db *, struct arena *, struct cfg *,
	    const struct payout_row *, const char *status, const char *reason);

/* Undo a delivered one (value and fee back to the earnings): 0, 1 not delivered, -1. */
int	payout_reverse(struct db *, struct arena *, struct cfg *,
	    const struct payout_row *, const char *reason);

/* Hold it for the operator: 0, 1 not in flight, -1. */
int	payout_hold(struct db *, struct arena *, struct cfg *,
	    const struct payout_row *, const char *reason);

/* Email the account's owner about it with template name. 0 or -1. */
int	payout_mail(struct db *, struct arena *, struct cfg *,
	    const struct payout_row *, const char *name, const char *reason);

/* Order a pending payout from Tremendous (no lock held meanwhile). 0 or -1. */
int	payout_send(struct db *, struct arena *, struct cfg *,
	    const struct payout_cfg *, int64_t id);

/* Call Tremendous: 0 with *status and *answer (new, or NULL), -1 no answer. */
int	payout_call(const struct payout_cfg *, const char *method,
	    const char *path, const char *body, long *status, json_t **answer,
	    char *err, size_t errlen);

/*
 * Find the order Tremendous has under external_id ("payout-<id>"): 1 with
 * its order and reward ids (in the arena), 0 none (404), -1 not known.
 */
int	payout_lookup(const struct payout_cfg *, const char *external_id,
	    struct arena *, const char **order, const char **reward);

/* "Tremendous answered 400: <its message>", in the arena. */
const char *payout_error_text(struct arena *, json_t *answer, long status);

#endif
