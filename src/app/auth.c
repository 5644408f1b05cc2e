/* auth.c: who is calling: session cookies, API keys, CSRF tokens, rate limits */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "apikey.h"
#include "app.h"
#include "arena.h"
#include "crypto.h"
#include "iphash.h"
#include "log.h"
#include "ratelimit.h"
#include "session.h"
#include "user.h"

/*
 * A cookie's name: "__Host-" + base when cookies are Secure, which
 * browsers then pin to this host and path "/"; plain base on the
 * plain-HTTP development setting, since a __Host- cookie must be Secure.
 */
const char *
auth_cookie_name(struct req *r, const char *base)
{
	return r->app->auth.cookie_secure ? arena_printf(r->arena, "__Host-%s",
	    base) : base;
}

/* Resolve the session cookie into r->auth; 0 found, 1 none, -1 error. */
static int
from_session(struct req *r)
{
	const char	*token = req_cookie(r, auth_cookie_name(r, "sid"));
	struct session	 s;
	int		 rc;

	if (token == NULL)
		return 1;
	rc = session_lookup(r->app->db, r->arena, token,
	    r->app->auth.session_idle, &s);
	if (rc != 0)
		return rc;
	r->auth.via = AUTH_SESSION;
	r->auth.user_id = s.user_id;
	r->auth.email = s.email;
	r->auth.role = s.role;
	r->auth.csrf = s.csrf;
	r->auth.token = token;
	r->auth.status = s.status;
	r->auth.status_reason = s.status_reason;
	return 0;
}

/* Resolve "Authorization: Bearer <key>" into r->auth; 0, 1 none, -1 error. */
static int
from_apikey(struct req *r)
{
	const char	*h = req_header(r, "Authorization");
	struct user	 u;
	int64_t		 uid, kid;
	int		 rc;

	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
		return 1;
	for (h += 7; *h == ' '; h++)
		;
	switch (apikey_lookup(r->app->db, r->arena, h, &uid, &kid, NULL,
	    NULL)) {
	case APIKEY_OK:
	case APIKEY_SUSPENDED:
	case APIKEY_BANNED:
		break;	/* standing() decides what the account may do */
	case APIKEY_NONE:
		return 1;
	default:
		return -1;
	}
	if ((rc = user_by_id(r->app->db, r->arena, uid, &u)) != 0)
		return rc;
	r->auth.via = AUTH_APIKEY;
	r->auth.user_id = uid;
	r->auth.key_id = kid;
	r->auth.email = u.email;
	r->auth.role = u.role;
	r->auth.status = u.status;
	return 0;
}

/* The form field or header carrying the CSRF token, compared in constant time. */
static int
csrf_ok(struct req *r)
{
	const char	*want, *got = req_form(r, "csrf");

	if (got == NULL)
		got = req_header(r, "X-CSRF-Token");
	if (r->auth.via == AUTH_APIKEY)
		return 1;	/* a bearer key is no ambient credential */
	if (r->auth.via == AUTH_SESSION)
		want = r->auth.csrf;
	else	/* before login: the double-submit cookie */
		want = req_cookie(r, auth_cookie_name(r, "csrf"));
	return want != NULL && got != NULL && *want != '\0' &&
	    crypto_streq(got, want);
}

/* Refuse the caller for its account's standing: 403 with code and message. */
static int
refuse_standing(struct req *r, const char *code, const char *message)
{
	if (r->api)
		return resp_api_error(r, 403, "invalid_request_error", code,
		    NULL, message);
	return resp_error(r, 403, message);
}

/*
 * What the caller's account may do here for its standing: a banned or
 * deleted account nothing (its credentials are dropped, so a public page
 * sees no one, and a route that asks for them answers 403
 * account_banned); a suspended one reads, and writes only where the route
 * says R_SUSPENDED_OK (403 account_suspended otherwise). Returns 0, or
 * the status with the error written.
 */
static int
standing(struct req *r, int flags)
{
	const char	*st = r->auth.status;
	int		 need = flags & (R_SESSION | R_APIKEY | R_ADMIN);

	if (r->auth.via == AUTH_NONE || st == NULL ||
	    strcmp(st, "active") == 0)
		return 0;
	if (strcmp(st, "suspended") != 0) {
		log_info("user=%lld refused: %s", (long long)r->auth.user_id,
		    st);
		if (r->auth.via == AUTH_SESSION)
			resp_cookie(r, auth_cookie_name(r, "sid"), "", -1, 1);
		memset(&r->auth, 0, sizeof(r->auth));
		return need ? refuse_standing(r, "account_banned", "This account"
		    " is banned: it can no longer sign in or use its API keys.")
		    : 0;
	}
	if (!need || (flags & R_SUSPENDED_OK) ||
	    strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0)
		return 0;
	return refuse_standing(r, "account_suspended", "Your account is "
	    "suspended: it is read-only until the operator lifts the "
	    "suspension, so it cannot make requests, create keys or nodes, "
	    "or change prices.");
}

