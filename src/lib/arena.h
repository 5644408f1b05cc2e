/* arena.h: per-request memory arena with deferred frees for foreign objects */
#ifndef IP_ARENA_H
#define IP_ARENA_H

#include <stddef.h>

struct arena;

/* Make an empty arena. Heap-owned: release with arena_free(). Aborts on OOM. */
struct arena	*arena_new(void);

/*
 * Run every deferred free (newest first) and release all blocks but the
 * first, so the arena can serve the next request without new mallocs.
 */
void		 arena_reset(struct arena *);

/* arena_reset() and then release the arena itself. NULL is a no-op. */
void		 arena_free(struct arena *);

/*
 * Memory owned by the arena until its next reset, aligned for any type;
 * never freed one by one. Each aborts on overflow or OOM, never NULL.
 */

/* n uninitialised bytes (0 gives a valid, distinct pointer). */
void		*arena_alloc(struct arena *, size_t);

/* n zeroed elements of size bytes each. */
void		*arena_calloc(struct arena *, size_t, size_t);

/* A copy of the string s. */
char		*arena_strdup(struct arena *, const char *);

/* A copy of the first n bytes of s, NUL-terminated (s need not be). */
char		*arena_strndup(struct arena *, const char *, size_t);

/* The formatted text (printf formats) as a new string. */
char		*arena_printf(struct arena *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

/*
 * Call fn(p) at the next reset: register a PGresult, a json_t or a curl
 * handle here and it is released with the request. NULL p is ignored.
 */
void		 arena_defer(struct arena *, void (*fn)(void *), void *p);

/* Bytes handed out since the last reset (for tests and limits). */
size_t		 arena_used(const struct arena *);

#endif
