/* money.h: integer micro-USD arithmetic: charges, supplier shares, formatting */
#ifndef IP_MONEY_H
#define IP_MONEY_H

#include <stddef.h>
#include <stdint.h>

/*
 * Amounts are int64 micro-USD (1 USD = 1,000,000). A price is micro-USD
 * per 1M tokens, so tokens x price is an exact "base" in units of 1e-6
 * micro-USD. Fees are basis points (500 = 5%). No floats anywhere.
 */
#define MONEY_UNIT	1000000LL	/* micro-USD per USD; base units per micro-USD */
#define MONEY_BP	10000		/* basis points in 100% */

struct money_split {
	int64_t	charge;		/* what the consumer pays: base rounded half up */
	int64_t	earning;	/* the supplier: floor(base x (1 - fee)) */
	int64_t	fee;		/* the platform: charge - earning */
};

/*
 * The exact base of a request in 1e-6 micro-USD: tokens_in x price_in +
 * tokens_out x price_out. Returns -1 when it would overflow int64 (or an
 * input is negative), else 0.
 */
int	money_base(int64_t tokens_in, int64_t price_in, int64_t tokens_out,
	    int64_t price_out, int64_t *base);

/*
 * Split a base (1e-6 micro-USD) at fee_bp basis points. earning <= charge
 * always, and charge = earning + fee, so every transfer balances.
 * Returns -1 for a negative base or a fee outside 0..10000.
 */
int	money_split_base(int64_t base, int fee_bp, struct money_split *);

/* The same for a whole amount of micro-USD (base = amount x 1e6). */
int	money_split_amount(int64_t amount, int fee_bp, struct money_split *);

/*
 * Format micro-USD as a decimal string of dollars with six places
 * ("-0.000001", "1.000000"). buf must hold at least 24 bytes.
 */
void	money_format(int64_t micro, char *buf, size_t len);

/*
 * Parse dollars ("1", "1.5", "0.000001") into micro-USD; more than six
 * decimals, signs, junk or overflow give -1.
 */
int	money_parse(const char *, int64_t *micro);

#endif
