/* queue.c: requests waiting for a free slot, one bounded FIFO per model */
#include "config.h"

#include <sys/queue.h>

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "loop.h"
#include "relay.h"

struct mqueue;

struct qentry {
	TAILQ_ENTRY(qentry)	 entry;
	struct mqueue		*mq;
	struct event		*timer;		/* queue_timeout */
	void			*arg;		/* the request, for the callbacks */
};
TAILQ_HEAD(qentries, qentry);

/* One model's waiting requests, oldest first; freed when it empties. */
struct mqueue {
	TAILQ_ENTRY(mqueue)	 entry;
	char			*model;
	struct qentries		 waiting;
	size_t			 n;
};
TAILQ_HEAD(mqueues, mqueue);

static struct mqueues		 models = TAILQ_HEAD_INITIALIZER(models);
static const struct queue_cb	*cb;
static size_t			 total;		/* requests waiting, all models */
/*
 * Slots freed since the last turn of the loop, by node id (a node freeing
 * two slots is here twice). node_end() only notes them: the requests are
 * retried from the loop, never inside another request's bookkeeping.
 */
static int64_t			*freed;
static size_t			 nfreed, freedcap;
static struct event		*wake;

/* Take e out of its model's queue and free it; no callback follows. */
static void
entry_free(struct qentry *e)
{
	struct mqueue	*mq = e->mq;

	TAILQ_REMOVE(&mq->waiting, e, entry);
	mq->n--;
	total--;
	event_free(e->timer);
	free(e);
	if (mq->n == 0) {
		TAILQ_REMOVE(&models, mq, entry);
		free(mq->model);
		free(mq);
	}
}

/* The queue of model, or NULL when nothing waits for it. */
static struct mqueue *
mqueue_find(const char *model)
{
	struct mqueue	*mq;

	TAILQ_FOREACH(mq, &models, entry)
		if (strcmp(mq->model, model) == 0)
			return mq;
	return NULL;
}

/* The request waited queue_timeout: out of the queue, then refused. */
static void
on_expire(evutil_socket_t fd, short what, void *arg)
{
	struct qentry	*e = arg;
	void		*req = e->arg;

	entry_free(e);
	cb->expired(req);
}

struct qentry *
queue_add(const char *model, void *arg)
{
	struct mqueue	*mq = mqueue_find(model);
	struct qentry	*e;

	if (mq != NULL && mq->n >= (size_t)relay->rc.queue_max)
		return NULL;
	if (mq == NULL && relay->rc.queue_max == 0)
		return NULL;
	if (mq == NULL) {
		if ((mq = calloc(1, sizeof(*mq))) == NULL ||
		    (mq->model = strdup(model)) == NULL)
			abort();
		TAILQ_INIT(&mq->waiting);
		TAILQ_INSERT_TAIL(&models, mq, entry);
	}
	if ((e = calloc(1, sizeof(*e))) == NULL ||
	    (e->timer = evtimer_new(relay->base, on_expire, e)) == NULL)
		abort();
	e->mq = mq;
	e->arg = arg;
	TAILQ_INSERT_TAIL(&mq->waiting, e, entry);
	mq->n++;
	total++;
	loop_timer_in(e->timer, relay->rc.queue_timeout_ms);
	return e;
}

void
queue_remove(struct qentry *e)
{
	if (e != NULL)
		entry_free(e);
}

size_t
queue_waiting(void)
{
	return total;
}

/*
 * A slot freed on node id: in each model's queue, the first request that
 * could use the node tries again. The callback may take that request out
 * of the queue (freeing its model's queue) or put it back at the tail, so
 * the next queue is found before it runs.
 */
static void
run_slot(int64_t id)
{
	struct mqueue	*mq, *next;
	struct qentry	*e;

	for (mq = TAILQ_FIRST(&models); mq != NULL; mq = next) {
		next = TAILQ_NEXT(mq, entry);
		TAILQ_FOREACH(e, &mq->waiting, entry)
			if (cb->can_use(e->arg, id))
				break;
		if (e != NULL)
			cb->retry(e->arg);
	}
}

/* The loop's turn after slots freed: retry for each, in order. */
static void
on_wake(evutil_socket_t fd, short what, void *arg)
{
	int64_t	*ids = freed;
	size_t	 i, n = nfreed;

	freed = NULL;		/* retries may free more slots: a new list */
	nfreed = freedcap = 0;
	for (i = 0; i < n && total > 0; i++)
		run_slot(ids[i]);
	free(ids);
}

/* pick.c: a call on node id ended. Noted for the next turn of the loop. */
static void
slot_freed(int64_t id)
{
	if (total == 0)
		return;
	if (nfreed == freedcap) {
		freedcap = freedcap ? freedcap * 2 : 16;
		if ((freed = realloc(freed, freedcap * sizeof(*freed))) == NULL)
			abort();
	}
	freed[nfreed++] = id;
	event_active(wake, EV_TIMEOUT, 0);
}

void
queue_init(const struct queue_cb *c)
{
	static const struct pick_hooks	hooks = {
		.slot_freed = slot_freed,
	};

	cb = c;
	if ((wake = event_new(relay->base, -1, 0, on_wake, NULL)) == NULL)
		abort();
	pick_hooks_set(&hooks);
}

void
queue_free(void)
{
	struct mqueue	*mq;
	void		*arg;

	if (total > 0)
		log_warn("%zu queued requests dropped at exit", total);
	while ((mq = TAILQ_FIRST(&models)) != NULL) {
		arg = TAILQ_FIRST(&mq->waiting)->arg;
		entry_free(TAILQ_FIRST(&mq->waiting));
		cb->dropped(arg);
	}
	pick_hooks_set(NULL);
	if (wake != NULL)
		event_free(wake);
	wake = NULL;
	free(freed);
	freed = NULL;
	nfreed = freedcap = 0;
}
