/* upstream.c: a request's node side: events, counting, answers */
#include "config.h"

#include <string.h>

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>

#include "infer.h"
#include "json.h"
#include "log.h"
#include "relay.h"
#include "util.h"

#define ERROR_BODY_MAX	(64 * 1024)
#define ANSWER_MAX	(32 * 1024 * 1024)
#define EVENT_MAX	(4 * 1024 * 1024)
#define USAGE_MAX	(1LL << 53)	/* a larger reported count is absurd */

/* Replace the upstream's model name with the public id the consumer used. */
static void
public_model(struct infer *in, json_t *obj)
{
	if (json_object_get(obj, "model") != NULL)
		json_object_set_new(obj, "model", json_string(in->model));
}

/* Words in s: the relay's estimate of a whole answer's tokens. */
static long long
words(const char *s, size_t len)
{
	long long	n = 0;
	size_t		i;
	int		in = 0;

	for (i = 0; i < len; i++) {
		if (s[i] == ' ' || s[i] == '\n' || s[i] == '\t' || s[i] == '\r')
			in = 0;
		else if (!in) {
			in = 1;
			n++;
		}
	}
	return n;
}

/*
 * The relay's own count of the tokens of answer text s (len bytes): one
 * for a streamed chunk's text, the words of a whole answer's. The one
 * place the relay counts output; a model's tokenizer goes here.
 */
static long long
count_tokens(const struct infer *in, const char *s, size_t len)
{
	if (len == 0)
		return 0;
	return in->stream ? 1 : words(s, len);
}

/*
 * The length of the longest prefix of s (len bytes) that count_tokens
 * counts as at most k tokens: the whole of a streamed chunk or nothing;
 * a whole answer's first k words (cut at a word's start, so never inside
 * a UTF-8 sequence). One pass: a cut answer may be large.
 */
static size_t
prefix_tokens(const struct infer *in, const char *s, size_t len, long long k)
{
	long long	n = 0;
	size_t		i;
	int		inw = 0;

	if (in->stream)
		return k >= 1 ? len : 0;
	for (i = 0; i < len; i++) {
		if (s[i] == ' ' || s[i] == '\n' || s[i] == '\t' || s[i] == '\r')
			inw = 0;
		else if (!inw) {
			inw = 1;
			if (++n > k)
				return i;
		}
	}
	return len;
}

/* Bytes of the text in v (a choice's delta or message), its role aside. */
static long long
text_bytes_out(json_t *v)
{
	const char	*key;
	json_t		*e;
	size_t		 i;
	long long	 n = 0;

	if (json_is_string(v))
		return (long long)json_string_length(v);
	if (json_is_array(v))
		json_array_foreach(v, i, e)
			n += text_bytes_out(e);
	if (json_is_object(v))
		json_object_foreach(v, key, e)
			if (strcmp(key, "role") != 0)
				n += text_bytes_out(e);
	return n;
}

/*
 * Cut choice c's text (the string member key of parent) to what is left
 * of max_tokens, and end the choice with finish_reason "length".
 */
static void
cut_choice(struct infer *in, json_t *c, json_t *parent, const char *key)
{
	json_t		*v = json_object_get(parent, key);
	const char	*s = json_string_value(v);
	size_t		 keep = prefix_tokens(in, s, json_string_length(v),
			    in->max_tokens - in->counted_out);

	json_object_set_new(parent, key, json_stringn(s, keep));
	json_object_set_new(c, "finish_reason", json_string("length"));
	in->cut = 1;
}

/*
 * Count choice c of an answer or chunk: its text in the relay's count,
 * cut at max_tokens (a node that answers past it is not passed on), and
 * its bytes, the most tokens it could hold.
 */
static void
count_choice(struct infer *in, json_t *c)
{
	json_t		*parent = json_object_get(c, "delta"), *v;
	const char	*key = "content";
	long long	 n;

	if (parent == NULL && json_is_string(json_object_get(c, "text"))) {
		parent = c;
		key = "text";
	} else if (parent == NULL)
		parent = json_object_get(c, "message");
	if (json_is_string(v = json_object_get(parent, key))) {
		n = count_tokens(in, json_string_value(v),
		    json_string_length(v));
		if (strcmp(in->endpoint, "embeddings") != 0 &&
		    in->counted_out + n > in->max_tokens) {
			cut_choice(in, c, parent, key);
			v = json_object_get(parent, key);
			n = count_tokens(in, json_string_value(v),
			    json_string_length(v));
		}
		in->counted_out += n;
		if (n > 0 && in->ttft_ms < 0)
			in->ttft_ms = util_now_ms() - in->t0_ms;
	}
	in->bytes_out += text_bytes_out(parent == c ? json_object_get(c,
	    "text") : parent);
	if (json_is_string(json_object_get(c, "finish_reason")))
		in->finished = 1;
}

/*
 * The relay's own count of what it forwarded (count_tokens) and its
 * bytes. The upstream's reported usage is billed when it gives one that
 * could be true; this is the check on it and the fallback.
 */
