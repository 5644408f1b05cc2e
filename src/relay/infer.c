/* infer.c: one inference request: parse, admit, pick, stream, fail over, settle */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/keyvalq_struct.h>

#include "json.h"
#include "log.h"
#include "relay.h"
#include "sse.h"
#include "str.h"
#include "util.h"

#define ERROR_BODY_MAX	(64 * 1024)
#define ANSWER_MAX	(32 * 1024 * 1024)
#define EVENT_MAX	(4 * 1024 * 1024)

struct infer {
	struct evhttp_request	*req;		/* NULL once the client left */
	struct evhttp_connection *conn;
	const char		*endpoint;	/* "chat" | "completions" | "embeddings" */
	const char		*path;		/* the upstream path */
	json_t			*body;		/* what the consumer sent */
	size_t			 body_len;
	const char		*model;		/* the public id (in body) */
	int			 stream, want_usage;
	/* admission */
	json_t			*admit;
	int64_t			 hold_id;
	long long		 max_tokens;
	struct candidate	*cands;
	size_t			 ncands;
	/* the attempt in flight */
	struct candidate	*cur;
	int			 attempts;
	struct xfer		*x;		/* an endpoint call, or */
	struct job		*job;		/* a worker's job */
	long			 up_status;
	struct str		 up_body;
	struct sse		 sse;
	int			 malformed;
	int			 done_seen, finished;
	/* what reached the consumer */
	int			 started, forwarded;
	long long		 counted_out;
	json_t			*usage;
	int64_t			 t0_ms, ttft_ms, last_out_ms;
	struct event		*keepalive, *first_byte, *stall;
	int			 paused;
};

static void	try_next(struct infer *);
static void	finish(struct infer *, const char *status, enum outcome);
static void	start_stream(struct infer *);
static void	send_chunk(struct infer *, const char *, size_t);

/* Free a request's state; the settlement was sent already. */
static void
infer_free(struct infer *in)
{
	if (in->conn != NULL)
		evhttp_connection_set_closecb(in->conn, NULL, NULL);
	if (in->keepalive != NULL)
		event_free(in->keepalive);
	if (in->first_byte != NULL)
		event_free(in->first_byte);
	if (in->stall != NULL)
		event_free(in->stall);
	json_decref(in->body);
	json_decref(in->admit);
	json_decref(in->usage);
	free(in->cands);
	str_free(&in->up_body);
	sse_free(&in->sse);
	relay->active--;
	free(in);
}

