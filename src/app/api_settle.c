/* api_settle.c: POST /internal/settle, a batch of requests on leases */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "arena.h"
#include "gateway.h"
#include "json.h"
#include "lease.h"
#include "log.h"
#include "node.h"
#include "settle.h"

#define BATCH_MAX	1000	/* requests, and leases to close, in one batch */
#define PRICE_MAX	1000000000000LL	/* as node_models' prices */

/* One element being read: its name for errors and the message. */
struct elem {
	struct arena	*a;
	json_t		*o;
	const char	*name;		/* "requests[3]" */
	const char	*param;		/* set on error: "requests[3].node_id" */
	char		 msg[256];
};

/* Name the field key of the element as the one in error; -1. */
static int
bad(struct elem *e, const char *key)
{
	e->param = arena_printf(e->a, "%s.%s", e->name, key);
	return -1;
}

/* An integer field in [min, max]; absent leaves *out (or fails if required). */
static int
e_int(struct elem *e, const char *key, int required, long long min,
    long long max, long long *out)
{
	return json_get_int(e->o, key, required, min, max, out, e->msg,
	    sizeof(e->msg)) < 0 ? bad(e, key) : 0;
}

/* A string field; absent leaves *out (or fails if required). */
static int
e_str(struct elem *e, const char *key, int required, const char **out)
{
	return json_get_str(e->o, key, required, out, e->msg,
	    sizeof(e->msg)) < 0 ? bad(e, key) : 0;
}

/* A string field that must be one of the NULL-terminated words. */
static int
e_word(struct elem *e, const char *key, int required,
    const char *const *words, const char **out)
{
	const char	*v = NULL;
	size_t		 i;

	if (e_str(e, key, required, &v) == -1)
		return -1;
	for (i = 0; v != NULL && words[i] != NULL; i++)
		if (strcmp(v, words[i]) == 0) {
			*out = v;
			return 0;
		}
	if (v == NULL)
		return 0;
	snprintf(e->msg, sizeof(e->msg), "'%s' is not one of the accepted"
	    " values", key);
	return bad(e, key);
}

