/* session.c: browser sessions: random ids stored hashed, idle and absolute lifetimes */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "db.h"
#include "session.h"

static const struct db_stmt q_insert = {
	"session_insert",
	"INSERT INTO sessions (id_hash, user_id, csrf_token, ip_hash, expires_at)"
	" VALUES (decode($1, 'hex'), $2, $3, $4,"
	" now() + make_interval(secs => $5::bigint))",
	5, 0
};
static const struct db_stmt q_lookup = {
	"session_lookup",
	"SELECT s.user_id, u.email, u.role, s.csrf_token,"
	" s.last_seen_at < now() - interval '60 seconds', u.status,"
	" u.status_reason"
	" FROM sessions s JOIN users u ON u.id = s.user_id"
	" WHERE s.id_hash = decode($1, 'hex') AND s.expires_at > now()"
	" AND s.last_seen_at > now() - make_interval(secs => $2::bigint)",
	2, DB_RETRY
};
static const struct db_stmt q_touch = {
	"session_touch",
	"UPDATE sessions SET last_seen_at = now() WHERE id_hash = decode($1, 'hex')",
	1, 0
};
static const struct db_stmt q_delete = {
	"session_delete",
	"DELETE FROM sessions WHERE id_hash = decode($1, 'hex')", 1, 0
};
static const struct db_stmt q_delete_others = {
	"session_delete_others",
	"DELETE FROM sessions WHERE user_id = $1"
	" AND id_hash IS DISTINCT FROM decode($2, 'hex')", 2, 0
};

/* The hex SHA-256 of a token, as stored. */
static void
token_hash(const char *token, char hex[65])
{
	crypto_sha256_hex(token, strlen(token), hex);
}

int
session_create(struct db *db, struct arena *a, int64_t user_id,
    const char *ip_hash, int64_t absolute_s, char token[SESSION_TOKEN_LEN + 1])
{
	char		 hash[65], uid[24], csrf[SESSION_TOKEN_LEN + 1], life[24];
	const char	*p[5] = { hash, uid, csrf, ip_hash, life };

	if (crypto_token_base62(token, SESSION_TOKEN_LEN + 1,
	    SESSION_TOKEN_LEN) == -1 ||
	    crypto_token_base62(csrf, sizeof(csrf), SESSION_TOKEN_LEN) == -1)
		return -1;
	token_hash(token, hash);
	snprintf(uid, sizeof(uid), "%" PRId64, user_id);
	snprintf(life, sizeof(life), "%" PRId64, absolute_s);
	return db_exec(db, a, &q_insert, p) == NULL ? -1 : 0;
}

int
session_lookup(struct db *db, struct arena *a, const char *token,
    int64_t idle_s, struct session *s)
{
	char		 hash[65], idle[24];
	const char	*p[2] = { hash, idle };
	PGresult	*res;

	if (strlen(token) != SESSION_TOKEN_LEN)
		return 1;
	token_hash(token, hash);
	snprintf(idle, sizeof(idle), "%" PRId64, idle_s);
	if ((res = db_exec(db, a, &q_lookup, p)) == NULL)
		return -1;
	if (PQntuples(res) == 0)
		return 1;
	s->user_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	s->email = PQgetvalue(res, 0, 1);
	s->role = PQgetvalue(res, 0, 2);
	s->csrf = PQgetvalue(res, 0, 3);
	s->status = PQgetvalue(res, 0, 5);
	s->status_reason = PQgetisnull(res, 0, 6) ? NULL :
	    PQgetvalue(res, 0, 6);
	if (strcmp(PQgetvalue(res, 0, 4), "t") == 0)
		(void)db_exec(db, a, &q_touch, p);
	return 0;
}

int
session_delete(struct db *db, struct arena *a, const char *token)
{
	char		 hash[65];
	const char	*p[1] = { hash };

	token_hash(token, hash);
	return db_exec(db, a, &q_delete, p) == NULL ? -1 : 0;
}

int
session_delete_others(struct db *db, struct arena *a, int64_t user_id,
    const char *keep)
{
	char		 hash[65], uid[24];
	const char	*p[2] = { uid, keep ? hash : NULL };

	snprintf(uid, sizeof(uid), "%" PRId64, user_id);
	if (keep != NULL)
		token_hash(keep, hash);
	return db_exec(db, a, &q_delete_others, p) == NULL ? -1 : 0;
}
