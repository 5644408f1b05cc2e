/* appcall.c: the relay's calls to the app's internal API: admit and settle */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "log.h"
#include "loop.h"
#include "relay.h"
#include "str.h"
#include "xfer.h"

#define APP_TIMEOUT_MS		10000
#define APP_BODY_MAX		(4 * 1024 * 1024)
#define SETTLE_GIVE_UP_MS	(15 * 60 * 1000)

/* One call to the app. */
struct call {
	char		 retry_after[16];
	admit_fn	 done;
	void		*arg;
	/* settle only */
	json_t		*req;
	long long	 delay_ms;
	long long	 waited_ms;
	struct event	*retry;
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

/* The admit answer: hand the status and parsed JSON to the request. */
static void
admit_done(struct xfer *x, CURLcode rc, long status, void *arg)
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
admit_header(struct xfer *x, const char *name, const char *value, void *arg)
{
	struct call	*c = arg;

	if (strcasecmp(name, "Retry-After") == 0)
		snprintf(c->retry_after, sizeof(c->retry_after), "%s", value);
}

static const struct xfer_cb	admit_cb = {
	.on_header = admit_header,
	.on_done = admit_done,
};

/*
 * POST req to the app's internal path (docs/internal.md,
 * docs/worker-protocol.md). done(status, body, retry_after, arg) follows
 * once; status 0 means the app could not be reached or did not answer
 * JSON. Returns 0, or -1 when the call could not start.
 */
int
app_call(const char *path, json_t *req, admit_fn done, void *arg)
{
	struct call	*c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		abort();
	c->done = done;
	c->arg = arg;
	if (post(path, req, &admit_cb, c) == NULL) {
		free(c);
		return -1;
	}
	return 0;
}

/* Ask the app to admit req. As app_call. */
int
app_admit(json_t *req, admit_fn done, void *arg)
{
	return app_call("/internal/admit", req, done, arg);
}

static void settle_send(struct call *);

/* Try a settlement again after its delay. */
static void
settle_retry(evutil_socket_t fd, short what, void *arg)
{
	settle_send(arg);
}

/* End a settlement for good. */
static void
settle_free(struct call *c)
{
	if (c->retry != NULL)
		event_free(c->retry);
	json_decref(c->req);
	free(c);
}

/* The settle answer: done on 2xx or 4xx (nothing to retry), else later. */
static void
settle_done(struct xfer *x, CURLcode rc, long status, void *arg)
{
	struct call	*c = arg;
	json_int_t	 hold = json_integer_value(json_object_get(c->req, "hold_id"));

	if (rc == CURLE_OK && status >= 200 && status < 500) {
		if (status >= 300)
			log_error("settle hold %lld: the app refused it (%ld)",
			    (long long)hold, status);
		settle_free(c);
		return;
	}
	c->waited_ms += c->delay_ms;
	if (c->waited_ms > SETTLE_GIVE_UP_MS) {
		log_error("settle hold %lld: giving up; the reaper voids it",
		    (long long)hold);
		settle_free(c);
		return;
	}
	log_warn("settle hold %lld failed (%s, %ld): again in %lld ms",
	    (long long)hold, rc == CURLE_OK ? "status" : curl_easy_strerror(rc),
	    status, c->delay_ms);
	if (c->retry == NULL &&
	    (c->retry = evtimer_new(relay->base, settle_retry, c)) == NULL)
		abort();
	loop_timer_in(c->retry, c->delay_ms);
	c->delay_ms = c->delay_ms * 2 > 30000 ? 30000 : c->delay_ms * 2;
}

static const struct xfer_cb	settle_cb = {
	.on_done = settle_done,
};

/* Send (or resend) a settlement. */
static void
settle_send(struct call *c)
{
	if (post("/internal/settle", c->req, &settle_cb, c) == NULL)
		settle_done(NULL, CURLE_FAILED_INIT, 0, c);
}

/*
 * Settle a request (docs/internal.md), retrying with backoff until the app
 * answers; the app makes repeats harmless. Takes the reference to req.
 */
void
app_settle(json_t *req)
{
	struct call	*c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		abort();
	c->req = req;
	c->delay_ms = 500;
	settle_send(c);
}
