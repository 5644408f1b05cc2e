/* payout_event.c: Tremendous' webhooks, the operator's reviews, the payout jobs */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arena.h"
#include "db.h"
#include "jobs.h"
#include "json.h"
#include "log.h"
#include "payout.h"
#include "payout_int.h"
#include "whsig.h"

#define CENT		10000LL
#define BODY_MAX	(64 * 1024)

static const struct db_stmt q_record = {
	"tremendous_event_record",
	"INSERT INTO tremendous_events (id, event, reward_id, outcome)"
	" VALUES ($1, $2, $3, 'new') ON CONFLICT (id) DO NOTHING RETURNING id",
	3, 0
};
static const struct db_stmt q_done = {
	"tremendous_event_done",
	"UPDATE tremendous_events SET outcome = $2, payout_id = $3 WHERE id = $1",
	3, 0
};
static const struct db_stmt q_by_reward = {
	"payout_by_reward",
	"SELECT id FROM payouts WHERE reward_id = $1", 1, 0
};
static const struct db_stmt q_resent = {
	"payout_released",
	"UPDATE payouts SET status = 'sent', reason = NULL WHERE id = $1"
	" AND status = 'flagged' AND reward_id IS NOT NULL",
	1, 0
};
static const struct db_stmt q_set_reward = {
	"payout_set_reward",
	"UPDATE payouts SET order_id = $2, reward_id = $3 WHERE id = $1"
	" AND reward_id IS NULL",
	3, 0
};
static const struct db_stmt q_repend = {
	"payout_repend",
	"UPDATE payouts SET status = 'pending', reason = NULL WHERE id = $1"
	" AND status = 'flagged' AND reward_id IS NULL",
	1, 0
};
static const struct db_stmt q_action = {
	"payout_admin_action",
	"INSERT INTO admin_actions (admin_id, action, user_id, payout_id, reason)"
	" SELECT nullif($1::bigint, 0), $2, user_id, id, $3 FROM payouts"
	" WHERE id = $4",
	4, 0
};
static const struct db_stmt q_pending = {
	"payout_pending",
	"SELECT id FROM payouts WHERE status = 'pending'"
	" AND created_at < $1::timestamptz - interval '1 minute' ORDER BY id"
	" LIMIT 100",
	1, 0
};
static const struct db_stmt q_stale = {
	"payout_stale",
	"SELECT id, reward_id FROM payouts WHERE status = 'sent'"
	" AND sent_at < $1::timestamptz - interval '1 day' ORDER BY id LIMIT 100",
	1, 0
};
/* Who is paid this month: monthly, active, old enough, owing nothing, not paid yet. */
static const struct db_stmt q_monthly = {
	"payout_monthly",
	"SELECT u.id, (a.balance - a.held) / 10000 * 10000 FROM users u"
	" JOIN payout_settings s ON s.user_id = u.id AND s.mode = 'monthly'"
	" JOIN ledger_accounts a ON a.user_id = u.id AND a.kind = 'earnings'"
	" WHERE u.status = 'active' AND u.owed = 0"
	" AND u.created_at <= $1::timestamptz - make_interval(secs => $3::double precision)"
	" AND a.balance - a.held >= $4"
	" AND NOT EXISTS (SELECT 1 FROM payouts p WHERE p.user_id = u.id"
	"  AND (p.month = $2::date OR p.status IN ('pending', 'sent',"
	"  'flagged'))) ORDER BY u.id",
	4, 0
};
static const struct db_stmt q_overview = {
	"payout_overview",
	"SELECT json_build_object("
	" 'fees_usd', (SELECT to_char(balance / 1000000.0,"
	"  'FM999999999990.00') FROM ledger_accounts WHERE kind = 'payout_fees'"
	"  AND user_id IS NULL),"
	" 'paid_usd', (SELECT to_char(coalesce(sum(value_cents), 0) / 100.0,"
	"  'FM999999999990.00') FROM payouts WHERE status = 'delivered'),"
	" 'in_flight', (SELECT coalesce(json_agg(j ORDER BY id), '[]') FROM"
	"  (SELECT p.id, json_build_object('id', p.id, 'user_id', p.user_id,"
	"  'email', u.email, 'value_usd', to_char(p.value_cents / 100.0,"
	"  'FM999999999990.00'), 'status', p.status, 'reason', p.reason,"
	"  'created_at', " DB_TS("p.created_at") ", 'flagged', p.status ="
	"  'flagged') AS j FROM payouts p JOIN users u ON u.id = p.user_id"
	"  WHERE p.status IN ('pending', 'sent', 'flagged')) x),"
	" 'failed', (SELECT coalesce(json_agg(j ORDER BY id DESC), '[]') FROM"
	"  (SELECT p.id, json_build_object('id', p.id, 'user_id', p.user_id,"
	"  'email', u.email, 'value_usd', to_char(p.value_cents / 100.0,"
	"  'FM999999999990.00'), 'status', p.status, 'reason', p.reason,"
	"  'finished_at', " DB_TS("p.finished_at") ") AS j FROM payouts p"
	"  JOIN users u ON u.id = p.user_id WHERE p.status IN ('failed',"
	"  'cancelled') ORDER BY p.id DESC LIMIT 50) x))::text",
	0, DB_RETRY
};

