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
#define NODE_WTOKEN_PREFIX	"ipn_"	/* a worker's node token */
#define NODE_WTOKEN_RANDOM	43	/* base62 characters: 256 bits */
#define NODE_WTOKEN_LEN		(4 + NODE_WTOKEN_RANDOM)
#define NODE_STALE_SECONDS	30	/* older state or contact: offline */
#define NODE_STALE_XSTR(x)	NODE_STALE_STR(x)
#define NODE_STALE_STR(x)	#x
/* The moment a state or a worker's contact turns stale, in SQL. */
#define NODE_STALE_SQL	"now() - interval '" \
	NODE_STALE_XSTR(NODE_STALE_SECONDS) " seconds'"
/*
 * A node's state over nodes n, in SQL (docs/worker-protocol.md §4): a
 * worker not seen lately, or any node whose last report is stale, is
 * offline; an endpoint never reported on is unknown.
 */
#define NODE_STATE_SQL \
	"CASE WHEN n.connection = 'worker' AND" \
	" (n.last_seen_at IS NULL OR n.last_seen_at < " NODE_STALE_SQL ")" \
	" THEN 'offline' WHEN n.state_at IS NULL THEN CASE n.connection" \
	" WHEN 'endpoint' THEN 'unknown' ELSE 'offline' END" \
	" WHEN n.state_at < " NODE_STALE_SQL " THEN 'offline'" \
	" WHEN n.parked THEN 'parked' ELSE 'online' END"
#define NODE_REPORT_MAX		100000	/* nodes in one relay report */

#define NODE_OK		0
#define NODE_NOT_FOUND	1	/* no such live node of this user */
#define NODE_ERROR	(-1)	/* database error (logged) */
#define NODE_NO_KEYS	(-2)	/* a token to seal, but no [crypto] keys */
#define NODE_NOT_WORKER	2	/* an endpoint node: it has no node token */

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
 * creation only. api_token "" means no token. Checked by the caller with
 * node_spec_check() before it is stored.
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

/* The fields of a spec node_spec_check() finds wrong, in the order shown. */
enum node_field {
	NODE_F_NAME,
	NODE_F_SUPPLY_TYPE,
	NODE_F_CONNECTION,
	NODE_F_CONCURRENCY,
	NODE_F_CONTEXT,
	NODE_F_BASE_URL,
	NODE_F_API_TOKEN,
	NODE_F_MODELS,		/* the list: none, or too many */
	NODE_F_MODEL,		/* models[model].model: not a model id */
	NODE_F_UPSTREAM,
	NODE_F_PRICE_IN,
	NODE_F_PRICE_OUT,
	NODE_F_DUPLICATE,	/* models[model].model named twice */
	NODE_F__MAX
};
#define NODE_BAD(f)	(1u << (f))

/* What is wrong with a spec: a bit per field, and which model. */
struct node_check {
	unsigned	 bad;		/* NODE_BAD(field) for each field */
	size_t		 model;		/* the first model found wrong */
};

/* What a worker's node token opens (node_token_auth). */
struct node_auth {
	int64_t		 id;
	long long	 max_concurrency;
	const char	*status;	/* "active" | "suspended" | "deleted" */
	const char	*user_status;	/* its account's: "active", "suspended", … */
};

/* One node in the relay's report (docs/worker-protocol.md §4). */
struct node_state {
	int64_t		 id;
	int		 live;
	long long	 rtt_ms;	/* -1: not measured */
	long long	 inflight;
	int		 parked;
};

/*
 * node_spec.c: the one check of a spec, used by the nodes page's form and
 * by the supplier API alike; they only word the errors. With create,
 * every field is required; otherwise (an edit of a node of connection)
 * NULL and 0 leave a field as it is. name and upstream names pass
 * text_ok(); on a worker base_url and api_token must be NULL; on an
 * endpoint base_url passes node_url_ok() and api_token is at most
 * NODE_TOKEN_MAX bytes of visible ASCII ("" clears it); models are 1 to
 * NODE_MODELS_MAX distinct ids with prices that pass node_price_ok(), and
 * only the first wrong model is reported. Returns 0, or -1 with c set.
 */
