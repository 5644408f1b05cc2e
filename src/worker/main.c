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
#include "log.h"
#include "str.h"
#include "util.h"
#include "worker.h"

struct worker	*worker;

struct xfer {
	TAILQ_ENTRY(xfer)	 entry;
	CURL			*easy;
	struct curl_slist	*headers;
	char			*body;
	const struct xfer_cb	*cb;
	void			*arg;
	int			 cancelled;
	struct event		*reaper;	/* removes a cancelled transfer */
};

/* The libevent watch of one curl socket. */
struct sockwatch {
	struct event	*ev;
};

/* Take x off the loop and free it with everything it owns. */
static void
xfer_free(struct xfer *x)
{
	TAILQ_REMOVE(&worker->xfers, x, entry);
	curl_multi_remove_handle(worker->multi, x->easy);
	if (x->reaper != NULL)
		event_free(x->reaper);
	curl_easy_cleanup(x->easy);
	curl_slist_free_all(x->headers);
	free(x->body);
	free(x);
}

/* Hand finished transfers to their owners, then free them. */
static void
check_done(void)
{
	CURLMsg		*m;
	struct xfer	*x;
	int		 left;
	long		 status;

	while ((m = curl_multi_info_read(worker->multi, &left)) != NULL) {
		if (m->msg != CURLMSG_DONE)
			continue;
		status = 0;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE,
		    (char **)&x);
		curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE,
		    &status);
		if (!x->cancelled && x->cb->on_done != NULL)
			x->cb->on_done(x, m->data.result, status, x->arg);
		xfer_free(x);
	}
}

/* A watched socket is ready: tell curl. */
static void
on_socket(evutil_socket_t fd, short what, void *arg)
{
	int	running, action = 0;

	if (what & EV_READ)
		action |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		action |= CURL_CSELECT_OUT;
	curl_multi_socket_action(worker->multi, fd, action, &running);
	check_done();
}

/* curl's timer expired. */
static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	int	running;

	curl_multi_socket_action(worker->multi, CURL_SOCKET_TIMEOUT, 0,
	    &running);
	check_done();
}

/* curl wants a socket watched (or not). */
static int
socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *sockp)
{
	struct sockwatch	*w = sockp;
	short			 ev = EV_PERSIST;

	if (what == CURL_POLL_REMOVE) {
		if (w != NULL) {
			event_free(w->ev);
			free(w);
		}
		curl_multi_assign(worker->multi, s, NULL);
		return 0;
	}
	if (what & CURL_POLL_IN)
		ev |= EV_READ;
	if (what & CURL_POLL_OUT)
		ev |= EV_WRITE;
	if (w == NULL) {
		if ((w = calloc(1, sizeof(*w))) == NULL)
			abort();
		curl_multi_assign(worker->multi, s, w);
	} else
		event_free(w->ev);
	w->ev = event_new(worker->base, s, ev, on_socket, NULL);
	event_add(w->ev, NULL);
	return 0;
}

/* curl wants its timer set to ms (-1: none). */
static int
timer_cb(CURLM *multi, long ms, void *userp)
{
	if (ms < 0)
		evtimer_del(worker->curl_timer);
	else
		timer_in(worker->curl_timer, ms);
	return 0;
}

/* Body bytes from curl for the owner; 0 aborts the transfer. */
static size_t
write_cb(char *p, size_t size, size_t n, void *arg)
{
	struct xfer	*x = arg;

	if (x->cancelled)
		return 0;
	if (x->cb->on_data != NULL && x->cb->on_data(x, p, size * n,
	    x->arg) == -1)
		return 0;
	return size * n;
}

