/* test_tmpl.c: unit tests for the template engine */
#include "config.h"

#include <sys/stat.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "str.h"
#include "tmpl.h"
#include "unit.h"

static char	tdir[64];

/* Render name with the JSON text ctx and check the output (or "ERR:msg"). */
#define RENDER_EQ(set, name, ctx, want) do {				\
	char	*got_ = run((set), (name), (ctx));			\
	ck_assert_str_eq(got_, (want));					\
	free(got_);							\
} while (0)

/* Make a fresh template directory for one test. */
static void
setup(void)
{
	strcpy(tdir, "/tmp/test_tmpl.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tdir));
}

/* Remove the template directory and everything in it. */
static void
teardown(void)
{
	DIR		*d;
	struct dirent	*de;
	char		 path[512];

	ck_assert_ptr_nonnull(d = opendir(tdir));
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", tdir, de->d_name);
		if (unlink(path) == -1)
			ck_assert_int_eq(rmdir(path), 0);
	}
	closedir(d);
	ck_assert_int_eq(rmdir(tdir), 0);
}

/* Write len bytes of text as file name in the template directory. */
static void
put_n(const char *name, const char *text, size_t len)
{
	char	 path[512];
	FILE	*f;

	snprintf(path, sizeof(path), "%s/%s", tdir, name);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	ck_assert_uint_eq(fwrite(text, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

/* Write the string text as file name in the template directory. */
static void
put(const char *name, const char *text)
{
	put_n(name, text, strlen(text));
}

/* Load the template directory, which must succeed; caller frees. */
static struct tmpl_set *
load_ok(void)
{
	struct tmpl_set	*set;
	char		 err[256] = "";

	set = tmpl_load(tdir, err, sizeof(err));
	ck_assert_msg(set != NULL, "load failed: %s", err);
	return set;
}

/*
 * Load the directory holding only bad.html with text (len bytes), which
 * must fail, and check the message is "<dir>/bad.html:<want>".
 */
static void
load_fails(const char *text, size_t len, const char *want)
{
	char	 err[256] = "", exp[512];

	put_n("bad.html", text, len);
	ck_assert_ptr_null(tmpl_load(tdir, err, sizeof(err)));
	snprintf(exp, sizeof(exp), "%s/bad.html:%s", tdir, want);
	ck_assert_str_eq(err, exp);
}

/* Render name with the JSON text ctx; returns the heap output or "ERR:msg". */
static char *
run(const struct tmpl_set *set, const char *name, const char *ctx)
{
	struct str	 out = STR_INIT;
	json_error_t	 jerr;
	json_t		*v;
	char		 err[256] = "";

	v = json_loads(ctx, JSON_DECODE_ANY, &jerr);
	ck_assert_msg(v != NULL, "bad test JSON: %s", jerr.text);
	if (tmpl_render(set, name, v, &out, err, sizeof(err)) == -1) {
		str_reset(&out);
		str_printf(&out, "ERR:%s", err);
	}
	json_decref(v);
	return str_steal(&out);
}

START_TEST(test_escape_html)
{
	struct tmpl_set	*set;
	struct str	 s = STR_INIT;

	put("home.html", "<p>{{s}}</p>\n{{a}}|{{b}}|{{c}}|{{d}}|{{e}}");
	set = load_ok();
	RENDER_EQ(set, "home",
	    "{\"s\": \"<a href=\\\"x\\\">Tom & 'Jerry'</a>\","
	    " \"a\": \"<\", \"b\": \">\", \"c\": \"&\", \"d\": \"\\\"\","
	    " \"e\": \"'\"}",
	    "<p>&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;"
	    "</p>\n&lt;|&gt;|&amp;|&quot;|&#39;");
	tmpl_free(set);

	tmpl_escape_html(&s, "a\0<b>", 5);
	tmpl_escape_html(&s, "plain", 5);
	ck_assert_uint_eq(s.len, strlen("a&lt;b&gt;plain"));
	ck_assert_str_eq(str_cstr(&s), "a&lt;b&gt;plain");
	str_free(&s);
}
END_TEST

START_TEST(test_missing_key)
{
	struct tmpl_set	*set;

	put("home.html", "Hi\n{{ user.name }}!");
	put("outer.html", "{{#user}}{{> inner}}{{/user}}");
	put("inner.html", "\n\n{{nick}}");
	set = load_ok();
	RENDER_EQ(set, "home", "{\"user\": {}}",
	    "ERR:home:2: missing key 'user.name'");
	RENDER_EQ(set, "home", "{}", "ERR:home:2: missing key 'user.name'");
	RENDER_EQ(set, "home", "{\"user\": {\"name\": \"Ann\"}}", "Hi\nAnn!");
	/* The error names the partial where the tag is. */
	RENDER_EQ(set, "outer", "{\"user\": {\"name\": \"Ann\"}}",
	    "ERR:inner:3: missing key 'nick'");
	tmpl_free(set);
}
END_TEST

START_TEST(test_dotted_names)
{
	struct tmpl_set	*set;

	put("home.html", "{{a.b.c}} {{a.n}}{{#inner}} {{a.n}}{{/inner}}");
	set = load_ok();
	RENDER_EQ(set, "home",
	    "{\"a\": {\"b\": {\"c\": \"deep\"}, \"n\": 3}, \"inner\": {}}",
	    "deep 3 3");
	/* Once the first part is found, the rest must follow from there. */
	RENDER_EQ(set, "home",
	    "{\"a\": {\"b\": {\"c\": \"deep\"}, \"n\": 3},"
	    " \"inner\": {\"a\": {}}}",
	    "ERR:home:1: missing key 'a.n'");
	RENDER_EQ(set, "home", "{\"a\": {\"b\": 1, \"n\": 3}}",
	    "ERR:home:1: missing key 'a.b.c'");
	tmpl_free(set);
}
END_TEST

START_TEST(test_lists)
{
	struct tmpl_set	*set;

	put("objs.html", "<ul>{{#items}}<li>{{name}}={{qty}} {{title}}</li>"
	    "{{/items}}</ul>");
	put("tags.html", "{{#tags}}[{{.}}]{{/tags}}");
	put("grid.html", "{{#m}}{{#.}}{{.}}{{/.}};{{/m}}");
	set = load_ok();
	RENDER_EQ(set, "objs",
	    "{\"title\": \"T\", \"items\": [{\"name\": \"a\", \"qty\": 1},"
	    " {\"name\": \"b<\", \"qty\": 2}]}",
	    "<ul><li>a=1 T</li><li>b&lt;=2 T</li></ul>");
	RENDER_EQ(set, "tags", "{\"tags\": [\"x\", \"y&\", 3, true]}",
	    "[x][y&amp;][3][true]");
	RENDER_EQ(set, "grid", "{\"m\": [[1, 2], [3], []]}", "12;3;;");
	tmpl_free(set);
}
END_TEST

START_TEST(test_inverted_and_empty)
{
	struct tmpl_set	*set;

	put("home.html", "{{#items}}<li>{{.}}</li>{{/items}}"
	    "{{^items}}<p>none</p>{{/items}}");
	set = load_ok();
	RENDER_EQ(set, "home", "{\"items\": []}", "<p>none</p>");
	RENDER_EQ(set, "home", "{}", "<p>none</p>");
	RENDER_EQ(set, "home", "{\"items\": [\"a\", \"b\"]}",
	    "<li>a</li><li>b</li>");
	tmpl_free(set);
}
END_TEST

START_TEST(test_conditionals)
{
	struct tmpl_set	*set;

	put("home.html", "{{#on}}A{{/on}}{{^on}}U{{/on}}");
	put("user.html", "{{#user}}{{name}} {{#admin}}(admin){{/admin}}"
	    "{{/user}}");
	set = load_ok();
	RENDER_EQ(set, "home", "{\"on\": true}", "A");
	RENDER_EQ(set, "home", "{\"on\": false}", "U");
	RENDER_EQ(set, "home", "{\"on\": null}", "U");
	RENDER_EQ(set, "home", "{\"on\": 0}", "U");
	RENDER_EQ(set, "home", "{\"on\": 0.0}", "U");
	RENDER_EQ(set, "home", "{\"on\": 2}", "A");
	RENDER_EQ(set, "home", "{\"on\": \"\"}", "U");
	RENDER_EQ(set, "home", "{\"on\": \"x\"}", "A");
	RENDER_EQ(set, "home", "{\"on\": {}}", "A");
	RENDER_EQ(set, "user",
	    "{\"user\": {\"name\": \"Ann\", \"admin\": true}}", "Ann (admin)");
	RENDER_EQ(set, "user",
	    "{\"user\": {\"name\": \"Bob\", \"admin\": false}}", "Bob ");
	tmpl_free(set);
}
END_TEST

START_TEST(test_partials)
{
	struct tmpl_set	*set;

	put("header.html", "<header>{{title}}</header>\n");
	put("footer.html", "<footer>{{year}}</footer>\n");
	put("row.html", "<tr>{{name}}</tr>");
	put("home.html", "{{> header}}<table>{{#users}}{{>row}}{{/users}}"
	    "</table>\n{{ >  footer }}");
	set = load_ok();
	RENDER_EQ(set, "home",
	    "{\"title\": \"A&B\", \"year\": 2024,"
	    " \"users\": [{\"name\": \"x\"}, {\"name\": \"y\"}]}",
	    "<header>A&amp;B</header>\n<table><tr>x</tr><tr>y</tr></table>\n"
	    "<footer>2024</footer>\n");
	tmpl_free(set);
}
END_TEST

START_TEST(test_raw)
{
	struct tmpl_set	*set;

	put("home.html", "{{raw html}}|{{html}}|{{raw}}|{{ raw  html }}");
	set = load_ok();
	RENDER_EQ(set, "home", "{\"html\": \"<b>x&amp;</b>\", \"raw\": \"<\"}",
	    "<b>x&amp;</b>|&lt;b&gt;x&amp;amp;&lt;/b&gt;|&lt;|<b>x&amp;</b>");
	tmpl_free(set);
}
END_TEST

START_TEST(test_text_set)
{
	struct tmpl_set	*set;
	char		 err[256] = "";

	put("mail.txt", "Subject: {{s}}\n\n{{b}} {{url b}}{{#l}}, {{.}}{{/l}}{{> part}}");
	put("part.txt", "!");
	put("page.html", "{{b}}");	/* not a .txt file: not in the set */
	set = tmpl_load_text(tdir, err, sizeof(err));
	ck_assert_msg(set != NULL, "load failed: %s", err);
	/* Plain text: no HTML escaping, and only the .txt files. */
	RENDER_EQ(set, "mail", "{\"s\": \"a < b & c\", \"b\": \"x'y\","
	    " \"l\": [1, 2]}", "Subject: a < b & c\n\nx'y x%27y, 1, 2!");
	RENDER_EQ(set, "page", "{}", "ERR:unknown template 'page'");
	tmpl_free(set);
	/* The HTML set of the same directory is what it always was. */
	set = load_ok();
	RENDER_EQ(set, "page", "{\"b\": \"x'y\"}", "x&#39;y");
	RENDER_EQ(set, "mail", "{}", "ERR:unknown template 'mail'");
	tmpl_free(set);
}
END_TEST

START_TEST(test_url)
{
	struct tmpl_set	*set;
	struct str	 s = STR_INIT;

	put("home.html", "<a href=\"/m/{{url id}}?q={{url q}}&n={{url n}}\">");
	set = load_ok();
	RENDER_EQ(set, "home",
	    "{\"id\": \"a b/c\", \"q\": \"x&y=\\u00e9\\\"'<>~-._%+\","
	    " \"n\": -1.5}",
	    "<a href=\"/m/a%20b%2Fc?q=x%26y%3D%C3%A9%22%27%3C%3E~-._%25%2B"
	    "&n=-1.5\">");
	tmpl_free(set);

	tmpl_escape_url(&s, "AZaz09-._~", 10);
	tmpl_escape_url(&s, "\0\n\xff", 3);
	ck_assert_str_eq(str_cstr(&s), "AZaz09-._~%00%0A%FF");
	str_free(&s);
}
END_TEST

START_TEST(test_numbers_and_scalars)
{
	struct tmpl_set	*set;

	put("home.html", "{{i}} {{n}} {{r}} {{h}} {{w}} {{e}} {{big}} {{t}} "
	    "{{f}} [{{z}}]");
	put("obj.html", "{{o}}");
	set = load_ok();
	RENDER_EQ(set, "home",
	    "{\"i\": 42, \"n\": -7, \"r\": 1.5, \"h\": 0.1, \"w\": 2.0,"
	    " \"e\": 1e300, \"big\": 9007199254740993, \"t\": true,"
	    " \"f\": false, \"z\": null}",
	    "42 -7 1.5 0.1 2 1e+300 9007199254740993 true false []");
	RENDER_EQ(set, "obj", "{\"o\": {}}",
	    "ERR:obj:1: 'o' is an object, not a value");
	RENDER_EQ(set, "obj", "{\"o\": [1]}",
	    "ERR:obj:1: 'o' is an array, not a value");
	tmpl_free(set);
}
END_TEST

START_TEST(test_comments_and_whitespace)
{
	struct tmpl_set	*set;

	put("home.html", "a{{! a comment with } and { }}b{{  name\t}}c"
	    "{{#  l  }}{{ . }}{{/ l }}\n{{!\nmulti\nline\n}}{{late}}");
	set = load_ok();
	RENDER_EQ(set, "home", "{\"name\": \"X\", \"l\": [1, 2], \"late\": 9}",
	    "abXc12\n9");
	/* Lines inside a comment still count. */
	RENDER_EQ(set, "home", "{\"name\": \"X\", \"l\": []}",
	    "ERR:home:5: missing key 'late'");
	tmpl_free(set);
}
END_TEST

START_TEST(test_set_contents)
{
	struct tmpl_set	*set;
	struct str	 out = STR_INIT;
	char		 err[256] = "", path[512];

	put("home.html", "hi {{x}}");
	put("notes.txt", "{{#broken");
	put(".hidden.html", "{{#broken");
	snprintf(path, sizeof(path), "%s/sub.html", tdir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	set = load_ok();
	RENDER_EQ(set, "nope", "{}", "ERR:unknown template 'nope'");
	RENDER_EQ(set, "sub", "{}", "ERR:unknown template 'sub'");
	/* Rendering appends to what out holds; a NULL context is empty. */
	str_puts(&out, "pre:");
	ck_assert_int_eq(tmpl_render(set, "home", NULL, &out, err,
	    sizeof(err)), -1);
	ck_assert_str_eq(err, "home:1: missing key 'x'");
	ck_assert_int_eq(strncmp(str_cstr(&out), "pre:hi ", 7), 0);
	str_free(&out);
	tmpl_free(set);
	tmpl_free(NULL);

	ck_assert_ptr_null(tmpl_load("/nonexistent/tmpl", err, sizeof(err)));
	ck_assert_str_eq(err, "/nonexistent/tmpl: No such file or directory");
}
END_TEST

START_TEST(test_syntax_errors)
{
	load_fails("a\nb\n{{#items}}\nx\n", 17,
	    "3: unclosed section {{#items}}");
	load_fails("{{^none}}", 9, "1: unclosed section {{^none}}");
	load_fails("{{#a}}\n{{#b}}\n{{/a}}\n", 21,
	    "3: {{/a}} does not close {{#b}} from line 2");
	load_fails("x\n{{/a}}", 8, "2: {{/a}} without an open section");
	load_fails("one\ntwo {{name\n", 14, "2: unclosed {{");
	load_fails("\n{{> nope}}", 11, "2: unknown partial {{> nope}}");
	load_fails("a\nb\0c", 5, "2: NUL byte");
	load_fails("{{a b}}", 7, "1: bad name in tag {{a b}}");
	load_fails("{{{x}}}", 7, "1: bad name in tag {{{x}}");
	load_fails("{{a..b}}", 8, "1: bad name in tag {{a..b}}");
	load_fails("{{ }}", 5, "1: empty tag {{}}");
}
END_TEST

START_TEST(test_nesting_limit)
{
	struct str	 s = STR_INIT;
	int		 i;

	for (i = 0; i < TMPL_MAX_NEST + 1; i++)
		str_puts(&s, "{{#a}}");
	for (i = 0; i < TMPL_MAX_NEST + 1; i++)
		str_puts(&s, "{{/a}}");
	load_fails(s.buf, s.len, "1: sections nested deeper than 64");
	str_free(&s);
}
END_TEST

/* JSON text for a chain of levels nested nodes: {"name":"1","kids":[...]}. */
static char *
chain(int levels)
{
	struct str	 s = STR_INIT;
	int		 i;

	for (i = 1; i <= levels; i++)
		str_printf(&s, "{\"name\": \"%d\", \"kids\": [", i);
	for (i = 1; i <= levels; i++)
		str_puts(&s, "]}");
	return str_steal(&s);
}

START_TEST(test_recursion)
{
	struct tmpl_set	*set;
	char		*json, *got;

	put("loop.html", "x{{> loop}}");
	put("a.html", "{{> b}}");
	put("b.html", "{{> a}}");
	put("node.html", "({{name}}{{#kids}}{{> node}}{{/kids}})");
	set = load_ok();
	RENDER_EQ(set, "loop", "{}",
	    "ERR:loop:1: partials nested deeper than 16 at {{> loop}}");
	RENDER_EQ(set, "a", "{}",
	    "ERR:a:1: partials nested deeper than 16 at {{> b}}");
	RENDER_EQ(set, "node",
	    "{\"name\": \"a\", \"kids\": [{\"name\": \"b\", \"kids\":"
	    " [{\"name\": \"c\", \"kids\": []}]}, {\"name\": \"d\","
	    " \"kids\": []}]}",
	    "(a(b(c))(d))");
	/* Lookup walks outward: an item without "kids" finds its parent's. */
	RENDER_EQ(set, "node",
	    "{\"name\": \"a\", \"kids\": [{\"name\": \"b\"}]}",
	    "ERR:node:1: partials nested deeper than 16 at {{> node}}");

	/* 17 levels need 16 nested partials: allowed; 18 are not. */
	json = chain(17);
	got = run(set, "node", json);
	ck_assert_str_eq(got, "(1(2(3(4(5(6(7(8(9(10(11(12(13(14(15(16(17"
	    ")))))))))))))))))");
	free(got);
	free(json);
	json = chain(18);
	RENDER_EQ(set, "node", json,
	    "ERR:node:1: partials nested deeper than 16 at {{> node}}");
	free(json);
	tmpl_free(set);
}
END_TEST

START_TEST(test_large_file)
{
	struct tmpl_set	*set;
	struct str	 s = STR_INIT;
	char		*got;
	int		 i;

	for (i = 0; i < 50000; i++)
		str_puts(&s, "<i>{{x}}</i>\n");
	str_puts(&s, "{{#y}}");
	put_n("big.html", s.buf, s.len);
	str_free(&s);
	ck_assert_ptr_null(tmpl_load(tdir, NULL, 0));
	put("big.html", "");
	set = load_ok();
	RENDER_EQ(set, "big", "{}", "");
	tmpl_free(set);

	for (i = 0; i < 50000; i++)
		str_puts(&s, "<i>{{x}}</i>\n");
	put_n("big.html", s.buf, s.len);
	str_free(&s);
	set = load_ok();
	got = run(set, "big", "{\"x\": \"&\"}");
	ck_assert_uint_eq(strlen(got), 50000 * strlen("<i>&amp;</i>\n"));
	ck_assert_int_eq(strncmp(got, "<i>&amp;</i>\n<i>&amp;</i>\n", 26), 0);
	free(got);
	tmpl_free(set);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("tmpl");
	TCase	*tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_escape_html);
	tcase_add_test(tc, test_missing_key);
	tcase_add_test(tc, test_dotted_names);
	tcase_add_test(tc, test_lists);
	tcase_add_test(tc, test_inverted_and_empty);
	tcase_add_test(tc, test_conditionals);
	tcase_add_test(tc, test_partials);
	tcase_add_test(tc, test_raw);
	tcase_add_test(tc, test_url);
	tcase_add_test(tc, test_numbers_and_scalars);
	tcase_add_test(tc, test_comments_and_whitespace);
	tcase_add_test(tc, test_set_contents);
	tcase_add_test(tc, test_syntax_errors);
	tcase_add_test(tc, test_nesting_limit);
	tcase_add_test(tc, test_recursion);
	tcase_add_test(tc, test_large_file);
	tcase_add_test(tc, test_text_set);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
