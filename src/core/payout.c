/* payout.c: money out: settings, requests and orders at Tremendous */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "cfg.h"
#include "db.h"
#include "ledger.h"
#include "log.h"
#include "mail.h"
#include "money.h"
#include "payout.h"
#include "payout_int.h"
#include "rest.h"
#include "str.h"
#include "text.h"
#include "user.h"
#include "util.h"

#define CENT		10000LL		/* micro-USD */
#define DAY		86400LL

/*
 * The account, locked, with what decides whether it may be paid out. The
 * lock (NO KEY UPDATE) serializes an account's payout requests but not the
 * rows that only refer to the account (an email being queued for it).
 */
static const struct db_stmt q_account = {
	"payout_account",
	"SELECT u.status, u.owed, extract(epoch FROM now() - u.created_at)::bigint,"
	" coalesce(nullif(s.recipient_name, ''), u.display_name),"
	" coalesce(nullif(s.recipient_email, ''), u.email),"
	" coalesce(s.product, ''), u.email"
	" FROM users u LEFT JOIN payout_settings s ON s.user_id = u.id"
	" WHERE u.id = $1 FOR NO KEY UPDATE OF u",
	1, 0
};
static const struct db_stmt q_payable = {
	"payout_payable",
	"SELECT coalesce(balance - held, 0) FROM ledger_accounts"
	" WHERE user_id = $1 AND kind = 'earnings'",
	1, 0
};
static const struct db_stmt q_insert = {
	"payout_insert",
	"INSERT INTO payouts (user_id, amount, fee, value_cents, mode, month,"
	" recipient_name, recipient_email, product) VALUES ($1, $2, $3, $4,"
	" CASE WHEN $5::date IS NULL THEN 'manual' ELSE 'monthly' END,"
	" $5::date, $6, $7, nullif($8, '')) ON CONFLICT DO NOTHING RETURNING id",
	8, 0
};
static const struct db_stmt q_get = {
	"payout_get",
	"SELECT p.id, p.user_id, p.amount, p.fee, p.value_cents, p.status,"
	" p.recipient_name, p.recipient_email, coalesce(p.product, ''),"
	" coalesce(p.reward_id, ''), u.email FROM payouts p"
	" JOIN users u ON u.id = p.user_id WHERE p.id = $1 FOR UPDATE OF p",
	1, 0
};
static const struct db_stmt q_sent = {
	"payout_sent",
	"UPDATE payouts SET status = 'sent', order_id = $2, reward_id = $3,"
	" sent_at = now(), attempts = attempts + 1, reason = NULL"
	" WHERE id = $1 AND status = 'pending'",
	3, 0
};
static const struct db_stmt q_tried = {
	"payout_tried",
	"UPDATE payouts SET attempts = attempts + 1, reason = $2 WHERE id = $1",
	2, 0
};
static const struct db_stmt q_finish = {
	"payout_finish",
	"UPDATE payouts SET status = $2, reason = coalesce($3, reason),"
	" finished_at = now() WHERE id = $1"
	" AND status IN ('pending', 'sent', 'flagged')",
	3, 0
};
static const struct db_stmt q_flag = {
	"payout_flag",
	"UPDATE payouts SET status = 'flagged', reason = $2 WHERE id = $1"
	" AND status IN ('pending', 'sent')",
	2, 0
};
#define PAYOUT_JSON \
	"json_build_object('id', p.id, 'object', 'payout', 'amount_usd'," \
	" to_char(p.amount / 1000000.0, 'FM999999999990.00'), 'fee_usd'," \
	" to_char(p.fee / 1000000.0, 'FM999999999990.00'), 'value_usd'," \
	" to_char(p.value_cents / 100.0, 'FM999999999990.00'), 'mode', p.mode," \
	" 'status', p.status, 'reason', p.reason, 'recipient_name'," \
	" p.recipient_name, 'recipient_email', p.recipient_email," \
	" 'created_at', " DB_TS("p.created_at") ", 'finished_at', " \
	DB_TS("p.finished_at") ")"
