/* job.c: one job: the model server call, its events and their batches */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <sys/queue.h>

#include "job.h"
#include "json.h"
#include "log.h"
#include "loop.h"
#include "sse.h"
#include "str.h"
#include "util.h"
#include "worker.h"
#include "xfer.h"

#define JOB_ID_MAX	128
#define ACK_MAX		(64 * 1024)	/* the relay's answer to a batch */
#define POST_TIMEOUT_MS	30000L
#define RETRY_MIN_MS	250
#define RETRY_MAX_MS	10000
#define GIVE_UP_MS	120000		/* a batch undelivered this long */
#define RESYNC_MAX	20		/* 409s per job */

struct job {
	TAILQ_ENTRY(job)	 entry;
	char			 id[JOB_ID_MAX + 1];
	const char		*endpoint;	/* "chat", "completions", ... */
	int			 stream;
	struct xfer		*up;		/* the model server call */
	struct xfer		*post;		/* the batch in flight */
	struct event		*kick;		/* flush, or retry when waiting */
	struct sse		 sse;
	struct str		 answer;	/* a whole answer or error body */
	struct str		 out;		/* the batch being delivered */

	json_t			*events;	/* every event so far, in order */
	size_t			*ends;		/* batch k ends before ends[k] */
	size_t			 nbatches, bcap;
	size_t			 sent;		/* acknowledged: the next seq */
	int			 final;		/* the last batch has done:true */
	int			 waiting;	/* a retry of out is scheduled */
	long long		 retry_ms;
	int64_t			 failing_since;
	int			 resyncs;
	long			 post_status;	/* the relay's last answer */

	long			 status;	/* the model server's */
	long			 fallback;	/* sent when status is 0 */
	int			 over;		/* the upstream call ended */
	const char		*error;		/* why the job failed; no content */
	int			 done_seen;	/* data: [DONE] */
	int			 finish_seen;	/* a finish_reason */
	long long		 prompt_tokens;	/* -1: no usage seen */
	long long		 completion_tokens;
	int64_t			 t0, t_first, t_over;
};

TAILQ_HEAD(jobs, job);

static struct jobs	jobs = TAILQ_HEAD_INITIALIZER(jobs);
static int		njobs;
static struct job_hooks hooks;

static void	on_kick(evutil_socket_t, short, void *);

/* Keep a copy of the hooks; see job.h. */
void
job_init(const struct job_hooks *h)
{
	hooks = *h;
}

/* The number of jobs on the list; see job.h. */
int
job_count(void)
{
	return njobs;
}

/* Forget j: stop its transfers and free it; no batch is sent after. */
static void
job_free(struct job *j)
{
	TAILQ_REMOVE(&jobs, j, entry);
	njobs--;
	xfer_cancel(j->up);
	xfer_cancel(j->post);
	event_free(j->kick);
	sse_free(&j->sse);
	str_free(&j->answer);
	str_free(&j->out);
	json_decref(j->events);
	free(j->ends);
	free(j);
}

/* Milliseconds from a to b, or -1 when b never happened. */
static long long
ms_between(int64_t a, int64_t b)
{
	return b > 0 ? (long long)(b - a) : -1;
}

/* The one end line: outcome, statuses, token counts and durations. */
static void
job_end(struct job *j, const char *outcome)
{
	char	tokens[64];

	if (j->prompt_tokens >= 0)
		snprintf(tokens, sizeof(tokens), "%lld in, %lld out",
		    j->prompt_tokens, j->completion_tokens);
	else
		snprintf(tokens, sizeof(tokens), "unknown");
	log_msg(j->error != NULL || strcmp(outcome, "done") != 0 ? LV_WARN :
	    LV_INFO, "job %s %s: status %ld, tokens %s, %zu events in %zu "
	    "batches, first byte %lld ms, upstream %lld ms, total %lld ms, "
	    "platform status %ld%s%s", j->id, outcome, j->status, tokens,
	    json_array_size(j->events), j->nbatches,
	    ms_between(j->t0, j->t_first), ms_between(j->t0, j->t_over),
	    (long long)(util_now_ms() - j->t0), j->post_status,
	    j->error != NULL ? ", error: " : "",
	    j->error != NULL ? j->error : "");
	job_free(j);
	if (hooks.gone != NULL)
		hooks.gone();
}

