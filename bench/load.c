/* load.c: infrpool-load, the HTTP load generator of the benchmarks */
/*
 * Three ways to load one URL with one POST body:
 *
 *   seq     one connection, one request after another (concurrency 1);
 *   rate    open loop: requests are due at a fixed rate whatever the answers
 *           do, and each one's latency counts from when it was due, so a
 *           slow server cannot hide its queue (no coordinated omission);
 *   stream  N users, each reading Server-Sent Events streams one after
 *           another on its own keep-alive connection: time to first event,
 *           the gaps between events, and streams that lost an event.
 *
 * Results go to standard output as one JSON object. Bodies are counted and
 * dropped, never kept or printed.
 */
#include "config.h"

#include <sys/resource.h>

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include <jansson.h>

#include "loop.h"
#include "util.h"

#define MAX_HEADERS	16

enum mode { M_SEQ, M_RATE, M_STREAM };

/* Latencies or gaps in microseconds, grown on demand. */
struct samples {
	int64_t	*v;
	size_t	 n, cap;
};

struct load;

/* One connection of rate or seq mode, or one user of stream mode. */
struct conn {
	struct load		*l;
	struct evhttp_connection *evcon;
	struct evbuffer		*line;		/* stream: a partial SSE line */
	struct event		*start;		/* stream: the user's first start */
	int64_t			 due_us;	/* when its request was due */
	int64_t			 last_us;	/* stream: the last event */
	long			 events;	/* stream: data events so far */
	long			 runs;		/* stream: streams finished */
	int			 done_seen;	/* stream: "data: [DONE]" seen */
	int			 busy;
};

struct load {
	struct event_base	*base;
	enum mode		 mode;
	char			 host[256];
	int			 port;
	const char		*path;
	const char		*headers[MAX_HEADERS];
	int			 nheaders;
	const char		*body;
	size_t			 bodylen;
	long			 requests, warmup;	/* seq */
	double			 rate;			/* rate */
	double			 duration_s;		/* rate, stream */
	long			 max_conns;		/* rate */
	long			 users, count;		/* stream */
	double			 ramp_s;		/* stream */
	long			 expect;		/* stream: data events */
	double			 timeout_s;
	struct conn		*conns;
	long			 nconns;
	int64_t			 start_us, end_us;
	long			 scheduled, issued, inflight, open, peak_open;
	long			 ok, errors, lost, timeouts;
	long			 ev_min, ev_max;	/* stream: events a stream */
	long			 statuses[600];	/* answers by status; 0: none */
	struct samples		 lat, ttft, gap;
	struct event		*tick;
};

static void	send_one(struct conn *);

/* Append v to s; aborts when out of memory. */
static void
sample_add(struct samples *s, int64_t v)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 4096;
		if ((s->v = realloc(s->v, s->cap * sizeof(*s->v))) == NULL)
			abort();
	}
	s->v[s->n++] = v;
}

