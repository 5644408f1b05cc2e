/* user.c: accounts: one per person, acting as consumer and supplier alike */
#include "config.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "ledger.h"
#include "user.h"

#define USER_COLUMNS \
	"id, email, role, password_hash, " DB_TS("created_at") ", status," \
	" display_name, " DB_TS("deletion_due_at")

static const struct db_stmt q_insert = {
	"user_insert",
	"INSERT INTO users (email, password_hash, role, signup_ip_hash)"
	" VALUES ($1, $2, $3, $4) ON CONFLICT (email) DO NOTHING RETURNING id",
	4, 0
};
static const struct db_stmt q_by_email = {
	"user_by_email",
	"SELECT " USER_COLUMNS " FROM users WHERE email = $1", 1, DB_RETRY
};
static const struct db_stmt q_by_id = {
	"user_by_id",
	"SELECT " USER_COLUMNS " FROM users WHERE id = $1", 1, DB_RETRY
};
static const struct db_stmt q_logged_in = {
	"user_logged_in",
	"UPDATE users SET last_login_at = now() WHERE id = $1", 1, 0
};
static const struct db_stmt q_set_password = {
	"user_set_password",
	"UPDATE users SET password_hash = $2, password_changed_at = now()"
	" WHERE id = $1", 2, 0
};

int
user_email_normalize(const char *in, char *out, size_t outlen)
{
	const char	*at = NULL, *dot = NULL;
	size_t		 i, n = strlen(in);

	while (n > 0 && isspace((unsigned char)in[n - 1]))
		n--;
	while (n > 0 && isspace((unsigned char)*in)) {
		in++;
		n--;
	}
	if (n < 3 || n > USER_EMAIL_MAX || n >= outlen)
		return -1;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c <= ' ' || c == 0x7f || c == '<' || c == '>' || c == '"' ||
		    c == ',' || c == ';' || c == '\\')
			return -1;
		if (c == '@') {
			if (at != NULL)
				return -1;
			at = in + i;
		} else if (c == '.' && at != NULL)
			dot = in + i;
		out[i] = (char)tolower(c);
	}
	out[n] = '\0';
	if (at == NULL || at == in || dot == NULL || dot == at + 1 ||
	    dot == in + n - 1)
		return -1;
	return 0;
}

/* Fill u from row 0 of res. */
static void
fill(PGresult *res, struct user *u)
{
	u->id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	u->email = PQgetvalue(res, 0, 1);
	u->role = PQgetvalue(res, 0, 2);
	u->password_hash = PQgetvalue(res, 0, 3);
	u->created_at = PQgetvalue(res, 0, 4);
	u->status = PQgetvalue(res, 0, 5);
	u->display_name = PQgetisnull(res, 0, 6) ? NULL : PQgetvalue(res, 0, 6);
	u->deletion_due_at = PQgetisnull(res, 0, 7) ? NULL :
	    PQgetvalue(res, 0, 7);
}

int
user_create(struct db *db, struct arena *a, const char *email,
    const char *password_hash, const char *role, const char *ip_hash,
    int64_t grant, int64_t *id)
{
	const char	*p[4] = { email, password_hash, role, ip_hash };
	PGresult	*res;

	if (db_begin(db) == -1)
		return -1;
	if ((res = db_exec(db, a, &q_insert, p)) == NULL)
		goto fail;
	if (PQntuples(res) == 0) {
		db_rollback(db);
		return 1;
	}
	*id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	if (ledger_open_user(db, a, *id) != LEDGER_OK)
		goto fail;
	if (grant > 0 && ledger_grant_signup(db, a, *id, grant) < 0)
		goto fail;
	return db_commit(db) == 0 ? 0 : -1;
fail:
	db_rollback(db);
	return -1;
}

int
user_by_email(struct db *db, struct arena *a, const char *email,
    struct user *u)
{
	const char	*p[1] = { email };
	PGresult	*res;

	if ((res = db_exec(db, a, &q_by_email, p)) == NULL)
		return -1;
	if (PQntuples(res) == 0)
		return 1;
	fill(res, u);
	return 0;
}

int
user_by_id(struct db *db, struct arena *a, int64_t id, struct user *u)
{
	char		 ids[24];
	const char	*p[1] = { ids };
	PGresult	*res;

	snprintf(ids, sizeof(ids), "%" PRId64, id);
	if ((res = db_exec(db, a, &q_by_id, p)) == NULL)
		return -1;
	if (PQntuples(res) == 0)
		return 1;
	fill(res, u);
	return 0;
}

int
user_logged_in(struct db *db, struct arena *a, int64_t id)
{
	const char	*p[1] = { db_i64(a, id) };

	return db_exec(db, a, &q_logged_in, p) == NULL ? -1 : 0;
}

int
user_set_password(struct db *db, struct arena *a, int64_t id,
    const char *password_hash)
{
	char		 ids[24];
	const char	*p[2] = { ids, password_hash };

	snprintf(ids, sizeof(ids), "%" PRId64, id);
	return db_exec(db, a, &q_set_password, p) == NULL ? -1 : 0;
}