/* Is an attempt in flight (an endpoint call or a worker's job)? */
static int
in_flight(const struct infer *in)
{
	return in->x != NULL || in->job != NULL;
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

/*
 * Take the request out of our hands before its final reply: the final
 * reply may free the request and its connection at once, and the close
 * callback must not run into us then. NULL when the consumer left.
 */
static struct evhttp_request *
take_req(struct infer *in)
{
	struct evhttp_request	*req = in->req;

	if (in->conn != NULL)
		evhttp_connection_set_closecb(in->conn, NULL, NULL);
	in->req = NULL;
	in->conn = NULL;
	return req;
}

/* Send an OpenAI-shaped error, unless the consumer left. */
static void
fail_client(struct infer *in, int status, const char *code, const char *msg)
{
	struct evhttp_request	*req = take_req(in);

	if (req != NULL)
		send_json_error(req, status, status >= 500 ? "server_error" :
		    "invalid_request_error", code, NULL, msg);
}

/* End a stream with an OpenAI-style error event (and headers if none went). */
static void
stream_error(struct infer *in, const char *msg)
{
	struct str		 s = STR_INIT;
	struct evhttp_request	*req;
	json_t			*e;

	if (in->req == NULL)
		return;
	start_stream(in);
	e = json_pack("{s:{s:s, s:s, s:n, s:s}}", "error", "message", msg,
	    "type", "server_error", "param", "code", "upstream_error");
	str_puts(&s, "data: ");
	json_to_str(e, &s);
	str_puts(&s, "\n\n");
	json_decref(e);
	send_chunk(in, s.buf, s.len);
	str_free(&s);
	if ((req = take_req(in)) != NULL)
		evhttp_send_reply_end(req);
}

/* End a stream that went well. */
static void
stream_end(struct infer *in)
{
	struct evhttp_request	*req;

	if (in->req == NULL)
		return;
	start_stream(in);
	send_chunk(in, "data: [DONE]\n\n", 14);
	if ((req = take_req(in)) != NULL)
		evhttp_send_reply_end(req);
}

/* Start the SSE reply once: headers go when the first event does. */
static void
start_stream(struct infer *in)
{
	struct evkeyvalq	*h;

	if (in->started || in->req == NULL)
		return;
	h = evhttp_request_get_output_headers(in->req);
	evhttp_add_header(h, "Content-Type", "text/event-stream");
	evhttp_add_header(h, "Cache-Control", "no-cache");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(h, "X-Accel-Buffering", "no");
	evhttp_send_reply_start(in->req, 200, "OK");
	in->started = 1;
}

/* Bytes the consumer has not read yet. */
static size_t
backlog(struct infer *in)
{
	struct bufferevent	*bev;

	if (in->conn == NULL ||
	    (bev = evhttp_connection_get_bufferevent(in->conn)) == NULL)
		return 0;
	return evbuffer_get_length(bufferevent_get_output(bev));
}

/* The consumer drained its backlog: let the upstream go on. */
static void
drained(struct evhttp_connection *c, void *arg)
{
	struct infer	*in = arg;

	if (in->paused && backlog(in) < relay->rc.out_high / 2) {
		in->paused = 0;
		evtimer_del(in->stall);
		attempt_pause(in, 0);
	}
}

/* Write bytes to the consumer's stream, pausing the upstream when they lag. */
static void
send_chunk(struct infer *in, const char *p, size_t n)
{
	struct evbuffer	*b;

	if (in->req == NULL)
		return;
	b = evbuffer_new();
	evbuffer_add(b, p, n);
	if (backlog(in) + n > relay->rc.out_high && in_flight(in)) {
		struct timeval tv = { relay->rc.stall_ms / 1000,
		    (relay->rc.stall_ms % 1000) * 1000 };

		if (!in->paused) {
			in->paused = 1;
			attempt_pause(in, 1);
			evtimer_add(in->stall, &tv);
		}
	}
	/*
	 * While paused every chunk carries the drain callback: a chunk sent
	 * without one (a keep-alive) would clear it, and the upstream would
	 * never be resumed.
	 */
	if (in->paused)
		evhttp_send_reply_chunk_with_cb(in->req, b, drained, in);
	else
		evhttp_send_reply_chunk(in->req, b);
	evbuffer_free(b);
	in->last_out_ms = util_now_ms();
}

/* Replace the upstream's model name with the public id the consumer used. */
static void
public_model(struct infer *in, json_t *obj)
{
	if (json_object_get(obj, "model") != NULL)
		json_object_set_new(obj, "model", json_string(in->model));
}

/* Words in s: the relay's estimate of a whole answer's tokens. */
static long long
words(const char *s)
{
	long long	n = 0;
	int		in = 0;

	for (; *s != '\0'; s++) {
		if (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r')
			in = 0;
		else if (!in) {
			in = 1;
			n++;
		}
	}
	return n;
}

/*
 * The relay's own count of what it forwarded: one per content-bearing
 * chunk of a stream, or the words of a whole answer (chat message or
 * completion text). The upstream's reported usage is billed when it
 * gives one; this is the check on it and the fallback.
 */
static void
count_chunk(struct infer *in, json_t *obj)
{
	json_t		*c, *delta;
	const char	*s;
	size_t		 i;

	json_array_foreach(json_object_get(obj, "choices"), i, c) {
		if ((delta = json_object_get(c, "delta")) != NULL)
			s = json_string_value(json_object_get(delta, "content"));
		else if ((s = json_string_value(json_object_get(c, "text"))) == NULL)
			s = json_string_value(json_object_get(json_object_get(c,
			    "message"), "content"));
		if (s != NULL && *s != '\0') {
			in->counted_out += in->stream ? 1 : words(s);
			if (in->ttft_ms < 0)
				in->ttft_ms = util_now_ms() - in->t0_ms;
		}
		if (json_is_string(json_object_get(c, "finish_reason")))
			in->finished = 1;
	}
}

/* One upstream SSE event: check, count, rewrite, forward. */
static int
on_event(const char *data, size_t len, const char *event, void *arg)
{
	struct infer	*in = arg;
	json_t		*obj, *usage;
	struct str	 out = STR_INIT;

	if (strcmp(data, "[DONE]") == 0) {
		in->done_seen = 1;
		return 0;
	}
	if ((obj = json_loadb(data, len, 0, NULL)) == NULL ||
	    !json_is_object(obj) || json_object_get(obj, "error") != NULL) {
		json_decref(obj);
		in->malformed = 1;
		return -1;
	}
	if (json_is_object(usage = json_object_get(obj, "usage"))) {
		json_decref(in->usage);
		in->usage = json_incref(usage);
	}
	count_chunk(in, obj);
	if (json_array_size(json_object_get(obj, "choices")) == 0 &&
	    usage != NULL && !in->want_usage) {
		json_decref(obj);	/* the usage chunk we asked for, not them */
		return 0;
	}
	public_model(in, obj);
	if (!in->want_usage)
		json_object_del(obj, "usage");
	str_puts(&out, "data: ");
	json_to_str(obj, &out);
	str_puts(&out, "\n\n");
	start_stream(in);
	send_chunk(in, out.buf, out.len);
	in->forwarded = 1;
	str_free(&out);
	json_decref(obj);
	return 0;
}

/* The upstream's status line. */
static void
up_status(struct xfer *x, long status, void *arg)
{
	struct infer	*in = arg;

	in->up_status = status;
}

/* Upstream body bytes: stream them on, or gather a whole answer. */
static int
up_data(struct xfer *x, const char *p, size_t n, void *arg)
{
	struct infer	*in = arg;

	evtimer_del(in->first_byte);
	if (in->up_status >= 200 && in->up_status < 300 && in->stream)
		return sse_feed(&in->sse, p, n);
	if (in->up_body.len + n > (in->up_status < 300 ? ANSWER_MAX :
	    ERROR_BODY_MAX))
		return in->up_status < 300 ? (in->malformed = 1, -1) : 0;
	str_append(&in->up_body, p, n);
	return 0;
}

/* A whole (non-streamed) answer: check it, rewrite the model, send it. */
static int
send_answer(struct infer *in)
{
	json_t			*obj, *usage;
	struct str		 out = STR_INIT;
	struct evbuffer		*b;
	struct evkeyvalq	*h;
	struct evhttp_request	*req;

	/* A 200 that is not an answer (an error, no choices) is the node's failure. */
	if ((obj = json_loadb(str_cstr(&in->up_body), in->up_body.len, 0,
	    NULL)) == NULL || !json_is_object(obj) ||
	    json_object_get(obj, "error") != NULL ||
	    !json_is_array(json_object_get(obj, strcmp(in->endpoint,
	    "embeddings") == 0 ? "data" : "choices"))) {
		json_decref(obj);
		in->malformed = 1;
		return -1;
	}
	if (json_is_object(usage = json_object_get(obj, "usage"))) {
		/* A worker's last batch may have brought one already. */
		json_decref(in->usage);
		in->usage = json_incref(usage);
	}
	count_chunk(in, obj);
	in->ttft_ms = util_now_ms() - in->t0_ms;
	public_model(in, obj);
	json_to_str(obj, &out);
	json_decref(obj);
	if ((req = take_req(in)) != NULL) {
		h = evhttp_request_get_output_headers(req);
		evhttp_add_header(h, "Content-Type", "application/json");
		evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
		b = evbuffer_new();
		evbuffer_add(b, out.buf, out.len);
		evhttp_send_reply(req, 200, "OK", b);
		evbuffer_free(b);
	}
	in->forwarded = 1;
	str_free(&out);
	return 0;
}

/*
 * Pass the upstream's own 4xx (the consumer's input) on: unchanged when it
 * is an OpenAI-shaped error, as an error event when a stream has started.
 */
static void
pass_rejection(struct infer *in)
{
	json_t			*obj = json_loadb(str_cstr(&in->up_body),
				    in->up_body.len, 0, NULL);
	struct evbuffer		*b;
	struct evhttp_request	*req;
	int			 shaped = json_is_object(obj) &&
				    json_is_string(json_object_get(json_object_get(obj,
				    "error"), "message"));

	json_decref(obj);
	if (in->started) {
		stream_error(in, "The model server refused the request as invalid.");
		return;
	}
	if (!shaped) {
		fail_client(in, (int)in->up_status, "invalid_request",
		    "The model server refused the request as invalid.");
		return;
	}
	if ((req = take_req(in)) == NULL)
		return;
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "application/json");
	b = evbuffer_new();
	evbuffer_add(b, in->up_body.buf, in->up_body.len);
	evhttp_send_reply(req, (int)in->up_status, "Rejected", b);
	evbuffer_free(b);
}

/*
 * How the node did, judged by status: 2xx success; the consumer's own bad
 * input (400, 422) neutral; everything else a failure: 5xx, 401/403 (the
 * supplier's credentials), 404 and 413 (a wrong path or model name on the
 * supplier's side), 429 (it is overloaded).
 */
static int
consumer_fault(long status)
{
	return status == 400 || status == 422;
}

/* The upstream call ended. */
static void
up_done(struct xfer *x, CURLcode rc, long status, void *arg)
{
	struct infer	*in = arg;
	int		 ok;

	in->x = NULL;
	in->job = NULL;
	in->paused = 0;
	evtimer_del(in->stall);
	evtimer_del(in->first_byte);
	if (in->up_status == 0)
		in->up_status = status;
	if (rc == CURLE_OK && consumer_fault(in->up_status)) {
		pass_rejection(in);
		node_end(in->cur->node_id, OUTCOME_NEUTRAL);
		finish(in, "rejected", OUTCOME_NEUTRAL);
		return;
	}
	ok = rc == CURLE_OK && in->up_status >= 200 && in->up_status < 300 &&
	    !in->malformed;
	if (ok && in->stream)
		ok = in->done_seen || in->finished;
	else if (ok)
		ok = send_answer(in) == 0;
	if (ok) {
		if (in->stream)
			stream_end(in);
		node_end(in->cur->node_id, OUTCOME_SUCCESS);
		finish(in, "ok", OUTCOME_SUCCESS);
		return;
	}
	log_warn("node %lld failed: %s, status %ld%s", (long long)in->cur->node_id,
	    rc == CURLE_OK ? "answered" : curl_easy_strerror(rc), in->up_status,
	    in->malformed ? ", malformed" : "");
	node_end(in->cur->node_id, OUTCOME_FAILURE);
	if (!in->forwarded) {
		try_next(in);	/* nothing reached the consumer: fail over */
		return;
	}
	stream_error(in, "The node serving this request failed mid-stream.");
	finish(in, "failed", OUTCOME_FAILURE);
}

/* The upstream said nothing for too long: give up on it. */
static void
on_first_byte_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct infer	*in = arg;

	if (!in_flight(in))
		return;
	attempt_cancel(in);
	log_warn("node %lld: no first byte in %lld ms", (long long)in->cur->node_id,
	    in->stream ? relay->rc.first_byte_ms : relay->rc.answer_ms);
	up_done(NULL, CURLE_OPERATION_TIMEDOUT, 0, in);
}

