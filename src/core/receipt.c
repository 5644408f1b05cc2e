/* receipt.c: signed receipts of settled requests, and the keys that sign them */
#include "config.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "crypto.h"
#include "db.h"
#include "json.h"
#include "jws.h"
#include "log.h"
#include "receipt.h"
#include "str.h"

/*
 * The request's metadata, when user $2 paid for it or owns the node that
 * served it; nothing else tells the two apart from a task that does not
 * exist. Times as whole Unix seconds.
 */
static const struct db_stmt q_request = {
	"receipt_request",
	"SELECT r.task_id, floor(extract(epoch FROM r.created_at))::bigint,"
	" floor(extract(epoch FROM r.finished_at))::bigint, r.model,"
	" r.endpoint, r.node_id, r.supply_type, r.status,"
	" r.tokens_in, r.tokens_out, r.reported_in, r.reported_out,"
	" r.counted_in, r.counted_out, r.cost, r.earning"
	" FROM requests r LEFT JOIN nodes n ON n.id = r.node_id"
	" WHERE r.task_id = $1 AND (r.user_id = $2 OR n.user_id = $2)",
	2, DB_RETRY
};
static const struct db_stmt q_signer = {
	"receipt_signer",
	"SELECT id, private_sealed FROM receipt_keys WHERE retired_at IS NULL"
	" ORDER BY id DESC LIMIT 1",
	0, DB_RETRY
};
static const struct db_stmt q_next_id = {
	"receipt_next_id",
	"SELECT nextval(pg_get_serial_sequence('receipt_keys', 'id'))",
	0, 0
};
/*
 * The first key, unless another process made one meanwhile. Two racing
 * processes may both insert; the newest then signs and both verify.
 */
static const struct db_stmt q_first = {
	"receipt_first",
	"INSERT INTO receipt_keys (id, private_sealed, public_key)"
	" SELECT $1, $2, decode($3, 'hex') WHERE NOT EXISTS"
	" (SELECT 1 FROM receipt_keys WHERE retired_at IS NULL)",
	3, 0
};
static const struct db_stmt q_insert = {
	"receipt_insert",
	"INSERT INTO receipt_keys (id, private_sealed, public_key)"
	" VALUES ($1, $2, decode($3, 'hex'))",
	3, 0
};
static const struct db_stmt q_retire = {
	"receipt_retire",
	"UPDATE receipt_keys SET retired_at = now()"
	" WHERE retired_at IS NULL AND id <> $1",
	1, 0
};
static const struct db_stmt q_list = {
	"receipt_list",
	"SELECT id, encode(public_key, 'hex'), " DB_TS("created_at") ", "
	DB_TS("retired_at") " FROM receipt_keys ORDER BY id DESC",
	0, DB_RETRY
};

/* The authenticated data of key id's sealed private key. */
static const char *
key_aad(struct arena *a, const char *id)
{
	return arena_printf(a, "receipt-key:%s", id);
}

/*
 * Make a key pair, seal the private half and insert it with stmt (q_first
 * or q_insert); its number in *id. 0 or -1. The private key is wiped.
 */
static int
make_key(struct db *db, struct arena *a, const struct crypto_keyring *keys,
    const struct db_stmt *stmt, int *id)
{
	unsigned char	 priv[JWS_ED25519_LEN], pub[JWS_ED25519_LEN];
	char		 hex[2 * JWS_ED25519_LEN + 1];
	struct str	 sealed = STR_INIT;
	const char	*p[3];
	PGresult	*res;
	int		 rc = -1;

	if (keys->nkeys == 0 || jws_ed25519_keygen(priv, pub) == -1 ||
	    (res = db_exec(db, a, &q_next_id, NULL)) == NULL)
		goto out;
	p[0] = arena_strdup(a, PQgetvalue(res, 0, 0));
	if (crypto_seal(keys, priv, sizeof(priv), key_aad(a, p[0]),
	    &sealed) == -1)
		goto out;
	crypto_hex_encode(pub, sizeof(pub), hex);
	p[1] = str_cstr(&sealed);
	p[2] = hex;
	if (db_exec(db, a, stmt, p) == NULL)
		goto out;
	*id = atoi(p[0]);
	rc = 0;
out:
	explicit_bzero(priv, sizeof(priv));
	str_free(&sealed);
	return rc;
}

