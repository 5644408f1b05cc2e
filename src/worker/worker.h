/* worker.h: the worker's shared state: settings, transfers, the poll, jobs */
#ifndef IP_WORKER_H
#define IP_WORKER_H

#include <sys/queue.h>

#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <jansson.h>

#include "str.h"

struct cfg;
struct job;
struct xfer;

TAILQ_HEAD(jobs, job);
TAILQ_HEAD(xfers, xfer);

struct worker {
	struct event_base	*base;
	struct cfg		*cfg;
	CURLM			*multi;
	struct event		*curl_timer;
	struct xfers		 xfers;		/* every transfer not yet freed */

	/* Settings: [worker] and the command line. */
	char			*platform;	/* no trailing '/' */
	char			*upstream;	/* no trailing '/' */
	char			*platform_auth;	/* "Authorization: Bearer …" */
	char			*upstream_auth;	/* NULL: no upstream key */
	int			 has_token;
	long long		 concurrency;
	long long		 check_ms;	/* /healthz this often */
	long long		 drain_ms;	/* SIGTERM: let jobs finish */
	long long		 request_ms;	/* one upstream call */
	long long		 poll_ms;	/* one poll, hold included */

	/* The long-poll (poll.c). */
	struct xfer		*poll;		/* the open poll, or NULL */
	struct event		*poll_timer;	/* the next poll */
	struct str		 poll_in;	/* the answer being read */
	int			 poll_free;	/* "free" of the open poll */
	long long		 backoff_ms;	/* 0: the last poll worked */
	int			 failures;	/* polls failed in a row */
	int			 polled_ok;	/* a poll worked once */
	long long		 rtt_ms;	/* -1: not measured yet */

	/* The platform's /healthz (main.c). */
	struct xfer		*health;
	struct event		*health_timer;
	int			 reachable;	/* -1 unknown, 0, 1 */

	/* Jobs (job.c). */
	struct jobs		 jobs;
	int			 njobs;

	/* Stopping (main.c). */
	int			 stopping;	/* 1: draining, 2: ending jobs */
	struct event		*drain_timer;
	struct event		*sigterm, *sigint;
};

extern struct worker	*worker;	/* the one worker of this process */

/* Polls back off from 0.5 s to 30 s, jittered; a refused token waits 60 s. */
#define BACKOFF_MIN_MS		500
#define BACKOFF_MAX_MS		30000
#define REFUSED_RETRY_MS	60000
#define MAX_ANSWER		(64 * 1024 * 1024)	/* a poll or model answer */
#define MAX_EVENT		(4 * 1024 * 1024)	/* one SSE event */

/* main.c: HTTP calls through libcurl's multi interface on our loop. */
struct xfer_cb {
	/* Body bytes; return 0 to go on or -1 to abort the transfer. */
	int	(*on_data)(struct xfer *, const char *, size_t, void *arg);
	/* The end: CURLE_OK or why not. Never called after xfer_cancel(). */
	void	(*on_done)(struct xfer *, CURLcode, long status, void *arg);
};

/*
 * Start a POST of len bytes of body (copied), or a GET when body is NULL.
 * The transfer owns headers (freed with it). Returns NULL on failure, with
 * headers freed. The transfer is freed after on_done or after xfer_cancel.
 */
struct xfer	*xfer_start(const char *url, struct curl_slist *headers,
		    const char *body, size_t len, long timeout_ms,
		    const struct xfer_cb *, void *arg);
void		 xfer_cancel(struct xfer *);
CURL		*xfer_easy(struct xfer *);

/*
 * Headers for a call with a JSON body, a bearer line (may be NULL) and
 * accept as the Accept value. Heap-owned: give it to xfer_start.
 */
struct curl_slist *worker_headers(const char *auth, const char *accept);

/* A random delay within ±25% of ms. */
long long	 jitter(long long ms);

/* An evtimer for ms milliseconds from now. */
void		 timer_in(struct event *, long long ms);

/* A job was forgotten: end the drain when it was the last, or poll again. */
void		 worker_job_gone(void);

/* poll.c: the one long-poll for jobs. */
void		 poll_start(void);
void		 poll_stop(void);
void		 poll_slot_freed(void);
void		 poll_note_post_rtt(CURL *);

/* job.c: jobs from a poll answer, their upstream calls and results. */
void		 job_start(json_t *spec);
void		 job_end_all(const char *reason);
void		 job_free_all(void);

#endif
