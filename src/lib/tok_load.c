/* tok_load.c: read a Hugging Face tokenizer.json into the tokenizer's tables */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "tok_int.h"
#include "util.h"

/*
 * What Split patterns mean by \s: Unicode White_Space as the model's own
 * tokenizer (Oniguruma in Hugging Face tokenizers, fancy-regex in
 * tiktoken) reads it: tab to CR, NEL, and the separators Zs, Zl, Zp.
 * PCRE2's own \s differs at U+180E; see docs/tokens.md.
 */
#define WS_CLASS "\\t-\\r \\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}" \
	"\\x{2028}\\x{2029}\\x{202f}\\x{205f}\\x{3000}"

/* GPT-2's split, which a ByteLevel pre-tokenizer with use_regex applies. */
#define GPT2_PATTERN "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+" \
	"| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"

/* Byte-level BPE spells byte b as one code point: byte_cp[b]. */
static int	byte_cp[256];
static int	cp_byte[324];	/* and back: code point -> byte, or -1 */

/* Fill byte_cp and cp_byte (GPT-2's bytes_to_unicode). */
static void
bytelevel_tables(void)
{
	int	b, n = 0;

	if (byte_cp['!'] == '!')
		return;
	for (b = 0; b < 324; b++)
		cp_byte[b] = -1;
	for (b = 0; b < 256; b++) {
		if ((b >= '!' && b <= '~') || (b >= 0xa1 && b <= 0xac) ||
		    b >= 0xae)
			byte_cp[b] = b;
		else
			byte_cp[b] = 256 + n++;
		cp_byte[byte_cp[b]] = b;
	}
}

/* Decode one UTF-8 code point of s (n > 0 bytes); its length in *len. */
static int
utf8_cp(const unsigned char *s, size_t n, size_t *len)
{
	int	cp, k, i;

	if (s[0] < 0x80) {
		*len = 1;
		return s[0];
	}
	k = s[0] >= 0xf0 ? 3 : s[0] >= 0xe0 ? 2 : 1;
	cp = s[0] & (0x3f >> k);
	for (i = 1; i <= k && (size_t)i < n; i++)
		cp = cp << 6 | (s[i] & 0x3f);
	*len = (size_t)i;
	return cp;
}

/*
 * The bytes a byte-level token spells into out (cap bytes): their
 * number, or -1 when a code point is not one of the 256 or out is short.
 */
static int
bytelevel_decode(const char *tok, size_t n, char *out, size_t cap)
{
	size_t	i = 0, len, k = 0;
	int	cp;

	while (i < n) {
		cp = utf8_cp((const unsigned char *)tok + i, n - i, &len);
		i += len;
		if (cp >= 324 || cp_byte[cp] < 0 || k == cap)
			return -1;
		out[k++] = (char)cp_byte[cp];
	}
	return (int)k;
}

/* The bytes vocabulary entry tok stands for (decoded when byte-level). */
static int
entry_bytes(const struct tok *t, const char *s, size_t n, char *out,
    size_t cap)
{
	if (t->bytelevel)
		return bytelevel_decode(s, n, out, cap);
	if (n > cap)
		return -1;
	memcpy(out, s, n);
	return (int)n;
}

/* A JSON string member of o, or def when absent or null. */
static const char *
jstr(json_t *o, const char *key, const char *def)
{
	json_t	*v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : def;
}

/* A JSON boolean member of o; def when absent or null. */
static int
jbool(json_t *o, const char *key, int def)
{
	json_t	*v = json_object_get(o, key);

	return json_is_boolean(v) ? json_is_true(v) : def;
}

