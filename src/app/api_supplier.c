/* api_supplier.c: /v1/supplier/nodes: a supplier's nodes, the models they serve, prices */
#include "config.h"

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

/* Get text field key (1..max characters, no control characters); 0 or -1. */
static int
get_text(json_t *obj, const char *key, const char *param, int required,
    size_t max, const char **out, struct verr *e)
{
	char	msg[160];
	int	rc;

	rc = json_get_str(obj, key, required, out, e->msg, sizeof(e->msg));
	if (rc < 0)
		return named(e, param);
	if (rc == JSON_GET_OK && !node_text_ok(*out, max)) {
		snprintf(msg, sizeof(msg), "'%s' must be 1 to %zu characters"
		    " without control characters", key, max);
		return fail(e, param, msg);
	}
	return 0;
}

/* Get field key, one of the two words a and b; 0 or -1. */
static int
get_word(json_t *obj, const char *key, const char *a, const char *b,
    const char **out, struct verr *e)
{
	char	msg[160];

	if (json_get_str(obj, key, 1, out, e->msg, sizeof(e->msg)) < 0)
		return named(e, key);
	if (strcmp(*out, a) != 0 && strcmp(*out, b) != 0) {
		snprintf(msg, sizeof(msg), "'%s' must be \"%s\" or \"%s\"", key,
		    a, b);
		return fail(e, key, msg);
	}
	return 0;
}

/* Get integer field key within [min, max]; 0 or -1. */
static int
get_int(json_t *obj, const char *key, const char *param, int required,
    long long min, long long max, long long *out, struct verr *e)
{
	if (json_get_int(obj, key, required, min, max, out, e->msg,
	    sizeof(e->msg)) < 0)
		return named(e, param);
	return 0;
}

/* Parse models[i] into m; 0 or -1. */
static int
parse_model(struct req *r, json_t *o, size_t i, struct node_model *m,
    struct verr *e)
{
	const char	*key, *param;
	long long	 pin, pout;

	param = arena_printf(r->arena, "models[%zu]", i);
	if (!json_is_object(o))
		return fail(e, param, "each model must be an object");
	if ((key = unknown_field(o, model_fields)) != NULL)
		return fail(e, arena_printf(r->arena, "%s.%s", param, key),
		    "unknown field: a model takes model, upstream_model,"
		    " price_in and price_out");
	if (json_get_str(o, "model", 1, &m->model, e->msg,
	    sizeof(e->msg)) < 0)
		return named(e, arena_printf(r->arena, "%s.model", param));
	if (!node_model_id_ok(m->model))
		return fail(e, arena_printf(r->arena, "%s.model", param),
		    "'model' must be 1 to 100 characters of A-Z, a-z, 0-9"
		    " and . _ : / -");
	if (get_text(o, "upstream_model", arena_printf(r->arena,
	    "%s.upstream_model", param), 1, NODE_UPSTREAM_MAX,
	    &m->upstream_model, e) == -1 ||
	    get_int(o, "price_in", arena_printf(r->arena, "%s.price_in", param),
	    1, 1, NODE_PRICE_MAX, &pin, e) == -1 ||
	    get_int(o, "price_out", arena_printf(r->arena, "%s.price_out",
	    param), 1, 1, NODE_PRICE_MAX, &pout, e) == -1)
		return -1;
	m->price_in = pin;
	m->price_out = pout;
	return 0;
}

/* Parse the "models" array into spec (absent: unchanged unless required). */
static int
parse_models(struct req *r, json_t *body, int required,
    struct node_spec *spec, struct verr *e)
{
	json_t			*list = json_object_get(body, "models");
	struct node_model	*m;
	size_t			 i, j, n;

	if (list == NULL || json_is_null(list))
		return required ? fail(e, "models", "'models' is required") : 0;
	n = json_is_array(list) ? json_array_size(list) : 0;
	if (n < 1 || n > NODE_MODELS_MAX)
		return fail(e, "models", "'models' must be an array of 1 to 100"
		    " models");
	m = arena_calloc(r->arena, n, sizeof(*m));
	for (i = 0; i < n; i++) {
		if (parse_model(r, json_array_get(list, i), i, &m[i], e) == -1)
			return -1;
		for (j = 0; j < i; j++)
			if (strcmp(m[i].model, m[j].model) == 0)
				return fail(e, arena_printf(r->arena,
				    "models[%zu].model", i),
				    "each model may appear once on a node");
	}
	spec->models = m;
	spec->nmodels = n;
	return 0;
}

/* 1 when a token is at most NODE_TOKEN_MAX bytes of visible ASCII. */
static int
token_ok(const char *s)
{
	const unsigned char	*p;

	for (p = (const unsigned char *)s; *p != '\0'; p++)
		if (*p <= 0x20 || *p >= 0x7f)
			return 0;
	return p - (const unsigned char *)s <= NODE_TOKEN_MAX;
}

/*
 * Parse base_url and api_token for a node of this connection. On an
 * endpoint, base_url is required when creating; an api_token of null
 * clears it. A worker takes neither. 0 or -1.
 */
