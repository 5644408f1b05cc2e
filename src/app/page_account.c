/* page_account.c: sign up, log in, log out, the dashboard, settings (password) */
#include "config.h"

#include <string.h>

#include "apikey.h"
#include "app.h"
#include "arena.h"
#include "iphash.h"
#include "json.h"
#include "lifecycle.h"
#include "ledger.h"
#include "log.h"
#include "money.h"
#include "ratelimit.h"
#include "session.h"
#include "stats.h"
#include "user.h"

#define PASSWORD_MAX	1024

/* A balance as the pages show it: "$1.234567", every micro-dollar. */
static json_t *
dollars(int64_t micro)
{
	char	buf[32];

	money_format(micro, buf + 1, sizeof(buf) - 1);
	buf[0] = '$';
	return json_string(buf);
}

/*
 * Render the signup or login form with values, errors (borrowed, or
 * NULL) and a status.
 */
static int
form_page(struct req *r, int status, const char *tmpl, const char *title,
    const char *email, json_t *errors)
{
	json_t	*ctx = json_arena(r->arena, json_pack("{s:s, s:s, s:s, s:o}",
	    "title", title, "email", email ? email : "", "form_csrf",
	    auth_csrf_token(r), "errors", errors ? json_incref(errors) :
	    json_object()));

	json_object_set_new(ctx, "password_min",
	    json_integer(r->app->auth.password_min));
	return resp_page(r, status, tmpl, ctx);
}

int
page_signup_form(struct req *r)
{
	if (r->auth.via == AUTH_SESSION)
		return resp_redirect(r, "/account", NULL);
	return form_page(r, 200, "signup", "Create an account", NULL, NULL);
}

/* Check a new password's length; NULL when fine, else the message. */
static const char *
password_problem(struct req *r, const char *pw)
{
	if (pw == NULL || strlen(pw) < (size_t)r->app->auth.password_min)
		return arena_printf(r->arena, "Use at least %lld characters.",
		    r->app->auth.password_min);
	if (strlen(pw) > PASSWORD_MAX)
		return "Use at most 1024 characters.";
	return NULL;
}

/* Hash pw into out (PASSWD_ENCODED_MAX bytes); 0 or -1. */
static int
hash_password(struct req *r, const char *pw, char *out)
{
	return passwd_hash(&r->app->auth.passwd, pw, out, PASSWD_ENCODED_MAX);
}

int
page_signup(struct req *r)
{
	const char	*email_in = req_form(r, "email"), *pw = req_form(r, "password");
	const char	*problem;
	char		 email[USER_EMAIL_MAX + 1], hash[PASSWD_ENCODED_MAX];
	char		 ip[IPHASH_LEN];
	json_t		*errors = json_arena(r->arena, json_object());
	int64_t		 id;
	int		 rc;

	if ((rc = auth_rate_limit(r, "signup", "ip", r->app->auth.signup_per_ip,
	    r->app->auth.signup_window)) != 0)
		return rc;
	if (email_in == NULL || user_email_normalize(email_in, email,
	    sizeof(email)) == -1)
		json_object_set_new(errors, "email",
		    json_string("Enter an email address such as you@example.com."));
	if ((problem = password_problem(r, pw)) != NULL)
		json_object_set_new(errors, "password", json_string(problem));
	if (json_object_size(errors) > 0)
		return form_page(r, 400, "signup", "Create an account", email_in,
		    errors);
	if (hash_password(r, pw, hash) == -1 ||
	    iphash(r->app->db, r->arena, req_client_ip(r), ip) == -1 ||
	    (rc = user_create(r->app->db, r->arena, email, hash, "user", ip,
	    r->app->auth.signup_grant, &id)) == -1)
		return 500;
	if (rc == 1) {
		json_object_set_new(errors, "email", json_string("An account with "
		    "this email exists already: log in instead."));
		return form_page(r, 409, "signup", "Create an account", email,
		    errors);
	}
	log_info("signup user=%lld", (long long)id);
	if (auth_login(r, id) == -1)
		return 500;
	return resp_redirect(r, "/account", "welcome");
}

