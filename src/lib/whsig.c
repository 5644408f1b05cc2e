/* whsig.c: webhook signatures: Stripe's "Stripe-Signature" header */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "str.h"
#include "whsig.h"

#define SIG_HEX		64	/* an HMAC-SHA256 in hex */
#define HEADER_MAX	8192

int
whsig_stripe_verify(const char *header, const char *body, size_t len,
    const char *secret, time_t now, long tolerance, const char **why)
{
	struct str	 signed_ = STR_INIT;
	const char	*p, *item, *end, *t = NULL;
	char		 want[SIG_HEX + 1];
	long long	 ts = -1;
	size_t		 tlen = 0, n;
	int		 v1 = 0, ok = 0;

	*why = "no header";
	if (header == NULL || *header == '\0')
		return -1;
	*why = "malformed header";
	if (strlen(header) > HEADER_MAX || secret == NULL || *secret == '\0')
		return -1;
	/* The timestamp first: the signed payload starts with it. */
	for (item = header; *item != '\0'; item = *end ? end + 1 : end) {
		end = item + strcspn(item, ",");
		if (end - item > 2 && strncmp(item, "t=", 2) == 0) {
			if (t != NULL)
				return -1;	/* two timestamps */
			t = item + 2;
			tlen = (size_t)(end - t);
			if (tlen == 0 || tlen > 12 || strspn(t, "0123456789") <
			    tlen)
				return -1;
			ts = strtoll(t, NULL, 10);
		}
	}
	*why = "no timestamp";
	if (t == NULL)
		return -1;
	*why = ts < (long long)now - tolerance ? "timestamp too old" :
	    "timestamp in the future";
	if (ts < (long long)now - tolerance || ts > (long long)now + tolerance)
		return -1;
	str_append(&signed_, t, tlen);
	str_append(&signed_, ".", 1);
	str_append(&signed_, body, len);
	if (crypto_hmac_sha256_hex(secret, strlen(secret), signed_.buf,
	    signed_.len, want) == -1) {
		str_free(&signed_);
		*why = "hmac failed";
		return -1;
	}
	str_free(&signed_);
	for (p = header; *p != '\0'; p = *end ? end + 1 : end) {
		end = p + strcspn(p, ",");
		n = (size_t)(end - p);
		if (n < 3 || strncmp(p, "v1=", 3) != 0)
			continue;
		v1 = 1;
		if (n - 3 == SIG_HEX && crypto_equal(p + 3, want, SIG_HEX))
			ok = 1;		/* no early exit: every v1 is compared */
	}
	*why = !v1 ? "no v1 signature" : ok ? NULL : "no signature matches";
	return ok ? 0 : -1;
}

int
whsig_tremendous_verify(const char *header, const char *body, size_t len,
    const char *secret, const char **why)
{
	char	want[SIG_HEX + 1];

	*why = "no header";
	if (header == NULL || *header == '\0')
		return -1;
	*why = "malformed header";
	if (strncmp(header, "sha256=", 7) != 0 || strlen(header + 7) !=
	    SIG_HEX || secret == NULL || *secret == '\0')
		return -1;
	*why = "hmac failed";
	if (crypto_hmac_sha256_hex(secret, strlen(secret), body, len, want) ==
	    -1)
		return -1;
	*why = "signature does not match";
	if (!crypto_equal(header + 7, want, SIG_HEX))
		return -1;
	*why = NULL;
	return 0;
}
