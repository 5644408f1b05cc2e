/* app.h: the FastCGI front: requests, responses, routes, the process's state */
#ifndef IP_APP_H
#define IP_APP_H

#include <stddef.h>
#include <stdint.h>

#include <fcgiapp.h>
#include <jansson.h>

#include "str.h"

struct arena;
struct cfg;
struct db;
struct tmpl_set;

#include "crypto.h"
#include "gateway.h"
#include "passwd.h"

/* Settings of accounts and sessions ([auth] and [credits]). */
struct auth_cfg {
	int			 cookie_secure;	/* __Host-sid with Secure */
	long long		 session_idle;	/* seconds */
	long long		 session_absolute;
	struct passwd_params	 passwd;
	long long		 password_min;
	long long		 login_per_ip, login_per_account, login_window;
	long long		 signup_per_ip, signup_window;
	long long		 signup_grant;	/* micro-USD */
};

/* Settings and shared handles of one app process. */
struct app {
	struct cfg	*cfg;
	struct db	*db;
	struct tmpl_set	*tmpl;
	const struct tmpl_set *mail;	/* templates/mail (mail_templates), for the emails pages queue */
	size_t		 max_body;
	const char	*internal_secret;	/* "" disables /internal/ */
	const char	*site_name;
	struct auth_cfg	 auth;
	struct gateway_cfg	 gateway;	/* [gateway] */
	struct crypto_keyring	 keys;		/* [crypto] keys; may be empty */
};

/* Route flags: who may call and what the dispatcher checks first. */
#define R_PUBLIC	0x01	/* anyone */
#define R_SESSION	0x02	/* a logged-in browser session */
#define R_APIKEY	0x04	/* Authorization: Bearer <api key> */
#define R_CSRF		0x08	/* a CSRF token in the form or header */
#define R_INTERNAL	0x10	/* the relay, with the shared secret */
#define R_ADMIN		0x20	/* a session with the operator's role */
#define R_JSON		0x40	/* the body is a JSON object: r->json */
#define R_SUSPENDED_OK	0x80	/* a write a suspended (read-only) account keeps */

struct kv {
	const char	*key;
	const char	*value;
};

/* Who is calling, once the dispatcher has checked. */
enum auth_via { AUTH_NONE, AUTH_SESSION, AUTH_APIKEY };

struct auth {
	enum auth_via	 via;
	int64_t		 user_id;
	const char	*email;
	const char	*role;
	const char	*csrf;		/* the session's token */
	const char	*token;		/* the session cookie's value */
	int64_t		 key_id;	/* with AUTH_APIKEY */
	const char	*status;	/* the account's standing: "active", … */
	const char	*status_reason;	/* why not active (sessions only), or NULL */
};

struct req;
typedef int (*handler_fn)(struct req *);

/*
 * One route. In a pattern "{}" matches one segment and "{*}" the rest
 * (into r->params); "{id}" matches one segment that the dispatcher turns
 * into r->path_id, a positive integer, and "{task}" one that becomes
 * r->path_task, a task id ("t_" and 24 base62), before the handler runs;
 * either answers 404 (with the message none, or the standard one) when
 * it is not one.
 */
struct route {
	const char	*method;
	const char	*pattern;
	int		 flags;
	handler_fn	 fn;
	size_t		 max_body;	/* 0: the app's default */
	const char	*none;		/* the 404 message of a bad {id} */
};

#define REQ_MAX_PARAMS	4

