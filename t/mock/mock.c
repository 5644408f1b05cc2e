/* mock.c: infrpool-mock, a deterministic OpenAI-compatible model server */
#include "config.h"

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <netdb.h>

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "json.h"
#include "log.h"
#include "util.h"

#define nitems(a)	(sizeof(a) / sizeof((a)[0]))

#define MOCK_MAX_BODY	(4 * 1024 * 1024)	/* larger requests get 413 */
#define MOCK_HIGH_WATER	(64 * 1024)	/* unsent bytes that pause a stream */
#define MOCK_POLL_US	10000		/* recheck a paused or draining call */
#define MOCK_TIMEOUT_S	3600		/* evhttp's idle read/write timeout */
#define MOCK_MAX_TOKENS	1000000LL	/* --tokens and "tokens" */
#define MOCK_MAX_MS	3600000LL	/* latencies */
#define MOCK_MODELS	16		/* --model may be given this often */
#define EMBED_DIM	8
#define FNV_BASIS	0xcbf29ce484222325ULL

/* The answer's vocabulary: one word is one token. */
static const char *const words[] = {
	"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf",
	"hotel", "india", "juliet", "kilo", "lima", "mike", "november",
	"oscar", "papa", "quebec", "romeo", "sierra", "tango", "uniform",
	"victor", "whiskey", "xray", "yankee", "zulu", "amber", "basil",
	"cedar", "dune", "ember", "fern", "grove", "harbor", "iris", "jade",
	"kelp", "lotus", "maple", "nectar", "olive", "pearl", "quartz",
	"river", "sage", "thyme", "umber", "violet", "willow", "yarrow",
	"zephyr", "anchor", "beacon", "canyon", "dawn", "elm", "falcon",
	"glacier", "horizon", "island", "jungle", "kernel", "lantern", "meadow",
};

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
static const struct fault_def {
	const char	*name;
	int		 status;	/* 0: not a status fault */
	const char	*type;
	const char	*code;
	const char	*message;
} fault_defs[F__MAX] = {
	[F_NONE] = { "none", 0, NULL, NULL, NULL },
	[F_500] = { "500", 500, "server_error", "internal_error",
	    "The model server had an error (injected by infrpool-mock)." },
	[F_503] = { "503", 503, "server_error", "overloaded",
	    "The model server is overloaded (injected by infrpool-mock)." },
	[F_429] = { "429", 429, "requests", "rate_limit_exceeded",
	    "Rate limit reached (injected by infrpool-mock)." },
	[F_400] = { "400", 400, "invalid_request_error", "invalid_request",
	    "The request was rejected (injected by infrpool-mock)." },
	[F_401] = { "401", 401, "invalid_request_error", "invalid_api_key",
	    "Incorrect API key provided (injected by infrpool-mock)." },
	[F_HANG] = { "hang", 0, NULL, NULL, NULL },
	[F_DROP] = { "drop", 0, NULL, NULL, NULL },
	[F_MALFORMED] = { "malformed", 0, NULL, NULL, NULL },
	[F_REFUSE] = { "refuse-body", 0, NULL, NULL, NULL },
};

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

/* Behaviour that /mock/control changes and /mock/reset restores. */
struct settings {
	long long	tokens;		/* answer length without max_tokens */
	long long	first_token_ms;
	long long	interval_ms;
	long long	tps;		/* tokens per second; 0: interval_ms */
	int		inflated;	/* report 10x the completion tokens */
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
	PH_REPLY,		/* sends body when the first-token timer fires */
	PH_STREAM,		/* sends a token per tick */
	PH_DRAIN		/* closes once the output is flushed */
};

enum outcome {
	OUT_COMPLETED,
	OUT_CANCELLED,
	OUT_FAULT,
	OUT_SHUTDOWN
};

