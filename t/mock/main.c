/* main.c: infrpool-mock, a deterministic OpenAI-compatible model server */
#include "config.h"

#include <sys/types.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <netdb.h>

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>

#include <jansson.h>

#include "log.h"
#include "util.h"
#include "mock.h"

/* Every address; the dispatcher checks the method before the handler. */
static const struct route routes[] = {
	{ RT_CHAT, "/v1/chat/completions", EVHTTP_REQ_POST, 1, K_CHAT,
	    api_infer },
	{ RT_COMPLETIONS, "/v1/completions", EVHTTP_REQ_POST, 1, K_COMPLETION,
	    api_infer },
	{ RT_EMBEDDINGS, "/v1/embeddings", EVHTTP_REQ_POST, 1, K_EMBEDDING,
	    api_infer },
	{ RT_MODELS, "/v1/models", EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, 1,
	    K_NONE, api_models },
	{ RT_CONTROL, "/mock/control", EVHTTP_REQ_GET | EVHTTP_REQ_POST, 0,
	    K_NONE, page_control },
	{ RT_STATS, "/mock/stats", EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, 0,
	    K_NONE, page_stats },
	{ RT_RESET, "/mock/reset", EVHTTP_REQ_POST, 0, K_NONE, page_reset },
};

static const struct route other = { RT_OTHER, "other", 0, 1, K_NONE, NULL };

/* Every request: find the route, check the method, run the handler. */
static void
on_request(struct evhttp_request *req, void *arg)
{
	struct mock		*m = arg;
	const struct evhttp_uri	*uri = evhttp_request_get_evhttp_uri(req);
	const char		*path = uri ? evhttp_uri_get_path(uri) : NULL;
	const struct route	*rt;
	struct bufferevent	*bev;
	size_t			 i;

	/* As model servers do: a stream's chunks leave as they are made. */
	bev = evhttp_connection_get_bufferevent(
	    evhttp_request_get_connection(req));
	if (bev != NULL)
		(void)util_tcp_nodelay(bufferevent_getfd(bev));
	for (i = 0; i < nitems(routes); i++)
		if (path != NULL && strcmp(path, routes[i].path) == 0)
			break;
	rt = i < nitems(routes) ? &routes[i] : &other;
	if (rt->api)
		m->st.by_path[rt->id]++;
	if (rt->fn == NULL) {
		send_error(req, 404, "invalid_request_error", NULL,
		    "unknown_url", "Unknown request URL.");
		log_request(m, rt, 404, "unknown", 0, util_now_ms());
	} else if ((rt->methods & (int)evhttp_request_get_command(req)) == 0) {
		send_error(req, 405, "invalid_request_error", NULL,
		    "method_not_allowed", "This address does not take that "
		    "method.");
		log_request(m, rt, 405, "method", 0, util_now_ms());
	} else
		rt->fn(m, req, rt);
}

/* SIGTERM or SIGINT: leave the loop; main frees what is open. */
static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct mock	*m = arg;

	log_info("signal %d: stopping", (int)sig);
	event_base_loopexit(m->base, NULL);
}

/* util_parse_hostport, also taking port 0 (any free port). */
static int
parse_listen(const char *addr, char *host, size_t hostlen, int *port)
{
	char	tmp[300];
	size_t	n = strlen(addr);

	if (n < 2 || n >= sizeof(tmp) || strcmp(addr + n - 2, ":0") != 0)
		return util_parse_hostport(addr, host, hostlen, port);
	memcpy(tmp, addr, n + 1);
	tmp[n - 1] = '1';
	if (util_parse_hostport(tmp, host, hostlen, port) == -1)
		return -1;
	*port = 0;
	return 0;
}

/* Write the bound address of fd as host:port (or [v6]:port) into out. */
static void
bound_address(evutil_socket_t fd, char *out, size_t outlen)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sl = sizeof(ss);
	char			 h[NI_MAXHOST], p[NI_MAXSERV];

	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == -1 ||
	    getnameinfo((struct sockaddr *)&ss, sl, h, sizeof(h), p, sizeof(p),
	    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
		snprintf(out, outlen, "?");
		return;
	}
	snprintf(out, outlen, ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s",
	    h, p);
}