/* The consumer stopped reading for too long: cut them off. */
static void
on_stall(evutil_socket_t fd, short what, void *arg)
{
	struct infer	*in = arg;

	if (backlog(in) < relay->rc.out_high) {
		/* They caught up after all (drained() may not have run). */
		in->paused = 0;
		attempt_pause(in, 0);
		return;
	}
	log_warn("consumer stopped reading: cut off");
	if (in_flight(in)) {
		attempt_cancel(in);
		node_end(in->cur->node_id, OUTCOME_NEUTRAL);
	}
	stream_error(in, "The connection read too slowly and was cut off.");
	finish(in, "cancelled", OUTCOME_NEUTRAL);
}

/* Keep a silent stream's consumer (and proxies) from timing out. */
static void
on_keepalive(evutil_socket_t fd, short what, void *arg)
{
	struct infer	*in = arg;

	if (in->req == NULL || !in->stream || !in_flight(in) ||
	    util_now_ms() - in->last_out_ms < relay->rc.keepalive_ms)
		return;
	start_stream(in);
	send_chunk(in, ": keep-alive\n\n", 14);
}

static const struct xfer_cb up_cb = { up_status, up_data, NULL, up_done };

/* The body for the chosen node: its model name, our cap, usage asked for. */
static json_t *
upstream_json(struct infer *in)
{
	json_t	*b = json_deep_copy(in->body);

	json_object_set_new(b, "model", json_string(in->cur->upstream_model));
	json_object_del(b, "max_price");
	if (strcmp(in->endpoint, "embeddings") != 0) {
		/* Our cap, in the field the consumer used (newer models want
		 * max_completion_tokens). */
		if (json_object_get(b, "max_completion_tokens") != NULL &&
		    json_object_get(b, "max_tokens") == NULL)
			json_object_set_new(b, "max_completion_tokens",
			    json_integer(in->max_tokens));
		else {
			json_object_del(b, "max_completion_tokens");
			json_object_set_new(b, "max_tokens",
			    json_integer(in->max_tokens));
		}
	}
	if (in->stream)
		json_object_set_new(b, "stream_options",
		    json_pack("{s:b}", "include_usage", 1));
	return b;
}

