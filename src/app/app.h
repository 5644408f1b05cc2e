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

/* Settings and shared handles of one app process. */
struct app {
	struct cfg	*cfg;
	struct db	*db;
	struct tmpl_set	*tmpl;
	size_t		 max_body;
	const char	*internal_secret;	/* "" disables /internal/ */
	const char	*site_name;
};

/* Route flags: who may call and what the dispatcher checks first. */
#define R_PUBLIC	0x01	/* anyone */
#define R_SESSION	0x02	/* a logged-in browser session */
#define R_APIKEY	0x04	/* Authorization: Bearer <api key> */
#define R_CSRF		0x08	/* a CSRF token in the form or header */
#define R_INTERNAL	0x10	/* the relay, with the shared secret */

struct kv {
	const char	*key;
	const char	*value;
};

struct req;
typedef int (*handler_fn)(struct req *);

struct route {
	const char	*method;
	const char	*pattern;	/* "/v1/models/{}" matches one segment */
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
	const char		*query_string;
	struct kv		*query;
	size_t			 nquery;
	struct kv		*cookies;
	size_t			 ncookies;
	const char		*params[REQ_MAX_PARAMS];	/* {} segments */
	size_t			 nparams;
	char			*body;		/* NUL-terminated */
	size_t			 body_len;
	int			 api;		/* under /v1/: JSON errors */
	const struct route	*route;
	/* The response being built. */
	int			 status;
	const char		*content_type;
	struct str		 headers;	/* extra "Name: value\r\n" lines */
	struct str		 out;
	int			 sent;
};

/* req.c: parse the FastCGI parameters of r->fcgi into r. */
int		 req_parse(struct req *);
const char	*req_param(struct req *, const char *name);
const char	*req_header(struct req *, const char *name);
const char	*req_query(struct req *, const char *key);
const char	*req_cookie(struct req *, const char *name);
int		 req_read_body(struct req *, size_t max);
char		*url_decode(struct arena *, const char *, size_t, int plus);

/* resp.c: build and send the response. */
void		 resp_header(struct req *, const char *name, const char *value);
int		 resp_json(struct req *, int status, json_t *);
int		 resp_page(struct req *, int status, const char *tmpl, json_t *);
int		 resp_error(struct req *, int status, const char *message);
int		 resp_api_error(struct req *, int status, const char *type,
		    const char *code, const char *param, const char *message);
void		 resp_send(struct req *);
const char	*status_text(int);

/* route.c: find the route and run it after the checks its flags ask for. */
void		 route_dispatch(struct req *);

/* Handlers, one file per page or API group. */
int		 api_healthz(struct req *);
int		 api_internal_ping(struct req *);
int		 page_home(struct req *);

#endif