/* Cancel a reward at Tremendous (after its delivery failed); 0 or -1. */
static int
cancel_reward(struct cfg *c, struct arena *a, const char *reward)
{
	struct payout_cfg	 pc;
	char			 err[256];
	long			 status;
	json_t			*ans = NULL;
	int			 rc;

	if (payout_config(c, &pc) == -1)
		return -1;
	rc = payout_call(&pc, "POST", arena_printf(a, "/rewards/%s/cancel",
	    reward), "{}", &status, &ans, err, sizeof(err));
	json_decref(ans);
	return rc == 0 && status / 100 == 2 ? 0 : -1;
}

/* Any payout whose order Tremendous may have, but whose reward we do not know yet? */
static const struct db_stmt q_any_pending = {
	"payout_any_pending",
	"SELECT 1 FROM payouts WHERE status = 'pending' LIMIT 1", 0, 0
};

/* Apply one event to the payout of its reward (locked by payout_load). */
static int
apply(struct db *db, struct arena *a, struct cfg *c, const char *event,
    const char *reward, int64_t *payout_id, const char **outcome)
{
	const char		*p[1] = { reward };
	struct payout_row	 x;
	PGresult		*res;
	int			 rc;

	*outcome = "unknown_reward";
	if (reward == NULL || (res = db_exec(db, a, &q_by_reward, p)) == NULL)
		return reward == NULL ? 0 : -1;
	if (PQntuples(res) == 0)
		return 0;
	*payout_id = db_int64(res, 0, 0);
	if (payout_load(db, a, *payout_id, &x) != 0)
		return -1;
	if (strcmp(event, "REWARDS.DELIVERY.SUCCEEDED") == 0) {
		rc = payout_finish(db, a, c, &x, "delivered", NULL);
		*outcome = rc == 1 ? "already_finished" : "delivered";
	} else if (strcmp(event, "REWARDS.DELIVERY.FAILED") == 0) {
		/*
		 * The reward is cancelled at Tremendous before the money
		 * comes back, so no resend can deliver it as well.
		 */
		if (strcmp(x.status, "sent") != 0 &&
		    strcmp(x.status, "flagged") != 0) {
			*outcome = "already_finished";
			return 0;
		}
		if (cancel_reward(c, a, reward) == 0) {
			rc = payout_finish(db, a, c, &x, "failed", "Tremendous "
			    "could not deliver it to the recipient.");
			*outcome = "failed";
		} else {
			rc = payout_hold(db, a, c, &x, "Tremendous could not "
			    "deliver it, and it could not be cancelled there "
			    "yet: the operator decides.");
			*outcome = "failed_held";
		}
	} else if (strcmp(event, "REWARDS.CANCELED") == 0) {
		rc = payout_finish(db, a, c, &x, "cancelled",
		    "Tremendous cancelled it.");
		*outcome = "cancelled";
		if (rc == 1) {
			/* Blocked at redemption, after delivery: undone. */
			rc = payout_reverse(db, a, c, &x, "Tremendous "
			    "cancelled it after delivery.");
			*outcome = rc == 1 ? "already_finished" :
			    "cancelled_after_delivery";
		}
	} else if (strcmp(event, "REWARDS.FLAGGED") == 0) {
		rc = payout_hold(db, a, c, &x, "Tremendous flagged it for "
		    "review; the operator decides.");
		*outcome = "flagged";
		if (rc == 1) {
			/* Flagged at redemption: Tremendous' review decides. */
			rc = payout_mail(db, a, c, &x, "payout_held",
			    "Tremendous is reviewing it at redemption.");
			*outcome = "flagged_after_delivery";
		}
	} else {
		rc = 0;
		*outcome = "ignored";
	}
	return rc == -1 ? -1 : 0;
}

