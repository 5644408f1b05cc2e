/* main.c: infrpool-app, the FastCGI application: options, prefork, request loop */
#include "config.h"

#include <errno.h>
#include <getopt.h>
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

static volatile sig_atomic_t	 stopping, busy;
static pid_t			 children[APP_MAX_WORKERS];

static void
usage(void)
{
	fprintf(stderr, "usage: infrpool-app [-c config] [--listen unix-path|"
	    "host:port] [--workers N] [--pidfile path]\n"
	    "Without --listen the web server must start it with the FastCGI "
	    "socket on standard input.\n");
}

/* A worker idle in accept() leaves at once; a busy one after its request. */
static void
on_term_worker(int sig)
{
	if (!busy)
		_exit(0);
	stopping = 1;
}

static void
on_term_parent(int sig)
{
	stopping = 1;
}

/* Install fn for sig without SA_RESTART, so waitpid() sees the signal. */
static void
on_signal(int sig, void (*fn)(int))
{
	struct sigaction	sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = fn;
	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, NULL);
}

/* Answer requests on fd until told to stop. Runs in each worker process. */
static int
serve(struct app *app, int fd)
{
	FCGX_Request	 fr;
	struct req	 r;
	struct arena	*a = arena_new();
	struct str	 out = STR_INIT, headers = STR_INIT;
	int64_t		 t0;

	on_signal(SIGTERM, on_term_worker);
	on_signal(SIGINT, on_term_worker);
	if (FCGX_InitRequest(&fr, fd, 0) != 0) {
		log_error("FCGX_InitRequest failed");
		return 1;
	}
	app->db = db_new(cfg_str(app->cfg, "db", "conninfo", "dbname=infrpool"));
	while (!stopping && FCGX_Accept_r(&fr) >= 0) {
		busy = 1;
		t0 = util_now_us();
		memset(&r, 0, sizeof(r));
		r.app = app;
		r.arena = a;
		r.fcgi = &fr;
		r.out = out;
		r.headers = headers;
		str_reset(&r.out);
		str_reset(&r.headers);
		if (crypto_token_hex(r.id, sizeof(r.id), 8) == -1)
			abort();
		log_set_request(r.id);
		route_dispatch(&r);
		resp_send(&r);
		log_info("%s %s %d %lldus", r.method, r.route ? r.route->pattern :
		    "(no route)", r.status, (long long)(util_now_us() - t0));
		FCGX_Finish_r(&fr);
		out = r.out;
		headers = r.headers;
		arena_reset(a);
		log_set_request(NULL);
		busy = 0;
	}
	str_free(&out);
	str_free(&headers);
	db_free(app->db);
	arena_free(a);
	return 0;
}

/* Fork one worker serving fd; returns its pid (the child never returns). */
static pid_t
spawn_worker(struct app *app, int fd)
{
	pid_t	pid = fork();

	if (pid == -1) {
		log_error("fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		signal(SIGCHLD, SIG_DFL);
		exit(serve(app, fd));
	}
	return pid;
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

/* Wait up to ten seconds for the workers to leave, then kill the rest. */
static void
reap_all(long long n)
{
	long long	i, left;
	int		tries;
	pid_t		pid;

	for (tries = 0; tries < 100; tries++) {
		while ((pid = waitpid(-1, NULL, WNOHANG)) > 0)
			for (i = 0; i < n; i++)
				if (children[i] == pid)
					children[i] = 0;
		for (left = 0, i = 0; i < n; i++)
			left += children[i] > 0;
		if (left == 0)
			return;
		usleep(100000);
	}
	signal_workers(n, SIGKILL);
	while (waitpid(-1, NULL, 0) > 0)
		;
}

/*
 * The prefork supervisor: keep n workers on fd, restart any that dies
 * (at most one restart a second), and stop them all on SIGTERM.
 */
static int
supervise(struct app *app, int fd, long long n)
{
	long long	i;
	int		st;
	pid_t		pid;

	on_signal(SIGTERM, on_term_parent);
	on_signal(SIGINT, on_term_parent);
	for (i = 0; i < n; i++)
		children[i] = spawn_worker(app, fd);
	while (!stopping) {
		if ((pid = waitpid(-1, &st, 0)) == -1) {
			if (errno != EINTR)
				sleep(1);
			continue;
		}
		for (i = 0; i < n; i++)
			if (children[i] == pid)
				break;
		if (i == n || stopping)
			continue;
		log_warn("worker %ld ended (status %d), starting another",
		    (long)pid, st);
		sleep(1);
		children[i] = spawn_worker(app, fd);
	}
	signal_workers(n, SIGTERM);
	reap_all(n);
	log_info("stopped");
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
	cfg_int(c, "app", "socket_mode", 0660, 0, 0777, &o->socket_mode);
	if (o->listen == NULL && *(s = cfg_str(c, "app", "listen", "")) != '\0')
		o->listen = s;
	app->internal_secret = cfg_str(c, "internal", "secret", "");
	app->site_name = cfg_str(c, "app", "site_name", "infrpool");
	if (cfg_error(c) != NULL) {
		fprintf(stderr, "infrpool-app: %s\n", cfg_error(c));
		return -1;
	}
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

	if (path == NULL && (path = getenv("INFRPOOL_CONFIG")) == NULL) {
		path = IP_SYSCONFDIR "/infrpool.conf";
		if (access(path, F_OK) == -1)
			path = NULL;
	}
	if ((c = cfg_load(path, err, sizeof(err))) == NULL)
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

/* Open the listening socket named by addr; -1 after logging. */
static int
open_listener(const struct opts *o)
{
	struct stat	st;
	int		fd;

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
	tmpl_free(app.tmpl);
	cfg_free(app.cfg);
	return rc;
}