/* True for a request id: "t_" and 24 base62 characters. */
static int
request_id_ok(const char *s)
{
	return strlen(s) == GW_TASK_LEN && strncmp(s, "t_", 2) == 0 &&
	    strspn(s + 2, "0123456789abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == GW_TASK_LEN - 2;
}

/* The identity and caps of element e into q; 0 or -1. */
static int
parse_head(struct req *r, struct elem *e, struct settle_req *q)
{
	static const char *const endpoints[] = { "chat", "completions",
		"embeddings", NULL };
	long long	 lease = 0;

	if (e_str(e, "request_id", 1, &q->request_id) == -1)
		return -1;
	if (!request_id_ok(q->request_id)) {
		snprintf(e->msg, sizeof(e->msg), "'request_id' must be \"t_\""
		    " and 24 letters or digits");
		return bad(e, "request_id");
	}
	if (e_int(e, "lease_id", 1, 1, INT64_MAX, &lease) == -1 ||
	    e_str(e, "model", 1, &q->model) == -1 ||
	    e_word(e, "endpoint", 1, endpoints, &q->endpoint) == -1)
		return -1;
	if (json_get_bool(e->o, "stream", 0, &q->stream, e->msg,
	    sizeof(e->msg)) < 0)
		return bad(e, "stream");
	if (e_int(e, "prompt_tokens", 1, 0, GW_PROMPT_MAX,
	    &q->prompt_tokens) == -1 ||
	    /* The cap it was admitted under, which may since have changed;
	     * the charge is bounded by reserved whatever it says. */
	    e_int(e, "max_tokens", 1, 0, INT64_MAX, &q->max_tokens) == -1 ||
	    e_int(e, "reserved", 1, 0, INT64_MAX, &q->reserved) == -1)
		return -1;
	if (!node_model_id_ok(q->model)) {
		snprintf(e->msg, sizeof(e->msg), "'model' is not a model id");
		return bad(e, "model");
	}
	q->lease_id = lease;
	return 0;
}

/* What element e says happened into q; 0 or -1. */
static int
parse_result(struct elem *e, struct settle_req *q)
{
	static const char *const statuses[] = { "ok", "cancelled", "failed",
		"rejected", "unserved", NULL };
	static const char *const outcomes[] = { "success", "failure",
		"neutral", NULL };
	long long	 node = 0;

	q->tokens_in = q->tokens_out = q->ttft_ms = q->duration_ms = -1;
	q->bytes_out = -1;
	if (e_int(e, "node_id", 0, 1, INT64_MAX, &node) == -1 ||
	    e_int(e, "price_in", node > 0, 0, PRICE_MAX, &q->price_in) == -1 ||
	    e_int(e, "price_out", node > 0, 0, PRICE_MAX, &q->price_out) ==
	    -1 ||
	    e_word(e, "status", 1, statuses, &q->status) == -1 ||
	    e_word(e, "outcome", 0, outcomes, &q->outcome) == -1 ||
	    e_int(e, "tokens_in", 0, 0, INT64_MAX, &q->tokens_in) == -1 ||
	    e_int(e, "tokens_out", 0, 0, INT64_MAX, &q->tokens_out) == -1 ||
	    e_int(e, "counted_in", 0, 0, INT64_MAX, &q->counted_in) == -1 ||
	    e_int(e, "counted_out", 0, 0, INT64_MAX, &q->counted_out) == -1 ||
	    e_int(e, "bytes_out", 0, 0, INT64_MAX / 2, &q->bytes_out) == -1 ||
	    e_int(e, "ttft_ms", 0, 0, INT64_MAX, &q->ttft_ms) == -1 ||
	    e_int(e, "duration_ms", 0, 0, INT64_MAX, &q->duration_ms) == -1 ||
	    e_str(e, "client_ip", 0, &q->client_ip) == -1)
		return -1;
	q->node_id = node;
	if (node == 0 && (strcmp(q->status, "ok") == 0 ||
	    strcmp(q->status, "cancelled") == 0 ||
	    strcmp(q->status, "failed") == 0)) {
		snprintf(e->msg, sizeof(e->msg), "'node_id' is required when"
		    " a node served the request");
		return bad(e, "node_id");
	}
	return 0;
}

/* Element i of requests into q[i], checked against those before; 0 or -1. */
static int
parse_one(struct req *r, json_t *list, size_t i, struct settle_req *q,
    struct elem *e)
{
	size_t	j;

	e->o = json_array_get(list, i);
	e->name = arena_printf(r->arena, "requests[%zu]", i);
	memset(&q[i], 0, sizeof(q[i]));
	if (!json_is_object(e->o)) {
		snprintf(e->msg, sizeof(e->msg), "'%s' must be an object",
		    e->name);
		e->param = e->name;
		return -1;
	}
	if (parse_head(r, e, &q[i]) == -1 || parse_result(e, &q[i]) == -1)
		return -1;
	for (j = 0; j < i; j++)
		if (strcmp(q[j].request_id, q[i].request_id) == 0) {
			snprintf(e->msg, sizeof(e->msg), "'request_id' appears"
			    " twice in the batch");
			return bad(e, "request_id");
		}
	return 0;
}

/* "close": an array of lease ids into *ids; 0 or -1 with e set. */
static int
parse_close(struct req *r, int64_t **ids, size_t *n, struct elem *e)
{
	json_t	*list = json_object_get(r->json, "close"), *v;
	size_t	 i;

	*n = 0;
	*ids = NULL;
	if (list == NULL || json_is_null(list))
		return 0;
	if (!json_is_array(list) || json_array_size(list) > BATCH_MAX) {
		snprintf(e->msg, sizeof(e->msg), "'close' must be an array of"
		    " at most %d lease ids", BATCH_MAX);
		e->param = "close";
		return -1;
	}
	*ids = arena_calloc(r->arena, json_array_size(list) + 1,
	    sizeof(int64_t));
	json_array_foreach(list, i, v) {
		if (!json_is_integer(v) || json_integer_value(v) < 1) {
			snprintf(e->msg, sizeof(e->msg), "a lease id is an"
			    " integer of at least 1");
			e->param = arena_printf(r->arena, "close[%zu]", i);
			return -1;
		}
		(*ids)[i] = json_integer_value(v);
	}
	*n = json_array_size(list);
	return 0;
}

/*
 * "trim": [{"lease_id", "keep"}, …] into ids and keep (n of them); 0 or
 * -1 with e set.
 */
static int
parse_trim(struct req *r, int64_t **ids, int64_t **keep, size_t *n,
    struct elem *e)
{
	json_t		*list = json_object_get(r->json, "trim"), *v;
	long long	 id, k;
	size_t		 i;

	*n = 0;
	if (list == NULL || json_is_null(list))
		return 0;
	if (!json_is_array(list) || json_array_size(list) > BATCH_MAX) {
		snprintf(e->msg, sizeof(e->msg), "'trim' must be an array of"
		    " at most %d {\"lease_id\", \"keep\"}", BATCH_MAX);
		e->param = "trim";
		return -1;
	}
	*ids = arena_calloc(r->arena, json_array_size(list) + 1,
	    sizeof(int64_t));
	*keep = arena_calloc(r->arena, json_array_size(list) + 1,
	    sizeof(int64_t));
	json_array_foreach(list, i, v) {
		if (json_get_int(v, "lease_id", 1, 1, INT64_MAX, &id, e->msg,
		    sizeof(e->msg)) < 0) {
			e->param = arena_printf(r->arena, "trim[%zu].lease_id",
			    i);
			return -1;
		}
		if (json_get_int(v, "keep", 1, 0, INT64_MAX, &k, e->msg,
		    sizeof(e->msg)) < 0) {
			e->param = arena_printf(r->arena, "trim[%zu].keep", i);
			return -1;
		}
		(*ids)[i] = id;
		(*keep)[i] = k;
	}
	*n = json_array_size(list);
	return 0;
}

/* Validate the whole batch into *q (n of them); 0 or -1 with e set. */
static int
parse_batch(struct req *r, struct settle_req **q, size_t *n, struct elem *e)
{
	json_t	*list = json_object_get(r->json, "requests");
	size_t	 i;

	if (!json_is_array(list) || json_array_size(list) > BATCH_MAX) {
		snprintf(e->msg, sizeof(e->msg), "'requests' must be an array"
		    " of at most %d requests", BATCH_MAX);
		e->param = "requests";
		return -1;
	}
	*n = json_array_size(list);
	*q = arena_calloc(r->arena, *n + 1, sizeof(**q));
	for (i = 0; i < *n; i++)
		if (parse_one(r, list, i, *q, e) == -1)
			return -1;
	return 0;
}

/* The answer: each request's result, and the leases closed. */
static int
answer(struct req *r, const struct settle_req *q, size_t n,
    const int64_t *close, size_t nclose)
{
	json_t	*settled = json_array(), *closed = json_array();
	size_t	 i;

	for (i = 0; i < n; i++)
		json_array_append_new(settled, json_pack("{s:s, s:I, s:I,"
		    " s:b}", "request_id", q[i].request_id,
		    "charged", (json_int_t)q[i].charged,
		    "earning", (json_int_t)q[i].earning,
		    "replayed", q[i].replayed));
	for (i = 0; i < nclose; i++)
		json_array_append_new(closed, json_integer(close[i]));
	return resp_json(r, 200, json_arena(r->arena, json_pack("{s:o, s:o}",
	    "settled", settled, "closed", closed)));
}

/* POST /internal/settle {"requests", "close", "trim"}: see docs/internal.md. */
int
api_internal_settle(struct req *r)
{
	struct settle_req	*q;
	struct settle_bad	 sb;
	struct elem		 e;
	int64_t			*close, *trim = NULL, *keep = NULL;
	size_t			 n, nclose, ntrim;

	memset(&e, 0, sizeof(e));
	e.a = r->arena;
	if (parse_batch(r, &q, &n, &e) == -1 ||
	    parse_close(r, &close, &nclose, &e) == -1 ||
	    parse_trim(r, &trim, &keep, &ntrim, &e) == -1)
		return resp_bad(r, e.param, e.msg);
	switch (settle_batch(r->app->db, r->arena, &r->app->gateway, q, n,
	    close, nclose, &sb)) {
	case GW_OK:
		break;
	case GW_BAD_ELEMENT:
		return resp_bad(r, sb.in_close ? arena_printf(r->arena,
		    "close[%zu]", sb.index) : arena_printf(r->arena,
		    "requests[%zu].%s", sb.index, sb.field),
		    strcmp(sb.field, "node_id") == 0 ? "No such node." :
		    "No such lease.");
	default:
		return 500;
	}
	/* After the draws, so what they drew is not given back twice. */
	if (lease_trim(r->app->db, r->arena, trim, keep, ntrim) != GW_OK)
		return 500;
	log_info("settled a batch of %zu request%s, closed %zu lease%s,"
	    " trimmed %zu", n, n == 1 ? "" : "s", nclose, nclose == 1 ? "" :
	    "s", ntrim);
	return answer(r, q, n, close, nclose);
}
