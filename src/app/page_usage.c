/* page_usage.c: the consumer's usage (table and charts), the model catalog, the quickstart */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "apikey.h"
#include "app.h"
#include "arena.h"
#include "gateway.h"
#include "json.h"
#include "node.h"
#include "stats.h"

#define USAGE_PAGE	50
#define USAGE_MAX	200

/*
 * The date field key (YYYY-MM-DD, a real date) as midnight UTC, plus
 * add_days, in RFC 3339 in the arena. NULL when absent or empty; *ok
 * says whether it was a date.
 */
static const char *
form_day(struct req *r, const char *key, int add_days, int *ok)
{
	const char	*v = req_query(r, key);
	struct tm	 tm, back;
	time_t		 t;
	char		 buf[32];
	int		 y, m, d;

	*ok = 1;
	if (v == NULL || *v == '\0')
		return NULL;
	*ok = 0;
	if (strlen(v) != 10 || strspn(v, "0123456789-") != 10 ||
	    v[4] != '-' || v[7] != '-' ||
	    sscanf(v, "%4d-%2d-%2d", &y, &m, &d) != 3 || y < 1970 || y > 9999)
		return NULL;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = m - 1;
	tm.tm_mday = d;
	/* timegm() normalizes tm: 2026-02-30 comes back as March 2nd. */
	if ((t = timegm(&tm)) == (time_t)-1 || gmtime_r(&t, &back) == NULL ||
	    back.tm_year != y - 1900 || back.tm_mon != m - 1 ||
	    back.tm_mday != d)
		return NULL;
	t += (time_t)add_days * 86400;
	gmtime_r(&t, &back);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &back);
	*ok = 1;
	return arena_strdup(r->arena, buf);
}

/* A usage row as the table shows it. */
static json_t *
usage_view(struct req *r, json_t *u)
{
	json_t	*cost = json_object_get(json_object_get(u, "cost"), "micro_usd");
	json_t	*ms = json_object_get(u, "duration_ms");

	return json_pack("{s:O, s:O, s:O, s:O, s:o, s:o, s:o, s:o, s:b}",
	    "created_at", json_object_get(u, "created_at"),
	    "model", json_object_get(u, "model"),
	    "endpoint", json_object_get(u, "endpoint"),
	    "status", json_object_get(u, "status"),
	    "tokens_in", view_count(json_integer_value(json_object_get(u,
	    "tokens_in"))),
	    "tokens_out", view_count(json_integer_value(json_object_get(u,
	    "tokens_out"))),
	    "duration", json_is_integer(ms) ? json_sprintf("%lld ms",
	    (long long)json_integer_value(ms)) : json_string("—"),
	    "cost", json_is_integer(cost) ? view_usd(r->arena,
	    json_integer_value(cost)) : json_string("—"),
	    "stream", json_is_true(json_object_get(u, "stream")));
}

/*
 * GET /usage: the caller's requests, newest first, USAGE_PAGE a page
 * (limit: 1..USAGE_MAX),
 * filtered by model and by days (from, to: inclusive, UTC), with the
 * last STATS_DAYS days of tokens and spending as charts.
 */
