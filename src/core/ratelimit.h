/* ratelimit.h: fixed-window rate limits kept in PostgreSQL, shared by every process */
#ifndef IP_RATELIMIT_H
#define IP_RATELIMIT_H

struct db;
struct arena;

/*
 * Count one hit in bucket (a name holding only hashes: "login:ip:k1:…").
 * Returns 0 when within limit hits per window_s seconds, 1 when over it
 * (*retry_after: seconds until the window ends), -1 on a database error.
 */
int	ratelimit_hit(struct db *, struct arena *, const char *bucket, int limit,
	    int window_s, int *retry_after);

/* Forget a bucket (a successful login clears the account's failures). */
int	ratelimit_clear(struct db *, struct arena *, const char *bucket);

#endif
