/* db.h: one PostgreSQL connection per process, statements prepared once */
#ifndef IP_DB_H
#define IP_DB_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

struct arena;

/* Statement flags. */
#define DB_RETRY	0x01	/* read-only: safe to run again after a reconnect */

/*
 * Every statement is a constant: a unique name, SQL text with $1..$n and
 * its parameter count. Each module keeps its statements in one table.
 */
struct db_stmt {
	const char	*name;
	const char	*sql;
	int		 nparams;
	int		 flags;
};

struct db;

/* A handle that connects on first use. Heap-owned: db_free(). */
struct db	*db_new(const char *conninfo);
/* Close the connection and free the handle; NULL is a no-op. */
void		 db_free(struct db *);

/* Connect now if not connected; 0 or -1 (db_error() says why). */
int		 db_connect(struct db *);

/*
 * Run stmt with params (text, NULL for SQL NULL; stmt->nparams of them),
 * preparing it first on this connection if needed. After a lost
 * connection the handle reconnects; a DB_RETRY statement outside a
 * transaction is then run once more. Returns a result with status
 * PGRES_TUPLES_OK or PGRES_COMMAND_OK registered with the arena (freed at
 * its reset), or NULL on error (logged; db_error() and db_sqlstate()).
 */
PGresult	*db_exec(struct db *, struct arena *, const struct db_stmt *,
		    const char *const *params);

/*
 * Transactions; 0 or -1. They nest: inner begin/commit pairs are counted,
 * and a rollback at any depth makes the outermost commit fail. Pair every
 * db_begin() with exactly one db_commit() or db_rollback();
 * db_rollback() is safe after any error.
 */
int		 db_begin(struct db *);
int		 db_commit(struct db *);
void		 db_rollback(struct db *);
/* 1 while a transaction is open on this handle. */
int		 db_in_tx(const struct db *);

/*
 * End a function's transaction level with its result rc: commit when
 * commit is true, else roll back. Returns rc, or error when the commit
 * fails (a callee rolled back, or COMMIT itself failed).
 */
int		 db_finish(struct db *, int rc, int commit, int error);

/* A timestamptz column as SQL text for "2026-01-02T03:04:05Z" in UTC. */
#define DB_TS(col) \
	"to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

/* The last error message (one line) and SQLSTATE ("" when none). */
const char	*db_error(const struct db *);
const char	*db_sqlstate(const struct db *);

/* v as a decimal parameter string, in the arena. */
const char	*db_i64(struct arena *, int64_t v);

/*
 * Arrays as parameter strings in the arena, for statements that take a
 * whole batch at once (unnest): "{1,2,NULL}" from n integers (with
 * db_array_opt, negative ones are NULL) and "{\"a\",NULL}" from n
 * strings (NULL pointers are NULL; quotes and backslashes escaped).
 */
const char	*db_array_i64(struct arena *, const int64_t *v, size_t n);
const char	*db_array_opt(struct arena *, const int64_t *v, size_t n);
const char	*db_array_str(struct arena *, const char *const *v, size_t n);

/* The integer in row r, column c of res (0 for NULL). */
int64_t		 db_int64(const PGresult *, int r, int c);

/* The raw connection for infrpoolctl's migrations, or NULL. */
PGconn		*db_conn(struct db *);

#endif
