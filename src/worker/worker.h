/* worker.h: the worker's settings and loop, shared by every file of it */
#ifndef IP_WORKER_H
#define IP_WORKER_H

#include <event2/event.h>

struct cfg;
struct xfer_pool;

/*
 * The one worker of this process: what conf.c read and the loop main.c
 * set up. Jobs keep their own state in job.c and the poll in poll.c.
 */
struct worker {
	struct event_base *base;
	struct xfer_pool  *pool; /* every HTTP call */
	struct cfg	  *cfg;

	/* Settings: [worker] and the command line. */
	char	 *platform;	 /* no trailing '/' */
	char	 *upstream;	 /* no trailing '/' */
	char	 *platform_auth; /* "Authorization: Bearer …" */
	char	 *upstream_auth; /* NULL: no upstream key */
	int	  has_token;
	long long concurrency;
	long long check_ms;   /* /healthz this often */
	long long drain_ms;   /* SIGTERM: let jobs finish */
	long long request_ms; /* one upstream call */
	long long poll_ms;    /* one poll, hold included */

	int stopping; /* 1: draining, 2: ending jobs */
};

extern struct worker *const worker; /* the one worker of this process */

#define MAX_ANSWER (64 * 1024 * 1024) /* a poll or model answer */
#define MAX_EVENT (4 * 1024 * 1024)   /* one SSE event */

/*
 * conf.c: read the settings of worker->cfg (which the caller opened) into
 * worker, command-line values first (platform, upstream: NULL when not
 * given; concurrency: 0 when not given), and start the log. Returns 0, or
 * -1 after printing the error. The strings it sets are heap-owned and
 * freed by conf_free().
 */
int conf_read(const char *platform, const char *upstream,
	      long long concurrency);

/* conf.c: free the settings conf_read() set (not worker->cfg). */
void conf_free(void);

#endif
