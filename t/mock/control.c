/* control.c: infrpool-mock's /mock/control, /mock/stats, /mock/reset, faults */
#include "config.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include <jansson.h>

#include "json.h"
#include "log.h"
#include "mock.h"

/* Injected faults; status faults answer with an OpenAI-shaped error. */
const struct fault_def fault_defs[F__MAX] = {
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

const char *const usage_names[U__MAX] = {
	[U_HONEST] = "honest",
	[U_INFLATED] = "inflated",
	[U_MISSING] = "missing",
	[U_NEGATIVE] = "negative",
	[U_HUGE] = "huge",
};

enum usage_mode
usage_parse(const char *s)
{
	int	i;

	for (i = 0; i < U__MAX; i++)
		if (strcmp(s, usage_names[i]) == 0)
			return (enum usage_mode)i;
	return U__MAX;
}

/* Take the next request's fault (counting it); F_NONE when none. */
enum fault
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

/* A copy of body's key (JSON null when absent). */
static json_t *
copy_key(json_t *body, const char *key)
{
	json_t	*v = body != NULL ? json_object_get(body, key) : NULL;

	return v != NULL ? json_deep_copy(v) : json_null();
}

/* Remember what the last inference request asked for; no contents. */
void
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
	    "authorization", mock_json_str(auth),
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
json_t *
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
	return json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:I, s:I}",
	    "fault", fault_defs[m->fault].name,
	    "count", (json_int_t)m->fault_left,
	    "after_tokens", (json_int_t)m->after_tokens,
	    "tokens", (json_int_t)m->cur.tokens,
	    "first_token_ms", (json_int_t)m->cur.first_token_ms,
	    "interval_ms", (json_int_t)m->cur.interval_ms,
	    "tokens_per_second", (json_int_t)m->cur.tps,
	    "usage", usage_names[m->cur.usage],
	    "inflate_pct", (json_int_t)m->cur.inflate_pct,
	    "overrun", (json_int_t)m->cur.overrun);
}

/* GET /mock/stats: counters, the open calls and the last request. */
void
page_stats(struct mock *m, struct evhttp_request *req, const struct route *rt)
{
	json_t	*by_path = json_object();
	size_t	 i;

	for (i = 0; i < m->nroutes; i++)
		if (m->routes[i].api)
			json_object_set_new(by_path, m->routes[i].path,
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
void
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
		return apierr_getter(e, key, rc);
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
	int		 has_count = 0, has_after = 0;

	rc = json_get_str(body, "fault", 0, &name, e->message,
	    sizeof(e->message));
	if (rc < 0)
		return apierr_getter(e, "fault", rc);
	*left = 1;
	*after = 2;
	if (control_int(body, "count", -1, LLONG_MAX, left, &has_count,
	    e) == -1 || control_int(body, "after_tokens", 0, MOCK_MAX_TOKENS,
	    after, &has_after, e) == -1)
		return -1;
	if (rc != JSON_GET_OK) {
		if (has_count || has_after)
			return apierr_fail(e, "fault",
			    "missing_required_parameter",
			    "'count' and 'after_tokens' need a 'fault'");
		return 1;
	}
	if ((*f = fault_parse(name)) == F__MAX)
		return apierr_fail(e, "fault", "invalid_value", "'fault' must "
		    "be one of 500, 503, 429, 400, 401, hang, drop, malformed, "
		    "refuse-body or none");
	if (*left == 0)
		return apierr_fail(e, "count", "invalid_value", "'count' must "
		    "be -1 (until changed) or a positive integer");
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
		"usage", "inflate_pct", "overrun" };
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
			return apierr_fail(e, NULL, "unknown_parameter",
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
	    e) == -1 ||
	    control_int(body, "inflate_pct", 0, MOCK_MAX_PCT, &s.inflate_pct,
	    NULL, e) == -1 ||
	    control_int(body, "overrun", 0, MOCK_MAX_TOKENS, &s.overrun, NULL,
	    e) == -1)
		return -1;
	if (json_get_str(body, "usage", 0, &usage, e->message,
	    sizeof(e->message)) == JSON_GET_OK) {
		if ((s.usage = usage_parse(usage)) == U__MAX)
			return apierr_fail(e, "usage", "invalid_value",
			    "'usage' must be honest, inflated, missing, "
			    "negative or huge");
	} else if (json_object_get(body, "usage") != NULL)
		return apierr_fail(e, "usage", "invalid_type",
		    "'usage' must be honest, inflated, missing, negative or "
		    "huge");
	m->cur = s;
	if (rc == 0) {
		m->fault = f;
		m->fault_left = left;
		m->after_tokens = after;
	}
	return 0;
}

/* GET /mock/control shows, POST changes, the settings and the fault. */
void
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
			log_info("control: fault=%s count=%lld "
			    "after_tokens=%lld tokens=%lld first_token_ms=%lld "
			    "interval_ms=%lld tokens_per_second=%lld usage=%s "
			    "inflate_pct=%lld overrun=%lld",
			    fault_defs[m->fault].name, m->fault_left,
			    m->after_tokens, m->cur.tokens,
			    m->cur.first_token_ms, m->cur.interval_ms,
			    m->cur.tps,
			    usage_names[m->cur.usage], m->cur.inflate_pct,
			    m->cur.overrun);
	}
	send_json(req, 200, control_state(m));
}
