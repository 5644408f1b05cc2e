/* lease.h: leases: one hold on a consumer's wallet that many requests draw on */
#ifndef IP_LEASE_H
#define IP_LEASE_H

#include <stddef.h>
#include <stdint.h>

struct arena;
struct db;
struct gateway_cfg;

/* A lease granted. */
struct lease {
	int64_t	id;
	int64_t	hold_id;
	int64_t	budget;		/* the hold's amount */
	int64_t	user_id;
	int64_t	key_id;
	int64_t	ttl_ms;		/* admitting: lease_ttl, or until the key expires */
	int64_t	owed;		/* GW_OWES: what the account owes */
};

/* The relay's last lease of the key, no longer admitting. */
struct lease_retire {
	int64_t	lease_id;	/* 0: none */
	int64_t	keep;		/* what its requests in flight reserve */
};

/*
 * Grant a lease on the key's owner in one transaction: first trim the
 * key's lease retire names (when open: what its hold reserves beyond keep
 * goes back, so this lease can hold it), then a hold of
 * min(want (<= 0: the config's), cfg->lease_budget, spendable) living
 * cfg->lease_ttl + cfg->hold_ttl, and a leases row admitting until
 * cfg->lease_ttl from now. GW_OK, GW_BAD_KEY (no live key),
 * GW_SUSPENDED or GW_BANNED (the key's account may not spend),
 * GW_INSUFFICIENT (nothing spendable) or GW_ERROR; only GW_OK changes
 * anything but the key's last-used time.
 */
int	lease_grant(struct db *, struct arena *, const struct gateway_cfg *,
	    const char *key, int64_t want, const struct lease_retire *retire,
	    struct lease *);

/*
 * Close the n leases in ids (each known; a closed one stays as it is)
 * and void what remains of their holds, inside the caller's transaction
 * or one of its own. GW_OK or GW_ERROR.
 */
int	lease_close(struct db *, struct arena *, const int64_t *ids, size_t n);

/*
 * Trim the n open leases in ids: give back what each one's hold reserves
 * beyond keep[i] (the reservations of requests still in flight on it); an
 * unknown or closed lease is left as it is. In the caller's transaction
 * or one of its own. GW_OK or GW_ERROR.
 */
int	lease_trim(struct db *, struct arena *, const int64_t *ids,
	    const int64_t *keep, size_t n);

#endif
