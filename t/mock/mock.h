/* mock.h: infrpool-mock's shared types, and what each of its files offers */
#ifndef IP_MOCK_H
#define IP_MOCK_H

/*
 * The files, from the top down; each calls only the ones below it:
 *
 *   main.c     options, the listener, the route table and the dispatcher
 *   api.c      the OpenAI API: parsing asks, rendering answers and chunks
 *   control.c  /mock/control, /mock/stats, /mock/reset and the faults
 *   call.c     open calls: timers, close watching, streaming, drops
 *   reply.c    JSON answers, OpenAI-shaped errors and the request log
 *
 * call.c renders nothing itself: the API side hands every call a table of
 * renderers (struct call_ops) that it fills with designated initializers.
 */

#include <sys/queue.h>

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/http.h>

#include <jansson.h>

#include "json.h"

#define nitems(a)	(sizeof(a) / sizeof((a)[0]))

#define MOCK_MAX_BODY	(4 * 1024 * 1024)	/* larger requests get 413 */
#define MOCK_HIGH_WATER	(64 * 1024)	/* unsent bytes that pause a stream */
#define MOCK_POLL_MS	10		/* recheck a paused or draining call */
#define MOCK_TIMEOUT_S	3600		/* evhttp's idle read/write timeout */
#define MOCK_MAX_TOKENS	1000000LL	/* --tokens and "tokens" */
#define MOCK_MAX_MS	3600000LL	/* latencies */
#define MOCK_MODELS	16		/* --model may be given this often */

enum kind {
	K_NONE,
	K_CHAT,
	K_COMPLETION,
	K_EMBEDDING
};

enum fault {
	F_NONE,
	F_500,
	F_503,
	F_429,
	F_400,
	F_401,
	F_HANG,
	F_DROP,
	F_MALFORMED,
	F_REFUSE,
	F__MAX
};

/* Injected faults; status faults answer with an OpenAI-shaped error. */
struct fault_def {
	const char	*name;
	int		 status;	/* 0: not a status fault */
	const char	*type;
	const char	*code;
	const char	*message;
};

extern const struct fault_def	fault_defs[F__MAX];

enum route_id {
	RT_CHAT,
	RT_COMPLETIONS,
	RT_EMBEDDINGS,
	RT_MODELS,
	RT_CONTROL,
	RT_STATS,
	RT_RESET,
	RT_OTHER,		/* unknown paths, counted in by_path */
	RT__MAX
};

struct mock;
struct route;
typedef void	route_fn(struct mock *, struct evhttp_request *,
		    const struct route *);

struct route {
	enum route_id	 id;
	const char	*path;
	int		 methods;	/* EVHTTP_REQ_* bits */
	int		 api;		/* counted in stats.by_path */
	enum kind	 kind;
	route_fn	*fn;
};

/* What an answer reports as its usage (--usage, "usage"). */
enum usage_mode {
	U_HONEST,		/* the tokens it sent */
	U_INFLATED,		/* both counts up by inflate_pct percent */
	U_MISSING,		/* no usage object, no usage chunk */
	U_NEGATIVE,		/* both counts negated (-1 at least) */
	U_HUGE,			/* both counts 2^63 - 1 */
	U__MAX
};

extern const char *const usage_names[U__MAX];

#define MOCK_MAX_PCT	100000LL	/* inflate_pct */

/* Behaviour that /mock/control changes and /mock/reset restores. */
struct settings {
	long long	tokens;		/* answer length without max_tokens */
	long long	first_token_ms;
	long long	interval_ms;
	long long	tps;		/* tokens per second; 0: interval_ms */
	enum usage_mode	usage;
	long long	inflate_pct;	/* U_INFLATED: 900 is ten times */
	long long	overrun;	/* tokens sent past max_tokens */
};

struct counters {
	unsigned long long	requests;	/* inference requests */
	unsigned long long	completed;
	unsigned long long	cancelled;
	unsigned long long	faults;
	unsigned long long	errors;		/* 4xx for bad input */
	unsigned long long	by_path[RT__MAX];
};

/* One open inference request: a delayed reply, a stream or a fault. */
struct call;
TAILQ_HEAD(calls, call);

struct mock {
	struct event_base	*base;
	struct evhttp		*http;
	const struct route	*routes;	/* main's table, for stats */
	size_t			 nroutes;
	struct settings		 defaults;	/* from the command line */
	struct settings		 cur;
	enum fault		 fault;
	long long		 fault_left;	/* -1: until changed */
	long long		 after_tokens;
	struct counters		 st;
	unsigned long long	 active;
	unsigned long long	 seq;		/* answer ids; never reset */
	long long		 started;	/* wall clock, for /v1/models */
	json_t			*last;		/* the last inference request */
	const char		*models[MOCK_MODELS];
	int			 nmodels;
	int			 quiet;
	struct calls		 calls;
};

/* A parsed inference request; pointers borrow from the JSON body. */
struct ask {
	enum kind	 kind;
	const char	*model;
	json_t		*input;		/* embeddings: string or array */
	int		 stream;
	int		 include_usage;
	int		 base64;	/* encoding_format "base64" */
	long long	 max_tokens;	/* 0: not given */
	long long	 prompt_tokens;
	uint64_t	 seed;		/* hash of the prompt */
};

