/* page_nodes.c: the supplier's nodes page: state, prices, today; add, reprice, rotate, remove */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "arena.h"
#include "json.h"
#include "log.h"
#include "money.h"
#include "node.h"
#include "stats.h"

#define DEFAULT_UPSTREAM	"http://127.0.0.1:8000/v1"

/* What a render of the page carries besides the nodes (JSON: the arena's). */
struct view {
	int		 status;
	json_t		*form;		/* the add form's values, or NULL */
	json_t		*errors;	/* the add form's errors, or NULL */
	int64_t		 edit_id;	/* the node whose prices failed, or 0 */
	json_t		*edit;		/* model -> {in, out, error_in, error_out} */
	json_t		*secret;	/* {name, token, command}, shown once */
	const char	*flash;		/* a message for this render only */
};

/* The integer field key of obj (0 when absent or null). */
static int64_t
int_of(json_t *obj, const char *key)
{
	return json_integer_value(json_object_get(obj, key));
}

/* The micro-USD of a {micro_usd, usd} field key of obj. */
static int64_t
micro_of(json_t *obj, const char *key)
{
	return int_of(json_object_get(obj, key), "micro_usd");
}

/*
 * The page's rows for one node's models: the prices as form values in
 * dollars, or, for the node whose edit failed, what was sent and why.
 */
static json_t *
model_rows(struct req *r, json_t *node, const struct view *v)
{
	json_t		*rows = json_array(), *m, *e;
	const char	*id;
	size_t		 i;
	int		 editing = v->edit_id == int_of(node, "id");

	json_array_foreach(json_object_get(node, "models"), i, m) {
		id = json_string_value(json_object_get(m, "model"));
		e = editing ? json_object_get(v->edit, id) : NULL;
		json_array_append_new(rows, json_pack("{s:I, s:I, s:s, s:O,"
		    " s:s, s:s, s:o, s:o}",
		    "node_id", (json_int_t)int_of(node, "id"),
		    "idx", (json_int_t)i, "model", id,
		    "upstream_model", json_object_get(m, "upstream_model"),
		    "price_in", e ? json_string_value(json_object_get(e,
		    "in")) : view_dollars(r->arena, int_of(m, "price_in")),
		    "price_out", e ? json_string_value(json_object_get(e,
		    "out")) : view_dollars(r->arena, int_of(m, "price_out")),
		    "error_in", json_incref(e ? json_object_get(e, "error_in") :
		    json_null()),
		    "error_out", json_incref(e ? json_object_get(e,
		    "error_out") : json_null())));
	}
	return rows;
}

/*
 * Today's success rate as "97%": successes over successes and failures
 * by the node's doing (a consumer who hangs up is neither); "—" before
 * the first such request.
 */
static json_t *
success_rate(json_t *today)
{
	return view_rate(int_of(today, "success"), int_of(today, "failure"));
}

/* A nullable count with a unit as the page shows it, "—" when null. */
static json_t *
maybe(json_t *node, const char *key, const char *unit)
{
	json_t	*v = json_object_get(node, key);

	if (!json_is_integer(v))
		return json_string("—");
	return json_sprintf("%lld%s", (long long)json_integer_value(v), unit);
}

