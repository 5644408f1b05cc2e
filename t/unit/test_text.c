/* test_text.c: unit tests for the one text check of names (core's text.c) */
#include "config.h"

#include <string.h>

#include "text.h"
#include "unit.h"

/* text_utf8_ok over the whole of s. */
static int
utf8(const char *s)
{
	return text_utf8_ok(s, strlen(s));
}

START_TEST(test_utf8_accepts_well_formed)
{
	ck_assert(utf8(""));
	ck_assert(utf8("plain ASCII"));
	ck_assert(utf8("caf\xc3\xa9 \xe2\x98\x95 \xf0\x9f\x98\x80"));
	ck_assert(utf8("\xef\xbf\xbf\xf4\x8f\xbf\xbf"));	/* U+FFFF, U+10FFFF */
}
END_TEST

START_TEST(test_utf8_refuses_malformed)
{
	ck_assert(!utf8("\xff"));
	ck_assert(!utf8("\x80"));			/* a stray continuation */
	ck_assert(!utf8("a\xc3"));			/* cut short */
	ck_assert(!utf8("\xc0\xaf"));			/* overlong '/' */
	ck_assert(!utf8("\xe0\x80\xaf"));		/* overlong, 3 bytes */
	ck_assert(!utf8("\xed\xa0\x80"));		/* a surrogate */
	ck_assert(!utf8("\xf4\x90\x80\x80"));		/* above U+10FFFF */
	ck_assert(!utf8("\xc3\x28"));			/* a bad continuation */
}
END_TEST

START_TEST(test_text_refuses_control_characters)
{
	ck_assert(text_ok("laptop", 100));
	ck_assert(text_ok("caf\xc3\xa9 \xe2\x98\x95", 100));
	ck_assert(!text_ok("", 100));
	ck_assert(!text_ok("a\r\nb", 100));
	ck_assert(!text_ok("a\tb", 100));
	ck_assert(!text_ok("\x1b[31m", 100));		/* ESC */
	ck_assert(!text_ok("x\x7f", 100));		/* DEL */
	ck_assert(!text_ok("x\xc2\x85", 100));		/* C1: NEL */
	ck_assert(!text_ok("\xc2\x9b" "31m", 100));	/* C1: CSI */
	ck_assert(text_ok("\xc2\xa0", 100));		/* U+00A0 is not C1 */
	ck_assert(!text_ok("x\xff", 100));
}
END_TEST

START_TEST(test_text_counts_characters_not_bytes)
{
	ck_assert(text_ok("\xc3\xa9\xc3\xa9\xc3\xa9", 3));
	ck_assert(!text_ok("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 3));
	ck_assert(text_ok("abc", 3));
	ck_assert(!text_ok("abcd", 3));
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("text");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, test_utf8_accepts_well_formed);
	tcase_add_test(tc, test_utf8_refuses_malformed);
	tcase_add_test(tc, test_text_refuses_control_characters);
	tcase_add_test(tc, test_text_counts_characters_not_bytes);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
