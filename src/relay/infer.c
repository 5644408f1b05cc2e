/* infer.c: one inference request: arrival, checks, admission, failover, settlement */
#include "config.h"

#include <sys/queue.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>

#include "http.h"
#include "infer.h"
#include "json.h"
#include "crypto.h"
#include "log.h"
#include "money.h"
#include "loop.h"
#include "relay.h"
#include "util.h"
#include "xfer.h"

/* Seconds a client refused for a burst is told to wait (Retry-After). */
#define BUSY_RETRY_AFTER	"2"

static void	try_next(struct infer *);
static void	finish(struct infer *, const char *status, enum outcome);

static TAILQ_HEAD(, infer)	all = TAILQ_HEAD_INITIALIZER(all);
static int			stopping;

/* Free a request's state; the settlement was sent already. */
static void
infer_free(struct infer *in)
{
	TAILQ_REMOVE(&all, in, entry);
	consumer_detach(in);
	queue_remove(in->queued);
	if (in->first_byte != NULL)
		event_free(in->first_byte);
	json_decref(in->body);
	json_decref(in->admit);
	json_decref(in->usage);
	json_decref(in->pending);
	free(in->key);
	free(in->client_ip);
	free(in->cands);
	str_free(&in->up_body);
	sse_free(&in->sse);
	relay->active--;
	free(in);
}

/* Is an attempt in flight (an endpoint call or a worker's job)? */
static int
in_flight(struct infer *in)
{
	return in->x != NULL || in->job != NULL;
}

/* Is the request waiting for a free slot? */
static int
waiting(struct infer *in)
{
	return in->queued != NULL;
}

/* Stop the attempt in flight; no callback of it follows. */
static void
attempt_cancel(struct infer *in)
{
	if (in->x != NULL)
		xfer_cancel(in->x);
	if (in->job != NULL)
		job_cancel(in->job);
	in->x = NULL;
	in->job = NULL;
}

/* Pause or resume the attempt while the consumer lags. */
static void
attempt_pause(struct infer *in, int paused)
{
	if (in->x != NULL)
		xfer_pause(in->x, paused);
	else if (in->job != NULL && !paused)
		job_resume(in->job);	/* a held batch POST is answered */
}

/* The consumer read too slowly for too long: end the request. */
static void
consumer_stalled(struct infer *in)
{
	if (in_flight(in)) {
		attempt_cancel(in);
		node_end(in->cur->node_id, OUTCOME_NEUTRAL);
	}
	consumer_stream_error(in, "The connection read too slowly and was "
	    "cut off.");
	finish(in, "cancelled", OUTCOME_NEUTRAL);
}

/* The consumer went away: cancel the upstream call; bill what was served. */
static void
consumer_left(struct infer *in)
{
	if (in->lease == NULL)
		return;		/* still being admitted: on_lease sees it */
	if (waiting(in)) {	/* never dispatched: nothing to bill */
		queue_remove(in->queued);
		in->queued = NULL;
		finish(in, "unserved", OUTCOME_NEUTRAL);
	} else if (in_flight(in)) {
		attempt_cancel(in);
		node_end(in->cur->node_id, OUTCOME_NEUTRAL);
		finish(in, "cancelled", OUTCOME_NEUTRAL);
	}
}

/* The attempt ended: done, fail over, or end with an error. */
static void
attempt_done(struct infer *in, CURLcode rc, long status)
{
	int	ok;

	in->x = NULL;
	in->job = NULL;
	in->paused = 0;
	evtimer_del(in->stall);
	evtimer_del(in->first_byte);
	if (in->up_status == 0)
		in->up_status = status;
	if (rc == CURLE_OK && upstream_consumer_fault(in->up_status)) {
		upstream_reject(in);
		node_end(in->cur->node_id, OUTCOME_NEUTRAL);
		finish(in, "rejected", OUTCOME_NEUTRAL);
		return;
	}
	if (in->cut && in->stream) {	/* we stopped it at max_tokens */
		log_warn("node %lld: streamed past max_tokens %lld; cut",
		    (long long)in->cur->node_id, in->max_tokens);
		consumer_stream_end(in);
		node_end(in->cur->node_id, OUTCOME_NEUTRAL);
		finish(in, "ok", OUTCOME_NEUTRAL);
		return;
	}
	ok = rc == CURLE_OK && in->up_status >= 200 && in->up_status < 300 &&
	    !in->malformed;
	if (ok && in->stream)
		ok = in->done_seen || in->finished;
	else if (ok)
		ok = upstream_answer(in) == 0;
	if (ok) {
		if (in->stream)
			consumer_stream_end(in);
		node_end(in->cur->node_id, OUTCOME_SUCCESS);
		finish(in, "ok", OUTCOME_SUCCESS);
		return;
	}
	if (rc == CURLE_ABORTED_BY_CALLBACK)
		log_warn("node %lld: refused an endpoint on a private address",
		    (long long)in->cur->node_id);
	else
		log_warn("node %lld failed: %s, status %ld%s",
		    (long long)in->cur->node_id, rc == CURLE_OK ? "answered" :
		    curl_easy_strerror(rc), in->up_status,
		    in->malformed ? ", malformed" : "");
	node_end(in->cur->node_id, OUTCOME_FAILURE);
	if (!in->forwarded) {
		try_next(in);	/* nothing reached the consumer: fail over */
		return;
	}
	consumer_stream_error(in, "The node serving this request failed "
	    "mid-stream.");
	finish(in, "failed", OUTCOME_FAILURE);
}

