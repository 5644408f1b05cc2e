/* relay.h: the relay's shared state and the faces of its pieces */
#ifndef IP_RELAY_H
#define IP_RELAY_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>

/*
 * The pieces, from the bottom up (a piece calls only those above it in
 * this list, and reaches a higher one only through a callback table it is
 * handed):
 *
 *   conf.c      the one struct relay and its settings
 *   reply.c     headers, JSON bodies and OpenAI-shaped errors
 *   pick.c      live node state, the breaker, the choice among candidates
 *   queue.c     requests waiting for a free slot, a FIFO per model
 *   appcall.c   calls to the app's internal API
 *   settle.c    finished requests to the app in batches
 *   leases.c    each API key's lease: a budget held by the app, spent here
 *   models.c    each model's candidates, cached until a change
 *   workers.c   worker nodes: token checks, long-polls, jobs, batches
 *   feed.c      the app's change feed: what to forget, within a second
 *   consumer.c  the consumer's side of a request (infer.h)
 *   admit.c     a request's admission: candidates, worst case, lease
 *   upstream.c  the node's side of a request: events, counting, answers
 *   infer.c     one request: arrival, checks, admission, failover
 *   main.c      the program: options, loop, /healthz
 */

struct cfg;
struct key;
struct xfer_pool;

/* Settings from [relay] and [internal]; durations in milliseconds. */
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
	long long	 lease_want;		/* the budget a lease asks for */
	long long	 lease_idle_ms;		/* an idle lease is closed after */
	long long	 lease_requests;	/* requests a lease has room for */
	long long	 candidates_ms;		/* a model's candidates kept at most */
	long long	 settle_ms;		/* a settlement waits for its batch */
	long long	 settle_batch;		/* this many waiting: a batch goes at once */
	long long	 change_poll_ms;	/* the change feed is asked this often */
	long long	 queue_max;		/* requests waiting per model */
	long long	 queue_timeout_ms;	/* the longest wait for a slot */
};

struct node_state;

struct relay {
	struct event_base	*base;
	struct evhttp		*http;
	struct cfg		*cfg;
	struct relay_cfg	 rc;
	/*
	 * Calls to the app and calls to suppliers' endpoints never share a
	 * connection: a node's URL naming the app's internal listener must
	 * not ride a connection the relay opened for itself.
	 */
	struct xfer_pool	*app_pool;
	struct xfer_pool	*node_pool;	/* public addresses only, unless allowed */
	struct node_state	*nodes;		/* hash table by node id (pick.c) */
	size_t			 nnodes, nodecap;
	int64_t			 started_ms;
	unsigned long long	 requests, active;
};

/* conf.c */
extern struct relay	*relay;		/* the one relay of this process */

/*
 * Read [relay] and [internal] from c into rc (durations in ms). Returns 0,
 * or -1 after printing the first bad setting to stderr. Strings in rc are
 * owned by c.
 */
int	relay_config(struct cfg *c, struct relay_cfg *rc);

/* reply.c */
/* Content-Type type, nosniff and no-store on req's answer. */
void	reply_headers(struct evhttp_request *, const char *type);
/* Send status with reason and the n bytes at p as the whole body. */
void	reply_text(struct evhttp_request *, int status, const char *reason,
	    const char *p, size_t n);
/* Send v (borrowed) as a JSON body with status and reason. */
void	reply_json(struct evhttp_request *, int status, const char *reason,
	    json_t *v);
/* Send an OpenAI-shaped error; param may be NULL. Messages are ours. */
void	reply_error(struct evhttp_request *, int status, const char *type,
	    const char *code, const char *param, const char *message);
/*
 * Turn Nagle off on req's connection: a stream's chunks and a long-poll's
 * job leave as soon as they are written, not after the web server's
 * delayed acknowledgement of the previous write (milliseconds each).
 */
void	reply_nodelay(struct evhttp_request *);

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
	int		 live;			/* set by the caller before a pick */
	int		 tried;
};

enum outcome { OUTCOME_SUCCESS, OUTCOME_FAILURE, OUTCOME_NEUTRAL };

typedef void (*node_fn)(int64_t id, long long inflight, int parked, void *arg);

/*
 * The candidate of the n at c to try next: live, not tried, not parked by
 * the breaker (or due its one probe), with the most spare capacity; ties
 * go to health, then chance. Marks it tried. NULL when none is left.
 */
struct candidate	*pick_next(struct candidate *c, size_t n);
/* A call on node id begins: one more in flight. */
void			 node_begin(int64_t node_id);
/* A call on node id ended with outcome o: the breaker counts it. */
void			 node_end(int64_t node_id, enum outcome o);
/* Calls in flight on node id now (0 for a node not seen yet). */
long long		 node_inflight(int64_t node_id);
/* Node id left its model's candidates (suspended, deleted, …). */
void			 node_gone(int64_t node_id);
/* Did node id leave at or after ms (util_now_ms() time)? */
int			 node_gone_since(int64_t node_id, int64_t ms);
/* "success", "failure" or "neutral". */
const char		*outcome_name(enum outcome);
/* Call fn for every node seen, with its in-flight count and breaker. */
void			 node_foreach(node_fn fn, void *arg);