static const struct db_stmt q_list = {
	"payout_list",
	"SELECT coalesce(json_agg(j ORDER BY id DESC), '[]')::text FROM"
	" (SELECT p.id, " PAYOUT_JSON " AS j FROM payouts p"
	" WHERE p.user_id = $1 ORDER BY p.id DESC LIMIT 100) x",
	1, DB_RETRY
};
static const struct db_stmt q_settings = {
	"payout_settings_get",
	"SELECT json_build_object('recipient_name', s.recipient_name,"
	" 'recipient_email', s.recipient_email, 'mode', coalesce(s.mode, 'manual'),"
	" 'product', s.product, 'default_name', u.display_name,"
	" 'default_email', u.email)::text"
	" FROM users u LEFT JOIN payout_settings s ON s.user_id = u.id"
	" WHERE u.id = $1",
	1, DB_RETRY
};
static const struct db_stmt q_settings_set = {
	"payout_settings_set",
	"INSERT INTO payout_settings (user_id, recipient_name, recipient_email,"
	" mode, product) VALUES ($1, nullif($2, ''), nullif($3, ''), $4,"
	" nullif($5, '')) ON CONFLICT (user_id) DO UPDATE SET"
	" recipient_name = EXCLUDED.recipient_name, recipient_email ="
	" EXCLUDED.recipient_email, mode = EXCLUDED.mode, product ="
	" EXCLUDED.product, updated_at = now()",
	5, 0
};

int
payout_config(struct cfg *c, struct payout_cfg *p)
{
	const char	*min, *fee, *where;
	long long	 days;

	p->api_base = cfg_str(c, "tremendous", "api_base",
	    "https://testflight.tremendous.com/api/v2");
	p->api_key = cfg_str(c, "tremendous", "api_key", "");
	p->webhook_secret = cfg_str(c, "tremendous", "webhook_secret", "");
	p->funding_source_id = cfg_str(c, "tremendous", "funding_source_id", "");
	p->campaign_id = cfg_str(c, "tremendous", "campaign_id", "");
	p->products = cfg_str(c, "tremendous", "products", "");
	min = cfg_str(c, "tremendous", "min_usd", "1.00");
	fee = cfg_str(c, "tremendous", "fee_usd", "0.50");
	where = cfg_path(c) != NULL ? cfg_path(c) : "configuration";
	if (cfg_int(c, "tremendous", "min_account_age_days", 7, 0, 3650,
	    &days) == -1 || cfg_ms(c, "tremendous", "timeout", 30, 1, 300,
	    &p->timeout_ms) == -1)
		return -1;
	p->min_age = days * DAY;
	if (money_parse(min, &p->min) == -1 || money_parse(fee, &p->fee) ==
	    -1 || p->min % CENT != 0 || p->fee % CENT != 0 ||
	    p->min <= p->fee) {
		fprintf(stderr, "%s: [tremendous] min_usd and fee_usd: whole "
		    "cents, the minimum above the fee\n", where);
		return -1;
	}
	if (strncmp(p->api_base, "https://", 8) != 0 &&
	    strncmp(p->api_base, "http://", 7) != 0) {
		fprintf(stderr, "%s: [tremendous] api_base: an http(s) URL\n",
		    where);
		return -1;
	}
	return 0;
}

/* Is product one of the operator's list ("ID,ID,…")? */
static int
product_offered(const char *list, const char *product)
{
	size_t	n = strlen(product);
	const char *p;

	for (p = list; *p != '\0'; p += strcspn(p, ",") + (p[strcspn(p,
	    ",")] == ',')) {
		while (*p == ' ')
			p++;
		if (strncmp(p, product, n) == 0 && (p[n] == ',' ||
		    p[n] == '\0' || p[n] == ' '))
			return 1;
	}
	return 0;
}

int
payout_payable(struct db *db, struct arena *a, int64_t user_id,
    int64_t *payable)
{
	const char	*p[1] = { db_i64(a, user_id) };
	PGresult	*res;

	*payable = 0;
	if ((res = db_exec(db, a, &q_payable, p)) == NULL)
		return -1;
	if (PQntuples(res) == 1)
		*payable = db_int64(res, 0, 0) / CENT * CENT;
	return 0;
}

