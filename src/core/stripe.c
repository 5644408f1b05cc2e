/* stripe.c: top-ups through Stripe Checkout: the customer, the session, the lists */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "cfg.h"
#include "crypto.h"
#include "db.h"
#include "jobs.h"
#include "json.h"
#include "log.h"
#include "money.h"
#include "rest.h"
#include "str.h"
#include "stripe.h"
#include "util.h"

#define MINOR		10000LL		/* micro-USD per cent */
#define STRIPE_VERSION	"Stripe-Version: 2024-06-20"

static const struct db_stmt q_insert = {
	"topup_insert",
	"INSERT INTO topups (user_id, amount, amount_minor, currency,"
	" idempotency_key) VALUES ($1, $2, $3, $4, $5) RETURNING id",
	5, 0
};
/* The account's customer, and the key that makes it once at Stripe. */
static const struct db_stmt q_customer = {
	"topup_customer",
	"SELECT stripe_customer_id, email, 'infrpool-customer-' || id || '-' ||"
	" extract(epoch FROM created_at)::bigint FROM users WHERE id = $1",
	1, 0
};
static const struct db_stmt q_set_customer = {
	"topup_set_customer",
	"UPDATE users SET stripe_customer_id = $2 WHERE id = $1"
	" AND stripe_customer_id IS NULL",
	2, 0
};
static const struct db_stmt q_opened = {
	"topup_opened",
	"UPDATE topups SET status = 'open', stripe_session_id = $2,"
	" checkout_url = $3, updated_at = now() WHERE id = $1"
	" AND status = 'creating'",
	3, 0
};
static const struct db_stmt q_failed = {
	"topup_failed",
	"UPDATE topups SET status = 'failed', error = $2, updated_at = now()"
	" WHERE id = $1 AND status = 'creating'",
	2, 0
};
#define TOPUP_JSON \
	"json_build_object('id', t.id, 'object', 'topup', 'amount_usd'," \
	" to_char(t.amount / 1000000.0, 'FM999999999990.00'), 'amount_micro_usd'," \
	" t.amount, 'currency', t.currency, 'status', t.status, 'checkout_url'," \
	" CASE WHEN t.status = 'open' THEN t.checkout_url END," \
	" 'stripe_session_id', t.stripe_session_id, 'refunded_usd'," \
	" to_char(t.refunded / 100.0, 'FM999999999990.00'), 'disputed_usd'," \
	" to_char(t.disputed / 100.0, 'FM999999999990.00'), 'created_at', " \
	DB_TS("t.created_at") ", 'paid_at', " DB_TS("t.paid_at") ")::text"