struct call {
	TAILQ_ENTRY(call)	 entry;
	struct mock		*m;
	const struct route	*rt;
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
	int			 inflated;
	int			 base64;	/* embeddings as base64 */
	unsigned long long	 id;
	long long		 created;
	int64_t			 t0;		/* monotonic ms */
	int64_t			 first_us;
	int64_t			 delay_us;	/* between streamed tokens */
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

static void	on_tick(evutil_socket_t, short, void *);
static route_fn	api_infer, api_models, page_control, page_stats, page_reset;

/* Every address; the dispatcher checks the method before the handler. */
static const struct route routes[] = {
	{ RT_CHAT, "/v1/chat/completions", EVHTTP_REQ_POST, 1, K_CHAT,
	    api_infer },
	{ RT_COMPLETIONS, "/v1/completions", EVHTTP_REQ_POST, 1, K_COMPLETION,
	    api_infer },
	{ RT_EMBEDDINGS, "/v1/embeddings", EVHTTP_REQ_POST, 1, K_EMBEDDING,
	    api_infer },
	{ RT_MODELS, "/v1/models", EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, 1,
	    K_NONE, api_models },
	{ RT_CONTROL, "/mock/control", EVHTTP_REQ_GET | EVHTTP_REQ_POST, 0,
	    K_NONE, page_control },
	{ RT_STATS, "/mock/stats", EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, 0,
	    K_NONE, page_stats },
	{ RT_RESET, "/mock/reset", EVHTTP_REQ_POST, 0, K_NONE, page_reset },
};

static const struct route other = { RT_OTHER, "other", 0, 1, K_NONE, NULL };

/* FNV-1a over len bytes of s, continuing from h. */
static uint64_t
fnv1a(uint64_t h, const char *s, size_t len)
{
	while (len-- > 0) {
		h ^= (unsigned char)*s++;
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* splitmix64's finaliser: a well-mixed 64-bit value from x. */
static uint64_t
mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* Word i of the answer to the prompt that hashed to seed. */
static const char *
word_at(uint64_t seed, long long i)
{
	return words[mix64(seed ^ mix64((uint64_t)i)) % nitems(words)];
}

/* Count the whitespace-separated words in len bytes of s. */
static long long
count_words(const char *s, size_t len)
{
	long long	 n = 0;
	int		 inword = 0, space;

	for (; len > 0; s++, len--) {
		space = isspace((unsigned char)*s);
		if (!space && !inword)
			n++;
		inword = !space;
	}
	return n;
}

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

/* A new JSON string for s, or JSON null when s is NULL or not UTF-8. */
static json_t *
json_str_or_null(const char *s)
{
	json_t	*v = s != NULL ? json_string(s) : NULL;

	return v != NULL ? v : json_null();
}

/* ---- responses ---------------------------------------------------- */

/* Send v (reference stolen) as a JSON answer with the given status. */
static void
send_json(struct evhttp_request *req, int status, json_t *v)
{
	struct evbuffer	*b = evbuffer_new();
	char		*s;

	if (v == NULL || (s = json_dumps(v, JSON_COMPACT |
	    JSON_PRESERVE_ORDER)) == NULL)
		abort();
	evbuffer_add(b, s, strlen(s));
	evbuffer_add(b, "\n", 1);
	free(s);
	json_decref(v);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "application/json");
	evhttp_send_reply(req, status, NULL, b);
	evbuffer_free(b);
}

/* Send an OpenAI-shaped error; param and code may be NULL (JSON null). */
static void
send_error(struct evhttp_request *req, int status, const char *type,
    const char *param, const char *code, const char *message)
{
	struct evkeyvalq	*h = evhttp_request_get_output_headers(req);

	if (status == 429 || status == 503)
		evhttp_add_header(h, "Retry-After", "1");
	send_json(req, status, json_pack("{s:{s:s, s:s, s:o, s:o}}",
	    "error", "message", message, "type", type,
	    "param", json_str_or_null(param), "code", json_str_or_null(code)));
}

/* Send e as a 400 invalid_request_error. */
static void
send_apierr(struct evhttp_request *req, const struct apierr *e)
{
	send_error(req, 400, "invalid_request_error", e->param, e->code,
	    e->message);
}

/* One log line for a finished request, unless --quiet; never a body. */
static void
log_request(struct mock *m, const struct route *rt, int status,
    const char *what, long long completion, int64_t t0)
{
	if (m->quiet)
		return;
	log_info("%s %d %s completion=%lld ms=%lld", rt->path, status, what,
	    completion, (long long)(util_now_ms() - t0));
}

/* ---- request parsing ---------------------------------------------- */

/* Fill e for a 400 about param; returns -1. */
static int __attribute__((format(printf, 4, 5)))
fail(struct apierr *e, const char *param, const char *code,
    const char *fmt, ...)
{
	va_list	 ap;

	e->param = param;
	e->code = code;
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
	return -1;
}

/* Turn a typed getter's failure (message already in e) into -1. */
static int
getter_fail(struct apierr *e, const char *param, enum json_get rc)
{
	e->param = param;
	e->code = rc == JSON_GET_MISSING ? "missing_required_parameter" :
	    rc == JSON_GET_RANGE ? "invalid_value" : "invalid_type";
	return -1;
}

/* Add the JSON string v to the prompt's word count and hash. */
static void
ask_text(struct ask *a, json_t *v)
{
	const char	*s = json_string_value(v);
	size_t		 len = json_string_length(v);

	a->prompt_tokens += count_words(s, len);
	a->seed = fnv1a(a->seed, s, len);
	a->seed = fnv1a(a->seed, "\n", 1);
}

/* Lower *cap (0: none yet) to the positive integer key if given; 0 or -1. */
static int
ask_cap(json_t *body, const char *key, long long *cap, struct apierr *e)
{
	enum json_get	 rc;
	long long	 n;

	rc = json_get_int(body, key, 0, 1, LLONG_MAX, &n, e->message,
	    sizeof(e->message));
	if (rc < 0)
		return fail(e, key, "invalid_value", "'%s' must be a positive "
		    "integer", key);
	if (rc == JSON_GET_OK && (*cap == 0 || n < *cap))
		*cap = n;
	return 0;
}

/* model, stream, stream_options and the max_tokens caps; 0 or -1 and e. */
static int
ask_common(json_t *body, struct ask *a, struct apierr *e)
{
	enum json_get	 rc;
	json_t		*so;

	rc = json_get_str(body, "model", 1, &a->model, e->message,
	    sizeof(e->message));
	if (rc != JSON_GET_OK)
		return getter_fail(e, "model", rc);
	if (a->model[0] == '\0')
		return fail(e, "model", "invalid_value",
		    "'model' must not be empty");
	rc = json_get_bool(body, "stream", 0, &a->stream, e->message,
	    sizeof(e->message));
	if (rc < 0)
		return getter_fail(e, "stream", rc);
	so = json_object_get(body, "stream_options");
	if (so != NULL && !json_is_null(so)) {
		if (!json_is_object(so))
			return fail(e, "stream_options", "invalid_type",
			    "'stream_options' must be an object");
		rc = json_get_bool(so, "include_usage", 0, &a->include_usage,
		    e->message, sizeof(e->message));
		if (rc < 0)
			return getter_fail(e, "stream_options", rc);
	}
	if (ask_cap(body, "max_tokens", &a->max_tokens, e) == -1 ||
	    ask_cap(body, "max_completion_tokens", &a->max_tokens, e) == -1)
		return -1;
	return 0;
}

/* Chat messages: count and hash every text content; 0 or -1 and e. */
static int
ask_chat(json_t *body, struct ask *a, struct apierr *e)
{
	json_t	*msgs = json_object_get(body, "messages");
	json_t	*msg, *content, *part, *text;
	size_t	 i, j;

	if (msgs == NULL || json_is_null(msgs))
		return fail(e, "messages", "missing_required_parameter",
		    "'messages' is required");
	if (!json_is_array(msgs) || json_array_size(msgs) == 0)
		return fail(e, "messages", "invalid_value",
		    "'messages' must be a non-empty array");
	json_array_foreach(msgs, i, msg) {
		if (!json_is_object(msg) ||
		    !json_is_string(json_object_get(msg, "role")))
			return fail(e, "messages", "invalid_value",
			    "messages[%zu] must be an object with a 'role'", i);
		content = json_object_get(msg, "content");
		if (json_is_string(content)) {
			ask_text(a, content);
		} else if (json_is_array(content)) {
			json_array_foreach(content, j, part) {
				text = json_is_object(part) ?
				    json_object_get(part, "text") : NULL;
				if (json_is_string(text))
					ask_text(a, text);
			}
		} else if (content != NULL && !json_is_null(content))
			return fail(e, "messages", "invalid_type",
			    "messages[%zu].content must be a string, an "
			    "array of parts or null", i);
	}
	return 0;
}

/* A string or non-empty array of strings under key; 0 or -1 and e. */
static int
ask_strings(json_t *body, const char *key, struct ask *a, struct apierr *e)
{
	json_t	*v = json_object_get(body, key), *s;
	size_t	 i;

	if (v == NULL || json_is_null(v))
		return fail(e, key, "missing_required_parameter",
		    "'%s' is required", key);
	a->input = v;
	if (json_is_string(v)) {
		ask_text(a, v);
		return 0;
	}
	if (!json_is_array(v) || json_array_size(v) == 0)
		return fail(e, key, "invalid_type", "'%s' must be a string "
		    "or a non-empty array of strings", key);
	json_array_foreach(v, i, s) {
		if (!json_is_string(s))
			return fail(e, key, "invalid_type", "'%s' must be a "
			    "string or a non-empty array of strings", key);
		ask_text(a, s);
	}
	return 0;
}

/* Embeddings: input and encoding_format; 0 or -1 and e. */
static int
ask_embedding(json_t *body, struct ask *a, struct apierr *e)
{
	const char	*fmt = "float";

	if (json_get_str(body, "encoding_format", 0, &fmt, e->message,
	    sizeof(e->message)) < 0 || (strcmp(fmt, "float") != 0 &&
	    strcmp(fmt, "base64") != 0))
		return fail(e, "encoding_format", "invalid_value",
		    "'encoding_format' must be float or base64");
	a->base64 = strcmp(fmt, "base64") == 0;
	return ask_strings(body, "input", a, e);
}

/* Validate body as a request of the given kind into a; 0 or -1 and e. */
static int
ask_parse(json_t *body, enum kind kind, struct ask *a, struct apierr *e)
{
	memset(a, 0, sizeof(*a));
	a->kind = kind;
	a->seed = FNV_BASIS;
	if (ask_common(body, a, e) == -1)
		return -1;
	switch (kind) {
	case K_CHAT:
		return ask_chat(body, a, e);
	case K_COMPLETION:
		return ask_strings(body, "prompt", a, e);
	case K_EMBEDDING:
		a->stream = 0;
		return ask_embedding(body, a, e);
	default:
		abort();
	}
}

/* The request a fault answers when the body itself was not valid. */
static void
ask_default(struct ask *a, enum kind kind)
{
	memset(a, 0, sizeof(*a));
	a->kind = kind;
	a->model = "mock";
	a->seed = FNV_BASIS;
}

/* ---- rendering ---------------------------------------------------- */

/* Open an answer object: id, object, created, model. */
static void
put_head(struct evbuffer *b, const struct call *c, const char *object)
{
	evbuffer_add_printf(b, "{\"id\":\"%s-mock-%llu\",\"object\":\"%s\","
	    "\"created\":%lld,\"model\":%s,", c->kind == K_CHAT ? "chatcmpl" :
	    "cmpl", c->id, object, c->created, c->model);
}

/* The usage object for n completion tokens (10x when inflated). */
static void
put_usage(struct evbuffer *b, const struct call *c, long long n)
{
	if (c->inflated)
		n *= 10;
	evbuffer_add_printf(b, "\"usage\":{\"prompt_tokens\":%lld,"
	    "\"completion_tokens\":%lld,\"total_tokens\":%lld}",
	    c->prompt_tokens, n, c->prompt_tokens + n);
}

/* "length" when max_tokens cut the answer, else "stop". */
static const char *
finish_reason(const struct call *c)
{
	return c->length ? "length" : "stop";
}

/* Render the whole non-streamed chat or text completion into c->body. */
static void
render_completion(struct call *c)
{
	struct evbuffer	*b = c->body;
	long long	 i;

	if (c->kind == K_CHAT) {
		put_head(b, c, "chat.completion");
		evbuffer_add_printf(b, "\"choices\":[{\"index\":0,\"message\":"
		    "{\"role\":\"assistant\",\"content\":\"");
	} else {
		put_head(b, c, "text_completion");
		evbuffer_add_printf(b, "\"choices\":[{\"index\":0,\"text\":\"");
	}
	for (i = 0; i < c->ntokens; i++)
		evbuffer_add_printf(b, "%s ", word_at(c->seed, i));
	evbuffer_add_printf(b, "\"%s,\"logprobs\":null,\"finish_reason\":"
	    "\"%s\"}],", c->kind == K_CHAT ? "}" : "", finish_reason(c));
	put_usage(b, c, c->ntokens);
	evbuffer_add(b, "}\n", 2);
}

/* The deterministic vector of the string v, each value in [-1, 1). */
static void
embed(json_t *v, float out[EMBED_DIM])
{
	uint64_t	 h = fnv1a(FNV_BASIS, json_string_value(v),
			    json_string_length(v));
	int		 j;

	for (j = 0; j < EMBED_DIM; j++)
		out[j] = (float)((double)(mix64(h + (uint64_t)j) >> 11) /
		    9007199254740992.0 * 2.0 - 1.0);
}

/* Append v's vector: a JSON array, or base64 of little-endian float32s. */
static void
put_vector(struct evbuffer *b, json_t *v, int base64)
{
	float		 f[EMBED_DIM];
	unsigned char	 raw[EMBED_DIM * 4], enc[EMBED_DIM * 4 * 4 / 3 + 4];
	uint32_t	 bits;
	int		 j;

	embed(v, f);
	if (!base64) {
		evbuffer_add(b, "[", 1);
		for (j = 0; j < EMBED_DIM; j++)
			evbuffer_add_printf(b, "%s%.6f", j ? "," : "",
			    (double)f[j]);
		evbuffer_add(b, "]", 1);
		return;
	}
	for (j = 0; j < EMBED_DIM; j++) {
		memcpy(&bits, &f[j], sizeof(bits));
		raw[4 * j] = (unsigned char)bits;
		raw[4 * j + 1] = (unsigned char)(bits >> 8);
		raw[4 * j + 2] = (unsigned char)(bits >> 16);
		raw[4 * j + 3] = (unsigned char)(bits >> 24);
	}
	EVP_EncodeBlock(enc, raw, (int)sizeof(raw));
	evbuffer_add_printf(b, "\"%s\"", (const char *)enc);
}

/* Render an embeddings answer for input (string, array or NULL). */
static void
render_embeddings(struct call *c, json_t *input)
{
	struct evbuffer	*b = c->body;
	size_t		 i, n = json_is_array(input) ? json_array_size(input) :
			    input != NULL;

	evbuffer_add_printf(b, "{\"object\":\"list\",\"data\":[");
	for (i = 0; i < n; i++) {
		evbuffer_add_printf(b, "%s{\"object\":\"embedding\",\"index\":"
		    "%zu,\"embedding\":", i ? "," : "", i);
		put_vector(b, json_is_array(input) ?
		    json_array_get(input, i) : input, c->base64);
		evbuffer_add(b, "}", 1);
	}
	evbuffer_add_printf(b, "],\"model\":%s,\"usage\":{\"prompt_tokens\":"
	    "%lld,\"total_tokens\":%lld}}\n", c->model, c->prompt_tokens,
	    c->prompt_tokens);
}

/* Open one SSE chunk, up to the inside of choices[0]. */
static void
chunk_open(struct evbuffer *b, const struct call *c)
{
	evbuffer_add(b, "data: ", 6);
	put_head(b, c, c->kind == K_CHAT ? "chat.completion.chunk" :
	    "text_completion");
	evbuffer_add_printf(b, "\"choices\":[{\"index\":0,");
}

/* Close a chunk with finish_reason (NULL: JSON null). */
static void
chunk_close(struct evbuffer *b, const char *finish)
{
	if (finish == NULL)
		evbuffer_add_printf(b, ",\"logprobs\":null,"
		    "\"finish_reason\":null}]}\n\n");
	else
		evbuffer_add_printf(b, ",\"logprobs\":null,"
		    "\"finish_reason\":\"%s\"}]}\n\n", finish);
}

/* Append the chat stream's first chunk: the assistant role. */
static void
put_role(struct evbuffer *b, const struct call *c)
{
	chunk_open(b, c);
	evbuffer_add_printf(b, "\"delta\":{\"role\":\"assistant\"}");
	chunk_close(b, NULL);
}

/* Append the chunk for the next token and count it. */
static void
put_token(struct evbuffer *b, struct call *c)
{
	const char	*w = word_at(c->seed, c->sent++);

	chunk_open(b, c);
	if (c->kind == K_CHAT)
		evbuffer_add_printf(b, "\"delta\":{\"content\":\"%s \"}", w);
	else
		evbuffer_add_printf(b, "\"text\":\"%s \"", w);
	chunk_close(b, NULL);
}

/* Append the end of a stream: finish chunk, usage chunk if asked, [DONE]. */
static void
put_finish(struct evbuffer *b, const struct call *c)
{
	chunk_open(b, c);
	evbuffer_add_printf(b, c->kind == K_CHAT ? "\"delta\":{}" :
	    "\"text\":\"\"");
	chunk_close(b, finish_reason(c));
	if (c->include_usage) {
		evbuffer_add(b, "data: ", 6);
		put_head(b, c, c->kind == K_CHAT ? "chat.completion.chunk" :
		    "text_completion");
		evbuffer_add_printf(b, "\"choices\":[],");
		put_usage(b, c, c->sent);
		evbuffer_add(b, "}\n\n", 3);
	}
	evbuffer_add_printf(b, "data: [DONE]\n\n");
}

/* Append a data: line that is not JSON, then [DONE]. */
static void
put_malformed(struct evbuffer *b, const struct call *c)
{
	chunk_open(b, c);
	evbuffer_add_printf(b, "\"delta\":{\"content\":\n\ndata: [DONE]\n\n");
}

/* ---- calls: open requests driven by timers ------------------------ */

/* Arm c's timer to fire after us microseconds. */
static void
call_arm(struct call *c, int64_t us)
{
	struct timeval	tv;

	tv.tv_sec = (time_t)(us / 1000000);
	tv.tv_usec = (suseconds_t)(us % 1000000);
	evtimer_add(c->timer, &tv);
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

/*
 * evhttp stops reading once a request is in, so a client that gives up
 * before the first byte of the answer would go unnoticed. Read with no
 * read callback, as evhttp itself does while it writes: only EOF and
 * errors reach evhttp's event callback, which closes the connection and
 * calls on_close.
 */
static void
watch_close(struct evhttp_connection *evcon)
{
	struct bufferevent	*bev = evhttp_connection_get_bufferevent(evcon);
	bufferevent_data_cb	 rd, wr;
	bufferevent_event_cb	 ev;
	void			*arg;

	bufferevent_getcb(bev, &rd, &wr, &ev, &arg);
	bufferevent_setcb(bev, NULL, wr, ev, arg);
	bufferevent_enable(bev, EV_READ);
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
static struct call *
call_new(struct mock *m, struct evhttp_request *req, const struct route *rt,
    const struct ask *a, enum fault f)
{
	struct evhttp_connection	*evcon = evhttp_request_get_connection(req);
	struct call			*c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		abort();
	c->m = m;
	c->rt = rt;
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
	c->inflated = m->cur.inflated;
	c->ntokens = m->cur.tokens;
	if (a->max_tokens > 0 && a->max_tokens <= c->ntokens) {
		c->ntokens = a->max_tokens;
		c->length = 1;
	}
	c->stop_at = c->ntokens;
	if ((f == F_DROP || f == F_MALFORMED) && m->after_tokens < c->ntokens)
		c->stop_at = m->after_tokens;
	c->first_us = m->cur.first_token_ms * 1000;
	c->delay_us = m->cur.tps > 0 ? 1000000 / m->cur.tps :
	    m->cur.interval_ms * 1000;
	if ((c->timer = evtimer_new(m->base, on_tick, c)) == NULL)
		abort();
	TAILQ_INSERT_TAIL(&m->calls, c, entry);
	m->active++;
	evhttp_connection_set_closecb(evcon, on_close, c);
	watch_close(evcon);
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
	if (c->kind == K_CHAT)
		put_role(b, c);
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
		put_malformed(b, c);
	else
		put_finish(b, c);
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
		call_arm(c, MOCK_POLL_US);
		return;
	}
	b = evbuffer_new();
	if (c->status == 0)
		stream_begin(c, b);
	while (c->sent < c->stop_at) {
		put_token(b, c);
		if (c->delay_us > 0 ||
		    evbuffer_get_length(b) >= MOCK_HIGH_WATER)
			break;
	}
	if (c->sent < c->stop_at) {
		evhttp_send_reply_chunk(c->req, b);
		call_arm(c, c->delay_us);
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
			call_arm(c, MOCK_POLL_US);
		else
			call_drop(c);
		break;
	}
}

/* Start call c for a: hang, refuse, stream or render a delayed reply. */
static void
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
		if (c->kind == K_EMBEDDING)
			render_embeddings(c, a->input);
		else
			render_completion(c);
	}
	call_arm(c, c->first_us);
}

/* ---- /mock/stats and the last request ----------------------------- */

/* A copy of body's key (JSON null when absent). */
static json_t *
copy_key(json_t *body, const char *key)
{
	json_t	*v = body != NULL ? json_object_get(body, key) : NULL;

	return v != NULL ? json_deep_copy(v) : json_null();
}

/* Remember what the last inference request asked for; no contents. */
static void
record_last(struct mock *m, struct evhttp_request *req,
    const struct route *rt, json_t *body)
{
	const char	*auth, *key;
	json_t		*last, *keys = json_array(), *v, *model;

	auth = evhttp_find_header(evhttp_request_get_input_headers(req),
	    "Authorization");
	if (body != NULL)
		json_object_foreach(body, key, v)
			json_array_append_new(keys, json_string(key));
	model = body != NULL ? json_object_get(body, "model") : NULL;
	last = json_pack("{s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
	    "path", rt->path,
	    "authorization", json_str_or_null(auth),
	    "model", json_is_string(model) ? json_deep_copy(model) :
	    json_null(),
	    "stream", copy_key(body, "stream"),
	    "stream_options", copy_key(body, "stream_options"),
	    "max_tokens", copy_key(body, "max_tokens"),
	    "max_completion_tokens", copy_key(body, "max_completion_tokens"),
	    "keys", keys);
	if (last == NULL)
		abort();
	json_decref(m->last);
	m->last = last;
}

/* An empty "last" record, before any inference request. */
static json_t *
last_empty(void)
{
	json_t	*v = json_pack("{s:n, s:n, s:n, s:n, s:n, s:n, s:n, s:[]}",
		    "path", "authorization", "model", "stream",
		    "stream_options", "max_tokens", "max_completion_tokens",
		    "keys");

	if (v == NULL)
		abort();
	return v;
}

/* The control state: settings and the pending fault. New reference. */
static json_t *
control_state(struct mock *m)
{
	return json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:s}",
	    "fault", fault_defs[m->fault].name,
	    "count", (json_int_t)m->fault_left,
	    "after_tokens", (json_int_t)m->after_tokens,
	    "tokens", (json_int_t)m->cur.tokens,
	    "first_token_ms", (json_int_t)m->cur.first_token_ms,
	    "interval_ms", (json_int_t)m->cur.interval_ms,
	    "tokens_per_second", (json_int_t)m->cur.tps,
	    "usage", m->cur.inflated ? "inflated" : "honest");
}