/* Tell the account's owner about payout x with template name. */
int
payout_mail(struct db *db, struct arena *a, struct cfg *c,
    const struct payout_row *x, const char *name, const char *reason)
{
	char	value[32], amount[32];

	money_format(x->value_cents * CENT, value, sizeof(value));
	money_format(x->amount, amount, sizeof(amount));
	value[strlen(value) - 4] = '\0';
	amount[strlen(amount) - 4] = '\0';
	return mail_notify(db, a, c, x->user_id, x->account_email, name,
	    json_pack("{s:I, s:s, s:s, s:s, s:s?}", "id", (json_int_t)x->id,
	    "value", value, "amount", amount, "recipient", x->email,
	    "reason", reason), NULL);
}

int
payout_load(struct db *db, struct arena *a, int64_t id, struct payout_row *x)
{
	const char	*p[1] = { db_i64(a, id) };
	PGresult	*res;

	if ((res = db_exec(db, a, &q_get, p)) == NULL)
		return -1;
	if (PQntuples(res) != 1)
		return 1;
	x->id = db_int64(res, 0, 0);
	x->user_id = db_int64(res, 0, 1);
	x->amount = db_int64(res, 0, 2);
	x->fee = db_int64(res, 0, 3);
	x->value_cents = db_int64(res, 0, 4);
	x->status = PQgetvalue(res, 0, 5);
	x->name = PQgetvalue(res, 0, 6);
	x->email = PQgetvalue(res, 0, 7);
	x->product = PQgetvalue(res, 0, 8);
	x->reward_id = PQgetvalue(res, 0, 9);
	x->account_email = PQgetvalue(res, 0, 10);
	return 0;
}

/*
 * End payout x (locked by the caller's transaction): delivered sends the
 * value on to Tremendous and the fee to payout_fees; failed or cancelled
 * brings the whole amount back to the earnings. Then the email. 0, 1
 * already finished, -1 error.
 */
int
payout_finish(struct db *db, struct arena *a, struct cfg *c,
    const struct payout_row *x, const char *status, const char *reason)
{
	const char	*p[3] = { db_i64(a, x->id), status, reason };
	const char	*key;
	PGresult	*res;
	int64_t		 from, to, fees, earnings;
	int		 ok = strcmp(status, "delivered") == 0, rc;

	if ((res = db_exec(db, a, &q_finish, p)) == NULL)
		return -1;
	if (atoi(PQcmdTuples(res)) != 1)
		return 1;
	if (ledger_account_id(db, a, LEDGER_PAYOUTS, 0, &from) != LEDGER_OK)
		return -1;
	if (ok) {
		if (ledger_account_id(db, a, LEDGER_TREMENDOUS, 0, &to) !=
		    LEDGER_OK || ledger_account_id(db, a, LEDGER_PAYOUT_FEES, 0,
		    &fees) != LEDGER_OK)
			return -1;
		key = arena_printf(a, "payout:%" PRId64 ":paid", x->id);
		rc = ledger_transfer(db, a, from, to, x->value_cents * CENT,
		    "payout", key, 0);
		if (rc == LEDGER_OK && x->fee > 0)
			rc = ledger_transfer(db, a, from, fees, x->fee,
			    "payout_fee", arena_printf(a, "payout:%" PRId64
			    ":fee", x->id), 0);
	} else {
		if (ledger_account_id(db, a, LEDGER_EARNINGS, x->user_id,
		    &earnings) != LEDGER_OK)
			return -1;
		key = arena_printf(a, "payout:%" PRId64 ":return", x->id);
		rc = ledger_transfer(db, a, from, earnings, x->amount,
		    "payout_return", key, 0);
		if (rc == LEDGER_OK)
			rc = ledger_event(db, a, x->user_id, "payout_returned",
			    x->amount, key, arena_printf(a, "{\"payout_id\": %"
			    PRId64 "}", x->id));
	}
	if (rc != LEDGER_OK || payout_mail(db, a, c, x, ok ?
	    "payout_delivered" : "payout_failed", reason) == -1)
		return -1;
	log_info("payout %" PRId64 " %s", x->id, status);
	return 0;
}

static const struct db_stmt q_reverse = {
	"payout_reverse",
	"UPDATE payouts SET status = 'cancelled', reason = $2 WHERE id = $1"
	" AND status = 'delivered'",
	2, 0
};

