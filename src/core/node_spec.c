/* node_spec.c: the one check of a node's spec, for the form and the API */
#include "config.h"

#include <string.h>

#include "node.h"
#include "text.h"

/* 1 when s is at most NODE_TOKEN_MAX bytes of visible ASCII. */
static int
token_ok(const char *s)
{
	size_t	n = strlen(s), i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return 0;
	return n <= NODE_TOKEN_MAX;
}

/* 1 when v is in [1, max], or 0 and may be (an edit leaves it as it is). */
static int
count_ok(long long v, long long max, int required)
{
	return (v == 0 && !required) || (v >= 1 && v <= max);
}

int
node_price_ok(int64_t v)
{
	return v >= 1 && v <= NODE_PRICE_MAX;
}

/* The bits of what is wrong with model m. */
static unsigned
model_bad(const struct node_model *m)
{
	unsigned	bad = 0;

	if (m->model == NULL || !node_model_id_ok(m->model))
		bad |= NODE_BAD(NODE_F_MODEL);
	if (m->upstream_model == NULL ||
	    !text_ok(m->upstream_model, NODE_UPSTREAM_MAX))
		bad |= NODE_BAD(NODE_F_UPSTREAM);
	if (!node_price_ok(m->price_in))
		bad |= NODE_BAD(NODE_F_PRICE_IN);
	if (!node_price_ok(m->price_out))
		bad |= NODE_BAD(NODE_F_PRICE_OUT);
	return bad;
}

/* Check the models; the first with a problem is c->model. */
static void
check_models(const struct node_spec *s, int create, struct node_check *c)
{
	size_t		i, j;
	unsigned	bad;

	if (s->models == NULL && !create)
		return;
	if (s->models == NULL || s->nmodels < 1 ||
	    s->nmodels > NODE_MODELS_MAX) {
		c->bad |= NODE_BAD(NODE_F_MODELS);
		return;
	}
	for (i = 0; i < s->nmodels; i++) {
		bad = model_bad(&s->models[i]);
		for (j = 0; j < i && !(bad & NODE_BAD(NODE_F_MODEL)); j++)
			if (strcmp(s->models[i].model, s->models[j].model) == 0)
				bad |= NODE_BAD(NODE_F_DUPLICATE);
		if (bad != 0) {
			c->bad |= bad;
			c->model = i;
			return;
		}
	}
}

/* Check base_url and api_token for a node of this connection. */
static void
check_endpoint(const struct node_spec *s, int create, const char *connection,
    struct node_check *c)
{
	if (connection == NULL || strcmp(connection, "endpoint") != 0) {
		if (s->base_url != NULL)
			c->bad |= NODE_BAD(NODE_F_BASE_URL);
		if (s->api_token != NULL)
			c->bad |= NODE_BAD(NODE_F_API_TOKEN);
		return;
	}
	if ((create || s->base_url != NULL) &&
	    (s->base_url == NULL || !node_url_ok(s->base_url)))
		c->bad |= NODE_BAD(NODE_F_BASE_URL);
	if (s->api_token != NULL && !token_ok(s->api_token))
		c->bad |= NODE_BAD(NODE_F_API_TOKEN);
}

/* Is s one of the words a and b? */
static int
word_ok(const char *s, const char *a, const char *b)
{
	return s != NULL && (strcmp(s, a) == 0 || strcmp(s, b) == 0);
}

int
node_spec_check(const struct node_spec *s, int create,
    const char *connection, struct node_check *c)
{
	memset(c, 0, sizeof(*c));
	if ((create || s->name != NULL) &&
	    (s->name == NULL || !text_ok(s->name, NODE_NAME_MAX)))
		c->bad |= NODE_BAD(NODE_F_NAME);
	if (create) {
		if (!word_ok(s->supply_type, "self_hosted", "cloud"))
			c->bad |= NODE_BAD(NODE_F_SUPPLY_TYPE);
		if (!word_ok(s->connection, "worker", "endpoint"))
			c->bad |= NODE_BAD(NODE_F_CONNECTION);
		connection = s->connection;
	}
	if (!count_ok(s->max_concurrency, NODE_CONCURRENCY_MAX, create))
		c->bad |= NODE_BAD(NODE_F_CONCURRENCY);
	if (!count_ok(s->context_length, NODE_CONTEXT_MAX, create))
		c->bad |= NODE_BAD(NODE_F_CONTEXT);
	check_endpoint(s, create, connection, c);
	check_models(s, create, c);
	return c->bad == 0 ? 0 : -1;
}