static const struct db_stmt q_one = {
	"topup_one",
	"SELECT " TOPUP_JSON " FROM topups t WHERE t.id = $1", 1, 0
};
static const struct db_stmt q_list = {
	"topup_list",
	"SELECT coalesce(json_agg(j ORDER BY id DESC), '[]')::text FROM"
	" (SELECT t.id, (" TOPUP_JSON ")::json AS j FROM topups t"
	" WHERE t.user_id = $1 ORDER BY t.id DESC LIMIT 100) x",
	1, DB_RETRY
};
static const struct db_stmt q_by_session = {
	"topup_by_session",
	"SELECT " TOPUP_JSON " FROM topups t WHERE t.user_id = $1"
	" AND t.stripe_session_id = $2", 2, DB_RETRY
};
static const struct db_stmt q_owed = {
	"stripe_user_owed",
	"SELECT owed FROM users WHERE id = $1", 1, DB_RETRY
};
static const struct db_stmt q_expire = {
	"topup_expire",
	"UPDATE topups SET status = 'expired', updated_at = now()"
	" WHERE status IN ('creating', 'open')"
	" AND created_at < $1::timestamptz - interval '25 hours'",
	1, 0
};
static const struct db_stmt q_get = {
	"topup_get",
	"SELECT " TOPUP_JSON " FROM topups t WHERE t.user_id = $1 AND t.id = $2",
	2, DB_RETRY
};
static const struct db_stmt q_overview = {
	"stripe_overview",
	"SELECT json_build_object("
	" 'paid_usd', (SELECT to_char(coalesce(sum(amount), 0) / 1000000.0,"
	"  'FM999999999990.00') FROM topups WHERE status = 'paid'),"
	" 'paid_count', (SELECT count(*) FROM topups WHERE status = 'paid'),"
	" 'refunded_usd', (SELECT to_char(coalesce(sum(refunded), 0) / 100.0,"
	"  'FM999999999990.00') FROM topups),"
	" 'disputed_usd', (SELECT to_char(coalesce(sum(disputed), 0) / 100.0,"
	"  'FM999999999990.00') FROM topups),"
	" 'disputes', (SELECT coalesce(json_agg(json_build_object('id', d.id,"
	"  'topup_id', d.topup_id, 'user_id', t.user_id, 'amount_usd',"
	"  to_char(d.amount_minor / 100.0, 'FM999999999990.00'), 'status',"
	"  d.status, 'returned', d.returned, 'created_at', "
	DB_TS("d.created_at") ") ORDER BY d.created_at DESC), '[]')"
	"  FROM (SELECT * FROM disputes ORDER BY created_at DESC LIMIT 50) d"
	"  JOIN topups t ON t.id = d.topup_id),"
	" 'owing', (SELECT coalesce(json_agg(json_build_object('user_id', id,"
	"  'email', email, 'owed_usd', to_char(owed / 1000000.0,"
	"  'FM999999999990.000000')) ORDER BY owed DESC), '[]')"
	"  FROM users WHERE owed > 0),"
	" 'attention', (SELECT coalesce(json_agg(json_build_object('id', id,"
	"  'type', type, 'outcome', outcome, 'received_at', "
	DB_TS("received_at") ") ORDER BY received_at DESC), '[]')"
	"  FROM (SELECT * FROM stripe_events WHERE outcome IN"
	"  ('unknown_topup', 'mismatch', 'deferred') ORDER BY received_at DESC"
	"  LIMIT 50) e))::text",
	0, DB_RETRY
};

int
stripe_config(struct cfg *c, struct stripe_cfg *s)
{
	const char	*min, *max;

	s->secret_key = cfg_str(c, "stripe", "secret_key", "");
	s->webhook_secret = cfg_str(c, "stripe", "webhook_secret", "");
	s->api_base = cfg_str(c, "stripe", "api_base", "https://api.stripe.com");
	s->currency = cfg_str(c, "stripe", "currency", "usd");
	min = cfg_str(c, "stripe", "min_usd", "5.00");
	max = cfg_str(c, "stripe", "max_usd", "1000.00");
	if (cfg_ms(c, "stripe", "timeout", 20, 1, 300, &s->timeout_ms) == -1 ||
	    cfg_seconds(c, "stripe", "tolerance", 300, 1, 3600,
	    &s->tolerance) == -1)
		return -1;
	if (money_parse(min, &s->min) == -1 || money_parse(max, &s->max) ==
	    -1 || s->min < MINOR || s->max < s->min) {
		fprintf(stderr, "%s: [stripe] min_usd and max_usd: amounts in "
		    "dollars, at least 0.01, min at most max\n",
		    cfg_path(c) != NULL ? cfg_path(c) : "configuration");
		return -1;
	}
	if (strcmp(s->currency, "usd") != 0) {
		fprintf(stderr, "%s: [stripe] currency: only usd is supported "
		    "(credits are US dollars)\n", cfg_path(c) != NULL ?
		    cfg_path(c) : "configuration");
		return -1;
	}
	if (strncmp(s->api_base, "https://", 8) != 0 &&
	    strncmp(s->api_base, "http://", 7) != 0) {
		fprintf(stderr, "%s: [stripe] api_base: an http(s) URL\n",
		    cfg_path(c) != NULL ? cfg_path(c) : "configuration");
		return -1;
	}
	return 0;
}

/*
 * POST form to Stripe's path under key; the answer's JSON object in *out
 * (a new reference). 0 on 2xx; else -1 with Stripe's message (or why no
 * answer came) in err. Never logs the form or the key.
 */
static int
stripe_post(const struct stripe_cfg *s, const char *path, const char *key,
    struct str *form, json_t **out, char *err, size_t errlen)
{
	struct rest_call	 c = { "POST", NULL, s->secret_key, key,
	    "application/x-www-form-urlencoded", str_cstr(form), STRIPE_VERSION,
	    (long)s->timeout_ms };
	struct str		 url = STR_INIT, ans = STR_INIT;
	const char		*msg;
	long			 status;
	json_t			*j = NULL;
	int			 rc = -1;