/*
 * Undo delivered payout x (Tremendous blocked it at redemption and
 * refunded the operator): its value and fee back to the earnings. 0, 1
 * not delivered, -1 error.
 */
int
payout_reverse(struct db *db, struct arena *a, struct cfg *c,
    const struct payout_row *x, const char *reason)
{
	const char	*p[2] = { db_i64(a, x->id), reason };
	PGresult	*res;
	int64_t		 trem, fees, earnings;
	int		 rc;

	if ((res = db_exec(db, a, &q_reverse, p)) == NULL)
		return -1;
	if (atoi(PQcmdTuples(res)) != 1)
		return 1;
	if (ledger_account_id(db, a, LEDGER_TREMENDOUS, 0, &trem) != LEDGER_OK ||
	    ledger_account_id(db, a, LEDGER_PAYOUT_FEES, 0, &fees) !=
	    LEDGER_OK || ledger_account_id(db, a, LEDGER_EARNINGS, x->user_id,
	    &earnings) != LEDGER_OK)
		return -1;
	rc = ledger_transfer(db, a, trem, earnings, x->value_cents * CENT,
	    "payout_return", arena_printf(a, "payout:%" PRId64 ":reverse",
	    x->id), 0);
	if (rc == LEDGER_OK && x->fee > 0)
		rc = ledger_transfer(db, a, fees, earnings, x->fee,
		    "payout_return", arena_printf(a, "payout:%" PRId64
		    ":reverse_fee", x->id), 0);
	if (rc == LEDGER_OK)
		rc = ledger_event(db, a, x->user_id, "payout_returned",
		    x->amount, arena_printf(a, "payout:%" PRId64 ":reverse",
		    x->id), arena_printf(a, "{\"payout_id\": %" PRId64 "}", x->id));
	if (rc != LEDGER_OK || payout_mail(db, a, c, x, "payout_failed",
	    reason) == -1)
		return -1;
	log_warn("payout %" PRId64 " undone after delivery", x->id);
	return 0;
}

/* Hold payout x for the operator (Tremendous flagged it, or it is unclear). */
int
payout_hold(struct db *db, struct arena *a, struct cfg *c,
    const struct payout_row *x, const char *reason)
{
	const char	*p[2] = { db_i64(a, x->id), reason };
	PGresult	*res;

	if ((res = db_exec(db, a, &q_flag, p)) == NULL)
		return -1;
	if (atoi(PQcmdTuples(res)) != 1)
		return 1;
	log_warn("payout %" PRId64 " held: %s", x->id, reason);
	return payout_mail(db, a, c, x, "payout_held", reason) == -1 ? -1 : 0;
}

/* The order's JSON for payout x. */
static char *
order_body(const struct payout_cfg *pc, const struct payout_row *x)
{
	json_t	*reward, *o;
	char	*s;

	reward = json_pack("{s:{s:f, s:s}, s:{s:s, s:s}, s:{s:s}}", "value",
	    "denomination", (double)x->value_cents / 100.0, "currency_code",
	    "USD", "recipient", "name", x->name, "email", x->email, "delivery",
	    "method", "EMAIL");
	if (*pc->campaign_id != '\0')
		json_object_set_new(reward, "campaign_id",
		    json_string(pc->campaign_id));
	if (*x->product != '\0')
		json_object_set_new(reward, "products", json_pack("[s]",
		    x->product));
	o = json_pack("{s:s, s:{s:s}, s:o}", "external_id", "", "payment",
	    "funding_source_id", pc->funding_source_id, "reward", reward);
	json_object_set_new(o, "external_id", json_string_nocheck(
	    x->external_id));
	s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(15));
	json_decref(o);
	return s;
}

/*
 * Call Tremendous for the payout: POST /orders, or GET/POST another path.
 * 0 with the status and the JSON answer (a new reference, or NULL when
 * the body is not JSON); -1 when no answer came (err says why).
 */
