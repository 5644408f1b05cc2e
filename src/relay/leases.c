/* leases.c: each API key's lease: a budget the app held for it, spent here */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "json.h"
#include "log.h"
#include "relay.h"
#include "util.h"

#define PREFETCH_MS	3000	/* ask for the next lease this long before the end */
#define BUSY_MS		2000	/* a lease three quarters used sooner: ask for twice */

/* A request waiting for its key's lease. */
struct lwait {
	lease_fn	 fn;
	void		*arg;
	struct lwait	*next;
};

/*
 * A key as the relay knows it: the key itself (kept to ask for the next
 * lease; never logged), its current lease and the limits that came with
 * it. Keys are found by the SHA-256 of the key.
 */
struct key {
	char		 hash[65];
	char		*secret;
	char		*client_ip;	/* of the request that asked last */
	struct lease	*cur;		/* admitting, or NULL */
	struct lease	*spare;		/* the next one, asked for early */
	int		 prefetching;	/* the fetch is for spare */
	int		 fetching;
	int		 stale;		/* a change came while fetching */
	int64_t		 want;		/* the budget to ask for next */
	long		 status;	/* the app's last refusal, or 200 */
	json_t		*refusal;	/* its body */
	struct lwait	*waiting, **tail;	/* first come, first served */
	int64_t		 key_id, user_id;	/* from its last lease */
	int64_t		 retired_id, retired_keep;	/* to trim at the next */
	/* the per-minute limit, counted here */
	int64_t		 minute_start_ms;
	long long	 minute_count;
	struct key	*next;
};

static struct key	*keys;
static int		 stopping;	/* asks for no more leases */
static struct lease	*retired;	/* leases waiting for their last request */

/* The key whose SHA-256 is hash, made when first seen. */
static struct key *
key_get(const char *secret)
{
	char		 hash[65];
	struct key	*k;

	crypto_sha256_hex(secret, strlen(secret), hash);
	for (k = keys; k != NULL; k = k->next)
		if (strcmp(k->hash, hash) == 0)
			return k;
	if ((k = calloc(1, sizeof(*k))) == NULL ||
	    (k->secret = strdup(secret)) == NULL)
		abort();
	memcpy(k->hash, hash, sizeof(hash));
	k->tail = &k->waiting;
	k->next = keys;
	keys = k;
	return k;
}

/*
 * May l admit one more request? Not past its window, and not once it has
 * been idle for lease_idle: an idle lease goes back to the consumer soon,
 * so what they see held is what is in flight.
 */
static int
admitting(const struct lease *l)
{
	int64_t	now = util_now_ms();

	return l != NULL && !l->retired && now < l->until_ms &&
	    now - l->used_ms < relay->rc.lease_idle_ms;
}

/* Close k's spare lease unused (a change, the relay stopping, its end). */
static void
drop_spare(struct key *k)
{
	if (k->spare == NULL)
		return;
	settle_close(k->spare->id, 0);
	free(k->spare);
	k->spare = NULL;
}

/* Take l out of admission; it closes once its last request settled. */
static void
retire(struct key *k)
{
	struct lease	*l = k->cur;

	if (l == NULL)
		return;
	k->cur = NULL;
	l->retired = 1;
	l->key = NULL;
	/*
	 * What is not reserved by a request in flight goes back: with the
	 * next lease request of the key, in the app's same transaction (so
	 * the new lease can hold it), and with the next batch anyway.
	 */
	k->retired_id = l->id;
	k->retired_keep = l->reserved;
	settle_close(l->id, l->reserved);
	if (l->inflight == 0) {
		free(l);
		return;
	}
	l->next = retired;
	retired = l;
}

/*
 * Tell every waiter of k how its lease stands. A waiter may retire the
 * lease and ask for the next (it needs more than is left): those after it
 * wait for that answer.
 */
static void
wake(struct key *k)
{
	struct lwait	*w = k->waiting, *next, **tail;

	k->waiting = NULL;
	k->tail = &k->waiting;
	for (; w != NULL; w = next) {
		next = w->next;
		if (k->fetching) {
			/* w and the rest wait on, ahead of newer waiters */
			for (tail = &w; *tail != NULL; tail = &(*tail)->next)
				;
			*tail = k->waiting;
			if (k->waiting == NULL)
				k->tail = tail;
			k->waiting = w;
			return;
		}
		w->fn(w->arg, k->cur != NULL ? 200 : k->status == 200 ? 0 :
		    k->status, k->refusal, k->cur);
		free(w);
	}
}

