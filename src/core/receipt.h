/* receipt.h: signed receipts of settled requests, and the keys that sign them */
#ifndef IP_RECEIPT_H
#define IP_RECEIPT_H

#include <stdint.h>

#include <jansson.h>

struct arena;
struct crypto_keyring;
struct db;

#define RECEIPT_TYP	"infrpool-receipt+jwt"

/* What receipt_get() found. */
enum receipt_rc {
	RECEIPT_OK = 0,
	RECEIPT_NONE,		/* no such task, or not the caller's */
	RECEIPT_PENDING,	/* the caller's, not settled yet */
	RECEIPT_NO_KEYS,	/* [crypto] keys is empty: receipts are off */
	RECEIPT_ERROR		/* database or crypto failure (logged) */
};

/*
 * The receipt of task_id for user_id, who must be the consumer who paid
 * (requests.user_id) or the supplier whose node served it: the claims
 * (a new reference in *claims; iss is the caller's) and the compact JWS
 * signed by the newest unretired key (in *jws, the arena's). The first
 * key is made when there is none. A task of someone else's answers
 * exactly as one that does not exist.
 */
enum receipt_rc	 receipt_get(struct db *, struct arena *,
		    const struct crypto_keyring *, const char *iss,
		    const char *task_id, int64_t user_id, json_t **claims,
		    const char **jws);

/*
 * Every signing key, retired ones too, as a JWKS {"keys": [...]} (a new
 * reference); the first key is made when there is none and the keyring
 * can seal it. NULL on a database error.
 */
json_t		*receipt_jwks(struct db *, struct arena *,
		    const struct crypto_keyring *);

/*
 * Make a new signing key, sealed under the keyring's current key, and
 * retire the others (they stay published for verifying), in one
 * transaction; its number in *id (the key id is "r<id>"). 0, or -1 when
 * the keyring is empty or on a database or crypto failure.
 */
int		 receipt_rotate_key(struct db *, struct arena *,
		    const struct crypto_keyring *, int *id);

/* Every key, newest first: [{kid, created_at, retired_at}]; NULL on error. */
json_t		*receipt_keys(struct db *, struct arena *);

#endif