int
payout_call(const struct payout_cfg *pc, const char *method, const char *path,
    const char *body, long *status, json_t **answer, char *err, size_t errlen)
{
	struct rest_call	 c = { method, NULL, pc->api_key, NULL,
	    "application/json", body, NULL, (long)pc->timeout_ms };
	struct str		 url = STR_INIT, ans = STR_INIT;
	int			 rc;

	*answer = NULL;
	str_printf(&url, "%s%s", pc->api_base, path);
	c.url = str_cstr(&url);
	rc = rest_call(&c, &ans, status, err, errlen);
	if (rc == 0)
		*answer = json_loadb(ans.buf != NULL ? ans.buf : "", ans.len, 0,
		    NULL);
	str_free(&url);
	str_free(&ans);
	return rc;
}

/* Tremendous' own words in an error answer, for the supplier and the log. */
const char *
payout_error_text(struct arena *a, json_t *answer, long status)
{
	json_t		*e = json_object_get(answer, "errors");
	const char	*m = json_string_value(json_object_get(e, "message"));

	return arena_printf(a, "Tremendous answered %ld%s%s", status,
	    m != NULL ? ": " : "", m != NULL ? m : "");
}

int
payout_lookup(const struct payout_cfg *pc, const char *external_id,
    struct arena *a, const char **order, const char **reward)
{
	char		 err[256];
	long		 status;
	json_t		*ans, *o;
	int		 rc = 0;

	*order = *reward = NULL;
	if (payout_call(pc, "GET", arena_printf(a, "/orders/%s", external_id),
	    NULL, &status, &ans, err, sizeof(err)) == -1)
		return -1;
	o = json_object_get(ans, "order");
	if (status == 200 && json_string_value(json_object_get(o, "id")) !=
	    NULL && json_string_value(json_object_get(json_array_get(
	    json_object_get(o, "rewards"), 0), "id")) != NULL) {
		*order = arena_strdup(a, json_string_value(json_object_get(o,
		    "id")));
		*reward = arena_strdup(a, json_string_value(json_object_get(
		    json_array_get(json_object_get(o, "rewards"), 0), "id")));
		rc = 1;
	} else if (status != 404)
		rc = -1;
	json_decref(ans);
	return rc;
}

int
payout_send(struct db *db, struct arena *a, struct cfg *c,
    const struct payout_cfg *pc, int64_t id)
{
	struct payout_row	 x;
	const char		*p[3], *order, *reward, *why;
	char			*body, err[256];
	long			 status = 0;
	json_t			*ans = NULL, *o;
	int			 tries, rc = -1;

	memset(&x, 0, sizeof(x));
	if (db_begin(db) == -1)
		return -1;
	if ((rc = payout_load(db, a, id, &x)) != 0 ||
	    strcmp(x.status, "pending") != 0) {
		db_rollback(db);
		return rc == -1 ? -1 : 0;
	}
	db_rollback(db);		/* no lock held while Tremendous thinks */
	x.external_id = arena_printf(a, "payout-%" PRId64, x.id);
	if ((body = order_body(pc, &x)) == NULL)
		return -1;
	for (tries = 0; tries < 2; tries++) {
		json_decref(ans);
		ans = NULL;
		if (payout_call(pc, "POST", "/orders", body, &status, &ans, err,
		    sizeof(err)) == 0 && status < 500)
			break;
		if (status >= 500)
			util_seterr(err, sizeof(err), "%s", payout_error_text(a,
			    ans, status));
	}
	free(body);
	o = json_object_get(ans, "order");
	order = json_string_value(json_object_get(o, "id"));
	reward = json_string_value(json_object_get(json_array_get(
	    json_object_get(o, "rewards"), 0), "id"));
	if (status == 409 || (status / 100 == 2 && (order == NULL ||
	    reward == NULL))) {
		/* An order is there under our id: ask for it by that id. */
		json_decref(ans);
		ans = NULL;
		if (payout_lookup(pc, x.external_id, a, &order, &reward) == 1)
			status = 200;
	}
	rc = -1;
	if (db_begin(db) == -1)
		goto out;
	if (payout_load(db, a, id, &x) != 0 || strcmp(x.status, "pending") !=
	    0) {
		rc = 0;			/* finished meanwhile (a webhook, the job) */
		goto done;
	}
	if (status / 100 == 2 && order != NULL && reward != NULL) {
		p[0] = db_i64(a, id);
		p[1] = order;
		p[2] = reward;
		rc = db_exec(db, a, &q_sent, p) == NULL ||
		    payout_mail(db, a, c, &x, "payout_sent", NULL) == -1 ? -1 :
		    0;
		log_info("payout %" PRId64 " ordered (%s)", id, order);
	} else if (status == 0 || status >= 500 || status == 429) {
		/* No answer, or not now: tried again by payouts-retry. */
		p[0] = db_i64(a, id);
		p[1] = status == 0 ? err : payout_error_text(a, ans, status);
		log_warn("payout %" PRId64 ": %s; it is tried again", id, p[1]);
		rc = db_exec(db, a, &q_tried, p) == NULL ? -1 : 0;
	} else if (status / 100 == 2 || status == 409) {
		why = "Tremendous answered, but its order could not be read or "
		    "found by this payout's id";
		rc = payout_hold(db, a, c, &x, why) == -1 ? -1 : 0;
	} else {
		why = payout_error_text(a, ans, status);
		log_warn("payout %" PRId64 " refused: %s", id, why);
		rc = payout_finish(db, a, c, &x, "failed", why) == -1 ? -1 : 0;
	}
done:
	rc = db_finish(db, rc, rc == 0, -1);
out:
	json_decref(ans);
	return rc;
}

