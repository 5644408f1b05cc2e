/* settle.h: settlement of requests admitted on leases, a batch per transaction */
#ifndef IP_SETTLE_H
#define IP_SETTLE_H

#include <stddef.h>
#include <stdint.h>

struct arena;
struct db;
struct gateway_cfg;

/* One finished request, as the relay reports it; the caller validated it. */
struct settle_req {
	const char	*request_id;	/* "t_" and 24 base62: the task id */
	int64_t		 lease_id;
	const char	*model;
	const char	*endpoint;	/* chat, completions, embeddings */
	int		 stream;
	long long	 prompt_tokens;	/* the cap on billed input */
	long long	 max_tokens;	/* the cap on billed output */
	long long	 reserved;	/* the relay's worst case: the cap on the charge */
	int64_t		 node_id;	/* 0: none served */
	long long	 price_in;	/* the node's prices at admission (the relay's) */
	long long	 price_out;
	const char	*status;	/* ok, cancelled, failed, rejected, unserved */
	const char	*outcome;	/* success, failure, neutral, or NULL */
	long long	 tokens_in;	/* -1: the upstream reported none */
	long long	 tokens_out;
	long long	 counted_in;
	long long	 counted_out;
	long long	 bytes_out;	/* text bytes forwarded; -1: not sent */
	long long	 ttft_ms;	/* -1: none */
	long long	 duration_ms;	/* -1: none */
	const char	*client_ip;	/* NULL or "": unknown */
	/* Set by settle_batch: */
	int64_t		 charged;
	int64_t		 earning;
	int		 replayed;	/* settled before: its first result */
};

/* Which element of a batch settle_batch refused. */
struct settle_bad {
	int		 in_close;	/* 0: requests[index], 1: close[index] */
	size_t		 index;
	const char	*field;		/* "lease_id", "node_id" */
};

/*
 * Settle n requests and close nclose leases in one transaction with
 * set-based statements: a request already settled (by request_id) is a
 * replay and moves nothing; every other one is billed at the prices it
 * brings (base = capped tokens × prices; charge half up and earning
 * floor(base × (1 − fee)); a charge above reserved is reserved, split
 * at the fee; one above what remains of the lease's hold is what
 * remains, the earning in proportion), drawn on the lease's
 * hold (nothing once the hold is voided), written as its own finished
 * requests row, and its outcome counted for the node's health. Then the
 * leases in close are closed and what remains of their holds voided.
 * GW_OK (results in reqs), GW_BAD_ELEMENT (an unknown lease or node:
 * *bad says which; nothing done) or GW_ERROR.
 */
int	settle_batch(struct db *, struct arena *, const struct gateway_cfg *,
	    struct settle_req *reqs, size_t n, const int64_t *close,
	    size_t nclose, struct settle_bad *bad);

#endif
