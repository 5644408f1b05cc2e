/* call.c: infrpool-mock's open calls: timers, close watching, streams, drops */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include <jansson.h>

#include "loop.h"
#include "util.h"
#include "mock.h"

static void	on_tick(evutil_socket_t, short, void *);

/* s as a JSON string literal, quotes included; heap-owned, caller frees. */
static char *
json_quote(const char *s)
{
	json_t	*v;
	char	*out;

	if ((v = json_string(s)) == NULL)
		v = json_string("");
	out = json_dumps(v, JSON_ENCODE_ANY);
	json_decref(v);
	if (out == NULL)
		abort();
	return out;
}

/* Arm c's timer to fire after ms milliseconds. */
static void
call_arm(struct call *c, long long ms)
{
	loop_timer_in(c->timer, ms);
}

/*
 * Arm c's timer for its next token, delay_us from now on average: timers
 * run in whole milliseconds, so the rest of a fraction is carried over to
 * the next token and the rate stays exact (at 300 tokens a second, 10 ms
 * for every three tokens). A whole number of milliseconds is waited as is.
 */
static void
call_arm_token(struct call *c)
{
	c->carry_us += c->delay_us;
	call_arm(c, c->carry_us / 1000);
	c->carry_us %= 1000;
}

/* Bytes queued on c's connection and not yet written to the socket. */
static size_t
call_pending(const struct call *c)
{
	struct evhttp_connection	*evcon;

	evcon = evhttp_request_get_connection(c->req);
	if (evcon == NULL)
		return 0;
	return evbuffer_get_length(bufferevent_get_output(
	    evhttp_connection_get_bufferevent(evcon)));
}

/* Stop watching c's connection before its last write; returns c->req. */
static struct evhttp_request *
call_unhook(struct call *c)
{
	struct evhttp_request		*req = c->req;
	struct evhttp_connection	*evcon;

	if ((evcon = evhttp_request_get_connection(req)) != NULL)
		evhttp_connection_set_closecb(evcon, NULL, NULL);
	c->req = NULL;
	return req;
}

/* Count, log and free c; c->req must already be handed back. */
static void
call_free(struct call *c, enum outcome o)
{
	static const char *const names[] = {
		[OUT_COMPLETED] = "completed", [OUT_CANCELLED] = "cancelled",
		[OUT_FAULT] = "fault", [OUT_SHUTDOWN] = "shutdown",
	};
	struct mock	*m = c->m;

	if (o == OUT_COMPLETED)
		m->st.completed++;
	else if (o == OUT_CANCELLED)
		m->st.cancelled++;
	log_request(m, c->rt, c->status, names[o], c->sent, c->t0);
	event_free(c->timer);
	TAILQ_REMOVE(&m->calls, c, entry);
	m->active--;
	if (c->body != NULL)
		evbuffer_free(c->body);
	free(c->model);
	free(c);
}

/* The client went away (evhttp is closing the connection): cancel c. */
static void
on_close(struct evhttp_connection *evcon, void *arg)
{
	struct call		*c = arg;
	struct evhttp_request	*req = c->req;

	c->req = NULL;
	/* evhttp lets go of a request it has not finished; that one is ours. */
	if (req != NULL && evhttp_request_get_connection(req) == NULL)
		evhttp_request_free(req);
	call_free(c, OUT_CANCELLED);
}

/* Close c's connection without another byte (drop, refuse-body). */
static void
call_drop(struct call *c)
{
	struct evhttp_connection	*evcon;

	evcon = evhttp_request_get_connection(c->req);
	call_unhook(c);
	evhttp_connection_free(evcon);	/* and the request with it */
	call_free(c, OUT_FAULT);
}

/* A new open call for req answering a, with fault f; never NULL. */
struct call *
call_new(struct mock *m, struct evhttp_request *req, const struct route *rt,
    const struct ask *a, enum fault f, const struct call_ops *ops)
{
	struct evhttp_connection	*evcon;
	struct call			*c;

	evcon = evhttp_request_get_connection(req);
	if ((c = calloc(1, sizeof(*c))) == NULL)
		abort();
	c->m = m;
	c->rt = rt;
	c->ops = ops;
	c->req = req;
	c->fault = f;
	c->kind = a->kind;
	c->id = ++m->seq;
	c->created = (long long)time(NULL);
	c->t0 = util_now_ms();
	c->model = json_quote(a->model);
	c->prompt_tokens = a->prompt_tokens;
	c->seed = a->seed;
	c->include_usage = a->include_usage;
	c->base64 = a->base64;
	c->usage = m->cur.usage;
	c->inflate_pct = m->cur.inflate_pct;
	c->ntokens = m->cur.tokens;
	if (a->max_tokens > 0 && a->max_tokens <= c->ntokens) {
		/* overrun: a server that ignores the cap by that much */
		c->ntokens = a->max_tokens + m->cur.overrun;
		c->length = 1;
	}
	c->stop_at = c->ntokens;
	if ((f == F_DROP || f == F_MALFORMED) && m->after_tokens < c->ntokens)
		c->stop_at = m->after_tokens;
	c->first_ms = m->cur.first_token_ms;
	c->delay_us = m->cur.tps > 0 ? 1000000 / m->cur.tps :
	    m->cur.interval_ms * 1000;
	if ((c->timer = evtimer_new(m->base, on_tick, c)) == NULL)
		abort();
	TAILQ_INSERT_TAIL(&m->calls, c, entry);
	m->active++;
	evhttp_connection_set_closecb(evcon, on_close, c);
	loop_watch_close(evcon);
	return c;
}