/* The same, as JSON text. */
static void
upstream_body(struct infer *in, struct str *out)
{
	json_t	*b = upstream_json(in);

	json_to_str(b, out);
	json_decref(b);
}

/*
 * Forget what a failed attempt left behind: nothing of it reached the
 * consumer (or there would be no next attempt), so neither its counts
 * nor a usage it reported may be billed.
 */
static void
attempt_reset(struct infer *in)
{
	in->up_status = 0;
	in->malformed = in->done_seen = in->finished = 0;
	in->counted_out = 0;
	in->ttft_ms = -1;
	json_decref(in->usage);
	in->usage = NULL;
	str_reset(&in->up_body);
}

/*
 * Arm the wait for the node's first byte: a stream's first chunk comes
 * early (first_byte_timeout); a whole answer's first byte is its last, so
 * it gets answer_timeout.
 */
static void
arm_first_byte(struct infer *in)
{
	long long	ms = in->stream ? relay->rc.first_byte_ms :
			    relay->rc.answer_ms;
	struct timeval	tv = { ms / 1000, (ms % 1000) * 1000 };

	evtimer_add(in->first_byte, &tv);
}

/* Give the chosen worker node a job; it picks it up with its next poll. */
static int
call_worker(struct infer *in)
{
	json_t		*b;

	attempt_reset(in);
	b = upstream_json(in);
	in->job = job_dispatch(in->cur->node_id, in->endpoint, in->stream, b, in);
	json_decref(b);
	arm_first_byte(in);
	return 0;
}