/* Read a lease answer into a new lease of k; NULL when not as documented. */
static struct lease *
read_lease(struct key *k, json_t *b)
{
	struct lease	*l;
	json_int_t	 id = json_integer_value(json_object_get(b, "lease_id"));
	json_int_t	 budget = json_integer_value(json_object_get(b, "budget"));
	json_int_t	 ttl = json_integer_value(json_object_get(b, "ttl_ms"));

	if (id <= 0 || budget < 0 || ttl <= 0)
		return NULL;
	if ((l = calloc(1, sizeof(*l))) == NULL)
		abort();
	l->id = id;
	l->key = k;
	l->budget = l->remaining = budget;
	l->born_ms = l->used_ms = util_now_ms();
	/* Stop admitting a little early: the hold outlives the window. */
	l->until_ms = util_now_ms() + ttl - ttl / 10;
	l->user_id = json_integer_value(json_object_get(b, "user_id"));
	l->key_id = json_integer_value(json_object_get(b, "key_id"));
	k->key_id = l->key_id;
	k->user_id = l->user_id;
	l->per_minute = json_integer_value(json_object_get(b, "per_minute"));
	l->default_max_tokens = json_integer_value(json_object_get(b,
	    "default_max_tokens"));
	l->max_tokens_cap = json_integer_value(json_object_get(b,
	    "max_tokens_cap"));
	return l;
}

static void	fetch(struct key *);

/* The app's answer to a lease: a lease, or its refusal (401, 402, …). */
static void
fetched(long status, json_t *body, const char *retry_after, void *arg)
{
	struct key	*k = arg;
	struct lease	*l;

	k->fetching = 0;
	if (k->stale) {
		/* A change came meanwhile: this answer may be old. */
		k->stale = 0;
		if (status == 200 && json_integer_value(json_object_get(body,
		    "lease_id")) > 0)
			settle_close(json_integer_value(json_object_get(body,
			    "lease_id")), 0);
		fetch(k);
		return;
	}
	if (k->prefetching) {
		k->prefetching = 0;
		if (status == 200 && json_is_object(body) &&
		    (l = read_lease(k, body)) != NULL) {
			k->spare = l;	/* the current one goes on meanwhile */
			wake(k);
			return;
		}
		/* A refusal: the current lease goes on; its end will ask. */
		if (k->waiting == NULL)
			return;
	}
	json_decref(k->refusal);
	k->refusal = NULL;
	k->status = status;
	if (status == 200 && json_is_object(body)) {
		if ((l = read_lease(k, body)) == NULL) {
			log_error("lease answer not as documented");
			k->status = 0;
		} else {
			retire(k);
			k->cur = l;
		}
	} else if (status >= 400 && status < 500 && json_is_object(body))
		k->refusal = json_incref(body);
	else {
		log_warn("lease: the app answered %ld", status);
		k->status = 0;
	}
	wake(k);
}

/* Ask the app for a lease on k, once at a time. */
static void
fetch(struct key *k)
{
	json_t	*q;

	if (k->fetching)
		return;
	if (stopping) {			/* no new holds while stopping */
		k->fetching = 1;
		fetched(0, NULL, NULL, k);
		return;
	}
	k->fetching = 1;
	if (k->want <= 0)
		k->want = relay->rc.lease_want;
	q = json_pack("{s:s, s:s, s:I}", "key", k->secret, "client_ip",
	    k->client_ip != NULL ? k->client_ip : "", "want",
	    (json_int_t)k->want);
	if (k->retired_id > 0) {
		json_object_set_new(q, "retire", json_pack("{s:I, s:I}",
		    "lease_id", (json_int_t)k->retired_id, "keep",
		    (json_int_t)k->retired_keep));
		k->retired_id = 0;
	}
	if (app_call("/internal/lease", q, fetched, k) == -1)
		fetched(0, NULL, NULL, k);
	json_decref(q);
}

void
leases_get(const char *secret, const char *client_ip, int64_t need,
    lease_fn fn, void *arg)
{
	struct key	*k = key_get(secret);
	struct lwait	*w;

	if (!k->fetching && admitting(k->cur) && k->cur->remaining >= need) {
		fn(arg, 200, NULL, k->cur);
		return;
	}
	if (admitting(k->spare) && k->spare->remaining >= need) {
		retire(k);		/* the spare asked for early takes over */
		k->cur = k->spare;
		k->spare = NULL;
		fn(arg, 200, NULL, k->cur);
		return;
	}
	free(k->client_ip);
	if ((k->client_ip = strdup(client_ip != NULL ? client_ip : "")) ==
	    NULL)
		abort();
	if (!k->fetching) {
		/*
		 * Its window is over, or it cannot cover need: the next, with
		 * room for lease_requests like this one (within lease_budget),
		 * so the other keys of the account have the rest.
		 */
		retire(k);
		k->want = need > relay->rc.lease_want / relay->rc.lease_requests ?
		    relay->rc.lease_want : need * relay->rc.lease_requests;
		if (k->want < need)
			k->want = need;
	}
	if ((w = calloc(1, sizeof(*w))) == NULL)
		abort();
	w->fn = fn;
	w->arg = arg;
	*k->tail = w;
	k->tail = &w->next;
	fetch(k);
}

