/* node.c: supplier nodes, the models they serve at their prices, the catalog */
#include "config.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "crypto.h"
#include "db.h"
#include "json.h"
#include "log.h"
#include "money.h"
#include "node.h"
#include "str.h"

/* Midnight UTC today, as a timestamptz. */
#define TODAY \
	"(date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')"

static const struct db_stmt q_insert = {
	"node_insert",
	"INSERT INTO nodes (user_id, name, supply_type, connection,"
	" max_concurrency, context_length, base_url, node_token_hash)"
	" VALUES ($1, $2, $3, $4, $5, $6, $7, decode($8, 'hex')) RETURNING id",
	8, 0
};
/* Lock a live node of the user (and learn it is there). */
static const struct db_stmt q_lock = {
	"node_lock",
	"SELECT connection FROM nodes WHERE id = $1 AND user_id = $2"
	" AND status <> 'deleted' FOR UPDATE",
	2, 0
};
static const struct db_stmt q_update = {
	"node_update",
	"UPDATE nodes SET name = coalesce($2, name),"
	" max_concurrency = coalesce($3::int, max_concurrency),"
	" context_length = coalesce($4::int, context_length),"
	" base_url = coalesce($5, base_url), updated_at = now() WHERE id = $1",
	5, 0
};
static const struct db_stmt q_set_token = {
	"node_set_token",
	"UPDATE nodes SET api_token_sealed = $2 WHERE id = $1",
	2, 0
};
static const struct db_stmt q_set_wtoken = {
	"node_set_wtoken",
	"UPDATE nodes SET node_token_hash = decode($2, 'hex'),"
	" updated_at = now() WHERE id = $1",
	2, 0
};
/* The node a worker's token opens, whatever its status. */
static const struct db_stmt q_token_auth = {
	"node_token_auth",
	"SELECT n.id, n.max_concurrency, n.status, u.status FROM nodes n"
	" JOIN users u ON u.id = n.user_id"
	" WHERE n.node_token_hash = decode($1, 'hex')",
	1, DB_RETRY
};
/*
 * The relay's report, as parallel arrays: a live worker was seen now; an
 * unmeasured round trip keeps the last one measured.
 */
static const struct db_stmt q_report = {
	"node_report",
	"UPDATE nodes n SET last_seen_at = CASE WHEN s.live AND"
	" n.connection = 'worker' THEN now() ELSE n.last_seen_at END,"
	" last_rtt_ms = coalesce(s.rtt, n.last_rtt_ms), inflight = s.inflight,"
	" parked = s.parked, state_at = now()"
	" FROM unnest($1::bigint[], $2::boolean[], $3::integer[],"
	"  $4::integer[], $5::boolean[]) AS s(id, live, rtt, inflight, parked)"
	" WHERE n.id = s.id AND n.status <> 'deleted'",
	5, 0
};
static const struct db_stmt q_clear_models = {
	"node_clear_models",
	"DELETE FROM node_models WHERE node_id = $1",
	1, 0
};
static const struct db_stmt q_add_model = {
	"node_add_model",
	"INSERT INTO node_models (node_id, model, upstream_model, price_in,"
	" price_out) VALUES ($1, $2, $3, $4, $5)",
	5, 0
};
static const struct db_stmt q_delete = {
	"node_delete",
	"UPDATE nodes SET status = 'deleted', deleted_at = now(),"
	" updated_at = now() WHERE id = $1 AND user_id = $2"
	" AND status <> 'deleted'",
	2, 0
};
/* The operator's switch; the reason is kept on the node and in the log. */
static const struct db_stmt q_suspend = {
	"node_suspend",
	"UPDATE nodes SET status = 'suspended', suspended_reason = $2,"
	" suspended_at = now(), updated_at = now()"
	" WHERE id = $1 AND status = 'active'",
	2, 0
};
static const struct db_stmt q_unsuspend = {
	"node_unsuspend",
	"UPDATE nodes SET status = 'active', suspended_reason = NULL,"
	" suspended_at = NULL, updated_at = now()"
	" WHERE id = $1 AND status = 'suspended'",
	1, 0
};
static const struct db_stmt q_admin_log = {
	"node_admin_log",
	"INSERT INTO admin_actions (admin_id, action, node_id, reason)"
	" VALUES ($1, $2, $3, $4)",
	4, 0
};
/*
 * A node as JSON, built by the database; never a token. The state follows
 * docs/worker-protocol.md §4: a worker not seen lately, or any node whose
 * last report is stale, is offline; an endpoint never reported on is
 * unknown. Money stays in micro-USD here; node_json() dresses it.
 */