/* One node of node_list() as the page shows it; a new object. */
static json_t *
node_view(struct req *r, json_t *node, const struct view *v)
{
	json_t		*today = json_object_get(node, "today");
	const char	*state = json_string_value(json_object_get(node,
			    "state"));
	int		 live = strcmp(state, "online") == 0 ||
			    strcmp(state, "parked") == 0;

	return json_pack("{s:O, s:O, s:O, s:b, s:O, s:b, s:O, s:s, s:O, s:O,"
	    " s:O, s:O, s:b, s:o, s:o, s:O, s:O, s:O, s:O, s:o, s:o, s:o,"
	    " s:o, s:b, s:b}",
	    "id", json_object_get(node, "id"),
	    "name", json_object_get(node, "name"),
	    "connection", json_object_get(node, "connection"),
	    "is_worker", strcmp(json_string_value(json_object_get(node,
	    "connection")), "worker") == 0,
	    "state", json_object_get(node, "state"),
	    "suspended", strcmp(json_string_value(json_object_get(node,
	    "status")), "suspended") == 0,
	    "suspended_reason", json_object_get(node, "suspended_reason"),
	    "supply_type", strcmp(json_string_value(json_object_get(node,
	    "supply_type")), "cloud") == 0 ? "cloud" : "self-hosted",
	    "max_concurrency", json_object_get(node, "max_concurrency"),
	    "context_length", json_object_get(node, "context_length"),
	    "base_url", json_object_get(node, "base_url"),
	    "last_seen_at", json_object_get(node, "last_seen_at"),
	    "has_api_token", json_is_true(json_object_get(node,
	    "has_api_token")),
	    "inflight", live ? maybe(node, "inflight", "") : json_string("—"),
	    "rtt", maybe(node, "last_rtt_ms", " ms"),
	    "today_requests", json_object_get(today, "requests"),
	    "today_ok", json_object_get(today, "ok"),
	    "today_in", json_object_get(today, "tokens_in"),
	    "today_out", json_object_get(today, "tokens_out"),
	    "success", success_rate(today),
	    "today_earnings", view_usd(r->arena, micro_of(today, "earnings")),
	    "earnings", view_usd(r->arena, micro_of(node, "earnings")),
	    "models", model_rows(r, node, v),
	    "no_token", strcmp(json_string_value(json_object_get(node,
	    "connection")), "worker") == 0 &&
	    !json_is_true(json_object_get(node, "has_node_token")),
	    "editing", v->edit_id == int_of(node, "id"));
}

/* The add form's starting values: a self-hosted worker. */
static json_t *
form_defaults(void)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
	    "name", "", "supply_type", "self_hosted", "connection", "worker",
	    "max_concurrency", "4", "context_length", "8192", "base_url", "",
	    "model", "", "upstream_model", "", "price_in", "",
	    "price_out", "");
}

/* Mark the add form's choices as selected, for the template. */
static void
form_choices(json_t *form)
{
	const char	*st = json_string_value(json_object_get(form,
			    "supply_type"));
	const char	*cn = json_string_value(json_object_get(form,
			    "connection"));

	json_object_set_new(form, "is_cloud", json_boolean(strcmp(st,
	    "cloud") == 0));
	json_object_set_new(form, "is_endpoint", json_boolean(strcmp(cn,
	    "endpoint") == 0));
}

/*
 * The last STATS_DAYS days of what the caller's nodes served into ctx:
 * "served" {requests, success (of the requests that succeeded or failed
 * by the node's doing), earned, tokens} and the earnings chart.
 */
static void
served(struct req *r, json_t *ctx, const struct stats_day *days)
{
	int64_t	req = 0, ok = 0, bad = 0, earned = 0, tokens = 0;
	size_t	i;

	for (i = 0; i < STATS_DAYS; i++) {
		req += days[i].requests;
		ok += days[i].success;
		bad += days[i].failure;
		earned += days[i].earning;
		tokens += days[i].tokens_in + days[i].tokens_out;
	}
	json_object_set_new(ctx, "served", json_pack("{s:o, s:o, s:o, s:o,"
	    " s:b}", "requests", view_count(req), "success", view_rate(ok, bad), "earned", view_usd(r->arena, earned),
	    "tokens", view_count(tokens), "any", req > 0));
	json_object_set_new(ctx, "html_earnings_chart", view_chart("earned",
	    "Your nodes' earnings per day, last 30 days (UTC)", days,
	    VIEW_EARNING));
}