/*
 * Check what a route's flags ask for. A session is looked up whenever its
 * cookie comes (so public pages know who is logged in); R_SESSION and
 * R_APIKEY accept either credential they name. Returns 0, or the status:
 * 401 without credentials (303 to the login page for pages), 403 for a
 * missing or wrong CSRF token or for the account's standing (written by
 * standing()), 503 when the database cannot say.
 */
int
auth_check(struct req *r, int flags)
{
	int	rc = from_session(r);

	if (rc == -1 && (flags & (R_SESSION | R_APIKEY | R_ADMIN)))
		return 503;
	if (rc != 0 && (flags & R_APIKEY) && (rc = from_apikey(r)) == -1)
		return 503;
	if ((rc = standing(r, flags)) != 0)
		return rc;
	if ((flags & (R_SESSION | R_APIKEY | R_ADMIN)) &&
	    r->auth.via == AUTH_NONE) {
		if (!r->api) {
			resp_redirect(r, "/login", NULL);
			return 303;
		}
		return 401;
	}
	if ((flags & R_ADMIN) && !auth_is_admin(r))
		return 403;
	if ((flags & R_CSRF) && !csrf_ok(r))
		return 403;
	return 0;
}

/* Is the caller an operator, logged in with a browser session? */
int
auth_is_admin(struct req *r)
{
	return r->auth.via == AUTH_SESSION && r->auth.role != NULL &&
	    strcmp(r->auth.role, "admin") == 0;
}

/*
 * The CSRF token for a form on this page: the session's, or before login
 * a random one set as a cookie (double submit).
 */
const char *
auth_csrf_token(struct req *r)
{
	const char	*name = auth_cookie_name(r, "csrf"), *have;
	char		 tok[44];

	if (r->auth.via == AUTH_SESSION)
		return r->auth.csrf;
	if ((have = req_cookie(r, name)) != NULL && strlen(have) == 43)
		return have;
	if (crypto_token_base62(tok, sizeof(tok), 43) == -1)
		return "";
	resp_cookie(r, name, tok, 0, 1);
	return arena_strdup(r->arena, tok);
}

/* Start a session for user_id and set its cookie; 0 or -1. */
int
auth_login(struct req *r, int64_t user_id)
{
	char	token[SESSION_TOKEN_LEN + 1], ip[IPHASH_LEN];

	if (iphash(r->app->db, r->arena, req_client_ip(r), ip) == -1 ||
	    session_create(r->app->db, r->arena, user_id, ip,
	    r->app->auth.session_absolute, token) == -1)
		return -1;
	resp_cookie(r, auth_cookie_name(r, "sid"), token,
	    r->app->auth.session_absolute, 1);
	return 0;
}

/* End this request's session on the server and in the browser. */
void
auth_logout(struct req *r)
{
	if (r->auth.via == AUTH_SESSION)
		(void)session_delete(r->app->db, r->arena, r->auth.token);
	resp_cookie(r, auth_cookie_name(r, "sid"), "", -1, 1);
}

/*
 * Count an attempt of what ("login", "signup") by who ("ip" for the
 * caller's hashed address, or an already hashed name). Returns 0 when
 * allowed, 429 with Retry-After when not, 503 when the database fails.
 */
int
auth_rate_limit(struct req *r, const char *what, const char *who,
    long long limit, long long window)
{
	char		 ip[IPHASH_LEN], after[16];
	const char	*bucket;
	int		 retry, rc;

	if (strcmp(who, "ip") == 0) {
		if (iphash(r->app->db, r->arena, req_client_ip(r), ip) == -1)
			return 503;
		bucket = arena_printf(r->arena, "%s:ip:%s", what, ip);
	} else
		bucket = arena_printf(r->arena, "%s:%s", what, who);
	rc = ratelimit_hit(r->app->db, r->arena, bucket, (int)limit,
	    (int)window, &retry);
	if (rc == -1)
		return 503;
	if (rc == 1) {
		snprintf(after, sizeof(after), "%d", retry);
		resp_header(r, "Retry-After", after);
		log_info("rate limited: %s", what);
		return 429;
	}
	return 0;
}
