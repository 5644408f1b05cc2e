/* api_supplier.c: /v1/supplier/nodes: a supplier's nodes, the models they serve, prices */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "arena.h"
#include "json.h"
#include "log.h"
#include "node.h"

/* A validation failure: the field and what is wrong with it. */
struct verr {
	const char	*param;
	char		 msg[256];
};

static const char *const create_fields[] = { "name", "supply_type",
	"connection", "max_concurrency", "context_length", "base_url",
	"api_token", "models", NULL };
static const char *const update_fields[] = { "name", "max_concurrency",
	"context_length", "base_url", "api_token", "models", NULL };
static const char *const model_fields[] = { "model", "upstream_model",
	"price_in", "price_out", NULL };

/* Name param as the field a getter's message (already in e) is about; -1. */
static int
named(struct verr *e, const char *param)
{
	e->param = param;
	return -1;
}

/* Record a failure of param with message msg; returns -1. */
static int
fail(struct verr *e, const char *param, const char *msg)
{
	e->param = param;
	snprintf(e->msg, sizeof(e->msg), "%s", msg);
	return -1;
}

/* The first key of obj not in allowed, or NULL. */
static const char *
unknown_field(json_t *obj, const char *const *allowed)
{
	const char	*key;
	json_t		*v;
	size_t		 i;

	json_object_foreach(obj, key, v) {
		for (i = 0; allowed[i] != NULL; i++)
			if (strcmp(key, allowed[i]) == 0)
				break;
		if (allowed[i] == NULL)
			return key;
	}
	return NULL;
}

/* Get string field key into *out (absent or null: untouched); 0 or -1. */
static int
get_str(json_t *obj, const char *key, const char *param, int required,
    const char **out, struct verr *e)
{
	if (json_get_str(obj, key, required, out, e->msg, sizeof(e->msg)) < 0)
		return named(e, param);
	return 0;
}

/*
 * Get integer field key into *out (absent or null: untouched); its range
 * is node_spec_check's. A given 0 becomes -1, as 0 in a spec means "leave
 * it as it is". 0 or -1.
 */
static int
get_int(json_t *obj, const char *key, const char *param, int required,
    long long *out, struct verr *e)
{
	enum json_get	rc;

	rc = json_get_int(obj, key, required, LLONG_MIN, LLONG_MAX, out, e->msg,
	    sizeof(e->msg));
	if (rc < 0)
		return named(e, param);
	if (rc == JSON_GET_OK && *out == 0)
		*out = -1;
	return 0;
}

/* Read models[i] into m; 0 or -1 for a field of the wrong type. */
static int
parse_model(struct req *r, json_t *o, size_t i, struct node_model *m,
    struct verr *e)
{
	const char	*key, *param;
	long long	 pin = 0, pout = 0;

	param = arena_printf(r->arena, "models[%zu]", i);
	if (!json_is_object(o))
		return fail(e, param, "each model must be an object");
	if ((key = unknown_field(o, model_fields)) != NULL)
		return fail(e, arena_printf(r->arena, "%s.%s", param, key),
		    "unknown field: a model takes model, upstream_model,"
		    " price_in and price_out");
	if (get_str(o, "model", arena_printf(r->arena, "%s.model", param), 1,
	    &m->model, e) == -1 ||
	    get_str(o, "upstream_model", arena_printf(r->arena,
	    "%s.upstream_model", param), 1, &m->upstream_model, e) == -1 ||
	    get_int(o, "price_in", arena_printf(r->arena, "%s.price_in", param),
	    1, &pin, e) == -1 ||
	    get_int(o, "price_out", arena_printf(r->arena, "%s.price_out",
	    param), 1, &pout, e) == -1)
		return -1;
	m->price_in = pin;
	m->price_out = pout;
	return 0;
}

/* Read the "models" array into spec (absent: unchanged unless required). */
static int
parse_models(struct req *r, json_t *body, int required,
    struct node_spec *spec, struct verr *e)
{
	json_t			*list = json_object_get(body, "models");
	struct node_model	*m;
	size_t			 i, n;

	if (list == NULL || json_is_null(list))
		return required ? fail(e, "models", "'models' is required") : 0;
	if (!json_is_array(list))
		return fail(e, "models", "'models' must be an array of 1 to 100"
		    " models");
	n = json_array_size(list);
	m = arena_calloc(r->arena, n ? n : 1, sizeof(*m));
	for (i = 0; i < n; i++)
		if (parse_model(r, json_array_get(list, i), i, &m[i], e) == -1)
			return -1;
	spec->models = m;
	spec->nmodels = n;
	return 0;
}

/*
 * Read base_url and api_token for a node of this connection. On an
 * endpoint, base_url is required when creating; an api_token of null
 * clears it. A worker takes neither: any value given is kept for the
 * check to refuse. 0 or -1.
 */
static int
parse_endpoint(json_t *body, int create, const char *connection,
    struct node_spec *spec, struct verr *e)
{
	json_t	*tok = json_object_get(body, "api_token");
	json_t	*url = json_object_get(body, "base_url");