int
payout_webhook(struct db *db, struct arena *a, struct cfg *c,
    const char *signature, const char *body, size_t len,
    const char **outcome)
{
	struct payout_cfg	 pc;
	const char		*why, *id, *event, *reward, *p[3];
	json_t			*root;
	PGresult		*res;
	int64_t			 payout = 0;
	int			 rc;

	if (payout_config(c, &pc) == -1)
		return -1;
	if (*pc.webhook_secret == '\0') {
		*outcome = "webhooks are not configured ([tremendous] "
		    "webhook_secret)";
		return 1;
	}
	if (len > BODY_MAX) {
		*outcome = "body too large";
		return 1;
	}
	if (whsig_tremendous_verify(signature, body, len, pc.webhook_secret,
	    &why) == -1) {
		*outcome = arena_printf(a, "signature: %s", why);
		return 1;
	}
	root = json_arena(a, json_loadb(body, len, 0, NULL));
	id = json_string_value(json_object_get(root, "uuid"));
	event = json_string_value(json_object_get(root, "event"));
	reward = json_string_value(json_object_get(json_object_get(
	    json_object_get(root, "payload"), "resource"), "id"));
	if (id == NULL || event == NULL || *id == '\0' || strlen(id) > 100 ||
	    *event == '\0' || strlen(event) > 100 || (reward != NULL &&
	    strlen(reward) > 100)) {
		*outcome = "not a Tremendous event";
		return 1;
	}
	if (db_begin(db) == -1)
		return -1;
	p[0] = id;
	p[1] = event;
	p[2] = reward;
	if ((res = db_exec(db, a, &q_record, p)) == NULL) {
		rc = -1;
		goto out;
	}
	if (PQntuples(res) == 0) {
		*outcome = "duplicate";
		rc = 0;
		goto out;
	}
	if ((rc = apply(db, a, c, event, reward, &payout, outcome)) == -1)
		goto out;
	if (payout == 0 && reward != NULL) {
		/* Its order may still be on its way to us: ask to be told again. */
		if ((res = db_exec(db, a, &q_any_pending, NULL)) == NULL) {
			rc = -1;
			goto out;
		}
		if (PQntuples(res) > 0) {
			*outcome = "unknown_reward_retry";
			rc = 2;
			goto out;
		}
	}
	p[1] = *outcome;
	p[2] = payout > 0 ? db_i64(a, payout) : NULL;
	rc = db_exec(db, a, &q_done, p) == NULL ? -1 : 0;
out:
	if (rc == 2) {
		db_rollback(db);	/* not recorded: it comes again */
		return 2;
	}
	return db_finish(db, rc, rc == 0, -1);
}

