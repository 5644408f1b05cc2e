/* changes.h: the change feed the relay polls to keep its caches true */
#ifndef IP_CHANGES_H
#define IP_CHANGES_H

#include <stdint.h>

#include <jansson.h>

struct arena;
struct db;

#define CHANGES_PAGE	1000	/* changes answered at most at once */
#define CHANGES_KEEP	"1 hour"	/* rows older than this are pruned */

/*
 * The feed's current seq (0 before any change): a version for what is
 * read after it. 0 or -1.
 */
int	changes_seq(struct db *, struct arena *, int64_t *seq);

/*
 * Prune rows older than CHANGES_KEEP, then read what came after since, at
 * most CHANGES_PAGE, oldest first, into *list (a new JSON array the caller
 * owns) as {"kind": "key", "key_id"} | {"kind": "user", "user_id"} |
 * {"kind": "node", "node_id"} | {"kind": "model", "model"}, with *seq the
 * last one's seq (since when there are none). Returns 0, 1 for a reset
 * (since is older than what is kept, or newer than the feed: *seq is the
 * current seq and *list NULL) or -1.
 */
int	changes_since(struct db *, struct arena *, int64_t since,
	    json_t **list, int64_t *seq);

#endif
