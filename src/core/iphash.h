/* iphash.h: IP addresses as HMAC-SHA256 under a key with an id, never raw */
#ifndef IP_IPHASH_H
#define IP_IPHASH_H

#include <stddef.h>

#include <jansson.h>

struct db;
struct arena;

#define IPHASH_LEN	80	/* "k<id>:<64 hex>" and a NUL */

/*
 * Hash ip under the newest unretired key into out ("k3:ab12…"). Makes
 * the first key when there is none. The key is cached for a minute per
 * process. Returns 0 or -1.
 */
int	iphash(struct db *, struct arena *, const char *ip, char out[IPHASH_LEN]);

/* Make a new current key; its id in *id. Returns 0 or -1. */
int	iphash_new_key(struct db *, struct arena *, int *id);

/*
 * The rotation job's: when the current key was made max_age_s or more
 * before now_ts (the job's clock), make a new key dated now_ts and
 * retire every other, in one transaction; its id in *id. Returns 1
 * rotated, 0 not due (or no key yet: the app makes the first), -1.
 */
int	iphash_rotate(struct db *, struct arena *, const char *now_ts,
	    long long max_age_s, int *id);

/*
 * Delete the keys retired more than a day before now_ts that no stored
 * hash names any more (users, sessions, requests, rate limits); how many
 * in *dropped. 0 or -1.
 */
int	iphash_drop_retired(struct db *, struct arena *, const char *now_ts,
	    int *dropped);

/* Every key, newest first: [{id, created_at, retired_at}]. NULL on error. */
json_t	*iphash_keys(struct db *, struct arena *);

#endif