int
payout_review(struct db *db, struct arena *a, struct cfg *c, int64_t admin,
    int64_t payout_id, int approve, const char **why)
{
	struct payout_cfg	 pc;
	struct payout_row	 x;
	const char		*p[4], *order, *reward;
	char			 err[256];
	long			 status;
	json_t			*ans = NULL;
	int			 rc, send = 0;

	*why = NULL;
	if (payout_config(c, &pc) == -1)
		return -1;
	if (db_begin(db) == -1)
		return -1;
	rc = payout_load(db, a, payout_id, &x);
	db_rollback(db);
	if (rc != 0 || strcmp(x.status, "flagged") != 0)
		return rc == -1 ? -1 : 1;
	if (*x.reward_id == '\0') {
		/* Held before we knew its reward: does Tremendous have it? */
		x.external_id = arena_printf(a, "payout-%" PRId64, x.id);
		switch (payout_lookup(&pc, x.external_id, a, &order,
		    &reward)) {
		case 1:
			p[0] = db_i64(a, payout_id);
			p[1] = order;
			p[2] = reward;
			if (db_exec(db, a, &q_set_reward, p) == NULL)
				return -1;
			x.reward_id = reward;
			break;
		case 0:
			break;		/* no order: nothing to release or block */
		default:
			*why = "Tremendous could not be asked about the order; "
			    "try again";
			return 2;
		}
	}
	if (*x.reward_id != '\0') {
		/* Tremendous' fraud review of the reward decides delivery. */
		if (payout_call(&pc, "PUT", arena_printf(a, "/fraud_reviews/"
		    "%s/%s", x.reward_id, approve ? "release" : "block"), "{}",
		    &status, &ans, err, sizeof(err)) == -1) {
			*why = arena_strdup(a, err);
			return 2;
		}
		if (status / 100 != 2) {
			*why = payout_error_text(a, ans, status);
			json_decref(ans);
			return 2;
		}
		json_decref(ans);
	}
	if (db_begin(db) == -1)
		return -1;
	if ((rc = payout_load(db, a, payout_id, &x)) != 0)
		goto out;
	if (approve && *x.reward_id != '\0') {
		p[0] = db_i64(a, payout_id);
		rc = db_exec(db, a, &q_resent, p) == NULL ? -1 : 0;
	} else if (approve) {
		/* Tremendous has no order for it: order it (again). */
		p[0] = db_i64(a, payout_id);
		rc = db_exec(db, a, &q_repend, p) == NULL ? -1 : 0;
		send = 1;
	} else
		rc = payout_finish(db, a, c, &x, "cancelled", "The operator "
		    "cancelled it after review.") == -1 ? -1 : 0;
	if (rc == 0) {
		p[0] = db_i64(a, admin);
		p[1] = approve ? "payout_approve" : "payout_cancel";
		p[2] = NULL;
		p[3] = db_i64(a, payout_id);
		rc = db_exec(db, a, &q_action, p) == NULL ? -1 : 0;
	}
out:
	rc = db_finish(db, rc, rc == 0, -1);
	if (rc == 0 && send && payout_send(db, a, c, &pc, payout_id) == -1)
		return -1;
	return rc;
}

json_t *
payout_overview(struct db *db, struct arena *a)
{
	PGresult	*res;

	if ((res = db_exec(db, a, &q_overview, NULL)) == NULL)
		return NULL;
	return json_loads(PQgetvalue(res, 0, 0), 0, NULL);
}

/* payouts-retry: order again the payouts Tremendous did not answer for. */
int
payout_job_retry(struct job_ctx *x)
{
	struct payout_cfg	 pc;
	const char		*p[1] = { x->now_ts };
	PGresult		*res;
	int			 r, sent = 0;

	if (payout_config(x->cfg, &pc) == -1) {
		x->message = "the [tremendous] settings are not valid";
		return -1;
	}
	if (*pc.api_key == '\0' || (res = db_exec(x->db, x->a, &q_pending, p))
	    == NULL)
		return *pc.api_key == '\0' ? 0 : -1;
	for (r = 0; r < PQntuples(res); r++, sent++)
		if (payout_send(x->db, x->a, x->cfg, &pc, db_int64(res, r, 0))
		    == -1)
			return -1;
	json_object_set_new(x->counts, "tried", json_integer(sent));
	return 0;
}

