/* apikey.h: API keys: a fixed prefix and 256 random bits, stored only as SHA-256 */
#ifndef IP_APIKEY_H
#define IP_APIKEY_H

#include <stdint.h>

#include <jansson.h>

struct db;
struct arena;

#define APIKEY_PREFIX		"ip_"
#define APIKEY_RANDOM		43	/* base62 characters: 256 bits */
#define APIKEY_LEN		(3 + APIKEY_RANDOM)
#define APIKEY_SHOWN		9	/* "ip_" and six more, kept for display */
#define APIKEY_NAME_MAX		100

/*
 * Make a key for user_id named name, expiring after expires_days days
 * (0: never). The whole key goes to key, shown once and never stored.
 * Returns 0 with *id, or -1.
 */
int	 apikey_create(struct db *, struct arena *, int64_t user_id,
	    const char *name, int expires_days, char key[APIKEY_LEN + 1],
	    int64_t *id);

/* What apikey_lookup found. */
#define APIKEY_OK		0	/* a live key of an active account */
#define APIKEY_NONE		1	/* unknown, revoked or expired */
#define APIKEY_SUSPENDED	2	/* a live key; its account is read-only */
#define APIKEY_BANNED		3	/* a live key; its account is banned or deleted */

/*
 * The live key for a bearer token: one indexed lookup by its SHA-256,
 * with its account's standing. APIKEY_OK, APIKEY_SUSPENDED or
 * APIKEY_BANNED with *user_id, *key_id, *ms_left (unless NULL:
 * milliseconds until it expires, at least 1, or -1 for never) and *owed
 * (unless NULL: what the account owes after a refund or dispute) set;
 * APIKEY_NONE; -1 on error. Only APIKEY_OK may spend. The last-used time
 * moves at most once a minute.
 */
int	 apikey_lookup(struct db *, struct arena *, const char *key,
	    int64_t *user_id, int64_t *key_id, int64_t *ms_left,
	    int64_t *owed);

/*
 * Every key of user_id, newest first, as a JSON array of {id, name,
 * prefix, created_at, expires_at, revoked_at, last_used_at, active}.
 * Never a hash. NULL on error; the caller owns the result.
 */
json_t	*apikey_list(struct db *, struct arena *, int64_t user_id);

/* Revoke key id of user_id: 0 done, 1 no such live key, -1 error. */
int	 apikey_revoke(struct db *, struct arena *, int64_t user_id,
	    int64_t id);

#endif
