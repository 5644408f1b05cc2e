/* test_money.c: unit tests for micro-USD arithmetic */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "money.h"
#include "unit.h"

START_TEST(test_split_floor_and_remainder)
{
	struct money_split	s;

	/* 1,000,001 micro-USD at 5%: earning floor(950000.95) = 950000. */
	ck_assert_int_eq(money_split_amount(1000001, 500, &s), 0);
	ck_assert_int_eq(s.charge, 1000001);
	ck_assert_int_eq(s.earning, 950000);
	ck_assert_int_eq(s.fee, 50001);
	/* 19 at 5%: 18.05 -> 18, platform 1. */
	ck_assert_int_eq(money_split_amount(19, 500, &s), 0);
	ck_assert_int_eq(s.earning, 18);
	ck_assert_int_eq(s.fee, 1);
	/* 1 at 5%: 0.95 -> 0; the platform keeps the whole micro-USD. */
	ck_assert_int_eq(money_split_amount(1, 500, &s), 0);
	ck_assert_int_eq(s.earning, 0);
	ck_assert_int_eq(s.fee, 1);
	/* Silver 4% and Gold 3%. */
	ck_assert_int_eq(money_split_amount(100, 400, &s), 0);
	ck_assert_int_eq(s.earning, 96);
	ck_assert_int_eq(money_split_amount(100, 300, &s), 0);
	ck_assert_int_eq(s.earning, 97);
	ck_assert_int_eq(money_split_amount(0, 500, &s), 0);
	ck_assert_int_eq(s.charge + s.earning + s.fee, 0);
	ck_assert_int_eq(money_split_amount(-1, 500, &s), -1);
	ck_assert_int_eq(money_split_amount(5, 10001, &s), -1);
}
END_TEST

START_TEST(test_base_rounds_half_up)
{
	struct money_split	s;
	int64_t			base;

	/* 3 input tokens at 100/1M, 1 output at 200/1M: 500 -> 0.0005 micro-USD. */
	ck_assert_int_eq(money_base(3, 100, 1, 200, &base), 0);
	ck_assert_int_eq(base, 500);
	ck_assert_int_eq(money_split_base(base, 500, &s), 0);
	ck_assert_int_eq(s.charge, 0);
	ck_assert_int_eq(s.earning, 0);
	/* Exactly half rounds up; just under stays down. */
	ck_assert_int_eq(money_split_base(500000, 500, &s), 0);
	ck_assert_int_eq(s.charge, 1);
	ck_assert_int_eq(s.earning, 0);
	ck_assert_int_eq(s.fee, 1);
	ck_assert_int_eq(money_split_base(499999, 500, &s), 0);
	ck_assert_int_eq(s.charge, 0);
	/* 1,234 in at 150,000 and 567 out at 600,000: 525,300,000 -> 525.3 -> 525. */
	ck_assert_int_eq(money_base(1234, 150000, 567, 600000, &base), 0);
	ck_assert_int_eq(base, 525300000);
	ck_assert_int_eq(money_split_base(base, 500, &s), 0);
	ck_assert_int_eq(s.charge, 525);
	ck_assert_int_eq(s.earning, 499);	/* floor(499.035) */
	ck_assert_int_eq(s.fee, 26);
}
END_TEST

START_TEST(test_no_overflow_at_large_values)
{
	struct money_split	s;
	int64_t			base;

	/* 10M tokens at $1,000 per 1M each way: 2e16 base, fine. */
	ck_assert_int_eq(money_base(10000000, 1000000000, 10000000, 1000000000,
	    &base), 0);
	ck_assert_int_eq(base, 20000000000000000LL);
	ck_assert_int_eq(money_split_base(base, 500, &s), 0);
	ck_assert_int_eq(s.charge, 20000000000LL);
	ck_assert_int_eq(s.earning, 19000000000LL);
	/* The largest base: base x 9,500 would overflow int64 without 128 bits. */
	ck_assert_int_eq(money_split_base(INT64_MAX, 500, &s), 0);
	ck_assert_int_eq(s.charge, 9223372036855LL);
	ck_assert_int_eq(s.earning, 8762203435012LL);
	ck_assert_int_eq(s.fee, s.charge - s.earning);
	ck_assert_int_eq(money_base(INT64_MAX, 2, 0, 0, &base), -1);
	ck_assert_int_eq(money_base(INT64_MAX / 2, 1, INT64_MAX / 2, 1, &base), 0);
	ck_assert_int_eq(money_split_amount(INT64_MAX / 1000000 + 1, 500, &s), -1);
}
END_TEST

START_TEST(test_format_and_parse)
{
	char	buf[32];
	int64_t	m;

	money_format(1000000, buf, sizeof(buf));
	ck_assert_str_eq(buf, "1.000000");
	money_format(1, buf, sizeof(buf));
	ck_assert_str_eq(buf, "0.000001");
	money_format(-1234567, buf, sizeof(buf));
	ck_assert_str_eq(buf, "-1.234567");
	money_format(INT64_MIN, buf, sizeof(buf));
	ck_assert_str_eq(buf, "-9223372036854.775808");
	ck_assert_int_eq(money_parse("1.5", &m), 0);
	ck_assert_int_eq(m, 1500000);
	ck_assert_int_eq(money_parse("0.000001", &m), 0);
	ck_assert_int_eq(m, 1);
	ck_assert_int_eq(money_parse("25", &m), 0);
	ck_assert_int_eq(m, 25000000);
	ck_assert_int_eq(money_parse("0.0000001", &m), -1);
	ck_assert_int_eq(money_parse("-1", &m), -1);
	ck_assert_int_eq(money_parse("1.", &m), -1);
	ck_assert_int_eq(money_parse(".5", &m), -1);
	ck_assert_int_eq(money_parse("1e3", &m), -1);
	ck_assert_int_eq(money_parse("99999999999999", &m), -1);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("money");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, test_split_floor_and_remainder);
	tcase_add_test(tc, test_base_rounds_half_up);
	tcase_add_test(tc, test_no_overflow_at_large_values);
	tcase_add_test(tc, test_format_and_parse);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