/* Send out (or the next batch) from the loop, unless a POST is pending. */
static void
kick(struct job *j)
{
	if (j->post == NULL && !j->waiting)
		loop_timer_in(j->kick, 0);
}

/* The upstream call failed or must stop: why, and the status to send. */
static void
fail(struct job *j, const char *why, long fallback)
{
	if (j->error == NULL) {
		j->error = why;
		j->fallback = fallback;
	}
}

/* ---- events from the model server --------------------------------- */

/* Note usage and finish_reason from one answer or chunk object. */
static void
note_answer(struct job *j, json_t *o)
{
	json_t	*u = json_object_get(o, "usage"), *c, *v;
	size_t	 i;

	if (json_is_object(u)) {
		v = json_object_get(u, "prompt_tokens");
		j->prompt_tokens = json_is_integer(v) ?
		    json_integer_value(v) : 0;
		v = json_object_get(u, "completion_tokens");
		j->completion_tokens = json_is_integer(v) ?
		    json_integer_value(v) : 0;
	}
	json_array_foreach(json_object_get(o, "choices"), i, c)
		if (json_is_string(json_object_get(c, "finish_reason")))
			j->finish_seen = 1;
}

/*
 * Append len bytes of text as the next event if they are one JSON object;
 * -1 (and the job's error) otherwise.
 */
static int
add_event(struct job *j, const char *text, size_t len)
{
	json_error_t	 e;
	json_t		*o, *s;

	o = json_loadb(text, len, 0, &e);
	if (!json_is_object(o) || (s = json_stringn(text, len)) == NULL) {
		json_decref(o);
		fail(j, "model server answered malformed JSON", 502);
		return -1;
	}
	note_answer(j, o);
	json_decref(o);
	json_array_append_new(j->events, s);
	return 0;
}

/* One SSE event of a stream: its data is the next event; [DONE] ends. */
static int
on_sse(const char *data, size_t len, const char *event, void *arg)
{
	struct job	*j = arg;

	if (j->done_seen)
		return 0;
	if (len == 6 && memcmp(data, "[DONE]", 6) == 0) {
		j->done_seen = 1;
		return 0;
	}
	return add_event(j, data, len);
}

/* The model server's status line, before its first body byte. */
static void
up_status(struct xfer *x, long status, void *arg)
{
	struct job *j = arg;

	j->t_first = util_now_ms();
	j->status = status;
}

/* Body bytes from the model server: parse a stream, keep anything else. */
static int
up_data(struct xfer *x, const char *p, size_t n, void *arg)
{
	struct job	*j = arg;

	if (j->stream && j->status >= 200 && j->status < 300) {
		if (sse_feed(&j->sse, p, n) == -1) {
			fail(j, "model server sent an oversized event", 502);
			return -1;
		}
		if (json_array_size(j->events) > 0)
			kick(j);
		return 0;
	}
	if (j->answer.len + n > MAX_ANSWER) {
		fail(j, "model server sent an oversized answer", 502);
		return -1;
	}
	str_append(&j->answer, p, n);
	return 0;
}

/* An error answer (status >= 400) becomes the one event, as JSON. */
static void
error_event(struct job *j)
{
	struct str	 s = STR_INIT;
	json_t		*o;

	o = json_loadb(str_cstr(&j->answer), j->answer.len, 0, NULL);
	if (json_is_object(o)) {
		json_decref(o);
		json_array_append_new(j->events, json_stringn(j->answer.buf,
		    j->answer.len));
		return;
	}
	json_decref(o);
	/* Not JSON (a proxy's HTML page?): say so in OpenAI's shape. */
	str_printf(&s, "{\"error\":{\"message\":\"The model server answered "
	    "HTTP %ld.\",\"type\":\"server_error\",\"param\":null,"
	    "\"code\":null}}", j->status);
	json_array_append_new(j->events, json_stringn(s.buf, s.len));
	str_free(&s);
}

