/* tok.c: count and encode text with a loaded tokenizer (docs/tokens.md) */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "log.h"
#include "tok_int.h"
#include "util.h"

/* Make *buf hold at least n elements of size sz; aborts on OOM. */
static void *
grow(void *buf, size_t *cap, size_t n, size_t sz)
{
	if (n <= *cap)
		return buf;
	*cap = n < 256 ? 256 : n + n / 2;
	if ((buf = realloc(buf, *cap * sz)) == NULL)
		abort();
	return buf;
}

/* --- output ----------------------------------------------------------- */

/* One token: counted, and kept when encoding. */
static void
emit(struct tok *t, int32_t id)
{
	t->count++;
	t->last_unk = 0;
	if (t->encoding) {
		t->out = grow(t->out, &t->outcap, t->nout + 1, sizeof(*t->out));
		t->out[t->nout++] = id;
	}
}

/* The unknown token; with fuse_unk a run of them is one. */
static void
emit_unk(struct tok *t)
{
	t->nunk++;
	if (t->fuse_unk && t->last_unk)
		return;
	emit(t, t->unk);
	t->last_unk = 1;
}

/* A symbol BPE left with no token: its bytes by fallback, or unknown. */
static void
emit_unknown_span(struct tok *t, const unsigned char *s, size_t n)
{
	size_t	i;

	if (t->byte_fallback) {
		for (i = 0; i < n && t->fallback[s[i]] >= 0; i++)
			;
		if (i == n) {
			for (i = 0; i < n; i++)
				emit(t, t->fallback[s[i]]);
			return;
		}
	}
	emit_unk(t);
}

/* --- BPE -------------------------------------------------------------- */

/* Is candidate a before b: lower rank, then further left. */
static int
cand_less(const struct tok_cand *a, const struct tok_cand *b)
{
	return a->rank != b->rank ? a->rank < b->rank : a->pos < b->pos;
}

static void
heap_push(struct tok *t, size_t *n, const struct tok_cand *c)
{
	size_t		i = (*n)++, p;
	struct tok_cand	tmp;

	t->heap[i] = *c;
	while (i > 0 && cand_less(&t->heap[i], &t->heap[p = (i - 1) / 2])) {
		tmp = t->heap[p];
		t->heap[p] = t->heap[i];
		t->heap[i] = tmp;
		i = p;
	}
}

static void
heap_pop(struct tok *t, size_t *n, struct tok_cand *out)
{
	size_t		i = 0, l, m;
	struct tok_cand	tmp;

	*out = t->heap[0];
	t->heap[0] = t->heap[--(*n)];
	for (;;) {
		l = 2 * i + 1;
		m = i;
		if (l < *n && cand_less(&t->heap[l], &t->heap[m]))
			m = l;
		if (l + 1 < *n && cand_less(&t->heap[l + 1], &t->heap[m]))
			m = l + 1;
		if (m == i)
			break;
		tmp = t->heap[m];
		t->heap[m] = t->heap[i];
		t->heap[i] = tmp;
		i = m;
	}
}

/* Push the merge of symbol l with r, if the merges have one. */
static void
try_pair(struct tok *t, size_t *nheap, int32_t l, int32_t r)
{
	struct tok_cand	c;
	uint64_t	v;

	if (t->syms[l].id < 0 || t->syms[r].id < 0 ||
	    !u64map_get(&t->merges, (uint64_t)(t->syms[l].id + 1) << 32 |
	    (uint32_t)(t->syms[r].id + 1), &v))
		return;
	c.rank = (uint32_t)(v >> 32);
	c.id = (int32_t)(uint32_t)v;
	c.pos = t->syms[l].start;
	c.left = l;
	c.right = r;
	c.lid = t->syms[l].id;
	c.rid = t->syms[r].id;
	heap_push(t, nheap, &c);
}

