/* jobs.c: the scheduled jobs: what is due, one lock each, every run recorded */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "db.h"
#include "hold.h"
#include "jobs.h"
#include "lifecycle.h"
#include "payout.h"
#include "stripe.h"
#include "log.h"
#include "mail.h"
#include "retention.h"
#include "str.h"

/* The advisory locks of jobs: (JOB_LOCK_CLASS, hashtext(name)). */
#define JOB_LOCK_CLASS	"1785688691"	/* "jobs" in ASCII */

static const struct db_stmt q_lock = {
	"job_lock",
	"SELECT pg_try_advisory_lock(" JOB_LOCK_CLASS ", hashtext($1))",
	1, 0
};
static const struct db_stmt q_unlock = {
	"job_unlock",
	"SELECT pg_advisory_unlock(" JOB_LOCK_CLASS ", hashtext($1))",
	1, 0
};
/* Did a run of the job finish well for this slot? */
static const struct db_stmt q_done = {
	"job_done",
	"SELECT 1 FROM job_runs WHERE job = $1 AND due_at = $2::timestamptz"
	" AND outcome = 'ok' LIMIT 1",
	2, DB_RETRY
};
/* Runs left 'running' by a tick that died (we hold the job's lock now). */
static const struct db_stmt q_interrupted = {
	"job_interrupted",
	"UPDATE job_runs SET outcome = 'failed', finished_at = now(),"
	" message = 'interrupted' WHERE job = $1 AND outcome = 'running'",
	1, 0
};
static const struct db_stmt q_start = {
	"job_start",
	"INSERT INTO job_runs (job, due_at, clock) VALUES"
	" ($1, $2::timestamptz, $3::timestamptz) RETURNING id",
	3, 0
};
static const struct db_stmt q_finish = {
	"job_finish",
	"UPDATE job_runs SET outcome = $2, finished_at = now(),"
	" counts = $3::jsonb, message = $4 WHERE id = $1",
	4, 0
};
static const struct db_stmt q_last = {
	"job_last",
	"SELECT DISTINCT ON (job) job, " DB_TS("started_at") ", "
	DB_TS("finished_at") ", outcome, counts::text, message, "
	DB_TS("due_at") " FROM job_runs ORDER BY job, id DESC",
	0, DB_RETRY
};

/* holds-reap: void the holds past their expiry (a relay that died). */
static int
run_holds_reap(struct job_ctx *x)
{
	int	voided;

	if (hold_reap(x->db, x->a, x->now_ts, &voided) != HOLD_OK)
		return -1;
	json_object_set_new(x->counts, "voided", json_integer(voided));
	return 0;
}

/* sessions-prune: delete sessions past their absolute lifetime. */
static const struct db_stmt q_sessions = {
	"job_sessions_prune",
	"DELETE FROM sessions WHERE expires_at <= $1::timestamptz",
	1, 0
};
/* job-runs-prune: forget job runs older than 90 days. */
static const struct db_stmt q_runs = {
	"job_runs_prune",
	"DELETE FROM job_runs WHERE outcome <> 'running'"
	" AND clock < $1::timestamptz - interval '90 days'",
	1, 0
};
/* outbox-prune: delete sent messages 30 days after they went. */
static const struct db_stmt q_outbox = {
	"job_outbox_prune",
	"DELETE FROM outbox WHERE sent_at < $1::timestamptz - interval '30 days'",
	1, 0
};

/* Run a pruning DELETE of the tick's clock; count what it deleted. */
static int
prune(struct job_ctx *x, const struct db_stmt *st)
{
	const char	*p[1] = { x->now_ts };
	PGresult	*res;

	if ((res = db_exec(x->db, x->a, st, p)) == NULL)
		return -1;
	json_object_set_new(x->counts, "deleted",
	    json_integer(atoll(PQcmdTuples(res))));
	return 0;
}

static int
run_sessions_prune(struct job_ctx *x)
{
	return prune(x, &q_sessions);
}

static int
run_runs_prune(struct job_ctx *x)
{
	return prune(x, &q_runs);
}

static int
run_outbox_prune(struct job_ctx *x)
{
	return prune(x, &q_outbox);
}

/* mail-send: send the outbox's messages that are due. */
static int
run_mail_send(struct job_ctx *x)
{
	struct mail_cfg		 m;
	struct mail_sent	 s;
	char			 err[512];
	int			 rc;

	if (mail_config(x->cfg, &m) == -1) {
		x->message = "the [mail] settings are not valid (see stderr)";
		return -1;
	}
	if (*m.smtp_url == '\0') {
		json_object_set_new(x->counts, "disabled", json_true());
		return 0;		/* no [mail] smtp_url: the outbox waits */
	}
	rc = mail_send_due(x->db, x->a, &m, x->now_ts, &s, err, sizeof(err));
	json_object_set_new(x->counts, "sent", json_integer(s.sent));
	json_object_set_new(x->counts, "failed", json_integer(s.failed));
	json_object_set_new(x->counts, "waiting", json_integer(s.waiting));
	if (rc == 1)
		x->message = arena_strdup(x->a, err);
	return rc == 0 ? 0 : -1;
}