/* What the candidates offer now, untried ones only (pick_avail). */
enum pick_avail {
	PICK_NONE,	/* none live and unparked: nothing to wait for */
	PICK_BUSY,	/* some live and unparked, every one of them full */
	PICK_FREE,	/* one could take a call now */
};
enum pick_avail		 pick_avail(const struct candidate *c, size_t n);

/*
 * What pick.c tells the piece above it (the queue), filled with
 * designated initializers.
 */
struct pick_hooks {
	/* A call on node id ended: one of its slots is free. Must not call
	 * back into pick.c's callers synchronously (node_end runs inside
	 * a request's own bookkeeping). */
	void	(*slot_freed)(int64_t node_id);
};
/* Remember the hooks (borrowed, static); once, before the loop. */
void			 pick_hooks_set(const struct pick_hooks *);

/*
 * queue.c: requests waiting for a free slot. When every live, unparked
 * candidate of a request is full, it waits in its model's FIFO (at most
 * queue_max of them) for up to queue_timeout. A slot freed on a node
 * (node_end) retries, on the next turn of the loop, the first request of
 * each model's queue that could use that node.
 */
struct qentry;

/* What the queue asks of its requests' owner, filled with designated
 * initializers. arg is the one given to queue_add(). */
struct queue_cb {
	/* Could the request use a slot on node id? */
	int	(*can_use)(void *arg, int64_t node_id);
	/* A slot it could use freed: try again. It stays in place unless
	 * the callback takes it out with queue_remove(). */
	void	(*retry)(void *arg);
	/* It waited queue_timeout; it is out of the queue already. */
	void	(*expired)(void *arg);
	/* The relay is stopping (queue_free): out of the queue already;
	 * free it without answering. */
	void	(*dropped)(void *arg);
};

/* Remember cb (borrowed, static) and hook into pick.c; once, before the
 * loop. */
void		 queue_init(const struct queue_cb *cb);
/*
 * Put arg at the tail of model's queue (model is copied). Returns its
 * place, owned by queue.c until queue_remove() or expired(); NULL when
 * the queue is full.
 */
struct qentry	*queue_add(const char *model, void *arg);
/* Take e out of its queue (NULL is fine); no callback follows. */
void		 queue_remove(struct qentry *e);
/* Requests waiting now, all models. */
size_t		 queue_waiting(void);
/*
 * At exit, before the HTTP server frees its connections: drop every
 * waiting request (dropped()) and free the queues.
 */
void		 queue_free(void);

/* appcall.c: the app's internal API (docs/internal.md). */
/*
 * The app's answer: status (0 when the app could not be reached or did not
 * answer JSON), its JSON body (borrowed, NULL with status 0) and its
 * Retry-After header or NULL.
 */
typedef void (*app_fn)(long status, json_t *body, const char *retry_after,
    void *arg);
/*
 * POST req (borrowed) to the app's internal path; done follows once.
 * Returns 0, or -1 when the call could not start (done never follows).
 */
int	app_call(const char *path, json_t *req, app_fn done, void *arg);

/* settle.c: finished requests to the app in batches (docs/internal.md). */
struct lease;
/* Who hears of each request's charge, filled with designated initializers. */
struct settle_hooks {
	/*
	 * The request settled for owner (its lease) with reserved of its
	 * budget is charged: the app's answer, or reserved when the request
	 * could not be settled (nothing is billed, nothing goes back).
	 */
	void	(*settled)(void *owner, int64_t reserved, int64_t charged);
};
/* Remember the hooks; once, before any request. */
void	settle_init(const struct settle_hooks *);
/*
 * Settle a finished request: req (taken) is its element of a batch; owner
 * is the lease it was admitted on with reserved of its budget, told of
 * the charge through the hook once the app has answered.
 */
void	settle_add(json_t *req, void *owner, int64_t reserved);
/*
 * Close lease id with the next batch: the app releases what it holds
 * beyond keep (the reservations of requests still in flight); keep 0
 * closes it for good.
 */
void	settle_close(int64_t lease_id, int64_t keep);
/*
 * Stop rl's loop once every finished request is settled, or after at most
 * five seconds (a signal asked the relay to stop).
 */
void	settle_flush(struct relay *rl);
/* Free the batches not sent (at exit; the reaper voids their leases). */
void	settle_free(void);

/* leases.c: each API key's lease. */
struct lease {
	int64_t		 id;
	int64_t		 user_id, key_id;
	int64_t		 budget;
	int64_t		 remaining;	/* not reserved by a request */
	int64_t		 reserved;	/* by requests not settled yet */
	int64_t		 until_ms;	/* admits until then */
	int64_t		 born_ms;	/* granted then */
	int64_t		 used_ms;	/* the last admission */
	long long	 inflight;	/* requests not settled yet */
	long long	 per_minute;	/* the key's limit; 0: none */
	long long	 default_max_tokens, max_tokens_cap;
	int		 retired;	/* admits no more */
	struct key	*key;		/* NULL once retired */
	struct lease	*next;		/* the retired list */
};

