/* test_arena.c: unit tests for the arena and the string buffer */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "str.h"
#include "unit.h"

static int	freed;

static void
count_free(void *p)
{
	freed += *(int *)p;
	free(p);
}

START_TEST(test_alloc_aligned_and_reset)
{
	struct arena	*a = arena_new();
	char		*p, *q;
	size_t		 i;

	p = arena_alloc(a, 3);
	q = arena_alloc(a, 8);
	ck_assert_uint_eq((uintptr_t)q % _Alignof(max_align_t), 0);
	ck_assert_uint_eq((uintptr_t)p % _Alignof(max_align_t), 0);
	ck_assert_ptr_ne(p, q);
	/* Spill into several extra blocks, including one larger than a block. */
	for (i = 0; i < 100; i++)
		memset(arena_alloc(a, 1000), 'x', 1000);
	memset(arena_alloc(a, 100000), 'y', 100000);
	ck_assert_uint_ge(arena_used(a), 200000);
	arena_reset(a);
	ck_assert_uint_eq(arena_used(a), 0);
	p = arena_strdup(a, "hello");
	ck_assert_str_eq(p, "hello");
	arena_free(a);
}
END_TEST

START_TEST(test_defer_runs_newest_first_once)
{
	struct arena	*a = arena_new();
	int		*one = malloc(sizeof(int)), *ten = malloc(sizeof(int));

	*one = 1;
	*ten = 10;
	freed = 0;
	arena_defer(a, count_free, one);
	arena_defer(a, count_free, ten);
	arena_defer(a, count_free, NULL);	/* ignored */
	arena_reset(a);
	ck_assert_int_eq(freed, 11);
	arena_reset(a);
	ck_assert_int_eq(freed, 11);
	arena_free(a);
}
END_TEST

START_TEST(test_printf_and_strndup)
{
	struct arena	*a = arena_new();

	ck_assert_str_eq(arena_printf(a, "%s-%d", "id", 42), "id-42");
	ck_assert_str_eq(arena_strndup(a, "abcdef", 3), "abc");
	ck_assert_int_eq(((char *)arena_calloc(a, 4, 4))[15], 0);
	arena_free(a);
}
END_TEST

START_TEST(test_str_grows_and_formats)
{
	struct str	 s = STR_INIT;
	char		*p;
	int		 i;

	ck_assert_str_eq(str_cstr(&s), "");
	for (i = 0; i < 1000; i++)
		str_putc(&s, 'a' + i % 26);
	ck_assert_uint_eq(s.len, 1000);
	ck_assert_int_eq(s.buf[26], 'a');
	str_reset(&s);
	str_printf(&s, "%d:%s", 7, "x");
	str_puts(&s, "yz");
	ck_assert_str_eq(str_cstr(&s), "7:xyz");
	str_truncate(&s, 2);
	ck_assert_str_eq(str_cstr(&s), "7:");
	p = str_steal(&s);
	ck_assert_str_eq(p, "7:");
	ck_assert_ptr_null(s.buf);
	free(p);
	str_free(&s);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("arena");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, test_alloc_aligned_and_reset);
	tcase_add_test(tc, test_defer_runs_newest_first_once);
	tcase_add_test(tc, test_printf_and_strndup);
	tcase_add_test(tc, test_str_grows_and_formats);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
