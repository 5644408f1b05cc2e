/* reply.c: infrpool-mock's JSON answers, OpenAI-shaped errors and log lines */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include <jansson.h>

#include "http.h"
#include "log.h"
#include "util.h"
#include "mock.h"

/* A new JSON string for s, or JSON null when s is NULL or not UTF-8. */
json_t *
mock_json_str(const char *s)
{
	json_t	*v = s != NULL ? json_string(s) : NULL;

	return v != NULL ? v : json_null();
}

/* Send v (reference stolen) as a JSON answer with the given status. */
void
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
	evhttp_send_reply(req, status, http_status_text(status), b);
	evbuffer_free(b);
}

/* Send an OpenAI-shaped error; param and code may be NULL (JSON null). */
void
send_error(struct evhttp_request *req, int status, const char *type,
    const char *param, const char *code, const char *message)
{
	struct evkeyvalq	*h = evhttp_request_get_output_headers(req);

	if (status == 429 || status == 503)
		evhttp_add_header(h, "Retry-After", "1");
	send_json(req, status, http_openai_error(type, code, param, message));
}

/* Send e as a 400 invalid_request_error. */
void
send_apierr(struct evhttp_request *req, const struct apierr *e)
{
	send_error(req, 400, "invalid_request_error", e->param, e->code,
	    e->message);
}

/* One log line for a finished request, unless --quiet; never a body. */
void
log_request(struct mock *m, const struct route *rt, int status,
    const char *what, long long completion, int64_t t0)
{
	if (m->quiet)
		return;
	log_info("%s %d %s completion=%lld ms=%lld", rt->path, status, what,
	    completion, (long long)(util_now_ms() - t0));
}

/* Fill e for a 400 about param; returns -1. */
int
apierr_fail(struct apierr *e, const char *param, const char *code,
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
int
apierr_getter(struct apierr *e, const char *param, enum json_get rc)
{
	e->param = param;
	e->code = rc == JSON_GET_MISSING ? "missing_required_parameter" :
	    rc == JSON_GET_RANGE ? "invalid_value" : "invalid_type";
	return -1;
}
