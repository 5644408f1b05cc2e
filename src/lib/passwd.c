/* passwd.c: password hashing with argon2id (libargon2) */
#include "config.h"

#include <string.h>

#include <argon2.h>

#include "cfg.h"
#include "crypto.h"
#include "passwd.h"

#define PASSWD_SALT	16
#define PASSWD_HASHLEN	32

int
passwd_configure(struct cfg *c, struct passwd_params *p)
{
	long long	t, m, par;
	int		rc = 0;

	rc |= cfg_int(c, "auth", "argon2_t_cost", 2, 1, 100, &t);
	rc |= cfg_int(c, "auth", "argon2_m_cost_kib", 19456, 8, 4194304, &m);
	rc |= cfg_int(c, "auth", "argon2_parallelism", 1, 1, 64, &par);
	p->t_cost = (uint32_t)t;
	p->m_cost_kib = (uint32_t)m;
	p->parallelism = (uint32_t)par;
	return rc ? -1 : 0;
}

int
passwd_hash(const struct passwd_params *p, const char *password, char *out,
    size_t outlen)
{
	unsigned char	salt[PASSWD_SALT];

	if (crypto_random(salt, sizeof(salt)) == -1)
		return -1;
	return argon2id_hash_encoded(p->t_cost, p->m_cost_kib, p->parallelism,
	    password, strlen(password), salt, sizeof(salt), PASSWD_HASHLEN, out,
	    outlen) == ARGON2_OK ? 0 : -1;
}

int
passwd_verify(const char *encoded, const char *password)
{
	if (strncmp(encoded, "$argon2id$", 10) != 0)
		return 0;
	return argon2id_verify(encoded, password, strlen(password)) == ARGON2_OK;
}

void
passwd_dummy_verify(const struct passwd_params *p, const char *password)
{
	static const unsigned char	salt[PASSWD_SALT] = "infrpool-dummy!";
	unsigned char			hash[PASSWD_HASHLEN];

	(void)argon2id_hash_raw(p->t_cost, p->m_cost_kib, p->parallelism,
	    password, strlen(password), salt, sizeof(salt), hash, sizeof(hash));
}
