/* rest.h: one blocking HTTPS call to a payment provider's REST API (libcurl) */
#ifndef IP_REST_H
#define IP_REST_H

#include <stddef.h>

struct str;

/* A call: the method, the URL, and what goes with it. */
struct rest_call {
	const char	*method;	/* "GET", "POST" */
	const char	*url;
	const char	*bearer;	/* Authorization: Bearer …, or NULL */
	const char	*idempotency_key; /* Idempotency-Key: …, or NULL */
	const char	*content_type;	/* of body, e.g. "application/x-www-form-urlencoded" */
	const char	*body;		/* NULL: none */
	const char	*extra_header;	/* one more "Name: value", or NULL */
	long		 timeout_ms;
};

/*
 * Make the call; the answer's body is appended to out (at most 1 MiB) and
 * its status put in *status. Returns 0 when an answer came (any status),
 * -1 when none did (the reason in err, never the body or a credential).
 */
int	rest_call(const struct rest_call *, struct str *out, long *status,
	    char *err, size_t errlen);

/* Append key=value to a form body, both percent-encoded, '&' between. */
void	rest_form_add(struct str *form, const char *key, const char *value);

#endif
