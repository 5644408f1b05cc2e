/* workers.c: worker nodes: node-token checks, long-polls, jobs, result batches */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>

#include "crypto.h"
#include "json.h"
#include "log.h"
#include "loop.h"
#include "relay.h"
#include "str.h"
#include "util.h"

#define LIVE_GRACE_MS	10000		/* a poll ended this recently: still live */
#define AUTH_CACHE_MS	30000
#define JOB_KEEP_MS	60000		/* a finished job answers "cancel" this long */
#define BATCH_MAX	(8 * 1024 * 1024)
#define SWEEP_MS	5000		/* forget finished jobs this often */

/* A job: one attempt of one consumer request on one worker node. */
struct job {
	char		 id[32];
	int64_t		 node_id;
	const struct job_cb *cb;	/* NULL once the request let go of it */
	void		*arg;		/* the request's */
	json_t		*msg;		/* {"id","endpoint","stream","body"} */
	int		 handed;	/* given to a poll */
	int		 next_seq;
	int		 over;		/* done or cancelled */
	int		 completed;	/* the worker sent its last batch */
	int64_t		 over_ms;
	struct evhttp_request *held;	/* a batch POST waiting for the consumer */
	struct event	*idle;		/* no batch for too long: the worker died */
	struct job	*qnext;		/* the node's queue */
	struct job	*next;		/* all jobs */
};

/* A worker node as the relay knows it. */
struct wnode {
	int64_t			 id;
	struct evhttp_request	*poll;		/* the open long-poll */
	long long		 free;
	struct event		*timer;		/* ends the poll */
	int64_t			 answered_ms;	/* when the last poll was answered */
	int64_t			 seen_ms;	/* when a poll was last open */
	long long		 rtt_ms;	/* -1: not measured */
	struct job		*qhead, *qtail;
	struct wnode		*next;
};

/* A node-token check remembered for a while (by the token's SHA-256). */
struct authc {
	char		 hash[65];
	int64_t		 node_id;	/* 0: refused */
	long		 status;	/* the app's answer */
	json_t		*error;		/* its error body when refused */
	int64_t		 until_ms;
	struct authc	*next;
};

/* A worker request waiting for the app to check its token. */
struct pending {
	struct evhttp_request	*req;
	char			 hash[65];
	struct str		 body;
	int			 is_poll;
	char			 job[32];
};

static struct wnode	*wnodes;
static struct job	*jobs;
static struct authc	*auths;
static struct event	*report_timer, *sweep_timer;
static unsigned long long job_serial;

/* The worker node id, made when first seen. */
static struct wnode *
wnode_get(int64_t id)
{
	struct wnode	*w;

	for (w = wnodes; w != NULL; w = w->next)
		if (w->id == id)
			return w;
	if ((w = calloc(1, sizeof(*w))) == NULL)
		abort();
	w->id = id;
	w->rtt_ms = -1;
	w->next = wnodes;
	wnodes = w;
	return w;
}

int
worker_live(int64_t id)
{
	struct wnode	*w;

	for (w = wnodes; w != NULL; w = w->next)
		if (w->id == id)
			return w->poll != NULL ||
			    util_now_ms() - w->seen_ms < LIVE_GRACE_MS;
	return 0;
}

/* Answer a worker request with a JSON value (takes the reference). */
static void
reply(struct evhttp_request *req, int status, json_t *v)
{
	reply_json(req, status, status == 200 ? "OK" : "Refused", v);
	json_decref(v);
}

/* End the node's open poll with the jobs queued for it (maybe none). */
static void
answer_poll(struct wnode *w)
{
	struct evhttp_request	*req = w->poll;
	struct job		*j;
	json_t			*list = json_array();

	if (req == NULL)
		return;
	w->poll = NULL;
	evtimer_del(w->timer);
	evhttp_connection_set_closecb(evhttp_request_get_connection(req),
	    NULL, NULL);
	while ((j = w->qhead) != NULL && (long long)json_array_size(list) < w->free) {
		w->qhead = j->qnext;
		if (w->qhead == NULL)
			w->qtail = NULL;
		j->handed = 1;
		json_array_append(list, j->msg);
	}
	w->answered_ms = w->seen_ms = util_now_ms();
	reply(req, 200, json_pack("{s:o, s:i}", "jobs", list, "poll_after_ms", 0));
}