/* Move the first n bytes of c->body into a new buffer the caller frees. */
static struct evbuffer *
body_head(struct call *c, size_t n)
{
	struct evbuffer	*b = evbuffer_new();

	evbuffer_remove_buffer(c->body, b, n);
	return b;
}

/* The first-token timer of a non-stream call: answer (or fail) now. */
static void
reply_now(struct call *c)
{
	struct evkeyvalq	*h = evhttp_request_get_output_headers(c->req);
	struct evhttp_request	*req;
	struct evbuffer		*b;
	size_t			 len = evbuffer_get_length(c->body);
	char			 n[32];

	evhttp_add_header(h, "Content-Type", "application/json");
	c->status = HTTP_OK;
	if (c->fault == F_DROP) {
		/* Promise the whole body, send half, then hang up. */
		snprintf(n, sizeof(n), "%zu", len);
		evhttp_add_header(h, "Content-Length", n);
		evhttp_send_reply_start(c->req, HTTP_OK, NULL);
		b = body_head(c, len / 2);
		evhttp_send_reply_chunk(c->req, b);
		evbuffer_free(b);
		c->phase = PH_DRAIN;
		call_arm(c, 0);
		return;
	}
	req = call_unhook(c);
	if (c->fault == F_MALFORMED) {
		b = body_head(c, len / 2);
		evhttp_send_reply(req, HTTP_OK, NULL, b);
		evbuffer_free(b);
		call_free(c, OUT_FAULT);
		return;
	}
	if (c->kind != K_EMBEDDING)
		c->sent = c->ntokens;
	evhttp_send_reply(req, HTTP_OK, NULL, c->body);
	call_free(c, OUT_COMPLETED);
}

/* Send the stream's headers and, for chat, the role chunk into b. */
static void
stream_begin(struct call *c, struct evbuffer *b)
{
	struct evkeyvalq	*h = evhttp_request_get_output_headers(c->req);

	evhttp_add_header(h, "Content-Type", "text/event-stream");
	evhttp_add_header(h, "Cache-Control", "no-cache");
	evhttp_send_reply_start(c->req, HTTP_OK, NULL);
	c->ops->stream_open(b, c);
	c->status = HTTP_OK;
}

/* The end of a stream at stop_at: finish, drop or a malformed line. */
static void
stream_end(struct call *c, struct evbuffer *b)
{
	struct evhttp_request	*req;

	if (c->fault == F_DROP) {
		if (evbuffer_get_length(b) > 0)
			evhttp_send_reply_chunk(c->req, b);
		c->phase = PH_DRAIN;
		call_arm(c, 0);
		return;
	}
	if (c->fault == F_MALFORMED)
		c->ops->malformed(b, c);
	else
		c->ops->finish(b, c);
	req = call_unhook(c);
	evhttp_send_reply_chunk(req, b);
	evhttp_send_reply_end(req);
	call_free(c, c->fault == F_MALFORMED ? OUT_FAULT : OUT_COMPLETED);
}

/*
 * A stream tick: send the next token (or, with no delay, as many as fit
 * under the high-water mark), pausing while the client is not reading.
 */
static void
stream_tick(struct call *c)
{
	struct evbuffer	*b;

	if (call_pending(c) > MOCK_HIGH_WATER) {
		call_arm(c, MOCK_POLL_MS);
		return;
	}
	b = evbuffer_new();
	if (c->status == 0)
		stream_begin(c, b);
	while (c->sent < c->stop_at) {
		c->ops->token(b, c);
		if (c->delay_us > 0 ||
		    evbuffer_get_length(b) >= MOCK_HIGH_WATER)
			break;
	}
	if (c->sent < c->stop_at) {
		evhttp_send_reply_chunk(c->req, b);
		call_arm_token(c);
	} else
		stream_end(c, b);
	evbuffer_free(b);
}

/* A call's timer: move it on according to its phase. */
static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct call	*c = arg;

	switch (c->phase) {
	case PH_HANG:
		break;
	case PH_REFUSE:
		call_drop(c);
		break;
	case PH_REPLY:
		reply_now(c);
		break;
	case PH_STREAM:
		stream_tick(c);
		break;
	case PH_DRAIN:
		if (call_pending(c) > 0)
			call_arm(c, MOCK_POLL_MS);
		else
			call_drop(c);
		break;
	}
}

/* Start call c for a: hang, refuse, stream or render a delayed reply. */
void
call_start(struct call *c, const struct ask *a)
{
	switch (c->fault) {
	case F_HANG:
		c->phase = PH_HANG;
		return;
	case F_REFUSE:
		c->phase = PH_REFUSE;
		call_arm(c, 0);
		return;
	default:
		break;
	}
	if (a->stream) {
		c->phase = PH_STREAM;
	} else {
		c->phase = PH_REPLY;
		c->body = evbuffer_new();
		c->ops->body(c, a);
	}
	call_arm(c, c->first_ms);
}

/* At shutdown: free every open call; their connections go in evhttp_free. */
void
call_close_all(struct mock *m)
{
	struct call	*c;

	while ((c = TAILQ_FIRST(&m->calls)) != NULL) {
		call_unhook(c);
		call_free(c, OUT_SHUTDOWN);
	}
}
