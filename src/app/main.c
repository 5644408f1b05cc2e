/* main.c: infrpool-app, the FastCGI application: options, prefork, request loop */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "app.h"
#include "arena.h"
#include "cfg.h"
#include "crypto.h"
#include "db.h"
#include "log.h"
#include "mail.h"
#include "tmpl.h"
#include "util.h"

#define APP_MAX_WORKERS	256

struct opts {
	const char	*config;
	const char	*listen;
	const char	*pidfile;
	long long	 workers;
	long long	 backlog;
	long long	 socket_mode;
};

static volatile sig_atomic_t	 stopping;
static pid_t			 children[APP_MAX_WORKERS];
static int64_t			 spawned_ms[APP_MAX_WORKERS];

static void
usage(void)
{
	fprintf(stderr, "usage: infrpool-app [-c config] [--listen unix-path|"
	    "host:port] [--workers N] [--pidfile path]\n"
	    "Without --listen the web server must start it with the FastCGI "
	    "socket on standard input.\n");
}

/* SIGTERM and SIGINT only set a flag; they are delivered only while waiting. */
static void
on_term(int sig)
{
	stopping = 1;
}

/* Install on_term for SIGTERM and SIGINT. */
static void
catch_term(void)
{
	struct sigaction	sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
}

/* One request: parse, route, answer, log, and reset the arena. */
static void
handle(struct app *app, FCGX_Request *fr, struct arena *a, struct str *out,
    struct str *headers)
{
	struct req	r;
	int64_t		t0 = util_now_us();

	memset(&r, 0, sizeof(r));
	r.app = app;
	r.arena = a;
	r.fcgi = fr;
	r.out = *out;
	r.headers = *headers;
	str_reset(&r.out);
	str_reset(&r.headers);
	if (crypto_token_hex(r.id, sizeof(r.id), 8) == -1)
		abort();
	log_set_request(r.id);
	route_dispatch(&r);
	resp_send(&r);
	log_info("%s %s %d %lldus", r.method, r.route ? r.route->pattern :
	    "(no route)", r.status, (long long)(util_now_us() - t0));
	FCGX_Finish_r(fr);
	*out = r.out;
	*headers = r.headers;
	arena_reset(a);
	log_set_request(NULL);
}

/*
 * Answer requests on the listening socket fd until told to stop. SIGTERM
 * is blocked except while waiting in ppoll() for a connection, so a
 * request is never cut by EINTR: a busy worker leaves after its request,
 * an idle one at once. The socket is non-blocking, so when several
 * workers wake for one connection the losers come back here instead of
 * sleeping in accept() with the signal blocked.
 */
static int
serve(struct app *app, int fd)
{
	FCGX_Request	 fr;
	struct arena	*a = arena_new();
	struct str	 out = STR_INIT, headers = STR_INIT;
	struct pollfd	 pfd;
	sigset_t	 term, waiting;

	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	sigaddset(&term, SIGINT);
	sigprocmask(SIG_BLOCK, &term, &waiting);
	sigdelset(&waiting, SIGTERM);
	sigdelset(&waiting, SIGINT);
	catch_term();
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == -1 ||
	    FCGX_InitRequest(&fr, fd, 0) != 0) {
		log_error("cannot set up the FastCGI socket");
		arena_free(a);
		return 1;
	}
	app->db = db_new(cfg_str(app->cfg, "db", "conninfo", "dbname=infrpool"));
	while (!stopping) {
		pfd.fd = fd;
		pfd.events = POLLIN;
		if (ppoll(&pfd, 1, NULL, &waiting) == -1) {
			if (errno == EINTR)
				continue;
			log_error("ppoll: %s", strerror(errno));
			break;
		}
		if (FCGX_Accept_r(&fr) < 0)
			continue;	/* another worker took it */
		handle(app, &fr, a, &out, &headers);
	}
	FCGX_Free(&fr, 1);
	str_free(&out);
	str_free(&headers);
	db_free(app->db);
	arena_free(a);
	return 0;
}

