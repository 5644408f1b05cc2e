/* route.c: the route table, and the checks each route's flags ask for */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "arena.h"
#include "crypto.h"
#include "log.h"

#define R_EITHER	(R_SESSION | R_APIKEY)
#define NO_KEY		"No such API key."
#define NO_NODE		"No such node."
#define NO_TOPUP	"No such top-up."
#define NO_PAYOUT	"No such payout."
#define NO_USER		"No such user."
#define NO_RECEIPT	"No such request, or not one of yours."	/* a malformed task id */

static const struct route routes[] = {
	{ "GET",    "/",		R_PUBLIC,		page_home,		0, NULL },
	{ "GET",    "/healthz",		R_PUBLIC,		api_healthz,		0, NULL },
	{ "GET",    "/signup",		R_PUBLIC,		page_signup_form,	0, NULL },
	{ "POST",   "/signup",		R_PUBLIC | R_CSRF,	page_signup,		0, NULL },
	{ "GET",    "/login",		R_PUBLIC,		page_login_form,	0, NULL },
	{ "POST",   "/login",		R_PUBLIC | R_CSRF,	page_login,		0, NULL },
	{ "POST",   "/logout",		R_SESSION | R_CSRF | R_SUSPENDED_OK, page_logout, 0, NULL },
	{ "GET",    "/account",		R_SESSION,		page_account,		0, NULL },
	{ "POST",   "/account/password", R_SESSION | R_CSRF | R_SUSPENDED_OK, page_password, 0, NULL },
	{ "GET",    "/settings",	R_SESSION,		page_settings,		0, NULL },
	{ "POST",   "/settings/delete",	R_SESSION | R_CSRF | R_SUSPENDED_OK, page_deletion_ask, 0, NULL },
	{ "POST",   "/settings/delete/cancel", R_SESSION | R_CSRF | R_SUSPENDED_OK, page_deletion_cancel, 0, NULL },
	{ "POST",   "/settings/export",	R_SESSION | R_CSRF | R_SUSPENDED_OK, page_settings_export, 0, NULL },
	{ "GET",    "/usage",		R_SESSION,		page_usage,		0, NULL },
	{ "GET",    "/models",		R_PUBLIC,		page_models,		0, NULL },
	{ "GET",    "/quickstart",	R_SESSION,		page_quickstart,	0, NULL },
	{ "GET",    "/admin",		R_ADMIN,		page_admin,		0, NULL },
	{ "GET",    "/admin/users",	R_ADMIN,		page_admin_users,	0, NULL },
	{ "GET",    "/admin/users/{id}", R_ADMIN,		page_admin_user,	0, NO_USER },
	{ "POST",   "/admin/users/{id}/suspend", R_ADMIN | R_CSRF, page_admin_user_suspend, 0, NO_USER },
	{ "POST",   "/admin/users/{id}/unsuspend", R_ADMIN | R_CSRF, page_admin_user_unsuspend, 0, NO_USER },
	{ "POST",   "/admin/users/{id}/ban", R_ADMIN | R_CSRF,	page_admin_user_ban,	0, NO_USER },
	{ "GET",    "/admin/nodes",	R_ADMIN,		page_admin_nodes,	0, NULL },
	{ "GET",    "/admin/jobs",	R_ADMIN,		page_admin_jobs,	0, NULL },
	{ "POST",   "/admin/nodes/{id}/suspend", R_ADMIN | R_CSRF, page_admin_suspend, 0, NULL },
	{ "POST",   "/admin/nodes/{id}/unsuspend", R_ADMIN | R_CSRF, page_admin_unsuspend, 0, NULL },
	{ "GET",    "/keys",		R_SESSION,		page_keys,		0, NULL },
	{ "POST",   "/keys",		R_SESSION | R_CSRF,	page_keys_create,	0, NULL },
	{ "POST",   "/keys/{id}/revoke",	R_SESSION | R_CSRF | R_SUSPENDED_OK, page_keys_revoke, 0, NULL },
	{ "GET",    "/nodes",		R_SESSION,		page_nodes,		0, NULL },
	{ "POST",   "/nodes",		R_SESSION | R_CSRF,	page_nodes_create,	0, NULL },
	{ "POST",   "/nodes/{id}/prices",	R_SESSION | R_CSRF,	page_nodes_prices,	0, NULL },
	{ "POST",   "/nodes/{id}/token",	R_SESSION | R_CSRF,	page_nodes_token,	0, NULL },
	{ "POST",   "/nodes/{id}/delete",	R_SESSION | R_CSRF,	page_nodes_delete,	0, NULL },
	{ "GET",    "/v1/me",		R_EITHER,		api_me,			0, NULL },
	{ "GET",    "/v1/me/transfers",	R_EITHER,		api_me_transfers,	0, NULL },
	{ "GET",    "/v1/me/export",	R_EITHER,		api_me_export,		0, NULL },
	{ "GET",    "/v1/me/topups",	R_EITHER,		api_topups_list,	0, NULL },
	{ "POST",   "/v1/me/topups",	R_EITHER | R_CSRF | R_JSON, api_topups_create,	0, NULL },
	{ "GET",    "/billing",		R_SESSION,		page_billing,		0, NULL },
	{ "POST",   "/billing/topup",	R_SESSION | R_CSRF,	page_billing_topup,	0, NULL },
	{ "GET",    "/billing/pay/{id}", R_SESSION,		page_billing_pay,	0, NO_TOPUP },
	{ "GET",    "/billing/success",	R_SESSION,		page_billing_success,	0, NULL },
	{ "GET",    "/billing/cancel",	R_SESSION,		page_billing_cancel,	0, NULL },
	{ "GET",    "/admin/billing",	R_ADMIN,		page_admin_billing,	0, NULL },
	{ "POST",   "/hooks/stripe",	R_PUBLIC,		hook_stripe,		256 * 1024, NULL },
	{ "GET",    "/v1/me/payouts",	R_EITHER,		api_payouts_list,	0, NULL },
	{ "POST",   "/v1/me/payouts",	R_SESSION | R_CSRF | R_JSON, api_payouts_create, 0, NULL },
	{ "GET",    "/v1/me/payout_settings", R_EITHER,		api_payout_settings_get, 0, NULL },
	{ "PUT",    "/v1/me/payout_settings", R_SESSION | R_CSRF | R_JSON, api_payout_settings_put, 0, NULL },
	{ "GET",    "/payouts",		R_SESSION,		page_payouts,		0, NULL },
	{ "POST",   "/payouts/request",	R_SESSION | R_CSRF,	page_payouts_request,	0, NULL },
	{ "POST",   "/payouts/settings",	R_SESSION | R_CSRF,	page_payouts_settings,	0, NULL },
	{ "GET",    "/admin/payouts",	R_ADMIN,		page_admin_payouts,	0, NULL },
	{ "POST",   "/admin/payouts/{id}/approve", R_ADMIN | R_CSRF, page_admin_payout_approve, 0, NO_PAYOUT },
	{ "POST",   "/admin/payouts/{id}/cancel", R_ADMIN | R_CSRF, page_admin_payout_cancel, 0, NO_PAYOUT },
	{ "POST",   "/hooks/tremendous", R_PUBLIC,		hook_tremendous,	64 * 1024, NULL },
	{ "GET",    "/v1/me/deletion",	R_EITHER,		api_deletion_get,	0, NULL },
	{ "POST",   "/v1/me/deletion",	R_SESSION | R_CSRF | R_JSON | R_SUSPENDED_OK, api_deletion_ask, 0, NULL },
	{ "DELETE", "/v1/me/deletion",	R_SESSION | R_CSRF | R_SUSPENDED_OK, api_deletion_cancel, 0, NULL },
	{ "GET",    "/v1/me/export/{}",	R_EITHER,		api_me_export_get,	0, NULL },
	{ "GET",    "/v1/keys",		R_SESSION,		api_keys_list,		0, NULL },
	{ "POST",   "/v1/keys",		R_SESSION | R_CSRF | R_JSON, api_keys_create,	0, NULL },
	{ "DELETE", "/v1/keys/{id}",	R_SESSION | R_CSRF | R_SUSPENDED_OK, api_keys_revoke, 0, NO_KEY },
	{ "GET",    "/v1/me/usage",	R_EITHER,		api_me_usage,		0, NULL },
	{ "GET",    "/v1/models",	R_PUBLIC,		api_models_list,	0, NULL },
	{ "GET",    "/v1/models/{*}",	R_PUBLIC,		api_models_get,		0, NULL },
	{ "GET",    "/v1/supplier/nodes", R_EITHER,		api_supplier_nodes,	0, NULL },
	{ "POST",   "/v1/supplier/nodes", R_SESSION | R_CSRF | R_JSON, api_supplier_node_create, 0, NULL },
	{ "GET",    "/v1/supplier/nodes/{id}", R_EITHER,	api_supplier_node,	0, NO_NODE },
	{ "PATCH",  "/v1/supplier/nodes/{id}", R_SESSION | R_CSRF | R_JSON, api_supplier_node_update, 0, NO_NODE },
	{ "DELETE", "/v1/supplier/nodes/{id}", R_SESSION | R_CSRF, api_supplier_node_delete, 0, NO_NODE },
	{ "POST",   "/v1/supplier/nodes/{id}/token", R_SESSION | R_CSRF, api_supplier_node_token, 0, NO_NODE },
	{ "GET",    "/v1/supplier/usage", R_EITHER,		api_supplier_usage,	0, NULL },
	{ "GET",    "/v1/receipts/{task}", R_EITHER,		api_receipt,		0, NO_RECEIPT },
	{ "GET",    "/.well-known/infrpool-receipt-keys", R_PUBLIC, api_receipt_keys, 0, NULL },
	{ "GET",    "/internal/ping",	R_INTERNAL,		api_internal_ping,	0, NULL },
	{ "POST",   "/internal/settle",	R_INTERNAL | R_JSON,	api_internal_settle,	0, NULL },
	{ "POST",   "/internal/lease",	R_INTERNAL | R_JSON,	api_internal_lease,	0, NULL },
	{ "POST",   "/internal/candidates", R_INTERNAL | R_JSON, api_internal_candidates, 0, NULL },
	{ "POST",   "/internal/changes", R_INTERNAL | R_JSON,	api_internal_changes,	0, NULL },
	{ "POST",   "/internal/worker/auth", R_INTERNAL | R_JSON, api_worker_auth,	0, NULL },
	{ "POST",   "/internal/worker/seen", R_INTERNAL | R_JSON, api_worker_seen,	0, NULL },
};
#define NROUTES	(sizeof(routes) / sizeof(routes[0]))