/*
 * status 200 with the lease; else the app's refusal (401, 402: its body
 * in refusal, borrowed) or 0 when the app could not be asked.
 */
typedef void (*lease_fn)(void *arg, long status, json_t *refusal,
    struct lease *);
/*
 * The lease of the API key secret, with at least need of its budget not
 * reserved: the current one, or a new one from the app (then fn follows
 * later). client_ip is passed on for the app's records.
 */
void	leases_get(const char *secret, const char *client_ip, int64_t need,
	    lease_fn fn, void *arg);
/* Is l's key within its per-minute limit? 0, or Retry-After seconds. */
int	leases_minute(struct lease *l);
/*
 * Reserve amount of l's budget for a request and count it against its
 * key's per-minute limit: 0, or -1 when the lease cannot.
 */
int	leases_take(struct lease *l, int64_t amount);
/* A request of l settled: charged of its reserved amount was spent. */
void	leases_done(struct lease *l, int64_t reserved, int64_t charged);
/* Retire the leases of key id, of user id, or of every key. */
void	leases_forget_key(int64_t key_id);
void	leases_forget_user(int64_t user_id);
void	leases_forget_all(void);
/* Retire every lease and ask for no new one: the relay is stopping. */
void	leases_stop(void);
/* Drop keys no longer used; retire leases whose window ended. */
void	leases_sweep(void);
/* Free every key and lease (at exit). */
void	leases_free(void);

/* models.c: each model's candidates (docs/internal.md). */
/*
 * status 200 with the app's answer {"model","version","candidates"}, or
 * the app's refusal (404 model_not_found) with its body, both borrowed;
 * 0 when the app could not be asked.
 */
typedef void (*models_fn)(void *arg, long status, json_t *answer);
/* Hand fn what is known of model name: at once, or after asking the app. */
void	models_get(const char *name, models_fn fn, void *arg);
/* Forget a model, every model node id serves, or all of them. */
void	models_forget(const char *name);
void	models_forget_node(int64_t node_id);
void	models_forget_all(void);
/* Drop the models no longer fresh that nobody waits for. */
void	models_sweep(void);
/* Free every model (at exit). */
void	models_free(void);

/* workers.c: worker nodes: long-polls, jobs, result batches. */
struct job;

/*
 * What a job tells the request it serves, filled with designated
 * initializers. None follows job_cancel().
 */
struct job_cb {
	/* The model server's status, from the first batch. */
	void	(*on_status)(void *arg, long status);
	/* One event: a stream's data payload or a piece of a whole answer;
	 * -1 when it is malformed (the job then ends with on_done). */
	int	(*on_event)(void *arg, const char *data, size_t len);
	/* The last batch: error is NULL when it went well; usage (borrowed)
	 * is the model server's, or NULL. */
	void	(*on_done)(void *arg, const char *error, json_t *usage);
	/* Does the consumer lag so far that the worker should wait? */
	int	(*backlogged)(void *arg);
};

/* Set up the worker routes and timers on rl. Returns 0. */
int		 workers_init(struct relay *rl);
/* Free every worker node, job and token check. */
void		 workers_free(void);
/* Has node id's worker polled lately (so it can take a job)? */
int		 worker_live(int64_t node_id);
/*
 * Queue a job for node id's worker: endpoint ("chat", …), stream, and
 * body (borrowed, copied). cb and arg hear of it until job_cancel().
 * Returns the job, owned by workers.c.
 */
struct job	*job_dispatch(int64_t node_id, const char *endpoint, int stream,
		    json_t *body, const struct job_cb *cb, void *arg);
/* The request lets go of j (NULL is fine): the worker is told to stop. */
void		 job_cancel(struct job *j);
/* The consumer caught up: answer j's batch POST held for them. */
void		 job_resume(struct job *j);
/* Forget the token checks of node id (-1: of every node). */
void		 workers_forget_node(int64_t node_id);
/* POST /v1/worker/poll and /v1/worker/jobs/<id> (docs/worker-protocol.md). */
void		 worker_handle(struct evhttp_request *, void *arg);

/* feed.c: the app's change feed. */
/* Start polling the feed on rl's loop; 0 or -1. */
int	feed_init(struct relay *rl);
void	feed_free(void);

/* infer.c */
/* POST /v1/chat/completions, /v1/completions, /v1/embeddings; arg is
 * "chat", "completions" or "embeddings". */
void	infer_handle(struct evhttp_request *, void *arg);
/* Set up the request pieces' callback tables; call once before the loop. */
void	infer_init(void);
/* Refuse new requests from now on (503): the relay is stopping. */
void	infer_stop(void);
/*
 * End every admitted request in flight as cancelled, billed for what was
 * served (the relay is stopping and waited long enough).
 */
void	infer_cancel_all(void);

#endif