static int
cmp64(const void *a, const void *b)
{
	int64_t	x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* The q-quantile (nearest rank) of sorted s, in microseconds. */
static int64_t
quantile(const struct samples *s, double q)
{
	size_t	i;

	if (s->n == 0)
		return 0;
	i = (size_t)ceil(q * (double)s->n);
	return s->v[i == 0 ? 0 : i - 1];
}

/* Sort s and summarize it as a new JSON object (count and quantiles). */
static json_t *
summary(struct samples *s)
{
	double	sum = 0;
	size_t	i;

	qsort(s->v, s->n, sizeof(*s->v), cmp64);
	for (i = 0; i < s->n; i++)
		sum += (double)s->v[i];
	return json_pack("{sI sI sI sI sI sI sf}", "n", (json_int_t)s->n,
	    "p50", (json_int_t)quantile(s, 0.50),
	    "p90", (json_int_t)quantile(s, 0.90),
	    "p99", (json_int_t)quantile(s, 0.99),
	    "p999", (json_int_t)quantile(s, 0.999),
	    "max", (json_int_t)(s->n ? s->v[s->n - 1] : 0),
	    "mean", s->n ? sum / (double)s->n : 0.0);
}

/* Is the run over: nothing left to send and nothing in flight? */
static int
finished(const struct load *l)
{
	switch (l->mode) {
	case M_SEQ:
		return l->issued >= l->requests + l->warmup && l->inflight == 0;
	case M_RATE:
		return util_now_us() >= l->end_us && l->issued == l->scheduled &&
		    l->inflight == 0;
	case M_STREAM:
		return l->open == 0 && l->inflight == 0 &&
		    l->issued >= l->users;
	}
	return 1;
}

/* Read the SSE lines buffered for c's stream, counting data events. */
static void
read_events(struct conn *c, struct evbuffer *in)
{
	struct load	*l = c->l;
	int64_t		 now = util_now_us();
	char		*s;
	size_t		 n;

	evbuffer_add_buffer(c->line, in);
	while ((s = evbuffer_readln(c->line, &n, EVBUFFER_EOL_LF)) != NULL) {
		if (strncmp(s, "data:", 5) == 0) {
			if (strstr(s + 5, "[DONE]") != NULL)
				c->done_seen = 1;
			else {
				if (c->events == 0)
					sample_add(&l->ttft, now - c->due_us);
				else
					sample_add(&l->gap, now - c->last_us);
				c->last_us = now;
				c->events++;
			}
		}
		free(s);
	}
}

/* Body bytes of a stream as they arrive. */
static void
on_chunk(struct evhttp_request *req, void *arg)
{
	struct conn	*c = arg;

	read_events(c, evhttp_request_get_input_buffer(req));
}

/* Should this stream user start another stream? */
static int
user_goes_on(const struct conn *c)
{
	const struct load	*l = c->l;

	if (l->count > 0 && c->runs >= l->count)
		return 0;
	if (l->duration_s > 0 && util_now_us() >= l->end_us)
		return 0;
	return l->count > 0 || l->duration_s > 0;
}

/* A stream ended (req NULL: the connection failed). */
static void
stream_done(struct conn *c, struct evhttp_request *req)
{
	struct load	*l = c->l;
	int		 status = req ? evhttp_request_get_response_code(req) : 0;

	if (req != NULL)
		read_events(c, evhttp_request_get_input_buffer(req));
	l->statuses[status >= 0 && status < 600 ? status : 0]++;
	if (status == 200) {
		if (l->ev_min == 0 || c->events < l->ev_min)
			l->ev_min = c->events;
		if (c->events > l->ev_max)
			l->ev_max = c->events;
	}
	if (status != 200)
		l->errors++;
	else if ((l->expect > 0 && c->events != l->expect) || !c->done_seen)
		l->lost++;
	else
		l->ok++;
	c->runs++;
	l->open--;
	if (user_goes_on(c))
		send_one(c);
}

/* A request's answer arrived (req NULL or status 0: the connection failed). */
static void
on_done(struct evhttp_request *req, void *arg)
{
	struct conn	*c = arg;
	struct load	*l = c->l;
	int		 status = req ? evhttp_request_get_response_code(req) : 0;
	int64_t		 now = util_now_us();

	c->busy = 0;
	l->inflight--;
	if (l->mode == M_STREAM)
		stream_done(c, req);
	else {
		if (l->mode == M_RATE || l->issued > l->warmup) {
			sample_add(&l->lat, now - c->due_us);
			l->statuses[status >= 0 && status < 600 ? status : 0]++;
			if (status == 200)
				l->ok++;
			else
				l->errors++;
		}
		if (l->mode == M_SEQ && l->issued < l->requests + l->warmup) {
			c->due_us = now;
			send_one(c);
		}
	}
	if (l->mode == M_RATE && l->issued < l->scheduled) {
		c->due_us = l->start_us +
		    (int64_t)((double)l->issued * 1e6 / l->rate);
		send_one(c);
	}
	if (finished(l))
		event_base_loopbreak(l->base);
}

/* Send the request on c, whose due_us is set; aborts when out of memory. */
static void
send_one(struct conn *c)
{
	struct load		*l = c->l;
	struct evhttp_request	*req;
	struct evkeyvalq	*h;
	char			 name[128], hostport[300];
	const char		*colon, *v;
	int			 i;

	if ((req = evhttp_request_new(on_done, c)) == NULL)
		abort();
	h = evhttp_request_get_output_headers(req);
	snprintf(hostport, sizeof(hostport), "%s:%d", l->host, l->port);
	evhttp_add_header(h, "Host", hostport);
	evhttp_add_header(h, "Content-Type", "application/json");
	for (i = 0; i < l->nheaders; i++) {
		colon = strchr(l->headers[i], ':');
		snprintf(name, sizeof(name), "%.*s",
		    (int)(colon - l->headers[i]), l->headers[i]);
		for (v = colon + 1; *v == ' '; v++)
			continue;
		evhttp_add_header(h, name, v);
	}
	evbuffer_add(evhttp_request_get_output_buffer(req), l->body,
	    l->bodylen);
	if (l->mode == M_STREAM) {
		evhttp_request_set_chunked_cb(req, on_chunk);
		evbuffer_drain(c->line, evbuffer_get_length(c->line));
		c->events = 0;
		c->done_seen = 0;
		c->due_us = util_now_us();
		l->open++;
		if (l->open > l->peak_open)
			l->peak_open = l->open;
	}
	c->busy = 1;
	l->issued++;
	l->inflight++;
	if (evhttp_make_request(c->evcon, req, EVHTTP_REQ_POST,
	    l->path) == -1) {
		/* The request is freed by libevent on failure. */
		fprintf(stderr, "infrpool-load: cannot send a request\n");
		abort();
	}
}

/* A new connection slot for l (its evhttp connection made now). */
static struct conn *
conn_new(struct load *l)
{
	struct conn	*c = &l->conns[l->nconns++];

	c->l = l;
	if ((c->evcon = evhttp_connection_base_new(l->base, NULL, l->host,
	    (unsigned short)l->port)) == NULL || (c->line = evbuffer_new()) ==
	    NULL)
		abort();
	evhttp_connection_set_timeout(c->evcon, (int)l->timeout_s);
	return c;
}

/*
 * Rate mode: wake when the next request is due (or in 100 ms to check),
 * to the microsecond: a request's latency counts from when it was due, so
 * waking up to a millisecond late would add to every sample at rates of
 * thousands a second.
 */
static void
rearm(struct load *l, int64_t now)
{
	int64_t	next;

	next = l->start_us + (int64_t)((double)l->scheduled * 1e6 / l->rate);
	loop_timer_in_us(l->tick, next <= l->end_us ? next - now : 100000);
}

/* Rate mode, when a request is due: schedule what is due and send it. */
static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct load	*l = arg;
	int64_t		 now = util_now_us(), t;
	long		 due, i;
	struct conn	*c;

	(void)fd;
	(void)what;
	t = now < l->end_us ? now : l->end_us;
	due = (long)((double)(t - l->start_us) * l->rate / 1e6) + 1;
	if (due > l->scheduled)
		l->scheduled = due;
	/* Idle connections first, then new ones up to the cap. */
	for (i = 0; i < l->nconns && l->issued < l->scheduled; i++) {
		c = &l->conns[i];
		if (!c->busy) {
			c->due_us = l->start_us +
			    (int64_t)((double)l->issued * 1e6 / l->rate);
			send_one(c);
		}
	}
	while (l->issued < l->scheduled && l->nconns < l->max_conns) {
		c = conn_new(l);
		c->due_us = l->start_us +
		    (int64_t)((double)l->issued * 1e6 / l->rate);
		send_one(c);
	}
	if (now > l->end_us + (int64_t)(l->timeout_s * 1e6)) {
		l->timeouts = l->inflight + (l->scheduled - l->issued);
		event_base_loopbreak(l->base);
	} else if (finished(l))
		event_base_loopbreak(l->base);
	else
		rearm(l, now);
}