#define NODE_JSON \
	"SELECT json_build_object('id', n.id, 'object', 'node', 'name', n.name," \
	" 'supply_type', n.supply_type, 'connection', n.connection," \
	" 'status', n.status, 'suspended_reason', n.suspended_reason," \
	" 'max_concurrency', n.max_concurrency," \
	" 'context_length', n.context_length, 'base_url', n.base_url," \
	" 'has_api_token', n.api_token_sealed IS NOT NULL," \
	" 'has_node_token', n.node_token_hash IS NOT NULL," \
	" 'created_at', " DB_TS("n.created_at") ", 'updated_at', " \
	DB_TS("n.updated_at") ", 'last_seen_at', " DB_TS("n.last_seen_at") "," \
	" 'state', " NODE_STATE_SQL "," \
	" 'state_at', " DB_TS("n.state_at") ", 'last_rtt_ms', n.last_rtt_ms," \
	" 'inflight', n.inflight," \
	" 'models', coalesce((SELECT json_agg(json_build_object('model'," \
	"  m.model, 'upstream_model', m.upstream_model, 'price_in'," \
	"  m.price_in, 'price_out', m.price_out) ORDER BY m.model)" \
	"  FROM node_models m WHERE m.node_id = n.id), '[]'::json)," \
	" 'today', json_build_object('requests', t.requests, 'ok', t.ok," \
	"  'success', t.success, 'failure', t.failure," \
	"  'tokens_in', t.tokens_in, 'tokens_out', t.tokens_out," \
	"  'earnings', t.earnings)," \
	" 'earnings', (SELECT coalesce(sum(r.earning), 0) FROM requests r" \
	"  WHERE r.node_id = n.id))::text" \
	" FROM nodes n CROSS JOIN LATERAL (SELECT count(*) AS requests," \
	"  count(*) FILTER (WHERE r.status = 'ok') AS ok," \
	"  count(*) FILTER (WHERE r.outcome = 'success') AS success," \
	"  count(*) FILTER (WHERE r.outcome = 'failure') AS failure," \
	"  coalesce(sum(r.tokens_in), 0) AS tokens_in," \
	"  coalesce(sum(r.tokens_out), 0) AS tokens_out," \
	"  coalesce(sum(r.earning), 0) AS earnings FROM requests r" \
	"  WHERE r.node_id = n.id AND r.created_at >= " TODAY ") t"
static const struct db_stmt q_get = {
	"node_get",
	NODE_JSON " WHERE n.id = $2 AND n.user_id = $1 AND n.status <> 'deleted'",
	2, DB_RETRY
};
static const struct db_stmt q_list = {
	"node_list",
	NODE_JSON " WHERE n.user_id = $1 AND n.status <> 'deleted'"
	" ORDER BY n.id DESC",
	1, DB_RETRY
};
/*
 * The catalog: per model served by an active node of an active account,
 * the earliest such node's creation, the price ranges, the nodes that can serve now (an
 * endpoint, or a worker seen in the last minute) and the longest context.
 */