int	 node_spec_check(const struct node_spec *, int create,
	    const char *connection, struct node_check *c);

/* 1 when v micro-USD per 1M tokens is a price a node may ask: 1..MAX. */
int	 node_price_ok(int64_t v);

/* 1 when s is 1..NODE_MODEL_MAX characters of [A-Za-z0-9._:/-]. */
int	 node_model_id_ok(const char *s);

/*
 * 1 when s is an http:// or https:// URL with a host, at most
 * NODE_URL_MAX bytes of printable ASCII.
 */
int	 node_url_ok(const char *s);

/*
 * Register a node of user_id with its models in one transaction; an
 * endpoint's non-empty api_token is sealed under the keyring's current key
 * with aad "node:<id>". A worker node gets a new node token, written to
 * token to be shown this once (only its SHA-256 is kept); for an endpoint
 * token is "". NODE_OK with *id, NODE_NO_KEYS (nothing made) or
 * NODE_ERROR.
 */
int	 node_create(struct db *, struct arena *, const struct crypto_keyring *,
	    int64_t user_id, const struct node_spec *, int64_t *id,
	    char token[NODE_WTOKEN_LEN + 1]);

/*
 * Give worker node id of user_id a new node token (written to token, to be
 * shown once); the old one stops opening at once. NODE_OK,
 * NODE_NOT_FOUND, NODE_NOT_WORKER or NODE_ERROR.
 */
int	 node_rotate_token(struct db *, struct arena *, int64_t user_id,
	    int64_t id, char token[NODE_WTOKEN_LEN + 1]);

/*
 * The node a worker's node token belongs to, by its SHA-256, whatever its
 * status or its account's: NODE_OK with *out (status in the arena), NODE_NOT_FOUND for a
 * malformed, unknown or replaced token, or NODE_ERROR.
 */
int	 node_token_auth(struct db *, struct arena *, const char *token,
	    struct node_auth *out);

/*
 * Store the relay's report on n nodes in one statement: last_seen_at for
 * live worker nodes, and the round trip (kept when not measured), the
 * requests in flight, parked and state_at for every node. Unknown and
 * deleted nodes are skipped. NODE_OK or NODE_ERROR.
 */
int	 node_report(struct db *, struct arena *, const struct node_state *,
	    size_t n);

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
 * base_url, has_api_token, has_node_token, created_at, updated_at,
 * last_seen_at, state ("online" | "parked" | "offline" | "unknown"),
 * state_at, last_rtt_ms, inflight, models: [{model, upstream_model,
 * price_in, price_out}], today: {requests, ok, tokens_in, tokens_out,
 * earnings}, earnings}, the earnings as {micro_usd, usd} and today the
 * UTC day of the requests' creation; never a token.
 * NODE_OK with *out (the caller owns it), NODE_NOT_FOUND or NODE_ERROR.
 */
int	 node_get(struct db *, struct arena *, int64_t user_id, int64_t id,
	    json_t **out);

/*
 * The operator suspends (reason: 1..500 characters, checked by the
 * caller) or unsuspends node id, as admin_id, recorded in admin_actions.
 * A suspended node leaves the catalog and gets no new requests. NODE_OK,
 * NODE_NOT_FOUND (no such node, or not active / not suspended) or
 * NODE_ERROR.
 */
int	 node_set_suspended(struct db *, struct arena *, int64_t admin_id,
	    int64_t id, int suspend, const char *reason);

/* Every live node of user_id, newest first, as node_get's objects; NULL on error. */
json_t	*node_list(struct db *, struct arena *, int64_t user_id);

/*
 * The consumers' catalog: every model an active node of an active account
 * serves (only model when not NULL), by id, as OpenAI model objects with
 * "pricing"
 * {prompt, completion: {min, max}} over active nodes, "context_length"
 * (the largest) and "nodes" (active endpoint nodes plus workers seen in
 * the last minute). NULL on error; the caller owns the array.
 */
json_t	*node_catalog(struct db *, struct arena *, const char *model);

#endif