/* The poll's hold ran out. */
static void
poll_expired(evutil_socket_t fd, short what, void *arg)
{
	answer_poll(arg);
}

/* The worker hung up on its poll. */
static void
poll_closed(struct evhttp_connection *c, void *arg)
{
	struct wnode		*w = arg;
	struct evhttp_request	*req = w->poll;

	w->poll = NULL;
	w->seen_ms = util_now_ms();
	evtimer_del(w->timer);
	/* A detached request is ours to finish (which frees it). */
	if (req != NULL && evhttp_request_get_connection(req) == NULL)
		evhttp_send_reply(req, 499, "Client Closed Request", NULL);
}

/* A poll from node id: hold it, or answer at once when jobs wait. */
static void
take_poll(struct evhttp_request *req, int64_t id, json_t *body)
{
	struct wnode	*w = wnode_get(id);
	json_t		*f = json_object_get(body, "free");

	if (f != NULL && (!json_is_integer(f) || json_integer_value(f) < 0)) {
		reply_error(req, 400, "invalid_request_error",
		    "invalid_request", "free", "'free' must be an integer >= 0.");
		return;
	}
	if (w->poll != NULL)
		answer_poll(w);		/* one poll per node: the old one ends */
	if (w->answered_ms > 0)
		w->rtt_ms = util_now_ms() - w->answered_ms;
	if (w->timer == NULL)
		w->timer = evtimer_new(relay->base, poll_expired, w);
	w->free = f ? json_integer_value(f) : 1;
	w->poll = req;
	w->seen_ms = util_now_ms();
	evhttp_connection_set_closecb(evhttp_request_get_connection(req),
	    poll_closed, w);
	if (w->qhead != NULL && w->free > 0)
		answer_poll(w);
	else
		loop_timer_in(w->timer, relay->rc.poll_hold_ms);
}

/* Find a job by id. */
static struct job *
job_find(const char *id)
{
	struct job	*j;

	for (j = jobs; j != NULL; j = j->next)
		if (strcmp(j->id, id) == 0)
			return j;
	return NULL;
}

/* Take a job out of its node's queue, if it is still there. */
static void
unqueue(struct job *j)
{
	struct wnode	*w = wnode_get(j->node_id);
	struct job	**pp;

	for (pp = &w->qhead; *pp != NULL; pp = &(*pp)->qnext)
		if (*pp == j) {
			*pp = j->qnext;
			break;
		}
	w->qtail = NULL;
	for (j = w->qhead; j != NULL; j = j->qnext)
		w->qtail = j;
}

struct job *
job_dispatch(int64_t node_id, const char *endpoint, int stream, json_t *body,
    const struct job_cb *cb, void *arg)
{
	struct wnode	*w = wnode_get(node_id);
	struct job	*j;
	char		 rnd[17];

	if ((j = calloc(1, sizeof(*j))) == NULL)
		abort();
	if (crypto_token_hex(rnd, sizeof(rnd), 8) == -1)
		abort();
	snprintf(j->id, sizeof(j->id), "j_%llx%s", ++job_serial, rnd);
	j->node_id = node_id;
	j->cb = cb;
	j->arg = arg;
	j->msg = json_pack("{s:s, s:s, s:b, s:O}", "id", j->id, "endpoint",
	    endpoint, "stream", stream, "body", body);
	j->next = jobs;
	jobs = j;
	if (w->qtail != NULL)
		w->qtail->qnext = j;
	else
		w->qhead = j;
	w->qtail = j;
	if (w->poll != NULL && w->free > 0)
		answer_poll(w);
	return j;
}

/*
 * A job whose worker went silent after its first batch (killed, cut off):
 * the request fails as if the connection had dropped.
 */