/* A call that ended without a transport error: judge the answer. */
static void
up_answer(struct job *j)
{
	if (j->status >= 400)
		error_event(j);
	else if (j->status < 200 || j->status >= 300)
		fail(j, "model server answered an unexpected status", 502);
	else if (!j->stream)
		add_event(j, str_cstr(&j->answer), j->answer.len);
	else if (!j->done_seen && !j->finish_seen)
		fail(j, "model server stream ended early", 502);
}

/* The model server call ended. */
static void
up_done(struct xfer *x, CURLcode rc, long status, void *arg)
{
	struct job	*j = arg;

	j->up = NULL;
	j->over = 1;
	j->t_over = util_now_ms();
	if (j->status == 0)
		j->status = status;
	if (rc == CURLE_OK || (j->stream && j->done_seen && j->error == NULL))
		up_answer(j);	/* a drop after [DONE] lost nothing */
	else if (rc == CURLE_OPERATION_TIMEDOUT)
		fail(j, "model server timed out", 504);
	else if (rc == CURLE_COULDNT_CONNECT ||
	    rc == CURLE_COULDNT_RESOLVE_HOST)
		fail(j, "model server unreachable", 502);
	else
		fail(j, "model server dropped the connection", 502);
	kick(j);
}

/* ---- batches to the platform -------------------------------------- */

/* Render batch k into j->out. */
static void
render(struct job *j, size_t k)
{
	json_t	*b, *ev;
	size_t	 i, from = k > 0 ? j->ends[k - 1] : 0;
	int	 last = j->final && k + 1 == j->nbatches;

	ev = json_array();
	for (i = from; i < j->ends[k]; i++)
		json_array_append(ev, json_array_get(j->events, i));
	b = json_pack("{s:I, s:I, s:o, s:b}", "seq", (json_int_t)k,
	    "status", (json_int_t)(j->status ? j->status : j->fallback),
	    "events", ev, "done", last);
	if (b == NULL)
		abort();
	if (last && j->prompt_tokens >= 0)
		json_object_set_new(b, "usage", json_pack("{s:I, s:I}",
		    "prompt_tokens", (json_int_t)j->prompt_tokens,
		    "completion_tokens", (json_int_t)j->completion_tokens));
	if (last && j->error != NULL)
		json_object_set_new(b, "error", json_string(j->error));
	str_reset(&j->out);
	json_to_str(b, &j->out);
	json_decref(b);
}

static void	post_done(struct xfer *, CURLcode, long, void *);

/* A batch POST: its answer (up to ACK_MAX) is collected for post_done. */
static const struct xfer_cb post_cb = {.on_done = post_done};

/* POST j->out to {platform}/v1/worker/jobs/{id}. */
static void
post(struct job *j)
{
	struct str	url = STR_INIT;
	struct xfer_req req = {
	    .body = str_cstr(&j->out),
	    .len = j->out.len,
	    .timeout_ms = POST_TIMEOUT_MS,
	    .max_body = ACK_MAX,
	    .keepalive = 1,
	};

	str_printf(&url, "%s/v1/worker/jobs/%s", worker->platform, j->id);
	req.url = str_cstr(&url);
	req.headers =
	    xfer_json_headers("application/json", worker->platform_auth);
	j->post = xfer_start(worker->pool, &req, &post_cb, j);
	str_free(&url);
	if (j->post == NULL)
		post_done(NULL, CURLE_FAILED_INIT, 0, j);
}

/* Deliver what is due: a batch to resend, or a new one from new events. */
static void
flush(struct job *j)
{
	size_t	n = json_array_size(j->events);
	size_t	batched = j->nbatches ? j->ends[j->nbatches - 1] : 0;

	if (j->post != NULL || j->waiting)
		return;
	if (j->sent == j->nbatches) {
		if (j->final) {
			job_end(j, "done");
			return;
		}
		if (!j->over && n == batched)
			return;
		if (j->nbatches == j->bcap) {
			j->bcap = j->bcap ? j->bcap * 2 : 8;
			if ((j->ends = reallocarray(j->ends, j->bcap,
			    sizeof(*j->ends))) == NULL)
				abort();
		}
		j->ends[j->nbatches++] = n;
		j->final = j->over;
	}
	render(j, j->sent);
	post(j);
}

