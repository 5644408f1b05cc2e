/* export.h: prepared exports: a JSON document behind a 24-hour link for its own account */
#ifndef IP_EXPORT_H
#define IP_EXPORT_H

#include <stdint.h>

#include <jansson.h>

struct arena;
struct db;

#define EXPORT_TOKEN_LEN	43	/* base62, 256 bits; stored as SHA-256 */
#define EXPORT_LIVE_MAX		5	/* links that still work, per account */

enum export_rc {
	EXPORT_OK,
	EXPORT_FULL,		/* EXPORT_LIVE_MAX links still work */
	EXPORT_NOT_FOUND,	/* no such link for this account, or expired */
	EXPORT_ERROR		/* the database (logged) */
};

/*
 * Keep doc (a JSON document's text) for user_id behind a new random
 * token, written into token, for 24 hours from now; its expiry into
 * expires_at ("2027-03-01T04:00:00Z"). At most EXPORT_LIVE_MAX per
 * account at once (the account's row is locked while counting): with
 * that many, EXPORT_FULL and the seconds until the oldest expires in
 * *retry_after. EXPORT_OK, EXPORT_FULL or EXPORT_ERROR.
 */
int	export_store(struct db *, struct arena *, int64_t user_id,
	    const char *doc, char token[EXPORT_TOKEN_LEN + 1],
	    char expires_at[21], int *retry_after);

/*
 * The document behind token if it is user_id's and has not expired, into
 * *doc (the arena's). Another account's link and an expired one are both
 * EXPORT_NOT_FOUND. EXPORT_OK, EXPORT_NOT_FOUND or EXPORT_ERROR.
 */
int	export_fetch(struct db *, struct arena *, int64_t user_id,
	    const char *token, const char **doc);

/* Delete the exports expired at now_ts; how many in *deleted. 0 or -1. */
int	export_prune(struct db *, struct arena *, const char *now_ts,
	    long long *deleted);

/*
 * user_id's wallet events, oldest first: [{id, kind, amount ({micro_usd,
 * usd} or null for a notice), transfer_id, detail, created_at}]. The
 * caller owns the array; NULL on error.
 */
json_t	*export_wallet_events(struct db *, struct arena *, int64_t user_id);

#endif
