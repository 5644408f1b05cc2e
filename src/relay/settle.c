/* settle.c: finished requests to the app in batches, retried until answered */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "log.h"
#include "loop.h"
#include "relay.h"
#include "util.h"

#define GIVE_UP_MS	(15 * 60 * 1000)	/* then the reaper voids the lease */
#define RETRY_MAX_MS	30000
#define APP_BATCH_MAX	1000		/* requests, closes, trims the app takes */
#define FLUSH_MS	5000		/* stopping waits this long at most */

/* One finished request waiting for its settlement. */
struct item {
	json_t		*req;		/* its settle element */
	void		*owner;		/* its lease, for the hook */
	int64_t		 reserved;
};

/* A batch: what it carries and how its sending goes. */
struct batch {
	struct item	*items;
	size_t		 n, cap;
	json_t		*close;		/* [lease id, …] */
	json_t		*trim;		/* [{"lease_id", "keep"}, …] */
};

static const struct settle_hooks	*hooks;
static struct batch	 next;		/* filling */
static struct batch	 sent;		/* in flight, or n == 0 && !close */
static int		 sending;
static struct event	*timer;
static long long	 delay_ms, waited_ms;
static struct event	*flush_timer;	/* stopping */
static int64_t		 flush_deadline_ms;

static void	send_batch(void);

/* The batch timer: send what is due (or again). */
static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	send_batch();
}

/* Arm the timer for the next batch, unless one is due or in flight. */
static void
arm(long long ms)
{
	if (timer == NULL &&
	    (timer = evtimer_new(relay->base, on_timer, NULL)) == NULL)
		abort();
	if (!evtimer_pending(timer, NULL))
		loop_timer_in(timer, ms);
}

/* Is anything waiting to go? */
static int
pending(const struct batch *b)
{
	return b->n > 0 || json_array_size(b->close) > 0 ||
	    json_array_size(b->trim) > 0;
}

void
settle_init(const struct settle_hooks *h)
{
	hooks = h;
}

void
settle_add(json_t *req, void *owner, int64_t reserved)
{
	struct item	*it;

	if (next.n == next.cap) {
		next.cap = next.cap ? next.cap * 2 : 64;
		if ((next.items = realloc(next.items, next.cap *
		    sizeof(*next.items))) == NULL)
			abort();
	}
	it = &next.items[next.n++];
	it->req = req;
	it->owner = owner;
	it->reserved = reserved;
	if (sending)
		return;
	if ((long long)next.n >= relay->rc.settle_batch)
		send_batch();	/* enough for a batch: at once */
	else
		arm(relay->rc.settle_ms);
}

void
settle_close(int64_t lease_id, int64_t keep)
{
	json_t	**list = keep > 0 ? &next.trim : &next.close;

	if (*list == NULL)
		*list = json_array();
	json_array_append_new(*list, keep > 0 ? json_pack("{s:I, s:I}",
	    "lease_id", (json_int_t)lease_id, "keep", (json_int_t)keep) :
	    json_integer(lease_id));
	if (!sending)
		arm(relay->rc.settle_ms);
}

/* Hand each settled request's outcome to its lease and forget the batch. */
static void
done(json_t *answer)
{
	json_t		*list = json_object_get(answer, "settled"), *r;
	size_t		 i;
	int64_t		 charged;

	for (i = 0; i < sent.n; i++) {
		r = json_array_get(list, i);
		/* A batch given up on: the reaper voids its lease's hold. */
		charged = r != NULL ? json_integer_value(json_object_get(r,
		    "charged")) : sent.items[i].reserved;
		hooks->settled(sent.items[i].owner, sent.items[i].reserved,
		    charged);
		json_decref(sent.items[i].req);
	}
	free(sent.items);
	sent.items = NULL;
	sent.n = 0;
	json_decref(sent.close);
	json_decref(sent.trim);
	sent.close = sent.trim = NULL;
	sending = 0;
	delay_ms = waited_ms = 0;
	if ((long long)next.n >= relay->rc.settle_batch)
		send_batch();	/* what came meanwhile is a batch already */
	else if (pending(&next))
		arm(relay->rc.settle_ms);
}

/*
 * The app refused one element of the batch in flight, named by param
 * ("requests[3].node_id", "close[0]", "trim[1].keep"): drop it (a request
 * is then never billed; the reaper or its lease's close releases its
 * reservation) and keep the rest. 0, or -1 when param names none.
 */
static int
drop_named(const char *param)
{
	size_t	i;
	char	kind[16];
	json_t	**list;

	if (param == NULL || sscanf(param, "%15[a-z][%zu]", kind, &i) != 2)
		return -1;
	if (strcmp(kind, "requests") == 0 && i < sent.n) {
		log_error("settle: the app refused request %s of a batch (%s);"
		    " it is not billed", json_string_value(json_object_get(
		    sent.items[i].req, "request_id")), param);
		hooks->settled(sent.items[i].owner, sent.items[i].reserved,
		    sent.items[i].reserved);
		json_decref(sent.items[i].req);
		memmove(&sent.items[i], &sent.items[i + 1], (sent.n - i - 1) *
		    sizeof(sent.items[0]));
		sent.n--;
		return 0;
	}
	list = strcmp(kind, "close") == 0 ? &sent.close :
	    strcmp(kind, "trim") == 0 ? &sent.trim : NULL;
	if (list == NULL || i >= json_array_size(*list))
		return -1;
	log_error("settle: the app refused %s; dropped", param);
	json_array_remove(*list, i);
	return 0;
}

