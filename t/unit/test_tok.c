/* test_tok.c: unit tests for the tokenizer: loading errors, BPE, added tokens, bad bytes */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "str.h"
#include "tok.h"
#include "unit.h"

static char	dir[] = "/tmp/test_tok.XXXXXX";

/* Write text as dir/NAME/tokenizer.json; returns the file's path (static). */
static const char *
put(const char *name, const char *text)
{
	static char	 path[512];
	FILE		*f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	(void)mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/%s/tokenizer.json", dir, name);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
	return path;
}

/*
 * A byte-level tokenizer: the 256 bytes as ids 0-255 (GPT-2's spelling),
 * "he" "ll" "hell" "hello" " w" as 256-260, Llama 3's split pattern, and
 * added tokens <|im_start|> (300), <|im (301, not special) and <mask>
 * (302, strips white space on both sides).
 */
static void
bytelevel_json(struct str *s, const char *extra_pre)
{
	int	b, n = 0, cp;

	str_puts(s, "{\"added_tokens\": ["
	    "{\"id\": 300, \"content\": \"<|im_start|>\", \"special\": true},"
	    "{\"id\": 301, \"content\": \"<|im\", \"special\": false},"
	    "{\"id\": 302, \"content\": \"<mask>\", \"special\": true,"
	    " \"lstrip\": true, \"rstrip\": true}],"
	    "\"normalizer\": null, \"pre_tokenizer\": {\"type\": \"Sequence\","
	    " \"pretokenizers\": [");
	str_puts(s, extra_pre);
	str_puts(s, "{\"type\": \"Split\", \"pattern\": {\"Regex\": "
	    "\"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+"
	    "|\\\\p{N}{1,3}| ?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+"
	    "|\\\\s+(?!\\\\S)|\\\\s+\"}, \"behavior\": \"Isolated\","
	    " \"invert\": false}, {\"type\": \"ByteLevel\", \"add_prefix_space\":"
	    " false, \"use_regex\": false}]},"
	    "\"model\": {\"type\": \"BPE\", \"vocab\": {");
	for (b = 0; b < 256; b++) {
		if ((b >= '!' && b <= '~') || (b >= 0xa1 && b <= 0xac) ||
		    b >= 0xae)
			cp = b;
		else
			cp = 256 + n++;
		if (cp == '"' || cp == '\\')
			str_printf(s, "\"\\%c\": %d, ", cp, b);
		else
			str_printf(s, "\"\\u%04x\": %d, ", cp, b);
	}
	str_puts(s, "\"he\": 256, \"ll\": 257, \"hell\": 258, \"hello\": 259,"
	    " \"\\u0120w\": 260}, \"merges\": [\"h e\", \"l l\", \"he ll\","
	    " [\"hell\", \"o\"], \"\\u0120 w\"]}}");
}

/* A loaded byte-level tokenizer (extra_pre: steps before the split). */
static struct tok *
bytelevel(const char *extra_pre)
{
	struct str	 s = STR_INIT;
	struct tok	*t;
	char		 err[512];

	bytelevel_json(&s, extra_pre);
	t = tok_load(put("bl", s.buf), err, sizeof(err));
	ck_assert_msg(t != NULL, "%s", err);
	str_free(&s);
	return t;
}

/* The ids of text as "1 2 3" (static). */
static const char *
ids(struct tok *t, const char *text, size_t len)
{
	static char	 out[1024];
	int32_t		*v;
	size_t		 n, i, k = 0;

	tok_encode(t, text, len, &v, &n);
	out[0] = '\0';
	for (i = 0; i < n && k < sizeof(out) - 16; i++)
		k += (size_t)snprintf(out + k, sizeof(out) - k, i ? " %d" : "%d",
		    (int)v[i]);
	ck_assert_uint_eq(n, tok_count(t, text, len));
	free(v);
	return out;
}

#define IDS(t, lit)	ids((t), (lit), sizeof(lit) - 1)

/* The message loading text gives (static). */
static const char *
load_error(const char *text)
{
	static char	 err[512];
	struct tok	*t;

	t = tok_load(put("bad", text), err, sizeof(err));
	ck_assert_ptr_null(t);
	return err;
}

