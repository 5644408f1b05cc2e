/* poll.c: the one long-poll for jobs, its backoff and the round trip */
#include "config.h"

#include "job.h"
#include "json.h"
#include "log.h"
#include "loop.h"
#include "poll.h"
#include "str.h"
#include "worker.h"
#include "xfer.h"

/* Polls back off from 0.5 s to 30 s, jittered; a refused token waits 60 s. */
#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 30000
#define REFUSED_RETRY_MS 60000
#define POLL_AFTER_MAX_MS	60000	/* the most poll_after_ms we obey */

/* The poll's state; only this file touches it. */
static struct {
	struct xfer  *xfer;	  /* the open poll, or NULL */
	struct event *timer;	  /* the next poll */
	int	      free;	  /* "free" of the open poll */
	long long     backoff_ms; /* 0: the last poll worked */
	int	      failures;	  /* polls failed in a row */
	int	      polled_ok;  /* a poll worked once */
	long long     rtt_ms;	  /* -1: not measured yet */
} pl = {.rtt_ms = -1};

static void	poll_fire(evutil_socket_t, short, void *);

/* How many more jobs we can run now (0 or more). */
static int
free_slots(void)
{
	long long n = worker->concurrency - job_count();

	return n > 0 ? (int)n : 0;
}

/* Poll again in ms milliseconds (0: at once, from the loop). */
static void
poll_later(long long ms)
{
	if (pl.timer == NULL)
		pl.timer = evtimer_new(worker->base, poll_fire, NULL);
	loop_timer_in(pl.timer, ms);
}

/* Open the first poll from the loop. */
void
poll_start(void)
{
	poll_later(0);
}

/* Stop polling: drop the open poll and the timer of the next one. */
void
poll_stop(void)
{
	if (pl.timer != NULL)
		evtimer_del(pl.timer);
	if (pl.xfer != NULL) {
		xfer_cancel(pl.xfer);
		pl.xfer = NULL;
	}
}

/*
 * A job ended. A poll that said "free": 0 can carry no job, so dropping it
 * loses nothing: replace it with one that offers the freed slot.
 */
void
poll_slot_freed(void)
{
	if (pl.xfer == NULL || pl.free > 0 || worker->stopping)
		return;
	xfer_cancel(pl.xfer);
	pl.xfer = NULL;
	poll_later(0);
}

/* Microseconds between two curl time points, as whole ms; -1 if unknown. */
static long long
span_ms(CURL *easy, CURLINFO from, CURLINFO to)
{
	curl_off_t	a = 0, b = 0;

	if (curl_easy_getinfo(easy, from, &a) != CURLE_OK ||
	    curl_easy_getinfo(easy, to, &b) != CURLE_OK || b <= 0 || b < a)
		return -1;
	return (long long)((b - a + 500) / 1000);
}

/*
 * A result POST was answered: the relay answers those at once, so the time
 * from sending it to the first byte of the answer is a round trip.
 */
void
poll_note_post_rtt(CURL *easy)
{
	long long	ms = span_ms(easy, CURLINFO_PRETRANSFER_TIME_T,
			    CURLINFO_STARTTRANSFER_TIME_T);

	if (ms >= 0)
		pl.rtt_ms = ms;
}

/* A poll that opened a connection: its TCP handshake is one round trip. */
static void
note_connect_rtt(CURL *easy)
{
	long		n = 0;
	long long	ms;

	if (curl_easy_getinfo(easy, CURLINFO_NUM_CONNECTS, &n) != CURLE_OK ||
	    n == 0)
		return;
	ms = span_ms(easy, CURLINFO_NAMELOOKUP_TIME_T,
	    CURLINFO_CONNECT_TIME_T);
	if (ms >= 0)
		pl.rtt_ms = ms;
}

/* A poll failed (network, 5xx, 429, anything but 401/403): back off. */
static void
poll_failed(const char *why, long status)
{
	long long	delay;

	pl.failures++;
	if (pl.backoff_ms == 0)
		pl.backoff_ms = BACKOFF_MIN_MS;
	else if ((pl.backoff_ms *= 2) > BACKOFF_MAX_MS)
		pl.backoff_ms = BACKOFF_MAX_MS;
	delay = loop_jitter(pl.backoff_ms);
	log_warn("poll failed: %s (status %ld); retrying in %lld ms", why,
	    status, delay);
	poll_later(delay);
}

