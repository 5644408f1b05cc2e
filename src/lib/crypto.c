/* crypto.c: random tokens, hashes, constant-time compares and sealed secrets */
#include "config.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "crypto.h"
#include "str.h"
#include "util.h"

#define NONCE_LEN	12
#define TAG_LEN		16
#define HDR_MAX		16	/* "v1.65535." and a NUL */

static const char	 hexdigits[] = "0123456789abcdef";
static const char	 b62[] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
static const char	 b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Fill buf with n CSPRNG bytes. Returns 0 or -1. */
int
crypto_random(void *buf, size_t n)
{
	if (n == 0)
		return 0;
	if (n > INT_MAX || RAND_bytes(buf, (int)n) != 1)
		return -1;
	return 0;
}

/* Write nbytes random bytes as hex into out. Returns 0 or -1. */
int
crypto_token_hex(char *out, size_t outlen, size_t nbytes)
{
	unsigned char	 buf[32];
	size_t		 i, m;
	int		 rc = 0;

	if (outlen == 0 || nbytes > (outlen - 1) / 2)
		return -1;
	out[0] = '\0';
	for (i = 0; i < nbytes && rc == 0; i += m) {
		m = nbytes - i < sizeof(buf) ? nbytes - i : sizeof(buf);
		if ((rc = crypto_random(buf, m)) == 0)
			crypto_hex_encode(buf, m, out + 2 * i);
	}
	OPENSSL_cleanse(buf, sizeof(buf));
	return rc;
}

/*
 * Write nchars base62 characters into out. Random bytes of 248 and above
 * are thrown away, so each of the 62 characters has exactly 4 of the
 * remaining 248 values. Returns 0 or -1.
 */
int
crypto_token_base62(char *out, size_t outlen, size_t nchars)
{
	unsigned char	 buf[64];
	size_t		 i = 0, j = sizeof(buf);
	int		 c, rc = 0;

	if (outlen == 0 || nchars > outlen - 1)
		return -1;
	while (i < nchars) {
		if (j == sizeof(buf)) {
			if ((rc = crypto_random(buf, sizeof(buf))) == -1)
				break;
			j = 0;
		}
		c = buf[j++];
		if (c < 248)
			out[i++] = b62[c % 62];
	}
	out[rc == 0 ? i : 0] = '\0';
	OPENSSL_cleanse(buf, sizeof(buf));
	return rc;
}

/* SHA-256 of n bytes into out. Aborts if OpenSSL cannot hash. */
void
crypto_sha256(const void *p, size_t n, unsigned char out[32])
{
	if (EVP_Digest(p, n, out, NULL, EVP_sha256(), NULL) != 1)
		abort();
}

/* SHA-256 of n bytes as NUL-terminated lowercase hex. */
void
crypto_sha256_hex(const void *p, size_t n, char out[65])
{
	unsigned char	 md[CRYPTO_SHA256_LEN];

	crypto_sha256(p, n, md);
	crypto_hex_encode(md, sizeof(md), out);
}

/* HMAC-SHA256 of msg under key into out. Returns 0 or -1. */
int
crypto_hmac_sha256(const void *key, size_t keylen, const void *msg,
    size_t msglen, unsigned char out[32])
{
	unsigned int	 len = 0;

	if (keylen > INT_MAX)
		return -1;
	if (key == NULL)
		key = "";
	if (HMAC(EVP_sha256(), key, (int)keylen, msg, msglen, out,
	    &len) == NULL || len != CRYPTO_SHA256_LEN)
		return -1;
	return 0;
}

/* HMAC-SHA256 of msg under key as hex into out. Returns 0 or -1. */
int
crypto_hmac_sha256_hex(const void *key, size_t keylen, const void *msg,
    size_t msglen, char out[65])
{
	unsigned char	 md[CRYPTO_SHA256_LEN];

	if (crypto_hmac_sha256(key, keylen, msg, msglen, md) == -1)
		return -1;
	crypto_hex_encode(md, sizeof(md), out);
	return 0;
}

/* 1 when a and b hold the same n bytes; time depends on n only. */
int
crypto_equal(const void *a, const void *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n) == 0;
}

/* 1 when two secrets are equal, comparing their SHA-256 digests. */
int
crypto_streq(const char *a, const char *b)
{
	unsigned char	 da[CRYPTO_SHA256_LEN], db[CRYPTO_SHA256_LEN];

	if (a == NULL || b == NULL)
		return 0;
	crypto_sha256(a, strlen(a), da);
	crypto_sha256(b, strlen(b), db);
	return crypto_equal(da, db, sizeof(da));
}