/* Start a transfer on the loop; see worker.h. NULL on failure. */
struct xfer *
xfer_start(const char *url, struct curl_slist *headers, const char *body,
    size_t len, long timeout_ms, const struct xfer_cb *cb, void *arg)
{
	struct xfer	*x;

	if ((x = calloc(1, sizeof(*x))) == NULL ||
	    (x->easy = curl_easy_init()) == NULL)
		abort();
	if (body != NULL) {
		if ((x->body = malloc(len + 1)) == NULL)
			abort();
		memcpy(x->body, body, len);
		x->body[len] = '\0';
		curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, x->body);
		curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)len);
	}
	x->headers = headers;
	x->cb = cb;
	x->arg = arg;
	curl_easy_setopt(x->easy, CURLOPT_URL, url);
	curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(x->easy, CURLOPT_USERAGENT, PACKAGE_NAME "-worker/"
	    PACKAGE_VERSION);
	curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
	curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(x->easy, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	curl_easy_setopt(x->easy, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(x->easy, CURLOPT_TCP_KEEPIDLE, 15L);
	curl_easy_setopt(x->easy, CURLOPT_TCP_KEEPINTVL, 5L);
	curl_easy_setopt(x->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(x->easy, CURLOPT_FOLLOWLOCATION, 0L);
	/* Never let a body or a header (the token) reach a log through curl. */
	curl_easy_setopt(x->easy, CURLOPT_VERBOSE, 0L);
	if (curl_multi_add_handle(worker->multi, x->easy) != CURLM_OK) {
		curl_easy_cleanup(x->easy);
		curl_slist_free_all(headers);
		free(x->body);
		free(x);
		return NULL;
	}
	TAILQ_INSERT_TAIL(&worker->xfers, x, entry);
	return x;
}

/* Deferred removal of a cancelled transfer, outside any curl callback. */
static void
reap_cancelled(evutil_socket_t fd, short what, void *arg)
{
	xfer_free(arg);
}

/*
 * Stop a transfer: no callback follows. It may be inside a curl callback
 * right now, so the handle is removed from the loop a moment later.
 */
void
xfer_cancel(struct xfer *x)
{
	if (x == NULL || x->cancelled)
		return;
	x->cancelled = 1;
	x->reaper = evtimer_new(worker->base, reap_cancelled, x);
	timer_in(x->reaper, 0);
}

/* The curl handle of x, for timings; owned by x. */
CURL *
xfer_easy(struct xfer *x)
{
	return x->easy;
}

/* Request headers for a JSON call; heap-owned, given to xfer_start. */
struct curl_slist *
worker_headers(const char *auth, const char *accept)
{
	struct curl_slist	*h = NULL;
	struct str		 s = STR_INIT;

	str_printf(&s, "Accept: %s", accept);
	h = curl_slist_append(h, str_cstr(&s));
	h = curl_slist_append(h, "Content-Type: application/json");
	h = curl_slist_append(h, "Expect:");	/* no 100-continue wait */
	if (auth != NULL)
		h = curl_slist_append(h, auth);
	str_free(&s);
	if (h == NULL)
		abort();
	return h;
}

/* ms give or take 25%, uniformly. */
long long
jitter(long long ms)
{
	return ms * 3 / 4 + (ms > 1 ? random() % (ms / 2 + 1) : 0);
}

/* (Re)arm the evtimer ev to fire in ms milliseconds. */
void
timer_in(struct event *ev, long long ms)
{
	struct timeval	tv;

	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	evtimer_add(ev, &tv);
}

/* ---- the platform's /healthz -------------------------------------- */

/* The health check ended: log only when reachability changes. */
static void
health_done(struct xfer *x, CURLcode rc, long status, void *arg)
{
	int	ok = rc == CURLE_OK && status == 200;

	worker->health = NULL;
	if (ok != worker->reachable) {
		if (ok)
			log_info("platform reachable");
		else
			log_warn("platform unreachable: %s (status %ld)",
			    rc == CURLE_OK ? "bad status" :
			    curl_easy_strerror(rc), status);
		worker->reachable = ok;
	}
	if (!worker->stopping)
		timer_in(worker->health_timer, worker->check_ms);
}

/* Ask the platform's /healthz without blocking the loop. */
static void
health_check(evutil_socket_t fd, short what, void *arg)
{
	static const struct xfer_cb	cb = { NULL, health_done };
	struct str			url = STR_INIT;

	if (worker->health != NULL || worker->stopping)
		return;
	str_printf(&url, "%s/healthz", worker->platform);
	worker->health = xfer_start(str_cstr(&url),
	    worker_headers(NULL, "application/json"), NULL, 0, 5000L, &cb,
	    NULL);
	str_free(&url);
	if (worker->health == NULL)
		timer_in(worker->health_timer, worker->check_ms);
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
		    worker->njobs);
		job_end_all("worker shutting down");
		if (worker->njobs > 0)
			timer_in(worker->drain_timer, 10000);
		return;
	}
	log_warn("%d job(s) could not report their end; exiting",
	    worker->njobs);
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
	evtimer_del(worker->health_timer);
	if (worker->health != NULL) {
		xfer_cancel(worker->health);
		worker->health = NULL;
	}
	log_info("signal %d: stopping; %d job(s) in flight, waiting up to "
	    "%lld ms", (int)sig, worker->njobs, worker->drain_ms);
	if (worker->njobs == 0)
		event_base_loopexit(worker->base, NULL);
	else
		timer_in(worker->drain_timer, worker->drain_ms);
}

