/* page_admin.c: the operator's pages: overview, users, nodes (suspend, unsuspend), jobs */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "arena.h"
#include "jobs.h"
#include "json.h"
#include "ledger.h"
#include "log.h"
#include "node.h"
#include "text.h"
#include "stats.h"

#define USERS_PAGE	50
#define REASON_MAX	500

/* Replace the micro-USD integer obj[key] with "$…" for the page. */
static void
usd_field(struct req *r, json_t *obj, const char *key)
{
	json_object_set_new(obj, key, view_usd(r->arena,
	    json_integer_value(json_object_get(obj, key))));
}

/*
 * GET /admin: revenue and volume per day, balances, open holds and the
 * ledger checker's report, run now.
 */
int
page_admin(struct req *r)
{
	struct stats_day days[STATS_DAYS];
	struct str	 report = STR_INIT;
	json_t		*p, *holds, *ctx;
	int64_t		 volume = 0, fees = 0, requests = 0;
	int		 clean;
	size_t		 i;

	if ((p = json_arena(r->arena, stats_platform(r->app->db, r->arena))) ==
	    NULL)
		return 500;
	if (stats_days(r->app->db, r->arena, STATS_PLATFORM, 0, days) == -1 ||
	    (clean = ledger_check(r->app->db, r->arena, &report)) == -1) {
		str_free(&report);
		return 500;
	}
	for (i = 0; i < STATS_DAYS; i++) {
		volume += days[i].cost;
		fees += days[i].cost - days[i].earning;
		requests += days[i].requests;
	}
	holds = json_object_get(p, "holds");
	usd_field(r, p, "revenue");
	usd_field(r, p, "credit");
	usd_field(r, p, "earnings");
	usd_field(r, holds, "amount");
	ctx = json_arena(r->arena, json_pack("{s:s, s:O, s:s, s:b, s:o, s:o,"
	    " s:o, s:o, s:o}",
	    "title", "Operator", "platform", p,
	    "ledger_report", str_cstr(&report), "ledger_clean", clean == 0,
	    "volume_30d", view_usd(r->arena, volume),
	    "fees_30d", view_usd(r->arena, fees),
	    "requests_30d", view_count(requests),
	    "html_fee_chart", view_chart("fees", "Platform revenue (fees) per "
	    "day, last 30 days (UTC)", days, VIEW_FEE),
	    "html_volume_chart", view_chart("volume", "Volume (consumer spend) "
	    "per day, last 30 days (UTC)", days, VIEW_COST)));
	str_free(&report);
	if (clean != 0)
		log_error("ledger check from the operator page found problems");
	return resp_page(r, 200, "admin", ctx);
}

/* GET /admin/users?q=&before=: users newest first, paged, searchable. */
int
page_admin_users(struct req *r)
{
	const char	*q = req_query(r, "q");
	long long	 before = req_query_int(r, "before", 0, INT64_MAX);
	json_t		*users, *u;
	int64_t		 next;
	size_t		 i;

	if (before < 0)
		before = 0;
	if (q != NULL && strlen(q) > 254)
		return resp_error(r, 400, "Search for at most 254 characters.");
	if ((users = json_arena(r->arena, stats_users(r->app->db, r->arena, q,
	    before, USERS_PAGE, &next))) == NULL)
		return 500;
	json_array_foreach(users, i, u) {
		usd_field(r, u, "credit");
		usd_field(r, u, "earnings");
		json_object_set_new(u, "is_admin", json_boolean(strcmp(
		    json_string_value(json_object_get(u, "role")), "admin") == 0));
	}
	return resp_page(r, 200, "admin_users", json_arena(r->arena,
	    json_pack("{s:s, s:b, s:O, s:s, s:o, s:b}", "title", "Users",
	    "has_users",
	    json_array_size(users) > 0, "users", users, "q", q ? q : "",
	    "next", next ? json_integer(next) : json_null(), "paged",
	    before > 0)));
}

/* The nodes page, with an error beside one node's reason field. */
static int
nodes_page(struct req *r, int status, int64_t err_id, const char *err)
{
	json_t	*nodes = json_arena(r->arena, stats_nodes(r->app->db,
		    r->arena)), *n;
	size_t	 i;

	if (nodes == NULL)
		return 500;
	json_array_foreach(nodes, i, n) {
		json_object_set_new(n, "success", view_rate(json_integer_value(
		    json_object_get(n, "success_30d")), json_integer_value(
		    json_object_get(n, "failure_30d"))));
		json_object_set_new(n, "suspended", json_boolean(strcmp(
		    json_string_value(json_object_get(n, "status")),
		    "suspended") == 0));
		json_object_set_new(n, "error", json_integer_value(
		    json_object_get(n, "id")) == err_id ? json_string(err) :
		    json_null());
	}
	return resp_page(r, status, "admin_nodes", json_arena(r->arena,
	    json_pack("{s:s, s:b, s:O}", "title", "All nodes", "has_nodes",
	    json_array_size(nodes) > 0, "nodes", nodes)));
}

int
page_admin_nodes(struct req *r)
{
	return nodes_page(r, 200, 0, NULL);
}

/* 1 when s is 1..REASON_MAX characters with no control characters. */
static int
reason_ok(const char *s)
{
	return s != NULL && text_ok(s, REASON_MAX) &&
	    strspn(s, " ") < strlen(s);
}

/*
 * Suspend (with the form's reason) or unsuspend the node in the path,
 * then back to the list with a flash; a node not in the state to change
 * gets the list again with the error beside it.
 */
static int
set_suspended(struct req *r, int suspend)
{
	int64_t		 id = r->path_id;
	const char	*reason = suspend ? req_form(r, "reason") : NULL;

	if (suspend && !reason_ok(reason))
		return nodes_page(r, 400, id, "Give the supplier a reason of 1 "
		    "to 500 characters; they see it on their nodes page.");
	switch (node_set_suspended(r->app->db, r->arena, r->auth.user_id, id,
	    suspend, reason)) {
	case NODE_OK:
		log_info("node %lld %s by user=%lld", (long long)id, suspend ?
		    "suspended" : "unsuspended", (long long)r->auth.user_id);
		return resp_redirect(r, "/admin/nodes", suspend ?
		    "node_suspended" : "node_unsuspended");
	case NODE_NOT_FOUND:
		return nodes_page(r, 409, id, suspend ? "This node is not "
		    "active: it may be suspended or removed already." :
		    "This node is not suspended.");
	default:
		return 500;
	}
}

/* POST /admin/nodes/{id}/suspend with a reason. */
int
page_admin_suspend(struct req *r)
{
	return set_suspended(r, 1);
}

/* POST /admin/nodes/{id}/unsuspend */
int
page_admin_unsuspend(struct req *r)
{
	return set_suspended(r, 0);
}

/* GET /admin/jobs: the scheduled jobs, their schedules and last runs. */
int
page_admin_jobs(struct req *r)
{
	json_t	*list, *j, *last;
	size_t	 i;
	char	*counts;

	if ((list = json_arena(r->arena, jobs_status(r->app->db, r->arena,
	    time(NULL)))) == NULL)
		return 500;
	json_array_foreach(list, i, j) {
		if (json_is_null(last = json_object_get(j, "last_run")))
			continue;
		counts = json_dumps(json_object_get(last, "counts"),
		    JSON_COMPACT | JSON_SORT_KEYS);
		json_object_set_new(last, "counts_text", json_string(
		    counts != NULL ? counts : "{}"));
		free(counts);
	}
	return resp_page(r, 200, "admin_jobs", json_arena(r->arena,
	    json_pack("{s:s, s:O}", "title", "Jobs", "jobs", list)));
}