#define MINUTE	60L
#define HOUR	(60 * MINUTE)
#define DAY	(24 * HOUR)

const struct job jobs[] = {
	{ "holds-reap", "every minute", MINUTE, 0, run_holds_reap },
	{ "sessions-prune", "daily at 03:10 UTC", DAY, 3 * HOUR + 10 * MINUTE,
	    run_sessions_prune },
	{ "job-runs-prune", "daily at 03:20 UTC", DAY, 3 * HOUR + 20 * MINUTE,
	    run_runs_prune },
	{ "mail-send", "every minute", MINUTE, 0, run_mail_send },
	{ "outbox-prune", "daily at 03:30 UTC", DAY, 3 * HOUR + 30 * MINUTE,
	    run_outbox_prune },
	{ "account-delete", "every minute", MINUTE, 0, lifecycle_delete_due },
	{ "topups-expire", "hourly at :35", HOUR, 35 * MINUTE,
	    topup_job_expire },
	{ "payouts-retry", "every 5 minutes", 5 * MINUTE, 0, payout_job_retry },
	{ "payouts-check", "daily at 06:00 UTC", DAY, 6 * HOUR,
	    payout_job_check },
	{ "payouts-monthly", "hourly at :05, paying on the 1st (UTC)", HOUR,
	    5 * MINUTE, payout_job_monthly },
	{ "wallet-events-prune", "daily at 03:40 UTC", DAY,
	    3 * HOUR + 40 * MINUTE, lifecycle_events_prune },
	{ "wallet-expiry", "daily at 02:00 UTC", DAY, 2 * HOUR,
	    lifecycle_wallet_expiry },
	{ "ip-hashes-prune", "daily at 03:45 UTC", DAY, 3 * HOUR + 45 * MINUTE,
	    retention_ip_hashes_prune },
	{ "ip-key-rotate", "daily at 03:50 UTC", DAY, 3 * HOUR + 50 * MINUTE,
	    retention_ip_key_rotate },
	{ "logs-prune", "daily at 03:55 UTC", DAY, 3 * HOUR + 55 * MINUTE,
	    retention_logs_prune },
	{ "exports-prune", "hourly at :25", HOUR, 25 * MINUTE,
	    retention_exports_prune },
};
const size_t njobs = sizeof(jobs) / sizeof(jobs[0]);

const struct job *
job_find(const char *name)
{
	size_t	i;

	for (i = 0; i < njobs; i++)
		if (strcmp(jobs[i].name, name) == 0)
			return &jobs[i];
	return NULL;
}

int
jobs_parse_time(const char *s, time_t *t)
{
	struct tm	tm;
	char		*end;
	char		 back[21];

	memset(&tm, 0, sizeof(tm));
	if (s == NULL || strlen(s) != 20 ||
	    (end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm)) == NULL ||
	    *end != '\0' || tm.tm_year < 70)
		return -1;
	*t = timegm(&tm);
	/* Out-of-range fields (02-30, 25:00) come back as another time. */
	jobs_format_time(*t, back);
	return strcmp(back, s) == 0 ? 0 : -1;
}