/* Write n bytes as hex and a NUL into out (2n + 1 bytes). */
void
crypto_hex_encode(const void *p, size_t n, char *out)
{
	const unsigned char	*s = p;
	size_t			 i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hexdigits[s[i] >> 4];
		out[2 * i + 1] = hexdigits[s[i] & 0xf];
	}
	out[2 * n] = '\0';
}

/* Value of one hex digit, or -1. */
static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode hexlen digits into exactly outlen bytes. Returns 0 or -1. */
static int
hex_decode_n(const char *hex, size_t hexlen, unsigned char *out,
    size_t outlen)
{
	size_t	 i;
	int	 hi, lo;

	if (hexlen / 2 != outlen || hexlen % 2 != 0)
		return -1;
	for (i = 0; i < outlen; i++) {
		hi = hex_value(hex[2 * i]);
		lo = hex_value(hex[2 * i + 1]);
		if (hi == -1 || lo == -1)
			return -1;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

/* Decode a NUL-terminated string of 2 * outlen hex digits. Returns 0/-1. */
int
crypto_hex_decode(const char *hex, unsigned char *out, size_t outlen)
{
	return hex_decode_n(hex, strlen(hex), out, outlen);
}

/* Append n bytes as unpadded base64url to out. */
void
crypto_b64url_encode(const void *p, size_t n, struct str *out)
{
	const unsigned char	*s = p;
	char			 q[4];
	unsigned long		 v;
	size_t			 i, m;

	for (i = 0; i < n; i += 3) {
		m = n - i < 3 ? n - i : 3;
		v = (unsigned long)s[i] << 16;
		if (m > 1)
			v |= (unsigned long)s[i + 1] << 8;
		if (m > 2)
			v |= s[i + 2];
		q[0] = b64url[v >> 18 & 63];
		q[1] = b64url[v >> 12 & 63];
		q[2] = b64url[v >> 6 & 63];
		q[3] = b64url[v & 63];
		str_append(out, q, m + 1);
	}
}

/* Value of one base64url character, or -1. */
static int
b64url_value(char c)
{
	const char	*p;

	if (c == '\0' || (p = strchr(b64url, c)) == NULL)
		return -1;
	return (int)(p - b64url);
}

/*
 * Decode a group of m (2..4) characters into m - 1 bytes at out. The
 * bits past the last whole byte must be zero, so every byte string has
 * exactly one encoding. Returns 0 or -1.
 */
static int
b64url_group(const char *in, size_t m, unsigned char *out)
{
	unsigned long	 v = 0;
	size_t		 i;
	int		 c;

	for (i = 0; i < 4; i++) {
		c = i < m ? b64url_value(in[i]) : 0;
		if (c == -1)
			return -1;
		v = v << 6 | (unsigned long)c;
	}
	if ((m == 2 && (v & 0xffff) != 0) || (m == 3 && (v & 0xff) != 0))
		return -1;
	for (i = 0; i + 1 < m; i++)
		out[i] = (unsigned char)(v >> (16 - 8 * i));
	return 0;
}

/* Decode canonical unpadded base64url into out. Returns 0 or -1. */
int
crypto_b64url_decode(const char *in, size_t inlen, unsigned char *out,
    size_t outcap, size_t *outlen)
{
	size_t	 i, m, n;

	if (inlen % 4 == 1)
		return -1;
	n = inlen / 4 * 3 + (inlen % 4 == 0 ? 0 : inlen % 4 - 1);
	if (n > outcap)
		return -1;
	for (i = 0; i < inlen; i += 4) {
		m = inlen - i < 4 ? inlen - i : 4;
		if (b64url_group(in + i, m, out + i / 4 * 3) == -1)
			return -1;
	}
	*outlen = n;
	return 0;
}

/* Empty a fresh keyring. */
void
crypto_keyring_init(struct crypto_keyring *kr)
{
	memset(kr, 0, sizeof(*kr));
}

/* Wipe every key and empty the ring. */
void
crypto_keyring_clear(struct crypto_keyring *kr)
{
	OPENSSL_cleanse(kr, sizeof(*kr));
	crypto_keyring_init(kr);
}

/* The key with this id, or NULL. */
static const struct crypto_key *
keyring_find(const struct crypto_keyring *kr, unsigned id)
{
	size_t	 i;

	for (i = 0; i < kr->nkeys; i++)
		if (kr->keys[i].id == id)
			return &kr->keys[i];
	return NULL;
}

/* Add key as id and make it current. Returns 0 or -1. */
int
crypto_keyring_add(struct crypto_keyring *kr, unsigned id,
    const unsigned char key[32])
{
	struct crypto_key	*k;

	if (id == 0 || id > CRYPTO_KEYID_MAX || keyring_find(kr, id) != NULL ||
	    kr->nkeys == CRYPTO_KEYS_MAX)
		return -1;
	k = &kr->keys[kr->nkeys++];
	k->id = id;
	memcpy(k->key, key, CRYPTO_KEY_LEN);
	kr->current = id;
	return 0;
}

/* Seal with id from now on. Returns 0, or -1 when id is not in the ring. */
int
crypto_keyring_set_current(struct crypto_keyring *kr, unsigned id)
{
	if (keyring_find(kr, id) == NULL)
		return -1;
	kr->current = id;
	return 0;
}

/* Parse n bytes of canonical decimal key id (1..65535). Returns 0 or -1. */
static int
parse_id(const char *p, size_t n, unsigned *id)
{
	size_t	 i;

	if (n == 0 || n > 5 || p[0] == '0')
		return -1;
	*id = 0;
	for (i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		*id = *id * 10 + (unsigned)(p[i] - '0');
	}
	return *id <= CRYPTO_KEYID_MAX ? 0 : -1;
}

/* Add entry number idx, "<id>:<hex>" of n bytes at p. Returns 0 or -1. */
static int
keyring_parse_entry(struct crypto_keyring *kr, size_t idx, const char *p,
    size_t n, char *err, size_t errlen)
{
	unsigned char	 key[CRYPTO_KEY_LEN];
	const char	*colon;
	unsigned	 id;
	int		 rc = -1;

	util_trim_span(&p, &n);
	if ((colon = memchr(p, ':', n)) == NULL)
		util_seterr(err, errlen, "key entry %zu: expected <id>:<64 hex "
		    "digits>", idx);
	else if (parse_id(p, (size_t)(colon - p), &id) == -1)
		util_seterr(err, errlen, "key entry %zu: id must be a number from "
		    "1 to %d", idx, CRYPTO_KEYID_MAX);
	else if (keyring_find(kr, id) != NULL)
		util_seterr(err, errlen, "key entry %zu: duplicate id %u", idx, id);
	else if (kr->nkeys == CRYPTO_KEYS_MAX)
		util_seterr(err, errlen, "key entry %zu (id %u): more than %d keys",
		    idx, id, CRYPTO_KEYS_MAX);
	else if (hex_decode_n(colon + 1, n - (size_t)(colon + 1 - p), key,
	    sizeof(key)) == -1)
		util_seterr(err, errlen, "key entry %zu (id %u): key must be 64 "
		    "hex digits", idx, id);
	else
		rc = crypto_keyring_add(kr, id, key);
	OPENSSL_cleanse(key, sizeof(key));
	return rc;
}

/* Load every comma-separated entry of spec. Returns 0 or -1 and err. */
int
crypto_keyring_parse(struct crypto_keyring *kr, const char *spec, char *err,
    size_t errlen)
{
	const char	*end;
	size_t		 idx = 0;

	crypto_keyring_clear(kr);
	for (;;) {
		end = strchr(spec, ',');
		if (keyring_parse_entry(kr, ++idx, spec, end != NULL ?
		    (size_t)(end - spec) : strlen(spec), err, errlen) == -1) {
			crypto_keyring_clear(kr);
			return -1;
		}
		if (end == NULL)
			return 0;
		spec = end + 1;
	}
}

/* Feed the string s to ctx as additional data. Returns 0 or -1. */
static int
gcm_aad(EVP_CIPHER_CTX *ctx, const char *s)
{
	size_t	 n = strlen(s);
	int	 len;

	if (n == 0)
		return 0;
	if (n > INT_MAX || EVP_CipherUpdate(ctx, NULL, &len,
	    (const unsigned char *)s, (int)n) != 1)
		return -1;
	return 0;
}

/*
 * Run AES-256-GCM over n bytes of in into out, authenticating hdr and then
 * aad. Encrypting (enc 1) stores the tag; decrypting checks it. out must
 * not be NULL even when n is 0. Returns 0, or -1 on failure or bad tag.
 */
static int
gcm(int enc, const unsigned char *key, const unsigned char *nonce,
    const char *hdr, const char *aad, const unsigned char *in, size_t n,
    unsigned char *out, unsigned char *tag)
{
	EVP_CIPHER_CTX	*ctx;
	int		 len, rc = -1;

	if (n > INT_MAX || (ctx = EVP_CIPHER_CTX_new()) == NULL)
		return -1;
	if (EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, nonce,
	    enc) != 1 || gcm_aad(ctx, hdr) == -1 || gcm_aad(ctx, aad) == -1)
		goto out;
	if (n > 0 && EVP_CipherUpdate(ctx, out, &len, in, (int)n) != 1)
		goto out;
	if (!enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, TAG_LEN,
	    tag) != 1)
		goto out;
	if (EVP_CipherFinal_ex(ctx, out, &len) != 1)
		goto out;
	if (enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, TAG_LEN,
	    tag) != 1)
		goto out;
	rc = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

