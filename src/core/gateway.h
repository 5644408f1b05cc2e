/* gateway.h: a model's candidates for the relay; usage rows of requests */
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
	long long	 hold_ttl;		/* seconds a hold outlives lease_ttl */
	long long	 ramp_start_pct;	/* a new node's share of its concurrency */
	long long	 ramp_days;		/* days to reach 100% */
	long long	 per_key_minute;	/* requests per API key a minute; 0: no limit */
	long long	 lease_budget;		/* micro-USD a lease holds at most */
	long long	 lease_ttl;		/* seconds a lease admits requests */
};

/* Outcomes of the gateway's calls: gateway.c, lease.c, settle.c. */
enum gw_rc {
	GW_ERROR = -1,		/* database or crypto error (logged) */
	GW_OK = 0,
	GW_BAD_KEY,		/* lease: no live API key */
	GW_NO_MODEL,		/* candidates: no active node serves the model */
	GW_INSUFFICIENT,	/* lease: the consumer has nothing spendable */
	GW_BAD_ELEMENT,		/* settle_batch: an element refers to nothing */
	GW_SUSPENDED,		/* lease: the key's account is suspended (read-only) */
	GW_BANNED,		/* lease: the key's account is banned or deleted */
	GW_OWES			/* lease: the key's account owes after a refund or dispute */
};

/*
 * The candidates for model into *list, a JSON array registered with the
 * arena: every active node of an active account serving it, as
 * docs/internal.md lists them
 * (capacity after the ramp, health, endpoint ones with the decrypted
 * token; one whose sealed token cannot be opened is skipped and logged).
 * GW_OK (the list may be empty when no node's token opens), GW_NO_MODEL
 * or GW_ERROR.
 */
int	gateway_candidates(struct db *, struct arena *,
	    const struct gateway_cfg *, const struct crypto_keyring *,
	    const char *model, json_t **list);

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