int
page_login_form(struct req *r)
{
	if (r->auth.via == AUTH_SESSION)
		return resp_redirect(r, "/account", NULL);
	return form_page(r, 200, "login", "Log in", NULL, NULL);
}

/*
 * Check email and password. "No such user" and "wrong password" give the
 * same page, status and timing (a dummy hash when there is no user).
 * Attempts count per hashed address and per hashed account. A banned (or
 * deleted) account is told so once the password is right, and gets no
 * session; a suspended one signs in to a read-only account.
 */
int
page_login(struct req *r)
{
	const char	*email_in = req_form(r, "email"), *pw = req_form(r, "password");
	const char	*acct = NULL;
	char		 email[USER_EMAIL_MAX + 1], who[IPHASH_LEN];
	struct user	 u;
	int		 rc, found = 0;

	if ((rc = auth_rate_limit(r, "login", "ip", r->app->auth.login_per_ip,
	    r->app->auth.login_window)) != 0)
		return rc;
	if (pw == NULL)
		pw = "";
	if (email_in != NULL && user_email_normalize(email_in, email,
	    sizeof(email)) == 0) {
		if (iphash(r->app->db, r->arena, email, who) == -1)
			return 503;
		acct = arena_printf(r->arena, "acct:%s", who);
		if ((rc = auth_rate_limit(r, "login", acct,
		    r->app->auth.login_per_account,
		    r->app->auth.login_window)) != 0)
			return rc;
		if ((rc = user_by_email(r->app->db, r->arena, email, &u)) == -1)
			return 503;
		found = rc == 0;
	}
	if (!found)
		passwd_dummy_verify(&r->app->auth.passwd, pw);
	if (!found || !passwd_verify(u.password_hash, pw)) {
		log_info("login failed");
		return form_page(r, 401, "login", "Log in", email_in,
		    json_arena(r->arena, json_pack("{s:s}", "form",
		    "Email or password is wrong.")));
	}
	(void)ratelimit_clear(r->app->db, r->arena,
	    arena_printf(r->arena, "login:%s", acct));
	if (strcmp(u.status, "banned") == 0 ||
	    strcmp(u.status, "deleted") == 0) {
		log_info("login refused user=%lld: %s", (long long)u.id,
		    u.status);
		return form_page(r, 403, "login", "Log in", email_in,
		    json_arena(r->arena, json_pack("{s:s}", "form",
		    "This account is banned and can no longer sign in. The "
		    "email we sent says why.")));
	}
	if (r->auth.via == AUTH_SESSION)
		auth_logout(r);		/* a new id at every login */
	if (auth_login(r, u.id) == -1 ||
	    user_logged_in(r->app->db, r->arena, u.id) == -1)
		return 500;
	log_info("login user=%lld", (long long)u.id);
	return resp_redirect(r, "/account", "login");
}

int
page_logout(struct req *r)
{
	auth_logout(r);
	return resp_redirect(r, "/", "logout");
}

/*
 * The dashboard: balances, the last STATS_DAYS days of spending, recent
 * transfers, and what to do next when there is nothing yet.
 */
