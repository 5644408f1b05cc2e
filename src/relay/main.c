/* main.c: infrpool-relay, the inference relay: options, event loop, /healthz */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include "cfg.h"
#include "json.h"
#include "log.h"
#include "loop.h"
#include "relay.h"
#include "str.h"
#include "util.h"
#include "xfer.h"

#define SOMAXCONN_RELAY	4096	/* the Unix socket's backlog (capped by the kernel) */

static void
usage(void)
{
	fprintf(stderr, "usage: infrpool-relay [-c config] [--listen host:port]"
	    " [--pidfile path]\n");
}

/* GET /healthz: the relay is up; how long and how busy. */
static void
on_healthz(struct evhttp_request *req, void *arg)
{
	struct relay	*rl = arg;
	struct evbuffer	*b;

	rl->requests++;
	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET &&
	    evhttp_request_get_command(req) != EVHTTP_REQ_HEAD) {
		reply_error(req, 405, "invalid_request_error",
		    "method_not_allowed", NULL,
		    "This address does not take that method.");
		return;
	}
	b = evbuffer_new();
	evbuffer_add_printf(b, "{\"status\":\"ok\",\"version\":\"%s\","
	    "\"uptime_s\":%lld,\"requests\":%llu,\"active\":%llu,"
	    "\"queued\":%zu}\n",
	    PACKAGE_VERSION, (long long)((util_now_ms() - rl->started_ms) / 1000),
	    rl->requests, rl->active, queue_waiting());
	reply_headers(req, "application/json");
	evhttp_send_reply(req, 200, "OK", b);
	evbuffer_free(b);
}

/* Anything else: 404 in the API's shape. */
static void
on_other(struct evhttp_request *req, void *arg)
{
	struct relay	*rl = arg;
	const char	*path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));

	if (path != NULL && strncmp(path, "/v1/worker/jobs/", 16) == 0) {
		worker_handle(req, NULL);
		return;
	}
	rl->requests++;
	reply_error(req, 404, "invalid_request_error", "not_found", NULL,
	    "There is nothing at this address.");
}

#define DRAIN_MS	10000	/* requests in flight may finish this long */

static struct event	*stop_timer;
static int64_t		 stop_deadline_ms;

/*
 * Stopping: let the requests in flight finish for a while, then end the
 * rest as cancelled (billed for what was served), retire every lease and
 * leave the loop once the last batch is settled.
 */
static void
on_stopping(evutil_socket_t fd, short what, void *arg)
{
	struct relay	*rl = arg;

	if (rl->active > 0 && util_now_ms() < stop_deadline_ms) {
		loop_timer_in(stop_timer, 50);
		return;
	}
	if (rl->active > 0)
		log_warn("stopping: %llu request(s) still running are cut short",
		    rl->active);
	infer_cancel_all();
	leases_stop();		/* their holds go back with the last batch */
	settle_flush(rl);
}

/* A settled request's charge, for the lease it was admitted on. */
static void
on_settled(void *lease, int64_t reserved, int64_t charged)
{
	leases_done(lease, reserved, charged);
}

static const struct settle_hooks	settle_hooks = {
	.settled = on_settled,
};

/* SIGTERM or SIGINT: stop admitting, settle, and leave the loop. */
static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct relay	*rl = arg;

	if (stop_timer != NULL)
		return;		/* a second signal: already stopping */
	log_info("signal %d: stopping", (int)sig);
	infer_stop();
	stop_deadline_ms = util_now_ms() + DRAIN_MS;
	if ((stop_timer = evtimer_new(rl->base, on_stopping, rl)) == NULL)
		abort();
	loop_timer_in(stop_timer, 0);
}