/* GET /mock/stats: counters, the open calls and the last request. */
static void
page_stats(struct mock *m, struct evhttp_request *req, const struct route *rt)
{
	json_t	*by_path = json_object();
	size_t	 i;

	for (i = 0; i < nitems(routes); i++)
		if (routes[i].api)
			json_object_set_new(by_path, routes[i].path,
			    json_integer((json_int_t)m->st.by_path[i]));
	json_object_set_new(by_path, "other",
	    json_integer((json_int_t)m->st.by_path[RT_OTHER]));
	send_json(req, 200, json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:o, "
	    "s:O, s:o}",
	    "requests", (json_int_t)m->st.requests,
	    "active", (json_int_t)m->active,
	    "completed", (json_int_t)m->st.completed,
	    "cancelled", (json_int_t)m->st.cancelled,
	    "faults", (json_int_t)m->st.faults,
	    "errors", (json_int_t)m->st.errors,
	    "by_path", by_path,
	    "last", m->last,
	    "control", control_state(m)));
}

/* POST /mock/reset: command-line settings, no fault, zero counters. */
static void
page_reset(struct mock *m, struct evhttp_request *req, const struct route *rt)
{
	m->cur = m->defaults;
	m->fault = F_NONE;
	m->fault_left = 0;
	m->after_tokens = 2;
	memset(&m->st, 0, sizeof(m->st));
	json_decref(m->last);
	m->last = last_empty();
	send_json(req, 200, control_state(m));
}