/* Render the page: the caller's nodes and what v carries (borrowed). */
static int
render(struct req *r, struct view *v)
{
	json_t		*nodes = json_arena(r->arena, node_list(r->app->db,
			    r->arena, r->auth.user_id));
	json_t		*views, *n, *ctx;
	struct stats_day days[STATS_DAYS];
	size_t		 i;

	if (nodes == NULL || stats_days(r->app->db, r->arena, STATS_SUPPLIER,
	    r->auth.user_id, days) == -1)
		return 500;
	views = json_arena(r->arena, json_array());
	json_array_foreach(nodes, i, n)
		json_array_append_new(views, node_view(r, n, v));
	if (v->form == NULL)
		v->form = json_arena(r->arena, form_defaults());
	form_choices(v->form);
	ctx = json_arena(r->arena, json_pack("{s:s, s:b, s:O, s:O, s:o, s:o}",
	    "title", "Nodes", "has_nodes", json_array_size(views) > 0, "nodes",
	    views, "form", v->form, "errors", v->errors ?
	    json_incref(v->errors) : json_object(), "secret", v->secret ?
	    json_incref(v->secret) : json_null()));
	if (v->flash != NULL)
		json_object_set_new(ctx, "flash", json_string(v->flash));
	served(r, ctx, days);
	return resp_page(r, v->status, "nodes", ctx);
}

/* GET /nodes */
int
page_nodes(struct req *r)
{
	struct view	v = { .status = 200 };

	return render(r, &v);
}

/* A whole number of 1 to 9 digits, or -1 (its range is node_spec_check's). */
static long long
form_int(const char *s)
{
	size_t	n = strlen(s);

	if (n < 1 || n > 9 || strspn(s, "0123456789") != n)
		return -1;
	return strtoll(s, NULL, 10);
}

/*
 * A price in dollars per 1M tokens ("$" allowed) as micro-USD, or -1 when
 * it is not one or not a price a node may ask (node_price_ok).
 */
static int64_t
form_price(const char *s)
{
	int64_t	v;

	while (*s == ' ')
		s++;
	if (*s == '$')
		s++;
	if (money_parse(s, &v) == -1 || !node_price_ok(v))
		return -1;
	return v;
}

/* What the page shows once: the token and the command using it (arena's). */
static json_t *
secret_view(struct req *r, const char *name, const char *token,
    long long concurrency)
{
	return json_arena(r->arena, json_pack("{s:s, s:s, s:s}", "name", name,
	    "token", token,
	    "command", arena_printf(r->arena, "INFRPOOL_WORKER_TOKEN=%s"
	    " infrpool-worker --platform %s --upstream " DEFAULT_UPSTREAM
	    " --concurrency %lld", token, view_site_url(r), concurrency)));
}

/* The add form's field key, trimmed of surrounding spaces ("" when absent). */
static const char *
field(struct req *r, const char *key)
{
	const char	*v = req_form(r, key);
	size_t		 n;

	if (v == NULL)
		return "";
	while (*v == ' ')
		v++;
	for (n = strlen(v); n > 0 && v[n - 1] == ' '; n--)
		;
	return arena_strndup(r->arena, v, n);
}

/* Note msg as the error of field key; returns -1. */
static int
note(json_t *errors, const char *key, const char *msg)
{
	json_object_set_new(errors, key, json_string(msg));
	return -1;
}

/* Read the endpoint fields of the add form into spec and form. */
static void
form_endpoint(struct req *r, json_t *form, struct node_spec *spec)
{
	const char	*url = field(r, "base_url");
	const char	*tok = field(r, "api_token");
	int		 endpoint = strcmp(spec->connection, "endpoint") == 0;

	json_object_set_new(form, "base_url", json_string(url));
	/* A worker takes neither: a value given is kept to be refused. */
	spec->base_url = endpoint || *url != '\0' ? url : NULL;
	spec->api_token = endpoint || *tok != '\0' ? tok : NULL;
}

