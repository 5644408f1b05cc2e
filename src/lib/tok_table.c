/* tok_table.c: the tokenizer's hash tables (byte strings and 64-bit keys) */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "tok_int.h"

/* Allocate or abort: the tables are built once, at load. */
static void *
xrealloc(void *p, size_t n)
{
	if ((p = realloc(p, n == 0 ? 1 : n)) == NULL)
		abort();
	return p;
}

/* A 64-bit hash of n bytes (FNV-1a with a final mix). */
uint64_t
tok_hash(const char *p, size_t n)
{
	uint64_t	h = 0xcbf29ce484222325ULL;
	size_t		i;

	for (i = 0; i < n; i++)
		h = (h ^ (unsigned char)p[i]) * 0x100000001b3ULL;
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ULL;
	return h ^ (h >> 32);
}

/* A power of two at least twice expect. */
static size_t
table_size(size_t expect)
{
	size_t	n = 64;

	while (n < expect * 2)
		n <<= 1;
	return n;
}

/* An empty map sized for expect keys (it grows past that). */
void
strmap_init(struct strmap *m, size_t expect)
{
	memset(m, 0, sizeof(*m));
	m->mask = table_size(expect) - 1;
	if ((m->slots = calloc(m->mask + 1, sizeof(*m->slots))) == NULL)
		abort();
}

void
strmap_free(struct strmap *m)
{
	free(m->slots);
	free(m->ents);
	free(m->pool);
	memset(m, 0, sizeof(*m));
}

/* The slot of key: where it is, or the empty slot where it would go. */
static size_t
strmap_slot(const struct strmap *m, const char *key, size_t len)
{
	size_t		 i = tok_hash(key, len) & m->mask;
	struct strent	*e;

	for (;; i = (i + 1) & m->mask) {
		if (m->slots[i] == 0)
			return i;
		e = &m->ents[m->slots[i] - 1];
		if (e->len == len && memcmp(m->pool + e->off, key, len) == 0)
			return i;
	}
}

/* Double the slots and place every entry again. */
static void
strmap_grow(struct strmap *m)
{
	size_t		 i;
	struct strent	*e;

	free(m->slots);
	m->mask = m->mask * 2 + 1;
	if ((m->slots = calloc(m->mask + 1, sizeof(*m->slots))) == NULL)
		abort();
	for (i = 0; i < m->nents; i++) {
		e = &m->ents[i];
		m->slots[strmap_slot(m, m->pool + e->off, e->len)] =
		    (uint32_t)i + 1;
	}
}

void
strmap_put(struct strmap *m, const char *key, size_t len, int32_t val)
{
	size_t		 i;
	struct strent	*e;

	i = strmap_slot(m, key, len);
	if (m->slots[i] != 0) {
		m->ents[m->slots[i] - 1].val = val;
		return;
	}
	if (m->nents == m->capents) {
		m->capents = m->capents ? m->capents * 2 : 1024;
		m->ents = xrealloc(m->ents, m->capents * sizeof(*m->ents));
	}
	while (m->poollen + len > m->poolcap) {
		m->poolcap = m->poolcap ? m->poolcap * 2 : 65536;
		m->pool = xrealloc(m->pool, m->poolcap);
	}
	e = &m->ents[m->nents];
	e->off = (uint32_t)m->poollen;
	e->len = (uint32_t)len;
	e->val = val;
	memcpy(m->pool + m->poollen, key, len);
	m->poollen += len;
	m->slots[i] = (uint32_t)++m->nents;
	if (m->nents * 2 > m->mask)
		strmap_grow(m);
}

int32_t
strmap_get(const struct strmap *m, const char *key, size_t len)
{
	size_t	i;

	if (m->slots == NULL)
		return -1;
	i = strmap_slot(m, key, len);
	return m->slots[i] == 0 ? -1 : m->ents[m->slots[i] - 1].val;
}

void
u64map_init(struct u64map *m, size_t expect)
{
	m->mask = table_size(expect) - 1;
	m->n = 0;
	if ((m->ents = calloc(m->mask + 1, sizeof(*m->ents))) == NULL)
		abort();
}

void
u64map_free(struct u64map *m)
{
	free(m->ents);
	memset(m, 0, sizeof(*m));
}

/* The slot of key: where it is, or the empty slot where it would go. */
static size_t
u64map_slot(const struct u64map *m, uint64_t key)
{
	uint64_t	h = key;
	size_t		i;

	h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;	/* splitmix64's mix */
	h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
	i = (h ^ (h >> 31)) & m->mask;

	while (m->ents[i].key != 0 && m->ents[i].key != key)
		i = (i + 1) & m->mask;
	return i;
}

void
u64map_put(struct u64map *m, uint64_t key, uint64_t val)
{
	struct u64ent	*old;
	size_t		 i, oldsize;

	i = u64map_slot(m, key);
	if (m->ents[i].key == key) {
		m->ents[i].val = val;
		return;
	}
	m->ents[i].key = key;
	m->ents[i].val = val;
	if (++m->n * 2 <= m->mask)
		return;
	old = m->ents;
	oldsize = m->mask + 1;
	u64map_init(m, oldsize);
	for (i = 0; i < oldsize; i++)
		if (old[i].key != 0)
			u64map_put(m, old[i].key, old[i].val);
	free(old);
}

int
u64map_get(const struct u64map *m, uint64_t key, uint64_t *val)
{
	size_t	i;

	if (m->ents == NULL)
		return 0;
	i = u64map_slot(m, key);
	if (m->ents[i].key != key)
		return 0;
	*val = m->ents[i].val;
	return 1;
}