/* Listen on addr with a deep backlog; logs the bound address. 0 or -1. */
static int
bind_listener(struct mock *m, const char *addr)
{
	struct evconnlistener	*lev;
	struct addrinfo		 hints, *res;
	char			 host[256], port[16], shown[300];
	int			 p, rc;

	if (parse_listen(addr, host, sizeof(host), &p) == -1) {
		fprintf(stderr, "infrpool-mock: listen address '%s' is not "
		    "host:port\n", addr);
		return -1;
	}
	snprintf(port, sizeof(port), "%d", p);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((rc = getaddrinfo(host[0] ? host : "127.0.0.1", port, &hints,
	    &res)) != 0) {
		fprintf(stderr, "infrpool-mock: %s: %s\n", addr,
		    gai_strerror(rc));
		return -1;
	}
	lev = evconnlistener_new_bind(m->base, NULL, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_REUSEABLE,
	    4096, res->ai_addr, (int)res->ai_addrlen);
	freeaddrinfo(res);
	if (lev == NULL || evhttp_bind_listener(m->http, lev) == NULL) {
		fprintf(stderr, "infrpool-mock: cannot listen on %s: %s\n",
		    addr, strerror(errno));
		if (lev != NULL)
			evconnlistener_free(lev);
		return -1;
	}
	bound_address(evconnlistener_get_fd(lev), shown, sizeof(shown));
	log_info("listening on %s", shown);
	return 0;
}

/* Thousands of streams need thousands of sockets: soft limit to hard. */
static void
raise_nofile(void)
{
	struct rlimit	rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			log_warn("cannot raise the open-file limit: %s",
			    strerror(errno));
	}
}

/* Print the options. */
static void
usage(void)
{
	fprintf(stderr, "usage: infrpool-mock --listen host:port [--tokens N] "
	    "[--first-token-ms N]\n"
	    "\t[--interval-ms N] [--tokens-per-second N] "
	    "[--usage MODE] [--inflate-pct N]\n"
	    "\t[--overrun N] [--model name]... [--pidfile path] [--quiet]\n"
	    "MODE: honest, inflated, missing, negative or huge\n");
}

/* Parse the number s within [lo, hi] into *out; 0 or -1 with a message. */
static int
parse_num(const char *opt, const char *s, long long lo, long long hi,
    long long *out)
{
	char	*end;

	errno = 0;
	*out = strtoll(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || *out < lo ||
	    *out > hi) {
		fprintf(stderr, "infrpool-mock: --%s: expected a number from "
		    "%lld to %lld (got '%s')\n", opt, lo, hi, s);
		return -1;
	}
	return 0;
}

