/* lifecycle.c: an account's end (deletion at 72 h) and its wallet's (expiry) */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "arena.h"
#include "cfg.h"
#include "db.h"
#include "jobs.h"
#include "ledger.h"
#include "lifecycle.h"
#include "log.h"
#include "mail.h"
#include "money.h"

#define DAY		86400LL

static const struct db_stmt q_ask = {
	"deletion_ask",
	"UPDATE users SET deletion_asked_at = now(), deletion_due_at = now() +"
	" make_interval(secs => $2::double precision) WHERE id = $1"
	" AND deletion_due_at IS NULL AND status <> 'deleted'"
	" RETURNING email, " DB_TS("deletion_due_at"),
	2, 0
};
static const struct db_stmt q_asked = {
	"deletion_asked",
	"SELECT " DB_TS("deletion_due_at") " FROM users WHERE id = $1",
	1, 0
};
static const struct db_stmt q_cancel = {
	"deletion_cancel",
	"UPDATE users SET deletion_asked_at = NULL, deletion_due_at = NULL"
	" WHERE id = $1 AND deletion_due_at IS NOT NULL AND status <> 'deleted'"
	" RETURNING email",
	1, 0
};
/* The accounts whose deadline has passed, oldest deadline first. */
static const struct db_stmt q_due = {
	"deletion_due",
	"SELECT id FROM users WHERE deletion_due_at <= $1::timestamptz"
	" AND status <> 'deleted' ORDER BY deletion_due_at LIMIT 100",
	1, 0
};
/* One of them, locked, if it is still due (not cancelled meanwhile). */
static const struct db_stmt q_lock_due = {
	"deletion_lock_due",
	"SELECT id FROM users WHERE id = $1 AND deletion_due_at <= $2::timestamptz"
	" AND status <> 'deleted' FOR NO KEY UPDATE",
	2, 0
};
/*
 * Everything personal goes in one statement: sessions, API keys, export
 * documents and queued mail deleted; nodes removed, their names, URLs
 * and tokens replaced; the account's request rows lose their hashed
 * addresses; the account keeps its id (the ledger's and the requests'
 * references) and nothing else of the person.
 */
static const struct db_stmt q_anonymize = {
	"deletion_anonymize",
	"WITH s AS (DELETE FROM sessions WHERE user_id = $1),"
	" k AS (DELETE FROM api_keys WHERE user_id = $1),"
	" e AS (DELETE FROM exports WHERE user_id = $1),"
	" ps AS (DELETE FROM payout_settings WHERE user_id = $1),"
	" po AS (UPDATE payouts SET recipient_name = 'deleted',"
	"  recipient_email = 'deleted@deleted.invalid' WHERE user_id = $1"
	"  AND status IN ('delivered', 'failed', 'cancelled')),"
	" o AS (DELETE FROM outbox WHERE user_id = $1),"
	" n AS (UPDATE nodes SET status = 'deleted',"
	"  deleted_at = coalesce(deleted_at, now()), name = 'node ' || id,"
	"  base_url = CASE WHEN connection = 'endpoint'"
	"   THEN 'https://deleted.invalid' END, api_token_sealed = NULL,"
	"  node_token_hash = NULL, suspended_reason = NULL WHERE user_id = $1),"
	" r AS (UPDATE requests SET client_ip_hash = NULL WHERE user_id = $1"
	"  AND client_ip_hash IS NOT NULL)"
	" UPDATE users SET email = 'deleted-' || id || '@deleted.invalid',"
	" password_hash = '!', display_name = NULL, signup_ip_hash = NULL,"
	" stripe_customer_id = NULL,"
	" role = 'user', status = 'deleted', status_reason = NULL,"
	" status_at = $2::timestamptz, anonymized_at = $2::timestamptz"
	" WHERE id = $1",
	2, 0
};
/* A deleted account's payouts that were in flight at its deletion, now ended. */
static const struct db_stmt q_payouts_ended = {
	"deletion_payouts_ended",
	"UPDATE payouts p SET recipient_name = 'deleted',"
	" recipient_email = 'deleted@deleted.invalid' FROM users u"
	" WHERE u.id = p.user_id AND u.status = 'deleted'"
	" AND p.status IN ('delivered', 'failed', 'cancelled')"
	" AND p.recipient_email <> 'deleted@deleted.invalid'",
	0, 0
};
/* Deleted accounts with money left (a hold resolved after anonymization). */
static const struct db_stmt q_leftover = {
	"deletion_leftover",
	"SELECT DISTINCT u.id FROM users u JOIN ledger_accounts a"
	" ON a.user_id = u.id WHERE u.status = 'deleted'"
	" AND a.balance - a.held > 0 LIMIT 100",
	0, 0
};
static const struct db_stmt q_events_prune = {
	"wallet_events_prune",
	"DELETE FROM wallet_events e USING users u WHERE e.user_id = u.id"
	" AND u.anonymized_at < $1::timestamptz -"
	" make_interval(secs => $2::double precision)",
	2, 0
};
/*
 * The accounts with money beyond their holds whose last activity is at
 * least expiry - warning ago: id, email, last activity, what they hold
 * beyond holds, and the expiry date a warning for that same activity
 * gave (NULL: not warned). The cheap columns narrow it first.
 */