/* One request; everything in it lives in the arena until the reset. */
struct req {
	struct app		*app;
	struct arena		*arena;
	FCGX_Request		*fcgi;
	char			 id[17];	/* request id, hex */
	const char		*method;
	const char		*path;		/* decoded, no query */
	const char		*raw_path;	/* as sent, for matching routes */
	const char		*query_string;
	struct kv		*query;
	size_t			 nquery;
	struct kv		*cookies;
	size_t			 ncookies;
	const char		*params[REQ_MAX_PARAMS];	/* {} segments, decoded */
	size_t			 nparams;
	int			 id_param;	/* which param is {id}, or -1 */
	int64_t			 path_id;	/* the {id} segment, validated */
	int			 task_param;	/* which param is {task}, or -1 */
	const char		*path_task;	/* the {task} segment, validated */
	json_t			*json;		/* R_JSON: the body, arena's */
	char			*body;		/* NUL-terminated */
	size_t			 body_len;
	struct kv		*form;		/* an urlencoded body */
	size_t			 nform;
	struct auth		 auth;
	int			 api;		/* under /v1/: JSON errors */
	const struct route	*route;
	/* The response being built. */
	int			 status;
	const char		*content_type;
	struct str		 headers;	/* extra "Name: value\r\n" lines */
	struct str		 out;
	int			 sent;
};

/*
 * req.c: parse the FastCGI parameters of r->fcgi into r. It writes no
 * response: errors are returned for the caller (the dispatcher) to
 * answer. Strings returned live in the request's arena (or libfcgi's
 * parameter block) until the request ends; NULL means absent.
 */

/*
 * Fill method, path, query and cookies. Returns 0, or 400 for a request
 * line that cannot be understood or a query that is not UTF-8 text.
 */
int		 req_parse(struct req *);
/* A FastCGI parameter ("REQUEST_METHOD"), or NULL. */
const char	*req_param(struct req *, const char *name);
/* A request header by its HTTP name ("Content-Type"), or NULL. */
const char	*req_header(struct req *, const char *name);
/* A query parameter, decoded and valid UTF-8, or NULL. */
const char	*req_query(struct req *, const char *key);
/* A cookie's value as sent, or NULL. */
const char	*req_cookie(struct req *, const char *name);
/*
 * Read the body (at most max bytes) into r->body, NUL-terminated. Returns
 * 0, 413 when it is larger, or 400 when shorter than its Content-Length.
 */
int		 req_read_body(struct req *, size_t max);
/*
 * Parse an urlencoded body into r->form (other types are left alone).
 * Returns 0, or 400 for a bad escape or a value that is not UTF-8 text.
 */
int		 req_parse_form(struct req *);
/* A form field, decoded and valid UTF-8, or NULL. */
const char	*req_form(struct req *, const char *key);
/* The caller's address as the web server saw it ("" when unknown). */
const char	*req_client_ip(struct req *);
/*
 * The body as a JSON object, registered with the arena (the caller does
 * not free it); NULL with the parser's message (naming the place) in err.
 */
json_t		*req_json(struct req *, char *err, size_t errlen);
/*
 * A positive integer query parameter at most max: def when absent, -1
 * when malformed or out of range.
 */
long long	 req_query_int(struct req *, const char *key, long long def,
		    long long max);
/*
 * Percent-decode n bytes of s into the arena ('+' is a space when plus).
 * Returns NULL for a bad escape or an encoded NUL.
 */
char		*url_decode(struct arena *, const char *, size_t, int plus);

/*
 * resp.c: build and send the response. The functions that return an int
 * return the status, to hand back from a handler. They borrow the json_t
 * they are given, never take it over: every JSON value a handler builds
 * is owned by the request's arena (json_arena), so no path frees by hand.
 */
/* Add "name: value" to the response; a value with CR or LF is refused. */
void		 resp_header(struct req *, const char *name, const char *value);
/*
 * Set a cookie (Path=/, SameSite=Lax, Secure unless configured off);
 * max_age 0 for a browser session, -1 to delete. value is ours, never
 * request data.
 */
void		 resp_cookie(struct req *, const char *name, const char *value,
		    long long max_age, int http_only);
/* 303 to location (a path of ours), with an optional flash code. */
int		 resp_redirect(struct req *, const char *location,
		    const char *flash);