static const struct db_stmt q_catalog = {
	"node_catalog",
	"SELECT m.model, extract(epoch FROM min(n.created_at))::bigint,"
	" min(m.price_in), max(m.price_in), min(m.price_out), max(m.price_out),"
	" count(*) FILTER (WHERE n.connection = 'endpoint' OR"
	"  n.last_seen_at > now() - interval '60 seconds'),"
	" max(n.context_length)"
	" FROM node_models m JOIN nodes n ON n.id = m.node_id"
	" JOIN users u ON u.id = n.user_id AND u.status = 'active'"
	" WHERE n.status = 'active' AND ($1::text IS NULL OR m.model = $1)"
	" GROUP BY m.model ORDER BY m.model",
	1, DB_RETRY
};

/* Only the id alphabet, 1..NODE_MODEL_MAX bytes; see node.h. */
int
node_model_id_ok(const char *s)
{
	size_t	n = strlen(s);

	return n >= 1 && n <= NODE_MODEL_MAX &&
	    strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789._:/-") == n;
}

/* A scheme, a host and nothing but printable ASCII; see node.h. */
int
node_url_ok(const char *s)
{
	const unsigned char	*p;
	size_t			 skip;

	if (strncmp(s, "http://", 7) == 0)
		skip = 7;
	else if (strncmp(s, "https://", 8) == 0)
		skip = 8;
	else
		return 0;
	if (strlen(s) > NODE_URL_MAX || s[skip] == '\0' || s[skip] == '/' ||
	    s[skip] == '?' || s[skip] == '#')
		return 0;
	for (p = (const unsigned char *)s; *p != '\0'; p++)
		if (*p <= 0x20 || *p >= 0x7f)
			return 0;
	return 1;
}

/*
 * Seal token for node id (aad "node:<id>") and store it, or clear it when
 * token is "". NODE_OK, NODE_NO_KEYS or NODE_ERROR.
 */
static int
set_token(struct db *db, struct arena *a, const struct crypto_keyring *keys,
    int64_t id, const char *token)
{
	struct str	 sealed = STR_INIT;
	const char	*p[2];
	int		 rc = NODE_ERROR;

	p[0] = db_i64(a, id);
	p[1] = NULL;
	if (*token != '\0') {
		if (keys == NULL || keys->current == 0)
			return NODE_NO_KEYS;
		if (crypto_seal(keys, token, strlen(token), arena_printf(a,
		    "node:%" PRId64, id), &sealed) == -1) {
			log_error("node %" PRId64 ": cannot seal the token", id);
			goto out;
		}
		p[1] = arena_strdup(a, str_cstr(&sealed));
	}
	if (db_exec(db, a, &q_set_token, p) != NULL)
		rc = NODE_OK;
out:
	str_free(&sealed);
	return rc;
}

/* Replace node id's models with the spec's; 0 or -1. */
static int
set_models(struct db *db, struct arena *a, int64_t id,
    const struct node_spec *spec)
{
	const char	*p[5];
	size_t		 i;

	p[0] = db_i64(a, id);
	if (db_exec(db, a, &q_clear_models, p) == NULL)
		return -1;
	for (i = 0; i < spec->nmodels; i++) {
		p[1] = spec->models[i].model;
		p[2] = spec->models[i].upstream_model;
		p[3] = db_i64(a, spec->models[i].price_in);
		p[4] = db_i64(a, spec->models[i].price_out);
		if (db_exec(db, a, &q_add_model, p) == NULL)
			return -1;
	}
	return 0;
}


/*
 * A new worker node token into token, and its SHA-256 as hex into hash;
 * 0 or -1 (no randomness).
 */
static int
new_wtoken(char token[NODE_WTOKEN_LEN + 1], char hash[65])
{
	memcpy(token, NODE_WTOKEN_PREFIX, 4);
	if (crypto_token_base62(token + 4, NODE_WTOKEN_RANDOM + 1,
	    NODE_WTOKEN_RANDOM) == -1) {
		log_error("node token: no randomness");
		return -1;
	}
	crypto_sha256_hex(token, NODE_WTOKEN_LEN, hash);
	return 0;
}

