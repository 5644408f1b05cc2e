/* jws.h: compact JWS signed with Ed25519 (RFC 7515, RFC 8037), no SQL */
#ifndef IP_JWS_H
#define IP_JWS_H

#include <stddef.h>

struct str;

#define JWS_ED25519_LEN	32	/* a private seed or a public key, raw */
#define JWS_KID_MAX	64	/* a key id's length, NUL excluded */

/* A public key a verifier may use, under its key id. */
struct jws_key {
	const char	*kid;
	unsigned char	 pub[JWS_ED25519_LEN];
};

/*
 * Make a new Ed25519 key pair from the CSPRNG: the 32-byte private seed
 * and its public key. Returns 0, or -1 when OpenSSL fails. Nothing stays
 * allocated; the caller wipes priv when done.
 */
int	 jws_ed25519_keygen(unsigned char priv[JWS_ED25519_LEN],
	    unsigned char pub[JWS_ED25519_LEN]);

/* The public key of a private seed. Returns 0 or -1. */
int	 jws_ed25519_public(const unsigned char priv[JWS_ED25519_LEN],
	    unsigned char pub[JWS_ED25519_LEN]);

/*
 * Sign n bytes of payload (the caller's JSON) with priv and append the
 * compact JWS "header.payload.signature" to out; the protected header is
 * {"alg":"EdDSA","kid":kid,"typ":typ} (typ NULL: none). Returns 0, or -1
 * (nothing appended) for a kid that is empty or longer than JWS_KID_MAX,
 * or when OpenSSL fails.
 */
int	 jws_sign_eddsa(const unsigned char priv[JWS_ED25519_LEN],
	    const char *kid, const char *typ, const void *payload, size_t n,
	    struct str *out);

/*
 * Verify a compact JWS of n bytes against keys: three base64url parts, a
 * header that is a JSON object with "alg":"EdDSA", a "kid" naming one of
 * the keys and no "crit", and a valid signature over the first two parts.
 * Appends the decoded payload to payload and returns 0; -1 (nothing
 * appended) on anything else. Input is untrusted: any bytes are safe.
 */
int	 jws_verify_eddsa(const char *jws, size_t n, const struct jws_key *keys,
	    size_t nkeys, struct str *payload);

#endif
