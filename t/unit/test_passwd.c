/* test_passwd.c: unit tests for argon2id password hashing */
#include "config.h"

#include <string.h>

#include "passwd.h"
#include "unit.h"

static const struct passwd_params fast = { 1, 1024, 1 };

START_TEST(test_hash_and_verify)
{
	char	a[PASSWD_ENCODED_MAX], b[PASSWD_ENCODED_MAX];

	ck_assert_int_eq(passwd_hash(&fast, "correct horse", a, sizeof(a)), 0);
	ck_assert_int_eq(strncmp(a, "$argon2id$v=19$m=1024,t=1,p=1$", 30), 0);
	ck_assert_int_eq(passwd_verify(a, "correct horse"), 1);
	ck_assert_int_eq(passwd_verify(a, "correct horsf"), 0);
	ck_assert_int_eq(passwd_verify(a, ""), 0);
	/* A fresh salt each time. */
	ck_assert_int_eq(passwd_hash(&fast, "correct horse", b, sizeof(b)), 0);
	ck_assert_str_ne(a, b);
	ck_assert_int_eq(passwd_verify(b, "correct horse"), 1);
}
END_TEST

START_TEST(test_malformed_and_other_algorithms)
{
	ck_assert_int_eq(passwd_verify("", "x"), 0);
	ck_assert_int_eq(passwd_verify("plaintext", "plaintext"), 0);
	ck_assert_int_eq(passwd_verify("$argon2i$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaA",
	    "x"), 0);
	ck_assert_int_eq(passwd_verify("$argon2id$v=19$garbage", "x"), 0);
	passwd_dummy_verify(&fast, "anything");
}
END_TEST

START_TEST(test_small_buffer_fails)
{
	char	small[20];

	ck_assert_int_eq(passwd_hash(&fast, "pw", small, sizeof(small)), -1);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("passwd");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, test_hash_and_verify);
	tcase_add_test(tc, test_malformed_and_other_algorithms);
	tcase_add_test(tc, test_small_buffer_fails);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