int
leases_minute(struct lease *l)
{
	struct key	*k = l->key;
	int64_t		 now = util_now_ms();

	if (k == NULL || l->per_minute <= 0)
		return 0;
	if (now - k->minute_start_ms >= 60000) {
		k->minute_start_ms = now;
		k->minute_count = 0;
	}
	if (k->minute_count >= l->per_minute)
		return (int)((k->minute_start_ms + 60000 - now + 999) / 1000);
	return 0;		/* counted when admitted (leases_take) */
}

/*
 * When l, its key's current lease, runs low (a quarter of its budget
 * left, or its window nearly over), ask for the next one now, so the
 * request that would find it empty does not wait for the app. A key that
 * used three quarters of its lease within BUSY_MS is busy: its next lease
 * is twice as large (within lease_budget), so a busy key asks the app a
 * few times a window rather than every lease_requests requests; an idle
 * lease is trimmed (lease_idle_ms) and the next starts small again.
 */
static void
prefetch(struct lease *l)
{
	struct key	*k = l->key;
	int64_t		 now = util_now_ms();

	if (k == NULL || k->cur != l || k->fetching || k->spare != NULL ||
	    stopping || (l->remaining >= l->budget / 4 &&
	    l->until_ms - now > PREFETCH_MS))
		return;
	k->want = l->budget;
	if (l->remaining < l->budget / 4 && now - l->born_ms < BUSY_MS)
		k->want = l->budget > relay->rc.lease_want / 2 ?
		    relay->rc.lease_want : 2 * l->budget;
	k->prefetching = 1;
	fetch(k);
}

int
leases_take(struct lease *l, int64_t amount)
{
	if (!admitting(l) || l->remaining < amount)
		return -1;
	l->remaining -= amount;
	l->reserved += amount;
	l->used_ms = util_now_ms();
	l->inflight++;
	l->key->minute_count++;
	prefetch(l);
	return 0;
}

/* Free l when it is retired and its last request has settled. */
static void
maybe_close(struct lease *l)
{
	struct lease	**pp;

	if (!l->retired || l->inflight > 0)
		return;
	for (pp = &retired; *pp != NULL; pp = &(*pp)->next)
		if (*pp == l) {
			*pp = l->next;
			break;
		}
	settle_close(l->id, 0);
	free(l);
}

void
leases_done(struct lease *l, int64_t reserved, int64_t charged)
{
	if (!l->retired && charged < reserved)
		l->remaining += reserved - charged;
	l->reserved -= reserved;
	if (l->inflight > 0)
		l->inflight--;
	maybe_close(l);
}

/* Free k, which holds no lease and has nobody waiting. */
static void
key_free(struct key *k)
{
	json_decref(k->refusal);
	free(k->client_ip);
	free(k->secret);
	free(k);
}

/*
 * Drop the keys that hold no lease and wait for nothing (a refused key, a
 * lease whose window ended): keys stay only while they are used.
 */
static void
sweep(void)
{
	struct key	**kp = &keys, *k;

	while ((k = *kp) != NULL) {
		if (k->cur != NULL && !admitting(k->cur))
			retire(k);
		if (k->spare != NULL && !admitting(k->spare))
			drop_spare(k);
		/* A key within its minute keeps its count. */
		if (k->cur == NULL && !k->fetching && k->waiting == NULL &&
		    util_now_ms() - k->minute_start_ms >= 60000) {
			*kp = k->next;
			key_free(k);
		} else
			kp = &k->next;
	}
}

void
leases_sweep(void)
{
	sweep();
}

/* Retire the lease of every key for which match(k, v) holds. */
static void
forget_where(int (*match)(const struct key *, int64_t), int64_t v)
{
	struct key	*k;

	for (k = keys; k != NULL; k = k->next) {
		if (match(k, v)) {
			retire(k);
			drop_spare(k);
		}
		/*
		 * A lease being fetched may be for a key the change is about
		 * (a key's id is known only from its first lease): ask again.
		 */
		if (k->fetching)
			k->stale = 1;
	}
	sweep();
}

/* Does k's current or last lease belong to key id v? */
static int
key_is(const struct key *k, int64_t v)
{
	return v < 0 || k->key_id == v;
}

/* Does k's lease belong to user v? */
static int
user_is(const struct key *k, int64_t v)
{
	return k->user_id == v;
}

void
leases_forget_key(int64_t key_id)
{
	forget_where(key_is, key_id);
}

void
leases_forget_user(int64_t user_id)
{
	forget_where(user_is, user_id);
}

void
leases_forget_all(void)
{
	forget_where(key_is, -1);
}

void
leases_stop(void)
{
	stopping = 1;
	leases_forget_all();
}

void
leases_free(void)
{
	struct lease	*l;
	struct lwait	*w;
	struct key	*k;

	while ((k = keys) != NULL) {
		keys = k->next;
		while ((w = k->waiting) != NULL) {
			k->waiting = w->next;
			free(w);
		}
		free(k->cur);
		free(k->spare);
		key_free(k);
	}
	while ((l = retired) != NULL) {
		retired = l->next;
		free(l);
	}
}
