/* infer.h: one inference request, shared by the relay's files */
#ifndef IP_INFER_H
#define IP_INFER_H

#include <sys/queue.h>

#include <stdint.h>

#include <curl/curl.h>
#include <event2/http.h>
#include <jansson.h>

#include "sse.h"
#include "str.h"

struct candidate;
struct job;
struct xfer;

struct infer {
	TAILQ_ENTRY(infer)	 entry;		/* every request (infer.c) */
	struct evhttp_request	*req;		/* NULL once the client left */
	struct evhttp_connection *conn;
	const char		*endpoint;	/* "chat" | "completions" | "embeddings" */
	const char		*path;		/* the upstream path */
	json_t			*body;		/* what the consumer sent */
	size_t			 body_len;
	const char		*model;		/* the public id (in body) */
	int			 stream, want_usage;
	/* admission */
	char			*key;		/* the bearer token, until admitted */
	char			*client_ip;
	struct lease		*lease;		/* NULL until admitted */
	int64_t			 reserved;	/* of the lease's budget */
	json_t			*pending;	/* a refusal waiting for the key's check */
	int			 pending_status;
	int			 lease_tries;	/* next leases asked for */
	int64_t			 admitted_ms;
	const char		*pending_retry;
	char			 id[32];	/* the task id, "t_…" */
	json_t			*admit;		/* the model's candidates answer */
	long long		 max_tokens;
	struct candidate	*cands;
	size_t			 ncands;
	/* the attempt in flight */
	struct candidate	*cur;
	int			 attempts;
	struct xfer		*x;		/* an endpoint call, or */
	struct job		*job;		/* a worker's job */
	struct qentry		*queued;	/* waiting for a slot (queue.c) */
	long			 up_status;
	struct str		 up_body;
	struct sse		 sse;
	int			 malformed;
	int			 done_seen, finished;
	int			 cut;		/* past max_tokens: cut there */
	/* what reached the consumer */
	int			 started, forwarded;
	long long		 counted_out;
	long long		 bytes_out;	/* text bytes forwarded */
	json_t			*usage;
	int64_t			 t0_ms, ttft_ms, last_out_ms;
	struct event		*keepalive, *first_byte, *stall;
	int			 paused;
};

/* consumer.c: the consumer's side: streaming out, back-pressure, leaving. */

/*
 * What the consumer's side asks of the request's owner (infer.c), filled
 * with designated initializers.
 */
struct consumer_hooks {
	/* Is an attempt in flight? */
	int	(*in_flight)(struct infer *);
	/* Is the request waiting for a free slot? */
	int	(*waiting)(struct infer *);
	/* Pause (1) or resume (0) the attempt while the consumer lags. */
	void	(*pause)(struct infer *, int paused);
	/* The consumer read too slowly for too long: end the request. */
	void	(*stalled)(struct infer *);
	/* The consumer hung up (in->req is NULL already). */
	void	(*left)(struct infer *);
};

/* Remember the owner's hooks; once, before any request. */
/*
 * body.c: check the body's fields the relay needs (in->body, in->endpoint)
 * and set in->model, in->stream and in->want_usage. NULL when fine, else
 * the message, with *param naming the field.
 */
const char *infer_check_body(struct infer *, const char **param);

void	consumer_init(const struct consumer_hooks *);
/*
 * Watch in's connection for the consumer leaving and set up its
 * keep-alive and stall timers (the keep-alive starts with
 * consumer_keepalive()).
 */
void	consumer_attach(struct infer *);
/* Stop watching and free the timers; the request is being freed. */
void	consumer_detach(struct infer *);
/* Start the keep-alive comments of a silent stream (": queued" while it
 * waits for a slot, ": keep-alive" while its node is silent). */
void	consumer_keepalive(struct infer *);
/*
 * Take the request out of our hands before its final reply (which may
 * free it and its connection at once). NULL when the consumer left.
 */
struct evhttp_request *consumer_take(struct infer *);
/* Send an OpenAI-shaped error, unless the consumer left. */
void	consumer_fail(struct infer *, int status, const char *code,
	    const char *msg);
/* Start the SSE reply once: headers go when the first event does. */
void	consumer_start_stream(struct infer *);
/* Write n bytes at p to the stream, pausing the attempt when they lag. */
void	consumer_send(struct infer *, const char *p, size_t n);
/* End a stream with an OpenAI-style error event. */
void	consumer_stream_error(struct infer *, const char *msg);
/* The same with the error's type and code. */
void	consumer_stream_fail(struct infer *, const char *type,
	    const char *code, const char *msg);
/* End a stream that went well with [DONE]. */
void	consumer_stream_end(struct infer *);

/* admit.c: admission by the model's candidates and the key's lease. */

/* What admission tells the request's owner (infer.c). */
struct admit_hooks {
	/* Reserved of a lease (in->lease set): make the first attempt. */
	void	(*admitted)(struct infer *);
	/* Refused and answered, or the consumer left: free it, unbilled. */
	void	(*refused)(struct infer *);
};

/* Remember the owner's hooks; once, before any request. */
void	admit_init(const struct admit_hooks *);
/*
 * Admit in: the model's candidates within its max_price, the worst case,
 * the key's per-minute limit and a lease with room for it. One of the
 * hooks follows, maybe at once.
 */
void	admit_start(struct infer *);

/* upstream.c: the node's side: events, counting, answers. */

/* Forget what a failed attempt left behind; ready the SSE parser. */
void	upstream_reset(struct infer *);
/* The node's status line. */
void	upstream_status(struct infer *, long status);
/*
 * Body bytes from the node: a stream's go through the SSE parser to the
 * consumer, a whole answer or an error body is gathered (bounded).
 * Returns 0, or -1 to abort the attempt.
 */
int	upstream_data(struct infer *, const char *p, size_t n);
/* One data payload of a stream (a worker's events come here). As above. */
int	upstream_event(struct infer *, const char *data, size_t len);
/*
 * Check the gathered whole answer, rewrite its model and send it. Returns
 * 0, or -1 (in->malformed set) when it is not an answer.
 */
int	upstream_answer(struct infer *);
/* Pass the node's own 4xx for the consumer's input on. */
void	upstream_reject(struct infer *);
/* Is status the consumer's own bad input (400, 422), not the node's fault? */
int	upstream_consumer_fault(long status);
/* The body for the node chosen (in->cur): a new reference. */
json_t	*upstream_json(struct infer *);
/* The relay's own estimate of the prompt's tokens: text bytes / 4. */
long long upstream_prompt_estimate(struct infer *);
/*
 * The node's reported count v (a usage member) when it is one: an integer
 * from 0 to 2^53; -1 for anything else (absent, negative, not an integer,
 * absurd), which is read as no report.
 */
long long upstream_usage_count(json_t *v);

#endif