/* Read [log] settings; -1 after printing the error. */
static int
setup_log(struct cfg *c)
{
	enum log_level	 level;
	const char	*s = cfg_str(c, "log", "level", "info");

	if (log_level_parse(s, &level) == -1) {
		fprintf(stderr, "infrpool-relay: %s: [log] level: expected debug, "
		    "info, warn or error (got '%s')\n", cfg_where(c, "log",
		    "level"), s);
		return -1;
	}
	if (log_init("infrpool-relay", level, cfg_str(c, "log", "file", "")) == -1)
		fprintf(stderr, "infrpool-relay: cannot open the log file: %s\n",
		    strerror(errno));
	return 0;
}

/*
 * The two pools of HTTP calls: to the app, and to suppliers' endpoints
 * (public addresses only unless [relay] allow_private_endpoints). 0 or -1.
 */
static int
pools_new(struct relay *rl)
{
	int	flags = rl->rc.allow_private ? 0 : XFER_PUBLIC_ONLY;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0 ||
	    (rl->app_pool = xfer_pool_new(rl->base, 0, NULL)) == NULL ||
	    (rl->node_pool = xfer_pool_new(rl->base, flags, NULL)) == NULL) {
		fprintf(stderr, "infrpool-relay: libcurl did not start\n");
		return -1;
	}
	return 0;
}

/* Bind the listener named by addr ("127.0.0.1:8090"); 0 or -1. */
static int
bind_listener(struct relay *rl, const char *addr)
{
	char	host[256];
	int	port;

	if (util_parse_hostport(addr, host, sizeof(host), &port) == -1) {
		fprintf(stderr, "infrpool-relay: listen address '%s' is not "
		    "host:port\n", addr);
		return -1;
	}
	if (evhttp_bind_socket(rl->http, host[0] ? host : "127.0.0.1",
	    (ev_uint16_t)port) != 0) {
		fprintf(stderr, "infrpool-relay: cannot listen on %s: %s\n", addr,
		    strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Listen on the Unix socket at path too: the web server's way in, with no
 * TCP connection to open and close for each request. A socket left there
 * by a relay that stopped is replaced; any other file is not. The socket is
 * made 0660: the web server reaches it through the group. 0 or -1.
 */
static int
bind_unix(struct relay *rl, const char *path)
{
	struct sockaddr_un	 sun;
	struct evconnlistener	*l;
	struct stat		 st;
	mode_t			 old;
	int			 fd, rc;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "infrpool-relay: socket path '%s' is too long\n",
		    path);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path));
	if (lstat(path, &st) == 0 && !S_ISSOCK(st.st_mode)) {
		fprintf(stderr, "infrpool-relay: %s exists and is not a socket\n",
		    path);
		return -1;
	}
	(void)unlink(path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1)
		goto fail;
	old = umask(0117);
	rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	/*
	 * A backlog as deep as the kernel allows: on a Unix socket a full
	 * backlog fails connect() with EAGAIN at once (TCP would retry the
	 * SYN). Then 0 below, so libevent does not listen() again with its own
	 * 128.
	 */
	if (rc == -1 || listen(fd, SOMAXCONN_RELAY) == -1) {
		close(fd);
		goto fail;
	}
	if ((l = evconnlistener_new(rl->base, NULL, NULL,
	    LEV_OPT_CLOSE_ON_FREE, 0, fd)) == NULL) {
		close(fd);
		goto fail;
	}
	if (evhttp_bind_listener(rl->http, l) == NULL) {
		evconnlistener_free(l);
		goto fail;
	}
	return 0;
fail:
	fprintf(stderr, "infrpool-relay: cannot listen on %s: %s\n", path,
	    strerror(errno));
	return -1;
}

/* Parse options; returns -1 on a usage error. */
static int
parse_args(int argc, char **argv, const char **config, const char **listen,
    const char **pidfile)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "listen", required_argument, NULL, 'l' },
		{ "pidfile", required_argument, NULL, 'p' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	int	ch;

	while ((ch = getopt_long(argc, argv, "c:l:p:V", longopts, NULL)) != -1)
		switch (ch) {
		case 'c': *config = optarg; break;
		case 'l': *listen = optarg; break;
		case 'p': *pidfile = optarg; break;
		case 'V': puts(PACKAGE_STRING); exit(0);
		default: return -1;
		}
	return optind == argc ? 0 : -1;
}

