/* relay.h: the relay's shared state: settings, transfers, nodes, requests */
#ifndef IP_RELAY_H
#define IP_RELAY_H

#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>

struct cfg;

/* Settings from [relay] and [internal]. */
struct relay_cfg {
	const char	*app_url;		/* the app's internal listener */
	const char	*secret;		/* [internal] secret */
	long long	 keepalive_ms;		/* ": keep-alive" while silent */
	long long	 failover;		/* extra attempts before the first byte */
	long long	 first_byte_ms;		/* a stream's silence before its first byte */
	long long	 answer_ms;		/* a whole (non-streamed) answer's wait */
	long long	 request_ms;		/* whole upstream call */
	size_t		 max_body;		/* a client request body */
	size_t		 out_high;		/* pause upstream above this backlog */
	long long	 stall_ms;		/* cut a client that stays above it */
	long long	 breaker_failures;	/* failures within the window that park */
	long long	 breaker_window_ms;
	long long	 breaker_park_ms;
	long long	 poll_hold_ms;		/* a worker's long-poll is held this long */
	long long	 worker_idle_ms;	/* a job silent this long has failed */
	long long	 report_ms;		/* node state to the app this often */
	int		 allow_private;		/* endpoints may be loopback/private */
};

struct node_state;

struct relay {
	struct event_base	*base;
	struct evhttp		*http;
	struct cfg		*cfg;
	struct relay_cfg	 rc;
	CURLM			*multi;
	struct event		*curl_timer;
	struct node_state	*nodes;		/* hash table by node id */
	size_t			 nnodes, nodecap;
	int64_t			 started_ms;
	unsigned long long	 requests, active;
};

extern struct relay	*relay;		/* the one relay of this process */

/* upstream.c: HTTP calls through libcurl's multi interface on our loop. */
struct xfer;

struct xfer_cb {
	/* The status line arrived (before any body byte). */
	void	(*on_status)(struct xfer *, long status, void *arg);
	/* Body bytes; return 0 to go on or -1 to abort the transfer. */
	int	(*on_data)(struct xfer *, const char *, size_t, void *arg);
	/* One response header line (name and value trimmed); may be NULL. */
	void	(*on_header)(struct xfer *, const char *name, const char *value,
		    void *arg);
	/* The end: CURLE_OK or why not. Never called after xfer_cancel(). */
	void	(*on_done)(struct xfer *, CURLcode, long status, void *arg);
};

int		 upstream_init(struct relay *);
void		 upstream_free(struct relay *);
struct xfer	*xfer_post(const char *url, struct curl_slist *headers,
		    const char *body, size_t len, long timeout_ms,
		    const struct xfer_cb *, void *arg);
struct xfer	*xfer_post_endpoint(const char *url, struct curl_slist *headers,
		    const char *body, size_t len, long timeout_ms,
		    const struct xfer_cb *, void *arg);
void		 xfer_cancel(struct xfer *);
void		 xfer_pause(struct xfer *, int paused);

/* pick.c: live node state, the breaker and the choice among candidates. */
struct candidate {
	int64_t		 node_id;
	const char	*connection;		/* "endpoint" | "worker" */
	const char	*supply_type;
	const char	*upstream_model;
	const char	*base_url;
	const char	*api_token;
	long long	 capacity;
	long long	 health;		/* permille */
	int		 tried;
};

enum outcome { OUTCOME_SUCCESS, OUTCOME_FAILURE, OUTCOME_NEUTRAL };

typedef void (*node_fn)(int64_t id, long long inflight, int parked, void *arg);

struct candidate	*pick_next(struct candidate *, size_t n);
void			 node_begin(int64_t node_id);
void			 node_end(int64_t node_id, enum outcome);
long long		 node_inflight(int64_t node_id);
const char		*outcome_name(enum outcome);
void			 node_foreach(node_fn, void *arg);

/* appcall.c: the app's internal API. */
typedef void (*admit_fn)(long status, json_t *body, const char *retry_after,
    void *arg);
int	app_call(const char *path, json_t *req, admit_fn, void *arg);
int	app_admit(json_t *req, admit_fn, void *arg);
void	app_settle(json_t *req);

/* infer.c: one inference request from arrival to settlement. */
struct infer;
void	infer_handle(struct evhttp_request *, void *arg);
/* What a worker sends back for the job of in (workers.c calls these). */
void	infer_job_status(struct infer *, long status);
int	infer_job_event(struct infer *, const char *data, size_t len);
void	infer_job_done(struct infer *, const char *error, json_t *usage);
int	infer_job_backlogged(struct infer *);

/* workers.c: worker nodes: long-polls, jobs, result batches. */
struct job;
int		 workers_init(struct relay *);
void		 workers_free(void);
int		 worker_live(int64_t node_id);
struct job	*job_dispatch(int64_t node_id, const char *endpoint, int stream,
		    json_t *body, struct infer *);
void		 job_cancel(struct job *);
void		 job_resume(struct job *);
void		 worker_handle(struct evhttp_request *, void *arg);

/* main.c */
void	req_nodelay(struct evhttp_request *);
void	send_json_error(struct evhttp_request *, int status, const char *type,
	    const char *code, const char *param, const char *message);

#endif
