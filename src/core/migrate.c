/* migrate.c: apply sql/NNNN_name.sql in order, each once, each in a transaction */
#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "crypto.h"
#include "db.h"
#include "migrate.h"
#include "util.h"

#define MIGRATE_LOCK	"7361820194"	/* advisory lock key for migrations */
#define MIGRATE_MAX	(4 * 1024 * 1024)

static const struct db_stmt q_create = {
	"migrate_create",
	"CREATE TABLE IF NOT EXISTS schema_migrations ("
	" version integer PRIMARY KEY,"
	" name text NOT NULL,"
	" checksum text NOT NULL,"
	" applied_at timestamptz NOT NULL DEFAULT now())",
	0, 0
};
static const struct db_stmt q_exists = {
	"migrate_exists",
	"SELECT to_regclass('schema_migrations') IS NOT NULL", 0, DB_RETRY
};
static const struct db_stmt q_lock = {
	"migrate_lock", "SELECT pg_advisory_lock($1::bigint)", 1, 0
};
static const struct db_stmt q_unlock = {
	"migrate_unlock", "SELECT pg_advisory_unlock($1::bigint)", 1, 0
};
static const struct db_stmt q_applied = {
	"migrate_applied",
	"SELECT version, name, checksum,"
	" to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
	" FROM schema_migrations ORDER BY version",
	0, DB_RETRY
};
static const struct db_stmt q_is_applied = {
	"migrate_is_applied",
	"SELECT 1 FROM schema_migrations WHERE version = $1", 1, 0
};
static const struct db_stmt q_record = {
	"migrate_record",
	"INSERT INTO schema_migrations (version, name, checksum)"
	" VALUES ($1, $2, $3)", 3, 0
};

