/* route.c: the route table, and the checks each route's flags ask for */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "arena.h"
#include "crypto.h"
#include "log.h"

static const struct route routes[] = {
	{ "GET",  "/",			R_PUBLIC,	page_home,		0 },
	{ "GET",  "/healthz",		R_PUBLIC,	api_healthz,		0 },
	{ "GET",  "/internal/ping",	R_INTERNAL,	api_internal_ping,	0 },
};
#define NROUTES	(sizeof(routes) / sizeof(routes[0]))

/* Match pattern against path; "{}" takes one non-empty segment. */
static int
match(const char *pattern, const char *path, struct req *r)
{
	size_t	n;

	r->nparams = 0;
	while (*pattern != '\0') {
		if (pattern[0] == '{' && pattern[1] == '}') {
			n = strcspn(path, "/");
			if (n == 0 || r->nparams == REQ_MAX_PARAMS)
				return 0;
			r->params[r->nparams++] = arena_strndup(r->arena, path, n);
			path += n;
			pattern += 2;
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
		if (!match(routes[i].pattern, r->path, r))
			continue;
		if (method_ok(&routes[i], r->method))
			break;
		str_printf(&allow, "%s%s", allow.len ? ", " : "",
		    routes[i].method);
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
 * the error status. Sessions, API keys and CSRF tokens come with the
 * accounts: until then no caller can hold one, so such routes refuse.
 */
static int
check_access(struct req *r, const struct route *rt)
{
	if ((rt->flags & R_INTERNAL) && !internal_ok(r))
		return 403;
	if (rt->flags & (R_SESSION | R_APIKEY))
		return 401;
	if (rt->flags & R_CSRF)
		return 403;
	return 0;
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

	return cl != NULL && *cl != '\0' && strtoull(cl, NULL, 10) > max;
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
	if (too_large(r, rt)) {
		resp_error(r, 413, "The request body is too large.");
		return;
	}
	if (rt == NULL) {
		resp_error(r, status, status == 404 ?
		    "There is nothing at this address." :
		    "This address does not take that method.");
		return;
	}
	if ((status = check_access(r, rt)) != 0) {
		resp_error(r, status, NULL);
		return;
	}
	if (has_body(r->method) && (status = req_read_body(r, rt->max_body ?
	    rt->max_body : r->app->max_body)) != 0) {
		resp_error(r, status, status == 413 ?
		    "The request body is too large." :
		    "The request body is shorter than its Content-Length.");
		return;
	}
	status = rt->fn(r);
	if (status >= 400 && r->out.len == 0)
		resp_error(r, status, NULL);
	else
		r->status = status;
}
