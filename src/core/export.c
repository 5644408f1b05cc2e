/* export.c: prepared exports: a JSON document behind a 24-hour link for its own account */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "db.h"
#include "export.h"
#include "money.h"

/* The account's row, locked so that two preparations count in turn. */
static const struct db_stmt q_lock_user = {
	"export_lock_user",
	"SELECT 1 FROM users WHERE id = $1 FOR UPDATE",
	1, 0
};
static const struct db_stmt q_live = {
	"export_live",
	"SELECT count(*), coalesce(ceil(extract(epoch FROM"
	" min(expires_at) - now())), 0)::bigint"
	" FROM exports WHERE user_id = $1 AND expires_at > now()",
	1, 0
};
static const struct db_stmt q_insert = {
	"export_insert",
	"INSERT INTO exports (user_id, token_hash, document, expires_at)"
	" VALUES ($1, decode($2, 'hex'), $3, now() + interval '24 hours')"
	" RETURNING " DB_TS("expires_at"),
	3, 0
};
static const struct db_stmt q_fetch = {
	"export_fetch",
	"SELECT document FROM exports WHERE token_hash = decode($1, 'hex')"
	" AND user_id = $2 AND expires_at > now()",
	2, DB_RETRY
};
static const struct db_stmt q_prune = {
	"export_prune",
	"DELETE FROM exports WHERE expires_at <= $1::timestamptz",
	1, 0
};
static const struct db_stmt q_wallet = {
	"export_wallet_events",
	"SELECT id, kind, amount, transfer_id, detail::text, "
	DB_TS("created_at") " FROM wallet_events WHERE user_id = $1"
	" ORDER BY id",
	1, DB_RETRY
};

/* Count the account's live links under its row lock; see export_store. */
static int
room_for_one(struct db *db, struct arena *a, const char *uid, int *retry)
{
	const char	*p[1] = { uid };
	PGresult	*res;

	if (db_exec(db, a, &q_lock_user, p) == NULL ||
	    (res = db_exec(db, a, &q_live, p)) == NULL)
		return EXPORT_ERROR;
	if (db_int64(res, 0, 0) < EXPORT_LIVE_MAX)
		return EXPORT_OK;
	*retry = (int)db_int64(res, 0, 1);
	return EXPORT_FULL;
}

int
export_store(struct db *db, struct arena *a, int64_t user_id, const char *doc,
    char token[EXPORT_TOKEN_LEN + 1], char expires_at[21], int *retry_after)
{
	char		 hash[65];
	const char	*p[3] = { db_i64(a, user_id), hash, doc };
	PGresult	*res;
	int		 rc;

	if (crypto_token_base62(token, EXPORT_TOKEN_LEN + 1,
	    EXPORT_TOKEN_LEN) == -1)
		return EXPORT_ERROR;
	crypto_sha256_hex(token, strlen(token), hash);
	if (db_begin(db) == -1)
		return EXPORT_ERROR;
	if ((rc = room_for_one(db, a, p[0], retry_after)) != EXPORT_OK) {
		db_rollback(db);
		return rc;
	}
	if ((res = db_exec(db, a, &q_insert, p)) == NULL) {
		db_rollback(db);
		return EXPORT_ERROR;
	}
	snprintf(expires_at, 21, "%s", PQgetvalue(res, 0, 0));
	return db_commit(db) == 0 ? EXPORT_OK : EXPORT_ERROR;
}

int
export_fetch(struct db *db, struct arena *a, int64_t user_id,
    const char *token, const char **doc)
{
	char		 hash[65];
	const char	*p[2] = { hash, db_i64(a, user_id) };
	PGresult	*res;

	crypto_sha256_hex(token, strlen(token), hash);
	if ((res = db_exec(db, a, &q_fetch, p)) == NULL)
		return EXPORT_ERROR;
	if (PQntuples(res) == 0)
		return EXPORT_NOT_FOUND;
	*doc = PQgetvalue(res, 0, 0);
	return EXPORT_OK;
}

int
export_prune(struct db *db, struct arena *a, const char *now_ts,
    long long *deleted)
{
	const char	*p[1] = { now_ts };
	PGresult	*res;

	if ((res = db_exec(db, a, &q_prune, p)) == NULL)
		return -1;
	*deleted = atoll(PQcmdTuples(res));
	return 0;
}

/* An amount as {micro_usd, usd}, or null for a notice's NULL. */
static json_t *
amount_or_null(PGresult *res, int r, int c)
{
	char	usd[32];

	if (PQgetisnull(res, r, c))
		return json_null();
	money_format(db_int64(res, r, c), usd, sizeof(usd));
	return json_pack("{s:I, s:s}", "micro_usd",
	    (json_int_t)db_int64(res, r, c), "usd", usd);
}

json_t *
export_wallet_events(struct db *db, struct arena *a, int64_t user_id)
{
	const char	*p[1] = { db_i64(a, user_id) };
	PGresult	*res;
	json_t		*list, *detail;
	int		 r;

	if ((res = db_exec(db, a, &q_wallet, p)) == NULL)
		return NULL;
	list = json_array();
	for (r = 0; r < PQntuples(res); r++) {
		if ((detail = json_loads(PQgetvalue(res, r, 4), 0, NULL)) == NULL)
			detail = json_object();
		json_array_append_new(list, json_pack("{s:I, s:s, s:o, s:o,"
		    " s:o, s:s}", "id", (json_int_t)db_int64(res, r, 0),
		    "kind", PQgetvalue(res, r, 1), "amount",
		    amount_or_null(res, r, 2), "transfer_id",
		    PQgetisnull(res, r, 3) ? json_null() :
		    json_integer(db_int64(res, r, 3)), "detail", detail,
		    "created_at", PQgetvalue(res, r, 5)));
	}
	return list;
}
