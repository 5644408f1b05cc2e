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

/* Memory that lives until the next reset, aligned for any type. Aborts on OOM. */
void		*arena_alloc(struct arena *, size_t);
void		*arena_calloc(struct arena *, size_t, size_t);
char		*arena_strdup(struct arena *, const char *);
char		*arena_strndup(struct arena *, const char *, size_t);
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