/* A job was forgotten: leave the loop when draining ends, else re-poll. */
void
worker_job_gone(void)
{
	if (worker->stopping) {
		if (worker->njobs == 0)
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

/*
 * A copy of url without trailing slashes (heap-owned, caller frees), or
 * NULL after printing an error when it is not http:// or https://.
 */
static char *
base_url(const char *what, const char *url)
{
	size_t	n = strlen(url);
	char	*s;

	if (strncmp(url, "http://", 7) != 0 &&
	    strncmp(url, "https://", 8) != 0) {
		fprintf(stderr, "infrpool-worker: the %s URL must start "
		    "with http:// or https:// (got '%s')\n", what, url);
		return NULL;
	}
	while (n > 0 && url[n - 1] == '/')
		n--;
	if ((s = strndup(url, n)) == NULL)
		abort();
	return s;
}

/*
 * "Authorization: Bearer <secret>" (heap-owned), NULL when secret is empty,
 * or NULL with *bad set when it holds a control character or a space.
 */
static char *
bearer(const char *secret, int *bad)
{
	struct str	 s = STR_INIT;
	const char	*p;

	*bad = 0;
	if (secret[0] == '\0')
		return NULL;
	for (p = secret; *p != '\0'; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f) {
			*bad = 1;
			return NULL;
		}
	str_printf(&s, "Authorization: Bearer %s", secret);
	return str_steal(&s);
}

/* Secrets, checked without ever printing them; 0 or -1 after a message. */
static int
configure_secrets(struct worker *w)
{
	int	bad;

	w->platform_auth = bearer(cfg_str(w->cfg, "worker", "token", ""), &bad);
	if (bad) {
		fprintf(stderr, "infrpool-worker: %s: [worker] token holds a "
		    "space or a control character\n",
		    cfg_where(w->cfg, "worker", "token"));
		return -1;
	}
	w->has_token = w->platform_auth != NULL;
	w->upstream_auth = bearer(cfg_str(w->cfg, "worker", "upstream_key",
	    ""), &bad);
	if (bad) {
		fprintf(stderr, "infrpool-worker: %s: [worker] upstream_key "
		    "holds a space or a control character\n",
		    cfg_where(w->cfg, "worker", "upstream_key"));
		return -1;
	}
	return 0;
}

/* Read settings, command-line values first; -1 after printing the error. */
static int
configure(struct worker *w, const char *platform, const char *upstream,
    long long concurrency)
{
	struct cfg	*c = w->cfg;
	enum log_level	 level;

	if (platform == NULL)
		platform = cfg_str(c, "worker", "platform_url",
		    "http://127.0.0.1:8080");
	if (upstream == NULL)
		upstream = cfg_str(c, "worker", "upstream_url",
		    "http://127.0.0.1:8000/v1");
	cfg_int(c, "worker", "concurrency", 1, 1, 1024, &w->concurrency);
	if (concurrency > 0)
		w->concurrency = concurrency;
	cfg_seconds(c, "worker", "check_interval", 30, 1, 3600, &w->check_ms);
	cfg_seconds(c, "worker", "drain_timeout", 60, 0, 86400, &w->drain_ms);
	cfg_seconds(c, "worker", "request_timeout", 600, 1, 86400,
	    &w->request_ms);
	cfg_seconds(c, "worker", "poll_timeout", 60, 5, 3600, &w->poll_ms);
	if (cfg_error(c) != NULL) {
		fprintf(stderr, "infrpool-worker: %s\n", cfg_error(c));
		return -1;
	}
	w->check_ms *= 1000;
	w->drain_ms *= 1000;
	w->request_ms *= 1000;
	w->poll_ms *= 1000;
	if (log_level_parse(cfg_str(c, "log", "level", "info"), &level) == -1) {
		fprintf(stderr, "infrpool-worker: %s: [log] level: expected "
		    "debug, info, warn or error\n",
		    cfg_where(c, "log", "level"));
		return -1;
	}
	if ((w->platform = base_url("platform", platform)) == NULL ||
	    (w->upstream = base_url("upstream", upstream)) == NULL ||
	    configure_secrets(w) == -1)
		return -1;
	log_init("infrpool-worker", level, cfg_str(c, "log", "file", ""));
	return 0;
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

/* The loop's events and curl's multi handle; -1 on failure. */
static int
loop_init(struct worker *w)
{
	if ((w->base = event_base_new()) == NULL ||
	    curl_global_init(CURL_GLOBAL_DEFAULT) != 0 ||
	    (w->multi = curl_multi_init()) == NULL)
		return -1;
	TAILQ_INIT(&w->xfers);
	TAILQ_INIT(&w->jobs);
	w->curl_timer = evtimer_new(w->base, on_timer, NULL);
	w->health_timer = evtimer_new(w->base, health_check, NULL);
	w->drain_timer = evtimer_new(w->base, drain_over, NULL);
	w->sigterm = evsignal_new(w->base, SIGTERM, on_signal, NULL);
	w->sigint = evsignal_new(w->base, SIGINT, on_signal, NULL);
	curl_multi_setopt(w->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
	curl_multi_setopt(w->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	event_add(w->sigterm, NULL);
	event_add(w->sigint, NULL);
	return 0;
}

/* Free what is left after the loop: jobs, transfers, events, settings. */
static void
loop_free(struct worker *w)
{
	job_free_all();
	poll_stop();
	while (!TAILQ_EMPTY(&w->xfers))
		xfer_free(TAILQ_FIRST(&w->xfers));
	if (w->multi != NULL)
		curl_multi_cleanup(w->multi);
	curl_global_cleanup();
	if (w->base != NULL) {
		event_free(w->curl_timer);
		event_free(w->health_timer);
		event_free(w->drain_timer);
		if (w->poll_timer != NULL)
			event_free(w->poll_timer);
		event_free(w->sigterm);
		event_free(w->sigint);
		event_base_free(w->base);
	}
	str_free(&w->poll_in);
	free(w->platform);
	free(w->upstream);
	free(w->platform_auth);
	free(w->upstream_auth);
}

/* Read options and config, then poll and run jobs until a signal. */
int
main(int argc, char **argv)
{
	struct worker	 w;
	const char	*config = NULL, *platform = NULL, *upstream = NULL;
	long long	 concurrency = 0;
	char		 err[512];
	int		 rc;

	memset(&w, 0, sizeof(w));
	worker = &w;
	if ((rc = parse_args(argc, argv, &config, &platform, &upstream,
	    &concurrency)) != 0) {
		if (rc == 2)
			usage();
		return rc == 3 ? 0 : rc;
	}
	if ((w.cfg = cfg_open(config, err, sizeof(err))) == NULL) {
		fprintf(stderr, "infrpool-worker: %s\n", err);
		return 1;
	}
	rc = 1;
	if (configure(&w, platform, upstream, concurrency) == -1)
		goto out;
	signal(SIGPIPE, SIG_IGN);
	srandom((unsigned)time(NULL) ^ (unsigned)getpid());
	w.reachable = -1;
	w.rtt_ms = -1;
	if (loop_init(&w) == -1) {
		log_error("cannot set up the event loop or libcurl");
		goto out;
	}
	log_info("started: platform %s, upstream %s, concurrency %lld%s%s",
	    w.platform, w.upstream, w.concurrency,
	    w.has_token ? "" : ", no node token configured",
	    w.upstream_auth != NULL ? ", upstream key set" : "");
	health_check(-1, 0, NULL);
	poll_start();
	event_base_dispatch(w.base);
	log_info("stopped");
	rc = 0;
out:
	loop_free(&w);
	cfg_free(w.cfg);
	return rc;
}