int
payout_request(struct db *db, struct arena *a, struct cfg *c,
    int64_t user_id, int64_t amount, const char *month, int64_t *id,
    const char **why)
{
	struct payout_cfg	 pc;
	const char		*p[8];
	char			 lo[32];
	PGresult		*res, *acc;
	int64_t			 payable, earnings, to;
	int			 rc = PAYOUT_ERROR;

	*id = 0;
	*why = NULL;
	if (payout_config(c, &pc) == -1)
		return PAYOUT_ERROR;
	if (*pc.api_key == '\0') {
		*why = "Payouts are not set up on this platform.";
		return PAYOUT_DISABLED;
	}
	money_format(pc.min, lo, sizeof(lo));
	lo[strlen(lo) - 4] = '\0';
	if (amount % CENT != 0 || amount < pc.min) {
		*why = arena_printf(a, "A payout is whole cents, at least $%s "
		    "(the fee of the payout is taken from it).", lo);
		return PAYOUT_AMOUNT;
	}
	if (db_begin(db) == -1)
		return PAYOUT_ERROR;
	p[0] = db_i64(a, user_id);
	if ((acc = db_exec(db, a, &q_account, p)) == NULL ||
	    PQntuples(acc) != 1 || (res = db_exec(db, a, &q_payable, p)) ==
	    NULL)
		goto out;
	payable = PQntuples(res) == 1 ? db_int64(res, 0, 0) : 0;
	rc = PAYOUT_STANDING;
	*why = "The account is not in good standing: it cannot be paid out.";
	if (strcmp(PQgetvalue(acc, 0, 0), "active") != 0)
		goto out;
	rc = PAYOUT_OWES;
	*why = "The account owes after a refund or a dispute: that is paid "
	    "first.";
	if (db_int64(acc, 0, 1) > 0)
		goto out;
	rc = PAYOUT_TOO_YOUNG;
	*why = arena_printf(a, "An account can be paid out once it is %lld "
	    "days old.", pc.min_age / DAY);
	if (db_int64(acc, 0, 2) < pc.min_age)
		goto out;
	rc = PAYOUT_NO_RECIPIENT;
	*why = "Set the recipient's name under payout settings first: "
	    "Tremendous delivers to a name and an email.";
	if (PQgetisnull(acc, 0, 3))
		goto out;
	rc = PAYOUT_INSUFFICIENT;
	*why = "That is more than your payable earnings.";
	if (amount > payable)
		goto out;
	p[1] = db_i64(a, amount);
	p[2] = db_i64(a, pc.fee);
	p[3] = db_i64(a, (amount - pc.fee) / CENT);
	p[4] = month;
	p[5] = PQgetvalue(acc, 0, 3);
	p[6] = PQgetvalue(acc, 0, 4);
	p[7] = product_offered(pc.products, PQgetvalue(acc, 0, 5)) ?
	    PQgetvalue(acc, 0, 5) : "";
	rc = PAYOUT_ERROR;
	if ((res = db_exec(db, a, &q_insert, p)) == NULL)
		goto out;
	if (PQntuples(res) == 0) {
		rc = PAYOUT_IN_FLIGHT;
		*why = month != NULL ? "This month's payout is made already." :
		    "A payout is on its way already: one at a time.";
		goto out;
	}
	*id = db_int64(res, 0, 0);
	if (ledger_account_id(db, a, LEDGER_EARNINGS, user_id, &earnings) !=
	    LEDGER_OK || ledger_account_id(db, a, LEDGER_PAYOUTS, 0, &to) !=
	    LEDGER_OK)
		goto out;
	switch (ledger_transfer(db, a, earnings, to, amount, "payout",
	    arena_printf(a, "payout:%" PRId64 ":out", *id), 0)) {
	case LEDGER_OK:
		break;
	case LEDGER_INSUFFICIENT:
		rc = PAYOUT_INSUFFICIENT;	/* a hold took it meanwhile */
		*why = "That is more than your payable earnings.";
		goto out;
	default:
		goto out;
	}
	if (ledger_event(db, a, user_id, "payout", -amount, arena_printf(a,
	    "payout:%" PRId64 ":out", *id), arena_printf(a, "{\"payout_id\": %"
	    PRId64 "}", *id)) != LEDGER_OK)
		goto out;
	rc = PAYOUT_OK;
	*why = NULL;
out:
	if ((rc = db_finish(db, rc, rc == PAYOUT_OK, PAYOUT_ERROR)) !=
	    PAYOUT_OK) {
		*id = 0;
		return rc;
	}
	log_info("payout %" PRId64 " of %" PRId64 " for user=%" PRId64, *id,
	    amount, user_id);
	if (payout_send(db, a, c, &pc, *id) == -1)
		log_error("payout %" PRId64 ": could not record Tremendous' "
		    "answer; payouts-retry asks again", *id);
	return PAYOUT_OK;
}