/* Split word w into its first symbols: bytes, or UTF-8 characters. */
static size_t
bpe_symbols(struct tok *t, const unsigned char *w, size_t n)
{
	size_t	i = 0, k = 0, len;

	t->syms = grow(t->syms, &t->symcap, n, sizeof(*t->syms));
	while (i < n) {
		len = 1;
		if (t->bytelevel)
			t->syms[k].id = t->byte_id[w[i]];
		else if (w[i] < 0x80)
			t->syms[k].id = t->ascii_id[w[i]];
		else {
			len = w[i] >= 0xf0 ? 4 : w[i] >= 0xe0 ? 3 : 2;
			len = len > n - i ? n - i : len;
			t->syms[k].id = strmap_get(&t->vocab,
			    (const char *)w + i, len);
		}
		t->syms[k].start = (uint32_t)i;
		t->syms[k].len = (uint32_t)len;
		t->syms[k].prev = (int32_t)k - 1;
		t->syms[k].next = (int32_t)k + 1;
		i += len;
		k++;
	}
	t->syms[k - 1].next = -1;
	return k;
}

/* Merge by rank until no pair of neighbours has a merge. */
static void
bpe_merge(struct tok *t, size_t nsyms)
{
	struct tok_sym	*s = t->syms;
	struct tok_cand	 c;
	size_t		 nheap = 0, i;

	t->heap = grow(t->heap, &t->heapcap, 3 * nsyms, sizeof(*t->heap));
	for (i = 0; i + 1 < nsyms; i++)
		try_pair(t, &nheap, (int32_t)i, (int32_t)i + 1);
	while (nheap > 0) {
		heap_pop(t, &nheap, &c);
		if (s[c.left].len == 0 || s[c.right].len == 0 ||
		    s[c.left].next != c.right || s[c.left].id != c.lid ||
		    s[c.right].id != c.rid)
			continue;	/* a neighbour merged since */
		s[c.left].id = c.id;
		s[c.left].len += s[c.right].len;
		s[c.left].next = s[c.right].next;
		s[c.right].len = 0;
		if (s[c.left].next >= 0)
			s[s[c.left].next].prev = c.left;
		if (s[c.left].prev >= 0)
			try_pair(t, &nheap, s[c.left].prev, c.left);
		if (s[c.left].next >= 0)
			try_pair(t, &nheap, c.left, s[c.left].next);
	}
}

/* The cache slot for word w (n bytes, hash h), or NULL when too long. */
static struct tok_cslot *
cache_slot(struct tok *t, const char *w, size_t n, uint64_t *h)
{
	if (n > TOK_CACHE_KEY || t->encoding)
		return NULL;
	*h = tok_hash(w, n);
	return &t->cache[*h & (TOK_CACHE_SLOTS - 1)];
}

/* Encode one pre-token: the whole word if it is a token (ignore_merges),
 * else BPE over its bytes or characters. */
static void
bpe_word(struct tok *t, const char *w, size_t n)
{
	struct tok_cslot	*slot;
	uint64_t		 h = 0;
	size_t			 before = t->count, nunk = t->nunk, nsyms;
	int32_t			 id, i;

	if (t->ignore_merges && (id = strmap_get(&t->vocab, w, n)) >= 0) {
		emit(t, id);
		return;
	}
	slot = cache_slot(t, w, n, &h);
	if (slot != NULL && slot->hash == h && slot->len == n &&
	    memcmp(slot->key, w, n) == 0) {
		t->count += slot->count;
		t->last_unk = 0;
		return;
	}
	nsyms = bpe_symbols(t, (const unsigned char *)w, n);
	if (nsyms > 1)
		bpe_merge(t, nsyms);
	for (i = 0; i >= 0; i = t->syms[i].next)
		if (t->syms[i].id >= 0)
			emit(t, t->syms[i].id);
		else
			emit_unknown_span(t, (const unsigned char *)w +
			    t->syms[i].start, t->syms[i].len);
	/* A word with an unknown token is not kept: with fuse_unk its
	 * count depends on the word before. */
	if (slot != NULL && t->nunk == nunk) {
		slot->hash = h;
		slot->len = (uint8_t)n;
		slot->count = (uint32_t)(t->count - before);
		memcpy(slot->key, w, n);
	}
}

/* --- pre-tokenizers --------------------------------------------------- */