/* The kick timer: retry out as it is, or flush. */
static void
on_kick(evutil_socket_t fd, short what, void *arg)
{
	struct job	*j = arg;

	if (j->waiting) {
		j->waiting = 0;
		post(j);
	} else
		flush(j);
}

/* A batch did not arrive (network error, 5xx, 429): resend it later. */
static void
retry(struct job *j, CURLcode rc, long status)
{
	int64_t	now = util_now_ms();

	if (j->failing_since == 0)
		j->failing_since = now;
	else if (now - j->failing_since > GIVE_UP_MS) {
		xfer_cancel(j->up);
		j->up = NULL;
		job_end(j, "abandoned: its results could not be delivered");
		return;
	}
	j->retry_ms = j->retry_ms ? j->retry_ms * 2 : RETRY_MIN_MS;
	if (j->retry_ms > RETRY_MAX_MS)
		j->retry_ms = RETRY_MAX_MS;
	j->waiting = 1;
	loop_timer_in(j->kick, loop_jitter(j->retry_ms));
	log_warn("job %s: batch %zu not delivered (%s, status %ld); retrying",
	    j->id, j->sent, rc != CURLE_OK ? curl_easy_strerror(rc) :
	    "platform error", status);
}

/*
 * 409: the relay wants batches from next_seq on, as ack (len bytes) says;
 * 0, or -1 if impossible.
 */
static int
resync(struct job *j, const char *ack, size_t len)
{
	json_t		*a;
	long long	 next = -1;

	a = json_parse_limited(ack, len, NULL, 0);
	if (a != NULL)
		json_get_int(a, "next_seq", 1, 0, (long long)j->nbatches,
		    &next, NULL, 0);
	json_decref(a);
	if (next < 0 || ++j->resyncs > RESYNC_MAX)
		return -1;
	log_warn("job %s: the platform asked for batch %lld instead of %zu",
	    j->id, next, j->sent);
	j->sent = (size_t)next;
	return 0;
}

/*
 * 200: the batch is applied; 1 when the relay's answer ack (len bytes)
 * says the consumer left.
 */
static int
acknowledged(struct job *j, const char *ack, size_t len)
{
	json_t	*a;
	int	 cancel = 0;

	a = json_parse_limited(ack, len, NULL, 0);
	if (a != NULL)
		json_get_bool(a, "cancel", 0, &cancel, NULL, 0);
	json_decref(a);
	j->sent++;
	j->failing_since = 0;
	j->retry_ms = 0;
	return cancel;
}

/* The relay answered a batch (or the POST failed). */
static void
post_done(struct xfer *x, CURLcode rc, long status, void *arg)
{
	struct job	*j = arg;
	const char	*ack;
	size_t		 len = 0;

	j->post = NULL;
	j->post_status = status;
	if (rc != CURLE_OK || status >= 500 || status == 429) {
		retry(j, rc, status);
		return;
	}
	ack = xfer_body(x, &len);
	if (status == 200) {
		if (hooks.post_rtt != NULL)
			hooks.post_rtt(xfer_easy(x));
		if (acknowledged(j, ack, len))
			job_end(j, "cancelled by the platform");
		else
			flush(j);
		return;
	}
	if (status == 409 && resync(j, ack, len) == 0) {
		flush(j);
		return;
	}
	job_end(j, status == 410 ? "gone from the platform" :
	    "refused by the platform");
}

/* ---- starting and ending ------------------------------------------ */