/* Insert the node, then its token and models, in one transaction. */
int
node_create(struct db *db, struct arena *a, const struct crypto_keyring *keys,
    int64_t user_id, const struct node_spec *spec, int64_t *id,
    char token[NODE_WTOKEN_LEN + 1])
{
	const char	*p[8];
	char		 hash[65];
	PGresult	*res;
	int		 rc = NODE_ERROR;

	token[0] = '\0';
	p[7] = NULL;
	if (strcmp(spec->connection, "worker") == 0) {
		if (new_wtoken(token, hash) == -1)
			return NODE_ERROR;
		p[7] = hash;
	}
	if (db_begin(db) == -1)
		return NODE_ERROR;
	p[0] = db_i64(a, user_id);
	p[1] = spec->name;
	p[2] = spec->supply_type;
	p[3] = spec->connection;
	p[4] = db_i64(a, spec->max_concurrency);
	p[5] = db_i64(a, spec->context_length);
	p[6] = spec->base_url;
	if ((res = db_exec(db, a, &q_insert, p)) == NULL)
		goto out;
	*id = db_int64(res, 0, 0);
	if (spec->api_token != NULL &&
	    (rc = set_token(db, a, keys, *id, spec->api_token)) != NODE_OK)
		goto out;
	rc = set_models(db, a, *id, spec) == -1 ? NODE_ERROR : NODE_OK;
out:
	if (rc != NODE_OK)
		explicit_bzero(token, NODE_WTOKEN_LEN + 1);
	return db_finish(db, rc, rc == NODE_OK, NODE_ERROR);
}

/* Lock the node, check it is a worker, store a new token's hash. */
int
node_rotate_token(struct db *db, struct arena *a, int64_t user_id,
    int64_t id, char token[NODE_WTOKEN_LEN + 1])
{
	const char	*p[2];
	char		 hash[65];
	PGresult	*res;
	int		 rc = NODE_ERROR;

	token[0] = '\0';
	if (db_begin(db) == -1)
		return NODE_ERROR;
	p[0] = db_i64(a, id);
	p[1] = db_i64(a, user_id);
	if ((res = db_exec(db, a, &q_lock, p)) == NULL)
		goto out;
	if (PQntuples(res) == 0) {
		rc = NODE_NOT_FOUND;
		goto out;
	}
	if (strcmp(PQgetvalue(res, 0, 0), "worker") != 0) {
		rc = NODE_NOT_WORKER;
		goto out;
	}
	if (new_wtoken(token, hash) == -1)
		goto out;
	p[1] = hash;
	if (db_exec(db, a, &q_set_wtoken, p) != NULL)
		rc = NODE_OK;
out:
	if (rc != NODE_OK)
		explicit_bzero(token, NODE_WTOKEN_LEN + 1);
	return db_finish(db, rc, rc == NODE_OK, NODE_ERROR);
}

/* One indexed lookup by the token's SHA-256; see node.h. */
int
node_token_auth(struct db *db, struct arena *a, const char *token,
    struct node_auth *out)
{
	char		 hash[65];
	const char	*p[1] = { hash };
	PGresult	*res;

	if (strlen(token) != NODE_WTOKEN_LEN ||
	    strncmp(token, NODE_WTOKEN_PREFIX, 4) != 0)
		return NODE_NOT_FOUND;
	crypto_sha256_hex(token, NODE_WTOKEN_LEN, hash);
	if ((res = db_exec(db, a, &q_token_auth, p)) == NULL)
		return NODE_ERROR;
	if (PQntuples(res) == 0)
		return NODE_NOT_FOUND;
	out->id = db_int64(res, 0, 0);
	out->max_concurrency = db_int64(res, 0, 1);
	out->status = arena_strdup(a, PQgetvalue(res, 0, 2));
	out->user_status = arena_strdup(a, PQgetvalue(res, 0, 3));
	return NODE_OK;
}