json_t *
payout_list(struct db *db, struct arena *a, int64_t user_id)
{
	const char	*p[1] = { db_i64(a, user_id) };
	PGresult	*res;

	if ((res = db_exec(db, a, &q_list, p)) == NULL)
		return NULL;
	return json_loads(PQgetvalue(res, 0, 0), 0, NULL);
}

json_t *
payout_settings_get(struct db *db, struct arena *a, int64_t user_id)
{
	const char	*p[1] = { db_i64(a, user_id) };
	PGresult	*res;

	if ((res = db_exec(db, a, &q_settings, p)) == NULL ||
	    PQntuples(res) != 1)
		return NULL;
	return json_loads(PQgetvalue(res, 0, 0), 0, NULL);
}

int
payout_settings_set(struct db *db, struct arena *a, struct cfg *c,
    int64_t user_id, const char *name, const char *email, const char *mode,
    const char *product, const char **why)
{
	struct payout_cfg	 pc;
	char			 norm[USER_EMAIL_MAX + 1];
	const char		*p[5];

	*why = NULL;
	if (payout_config(c, &pc) == -1)
		return -1;
	if (name != NULL && *name != '\0' && !text_ok(name, 100)) {
		*why = "recipient_name: 1 to 100 characters of text";
		return 1;
	}
	if (email != NULL && *email != '\0' && user_email_normalize(email,
	    norm, sizeof(norm)) == -1) {
		*why = "recipient_email: an email address";
		return 1;
	}
	if (mode == NULL || (strcmp(mode, "manual") != 0 &&
	    strcmp(mode, "monthly") != 0)) {
		*why = "mode: manual or monthly";
		return 1;
	}
	if (product != NULL && *product != '\0' &&
	    !product_offered(pc.products, product)) {
		*why = "product: one of those the platform offers";
		return 1;
	}
	p[0] = db_i64(a, user_id);
	p[1] = name != NULL ? name : "";
	p[2] = email != NULL && *email != '\0' ? arena_strdup(a, norm) : "";
	p[3] = mode;
	p[4] = product != NULL ? product : "";
	return db_exec(db, a, &q_settings_set, p) == NULL ? -1 : 0;
}
