/* http.c: HTTP status texts and the OpenAI-shaped error object */
#include "config.h"

#include <stdlib.h>

#include "http.h"

static const struct {
	int		 status;
	const char	*text;
	const char	*code;		/* OpenAI-style error code */
} statuses[] = {
	{ 200, "OK", NULL },
	{ 201, "Created", NULL },
	{ 204, "No Content", NULL },
	{ 303, "See Other", NULL },
	{ 400, "Bad Request", "invalid_request" },
	{ 401, "Unauthorized", "unauthorized" },
	{ 402, "Payment Required", "insufficient_quota" },
	{ 403, "Forbidden", "forbidden" },
	{ 404, "Not Found", "not_found" },
	{ 405, "Method Not Allowed", "method_not_allowed" },
	{ 408, "Request Timeout", "timeout" },
	{ 409, "Conflict", "conflict" },
	{ 413, "Payload Too Large", "request_too_large" },
	{ 415, "Unsupported Media Type", "unsupported_media_type" },
	{ 422, "Unprocessable Entity", "invalid_request" },
	{ 429, "Too Many Requests", "rate_limit_exceeded" },
	{ 500, "Internal Server Error", "internal_error" },
	{ 502, "Bad Gateway", "bad_gateway" },
	{ 503, "Service Unavailable", "service_unavailable" },
	{ 504, "Gateway Timeout", "timeout" },
};

#define NSTATUSES	(sizeof(statuses) / sizeof(statuses[0]))

/* The table's index of status, or -1. */
static int
find(int status)
{
	size_t	i;

	for (i = 0; i < NSTATUSES; i++)
		if (statuses[i].status == status)
			return (int)i;
	return -1;
}

const char *
http_status_text(int status)
{
	int	i = find(status);

	return i < 0 ? "Error" : statuses[i].text;
}

const char *
http_status_code(int status)
{
	int	i = find(status);

	return i < 0 || statuses[i].code == NULL ? "internal_error" :
	    statuses[i].code;
}

json_t *
http_openai_error(const char *type, const char *code, const char *param,
    const char *message)
{
	json_t	*e;

	e = json_pack("{s:{s:s, s:s, s:o, s:o}}", "error",
	    "message", message, "type", type,
	    "param", param != NULL ? json_string(param) : json_null(),
	    "code", code != NULL ? json_string(code) : json_null());
	if (e == NULL)
		abort();
	return e;
}
