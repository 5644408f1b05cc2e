/* user.h: accounts: one per person, acting as consumer and supplier alike */
#ifndef IP_USER_H
#define IP_USER_H

#include <stddef.h>
#include <stdint.h>

struct db;
struct arena;

struct user {
	int64_t		 id;
	const char	*email;
	const char	*role;		/* "user" or "admin" */
	const char	*password_hash;
	const char	*created_at;	/* RFC 3339 UTC */
	const char	*status;	/* "active", "suspended", "banned", "deleted" */
	const char	*display_name;	/* or NULL */
	const char	*deletion_due_at; /* RFC 3339 UTC, or NULL: none asked */
};

#define USER_EMAIL_MAX	254

/*
 * Lower-case and check an email address into out (USER_EMAIL_MAX + 1
 * bytes): one '@', a non-empty local part, a domain with a dot, no
 * spaces or control characters. Returns 0, or -1 when it is not one.
 */
int	user_email_normalize(const char *in, char *out, size_t outlen);

/*
 * Create an account with its ledger accounts and the signup grant (grant
 * micro-USD from promotions, once), all in one transaction. Returns 0
 * with *id, 1 when the email is taken, -1 on a database error.
 */
int	user_create(struct db *, struct arena *, const char *email,
	    const char *password_hash, const char *role, const char *ip_hash,
	    int64_t grant, int64_t *id);

/* Find by email or id; strings live in the arena. 0 found, 1 not, -1 error. */
int	user_by_email(struct db *, struct arena *, const char *email,
	    struct user *);
int	user_by_id(struct db *, struct arena *, int64_t id, struct user *);

/* Note a sign-in (wallet expiry counts from the last activity); 0 or -1. */
int	user_logged_in(struct db *, struct arena *, int64_t id);

/* Replace the password hash; 0 or -1. */
int	user_set_password(struct db *, struct arena *, int64_t id,
	    const char *password_hash);

#endif
