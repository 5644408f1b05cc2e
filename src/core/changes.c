/* changes.c: the change feed the relay polls to keep its caches true */
#include "config.h"

#include <string.h>

#include "arena.h"
#include "changes.h"
#include "db.h"

/* Drop rows past keeping, remembering the highest seq dropped. */
static const struct db_stmt q_prune = {
	"changes_prune",
	"WITH d AS (DELETE FROM changes WHERE at < now() - interval '"
	CHANGES_KEEP "' RETURNING seq)"
	" UPDATE changes_pruned SET seq = greatest(seq, (SELECT max(seq)"
	" FROM d)) WHERE EXISTS (SELECT 1 FROM d)",
	0, 0
};
/* The current seq, and the highest pruned. */
static const struct db_stmt q_head = {
	"changes_head",
	"SELECT greatest(coalesce((SELECT max(seq) FROM changes), 0), p.seq),"
	" p.seq FROM changes_pruned p",
	0, DB_RETRY
};
static const struct db_stmt q_since = {
	"changes_since",
	"SELECT seq, kind, coalesce(ref, 0), coalesce(model, '') FROM changes"
	" WHERE seq > $1 ORDER BY seq LIMIT 1000",
	1, DB_RETRY
};

/* The current and the highest pruned seq; 0 or -1. */
static int
head(struct db *db, struct arena *a, int64_t *seq, int64_t *pruned)
{
	PGresult	*res;

	if ((res = db_exec(db, a, &q_head, NULL)) == NULL ||
	    PQntuples(res) != 1)
		return -1;
	*seq = db_int64(res, 0, 0);
	*pruned = db_int64(res, 0, 1);
	return 0;
}

int
changes_seq(struct db *db, struct arena *a, int64_t *seq)
{
	int64_t	pruned;

	return head(db, a, seq, &pruned);
}

/* Row i of q_since as a change object (a new reference). */
static json_t *
change(PGresult *res, int i)
{
	const char	*kind = PQgetvalue(res, i, 1);
	json_int_t	 ref = db_int64(res, i, 2);

	if (strcmp(kind, "model") == 0)
		return json_pack("{s:s, s:s}", "kind", kind, "model",
		    PQgetvalue(res, i, 3));
	return json_pack("{s:s, s:I}", "kind", kind,
	    strcmp(kind, "key") == 0 ? "key_id" :
	    strcmp(kind, "user") == 0 ? "user_id" : "node_id", ref);
}

/* Prune, check since against the feed, then read a page after it. */
int
changes_since(struct db *db, struct arena *a, int64_t since, json_t **list,
    int64_t *seq)
{
	const char	*p[1];
	PGresult	*res;
	int64_t		 pruned;
	int		 i;

	*list = NULL;
	if (db_exec(db, a, &q_prune, NULL) == NULL ||
	    head(db, a, seq, &pruned) == -1)
		return -1;
	if (since < pruned || since > *seq)
		return 1;
	p[0] = db_i64(a, since);
	if ((res = db_exec(db, a, &q_since, p)) == NULL)
		return -1;
	*list = json_array();
	*seq = since;
	for (i = 0; i < PQntuples(res); i++) {
		json_array_append_new(*list, change(res, i));
		*seq = db_int64(res, i, 0);
	}
	return 0;
}