/* ---- /mock/control ------------------------------------------------ */

/* Look up a fault by name; F__MAX when unknown. */
static enum fault
fault_parse(const char *s)
{
	int	i;

	for (i = 0; i < F__MAX; i++)
		if (strcmp(s, fault_defs[i].name) == 0)
			return (enum fault)i;
	return F__MAX;
}

/* An optional integer setting key in [lo, hi] into *out; 0 or -1 and e. */
static int
control_int(json_t *body, const char *key, long long lo, long long hi,
    long long *out, int *given, struct apierr *e)
{
	enum json_get	rc;

	rc = json_get_int(body, key, 0, lo, hi, out, e->message,
	    sizeof(e->message));
	if (rc < 0)
		return getter_fail(e, key, rc);
	if (given != NULL)
		*given = rc == JSON_GET_OK;
	return 0;
}

/* The fault part of a control body into f, left, after; 0 or -1 and e. */
static int
control_fault(json_t *body, enum fault *f, long long *left, long long *after,
    struct apierr *e)
{
	const char	*name;
	enum json_get	 rc;
	int		 has_count, has_after;

	rc = json_get_str(body, "fault", 0, &name, e->message,
	    sizeof(e->message));
	if (rc < 0)
		return getter_fail(e, "fault", rc);
	*left = 1;
	*after = 2;
	if (control_int(body, "count", -1, LLONG_MAX, left, &has_count,
	    e) == -1 || control_int(body, "after_tokens", 0, MOCK_MAX_TOKENS,
	    after, &has_after, e) == -1)
		return -1;
	if (rc != JSON_GET_OK) {
		if (has_count || has_after)
			return fail(e, "fault", "missing_required_parameter",
			    "'count' and 'after_tokens' need a 'fault'");
		return 1;
	}
	if ((*f = fault_parse(name)) == F__MAX)
		return fail(e, "fault", "invalid_value", "'fault' must be one "
		    "of 500, 503, 429, 400, 401, hang, drop, malformed, "
		    "refuse-body or none");
	if (*left == 0)
		return fail(e, "count", "invalid_value", "'count' must be -1 "
		    "(until changed) or a positive integer");
	if (*f == F_NONE)
		*left = 0;
	return 0;
}

