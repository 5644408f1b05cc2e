/* job.h: jobs from a poll answer, their model server calls and batches */
#ifndef IP_JOB_H
#define IP_JOB_H

#include <curl/curl.h>
#include <jansson.h>

/*
 * What job.c tells the files above it, filled with designated
 * initializers. Every member may be NULL.
 */
struct job_hooks {
	/* A job was forgotten (its end is logged); job_count() is updated. */
	void (*gone)(void);
	/*
	 * The relay answered a batch with 200; easy (owned by the transfer,
	 * valid during the call) holds the timings of that POST.
	 */
	void (*post_rtt)(CURL *easy);
};

/* Remember hooks (copied) for every job that follows. Call once first. */
void job_init(const struct job_hooks *hooks);

/*
 * Run one job of a poll answer, {"id", "endpoint", "stream", "body"}
 * (borrowed; nothing of it is kept). A job that cannot run still reports
 * a done batch with an error; one without a usable id is logged and
 * skipped.
 */
void job_start(json_t *spec);

/* How many jobs are known: running, or delivering their last batches. */
int job_count(void);

/*
 * Stop every model server call still running; each job then delivers a
 * done batch with reason (a static string) as its error.
 */
void job_end_all(const char *reason);

/* Free every job without sending anything or calling a hook. */
void job_free_all(void);

#endif