/* The report as five "{…}" array literals, bound as parameters. */
int
node_report(struct db *db, struct arena *a, const struct node_state *st,
    size_t n)
{
	struct str	 col[5] = { STR_INIT, STR_INIT, STR_INIT, STR_INIT,
			    STR_INIT };
	const char	*p[5];
	size_t		 i, c;

	for (c = 0; c < 5; c++)
		str_putc(&col[c], '{');
	for (i = 0; i < n; i++) {
		const char *sep = i ? "," : "";

		str_printf(&col[0], "%s%" PRId64, sep, st[i].id);
		str_printf(&col[1], "%s%s", sep, st[i].live ? "t" : "f");
		if (st[i].rtt_ms < 0)
			str_printf(&col[2], "%sNULL", sep);
		else
			str_printf(&col[2], "%s%lld", sep, st[i].rtt_ms);
		str_printf(&col[3], "%s%lld", sep, st[i].inflight);
		str_printf(&col[4], "%s%s", sep, st[i].parked ? "t" : "f");
	}
	for (c = 0; c < 5; c++) {
		str_putc(&col[c], '}');
		p[c] = arena_strdup(a, str_cstr(&col[c]));
		str_free(&col[c]);
	}
	return db_exec(db, a, &q_report, p) == NULL ? NODE_ERROR : NODE_OK;
}

/* Lock the node, then change what spec sets, in one transaction. */
int
node_update(struct db *db, struct arena *a, const struct crypto_keyring *keys,
    int64_t user_id, int64_t id, const struct node_spec *spec)
{
	const char	*p[5];
	PGresult	*res;
	int		 rc = NODE_ERROR;

	if (db_begin(db) == -1)
		return NODE_ERROR;
	p[0] = db_i64(a, id);
	p[1] = db_i64(a, user_id);
	if ((res = db_exec(db, a, &q_lock, p)) == NULL)
		goto out;
	if (PQntuples(res) == 0) {
		rc = NODE_NOT_FOUND;
		goto out;
	}
	p[1] = spec->name;
	p[2] = spec->max_concurrency ? db_i64(a, spec->max_concurrency) : NULL;
	p[3] = spec->context_length ? db_i64(a, spec->context_length) : NULL;
	p[4] = spec->base_url;
	if (db_exec(db, a, &q_update, p) == NULL)
		goto out;
	if (spec->api_token != NULL &&
	    (rc = set_token(db, a, keys, id, spec->api_token)) != NODE_OK)
		goto out;
	rc = spec->models != NULL && set_models(db, a, id, spec) == -1 ?
	    NODE_ERROR : NODE_OK;
out:
	return db_finish(db, rc, rc == NODE_OK, NODE_ERROR);
}

/* Mark the node deleted; its rows stay for the history. */
int
node_delete(struct db *db, struct arena *a, int64_t user_id, int64_t id)
{
	const char	*p[2];
	PGresult	*res;

	p[0] = db_i64(a, id);
	p[1] = db_i64(a, user_id);
	if ((res = db_exec(db, a, &q_delete, p)) == NULL)
		return NODE_ERROR;
	return atoi(PQcmdTuples(res)) == 1 ? NODE_OK : NODE_NOT_FOUND;
}

/* Suspend or unsuspend as the operator, with the record; see node.h. */
int
node_set_suspended(struct db *db, struct arena *a, int64_t admin_id,
    int64_t id, int suspend, const char *reason)
{
	const char	*p[4];
	PGresult	*res;
	int		 rc = NODE_ERROR;

	if (db_begin(db) == -1)
		return NODE_ERROR;
	p[0] = db_i64(a, id);
	p[1] = suspend ? reason : NULL;
	if ((res = db_exec(db, a, suspend ? &q_suspend : &q_unsuspend,
	    p)) == NULL)
		goto out;
	if (atoi(PQcmdTuples(res)) != 1) {
		rc = NODE_NOT_FOUND;
		goto out;
	}
	p[0] = db_i64(a, admin_id);
	p[1] = suspend ? "node_suspend" : "node_unsuspend";
	p[2] = db_i64(a, id);
	p[3] = suspend ? reason : NULL;
	rc = db_exec(db, a, &q_admin_log, p) == NULL ? NODE_ERROR : NODE_OK;
out:
	return db_finish(db, rc, rc == NODE_OK, NODE_ERROR);
}