/* Apply a control body to m, all or nothing; 0 or -1 and e. */
static int
control_apply(struct mock *m, json_t *body, struct apierr *e)
{
	static const char *const known[] = { "fault", "count", "after_tokens",
		"first_token_ms", "interval_ms", "tokens_per_second", "tokens",
		"usage" };
	struct settings	 s = m->cur;
	enum fault	 f = m->fault;
	long long	 left, after;
	const char	*key, *usage;
	json_t		*v;
	size_t		 i;
	int		 rc;

	json_object_foreach(body, key, v) {
		for (i = 0; i < nitems(known) && strcmp(key, known[i]); i++)
			continue;
		if (i == nitems(known))
			return fail(e, NULL, "unknown_parameter",
			    "unknown control field '%.64s'", key);
	}
	if ((rc = control_fault(body, &f, &left, &after, e)) == -1)
		return -1;
	if (control_int(body, "first_token_ms", 0, MOCK_MAX_MS,
	    &s.first_token_ms, NULL, e) == -1 ||
	    control_int(body, "interval_ms", 0, MOCK_MAX_MS, &s.interval_ms,
	    NULL, e) == -1 ||
	    control_int(body, "tokens_per_second", 0, 1000000, &s.tps, NULL,
	    e) == -1 ||
	    control_int(body, "tokens", 0, MOCK_MAX_TOKENS, &s.tokens, NULL,
	    e) == -1)
		return -1;
	if (json_get_str(body, "usage", 0, &usage, e->message,
	    sizeof(e->message)) == JSON_GET_OK) {
		if (strcmp(usage, "honest") && strcmp(usage, "inflated"))
			return fail(e, "usage", "invalid_value",
			    "'usage' must be honest or inflated");
		s.inflated = strcmp(usage, "inflated") == 0;
	} else if (json_object_get(body, "usage") != NULL)
		return fail(e, "usage", "invalid_type",
		    "'usage' must be honest or inflated");
	m->cur = s;
	if (rc == 0) {
		m->fault = f;
		m->fault_left = left;
		m->after_tokens = after;
	}
	return 0;
}