enum phase {
	PH_HANG,		/* never answers */
	PH_REFUSE,		/* closes without answering on the next tick */
	PH_REPLY,		/* sends body once the first-token time is up */
	PH_STREAM,		/* sends a token per tick */
	PH_DRAIN		/* closes once the output is flushed */
};

enum outcome {
	OUT_COMPLETED,
	OUT_CANCELLED,
	OUT_FAULT,
	OUT_SHUTDOWN
};

/*
 * What a call cannot do by itself: render its answer. Filled by the API
 * side (api.c) with designated initializers; every member is required.
 */
struct call_ops {
	/* Render the whole non-streamed answer to a into c->body. */
	void	(*body)(struct call *c, const struct ask *a);
	/* Append what opens a stream (chat: the role chunk) to b. */
	void	(*stream_open)(struct evbuffer *b, const struct call *c);
	/* Append the chunk of the next token to b and count it in c->sent. */
	void	(*token)(struct evbuffer *b, struct call *c);
	/* Append the end of a stream: finish, usage if asked, [DONE]. */
	void	(*finish)(struct evbuffer *b, const struct call *c);
	/* Append a data: line that is not JSON, then [DONE]. */
	void	(*malformed)(struct evbuffer *b, const struct call *c);
};

struct call {
	TAILQ_ENTRY(call)	 entry;
	struct mock		*m;
	const struct route	*rt;
	const struct call_ops	*ops;
	struct evhttp_request	*req;	/* NULL once handed back */
	struct event		*timer;
	struct evbuffer		*body;	/* non-stream answer */
	char			*model;	/* JSON string literal */
	enum phase		 phase;
	enum fault		 fault;
	enum kind		 kind;
	int			 status;	/* sent; 0: nothing yet */
	int			 length;	/* finish_reason "length" */
	int			 include_usage;
	enum usage_mode		 usage;
	long long		 inflate_pct;
	int			 base64;	/* embeddings as base64 */
	unsigned long long	 id;
	long long		 created;
	int64_t			 t0;		/* monotonic ms */
	long long		 first_ms;
	int64_t			 delay_us;	/* between streamed tokens */
	int64_t			 carry_us;	/* delay not yet waited */
	long long		 prompt_tokens;
	long long		 ntokens;
	long long		 stop_at;	/* drop or malformed here */
	long long		 sent;
	uint64_t		 seed;
};

/* An OpenAI-shaped 4xx about one parameter. */
struct apierr {
	const char	*param;
	const char	*code;
	char		 message[256];
};

/* api.c: POST /v1/chat/completions, /v1/completions, /v1/embeddings. */
route_fn	api_infer;
/* api.c: GET /v1/models, the --model names. */
route_fn	api_models;

/* control.c: GET /mock/control shows, POST changes, settings and fault. */
route_fn	page_control;
/* control.c: GET /mock/stats: counters, open calls, the last request. */
route_fn	page_stats;
/* control.c: POST /mock/reset: command-line settings, no fault, zeroes. */
route_fn	page_reset;

/* The usage mode named s; U__MAX when unknown. */
enum usage_mode	 usage_parse(const char *s);

/* Take the next request's fault (counting it); F_NONE when none. */
enum fault	 fault_take(struct mock *);

/* Remember what the last inference request asked for (body may be NULL). */
void		 record_last(struct mock *, struct evhttp_request *,
		    const struct route *, json_t *body);

/* An empty "last" record, a new reference; aborts on OOM. */
json_t		*last_empty(void);

/*
 * call.c: a new open call for req answering a with fault f, rendered by
 * ops; it watches the connection and frees itself. Never NULL.
 */
struct call	*call_new(struct mock *, struct evhttp_request *,
		    const struct route *, const struct ask *, enum fault f,
		    const struct call_ops *ops);

/* Start call c for a: hang, refuse, stream or render a delayed reply. */
void		 call_start(struct call *, const struct ask *a);

/* At shutdown: free every open call (evhttp_free takes the connections). */
void		 call_close_all(struct mock *);

/* reply.c: send v (reference stolen) as JSON with the given status. */
void		 send_json(struct evhttp_request *, int status, json_t *v);

/* Send an OpenAI-shaped error; param and code may be NULL (JSON null). */
void		 send_error(struct evhttp_request *, int status,
		    const char *type, const char *param, const char *code,
		    const char *message);

/* Send e as a 400 invalid_request_error. */
void		 send_apierr(struct evhttp_request *, const struct apierr *e);

/* One log line for a finished request, unless --quiet; never a body. */
void		 log_request(struct mock *, const struct route *, int status,
		    const char *what, long long completion, int64_t t0);

/* Fill e for a 400 about param (may be NULL); returns -1. */
int		 apierr_fail(struct apierr *e, const char *param,
		    const char *code, const char *fmt, ...)
		    __attribute__((format(printf, 4, 5)));

/* Turn a typed getter's failure rc (message already in e) into -1. */
int		 apierr_getter(struct apierr *e, const char *param,
		    enum json_get rc);

/* A new JSON string for s, or JSON null when s is NULL or not UTF-8. */
json_t		*mock_json_str(const char *s);

#endif
