/* standing.c: an account's standing: suspend, unsuspend, ban, with reason and email */
#include "config.h"

#include <assert.h>
#include <string.h>

#include "arena.h"
#include "db.h"
#include "gateway.h"
#include "json.h"
#include "lease.h"
#include "ledger.h"
#include "log.h"
#include "mail.h"
#include "money.h"
#include "standing.h"
#include "text.h"

/* What a ban writes on the account's nodes, which their pages show. */
#define BAN_NODE_REASON	"The account is banned."
#define HISTORY_MAX	"100"

static const struct db_stmt q_lock = {
	"standing_lock",
	"SELECT status, email FROM users WHERE id = $1 FOR UPDATE",
	1, 0
};
static const struct db_stmt q_set = {
	"standing_set",
	"UPDATE users SET status = $2, status_reason = $3, status_at = now()"
	" WHERE id = $1",
	3, 0
};
static const struct db_stmt q_log = {
	"standing_log",
	"INSERT INTO admin_actions (admin_id, action, user_id, reason)"
	" VALUES ($1, $2, $3, $4)",
	4, 0
};
/* A ban's effects: no session, no key, no node at work. */
static const struct db_stmt q_end_sessions = {
	"standing_end_sessions",
	"DELETE FROM sessions WHERE user_id = $1",
	1, 0
};
static const struct db_stmt q_revoke_keys = {
	"standing_revoke_keys",
	"UPDATE api_keys SET revoked_at = now()"
	" WHERE user_id = $1 AND revoked_at IS NULL",
	1, 0
};
static const struct db_stmt q_suspend_nodes = {
	"standing_suspend_nodes",
	"UPDATE nodes SET status = 'suspended', suspended_reason = '"
	BAN_NODE_REASON "', suspended_at = now(), updated_at = now()"
	" WHERE user_id = $1 AND status = 'active'",
	1, 0
};
static const struct db_stmt q_open_leases = {
	"standing_open_leases",
	"SELECT id FROM leases WHERE user_id = $1 AND closed_at IS NULL",
	1, 0
};
static const struct db_stmt q_get = {
	"standing_get",
	"SELECT row_to_json(x)::text FROM (SELECT id, email, role, status,"
	" status_reason, " DB_TS("status_at") " AS status_at, "
	DB_TS("created_at") " AS created_at FROM users WHERE id = $1) x",
	1, DB_RETRY
};
static const struct db_stmt q_history = {
	"standing_history",
	"SELECT coalesce(json_agg(x ORDER BY x.id DESC), '[]')::text FROM ("
	" SELECT a.id, a.action, a.reason, " DB_TS("a.created_at")
	" AS created_at, o.email AS admin FROM admin_actions a"
	" LEFT JOIN users o ON o.id = a.admin_id WHERE a.user_id = $1"
	" ORDER BY a.id DESC LIMIT " HISTORY_MAX ") x",
	1, DB_RETRY
};

/* One change of standing: from which states, to which, and its record. */
struct change {
	const char	*action;	/* admin_actions.action */
	const char	*to;		/* the new users.status */
	const char	*mail;		/* the template */
};

static const struct change suspend_change = {
	"user_suspend", "suspended", "account_suspended"
};
static const struct change unsuspend_change = {
	"user_unsuspend", "active", "account_unsuspended"
};
static const struct change ban_change = {
	"user_ban", "banned", "account_banned"
};

int
standing_reason_ok(const char *s)
{
	return s != NULL && text_ok(s, STANDING_REASON_MAX) &&
	    strspn(s, " ") < strlen(s);
}

