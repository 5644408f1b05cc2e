/* crypto.h: random tokens, hashes, constant-time compares and sealed secrets */
#ifndef IP_CRYPTO_H
#define IP_CRYPTO_H

#include <stddef.h>

struct str;

#define CRYPTO_SHA256_LEN	32
#define CRYPTO_KEY_LEN		32	/* AES-256 */
#define CRYPTO_KEYS_MAX		16
#define CRYPTO_KEYID_MAX	65535

/*
 * Sealing keys, each with an id 1..CRYPTO_KEYID_MAX. New envelopes use
 * the current key; any key in the ring opens envelopes naming its id, so
 * a rotated-out key keeps old secrets readable. Zero it with
 * crypto_keyring_init() and wipe it with crypto_keyring_clear().
 */
struct crypto_key {
	unsigned	 id;
	unsigned char	 key[CRYPTO_KEY_LEN];
};

struct crypto_keyring {
	struct crypto_key	 keys[CRYPTO_KEYS_MAX];
	size_t			 nkeys;
	unsigned		 current;	/* 0 when empty */
};

/* Fill buf with n bytes from the CSPRNG. Returns 0, or -1 on failure. */
int	 crypto_random(void *, size_t);

/*
 * Write nbytes random bytes as lowercase hex (out must hold 2 * nbytes + 1)
 * or nchars uniformly random [0-9A-Za-z] characters (out must hold
 * nchars + 1; 43 characters carry 256 bits). Return 0, or -1 when out is
 * too small or the CSPRNG fails. Nothing is allocated.
 */
int	 crypto_token_hex(char *out, size_t outlen, size_t nbytes);
int	 crypto_token_base62(char *out, size_t outlen, size_t nchars);

/* SHA-256 of n bytes as a raw digest or as 64 lowercase hex digits + NUL. */
void	 crypto_sha256(const void *, size_t, unsigned char out[32]);
void	 crypto_sha256_hex(const void *, size_t, char out[65]);

/* HMAC-SHA256 of msg under key, raw or as hex. Returns 0, or -1 on failure. */
int	 crypto_hmac_sha256(const void *key, size_t keylen, const void *msg,
	    size_t msglen, unsigned char out[32]);
int	 crypto_hmac_sha256_hex(const void *key, size_t keylen,
	    const void *msg, size_t msglen, char out[65]);

/* 1 when the n bytes of a and b are equal, in time independent of content. */
int	 crypto_equal(const void *a, const void *b, size_t n);

/*
 * 1 when two NUL-terminated secrets are equal. Both are hashed first, so
 * neither content nor length differences show in the timing. NULL never
 * equals anything.
 */
int	 crypto_streq(const char *a, const char *b);

/* Write n bytes as 2n lowercase hex digits and a NUL into out. */
void	 crypto_hex_encode(const void *, size_t n, char *out);

/* Decode exactly 2 * outlen hex digits (either case). Returns 0 or -1. */
int	 crypto_hex_decode(const char *hex, unsigned char *out, size_t outlen);

/* Append n bytes to out as unpadded base64url. */
void	 crypto_b64url_encode(const void *, size_t n, struct str *out);

/*
 * Decode inlen unpadded, canonical base64url characters into out (outcap
 * bytes; inlen * 3 / 4 always suffices) and set *outlen. Returns 0, or -1
 * on a bad character, padding, a bad length, nonzero spare bits or a
 * short out.
 */
int	 crypto_b64url_decode(const char *in, size_t inlen, unsigned char *out,
	    size_t outcap, size_t *outlen);

/* Empty a keyring that was never used. */
void	 crypto_keyring_init(struct crypto_keyring *);

/* Wipe all key material and leave the ring empty. */
void	 crypto_keyring_clear(struct crypto_keyring *);

/*
 * Copy key into the ring under id and make it the current key. Returns 0,
 * or -1 when id is out of range, already present or the ring is full.
 */
int	 crypto_keyring_add(struct crypto_keyring *, unsigned id,
	    const unsigned char key[32]);

/* Make id the current sealing key. Returns 0, or -1 when id is unknown. */
int	 crypto_keyring_set_current(struct crypto_keyring *, unsigned id);

/*
 * Replace the ring's contents with a config value "1:<64 hex>,2:<64 hex>"
 * (blanks around entries are allowed). The last entry becomes current.
 * Returns 0, or -1 with an empty ring and err naming the bad entry by
 * position and id, never by key material.
 */
int	 crypto_keyring_parse(struct crypto_keyring *, const char *spec,
	    char *err, size_t errlen);

/*
 * Encrypt n bytes with AES-256-GCM under the current key and append
 * "v1.<keyid>.<base64url(nonce || ciphertext || tag)>" to out. The
 * version, key id and aad (NULL means "") are authenticated. Returns 0,
 * or -1 (nothing appended) when the ring is empty or OpenSSL fails.
 */
int	 crypto_seal(const struct crypto_keyring *, const void *plain,
	    size_t n, const char *aad, struct str *out);

/*
 * Verify and decrypt an envelope made by crypto_seal() with the same aad
 * and append the plaintext to plain. Returns 0, or -1 (nothing appended)
 * when it is malformed, names an unknown key or fails authentication.
 */
int	 crypto_open(const struct crypto_keyring *, const char *envelope,
	    const char *aad, struct str *plain);

#endif