/* BPE on each word of s, cut before every "▁" that follows another
 * character (t->mark_words says this changes no count). */
static void
mark_words(struct tok *t, const char *s, size_t n)
{
	size_t	i, start = 0;

	for (i = 1; i + 3 <= n; i++)
		if (memcmp(s + i, "\xe2\x96\x81", 3) == 0 &&
		    (i < 3 || memcmp(s + i - 3, "\xe2\x96\x81", 3) != 0)) {
			bpe_word(t, s + start, i - start);
			start = i;
		}
	bpe_word(t, s + start, n - start);
}

static void pre_step(struct tok *, size_t, const char *, size_t, int);

/* The length of the UTF-8 character at s (valid UTF-8). */
static size_t
u8len(unsigned char c)
{
	return c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
}

/*
 * Split s at the matches of re: the pieces between and (unless removed)
 * the matches themselves go to step k + 1. A match error (PCRE2's
 * resource limits) leaves the rest as one piece.
 */
static void
split(struct tok *t, const pcre2_code *re, int removed, size_t k,
    const char *s, size_t n, int first)
{
	PCRE2_SIZE	*ov = pcre2_get_ovector_pointer(t->md);
	size_t		 off = 0, last = 0, ms, me;
	int		 rc;

	while (off < n) {
		rc = pcre2_match(re, (PCRE2_SPTR)s, n, off, PCRE2_NO_UTF_CHECK,
		    t->md, t->mctx);
		if (rc < 0 && rc != PCRE2_ERROR_NOMATCH && t->match_errors++ == 0)
			log_warn("tokenizer %s: a split pattern failed (PCRE2 "
			    "error %d): the rest of a piece is taken whole",
			    t->path, rc);
		if (rc < 0)
			break;
		ms = ov[0];
		me = ov[1];
		if (me == ms) {		/* an empty match: step over a char */
			if (ms >= n)
				break;
			off = ms + u8len((unsigned char)s[ms]);
			continue;
		}
		if (ms > last)
			pre_step(t, k + 1, s + last, ms - last, first && last == 0);
		if (!removed)
			pre_step(t, k + 1, s + ms, me - ms, first && ms == 0);
		last = off = me;
	}
	if (last < n)
		pre_step(t, k + 1, s + last, n - last, first && last == 0);
}

/*
 * Metaspace: spaces become the replacement, which is put in front as the
 * scheme says; with split, each piece begins at a replacement.
 */
static void
metaspace(struct tok *t, size_t k, const char *s, size_t n, int first)
{
	const struct tok_pre	*p = &t->pre[k];
	size_t			 i, m = 0, start;
	char			*b;

	t->pbuf[k] = grow(t->pbuf[k], &t->pcap[k], n * p->repllen + p->repllen,
	    1);
	b = t->pbuf[k];
	if ((p->scheme == 0 || (p->scheme == 1 && first)) &&
	    (n < p->repllen || memcmp(s, p->repl, p->repllen) != 0) &&
	    s[0] != ' ') {
		memcpy(b, p->repl, p->repllen);
		m = p->repllen;
	}
	for (i = 0; i < n; i++)
		if (s[i] == ' ') {
			memcpy(b + m, p->repl, p->repllen);
			m += p->repllen;
		} else
			b[m++] = s[i];
	if (!p->split) {
		pre_step(t, k + 1, b, m, first);
		return;
	}
	for (start = 0, i = 1; i + p->repllen <= m; i++)
		if (memcmp(b + i, p->repl, p->repllen) == 0) {
			pre_step(t, k + 1, b + start, i - start, first && !start);
			start = i;
		}
	pre_step(t, k + 1, b + start, m - start, first && !start);
}