/* 401 or 403: the token is wrong, revoked or its node suspended; wait. */
static void
poll_refused(long status)
{
	pl.failures++;
	pl.backoff_ms = 0;
	log_error("the platform refused the node token (HTTP %ld: %s); "
	    "retrying in %d s", status, !worker->has_token ?
	    "no token is configured" : status == 401 ?
	    "unknown or revoked token" : "the node is suspended or deleted",
	    REFUSED_RETRY_MS / 1000);
	poll_later(REFUSED_RETRY_MS);
}

/* A poll worked: reset the backoff and say so once after failures. */
static void
poll_worked(void)
{
	if (!pl.polled_ok)
		log_info("connected: polling the platform for jobs");
	else if (pl.failures > 0)
		log_info("polling again after %d failed poll(s)", pl.failures);
	pl.polled_ok = 1;
	pl.failures = 0;
	pl.backoff_ms = 0;
}

/*
 * Start the jobs of a 200 answer (in, len bytes) and schedule the next
 * poll; -1 when the answer is not {"jobs": [...], "poll_after_ms": n}.
 */
static int
take_jobs(const char *in, size_t len)
{
	json_t		*a, *jobs;
	long long	 after = 0;
	size_t		 i;
	char		 err[200];

	a = json_parse_limited(in, len, err, sizeof(err));
	if (a == NULL)
		return -1;
	jobs = json_object_get(a, "jobs");
	if (!json_is_array(jobs) || json_get_int(a, "poll_after_ms", 0, 0,
	    INT32_MAX, &after, err, sizeof(err)) < 0) {
		json_decref(a);
		return -1;
	}
	poll_worked();
	if ((long long)json_array_size(jobs) > pl.free)
		log_warn("the platform handed out %zu job(s) to a poll with "
			 "%d free",
			 json_array_size(jobs), pl.free);
	for (i = 0; i < json_array_size(jobs); i++)
		job_start(json_array_get(jobs, i));
	json_decref(a);
	poll_later(after < POLL_AFTER_MAX_MS ? after : POLL_AFTER_MAX_MS);
	return 0;
}

/* The poll ended: take its jobs, or back off. */
static void
poll_done(struct xfer *x, CURLcode rc, long status, void *arg)
{
	const char *in;
	size_t	    len = 0;

	pl.xfer = NULL;
	if (rc != CURLE_OK) {
		poll_failed(curl_easy_strerror(rc), status);
		return;
	}
	note_connect_rtt(xfer_easy(x));
	in = xfer_body(x, &len);
	if (status == 401 || status == 403)
		poll_refused(status);
	else if (status != 200)
		poll_failed("the platform answered an error", status);
	else if (take_jobs(in, len) == -1)
		poll_failed("the platform's answer is not a job list", status);
}

/* A poll: its answer (up to MAX_ANSWER) is collected for poll_done. */
static const struct xfer_cb poll_cb = {.on_done = poll_done};

/* Open the poll: POST {platform}/v1/worker/poll. */
static void
poll_fire(evutil_socket_t fd, short what, void *arg)
{
	struct str	url = STR_INIT, body = STR_INIT;
	json_t	       *b;
	struct xfer_req req = {
	    .timeout_ms = (long)worker->poll_ms,
	    .max_body = MAX_ANSWER,
	    .keepalive = 1,
	};

	if (worker->stopping || pl.xfer != NULL)
		return;
	pl.free = free_slots();
	b = json_pack("{s:i, s:s, s:o}", "free", pl.free, "version",
		      PACKAGE_VERSION, "rtt_ms",
		      pl.rtt_ms < 0 ? json_null()
				    : json_integer((json_int_t)pl.rtt_ms));
	if (b == NULL)
		abort();
	json_to_str(b, &body);
	json_decref(b);
	str_printf(&url, "%s/v1/worker/poll", worker->platform);
	req.url = str_cstr(&url);
	req.headers =
	    xfer_json_headers("application/json", worker->platform_auth);
	req.body = str_cstr(&body);
	req.len = body.len;
	pl.xfer = xfer_start(worker->pool, &req, &poll_cb, NULL);
	str_free(&url);
	str_free(&body);
	if (pl.xfer == NULL)
		poll_failed("cannot start a transfer", 0);
}

/* Stop polling and free the timer of the next poll; see poll.h. */
void
poll_free_all(void)
{
	poll_stop();
	if (pl.timer != NULL)
		event_free(pl.timer);
	pl.timer = NULL;
}
