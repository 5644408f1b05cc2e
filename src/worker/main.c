/* main.c: infrpool-worker, the supplier's outbound-only node: options, loop */
#include "config.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cfg.h"
#include "job.h"
#include "log.h"
#include "loop.h"
#include "poll.h"
#include "str.h"
#include "worker.h"
#include "xfer.h"

#define USER_AGENT PACKAGE_NAME "-worker/" PACKAGE_VERSION

/* The platform's /healthz (reachable: -1 unknown, 0, 1) and stopping. */
static struct {
	struct xfer  *health;
	struct event *health_timer;
	int	      reachable;
	struct event *drain_timer;
	struct event *sigterm, *sigint;
} m = {.reachable = -1};

/* ---- the platform's /healthz -------------------------------------- */

/* The health check ended: log only when reachability changes. */
static void
health_done(struct xfer *x, CURLcode rc, long status, void *arg)
{
	int	ok = rc == CURLE_OK && status == 200;

	m.health = NULL;
	if (ok != m.reachable) {
		if (ok)
			log_info("platform reachable");
		else
			log_warn("platform unreachable: %s (status %ld)",
			    rc == CURLE_OK ? "bad status" :
			    curl_easy_strerror(rc), status);
		m.reachable = ok;
	}
	if (!worker->stopping)
		loop_timer_in(m.health_timer, worker->check_ms);
}

/* A health check: only its status counts; its short body is collected. */
static const struct xfer_cb health_cb = {.on_done = health_done};

/* Ask the platform's /healthz without blocking the loop. */
static void
health_check(evutil_socket_t fd, short what, void *arg)
{
	struct str	url = STR_INIT;
	struct xfer_req req = {.timeout_ms = 5000L, .keepalive = 1};

	if (m.health != NULL || worker->stopping)
		return;
	str_printf(&url, "%s/healthz", worker->platform);
	req.url = str_cstr(&url);
	req.headers = xfer_json_headers("application/json", NULL);
	m.health = xfer_start(worker->pool, &req, &health_cb, NULL);
	str_free(&url);
	if (m.health == NULL)
		loop_timer_in(m.health_timer, worker->check_ms);
}

/* ---- stopping ----------------------------------------------------- */

/*
 * The drain timer: first end the jobs still running with "worker shutting
 * down", then, if their last batches cannot be delivered within 10 s,
 * give up on them and leave the loop.
 */
static void
drain_over(evutil_socket_t fd, short what, void *arg)
{
	if (worker->stopping == 1) {
		worker->stopping = 2;
		log_warn("drain over: ending %d job(s) still in flight",
			 job_count());
		job_end_all("worker shutting down");
		if (job_count() > 0)
			loop_timer_in(m.drain_timer, 10000);
		return;
	}
	log_warn("%d job(s) could not report their end; exiting", job_count());
	event_base_loopexit(worker->base, NULL);
}

/* SIGTERM or SIGINT: stop polling and drain; a second one ends the drain. */
static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	if (worker->stopping) {
		if (worker->stopping == 1)
			drain_over(-1, 0, NULL);
		return;
	}
	worker->stopping = 1;
	poll_stop();
	evtimer_del(m.health_timer);
	if (m.health != NULL) {
		xfer_cancel(m.health);
		m.health = NULL;
	}
	log_info("signal %d: stopping; %d job(s) in flight, waiting up to "
		 "%lld ms",
		 (int)sig, job_count(), worker->drain_ms);
	if (job_count() == 0)
		event_base_loopexit(worker->base, NULL);
	else
		loop_timer_in(m.drain_timer, worker->drain_ms);
}

/* A job was forgotten: leave the loop when draining ends, else re-poll. */
static void
job_gone(void)
{
	if (worker->stopping) {
		if (job_count() == 0)
			event_base_loopexit(worker->base, NULL);
	} else
		poll_slot_freed();
}

/* ---- options ------------------------------------------------------ */

/* Print the options. */
static void
usage(void)
{
	fprintf(stderr, "usage: infrpool-worker [-c config] [--platform URL] "
	    "[--upstream URL] [--concurrency N]\n"
	    "The node token comes from [worker] token or "
	    "INFRPOOL_WORKER_TOKEN, never the command line;\n"
	    "the model server's key from [worker] upstream_key or "
	    "INFRPOOL_WORKER_UPSTREAM_KEY.\n");
}