void
jobs_format_time(time_t t, char buf[21])
{
	struct tm	tm;

	gmtime_r(&t, &tm);
	strftime(buf, 21, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

time_t
job_slot(const struct job *j, time_t now)
{
	long long	k = ((long long)now - j->offset) % j->period;

	if (k < 0)
		k += j->period;
	return now - (time_t)k;
}

/* Take job j's lock; 1 taken, 0 held by another tick, -1 error. */
static int
lock_job(struct db *db, struct arena *a, const struct job *j)
{
	const char	*p[1] = { j->name };
	PGresult	*res;

	if ((res = db_exec(db, a, &q_lock, p)) == NULL)
		return -1;
	return strcmp(PQgetvalue(res, 0, 0), "t") == 0;
}

/* Is j done for the slot due (a run finished well)? 1, 0, or -1. */
static int
done_for(struct db *db, struct arena *a, const struct job *j, const char *due)
{
	const char	*p[2] = { j->name, due };
	PGresult	*res;

	if ((res = db_exec(db, a, &q_done, p)) == NULL)
		return -1;
	return PQntuples(res) > 0;
}

/*
 * Run j for the slot due, recorded: 0 ran well, 1 failed (logged), -1 the
 * run could not even be recorded.
 */
static int
run_one(struct db *db, struct arena *a, struct cfg *cfg,
    const struct job *j, time_t now, const char *now_ts, const char *due)
{
	struct job_ctx	 x = { db, a, cfg, now, now_ts, json_object(), NULL };
	const char	*p[4];
	PGresult	*res;
	char		*counts;
	int		 rc;

	p[0] = j->name;
	p[1] = due;
	p[2] = now_ts;
	if (db_exec(db, a, &q_interrupted, p) == NULL ||
	    (res = db_exec(db, a, &q_start, p)) == NULL) {
		json_decref(x.counts);
		return -1;
	}
	p[0] = arena_strdup(a, PQgetvalue(res, 0, 0));
	rc = j->run(&x);
	if (db_in_tx(db))		/* a job that lost its way: never commit it */
		db_rollback(db);
	counts = json_dumps(x.counts, JSON_COMPACT | JSON_SORT_KEYS);
	p[1] = rc == 0 ? "ok" : "failed";
	p[2] = arena_strdup(a, counts != NULL ? counts : "{}");
	p[3] = rc == 0 ? NULL : x.message != NULL ? x.message :
	    arena_strdup(a, db_error(db));
	free(counts);
	json_decref(x.counts);
	if (rc != 0)
		log_error("job %s failed: %s", j->name, p[3]);
	if (db_exec(db, a, &q_finish, p) == NULL)
		return -1;
	return rc == 0 ? 0 : 1;
}

int
jobs_tick(struct db *db, struct cfg *cfg, time_t now,
    const struct job *const *list, size_t n, struct str *report)
{
	struct arena	*a = arena_new();
	const char	*p[1];
	char		 now_ts[21], due[21];
	size_t		 i;
	int		 locked, done, rc, failed = 0;

	jobs_format_time(now, now_ts);
	for (i = 0; i < n && failed >= 0; i++) {
		arena_reset(a);
		jobs_format_time(job_slot(list[i], now), due);
		if ((done = done_for(db, a, list[i], due)) != 0) {
			failed = done == -1 ? -1 : failed;
			continue;
		}
		if ((locked = lock_job(db, a, list[i])) != 1) {
			if (locked == 0)
				str_printf(report, "%s: running in another "
				    "tick; skipped\n", list[i]->name);
			failed = locked == -1 ? -1 : failed;
			continue;
		}
		/* Another tick may have finished it before we had the lock. */
		if ((done = done_for(db, a, list[i], due)) == 0) {
			rc = run_one(db, a, cfg, list[i], now, now_ts, due);
			if (rc == -1)
				failed = -1;
			else {
				failed += rc;
				str_printf(report, "%s: %s\n", list[i]->name,
				    rc == 0 ? "ok" : "failed");
			}
		} else if (done == -1)
			failed = -1;
		p[0] = list[i]->name;
		if (db_exec(db, a, &q_unlock, p) == NULL)
			failed = -1;
	}
	arena_free(a);
	return failed;
}

/* The last run of each job from q_last, as {name: run}. */
static json_t *
last_runs(PGresult *res)
{
	json_t	*out = json_object(), *counts;
	int	 r;

	for (r = 0; r < PQntuples(res); r++) {
		counts = json_loads(PQgetvalue(res, r, 4), 0, NULL);
		json_object_set_new(out, PQgetvalue(res, r, 0), json_pack(
		    "{s:s, s:o, s:s, s:o, s:o, s:s}",
		    "started_at", PQgetvalue(res, r, 1),
		    "finished_at", PQgetisnull(res, r, 2) ? json_null() :
		    json_string(PQgetvalue(res, r, 2)),
		    "outcome", PQgetvalue(res, r, 3),
		    "counts", counts != NULL ? counts : json_object(),
		    "message", PQgetisnull(res, r, 5) ? json_null() :
		    json_string(PQgetvalue(res, r, 5)),
		    "due_at", PQgetvalue(res, r, 6)));
	}
	return out;
}

json_t *
jobs_status(struct db *db, struct arena *a, time_t now)
{
	json_t		*list, *last, *run;
	PGresult	*res;
	char		 next[21];
	size_t		 i;

	if ((res = db_exec(db, a, &q_last, NULL)) == NULL)
		return NULL;
	last = last_runs(res);
	list = json_array();
	for (i = 0; i < njobs; i++) {
		jobs_format_time(job_slot(&jobs[i], now) + jobs[i].period,
		    next);
		run = json_object_get(last, jobs[i].name);
		json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:O}",
		    "name", jobs[i].name, "schedule", jobs[i].schedule,
		    "next_slot", next, "last_run", run != NULL ? run :
		    json_null()));
	}
	json_decref(last);
	return list;
}