/* Fork a worker serving fd into slot i (the child never returns). */
static void
spawn_worker(struct app *app, int fd, long long i, const sigset_t *orig)
{
	pid_t	pid = fork();

	spawned_ms[i] = util_now_ms();
	if (pid == -1) {
		log_error("fork: %s", strerror(errno));
		children[i] = 0;
		return;
	}
	if (pid == 0) {
		sigprocmask(SIG_SETMASK, orig, NULL);
		exit(serve(app, fd));
	}
	children[i] = pid;
}

/* Collect every exited worker and free its slot; returns how many are left. */
static long long
reap(long long n, int log_exits)
{
	long long	i, left = 0;
	pid_t		pid;
	int		st;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
		for (i = 0; i < n; i++)
			if (children[i] == pid) {
				children[i] = 0;
				if (log_exits)
					log_warn("worker %ld ended (status %d)",
					    (long)pid, st);
			}
	for (i = 0; i < n; i++)
		left += children[i] > 0;
	return left;
}

/* Send sig to every live worker. */
static void
signal_workers(long long n, int sig)
{
	long long	i;

	for (i = 0; i < n; i++)
		if (children[i] > 0)
			kill(children[i], sig);
}

/*
 * The prefork supervisor: keep n workers on fd and stop them all on
 * SIGTERM. Signals stay blocked and are taken with sigtimedwait(), so
 * none is lost between a check and a wait. An empty slot (a worker that
 * died, a fork that failed) is refilled at most once a second.
 */
static int
supervise(struct app *app, int fd, long long n)
{
	sigset_t	set, orig;
	struct timespec	tick = { 0, 200000000 };
	long long	i;
	int		sig;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, &orig);
	while (!stopping) {
		(void)reap(n, 1);
		for (i = 0; i < n; i++)
			if (children[i] == 0 &&
			    util_now_ms() - spawned_ms[i] >= 1000)
				spawn_worker(app, fd, i, &orig);
		sig = sigtimedwait(&set, NULL, &tick);
		if (sig == SIGTERM || sig == SIGINT)
			stopping = 1;
	}
	signal_workers(n, SIGTERM);
	for (i = 0; i < 100 && reap(n, 0) > 0; i++)
		(void)sigtimedwait(&set, NULL, &tick);
	if (reap(n, 0) > 0) {
		signal_workers(n, SIGKILL);
		while (waitpid(-1, NULL, 0) > 0)
			;
	}
	log_info("stopped");
	return 0;
}

/* Read [auth] and [credits]; errors are left in the cfg for the caller. */
static void
configure_auth(struct cfg *c, struct auth_cfg *au)
{
	cfg_bool(c, "auth", "cookie_secure", 1, &au->cookie_secure);
	cfg_seconds(c, "auth", "session_idle", 12 * 3600, 60, 365 * 86400LL,
	    &au->session_idle);
	cfg_seconds(c, "auth", "session_absolute", 30 * 86400, 60,
	    365 * 86400LL, &au->session_absolute);
	passwd_configure(c, &au->passwd);
	cfg_int(c, "auth", "password_min", 10, 8, 1024, &au->password_min);
	cfg_int(c, "auth", "login_per_ip", 20, 1, 1000000, &au->login_per_ip);
	cfg_int(c, "auth", "login_per_account", 10, 1, 1000000,
	    &au->login_per_account);
	cfg_seconds(c, "auth", "login_window", 900, 1, 86400, &au->login_window);
	cfg_int(c, "auth", "signup_per_ip", 10, 1, 1000000, &au->signup_per_ip);
	cfg_seconds(c, "auth", "signup_window", 3600, 1, 86400,
	    &au->signup_window);
	cfg_int(c, "credits", "signup_grant", 1000000, 0, 1000000000000LL,
	    &au->signup_grant);
}