/* Parse the command line; 0, or the exit code (2: usage, 3: --version). */
static int
parse_args(int argc, char **argv, const char **config, const char **platform,
    const char **upstream, long long *concurrency)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "platform", required_argument, NULL, 'P' },
		{ "upstream", required_argument, NULL, 'u' },
		{ "concurrency", required_argument, NULL, 'n' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	char	*end;
	int	 ch;

	while ((ch = getopt_long(argc, argv, "c:P:u:n:V", longopts,
	    NULL)) != -1)
		switch (ch) {
		case 'c': *config = optarg; break;
		case 'P': *platform = optarg; break;
		case 'u': *upstream = optarg; break;
		case 'n':
			*concurrency = strtoll(optarg, &end, 10);
			if (*end != '\0' || *concurrency < 1 ||
			    *concurrency > 1024)
				return 2;
			break;
		case 'V': puts(PACKAGE_STRING); return 3;
		default: return 2;
		}
	return optind != argc ? 2 : 0;
}

/* The loop, its events, the HTTP pool and the job hooks; -1 on failure. */
static int
loop_init(struct worker *w)
{
	struct event_base *b;

	if ((b = w->base = event_base_new()) == NULL ||
	    curl_global_init(CURL_GLOBAL_DEFAULT) != 0 ||
	    (w->pool = xfer_pool_new(b, 0, USER_AGENT)) == NULL)
		return -1;
	job_init(&(struct job_hooks){
	    .gone = job_gone,
	    .post_rtt = poll_note_post_rtt,
	});
	m.health_timer = evtimer_new(b, health_check, NULL);
	m.drain_timer = evtimer_new(b, drain_over, NULL);
	m.sigterm = evsignal_new(b, SIGTERM, on_signal, NULL);
	m.sigint = evsignal_new(b, SIGINT, on_signal, NULL);
	if (m.health_timer == NULL || m.drain_timer == NULL ||
	    m.sigterm == NULL || m.sigint == NULL)
		return -1;
	event_add(m.sigterm, NULL);
	event_add(m.sigint, NULL);
	return 0;
}

/* Free an event that may never have been made. */
static void
event_drop(struct event *ev)
{
	if (ev != NULL)
		event_free(ev);
}

/* Free what is left after the loop: jobs, transfers, events, settings. */
static void
loop_free(struct worker *w)
{
	job_free_all();
	poll_free_all();
	xfer_pool_free(w->pool); /* every transfer, cancelled or not */
	w->pool = NULL;
	curl_global_cleanup();
	event_drop(m.health_timer);
	event_drop(m.drain_timer);
	event_drop(m.sigterm);
	event_drop(m.sigint);
	if (w->base != NULL)
		event_base_free(w->base);
	w->base = NULL;
	conf_free();
}

/* Read options and config, then poll and run jobs until a signal. */
int
main(int argc, char **argv)
{
	struct worker	*w = worker;
	const char	*config = NULL, *platform = NULL, *upstream = NULL;
	long long	 concurrency = 0;
	char		 err[512];
	int		 rc;

	if ((rc = parse_args(argc, argv, &config, &platform, &upstream,
	    &concurrency)) != 0) {
		if (rc == 2)
			usage();
		return rc == 3 ? 0 : rc;
	}
	if ((w->cfg = cfg_open(config, err, sizeof(err))) == NULL) {
		fprintf(stderr, "infrpool-worker: %s\n", err);
		return 1;
	}
	rc = 1;
	if (conf_read(platform, upstream, concurrency) == -1)
		goto out;
	signal(SIGPIPE, SIG_IGN);
	srandom((unsigned)time(NULL) ^ (unsigned)getpid());
	if (loop_init(w) == -1) {
		log_error("cannot set up the event loop or libcurl");
		goto out;
	}
	log_info("started: platform %s, upstream %s, concurrency %lld%s%s",
		 w->platform, w->upstream, w->concurrency,
		 w->has_token ? "" : ", no node token configured",
		 w->upstream_auth != NULL ? ", upstream key set" : "");
	health_check(-1, 0, NULL);
	poll_start();
	event_base_dispatch(w->base);
	log_info("stopped");
	rc = 0;
out:
	loop_free(w);
	cfg_free(w->cfg);
	return rc;
}