/* Parse options into m; returns -1 on a usage error. */
static int
parse_args(int argc, char **argv, struct mock *m, const char **addr,
    const char **pidfile)
{
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "tokens", required_argument, NULL, 't' },
		{ "first-token-ms", required_argument, NULL, 'f' },
		{ "interval-ms", required_argument, NULL, 'i' },
		{ "tokens-per-second", required_argument, NULL, 's' },
		{ "usage", required_argument, NULL, 'u' },
		{ "inflate-pct", required_argument, NULL, 'I' },
		{ "overrun", required_argument, NULL, 'o' },
		{ "model", required_argument, NULL, 'm' },
		{ "pidfile", required_argument, NULL, 'p' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	struct settings	*s = &m->defaults;
	int		 ch, bad = 0;

	while ((ch = getopt_long(argc, argv, "l:p:q", longopts, NULL)) != -1)
		switch (ch) {
		case 'l': *addr = optarg; break;
		case 'p': *pidfile = optarg; break;
		case 'q': m->quiet = 1; break;
		case 't': bad |= parse_num("tokens", optarg, 0,
		    MOCK_MAX_TOKENS, &s->tokens); break;
		case 'f': bad |= parse_num("first-token-ms", optarg, 0,
		    MOCK_MAX_MS, &s->first_token_ms); break;
		case 'i': bad |= parse_num("interval-ms", optarg, 0,
		    MOCK_MAX_MS, &s->interval_ms); break;
		case 's': bad |= parse_num("tokens-per-second", optarg, 0,
		    1000000, &s->tps); break;
		case 'u':
			if ((s->usage = usage_parse(optarg)) == U__MAX)
				return -1;
			break;
		case 'I': bad |= parse_num("inflate-pct", optarg, 0,
		    MOCK_MAX_PCT, &s->inflate_pct); break;
		case 'o': bad |= parse_num("overrun", optarg, 0,
		    MOCK_MAX_TOKENS, &s->overrun); break;
		case 'm':
			if (m->nmodels == MOCK_MODELS)
				return -1;
			m->models[m->nmodels++] = optarg;
			break;
		case 'V': puts(PACKAGE_STRING); exit(0);
		default: return -1;
		}
	return bad || optind != argc || *addr == NULL ? -1 : 0;
}

/* Serve until SIGTERM or SIGINT; exits 0, 1 on failure, 2 on bad options. */
int
main(int argc, char **argv)
{
	struct mock	 m;
	struct event	*sigterm = NULL, *sigint = NULL;
	struct event_config *cf = NULL;
	const char	*addr = NULL, *pidfile = NULL;
	int		 rc = 1;

	memset(&m, 0, sizeof(m));
	TAILQ_INIT(&m.calls);
	m.routes = routes;
	m.nroutes = nitems(routes);
	m.defaults.tokens = 16;
	m.defaults.inflate_pct = 900;
	if (parse_args(argc, argv, &m, &addr, &pidfile) == -1) {
		usage();
		return 2;
	}
	if (m.nmodels == 0)
		m.models[m.nmodels++] = "mock";
	m.cur = m.defaults;
	m.after_tokens = 2;
	m.last = last_empty();
	m.started = (long long)time(NULL);
	log_init("infrpool-mock", LV_INFO, NULL);
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();
	/*
	 * A precise timer: epoll's own timeout is rounded to whole jiffies
	 * (4 ms on a 250 Hz kernel), which would blur the latencies and token
	 * intervals the mock promises.
	 */
	if ((cf = event_config_new()) == NULL ||
	    event_config_set_flag(cf, EVENT_BASE_FLAG_PRECISE_TIMER) == -1 ||
	    (m.base = event_base_new_with_config(cf)) == NULL ||
	    (m.http = evhttp_new(m.base)) == NULL)
		goto out;
	evhttp_set_max_headers_size(m.http, 64 * 1024);
	evhttp_set_max_body_size(m.http, MOCK_MAX_BODY);
	evhttp_set_timeout(m.http, MOCK_TIMEOUT_S);
	evhttp_set_gencb(m.http, on_request, &m);
	if (bind_listener(&m, addr) == -1)
		goto out;
	sigterm = evsignal_new(m.base, SIGTERM, on_signal, &m);
	sigint = evsignal_new(m.base, SIGINT, on_signal, &m);
	event_add(sigterm, NULL);
	event_add(sigint, NULL);
	if (pidfile != NULL && util_write_pidfile(pidfile) == -1)
		log_warn("pidfile %s: %s", pidfile, strerror(errno));
	event_base_dispatch(m.base);
	if (pidfile != NULL)
		unlink(pidfile);
	/* Open calls go with their connections in evhttp_free. */
	call_close_all(&m);
	log_info("stopped");
	rc = 0;
out:
	if (sigterm != NULL)
		event_free(sigterm);
	if (sigint != NULL)
		event_free(sigint);
	if (m.http != NULL)
		evhttp_free(m.http);
	if (m.base != NULL)
		event_base_free(m.base);
	if (cf != NULL)
		event_config_free(cf);
	json_decref(m.last);
	return rc;
}