/* An endpoint's status line. */
static void
ep_status(struct xfer *x, long status, void *arg)
{
	upstream_status(arg, status);
}

/* An endpoint's body bytes. */
static int
ep_data(struct xfer *x, const char *p, size_t n, void *arg)
{
	return upstream_data(arg, p, n);
}

/* An endpoint's call ended. */
static void
ep_done(struct xfer *x, CURLcode rc, long status, void *arg)
{
	attempt_done(arg, rc, status);
}

static const struct xfer_cb	endpoint_cb = {
	.on_status = ep_status,
	.on_data = ep_data,
	.on_done = ep_done,
};

/* A worker's batch carried the model server's status. */
static void
job_status(void *arg, long status)
{
	upstream_status(arg, status);
}

/* One event from a worker: a stream's data payload, or a whole answer. */
static int
job_event(void *arg, const char *data, size_t len)
{
	struct infer	*in = arg;

	evtimer_del(in->first_byte);
	if (in->up_status >= 200 && in->up_status < 300 && in->stream)
		return upstream_event(in, data, len);
	return upstream_data(in, data, len);
}

/* The worker's last batch: done, or failed with a reason. */
static void
job_done(void *arg, const char *error, json_t *usage)
{
	struct infer	*in = arg;

	if (json_is_object(usage) && in->usage == NULL)
		in->usage = json_incref(usage);
	if (error != NULL && !in->cut)
		log_warn("node %lld: the worker reports an error",
		    (long long)in->cur->node_id);
	else
		in->done_seen = 1;	/* a worker's last batch is its [DONE] */
	job_cancel(in->job);	/* the job is over: let go of it */
	in->job = NULL;
	attempt_done(in, error != NULL ? CURLE_RECV_ERROR : CURLE_OK,
	    in->up_status);
}

/* Does the consumer lag so far that the worker should wait? */
static int
job_backlogged(void *arg)
{
	return ((struct infer *)arg)->paused;
}

static const struct job_cb	worker_cb = {
	.on_status = job_status,
	.on_event = job_event,
	.on_done = job_done,
	.backlogged = job_backlogged,
};

/* The upstream said nothing for too long: give up on it. */
static void
on_first_byte_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct infer	*in = arg;

	if (!in_flight(in))
		return;
	attempt_cancel(in);
	log_warn("node %lld: no first byte in %lld ms",
	    (long long)in->cur->node_id, in->stream ? relay->rc.first_byte_ms :
	    relay->rc.answer_ms);
	attempt_done(in, CURLE_OPERATION_TIMEDOUT, 0);
}

/*
 * Arm the wait for the node's first byte: a stream's first chunk comes
 * early (first_byte_timeout); a whole answer's first byte is its last, so
 * it gets answer_timeout.
 */
static void
arm_first_byte(struct infer *in)
{
	loop_timer_in(in->first_byte, in->stream ? relay->rc.first_byte_ms :
	    relay->rc.answer_ms);
}

/* Give the chosen worker node a job; it picks it up with its next poll. */
static int
call_worker(struct infer *in)
{
	json_t	*b = upstream_json(in);

	in->job = job_dispatch(in->cur->node_id, in->endpoint, in->stream, b,
	    &worker_cb, in);
	json_decref(b);
	arm_first_byte(in);
	return 0;
}