/* GET /mock/control shows, POST changes, the settings and the fault. */
static void
page_control(struct mock *m, struct evhttp_request *req,
    const struct route *rt)
{
	struct evbuffer	*in = evhttp_request_get_input_buffer(req);
	struct apierr	 e;
	json_t		*body;

	memset(&e, 0, sizeof(e));
	if (evhttp_request_get_command(req) == EVHTTP_REQ_POST) {
		body = json_parse_limited((const char *)evbuffer_pullup(in, -1),
		    evbuffer_get_length(in), e.message, sizeof(e.message));
		if (body == NULL) {
			send_error(req, 400, "invalid_request_error", NULL,
			    "invalid_json", e.message);
			return;
		}
		if (control_apply(m, body, &e) == -1) {
			json_decref(body);
			send_apierr(req, &e);
			return;
		}
		json_decref(body);
		if (!m->quiet)
			log_info("control: fault=%s count=%lld after_tokens=%lld "
			    "tokens=%lld first_token_ms=%lld interval_ms=%lld "
			    "tokens_per_second=%lld usage=%s",
			    fault_defs[m->fault].name, m->fault_left,
			    m->after_tokens, m->cur.tokens,
			    m->cur.first_token_ms, m->cur.interval_ms,
			    m->cur.tps, m->cur.inflated ? "inflated" : "honest");
	}
	send_json(req, 200, control_state(m));
}

/* ---- the OpenAI API ----------------------------------------------- */

/* Take the next request's fault (counting it); F_NONE when none. */
static enum fault
fault_take(struct mock *m)
{
	enum fault	f = m->fault;

	if (f == F_NONE)
		return F_NONE;
	if (m->fault_left > 0 && --m->fault_left == 0)
		m->fault = F_NONE;
	m->st.faults++;
	return f;
}

/* Parse the request body as a JSON object; NULL and a message in e. */
static json_t *
body_parse(struct evhttp_request *req, struct apierr *e)
{
	struct evbuffer	*in = evhttp_request_get_input_buffer(req);
	size_t		 len = evbuffer_get_length(in);
	char		 why[200];
	json_t		*body;

	e->param = NULL;
	e->code = "invalid_json";
	if (len == 0) {
		snprintf(e->message, sizeof(e->message), "The request body is "
		    "empty; expected a JSON object.");
		return NULL;
	}
	body = json_parse_limited((const char *)evbuffer_pullup(in, -1), len,
	    why, sizeof(why));
	if (body == NULL)
		snprintf(e->message, sizeof(e->message), "We could not parse "
		    "the JSON body of your request: %s", why);
	return body;
}

