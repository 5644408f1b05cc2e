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
};

struct req;
typedef int (*handler_fn)(struct req *);

struct route {
	const char	*method;
	const char	*pattern;	/* "{}" matches one segment, "{*}" the rest */
	int		 flags;
	handler_fn	 fn;
	size_t		 max_body;	/* 0: the app's default */
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
 * req.c: parse the FastCGI parameters of r->fcgi into r. Strings returned
 * live in the request's arena (or libfcgi's parameter block) until the
 * request ends; NULL means absent. req_parse and req_read_body return 0
 * or an HTTP status (400, 413).
 */
int		 req_parse(struct req *);
const char	*req_param(struct req *, const char *name);
const char	*req_header(struct req *, const char *name);
const char	*req_query(struct req *, const char *key);
const char	*req_cookie(struct req *, const char *name);
int		 req_read_body(struct req *, size_t max);
int		 req_parse_form(struct req *);
const char	*req_form(struct req *, const char *key);
const char	*req_client_ip(struct req *);
json_t		*req_json(struct req *);
long long	 req_query_int(struct req *, const char *key, long long def,
		    long long max);
char		*url_decode(struct arena *, const char *, size_t, int plus);

/*
 * resp.c: build and send the response. resp_json, resp_page and
 * resp_error return the status to hand back from a handler; resp_json
 * and resp_page take over the caller's reference to the json_t.
 */
void		 resp_header(struct req *, const char *name, const char *value);
void		 resp_cookie(struct req *, const char *name, const char *value,
		    long long max_age, int http_only);
int		 resp_redirect(struct req *, const char *location,
		    const char *flash);
int		 resp_json(struct req *, int status, json_t *);
int		 resp_page(struct req *, int status, const char *tmpl, json_t *);
int		 resp_error(struct req *, int status, const char *message);
int		 resp_bad(struct req *, const char *param, const char *message);
int		 resp_api_error(struct req *, int status, const char *type,
		    const char *code, const char *param, const char *message);
void		 resp_send(struct req *);
const char	*status_text(int);

/* auth.c: sessions, API keys and CSRF tokens. */
int		 auth_check(struct req *, int flags);
int		 auth_is_admin(struct req *);
const char	*auth_cookie_name(struct req *, const char *base);
const char	*auth_csrf_token(struct req *);
int		 auth_login(struct req *, int64_t user_id);
void		 auth_logout(struct req *);
int		 auth_rate_limit(struct req *, const char *what, const char *who,
		    long long limit, long long window);

/* route.c: find the route and run it after the checks its flags ask for. */
void		 route_dispatch(struct req *);

/* Handlers, one file per page or API group. */
int		 api_healthz(struct req *);
int		 api_internal_ping(struct req *);
int		 page_home(struct req *);
int		 page_signup_form(struct req *);
int		 page_signup(struct req *);
int		 page_login_form(struct req *);
int		 page_login(struct req *);
int		 page_logout(struct req *);
int		 page_account(struct req *);
int		 page_password(struct req *);
int		 page_settings(struct req *);
int		 page_usage(struct req *);
int		 page_models(struct req *);
int		 page_quickstart(struct req *);
int		 page_admin(struct req *);
int		 page_admin_users(struct req *);
int		 page_admin_nodes(struct req *);
int		 page_admin_suspend(struct req *);
int		 page_admin_unsuspend(struct req *);
int		 page_keys(struct req *);
int		 page_keys_create(struct req *);
int		 page_keys_revoke(struct req *);
int		 api_me(struct req *);
int		 api_me_transfers(struct req *);
int		 api_me_export(struct req *);
int		 api_keys_list(struct req *);
int		 api_keys_create(struct req *);
int		 api_keys_revoke(struct req *);
int		 api_supplier_nodes(struct req *);
int		 api_supplier_node(struct req *);
int		 api_supplier_node_create(struct req *);
int		 api_supplier_node_update(struct req *);
int		 api_supplier_node_delete(struct req *);
int		 api_supplier_node_token(struct req *);
int		 api_models_list(struct req *);
int		 api_models_get(struct req *);
int		 api_me_usage(struct req *);
int		 api_supplier_usage(struct req *);
int		 api_internal_admit(struct req *);
int		 api_internal_settle(struct req *);
int		 api_worker_auth(struct req *);
int		 api_worker_seen(struct req *);
int		 page_nodes(struct req *);
int		 page_nodes_create(struct req *);
int		 page_nodes_prices(struct req *);
int		 page_nodes_token(struct req *);
int		 page_nodes_delete(struct req *);

/* view.c: what several pages show the same way. */
struct stats_day;
enum view_measure { VIEW_TOKENS, VIEW_REQUESTS, VIEW_COST, VIEW_EARNING,
		    VIEW_FEE };
const char	*view_dollars(struct arena *, int64_t micro);	/* "0.10" */
json_t		*view_usd(struct arena *, int64_t micro);	/* "$0.10" */
json_t		*view_count(int64_t);				/* "1,234" */
/* A success rate, "97%", of what succeeded or failed; "—" when neither. */
json_t		*view_rate(int64_t success, int64_t failure);
/* One measure of STATS_DAYS days as an inline SVG bar chart (a string). */
json_t		*view_chart(const char *id, const char *title,
		    const struct stats_day *, enum view_measure);
/* The site's public URL: [app] base_url, else this request's host. */
const char	*view_site_url(struct req *);
/* The {} segment of the path as an id, or 0 when it is not one. */
int64_t		 view_path_id(struct req *);

/* api_usage.c: every request of the caller, for the export; NULL on error. */
json_t		*usage_export(struct req *);

#endif