/* Call the chosen endpoint node. */
static int
call_endpoint(struct infer *in)
{
	struct str	 url = STR_INIT, body = STR_INIT, auth = STR_INIT;
	size_t		 n = strlen(in->cur->base_url);
	json_t		*b = upstream_json(in);

	while (n > 0 && in->cur->base_url[n - 1] == '/')
		n--;
	str_printf(&url, "%.*s%s", (int)n, in->cur->base_url, in->path);
	json_to_str(b, &body);
	json_decref(b);
	if (in->cur->api_token != NULL && *in->cur->api_token != '\0')
		str_printf(&auth, "Authorization: Bearer %s",
		    in->cur->api_token);
	in->x = xfer_start(relay->node_pool, &(struct xfer_req){
	    .url = str_cstr(&url),
	    .headers = xfer_json_headers(NULL, auth.len > 0 ?
		str_cstr(&auth) : NULL),
	    .body = str_cstr(&body),
	    .len = body.len,
	    .timeout_ms = (long)relay->rc.request_ms,
	}, &endpoint_cb, in);
	str_free(&url);
	str_free(&body);
	str_free(&auth);
	if (in->x == NULL)
		return -1;
	arm_first_byte(in);
	return 0;
}

/* Call the chosen node. */
static int
call_node(struct infer *in)
{
	upstream_reset(in);
	if (strcmp(in->cur->connection, "worker") == 0)
		return call_worker(in);
	return call_endpoint(in);
}

/* Which candidates can take a call now: endpoints always, workers polling. */
static void
mark_live(struct infer *in)
{
	size_t	i;

	for (i = 0; i < in->ncands; i++)
		in->cands[i].live = (strcmp(in->cands[i].connection,
		    "endpoint") == 0 || worker_live(in->cands[i].node_id)) &&
		    !node_gone_since(in->cands[i].node_id, in->admitted_ms);
}

/*
 * Every node that could serve the request is busy, past the queue's bound
 * or its timeout: 429 in OpenAI's shape with Retry-After (the official
 * clients retry it), or an error event once the stream's 200 went out.
 * Nothing was served.
 */
static void
refuse_busy(struct infer *in, const char *msg)
{
	struct evhttp_request	*req;

	if (in->started)
		consumer_stream_fail(in, "requests", "rate_limit_exceeded", msg);
	else if ((req = consumer_take(in)) != NULL) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Retry-After", BUSY_RETRY_AFTER);
		reply_error(req, 429, "requests", "rate_limit_exceeded", NULL,
		    msg);
	}
	finish(in, "unserved", OUTCOME_NEUTRAL);
}

/* Every live candidate is merely full: wait in the model's queue. */
static void
wait_for_slot(struct infer *in)
{
	if ((in->queued = queue_add(in->model, in)) == NULL)
		refuse_busy(in, "Every node serving this model is busy and "
		    "too many requests are waiting; nothing was charged. Try "
		    "again shortly.");
}

/* Could the waiting request use a slot on node id (not tried yet)? */
static int
queue_can_use(void *arg, int64_t node_id)
{
	struct infer	*in = arg;
	size_t		 i;

	for (i = 0; i < in->ncands; i++)
		if (in->cands[i].node_id == node_id && !in->cands[i].tried)
			return 1;
	return 0;
}

/* A slot it could use freed: pick again, or keep its place if all full. */
static void
queue_retry(void *arg)
{
	struct infer	*in = arg;

	mark_live(in);
	if (pick_avail(in->cands, in->ncands) == PICK_BUSY)
		return;
	queue_remove(in->queued);
	in->queued = NULL;
	try_next(in);
}

/* It waited queue_timeout for a slot. */
static void
queue_expired(void *arg)
{
	struct infer	*in = arg;

	in->queued = NULL;
	refuse_busy(in, "Every node serving this model stayed busy while the "
	    "request waited; nothing was charged. Try again shortly.");
}

/*
 * The relay stops while the request waits: free it unanswered and
 * unsettled (the loop is over, a settlement could not be sent); the
 * reaper voids its lease's hold.
 */
static void
queue_dropped(void *arg)
{
	struct infer	*in = arg;

	in->queued = NULL;
	log_info("task %s dropped from the queue at exit", in->id);
	infer_free(in);
}

/*
 * Fail over: the next candidate; wait for a slot when the rest are merely
 * full; or give up when none is left.
 */
static void
try_next(struct infer *in)
{
	mark_live(in);
	while (in->attempts <= relay->rc.failover &&
	    (in->cur = pick_next(in->cands, in->ncands)) != NULL) {
		in->attempts++;
		node_begin(in->cur->node_id);
		if (call_node(in) == 0)
			return;
		node_end(in->cur->node_id, OUTCOME_FAILURE);
	}
	in->cur = NULL;
	if (in->attempts <= relay->rc.failover &&
	    pick_avail(in->cands, in->ncands) == PICK_BUSY) {
		wait_for_slot(in);
		return;
	}
	if (in->attempts == 0) {
		if (in->req != NULL)
			evhttp_add_header(evhttp_request_get_output_headers(
			    in->req), "Retry-After", "5");
		consumer_fail(in, 503, "no_capacity", "No node serving this "
		    "model is available right now; try again shortly.");
	} else if (in->started)
		consumer_stream_error(in, "Every node tried for this request "
		    "failed.");
	else
		consumer_fail(in, 502, "upstream_error", "Every node tried for "
		    "this request failed; nothing was charged. Try again.");
	finish(in, "unserved", OUTCOME_NEUTRAL);
}

