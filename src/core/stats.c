/* stats.c: the dashboards' numbers: days of traffic and the operator's lists */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "arena.h"
#include "db.h"
#include "log.h"
#include "node.h"
#include "stats.h"

#define XSTR(x)	STR(x)
#define STR(x)	#x

/*
 * The last STATS_DAYS UTC days, each with its finished requests of the
 * scope the caller appends (the "r" rows joined on the day). The day
 * bounds are timestamptz, so requests_created serves the join.
 */
#define DAYS_SQL(scope) \
	"SELECT to_char(d.day, 'YYYY-MM-DD'), count(r.id)," \
	" count(r.id) FILTER (WHERE r.outcome = 'success')," \
	" count(r.id) FILTER (WHERE r.outcome = 'failure')," \
	" coalesce(sum(r.tokens_in), 0), coalesce(sum(r.tokens_out), 0)," \
	" coalesce(sum(r.cost), 0), coalesce(sum(r.earning), 0)" \
	" FROM (SELECT (now() AT TIME ZONE 'UTC')::date - " \
	XSTR(STATS_DAYS) " + 1 + g AS day" \
	"  FROM generate_series(0, " XSTR(STATS_DAYS) " - 1) g) d" \
	" LEFT JOIN requests r ON r.status <> 'admitted'" \
	"  AND r.created_at >= d.day::timestamp AT TIME ZONE 'UTC'" \
	"  AND r.created_at < (d.day + 1)::timestamp AT TIME ZONE 'UTC'" \
	scope " GROUP BY d.day ORDER BY d.day"

static const struct db_stmt q_days[] = {
	{ "stats_days_consumer", DAYS_SQL(" AND r.user_id = $1"), 1, DB_RETRY },
	{ "stats_days_supplier", DAYS_SQL(" AND r.node_id IN (SELECT n.id"
	    " FROM nodes n WHERE n.user_id = $1)"), 1, DB_RETRY },
	{ "stats_days_platform", DAYS_SQL(""), 0, DB_RETRY },
};

static const struct db_stmt q_platform = {
	"stats_platform",
	"SELECT json_build_object("
	" 'users', (SELECT count(*) FROM users),"
	" 'nodes_active', (SELECT count(*) FROM nodes WHERE status = 'active'),"
	" 'nodes_suspended', (SELECT count(*) FROM nodes"
	"  WHERE status = 'suspended'),"
	" 'revenue', (SELECT coalesce(sum(balance), 0) FROM ledger_accounts"
	"  WHERE kind = 'revenue'),"
	" 'credit', (SELECT coalesce(sum(balance), 0) FROM ledger_accounts"
	"  WHERE kind = 'credit'),"
	" 'earnings', (SELECT coalesce(sum(balance), 0) FROM ledger_accounts"
	"  WHERE kind = 'earnings'),"
	" 'holds', (SELECT json_build_object('open', count(*),"
	"  'amount', coalesce(sum(amount), 0),"
	"  'expired', count(*) FILTER (WHERE expires_at < now()),"
	"  'oldest', " DB_TS("min(created_at)") ")"
	"  FROM holds WHERE status = 'held'))::text",
	0, DB_RETRY
};

/* One more than the page, so the caller knows whether another follows. */
static const struct db_stmt q_users = {
	"stats_users",
	"SELECT coalesce(json_agg(u ORDER BY u.id DESC), '[]')::text FROM ("
	" SELECT u.id, u.email, u.role, u.status,"
	"  " DB_TS("u.created_at") " AS created_at,"
	"  coalesce(c.balance, 0) AS credit, coalesce(e.balance, 0) AS earnings,"
	"  (SELECT count(*) FROM nodes n WHERE n.user_id = u.id"
	"   AND n.status <> 'deleted') AS nodes,"
	"  (SELECT count(*) FROM requests r WHERE r.user_id = u.id"
	"   AND r.created_at > now() - interval '30 days') AS requests_30d"
	" FROM users u"
	" LEFT JOIN ledger_accounts c ON c.user_id = u.id AND c.kind = 'credit'"
	" LEFT JOIN ledger_accounts e ON e.user_id = u.id"
	"  AND e.kind = 'earnings'"
	" WHERE ($1::bigint = 0 OR u.id < $1)"
	"  AND ($2::text IS NULL OR strpos(u.email, lower($2)) > 0)"
	" ORDER BY u.id DESC LIMIT $3::int + 1) u",
	3, DB_RETRY
};

