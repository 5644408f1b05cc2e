/* test_crypto.c: unit tests for hashes, tokens, compares and sealed secrets */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "str.h"
#include "unit.h"

#define KEY1HEX	"000102030405060708090a0b0c0d0e0f" \
		"101112131415161718191a1b1c1d1e1f"
#define KEY2HEX	"ffeeddccbbaa99887766554433221100" \
		"FFEEDDCCBBAA99887766554433221100"

/* Fill key with bytes seed, seed + 1, ... */
static void
make_key(unsigned char key[32], unsigned seed)
{
	size_t	 i;

	for (i = 0; i < 32; i++)
		key[i] = (unsigned char)(seed + i);
}

/* A ring holding key id 1 (bytes 0..31), current. */
static void
ring_one(struct crypto_keyring *kr)
{
	unsigned char	 key[32];

	crypto_keyring_init(kr);
	make_key(key, 0);
	ck_assert_int_eq(crypto_keyring_add(kr, 1, key), 0);
}

START_TEST(test_sha256_vectors)
{
	unsigned char	 md[32];
	char		 hex[65];

	crypto_sha256_hex("abc", 3, hex);
	ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223"
	    "b00361a396177a9cb410ff61f20015ad");
	crypto_sha256_hex("", 0, hex);
	ck_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb924"
	    "27ae41e4649b934ca495991b7852b855");
	crypto_sha256("abc", 3, md);
	ck_assert_uint_eq(md[0], 0xba);
	ck_assert_uint_eq(md[31], 0xad);
}
END_TEST

START_TEST(test_hmac_rfc4231)
{
	unsigned char	 key[20], md[32];
	char		 hex[65];

	/* Test case 1. */
	memset(key, 0x0b, sizeof(key));
	ck_assert_int_eq(crypto_hmac_sha256_hex(key, sizeof(key), "Hi There",
	    8, hex), 0);
	ck_assert_str_eq(hex, "b0344c61d8db38535ca8afceaf0bf12b"
	    "881dc200c9833da726e9376c2e32cff7");
	/* Test case 2. */
	ck_assert_int_eq(crypto_hmac_sha256_hex("Jefe", 4,
	    "what do ya want for nothing?", 28, hex), 0);
	ck_assert_str_eq(hex, "5bdcc146bf60754e6a042426089575c7"
	    "5a003f089d2739839dec58b964ec3843");
	ck_assert_int_eq(crypto_hmac_sha256("Jefe", 4,
	    "what do ya want for nothing?", 28, md), 0);
	ck_assert_uint_eq(md[0], 0x5b);
	ck_assert_uint_eq(md[31], 0x43);
}
END_TEST

START_TEST(test_constant_time_compare)
{
	ck_assert_int_eq(crypto_equal("abcd", "abcd", 4), 1);
	ck_assert_int_eq(crypto_equal("abcd", "abce", 4), 0);
	ck_assert_int_eq(crypto_equal("xbcd", "abcd", 4), 0);
	ck_assert_int_eq(crypto_streq("sk-secret", "sk-secret"), 1);
	ck_assert_int_eq(crypto_streq("", ""), 1);
	ck_assert_int_eq(crypto_streq("sk-secret", "sk-secreT"), 0);
	ck_assert_int_eq(crypto_streq("sk-secret", "sk-secret2"), 0);
	ck_assert_int_eq(crypto_streq("sk-secret", "sk-"), 0);
	ck_assert_int_eq(crypto_streq("", "a"), 0);
	ck_assert_int_eq(crypto_streq(NULL, "a"), 0);
	ck_assert_int_eq(crypto_streq(NULL, NULL), 0);
}
END_TEST

