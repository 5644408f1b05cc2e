/* node.h: supplier nodes, the models they serve at their prices, the catalog */
#ifndef IP_NODE_H
#define IP_NODE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct arena;
struct crypto_keyring;
struct db;

#define NODE_NAME_MAX		100	/* characters */
#define NODE_MODEL_MAX		100	/* a public model id: [A-Za-z0-9._:/-] */
#define NODE_UPSTREAM_MAX	200	/* characters */
#define NODE_URL_MAX		500	/* bytes, http:// or https:// */
#define NODE_TOKEN_MAX		4096	/* bytes of an endpoint's API token */
#define NODE_CONCURRENCY_MAX	1024
#define NODE_CONTEXT_MAX	10000000
#define NODE_PRICE_MAX		1000000000000LL	/* micro-USD per 1M tokens */
#define NODE_MODELS_MAX		100	/* models on one node */

#define NODE_OK		0
#define NODE_NOT_FOUND	1	/* no such live node of this user */
#define NODE_ERROR	(-1)	/* database error (logged) */
#define NODE_NO_KEYS	(-2)	/* a token to seal, but no [crypto] keys */

/* One model a node serves: the public id, the upstream's name, prices. */
struct node_model {
	const char	*model;
	const char	*upstream_model;
	int64_t		 price_in;	/* micro-USD per 1M input tokens */
	int64_t		 price_out;	/* micro-USD per 1M output tokens */
};

/*
 * What node_create sets, or what node_update changes: NULL (or 0 for the
 * numbers) leaves a field as it is. supply_type and connection are set at
 * creation only. api_token "" means no token. All strings are validated
 * by the caller (node_text_ok, node_model_id_ok, node_url_ok).
 */
struct node_spec {
	const char		*name;
	const char		*supply_type;	/* "self_hosted" | "cloud" */
	const char		*connection;	/* "worker" | "endpoint" */
	long long		 max_concurrency;
	long long		 context_length;
	const char		*base_url;	/* endpoint nodes only */
	const char		*api_token;	/* endpoint nodes only */
	const struct node_model	*models;	/* replaces every model */
	size_t			 nmodels;
};

/* 1 when s is 1..NODE_MODEL_MAX characters of [A-Za-z0-9._:/-]. */
int	 node_model_id_ok(const char *s);

/* 1 when s is 1..max UTF-8 characters with no control characters. */
int	 node_text_ok(const char *s, size_t max);

/*
 * 1 when s is an http:// or https:// URL with a host, at most
 * NODE_URL_MAX bytes of printable ASCII.
 */
int	 node_url_ok(const char *s);

/*
 * Register a node of user_id with its models in one transaction; an
 * endpoint's non-empty api_token is sealed under the keyring's current key
 * with aad "node:<id>". NODE_OK with *id, NODE_NO_KEYS (nothing made) or
 * NODE_ERROR.
 */
int	 node_create(struct db *, struct arena *, const struct crypto_keyring *,
	    int64_t user_id, const struct node_spec *, int64_t *id);

/*
 * Change the fields spec sets on node id of user_id, in one transaction.
 * NODE_OK, NODE_NOT_FOUND, NODE_NO_KEYS or NODE_ERROR; nothing changes
 * unless NODE_OK.
 */
int	 node_update(struct db *, struct arena *, const struct crypto_keyring *,
	    int64_t user_id, int64_t id, const struct node_spec *);

/* Soft-delete node id of user_id: NODE_OK, NODE_NOT_FOUND or NODE_ERROR. */
int	 node_delete(struct db *, struct arena *, int64_t user_id, int64_t id);

/*
 * One live (not deleted) node of user_id as a JSON object {id, object,
 * name, supply_type, connection, status, max_concurrency, context_length,
 * base_url, has_api_token, created_at, updated_at, last_seen_at, models:
 * [{model, upstream_model, price_in, price_out}]}; never a token.
 * NODE_OK with *out (the caller owns it), NODE_NOT_FOUND or NODE_ERROR.
 */
int	 node_get(struct db *, struct arena *, int64_t user_id, int64_t id,
	    json_t **out);

/* Every live node of user_id, newest first, as node_get's objects; NULL on error. */
json_t	*node_list(struct db *, struct arena *, int64_t user_id);

/*
 * The consumers' catalog: every model an active node serves (only model
 * when not NULL), by id, as OpenAI model objects with "pricing"
 * {prompt, completion: {min, max}} over active nodes, "context_length"
 * (the largest) and "nodes" (active endpoint nodes plus workers seen in
 * the last minute). NULL on error; the caller owns the array.
 */
json_t	*node_catalog(struct db *, struct arena *, const char *model);

#endif
