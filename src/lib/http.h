/* http.h: HTTP status texts and the OpenAI-shaped error object */
#ifndef IP_HTTP_H
#define IP_HTTP_H

#include <jansson.h>

/* The reason phrase of status ("Not Found"), or "Error" for one we lack. */
const char	*http_status_text(int status);

/*
 * The OpenAI-style error code that goes with status ("not_found",
 * "rate_limit_exceeded"), or "internal_error" for one we lack.
 */
const char	*http_status_code(int status);

/*
 * The body OpenAI's API answers an error with:
 * {"error":{"message":…,"type":…,"param":…|null,"code":…|null}}.
 * param and code may be NULL. Returns a new reference (caller decrefs);
 * aborts when out of memory.
 */
json_t		*http_openai_error(const char *type, const char *code,
		    const char *param, const char *message);

#endif