/* Call the chosen node. */
static int
call_node(struct infer *in)
{
	struct curl_slist	*h = NULL;
	struct str		 url = STR_INIT, body = STR_INIT, auth = STR_INIT;
	size_t			 n = strlen(in->cur->base_url);

	if (strcmp(in->cur->connection, "worker") == 0)
		return call_worker(in);
	while (n > 0 && in->cur->base_url[n - 1] == '/')
		n--;
	str_printf(&url, "%.*s%s", (int)n, in->cur->base_url, in->path);
	upstream_body(in, &body);
	h = curl_slist_append(h, "Content-Type: application/json");
	h = curl_slist_append(h, "Expect:");
	if (in->cur->api_token != NULL && *in->cur->api_token != '\0') {
		str_printf(&auth, "Authorization: Bearer %s", in->cur->api_token);
		h = curl_slist_append(h, str_cstr(&auth));
	}
	attempt_reset(in);
	sse_free(&in->sse);
	sse_init(&in->sse, EVENT_MAX, on_event, in);
	in->x = xfer_post_endpoint(str_cstr(&url), h, str_cstr(&body), body.len,
	    (long)relay->rc.request_ms, &up_cb, in);
	str_free(&url);
	str_free(&body);
	str_free(&auth);
	if (in->x == NULL)
		return -1;
	arm_first_byte(in);
	return 0;
}

/* Fail over: the next candidate, or give up when none is left. */
static void
try_next(struct infer *in)
{
	while (in->attempts <= relay->rc.failover &&
	    (in->cur = pick_next(in->cands, in->ncands)) != NULL) {
		in->attempts++;
		node_begin(in->cur->node_id);
		if (call_node(in) == 0)
			return;
		node_end(in->cur->node_id, OUTCOME_FAILURE);
	}
	in->cur = NULL;
	if (in->attempts == 0) {
		if (in->req != NULL)
			evhttp_add_header(evhttp_request_get_output_headers(in->req),
			    "Retry-After", "5");
		fail_client(in, 503, "no_capacity", "No node serving this model "
		    "is available right now; try again shortly.");
	} else if (in->started)
		stream_error(in, "Every node tried for this request failed.");
	else
		fail_client(in, 502, "upstream_error", "Every node tried for this "
		    "request failed; nothing was charged. Try again.");
	finish(in, "unserved", OUTCOME_NEUTRAL);
}

/* Bytes of the text strings in v: a string, or an array of strings or parts. */
static size_t
text_bytes(json_t *v)
{
	json_t	*e;
	size_t	 i, n = 0;

	if (json_is_string(v))
		return json_string_length(v);
	json_array_foreach(v, i, e) {
		if (json_is_string(e))
			n += json_string_length(e);
		else if (json_is_object(e))	/* {"type":"text","text":…} */
			n += json_string_length(json_object_get(e, "text"));
	}
	return n;
}

/*
 * The relay's own count of the prompt: its text bytes / 4, rounded up. It
 * is billed only when the node reports no usage (the hold was sized on
 * the body's whole byte length, an upper bound).
 */
static long long
prompt_estimate(struct infer *in)
{
	json_t	*m;
	size_t	 i, n = 0;

	json_array_foreach(json_object_get(in->body, "messages"), i, m)
		n += text_bytes(json_object_get(m, "content"));
	n += text_bytes(json_object_get(in->body, "prompt"));
	n += text_bytes(json_object_get(in->body, "input"));
	return (long long)((n + 3) / 4);
}