/* Read [gateway]; errors are left in the cfg for the caller. */
static void
configure_gateway(struct cfg *c, struct gateway_cfg *g)
{
	long long	fee;

	cfg_int(c, "gateway", "fee_bp", 500, 0, 10000, &fee);
	g->fee_bp = (int)fee;
	cfg_int(c, "gateway", "max_tokens_cap", 32768, 1, 10000000,
	    &g->max_tokens_cap);
	cfg_int(c, "gateway", "default_max_tokens", 1024, 1, 10000000,
	    &g->default_max_tokens);
	cfg_seconds(c, "gateway", "hold_ttl", 600, 10, 86400, &g->hold_ttl);
	cfg_int(c, "gateway", "ramp_start_pct", 25, 1, 100, &g->ramp_start_pct);
	cfg_int(c, "gateway", "ramp_days", 7, 0, 365, &g->ramp_days);
	cfg_int(c, "gateway", "requests_per_minute", 600, 0, 1000000,
	    &g->per_key_minute);
	cfg_int(c, "gateway", "lease_budget", 5000000, 1, 1000000000000LL,
	    &g->lease_budget);
	cfg_seconds(c, "gateway", "lease_ttl", 30, 1, 3600, &g->lease_ttl);
}

/*
 * Read [crypto] keys into the app's keyring (empty when unset); 0, or -1
 * after printing the error, which never shows key material.
 */
static int
configure_keys(struct app *app)
{
	const char	*spec = cfg_str(app->cfg, "crypto", "keys", "");
	char		 err[256];

	crypto_keyring_init(&app->keys);
	if (*spec == '\0')
		return 0;
	if (crypto_keyring_parse(&app->keys, spec, err, sizeof(err)) == -1) {
		fprintf(stderr, "infrpool-app: %s: [crypto] keys: %s\n",
		    cfg_where(app->cfg, "crypto", "keys"), err);
		return -1;
	}
	return 0;
}

/* Read settings into app and o; 0 or -1 after printing the error. */
static int
configure(struct app *app, struct opts *o)
{
	struct cfg	*c = app->cfg;
	size_t		 max_body;
	enum log_level	 level;
	const char	*s;

	cfg_size(c, "app", "max_body", 1048576, 1024, 1073741824, &max_body);
	app->max_body = max_body;
	if (o->workers == 0)
		cfg_int(c, "app", "workers", 2, 1, APP_MAX_WORKERS, &o->workers);
	cfg_int(c, "app", "backlog", 128, 1, 65535, &o->backlog);
	cfg_octal(c, "app", "socket_mode", 0660, 0777, &o->socket_mode);
	if (o->listen == NULL && *(s = cfg_str(c, "app", "listen", "")) != '\0')
		o->listen = s;
	app->internal_secret = cfg_str(c, "internal", "secret", "");
	app->site_name = cfg_str(c, "app", "site_name", "infrpool");
	configure_auth(c, &app->auth);
	configure_gateway(c, &app->gateway);
	if (cfg_error(c) != NULL) {
		fprintf(stderr, "infrpool-app: %s\n", cfg_error(c));
		return -1;
	}
	if (app->gateway.default_max_tokens > app->gateway.max_tokens_cap) {
		fprintf(stderr, "infrpool-app: %s: [gateway] default_max_tokens:"
		    " must not exceed max_tokens_cap (%lld)\n",
		    cfg_where(c, "gateway", "default_max_tokens"),
		    app->gateway.max_tokens_cap);
		return -1;
	}
	if (configure_keys(app) == -1)
		return -1;
	if (log_level_parse(s = cfg_str(c, "log", "level", "info"), &level) == -1) {
		fprintf(stderr, "infrpool-app: %s: [log] level: expected debug, "
		    "info, warn or error (got '%s')\n",
		    cfg_where(c, "log", "level"), s);
		return -1;
	}
	if (log_init("infrpool-app", level, cfg_str(c, "log", "file", "")) == -1)
		fprintf(stderr, "infrpool-app: cannot open the log file: %s\n",
		    strerror(errno));
	return 0;
}

/* Load the configuration named by -c, $INFRPOOL_CONFIG or the default. */
static struct cfg *
open_config(const char *path)
{
	char		 err[512];
	struct cfg	*c;

	if ((c = cfg_open(path, err, sizeof(err))) == NULL)
		fprintf(stderr, "infrpool-app: %s\n", err);
	return c;
}

