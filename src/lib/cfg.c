/* cfg.c: INI-style configuration with environment overrides and typed getters */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg.h"
#include "str.h"
#include "util.h"

struct cfg_entry {
	char	*sect;
	char	*key;
	char	*value;
	int	 line;
};

struct cfg {
	char			*path;
	struct cfg_entry	*v;
	size_t			 n, cap;
	char			*error;		/* first getter error */
	char			 where[256];	/* scratch for cfg_where() */
	char			 env[128];	/* scratch for env names */
};

/* A section or key name: lower-case letters, digits, '_' and '.'. */
static int
valid_name(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if (!islower((unsigned char)*s) && !isdigit((unsigned char)*s) &&
		    *s != '_' && *s != '.')
			return 0;
	return 1;
}

/* Find an entry read from the file, or NULL. */
static struct cfg_entry *
find(struct cfg *c, const char *sect, const char *key)
{
	size_t	i;

	for (i = 0; i < c->n; i++)
		if (strcmp(c->v[i].sect, sect) == 0 &&
		    strcmp(c->v[i].key, key) == 0)
			return &c->v[i];
	return NULL;
}

/* Append an entry; aborts on OOM. */
static void
add(struct cfg *c, const char *sect, const char *key, const char *value,
    int line)
{
	struct cfg_entry	*e;

	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 32;
		if ((c->v = realloc(c->v, c->cap * sizeof(*c->v))) == NULL)
			abort();
	}
	e = &c->v[c->n++];
	if ((e->sect = strdup(sect)) == NULL || (e->key = strdup(key)) == NULL ||
	    (e->value = strdup(value)) == NULL)
		abort();
	e->line = line;
}

/* Parse one non-comment line; returns NULL or a static error message. */
static const char *
parse_line(struct cfg *c, char *line, char *sect, size_t sectlen, int lineno)
{
	char	*eq, *key, *val, *end;
	size_t	 n;

	if (*line == '[') {
		if ((end = strchr(line, ']')) == NULL || end[1] != '\0')
			return "expected '[section]'";
		*end = '\0';
		line = util_trim(line + 1);
		if (!valid_name(line) || strlen(line) >= sectlen)
			return "bad section name";
		snprintf(sect, sectlen, "%s", line);
		return NULL;
	}
	if ((eq = strchr(line, '=')) == NULL)
		return "expected 'key = value'";
	*eq = '\0';
	key = util_trim(line);
	val = util_trim(eq + 1);
	if (*sect == '\0')
		return "key outside any [section]";
	if (!valid_name(key))
		return "bad key name";
	n = strlen(val);
	if (n >= 2 && val[0] == '"' && val[n - 1] == '"') {
		val[n - 1] = '\0';
		val++;
	}
	if (find(c, sect, key) != NULL)
		return "duplicate key";
	add(c, sect, key, val, lineno);
	return NULL;
}

/* Read every line of f into c; returns -1 with err set. */
static int
parse_file(struct cfg *c, FILE *f, char *err, size_t errlen)
{
	char		 sect[64] = "";
	char		*line = NULL, *s;
	size_t		 cap = 0;
	ssize_t		 len;
	const char	*msg;
	int		 lineno = 0, rc = 0;

	while ((len = getline(&line, &cap, f)) != -1) {
		lineno++;
		if (memchr(line, '\0', (size_t)len) != NULL) {
			snprintf(err, errlen, "%s:%d: NUL byte", c->path, lineno);
			rc = -1;
			break;
		}
		s = util_trim(line);
		if (*s == '\0' || *s == '#' || *s == ';')
			continue;
		if ((msg = parse_line(c, s, sect, sizeof(sect), lineno)) != NULL) {
			snprintf(err, errlen, "%s:%d: %s", c->path, lineno, msg);
			rc = -1;
			break;
		}
	}
	free(line);
	return rc;
}

