/* iphash.c: IP addresses as HMAC-SHA256 under a key with an id, never raw */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto.h"
#include "db.h"
#include "iphash.h"

static const struct db_stmt q_current = {
	"iphash_current",
	"SELECT id, encode(secret, 'hex') FROM ip_keys"
	" WHERE retired_at IS NULL ORDER BY id DESC LIMIT 1",
	0, DB_RETRY
};
static const struct db_stmt q_first = {
	"iphash_first",
	"INSERT INTO ip_keys (secret) SELECT decode($1, 'hex')"
	" WHERE NOT EXISTS (SELECT 1 FROM ip_keys WHERE retired_at IS NULL)",
	1, 0
};
static const struct db_stmt q_new = {
	"iphash_new",
	"INSERT INTO ip_keys (secret) VALUES (decode($1, 'hex')) RETURNING id",
	1, 0
};

static const struct db_stmt q_list = {
	"iphash_list",
	"SELECT id, to_char(created_at AT TIME ZONE 'UTC',"
	" 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), to_char(retired_at AT TIME ZONE 'UTC',"
	" 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM ip_keys ORDER BY id DESC",
	0, DB_RETRY
};

/*
 * Rotation. The newest unretired key, and whether it is as old as the
 * rotation age by the job's clock ($1) and not by now(): tests run the job
 * with an injected clock, and keys made by rotation are dated by it.
 */
static const struct db_stmt q_due = {
	"iphash_due",
	"SELECT id, created_at <= $1::timestamptz - $2::bigint * interval '1 second'"
	" FROM ip_keys WHERE retired_at IS NULL ORDER BY id DESC LIMIT 1"
	" FOR UPDATE",
	2, 0
};
static const struct db_stmt q_rotate = {
	"iphash_rotate",
	"INSERT INTO ip_keys (secret, created_at)"
	" VALUES (decode($1, 'hex'), $2::timestamptz) RETURNING id",
	2, 0
};
static const struct db_stmt q_retire = {
	"iphash_retire",
	"UPDATE ip_keys SET retired_at = $2::timestamptz"
	" WHERE retired_at IS NULL AND id <> $1",
	2, 0
};
/*
 * Retired keys nothing refers to any more. A hash names its key ("k3:…");
 * the rows that may hold one are found by index and bounded by time: a
 * key hashes nothing after it is retired (processes cache it a minute),
 * so only rows made before retired_at and a day's margin can name it. A
 * key retired less than a day ago is kept for the same reason.
 */
static const struct db_stmt q_drop = {
	"iphash_drop",
	"DELETE FROM ip_keys k WHERE retired_at < $1::timestamptz - interval '1 day'"
	" AND NOT EXISTS (SELECT 1 FROM requests WHERE client_ip_hash IS NOT NULL"
	"  AND created_at < k.retired_at + interval '1 day'"
	"  AND client_ip_hash LIKE 'k' || k.id || ':%')"
	" AND NOT EXISTS (SELECT 1 FROM users WHERE signup_ip_hash IS NOT NULL"
	"  AND created_at < k.retired_at + interval '1 day'"
	"  AND signup_ip_hash LIKE 'k' || k.id || ':%')"
	" AND NOT EXISTS (SELECT 1 FROM sessions"
	"  WHERE ip_hash LIKE 'k' || k.id || ':%')"
	" AND NOT EXISTS (SELECT 1 FROM rate_limits"
	"  WHERE bucket LIKE '%:k' || k.id || ':%')"
	" RETURNING id",
	1, 0
};

static struct {
	int		id;
	unsigned char	secret[32];
	time_t		loaded;
} cache;

/* Load the current key into the cache, making the first one if needed. */
static int
load_key(struct db *db, struct arena *a)
{
	unsigned char	 raw[32];
	char		 hex[65];
	const char	*p[1] = { hex };
	PGresult	*res;

	if ((res = db_exec(db, a, &q_current, NULL)) == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		if (crypto_random(raw, sizeof(raw)) == -1)
			return -1;
		crypto_hex_encode(raw, sizeof(raw), hex);
		if (db_exec(db, a, &q_first, p) == NULL ||
		    (res = db_exec(db, a, &q_current, NULL)) == NULL ||
		    PQntuples(res) == 0)
			return -1;
	}
	if (crypto_hex_decode(PQgetvalue(res, 0, 1), cache.secret,
	    sizeof(cache.secret)) == -1)
		return -1;
	cache.id = atoi(PQgetvalue(res, 0, 0));
	cache.loaded = time(NULL);
	return 0;
}

