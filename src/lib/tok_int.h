/* tok_int.h: the tokenizer's tables, shared by tok_load.c, tok_table.c and tok.c */
#ifndef IP_TOK_INT_H
#define IP_TOK_INT_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stddef.h>
#include <stdint.h>

#include "tok.h"

#define TOK_MAX_STEPS	8	/* normalizers, and pre-tokenizer steps */
#define TOK_CACHE_SLOTS	8192	/* word -> count cache, direct-mapped */
#define TOK_CACHE_KEY	46	/* longest word the cache keeps */

/*
 * Byte strings to values: open addressing over a pool of bytes. Lookups
 * never allocate; strmap_put may.
 */
struct strmap {
	uint32_t	*slots;		/* entry index + 1; 0 is empty */
	size_t		 mask;
	struct strent {
		uint32_t	 off, len;
		int32_t		 val;
	}		*ents;
	size_t		 nents, capents;
	char		*pool;
	size_t		 poollen, poolcap;
};

/* 64-bit keys to 64-bit values; key 0 is never stored. A key and its
 * value share a cache line: a merge lookup costs one miss. */
struct u64map {
	struct u64ent {
		uint64_t	 key, val;
	}		*ents;
	size_t		 mask, n;
};

void	 strmap_init(struct strmap *, size_t expect);
void	 strmap_free(struct strmap *);
/* Set key to val (a later put of the same key wins). */
void	 strmap_put(struct strmap *, const char *key, size_t len, int32_t val);
/* The value of key, or -1. */
int32_t	 strmap_get(const struct strmap *, const char *key, size_t len);

void	 u64map_init(struct u64map *, size_t expect);
void	 u64map_free(struct u64map *);
/* Set key (not 0) to val (a later put of the same key wins). */
void	 u64map_put(struct u64map *, uint64_t key, uint64_t val);
/* 1 and *val when key is there, else 0. */
int	 u64map_get(const struct u64map *, uint64_t key, uint64_t *val);

uint64_t tok_hash(const char *, size_t);

enum norm_kind { NORM_NFC, NORM_NFD, NORM_NFKC, NORM_NFKD, NORM_PREPEND,
	NORM_REPLACE, NORM_STRIP };

struct tok_norm {
	enum norm_kind	 kind;
	char		*a, *b;		/* prepend text; replace pattern, content */
	size_t		 alen, blen;
	int		 left, right;	/* strip */
};

enum pre_kind { PRE_SPLIT, PRE_BYTELEVEL, PRE_METASPACE };

struct tok_pre {
	enum pre_kind	 kind;
	pcre2_code	*re;		/* split; byte-level use_regex */
	int		 removed;	/* split behavior Removed (else Isolated) */
	int		 prefix;	/* add_prefix_space (byte-level, metaspace) */
	int		 scheme;	/* metaspace prepend: 0 always, 1 first, 2 never */
	int		 split;		/* metaspace splits on its replacement */
	char		 repl[8];	/* metaspace replacement (UTF-8) */
	size_t		 repllen;
};

struct tok_added {
	int32_t		 id;
	int		 lstrip, rstrip;
};

/* One cached word: its hash, bytes and token count. */
struct tok_cslot {
	uint64_t	 hash;
	uint32_t	 count;
	uint8_t		 len;
	char		 key[TOK_CACHE_KEY];
};

/* A BPE symbol: a span of the word, its token id (-1: none), its list. */
struct tok_sym {
	int32_t		 id, prev, next;
	uint32_t	 start, len;
};

/* A candidate merge of symbol left with its next, by rank then place. */
struct tok_cand {
	uint32_t	 rank, pos;
	int32_t		 left, right, lid, rid, id;
};

struct tok {
	char		*path;
	int		 bytelevel;	/* ByteLevel: symbols start as bytes */
	int		 ignore_merges, byte_fallback, fuse_unk;
	size_t		 mark_merges;	/* merges of x with a "▁..." after it */
	int		 mark_words;	/* so cut words before each inner "▁" */
	int32_t		 unk;		/* unk_token id or -1 */
	int32_t		 byte_id[256];	/* byte-level: the id of each byte */
	int32_t		 fallback[256];	/* the id of <0xNN>, or -1 */
	int32_t		 ascii_id[128];	/* char-level: ids of ASCII chars */
	struct strmap	 vocab;		/* token bytes (decoded) -> id */
	struct u64map	 merges;	/* left id << 32 | right id -> rank << 32 | id */

	/* Added tokens: a byte trie (node << 8 | byte -> child), matched
	 * leftmost-longest before anything else. */
	struct u64map	 trie;
	int32_t		*trie_tok;	/* node -> index into added, or -1 */
	size_t		 ntrie;
	uint8_t		 trie_first[256];
	struct tok_added *added;
	size_t		 nadded;
	struct strmap	 added_ids;	/* content -> id */

	struct tok_norm	 norm[TOK_MAX_STEPS];
	size_t		 nnorm;
	struct tok_pre	 pre[TOK_MAX_STEPS];
	size_t		 npre;
	pcre2_match_data *md;
	pcre2_match_context *mctx;
	pcre2_jit_stack	*jstack;

	/* Scratch, grown as needed and kept (tok.c). */
	char		*nbuf[2];	/* normalizer ping-pong */
	size_t		 ncap[2];
	int32_t		*ubuf;		/* NFC code points */
	size_t		 ucap;
	char		*pbuf[TOK_MAX_STEPS];	/* pre-tokenizer rewrites */
	size_t		 pcap[TOK_MAX_STEPS];
	struct tok_sym	*syms;
	size_t		 symcap;
	struct tok_cand	*heap;
	size_t		 heapcap;
	struct tok_cslot *cache;

	/* Output of one call: the count, the ids when encoding. */
	size_t		 count;
	int		 last_unk, encoding;
	size_t		 nunk;		/* unknown tokens so far (fused or not) */
	unsigned long	 match_errors;	/* PCRE2 errors (limits), logged once */
	int32_t		*out;
	size_t		 nout, outcap;
};

/* tok_load.c: read the file's model, normalizer, pre-tokenizer, added tokens. */
int	tok_load_json(struct tok *, const char *path, char *err, size_t errlen);

#endif