int
page_usage(struct req *r)
{
	const char	*model = req_query(r, "model");
	const char	*from = req_query(r, "from"), *to = req_query(r, "to");
	struct gw_usage	 q;
	struct stats_day days[STATS_DAYS];
	json_t		*rows, *views, *u;
	json_t		*errors = json_arena(r->arena, json_object());
	int64_t		 next = 0;
	long long	 limit;
	int		 ok_from, ok_to;
	size_t		 i;

	memset(&q, 0, sizeof(q));
	q.user_id = r->auth.user_id;
	limit = req_query_int(r, "limit", USAGE_PAGE, USAGE_MAX);
	q.limit = limit > 0 ? (int)limit : USAGE_PAGE;
	q.before = req_query_int(r, "before", 0, INT64_MAX);
	if (limit <= 0)
		json_object_set_new(errors, "limit", json_string(
		    "Show between 1 and 200 requests a page."));
	if (model != NULL && *model != '\0') {
		if (node_model_id_ok(model))
			q.model = model;
		else
			json_object_set_new(errors, "model", json_string(
			    "A model id has only letters, digits and . _ : / -"));
	}
	q.since = form_day(r, "from", 0, &ok_from);
	q.until = form_day(r, "to", 1, &ok_to);
	if (!ok_from)
		json_object_set_new(errors, "from", json_string(
		    "Give a date as YYYY-MM-DD."));
	if (!ok_to)
		json_object_set_new(errors, "to", json_string(
		    "Give a date as YYYY-MM-DD."));
	if (q.before < 0)
		json_object_set_new(errors, "before", json_string(
		    "That page does not exist: start from the newest."));
	if (stats_days(r->app->db, r->arena, STATS_CONSUMER, r->auth.user_id,
	    days) == -1)
		return 500;
	views = json_arena(r->arena, json_array());
	if (json_object_size(errors) == 0) {
		if ((rows = json_arena(r->arena, gateway_usage(r->app->db,
		    r->arena, &q, &next))) == NULL)
			return 500;
		json_array_foreach(rows, i, u)
			json_array_append_new(views, usage_view(r, u));
	}
	return resp_page(r, json_object_size(errors) ? 400 : 200, "usage",
	    json_arena(r->arena, json_pack("{s:s, s:O, s:b, s:b, s:o, s:s, s:s,"
	    " s:s, s:O, s:b, s:I, s:o, s:o}",
	    "title", "Usage", "requests", views,
	    "has_requests", json_array_size(views) > 0,
	    "filtered", q.model != NULL || q.since != NULL || q.until != NULL ||
	    q.before > 0,
	    "next", next != 0 ? json_integer(next) : json_null(),
	    "model", model ? model : "", "from", from ? from : "",
	    "to", to ? to : "", "errors", errors,
	    "paged", q.before > 0, "limit", (json_int_t)q.limit,
	    "html_tokens_chart", view_chart("tokens", "Tokens per day, last 30 "
	    "days (UTC)", days, VIEW_TOKENS),
	    "html_spend_chart", view_chart("spend", "Spending per day, last 30 "
	    "days (UTC)", days, VIEW_COST))));
}

/* A {min, max} of micro-USD per 1M tokens as "$0.10" or "$0.10–$0.30". */
static json_t *
price_range(struct req *r, json_t *range)
{
	int64_t	lo = json_integer_value(json_object_get(range, "min"));
	int64_t	hi = json_integer_value(json_object_get(range, "max"));

	if (lo == hi)
		return view_usd(r->arena, lo);
	return json_sprintf("$%s–$%s", view_dollars(r->arena, lo),
	    view_dollars(r->arena, hi));
}

/* GET /models: what can be called now, at what prices, on how many nodes. */
int
page_models(struct req *r)
{
	json_t	*models = json_arena(r->arena, node_catalog(r->app->db, r->arena,
		    NULL));
	json_t	*views, *m, *pricing;
	size_t	 i;

	if (models == NULL)
		return 500;
	views = json_arena(r->arena, json_array());
	json_array_foreach(models, i, m) {
		pricing = json_object_get(m, "pricing");
		json_array_append_new(views, json_pack("{s:O, s:o, s:o, s:o,"
		    " s:O, s:b}",
		    "id", json_object_get(m, "id"),
		    "price_in", price_range(r, json_object_get(pricing,
		    "prompt")),
		    "price_out", price_range(r, json_object_get(pricing,
		    "completion")),
		    "context", view_count(json_integer_value(json_object_get(m,
		    "context_length"))),
		    "nodes", json_object_get(m, "nodes"),
		    "live", json_integer_value(json_object_get(m, "nodes")) > 0));
	}
	return resp_page(r, 200, "models", json_arena(r->arena, json_pack(
	    "{s:s, s:b, s:O}", "title", "Models", "has_models",
	    json_array_size(views) > 0, "models", views)));
}

/*
 * GET /quickstart: the base URL and ready-to-paste calls with the
 * caller's newest live key's prefix (the secret itself is never kept),
 * and a model that can be called now.
 */
int
page_quickstart(struct req *r)
{
	json_t		*keys, *models, *k;
	const char	*prefix = NULL, *model = "MODEL";
	size_t		 i;

	if ((keys = json_arena(r->arena, apikey_list(r->app->db, r->arena,
	    r->auth.user_id))) == NULL)
		return 500;
	json_array_foreach(keys, i, k)
		if (prefix == NULL && json_is_true(json_object_get(k, "active")))
			prefix = json_string_value(json_object_get(k, "prefix"));
	if ((models = json_arena(r->arena, node_catalog(r->app->db, r->arena,
	    NULL))) == NULL)
		return 500;
	if (json_array_size(models) > 0)
		model = json_string_value(json_object_get(json_array_get(models,
		    0), "id"));
	return resp_page(r, 200, "quickstart", json_arena(r->arena,
	    json_pack("{s:s, s:s, s:s, s:s, s:b}",
	    "title", "Quickstart", "base_url", arena_printf(r->arena, "%s/v1",
	    view_site_url(r)), "key", prefix ? arena_printf(r->arena,
	    "%s…", prefix) : "ip_…", "model", model, "has_key",
	    prefix != NULL)));
}