/* Whether s is a usable job id: 1-128 of [A-Za-z0-9_.-]. */
static int
id_ok(const char *s)
{
	size_t	n = strlen(s);

	return n > 0 && n <= JOB_ID_MAX && strspn(s,
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
	    == n;
}

/* The job with this id, or NULL. */
static struct job *
job_find(const char *id)
{
	struct job	*j;

	TAILQ_FOREACH(j, &jobs, entry)
		if (strcmp(j->id, id) == 0)
			return j;
	return NULL;
}

/* A new job id, registered; never NULL. */
static struct job *
job_new(const char *id)
{
	struct job	*j;

	if ((j = calloc(1, sizeof(*j))) == NULL ||
	    (j->events = json_array()) == NULL)
		abort();
	snprintf(j->id, sizeof(j->id), "%s", id);
	j->kick = evtimer_new(worker->base, on_kick, j);
	sse_init(&j->sse, MAX_EVENT, on_sse, j);
	j->prompt_tokens = j->completion_tokens = -1;
	j->t0 = util_now_ms();
	TAILQ_INSERT_TAIL(&jobs, j, entry);
	njobs++;
	return j;
}

/* The model server call: its status, its body as it comes, its end. */
static const struct xfer_cb up_cb = {
    .on_status = up_status,
    .on_data = up_data,
    .on_done = up_done,
};

/* Call the model server with the job's body; 0 or -1. */
static int
call_upstream(struct job *j, json_t *body)
{
	struct str	url = STR_INIT, b = STR_INIT;
	const char     *path, *accept;
	struct xfer_req req = {
	    .timeout_ms = (long)worker->request_ms,
	    .keepalive = 1,
	};

	path = strcmp(j->endpoint, "chat") == 0 ? "/chat/completions" :
	    strcmp(j->endpoint, "completions") == 0 ? "/completions" :
	    "/embeddings";
	accept = j->stream ? "text/event-stream" : "application/json";
	str_printf(&url, "%s%s", worker->upstream, path);
	json_to_str(body, &b);
	req.url = str_cstr(&url);
	req.headers = xfer_json_headers(accept, worker->upstream_auth);
	req.body = str_cstr(&b);
	req.len = b.len;
	j->up = xfer_start(worker->pool, &req, &up_cb, j);
	str_free(&url);
	str_free(&b);
	return j->up != NULL ? 0 : -1;
}

/*
 * Run one job of a poll answer: {"id", "endpoint", "stream", "body"}. A job
 * we cannot run still gets a done batch with an error, so the relay fails
 * over at once; one without a usable id can only be logged and skipped.
 */
void
job_start(json_t *spec)
{
	static const char *const endpoints[] = { "chat", "completions",
		"embeddings" };
	const char	*id = NULL, *endpoint = NULL;
	json_t		*body = json_object_get(spec, "body");
	struct job	*j;
	size_t		 i;
	int		 stream = 0;

	if (!json_is_object(spec) || json_get_str(spec, "id", 1, &id, NULL,
	    0) != JSON_GET_OK || !id_ok(id)) {
		log_warn("the platform handed out a job without a usable id");
		return;
	}
	if (job_find(id) != NULL) {
		log_warn("job %s: handed out again while running; ignored", id);
		return;
	}
	j = job_new(id);
	json_get_str(spec, "endpoint", 1, &endpoint, NULL, 0);
	for (i = 0; endpoint != NULL && i < 3; i++)
		if (strcmp(endpoint, endpoints[i]) == 0)
			j->endpoint = endpoints[i];
	if (j->endpoint == NULL || !json_is_object(body) ||
	    json_get_bool(spec, "stream", 0, &stream, NULL, 0) < 0) {
		j->endpoint = "unknown";
		fail(j, "job not understood by the worker", 502);
	}
	j->stream = stream;
	log_info("job %s started: %s%s", j->id, j->endpoint,
	    j->stream ? ", streamed" : "");
	if (j->error == NULL && call_upstream(j, body) == -1)
		fail(j, "worker could not call the model server", 502);
	if (j->error != NULL) {
		j->over = 1;
		kick(j);
	}
}

/* Stop every upstream call still running; each job sends a done batch. */
void
job_end_all(const char *reason)
{
	struct job	*j;

	TAILQ_FOREACH(j, &jobs, entry) {
		if (j->over)
			continue;
		xfer_cancel(j->up);
		j->up = NULL;
		j->over = 1;
		j->t_over = util_now_ms();
		fail(j, reason, 503);
		kick(j);
	}
}

/* Free every job without sending anything (the loop is over). */
void
job_free_all(void)
{
	while (!TAILQ_EMPTY(&jobs))
		job_free(TAILQ_FIRST(&jobs));
}