	str_printf(&url, "%s%s", s->api_base, path);
	c.url = str_cstr(&url);
	if (rest_call(&c, &ans, &status, err, errlen) == -1)
		goto out;
	j = json_loadb(ans.buf != NULL ? ans.buf : "", ans.len, 0, NULL);
	if (status / 100 == 2 && json_is_object(j)) {
		*out = j;
		j = NULL;
		rc = 0;
	} else {
		msg = json_string_value(json_object_get(json_object_get(j,
		    "error"), "message"));
		util_seterr(err, errlen, "Stripe answered %ld: %s", status,
		    msg != NULL ? msg : "no error message");
	}
out:
	json_decref(j);
	str_free(&url);
	str_free(&ans);
	return rc;
}

/* The account's Stripe Customer id, made once; NULL with err. */
static const char *
customer(struct db *db, struct arena *a, const struct stripe_cfg *s,
    int64_t user_id, char *err, size_t errlen)
{
	const char	*p[2] = { db_i64(a, user_id), NULL }, *id;
	struct str	 form = STR_INIT;
	PGresult	*res;
	json_t		*c = NULL;

	if ((res = db_exec(db, a, &q_customer, p)) == NULL ||
	    PQntuples(res) != 1) {
		util_seterr(err, errlen, "database error");
		return NULL;
	}
	if (!PQgetisnull(res, 0, 0))
		return PQgetvalue(res, 0, 0);
	rest_form_add(&form, "email", PQgetvalue(res, 0, 1));
	rest_form_add(&form, "metadata[user_id]", p[0]);
	if (stripe_post(s, "/v1/customers", PQgetvalue(res, 0, 2), &form, &c,
	    err, errlen) == -1) {
		str_free(&form);
		return NULL;
	}
	str_free(&form);
	id = json_string_value(json_object_get(c, "id"));
	if (id == NULL || strncmp(id, "cus_", 4) != 0) {
		util_seterr(err, errlen, "Stripe's customer has no id");
		json_decref(c);
		return NULL;
	}
	p[1] = arena_strdup(a, id);
	json_decref(c);
	if (db_exec(db, a, &q_set_customer, p) == NULL) {
		util_seterr(err, errlen, "database error");
		return NULL;
	}
	/* Another top-up may have set it first: that one is the account's. */
	if ((res = db_exec(db, a, &q_customer, p)) == NULL ||
	    PQntuples(res) != 1 || PQgetisnull(res, 0, 0)) {
		util_seterr(err, errlen, "database error");
		return NULL;
	}
	return PQgetvalue(res, 0, 0);
}

/* The Checkout Session's form for top-up id. */
static void
session_form(struct str *f, const struct stripe_cfg *s, const char *id,
    const char *cus, int64_t minor, const char *success, const char *cancel)
{
	char	amount[24];

	snprintf(amount, sizeof(amount), "%" PRId64, minor);
	rest_form_add(f, "mode", "payment");
	rest_form_add(f, "customer", cus);
	rest_form_add(f, "client_reference_id", id);
	rest_form_add(f, "line_items[0][price_data][currency]", s->currency);
	rest_form_add(f, "line_items[0][price_data][unit_amount]", amount);
	rest_form_add(f, "line_items[0][price_data][product_data][name]",
	    "infrpool credits");
	rest_form_add(f, "line_items[0][quantity]", "1");
	rest_form_add(f, "success_url", success);
	rest_form_add(f, "cancel_url", cancel);
	rest_form_add(f, "metadata[topup_id]", id);
	rest_form_add(f, "payment_intent_data[metadata][topup_id]", id);
}