/* The JSON value v (borrowed) as the body, with status. */
int		 resp_json(struct req *, int status, json_t *v);
/* len bytes of body (copied) as the body, of content_type, with status. */
int		 resp_body(struct req *, int status, const char *content_type,
		    const char *body, size_t len);
/*
 * Template tmpl rendered with ctx (borrowed; the layout's keys are added
 * to it); 500 on a template error.
 */
int		 resp_page(struct req *, int status, const char *tmpl, json_t *);
/*
 * The error for status with message (NULL: the status text): OpenAI's
 * JSON shape under /v1/ and /internal/, the error page elsewhere.
 */
int		 resp_error(struct req *, int status, const char *message);
/* A 400 invalid_request in the API's shape naming param. */
int		 resp_bad(struct req *, const char *param, const char *message);
/* An error in the API's shape; param and code may be NULL. */
int		 resp_api_error(struct req *, int status, const char *type,
		    const char *code, const char *param, const char *message);
/* Write status line, headers and body to the FastCGI stream, once. */
void		 resp_send(struct req *);

/* auth.c: sessions, API keys and CSRF tokens. */
/*
 * Check what a route's flags ask for and fill r->auth. Returns 0, or the
 * status: 401 (303 to the login page for pages), 403 for a bad CSRF
 * token or an account whose standing refuses the route (that error
 * written: account_banned, account_suspended), 503 when the database
 * cannot say.
 */
int		 auth_check(struct req *, int flags);
/* 1 when the caller is an operator with a browser session. */
int		 auth_is_admin(struct req *);
/* The cookie's name for base: "__Host-" + base when Secure (arena's). */
const char	*auth_cookie_name(struct req *, const char *base);
/* The CSRF token for a form: the session's, or a new double-submit one. */
const char	*auth_csrf_token(struct req *);
/* Start a session for user_id and set its cookie; 0 or -1. */
int		 auth_login(struct req *, int64_t user_id);
/* End this request's session on the server and in the browser. */
void		 auth_logout(struct req *);
/*
 * Count an attempt of what by who ("ip", or a hashed name): 0 when
 * allowed, 429 (with Retry-After) when not, 503 on a database error.
 */
int		 auth_rate_limit(struct req *, const char *what, const char *who,
		    long long limit, long long window);

/*
 * route.c: parse r, find its route and run its handler after the checks
 * its flags and pattern ask for; every error is answered here or there.
 */
void		 route_dispatch(struct req *);

/*
 * Handlers, one file per page or API group, each for the route named
 * beside or above it. They run after route.c's checks, see validated inputs only
 * (r->path_id, r->json), and return an HTTP status; an error status with
 * no body written gets the standard error page or JSON.
 */
int		 api_healthz(struct req *);	/* GET /healthz */
int		 api_internal_ping(struct req *);	/* GET /internal/ping */
int		 page_home(struct req *);	/* GET / */
int		 page_signup_form(struct req *);	/* GET /signup */
int		 page_signup(struct req *);	/* POST /signup */
int		 page_login_form(struct req *);	/* GET /login */
int		 page_login(struct req *);	/* POST /login */
int		 page_logout(struct req *);	/* POST /logout */
int		 page_account(struct req *);	/* GET /account */
int		 page_password(struct req *);	/* POST /account/password */
int		 page_settings(struct req *);	/* GET /settings */
/* The settings page with error beside its form field (status 4xx). */
int		 page_settings_error(struct req *, int status, const char *field,
		    const char *error);
