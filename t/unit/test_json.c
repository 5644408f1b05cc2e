/* test_json.c: unit tests for the Jansson helpers */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "json.h"
#include "str.h"
#include "unit.h"

/* Parse a NUL-terminated object that must be valid. */
static json_t *
parse_ok(const char *s)
{
	char	 err[200] = "";
	json_t	*v;

	v = json_parse_limited(s, strlen(s), err, sizeof(err));
	ck_assert_msg(v != NULL, "%s: %s", s, err);
	return v;
}

/* Expect s to fail to parse with a Jansson message containing what. */
static void
parse_fails(const char *s, size_t len, const char *what)
{
	char	 err[200] = "";

	ck_assert_ptr_null(json_parse_limited(s, len, err, sizeof(err)));
	ck_assert_msg(strncmp(err, "line ", 5) == 0 &&
	    strstr(err, " column ") != NULL && strstr(err, what) != NULL,
	    "error \"%s\" lacks \"%s\"", err, what);
}

START_TEST(test_parse_ok)
{
	const char	*buf = "{\"model\":\"m\",\"n\":3}trailing";
	json_t		*v;
	char		 err[200] = "";

	v = json_parse_limited(buf, 19, err, sizeof(err));
	ck_assert_ptr_nonnull(v);
	ck_assert_str_eq(err, "");
	ck_assert_str_eq(json_string_value(json_object_get(v, "model")), "m");
	ck_assert_int_eq(json_integer_value(json_object_get(v, "n")), 3);
	json_decref(v);
	v = parse_ok(" {\"a\": {\"b\": [1, 2, {}]}}\n");
	ck_assert_uint_eq(json_object_size(v), 1);
	json_decref(v);
}
END_TEST

START_TEST(test_parse_errors)
{
	struct str	 deep = STR_INIT;
	char		 err[200];
	int		 i;

	parse_fails("not json", 8, "expected");
	parse_fails("", 0, "expected");
	parse_fails("{\"a\":1}x", 8, "end of file expected");
	parse_fails("{\"a\":1,\"a\":2}", 13, "duplicate object key");
	parse_fails("{\"a\":1,\n\"b\":}", 13, "unexpected token");
	/* The position is where Jansson stopped: line 2 here. */
	parse_fails("{\"a\":1,\n\"b\":}", 13, "line 2 column ");
	parse_fails("{\"a\":1}", 6, "expected");	/* cut short by len */
	parse_fails("{\"a\":\"\\u0000\"}", 14, "\\u0000 is not allowed");
	for (i = 0; i < 3000; i++)
		str_puts(&deep, "[");
	parse_fails(deep.buf, deep.len, "maximum parsing depth");
	str_free(&deep);
	ck_assert_ptr_null(json_parse_limited("[1,2]", 5, err, sizeof(err)));
	ck_assert_str_eq(err, "body must be a JSON object");
	ck_assert_ptr_null(json_parse_limited("\"s\"", 3, err, sizeof(err)));
	ck_assert_str_eq(err, "line 1 column 3: '[' or '{' expected near "
	    "'\"s\"'");
	/* No room for a message is fine. */
	ck_assert_ptr_null(json_parse_limited("[]", 2, NULL, 0));
}
END_TEST

START_TEST(test_get_str)
{
	json_t		*v = parse_ok("{\"model\":\"llama\",\"n\":1,"
	    "\"z\":null}");
	const char	*s = "default";
	char		 err[200] = "";

	ck_assert_int_eq(json_get_str(v, "model", 1, &s, err, sizeof(err)),
	    JSON_GET_OK);
	ck_assert_str_eq(s, "llama");
	s = "default";
	ck_assert_int_eq(json_get_str(v, "user", 0, &s, err, sizeof(err)),
	    JSON_GET_ABSENT);
	ck_assert_int_eq(json_get_str(v, "z", 0, &s, err, sizeof(err)),
	    JSON_GET_ABSENT);
	ck_assert_str_eq(s, "default");
	ck_assert_str_eq(err, "");
	ck_assert_int_eq(json_get_str(v, "user", 1, &s, err, sizeof(err)),
	    JSON_GET_MISSING);
	ck_assert_str_eq(err, "'user' is required");
	ck_assert_int_eq(json_get_str(v, "z", 1, &s, err, sizeof(err)),
	    JSON_GET_MISSING);
	ck_assert_str_eq(err, "'z' is required");
	ck_assert_int_eq(json_get_str(v, "n", 0, &s, err, sizeof(err)),
	    JSON_GET_TYPE);
	ck_assert_str_eq(err, "'n' must be a string");
	ck_assert_str_eq(s, "default");
	/* An embedded NUL would silently cut a C string short. */
	json_object_set_new(v, "nul", json_stringn("a\0b", 3));
	ck_assert_int_eq(json_get_str(v, "nul", 1, &s, err, sizeof(err)),
	    JSON_GET_TYPE);
	ck_assert_str_eq(err, "'nul' must be a string");
	json_decref(v);
}
END_TEST