	if (connection == NULL || strcmp(connection, "endpoint") != 0) {
		if (url != NULL && !json_is_null(url))
			spec->base_url = "";
		if (tok != NULL && !json_is_null(tok))
			spec->api_token = "";
		return 0;
	}
	if ((url != NULL || create) && get_str(body, "base_url", "base_url", 1,
	    &spec->base_url, e) == -1)
		return -1;
	if (tok != NULL && json_is_null(tok))
		spec->api_token = create ? NULL : "";
	else if (get_str(body, "api_token", "api_token", 0, &spec->api_token,
	    e) == -1)
		return -1;
	return 0;
}

/* The message for what node_spec_check() found wrong first; -1. */
static int
explain(struct req *r, const struct node_check *c, const char *connection,
    struct verr *e)
{
	const char	*m = arena_printf(r->arena, "models[%zu]", c->model);
	int		 worker = connection == NULL ||
			    strcmp(connection, "endpoint") != 0;
	int		 f;

	for (f = 0; f < NODE_F__MAX && !(c->bad & NODE_BAD(f)); f++)
		;
	switch (f) {
	case NODE_F_NAME:
		return fail(e, "name", "'name' must be 1 to 100 characters"
		    " without control characters");
	case NODE_F_SUPPLY_TYPE:
		return fail(e, "supply_type", "'supply_type' must be"
		    " \"self_hosted\" or \"cloud\"");
	case NODE_F_CONNECTION:
		return fail(e, "connection", "'connection' must be \"worker\""
		    " or \"endpoint\"");
	case NODE_F_CONCURRENCY:
		return fail(e, "max_concurrency", "'max_concurrency' must be an"
		    " integer between 1 and 1024");
	case NODE_F_CONTEXT:
		return fail(e, "context_length", "'context_length' must be an"
		    " integer between 1 and 10000000");
	case NODE_F_BASE_URL:
		return fail(e, "base_url", worker ? "'base_url' is only for"
		    " endpoint nodes" : "'base_url' must be an http:// or"
		    " https:// URL of at most 500 characters");
	case NODE_F_API_TOKEN:
		return fail(e, "api_token", worker ? "'api_token' is only for"
		    " endpoint nodes" : "'api_token' must be at most 4096"
		    " visible ASCII characters");
	case NODE_F_MODELS:
		return fail(e, "models", "'models' must be an array of 1 to 100"
		    " models");
	case NODE_F_MODEL:
		return fail(e, arena_printf(r->arena, "%s.model", m), "'model'"
		    " must be 1 to 100 characters of A-Z, a-z, 0-9 and"
		    " . _ : / -");
	case NODE_F_UPSTREAM:
		return fail(e, arena_printf(r->arena, "%s.upstream_model", m),
		    "'upstream_model' must be 1 to 200 characters without"
		    " control characters");
	case NODE_F_PRICE_IN:
		return fail(e, arena_printf(r->arena, "%s.price_in", m),
		    "'price_in' must be an integer between 1 and"
		    " 1000000000000");
	case NODE_F_PRICE_OUT:
		return fail(e, arena_printf(r->arena, "%s.price_out", m),
		    "'price_out' must be an integer between 1 and"
		    " 1000000000000");
	default:
		return fail(e, arena_printf(r->arena, "%s.model", m),
		    "each model may appear once on a node");
	}
}

/*
 * Read a node body into spec, its fields of the right JSON types, and
 * check it with node_spec_check(): every field when creating, the given
 * ones when editing a node of this connection. 0 or -1 with e set.
 */
static int
parse_node(struct req *r, json_t *body, int create, const char *connection,
    struct node_spec *spec, struct verr *e)
{
	struct node_check	 c;
	const char		*key;

	memset(spec, 0, sizeof(*spec));
	if ((key = unknown_field(body, create ? create_fields :
	    update_fields)) != NULL)
		return fail(e, key, strcmp(key, "supply_type") == 0 ||
		    strcmp(key, "connection") == 0 ? "this field cannot be"
		    " changed: register a new node instead" :
		    "unknown field");
	if (get_str(body, "name", "name", create, &spec->name, e) == -1)
		return -1;
	if (create && (get_str(body, "supply_type", "supply_type", 1,
	    &spec->supply_type, e) == -1 || get_str(body, "connection",
	    "connection", 1, &spec->connection, e) == -1))
		return -1;
	if (create)
		connection = spec->connection;
	if (get_int(body, "max_concurrency", "max_concurrency", create,
	    &spec->max_concurrency, e) == -1 ||
	    get_int(body, "context_length", "context_length", create,
	    &spec->context_length, e) == -1 ||
	    parse_endpoint(body, create, connection, spec, e) == -1 ||
	    parse_models(r, body, create, spec, e) == -1)
		return -1;
	if (node_spec_check(spec, create, connection, &c) == -1)
		return explain(r, &c, connection, e);
	return 0;
}

/* The 404 for a node that is not the caller's or is gone. */
static int
no_node(struct req *r)
{
	return resp_api_error(r, 404, "invalid_request_error", "not_found",
	    NULL, "No such node.");
}