/* The price of the candidate that served, from the admission's answer. */
static json_int_t
price_of(struct infer *in, const char *which)
{
	json_t	*c;
	size_t	 i;

	if (in->cur == NULL)
		return 0;
	json_array_foreach(json_object_get(in->admit, "candidates"), i, c)
		if (json_integer_value(json_object_get(c, "node_id")) ==
		    in->cur->node_id)
			return json_integer_value(json_object_get(c, which));
	return 0;
}

/* Settle the outcome with the next batch (retried until it is answered), and free. */
static void
finish(struct infer *in, const char *status, enum outcome o)
{
	json_t		*s;
	long long	 tin = upstream_usage_count(json_object_get(in->usage,
			    "prompt_tokens"));
	long long	 tout = upstream_usage_count(json_object_get(in->usage,
			    "completion_tokens"));

	log_info("task %s %s node %lld attempts %d out %lld %lldms", in->id,
	    status, in->cur ? (long long)in->cur->node_id : 0LL, in->attempts,
	    in->counted_out, (long long)(util_now_ms() - in->t0_ms));
	if (in->lease == NULL) {	/* never admitted: nothing to settle */
		infer_free(in);
		return;
	}
	s = json_pack("{s:s, s:I, s:s, s:s, s:b, s:I, s:I, s:I, s:o, s:I, s:I,"
	    " s:s, s:o, s:o, s:I, s:I, s:I, s:o, s:I, s:s, s:s}",
	    "request_id", in->id,
	    "lease_id", (json_int_t)in->lease->id,
	    "model", in->model,
	    "endpoint", in->endpoint,
	    "stream", in->stream,
	    "prompt_tokens", (json_int_t)in->body_len,
	    "max_tokens", (json_int_t)in->max_tokens,
	    "reserved", (json_int_t)in->reserved,
	    "node_id", in->cur ? json_integer(in->cur->node_id) : json_null(),
	    "price_in", price_of(in, "price_in"),
	    "price_out", price_of(in, "price_out"),
	    "status", status,
	    /* A count the node made up (negative, absurd) is no count. */
	    "tokens_in", tin >= 0 ? json_integer(tin) : json_null(),
	    "tokens_out", tout >= 0 ? json_integer(tout) : json_null(),
	    /* Nothing served and nothing reported: nothing to bill. */
	    "counted_in", (json_int_t)(in->forwarded || in->usage ?
	    upstream_prompt_estimate(in) : 0),
	    "counted_out", (json_int_t)in->counted_out,
	    "bytes_out", (json_int_t)in->bytes_out,
	    "ttft_ms", in->ttft_ms >= 0 ? json_integer(in->ttft_ms) :
	    json_null(),
	    "duration_ms", (json_int_t)(util_now_ms() - in->t0_ms),
	    "outcome", outcome_name(o),
	    "client_ip", in->client_ip != NULL ? in->client_ip : "");
	settle_add(s, in->lease, in->reserved);
	infer_free(in);
}

/* The caller's address: the last X-Forwarded-For hop our proxy added. */
static const char *
client_ip(struct evhttp_request *req)
{
	const char	*xff = evhttp_find_header(
			    evhttp_request_get_input_headers(req),
			    "X-Forwarded-For"), *last;
	char		*peer;
	ev_uint16_t	 port;

	if (xff != NULL) {
		last = strrchr(xff, ',');
		last = last ? last + 1 : xff;
		while (*last == ' ')
			last++;
		return last;
	}
	evhttp_connection_get_peer(evhttp_request_get_connection(req), &peer,
	    &port);
	return peer;
}

/* The bearer token of req, or "". */
static const char *
bearer(struct evhttp_request *req)
{
	const char	*auth = evhttp_find_header(
			    evhttp_request_get_input_headers(req),
			    "Authorization");

	if (auth == NULL || strncasecmp(auth, "Bearer ", 7) != 0)
		return "";
	for (auth += 7; *auth == ' '; auth++)
		;
	return auth;
}

