/* body.c: the checks of an inference request's body before it is admitted */
#include "config.h"

#include <string.h>

#include "infer.h"
#include "json.h"

/* A value that is set: not absent and not null. */
static int
given(json_t *v)
{
	return v != NULL && !json_is_null(v);
}

/* Is v, when given, an integer equal to one? */
static int
one_or_absent(json_t *v)
{
	return !given(v) || (json_is_integer(v) && json_integer_value(v) == 1);
}

/* Is v one prompt: a string, or an array of token ids? */
static int
one_prompt(json_t *v)
{
	json_t	*e;
	size_t	 i;

	if (json_is_string(v))
		return 1;
	if (!json_is_array(v) || json_array_size(v) == 0)
		return 0;
	json_array_foreach(v, i, e)
		if (!json_is_integer(e))
			return 0;
	return 1;
}

/*
 * Is the completions prompt v one prompt: a string or token ids, or an
 * array of exactly one of those? A node answers each prompt of an array
 * with its own completion, each up to max_tokens, which one request's
 * hold does not cover.
 */
static int
single_prompt(json_t *v)
{
	if (one_prompt(v))
		return 1;
	return json_array_size(v) == 1 && one_prompt(json_array_get(v, 0));
}

const char *
infer_check_body(struct infer *in, const char **param)
{
	json_t	*v;
	int	 chat = strcmp(in->endpoint, "chat") == 0;

	*param = "model";
	if ((in->model = json_string_value(json_object_get(in->body,
	    "model"))) == NULL || *in->model == '\0')
		return "'model' is required: the id of a model from "
		    "/v1/models.";
	*param = "stream";
	v = json_object_get(in->body, "stream");
	if (given(v) && !json_is_boolean(v))
		return "'stream' must be true or false.";
	in->stream = json_is_true(v);
	*param = "max_tokens";
	if (!given(v = json_object_get(in->body, "max_tokens")))
		v = json_object_get(in->body, "max_completion_tokens");
	if (given(v) && (!json_is_integer(v) || json_integer_value(v) < 1))
		return "'max_tokens' must be a positive integer.";
	*param = chat ? "messages" : strcmp(in->endpoint, "completions") == 0 ?
	    "prompt" : "input";
	v = json_object_get(in->body, *param);
	if (!given(v) || (chat && json_array_size(v) == 0))
		return chat ? "'messages' must be a non-empty array." :
		    "This field is required.";
	if (strcmp(in->endpoint, "completions") == 0 && !single_prompt(v))
		return "'prompt' must be one prompt: a string, an array of "
		    "token ids, or an array of one of those. Send one request "
		    "per prompt.";
	*param = "stream";
	if (in->stream && strcmp(in->endpoint, "embeddings") == 0)
		return "Embeddings cannot be streamed.";
	/* One answer per request: n > 1 would be unpaid, unheld work. */
	*param = "n";
	if (!one_or_absent(json_object_get(in->body, "n")))
		return "Only 'n': 1 is supported.";
	*param = "best_of";
	if (!one_or_absent(json_object_get(in->body, "best_of")))
		return "Only 'best_of': 1 is supported.";
	*param = "max_price";
	v = json_object_get(in->body, "max_price");
	if (given(v) && (!json_is_object(v) ||
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
