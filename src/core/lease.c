/* lease.c: leases: one hold on a consumer's wallet that many requests draw on */
#include "config.h"

#include <inttypes.h>
#include <string.h>

#include "apikey.h"
#include "arena.h"
#include "db.h"
#include "gateway.h"
#include "hold.h"
#include "lease.h"
#include "log.h"

static const struct db_stmt q_insert = {
	"lease_insert",
	"INSERT INTO leases (hold_id, user_id, api_key_id, admit_until)"
	" VALUES ($1, $2, $3, now() + $4::bigint * interval '1 millisecond')"
	" RETURNING id",
	4, 0
};
/* Mark leases closed (once) and name their holds. */
static const struct db_stmt q_close = {
	"lease_close",
	"UPDATE leases SET closed_at = coalesce(closed_at, now())"
	" WHERE id = ANY ($1::bigint[]) RETURNING hold_id",
	1, 0
};

/* The hold of an open lease. */
static const struct db_stmt q_open_hold = {
	"lease_open_hold",
	"SELECT hold_id FROM leases WHERE id = $1 AND closed_at IS NULL",
	1, 0
};

/* The hold of an open lease of one key. */
static const struct db_stmt q_key_hold = {
	"lease_key_hold",
	"SELECT hold_id FROM leases WHERE id = $1 AND api_key_id = $2"
	" AND closed_at IS NULL",
	2, 0
};

/* Trim the key's open lease retired (if any) to keep; GW_OK or GW_ERROR. */
static int
trim_retired(struct db *db, struct arena *a, int64_t key_id,
    const struct lease_retire *r)
{
	const char	*p[2];
	PGresult	*res;

	if (r == NULL || r->lease_id <= 0)
		return GW_OK;
	p[0] = db_i64(a, r->lease_id);
	p[1] = db_i64(a, key_id);
	if ((res = db_exec(db, a, &q_key_hold, p)) == NULL)
		return GW_ERROR;
	if (PQntuples(res) == 1 && hold_trim(db, a, db_int64(res, 0, 0),
	    r->keep) == HOLD_ERROR)
		return GW_ERROR;
	return GW_OK;
}

/* Authenticate, trim the lease retired, reserve what is spendable, record. */
int
lease_grant(struct db *db, struct arena *a, const struct gateway_cfg *cfg,
    const char *key, int64_t want, const struct lease_retire *retire,
    struct lease *out)
{
	const char	*p[4];
	PGresult	*res;
	int		 rc;

	memset(out, 0, sizeof(*out));
	out->budget = want > 0 && want < cfg->lease_budget ? want :
	    cfg->lease_budget;
	if (db_begin(db) == -1)
		return GW_ERROR;
	if ((rc = apikey_lookup(db, a, key, &out->user_id, &out->key_id,
	    &out->ttl_ms, &out->owed)) != APIKEY_OK) {
		rc = rc == APIKEY_NONE ? GW_BAD_KEY : rc == APIKEY_SUSPENDED ?
		    GW_SUSPENDED : rc == APIKEY_BANNED ? GW_BANNED : GW_ERROR;
		goto out;
	}
	/* An account that owes (a refund or dispute took back spent credit). */
	if (out->owed > 0) {
		rc = GW_OWES;
		goto out;
	}
	if ((rc = trim_retired(db, a, out->key_id, retire)) != GW_OK)
		goto out;
	switch (hold_reserve_upto(db, a, out->user_id, &out->budget,
	    cfg->lease_ttl + cfg->hold_ttl, &out->hold_id)) {
	case HOLD_OK:
		break;
	case HOLD_INSUFFICIENT:
		rc = GW_INSUFFICIENT;
		goto out;
	default:
		rc = GW_ERROR;
		goto out;
	}
	p[0] = db_i64(a, out->hold_id);
	p[1] = db_i64(a, out->user_id);
	p[2] = db_i64(a, out->key_id);
	if (out->ttl_ms < 0 || out->ttl_ms > cfg->lease_ttl * 1000)
		out->ttl_ms = cfg->lease_ttl * 1000;
	p[3] = db_i64(a, out->ttl_ms);
	rc = GW_ERROR;
	if ((res = db_exec(db, a, &q_insert, p)) == NULL)
		goto out;
	out->id = db_int64(res, 0, 0);
	rc = GW_OK;
out:
	return db_finish(db, rc, rc != GW_ERROR, GW_ERROR);
}

/* Mark the leases closed, then void each hold's rest (once). */
int
lease_close(struct db *db, struct arena *a, const int64_t *ids, size_t n)
{
	const char	*p[1];
	PGresult	*res;
	int		 i, rc = GW_ERROR;

	if (n == 0)
		return GW_OK;
	if (db_begin(db) == -1)
		return GW_ERROR;
	p[0] = db_array_i64(a, ids, n);
	if ((res = db_exec(db, a, &q_close, p)) == NULL)
		goto out;
	for (i = 0; i < PQntuples(res); i++)
		if (hold_void(db, a, db_int64(res, i, 0)) == HOLD_ERROR)
			goto out;
	rc = GW_OK;
out:
	return db_finish(db, rc, rc != GW_ERROR, GW_ERROR);
}

int
lease_trim(struct db *db, struct arena *a, const int64_t *ids,
    const int64_t *keep, size_t n)
{
	const char	*p[1];
	PGresult	*res;
	size_t		 i;
	int		 rc = GW_ERROR;

	if (n == 0)
		return GW_OK;
	if (db_begin(db) == -1)
		return GW_ERROR;
	for (i = 0; i < n; i++) {
		p[0] = db_i64(a, ids[i]);
		if ((res = db_exec(db, a, &q_open_hold, p)) == NULL)
			goto out;
		if (PQntuples(res) == 1 && hold_trim(db, a, db_int64(res, 0, 0),
		    keep[i]) == HOLD_ERROR)
			goto out;
	}
	rc = GW_OK;
out:
	return db_finish(db, rc, rc != GW_ERROR, GW_ERROR);
}
