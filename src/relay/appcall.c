/* appcall.c: the relay's calls to the app's internal API, answers collected */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "log.h"
#include "relay.h"
#include "str.h"
#include "xfer.h"

#define APP_TIMEOUT_MS		10000
#define APP_BODY_MAX		(4 * 1024 * 1024)

/* One call to the app. */
struct call {
	char		 retry_after[16];
	app_fn	 done;
	void		*arg;
};

/* Start a POST of v (compact JSON) to the app's path. */
static struct xfer *
post(const char *path, json_t *v, const struct xfer_cb *cb, struct call *c)
{
	struct str	 url = STR_INIT, body = STR_INIT, secret = STR_INIT;
	struct xfer	*x;

	str_printf(&url, "%s%s", relay->rc.app_url, path);
	str_printf(&secret, "X-Infrpool-Secret: %s", relay->rc.secret);
	json_to_str(v, &body);
	x = xfer_start(relay->app_pool, &(struct xfer_req){
	    .url = str_cstr(&url),
	    .headers = xfer_json_headers(NULL, str_cstr(&secret)),
	    .body = str_cstr(&body),
	    .len = body.len,
	    .timeout_ms = APP_TIMEOUT_MS,
	    .max_body = APP_BODY_MAX,
	}, cb, c);
	str_free(&url);
	str_free(&secret);
	str_free(&body);
	return x;
}

/* The app's answer: hand the status and parsed JSON to the caller. */
static void
call_done(struct xfer *x, CURLcode rc, long status, void *arg)
{
	struct call	*c = arg;
	json_t		*body = NULL;
	const char	*p;
	size_t		 n;

	p = xfer_body(x, &n);
	if (rc != CURLE_OK) {
		log_error("the app did not answer: %s", curl_easy_strerror(rc));
		status = 0;
	} else if ((body = json_loadb(p, n, 0, NULL)) == NULL) {
		log_error("the app answered %ld without JSON", status);
		status = 0;
	}
	c->done(status, body, c->retry_after[0] ? c->retry_after : NULL, c->arg);
	json_decref(body);
	free(c);
}

/* Keep the app's Retry-After for the consumer. */
static void
call_header(struct xfer *x, const char *name, const char *value, void *arg)
{
	struct call	*c = arg;

	if (strcasecmp(name, "Retry-After") == 0)
		snprintf(c->retry_after, sizeof(c->retry_after), "%s", value);
}

static const struct xfer_cb	call_cb = {
	.on_header = call_header,
	.on_done = call_done,
};

/*
 * POST req to the app's internal path (docs/internal.md,
 * docs/worker-protocol.md). done(status, body, retry_after, arg) follows
 * once; status 0 means the app could not be reached or did not answer
 * JSON. Returns 0, or -1 when the call could not start.
 */
int
app_call(const char *path, json_t *req, app_fn done, void *arg)
{
	struct call	*c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		abort();
	c->done = done;
	c->arg = arg;
	if (post(path, req, &call_cb, c) == NULL) {
		free(c);
		return -1;
	}
	return 0;
}
