/* cfg.h: INI-style configuration with environment overrides and typed getters */
#ifndef IP_CFG_H
#define IP_CFG_H

#include <stddef.h>

struct cfg;

/*
 * Read an INI file: "[section]" lines, "key = value" lines, "#" or ";"
 * comments, optional double quotes around a value. NULL path gives an
 * empty configuration (environment only). Returns NULL with a message
 * naming file and line in err on a syntax error. Heap-owned: cfg_free().
 */
struct cfg	*cfg_load(const char *path, char *err, size_t errlen);
void		 cfg_free(struct cfg *);

/*
 * The configuration every program reads: path (from -c) when given, else
 * $INFRPOOL_CONFIG, else the installed <sysconfdir>/infrpool.conf when it
 * exists, else none (environment and defaults only). As cfg_load.
 */
struct cfg	*cfg_open(const char *path, char *err, size_t errlen);

/*
 * Every getter first looks for the environment variable
 * INFRPOOL_<SECTION>_<KEY> (upper case), then the file, then uses def.
 * A value that does not parse makes the getter return -1 and records a
 * message naming file, line, section and key (or the variable), kept in
 * cfg_error(); the out value is then def.
 */
const char	*cfg_str(struct cfg *, const char *sect, const char *key,
		    const char *def);
int		 cfg_int(struct cfg *, const char *sect, const char *key,
		    long long def, long long min, long long max, long long *out);
int		 cfg_bool(struct cfg *, const char *sect, const char *key,
		    int def, int *out);
int		 cfg_size(struct cfg *, const char *sect, const char *key,
		    size_t def, size_t min, size_t max, size_t *out);
int		 cfg_octal(struct cfg *, const char *sect, const char *key,
		    long long def, long long max, long long *out);
int		 cfg_seconds(struct cfg *, const char *sect, const char *key,
		    long long def, long long min, long long max, long long *out);

/*
 * A duration as cfg_seconds reads it (def, min and max in seconds), handed
 * back in milliseconds in *out_ms: every timer of the relay and the worker
 * counts in ms.
 */
int		 cfg_ms(struct cfg *, const char *sect, const char *key,
		    long long def, long long min, long long max,
		    long long *out_ms);
/* The first error any getter recorded, or NULL. Owned by the cfg. */
const char	*cfg_error(const struct cfg *);

/* Where a value came from ("file:line" or "environment NAME"), for messages. */
const char	*cfg_where(struct cfg *, const char *sect, const char *key);

/* The path the configuration was read from, or NULL. */
const char	*cfg_path(const struct cfg *);

#endif
