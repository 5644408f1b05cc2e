/* retention.c: the retention jobs: IP hashes, the IP key, log files, exports */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arena.h"
#include "cfg.h"
#include "db.h"
#include "export.h"
#include "iphash.h"
#include "jobs.h"
#include "log.h"
#include "retention.h"

#define DAY_S		86400LL
#define DEFAULT_DAYS	(90 * DAY_S)	/* the Privacy Policy's 90 days */
#define MAX_DAYS	(3650 * DAY_S)
#define BATCH		"10000"		/* requests updated per statement */

/*
 * Hashed IP addresses older than $2 seconds before the clock $1 are
 * nulled (or, in rate-limit buckets, whose names hold them, deleted).
 * Requests go in batches so that no statement holds many row locks.
 */
static const struct db_stmt q_users = {
	"retention_users_ip",
	"UPDATE users SET signup_ip_hash = NULL WHERE signup_ip_hash IS NOT NULL"
	" AND created_at < $1::timestamptz - $2::bigint * interval '1 second'",
	2, 0
};
static const struct db_stmt q_sessions = {
	"retention_sessions_ip",
	"UPDATE sessions SET ip_hash = NULL WHERE ip_hash IS NOT NULL"
	" AND created_at < $1::timestamptz - $2::bigint * interval '1 second'",
	2, 0
};
static const struct db_stmt q_requests = {
	"retention_requests_ip",
	"UPDATE requests SET client_ip_hash = NULL WHERE id IN (SELECT id"
	" FROM requests WHERE client_ip_hash IS NOT NULL AND created_at <"
	" $1::timestamptz - $2::bigint * interval '1 second' LIMIT " BATCH ")",
	2, 0
};
static const struct db_stmt q_buckets = {
	"retention_rate_limits",
	"DELETE FROM rate_limits"
	" WHERE window_start < $1::timestamptz - $2::bigint * interval '1 second'",
	2, 0
};

/* A [retention] duration into *out; -1 with x->message when bad. */
static int
setting(struct job_ctx *x, const char *key, long long *out)
{
	if (cfg_seconds(x->cfg, "retention", key, DEFAULT_DAYS, DAY_S,
	    MAX_DAYS, out) == -1) {
		x->message = arena_strdup(x->a, cfg_error(x->cfg));
		return -1;
	}
	return 0;
}

/* Run st with the clock and age; the rows it touched into *n. 0 or -1. */
static int
age_exec(struct job_ctx *x, const struct db_stmt *st, const char *age,
    long long *n)
{
	const char	*p[2] = { x->now_ts, age };
	PGresult	*res;

	if ((res = db_exec(x->db, x->a, st, p)) == NULL)
		return -1;
	*n = atoll(PQcmdTuples(res));
	return 0;
}

int
retention_ip_hashes_prune(struct job_ctx *x)
{
	long long	 keep, users, sessions, requests = 0, batch, buckets;
	const char	*age;

	if (setting(x, "ip_hashes", &keep) == -1)
		return -1;
	age = arena_printf(x->a, "%lld", keep);
	if (age_exec(x, &q_users, age, &users) == -1 ||
	    age_exec(x, &q_sessions, age, &sessions) == -1 ||
	    age_exec(x, &q_buckets, age, &buckets) == -1)
		return -1;
	do {
		if (age_exec(x, &q_requests, age, &batch) == -1)
			return -1;
		requests += batch;
	} while (batch == atoll(BATCH));
	json_object_set_new(x->counts, "users", json_integer(users));
	json_object_set_new(x->counts, "sessions", json_integer(sessions));
	json_object_set_new(x->counts, "requests", json_integer(requests));
	json_object_set_new(x->counts, "rate_limits", json_integer(buckets));
	return 0;
}

int
retention_ip_key_rotate(struct job_ctx *x)
{
	long long	age;
	int		id, rc, dropped;

	if (setting(x, "ip_key_rotation", &age) == -1)
		return -1;
	if ((rc = iphash_rotate(x->db, x->a, x->now_ts, age, &id)) == -1 ||
	    iphash_drop_retired(x->db, x->a, x->now_ts, &dropped) == -1)
		return -1;
	if (rc == 1)
		log_info("ip key rotated: key %d is now current", id);
	json_object_set_new(x->counts, "rotated", json_boolean(rc == 1));
	json_object_set_new(x->counts, "current", id ? json_integer(id) :
	    json_null());
	json_object_set_new(x->counts, "deleted", json_integer(dropped));
	return 0;
}

/*
 * Delete the daily files of pattern in d whose last line is older
 * than keep seconds before now: a file of day D holds lines until D + 1
 * day. Counts into x->counts; 0, or -1 when one could not be deleted.
 */
static int
prune_dir(struct job_ctx *x, DIR *d, const char *pattern, long long keep)
{
	struct dirent	*e;
	time_t		 day;
	long long	 deleted = 0, kept = 0;
	int		 rc = 0;

	while ((e = readdir(d)) != NULL) {
		if (!log_name_day(pattern, e->d_name, &day))
			continue;
		if ((long long)day + DAY_S + keep > (long long)x->now) {
			kept++;
			continue;
		}
		if (unlinkat(dirfd(d), e->d_name, 0) == 0)
			deleted++;
		else if (errno != ENOENT) {
			x->message = arena_printf(x->a, "cannot delete %s: %s",
			    e->d_name, strerror(errno));
			rc = -1;
		}
	}
	json_object_set_new(x->counts, "deleted", json_integer(deleted));
	json_object_set_new(x->counts, "kept", json_integer(kept));
	return rc;
}

int
retention_logs_prune(struct job_ctx *x)
{
	const char	*file = cfg_str(x->cfg, "log", "file", ""), *slash;
	const char	*dir;
	long long	 keep;
	DIR		*d;
	int		 rc;

	if (setting(x, "logs", &keep) == -1)
		return -1;
	if (strchr(file, '%') == NULL) {	/* not daily files: not ours */
		json_object_set_new(x->counts, "disabled", json_true());
		return 0;
	}
	if (!log_pattern_ok(file)) {
		x->message = "[log] file: a daily file takes %Y, %m and %d once "
		    "each, in the file name only";
		return -1;
	}
	slash = strrchr(file, '/');
	dir = slash == NULL ? "." : slash == file ? "/" :
	    arena_strndup(x->a, file, (size_t)(slash - file));
	if ((d = opendir(dir)) == NULL) {
		x->message = arena_printf(x->a, "cannot read %s: %s", dir,
		    strerror(errno));
		return -1;
	}
	rc = prune_dir(x, d, file, keep);
	closedir(d);
	return rc;
}

int
retention_exports_prune(struct job_ctx *x)
{
	long long	deleted;

	if (export_prune(x->db, x->a, x->now_ts, &deleted) == -1)
		return -1;
	json_object_set_new(x->counts, "deleted", json_integer(deleted));
	return 0;
}