/* A new request's state for req on endpoint; NULL after answering 4xx. */
static struct infer *
infer_new(struct evhttp_request *req, const char *endpoint)
{
	struct evbuffer	*buf = evhttp_request_get_input_buffer(req);
	struct infer	*in;
	const char	*msg, *param;
	char		*data;

	if ((in = calloc(1, sizeof(*in))) == NULL)
		abort();
	TAILQ_INSERT_TAIL(&all, in, entry);
	relay->active++;
	in->req = req;
	in->endpoint = endpoint;
	in->path = strcmp(endpoint, "chat") == 0 ? "/chat/completions" :
	    strcmp(endpoint, "completions") == 0 ? "/completions" :
	    "/embeddings";
	in->t0_ms = in->last_out_ms = util_now_ms();
	upstream_reset(in);
	in->body_len = evbuffer_get_length(buf);
	if (in->body_len > relay->rc.max_body) {
		reply_error(req, 413, "invalid_request_error",
		    "request_too_large", NULL, "The request body is too "
		    "large.");
		infer_free(in);
		return NULL;
	}
	data = (char *)evbuffer_pullup(buf, -1);
	if ((in->body = json_loadb(data ? data : "", in->body_len,
	    JSON_REJECT_DUPLICATES, NULL)) == NULL ||
	    !json_is_object(in->body)) {
		msg = "The body must be a JSON object.";
		param = NULL;
	} else if ((msg = infer_check_body(in, &param)) == NULL)
		return in;
	reply_error(req, 400, "invalid_request_error", "invalid_request",
	    param, msg);
	infer_free(in);
	return NULL;
}

void
infer_handle(struct evhttp_request *req, void *arg)
{
	struct infer	*in;

	relay->requests++;
	reply_nodelay(req);
	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
		reply_error(req, 405, "invalid_request_error",
		    "method_not_allowed", NULL, "Use POST.");
		return;
	}
	if (stopping) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Retry-After", "1");
		reply_error(req, 503, "server_error", "service_unavailable",
		    NULL, "The relay is restarting; try again in a moment.");
		return;
	}
	if ((in = infer_new(req, arg)) == NULL)
		return;
	consumer_attach(in);
	if ((in->first_byte = evtimer_new(relay->base, on_first_byte_timeout,
	    in)) == NULL || crypto_token_base62(in->id + 2, sizeof(in->id) -
	    2, 24) == -1 || (in->key = strdup(bearer(req))) == NULL ||
	    (in->client_ip = strdup(client_ip(req))) == NULL)
		abort();
	memcpy(in->id, "t_", 2);
	/* On every answer, whole, streamed or refused: the receipt's key. */
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "x-request-id", in->id);
	admit_start(in);
}

void
infer_stop(void)
{
	stopping = 1;
}

void
infer_cancel_all(void)
{
	struct infer	*in, *next;

	for (in = TAILQ_FIRST(&all); in != NULL; in = next) {
		next = TAILQ_NEXT(in, entry);
		if (in->lease == NULL)
			continue;	/* not admitted: nothing to settle */
		if (waiting(in)) {
			queue_remove(in->queued);
			in->queued = NULL;
			consumer_fail(in, 503, "service_unavailable", "The "
			    "relay is restarting; nothing was charged. Try "
			    "again in a moment.");
			finish(in, "unserved", OUTCOME_NEUTRAL);
		} else if (in_flight(in)) {
			attempt_cancel(in);
			node_end(in->cur->node_id, OUTCOME_NEUTRAL);
			consumer_stream_error(in, "The relay is restarting; "
			    "this answer was cut short.");
			finish(in, "cancelled", OUTCOME_NEUTRAL);
		}
	}
}

/* Reserved of a lease: the first attempt. */
static void
admitted(struct infer *in)
{
	consumer_keepalive(in);
	try_next(in);
}

/* Answered before admission (or the consumer left): nothing to settle. */
static void
not_admitted(struct infer *in)
{
	finish(in, "unserved", OUTCOME_NEUTRAL);
}

void
infer_init(void)
{
	static const struct consumer_hooks	hooks = {
		.in_flight = in_flight,
		.waiting = waiting,
		.pause = attempt_pause,
		.stalled = consumer_stalled,
		.left = consumer_left,
	};
	static const struct queue_cb		qcb = {
		.can_use = queue_can_use,
		.retry = queue_retry,
		.expired = queue_expired,
		.dropped = queue_dropped,
	};
	static const struct admit_hooks		acb = {
		.admitted = admitted,
		.refused = not_admitted,
	};

	consumer_init(&hooks);
	queue_init(&qcb);
	admit_init(&acb);
}
