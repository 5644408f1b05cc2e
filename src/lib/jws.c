/* jws.c: compact JWS signed with Ed25519 (RFC 7515, RFC 8037), no SQL */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "crypto.h"
#include "json.h"
#include "jws.h"
#include "str.h"

#define SIG_LEN		64
#define JWS_MAX		(1024 * 1024)	/* a verifier reads no more */

/* An Ed25519 key from a private seed (priv) or a public key; NULL on error. */
static EVP_PKEY *
raw_key(const unsigned char *priv, const unsigned char *pub)
{
	if (priv != NULL)
		return EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, priv,
		    JWS_ED25519_LEN);
	return EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub,
	    JWS_ED25519_LEN);
}

/* Make a key pair. Returns 0 or -1. */
int
jws_ed25519_keygen(unsigned char priv[JWS_ED25519_LEN],
    unsigned char pub[JWS_ED25519_LEN])
{
	if (crypto_random(priv, JWS_ED25519_LEN) == -1)
		return -1;
	return jws_ed25519_public(priv, pub);
}

/* Derive the public key. Returns 0 or -1. */
int
jws_ed25519_public(const unsigned char priv[JWS_ED25519_LEN],
    unsigned char pub[JWS_ED25519_LEN])
{
	EVP_PKEY	*k = raw_key(priv, NULL);
	size_t		 len = JWS_ED25519_LEN;
	int		 rc = -1;

	if (k != NULL && EVP_PKEY_get_raw_public_key(k, pub, &len) == 1 &&
	    len == JWS_ED25519_LEN)
		rc = 0;
	EVP_PKEY_free(k);
	return rc;
}

/* Ed25519 signature of n bytes of msg into sig. Returns 0 or -1. */
static int
sign(const unsigned char *priv, const char *msg, size_t n,
    unsigned char sig[SIG_LEN])
{
	EVP_PKEY	*k = raw_key(priv, NULL);
	EVP_MD_CTX	*ctx = EVP_MD_CTX_new();
	size_t		 len = SIG_LEN;
	int		 rc = -1;

	if (k != NULL && ctx != NULL &&
	    EVP_DigestSignInit(ctx, NULL, NULL, NULL, k) == 1 &&
	    EVP_DigestSign(ctx, sig, &len, (const unsigned char *)msg, n) == 1 &&
	    len == SIG_LEN)
		rc = 0;
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(k);
	return rc;
}

/* 1 when sig is pub's Ed25519 signature of n bytes of msg. */
static int
verify(const unsigned char *pub, const char *msg, size_t n,
    const unsigned char *sig, size_t siglen)
{
	EVP_PKEY	*k = raw_key(NULL, pub);
	EVP_MD_CTX	*ctx = EVP_MD_CTX_new();
	int		 ok = 0;

	if (k != NULL && ctx != NULL && siglen == SIG_LEN &&
	    EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, k) == 1 &&
	    EVP_DigestVerify(ctx, sig, siglen, (const unsigned char *)msg,
	    n) == 1)
		ok = 1;
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(k);
	return ok;
}

/* Sign header.payload and append the JWS. Returns 0 or -1. */
int
jws_sign_eddsa(const unsigned char priv[JWS_ED25519_LEN], const char *kid,
    const char *typ, const void *payload, size_t n, struct str *out)
{
	struct str	 in = STR_INIT, hdr = STR_INIT;
	unsigned char	 sig[SIG_LEN];
	json_t		*h;
	int		 rc = -1;

	if (kid == NULL || *kid == '\0' || strlen(kid) > JWS_KID_MAX)
		return -1;
	h = json_pack("{s:s, s:s}", "alg", "EdDSA", "kid", kid);
	if (h == NULL)
		abort();
	if (typ != NULL)
		json_object_set_new(h, "typ", json_string(typ));
	json_to_str(h, &hdr);
	json_decref(h);
	crypto_b64url_encode(hdr.buf, hdr.len, &in);
	str_putc(&in, '.');
	crypto_b64url_encode(payload, n, &in);
	if (sign(priv, in.buf, in.len, sig) == -1)
		goto out;
	str_append(out, in.buf, in.len);
	str_putc(out, '.');
	crypto_b64url_encode(sig, sizeof(sig), out);
	rc = 0;
out:
	str_free(&hdr);
	str_free(&in);
	return rc;
}

/* Append the n base64url characters at p, decoded, to out. Returns 0 or -1. */
static int
decode(const char *p, size_t n, struct str *out)
{
	unsigned char	*buf;
	size_t		 len;
	int		 rc;

	if ((buf = malloc(n + 1)) == NULL)
		abort();
	if ((rc = crypto_b64url_decode(p, n, buf, n + 1, &len)) == 0)
		str_append(out, buf, len);
	free(buf);
	return rc;
}

/* The key a header names, if it is one we accept; NULL otherwise. */
static const struct jws_key *
header_key(const struct str *hdr, const struct jws_key *keys, size_t nkeys)
{
	char		 err[128];
	json_t		*h = json_parse_limited(str_cstr(hdr), hdr->len, err,
			    sizeof(err));
	const char	*alg, *kid;
	const struct jws_key *k = NULL;
	size_t		 i;

	if (h == NULL)
		return NULL;
	alg = json_string_value(json_object_get(h, "alg"));
	kid = json_string_value(json_object_get(h, "kid"));
	if (alg != NULL && strcmp(alg, "EdDSA") == 0 && kid != NULL &&
	    json_object_get(h, "crit") == NULL)
		for (i = 0; i < nkeys && k == NULL; i++)
			if (strcmp(keys[i].kid, kid) == 0)
				k = &keys[i];
	json_decref(h);
	return k;
}

/* Check a compact JWS and append its payload. Returns 0 or -1. */
int
jws_verify_eddsa(const char *jws, size_t n, const struct jws_key *keys,
    size_t nkeys, struct str *payload)
{
	struct str		 hdr = STR_INIT, body = STR_INIT, sig = STR_INIT;
	const struct jws_key	*k;
	const char		*d1, *d2;
	int			 rc = -1;

	if (n > JWS_MAX || (d1 = memchr(jws, '.', n)) == NULL ||
	    (d2 = memchr(d1 + 1, '.', n - (size_t)(d1 + 1 - jws))) == NULL ||
	    memchr(d2 + 1, '.', n - (size_t)(d2 + 1 - jws)) != NULL)
		return -1;
	if (decode(jws, (size_t)(d1 - jws), &hdr) == -1 ||
	    decode(d1 + 1, (size_t)(d2 - d1 - 1), &body) == -1 ||
	    decode(d2 + 1, n - (size_t)(d2 + 1 - jws), &sig) == -1 ||
	    (k = header_key(&hdr, keys, nkeys)) == NULL ||
	    !verify(k->pub, jws, (size_t)(d2 - jws),
	    (const unsigned char *)str_cstr(&sig), sig.len))
		goto out;
	str_append(payload, str_cstr(&body), body.len);
	rc = 0;
out:
	str_free(&hdr);
	str_free(&body);
	str_free(&sig);
	return rc;
}
