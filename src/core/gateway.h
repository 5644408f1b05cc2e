/* gateway.h: admission and settlement of inference requests, and their usage rows */
#ifndef IP_GATEWAY_H
#define IP_GATEWAY_H

#include <stdint.h>

#include <jansson.h>

struct arena;
struct crypto_keyring;
struct db;

#define GW_TASK_LEN		26	/* "t_" and 24 base62 characters */
#define GW_PROMPT_MAX		1000000000LL	/* largest prompt estimate taken */
#define GW_HEALTH_DAYS		14	/* the window of a node's health */

/* [gateway] settings. */
struct gateway_cfg {
	int		 fee_bp;		/* platform fee, basis points */
	long long	 default_max_tokens;	/* when the client sets none */
	long long	 max_tokens_cap;	/* larger max_tokens is refused */
	long long	 hold_ttl;		/* seconds a hold lives unsettled */
	long long	 ramp_start_pct;	/* a new node's share of its concurrency */
	long long	 ramp_days;		/* days to reach 100% */
	long long	 per_key_minute;	/* requests per API key a minute; 0: no limit */
	long long	 lease_budget;		/* micro-USD a lease holds at most */
	long long	 lease_ttl;		/* seconds a lease admits requests */
};

/* Outcomes of gateway_admit and gateway_settle. */
enum gw_rc {
	GW_ERROR = -1,		/* database or crypto error (logged) */
	GW_OK = 0,
	GW_BAD_KEY,		/* admit: no live API key */
	GW_NO_MODEL,		/* admit: no active node serves the model */
	GW_NO_CAPACITY,		/* admit: none within max_price, or usable */
	GW_TOO_COSTLY,		/* admit: the worst case overflows */
	GW_INSUFFICIENT,	/* admit: the consumer cannot cover the hold */
	GW_RATE_LIMITED,	/* admit: the key sent too many requests */
	GW_NOT_FOUND,		/* settle: no request holds this hold */
	GW_BAD_NODE,		/* settle: node_id was not a candidate */
	GW_BAD_ELEMENT		/* settle_batch: an element refers to nothing */
};

/* What the relay asks to admit; the caller has validated every field. */
struct gw_admit {
	const char	*key;		/* the bearer token as received */
	const char	*model;
	const char	*endpoint;	/* "chat" | "completions" | "embeddings" */
	int		 stream;
	long long	 max_tokens;	/* defaulted and within the cap */
	long long	 prompt_tokens;	/* 0..GW_PROMPT_MAX */
	const char	*client_ip;	/* NULL or "": unknown */
	long long	 max_price_in;	/* -1: no limit */
	long long	 max_price_out;	/* -1: no limit */
};

/* The admission: hold, task id, output cap and candidates. */
struct gw_admitted {
	int64_t		 hold_id;
	int64_t		 amount;	/* the hold (also set with GW_INSUFFICIENT) */
	char		 task_id[GW_TASK_LEN + 1];
	long long	 max_tokens;	/* the output cap: 0 for embeddings */
	json_t		*candidates;	/* registered with the arena */
	int		 retry_after;	/* seconds, with GW_RATE_LIMITED */
};

/*
 * Admit one inference request in one transaction: authenticate the key,
 * collect the active nodes serving the model within max_price (skipping
 * one whose sealed token cannot be opened), reserve the worst case for
 * cfg->hold_ttl, and record a requests row (status "admitted") with the
 * candidates' prices. Candidates are JSON objects as docs/internal.md
 * says, endpoint ones with the decrypted token. Returns an enum gw_rc;
 * only GW_OK changes anything but the key's last-used time.
 */
int	gateway_admit(struct db *, struct arena *, const struct gateway_cfg *,
	    const struct crypto_keyring *, const struct gw_admit *,
	    struct gw_admitted *);

/*
 * The candidates for model, as gateway_admit lists them (no max_price, no
 * hold) into *list, a JSON array registered with the arena: GW_OK (the
 * list may be empty when no node's token opens), GW_NO_MODEL or GW_ERROR.
 */
int	gateway_candidates(struct db *, struct arena *,
	    const struct gateway_cfg *, const struct crypto_keyring *,
	    const char *model, json_t **list);

/* What the relay reports when a request ends. */
struct gw_settle {
	int64_t		 hold_id;
	int64_t		 node_id;	/* 0: none served */
	const char	*status;	/* ok, cancelled, failed, rejected, unserved */
	long long	 tokens_in;	/* -1: the upstream reported none */
	long long	 tokens_out;
	long long	 counted_in;	/* the relay's own counts */
	long long	 counted_out;
	long long	 ttft_ms;	/* -1: none */
	long long	 duration_ms;	/* -1: none */
	const char	*outcome;	/* success, failure, neutral, or NULL */
};

struct gw_settled {
	int64_t	 charged;
	int64_t	 earning;
	int	 replayed;	/* settled before: nothing moved now */
};

/*
 * Settle the request holding s->hold_id, once, in one transaction: bill
 * the capped tokens at the serving node's admitted prices (charge half up,
 * capped at the hold; the supplier earns the floor after cfg->fee_bp) and
 * post the hold, or void it for "rejected" and "unserved"; then complete
 * the requests row. A repeat returns the first result with replayed set.
 * GW_OK, GW_NOT_FOUND, GW_BAD_NODE (node_id missing or not a candidate
 * when a node served) or GW_ERROR.
 */
int	gateway_settle(struct db *, struct arena *, const struct gateway_cfg *,
	    const struct gw_settle *, struct gw_settled *);

/* A page of request metadata for /v1/me/usage or /v1/supplier/usage. */
struct gw_usage {
	int		 supplier;	/* 0: user_id's requests; 1: its nodes' */
	int64_t		 user_id;
	const char	*model;		/* NULL: any */
	const char	*since;		/* RFC 3339, inclusive; NULL: any */
	const char	*until;		/* RFC 3339, exclusive; NULL: any */
	int64_t		 before;	/* request ids below this; 0: newest */
	int		 limit;		/* 1..200 */
};

/*
 * The requests q selects, newest first, as a JSON array of {id, task_id,
 * created_at, finished_at, model, node_id, supply_type, endpoint, stream,
 * tokens_in, tokens_out, ttft_ms, duration_ms, cost or (supplier view)
 * earning as {micro_usd, usd}, status}; never who the consumer was.
 * *next_before is the id to pass for the next page, or 0. NULL on error;
 * the caller owns the array.
 */
json_t	*gateway_usage(struct db *, struct arena *, const struct gw_usage *q,
	    int64_t *next_before);

#endif