const char *
standing_message(int rc)
{
	switch (rc) {
	case STANDING_OK:
		return "Done.";
	case STANDING_NO_USER:
		return "There is no such account.";
	case STANDING_BAD_REASON:
		return "Give a reason of 1 to 500 characters, on one line; the "
		    "account's owner reads it in the email.";
	case STANDING_SELF:
		return "You cannot change the standing of your own account.";
	case STANDING_DELETED:
		return "This account is deleted: its standing cannot change.";
	case STANDING_BANNED:
		return "This account is banned: nothing undoes a ban.";
	case STANDING_SUSPENDED:
		return "This account is suspended already.";
	case STANDING_ACTIVE:
		return "This account is not suspended.";
	case STANDING_MAIL:
		return "The email could not be made (see the log): nothing "
		    "was changed.";
	default:
		return "A database error: nothing was changed.";
	}
}

/*
 * Lock the account and check that c may follow its standing; STANDING_OK
 * with its email in *email (the arena's), or why not.
 */
static int
check(struct db *db, struct arena *a, const struct standing_by *by,
    int64_t user_id, const struct change *c, const char **email)
{
	const char	*p[1], *from;
	PGresult	*res;

	if (by->admin_id != 0 && by->admin_id == user_id)
		return STANDING_SELF;
	p[0] = db_i64(a, user_id);
	if ((res = db_exec(db, a, &q_lock, p)) == NULL)
		return STANDING_ERROR;
	if (PQntuples(res) == 0)
		return STANDING_NO_USER;
	from = PQgetvalue(res, 0, 0);
	*email = PQgetvalue(res, 0, 1);
	if (strcmp(from, "deleted") == 0)
		return STANDING_DELETED;
	if (strcmp(from, "banned") == 0)
		return STANDING_BANNED;
	if (c == &suspend_change && strcmp(from, "suspended") == 0)
		return STANDING_SUSPENDED;
	if (c == &unsuspend_change && strcmp(from, "suspended") != 0)
		return STANDING_ACTIVE;
	return STANDING_OK;
}

/* Set the standing and record the action; STANDING_OK or STANDING_ERROR. */
static int
record(struct db *db, struct arena *a, const struct standing_by *by,
    int64_t user_id, const struct change *c, const char *reason)
{
	const char	*p[4];

	p[0] = db_i64(a, user_id);
	p[1] = c->to;
	p[2] = strcmp(c->to, "active") == 0 ? NULL : reason;
	if (db_exec(db, a, &q_set, p) == NULL)
		return STANDING_ERROR;
	p[0] = by->admin_id != 0 ? db_i64(a, by->admin_id) : NULL;
	p[1] = c->action;
	p[2] = db_i64(a, user_id);
	p[3] = reason;
	return db_exec(db, a, &q_log, p) == NULL ? STANDING_ERROR :
	    STANDING_OK;
}

/* Queue c's email to email with the reason (and what was forfeited, if any). */
static int
tell(struct db *db, struct arena *a, const struct standing_by *by,
    int64_t user_id, const char *email, const struct change *c,
    const char *reason, int64_t forfeited)
{
	char	 usd[32];
	json_t	*vars;
	int	 rc;

	money_format(forfeited, usd, sizeof(usd));
	vars = json_pack("{s:s, s:s, s:s?}", "site_name", by->site_name,
	    "reason", reason, "forfeited", forfeited > 0 ? usd : NULL);
	rc = mail_queue(db, a, by->mail, user_id, email, c->mail, vars, NULL);
	json_decref(vars);
	return rc == 0 ? STANDING_OK : STANDING_MAIL;
}

/*
 * A ban's effects on the account: sessions ended, keys revoked, nodes
 * suspended; with forfeit, its leases closed and its wallet swept into
 * *forfeited. STANDING_OK or STANDING_ERROR.
 */
