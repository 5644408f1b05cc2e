/* money.c: integer micro-USD arithmetic: charges, supplier shares, formatting */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "money.h"

int
money_base(int64_t tin, int64_t pin, int64_t tout, int64_t pout, int64_t *base)
{
	__int128	b;

	if (tin < 0 || pin < 0 || tout < 0 || pout < 0)
		return -1;
	b = (__int128)tin * pin + (__int128)tout * pout;
	if (b > INT64_MAX)
		return -1;
	*base = (int64_t)b;
	return 0;
}

int
money_split_base(int64_t base, int fee_bp, struct money_split *s)
{
	__int128	keep;

	if (base < 0 || fee_bp < 0 || fee_bp > MONEY_BP)
		return -1;
	/* Half up: add half a micro-USD before truncating. */
	s->charge = (int64_t)(((__int128)base + MONEY_UNIT / 2) / MONEY_UNIT);
	keep = (__int128)base * (MONEY_BP - fee_bp);
	s->earning = (int64_t)(keep / ((__int128)MONEY_BP * MONEY_UNIT));
	s->fee = s->charge - s->earning;
	return 0;
}

int
money_split_amount(int64_t amount, int fee_bp, struct money_split *s)
{
	if (amount < 0 || amount > INT64_MAX / MONEY_UNIT)
		return -1;
	return money_split_base(amount * MONEY_UNIT, fee_bp, s);
}

void
money_format(int64_t micro, char *buf, size_t len)
{
	uint64_t	u = micro < 0 ? (uint64_t)0 - (uint64_t)micro : (uint64_t)micro;

	snprintf(buf, len, "%s%llu.%06llu", micro < 0 ? "-" : "",
	    (unsigned long long)(u / MONEY_UNIT),
	    (unsigned long long)(u % MONEY_UNIT));
}

int
money_parse(const char *s, int64_t *out)
{
	int64_t	whole = 0, frac = 0;
	int	digits = 0, places = 0;

	for (; isdigit((unsigned char)*s); s++, digits++) {
		if (whole > (INT64_MAX / MONEY_UNIT - 9) / 10)
			return -1;
		whole = whole * 10 + (*s - '0');
	}
	if (*s == '.') {
		for (s++; isdigit((unsigned char)*s); s++, places++) {
			if (places == 6)
				return -1;
			frac = frac * 10 + (*s - '0');
		}
		if (places == 0)
			return -1;
	}
	if (*s != '\0' || digits == 0)
		return -1;
	for (; places < 6; places++)
		frac *= 10;
	*out = whole * MONEY_UNIT + frac;
	return 0;
}