static const struct db_stmt q_expiring = {
	"wallet_expiring",
	"WITH cut AS (SELECT $1::timestamptz -"
	"  make_interval(secs => $2::double precision - $3::double precision)"
	"  AS t),"
	" x AS (SELECT u.id, u.email, user_last_activity(u.id) AS last,"
	"  b.avail FROM users u JOIN (SELECT user_id, sum(balance - held)"
	"   AS avail FROM ledger_accounts WHERE user_id IS NOT NULL"
	"   GROUP BY user_id HAVING sum(balance - held) > 0) b"
	"  ON b.user_id = u.id, cut"
	"  WHERE u.status <> 'deleted' AND u.created_at <= cut.t"
	"  AND (u.last_login_at IS NULL OR u.last_login_at <= cut.t))"
	" SELECT x.id, x.email, " DB_TS("x.last") ", x.avail,"
	"  (SELECT e.detail->>'expires_at' FROM wallet_events e"
	"   WHERE e.user_id = x.id AND e.kind = 'expiry_warning'"
	"   AND e.detail->>'activity_at' = " DB_TS("x.last")
	"   ORDER BY e.id DESC LIMIT 1)"
	" FROM x, cut WHERE x.last <= cut.t ORDER BY x.id",
	3, 0
};
/* The account, locked, if its last activity is still the one warned about. */
static const struct db_stmt q_still_idle = {
	"wallet_still_idle",
	"SELECT id FROM users WHERE id = $1 AND " DB_TS("user_last_activity(id)")
	" = $2 FOR NO KEY UPDATE",
	2, 0
};
/* The expiry date the dashboard shows: see wallet_expiry_date(). */
static const struct db_stmt q_expiry_date = {
	"wallet_expiry_date",
	"WITH x AS (SELECT user_last_activity($1) AS last)"
	" SELECT " DB_TS("greatest(x.last + make_interval(secs =>"
	"  $2::double precision), (SELECT (e.detail->>'expires_at')::timestamptz"
	"  FROM wallet_events e WHERE e.user_id = $1"
	"  AND e.kind = 'expiry_warning' AND e.detail->>'activity_at' = "
	DB_TS("x.last") " ORDER BY e.id DESC LIMIT 1))") ","
	" (SELECT sum(balance) FROM ledger_accounts WHERE user_id = $1)"
	" FROM x WHERE x.last IS NOT NULL",
	2, DB_RETRY
};