/* Stream mode: a user's first stream, at its place in the ramp. */
static void
on_user_start(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*c = arg;

	(void)fd;
	(void)what;
	send_one(c);
}

/* Stream mode, every 100 ms: give up on streams past the timeout. */
static void
on_stream_tick(evutil_socket_t fd, short what, void *arg)
{
	struct load	*l = arg;
	int64_t		 limit;

	(void)fd;
	(void)what;
	limit = l->end_us + (int64_t)((l->ramp_s + l->timeout_s) * 1e6);
	if (util_now_us() > limit) {
		l->timeouts = l->inflight;
		event_base_loopbreak(l->base);
	}
}

/* Arm the run's timers and first requests. Returns 0 or -1. */
static int
arm(struct load *l)
{
	struct conn	*c;
	long		 i;

	l->start_us = util_now_us();
	l->end_us = l->start_us + (int64_t)(l->duration_s * 1e6);
	switch (l->mode) {
	case M_SEQ:
		c = conn_new(l);
		c->due_us = util_now_us();
		send_one(c);
		return 0;
	case M_RATE:
		l->tick = evtimer_new(l->base, on_tick, l);
		if (l->tick == NULL)
			return -1;
		on_tick(-1, 0, l);
		return 0;
	case M_STREAM:
		for (i = 0; i < l->users; i++) {
			c = conn_new(l);
			if ((c->start = evtimer_new(l->base, on_user_start,
			    c)) == NULL)
				return -1;
			loop_timer_in(c->start, (long long)(l->ramp_s * 1e3 *
			    (double)i / (double)l->users));
		}
		l->tick = event_new(l->base, -1, EV_PERSIST, on_stream_tick, l);
		if (l->tick == NULL)
			return -1;
		loop_timer_in(l->tick, 100);
		return 0;
	}
	return -1;
}

