/* consumer.c: a request's consumer side: streaming out, back-pressure, stall, leaving */
#include "config.h"

#include <stdlib.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/keyvalq_struct.h>

#include "http.h"
#include "infer.h"
#include "json.h"
#include "log.h"
#include "loop.h"
#include "relay.h"
#include "util.h"

static const struct consumer_hooks	*hooks;

void
consumer_init(const struct consumer_hooks *h)
{
	hooks = h;
}

struct evhttp_request *
consumer_take(struct infer *in)
{
	struct evhttp_request	*req = in->req;

	if (in->conn != NULL)
		evhttp_connection_set_closecb(in->conn, NULL, NULL);
	in->req = NULL;
	in->conn = NULL;
	return req;
}

void
consumer_fail(struct infer *in, int status, const char *code, const char *msg)
{
	struct evhttp_request	*req = consumer_take(in);

	if (req != NULL)
		reply_error(req, status, status >= 500 ? "server_error" :
		    "invalid_request_error", code, NULL, msg);
}

void
consumer_start_stream(struct infer *in)
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

void
consumer_stream_error(struct infer *in, const char *msg)
{
	consumer_stream_fail(in, "server_error", "upstream_error", msg);
}

void
consumer_stream_fail(struct infer *in, const char *type, const char *code,
    const char *msg)
{
	struct str		 s = STR_INIT;
	struct evhttp_request	*req;
	json_t			*e;

	if (in->req == NULL)
		return;
	consumer_start_stream(in);
	e = http_openai_error(type, code, NULL, msg);
	str_puts(&s, "data: ");
	json_to_str(e, &s);
	str_puts(&s, "\n\n");
	json_decref(e);
	consumer_send(in, s.buf, s.len);
	str_free(&s);
	if ((req = consumer_take(in)) != NULL)
		evhttp_send_reply_end(req);
}

void
consumer_stream_end(struct infer *in)
{
	struct evhttp_request	*req;

	if (in->req == NULL)
		return;
	consumer_start_stream(in);
	consumer_send(in, "data: [DONE]\n\n", 14);
	if ((req = consumer_take(in)) != NULL)
		evhttp_send_reply_end(req);
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
		hooks->pause(in, 0);
	}
}

void
consumer_send(struct infer *in, const char *p, size_t n)
{
	struct evbuffer	*b;

	if (in->req == NULL)
		return;
	b = evbuffer_new();
	evbuffer_add(b, p, n);
	if (backlog(in) + n > relay->rc.out_high && hooks->in_flight(in) &&
	    !in->paused) {
		in->paused = 1;
		hooks->pause(in, 1);
		loop_timer_in(in->stall, relay->rc.stall_ms);
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

/* The consumer stopped reading for too long: cut them off. */
static void
on_stall(evutil_socket_t fd, short what, void *arg)
{
	struct infer	*in = arg;

	if (backlog(in) < relay->rc.out_high) {
		/* They caught up after all (drained() may not have run). */
		in->paused = 0;
		hooks->pause(in, 0);
		return;
	}
	log_warn("consumer stopped reading: cut off");
	hooks->stalled(in);
}

/*
 * Keep a silent stream's consumer (and proxies) from timing out: ": queued"
 * while the request waits for a slot, ": keep-alive" while its node is
 * silent. The first comment sends the 200.
 */
static void
on_keepalive(evutil_socket_t fd, short what, void *arg)
{
	struct infer	*in = arg;

	if (in->req == NULL || !in->stream ||
	    util_now_ms() - in->last_out_ms < relay->rc.keepalive_ms)
		return;
	if (hooks->in_flight(in)) {
		consumer_start_stream(in);
		consumer_send(in, ": keep-alive\n\n", 14);
	} else if (hooks->waiting(in)) {
		consumer_start_stream(in);
		consumer_send(in, ": queued\n\n", 10);
	}
}

void
consumer_keepalive(struct infer *in)
{
	loop_timer_in(in->keepalive, relay->rc.keepalive_ms);
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

/* The consumer went away: the owner cancels and bills what was served. */
static void
on_client_close(struct evhttp_connection *c, void *arg)
{
	struct infer	*in = arg;

	release_request(in);
	in->conn = NULL;
	hooks->left(in);
}

void
consumer_attach(struct infer *in)
{
	in->conn = evhttp_request_get_connection(in->req);
	evhttp_connection_set_closecb(in->conn, on_client_close, in);
	loop_watch_close(in->conn);
	in->keepalive = event_new(relay->base, -1, EV_PERSIST, on_keepalive,
	    in);
	in->stall = evtimer_new(relay->base, on_stall, in);
	if (in->keepalive == NULL || in->stall == NULL)
		abort();
}

void
consumer_detach(struct infer *in)
{
	if (in->conn != NULL)
		evhttp_connection_set_closecb(in->conn, NULL, NULL);
	if (in->keepalive != NULL)
		event_free(in->keepalive);
	if (in->stall != NULL)
		event_free(in->stall);
	in->keepalive = in->stall = NULL;
}
