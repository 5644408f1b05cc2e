/* stats.h: the dashboards' numbers: days of traffic and the operator's lists */
#ifndef IP_STATS_H
#define IP_STATS_H

#include <stdint.h>

#include <jansson.h>

struct arena;
struct db;

#define STATS_DAYS	30	/* the charts' window, in UTC days */

/* One UTC day of finished requests (admitted ones are not yet counted). */
struct stats_day {
	char	 day[11];		/* YYYY-MM-DD */
	int64_t	 requests;		/* finished: ok, failed, cancelled... */
	int64_t	 success, failure;	/* outcomes; "neutral" is neither */
	int64_t	 tokens_in, tokens_out;
	int64_t	 cost;			/* what consumers paid, micro-USD */
	int64_t	 earning;		/* the suppliers' share of it */
};

enum stats_scope {
	STATS_CONSUMER,		/* the requests user_id made */
	STATS_SUPPLIER,		/* the requests user_id's nodes served */
	STATS_PLATFORM		/* every request; user_id unused */
};

/* The last STATS_DAYS days into out, oldest first; 0 or -1. */
int	 stats_days(struct db *, struct arena *, enum stats_scope,
	    int64_t user_id, struct stats_day out[STATS_DAYS]);

/*
 * The operator's overview: {users, nodes_active, nodes_suspended,
 * revenue, credit, earnings (micro-USD ledger balances), holds: {open,
 * amount, expired, oldest}}. NULL on error; the caller owns it.
 */
json_t	*stats_platform(struct db *, struct arena *);

/*
 * Users newest first, ids below before (0: from the newest), at most
 * limit, whose email contains q (NULL: all): [{id, email, role, status,
 * created_at, credit, earnings, nodes, requests_30d}]. *next_before is
 * the id to page on, 0 when this is the last page. NULL on error.
 */
json_t	*stats_users(struct db *, struct arena *, const char *q,
	    int64_t before, int limit, int64_t *next_before);

/*
 * Every node not deleted, newest first: [{id, name, owner, connection,
 * supply_type, status, state, suspended_reason, suspended_at, models,
 * requests_30d, success_30d, failure_30d}]. NULL on error.
 */
json_t	*stats_nodes(struct db *, struct arena *);

#endif