/* Pre-tokenizer step k on s; past the last step, s is a word for BPE. */
static void
pre_step(struct tok *t, size_t k, const char *s, size_t n, int first)
{
	const struct tok_pre	*p;

	if (n == 0)
		return;
	if (k == t->npre) {
		if (t->mark_words)
			mark_words(t, s, n);
		else
			bpe_word(t, s, n);
		return;
	}
	p = &t->pre[k];
	switch (p->kind) {
	case PRE_SPLIT:
		split(t, p->re, p->removed, k, s, n, first);
		break;
	case PRE_METASPACE:
		metaspace(t, k, s, n, first);
		break;
	case PRE_BYTELEVEL:
		if (p->prefix && s[0] != ' ') {
			t->pbuf[k] = grow(t->pbuf[k], &t->pcap[k], n + 1, 1);
			t->pbuf[k][0] = ' ';
			memcpy(t->pbuf[k] + 1, s, n);
			s = t->pbuf[k];
			n++;
		}
		if (p->re != NULL)
			split(t, p->re, 0, k, s, n, first);
		else
			pre_step(t, k + 1, s, n, first);
		break;
	}
}

/* --- normalizers ------------------------------------------------------ */

/* Is code point c white space (Unicode White_Space)? */
static int
is_space(int c)
{
	return (c >= 9 && c <= 13) || c == ' ' || c == 0x85 || c == 0xa0 ||
	    c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 ||
	    c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000 ||
	    c == 0xfeff;
}

/* Take white space off the start (left) and the end (right) of *s. */
static void
trim(const char **s, size_t *n, int left, int right)
{
	utf8proc_int32_t	c;
	utf8proc_ssize_t	k;
	size_t			i;

	while (left && *n > 0 && (k = utf8proc_iterate((const uint8_t *)*s,
	    (utf8proc_ssize_t)*n, &c)) > 0 && is_space(c)) {
		*s += k;
		*n -= (size_t)k;
	}
	while (right && *n > 0) {
		for (i = *n - 1; i > 0 && ((unsigned char)(*s)[i] & 0xc0) == 0x80;
		    i--)
			;
		if (utf8proc_iterate((const uint8_t *)*s + i,
		    (utf8proc_ssize_t)(*n - i), &c) <= 0 || !is_space(c))
			break;
		*n = i;
	}
}

/* Unicode normalization of s (n bytes) into out; returns its length. */
static size_t
unicode_norm(struct tok *t, enum norm_kind kind, const char *s, size_t n,
    int o)
{
	utf8proc_option_t	opt = UTF8PROC_STABLE;
	utf8proc_ssize_t	m;
	size_t			i;

	/* Below U+0300 every character is its own normal form, and no
	 * byte of one is 0xCC or above. */
	for (i = 0; i < n && (unsigned char)s[i] < 0xcc; i++)
		;
	if (i == n && (kind == NORM_NFC || kind == NORM_NFD)) {
		t->nbuf[o] = grow(t->nbuf[o], &t->ncap[o], n, 1);
		memcpy(t->nbuf[o], s, n);
		return n;
	}
	opt |= kind == NORM_NFC || kind == NORM_NFKC ? UTF8PROC_COMPOSE :
	    UTF8PROC_DECOMPOSE;
	if (kind == NORM_NFKC || kind == NORM_NFKD)
		opt |= UTF8PROC_COMPAT;
	for (;;) {
		m = utf8proc_decompose_custom((const uint8_t *)s,
		    (utf8proc_ssize_t)n, t->ubuf, (utf8proc_ssize_t)t->ucap, opt,
		    NULL, NULL);
		if (m < 0)
			abort();	/* s was checked as UTF-8 */
		if ((size_t)m <= t->ucap)
			break;
		t->ubuf = grow(t->ubuf, &t->ucap, (size_t)m, sizeof(*t->ubuf));
	}
	if ((m = utf8proc_reencode(t->ubuf, m, opt)) < 0)
		abort();
	t->nbuf[o] = grow(t->nbuf[o], &t->ncap[o], (size_t)m, 1);
	memcpy(t->nbuf[o], t->ubuf, (size_t)m);
	return (size_t)m;
}