int
iphash(struct db *db, struct arena *a, const char *ip, char out[IPHASH_LEN])
{
	char	hex[65];

	if ((cache.id == 0 || time(NULL) - cache.loaded > 60) &&
	    load_key(db, a) == -1)
		return -1;
	if (crypto_hmac_sha256_hex(cache.secret, sizeof(cache.secret), ip,
	    strlen(ip), hex) == -1)
		return -1;
	snprintf(out, IPHASH_LEN, "k%d:%s", cache.id, hex);
	return 0;
}

int
iphash_new_key(struct db *db, struct arena *a, int *id)
{
	unsigned char	 raw[32];
	char		 hex[65];
	const char	*p[1] = { hex };
	PGresult	*res;

	if (crypto_random(raw, sizeof(raw)) == -1)
		return -1;
	crypto_hex_encode(raw, sizeof(raw), hex);
	if ((res = db_exec(db, a, &q_new, p)) == NULL)
		return -1;
	*id = atoi(PQgetvalue(res, 0, 0));
	cache.id = 0;	/* reload on next use */
	return 0;
}

json_t *
iphash_keys(struct db *db, struct arena *a)
{
	PGresult	*res;
	json_t		*list;
	int		 i;

	if ((res = db_exec(db, a, &q_list, NULL)) == NULL)
		return NULL;
	list = json_array();
	for (i = 0; i < PQntuples(res); i++)
		json_array_append_new(list, json_pack("{s:i, s:s, s:o}", "id",
		    atoi(PQgetvalue(res, i, 0)), "created_at",
		    PQgetvalue(res, i, 1), "retired_at", PQgetisnull(res, i, 2) ?
		    json_null() : json_string(PQgetvalue(res, i, 2))));
	return list;
}

/* Make a key dated now_ts and retire the others, in the open transaction. */
static int
rotate(struct db *db, struct arena *a, const char *now_ts, int *id)
{
	unsigned char	 raw[32];
	char		 hex[65];
	const char	*p[2] = { hex, now_ts };
	PGresult	*res;

	if (crypto_random(raw, sizeof(raw)) == -1)
		return -1;
	crypto_hex_encode(raw, sizeof(raw), hex);
	if ((res = db_exec(db, a, &q_rotate, p)) == NULL)
		return -1;
	*id = atoi(PQgetvalue(res, 0, 0));
	p[0] = PQgetvalue(res, 0, 0);
	return db_exec(db, a, &q_retire, p) == NULL ? -1 : 0;
}

int
iphash_rotate(struct db *db, struct arena *a, const char *now_ts,
    long long max_age_s, int *id)
{
	char		 age[24];
	const char	*p[2] = { now_ts, age };
	PGresult	*res;
	int		 rc = 0;

	*id = 0;
	snprintf(age, sizeof(age), "%lld", max_age_s);
	if (db_begin(db) == -1)
		return -1;
	if ((res = db_exec(db, a, &q_due, p)) == NULL)
		rc = -1;
	else if (PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 1), "t") == 0)
		rc = rotate(db, a, now_ts, id) == -1 ? -1 : 1;
	if (rc == -1) {
		db_rollback(db);
		*id = 0;
		return -1;
	}
	if (db_commit(db) == -1) {
		*id = 0;
		return -1;
	}
	cache.id = 0;
	return rc;
}

int
iphash_drop_retired(struct db *db, struct arena *a, const char *now_ts,
    int *dropped)
{
	const char	*p[1] = { now_ts };
	PGresult	*res;

	if ((res = db_exec(db, a, &q_drop, p)) == NULL)
		return -1;
	*dropped = PQntuples(res);
	return 0;
}
