/* models.c: each model's candidates, cached from the app until a change */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "log.h"
#include "relay.h"
#include "util.h"

/* A request waiting for a model's candidates. */
struct mwait {
	models_fn	 fn;
	void		*arg;
	struct mwait	*next;
};

/* One model as the relay knows it. */
struct model {
	char		*name;
	long		 status;	/* 200, the app's refusal, 0: not known */
	json_t		*answer;	/* the app's body: candidates or error */
	json_t		*old;		/* the answer a change made stale */
	int64_t		 fetched_ms;
	int		 fetching;
	int		 stale;		/* a change came while fetching */
	struct mwait	*waiting;
	struct model	*next;
};

static struct model	*models;

/* The model called name, made when first asked for. */
static struct model *
model_get(const char *name)
{
	struct model	*m;

	for (m = models; m != NULL; m = m->next)
		if (strcmp(m->name, name) == 0)
			return m;
	if ((m = calloc(1, sizeof(*m))) == NULL ||
	    (m->name = strdup(name)) == NULL)
		abort();
	m->next = models;
	models = m;
	return m;
}

static void	fetch(struct model *);

/* Is what we know of m still good to use? */
static int
fresh(const struct model *m)
{
	return m->status != 0 && !m->stale &&
	    util_now_ms() - m->fetched_ms < relay->rc.candidates_ms;
}

/* Tell every waiter what we know of m. */
static void
wake(struct model *m)
{
	struct mwait	*w = m->waiting, *next;
	json_t		*answer = json_incref(m->answer);	/* a waiter may forget m */
	long		 status = m->status;

	m->waiting = NULL;
	for (; w != NULL; w = next) {
		next = w->next;
		w->fn(w->arg, status, answer);
		free(w);
	}
	json_decref(answer);
}


/* Does the answer a (candidates, or a refusal) list node id? */
static int
lists(json_t *a, int64_t id)
{
	json_t	*c;
	size_t	 i;

	json_array_foreach(json_object_get(a, "candidates"), i, c)
		if (json_integer_value(json_object_get(c, "node_id")) == id)
			return 1;
	return 0;
}

/*
 * The nodes m's old answer listed and its new one does not are gone: the
 * requests admitted before (waiting for a slot, failing over) skip them.
 */
static void
note_gone(struct model *m)
{
	json_t	*c;
	size_t	 i;
	int64_t	 id;

	json_array_foreach(json_object_get(m->old, "candidates"), i, c) {
		id = json_integer_value(json_object_get(c, "node_id"));
		if (!lists(m->answer, id))
			node_gone(id);
	}
	json_decref(m->old);
	m->old = NULL;
}

/* The app's answer: candidates (200), 404 model_not_found, or trouble. */
static void
fetched(long status, json_t *body, const char *retry_after, void *arg)
{
	struct model	*m = arg;

	m->fetching = 0;
	if (m->stale) {			/* changed while we asked: ask again */
		m->stale = 0;
		fetch(m);
		return;
	}
	json_decref(m->answer);
	m->answer = NULL;
	m->status = 0;
	if (status == 200 && json_is_array(json_object_get(body,
	    "candidates")))
		m->status = 200;
	else if (status >= 400 && status < 500 && json_is_object(body))
		m->status = status;	/* the app's refusal, passed on */
	else
		log_warn("candidates of a model: the app answered %ld", status);
	if (m->status != 0) {
		m->answer = json_incref(body);
		m->fetched_ms = util_now_ms();
		if (m->old != NULL)
			note_gone(m);
	}
	wake(m);
}

/* Ask the app for m's candidates, once at a time. */
static void
fetch(struct model *m)
{
	json_t	*q;

	if (m->fetching)
		return;
	m->fetching = 1;
	q = json_pack("{s:s}", "model", m->name);
	if (app_call("/internal/candidates", q, fetched, m) == -1)
		fetched(0, NULL, NULL, m);
	json_decref(q);
}

void
models_get(const char *name, models_fn fn, void *arg)
{
	struct model	*m = model_get(name);
	struct mwait	*w;

	if (fresh(m)) {
		fn(arg, m->status, m->answer);
		return;
	}
	if ((w = calloc(1, sizeof(*w))) == NULL)
		abort();
	w->fn = fn;
	w->arg = arg;
	w->next = m->waiting;
	m->waiting = w;
	fetch(m);
}

/*
 * Forget what we know of m, and ask again at once: requests admitted
 * before learn from the new answer which nodes are gone.
 */
static void
forget(struct model *m)
{
	if (m->answer != NULL && m->old == NULL)
		m->old = json_incref(m->answer);
	json_decref(m->answer);
	m->answer = NULL;
	m->status = 0;
	if (m->fetching)
		m->stale = 1;
	else
		fetch(m);
}

void
models_forget(const char *name)
{
	struct model	*m;

	for (m = models; m != NULL; m = m->next)
		if (strcmp(m->name, name) == 0)
			forget(m);
}

void
models_forget_node(int64_t id)
{
	struct model	*m;

	for (m = models; m != NULL; m = m->next)
		if (lists(m->answer, id))
			forget(m);
}

void
models_forget_all(void)
{
	struct model	*m;

	for (m = models; m != NULL; m = m->next)
		forget(m);
}

/* Free m, which has nobody waiting. */
static void
model_free(struct model *m)
{
	json_decref(m->answer);
	json_decref(m->old);
	free(m->name);
	free(m);
}

void
models_sweep(void)
{
	struct model	**mp = &models, *m;

	while ((m = *mp) != NULL) {
		if (!m->fetching && m->waiting == NULL && !fresh(m)) {
			*mp = m->next;
			model_free(m);
		} else
			mp = &m->next;
	}
}

void
models_free(void)
{
	struct model	*m;
	struct mwait	*w;

	while ((m = models) != NULL) {
		models = m->next;
		while ((w = m->waiting) != NULL) {
			m->waiting = w->next;
			free(w);
		}
		model_free(m);
	}
}