/* Write the envelope prefix "v1.<id>." (also the first AAD bytes). */
static void
envelope_header(char hdr[HDR_MAX], unsigned id)
{
	snprintf(hdr, HDR_MAX, "v1.%u.", id);
}

/* Split "v1.<id>.<body>": set *id and return body, or NULL if malformed. */
static const char *
envelope_parse(const char *env, unsigned *id)
{
	const char	*dot;

	if (strncmp(env, "v1.", 3) != 0 ||
	    (dot = strchr(env + 3, '.')) == NULL ||
	    parse_id(env + 3, (size_t)(dot - (env + 3)), id) == -1)
		return NULL;
	return dot + 1;
}

/* Encrypt under the current key and append the envelope. Returns 0/-1. */
int
crypto_seal(const struct crypto_keyring *kr, const void *plain, size_t n,
    const char *aad, struct str *out)
{
	const struct crypto_key	*k;
	unsigned char		*buf;
	char			 hdr[HDR_MAX];
	int			 rc = -1;

	if ((k = keyring_find(kr, kr->current)) == NULL ||
	    n > INT_MAX - NONCE_LEN - TAG_LEN)
		return -1;
	if ((buf = malloc(NONCE_LEN + n + TAG_LEN)) == NULL)
		abort();
	envelope_header(hdr, k->id);
	if (crypto_random(buf, NONCE_LEN) == -1 ||
	    gcm(1, k->key, buf, hdr, aad != NULL ? aad : "", plain, n,
	    buf + NONCE_LEN, buf + NONCE_LEN + n) == -1)
		goto out;
	str_puts(out, hdr);
	crypto_b64url_encode(buf, NONCE_LEN + n + TAG_LEN, out);
	rc = 0;
out:
	free(buf);
	return rc;
}