/* Replace every a of s by b, into buffer o; returns the length. */
static size_t
replace(struct tok *t, const struct tok_norm *r, const char *s, size_t n,
    int o)
{
	const char	*p, *end = s + n;
	size_t		 m = 0;

	t->nbuf[o] = grow(t->nbuf[o], &t->ncap[o],
	    n + (n / r->alen + 1) * r->blen, 1);
	while ((p = memmem(s, (size_t)(end - s), r->a, r->alen)) != NULL) {
		memcpy(t->nbuf[o] + m, s, (size_t)(p - s));
		m += (size_t)(p - s);
		memcpy(t->nbuf[o] + m, r->b, r->blen);
		m += r->blen;
		s = p + r->alen;
	}
	memcpy(t->nbuf[o] + m, s, (size_t)(end - s));
	return m + (size_t)(end - s);
}

/* Apply the normalizers to *s (n bytes); the result may be a buffer of t. */
static void
normalize(struct tok *t, const char **s, size_t *n)
{
	const struct tok_norm	*r;
	size_t			 i;
	int			 o = 0;

	for (i = 0; i < t->nnorm && *n > 0; i++, o ^= 1) {
		r = &t->norm[i];
		switch (r->kind) {
		case NORM_PREPEND:
			t->nbuf[o] = grow(t->nbuf[o], &t->ncap[o], *n + r->alen, 1);
			memcpy(t->nbuf[o], r->a, r->alen);
			memcpy(t->nbuf[o] + r->alen, *s, *n);
			*n += r->alen;
			break;
		case NORM_REPLACE:
			*n = replace(t, r, *s, *n, o);
			break;
		case NORM_STRIP:
			trim(s, n, r->left, r->right);
			continue;
		default:
			*n = unicode_norm(t, r->kind, *s, *n, o);
			break;
		}
		*s = t->nbuf[o];
	}
}

/* --- sections --------------------------------------------------------- */

/*
 * A stretch of text between added tokens: trimmed where a neighbouring
 * added token strips, normalized, pre-tokenized, encoded.
 */
static void
section(struct tok *t, const char *s, size_t n, int rtrim, int ltrim,
    int first)
{
	trim(&s, &n, ltrim, rtrim);
	if (n == 0)
		return;
	t->last_unk = 0;
	normalize(t, &s, &n);
	pre_step(t, 0, s, n, first);
}

/* The added token at s (leftmost-longest): its index, length in *len. */
static int32_t
added_at(const struct tok *t, const char *s, size_t n, size_t *len)
{
	uint64_t	node = 0, child;
	int32_t		best = -1;
	size_t		i;

	for (i = 0; i < n; i++) {
		if (!u64map_get(&t->trie, (node + 1) << 8 | (unsigned char)s[i],
		    &child))
			break;
		node = child;
		if (t->trie_tok[node] >= 0) {
			best = t->trie_tok[node];
			*len = i + 1;
		}
	}
	return best;
}

/* Valid UTF-8 text: added tokens first, sections between them. */
static void
run_valid(struct tok *t, const char *s, size_t n, int first)
{
	size_t	i = 0, start = 0, len = 0;
	int32_t	k;
	int	rstrip = 0;

	while (i < n) {
		if (!t->trie_first[(unsigned char)s[i]] ||
		    (k = added_at(t, s + i, n - i, &len)) < 0) {
			i++;
			continue;
		}
		section(t, s + start, i - start, t->added[k].lstrip, rstrip,
		    first && start == 0);
		emit(t, t->added[k].id);
		rstrip = t->added[k].rstrip;
		start = i += len;
	}
	section(t, s + start, n - start, 0, rstrip, first && start == 0);
}

/* The length of the valid UTF-8 character at s, or 0 when it is not. */
static size_t
utf8_valid(const unsigned char *s, size_t n)
{
	size_t	len, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] < 0xc2 || s[0] > 0xf4)
		return 0;
	len = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : 2;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] > 0x9f) ||
	    (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] > 0x8f))
		return 0;	/* overlong, surrogate, past U+10FFFF */
	return len;
}