int
lifecycle_config(struct cfg *c, struct lifecycle_cfg *l)
{
	if (cfg_seconds(c, "privacy", "deletion_grace", 72 * 3600, 60,
	    365 * DAY, &l->deletion_grace) == -1 ||
	    cfg_seconds(c, "privacy", "wallet_events_keep", 365 * DAY, 0,
	    100 * 365 * DAY, &l->events_keep) == -1 ||
	    cfg_seconds(c, "wallet", "expiry", 365 * DAY, DAY,
	    100 * 365 * DAY, &l->expiry) == -1 ||
	    cfg_seconds(c, "wallet", "expiry_warning", 30 * DAY, 0,
	    365 * DAY, &l->expiry_warning) == -1)
		return -1;
	if (l->expiry_warning >= l->expiry) {
		l->expiry_warning = l->expiry / 2;
		log_warn("[wallet] expiry_warning is not shorter than expiry: "
		    "warning %lld days ahead", l->expiry_warning / DAY);
	}
	return 0;
}

/* "2026-12-02T17:40:00Z" as people read it: "2026-12-02 17:40 UTC". */
static const char *
readable(struct arena *a, const char *ts)
{
	return arena_printf(a, "%.10s %.5s UTC", ts, ts + 11);
}

static const char *
usd(struct arena *a, int64_t micro)
{
	char	buf[32];

	money_format(micro, buf, sizeof(buf));
	return arena_printf(a, "$%s", buf);
}

int
deletion_ask(struct db *db, struct arena *a, struct cfg *c, int64_t user_id,
    const char **due_at)
{
	struct lifecycle_cfg	 l;
	const char		*p[2];
	PGresult		*res;
	int			 rc = DELETION_ERROR;

	if (lifecycle_config(c, &l) == -1) {
		log_error("%s", cfg_error(c));
		return DELETION_ERROR;
	}
	p[0] = db_i64(a, user_id);
	p[1] = db_i64(a, l.deletion_grace);
	if (db_begin(db) == -1)
		return DELETION_ERROR;
	if ((res = db_exec(db, a, &q_ask, p)) == NULL)
		goto out;
	if (PQntuples(res) == 0) {
		if ((res = db_exec(db, a, &q_asked, p)) == NULL ||
		    PQntuples(res) == 0 || PQgetisnull(res, 0, 0))
			goto out;
		*due_at = PQgetvalue(res, 0, 0);
		rc = DELETION_ALREADY;
		goto out;
	}
	*due_at = PQgetvalue(res, 0, 1);
	if (ledger_event(db, a, user_id, "deletion_asked", 0, NULL,
	    arena_printf(a, "{\"due_at\": \"%s\"}", *due_at)) != LEDGER_OK ||
	    mail_notify(db, a, c, user_id, PQgetvalue(res, 0, 0),
	    "deletion_scheduled", json_pack("{s:s, s:I}", "due_at",
	    readable(a, *due_at), "hours", (json_int_t)(l.deletion_grace /
	    3600)), NULL) == -1)
		goto out;
	rc = DELETION_OK;
out:
	return db_finish(db, rc, rc != DELETION_ERROR, DELETION_ERROR);
}

int
deletion_cancel(struct db *db, struct arena *a, struct cfg *c,
    int64_t user_id)
{
	const char	*p[1] = { db_i64(a, user_id) };
	PGresult	*res;
	int		 rc = DELETION_ERROR;

	if (db_begin(db) == -1)
		return DELETION_ERROR;
	if ((res = db_exec(db, a, &q_cancel, p)) == NULL)
		goto out;
	if (PQntuples(res) == 0) {
		rc = DELETION_ALREADY;
		goto out;
	}
	if (ledger_event(db, a, user_id, "deletion_cancelled", 0, NULL,
	    NULL) != LEDGER_OK || mail_notify(db, a, c, user_id,
	    PQgetvalue(res, 0, 0), "deletion_cancelled", json_object(),
	    NULL) == -1)
		goto out;
	rc = DELETION_OK;
out:
	return db_finish(db, rc, rc != DELETION_ERROR, DELETION_ERROR);
}

/*
 * Carry out one account's deletion, if still due: forfeit what it holds
 * beyond its holds, then anonymize it, in one transaction. 1 done, 0 no
 * longer due, -1 error.
 */