/* Read the add form's one model row into m and form. */
static void
form_model(struct req *r, json_t *form, struct node_model *m)
{
	const char	*pin = field(r, "price_in");
	const char	*pout = field(r, "price_out");

	m->model = field(r, "model");
	m->upstream_model = field(r, "upstream_model");
	json_object_set_new(form, "model", json_string(m->model));
	json_object_set_new(form, "upstream_model",
	    json_string(m->upstream_model));
	json_object_set_new(form, "price_in", json_string(pin));
	json_object_set_new(form, "price_out", json_string(pout));
	if (*m->upstream_model == '\0')
		m->upstream_model = m->model;
	m->price_in = form_price(pin);
	m->price_out = form_price(pout);
}

/*
 * Read one of two words from field key into *out, and into form (the
 * first word when it is neither: the select shows a real choice).
 */
static void
form_word(struct req *r, json_t *form, const char *key, const char *a,
    const char *b, const char **out)
{
	const char	*v = field(r, key);

	*out = v;
	if (strcmp(v, a) != 0 && strcmp(v, b) != 0)
		v = a;
	json_object_set_new(form, key, json_string(v));
}

/* The add form's message for each field node_spec_check() may refuse. */
static const struct {
	enum node_field	 field;
	const char	*key;
	const char	*msg;
} form_errors[] = {
	{ NODE_F_NAME, "name", "Give the node a name of 1 to 100 characters,"
	    " without control characters." },
	{ NODE_F_SUPPLY_TYPE, "supply_type", "Choose one of the offered"
	    " options." },
	{ NODE_F_CONNECTION, "connection", "Choose one of the offered"
	    " options." },
	{ NODE_F_CONCURRENCY, "max_concurrency", "Enter how many requests it"
	    " can run at once, from 1 to 1024." },
	{ NODE_F_CONTEXT, "context_length", "Enter the context length in"
	    " tokens, from 1 to 10000000." },
	{ NODE_F_MODEL, "model", "Use 1 to 100 characters of A-Z, a-z, 0-9"
	    " and . _ : / - (such as meta-llama/llama-3.1-8b)." },
	{ NODE_F_UPSTREAM, "upstream_model", "Use 1 to 200 characters"
	    " without control characters." },
	{ NODE_F_PRICE_IN, "price_in", "Enter dollars per 1M tokens, such as"
	    " 0.10 (from 0.000001 to 1000000, six decimals at most)." },
	{ NODE_F_PRICE_OUT, "price_out", "Enter dollars per 1M tokens, such as"
	    " 0.30 (from 0.000001 to 1000000, six decimals at most)." },
};

/* Note beside its field each problem node_spec_check() found in spec. */
static void
form_check(struct req *r, const struct node_spec *spec, json_t *errors)
{
	struct node_check	c;
	int			worker = strcmp(spec->connection, "endpoint") != 0;
	size_t			i;

	if (node_spec_check(spec, 1, NULL, &c) == 0)
		return;
	for (i = 0; i < sizeof(form_errors) / sizeof(form_errors[0]); i++)
		if (c.bad & NODE_BAD(form_errors[i].field))
			note(errors, form_errors[i].key, form_errors[i].msg);
	/* A defaulted upstream name is the model id, refused as such. */
	if (*field(r, "upstream_model") == '\0')
		json_object_del(errors, "upstream_model");
	if (c.bad & NODE_BAD(NODE_F_BASE_URL))
		note(errors, "base_url", worker ? "A worker node has no base"
		    " URL: leave this empty, or choose an endpoint." :
		    "Enter the endpoint's http:// or https:// URL (at most 500"
		    " characters), such as https://api.example.com/v1.");
	if (c.bad & NODE_BAD(NODE_F_API_TOKEN))
		note(errors, "api_token", worker ? "A worker node has no API"
		    " token: leave this empty." : "An API token is at most 4096"
		    " visible characters, without spaces.");
}