START_TEST(test_load_errors)
{
	char		 err[512];
	const char	*e;

	ck_assert_ptr_null(tok_load("/nonexistent/tokenizer.json", err,
	    sizeof(err)));
	ck_assert_str_eq(err, "tokenizer /nonexistent/tokenizer.json: cannot "
	    "open: No such file or directory");
	e = load_error("{\"model\": ");
	ck_assert_msg(strstr(e, "bad/tokenizer.json: not JSON: line 1") != NULL,
	    "%s", e);
	e = load_error("[1, 2]");
	ck_assert_msg(strstr(e, ": expected a JSON object") != NULL, "%s", e);
	e = load_error("{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}}");
	ck_assert_msg(strstr(e, "model: only BPE models are supported, this "
	    "one is \"WordPiece\"") != NULL, "%s", e);
	e = load_error("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0},"
	    " \"merges\": [\"a\"]}}");
	ck_assert_msg(strstr(e, "model.merges[0]: expected \"a b\"") != NULL,
	    "%s", e);
	e = load_error("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": -1},"
	    " \"merges\": []}}");
	ck_assert_msg(strstr(e, "model.vocab: \"a\": the id is not") != NULL,
	    "%s", e);
	e = load_error("{\"normalizer\": {\"type\": \"BertNormalizer\"}}");
	ck_assert_msg(strstr(e, "normalizer \"BertNormalizer\" is not "
	    "supported") != NULL, "%s", e);
	e = load_error("{\"pre_tokenizer\": {\"type\": \"Split\", \"pattern\":"
	    " {\"Regex\": \"(a\"}, \"behavior\": \"Isolated\"}}");
	ck_assert_msg(strstr(e, "pre_tokenizer Split: the pattern does not "
	    "compile (PCRE2, offset 2)") != NULL, "%s", e);
	e = load_error("{\"added_tokens\": [{\"id\": 1}]}");
	ck_assert_msg(strstr(e, "added_tokens[0]: expected a content") != NULL,
	    "%s", e);
}
END_TEST

START_TEST(test_families)
{
	struct str	 s = STR_INIT;
	struct tok	*t;
	char		 err[512];

	ck_assert_int_eq(tok_family_ok("qwen3"), 1);
	ck_assert_int_eq(tok_family_ok("deepseek_v3-0324.x"), 1);
	ck_assert_int_eq(tok_family_ok(".."), 0);
	ck_assert_int_eq(tok_family_ok("a/b"), 0);
	ck_assert_int_eq(tok_family_ok(""), 0);
	ck_assert_ptr_null(tok_load_family(dir, "../etc", err, sizeof(err)));
	ck_assert_msg(strstr(err, "tokenizer family \"../etc\": a name is") !=
	    NULL, "%s", err);
	bytelevel_json(&s, "");
	put("mini", s.buf);
	ck_assert_msg((t = tok_load_family(dir, "mini", err, sizeof(err))) !=
	    NULL, "%s", err);
	ck_assert_str_eq(tok_kind(t), "byte-level BPE");
	tok_free(t);
	str_free(&s);
}
END_TEST

START_TEST(test_bytelevel_bpe)
{
	struct tok	*t = bytelevel("");

	ck_assert_uint_eq(tok_count(t, "", 0), 0);
	ck_assert_str_eq(IDS(t, "hello"), "259");
	ck_assert_str_eq(IDS(t, "hello world"), "259 260 111 114 108 100");
	ck_assert_str_eq(IDS(t, "hell"), "258");
	ck_assert_str_eq(IDS(t, "lll"), "257 108");	/* leftmost first */
	ck_assert_str_eq(IDS(t, "12345"), "49 50 51 52 53");
	ck_assert_int_eq(tok_token_id(t, "<|im_start|>"), 300);
	ck_assert_int_eq(tok_token_id(t, "\xc4\xa0w"), 260);	/* "Ġw" */
	ck_assert_int_eq(tok_token_id(t, "nope"), -1);
	tok_free(t);
}
END_TEST

START_TEST(test_added_tokens)
{
	struct tok	*t = bytelevel("");

	ck_assert_str_eq(IDS(t, "<|im_start|>hello"), "300 259");
	ck_assert_str_eq(IDS(t, "<|im_start|><|im_start|>"), "300 300");
	/* Longest match wins; a look-alike is only its bytes. */
	ck_assert_str_eq(IDS(t, "<|im_sta"), "301 95 115 116 97");
	ck_assert_str_eq(IDS(t, "x<|im_start|"), "120 301 95 115 116 97 114 116 124");
	/* <mask> takes the white space on either side with it. */
	ck_assert_str_eq(IDS(t, "hello  <mask>  hello"), "259 302 259");
	ck_assert_str_eq(IDS(t, "hello <|im_start|> hello"),
	    "259 32 300 32 259");
	tok_free(t);
}
END_TEST

START_TEST(test_invalid_utf8)
{
	struct tok	*t = bytelevel("");

	/* Each bad byte is one token (its byte-level id) and splits the text. */
	ck_assert_str_eq(IDS(t, "\xff"), "255");
	ck_assert_str_eq(IDS(t, "he\xffllo"), "256 255 257 111");
	ck_assert_str_eq(IDS(t, "hello\xc3("), "259 195 40");
	ck_assert_str_eq(IDS(t, "\xed\xa0\x80"), "237 160 128");	/* surrogate */
	ck_assert_str_eq(IDS(t, "\xc0\xaf"), "192 175");		/* overlong */
	ck_assert_str_eq(IDS(t, "\xf4\x90\x80\x80"), "244 144 128 128");
	ck_assert_str_eq(IDS(t, "\xe2\x82"), "226 130");		/* cut short */
	ck_assert_str_eq(IDS(t, "a\0b"), "97 0 98");
	tok_free(t);
}
END_TEST

