/* pick.c: live node state, the circuit breaker, and the choice of a candidate */
#include "config.h"

#include <stdlib.h>

#include "log.h"
#include "relay.h"
#include "util.h"

#define FAIL_MAX	16	/* failure times remembered per node */

struct node_state {
	int64_t		id;		/* 0: an empty slot */
	long long	inflight;
	int64_t		fails[FAIL_MAX];	/* recent failure times, ms */
	int		nfails;
	int64_t		parked_until;	/* 0: closed */
	int		probing;	/* the one probe after parking is out */
	int64_t		gone_ms;	/* left its models' candidates */
};

static const struct pick_hooks	*hooks;	/* from the piece above, or NULL */

void
pick_hooks_set(const struct pick_hooks *h)
{
	hooks = h;
}

/* The state of node id, made when first seen. Open addressing, grows at 1/2. */
static struct node_state *
node_get(int64_t id)
{
	struct node_state	*old;
	size_t			 i, oldcap;

	if (relay->nnodes * 2 >= relay->nodecap) {
		old = relay->nodes;
		oldcap = relay->nodecap;
		relay->nodecap = oldcap ? oldcap * 2 : 64;
		if ((relay->nodes = calloc(relay->nodecap,
		    sizeof(*relay->nodes))) == NULL)
			abort();
		relay->nnodes = 0;
		for (i = 0; i < oldcap; i++)
			if (old[i].id != 0)
				*node_get(old[i].id) = old[i];
		free(old);
	}
	i = (size_t)id * 2654435761u % relay->nodecap;
	while (relay->nodes[i].id != 0 && relay->nodes[i].id != id)
		i = (i + 1) % relay->nodecap;
	if (relay->nodes[i].id == 0) {
		relay->nodes[i].id = id;
		relay->nnodes++;
	}
	return &relay->nodes[i];
}

const char *
outcome_name(enum outcome o)
{
	return o == OUTCOME_SUCCESS ? "success" : o == OUTCOME_FAILURE ?
	    "failure" : "neutral";
}

long long
node_inflight(int64_t id)
{
	return node_get(id)->inflight;
}

/*
 * May the node take a request now? Closed: yes. Parked: not until the
 * park ends; then exactly one probe goes through (half-open).
 */
static int
node_available(struct node_state *n, int64_t now)
{
	if (n->parked_until == 0)
		return 1;
	if (now < n->parked_until || n->probing)
		return 0;
	return 1;
}

/* Spare capacity: declared (ramp-adjusted) minus what is in flight here. */
static long long
spare(const struct candidate *c)
{
	return c->capacity - node_get(c->node_id)->inflight;
}

/*
 * The next candidate to try: live (as the caller marked it), not parked, with spare capacity; the most spare wins,
 * ties go to the better health, then to chance, so equally idle nodes
 * share the traffic. Returns NULL when none is left.
 */
struct candidate *
pick_next(struct candidate *c, size_t n)
{
	struct candidate	*best = NULL;
	int64_t			 now = util_now_ms();
	size_t			 i, ties = 0;
	long long		 s, bs = 0;

	for (i = 0; i < n; i++) {
		if (c[i].tried || !c[i].live ||
		    !node_available(node_get(c[i].node_id), now) ||
		    (s = spare(&c[i])) <= 0)
			continue;
		if (best == NULL || s > bs ||
		    (s == bs && c[i].health > best->health)) {
			best = &c[i];
			bs = s;
			ties = 1;
		} else if (s == bs && c[i].health == best->health &&
		    (size_t)random() % ++ties == 0)
			best = &c[i];	/* reservoir choice among equals */
	}
	if (best != NULL) {
		best->tried = 1;
		if (node_get(best->node_id)->parked_until != 0)
			node_get(best->node_id)->probing = 1;
	}
	return best;
}

enum pick_avail
pick_avail(const struct candidate *c, size_t n)
{
	enum pick_avail	a = PICK_NONE;
	int64_t		now = util_now_ms();
	size_t		i;

	for (i = 0; i < n; i++) {
		if (c[i].tried || !c[i].live ||
		    !node_available(node_get(c[i].node_id), now))
			continue;
		if (spare(&c[i]) > 0)
			return PICK_FREE;
		a = PICK_BUSY;
	}
	return a;
}

/* Call fn for every node seen so far, with its in-flight count and breaker. */
void
node_foreach(node_fn fn, void *arg)
{
	int64_t	now = util_now_ms();
	size_t	i;

	for (i = 0; i < relay->nodecap; i++)
		if (relay->nodes[i].id != 0)
			fn(relay->nodes[i].id, relay->nodes[i].inflight,
			    relay->nodes[i].parked_until > now, arg);
}

void
node_gone(int64_t id)
{
	node_get(id)->gone_ms = util_now_ms();
}

int
node_gone_since(int64_t id, int64_t ms)
{
	int64_t	g = node_get(id)->gone_ms;

	return g != 0 && g >= ms;
}

void
node_begin(int64_t id)
{
	node_get(id)->inflight++;
}

/*
 * A call on node id ended. A failure is remembered; breaker_failures of
 * them within breaker_window park the node for breaker_park, and a failed
 * probe parks it again. A successful probe closes the breaker. Neutral
 * outcomes (the consumer's bad input, a consumer who left) count for
 * nothing. Either way a slot is free again: the hooks hear of it.
 */
void
node_end(int64_t id, enum outcome o)
{
	struct node_state	*n = node_get(id);
	int64_t			 now = util_now_ms();
	int			 i, k;

	if (n->inflight > 0)
		n->inflight--;
	if (hooks != NULL && hooks->slot_freed != NULL)
		hooks->slot_freed(id);
	if (o == OUTCOME_NEUTRAL) {
		if (n->probing)
			n->probing = 0;	/* the probe told nothing: allow another */
		return;
	}
	if (o == OUTCOME_SUCCESS) {
		/*
		 * Only a probe's success forgets the failures: otherwise
		 * they age out of the window, so a node failing every other
		 * request still parks.
		 */
		if (n->parked_until != 0) {
			log_info("node %lld: probe succeeded, breaker closed",
			    (long long)id);
			n->nfails = 0;
		}
		n->parked_until = 0;
		n->probing = 0;
		return;
	}
	for (i = k = 0; i < n->nfails; i++)
		if (now - n->fails[i] < relay->rc.breaker_window_ms)
			n->fails[k++] = n->fails[i];
	n->nfails = k;
	if (n->nfails < FAIL_MAX)
		n->fails[n->nfails++] = now;
	if (n->probing || n->nfails >= relay->rc.breaker_failures) {
		n->parked_until = now + relay->rc.breaker_park_ms;
		n->probing = 0;
		n->nfails = 0;
		log_warn("node %lld parked for %lld ms", (long long)id,
		    relay->rc.breaker_park_ms);
	}
}