void
migration_list_free(struct migration_list *l)
{
	size_t	i;

	for (i = 0; i < l->n; i++)
		free(l->v[i].name);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* The entry for version, added if new. */
static struct migration *
entry(struct migration_list *l, int version, const char *name)
{
	size_t	i;

	for (i = 0; i < l->n; i++)
		if (l->v[i].version == version)
			return &l->v[i];
	if ((l->v = realloc(l->v, (l->n + 1) * sizeof(*l->v))) == NULL)
		abort();
	memset(&l->v[l->n], 0, sizeof(l->v[0]));
	l->v[l->n].version = version;
	if ((l->v[l->n].name = strdup(name)) == NULL)
		abort();
	return &l->v[l->n++];
}

/* Version number of "NNNN_name.sql", or -1 when the name is not of that form. */
static int
file_version(const char *name)
{
	size_t	n = strlen(name), i;

	if (n < 10 || strcmp(name + n - 4, ".sql") != 0 || name[4] != '_')
		return -1;
	for (i = 0; i < 4; i++)
		if (!isdigit((unsigned char)name[i]))
			return -1;
	for (i = 5; i < n - 4; i++)
		if (!islower((unsigned char)name[i]) &&
		    !isdigit((unsigned char)name[i]) && name[i] != '_')
			return -1;
	return atoi(name);
}

/* SHA-256 of dir/name into hex; returns the contents (caller frees) or NULL. */
static char *
read_migration(const char *dir, const char *name, char hex[65], char *err,
    size_t errlen)
{
	char	 path[4096], *text;
	size_t	 len;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((text = util_read_file(path, MIGRATE_MAX, &len)) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	crypto_sha256_hex(text, len, hex);
	return text;
}

/* Add every migration file in dir to l; 0 or -1. */
static int
scan_dir(const char *dir, struct migration_list *l, char *err, size_t errlen)
{
	DIR		 *d;
	struct dirent	 *de;
	struct migration *m;
	char		 *text;
	int		  v, rc = 0;

	if ((d = opendir(dir)) == NULL) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	while (rc == 0 && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if ((v = file_version(de->d_name)) < 0) {
			snprintf(err, errlen, "%s/%s: not of the form NNNN_name.sql",
			    dir, de->d_name);
			rc = -1;
		} else if ((m = entry(l, v, de->d_name))->on_disk) {
			snprintf(err, errlen, "%s: version %04d appears twice",
			    dir, v);
			rc = -1;
		} else if ((text = read_migration(dir, de->d_name, m->sha256,
		    err, errlen)) == NULL)
			rc = -1;
		else {
			free(text);
			m->on_disk = 1;
		}
	}
	closedir(d);
	return rc;
}

/* Merge the applied rows into l; 0 or -1. */
static int
scan_db(struct db *db, struct arena *a, struct migration_list *l, char *err,
    size_t errlen)
{
	PGresult		*res;
	struct migration	*m;
	int			 i;

	if ((res = db_exec(db, a, &q_exists, NULL)) == NULL) {
		snprintf(err, errlen, "database: %s", db_error(db));
		return -1;
	}
	if (strcmp(PQgetvalue(res, 0, 0), "t") != 0)
		return 0;	/* nothing applied yet */
	if ((res = db_exec(db, a, &q_applied, NULL)) == NULL) {
		snprintf(err, errlen, "database: %s", db_error(db));
		return -1;
	}
	for (i = 0; i < PQntuples(res); i++) {
		m = entry(l, atoi(PQgetvalue(res, i, 0)), PQgetvalue(res, i, 1));
		m->applied = 1;
		m->changed = m->on_disk &&
		    strcmp(m->sha256, PQgetvalue(res, i, 2)) != 0;
		if (!m->on_disk)
			snprintf(m->sha256, sizeof(m->sha256), "%s",
			    PQgetvalue(res, i, 2));
		snprintf(m->applied_at, sizeof(m->applied_at), "%s",
		    PQgetvalue(res, i, 3));
	}
	return 0;
}

static int
by_version(const void *a, const void *b)
{
	const struct migration	*x = a, *y = b;

	return (x->version > y->version) - (x->version < y->version);
}

int
migrate_status(struct db *db, const char *dir, struct migration_list *l,
    char *err, size_t errlen)
{
	struct arena	*a = arena_new();
	int		 rc;

	l->v = NULL;
	l->n = 0;
	rc = scan_dir(dir, l, err, errlen);
	if (rc == 0)
		rc = scan_db(db, a, l, err, errlen);
	arena_free(a);
	if (rc == -1) {
		migration_list_free(l);
		return -1;
	}
	qsort(l->v, l->n, sizeof(*l->v), by_version);
	return 0;
}

/*
 * The 1-based line of character position pos (1-based, in characters as
 * PostgreSQL counts them, so UTF-8 continuation bytes do not count).
 */
static int
line_of(const char *text, long pos)
{
	int	line = 1;
	long	chars = 0;

	for (; *text != '\0' && chars < pos - 1; text++) {
		if (((unsigned char)*text & 0xc0) != 0x80)
			chars++;
		if (*text == '\n')
			line++;
	}
	return line;
}

/*
 * Run a migration's script. A script is many statements, which only the
 * simple query protocol accepts: PQexec is right here, and only here. The
 * text is a file the operator installed, never request data.
 */
static int
run_script(struct db *db, const char *name, const char *text, char *err,
    size_t errlen)
{
	PGresult	*res = PQexec(db_conn(db), text);
	const char	*pos;
	int		 ok = PQresultStatus(res) == PGRES_COMMAND_OK ||
			    PQresultStatus(res) == PGRES_TUPLES_OK;

	if (!ok) {
		pos = PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION);
		snprintf(err, errlen, "%s:%d: %.*s", name,
		    pos ? line_of(text, atol(pos)) : 0,
		    (int)strcspn(PQresultErrorMessage(res), "\n"),
		    PQresultErrorMessage(res));
	}
	PQclear(res);
	return ok ? 0 : -1;
}

/* Apply one pending migration in a transaction; 1 applied, 0 already, -1. */
static int
apply_one(struct db *db, struct arena *a, const char *dir,
    const struct migration *m, char *err, size_t errlen)
{
	char		 hex[65], ver[16], *text;
	const char	*p[3];
	PGresult	*res;

	if ((text = read_migration(dir, m->name, hex, err, errlen)) == NULL)
		return -1;
	snprintf(ver, sizeof(ver), "%d", m->version);
	p[0] = ver;
	p[1] = m->name;
	p[2] = hex;
	if (db_begin(db) == -1 ||
	    (res = db_exec(db, a, &q_is_applied, p)) == NULL)
		goto dberr;
	if (PQntuples(res) > 0) {
		db_rollback(db);
		free(text);
		return 0;
	}
	if (run_script(db, m->name, text, err, errlen) == -1) {
		db_rollback(db);
		free(text);
		return -1;
	}
	if (db_exec(db, a, &q_record, p) == NULL || db_commit(db) == -1)
		goto dberr;
	free(text);
	return 1;
dberr:
	snprintf(err, errlen, "%s: %s", m->name, db_error(db));
	db_rollback(db);
	free(text);
	return -1;
}

int
migrate_apply(struct db *db, const char *dir, FILE *out, char *err,
    size_t errlen)
{
	static const char *const key[] = { MIGRATE_LOCK };
	struct migration_list	 l;
	struct arena		*a = arena_new();
	size_t			 i;
	int			 r, n = 0;

	/* The lock first: two first runs must not race to create the table. */
	if (db_connect(db) == -1 || db_exec(db, a, &q_lock, key) == NULL ||
	    db_exec(db, a, &q_create, NULL) == NULL) {
		snprintf(err, errlen, "database: %s", db_error(db));
		arena_free(a);
		return -1;
	}
	if (migrate_status(db, dir, &l, err, errlen) == -1)
		n = -1;
	for (i = 0; n >= 0 && i < l.n; i++) {
		if (l.v[i].applied || !l.v[i].on_disk)
			continue;
		if ((r = apply_one(db, a, dir, &l.v[i], err, errlen)) == -1)
			n = -1;
		else if (r == 1) {
			n++;
			fprintf(out, "applied %s\n", l.v[i].name);
		}
	}
	(void)db_exec(db, a, &q_unlock, key);
	migration_list_free(&l);
	arena_free(a);
	return n;
}