/* Read the whole add form into spec and check it; values and errors noted. */
static void
form_node(struct req *r, json_t *form, struct node_spec *spec,
    struct node_model *m, json_t *errors)
{
	const char	*conc = field(r, "max_concurrency");
	const char	*ctx = field(r, "context_length");

	memset(spec, 0, sizeof(*spec));
	spec->name = field(r, "name");
	json_object_set_new(form, "name", json_string(spec->name));
	form_word(r, form, "supply_type", "self_hosted", "cloud",
	    &spec->supply_type);
	form_word(r, form, "connection", "worker", "endpoint",
	    &spec->connection);
	json_object_set_new(form, "max_concurrency", json_string(conc));
	json_object_set_new(form, "context_length", json_string(ctx));
	spec->max_concurrency = form_int(conc);
	spec->context_length = form_int(ctx);
	form_endpoint(r, form, spec);
	form_model(r, form, m);
	spec->models = m;
	spec->nmodels = 1;
	form_check(r, spec, errors);
}

/* POST /nodes: add a node; a worker's token is shown on this page only. */
int
page_nodes_create(struct req *r)
{
	struct view		 v = { .status = 400 };
	struct node_spec	 spec;
	struct node_model	 m;
	char			 token[NODE_WTOKEN_LEN + 1];
	int64_t			 id;
	int			 rc;

	v.form = json_arena(r->arena, json_object());
	v.errors = json_arena(r->arena, json_object());
	form_node(r, v.form, &spec, &m, v.errors);
	if (json_object_size(v.errors) > 0)
		return render(r, &v);
	switch (node_create(r->app->db, r->arena, &r->app->keys,
	    r->auth.user_id, &spec, &id, token)) {
	case NODE_OK:
		break;
	case NODE_NO_KEYS:
		note(v.errors, "api_token", "API tokens cannot be stored: the"
		    " operator has not configured [crypto] keys. Leave it"
		    " empty, or ask the operator.");
		v.status = 503;
		return render(r, &v);
	default:
		return 500;
	}
	log_info("node %lld added from the page (%s)", (long long)id,
	    spec.connection);
	if (*token == '\0')
		return resp_redirect(r, "/nodes", "node_added");
	/* Shown in this response only: no redirect, no flash, no storage. */
	memset(&v, 0, sizeof(v));
	v.status = 201;
	v.secret = secret_view(r, spec.name, token, spec.max_concurrency);
	v.flash = "Your worker node is added. Start the worker with the"
	    " command below; its token is shown this once.";
	rc = render(r, &v);
	explicit_bzero(token, sizeof(token));
	return rc;
}

/*
 * Read the prices form (fields m<i>, in<i>, out<i>) into the n models ms
 * of the node, noting what was sent and each error in edit. 0, -1 when a
 * price is wrong, or 1 when the form names no model or one the node no
 * longer has.
 */
static int
form_prices(struct req *r, struct node_model *ms, size_t n, json_t *edit)
{
	const char	*id, *pin, *pout;
	json_t		*e;
	size_t		 i, k;
	int		 rc = 0;

	for (i = 0; i < NODE_MODELS_MAX && (id = req_form(r, arena_printf(
	    r->arena, "m%zu", i))) != NULL; i++) {
		for (k = 0; k < n && strcmp(ms[k].model, id) != 0; k++)
			;
		if (k == n)
			return 1;	/* the models changed since: reload */
		pin = field(r, arena_printf(r->arena, "in%zu", i));
		pout = field(r, arena_printf(r->arena, "out%zu", i));
		e = json_pack("{s:s, s:s, s:n, s:n}", "in", pin, "out", pout,
		    "error_in", "error_out");
		json_object_set_new(edit, id, e);
		if ((ms[k].price_in = form_price(pin)) < 0)
			rc = note(e, "error_in", "Enter dollars per 1M tokens,"
			    " such as 0.10.");
		if ((ms[k].price_out = form_price(pout)) < 0)
			rc = note(e, "error_out", "Enter dollars per 1M tokens,"
			    " such as 0.30.");
	}
	return i == 0 ? 1 : rc;
}