/* POST /v1/chat/completions, /v1/completions, /v1/embeddings. */
static void
api_infer(struct mock *m, struct evhttp_request *req, const struct route *rt)
{
	const struct fault_def	*fd;
	struct apierr		 e;
	struct ask		 a;
	struct call		*c;
	json_t			*body;
	enum fault		 f;
	int			 ok;
	int64_t			 t0 = util_now_ms();

	m->st.requests++;
	memset(&e, 0, sizeof(e));
	body = body_parse(req, &e);
	record_last(m, req, rt, body);
	ok = body != NULL && ask_parse(body, rt->kind, &a, &e) == 0;
	f = fault_take(m);
	fd = &fault_defs[f];
	if (fd->status != 0) {
		send_error(req, fd->status, fd->type, NULL, fd->code,
		    fd->message);
		log_request(m, rt, fd->status, fd->name, 0, t0);
	} else if (!ok && f == F_NONE) {
		m->st.errors++;
		send_apierr(req, &e);
		log_request(m, rt, 400, e.code, 0, t0);
	} else {
		if (!ok)
			ask_default(&a, rt->kind);
		c = call_new(m, req, rt, &a, f);
		call_start(c, &a);
	}
	json_decref(body);
}

/* GET /v1/models: the --model names. */
static void
api_models(struct mock *m, struct evhttp_request *req, const struct route *rt)
{
	json_t	*data = json_array();
	int	 i;

	for (i = 0; i < m->nmodels; i++)
		json_array_append_new(data, json_pack("{s:s, s:s, s:I, s:s}",
		    "id", m->models[i], "object", "model",
		    "created", (json_int_t)m->started,
		    "owned_by", "infrpool-mock"));
	send_json(req, 200, json_pack("{s:s, s:o}", "object", "list",
	    "data", data));
	log_request(m, rt, 200, "models", 0, util_now_ms());
}

/* Every request: find the route, check the method, run the handler. */
static void
on_request(struct evhttp_request *req, void *arg)
{
	struct mock		*m = arg;
	const struct evhttp_uri	*uri = evhttp_request_get_evhttp_uri(req);
	const char		*path = uri ? evhttp_uri_get_path(uri) : NULL;
	const struct route	*rt;
	struct bufferevent	*bev;
	size_t			 i;

	/* As model servers do: a stream's chunks leave as they are made. */
	bev = evhttp_connection_get_bufferevent(evhttp_request_get_connection(req));
	if (bev != NULL)
		(void)util_tcp_nodelay(bufferevent_getfd(bev));
	for (i = 0; i < nitems(routes); i++)
		if (path != NULL && strcmp(path, routes[i].path) == 0)
			break;
	rt = i < nitems(routes) ? &routes[i] : &other;
	if (rt->api)
		m->st.by_path[rt->id]++;
	if (rt->fn == NULL) {
		send_error(req, 404, "invalid_request_error", NULL,
		    "unknown_url", "Unknown request URL.");
		log_request(m, rt, 404, "unknown", 0, util_now_ms());
	} else if ((rt->methods & (int)evhttp_request_get_command(req)) == 0) {
		send_error(req, 405, "invalid_request_error", NULL,
		    "method_not_allowed", "This address does not take that "
		    "method.");
		log_request(m, rt, 405, "method", 0, util_now_ms());
	} else
		rt->fn(m, req, rt);
}

/* ---- program ------------------------------------------------------ */

/* SIGTERM or SIGINT: leave the loop; main frees what is open. */
static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct mock	*m = arg;

	log_info("signal %d: stopping", (int)sig);
	event_base_loopexit(m->base, NULL);
}

/* util_parse_hostport, also taking port 0 (any free port). */
static int
parse_listen(const char *addr, char *host, size_t hostlen, int *port)
{
	char	tmp[300];
	size_t	n = strlen(addr);

	if (n < 2 || n >= sizeof(tmp) || strcmp(addr + n - 2, ":0") != 0)
		return util_parse_hostport(addr, host, hostlen, port);
	memcpy(tmp, addr, n + 1);
	tmp[n - 1] = '1';
	if (util_parse_hostport(tmp, host, hostlen, port) == -1)
		return -1;
	*port = 0;
	return 0;
}

/* Write the bound address of fd as host:port (or [v6]:port) into out. */
static void
bound_address(evutil_socket_t fd, char *out, size_t outlen)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sl = sizeof(ss);
	char			 h[NI_MAXHOST], p[NI_MAXSERV];

	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == -1 ||
	    getnameinfo((struct sockaddr *)&ss, sl, h, sizeof(h), p, sizeof(p),
	    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
		snprintf(out, outlen, "?");
		return;
	}
	snprintf(out, outlen, ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s",
	    h, p);
}

/* Listen on addr with a deep backlog; logs the bound address. 0 or -1. */
static int
bind_listener(struct mock *m, const char *addr)
{
	struct evconnlistener	*lev;
	struct addrinfo		 hints, *res;
	char			 host[256], port[16], shown[300];
	int			 p, rc;

	if (parse_listen(addr, host, sizeof(host), &p) == -1) {
		fprintf(stderr, "infrpool-mock: listen address '%s' is not "
		    "host:port\n", addr);
		return -1;
	}
	snprintf(port, sizeof(port), "%d", p);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((rc = getaddrinfo(host[0] ? host : "127.0.0.1", port, &hints,
	    &res)) != 0) {
		fprintf(stderr, "infrpool-mock: %s: %s\n", addr,
		    gai_strerror(rc));
		return -1;
	}
	lev = evconnlistener_new_bind(m->base, NULL, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_REUSEABLE,
	    4096, res->ai_addr, (int)res->ai_addrlen);
	freeaddrinfo(res);
	if (lev == NULL || evhttp_bind_listener(m->http, lev) == NULL) {
		fprintf(stderr, "infrpool-mock: cannot listen on %s: %s\n",
		    addr, strerror(errno));
		if (lev != NULL)
			evconnlistener_free(lev);
		return -1;
	}
	bound_address(evconnlistener_get_fd(lev), shown, sizeof(shown));
	log_info("listening on %s", shown);
	return 0;
}