/* The answers by status code ("0": the connection failed), a new object. */
static json_t *
statuses(const struct load *l)
{
	json_t	*o = json_object();
	char	 k[8];
	int	 i;

	for (i = 0; i < 600; i++)
		if (l->statuses[i] > 0) {
			snprintf(k, sizeof(k), "%d", i);
			json_object_set_new(o, k, json_integer(l->statuses[i]));
		}
	return o;
}

/* Print the run's results as one JSON object on standard output. */
static void
report(struct load *l)
{
	static const char *const names[] = { "seq", "rate", "stream" };
	double		 secs = (double)(util_now_us() - l->start_us) / 1e6;
	json_t		*o;

	o = json_pack("{ss sI sI sI sI sI sf sf so}",
	    "mode", names[l->mode],
	    "sent", (json_int_t)l->issued,
	    "ok", (json_int_t)l->ok,
	    "errors", (json_int_t)l->errors,
	    "timeouts", (json_int_t)l->timeouts,
	    "connections", (json_int_t)l->nconns,
	    "seconds", secs,
	    "rps", secs > 0 ? (double)l->ok / secs : 0.0,
	    "latency_us", summary(&l->lat));
	if (l->mode == M_RATE)
		json_object_set_new(o, "target_rps", json_real(l->rate));
	json_object_set_new(o, "statuses", statuses(l));
	if (l->mode == M_STREAM) {
		json_object_set_new(o, "lost", json_integer(l->lost));
		json_object_set_new(o, "peak_open",
		    json_integer(l->peak_open));
		json_object_set_new(o, "events_min", json_integer(l->ev_min));
		json_object_set_new(o, "events_max", json_integer(l->ev_max));
		json_object_set_new(o, "ttft_us", summary(&l->ttft));
		json_object_set_new(o, "gap_us", summary(&l->gap));
	}
	json_dumpf(o, stdout, JSON_COMPACT);
	putchar('\n');
	json_decref(o);
}

/* Split an http://host:port/path URL into l. Returns 0 or -1. */
static int
parse_url(struct load *l, const char *url)
{
	const char	*hp, *slash;
	char		 buf[300];

	if (strncmp(url, "http://", 7) != 0)
		return -1;
	hp = url + 7;
	if ((slash = strchr(hp, '/')) == NULL ||
	    (size_t)(slash - hp) >= sizeof(buf))
		return -1;
	snprintf(buf, sizeof(buf), "%.*s", (int)(slash - hp), hp);
	l->path = slash;
	return util_parse_hostport(buf, l->host, sizeof(l->host), &l->port);
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: infrpool-load --url http://host:port/path --body-file F\n"
	    "\t[--header 'Name: value']... [--timeout S] and one of\n"
	    "\t--seq N [--warmup N]\n"
	    "\t--rate R --duration S [--max-conns N]\n"
	    "\t--stream USERS [--count N | --duration S] [--ramp S] "
	    "[--expect EVENTS]\n");
}