/*
 * Open the newest unretired key into priv and its key id into kid (the
 * arena's), making the first key when there is none. 0 or -1 (logged).
 */
static int
signer(struct db *db, struct arena *a, const struct crypto_keyring *keys,
    unsigned char priv[JWS_ED25519_LEN], const char **kid)
{
	struct str	 plain = STR_INIT;
	PGresult	*res;
	int		 id, rc = -1;

	if ((res = db_exec(db, a, &q_signer, NULL)) == NULL)
		return -1;
	if (PQntuples(res) == 0 && (make_key(db, a, keys, &q_first, &id) == -1 ||
	    (res = db_exec(db, a, &q_signer, NULL)) == NULL ||
	    PQntuples(res) == 0)) {
		log_error("receipts: cannot make the first signing key");
		return -1;
	}
	if (crypto_open(keys, PQgetvalue(res, 0, 1), key_aad(a,
	    PQgetvalue(res, 0, 0)), &plain) == -1 ||
	    plain.len != JWS_ED25519_LEN)
		log_error("receipts: signing key r%s does not open with the "
		    "configured [crypto] keys", PQgetvalue(res, 0, 0));
	else {
		memcpy(priv, plain.buf, JWS_ED25519_LEN);
		*kid = arena_printf(a, "r%s", PQgetvalue(res, 0, 0));
		rc = 0;
	}
	if (plain.buf != NULL)
		explicit_bzero(plain.buf, plain.cap);
	str_free(&plain);
	return rc;
}

/* Column c of row 0 as a JSON integer, or null. */
static json_t *
int_or_null(PGresult *res, int c)
{
	return PQgetisnull(res, 0, c) ? json_null() :
	    json_integer(db_int64(res, 0, c));
}

/* The claims of a settled request row (q_request's columns). */
static json_t *
claims_of(PGresult *res, const char *iss)
{
	int64_t	cost = db_int64(res, 0, 14), earning = db_int64(res, 0, 15);

	return json_pack("{s:s, s:s, s:I, s:s, s:I, s:I, s:s, s:s, s:o, s:o,"
	    " s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:I, s:I, s:I}",
	    "iss", iss,
	    "sub", PQgetvalue(res, 0, 0),
	    "iat", (json_int_t)db_int64(res, 0, 2),
	    "task_id", PQgetvalue(res, 0, 0),
	    "created", (json_int_t)db_int64(res, 0, 1),
	    "finished", (json_int_t)db_int64(res, 0, 2),
	    "model", PQgetvalue(res, 0, 3),
	    "endpoint", PQgetvalue(res, 0, 4),
	    "node_id", int_or_null(res, 5),
	    "supply_type", PQgetisnull(res, 0, 6) ? json_null() :
	    json_string(PQgetvalue(res, 0, 6)),
	    "status", PQgetvalue(res, 0, 7),
	    "tokens_in", int_or_null(res, 8),
	    "tokens_out", int_or_null(res, 9),
	    "reported_in", int_or_null(res, 10),
	    "reported_out", int_or_null(res, 11),
	    "counted_in", int_or_null(res, 12),
	    "counted_out", int_or_null(res, 13),
	    "cost_micro_usd", (json_int_t)cost,
	    "earning_micro_usd", (json_int_t)earning,
	    "fee_micro_usd", (json_int_t)(cost - earning));
}