/* Report the outcome to the app (retried until it answers) and free. */
static void
finish(struct infer *in, const char *status, enum outcome o)
{
	json_t		*s;
	json_t		*tin = json_object_get(in->usage, "prompt_tokens");
	json_t		*tout = json_object_get(in->usage, "completion_tokens");

	s = json_pack("{s:I, s:o, s:s, s:o, s:o, s:I, s:I, s:o, s:I, s:s}",
	    "hold_id", (json_int_t)in->hold_id,
	    "node_id", in->cur ? json_integer(in->cur->node_id) : json_null(),
	    "status", status,
	    "tokens_in", json_is_integer(tin) ? json_incref(tin) : json_null(),
	    "tokens_out", json_is_integer(tout) ? json_incref(tout) : json_null(),
	    /* Nothing served and nothing reported: nothing to bill. */
	    "counted_in", (json_int_t)(in->forwarded || in->usage ?
	    prompt_estimate(in) : 0),
	    "counted_out", (json_int_t)in->counted_out,
	    "ttft_ms", in->ttft_ms >= 0 ? json_integer(in->ttft_ms) : json_null(),
	    "duration_ms", (json_int_t)(util_now_ms() - in->t0_ms),
	    "outcome", outcome_name(o));
	log_info("hold %lld %s node %lld attempts %d out %lld %lldms",
	    (long long)in->hold_id, status, in->cur ? (long long)in->cur->node_id :
	    0LL, in->attempts, in->counted_out,
	    (long long)(util_now_ms() - in->t0_ms));
	app_settle(s);
	infer_free(in);
}

/*
 * Notice a consumer who leaves before we write anything: evhttp stops
 * reading once a request is in, so read for the end of the connection
 * (any bytes that come wait in the buffer for evhttp's next request).
 */
static void
watch_close(struct evhttp_connection *c)
{
	struct bufferevent	*bev = evhttp_connection_get_bufferevent(c);
	bufferevent_data_cb	 rd, wr;
	bufferevent_event_cb	 ev;
	void			*arg;

	bufferevent_getcb(bev, &rd, &wr, &ev, &arg);
	bufferevent_setcb(bev, NULL, wr, ev, arg);
	bufferevent_enable(bev, EV_READ);
}

/*
 * Let go of a request whose consumer left. libevent detaches it from the
 * dead connection and leaves it to us: finishing the reply frees it. A
 * request still attached (the server shutting down) is libevent's to free.
 */
static void
release_request(struct infer *in)
{
	struct evhttp_request	*req = in->req;

	in->req = NULL;
	if (req == NULL || evhttp_request_get_connection(req) != NULL)
		return;
	if (in->started)
		evhttp_send_reply_end(req);
	else
		evhttp_send_reply(req, 499, "Client Closed Request", NULL);
}

/* The consumer went away: cancel the upstream call; bill what was served. */
static void
on_client_close(struct evhttp_connection *c, void *arg)
{
	struct infer	*in = arg;

	release_request(in);
	in->conn = NULL;
	if (in->admit == NULL)
		return;		/* still being admitted: admitted() sees it */
	if (in_flight(in)) {
		attempt_cancel(in);
		node_end(in->cur->node_id, OUTCOME_NEUTRAL);
		finish(in, "cancelled", OUTCOME_NEUTRAL);
	}
}

/* Copy the admitted candidates; -1 when the answer is not as documented. */
static int
read_admission(struct infer *in, json_t *a)
{
	json_t	*list = json_object_get(a, "candidates"), *c;
	size_t	 i;

	in->hold_id = json_integer_value(json_object_get(a, "hold_id"));
	in->max_tokens = json_integer_value(json_object_get(a, "max_tokens"));
	if (in->hold_id <= 0 || !json_is_array(list))
		return -1;
	in->ncands = json_array_size(list);
	if ((in->cands = calloc(in->ncands + 1, sizeof(*in->cands))) == NULL)
		abort();
	json_array_foreach(list, i, c) {
		in->cands[i].node_id = json_integer_value(json_object_get(c, "node_id"));
		in->cands[i].connection = json_string_value(json_object_get(c,
		    "connection"));
		in->cands[i].supply_type = json_string_value(json_object_get(c,
		    "supply_type"));
		in->cands[i].upstream_model = json_string_value(json_object_get(c,
		    "upstream_model"));
		in->cands[i].base_url = json_string_value(json_object_get(c,
		    "base_url"));
		in->cands[i].api_token = json_string_value(json_object_get(c,
		    "api_token"));
		in->cands[i].capacity = json_integer_value(json_object_get(c,
		    "capacity"));
		in->cands[i].health = json_integer_value(json_object_get(c, "health"));
		if (in->cands[i].connection == NULL ||
		    in->cands[i].upstream_model == NULL)
			return -1;
		if (in->cands[i].base_url == NULL)
			in->cands[i].base_url = "";
	}
	return 0;
}