static const struct db_stmt q_nodes = {
	"stats_nodes",
	"SELECT coalesce(json_agg(x ORDER BY x.id DESC), '[]')::text FROM ("
	" SELECT n.id, n.name, u.email AS owner, n.connection, n.supply_type,"
	"  n.status, " NODE_STATE_SQL " AS state,"
	"  n.suspended_reason, " DB_TS("n.suspended_at") " AS suspended_at,"
	"  (SELECT string_agg(m.model, ', ' ORDER BY m.model) FROM node_models m"
	"   WHERE m.node_id = n.id) AS models,"
	"  t.requests AS requests_30d, t.success AS success_30d,"
	"  t.failure AS failure_30d"
	" FROM nodes n JOIN users u ON u.id = n.user_id"
	" CROSS JOIN LATERAL (SELECT count(*) AS requests,"
	"  count(*) FILTER (WHERE r.outcome = 'success') AS success,"
	"  count(*) FILTER (WHERE r.outcome = 'failure') AS failure"
	"  FROM requests r WHERE r.node_id = n.id"
	"  AND r.created_at > now() - interval '30 days') t"
	" WHERE n.status <> 'deleted') x",
	0, DB_RETRY
};

/* The last STATS_DAYS days of the scope; see stats.h. */
int
stats_days(struct db *db, struct arena *a, enum stats_scope scope,
    int64_t user_id, struct stats_day out[STATS_DAYS])
{
	const char	*p[1];
	PGresult	*res;
	int		 i;

	p[0] = db_i64(a, user_id);
	if ((res = db_exec(db, a, &q_days[scope], p)) == NULL)
		return -1;
	if (PQntuples(res) != STATS_DAYS) {
		log_error("stats: %d days, not %d", PQntuples(res), STATS_DAYS);
		return -1;
	}
	for (i = 0; i < STATS_DAYS; i++) {
		snprintf(out[i].day, sizeof(out[i].day), "%s",
		    PQgetvalue(res, i, 0));
		out[i].requests = db_int64(res, i, 1);
		out[i].success = db_int64(res, i, 2);
		out[i].failure = db_int64(res, i, 3);
		out[i].tokens_in = db_int64(res, i, 4);
		out[i].tokens_out = db_int64(res, i, 5);
		out[i].cost = db_int64(res, i, 6);
		out[i].earning = db_int64(res, i, 7);
	}
	return 0;
}

/* Column 0 of the one row of res as JSON; NULL (logged) when bad. */
static json_t *
json_of(PGresult *res)
{
	json_error_t	 je;
	json_t		*v;

	if (PQntuples(res) != 1 ||
	    (v = json_loads(PQgetvalue(res, 0, 0), 0, &je)) == NULL) {
		log_error("stats: bad json from the database");
		return NULL;
	}
	return v;
}

json_t *
stats_platform(struct db *db, struct arena *a)
{
	PGresult	*res;

	if ((res = db_exec(db, a, &q_platform, NULL)) == NULL)
		return NULL;
	return json_of(res);
}

json_t *
stats_users(struct db *db, struct arena *a, const char *q, int64_t before,
    int limit, int64_t *next_before)
{
	const char	*p[3];
	PGresult	*res;
	json_t		*list;

	*next_before = 0;
	p[0] = db_i64(a, before);
	p[1] = q != NULL && *q != '\0' ? q : NULL;
	p[2] = db_i64(a, limit);
	if ((res = db_exec(db, a, &q_users, p)) == NULL ||
	    (list = json_of(res)) == NULL)
		return NULL;
	if (json_array_size(list) > (size_t)limit) {
		json_array_remove(list, (size_t)limit);
		*next_before = json_integer_value(json_object_get(
		    json_array_get(list, (size_t)limit - 1), "id"));
	}
	return list;
}

json_t *
stats_nodes(struct db *db, struct arena *a)
{
	PGresult	*res;

	if ((res = db_exec(db, a, &q_nodes, NULL)) == NULL)
		return NULL;
	return json_of(res);
}