/* Check and decrypt an envelope, appending the plaintext. Returns 0/-1. */
int
crypto_open(const struct crypto_keyring *kr, const char *env,
    const char *aad, struct str *plain)
{
	const struct crypto_key	*k;
	unsigned char		*raw, *pt = NULL;
	const char		*body;
	char			 hdr[HDR_MAX];
	size_t			 blen, rawlen, n = 0;
	unsigned		 id;
	int			 rc = -1;

	if ((body = envelope_parse(env, &id)) == NULL ||
	    (k = keyring_find(kr, id)) == NULL)
		return -1;
	blen = strlen(body);
	if ((raw = malloc(blen / 4 * 3 + 3)) == NULL)
		abort();
	if (crypto_b64url_decode(body, blen, raw, blen / 4 * 3 + 3,
	    &rawlen) == -1 || rawlen < NONCE_LEN + TAG_LEN)
		goto out;
	n = rawlen - NONCE_LEN - TAG_LEN;
	if ((pt = malloc(n + 1)) == NULL)
		abort();
	envelope_header(hdr, k->id);
	if (gcm(0, k->key, raw, hdr, aad != NULL ? aad : "", raw + NONCE_LEN,
	    n, pt, raw + NONCE_LEN + n) == -1)
		goto out;
	str_append(plain, pt, n);
	rc = 0;
out:
	if (pt != NULL)
		OPENSSL_cleanse(pt, n);
	free(pt);
	free(raw);
	return rc;
}
