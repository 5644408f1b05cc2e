/* apikey.c: API keys: a fixed prefix and 256 random bits, stored only as SHA-256 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "db.h"
#include "apikey.h"


static const struct db_stmt q_insert = {
	"apikey_insert",
	"INSERT INTO api_keys (user_id, name, prefix, key_hash, expires_at)"
	" VALUES ($1, $2, $3, decode($4, 'hex'), CASE WHEN $5::int > 0"
	" THEN now() + make_interval(days => $5::int) END) RETURNING id",
	5, 0
};
static const struct db_stmt q_lookup = {
	"apikey_lookup",
	"SELECT k.id, k.user_id, k.last_used_at IS NULL OR"
	" k.last_used_at < now() - interval '60 seconds',"
	" CASE WHEN k.expires_at IS NULL THEN -1 ELSE greatest(1,"
	" ceil(extract(epoch FROM k.expires_at - now()) * 1000))::bigint END,"
	" u.status, u.owed FROM api_keys k JOIN users u ON u.id = k.user_id"
	" WHERE k.key_hash = decode($1, 'hex') AND k.revoked_at IS NULL"
	" AND (k.expires_at IS NULL OR k.expires_at > now())",
	1, DB_RETRY
};
static const struct db_stmt q_used = {
	"apikey_used",
	"UPDATE api_keys SET last_used_at = now() WHERE id = $1", 1, 0
};
static const struct db_stmt q_list = {
	"apikey_list",
	"SELECT id, name, prefix, " DB_TS("created_at") ", " DB_TS("expires_at") ", "
	DB_TS("revoked_at") ", " DB_TS("last_used_at") ","
	" revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())"
	" FROM api_keys WHERE user_id = $1 ORDER BY id DESC",
	1, DB_RETRY
};
static const struct db_stmt q_revoke = {
	"apikey_revoke",
	"UPDATE api_keys SET revoked_at = now()"
	" WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL",
	2, 0
};

int
apikey_create(struct db *db, struct arena *a, int64_t user_id,
    const char *name, int expires_days, char key[APIKEY_LEN + 1], int64_t *id)
{
	char		 uid[24], prefix[APIKEY_SHOWN + 1], hash[65], days[16];
	const char	*p[5] = { uid, name, prefix, hash, days };
	PGresult	*res;

	memcpy(key, APIKEY_PREFIX, 3);
	if (crypto_token_base62(key + 3, APIKEY_RANDOM + 1, APIKEY_RANDOM) == -1)
		return -1;
	memcpy(prefix, key, APIKEY_SHOWN);
	prefix[APIKEY_SHOWN] = '\0';
	crypto_sha256_hex(key, APIKEY_LEN, hash);
	snprintf(uid, sizeof(uid), "%" PRId64, user_id);
	snprintf(days, sizeof(days), "%d", expires_days);
	if ((res = db_exec(db, a, &q_insert, p)) == NULL)
		return -1;
	*id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	return 0;
}

int
apikey_lookup(struct db *db, struct arena *a, const char *key,
    int64_t *user_id, int64_t *key_id, int64_t *ms_left, int64_t *owed)
{
	char		 hash[65];
	const char	*p[1] = { hash };
	PGresult	*res;

	if (strlen(key) != APIKEY_LEN || strncmp(key, APIKEY_PREFIX, 3) != 0)
		return 1;
	crypto_sha256_hex(key, APIKEY_LEN, hash);
	if ((res = db_exec(db, a, &q_lookup, p)) == NULL)
		return -1;
	if (PQntuples(res) == 0)
		return 1;
	*key_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	*user_id = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	if (ms_left != NULL)
		*ms_left = strtoll(PQgetvalue(res, 0, 3), NULL, 10);
	if (owed != NULL)
		*owed = strtoll(PQgetvalue(res, 0, 5), NULL, 10);
	if (strcmp(PQgetvalue(res, 0, 2), "t") == 0) {
		const char *q[1] = { PQgetvalue(res, 0, 0) };

		(void)db_exec(db, a, &q_used, q);
	}
	if (strcmp(PQgetvalue(res, 0, 4), "active") == 0)
		return APIKEY_OK;
	return strcmp(PQgetvalue(res, 0, 4), "suspended") == 0 ?
	    APIKEY_SUSPENDED : APIKEY_BANNED;
}

/* A nullable timestamp column as a JSON string or null. */
static json_t *
ts_or_null(PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? json_null() :
	    json_string(PQgetvalue(res, row, col));
}

json_t *
apikey_list(struct db *db, struct arena *a, int64_t user_id)
{
	char		 uid[24];
	const char	*p[1] = { uid };
	PGresult	*res;
	json_t		*list;
	int		 i;

	snprintf(uid, sizeof(uid), "%" PRId64, user_id);
	if ((res = db_exec(db, a, &q_list, p)) == NULL)
		return NULL;
	list = json_array();
	for (i = 0; i < PQntuples(res); i++)
		json_array_append_new(list, json_pack("{s:I, s:s, s:s, s:s, s:o,"
		    " s:o, s:o, s:b}",
		    "id", (json_int_t)strtoll(PQgetvalue(res, i, 0), NULL, 10),
		    "name", PQgetvalue(res, i, 1),
		    "prefix", PQgetvalue(res, i, 2),
		    "created_at", PQgetvalue(res, i, 3),
		    "expires_at", ts_or_null(res, i, 4),
		    "revoked_at", ts_or_null(res, i, 5),
		    "last_used_at", ts_or_null(res, i, 6),
		    "active", strcmp(PQgetvalue(res, i, 7), "t") == 0));
	return list;
}

int
apikey_revoke(struct db *db, struct arena *a, int64_t user_id, int64_t id)
{
	char		 ids[24], uid[24];
	const char	*p[2] = { ids, uid };
	PGresult	*res;

	snprintf(ids, sizeof(ids), "%" PRId64, id);
	snprintf(uid, sizeof(uid), "%" PRId64, user_id);
	if ((res = db_exec(db, a, &q_revoke, p)) == NULL)
		return -1;
	return atoi(PQcmdTuples(res)) == 1 ? 0 : 1;
}