/* The node's models as specs (in the arena) to edit; *n is their count. */
static struct node_model *
node_models(struct req *r, json_t *node, size_t *n)
{
	json_t			*list = json_object_get(node, "models"), *m;
	struct node_model	*ms;
	size_t			 i;

	*n = json_array_size(list);
	ms = arena_calloc(r->arena, *n ? *n : 1, sizeof(*ms));
	json_array_foreach(list, i, m) {
		ms[i].model = json_string_value(json_object_get(m, "model"));
		ms[i].upstream_model = json_string_value(json_object_get(m,
		    "upstream_model"));
		ms[i].price_in = int_of(m, "price_in");
		ms[i].price_out = int_of(m, "price_out");
	}
	return ms;
}

/* POST /nodes/{id}/prices: new prices for the node's models. */
int
page_nodes_prices(struct req *r)
{
	struct view		 v = { .status = 400 };
	struct node_spec	 spec;
	struct node_model	*ms;
	json_t			*node;
	int64_t			 id = r->path_id;
	int			 rc;

	switch (node_get(r->app->db, r->arena, r->auth.user_id, id, &node)) {
	case NODE_OK:
		json_arena(r->arena, node);
		break;
	case NODE_NOT_FOUND:
		return 404;
	default:
		return 500;
	}
	memset(&spec, 0, sizeof(spec));
	spec.models = ms = node_models(r, node, &spec.nmodels);
	v.edit = json_arena(r->arena, json_object());
	v.edit_id = id;
	if ((rc = form_prices(r, ms, spec.nmodels, v.edit)) == 1)
		return resp_error(r, 409, "This node's models changed since"
		    " the page was loaded: reload it and try again.");
	if (rc == -1)
		return render(r, &v);
	switch (node_update(r->app->db, r->arena, &r->app->keys,
	    r->auth.user_id, id, &spec)) {
	case NODE_OK:
		log_info("node %lld: prices changed from the page",
		    (long long)id);
		return resp_redirect(r, "/nodes", "node_prices");
	case NODE_NOT_FOUND:
		return 404;
	default:
		return 500;
	}
}

/* POST /nodes/{id}/token: a new token for a worker node, shown once. */
int
page_nodes_token(struct req *r)
{
	struct view	 v = { .status = 200 };
	char		 token[NODE_WTOKEN_LEN + 1];
	json_t		*node;
	int64_t		 id = r->path_id;
	int		 rc;

	switch (node_rotate_token(r->app->db, r->arena, r->auth.user_id, id,
	    token)) {
	case NODE_OK:
		break;
	case NODE_NOT_FOUND:
		return 404;
	case NODE_NOT_WORKER:
		return resp_error(r, 400, "Only worker nodes have a node"
		    " token; an endpoint node is called with its API token.");
	default:
		return 500;
	}
	log_info("node %lld: node token rotated from the page", (long long)id);
	if (node_get(r->app->db, r->arena, r->auth.user_id, id, &node) !=
	    NODE_OK)
		return 500;
	json_arena(r->arena, node);
	v.secret = secret_view(r, json_string_value(json_object_get(node,
	    "name")), token, int_of(node, "max_concurrency"));
	v.flash = "The node has a new token; the old one stopped working."
	    " Restart the worker with the command below.";
	rc = render(r, &v);
	explicit_bzero(token, sizeof(token));
	return rc;
}

/* POST /nodes/{id}/delete: remove the node (kept for its history). */
int
page_nodes_delete(struct req *r)
{
	int64_t	id = r->path_id;

	switch (node_delete(r->app->db, r->arena, r->auth.user_id, id)) {
	case NODE_OK:
		log_info("node %lld removed from the page", (long long)id);
		return resp_redirect(r, "/nodes", "node_removed");
	case NODE_NOT_FOUND:
		return 404;
	default:
		return 500;
	}
}