/* payouts-check: ask Tremendous about payouts sent more than a day ago. */
int
payout_job_check(struct job_ctx *x)
{
	struct payout_cfg	 pc;
	struct payout_row	 row;
	const char		*p[1] = { x->now_ts }, *st;
	char			 err[256];
	PGresult		*res;
	json_t			*ans;
	long			 status;
	int			 r, asked = 0, ended = 0, rc;

	if (payout_config(x->cfg, &pc) == -1) {
		x->message = "the [tremendous] settings are not valid";
		return -1;
	}
	if (*pc.api_key == '\0')
		return 0;
	if ((res = db_exec(x->db, x->a, &q_stale, p)) == NULL)
		return -1;
	for (r = 0; r < PQntuples(res); r++) {
		asked++;
		if (payout_call(&pc, "GET", arena_printf(x->a, "/rewards/%s",
		    PQgetvalue(res, r, 1)), NULL, &status, &ans, err,
		    sizeof(err)) == -1 || status != 200) {
			json_decref(ans);
			continue;	/* tomorrow, then */
		}
		st = json_string_value(json_object_get(json_object_get(
		    json_object_get(ans, "reward"), "delivery"), "status"));
		st = st == NULL ? "" : strcmp(st, "SUCCEEDED") == 0 ?
		    "delivered" : strcmp(st, "FAILED") == 0 ? "failed" : "";
		st = arena_strdup(x->a, st);
		json_decref(ans);
		if (*st == '\0')
			continue;
		if (db_begin(x->db) == -1)
			return -1;
		rc = payout_load(x->db, x->a, db_int64(res, r, 0), &row);
		if (rc == 0)
			rc = payout_finish(x->db, x->a, x->cfg, &row, st,
			    strcmp(st, "delivered") == 0 ? NULL :
			    "Tremendous reports it was not delivered.");
		if (db_finish(x->db, rc, rc != -1, -1) == -1)
			return -1;
		ended += rc == 0;
	}
	json_object_set_new(x->counts, "asked", json_integer(asked));
	json_object_set_new(x->counts, "ended", json_integer(ended));
	return 0;
}

/*
 * payouts-monthly: runs hourly and acts on the 1st (UTC): each supplier
 * in monthly mode who qualifies is paid its whole payable earnings, in
 * whole cents, once that month (the month is part of the payout's
 * unique key, so a rerun or an overlapping tick pays no one twice).
 */
int
payout_job_monthly(struct job_ctx *x)
{
	struct payout_cfg	 pc;
	struct tm		 tm;
	const char		*p[4], *why;
	char			 month[11];
	PGresult		*res;
	int64_t			 id;
	int			 r, paid = 0, refused = 0, rc;

	if (payout_config(x->cfg, &pc) == -1) {
		x->message = "the [tremendous] settings are not valid";
		return -1;
	}
	gmtime_r(&x->now, &tm);
	if (tm.tm_mday != 1 || *pc.api_key == '\0') {
		json_object_set_new(x->counts, "paid", json_integer(0));
		return 0;
	}
	strftime(month, sizeof(month), "%Y-%m-01", &tm);
	p[0] = x->now_ts;
	p[1] = month;
	p[2] = db_i64(x->a, pc.min_age);
	p[3] = db_i64(x->a, pc.min);
	if ((res = db_exec(x->db, x->a, &q_monthly, p)) == NULL)
		return -1;
	for (r = 0; r < PQntuples(res); r++) {
		rc = payout_request(x->db, x->a, x->cfg, db_int64(res, r, 0),
		    db_int64(res, r, 1), month, &id, &why);
		if (rc == PAYOUT_ERROR)
			return -1;
		if (rc == PAYOUT_OK)
			paid++;
		else
			refused++;
	}
	json_object_set_new(x->counts, "paid", json_integer(paid));
	json_object_set_new(x->counts, "refused", json_integer(refused));
	return 0;
}