/* Thousands of streams need thousands of sockets: soft limit to hard. */
static void
raise_nofile(void)
{
	struct rlimit	rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			log_warn("cannot raise the open-file limit: %s",
			    strerror(errno));
	}
}

/* Print the options. */
static void
usage(void)
{
	fprintf(stderr, "usage: infrpool-mock --listen host:port [--tokens N] "
	    "[--first-token-ms N]\n"
	    "\t[--interval-ms N] [--tokens-per-second N] "
	    "[--usage honest|inflated]\n"
	    "\t[--model name]... [--pidfile path] [--quiet]\n");
}

/* Parse the number s within [lo, hi] into *out; 0 or -1 with a message. */
static int
parse_num(const char *opt, const char *s, long long lo, long long hi,
    long long *out)
{
	char	*end;

	errno = 0;
	*out = strtoll(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || *out < lo ||
	    *out > hi) {
		fprintf(stderr, "infrpool-mock: --%s: expected a number from "
		    "%lld to %lld (got '%s')\n", opt, lo, hi, s);
		return -1;
	}
	return 0;
}

/* Parse options into m; returns -1 on a usage error. */
static int
parse_args(int argc, char **argv, struct mock *m, const char **addr,
    const char **pidfile)
{
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "tokens", required_argument, NULL, 't' },
		{ "first-token-ms", required_argument, NULL, 'f' },
		{ "interval-ms", required_argument, NULL, 'i' },
		{ "tokens-per-second", required_argument, NULL, 's' },
		{ "usage", required_argument, NULL, 'u' },
		{ "model", required_argument, NULL, 'm' },
		{ "pidfile", required_argument, NULL, 'p' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	struct settings	*s = &m->defaults;
	int		 ch, bad = 0;

	while ((ch = getopt_long(argc, argv, "l:p:q", longopts, NULL)) != -1)
		switch (ch) {
		case 'l': *addr = optarg; break;
		case 'p': *pidfile = optarg; break;
		case 'q': m->quiet = 1; break;
		case 't': bad |= parse_num("tokens", optarg, 0,
		    MOCK_MAX_TOKENS, &s->tokens); break;
		case 'f': bad |= parse_num("first-token-ms", optarg, 0,
		    MOCK_MAX_MS, &s->first_token_ms); break;
		case 'i': bad |= parse_num("interval-ms", optarg, 0,
		    MOCK_MAX_MS, &s->interval_ms); break;
		case 's': bad |= parse_num("tokens-per-second", optarg, 0,
		    1000000, &s->tps); break;
		case 'u':
			if (strcmp(optarg, "honest") && strcmp(optarg,
			    "inflated"))
				return -1;
			s->inflated = strcmp(optarg, "inflated") == 0;
			break;
		case 'm':
			if (m->nmodels == MOCK_MODELS)
				return -1;
			m->models[m->nmodels++] = optarg;
			break;
		case 'V': puts(PACKAGE_STRING); exit(0);
		default: return -1;
		}
	return bad || optind != argc || *addr == NULL ? -1 : 0;
}

int
main(int argc, char **argv)
{
	struct mock	 m;
	struct call	*c;
	struct event	*sigterm = NULL, *sigint = NULL;
	struct event_config *cf = NULL;
	const char	*addr = NULL, *pidfile = NULL;
	int		 rc = 1;

	memset(&m, 0, sizeof(m));
	TAILQ_INIT(&m.calls);
	m.defaults.tokens = 16;
	if (parse_args(argc, argv, &m, &addr, &pidfile) == -1) {
		usage();
		return 2;
	}
	if (m.nmodels == 0)
		m.models[m.nmodels++] = "mock";
	m.cur = m.defaults;
	m.after_tokens = 2;
	m.last = last_empty();
	m.started = (long long)time(NULL);
	log_init("infrpool-mock", LV_INFO, NULL);
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();
	/*
	 * A precise timer: epoll's own timeout is rounded to whole jiffies
	 * (4 ms on a 250 Hz kernel), which would blur the latencies and token
	 * intervals the mock promises.
	 */
	if ((cf = event_config_new()) == NULL ||
	    event_config_set_flag(cf, EVENT_BASE_FLAG_PRECISE_TIMER) == -1 ||
	    (m.base = event_base_new_with_config(cf)) == NULL ||
	    (m.http = evhttp_new(m.base)) == NULL)
		goto out;
	evhttp_set_max_headers_size(m.http, 64 * 1024);
	evhttp_set_max_body_size(m.http, MOCK_MAX_BODY);
	evhttp_set_timeout(m.http, MOCK_TIMEOUT_S);
	evhttp_set_gencb(m.http, on_request, &m);
	if (bind_listener(&m, addr) == -1)
		goto out;
	sigterm = evsignal_new(m.base, SIGTERM, on_signal, &m);
	sigint = evsignal_new(m.base, SIGINT, on_signal, &m);
	event_add(sigterm, NULL);
	event_add(sigint, NULL);
	if (pidfile != NULL && util_write_pidfile(pidfile) == -1)
		log_warn("pidfile %s: %s", pidfile, strerror(errno));
	event_base_dispatch(m.base);
	if (pidfile != NULL)
		unlink(pidfile);
	/* Open calls go with their connections in evhttp_free. */
	while ((c = TAILQ_FIRST(&m.calls)) != NULL) {
		call_unhook(c);
		call_free(c, OUT_SHUTDOWN);
	}
	log_info("stopped");
	rc = 0;
out:
	if (sigterm != NULL)
		event_free(sigterm);
	if (sigint != NULL)
		event_free(sigint);
	if (m.http != NULL)
		evhttp_free(m.http);
	if (m.base != NULL)
		event_base_free(m.base);
	if (cf != NULL)
		event_config_free(cf);
	json_decref(m.last);
	return rc;
}
