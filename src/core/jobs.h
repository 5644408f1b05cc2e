/* jobs.h: the scheduled jobs infrpoolctl tick runs, each under its own lock */
#ifndef IP_JOBS_H
#define IP_JOBS_H

#include <stddef.h>
#include <time.h>

#include <jansson.h>

struct arena;
struct cfg;
struct db;
struct str;

/* What a job gets for one run. */
struct job_ctx {
	struct db		*db;
	struct arena		*a;
	struct cfg		*cfg;
	time_t			 now;	/* the tick's clock: a job reads time only here */
	const char		*now_ts;	/* the same, "YYYY-MM-DDTHH:MM:SSZ", for SQL */
	json_t			*counts;	/* what the run did, {"voided": 3}: set by the job */
	const char		*message;	/* why it failed, when not the database */
};

/* A job: its name, its schedule (a period and an offset into it), its work. */
struct job {
	const char	*name;
	const char	*schedule;	/* as people read it: "every minute" */
	long		 period;	/* seconds */
	long		 offset;	/* seconds into each period */
	int		(*run)(struct job_ctx *);	/* 0, or -1 (logged) */
};

extern const struct job	 jobs[];
extern const size_t	 njobs;

/* The job called name, or NULL. */
const struct job	*job_find(const char *name);

/* Parse "YYYY-MM-DDTHH:MM:SSZ" (UTC) into *t; 0 or -1. */
int	jobs_parse_time(const char *s, time_t *t);
/* Format t as "YYYY-MM-DDTHH:MM:SSZ" into buf (at least 21 bytes). */
void	jobs_format_time(time_t t, char buf[21]);
/* The start of the slot of job j that now falls in. */
time_t	job_slot(const struct job *j, time_t now);

/*
 * Run each job of list (n of them) that is due at now: not finished well
 * for its current slot yet, and not running in another tick (each job
 * takes its own session-level advisory lock, then looks again). Each run
 * is recorded in job_runs; a failing job is logged and stays due, and the
 * others still run. One line per job run (or skipped because it runs
 * elsewhere) is added to report. Returns the number of jobs that failed,
 * or -1 when the database could not be used at all.
 */
int	jobs_tick(struct db *, struct cfg *, time_t now,
	    const struct job *const *list, size_t n, struct str *report);

/*
 * Every job with its schedule, its next slot after now and its last run
 * ({started_at, finished_at, outcome, counts, message} or null), as a JSON
 * array the caller owns; NULL on error.
 */
json_t	*jobs_status(struct db *, struct arena *, time_t now);

#endif