int
page_account(struct req *r)
{
	struct ledger_balances	 b;
	struct stats_day	 days[STATS_DAYS];
	struct user		 u;
	const char		*expires;
	json_t			*recent, *keys, *page;
	int64_t			 next, spent = 0, requests = 0;
	size_t			 i;

	if (ledger_balances(r->app->db, r->arena, r->auth.user_id, &b) != 0 ||
	    stats_days(r->app->db, r->arena, STATS_CONSUMER, r->auth.user_id,
	    days) == -1 ||
	    (keys = json_arena(r->arena, apikey_list(r->app->db, r->arena,
	    r->auth.user_id))) == NULL)
		return 500;
	if ((recent = json_arena(r->arena, ledger_user_transfers(r->app->db,
	    r->arena, r->auth.user_id, 0, 10, &next))) == NULL ||
	    wallet_expiry_date(r->app->db, r->arena, r->app->cfg,
	    r->auth.user_id, &expires) == -1 ||
	    user_by_id(r->app->db, r->arena, r->auth.user_id, &u) != 0)
		return 500;
	for (i = 0; i < STATS_DAYS; i++) {
		spent += days[i].cost;
		requests += days[i].requests;
	}
	page = json_arena(r->arena, json_pack(
	    "{s:s, s:{s:o, s:o, s:o, s:o}, s:O, s:b, s:b, s:b, s:o, s:o, s:b,"
	    " s:o}",
	    "title", "Dashboard",
	    "balance", "credit", dollars(b.credit), "earnings",
	    dollars(b.earnings), "held", dollars(b.credit_held + b.earnings_held),
	    "spendable", dollars(b.credit - b.credit_held + b.earnings -
	    b.earnings_held), "transfers", recent,
	    "more", next != 0, "has_transfers", json_array_size(recent) > 0,
	    "has_keys", json_array_size(keys) > 0,
	    "spent_30d", view_usd(r->arena, spent),
	    "requests_30d", view_count(requests), "any_requests", requests > 0,
	    "html_spend_chart", view_chart("spend", "Your spending per day, "
	    "last 30 days (UTC)", days, VIEW_COST)));
	if (expires != NULL)
		json_object_set_new(page, "expires_on", json_stringn(expires,
		    10));
	if (u.deletion_due_at != NULL)
		json_object_set_new(page, "deletion_due",
		    json_string(u.deletion_due_at));
	return resp_page(r, 200, "account", page);
}

/*
 * Settings: the password form, with the error message error beside field
 * (NULL: none), the export (with the link just prepared, when link is not
 * NULL), and deleting the account (or cancelling it).
 */
static int
settings_page(struct req *r, int status, const char *field, const char *error,
    json_t *link)
{
	struct lifecycle_cfg	 l;
	struct user		 u;
	json_t			*ctx;

	if (user_by_id(r->app->db, r->arena, r->auth.user_id, &u) != 0 ||
	    lifecycle_config(r->app->cfg, &l) == -1)
		return 500;
	ctx = json_arena(r->arena, json_pack("{s:s, s:o, s:o, s:I}", "title",
	    "Settings", "errors", field ? json_pack("{s:s}", field, error) :
	    json_object(), "deletion_due", u.deletion_due_at != NULL ?
	    json_string(u.deletion_due_at) : json_null(), "deletion_hours",
	    (json_int_t)(l.deletion_grace / 3600)));
	if (link != NULL)
		json_object_set(ctx, "export", link);
	return resp_page(r, status, "settings", ctx);
}

int
page_settings_error(struct req *r, int status, const char *field,
    const char *error)
{
	return settings_page(r, status, field, error, NULL);
}

int
page_settings(struct req *r)
{
	return page_settings_error(r, 200, NULL, NULL);
}

/*
 * POST /settings/export: prepare the export; the settings page then
 * shows its link (once: only the link's hash is kept).
 */
int
page_settings_export(struct req *r)
{
	json_t	*link;
	int	 retry, rc;

	if ((rc = export_prepare(r, &link, &retry)) == 429)
		return settings_page(r, 429, "export", "You have as many export "
		    "links that still work as you may: use one of them, or "
		    "come back when the oldest expires.", NULL);
	if (rc != 0)
		return rc;
	return settings_page(r, 200, NULL, NULL, link);
}

int
page_password(struct req *r)
{
	const char	*cur = req_form(r, "current"), *pw = req_form(r, "password");
	const char	*problem;
	char		 hash[PASSWD_ENCODED_MAX];
	struct user	 u;

	if (user_by_id(r->app->db, r->arena, r->auth.user_id, &u) != 0)
		return 500;
	if (cur == NULL || !passwd_verify(u.password_hash, cur))
		return page_settings_error(r, 400, "current",
		    "That is not your current password.");
	if ((problem = password_problem(r, pw)) != NULL)
		return page_settings_error(r, 400, "password", problem);
	if (hash_password(r, pw, hash) == -1 ||
	    user_set_password(r->app->db, r->arena, u.id, hash) == -1 ||
	    session_delete_others(r->app->db, r->arena, u.id,
	    r->auth.token) == -1)
		return 500;
	log_info("password changed user=%lld", (long long)u.id);
	return resp_redirect(r, "/settings", "password");
}
