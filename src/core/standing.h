/* standing.h: an account's standing: active, suspended (read-only), banned */
#ifndef IP_STANDING_H
#define IP_STANDING_H

#include <stdint.h>

#include <jansson.h>

struct arena;
struct db;
struct tmpl_set;

#define STANDING_REASON_MAX	500	/* characters, as admin_actions keeps */

/*
 * What an account's standing allows, enforced where the data is read:
 * active does anything; suspended is read-only (it signs in, sees, exports
 * and deletes, but spends nothing, makes no key or node, changes no price,
 * and its nodes are not routed); banned, like deleted, is refused
 * everywhere (no sign-in, sessions and keys refused, nodes not routed,
 * node tokens refused). Deletion (anonymization) is set elsewhere and is
 * final here.
 */

/* Who changes a standing, and how the email is made. */
struct standing_by {
	int64_t			 admin_id;	/* the operator; 0: infrpoolctl or a job */
	const struct tmpl_set	*mail;		/* templates/mail */
	const char		*site_name;	/* [app] site_name, for the email */
};

/* Outcomes; each but STANDING_OK changed nothing. */
enum standing_rc {
	STANDING_ERROR = -1,	/* database error (logged) */
	STANDING_OK = 0,
	STANDING_NO_USER,	/* no such account */
	STANDING_BAD_REASON,	/* not 1..STANDING_REASON_MAX characters of text */
	STANDING_SELF,		/* an operator acting on their own account */
	STANDING_DELETED,	/* the account is deleted: nothing to change */
	STANDING_BANNED,	/* the account is banned: nothing undoes it */
	STANDING_SUSPENDED,	/* suspend: it is suspended already */
	STANDING_ACTIVE,	/* unsuspend: it is not suspended */
	STANDING_MAIL		/* the email could not be made (logged) */
};

/*
 * Each call is one transaction (nesting in a caller's): check the
 * transition, set users.status, status_reason and status_at, record the
 * action in admin_actions (as by->admin_id, or no one), and queue the
 * email (templates/mail/account_*.txt) that tells the account's owner the
 * reason. The change feed's trigger tells the relay, which forgets the
 * account's leases and its nodes' candidacy within a poll.
 */

/* Make an active account read-only. */
int	user_suspend(struct db *, struct arena *, const struct standing_by *,
	    int64_t user_id, const char *reason);

/* Make a suspended account active again. */
int	user_unsuspend(struct db *, struct arena *, const struct standing_by *,
	    int64_t user_id, const char *reason);

/*
 * Ban an active or suspended account: besides the above, end its sessions,
 * revoke its API keys and suspend its nodes. With forfeit (the Provider
 * Terms: confirmed fraud or a breach of prompt data), also close its open
 * leases and move its whole wallet to the expired account (ledger_sweep,
 * kind "forfeit"); *forfeited (unless NULL) is what moved.
 */
int	user_ban(struct db *, struct arena *, const struct standing_by *,
	    int64_t user_id, const char *reason, int forfeit,
	    int64_t *forfeited);

/* 1 when reason may be given: 1..STANDING_REASON_MAX characters, not blank. */
int	standing_reason_ok(const char *reason);

/* A sentence for an outcome, for pages and infrpoolctl (static). */
const char *standing_message(int rc);

/*
 * The account user_id as the operator's page shows it: {id, email, role,
 * status, status_reason, status_at, created_at} (null where unset) into
 * *out, which the caller owns. STANDING_OK, STANDING_NO_USER or
 * STANDING_ERROR.
 */
int	standing_get(struct db *, struct arena *, int64_t user_id,
	    json_t **out);

/*
 * The operator's actions on user_id, newest first (at most 100), as a JSON
 * array of {id, action, reason, created_at, admin (email, or null)}; NULL
 * on error. The caller owns it.
 */
json_t	*standing_history(struct db *, struct arena *, int64_t user_id);

#endif
