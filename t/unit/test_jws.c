/* test_jws.c: unit tests for Ed25519 compact JWS signing and verifying */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "jws.h"
#include "str.h"
#include "unit.h"

#define PAYLOAD	"{\"sub\":\"t_abc\",\"tokens_in\":12}"

/* The private seed and public key of RFC 8037 appendix A.1. */
#define RFC_D	"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
#define RFC_X	"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"

/* A new key pair under kid in k, its private seed in priv. */
static void
new_key(struct jws_key *k, const char *kid, unsigned char priv[32])
{
	k->kid = kid;
	ck_assert_int_eq(jws_ed25519_keygen(priv, k->pub), 0);
}

/* 0 when s verifies against the keys (payload checked), else -1. */
static int
check(const char *s, const struct jws_key *keys, size_t n)
{
	struct str	 p = STR_INIT;
	int		 rc = jws_verify_eddsa(s, strlen(s), keys, n, &p);

	if (rc == 0)
		ck_assert_str_eq(str_cstr(&p), PAYLOAD);
	else
		ck_assert_uint_eq(p.len, 0);
	str_free(&p);
	return rc;
}

START_TEST(test_rfc8037_public_key)
{
	unsigned char	 d[32], x[32], pub[32];
	size_t		 n;

	ck_assert_int_eq(crypto_b64url_decode(RFC_D, strlen(RFC_D), d,
	    sizeof(d), &n), 0);
	ck_assert_uint_eq(n, 32);
	ck_assert_int_eq(crypto_b64url_decode(RFC_X, strlen(RFC_X), x,
	    sizeof(x), &n), 0);
	ck_assert_int_eq(jws_ed25519_public(d, pub), 0);
	ck_assert_mem_eq(pub, x, 32);
}
END_TEST

START_TEST(test_sign_verify)
{
	struct jws_key	 keys[2];
	unsigned char	 priv[2][32];
	struct str	 s = STR_INIT, t = STR_INIT;

	new_key(&keys[0], "r1", priv[0]);
	new_key(&keys[1], "r2", priv[1]);
	ck_assert_int_eq(jws_sign_eddsa(priv[1], "r2", "x+jwt", PAYLOAD,
	    strlen(PAYLOAD), &s), 0);
	/* {"alg":"EdDSA","kid":"r2","typ":"x+jwt"} */
	ck_assert(strncmp(s.buf, "eyJhbGciOiJFZERTQSIsImtpZCI6InIyIiwidHlwIjoi"
	    "eCtqd3QifQ.", 55) == 0);
	ck_assert_int_eq(check(s.buf, keys, 2), 0);
	/* Deterministic: the same input signs the same. */
	ck_assert_int_eq(jws_sign_eddsa(priv[1], "r2", "x+jwt", PAYLOAD,
	    strlen(PAYLOAD), &t), 0);
	ck_assert_str_eq(s.buf, t.buf);
	/* Only r2's key verifies it. */
	ck_assert_int_eq(check(s.buf, keys, 1), -1);
	keys[1].kid = "r1";
	keys[0].kid = "r2";
	ck_assert_int_eq(check(s.buf, keys, 2), -1);
	str_free(&s);
	str_free(&t);
}
END_TEST

START_TEST(test_tampering)
{
	struct jws_key	 key;
	unsigned char	 priv[32];
	struct str	 s = STR_INIT, t = STR_INIT;
	char		*d1, *d2;
	size_t		 i;

	new_key(&key, "r1", priv);
	ck_assert_int_eq(jws_sign_eddsa(priv, "r1", NULL, PAYLOAD,
	    strlen(PAYLOAD), &s), 0);
	ck_assert_int_eq(check(s.buf, &key, 1), 0);
	/* Every changed character anywhere fails. */
	for (i = 0; i < s.len; i++) {
		str_reset(&t);
		str_append(&t, s.buf, s.len);
		t.buf[i] = t.buf[i] == 'A' ? 'B' : 'A';
		ck_assert_int_eq(check(t.buf, &key, 1), -1);
	}
	/* A payload swapped for another one's, with the same header. */
	d1 = strchr(s.buf, '.');
	d2 = strchr(d1 + 1, '.');
	str_reset(&t);
	str_append(&t, s.buf, (size_t)(d1 + 1 - s.buf));
	crypto_b64url_encode("{\"sub\":\"t_abc\",\"tokens_in\":1}", 29, &t);
	str_puts(&t, d2);
	ck_assert_int_eq(check(t.buf, &key, 1), -1);
	/* Truncated, extended, extra part, empty. */
	ck_assert_int_eq(check("", &key, 1), -1);
	ck_assert_int_eq(check("..", &key, 1), -1);
	str_reset(&t);
	str_append(&t, s.buf, s.len - 1);
	ck_assert_int_eq(check(t.buf, &key, 1), -1);
	str_puts(&t, "A.");
	ck_assert_int_eq(check(t.buf, &key, 1), -1);
	str_free(&s);
	str_free(&t);
}
END_TEST

/* A JWS with header h (JSON) over PAYLOAD, signed by priv. */
static void
forge(const char *h, const unsigned char *priv, struct str *out)
{
	struct str	 s = STR_INIT;
	char		*dot;

	ck_assert_int_eq(jws_sign_eddsa(priv, "r1", NULL, PAYLOAD,
	    strlen(PAYLOAD), &s), 0);
	dot = strchr(s.buf, '.');
	crypto_b64url_encode(h, strlen(h), out);
	str_puts(out, dot);
	str_free(&s);
}

START_TEST(test_headers_refused)
{
	struct jws_key	 key;
	unsigned char	 priv[32];
	struct str	 s = STR_INIT;

	new_key(&key, "r1", priv);
	/* Header changed: the signature no longer covers it. */
	forge("{\"alg\":\"EdDSA\",\"kid\":\"r1\",\"x\":1}", priv, &s);
	ck_assert_int_eq(check(s.buf, &key, 1), -1);
	/* Bad kid, alg none, no kid, duplicate keys, not an object. */
	ck_assert_int_eq(jws_sign_eddsa(priv, "", NULL, "{}", 2, &s), -1);
	str_reset(&s);
	forge("{\"alg\":\"none\",\"kid\":\"r1\"}", priv, &s);
	ck_assert_int_eq(check(s.buf, &key, 1), -1);
	str_reset(&s);
	forge("{\"alg\":\"EdDSA\"}", priv, &s);
	ck_assert_int_eq(check(s.buf, &key, 1), -1);
	str_reset(&s);
	forge("{\"alg\":\"EdDSA\",\"kid\":\"r1\",\"kid\":\"r1\"}", priv, &s);
	ck_assert_int_eq(check(s.buf, &key, 1), -1);
	str_reset(&s);
	forge("[1]", priv, &s);
	ck_assert_int_eq(check(s.buf, &key, 1), -1);
	str_free(&s);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("jws");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, test_rfc8037_public_key);
	tcase_add_test(tc, test_sign_verify);
	tcase_add_test(tc, test_tampering);
	tcase_add_test(tc, test_headers_refused);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