/* Parse the command line into o; -1 on a usage error. */
static int
parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "listen", required_argument, NULL, 'l' },
		{ "workers", required_argument, NULL, 'w' },
		{ "pidfile", required_argument, NULL, 'p' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	char	*end;
	int	 ch;

	while ((ch = getopt_long(argc, argv, "c:l:w:p:V", longopts, NULL)) != -1)
		switch (ch) {
		case 'c': o->config = optarg; break;
		case 'l': o->listen = optarg; break;
		case 'p': o->pidfile = optarg; break;
		case 'w':
			o->workers = strtoll(optarg, &end, 10);
			if (*end != '\0' || o->workers < 1 ||
			    o->workers > APP_MAX_WORKERS)
				return -1;
			break;
		case 'V':
			puts(PACKAGE_STRING);
			exit(0);
		default:
			return -1;
		}
	return optind == argc ? 0 : -1;
}

/*
 * Open the listening socket named by o->listen; -1 after logging. A TCP
 * address without a host ("':9000'") means loopback, never every
 * interface: whoever reaches a FastCGI port can claim any address.
 */
static int
open_listener(struct opts *o)
{
	static char	loopback[300];
	struct stat	st;
	int		fd;

	if (o->listen[0] == ':') {
		snprintf(loopback, sizeof(loopback), "127.0.0.1%s", o->listen);
		o->listen = loopback;
	}
	if (o->listen[0] == '/' && stat(o->listen, &st) == 0 &&
	    S_ISSOCK(st.st_mode))
		unlink(o->listen);	/* a stale socket from an earlier run */
	if ((fd = FCGX_OpenSocket(o->listen, (int)o->backlog)) < 0) {
		log_error("cannot listen on %s", o->listen);
		return -1;
	}
	if (o->listen[0] == '/' && chmod(o->listen, (mode_t)o->socket_mode) == -1)
		log_warn("chmod %s: %s", o->listen, strerror(errno));
	return fd;
}

int
main(int argc, char **argv)
{
	struct opts	 o = { NULL, NULL, NULL, 0, 0, 0 };
	struct app	 app;
	char		 err[512];
	int		 fd, rc = 1;

	memset(&app, 0, sizeof(app));
	if (parse_args(argc, argv, &o) == -1) {
		usage();
		return 2;
	}
	if ((app.cfg = open_config(o.config)) == NULL || configure(&app, &o) == -1)
		goto out;
	if ((app.tmpl = tmpl_load(cfg_str(app.cfg, "app", "templates",
	    IP_PKGDATADIR "/templates"), err, sizeof(err))) == NULL) {
		fprintf(stderr, "infrpool-app: templates: %s\n", err);
		goto out;
	}
	if ((app.mail = mail_templates(app.cfg, err, sizeof(err))) == NULL) {
		fprintf(stderr, "infrpool-app: mail templates: %s\n", err);
		goto out;
	}
	signal(SIGPIPE, SIG_IGN);
	if (FCGX_Init() != 0) {
		fprintf(stderr, "infrpool-app: FCGX_Init failed\n");
		goto out;
	}
	if (o.listen == NULL) {
		if (FCGX_IsCGI()) {
			fprintf(stderr, "infrpool-app: standard input is not a "
			    "FastCGI socket\n");
			usage();
			rc = 2;
			goto out;
		}
		rc = serve(&app, 0);
		goto out;
	}
	if ((fd = open_listener(&o)) == -1)
		goto out;
	if (o.pidfile != NULL && util_write_pidfile(o.pidfile) == -1)
		log_warn("pidfile %s: %s", o.pidfile, strerror(errno));
	log_info("listening on %s with %lld workers", o.listen, o.workers);
	rc = supervise(&app, fd, o.workers);
	if (o.listen[0] == '/')
		unlink(o.listen);
	if (o.pidfile != NULL)
		unlink(o.pidfile);
out:
	crypto_keyring_clear(&app.keys);
	tmpl_free(app.tmpl);
	cfg_free(app.cfg);
	return rc;
}