/* Find, check and sign the receipt. See receipt.h. */
enum receipt_rc
receipt_get(struct db *db, struct arena *a, const struct crypto_keyring *keys,
    const char *iss, const char *task_id, int64_t user_id, json_t **claims,
    const char **jws)
{
	unsigned char	 priv[JWS_ED25519_LEN];
	const char	*p[2] = { task_id, db_i64(a, user_id) }, *kid;
	struct str	 payload = STR_INIT, out = STR_INIT;
	enum receipt_rc	 rc = RECEIPT_ERROR;
	PGresult	*res;

	*claims = NULL;
	if ((res = db_exec(db, a, &q_request, p)) == NULL)
		return RECEIPT_ERROR;
	if (PQntuples(res) == 0)
		return RECEIPT_NONE;
	if (PQgetisnull(res, 0, 2) || PQgetisnull(res, 0, 14))
		return RECEIPT_PENDING;
	if (keys->nkeys == 0)
		return RECEIPT_NO_KEYS;
	if (signer(db, a, keys, priv, &kid) == -1)
		return RECEIPT_ERROR;
	*claims = claims_of(res, iss);
	json_to_str(*claims, &payload);
	if (jws_sign_eddsa(priv, kid, RECEIPT_TYP, payload.buf, payload.len,
	    &out) == 0) {
		*jws = arena_strndup(a, out.buf, out.len);
		rc = RECEIPT_OK;
	} else {
		log_error("receipts: cannot sign %s with %s", task_id, kid);
		json_decref(*claims);
		*claims = NULL;
	}
	explicit_bzero(priv, sizeof(priv));
	str_free(&payload);
	str_free(&out);
	return rc;
}

/* One key of q_list's row i as a JWK; NULL when its key is malformed. */
static json_t *
jwk(PGresult *res, int i)
{
	unsigned char	 pub[JWS_ED25519_LEN];
	struct str	 x = STR_INIT;
	json_t		*k = NULL;

	if (crypto_hex_decode(PQgetvalue(res, i, 1), pub, sizeof(pub)) == 0) {
		crypto_b64url_encode(pub, sizeof(pub), &x);
		k = json_pack("{s:s, s:s, s:s, s:s+, s:s, s:s}", "kty", "OKP",
		    "crv", "Ed25519", "x", str_cstr(&x), "kid", "r",
		    PQgetvalue(res, i, 0), "use", "sig", "alg", "EdDSA");
	}
	str_free(&x);
	return k;
}

/* The published keys. See receipt.h. */
json_t *
receipt_jwks(struct db *db, struct arena *a, const struct crypto_keyring *keys)
{
	PGresult	*res;
	json_t		*list, *k;
	int		 i, id;

	if ((res = db_exec(db, a, &q_list, NULL)) == NULL)
		return NULL;
	if (PQntuples(res) == 0 && keys->nkeys > 0) {
		if (make_key(db, a, keys, &q_first, &id) == -1 ||
		    (res = db_exec(db, a, &q_list, NULL)) == NULL)
			return NULL;
	}
	list = json_array();
	for (i = 0; i < PQntuples(res); i++)
		if ((k = jwk(res, i)) != NULL)
			json_array_append_new(list, k);
	return json_pack("{s:o}", "keys", list);
}

/* A new signing key; the others retired. See receipt.h. */
int
receipt_rotate_key(struct db *db, struct arena *a,
    const struct crypto_keyring *keys, int *id)
{
	const char	*p[1];
	int		 rc = -1;

	if (keys->nkeys == 0 || db_begin(db) == -1)
		return -1;
	if (make_key(db, a, keys, &q_insert, id) == 0) {
		p[0] = db_i64(a, *id);
		rc = db_exec(db, a, &q_retire, p) == NULL ? -1 : 0;
	}
	return db_finish(db, rc, rc == 0, -1);
}

/* Every key for the operator. See receipt.h. */
json_t *
receipt_keys(struct db *db, struct arena *a)
{
	PGresult	*res;
	json_t		*list;
	int		 i;

	if ((res = db_exec(db, a, &q_list, NULL)) == NULL)
		return NULL;
	list = json_array();
	for (i = 0; i < PQntuples(res); i++)
		json_array_append_new(list, json_pack("{s:s+, s:s, s:o}", "kid",
		    "r", PQgetvalue(res, i, 0), "created_at",
		    PQgetvalue(res, i, 2), "retired_at", PQgetisnull(res, i, 3) ?
		    json_null() : json_string(PQgetvalue(res, i, 3))));
	return list;
}
