/* ratelimit.c: fixed-window rate limits kept in PostgreSQL, shared by every process */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "db.h"
#include "ratelimit.h"

static const struct db_stmt q_hit = {
	"ratelimit_hit",
	"INSERT INTO rate_limits AS r (bucket, window_start, count)"
	" VALUES ($1, now(), 1)"
	" ON CONFLICT (bucket) DO UPDATE SET"
	"  count = CASE WHEN r.window_start <= now() - make_interval(secs => $2::int)"
	"   THEN 1 ELSE r.count + 1 END,"
	"  window_start = CASE WHEN r.window_start <= now() - make_interval(secs => $2::int)"
	"   THEN now() ELSE r.window_start END"
	" RETURNING count, greatest(1, ceil(extract(epoch FROM"
	"  window_start + make_interval(secs => $2::int) - now())))::int",
	2, 0
};
static const struct db_stmt q_clear = {
	"ratelimit_clear", "DELETE FROM rate_limits WHERE bucket = $1", 1, 0
};

int
ratelimit_hit(struct db *db, struct arena *a, const char *bucket, int limit,
    int window_s, int *retry_after)
{
	char		 win[16];
	const char	*p[2] = { bucket, win };
	PGresult	*res;

	snprintf(win, sizeof(win), "%d", window_s);
	if ((res = db_exec(db, a, &q_hit, p)) == NULL)
		return -1;
	*retry_after = atoi(PQgetvalue(res, 0, 1));
	return atoi(PQgetvalue(res, 0, 0)) > limit ? 1 : 0;
}

int
ratelimit_clear(struct db *db, struct arena *a, const char *bucket)
{
	const char	*p[1] = { bucket };

	return db_exec(db, a, &q_clear, p) == NULL ? -1 : 0;
}