static void
count_chunk(struct infer *in, json_t *obj)
{
	json_t	*c;
	size_t	 i;

	json_array_foreach(json_object_get(obj, "choices"), i, c)
		if (json_is_object(c))
			count_choice(in, c);
}

/* Keep the usage object a node reported in obj, if any; returns it. */
static json_t *
keep_usage(struct infer *in, json_t *obj)
{
	json_t	*usage = json_object_get(obj, "usage");

	if (!json_is_object(usage))
		return NULL;
	json_decref(in->usage);
	in->usage = json_incref(usage);
	return usage;
}

int
upstream_event(struct infer *in, const char *data, size_t len)
{
	json_t		*obj, *usage;
	struct str	 out = STR_INIT;

	if (in->cut)
		return -1;	/* cut at max_tokens: the rest is not ours */
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
	usage = keep_usage(in, obj);
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
	consumer_start_stream(in);
	consumer_send(in, out.buf, out.len);
	in->forwarded = 1;
	str_free(&out);
	json_decref(obj);
	return in->cut ? -1 : 0;	/* past max_tokens: stop the node */
}

/* The SSE parser's callback: one event of an endpoint's stream. */
static int
on_sse(const char *data, size_t len, const char *event, void *arg)
{
	return upstream_event(arg, data, len);
}

void
upstream_reset(struct infer *in)
{
	in->up_status = 0;
	in->malformed = in->done_seen = in->finished = 0;
	in->counted_out = in->bytes_out = 0;
	in->cut = 0;
	in->ttft_ms = -1;
	json_decref(in->usage);
	in->usage = NULL;
	str_reset(&in->up_body);
	sse_free(&in->sse);
	sse_init(&in->sse, EVENT_MAX, on_sse, in);
}

void
upstream_status(struct infer *in, long status)
{
	in->up_status = status;
}

int
upstream_data(struct infer *in, const char *p, size_t n)
{
	evtimer_del(in->first_byte);
	if (in->up_status >= 200 && in->up_status < 300 && in->stream)
		return sse_feed(&in->sse, p, n);
	if (in->up_body.len + n > (in->up_status < 300 ? ANSWER_MAX :
	    ERROR_BODY_MAX))
		return in->up_status < 300 ? (in->malformed = 1, -1) : 0;
	str_append(&in->up_body, p, n);
	return 0;
}

int
upstream_answer(struct infer *in)
{
	json_t			*obj;
	struct str		 out = STR_INIT;
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
	keep_usage(in, obj);	/* a worker's last batch may have brought one */
	count_chunk(in, obj);
	if (in->cut)
		log_warn("node %lld: answered past max_tokens %lld; cut",
		    (long long)in->cur->node_id, in->max_tokens);
	in->ttft_ms = util_now_ms() - in->t0_ms;
	public_model(in, obj);
	json_to_str(obj, &out);
	json_decref(obj);
	if ((req = consumer_take(in)) != NULL) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Content-Type", "application/json");
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "X-Content-Type-Options", "nosniff");
		reply_text(req, 200, "OK", out.buf, out.len);
	}
	in->forwarded = 1;
	str_free(&out);
	return 0;
}

/*
 * Pass the upstream's own 4xx (the consumer's input) on: unchanged when it
 * is an OpenAI-shaped error, as an error event when a stream has started.
 */
void
upstream_reject(struct infer *in)
{
	json_t			*obj = json_loadb(str_cstr(&in->up_body),
				    in->up_body.len, 0, NULL);
	struct evhttp_request	*req;
	int			 shaped = json_is_object(obj) &&
				    json_is_string(json_object_get(
				    json_object_get(obj, "error"), "message"));

	json_decref(obj);
	if (in->started) {
		consumer_stream_error(in, "The model server refused the "
		    "request as invalid.");
		return;
	}
	if (!shaped) {
		consumer_fail(in, (int)in->up_status, "invalid_request",
		    "The model server refused the request as invalid.");
		return;
	}
	if ((req = consumer_take(in)) == NULL)
		return;
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "application/json");
	reply_text(req, (int)in->up_status, "Rejected", in->up_body.buf,
	    in->up_body.len);
}

/*
 * How the node did, judged by status: 2xx success; the consumer's own bad
 * input (400, 422) neutral; everything else a failure: 5xx, 401/403 (the
 * supplier's credentials), 404 and 413 (a wrong path or model name on the
 * supplier's side), 429 (it is overloaded).
 */
int
upstream_consumer_fault(long status)
{
	return status == 400 || status == 422;
}

json_t *
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
long long
upstream_prompt_estimate(struct infer *in)
{
	json_t	*m;
	size_t	 i, n = 0;

	json_array_foreach(json_object_get(in->body, "messages"), i, m)
		n += text_bytes(json_object_get(m, "content"));
	n += text_bytes(json_object_get(in->body, "prompt"));
	n += text_bytes(json_object_get(in->body, "input"));
	return (long long)((n + 3) / 4);
}

long long
upstream_usage_count(json_t *v)
{
	json_int_t	n;

	if (!json_is_integer(v))
		return -1;
	n = json_integer_value(v);
	return n >= 0 && n <= USAGE_MAX ? (long long)n : -1;
}
