/* session.h: browser sessions: random ids stored hashed, idle and absolute lifetimes */
#ifndef IP_SESSION_H
#define IP_SESSION_H

#include <stdint.h>

struct db;
struct arena;

#define SESSION_TOKEN_LEN	43	/* base62, 256 bits */

struct session {
	int64_t		 user_id;
	const char	*email;
	const char	*role;
	const char	*csrf;		/* the session's CSRF token */
	const char	*status;	/* the account's: "active", "suspended", … */
	const char	*status_reason;	/* why, or NULL */
};

/*
 * Start a session for user_id lasting at most absolute_s seconds. The
 * cookie value goes to token (never stored: only its SHA-256 is).
 * Returns 0 or -1.
 */
int	session_create(struct db *, struct arena *, int64_t user_id,
	    const char *ip_hash, int64_t absolute_s,
	    char token[SESSION_TOKEN_LEN + 1]);

/*
 * Find the live session for token: not past its absolute expiry and seen
 * within idle_s seconds (the last-seen time moves at most once a
 * minute), whatever its account's standing (the caller decides what a
 * suspended or banned account may do). 0 found (s filled, strings in the
 * arena), 1 none, -1 error.
 */
int	session_lookup(struct db *, struct arena *, const char *token,
	    int64_t idle_s, struct session *s);

/* End one session (logout); 0 or -1. */
int	session_delete(struct db *, struct arena *, const char *token);

/* End every session of user_id except keep (NULL: all); 0 or -1. */
int	session_delete_others(struct db *, struct arena *, int64_t user_id,
	    const char *keep);

#endif