/* Move at most APP_BATCH_MAX elements of *from to the end of *to. */
static void
move_some(json_t **to, json_t **from)
{
	size_t	n = json_array_size(*from), i;

	if (n == 0)
		return;
	if (n > APP_BATCH_MAX)
		n = APP_BATCH_MAX;
	if (*to == NULL)
		*to = json_array();
	for (i = 0; i < n; i++)
		json_array_append(*to, json_array_get(*from, i));
	for (i = 0; i < n; i++)
		json_array_remove(*from, 0);
}

/* The app's answer to a batch: done, or again later. */
static void
answered(long status, json_t *body, const char *retry_after, void *arg)
{
	if (status == 200 && json_is_array(json_object_get(body, "settled"))) {
		done(body);
		return;
	}
	if (status >= 400 && status < 500) {
		/* Ours to fix: it would be refused again. */
		if (drop_named(json_string_value(json_object_get(
		    json_object_get(body, "error"), "param"))) == 0) {
			send_batch();	/* the rest of it, at once */
			return;
		}
		log_error("settle: the app refused a batch of %zu (%ld)",
		    sent.n, status);
		done(NULL);
		return;
	}
	delay_ms = delay_ms == 0 ? 500 : delay_ms * 2 > RETRY_MAX_MS ?
	    RETRY_MAX_MS : delay_ms * 2;
	if ((waited_ms += delay_ms) > GIVE_UP_MS) {
		log_error("settle: giving up on a batch of %zu; the reaper "
		    "voids their leases", sent.n);
		done(NULL);
		return;
	}
	log_warn("settle: a batch of %zu failed (%ld): again in %lld ms",
	    sent.n, status, delay_ms);
	loop_timer_in(timer, delay_ms);
}

/* Post the batch in flight (again), or move the filling one there. */
static void
send_batch(void)
{
	json_t	*body, *reqs;
	size_t	 i;

	if (!sending) {
		if (!pending(&next))
			return;
		/*
		 * The timer armed for what is going now must not fire while it
		 * is in flight: there it means "post the batch again".
		 */
		if (timer != NULL)
			evtimer_del(timer);
		/* Everything waiting, up to what the app takes at once. */
		sent.n = next.n < APP_BATCH_MAX ? next.n : APP_BATCH_MAX;
		if ((sent.items = calloc(sent.n + 1, sizeof(*sent.items))) ==
		    NULL)
			abort();
		memcpy(sent.items, next.items, sent.n * sizeof(*sent.items));
		memmove(next.items, next.items + sent.n, (next.n - sent.n) *
		    sizeof(*next.items));
		next.n -= sent.n;
		move_some(&sent.close, &next.close);
		move_some(&sent.trim, &next.trim);
		sending = 1;
	}
	reqs = json_array();
	for (i = 0; i < sent.n; i++)
		json_array_append(reqs, sent.items[i].req);
	body = json_pack("{s:o, s:o}", "requests", reqs, "close",
	    sent.close != NULL ? json_incref(sent.close) : json_array());
	if (sent.trim != NULL)
		json_object_set(body, "trim", sent.trim);
	if (app_call("/internal/settle", body, answered, NULL) == -1)
		answered(0, NULL, NULL, NULL);
	json_decref(body);
}

/* Stopping: leave the loop once nothing waits to be settled, or at the deadline. */
static void
on_flushing(evutil_socket_t fd, short what, void *arg)
{
	struct relay	*rl = arg;

	if ((!sending && !pending(&next)) ||
	    util_now_ms() >= flush_deadline_ms) {
		if (sending || pending(&next))
			log_warn("stopping with settlements unsent; the reaper "
			    "voids their leases");
		event_base_loopexit(rl->base, NULL);
		return;
	}
	if (!sending)
		send_batch();
	loop_timer_in(flush_timer, 20);
}

void
settle_flush(struct relay *rl)
{
	if (flush_timer != NULL)
		return;		/* a second signal: already on it */
	flush_deadline_ms = util_now_ms() + FLUSH_MS;
	if ((flush_timer = evtimer_new(rl->base, on_flushing, rl)) == NULL)
		abort();
	loop_timer_in(flush_timer, 0);
}

void
settle_free(void)
{
	size_t	i;

	for (i = 0; i < sent.n; i++)
		json_decref(sent.items[i].req);
	for (i = 0; i < next.n; i++)
		json_decref(next.items[i].req);
	free(sent.items);
	free(next.items);
	json_decref(sent.close);
	json_decref(next.close);
	json_decref(sent.trim);
	json_decref(next.trim);
	if (timer != NULL)
		event_free(timer);
	if (flush_timer != NULL)
		event_free(flush_timer);
}