static int
parse_endpoint(json_t *body, int create, const char *connection,
    struct node_spec *spec, struct verr *e)
{
	json_t	*tok = json_object_get(body, "api_token");
	json_t	*url = json_object_get(body, "base_url");

	if (strcmp(connection, "worker") == 0) {
		if (url != NULL && !json_is_null(url))
			return fail(e, "base_url", "'base_url' is only for"
			    " endpoint nodes");
		if (tok != NULL && !json_is_null(tok))
			return fail(e, "api_token", "'api_token' is only for"
			    " endpoint nodes");
		return 0;
	}
	if ((url != NULL || create) && (json_get_str(body, "base_url", 1,
	    &spec->base_url, e->msg, sizeof(e->msg)) < 0))
		return named(e, "base_url");
	if (spec->base_url != NULL && !node_url_ok(spec->base_url))
		return fail(e, "base_url", "'base_url' must be an http:// or"
		    " https:// URL of at most 500 characters");
	if (tok != NULL && json_is_null(tok))
		spec->api_token = create ? NULL : "";
	else if (json_get_str(body, "api_token", 0, &spec->api_token, e->msg,
	    sizeof(e->msg)) < 0)
		return named(e, "api_token");
	if (spec->api_token != NULL && !token_ok(spec->api_token))
		return fail(e, "api_token", "'api_token' must be at most 4096"
		    " visible ASCII characters");
	return 0;
}

/*
 * Validate a node body into spec: every field when creating, the given
 * ones when editing a node of this connection. 0 or -1 with e set.
 */
static int
parse_node(struct req *r, json_t *body, int create, const char *connection,
    struct node_spec *spec, struct verr *e)
{
	const char	*key;

	memset(spec, 0, sizeof(*spec));
	if ((key = unknown_field(body, create ? create_fields :
	    update_fields)) != NULL)
		return fail(e, key, strcmp(key, "supply_type") == 0 ||
		    strcmp(key, "connection") == 0 ? "this field cannot be"
		    " changed: register a new node instead" :
		    "unknown field");
	if (get_text(body, "name", "name", create, NODE_NAME_MAX, &spec->name,
	    e) == -1)
		return -1;
	if (create && (get_word(body, "supply_type", "self_hosted", "cloud",
	    &spec->supply_type, e) == -1 || get_word(body, "connection",
	    "worker", "endpoint", &spec->connection, e) == -1))
		return -1;
	if (create)
		connection = spec->connection;
	if (get_int(body, "max_concurrency", "max_concurrency", create, 1,
	    NODE_CONCURRENCY_MAX, &spec->max_concurrency, e) == -1 ||
	    get_int(body, "context_length", "context_length", create, 1,
	    NODE_CONTEXT_MAX, &spec->context_length, e) == -1 ||
	    parse_endpoint(body, create, connection, spec, e) == -1)
		return -1;
	return parse_models(r, body, create, spec, e);
}

/* The node id in the path, or 0 when it is not one. */
static int64_t
path_id(struct req *r)
{
	char		*end;
	long long	 id = strtoll(r->params[0], &end, 10);

	return *end != '\0' || id <= 0 || r->params[0][0] == '+' ? 0 : id;
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
	json_t	*nodes = node_list(r->app->db, r->arena, r->auth.user_id);

	if (nodes == NULL)
		return 500;
	return resp_json(r, 200, json_pack("{s:s, s:o}", "object", "list",
	    "data", nodes));
}

/* GET /v1/supplier/nodes/{id} */
int
api_supplier_node(struct req *r)
{
	int64_t	id = path_id(r);

	return id == 0 ? no_node(r) : send_node(r, 200, id, NULL);
}

/* POST /v1/supplier/nodes: register a node with its models; 201. */
int
api_supplier_node_create(struct req *r)
{
	struct node_spec	 spec;
	struct verr		 e;
	json_t			*body;
	int64_t			 id;
	char			 token[NODE_WTOKEN_LEN + 1];
	int			 rc;

	if ((body = req_json(r)) == NULL)
		return 400;
	if (parse_node(r, body, 1, NULL, &spec, &e) == -1)
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
	json_t			*body, *node;
	int64_t			 id = path_id(r);
	const char		*conn;

	if (id == 0)
		return no_node(r);
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
	if ((body = req_json(r)) == NULL)
		return 400;
	if (parse_node(r, body, 0, conn, &spec, &e) == -1)
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
	int64_t	id = path_id(r);

	if (id == 0)
		return no_node(r);
	switch (node_delete(r->app->db, r->arena, r->auth.user_id, id)) {
	case NODE_OK:
		log_info("node %lld deleted", (long long)id);
		return resp_json(r, 200, json_pack("{s:I, s:s, s:b}", "id",
		    (json_int_t)id, "object", "node", "deleted", 1));
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
	int64_t	id = path_id(r);
	int	rc;

	if (id == 0)
		return no_node(r);
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