static void
job_idle(evutil_socket_t fd, short what, void *arg)
{
	struct job	*j = arg;

	if (j->cb != NULL && !j->completed) {
		log_warn("node %lld: job %s silent for %lld ms", (long long)j->node_id,
		    j->id, relay->rc.worker_idle_ms);
		j->completed = 1;
		j->cb->on_done(j->arg, "the worker went silent", NULL);
	}
}

/* Answer a batch POST: where the worker stands and whether to stop. */
static void
ack(struct evhttp_request *req, struct job *j)
{
	reply(req, 200, json_pack("{s:i, s:b}", "next_seq", j->next_seq,
	    "cancel", j->over && j->cb == NULL && !j->completed));
}

/*
 * The request let go of the job (the consumer left, the job timed out, or
 * it failed over): the worker is told to stop at its next POST.
 */
void
job_cancel(struct job *j)
{
	if (j == NULL)
		return;
	if (!j->handed)
		unqueue(j);
	j->cb = NULL;
	if (j->idle != NULL)
		evtimer_del(j->idle);
	if (!j->over) {
		j->over = 1;
		j->over_ms = util_now_ms();
	}
	if (j->held != NULL) {
		ack(j->held, j);
		j->held = NULL;
	}
}

/* The consumer caught up: answer the batch POST held for them. */
void
job_resume(struct job *j)
{
	if (j != NULL && j->held != NULL) {
		ack(j->held, j);
		j->held = NULL;
	}
}

/* Apply one batch in order; the HTTP status to answer with. */
static int
apply_batch(struct job *j, json_t *b, const char **msg)
{
	json_t		*ev, *e;
	json_int_t	 seq = json_integer_value(json_object_get(b, "seq"));
	const char	*err;
	size_t		 i;

	if (!json_is_integer(json_object_get(b, "seq")) || seq < 0 ||
	    !json_is_array(ev = json_object_get(b, "events"))) {
		*msg = "A batch needs 'seq' (an integer) and 'events' (an array).";
		return 400;
	}
	if (seq < j->next_seq || j->cb == NULL)
		return 200;		/* a retry, or nobody listens: ack only */
	if (seq > j->next_seq)
		return 409;
	j->next_seq++;
	if (j->idle == NULL &&
	    (j->idle = evtimer_new(relay->base, job_idle, j)) == NULL)
		abort();
	loop_timer_in(j->idle, relay->rc.worker_idle_ms);
	if (seq == 0)
		j->cb->on_status(j->arg, json_integer_value(json_object_get(b,
		    "status")));
	json_array_foreach(ev, i, e) {
		if (!json_is_string(e) || j->cb->on_event(j->arg,
		    json_string_value(e), json_string_length(e)) == -1) {
			j->cb->on_done(j->arg, "malformed event", NULL);
			return 200;	/* the request ended; the job is let go */
		}
	}
	if (json_is_true(json_object_get(b, "done"))) {
		err = json_string_value(json_object_get(b, "error"));
		j->completed = 1;
		j->cb->on_done(j->arg, err, json_object_get(b, "usage"));
	}
	return 200;
}

/* POST /v1/worker/jobs/<id> from node id. */
static void
take_batch(struct evhttp_request *req, int64_t id, const char *jid, json_t *b)
{
	struct job	*j = job_find(jid);
	const char	*msg = NULL;
	int		 status;

	if (j == NULL || j->node_id != id) {
		reply_error(req, 410, "invalid_request_error", "job_gone",
		    NULL, "No such job here: stop working on it.");
		return;
	}
	if (j->over && j->cb == NULL) {
		ack(req, j);		/* cancel: true, or a retried last batch */
		return;
	}
	status = apply_batch(j, b, &msg);
	if (status == 400)
		reply_error(req, 400, "invalid_request_error",
		    "invalid_request", NULL, msg);
	else if (status == 409)
		reply(req, 409, json_pack("{s:i}", "next_seq", j->next_seq));
	else if (j->cb != NULL && j->cb->backlogged(j->arg) && j->held == NULL)
		j->held = req;		/* answered when the consumer catches up */
	else
		ack(req, j);
}