/* A copy of s (n bytes) with a NUL after it; aborts on OOM. */
static char *
dupn(const char *s, size_t n)
{
	char	*p;

	if ((p = malloc(n + 1)) == NULL)
		abort();
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

/*
 * Pattern pat rewritten so that \s and \S mean WS_CLASS (in and out of
 * brackets; \S inside brackets is left to PCRE2). Heap-owned.
 */
static char *
rewrite_ws(const char *pat)
{
	size_t	 n = strlen(pat), i, k = 0, cap = n * 8 + 64;
	char	*out = malloc(cap);
	int	 inclass = 0, add;

	if (out == NULL)
		abort();
	for (i = 0; i < n; i++) {
		if (pat[i] == '\\' && i + 1 < n) {
			add = 0;
			if (pat[i + 1] == 's')
				add = snprintf(out + k, cap - k, inclass ?
				    "%s" : "[%s]", WS_CLASS);
			else if (pat[i + 1] == 'S' && !inclass)
				add = snprintf(out + k, cap - k, "[^%s]",
				    WS_CLASS);
			if (add > 0) {
				k += (size_t)add;
				i++;
				continue;
			}
			out[k++] = pat[i++];
		} else if (pat[i] == '[' && !inclass) {
			inclass = 1;
			out[k++] = pat[i];
			if (i + 1 < n && pat[i + 1] == '^')
				out[k++] = pat[++i];
			if (i + 1 < n && pat[i + 1] == ']')
				out[k++] = pat[++i];
			continue;
		} else if (pat[i] == ']' && inclass)
			inclass = 0;
		out[k++] = pat[i];
	}
	out[k] = '\0';
	return out;
}

/* Compile a split pattern (literal when lit), JIT included. */
static pcre2_code *
compile(const char *pat, size_t len, int lit, const char *what, char *err,
    size_t errlen)
{
	pcre2_code	*re;
	PCRE2_UCHAR	 msg[256];
	PCRE2_SIZE	 off;
	char		*rw = NULL;
	int		 code;

	if (!lit)
		pat = rw = rewrite_ws(pat);
	re = pcre2_compile((PCRE2_SPTR)pat, lit ? len : PCRE2_ZERO_TERMINATED,
	    PCRE2_UTF | PCRE2_UCP | (lit ? PCRE2_LITERAL : 0), &code, &off,
	    NULL);
	free(rw);
	if (re == NULL) {
		pcre2_get_error_message(code, msg, sizeof(msg));
		util_seterr(err, errlen, "%s: the pattern does not compile "
		    "(PCRE2, offset %zu): %s", what, (size_t)off, (char *)msg);
		return NULL;
	}
	/* Without JIT (a platform PCRE2 cannot JIT on) matching is slower. */
	(void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
	return re;
}

static int load_norm(struct tok *, json_t *, char *, size_t);

/* Add normalizer n (a Sequence adds its members). */
static int
load_norm(struct tok *t, json_t *n, char *err, size_t errlen)
{
	const char	*type = jstr(n, "type", "");
	struct tok_norm	*s;
	json_t		*v;
	size_t		 i;

	if (json_is_null(n) || n == NULL)
		return 0;
	if (strcmp(type, "Sequence") == 0) {
		json_array_foreach(json_object_get(n, "normalizers"), i, v)
			if (load_norm(t, v, err, errlen) == -1)
				return -1;
		return 0;
	}
	if (t->nnorm == TOK_MAX_STEPS) {
		util_seterr(err, errlen, "normalizer: more than %d steps",
		    TOK_MAX_STEPS);
		return -1;
	}
	s = &t->norm[t->nnorm];
	if (strcmp(type, "NFC") == 0)
		s->kind = NORM_NFC;
	else if (strcmp(type, "NFD") == 0)
		s->kind = NORM_NFD;
	else if (strcmp(type, "NFKC") == 0)
		s->kind = NORM_NFKC;
	else if (strcmp(type, "NFKD") == 0)
		s->kind = NORM_NFKD;
	else if (strcmp(type, "Prepend") == 0 && jstr(n, "prepend", NULL)) {
		s->kind = NORM_PREPEND;
		s->alen = strlen(jstr(n, "prepend", ""));
		s->a = dupn(jstr(n, "prepend", ""), s->alen);
	} else if (strcmp(type, "Replace") == 0 &&
	    jstr(json_object_get(n, "pattern"), "String", NULL) &&
	    jstr(n, "content", NULL) &&
	    *jstr(json_object_get(n, "pattern"), "String", NULL) != '\0') {
		s->kind = NORM_REPLACE;
		v = json_object_get(n, "pattern");
		s->alen = strlen(jstr(v, "String", ""));
		s->a = dupn(jstr(v, "String", ""), s->alen);
		s->blen = strlen(jstr(n, "content", ""));
		s->b = dupn(jstr(n, "content", ""), s->blen);
	} else if (strcmp(type, "Strip") == 0) {
		s->kind = NORM_STRIP;
		s->left = jbool(n, "strip_left", 1);
		s->right = jbool(n, "strip_right", 1);
	} else {
		util_seterr(err, errlen, "normalizer \"%s\" is not supported "
		    "(docs/tokens.md)", type);
		return -1;
	}
	t->nnorm++;
	return 0;
}

static int load_pre(struct tok *, json_t *, char *, size_t);

/* Fill step s from a Split pre-tokenizer. */
static int
load_split(struct tok_pre *s, json_t *p, char *err, size_t errlen)
{
	json_t		*pat = json_object_get(p, "pattern");
	const char	*beh = jstr(p, "behavior", "Isolated"), *re;
	int		 lit;

	if (jbool(p, "invert", 0)) {
		util_seterr(err, errlen, "pre_tokenizer Split with invert is "
		    "not supported (docs/tokens.md)");
		return -1;
	}
	if (strcmp(beh, "Isolated") != 0 && strcmp(beh, "Removed") != 0) {
		util_seterr(err, errlen, "pre_tokenizer Split behavior \"%s\" "
		    "is not supported (docs/tokens.md)", beh);
		return -1;
	}
	s->removed = strcmp(beh, "Removed") == 0;
	lit = jstr(pat, "String", NULL) != NULL;
	re = lit ? jstr(pat, "String", NULL) : jstr(pat, "Regex", NULL);
	if (re == NULL || *re == '\0') {
		util_seterr(err, errlen, "pre_tokenizer Split: no pattern "
		    "(a Regex or String)");
		return -1;
	}
	s->kind = PRE_SPLIT;
	s->re = compile(re, strlen(re), lit, "pre_tokenizer Split", err,
	    errlen);
	return s->re == NULL ? -1 : 0;
}

/* Fill step s from a Metaspace pre-tokenizer. */
static int
load_metaspace(struct tok_pre *s, json_t *p, char *err, size_t errlen)
{
	const char	*r = jstr(p, "replacement", "\xe2\x96\x81");
	const char	*scheme = jstr(p, "prepend_scheme", NULL);

	s->kind = PRE_METASPACE;
	s->repllen = strlen(r);
	if (s->repllen == 0 || s->repllen >= sizeof(s->repl)) {
		util_seterr(err, errlen, "pre_tokenizer Metaspace: replacement "
		    "must be one character");
		return -1;
	}
	memcpy(s->repl, r, s->repllen);
	s->split = jbool(p, "split", 1);
	if (scheme == NULL)	/* older files: add_prefix_space */
		s->scheme = jbool(p, "add_prefix_space", 1) ? 0 : 2;
	else if (strcmp(scheme, "always") == 0 || strcmp(scheme, "first") == 0 ||
	    strcmp(scheme, "never") == 0)
		s->scheme = scheme[0] == 'a' ? 0 : scheme[0] == 'f' ? 1 : 2;
	else {
		util_seterr(err, errlen, "pre_tokenizer Metaspace: unknown "
		    "prepend_scheme \"%s\"", scheme);
		return -1;
	}
	return 0;
}

/* Add pre-tokenizer p (a Sequence adds its members). */
static int
load_pre(struct tok *t, json_t *p, char *err, size_t errlen)
{
	const char	*type = jstr(p, "type", "");
	struct tok_pre	*s;
	json_t		*v;
	size_t		 i;

	if (p == NULL || json_is_null(p))
		return 0;
	if (strcmp(type, "Sequence") == 0) {
		json_array_foreach(json_object_get(p, "pretokenizers"), i, v)
			if (load_pre(t, v, err, errlen) == -1)
				return -1;
		return 0;
	}
	if (t->npre == TOK_MAX_STEPS) {
		util_seterr(err, errlen, "pre_tokenizer: more than %d steps",
		    TOK_MAX_STEPS);
		return -1;
	}
	s = &t->pre[t->npre++];
	if (strcmp(type, "Split") == 0)
		return load_split(s, p, err, errlen);
	if (strcmp(type, "Metaspace") == 0)
		return load_metaspace(s, p, err, errlen);
	if (strcmp(type, "ByteLevel") == 0) {
		s->kind = PRE_BYTELEVEL;
		s->prefix = jbool(p, "add_prefix_space", 0);
		t->bytelevel = 1;
		if (!jbool(p, "use_regex", 1))
			return 0;
		s->re = compile(GPT2_PATTERN, 0, 0, "pre_tokenizer ByteLevel",
		    err, errlen);
		return s->re == NULL ? -1 : 0;
	}
	t->npre--;
	util_seterr(err, errlen, "pre_tokenizer \"%s\" is not supported "
	    "(docs/tokens.md)", type);
	return -1;
}

/* Read model.vocab: every entry by the bytes it stands for. */
static int
load_vocab(struct tok *t, json_t *vocab, char *err, size_t errlen)
{
	const char	*key;
	json_t		*v;
	char		 buf[1024];
	int		 n;

	if (!json_is_object(vocab) || json_object_size(vocab) == 0) {
		util_seterr(err, errlen, "model.vocab: expected an object of "
		    "token: id");
		return -1;
	}
	strmap_init(&t->vocab, json_object_size(vocab));
	json_object_foreach(vocab, key, v) {
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    json_integer_value(v) > INT32_MAX) {
			util_seterr(err, errlen, "model.vocab: \"%.40s\": the id "
			    "is not a non-negative integer", key);
			return -1;
		}
		/* Entries that spell no bytes cannot come out of BPE. */
		n = entry_bytes(t, key, strlen(key), buf, sizeof(buf));
		if (n >= 0)
			strmap_put(&t->vocab, buf, (size_t)n,
			    (int32_t)json_integer_value(v));
	}
	return 0;
}

#define SPM_MARK	"\xe2\x96\x81"	/* U+2581, SentencePiece's space */

/* Does s (n bytes) end with SPM_MARK? */
static int
ends_with_mark(const char *s, size_t n)
{
	return n >= 3 && memcmp(s + n - 3, SPM_MARK, 3) == 0;
}

/* The two sides of merge m ("a b" or ["a", "b"]) into a, b. */
static int
merge_sides(json_t *m, const char **a, size_t *alen, const char **b,
    size_t *blen)
{
	const char	*s, *sp;

	if (json_is_array(m) && json_array_size(m) == 2 &&
	    json_is_string(json_array_get(m, 0)) &&
	    json_is_string(json_array_get(m, 1))) {
		*a = json_string_value(json_array_get(m, 0));
		*b = json_string_value(json_array_get(m, 1));
		*alen = json_string_length(json_array_get(m, 0));
		*blen = json_string_length(json_array_get(m, 1));
		return 0;
	}
	if (!json_is_string(m) || (sp = strchr(s = json_string_value(m),
	    ' ')) == NULL || strchr(sp + 1, ' ') != NULL)
		return -1;
	*a = s;
	*alen = (size_t)(sp - s);
	*b = sp + 1;
	*blen = strlen(sp + 1);
	return 0;
}

/*
 * Read model.merges: rank i merges (left id, right id) into the id of
 * the two spelled together. A merge whose parts or result are not in
 * the vocabulary can never apply and is left out.
 */
static int
load_merges(struct tok *t, json_t *merges, char *err, size_t errlen)
{
	const char	*a, *b;
	size_t		 i, alen, blen;
	json_t		*m;
	char		 buf[2048];
	int		 na, nb;
	int32_t		 l, r, id;

	if (!json_is_array(merges)) {
		util_seterr(err, errlen, "model.merges: expected an array");
		return -1;
	}
	u64map_init(&t->merges, json_array_size(merges));
	json_array_foreach(merges, i, m) {
		if (merge_sides(m, &a, &alen, &b, &blen) == -1) {
			util_seterr(err, errlen, "model.merges[%zu]: expected "
			    "\"a b\" or [\"a\", \"b\"]", i);
			return -1;
		}
		na = entry_bytes(t, a, alen, buf, 1024);
		nb = na < 0 ? -1 : entry_bytes(t, b, blen, buf + na, 1024);
		if (nb < 0)
			continue;
		l = strmap_get(&t->vocab, buf, (size_t)na);
		r = strmap_get(&t->vocab, buf + na, (size_t)nb);
		id = strmap_get(&t->vocab, buf, (size_t)(na + nb));
		if (l < 0 || r < 0 || id < 0)
			continue;
		if (na >= 1 && nb >= 3 && !ends_with_mark(buf, (size_t)na) &&
		    memcmp(buf + na, SPM_MARK, 3) == 0)
			t->mark_merges++;
		u64map_put(&t->merges, (uint64_t)(l + 1) << 32 | (uint32_t)(r + 1),
		    (uint64_t)i << 32 | (uint32_t)id);
	}
	return 0;
}

/* Read the BPE model: its options, vocabulary and merges. */
static int
load_model(struct tok *t, json_t *m, char *err, size_t errlen)
{
	const char	*s;
	json_t		*d = json_object_get(m, "dropout");
	char		 name[8];
	int		 b;

	if (!json_is_object(m) || strcmp(jstr(m, "type", "BPE"), "BPE") != 0 ||
	    json_object_get(m, "merges") == NULL) {
		util_seterr(err, errlen, "model: only BPE models are supported, "
		    "this one is \"%s\"", jstr(m, "type", "?"));
		return -1;
	}
	if (*jstr(m, "continuing_subword_prefix", "") != '\0' ||
	    *jstr(m, "end_of_word_suffix", "") != '\0' ||
	    (json_is_number(d) && json_number_value(d) > 0)) {
		util_seterr(err, errlen, "model: continuing_subword_prefix, "
		    "end_of_word_suffix and dropout are not supported");
		return -1;
	}
	t->ignore_merges = jbool(m, "ignore_merges", 0);
	t->byte_fallback = jbool(m, "byte_fallback", 0);
	t->fuse_unk = jbool(m, "fuse_unk", 0);
	if (load_vocab(t, json_object_get(m, "vocab"), err, errlen) == -1 ||
	    load_merges(t, json_object_get(m, "merges"), err, errlen) == -1)
		return -1;
	/*
	 * When no merge joins a symbol to a following "▁" (SentencePiece
	 * vocabularies have none), BPE never crosses the place before a
	 * "▁" that follows another character: words can be cut there and
	 * counted one by one (and cached) with the same result.
	 */
	t->mark_words = !t->bytelevel && !t->ignore_merges &&
	    t->mark_merges == 0;
	s = jstr(m, "unk_token", NULL);
	t->unk = s == NULL ? -1 : tok_token_id(t, s);
	for (b = 0; b < 256; b++) {
		snprintf(name, sizeof(name), "<0x%02X>", b);
		t->fallback[b] = t->byte_fallback ? tok_token_id(t, name) : -1;
		name[0] = (char)b;
		t->byte_id[b] = strmap_get(&t->vocab, name, 1);
		if (b < 128)
			t->ascii_id[b] = t->byte_id[b];
	}
	return 0;
}

/* Add added token content (n bytes) as index k to the trie. */
static void
trie_add(struct tok *t, const char *content, size_t n, size_t k)
{
	uint64_t	node = 0, child;
	size_t		i;

	t->trie_first[(unsigned char)content[0]] = 1;
	for (i = 0; i < n; i++) {
		uint64_t key = (node + 1) << 8 | (unsigned char)content[i];

		if (!u64map_get(&t->trie, key, &child)) {
			child = t->ntrie++;
			t->trie_tok = realloc(t->trie_tok,
			    t->ntrie * sizeof(*t->trie_tok));
			if (t->trie_tok == NULL)
				abort();
			t->trie_tok[child] = -1;
			u64map_put(&t->trie, key, child);
		}
		node = child;
	}
	t->trie_tok[node] = (int32_t)k;
}

/* Read added_tokens: matched in the text before anything else. */
static int
load_added(struct tok *t, json_t *list, char *err, size_t errlen)
{
	json_t		*a, *c;
	size_t		 i;

	if (list != NULL && !json_is_array(list)) {
		util_seterr(err, errlen, "added_tokens: expected an array");
		return -1;
	}
	t->nadded = json_array_size(list);
	if ((t->added = calloc(t->nadded + 1, sizeof(*t->added))) == NULL ||
	    (t->trie_tok = malloc(sizeof(*t->trie_tok))) == NULL)
		abort();
	t->ntrie = 1;
	t->trie_tok[0] = -1;
	u64map_init(&t->trie, 1024);
	strmap_init(&t->added_ids, t->nadded);
	json_array_foreach(list, i, a) {
		c = json_object_get(a, "content");
		if (!json_is_string(c) || json_string_length(c) == 0 ||
		    !json_is_integer(json_object_get(a, "id")) ||
		    json_integer_value(json_object_get(a, "id")) < 0 ||
		    json_integer_value(json_object_get(a, "id")) > INT32_MAX) {
			util_seterr(err, errlen, "added_tokens[%zu]: expected a "
			    "content string and a non-negative id", i);
			return -1;
		}
		t->added[i].id = (int32_t)json_integer_value(
		    json_object_get(a, "id"));
		t->added[i].lstrip = jbool(a, "lstrip", 0);
		t->added[i].rstrip = jbool(a, "rstrip", 0);
		strmap_put(&t->added_ids, json_string_value(c),
		    json_string_length(c), t->added[i].id);
		trie_add(t, json_string_value(c), json_string_length(c), i);
	}
	return 0;
}

/* Read the whole file at path into t. */
int
tok_load_json(struct tok *t, const char *path, char *err, size_t errlen)
{
	json_error_t	 je;
	json_t		*root;
	char		 msg[384];
	FILE		*f;
	int		 rc = -1;

	bytelevel_tables();
	if ((f = fopen(path, "r")) == NULL) {
		util_seterr(err, errlen, "tokenizer %s: cannot open: %s", path,
		    strerror(errno));
		return -1;
	}
	root = json_loadf(f, JSON_REJECT_DUPLICATES, &je);
	fclose(f);
	if (root == NULL) {
		util_seterr(err, errlen, "tokenizer %s: not JSON: line %d: %s",
		    path, je.line, je.text);
		return -1;
	}
	msg[0] = '\0';
	if (!json_is_object(root))
		util_seterr(msg, sizeof(msg), "expected a JSON object");
	else if (load_norm(t, json_object_get(root, "normalizer"), msg,
	    sizeof(msg)) == 0 &&
	    load_pre(t, json_object_get(root, "pre_tokenizer"), msg,
	    sizeof(msg)) == 0 &&
	    load_added(t, json_object_get(root, "added_tokens"), msg,
	    sizeof(msg)) == 0 &&
	    load_model(t, json_object_get(root, "model"), msg,
	    sizeof(msg)) == 0)
		rc = 0;
	if (rc == -1)
		util_seterr(err, errlen, "tokenizer %s: %s", path, msg);
	json_decref(root);
	return rc;
}

/* The id of text: an added token's, else a vocabulary entry's. */
int32_t
tok_token_id(const struct tok *t, const char *text)
{
	char	buf[1024];
	int32_t	id;
	int	n;

	if ((id = strmap_get(&t->added_ids, text, strlen(text))) >= 0)
		return id;
	n = entry_bytes(t, text, strlen(text), buf, sizeof(buf));
	return n < 0 ? -1 : strmap_get(&t->vocab, buf, (size_t)n);
}