START_TEST(test_get_int)
{
	json_t		*v = parse_ok("{\"max_tokens\":16,\"big\":1000001,"
	    "\"f\":1.0,\"s\":\"16\",\"b\":true,\"neg\":-5}");
	long long	 n = 42;
	char		 err[200] = "";

	ck_assert_int_eq(json_get_int(v, "max_tokens", 1, 1, 1000000, &n,
	    err, sizeof(err)), JSON_GET_OK);
	ck_assert_int_eq(n, 16);
	ck_assert_int_eq(json_get_int(v, "neg", 1, -5, 5, &n, err,
	    sizeof(err)), JSON_GET_OK);
	ck_assert_int_eq(n, -5);
	n = 42;
	ck_assert_int_eq(json_get_int(v, "seed", 0, 0, 10, &n, err,
	    sizeof(err)), JSON_GET_ABSENT);
	ck_assert_int_eq(n, 42);
	ck_assert_str_eq(err, "");
	ck_assert_int_eq(json_get_int(v, "seed", 1, 0, 10, &n, err,
	    sizeof(err)), JSON_GET_MISSING);
	ck_assert_str_eq(err, "'seed' is required");
	ck_assert_int_eq(json_get_int(v, "big", 1, 1, 1000000, &n, err,
	    sizeof(err)), JSON_GET_RANGE);
	ck_assert_str_eq(err, "'big' must be an integer between 1 and "
	    "1000000");
	ck_assert_int_eq(json_get_int(v, "neg", 1, -4, 5, &n, err,
	    sizeof(err)), JSON_GET_RANGE);
	ck_assert_str_eq(err, "'neg' must be an integer between -4 and 5");
	ck_assert_int_eq(json_get_int(v, "f", 1, 1, 10, &n, err,
	    sizeof(err)), JSON_GET_TYPE);
	ck_assert_str_eq(err, "'f' must be an integer between 1 and 10");
	ck_assert_int_eq(json_get_int(v, "s", 1, 1, 10, &n, err,
	    sizeof(err)), JSON_GET_TYPE);
	ck_assert_int_eq(json_get_int(v, "b", 1, 0, 10, &n, err,
	    sizeof(err)), JSON_GET_TYPE);
	ck_assert_str_eq(err, "'b' must be an integer between 0 and 10");
	ck_assert_int_eq(n, 42);
	json_decref(v);
}
END_TEST

START_TEST(test_get_bool)
{
	json_t	*v = parse_ok("{\"stream\":true,\"echo\":false,\"n\":1,"
	    "\"s\":\"true\"}");
	int	 b = 7;
	char	 err[200] = "";

	ck_assert_int_eq(json_get_bool(v, "stream", 1, &b, err, sizeof(err)),
	    JSON_GET_OK);
	ck_assert_int_eq(b, 1);
	ck_assert_int_eq(json_get_bool(v, "echo", 1, &b, err, sizeof(err)),
	    JSON_GET_OK);
	ck_assert_int_eq(b, 0);
	b = 7;
	ck_assert_int_eq(json_get_bool(v, "logprobs", 0, &b, err,
	    sizeof(err)), JSON_GET_ABSENT);
	ck_assert_int_eq(b, 7);
	ck_assert_str_eq(err, "");
	ck_assert_int_eq(json_get_bool(v, "logprobs", 1, &b, err,
	    sizeof(err)), JSON_GET_MISSING);
	ck_assert_str_eq(err, "'logprobs' is required");
	ck_assert_int_eq(json_get_bool(v, "n", 1, &b, err, sizeof(err)),
	    JSON_GET_TYPE);
	ck_assert_str_eq(err, "'n' must be true or false");
	ck_assert_int_eq(json_get_bool(v, "s", 0, &b, NULL, 0),
	    JSON_GET_TYPE);
	ck_assert_int_eq(b, 7);
	json_decref(v);
}
END_TEST

START_TEST(test_to_str)
{
	struct str	 s = STR_INIT;
	json_t		*v;

	v = json_pack("{s:s, s:i, s:b, s:n, s:[i,i], s:f, s:s, s:{}}",
	    "zeta", "a\"b\n", "alpha", -7, "t", 1, "n", "list", 1, 2,
	    "r", 0.5, "u", "caf\xc3\xa9", "o");
	ck_assert_ptr_nonnull(v);
	str_puts(&s, "data: ");
	json_to_str(v, &s);
	ck_assert_str_eq(str_cstr(&s), "data: {\"zeta\":\"a\\\"b\\n\","
	    "\"alpha\":-7,\"t\":true,\"n\":null,\"list\":[1,2],\"r\":0.5,"
	    "\"u\":\"caf\xc3\xa9\",\"o\":{}}");
	json_decref(v);
	str_reset(&s);
	v = json_string("x");
	json_to_str(v, &s);
	ck_assert_str_eq(str_cstr(&s), "\"x\"");
	json_decref(v);
	str_free(&s);
}
END_TEST

START_TEST(test_arena_decref)
{
	struct arena	*a = arena_new();
	json_t		*v, *w;

	v = json_object();
	json_incref(v);
	ck_assert_ptr_eq(json_arena(a, v), v);
	ck_assert_uint_eq(v->refcount, 2);
	w = json_arena(a, json_pack("{s:i}", "k", 1));
	ck_assert_int_eq(json_integer_value(json_object_get(w, "k")), 1);
	ck_assert_ptr_null(json_arena(a, NULL));
	arena_reset(a);
	ck_assert_uint_eq(v->refcount, 1);
	arena_reset(a);
	ck_assert_uint_eq(v->refcount, 1);
	json_decref(v);
	arena_free(a);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("json");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, test_parse_ok);
	tcase_add_test(tc, test_parse_errors);
	tcase_add_test(tc, test_get_str);
	tcase_add_test(tc, test_get_int);
	tcase_add_test(tc, test_get_bool);
	tcase_add_test(tc, test_to_str);
	tcase_add_test(tc, test_arena_decref);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