/* Continue a worker request once its node is known. */
static void
proceed(struct pending *p, int64_t node_id)
{
	json_t	*body = json_loadb(str_cstr(&p->body), p->body.len, 0, NULL);

	if (!json_is_object(body))
		reply_error(p->req, 400, "invalid_request_error",
		    "invalid_json", NULL, "The body must be a JSON object.");
	else if (p->is_poll)
		take_poll(p->req, node_id, body);
	else
		take_batch(p->req, node_id, p->job, body);
	json_decref(body);
}

/* The remembered check of a token, or NULL. */
static struct authc *
auth_cached(const char *hash)
{
	struct authc	*a;
	int64_t		 now = util_now_ms();

	for (a = auths; a != NULL; a = a->next)
		if (strcmp(a->hash, hash) == 0 && a->until_ms > now)
			return a;
	return NULL;
}

/* Finish a request against a token check: go on, or pass the refusal. */
static void
with_auth(struct pending *p, struct authc *a)
{
	if (a->node_id > 0)
		proceed(p, a->node_id);
	else if (a->error != NULL)
		reply_json(p->req, (int)a->status, "Refused", a->error);
	else
		reply_error(p->req, 503, "server_error", "service_unavailable",
		    NULL, "The platform could not check the node token.");
	str_free(&p->body);
	free(p);
}

/* The app's answer to a token check. */
static void
auth_answered(long status, json_t *body, const char *retry_after, void *arg)
{
	struct pending	*p = arg;
	struct authc	*a;

	if ((a = calloc(1, sizeof(*a))) == NULL)
		abort();
	memcpy(a->hash, p->hash, sizeof(a->hash));
	a->status = status;
	if (status == 200)
		a->node_id = json_integer_value(json_object_get(body, "node_id"));
	else if (status == 401 || status == 403)
		a->error = json_incref(body);
	a->until_ms = util_now_ms() + (status == 200 || status == 401 ||
	    status == 403 ? AUTH_CACHE_MS : 0);
	a->next = auths;
	auths = a;
	with_auth(p, a);
}

/* POST /v1/worker/poll and POST /v1/worker/jobs/<id>. */
void
worker_handle(struct evhttp_request *req, void *arg)
{
	const char	*path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	const char	*auth = evhttp_find_header(evhttp_request_get_input_headers(req),
			    "Authorization");
	struct evbuffer	*in = evhttp_request_get_input_buffer(req);
	struct pending	*p;
	struct authc	*a;
	size_t		 n = evbuffer_get_length(in);
	json_t		*q;

	relay->requests++;
	reply_nodelay(req);
	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
		reply_error(req, 405, "invalid_request_error",
		    "method_not_allowed", NULL, "Use POST.");
		return;
	}
	if (auth == NULL || strncmp(auth, "Bearer ipn_", 11) != 0) {
		reply_error(req, 401, "invalid_request_error",
		    "invalid_node_token", NULL, "Send the node token as "
		    "'Authorization: Bearer ipn_…'.");
		return;
	}
	if (n > BATCH_MAX) {
		reply_error(req, 413, "invalid_request_error",
		    "request_too_large", NULL, "The batch is too large.");
		return;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL)
		abort();
	p->req = req;
	p->is_poll = strcmp(path, "/v1/worker/poll") == 0;
	if (!p->is_poll && (strncmp(path, "/v1/worker/jobs/", 16) != 0 ||
	    strlen(path + 16) == 0 || strlen(path + 16) >= sizeof(p->job))) {
		free(p);
		reply_error(req, 404, "invalid_request_error", "not_found",
		    NULL, "There is nothing at this address.");
		return;
	}
	if (!p->is_poll)
		snprintf(p->job, sizeof(p->job), "%s", path + 16);
	str_append(&p->body, evbuffer_pullup(in, -1), n);
	crypto_sha256_hex(auth + 7, strlen(auth + 7), p->hash);
	if ((a = auth_cached(p->hash)) != NULL) {
		with_auth(p, a);
		return;
	}
	q = json_pack("{s:s}", "token", auth + 7);
	if (app_call("/internal/worker/auth", q, auth_answered, p) == -1) {
		str_free(&p->body);
		free(p);
		reply_error(req, 503, "server_error", "service_unavailable",
		    NULL, "The platform could not check the node token.");
	}
	json_decref(q);
}