/* The length of the placeholder ("{}", "{id}", "{task}", "{*}") at p, or 0. */
static size_t
placeholder(const char *p)
{
	if (strncmp(p, "{}", 2) == 0)
		return 2;
	if (strncmp(p, "{task}", 6) == 0)
		return 6;
	if (strncmp(p, "{*}", 3) == 0)
		return 3;
	return strncmp(p, "{id}", 4) == 0 ? 4 : 0;
}

/*
 * Match pattern against the path as sent; "{}" and "{id}" take one
 * non-empty segment, decoded only after the match, so an id may hold
 * "%2F"; "{*}" (last in a pattern) takes the non-empty rest, slashes and
 * all. The {id} segment is only found here; check_inputs() validates it.
 */
static int
match(const char *pattern, const char *path, struct req *r)
{
	size_t	n, ph;

	r->nparams = 0;
	r->id_param = -1;
	r->task_param = -1;
	while (*pattern != '\0') {
		if ((ph = placeholder(pattern)) > 0) {
			n = ph == 3 ? strlen(path) : strcspn(path, "/");
			if (n == 0 || r->nparams == REQ_MAX_PARAMS ||
			    (r->params[r->nparams] = url_decode(r->arena, path,
			    n, 0)) == NULL)
				return 0;
			if (ph == 4)
				r->id_param = (int)r->nparams;
			else if (ph == 6)
				r->task_param = (int)r->nparams;
			r->nparams++;
			path += n;
			pattern += ph;
		} else if (*pattern++ != *path++)
			return 0;
	}
	return *path == '\0';
}