START_TEST(test_hex_round_trip)
{
	const unsigned char	 in[4] = { 0x00, 0x01, 0xab, 0xff };
	unsigned char		 out[4];
	char			 hex[9];

	crypto_hex_encode(in, sizeof(in), hex);
	ck_assert_str_eq(hex, "0001abff");
	memset(out, 0x55, sizeof(out));
	ck_assert_int_eq(crypto_hex_decode("0001ABFF", out, 4), 0);
	ck_assert_int_eq(memcmp(in, out, 4), 0);
	ck_assert_int_eq(crypto_hex_decode("0001abff", out, 4), 0);
	ck_assert_int_eq(memcmp(in, out, 4), 0);
	ck_assert_int_eq(crypto_hex_decode("", out, 0), 0);
	ck_assert_int_eq(crypto_hex_decode("0001ab", out, 4), -1);
	ck_assert_int_eq(crypto_hex_decode("0001abff00", out, 4), -1);
	ck_assert_int_eq(crypto_hex_decode("0001abf", out, 4), -1);
	ck_assert_int_eq(crypto_hex_decode("0001abfg", out, 4), -1);
	ck_assert_int_eq(crypto_hex_decode("0001 bff", out, 4), -1);
	ck_assert_int_eq(crypto_hex_decode("x", out, 0), -1);
}
END_TEST

START_TEST(test_token_hex)
{
	char	 a[65], b[65];

	ck_assert_int_eq(crypto_token_hex(a, sizeof(a), 32), 0);
	ck_assert_int_eq(crypto_token_hex(b, sizeof(b), 32), 0);
	ck_assert_uint_eq(strlen(a), 64);
	ck_assert_uint_eq(strspn(a, "0123456789abcdef"), 64);
	ck_assert_str_ne(a, b);
	ck_assert_int_eq(crypto_token_hex(a, 64, 32), -1);
	ck_assert_int_eq(crypto_token_hex(a, 0, 0), -1);
	ck_assert_int_eq(crypto_token_hex(a, 1, 0), 0);
	ck_assert_str_eq(a, "");
}
END_TEST

START_TEST(test_token_base62)
{
	static const char	 set[] = "0123456789"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
	char			 a[44], b[44], big[10001];
	size_t			 i;

	ck_assert_int_eq(crypto_token_base62(a, sizeof(a), 43), 0);
	ck_assert_int_eq(crypto_token_base62(b, sizeof(b), 43), 0);
	ck_assert_uint_eq(strlen(a), 43);
	ck_assert_uint_eq(strspn(a, set), 43);
	ck_assert_str_ne(a, b);
	ck_assert_int_eq(crypto_token_base62(a, 43, 43), -1);
	/* Every character shows up, and nothing else does. */
	ck_assert_int_eq(crypto_token_base62(big, sizeof(big), 10000), 0);
	ck_assert_uint_eq(strlen(big), 10000);
	ck_assert_uint_eq(strspn(big, set), 10000);
	for (i = 0; i < 62; i++)
		ck_assert_ptr_nonnull(strchr(big, set[i]));
}
END_TEST

START_TEST(test_token_base62_unbiased)
{
	char	*buf;
	size_t	 i, n = 248000, low = 0;

	/*
	 * Plain "byte % 62" would give '0'..'7' 5/256 each instead of 1/62:
	 * about 38750 of them here rather than 32000 (standard deviation
	 * about 170).
	 */
	buf = malloc(n + 1);
	ck_assert_int_eq(crypto_token_base62(buf, n + 1, n), 0);
	for (i = 0; i < n; i++)
		if (buf[i] >= '0' && buf[i] <= '7')
			low++;
	ck_assert_uint_gt(low, 30500);
	ck_assert_uint_lt(low, 33500);
	free(buf);
}
END_TEST