struct cfg *
cfg_load(const char *path, char *err, size_t errlen)
{
	struct cfg	*c;
	FILE		*f;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		abort();
	if (path == NULL)
		return c;
	if ((c->path = strdup(path)) == NULL)
		abort();
	if ((f = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		cfg_free(c);
		return NULL;
	}
	if (parse_file(c, f, err, errlen) == -1) {
		fclose(f);
		cfg_free(c);
		return NULL;
	}
	fclose(f);
	return c;
}

struct cfg *
cfg_open(const char *path, char *err, size_t errlen)
{
	if (path == NULL && ((path = getenv("INFRPOOL_CONFIG")) == NULL ||
	    *path == '\0')) {	/* empty is as unset */
		path = IP_SYSCONFDIR "/infrpool.conf";
		if (access(path, F_OK) == -1)
			path = NULL;
	}
	return cfg_load(path, err, errlen);
}

void
cfg_free(struct cfg *c)
{
	size_t	i;

	if (c == NULL)
		return;
	for (i = 0; i < c->n; i++) {
		free(c->v[i].sect);
		free(c->v[i].key);
		free(c->v[i].value);
	}
	free(c->v);
	free(c->path);
	free(c->error);
	free(c);
}

/* The environment variable name for sect.key, in c->env. */
static const char *
env_name(struct cfg *c, const char *sect, const char *key)
{
	char	*p;

	snprintf(c->env, sizeof(c->env), "INFRPOOL_%s_%s", sect, key);
	for (p = c->env; *p != '\0'; p++)
		*p = *p == '.' ? '_' : (char)toupper((unsigned char)*p);
	return c->env;
}

/* The raw value of sect.key (environment first), or NULL. */
static const char *
lookup(struct cfg *c, const char *sect, const char *key)
{
	struct cfg_entry	*e;
	const char		*v;

	if ((v = getenv(env_name(c, sect, key))) != NULL)
		return v;
	return (e = find(c, sect, key)) != NULL ? e->value : NULL;
}

const char *
cfg_where(struct cfg *c, const char *sect, const char *key)
{
	struct cfg_entry	*e;
	const char		*env = env_name(c, sect, key);

	if (getenv(env) != NULL)
		snprintf(c->where, sizeof(c->where), "environment %s", env);
	else if ((e = find(c, sect, key)) != NULL)
		snprintf(c->where, sizeof(c->where), "%s:%d", c->path, e->line);
	else
		snprintf(c->where, sizeof(c->where), "default");
	return c->where;
}

/* Record the first error: "where: [sect] key: what (got 'value')". */
static int
fail(struct cfg *c, const char *sect, const char *key, const char *what,
    const char *value)
{
	struct str	s = STR_INIT;

	if (c->error != NULL)
		return -1;
	str_printf(&s, "%s: [%s] %s: %s (got '%.64s')",
	    cfg_where(c, sect, key), sect, key, what, value);
	c->error = str_steal(&s);
	return -1;
}

const char *
cfg_error(const struct cfg *c)
{
	return c->error;
}

const char *
cfg_path(const struct cfg *c)
{
	return c->path;
}

const char *
cfg_str(struct cfg *c, const char *sect, const char *key, const char *def)
{
	const char	*v = lookup(c, sect, key);

	return v != NULL ? v : def;
}

/* Parse a whole decimal integer; returns -1 when s is not one. */
static int
parse_ll(const char *s, long long *out, char **endp)
{
	char	*end;

	errno = 0;
	*out = strtoll(s, &end, 10);
	if (end == s || errno != 0 || isspace((unsigned char)*s))
		return -1;
	*endp = end;
	return 0;
}

int
cfg_int(struct cfg *c, const char *sect, const char *key, long long def,
    long long min, long long max, long long *out)
{
	const char	*v = lookup(c, sect, key);
	char		*end, msg[96];
	long long	 n;

	*out = def;
	if (v == NULL)
		return 0;
	if (parse_ll(v, &n, &end) == -1 || *end != '\0')
		return fail(c, sect, key, "expected an integer", v);
	if (n < min || n > max) {
		snprintf(msg, sizeof(msg), "must be between %lld and %lld",
		    min, max);
		return fail(c, sect, key, msg, v);
	}
	*out = n;
	return 0;
}

/* A file mode or mask such as 0660: octal digits only, at most max. */
int
cfg_octal(struct cfg *c, const char *sect, const char *key, long long def,
    long long max, long long *out)
{
	const char	*v = lookup(c, sect, key), *p;
	long long	 n = 0;

	*out = def;
	if (v == NULL)
		return 0;
	for (p = v; *p >= '0' && *p <= '7' && n <= max; p++)
		n = n * 8 + (*p - '0');
	if (p == v || *p != '\0' || n > max)
		return fail(c, sect, key, "expected an octal mode such as 0660", v);
	*out = n;
	return 0;
}

int
cfg_bool(struct cfg *c, const char *sect, const char *key, int def, int *out)
{
	static const char *const yes[] = { "1", "yes", "true", "on", NULL };
	static const char *const no[] = { "0", "no", "false", "off", NULL };
	const char	*v = lookup(c, sect, key);
	size_t		 i;

	*out = def;
	if (v == NULL)
		return 0;
	for (i = 0; yes[i] != NULL; i++)
		if (strcasecmp(v, yes[i]) == 0)
			return *out = 1, 0;
	for (i = 0; no[i] != NULL; i++)
		if (strcasecmp(v, no[i]) == 0)
			return *out = 0, 0;
	return fail(c, sect, key, "expected yes or no", v);
}

/* Shared by cfg_size and cfg_seconds: a number with one unit suffix. */
static int
cfg_scaled(struct cfg *c, const char *sect, const char *key, long long def,
    long long min, long long max, long long *out, const char *units,
    const long long *mult, const char *what)
{
	const char	*v = lookup(c, sect, key), *u;
	char		*end, msg[96];
	long long	 n, m = 1;

	*out = def;
	if (v == NULL)
		return 0;
	if (parse_ll(v, &n, &end) == -1 || n < 0)
		return fail(c, sect, key, what, v);
	if (*end != '\0') {
		if (end[1] != '\0' || (u = strchr(units, *end)) == NULL)
			return fail(c, sect, key, what, v);
		m = mult[u - units];
	}
	if (n > LLONG_MAX / m)
		return fail(c, sect, key, "too large", v);
	n *= m;
	if (n < min || n > max) {
		snprintf(msg, sizeof(msg), "must be between %lld and %lld",
		    min, max);
		return fail(c, sect, key, msg, v);
	}
	*out = n;
	return 0;
}

int
cfg_size(struct cfg *c, const char *sect, const char *key, size_t def,
    size_t min, size_t max, size_t *out)
{
	static const long long mult[] = { 1024, 1024, 1048576, 1048576,
	    1073741824LL, 1073741824LL };
	long long	n;
	int		rc;

	rc = cfg_scaled(c, sect, key, (long long)def, (long long)min,
	    (long long)max, &n, "kKmMgG", mult,
	    "expected a size such as 4096, 64k or 1m");
	*out = (size_t)n;
	return rc;
}

int
cfg_seconds(struct cfg *c, const char *sect, const char *key, long long def,
    long long min, long long max, long long *out)
{
	static const long long mult[] = { 1, 60, 3600, 86400 };

	return cfg_scaled(c, sect, key, def, min, max, out, "smhd", mult,
	    "expected a duration such as 30, 30s, 15m, 12h or 90d");
}

int
cfg_ms(struct cfg *c, const char *sect, const char *key, long long def,
    long long min, long long max, long long *out_ms)
{
	int	rc = cfg_seconds(c, sect, key, def, min, max, out_ms);

	*out_ms *= 1000;
	return rc;
}