/* \s is Unicode White_Space as the models' tokenizers read it: NEL is
 * white space, U+FEFF is not (the JavaScript peer says the opposite). */
START_TEST(test_white_space)
{
	struct tok	*t = bytelevel("{\"type\": \"Split\", \"pattern\": "
	    "{\"Regex\": \"\\\\s+\"}, \"behavior\": \"Removed\"},");

	ck_assert_uint_eq(tok_count(t, "a \t\n\r\xc2\xa0\xe3\x80\x80" "b", 11),
	    2);
	ck_assert_uint_eq(tok_count(t, "a\xc2\x85" "b", 4), 2);
	ck_assert_uint_eq(tok_count(t, "a\xef\xbb\xbf" "b", 5), 5);
	tok_free(t);
}
END_TEST

/* A SentencePiece-style tokenizer: ▁ for spaces, bytes as <0xNN>. */
static struct tok *
spm(int fallback)
{
	struct str	 s = STR_INIT;
	struct tok	*t;
	char		 err[512];
	int		 b;

	str_puts(&s, "{\"added_tokens\": [{\"id\": 0, \"content\": \"<unk>\","
	    " \"special\": true}], \"normalizer\": {\"type\": \"Sequence\","
	    " \"normalizers\": [{\"type\": \"Prepend\", \"prepend\": "
	    "\"\\u2581\"}, {\"type\": \"Replace\", \"pattern\": {\"String\": "
	    "\" \"}, \"content\": \"\\u2581\"}]}, \"pre_tokenizer\": null,"
	    " \"model\": {\"type\": \"BPE\", \"unk_token\": \"<unk>\", "
	    "\"fuse_unk\": true, \"byte_fallback\": ");
	str_puts(&s, fallback ? "true" : "false");
	str_puts(&s, ", \"vocab\": {\"<unk>\": 0, \"\\u2581\": 1, \"a\": 2, "
	    "\"b\": 3, \"\\u2581a\": 4, \"ab\": 5, \"\\u2581ab\": 6, \"c\": 7");
	for (b = 0; b < 256; b++)
		str_printf(&s, ", \"<0x%02X>\": %d", b, 10 + b);
	str_puts(&s, "}, \"merges\": [\"\\u2581 a\", \"a b\", \"\\u2581a b\"]}}");
	t = tok_load(put("spm", s.buf), err, sizeof(err));
	ck_assert_msg(t != NULL, "%s", err);
	str_free(&s);
	return t;
}

START_TEST(test_sentencepiece)
{
	struct tok	*t = spm(1);

	ck_assert_str_eq(tok_kind(t), "SentencePiece BPE");
	ck_assert_uint_eq(tok_count(t, "", 0), 0);
	ck_assert_str_eq(IDS(t, "ab"), "6");
	ck_assert_str_eq(IDS(t, "ab ab"), "6 6");
	ck_assert_str_eq(IDS(t, "bab c"), "1 3 5 1 7");
	/* Characters outside the vocabulary fall back to their bytes. */
	ck_assert_str_eq(IDS(t, "a\xc3\xa9"), "4 205 179");
	ck_assert_str_eq(IDS(t, "a\xff"), "4 265");
	tok_free(t);
	t = spm(0);
	/* Without byte fallback, a run of unknown characters is one <unk>. */
	ck_assert_str_eq(IDS(t, "a\xc3\xa9\xc3\xa9" "b"), "4 0 3");
	tok_free(t);
}
END_TEST

/* Remove the files put() wrote, and dir. */
static void
cleanup(void)
{
	static const char	*names[] = { "bl", "bad", "mini", "spm" };
	char			 path[512];
	size_t			 i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s/tokenizer.json", dir,
		    names[i]);
		(void)unlink(path);
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		(void)rmdir(path);
	}
	(void)rmdir(dir);
}

int
main(void)
{
	Suite	*s = suite_create("tok");
	TCase	*tc = tcase_create("core");
	int	 rc;

	if (mkdtemp(dir) == NULL)
		return 99;
	tcase_add_test(tc, test_load_errors);
	tcase_add_test(tc, test_families);
	tcase_add_test(tc, test_bytelevel_bpe);
	tcase_add_test(tc, test_added_tokens);
	tcase_add_test(tc, test_invalid_utf8);
	tcase_add_test(tc, test_white_space);
	tcase_add_test(tc, test_sentencepiece);
	suite_add_tcase(s, tc);
	rc = unit_run(s);
	cleanup();
	return rc;
}
