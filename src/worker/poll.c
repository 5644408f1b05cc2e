/* poll.c: the one long-poll for jobs, its backoff and the round trip */
#include "config.h"

#include "json.h"
#include "log.h"
#include "worker.h"

#define POLL_AFTER_MAX_MS	60000	/* the most poll_after_ms we obey */

static void	poll_fire(evutil_socket_t, short, void *);

/* How many more jobs we can run now (0 or more). */
static int
free_slots(void)
{
	long long	n = worker->concurrency - worker->njobs;

	return n > 0 ? (int)n : 0;
}

/* Poll again in ms milliseconds (0: at once, from the loop). */
static void
poll_later(long long ms)
{
	if (worker->poll_timer == NULL)
		worker->poll_timer = evtimer_new(worker->base, poll_fire, NULL);
	timer_in(worker->poll_timer, ms);
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
	if (worker->poll_timer != NULL)
		evtimer_del(worker->poll_timer);
	if (worker->poll != NULL) {
		xfer_cancel(worker->poll);
		worker->poll = NULL;
	}
}

/*
 * A job ended. A poll that said "free": 0 can carry no job, so dropping it
 * loses nothing: replace it with one that offers the freed slot.
 */
void
poll_slot_freed(void)
{
	if (worker->poll == NULL || worker->poll_free > 0 || worker->stopping)
		return;
	xfer_cancel(worker->poll);
	worker->poll = NULL;
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
		worker->rtt_ms = ms;
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
		worker->rtt_ms = ms;
}

/* A poll failed (network, 5xx, 429, anything but 401/403): back off. */
static void
poll_failed(const char *why, long status)
{
	long long	delay;

	worker->failures++;
	if (worker->backoff_ms == 0)
		worker->backoff_ms = BACKOFF_MIN_MS;
	else if ((worker->backoff_ms *= 2) > BACKOFF_MAX_MS)
		worker->backoff_ms = BACKOFF_MAX_MS;
	delay = jitter(worker->backoff_ms);
	log_warn("poll failed: %s (status %ld); retrying in %lld ms", why,
	    status, delay);
	poll_later(delay);
}

/* 401 or 403: the token is wrong, revoked or its node suspended; wait. */
static void
poll_refused(long status)
{
	worker->failures++;
	worker->backoff_ms = 0;
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
	if (!worker->polled_ok)
		log_info("connected: polling the platform for jobs");
	else if (worker->failures > 0)
		log_info("polling again after %d failed poll(s)",
		    worker->failures);
	worker->polled_ok = 1;
	worker->failures = 0;
	worker->backoff_ms = 0;
}

/*
 * Start the jobs of a 200 answer and schedule the next poll; -1 when the
 * answer is not {"jobs": [...], "poll_after_ms": n}.
 */
static int
take_jobs(void)
{
	json_t		*a, *jobs;
	long long	 after = 0;
	size_t		 i;
	char		 err[200];

	a = json_parse_limited(str_cstr(&worker->poll_in), worker->poll_in.len,
	    err, sizeof(err));
	if (a == NULL)
		return -1;
	jobs = json_object_get(a, "jobs");
	if (!json_is_array(jobs) || json_get_int(a, "poll_after_ms", 0, 0,
	    INT32_MAX, &after, err, sizeof(err)) < 0) {
		json_decref(a);
		return -1;
	}
	poll_worked();
	if ((long long)json_array_size(jobs) > worker->poll_free)
		log_warn("the platform handed out %zu job(s) to a poll with "
		    "%d free", json_array_size(jobs), worker->poll_free);
	for (i = 0; i < json_array_size(jobs); i++)
		job_start(json_array_get(jobs, i));
	json_decref(a);
	poll_later(after < POLL_AFTER_MAX_MS ? after : POLL_AFTER_MAX_MS);
	return 0;
}

/* Collect the poll's answer, up to MAX_ANSWER bytes. */
static int
poll_data(struct xfer *x, const char *p, size_t n, void *arg)
{
	if (worker->poll_in.len + n > MAX_ANSWER)
		return -1;
	str_append(&worker->poll_in, p, n);
	return 0;
}

/* The poll ended: take its jobs, or back off. */
static void
poll_done(struct xfer *x, CURLcode rc, long status, void *arg)
{
	worker->poll = NULL;
	if (rc != CURLE_OK) {
		poll_failed(curl_easy_strerror(rc), status);
		return;
	}
	note_connect_rtt(xfer_easy(x));
	if (status == 401 || status == 403)
		poll_refused(status);
	else if (status != 200)
		poll_failed("the platform answered an error", status);
	else if (take_jobs() == -1)
		poll_failed("the platform's answer is not a job list", status);
}

/* Open the poll: POST {platform}/v1/worker/poll. */
static void
poll_fire(evutil_socket_t fd, short what, void *arg)
{
	static const struct xfer_cb	 cb = { poll_data, poll_done };
	struct str			 url = STR_INIT, body = STR_INIT;
	json_t				*b;

	if (worker->stopping || worker->poll != NULL)
		return;
	worker->poll_free = free_slots();
	b = json_pack("{s:i, s:s, s:o}", "free", worker->poll_free,
	    "version", PACKAGE_VERSION, "rtt_ms", worker->rtt_ms < 0 ?
	    json_null() : json_integer((json_int_t)worker->rtt_ms));
	if (b == NULL)
		abort();
	json_to_str(b, &body);
	json_decref(b);
	str_printf(&url, "%s/v1/worker/poll", worker->platform);
	str_reset(&worker->poll_in);
	worker->poll = xfer_start(str_cstr(&url),
	    worker_headers(worker->platform_auth, "application/json"),
	    str_cstr(&body), body.len, (long)worker->poll_ms, &cb, NULL);
	str_free(&url);
	str_free(&body);
	if (worker->poll == NULL)
		poll_failed("cannot start a transfer", 0);
}