/* One node's state for the app's report. */
static void
add_state(int64_t id, long long inflight, int parked, void *arg)
{
	json_t		*list = arg;
	struct wnode	*w;
	long long	 rtt = -1;
	int		 live = 1;

	for (w = wnodes; w != NULL; w = w->next)
		if (w->id == id) {
			live = worker_live(id);
			rtt = w->rtt_ms;
		}
	json_array_append_new(list, json_pack("{s:I, s:b, s:o, s:I, s:b}",
	    "node_id", (json_int_t)id, "live", live, "rtt_ms", rtt >= 0 ?
	    json_integer(rtt) : json_null(), "inflight", (json_int_t)inflight,
	    "parked", parked));
}

/* The report's answer needs nothing. */
static void
report_answered(long status, json_t *body, const char *ra, void *arg)
{
	if (status != 200)
		log_warn("node report: the app answered %ld", status);
}

/* Every report interval: what the relay knows of every node, to the app. */
static void
report(evutil_socket_t fd, short what, void *arg)
{
	json_t		*list = json_array();
	struct wnode	*w;
	json_t		*q;

	for (w = wnodes; w != NULL; w = w->next)
		(void)node_inflight(w->id);	/* make sure the node is known */
	node_foreach(add_state, list);
	if (json_array_size(list) == 0) {
		json_decref(list);
		return;
	}
	q = json_pack("{s:o}", "nodes", list);
	(void)app_call("/internal/worker/seen", q, report_answered, NULL);
	json_decref(q);
}

/* Forget finished jobs and stale token checks. */
static void
sweep(evutil_socket_t fd, short what, void *arg)
{
	struct job	**jp = &jobs, *j;
	struct authc	**ap = &auths, *a;
	int64_t		 now = util_now_ms();

	while ((j = *jp) != NULL) {
		if (j->over && j->cb == NULL && j->held == NULL &&
		    now - j->over_ms > JOB_KEEP_MS) {
			*jp = j->next;
			if (j->idle != NULL)
				event_free(j->idle);
			json_decref(j->msg);
			free(j);
		} else
			jp = &j->next;
	}
	while ((a = *ap) != NULL) {
		if (a->until_ms <= now) {
			*ap = a->next;
			json_decref(a->error);
			free(a);
		} else
			ap = &a->next;
	}
}

int
workers_init(struct relay *rl)
{
	report_timer = event_new(rl->base, -1, EV_PERSIST, report, NULL);
	sweep_timer = event_new(rl->base, -1, EV_PERSIST, sweep, NULL);
	if (report_timer == NULL || sweep_timer == NULL)
		abort();
	loop_timer_in(report_timer, rl->rc.report_ms);
	loop_timer_in(sweep_timer, SWEEP_MS);
	evhttp_set_cb(rl->http, "/v1/worker/poll", worker_handle, NULL);
	return 0;
}

void
workers_forget_node(int64_t id)
{
	struct authc	**ap = &auths, *a;

	while ((a = *ap) != NULL) {
		if (id < 0 || a->node_id == id) {
			*ap = a->next;
			json_decref(a->error);
			free(a);
		} else
			ap = &a->next;
	}
}

void
workers_free(void)
{
	struct wnode	*w;
	struct job	*j;
	struct authc	*a;

	while ((w = wnodes) != NULL) {
		wnodes = w->next;
		if (w->timer != NULL)
			event_free(w->timer);
		free(w);
	}
	while ((j = jobs) != NULL) {
		jobs = j->next;
		if (j->idle != NULL)
			event_free(j->idle);
		json_decref(j->msg);
		free(j);
	}
	while ((a = auths) != NULL) {
		auths = a->next;
		json_decref(a->error);
		free(a);
	}
	if (report_timer != NULL)
		event_free(report_timer);
	if (sweep_timer != NULL)
		event_free(sweep_timer);
}
