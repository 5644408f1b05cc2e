/* api_workers.c: /internal/worker/: node tokens and live node state, for the relay */
#include "config.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "arena.h"
#include "json.h"
#include "log.h"
#include "node.h"

/*
 * The 403 for a node token whose node may not work: its account is banned
 * or deleted, or the node is suspended or deleted.
 */
static int
refused(struct req *r, const struct node_auth *n)
{
	int	deleted = strcmp(n->status, "deleted") == 0;

	if (strcmp(n->user_status, "banned") == 0 ||
	    strcmp(n->user_status, "deleted") == 0)
		return resp_api_error(r, 403, "invalid_request_error",
		    "account_banned", NULL, "This node's account is banned:"
		    " its node tokens no longer work.");

	return resp_api_error(r, 403, "invalid_request_error", deleted ?
	    "node_deleted" : "node_suspended", NULL, deleted ?
	    "This node was removed by its supplier." :
	    "This node is suspended; see your supplier page.");
}

/*
 * POST /internal/worker/auth {"token"}: the node a worker's token opens.
 * 200 {node_id, max_concurrency, status} for an active node whose account
 * is not banned or deleted (a suspended account's worker may stay
 * connected; its node is not routed), 401 invalid_node_token for a token
 * we do not know (absent or null reads as ""), 403 otherwise.
 */
int
api_worker_auth(struct req *r)
{
	struct node_auth	 n;
	const char		*token = "";
	char			 err[160];

	if (json_get_str(r->json, "token", 0, &token, err, sizeof(err)) < 0)
		return resp_bad(r, "token", err);
	switch (node_token_auth(r->app->db, r->arena, token, &n)) {
	case NODE_OK:
		break;
	case NODE_NOT_FOUND:
		return resp_api_error(r, 401, "invalid_request_error",
		    "invalid_node_token", NULL, "Incorrect node token"
		    " provided: copy it again from your nodes page, or rotate"
		    " it there.");
	default:
		return 500;
	}
	if (strcmp(n.status, "active") != 0 ||
	    strcmp(n.user_status, "banned") == 0 ||
	    strcmp(n.user_status, "deleted") == 0) {
		log_info("node %" PRId64 ": token refused (%s, account %s)",
		    n.id, n.status, n.user_status);
		return refused(r, &n);
	}
	return resp_json(r, 200, json_arena(r->arena,
	    json_pack("{s:I, s:I, s:s}", "node_id",
	    (json_int_t)n.id, "max_concurrency",
	    (json_int_t)n.max_concurrency, "status", n.status)));
}

/* Read nodes[i] into st; 0, or -1 with param and msg set. */
static int
parse_state(struct req *r, json_t *o, size_t i, struct node_state *st,
    const char **param, char *msg, size_t len)
{
	const char	*at = arena_printf(r->arena, "nodes[%zu]", i);
	long long	 id, rtt = -1, inflight = 0;

	*param = at;
	st->parked = 0;
	if (!json_is_object(o)) {
		snprintf(msg, len, "each node must be an object");
		return -1;
	}
	if (json_get_int(o, "node_id", 1, 1, INT64_MAX, &id, msg, len) < 0)
		*param = arena_printf(r->arena, "%s.node_id", at);
	else if (json_get_bool(o, "live", 1, &st->live, msg, len) < 0)
		*param = arena_printf(r->arena, "%s.live", at);
	else if (json_get_int(o, "rtt_ms", 0, 0, INT32_MAX, &rtt, msg,
	    len) < 0)
		*param = arena_printf(r->arena, "%s.rtt_ms", at);
	else if (json_get_int(o, "inflight", 0, 0, INT32_MAX, &inflight,
	    msg, len) < 0)
		*param = arena_printf(r->arena, "%s.inflight", at);
	else if (json_get_bool(o, "parked", 0, &st->parked, msg, len) < 0)
		*param = arena_printf(r->arena, "%s.parked", at);
	else {
		st->id = id;
		st->rtt_ms = rtt;
		st->inflight = inflight;
		return 0;
	}
	return -1;
}

/*
 * POST /internal/worker/seen {"nodes": [{node_id, live, rtt_ms, inflight,
 * parked}]}: store the relay's view of every node it knows, in one
 * statement; unknown ids are skipped. 200 {}.
 */
int
api_worker_seen(struct req *r)
{
	struct node_state	*st;
	const char		*param;
	char			 msg[160];
	json_t			*list;
	size_t			 i, n;

	list = json_object_get(r->json, "nodes");
	if (!json_is_array(list) || (n = json_array_size(list)) >
	    NODE_REPORT_MAX)
		return resp_bad(r, "nodes", "'nodes' must be an array of at most"
		    " 100000 nodes");
	st = arena_calloc(r->arena, n ? n : 1, sizeof(*st));
	for (i = 0; i < n; i++)
		if (parse_state(r, json_array_get(list, i), i, &st[i], &param,
		    msg, sizeof(msg)) == -1)
			return resp_bad(r, param, msg);
	if (n > 0 && node_report(r->app->db, r->arena, st, n) != NODE_OK)
		return 500;
	log_debug("node report: %zu nodes", n);
	return resp_json(r, 200, json_arena(r->arena, json_object()));
}