static int
disable(struct db *db, struct arena *a, int64_t user_id, int forfeit,
    int64_t *forfeited)
{
	const char	*p[1];
	PGresult	*res;
	int64_t		*ids;
	int		 i, n;

	p[0] = db_i64(a, user_id);
	if (db_exec(db, a, &q_end_sessions, p) == NULL ||
	    db_exec(db, a, &q_revoke_keys, p) == NULL ||
	    db_exec(db, a, &q_suspend_nodes, p) == NULL)
		return STANDING_ERROR;
	if (!forfeit)
		return STANDING_OK;
	/* What leases hold is part of the wallet: release it first. */
	if ((res = db_exec(db, a, &q_open_leases, p)) == NULL)
		return STANDING_ERROR;
	n = PQntuples(res);
	ids = arena_calloc(a, (size_t)(n > 0 ? n : 1), sizeof(*ids));
	for (i = 0; i < n; i++)
		ids[i] = db_int64(res, i, 0);
	if (lease_close(db, a, ids, (size_t)n) != GW_OK ||
	    ledger_sweep(db, a, user_id, "forfeit", forfeited) != LEDGER_OK)
		return STANDING_ERROR;
	return STANDING_OK;
}

/* Carry out c on user_id in one transaction; see standing.h. */
static int
apply(struct db *db, struct arena *a, const struct standing_by *by,
    int64_t user_id, const struct change *c, const char *reason,
    int forfeit, int64_t *forfeited)
{
	const char	*email = NULL;
	int64_t		 moved = 0;
	int		 rc;

	assert(by != NULL && by->mail != NULL && by->site_name != NULL);
	if (forfeited != NULL)
		*forfeited = 0;
	if (!standing_reason_ok(reason))
		return STANDING_BAD_REASON;
	if (db_begin(db) == -1)
		return STANDING_ERROR;
	if ((rc = check(db, a, by, user_id, c, &email)) != STANDING_OK ||
	    (rc = record(db, a, by, user_id, c, reason)) != STANDING_OK)
		goto out;
	if (c == &ban_change &&
	    (rc = disable(db, a, user_id, forfeit, &moved)) != STANDING_OK)
		goto out;
	rc = tell(db, a, by, user_id, email, c, reason, moved);
out:
	rc = db_finish(db, rc, rc == STANDING_OK, STANDING_ERROR);
	if (rc == STANDING_OK) {
		log_info("user %lld: %s by %lld%s", (long long)user_id,
		    c->action, (long long)by->admin_id, moved > 0 ?
		    arena_printf(a, ", %lld micro-USD forfeited",
		    (long long)moved) : "");
		if (forfeited != NULL)
			*forfeited = moved;
	}
	return rc;
}

int
user_suspend(struct db *db, struct arena *a, const struct standing_by *by,
    int64_t user_id, const char *reason)
{
	return apply(db, a, by, user_id, &suspend_change, reason, 0, NULL);
}

int
user_unsuspend(struct db *db, struct arena *a, const struct standing_by *by,
    int64_t user_id, const char *reason)
{
	return apply(db, a, by, user_id, &unsuspend_change, reason, 0, NULL);
}

int
user_ban(struct db *db, struct arena *a, const struct standing_by *by,
    int64_t user_id, const char *reason, int forfeit, int64_t *forfeited)
{
	return apply(db, a, by, user_id, &ban_change, reason, forfeit,
	    forfeited);
}

/* Parse column 0 of row 0 of res, JSON built by the database; NULL (logged). */
static json_t *
row_json(PGresult *res)
{
	json_error_t	 je;
	json_t		*v;

	if ((v = json_loads(PQgetvalue(res, 0, 0), 0, &je)) == NULL)
		log_error("standing json: %s", je.text);
	return v;
}

int
standing_get(struct db *db, struct arena *a, int64_t user_id, json_t **out)
{
	const char	*p[1];
	PGresult	*res;

	*out = NULL;
	p[0] = db_i64(a, user_id);
	if ((res = db_exec(db, a, &q_get, p)) == NULL)
		return STANDING_ERROR;
	if (PQntuples(res) == 0)
		return STANDING_NO_USER;
	return (*out = row_json(res)) != NULL ? STANDING_OK : STANDING_ERROR;
}

json_t *
standing_history(struct db *db, struct arena *a, int64_t user_id)
{
	const char	*p[1];
	PGresult	*res;

	p[0] = db_i64(a, user_id);
	if ((res = db_exec(db, a, &q_history, p)) == NULL)
		return NULL;
	return row_json(res);
}
