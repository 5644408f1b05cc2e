/* main.c: infrpool-worker, the supplier's outbound-only node: options, loop */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "cfg.h"
#include "log.h"

struct worker {
	struct event_base	*base;
	struct cfg		*cfg;
	const char		*platform;	/* https://pool.example */
	const char		*upstream;	/* http://127.0.0.1:8080/v1 */
	const char		*token;
	long long		 concurrency;
	long long		 check_every;	/* seconds */
	int			 reachable;	/* -1 unknown, 0, 1 */
	CURL			*curl;
	char			 health_url[1024];
};

static void
usage(void)
{
	fprintf(stderr, "usage: infrpool-worker [-c config] [--platform URL] "
	    "[--upstream URL] [--concurrency N]\n"
	    "The node token comes from [worker] token or "
	    "INFRPOOL_WORKER_TOKEN, never the command line.\n");
}

/* Discard a response body: the health check only needs the status. */
static size_t
discard(char *p, size_t size, size_t n, void *arg)
{
	return size * n;
}

/* Ask the platform's /healthz; log only when reachability changes. */
static void
check_platform(evutil_socket_t fd, short what, void *arg)
{
	struct worker	*w = arg;
	long		 status = 0;
	CURLcode	 rc;
	int		 ok;

	curl_easy_setopt(w->curl, CURLOPT_URL, w->health_url);
	rc = curl_easy_perform(w->curl);
	if (rc == CURLE_OK)
		curl_easy_getinfo(w->curl, CURLINFO_RESPONSE_CODE, &status);
	ok = rc == CURLE_OK && status == 200;
	if (ok != w->reachable) {
		if (ok)
			log_info("platform reachable");
		else
			log_warn("platform unreachable: %s (status %ld)",
			    rc == CURLE_OK ? "bad status" : curl_easy_strerror(rc),
			    status);
		w->reachable = ok;
	}
}

/* SIGTERM or SIGINT: no job is in flight yet, so leave the loop now. */
static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct worker	*w = arg;

	log_info("signal %d: stopping", (int)sig);
	event_base_loopexit(w->base, NULL);
}

/* Read settings, command-line values first; -1 after printing the error. */
static int
configure(struct worker *w, const char *platform, const char *upstream,
    long long concurrency)
{
	struct cfg	*c = w->cfg;
	enum log_level	 level;
	size_t		 n;

	w->platform = platform ? platform : cfg_str(c, "worker", "platform_url",
	    "http://127.0.0.1:8080");
	w->upstream = upstream ? upstream : cfg_str(c, "worker", "upstream_url",
	    "http://127.0.0.1:8000/v1");
	w->token = cfg_str(c, "worker", "token", "");
	cfg_int(c, "worker", "concurrency", 1, 1, 1024, &w->concurrency);
	if (concurrency > 0)
		w->concurrency = concurrency;
	cfg_seconds(c, "worker", "check_interval", 30, 1, 3600, &w->check_every);
	if (cfg_error(c) != NULL) {
		fprintf(stderr, "infrpool-worker: %s\n", cfg_error(c));
		return -1;
	}
	if (log_level_parse(cfg_str(c, "log", "level", "info"), &level) == -1) {
		fprintf(stderr, "infrpool-worker: %s: [log] level: expected "
		    "debug, info, warn or error\n", cfg_where(c, "log", "level"));
		return -1;
	}
	log_init("infrpool-worker", level, cfg_str(c, "log", "file", ""));
	n = strlen(w->platform);
	while (n > 0 && w->platform[n - 1] == '/')
		n--;
	if (strncmp(w->platform, "http://", 7) != 0 &&
	    strncmp(w->platform, "https://", 8) != 0) {
		fprintf(stderr, "infrpool-worker: the platform URL must start "
		    "with http:// or https:// (got '%s')\n", w->platform);
		return -1;
	}
	snprintf(w->health_url, sizeof(w->health_url), "%.*s/healthz", (int)n,
	    w->platform);
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "platform", required_argument, NULL, 'P' },
		{ "upstream", required_argument, NULL, 'u' },
		{ "concurrency", required_argument, NULL, 'n' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	struct worker	 w;
	struct event	*sigterm, *sigint, *timer;
	struct timeval	 tv;
	const char	*config = NULL, *platform = NULL;
	const char	*upstream = NULL;
	long long	 concurrency = 0;
	char		 err[512], *end;
	int		 ch;

	memset(&w, 0, sizeof(w));
	while ((ch = getopt_long(argc, argv, "c:P:u:n:V", longopts, NULL)) != -1)
		switch (ch) {
		case 'c': config = optarg; break;
		case 'P': platform = optarg; break;
		case 'u': upstream = optarg; break;
		case 'n':
			concurrency = strtoll(optarg, &end, 10);
			if (*end != '\0' || concurrency < 1 || concurrency > 1024) {
				usage();
				return 2;
			}
			break;
		case 'V': puts(PACKAGE_STRING); return 0;
		default: usage(); return 2;
		}
	if (optind != argc) {
		usage();
		return 2;
	}
	if ((w.cfg = cfg_open(config, err, sizeof(err))) == NULL) {
		fprintf(stderr, "infrpool-worker: %s\n", err);
		return 1;
	}
	if (configure(&w, platform, upstream, concurrency) == -1) {
		cfg_free(w.cfg);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	w.curl = curl_easy_init();
	curl_easy_setopt(w.curl, CURLOPT_TIMEOUT, 5L);
	curl_easy_setopt(w.curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(w.curl, CURLOPT_WRITEFUNCTION, discard);
	w.reachable = -1;
	w.base = event_base_new();
	sigterm = evsignal_new(w.base, SIGTERM, on_signal, &w);
	sigint = evsignal_new(w.base, SIGINT, on_signal, &w);
	timer = event_new(w.base, -1, EV_PERSIST, check_platform, &w);
	event_add(sigterm, NULL);
	event_add(sigint, NULL);
	tv.tv_sec = (time_t)w.check_every;
	tv.tv_usec = 0;
	event_add(timer, &tv);
	log_info("started: platform %s, upstream %s, concurrency %lld%s",
	    w.platform, w.upstream, w.concurrency,
	    w.token[0] ? "" : ", no node token configured");
	check_platform(-1, 0, &w);
	event_base_dispatch(w.base);
	event_free(timer);
	event_free(sigterm);
	event_free(sigint);
	event_base_free(w.base);
	curl_easy_cleanup(w.curl);
	curl_global_cleanup();
	cfg_free(w.cfg);
	log_info("stopped");
	return 0;
}