/* Replace the micro-USD integer obj[key] with {micro_usd, usd}. */
static void
dress_money(json_t *obj, const char *key)
{
	json_t	*v = json_object_get(obj, key);
	char	 usd[32];

	if (!json_is_integer(v))
		return;
	money_format(json_integer_value(v), usd, sizeof(usd));
	json_object_set_new(obj, key, json_pack("{s:I, s:s}", "micro_usd",
	    json_integer_value(v), "usd", usd));
}

/*
 * Parse the node JSON of row i, column 0 of res, its money dressed as
 * {micro_usd, usd}; NULL (logged) when bad. The caller owns the result.
 */
static json_t *
row_json(PGresult *res, int i)
{
	json_error_t	 je;
	json_t		*v;

	if ((v = json_loads(PQgetvalue(res, i, 0), 0, &je)) == NULL) {
		log_error("node json: %s", je.text);
		return NULL;
	}
	dress_money(v, "earnings");
	dress_money(json_object_get(v, "today"), "earnings");
	return v;
}

/* One node as JSON, built by the database; see node.h. */
int
node_get(struct db *db, struct arena *a, int64_t user_id, int64_t id,
    json_t **out)
{
	const char	*p[2];
	PGresult	*res;

	p[0] = db_i64(a, user_id);
	p[1] = db_i64(a, id);
	if ((res = db_exec(db, a, &q_get, p)) == NULL)
		return NODE_ERROR;
	if (PQntuples(res) == 0)
		return NODE_NOT_FOUND;
	return (*out = row_json(res, 0)) == NULL ? NODE_ERROR : NODE_OK;
}

/* Every live node of the user as JSON; see node.h. */
json_t *
node_list(struct db *db, struct arena *a, int64_t user_id)
{
	const char	*p[1];
	PGresult	*res;
	json_t		*list, *v;
	int		 i;

	p[0] = db_i64(a, user_id);
	if ((res = db_exec(db, a, &q_list, p)) == NULL)
		return NULL;
	list = json_array();
	for (i = 0; i < PQntuples(res); i++) {
		if ((v = row_json(res, i)) == NULL) {
			json_decref(list);
			return NULL;
		}
		json_array_append_new(list, v);
	}
	return list;
}

/* A {min, max} pair from columns c and c + 1 of row i. */
static json_t *
range(PGresult *res, int i, int c)
{
	return json_pack("{s:I, s:I}", "min", (json_int_t)db_int64(res, i, c),
	    "max", (json_int_t)db_int64(res, i, c + 1));
}

/* The catalog as OpenAI model objects; see node.h. */
json_t *
node_catalog(struct db *db, struct arena *a, const char *model)
{
	const char	*p[1] = { model };
	PGresult	*res;
	json_t		*list;
	int		 i;

	if ((res = db_exec(db, a, &q_catalog, p)) == NULL)
		return NULL;
	list = json_array();
	for (i = 0; i < PQntuples(res); i++)
		json_array_append_new(list, json_pack("{s:s, s:s, s:I, s:s,"
		    " s:I, s:{s:o, s:o}, s:I}",
		    "id", PQgetvalue(res, i, 0),
		    "object", "model",
		    "created", (json_int_t)db_int64(res, i, 1),
		    "owned_by", "infrpool",
		    "context_length", (json_int_t)db_int64(res, i, 7),
		    "pricing", "prompt", range(res, i, 2),
		    "completion", range(res, i, 4),
		    "nodes", (json_int_t)db_int64(res, i, 6)));
	return list;
}