int
main(int argc, char **argv)
{
	struct relay	 rl;
	struct event	*sigterm = NULL, *sigint = NULL;
	const char	*config = NULL, *listen = NULL, *pidfile = NULL, *sock = "";
	char		 err[512];
	int		 rc = 1;

	memset(&rl, 0, sizeof(rl));
	relay = &rl;
	if (parse_args(argc, argv, &config, &listen, &pidfile) == -1) {
		usage();
		return 2;
	}
	if ((rl.cfg = cfg_open(config, err, sizeof(err))) == NULL) {
		fprintf(stderr, "infrpool-relay: %s\n", err);
		return 1;
	}
	if (setup_log(rl.cfg) == -1 || relay_config(rl.cfg, &rl.rc) == -1)
		goto out;
	if (listen == NULL)
		listen = cfg_str(rl.cfg, "relay", "listen", "127.0.0.1:8090");
	signal(SIGPIPE, SIG_IGN);
	rl.base = event_base_new();
	rl.http = evhttp_new(rl.base);
	rl.started_ms = util_now_ms();
	sock = cfg_str(rl.cfg, "relay", "socket", "");
	if (bind_listener(&rl, listen) == -1 ||
	    (*sock != '\0' && bind_unix(&rl, sock) == -1) ||
	    pools_new(&rl) == -1)
		goto out;
	/*
	 * Bounded like everything else in the relay. Bodies over max_body get
	 * our JSON 413; far larger ones libevent's own.
	 */
	evhttp_set_max_headers_size(rl.http, 64 * 1024);
	evhttp_set_max_body_size(rl.http, (ev_ssize_t)rl.rc.max_body * 2);
	evhttp_set_timeout(rl.http, 120);
	evhttp_set_cb(rl.http, "/healthz", on_healthz, &rl);
	evhttp_set_cb(rl.http, "/v1/chat/completions", infer_handle, "chat");
	evhttp_set_cb(rl.http, "/v1/completions", infer_handle, "completions");
	evhttp_set_cb(rl.http, "/v1/embeddings", infer_handle, "embeddings");
	workers_init(&rl);
	settle_init(&settle_hooks);
	infer_init();
	if (feed_init(&rl) == -1)
		goto out;
	evhttp_set_gencb(rl.http, on_other, &rl);
	sigterm = evsignal_new(rl.base, SIGTERM, on_signal, &rl);
	sigint = evsignal_new(rl.base, SIGINT, on_signal, &rl);
	event_add(sigterm, NULL);
	event_add(sigint, NULL);
	if (pidfile != NULL && util_write_pidfile(pidfile) == -1)
		log_warn("pidfile %s: %s", pidfile, strerror(errno));
	log_info("listening on %s%s%s", listen, *sock ? " and " : "", sock);
	event_base_dispatch(rl.base);
	if (pidfile != NULL)
		unlink(pidfile);
	if (*sock != '\0')
		(void)unlink(sock);
	log_info("stopped");
	rc = 0;
out:
	if (sigterm != NULL)
		event_free(sigterm);
	if (sigint != NULL)
		event_free(sigint);
	if (stop_timer != NULL)
		event_free(stop_timer);
	queue_free();	/* before evhttp_free: no settlement could go now */
	if (rl.http != NULL)
		evhttp_free(rl.http);
	workers_free();
	settle_free();
	feed_free();
	leases_free();
	models_free();
	xfer_pool_free(rl.app_pool);
	xfer_pool_free(rl.node_pool);
	curl_global_cleanup();
	free(rl.nodes);
	if (rl.base != NULL)
		event_base_free(rl.base);
	cfg_free(rl.cfg);
	return rc;
}
