/* route.c: the route table, and the checks each route's flags ask for */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "arena.h"
#include "crypto.h"
#include "log.h"

#define R_EITHER	(R_SESSION | R_APIKEY)

static const struct route routes[] = {
	{ "GET",    "/",		R_PUBLIC,		page_home,		0 },
	{ "GET",    "/healthz",		R_PUBLIC,		api_healthz,		0 },
	{ "GET",    "/signup",		R_PUBLIC,		page_signup_form,	0 },
	{ "POST",   "/signup",		R_PUBLIC | R_CSRF,	page_signup,		0 },
	{ "GET",    "/login",		R_PUBLIC,		page_login_form,	0 },
	{ "POST",   "/login",		R_PUBLIC | R_CSRF,	page_login,		0 },
	{ "POST",   "/logout",		R_SESSION | R_CSRF,	page_logout,		0 },
	{ "GET",    "/account",		R_SESSION,		page_account,		0 },
	{ "POST",   "/account/password", R_SESSION | R_CSRF,	page_password,		0 },
	{ "GET",    "/settings",	R_SESSION,		page_settings,		0 },
	{ "GET",    "/usage",		R_SESSION,		page_usage,		0 },
	{ "GET",    "/models",		R_PUBLIC,		page_models,		0 },
	{ "GET",    "/quickstart",	R_SESSION,		page_quickstart,	0 },
	{ "GET",    "/admin",		R_ADMIN,		page_admin,		0 },
	{ "GET",    "/admin/users",	R_ADMIN,		page_admin_users,	0 },
	{ "GET",    "/admin/nodes",	R_ADMIN,		page_admin_nodes,	0 },
	{ "POST",   "/admin/nodes/{}/suspend", R_ADMIN | R_CSRF, page_admin_suspend, 0 },
	{ "POST",   "/admin/nodes/{}/unsuspend", R_ADMIN | R_CSRF, page_admin_unsuspend, 0 },
	{ "GET",    "/keys",		R_SESSION,		page_keys,		0 },
	{ "POST",   "/keys",		R_SESSION | R_CSRF,	page_keys_create,	0 },
	{ "POST",   "/keys/{}/revoke",	R_SESSION | R_CSRF,	page_keys_revoke,	0 },
	{ "GET",    "/nodes",		R_SESSION,		page_nodes,		0 },
	{ "POST",   "/nodes",		R_SESSION | R_CSRF,	page_nodes_create,	0 },
	{ "POST",   "/nodes/{}/prices",	R_SESSION | R_CSRF,	page_nodes_prices,	0 },
	{ "POST",   "/nodes/{}/token",	R_SESSION | R_CSRF,	page_nodes_token,	0 },
	{ "POST",   "/nodes/{}/delete",	R_SESSION | R_CSRF,	page_nodes_delete,	0 },
	{ "GET",    "/v1/me",		R_EITHER,		api_me,			0 },
	{ "GET",    "/v1/me/transfers",	R_EITHER,		api_me_transfers,	0 },
	{ "GET",    "/v1/me/export",	R_EITHER,		api_me_export,		0 },
	{ "GET",    "/v1/keys",		R_SESSION,		api_keys_list,		0 },
	{ "POST",   "/v1/keys",		R_SESSION | R_CSRF,	api_keys_create,	0 },
	{ "DELETE", "/v1/keys/{}",	R_SESSION | R_CSRF,	api_keys_revoke,	0 },
	{ "GET",    "/v1/me/usage",	R_EITHER,		api_me_usage,		0 },
	{ "GET",    "/v1/models",	R_PUBLIC,		api_models_list,	0 },
	{ "GET",    "/v1/models/{*}",	R_PUBLIC,		api_models_get,		0 },
	{ "GET",    "/v1/supplier/nodes", R_EITHER,		api_supplier_nodes,	0 },
	{ "POST",   "/v1/supplier/nodes", R_SESSION | R_CSRF,	api_supplier_node_create, 0 },
	{ "GET",    "/v1/supplier/nodes/{}", R_EITHER,		api_supplier_node,	0 },
	{ "PATCH",  "/v1/supplier/nodes/{}", R_SESSION | R_CSRF, api_supplier_node_update, 0 },
	{ "DELETE", "/v1/supplier/nodes/{}", R_SESSION | R_CSRF, api_supplier_node_delete, 0 },
	{ "POST",   "/v1/supplier/nodes/{}/token", R_SESSION | R_CSRF, api_supplier_node_token, 0 },
	{ "GET",    "/v1/supplier/usage", R_EITHER,		api_supplier_usage,	0 },
	{ "GET",    "/internal/ping",	R_INTERNAL,		api_internal_ping,	0 },
	{ "POST",   "/internal/admit",	R_INTERNAL,		api_internal_admit,	0 },
	{ "POST",   "/internal/settle",	R_INTERNAL,		api_internal_settle,	0 },
	{ "POST",   "/internal/worker/auth", R_INTERNAL,	api_worker_auth,	0 },
	{ "POST",   "/internal/worker/seen", R_INTERNAL,	api_worker_seen,	0 },
};
#define NROUTES	(sizeof(routes) / sizeof(routes[0]))

/*
 * Match pattern against the path as sent; "{}" takes one non-empty
 * segment, decoded only after the match, so an id may hold "%2F"; "{*}"
 * (last in a pattern) takes the non-empty rest, slashes and all.
 */
static int
match(const char *pattern, const char *path, struct req *r)
{
	size_t	n;
	int	rest;

	r->nparams = 0;
	while (*pattern != '\0') {
		rest = strncmp(pattern, "{*}", 3) == 0;
		if (rest || (pattern[0] == '{' && pattern[1] == '}')) {
			n = rest ? strlen(path) : strcspn(path, "/");
			if (n == 0 || r->nparams == REQ_MAX_PARAMS ||
			    (r->params[r->nparams] = url_decode(r->arena, path,
			    n, 0)) == NULL)
				return 0;
			r->nparams++;
			path += n;
			pattern += rest ? 3 : 2;
		} else if (*pattern++ != *path++)
			return 0;
	}
	return *path == '\0';
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
		if (status == 303)
			return;
		resp_error(r, status, status != 403 ? NULL :
		    (rt->flags & R_ADMIN) && !auth_is_admin(r) ?
		    "This page is for the platform's operators." :
		    (rt->flags & R_CSRF) ? "The form expired or did not come "
		    "from this site: reload the page and try again." : NULL);
		return;
	}
	status = rt->fn(r);
	if (status >= 400 && r->out.len == 0)
		resp_error(r, status, NULL);
	else
		r->status = status;
}