/* s as an id: 1 to 18 digits, not 0. Returns it, or 0 when not one. */
static int64_t
parse_id(const char *s)
{
	int64_t	v = 0;
	size_t	n = strlen(s);

	if (n < 1 || n > 18 || strspn(s, "0123456789") != n)
		return 0;
	for (; *s != '\0'; s++)
		v = v * 10 + (*s - '0');
	return v;
}

/* 1 when s is a task id: "t_" and 24 base62 characters. */
static int
task_id_ok(const char *s)
{
	return strlen(s) == 26 && strncmp(s, "t_", 2) == 0 &&
	    strspn(s + 2, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz") == 24;
}

/*
 * Turn the inputs the route declares into validated values before its
 * handler runs: the {id} segment into r->path_id and the {task} one into
 * r->path_task (404, with the route's message, when it is not one) and, with R_JSON, the body into r->json
 * (400 invalid_json in the API's shape). Returns 0, or the status it
 * answered with.
 */
static int
check_inputs(struct req *r, const struct route *rt)
{
	char	err[256];

	if (r->id_param >= 0 &&
	    (r->path_id = parse_id(r->params[r->id_param])) == 0)
		return resp_error(r, 404, rt->none);
	if (r->task_param >= 0) {
		if (!task_id_ok(r->params[r->task_param]))
			return resp_error(r, 404, rt->none);
		r->path_task = r->params[r->task_param];
	}
	if ((rt->flags & R_JSON) &&
	    (r->json = req_json(r, err, sizeof(err))) == NULL)
		return resp_api_error(r, 400, "invalid_request_error",
		    "invalid_json", NULL, err);
	return 0;
}

/* True when the route takes requests of this method (HEAD rides on GET). */
static int
method_ok(const struct route *rt, const char *method)
{
	return strcmp(rt->method, method) == 0 ||
	    (strcmp(method, "HEAD") == 0 && strcmp(rt->method, "GET") == 0);
}

/*
 * Find the route for r. Returns it, or NULL with *status 404 (no such
 * path) or 405 (path known, method not; Allow is set).
 */
static const struct route *
find_route(struct req *r, int *status)
{
	struct str	 allow = STR_INIT;
	size_t		 i;

	*status = 404;
	for (i = 0; i < NROUTES; i++) {
		if (!match(routes[i].pattern, r->raw_path, r))
			continue;
		if (method_ok(&routes[i], r->method))
			break;
		str_printf(&allow, "%s%s%s", allow.len ? ", " : "",
		    routes[i].method, strcmp(routes[i].method, "GET") == 0 ?
		    ", HEAD" : "");
		*status = 405;
	}
	if (i == NROUTES && allow.len > 0)
		resp_header(r, "Allow", str_cstr(&allow));
	str_free(&allow);
	return i < NROUTES ? &routes[i] : NULL;
}

/* The relay's shared secret, compared in constant time. */
static int
internal_ok(struct req *r)
{
	const char	*got = req_header(r, "X-Infrpool-Secret");

	return r->app->internal_secret[0] != '\0' && got != NULL &&
	    crypto_streq(got, r->app->internal_secret);
}

/*
 * Check what the route's flags ask for; 0 when the handler may run, or
 * the error status. Internal routes know no users.
 */
static int
check_access(struct req *r, const struct route *rt)
{
	if (rt->flags & R_INTERNAL)
		return internal_ok(r) ? 0 : 403;
	return auth_check(r, rt->flags);
}

/* Does this method carry a body we must read? */
static int
has_body(const char *method)
{
	return strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
	    strcmp(method, "PATCH") == 0 || strcmp(method, "DELETE") == 0;
}

/* The declared body is larger than any route would take: 413 early. */
static int
too_large(struct req *r, const struct route *rt)
{
	const char	*cl = req_param(r, "CONTENT_LENGTH");
	size_t		 max = rt && rt->max_body ? rt->max_body : r->app->max_body;

	return cl != NULL && *cl >= '0' && *cl <= '9' &&
	    strtoull(cl, NULL, 10) > max;
}

/*
 * Parse r, find its route, and run the checks the route's flags ask for
 * (body size, access, CSRF, then the declared inputs) before its handler;
 * answer every error the handler leaves without a body.
 */
void
route_dispatch(struct req *r)
{
	const struct route	*rt;
	int			 status;

	if ((status = req_parse(r)) != 0) {
		resp_error(r, status, "The request line could not be parsed.");
		return;
	}
	rt = find_route(r, &status);
	r->route = rt;
	if (rt != NULL && (rt->flags & R_INTERNAL))
		r->api = 1;	/* the relay reads errors as JSON */
	if (too_large(r, rt)) {
		resp_error(r, 413, "The request body is too large.");
		return;
	}
	if (rt == NULL) {
		/* Who is asking, for the page's navigation; no error if none. */
		(void)auth_check(r, R_PUBLIC);
		resp_error(r, status, status == 404 ?
		    "There is nothing at this address." :
		    "This address does not take that method.");
		return;
	}
	if (has_body(r->method) && ((status = req_read_body(r, rt->max_body ?
	    rt->max_body : r->app->max_body)) != 0 ||
	    (status = req_parse_form(r)) != 0)) {
		resp_error(r, status, status == 413 ?
		    "The request body is too large." :
		    "The request body could not be read.");
		return;
	}
	if ((status = check_access(r, rt)) != 0) {
		if (status == 303 || r->out.len > 0)
			return;		/* redirected, or answered already */
		resp_error(r, status, status != 403 ? NULL :
		    (rt->flags & R_ADMIN) && !auth_is_admin(r) ?
		    "This page is for the platform's operators." :
		    (rt->flags & R_CSRF) ? "The form expired or did not come "
		    "from this site: reload the page and try again." : NULL);
		return;
	}
	if (check_inputs(r, rt) != 0)
		return;
	status = rt->fn(r);
	if (status >= 400 && r->out.len == 0)
		resp_error(r, status, NULL);
	else
		r->status = status;
}