/* POST /settings/delete, POST /settings/delete/cancel */
int		 page_deletion_ask(struct req *);
int		 page_deletion_cancel(struct req *);
/* GET, POST and DELETE /v1/me/deletion */
int		 api_deletion_get(struct req *);
int		 api_deletion_ask(struct req *);
int		 api_deletion_cancel(struct req *);
int		 page_usage(struct req *);	/* GET /usage */
int		 page_models(struct req *);	/* GET /models */
int		 page_quickstart(struct req *);	/* GET /quickstart */
int		 page_admin(struct req *);	/* GET /admin */
int		 page_admin_users(struct req *);	/* GET /admin/users */
int		 page_admin_nodes(struct req *);	/* GET /admin/nodes */
int		 page_admin_jobs(struct req *);	/* GET /admin/jobs */
/* POST /admin/nodes/{id}/suspend */
int		 page_admin_suspend(struct req *);
/* POST /admin/nodes/{id}/unsuspend */
int		 page_admin_unsuspend(struct req *);
int		 page_admin_user(struct req *);	/* GET /admin/users/{id} */
/* POST /admin/users/{id}/suspend, /unsuspend, /ban */
int		 page_admin_user_suspend(struct req *);
int		 page_admin_user_unsuspend(struct req *);
int		 page_admin_user_ban(struct req *);
int		 page_keys(struct req *);	/* GET /keys */
int		 page_keys_create(struct req *);	/* POST /keys */
/* POST /keys/{id}/revoke */
int		 page_keys_revoke(struct req *);
int		 api_me(struct req *);	/* GET /v1/me */
/* Stripe top-ups: the API, the Billing pages, the webhook. */
int		 api_topups_create(struct req *);	/* POST /v1/me/topups */
int		 api_topups_list(struct req *);	/* GET /v1/me/topups */
int		 page_billing(struct req *);	/* GET /billing */
int		 page_billing_topup(struct req *);	/* POST /billing/topup */
int		 page_billing_pay(struct req *);	/* GET /billing/pay/{id} */
int		 page_billing_success(struct req *);	/* GET /billing/success */
int		 page_billing_cancel(struct req *);	/* GET /billing/cancel */
int		 page_admin_billing(struct req *);	/* GET /admin/billing */
int		 hook_stripe(struct req *);	/* POST /hooks/stripe */
/* Tremendous payouts: the API, the Payouts pages, the webhook. */
int		 api_payouts_create(struct req *);	/* POST /v1/me/payouts */
int		 api_payouts_list(struct req *);	/* GET /v1/me/payouts */
int		 api_payout_settings_get(struct req *);	/* GET /v1/me/payout_settings */
int		 api_payout_settings_put(struct req *);	/* PUT /v1/me/payout_settings */
int		 page_payouts(struct req *);	/* GET /payouts */
int		 page_payouts_request(struct req *);	/* POST /payouts/request */
int		 page_payouts_settings(struct req *);	/* POST /payouts/settings */
int		 page_admin_payouts(struct req *);	/* GET /admin/payouts */
int		 page_admin_payout_approve(struct req *);	/* POST /admin/payouts/{id}/approve */
int		 page_admin_payout_cancel(struct req *);	/* POST /admin/payouts/{id}/cancel */
int		 hook_tremendous(struct req *);	/* POST /hooks/tremendous */
/*
 * Pay amount_usd of the caller's earnings out: 0 with the payout's id,
 * else the status with an error code and a message.
 */
int		 payout_start(struct req *, const char *amount_usd, int64_t *id,
		    const char **code, const char **message);
/*
 * Start a top-up of amount_usd for the caller: 0 with the top-up in *out
 * (the arena's), else the status with an error code and a message.
 */
int		 topup_start(struct req *, const char *amount_usd, json_t **out,
		    const char **code, const char **message);