/* The 503 for a token to store without [crypto] keys. */
static int
no_keys(struct req *r)
{
	return resp_api_error(r, 503, "server_error", "service_unavailable",
	    "api_token", "API tokens cannot be stored: the operator has not"
	    " configured [crypto] keys.");
}

/*
 * Answer with node id of the caller as it is now, with status, adding
 * "node_token" when token is a new worker token to show this once.
 */
static int
send_node(struct req *r, int status, int64_t id, const char *token)
{
	json_t	*node;

	switch (node_get(r->app->db, r->arena, r->auth.user_id, id, &node)) {
	case NODE_OK:
		json_arena(r->arena, node);
		if (token != NULL && *token != '\0')
			json_object_set_new(node, "node_token",
			    json_string(token));
		return resp_json(r, status, node);
	case NODE_NOT_FOUND:
		return no_node(r);
	default:
		return 500;
	}
}

/* GET /v1/supplier/nodes: the caller's nodes, newest first. */
int
api_supplier_nodes(struct req *r)
{
	json_t	*nodes = json_arena(r->arena, node_list(r->app->db, r->arena,
		    r->auth.user_id));

	if (nodes == NULL)
		return 500;
	return resp_json(r, 200, json_arena(r->arena, json_pack("{s:s, s:O}",
	    "object", "list", "data", nodes)));
}

/* GET /v1/supplier/nodes/{id} */
int
api_supplier_node(struct req *r)
{
	return send_node(r, 200, r->path_id, NULL);
}

/* POST /v1/supplier/nodes: register a node with its models; 201. */
int
api_supplier_node_create(struct req *r)
{
	struct node_spec	 spec;
	struct verr		 e;
	int64_t			 id;
	char			 token[NODE_WTOKEN_LEN + 1];
	int			 rc;

	if (parse_node(r, r->json, 1, NULL, &spec, &e) == -1)
		return resp_bad(r, e.param, e.msg);
	switch (node_create(r->app->db, r->arena, &r->app->keys,
	    r->auth.user_id, &spec, &id, token)) {
	case NODE_OK:
		break;
	case NODE_NO_KEYS:
		return no_keys(r);
	default:
		return 500;
	}
	log_info("node %lld registered (%s, %zu models)", (long long)id,
	    spec.connection, spec.nmodels);
	/* The worker's token is in this response only, never again. */
	rc = send_node(r, 201, id, token);
	explicit_bzero(token, sizeof(token));
	return rc;
}

/* PATCH /v1/supplier/nodes/{id}: change the fields given. */
int
api_supplier_node_update(struct req *r)
{
	struct node_spec	 spec;
	struct verr		 e;
	json_t			*node;
	int64_t			 id = r->path_id;
	const char		*conn;

	switch (node_get(r->app->db, r->arena, r->auth.user_id, id, &node)) {
	case NODE_OK:
		json_arena(r->arena, node);
		break;
	case NODE_NOT_FOUND:
		return no_node(r);
	default:
		return 500;
	}
	conn = json_string_value(json_object_get(node, "connection"));
	if (parse_node(r, r->json, 0, conn, &spec, &e) == -1)
		return resp_bad(r, e.param, e.msg);
	switch (node_update(r->app->db, r->arena, &r->app->keys,
	    r->auth.user_id, id, &spec)) {
	case NODE_OK:
		log_info("node %lld updated", (long long)id);
		return send_node(r, 200, id, NULL);
	case NODE_NOT_FOUND:
		return no_node(r);
	case NODE_NO_KEYS:
		return no_keys(r);
	default:
		return 500;
	}
}

/* DELETE /v1/supplier/nodes/{id}: never listed or routed again. */
int
api_supplier_node_delete(struct req *r)
{
	int64_t	id = r->path_id;

	switch (node_delete(r->app->db, r->arena, r->auth.user_id, id)) {
	case NODE_OK:
		log_info("node %lld deleted", (long long)id);
		return resp_json(r, 200, json_arena(r->arena,
		    json_pack("{s:I, s:s, s:b}", "id",
		    (json_int_t)id, "object", "node", "deleted", 1)));
	case NODE_NOT_FOUND:
		return no_node(r);
	default:
		return 500;
	}
}

/*
 * POST /v1/supplier/nodes/{id}/token: a new node token for a worker node,
 * shown in this answer only; the old one stops opening at once. An
 * endpoint node has none: 400.
 */
int
api_supplier_node_token(struct req *r)
{
	char	token[NODE_WTOKEN_LEN + 1];
	int64_t	id = r->path_id;
	int	rc;

	switch (node_rotate_token(r->app->db, r->arena, r->auth.user_id, id,
	    token)) {
	case NODE_OK:
		break;
	case NODE_NOT_FOUND:
		return no_node(r);
	case NODE_NOT_WORKER:
		return resp_bad(r, NULL, "Only worker nodes have a node token; an"
		    " endpoint node is called with its api_token.");
	default:
		return 500;
	}
	log_info("node %lld: node token rotated", (long long)id);
	rc = send_node(r, 200, id, token);
	explicit_bzero(token, sizeof(token));
	return rc;
}