START_TEST(test_b64url)
{
	static const char	*vec[][2] = {
		{ "", "" }, { "f", "Zg" }, { "fo", "Zm8" }, { "foo", "Zm9v" },
		{ "foob", "Zm9vYg" }, { "fooba", "Zm9vYmE" },
		{ "foobar", "Zm9vYmFy" }, { "\xfb\xff", "-_8" },
	};
	static const char	*bad[] = {
		"Z", "Zh", "Zm9", "Zm+v", "Zm/v", "Zg==", "Zg.", "Zm9vY",
	};
	struct str		 s = STR_INIT;
	unsigned char		 out[16];
	size_t			 i, n;

	for (i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		str_reset(&s);
		crypto_b64url_encode(vec[i][0], strlen(vec[i][0]), &s);
		ck_assert_str_eq(str_cstr(&s), vec[i][1]);
		ck_assert_int_eq(crypto_b64url_decode(vec[i][1],
		    strlen(vec[i][1]), out, sizeof(out), &n), 0);
		ck_assert_uint_eq(n, strlen(vec[i][0]));
		ck_assert_int_eq(memcmp(out, vec[i][0], n), 0);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(crypto_b64url_decode(bad[i], strlen(bad[i]), out,
		    sizeof(out), &n) == -1, "decoded \"%s\"", bad[i]);
	ck_assert_int_eq(crypto_b64url_decode("Zm9vYmFy", 8, out, 5, &n), -1);
	str_free(&s);
}
END_TEST

START_TEST(test_seal_open_round_trip)
{
	struct crypto_keyring	 kr;
	struct str		 env = STR_INIT, env2 = STR_INIT;
	struct str		 pt = STR_INIT;

	ring_one(&kr);
	ck_assert_int_eq(crypto_seal(&kr, "hello secret", 12, "node-7",
	    &env), 0);
	/* 12 nonce + 12 text + 16 tag = 40 bytes = 54 base64url chars. */
	ck_assert_uint_eq(env.len, 5 + 54);
	ck_assert_int_eq(strncmp(env.buf, "v1.1.", 5), 0);
	ck_assert_int_eq(crypto_open(&kr, env.buf, "node-7", &pt), 0);
	ck_assert_uint_eq(pt.len, 12);
	ck_assert_str_eq(pt.buf, "hello secret");
	/* A fresh nonce each time. */
	ck_assert_int_eq(crypto_seal(&kr, "hello secret", 12, "node-7",
	    &env2), 0);
	ck_assert_str_ne(env.buf, env2.buf);
	/* Empty plaintext, and NULL aad means "". */
	str_reset(&env);
	str_reset(&pt);
	ck_assert_int_eq(crypto_seal(&kr, "", 0, NULL, &env), 0);
	ck_assert_uint_eq(env.len, 5 + 38);
	ck_assert_int_eq(crypto_open(&kr, env.buf, "", &pt), 0);
	ck_assert_uint_eq(pt.len, 0);
	crypto_keyring_clear(&kr);
	str_free(&env);
	str_free(&env2);
	str_free(&pt);
}
END_TEST

START_TEST(test_open_rejects_tampering)
{
	static const char	*bad[] = {
		"", "v1.", "v1.1.", "v1.1", "v2.1.AAAA", "v1.0.AAAA",
		"v1.x.AAAA", "v1.65536.AAAA",
	};
	static const unsigned char	 flips[] = { 0x01, 0x02, 0x10, 0x20 };
	struct crypto_keyring	 kr, other;
	struct str		 env = STR_INIT, pt = STR_INIT;
	unsigned char		 key[32];
	char			*copy;
	size_t			 i, j;

	ring_one(&kr);
	ck_assert_int_eq(crypto_seal(&kr, "top secret", 10, "node-7", &env),
	    0);
	copy = strdup(env.buf);
	for (i = 0; i < env.len; i++)
		for (j = 0; j < sizeof(flips); j++) {
			copy[i] ^= flips[j];
			ck_assert_msg(crypto_open(&kr, copy, "node-7", &pt) ==
			    -1, "opened with byte %zu ^ %#x", i, flips[j]);
			copy[i] ^= flips[j];
		}
	ck_assert_uint_eq(pt.len, 0);
	ck_assert_int_eq(crypto_open(&kr, copy, "node-8", &pt), -1);
	ck_assert_int_eq(crypto_open(&kr, copy, NULL, &pt), -1);
	copy[env.len - 1] = '\0';
	ck_assert_int_eq(crypto_open(&kr, copy, "node-7", &pt), -1);
	copy[env.len - 1] = env.buf[env.len - 1];
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_int_eq(crypto_open(&kr, bad[i], "node-7", &pt), -1);
	/* Unknown key id, and the right id with the wrong key. */
	crypto_keyring_init(&other);
	make_key(key, 0);
	ck_assert_int_eq(crypto_keyring_add(&other, 2, key), 0);
	ck_assert_int_eq(crypto_open(&other, env.buf, "node-7", &pt), -1);
	crypto_keyring_clear(&other);
	make_key(key, 1);
	ck_assert_int_eq(crypto_keyring_add(&other, 1, key), 0);
	ck_assert_int_eq(crypto_open(&other, env.buf, "node-7", &pt), -1);
	/* The key id is authenticated: relabelling to a copy of key 1 fails. */
	make_key(key, 0);
	ck_assert_int_eq(crypto_keyring_add(&other, 3, key), 0);
	copy[3] = '3';
	ck_assert_int_eq(crypto_open(&other, copy, "node-7", &pt), -1);
	ck_assert_uint_eq(pt.len, 0);
	/* The untouched envelope still opens. */
	ck_assert_int_eq(crypto_open(&kr, env.buf, "node-7", &pt), 0);
	ck_assert_str_eq(pt.buf, "top secret");
	free(copy);
	crypto_keyring_clear(&kr);
	crypto_keyring_clear(&other);
	str_free(&env);
	str_free(&pt);
}
END_TEST

START_TEST(test_rotation)
{
	struct crypto_keyring	 kr;
	struct str		 e1 = STR_INIT, e2 = STR_INIT, pt = STR_INIT;
	unsigned char		 key[32];

	ring_one(&kr);
	ck_assert_int_eq(crypto_seal(&kr, "old", 3, "n", &e1), 0);
	make_key(key, 100);
	ck_assert_int_eq(crypto_keyring_add(&kr, 2, key), 0);
	ck_assert_uint_eq(kr.current, 2);
	ck_assert_int_eq(crypto_seal(&kr, "new", 3, "n", &e2), 0);
	ck_assert_int_eq(strncmp(e2.buf, "v1.2.", 5), 0);
	ck_assert_int_eq(crypto_open(&kr, e1.buf, "n", &pt), 0);
	ck_assert_str_eq(pt.buf, "old");
	str_reset(&pt);
	ck_assert_int_eq(crypto_open(&kr, e2.buf, "n", &pt), 0);
	ck_assert_str_eq(pt.buf, "new");
	ck_assert_int_eq(crypto_keyring_set_current(&kr, 1), 0);
	str_reset(&e2);
	ck_assert_int_eq(crypto_seal(&kr, "x", 1, "n", &e2), 0);
	ck_assert_int_eq(strncmp(e2.buf, "v1.1.", 5), 0);
	ck_assert_int_eq(crypto_keyring_set_current(&kr, 3), -1);
	ck_assert_uint_eq(kr.current, 1);
	/* Bad additions leave the ring alone. */
	ck_assert_int_eq(crypto_keyring_add(&kr, 0, key), -1);
	ck_assert_int_eq(crypto_keyring_add(&kr, 65536, key), -1);
	ck_assert_int_eq(crypto_keyring_add(&kr, 2, key), -1);
	ck_assert_uint_eq(kr.nkeys, 2);
	/* An empty ring cannot seal. */
	crypto_keyring_clear(&kr);
	ck_assert_uint_eq(kr.nkeys, 0);
	ck_assert_uint_eq(kr.keys[0].key[1], 0);
	str_reset(&e2);
	ck_assert_int_eq(crypto_seal(&kr, "x", 1, "n", &e2), -1);
	ck_assert_uint_eq(e2.len, 0);
	str_free(&e1);
	str_free(&e2);
	str_free(&pt);
}
END_TEST

/* Parse spec into kr; expect failure with exactly msg. */
static void
parse_fails(struct crypto_keyring *kr, const char *spec, const char *msg)
{
	char	 err[128];

	err[0] = '\0';
	ck_assert_int_eq(crypto_keyring_parse(kr, spec, err, sizeof(err)),
	    -1);
	ck_assert_str_eq(err, msg);
	ck_assert_uint_eq(kr->nkeys, 0);
	ck_assert_uint_eq(kr->current, 0);
	ck_assert_ptr_null(strstr(err, "0001020304"));
	ck_assert_ptr_null(strstr(err, "ffeeddcc"));
}

START_TEST(test_keyring_parse)
{
	struct crypto_keyring	 kr;
	struct str		 spec = STR_INIT;
	char			 err[128];
	int			 i;

	crypto_keyring_init(&kr);
	ck_assert_int_eq(crypto_keyring_parse(&kr, " 1:" KEY1HEX ", 7:"
	    KEY2HEX " ", err, sizeof(err)), 0);
	ck_assert_uint_eq(kr.nkeys, 2);
	ck_assert_uint_eq(kr.current, 7);
	ck_assert_uint_eq(kr.keys[0].id, 1);
	ck_assert_uint_eq(kr.keys[0].key[31], 0x1f);
	ck_assert_uint_eq(kr.keys[1].id, 7);
	ck_assert_uint_eq(kr.keys[1].key[0], 0xff);
	ck_assert_uint_eq(kr.keys[1].key[31], 0x00);

	parse_fails(&kr, "", "key entry 1: expected <id>:<64 hex digits>");
	parse_fails(&kr, "1:" KEY1HEX ",", "key entry 2: expected "
	    "<id>:<64 hex digits>");
	parse_fails(&kr, "0:" KEY1HEX, "key entry 1: id must be a number "
	    "from 1 to 65535");
	parse_fails(&kr, "1:" KEY1HEX ",65536:" KEY2HEX, "key entry 2: id "
	    "must be a number from 1 to 65535");
	parse_fails(&kr, "a:" KEY1HEX, "key entry 1: id must be a number "
	    "from 1 to 65535");
	parse_fails(&kr, "1:" KEY1HEX ",1:" KEY2HEX, "key entry 2: "
	    "duplicate id 1");
	parse_fails(&kr, "3:0001020304", "key entry 1 (id 3): key must be 64 "
	    "hex digits");
	parse_fails(&kr, "3:" KEY1HEX "00", "key entry 1 (id 3): key must be "
	    "64 hex digits");
	parse_fails(&kr, "3:ffeeddccg" KEY1HEX, "key entry 1 (id 3): key "
	    "must be 64 hex digits");
	for (i = 1; i <= 17; i++)
		str_printf(&spec, "%s%d:%s", i > 1 ? "," : "", i, KEY1HEX);
	parse_fails(&kr, spec.buf, "key entry 17 (id 17): more than 16 keys");
	str_free(&spec);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("crypto");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, test_sha256_vectors);
	tcase_add_test(tc, test_hmac_rfc4231);
	tcase_add_test(tc, test_constant_time_compare);
	tcase_add_test(tc, test_hex_round_trip);
	tcase_add_test(tc, test_token_hex);
	tcase_add_test(tc, test_token_base62);
	tcase_add_test(tc, test_token_base62_unbiased);
	tcase_add_test(tc, test_b64url);
	tcase_add_test(tc, test_seal_open_round_trip);
	tcase_add_test(tc, test_open_rejects_tampering);
	tcase_add_test(tc, test_rotation);
	tcase_add_test(tc, test_keyring_parse);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
