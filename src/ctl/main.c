/* main.c: infrpoolctl, the operator's command line: migrations, jobs, admin */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg.h"
#include "ctl.h"
#include "db.h"
#include "log.h"

static const struct command {
	const char	*name;
	int		(*run)(struct ctl *, int, char **);
	const char	*usage;
} commands[] = {
	{ "migrate", ctl_migrate, "migrate [--status]" },
	{ "user", ctl_user, "user add [--admin] EMAIL   (password on standard input)\n"
	    "  user suspend|unsuspend|ban [--forfeit] (ID|EMAIL) --reason TEXT" },
	{ "ledger", ctl_ledger, "ledger check" },
	{ "holds", ctl_holds, "holds reap" },
	{ "tick", ctl_tick, "tick [--now 2027-03-01T04:00:00Z] [JOB...]" },
	{ "jobs", ctl_jobs, "jobs [--now 2027-03-01T04:00:00Z]" },
	{ "notify", ctl_notify, "notify terms --effective YYYY-MM-DD [--url URL]" },
	{ "ipkey", ctl_ipkey, "ipkey new | ipkey list" },
	{ "receipts", ctl_receipts, "receipts rotate-key | receipts keys" },
	{ "tokens", ctl_tokens, "tokens count --family NAME [--dir DIR]   "
	    "(counts standard input)" },
};

static void
usage(void)
{
	size_t	i;

	fprintf(stderr, "usage: infrpoolctl [-c config] command [args]\n"
	    "commands:\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(stderr, "  %s\n", commands[i].usage);
}

/* The configuration file: -c, $INFRPOOL_CONFIG, or the installed default. */
static struct cfg *
open_config(const char *path)
{
	char		 err[512];
	struct cfg	*c;

	if ((c = cfg_open(path, err, sizeof(err))) == NULL)
		fprintf(stderr, "infrpoolctl: %s\n", err);
	return c;
}

int
main(int argc, char **argv)
{
	struct ctl	 ctl = { NULL, NULL, NULL };
	const char	*config = NULL, *conninfo;
	enum log_level	 level = LV_WARN;
	size_t		 i;
	int		 ch, rc = 2;

	if (argc > 1 && (strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "--version") == 0))
		argv[1] = strcmp(argv[1], "--help") == 0 ? "-h" : "-V";
	while ((ch = getopt(argc, argv, "+c:hV")) != -1)
		switch (ch) {
		case 'c':
			config = optarg;
			break;
		case 'V':
			puts(PACKAGE_STRING);
			return 0;
		default:
			usage();
			return ch == 'h' ? 0 : 2;
		}
	argc -= optind;
	argv += optind;
	if (argc < 1) {
		usage();
		return 2;
	}
	if ((ctl.cfg = open_config(config)) == NULL)
		return 1;
	if (log_level_parse(cfg_str(ctl.cfg, "log", "level", "warn"), &level) == -1) {
		fprintf(stderr, "infrpoolctl: %s: [log] level: expected debug, "
		    "info, warn or error\n", cfg_where(ctl.cfg, "log", "level"));
		cfg_free(ctl.cfg);
		return 1;
	}
	/* Messages for the operator go to the terminal; the log file too. */
	log_init("infrpoolctl", level, cfg_str(ctl.cfg, "log", "file", ""));
	conninfo = cfg_str(ctl.cfg, "db", "conninfo", "dbname=infrpool");
	ctl.sqldir = cfg_str(ctl.cfg, "paths", "sql", IP_PKGDATADIR "/sql");
	ctl.db = db_new(conninfo);
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[0], commands[i].name) == 0)
			break;
	if (i == sizeof(commands) / sizeof(commands[0])) {
		fprintf(stderr, "infrpoolctl: unknown command '%s'\n", argv[0]);
		usage();
	} else
		rc = commands[i].run(&ctl, argc, argv);
	db_free(ctl.db);
	cfg_free(ctl.cfg);
	return rc;
}