/* GET /v1/me/transfers */
int		 api_me_transfers(struct req *);
int		 api_me_export(struct req *);	/* GET /v1/me/export */
/* GET /v1/me/export/{} */
int		 api_me_export_get(struct req *);
/* POST /settings/export */
int		 page_settings_export(struct req *);
int		 api_keys_list(struct req *);	/* GET /v1/keys */
int		 api_keys_create(struct req *);	/* POST /v1/keys */
int		 api_keys_revoke(struct req *);	/* DELETE /v1/keys/{id} */
/* GET /v1/supplier/nodes */
int		 api_supplier_nodes(struct req *);
/* GET /v1/supplier/nodes/{id} */
int		 api_supplier_node(struct req *);
/* POST /v1/supplier/nodes */
int		 api_supplier_node_create(struct req *);
/* PATCH /v1/supplier/nodes/{id} */
int		 api_supplier_node_update(struct req *);
/* DELETE /v1/supplier/nodes/{id} */
int		 api_supplier_node_delete(struct req *);
/* POST /v1/supplier/nodes/{id}/token */
int		 api_supplier_node_token(struct req *);
int		 api_models_list(struct req *);	/* GET /v1/models */
int		 api_models_get(struct req *);	/* GET /v1/models/{*} */
int		 api_me_usage(struct req *);	/* GET /v1/me/usage */
/* GET /v1/supplier/usage */
int		 api_supplier_usage(struct req *);
/* GET /v1/receipts/{task} */
int		 api_receipt(struct req *);
/* GET /.well-known/infrpool-receipt-keys */
int		 api_receipt_keys(struct req *);
/* POST /internal/settle {"requests": […], "close": […], "trim": […]} */
int		 api_internal_settle(struct req *);
/* The 401 invalid_api_key for key ("" when none was sent). */
int		 api_internal_bad_key(struct req *, const char *key);
int		 api_internal_lease(struct req *);	/* POST /internal/lease */
/* POST /internal/candidates */
int		 api_internal_candidates(struct req *);
/* POST /internal/changes */
int		 api_internal_changes(struct req *);
int		 api_worker_auth(struct req *);	/* POST /internal/worker/auth */
int		 api_worker_seen(struct req *);	/* POST /internal/worker/seen */
int		 page_nodes(struct req *);	/* GET /nodes */
int		 page_nodes_create(struct req *);	/* POST /nodes */
/* POST /nodes/{id}/prices */
int		 page_nodes_prices(struct req *);
/* POST /nodes/{id}/token */
int		 page_nodes_token(struct req *);
/* POST /nodes/{id}/delete */
int		 page_nodes_delete(struct req *);

/* view.c: what several pages show the same way. */
struct stats_day;
enum view_measure { VIEW_TOKENS, VIEW_REQUESTS, VIEW_COST, VIEW_EARNING,
		    VIEW_FEE };
/*
 * The view_ functions that return a json_t return a new reference (the
 * caller packs it with "o" or hands it to the arena); strings are the
 * arena's.
 */
/* Micro-USD as dollars with at least two decimals: "0.10". */
const char	*view_dollars(struct arena *, int64_t micro);
/* The same with a dollar sign, as a JSON string: "$0.10". */
json_t		*view_usd(struct arena *, int64_t micro);
/* A count with thousands separators, as a JSON string: "1,234". */
json_t		*view_count(int64_t);
/* A success rate, "97%", of what succeeded or failed; "—" when neither. */
json_t		*view_rate(int64_t success, int64_t failure);
/* One measure of STATS_DAYS days as an inline SVG bar chart (a string). */
json_t		*view_chart(const char *id, const char *title,
		    const struct stats_day *, enum view_measure);
/* The site's public URL: [app] base_url, else this request's host. */
const char	*view_site_url(struct req *);

/*
 * api_usage.c: every request of the caller as a consumer (supplier 0) or
 * that its nodes served (1, the supplier's view), newest first, for the
 * export: an array the arena owns, or NULL on error.
 */
json_t		*usage_export(struct req *, int supplier);

/*
 * api_me.c: everything we hold about the caller as one JSON document,
 * the arena's; NULL on error.
 */
json_t		*me_export_document(struct req *);

/*
 * api_export.c: build the caller's export document and keep it behind a
 * link for 24 hours. 0 with *link ({object, url, expires_at}, the
 * arena's), 429 with *retry_after (seconds) when the account has as many
 * links that still work as it may, or 500.
 */
int		 export_prepare(struct req *, json_t **link, int *retry_after);

#endif
