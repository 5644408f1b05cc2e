/* whsig.h: webhook signatures: Stripe's "Stripe-Signature" header */
#ifndef IP_WHSIG_H
#define IP_WHSIG_H

#include <stddef.h>
#include <time.h>

/*
 * Verify a Stripe-Signature header ("t=<unix time>,v1=<hex>,v1=…,v0=…")
 * for body as Stripe does: HMAC-SHA256 under secret over "<t>.<body>",
 * any v1 may match (compared in constant time; other schemes are
 * ignored), and t within tolerance seconds of now either way. Returns 0
 * when it is genuine, else -1 with *why saying which check failed
 * ("no timestamp", "no v1 signature", "too old" …; never the header).
 */
int	whsig_stripe_verify(const char *header, const char *body, size_t len,
	    const char *secret, time_t now, long tolerance, const char **why);

/*
 * Verify Tremendous' "Tremendous-Webhook-Signature: sha256=<hex>": the
 * HMAC-SHA256 of the raw body under secret, compared in constant time.
 * 0 genuine, else -1 with *why.
 */
int	whsig_tremendous_verify(const char *header, const char *body,
	    size_t len, const char *secret, const char **why);

#endif
