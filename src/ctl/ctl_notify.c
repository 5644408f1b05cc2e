/* ctl_notify.c: infrpoolctl notify terms: tell every user of changed terms */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arena.h"
#include "cfg.h"
#include "ctl.h"
#include "db.h"
#include "jobs.h"
#include "json.h"
#include "mail.h"
#include "str.h"
#include "tmpl.h"

#define NOTICE_DAYS	30	/* the Privacy Policy's notice of changed terms */

static const struct db_stmt q_users = {
	"notify_users",
	"SELECT id, email FROM users ORDER BY id",
	0, DB_RETRY
};

/* Parse "YYYY-MM-DD" as midnight UTC into *t; 0 or -1. */
static int
parse_day(const char *s, time_t *t)
{
	char	buf[21];

	if (s == NULL || strlen(s) != 10)
		return -1;
	snprintf(buf, sizeof(buf), "%sT00:00:00Z", s);
	return jobs_parse_time(buf, t);
}

static int
usage_notify(void)
{
	fprintf(stderr, "usage: infrpoolctl notify terms --effective YYYY-MM-DD"
	    " [--url URL] [--now T]\n");
	return 2;
}

/* Queue the notice to every user in one transaction; the count, or -1. */
static int
queue_all(struct ctl *ctl, struct arena *a, const struct tmpl_set *set,
    json_t *vars, const char *now)
{
	PGresult	*res;
	int		 r, n = -1;

	if (db_begin(ctl->db) == -1)
		return -1;
	if ((res = db_exec(ctl->db, a, &q_users, NULL)) == NULL)
		goto out;
	for (r = 0; r < PQntuples(res); r++)
		if (mail_queue(ctl->db, a, set, db_int64(res, r, 0),
		    PQgetvalue(res, r, 1), "terms_changed", vars, now) == -1)
			goto out;
	n = r;
out:
	return db_finish(ctl->db, n, n >= 0, -1);
}

/*
 * infrpoolctl notify terms --effective YYYY-MM-DD [--url URL] [--now T]:
 * queue a notice of changed terms to every user (the mail-send job sends
 * it), at least 30 days ahead. Exit 0, 1 on failure (nothing queued), 2 on
 * usage.
 */
int
ctl_notify(struct ctl *ctl, int argc, char **argv)
{
	const char	*effective = NULL, *url = NULL, *nowarg = NULL;
	const struct tmpl_set	*set;
	struct arena	*a;
	json_t		*vars;
	time_t		 now = time(NULL), day;
	char		 now_ts[21], err[512];
	int		 i, n;

	if (argc < 2 || strcmp(argv[1], "terms") != 0)
		return usage_notify();
	for (i = 2; i < argc; i += 2) {
		if (i + 1 >= argc)
			return usage_notify();
		if (strcmp(argv[i], "--effective") == 0)
			effective = argv[i + 1];
		else if (strcmp(argv[i], "--url") == 0)
			url = argv[i + 1];
		else if (strcmp(argv[i], "--now") == 0)
			nowarg = argv[i + 1];
		else
			return usage_notify();
	}
	if (nowarg != NULL && jobs_parse_time(nowarg, &now) == -1) {
		fprintf(stderr, "infrpoolctl: notify: --now takes a UTC time as "
		    "2027-03-01T04:00:00Z\n");
		return 2;
	}
	if (parse_day(effective, &day) == -1) {
		fprintf(stderr, "infrpoolctl: notify: --effective takes a date "
		    "as 2027-03-01\n");
		return 2;
	}
	if (day < now + NOTICE_DAYS * 86400) {
		fprintf(stderr, "infrpoolctl: notify: the terms may change %d "
		    "days after the notice at the earliest: %s is too soon\n",
		    NOTICE_DAYS, effective);
		return 1;
	}
	if (url != NULL && (strncmp(url, "https://", 8) != 0 &&
	    strncmp(url, "http://", 7) != 0)) {
		fprintf(stderr, "infrpoolctl: notify: --url must be an http(s) "
		    "URL\n");
		return 2;
	}
	if ((set = mail_templates(ctl->cfg, err, sizeof(err))) == NULL) {
		fprintf(stderr, "infrpoolctl: notify: mail templates: %s\n", err);
		return 1;
	}
	jobs_format_time(now, now_ts);
	vars = json_pack("{s:s, s:s, s:I, s:s?}", "site_name",
	    cfg_str(ctl->cfg, "app", "site_name", "infrpool"), "effective",
	    effective, "days", (json_int_t)((day - now) / 86400), "url", url);
	a = arena_new();
	n = queue_all(ctl, a, set, vars, now_ts);
	if (n < 0)
		fprintf(stderr, "infrpoolctl: notify: nothing queued: %s\n",
		    db_error(ctl->db)[0] ? db_error(ctl->db) :
		    "a message did not render (see the log)");
	else
		printf("queued %d notice%s of the terms effective %s\n", n,
		    n == 1 ? "" : "s", effective);
	json_decref(vars);
	arena_free(a);
	return n < 0 ? 1 : 0;
}