/* Count (and when encoding, keep) the tokens of buf. */
static void
run(struct tok *t, const char *buf, size_t len)
{
	const unsigned char	*s = (const unsigned char *)buf;
	size_t			 i = 0, start = 0, k;
	int32_t			 id;

	t->count = 0;
	t->nout = 0;
	t->last_unk = 0;
	while (i < len) {
		if (s[i] < 0x80 || (k = utf8_valid(s + i, len - i)) > 0) {
			i += s[i] < 0x80 ? 1 : k;
			continue;
		}
		/* A byte outside UTF-8 is one token of its own. */
		run_valid(t, buf + start, i - start, start == 0);
		id = t->bytelevel ? t->byte_id[s[i]] : t->fallback[s[i]];
		if (id >= 0)
			emit(t, id);
		else
			emit_unk(t);
		start = ++i;
	}
	run_valid(t, buf + start, len - start, start == 0);
}

/* --- the interface ---------------------------------------------------- */

struct tok *
tok_load(const char *path, char *err, size_t errlen)
{
	struct tok	*t;

	if ((t = calloc(1, sizeof(*t))) == NULL ||
	    (t->path = strdup(path)) == NULL ||
	    (t->cache = calloc(TOK_CACHE_SLOTS, sizeof(*t->cache))) == NULL ||
	    (t->md = pcre2_match_data_create(16, NULL)) == NULL ||
	    (t->mctx = pcre2_match_context_create(NULL)) == NULL ||
	    (t->jstack = pcre2_jit_stack_create(32 * 1024, 4 * 1024 * 1024,
	    NULL)) == NULL)
		abort();
	pcre2_jit_stack_assign(t->mctx, NULL, t->jstack);
	if (tok_load_json(t, path, err, errlen) == -1) {
		tok_free(t);
		return NULL;
	}
	return t;
}

int
tok_family_ok(const char *name)
{
	size_t	i;

	if (name == NULL || name[0] == '\0' || name[0] == '.' ||
	    strlen(name) > 64)
		return 0;
	for (i = 0; name[i] != '\0'; i++)
		if (!isalnum((unsigned char)name[i]) && name[i] != '.' &&
		    name[i] != '_' && name[i] != '-')
			return 0;
	return 1;
}

struct tok *
tok_load_family(const char *dir, const char *name, char *err, size_t errlen)
{
	char	path[4096];
	int	n;

	if (!tok_family_ok(name)) {
		util_seterr(err, errlen, "tokenizer family \"%.64s\": a name is "
		    "letters, digits, '.', '_' and '-', not starting with '.'",
		    name == NULL ? "" : name);
		return NULL;
	}
	n = snprintf(path, sizeof(path), "%s/%s/tokenizer.json", dir, name);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		util_seterr(err, errlen, "tokenizer family %s: the path is too "
		    "long", name);
		return NULL;
	}
	return tok_load(path, err, errlen);
}

void
tok_free(struct tok *t)
{
	size_t	i;

	if (t == NULL)
		return;
	for (i = 0; i < TOK_MAX_STEPS; i++) {
		free(t->norm[i].a);
		free(t->norm[i].b);
		pcre2_code_free(t->pre[i].re);
		free(t->pbuf[i]);
	}
	strmap_free(&t->vocab);
	strmap_free(&t->added_ids);
	u64map_free(&t->merges);
	u64map_free(&t->trie);
	pcre2_match_data_free(t->md);
	pcre2_match_context_free(t->mctx);
	pcre2_jit_stack_free(t->jstack);
	free(t->trie_tok);
	free(t->added);
	free(t->nbuf[0]);
	free(t->nbuf[1]);
	free(t->ubuf);
	free(t->syms);
	free(t->heap);
	free(t->cache);
	free(t->out);
	free(t->path);
	free(t);
}

size_t
tok_count(struct tok *t, const char *buf, size_t len)
{
	t->encoding = 0;
	run(t, buf, len);
	return t->count;
}

void
tok_encode(struct tok *t, const char *buf, size_t len, int32_t **ids,
    size_t *n)
{
	t->encoding = 1;
	t->out = NULL;
	t->outcap = 0;
	run(t, buf, len);
	t->encoding = 0;
	*ids = t->out;
	*n = t->nout;
	t->out = NULL;
	t->outcap = 0;
}

const char *
tok_kind(const struct tok *t)
{
	return t->bytelevel ? "byte-level BPE" : "SentencePiece BPE";
}