static int
anonymize(struct job_ctx *x, int64_t user_id, int64_t *forfeited)
{
	const char	*p[2] = { db_i64(x->a, user_id), x->now_ts };
	PGresult	*res;
	int		 rc = -1;

	*forfeited = 0;
	if (db_begin(x->db) == -1)
		return -1;
	if ((res = db_exec(x->db, x->a, &q_lock_due, p)) == NULL)
		goto out;
	if (PQntuples(res) == 0) {
		rc = 0;
		goto out;
	}
	if (ledger_sweep(x->db, x->a, user_id, "forfeit", forfeited) !=
	    LEDGER_OK || db_exec(x->db, x->a, &q_anonymize, p) == NULL ||
	    ledger_event(x->db, x->a, user_id, "account_deleted", 0, NULL,
	    NULL) != LEDGER_OK)
		goto out;
	log_info("account deleted user=%" PRId64 " forfeited=%" PRId64,
	    user_id, *forfeited);
	rc = 1;
out:
	return db_finish(x->db, rc, rc != -1, -1);
}

int
lifecycle_delete_due(struct job_ctx *x)
{
	const char	*p[1] = { x->now_ts };
	PGresult	*res;
	int64_t		 moved, forfeited = 0, done = 0, late = 0;
	int		 r, rc;

	if ((res = db_exec(x->db, x->a, &q_due, p)) == NULL)
		return -1;
	for (r = 0; r < PQntuples(res); r++) {
		if ((rc = anonymize(x, db_int64(res, r, 0), &moved)) == -1)
			return -1;
		done += rc;
		forfeited += moved;
	}
	/*
	 * Money that reached a deleted account after its deletion (a hold
	 * settled, a payout that failed); the recipients of payouts that
	 * were in flight then, and have ended since.
	 */
	if (db_exec(x->db, x->a, &q_payouts_ended, NULL) == NULL ||
	    (res = db_exec(x->db, x->a, &q_leftover, NULL)) == NULL)
		return -1;
	for (r = 0; r < PQntuples(res); r++) {
		if (ledger_sweep(x->db, x->a, db_int64(res, r, 0), "forfeit",
		    &moved) != LEDGER_OK)
			return -1;
		late += moved;
	}
	json_object_set_new(x->counts, "anonymized", json_integer(done));
	json_object_set_new(x->counts, "forfeited", json_integer(forfeited +
	    late));
	return 0;
}

int
lifecycle_events_prune(struct job_ctx *x)
{
	struct lifecycle_cfg	 l;
	const char		*p[2];
	PGresult		*res;

	if (lifecycle_config(x->cfg, &l) == -1) {
		x->message = cfg_error(x->cfg);
		return -1;
	}
	p[0] = x->now_ts;
	p[1] = db_i64(x->a, l.events_keep);
	if ((res = db_exec(x->db, x->a, &q_events_prune, p)) == NULL)
		return -1;
	json_object_set_new(x->counts, "deleted",
	    json_integer(atoll(PQcmdTuples(res))));
	return 0;
}

/*
 * Expire what the account holds beyond its holds, and say so, unless it
 * was active since the warning's last activity (last): the account is
 * locked and its activity read again first.
 */
static int
expire(struct job_ctx *x, int64_t user_id, const char *email, const char *last,
    int64_t *moved)
{
	const char	*p[2] = { db_i64(x->a, user_id), last };
	PGresult	*res;
	int		 rc = -1;

	*moved = 0;
	if (db_begin(x->db) == -1)
		return -1;
	if ((res = db_exec(x->db, x->a, &q_still_idle, p)) == NULL)
		goto out;
	if (PQntuples(res) == 0) {
		rc = 0;			/* active since: a new year began */
		goto out;
	}
	if (ledger_sweep(x->db, x->a, user_id, "expiry", moved) != LEDGER_OK)
		goto out;
	if (*moved > 0 && mail_notify(x->db, x->a, x->cfg, user_id, email,
	    "wallet_expired", json_pack("{s:s}", "amount", usd(x->a, *moved)),
	    x->now_ts) == -1)
		goto out;
	rc = 0;
out:
	return db_finish(x->db, rc, rc == 0, -1);
}