int
topup_create(struct db *db, struct arena *a, const struct stripe_cfg *s,
    int64_t user_id, int64_t amount, const char *success_url,
    const char *cancel_url, json_t **out, char *err, size_t errlen)
{
	const char	*p[5], *cus, *sid, *url;
	char		 key[40];
	struct str	 form = STR_INIT;
	PGresult	*res;
	json_t		*sess = NULL;
	int		 rc;

	*out = NULL;
	if (*s->secret_key == '\0')
		return TOPUP_DISABLED;
	if (amount < s->min || amount > s->max || amount % MINOR != 0)
		return TOPUP_AMOUNT;
	memcpy(key, "topup-", 6);
	if (crypto_token_hex(key + 6, sizeof(key) - 6, 16) == -1)
		return TOPUP_ERROR;
	p[0] = db_i64(a, user_id);
	p[1] = db_i64(a, amount);
	p[2] = db_i64(a, amount / MINOR);
	p[3] = s->currency;
	p[4] = key;
	/* Recorded, with its key, before Stripe hears of it. */
	if ((res = db_exec(db, a, &q_insert, p)) == NULL)
		return TOPUP_ERROR;
	p[0] = arena_strdup(a, PQgetvalue(res, 0, 0));
	if ((cus = customer(db, a, s, user_id, err, errlen)) == NULL)
		goto failed;
	session_form(&form, s, p[0], cus, amount / MINOR, success_url,
	    cancel_url);
	rc = stripe_post(s, "/v1/checkout/sessions", key, &form, &sess, err,
	    errlen);
	str_free(&form);
	if (rc == -1)
		goto failed;
	sid = json_string_value(json_object_get(sess, "id"));
	url = json_string_value(json_object_get(sess, "url"));
	if (sid == NULL || strncmp(sid, "cs_", 3) != 0 || url == NULL ||
	    (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) !=
	    0)) {
		util_seterr(err, errlen, "Stripe's session has no id or URL");
		json_decref(sess);
		goto failed;
	}
	p[1] = arena_strdup(a, sid);
	p[2] = arena_strdup(a, url);
	json_decref(sess);
	if (db_exec(db, a, &q_opened, p) == NULL ||
	    (res = db_exec(db, a, &q_one, p)) == NULL || PQntuples(res) != 1)
		return TOPUP_ERROR;
	log_info("topup %s opened", p[0]);
	*out = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	return *out != NULL ? TOPUP_OK : TOPUP_ERROR;
failed:
	log_warn("topup %s failed: %s", p[0], err);
	p[1] = err;
	(void)db_exec(db, a, &q_failed, p);
	return TOPUP_STRIPE;
}

json_t *
topup_list(struct db *db, struct arena *a, int64_t user_id)
{
	const char	*p[1] = { db_i64(a, user_id) };
	PGresult	*res;

	if ((res = db_exec(db, a, &q_list, p)) == NULL)
		return NULL;
	return json_loads(PQgetvalue(res, 0, 0), 0, NULL);
}

json_t *
topup_by_session(struct db *db, struct arena *a, int64_t user_id,
    const char *session_id)
{
	const char	*p[2] = { db_i64(a, user_id), session_id };
	PGresult	*res;

	if ((res = db_exec(db, a, &q_by_session, p)) == NULL ||
	    PQntuples(res) != 1)
		return NULL;
	return json_loads(PQgetvalue(res, 0, 0), 0, NULL);
}

json_t *
topup_get(struct db *db, struct arena *a, int64_t user_id, int64_t id)
{
	const char	*p[2] = { db_i64(a, user_id), db_i64(a, id) };
	PGresult	*res;

	if ((res = db_exec(db, a, &q_get, p)) == NULL || PQntuples(res) != 1)
		return NULL;
	return json_loads(PQgetvalue(res, 0, 0), 0, NULL);
}

int
topup_job_expire(struct job_ctx *x)
{
	const char	*p[1] = { x->now_ts };
	PGresult	*res;

	if ((res = db_exec(x->db, x->a, &q_expire, p)) == NULL)
		return -1;
	json_object_set_new(x->counts, "expired",
	    json_integer(atoll(PQcmdTuples(res))));
	return 0;
}

int
stripe_owed(struct db *db, struct arena *a, int64_t user_id, int64_t *owed)
{
	const char	*p[1] = { db_i64(a, user_id) };
	PGresult	*res;

	*owed = 0;
	if ((res = db_exec(db, a, &q_owed, p)) == NULL)
		return -1;
	if (PQntuples(res) == 1)
		*owed = db_int64(res, 0, 0);
	return 0;
}

json_t *
stripe_overview(struct db *db, struct arena *a)
{
	PGresult	*res;

	if ((res = db_exec(db, a, &q_overview, NULL)) == NULL)
		return NULL;
	return json_loads(PQgetvalue(res, 0, 0), 0, NULL);
}