/* Parse the command line into l. Returns 0 or -1 on a usage error. */
static int
parse_args(struct load *l, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "url", required_argument, NULL, 'u' },
		{ "header", required_argument, NULL, 'H' },
		{ "body-file", required_argument, NULL, 'b' },
		{ "seq", required_argument, NULL, 'S' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "rate", required_argument, NULL, 'r' },
		{ "duration", required_argument, NULL, 'd' },
		{ "max-conns", required_argument, NULL, 'c' },
		{ "stream", required_argument, NULL, 's' },
		{ "count", required_argument, NULL, 'n' },
		{ "ramp", required_argument, NULL, 'R' },
		{ "expect", required_argument, NULL, 'e' },
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 }
	};
	const char	*url = NULL, *bodyfile = NULL;
	int		 ch, modes = 0;

	l->max_conns = 1000;
	l->timeout_s = 30;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1)
		switch (ch) {
		case 'u': url = optarg; break;
		case 'H':
			if (l->nheaders == MAX_HEADERS ||
			    strchr(optarg, ':') == NULL)
				return -1;
			l->headers[l->nheaders++] = optarg;
			break;
		case 'b': bodyfile = optarg; break;
		case 'S': l->mode = M_SEQ; l->requests = atol(optarg);
			modes++; break;
		case 'w': l->warmup = atol(optarg); break;
		case 'r': l->mode = M_RATE; l->rate = atof(optarg);
			modes++; break;
		case 'd': l->duration_s = atof(optarg); break;
		case 'c': l->max_conns = atol(optarg); break;
		case 's': l->mode = M_STREAM; l->users = atol(optarg);
			modes++; break;
		case 'n': l->count = atol(optarg); break;
		case 'R': l->ramp_s = atof(optarg); break;
		case 'e': l->expect = atol(optarg); break;
		case 't': l->timeout_s = atof(optarg); break;
		default: return -1;
		}
	if (modes != 1 || url == NULL || bodyfile == NULL ||
	    parse_url(l, url) == -1 || optind != argc)
		return -1;
	if ((l->body = util_read_file(bodyfile, 1 << 20, &l->bodylen)) ==
	    NULL) {
		fprintf(stderr, "infrpool-load: %s: %s\n", bodyfile,
		    strerror(errno));
		return -1;
	}
	if (l->mode == M_RATE && (l->rate <= 0 || l->duration_s <= 0 ||
	    l->max_conns < 1))
		return -1;
	if (l->mode == M_STREAM && (l->users < 1 ||
	    (l->count <= 0 && l->duration_s <= 0)))
		l->count = 1;
	return l->mode == M_SEQ && l->requests < 1 ? -1 : 0;
}

int
main(int argc, char **argv)
{
	struct load		 l;
	struct event_config	*cf;
	struct rlimit		 rl;
	long		 i;

	memset(&l, 0, sizeof(l));
	if (parse_args(&l, argc, argv) == -1) {
		usage();
		return 2;
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	l.nconns = 0;
	i = l.mode == M_STREAM ? l.users : l.mode == M_RATE ? l.max_conns : 1;
	/* Without a precise timer, epoll ticks in whole jiffies (4 ms here). */
	if ((cf = event_config_new()) == NULL ||
	    event_config_set_flag(cf, EVENT_BASE_FLAG_PRECISE_TIMER) == -1)
		abort();
	if ((l.conns = calloc((size_t)i, sizeof(*l.conns))) == NULL ||
	    (l.base = event_base_new_with_config(cf)) == NULL ||
	    arm(&l) == -1) {
		fprintf(stderr, "infrpool-load: cannot start\n");
		return 1;
	}
	event_base_dispatch(l.base);
	report(&l);
	for (i = 0; i < l.nconns; i++) {
		evhttp_connection_free(l.conns[i].evcon);
		evbuffer_free(l.conns[i].line);
		if (l.conns[i].start != NULL)
			event_free(l.conns[i].start);
	}
	if (l.tick != NULL)
		event_free(l.tick);
	event_base_free(l.base);
	event_config_free(cf);
	free(l.conns);
	free((char *)l.body);
	return l.errors || l.lost || l.timeouts ? 3 : 0;
}
