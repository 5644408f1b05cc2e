/* passwd.h: password hashing with argon2id (libargon2) */
#ifndef IP_PASSWD_H
#define IP_PASSWD_H

#include <stddef.h>
#include <stdint.h>

struct passwd_params {
	uint32_t	t_cost;		/* passes */
	uint32_t	m_cost_kib;	/* memory in KiB */
	uint32_t	parallelism;
};

/* OWASP's argon2id minimum: 19 MiB, 2 passes, 1 lane. */
#define PASSWD_DEFAULTS	{ 2, 19456, 1 }
#define PASSWD_ENCODED_MAX	160

struct cfg;

/*
 * Read [auth] argon2_t_cost, argon2_m_cost_kib and argon2_parallelism
 * into p (defaults: PASSWD_DEFAULTS). Returns 0, or -1 with the error
 * left in the cfg.
 */
int	passwd_configure(struct cfg *, struct passwd_params *p);

/*
 * Hash password with a fresh 16-byte salt into out, as the encoded
 * "$argon2id$v=19$m=…,t=…,p=…$salt$hash" string. Returns 0 or -1.
 */
int	passwd_hash(const struct passwd_params *, const char *password,
	    char *out, size_t outlen);

/* 1 when password matches encoded, 0 when not (or encoded is malformed). */
int	passwd_verify(const char *encoded, const char *password);

/*
 * Spend the time of one verification without an account, so "no such
 * user" and "wrong password" take as long as each other.
 */
void	passwd_dummy_verify(const struct passwd_params *, const char *password);

#endif