/* The app's answer to admit. */
static void
admitted(long status, json_t *body, const char *retry_after, void *arg)
{
	struct infer	*in = arg;
	struct evhttp_request *req;
	struct evbuffer	*b;
	struct str	 out = STR_INIT;
	struct timeval	 tv = { relay->rc.keepalive_ms / 1000,
			    (relay->rc.keepalive_ms % 1000) * 1000 };

	if (status == 200 && json_is_object(body)) {
		in->admit = json_incref(body);
		if (read_admission(in, body) == -1) {
			log_error("admit answer not as documented");
			fail_client(in, 502, "internal_error", "The platform gave "
			    "an answer the relay cannot read.");
			finish(in, "unserved", OUTCOME_NEUTRAL);
			return;
		}
		if (in->req == NULL) {	/* the consumer left while we waited */
			finish(in, "unserved", OUTCOME_NEUTRAL);
			return;
		}
		evtimer_add(in->keepalive, &tv);
		try_next(in);
		return;
	}
	if (status == 0 || !json_is_object(body) || in->req == NULL) {
		fail_client(in, 503, "service_unavailable", "The platform could not "
		    "admit the request right now; try again.");
		infer_free(in);
		return;
	}
	/* The app's own OpenAI-shaped refusal: 401, 402, 404, 429, 503. */
	req = take_req(in);
	json_to_str(body, &out);
	if (retry_after != NULL)
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Retry-After", retry_after);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "application/json");
	b = evbuffer_new();
	evbuffer_add(b, out.buf, out.len);
	evhttp_send_reply(req, (int)status, "Refused", b);
	evbuffer_free(b);
	str_free(&out);
	infer_free(in);
}

/* 400 naming the field, and no admission. */
static void
bad_request(struct evhttp_request *req, const char *param, const char *msg)
{
	send_json_error(req, 400, "invalid_request_error", "invalid_request",
	    param, msg);
}

/*
 * Check the body's fields the relay needs. Returns NULL when fine, else
 * the message (and *param names the field).
 */
static const char *
check_body(struct infer *in, const char **param)
{
	json_t	*v;
	int	 chat;

	*param = "model";
	if ((in->model = json_string_value(json_object_get(in->body,
	    "model"))) == NULL || *in->model == '\0')
		return "'model' is required: the id of a model from /v1/models.";
	*param = "stream";
	v = json_object_get(in->body, "stream");
	if (v != NULL && !json_is_boolean(v) && !json_is_null(v))
		return "'stream' must be true or false.";
	in->stream = json_is_true(v);
	*param = "max_tokens";
	v = json_object_get(in->body, "max_tokens");
	if (v == NULL || json_is_null(v))
		v = json_object_get(in->body, "max_completion_tokens");
	if (v != NULL && !json_is_null(v) && (!json_is_integer(v) ||
	    json_integer_value(v) < 1))
		return "'max_tokens' must be a positive integer.";
	chat = strcmp(in->endpoint, "chat") == 0;
	*param = chat ? "messages" : strcmp(in->endpoint, "completions") == 0 ?
	    "prompt" : "input";
	v = json_object_get(in->body, *param);
	if (v == NULL || json_is_null(v) || (chat && json_array_size(v) == 0))
		return chat ? "'messages' must be a non-empty array." :
		    "This field is required.";
	*param = "stream";
	if (in->stream && strcmp(in->endpoint, "embeddings") == 0)
		return "Embeddings cannot be streamed.";
	/* One answer per request: n > 1 would be unpaid, unheld work. */
	*param = "n";
	v = json_object_get(in->body, "n");
	if (v != NULL && !json_is_null(v) && (!json_is_integer(v) ||
	    json_integer_value(v) != 1))
		return "Only 'n': 1 is supported.";
	*param = "best_of";
	v = json_object_get(in->body, "best_of");
	if (v != NULL && !json_is_null(v) && (!json_is_integer(v) ||
	    json_integer_value(v) != 1))
		return "Only 'best_of': 1 is supported.";
	*param = "max_price";
	v = json_object_get(in->body, "max_price");
	if (v != NULL && !json_is_null(v) && (!json_is_object(v) ||
	    (json_object_get(v, "prompt") != NULL &&
	    !json_is_integer(json_object_get(v, "prompt"))) ||
	    (json_object_get(v, "completion") != NULL &&
	    !json_is_integer(json_object_get(v, "completion")))))
		return "'max_price' must be {\"prompt\": N, \"completion\": N} "
		    "in micro-USD per 1M tokens.";
	in->want_usage = json_is_true(json_object_get(json_object_get(in->body,
	    "stream_options"), "include_usage"));
	return NULL;
}

