/* ctl_jobs.c: infrpoolctl tick (run what is due) and infrpoolctl jobs */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arena.h"
#include "ctl.h"
#include "db.h"
#include "jobs.h"
#include "str.h"

/*
 * Read [--now T] from argv[1..]; the clock in *now (the real one without
 * it) and the index of the first argument after it. -1 on a bad --now.
 */
static int
read_now(int argc, char **argv, const char *cmd, time_t *now, int *first)
{
	*now = time(NULL);
	*first = 1;
	if (argc > 1 && strcmp(argv[1], "--now") == 0) {
		if (argc < 3 || jobs_parse_time(argv[2], now) == -1) {
			fprintf(stderr, "infrpoolctl: %s: --now takes a UTC time"
			    " as 2027-03-01T04:00:00Z\n", cmd);
			return -1;
		}
		*first = 3;
	}
	return 0;
}

/*
 * infrpoolctl tick [--now T] [JOB…]: run every job that is due (or those
 * named), once a minute from cron or a systemd timer. Exit 0 when each
 * ran well or was not due, 1 when one failed or the database did, 2 on
 * usage (an unknown job: nothing runs).
 */
int
ctl_tick(struct ctl *ctl, int argc, char **argv)
{
	const struct job	**list;
	struct str		 report = STR_INIT;
	time_t			 now;
	size_t			 n = 0, i;
	int			 first, k, rc;

	if (read_now(argc, argv, "tick", &now, &first) == -1)
		return 2;
	if ((list = calloc(njobs + (size_t)argc, sizeof(*list))) == NULL)
		abort();
	for (k = first; k < argc; k++)
		if ((list[n++] = job_find(argv[k])) == NULL) {
			fprintf(stderr, "infrpoolctl: tick: no job '%s' "
			    "(infrpoolctl jobs lists them)\n", argv[k]);
			free(list);
			return 2;
		}
	if (n == 0)
		for (i = 0; i < njobs; i++)
			list[n++] = &jobs[i];
	rc = jobs_tick(ctl->db, ctl->cfg, now, list, n, &report);
	fputs(str_cstr(&report), stdout);
	if (rc == -1)
		fprintf(stderr, "infrpoolctl: tick: %s\n", db_error(ctl->db));
	str_free(&report);
	free(list);
	return rc == 0 ? 0 : 1;
}

/* Print one job of jobs_status as a line. */
static void
print_job(json_t *j)
{
	json_t	*last = json_object_get(j, "last_run");
	char	*counts;

	printf("%-16s %-20s next %s", json_string_value(json_object_get(j,
	    "name")), json_string_value(json_object_get(j, "schedule")),
	    json_string_value(json_object_get(j, "next_slot")));
	if (json_is_null(last)) {
		puts("  never run");
		return;
	}
	counts = json_dumps(json_object_get(last, "counts"), JSON_COMPACT |
	    JSON_SORT_KEYS);
	printf("  last %s %s %s\n", json_string_value(json_object_get(last,
	    "started_at")), json_string_value(json_object_get(last,
	    "outcome")), counts != NULL ? counts : "{}");
	free(counts);
}

/*
 * infrpoolctl jobs [--now T]: every job with its schedule, its next slot
 * and its last run. Exit 0, 1 when the database fails, 2 on usage.
 */
int
ctl_jobs(struct ctl *ctl, int argc, char **argv)
{
	struct arena	*a;
	json_t		*list;
	time_t		 now;
	size_t		 i;
	int		 first;

	if (read_now(argc, argv, "jobs", &now, &first) == -1)
		return 2;
	if (first < argc) {
		fprintf(stderr, "usage: infrpoolctl jobs [--now T]\n");
		return 2;
	}
	a = arena_new();
	if ((list = jobs_status(ctl->db, a, now)) == NULL) {
		fprintf(stderr, "infrpoolctl: jobs: %s\n", db_error(ctl->db));
		arena_free(a);
		return 1;
	}
	for (i = 0; i < json_array_size(list); i++)
		print_job(json_array_get(list, i));
	json_decref(list);
	arena_free(a);
	return 0;
}
