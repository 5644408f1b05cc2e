/* api.c: infrpool-mock's OpenAI API: parsing asks, rendering answers, chunks */
#include "config.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "json.h"
#include "util.h"
#include "mock.h"

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

/* ---- request parsing ---------------------------------------------- */

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
		return apierr_fail(e, key, "invalid_value", "'%s' must be a "
		    "positive integer", key);
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
		return apierr_getter(e, "model", rc);
	if (a->model[0] == '\0')
		return apierr_fail(e, "model", "invalid_value",
		    "'model' must not be empty");
	rc = json_get_bool(body, "stream", 0, &a->stream, e->message,
	    sizeof(e->message));
	if (rc < 0)
		return apierr_getter(e, "stream", rc);
	so = json_object_get(body, "stream_options");
	if (so != NULL && !json_is_null(so)) {
		if (!json_is_object(so))
			return apierr_fail(e, "stream_options", "invalid_type",
			    "'stream_options' must be an object");
		rc = json_get_bool(so, "include_usage", 0, &a->include_usage,
		    e->message, sizeof(e->message));
		if (rc < 0)
			return apierr_getter(e, "stream_options", rc);
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
		return apierr_fail(e, "messages", "missing_required_parameter",
		    "'messages' is required");
	if (!json_is_array(msgs) || json_array_size(msgs) == 0)
		return apierr_fail(e, "messages", "invalid_value",
		    "'messages' must be a non-empty array");
	json_array_foreach(msgs, i, msg) {
		if (!json_is_object(msg) ||
		    !json_is_string(json_object_get(msg, "role")))
			return apierr_fail(e, "messages", "invalid_value",
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
			return apierr_fail(e, "messages", "invalid_type",
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
		return apierr_fail(e, key, "missing_required_parameter",
		    "'%s' is required", key);
	a->input = v;
	if (json_is_string(v)) {
		ask_text(a, v);
		return 0;
	}
	if (!json_is_array(v) || json_array_size(v) == 0)
		return apierr_fail(e, key, "invalid_type", "'%s' must be a "
		    "string or a non-empty array of strings", key);
	json_array_foreach(v, i, s) {
		if (!json_is_string(s))
			return apierr_fail(e, key, "invalid_type", "'%s' must "
			    "be a string or a non-empty array of strings", key);
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
		return apierr_fail(e, "encoding_format", "invalid_value",
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

/* What the usage mode makes of an honest count n. */
static long long
reported(const struct call *c, long long n)
{
	switch (c->usage) {
	case U_INFLATED:
		return n + n * c->inflate_pct / 100;
	case U_NEGATIVE:
		return n > 0 ? -n : -1;
	case U_HUGE:
		return LLONG_MAX;
	default:
		return n;
	}
}

/*
 * The usage member for n completion tokens, as the usage mode reports it,
 * with a leading comma unless first; nothing when usage is missing.
 */
static void
put_usage(struct evbuffer *b, const struct call *c, long long n, int first)
{
	long long	in = reported(c, c->prompt_tokens), out = reported(c, n);

	if (c->usage == U_MISSING)
		return;
	evbuffer_add_printf(b, "%s\"usage\":{\"prompt_tokens\":%lld,"
	    "\"completion_tokens\":%lld,\"total_tokens\":%lld}",
	    first ? "" : ",", in, out, c->usage == U_HUGE ? LLONG_MAX :
	    in + out);
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
	    "\"%s\"}]", c->kind == K_CHAT ? "}" : "", finish_reason(c));
	put_usage(b, c, c->ntokens, 0);
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
	evbuffer_add_printf(b, "],\"model\":%s", c->model);
	if (c->usage != U_MISSING)
		evbuffer_add_printf(b, ",\"usage\":{\"prompt_tokens\":%lld,"
		    "\"total_tokens\":%lld}", reported(c, c->prompt_tokens),
		    reported(c, c->prompt_tokens));
	evbuffer_add(b, "}\n", 2);
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
	if (c->include_usage && c->usage != U_MISSING) {
		evbuffer_add(b, "data: ", 6);
		put_head(b, c, c->kind == K_CHAT ? "chat.completion.chunk" :
		    "text_completion");
		evbuffer_add_printf(b, "\"choices\":[],");
		put_usage(b, c, c->sent, 1);
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

/* The call's body renderer: an embeddings answer or a completion. */
static void
render_body(struct call *c, const struct ask *a)
{
	if (c->kind == K_EMBEDDING)
		render_embeddings(c, a->input);
	else
		render_completion(c);
}

/* What opens a stream: the role chunk for chat, nothing for text. */
static void
stream_open(struct evbuffer *b, const struct call *c)
{
	if (c->kind == K_CHAT)
		put_role(b, c);
}

/* How every call of the API renders its answer. */
static const struct call_ops api_ops = {
	.body = render_body,
	.stream_open = stream_open,
	.token = put_token,
	.finish = put_finish,
	.malformed = put_malformed,
};

/* ---- the OpenAI API ----------------------------------------------- */

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
void
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
		c = call_new(m, req, rt, &a, f, &api_ops);
		call_start(c, &a);
	}
	json_decref(body);
}

/* GET /v1/models: the --model names. */
void
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