/* Warn that the wallet expires at expires_at unless there is activity. */
static int
warn(struct job_ctx *x, int64_t user_id, const char *email, const char *last,
    const char *expires_at, int64_t avail)
{
	int	rc = -1;

	if (db_begin(x->db) == -1)
		return -1;
	if (ledger_event(x->db, x->a, user_id, "expiry_warning", 0, NULL,
	    arena_printf(x->a, "{\"activity_at\": \"%s\", \"expires_at\": "
	    "\"%s\", \"warned_at\": \"%s\"}", last, expires_at, x->now_ts)) !=
	    LEDGER_OK || mail_notify(x->db, x->a, x->cfg, user_id, email,
	    "wallet_expiry_warning", json_pack("{s:s, s:s, s:s}", "amount",
	    usd(x->a, avail), "last_activity", readable(x->a, last),
	    "expires_at", readable(x->a, expires_at)), x->now_ts) == -1)
		goto out;
	rc = 0;
out:
	return db_finish(x->db, rc, rc == 0, -1);
}

/*
 * wallet-expiry: a wallet expires a year after the account's last
 * activity, but never without a warning sent at least expiry_warning
 * before: an account first found past the year (the job did not run)
 * is warned now and expires expiry_warning later. A warning belongs to
 * one last activity: activity since makes a new year and a new warning.
 */
int
lifecycle_wallet_expiry(struct job_ctx *x)
{
	struct lifecycle_cfg	 l;
	const char		*p[3], *last, *email;
	char			 until[21];
	PGresult		*res;
	time_t			 t_last, t_until;
	int64_t			 uid, moved, expired = 0, amount = 0, warned = 0;
	int			 r;

	if (lifecycle_config(x->cfg, &l) == -1) {
		x->message = cfg_error(x->cfg);
		return -1;
	}
	p[0] = x->now_ts;
	p[1] = db_i64(x->a, l.expiry);
	p[2] = db_i64(x->a, l.expiry_warning);
	if ((res = db_exec(x->db, x->a, &q_expiring, p)) == NULL)
		return -1;
	for (r = 0; r < PQntuples(res); r++) {
		uid = db_int64(res, r, 0);
		email = PQgetvalue(res, r, 1);
		last = PQgetvalue(res, r, 2);
		if (jobs_parse_time(last, &t_last) == -1)
			return -1;
		if (!PQgetisnull(res, r, 4)) {
			if (jobs_parse_time(PQgetvalue(res, r, 4), &t_until) ==
			    -1)
				return -1;
			if (t_until > x->now)
				continue;	/* warned; not yet */
			if (expire(x, uid, email, last, &moved) == -1)
				return -1;
			expired += moved > 0;
			amount += moved;
			continue;
		}
		t_until = t_last + (time_t)l.expiry;
		if (t_until < x->now + (time_t)l.expiry_warning)
			t_until = x->now + (time_t)l.expiry_warning;
		jobs_format_time(t_until, until);
		if (warn(x, uid, email, last, until, db_int64(res, r, 3)) == -1)
			return -1;
		warned++;
	}
	json_object_set_new(x->counts, "warned", json_integer(warned));
	json_object_set_new(x->counts, "expired", json_integer(expired));
	json_object_set_new(x->counts, "amount", json_integer(amount));
	return 0;
}

int
wallet_expiry_date(struct db *db, struct arena *a, struct cfg *c,
    int64_t user_id, const char **at)
{
	struct lifecycle_cfg	 l;
	const char		*p[2];
	PGresult		*res;

	*at = NULL;
	if (lifecycle_config(c, &l) == -1)
		return -1;
	p[0] = db_i64(a, user_id);
	p[1] = db_i64(a, l.expiry);
	if ((res = db_exec(db, a, &q_expiry_date, p)) == NULL)
		return -1;
	if (PQntuples(res) == 1 && db_int64(res, 0, 1) > 0)
		*at = PQgetvalue(res, 0, 0);
	return 0;
}