/* The caller's address: the last X-Forwarded-For hop our proxy added. */
static const char *
client_ip(struct evhttp_request *req)
{
	const char	*xff = evhttp_find_header(evhttp_request_get_input_headers(req),
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

/* The admit request for in (docs/internal.md). */
static json_t *
admit_request(struct infer *in, struct evhttp_request *req)
{
	const char	*auth = evhttp_find_header(evhttp_request_get_input_headers(req),
			    "Authorization");
	json_t		*mt = json_object_get(in->body, "max_tokens"), *mp;

	if (mt == NULL || json_is_null(mt))
		mt = json_object_get(in->body, "max_completion_tokens");
	mp = json_object_get(in->body, "max_price");
	if (auth != NULL && strncasecmp(auth, "Bearer ", 7) == 0)
		for (auth += 7; *auth == ' '; auth++)
			;
	else
		auth = "";
	return json_pack("{s:s, s:s, s:s, s:b, s:o, s:I, s:s, s:o}",
	    "key", auth, "model", in->model, "endpoint", in->endpoint,
	    "stream", in->stream,
	    "max_tokens", json_is_integer(mt) ? json_incref(mt) : json_null(),
	    "prompt_tokens", (json_int_t)in->body_len,
	    "client_ip", client_ip(req),
	    "max_price", json_is_object(mp) ? json_incref(mp) : json_null());
}

/* POST /v1/chat/completions, /v1/completions, /v1/embeddings. */
void
infer_handle(struct evhttp_request *req, void *arg)
{
	struct evbuffer	*buf = evhttp_request_get_input_buffer(req);
	struct infer	*in;
	const char	*msg, *param;
	json_t		*ar;
	char		*data;

	relay->requests++;
	req_nodelay(req);
	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
		send_json_error(req, 405, "invalid_request_error",
		    "method_not_allowed", NULL, "Use POST.");
		return;
	}
	if ((in = calloc(1, sizeof(*in))) == NULL)
		abort();
	relay->active++;
	in->req = req;
	in->endpoint = (const char *)arg;
	in->path = strcmp(in->endpoint, "chat") == 0 ? "/chat/completions" :
	    strcmp(in->endpoint, "completions") == 0 ? "/completions" :
	    "/embeddings";
	in->t0_ms = in->last_out_ms = util_now_ms();
	in->ttft_ms = -1;
	sse_init(&in->sse, EVENT_MAX, on_event, in);
	in->body_len = evbuffer_get_length(buf);
	if (in->body_len > relay->rc.max_body) {
		send_json_error(req, 413, "invalid_request_error",
		    "request_too_large", NULL, "The request body is too large.");
		infer_free(in);
		return;
	}
	data = (char *)evbuffer_pullup(buf, -1);
	if ((in->body = json_loadb(data ? data : "", in->body_len,
	    JSON_REJECT_DUPLICATES, NULL)) == NULL || !json_is_object(in->body)) {
		bad_request(req, NULL, "The body must be a JSON object.");
		infer_free(in);
		return;
	}
	if ((msg = check_body(in, &param)) != NULL) {
		bad_request(req, param, msg);
		infer_free(in);
		return;
	}
	in->conn = evhttp_request_get_connection(req);
	evhttp_connection_set_closecb(in->conn, on_client_close, in);
	watch_close(in->conn);
	in->keepalive = event_new(relay->base, -1, EV_PERSIST, on_keepalive, in);
	in->first_byte = evtimer_new(relay->base, on_first_byte_timeout, in);
	in->stall = evtimer_new(relay->base, on_stall, in);
	ar = admit_request(in, req);
	if (app_admit(ar, admitted, in) == -1) {
		fail_client(in, 503, "service_unavailable", "The platform could "
		    "not admit the request right now; try again.");
		infer_free(in);
	}
	json_decref(ar);
}

/* A worker's batch carried the model server's status. */
void
infer_job_status(struct infer *in, long status)
{
	in->up_status = status;
}

/* One event from a worker: a stream's data payload, or a whole answer. */
int
infer_job_event(struct infer *in, const char *data, size_t len)
{
	evtimer_del(in->first_byte);
	if (in->up_status >= 200 && in->up_status < 300 && in->stream)
		return on_event(data, len, "", in);
	return up_data(NULL, data, len, in);
}

/* The worker's last batch: done, or failed with a reason. */
void
infer_job_done(struct infer *in, const char *error, json_t *usage)
{
	if (json_is_object(usage) && in->usage == NULL)
		in->usage = json_incref(usage);
	if (error != NULL)
		log_warn("node %lld: the worker reports an error",
		    (long long)in->cur->node_id);
	else
		in->done_seen = 1;	/* a worker's last batch is its [DONE] */
	job_cancel(in->job);	/* the job is over: let go of it */
	in->job = NULL;
	up_done(NULL, error != NULL ? CURLE_RECV_ERROR : CURLE_OK,
	    in->up_status, in);
}

/* Does the consumer lag so far that the worker should wait? */
int
infer_job_backlogged(struct infer *in)
{
	return in->paused;
}
