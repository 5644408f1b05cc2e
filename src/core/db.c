/* db.c: one PostgreSQL connection per process, statements prepared once */
#include "config.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "db.h"
#include "log.h"
#include "str.h"

#define DB_SLOTS	512	/* prepared-statement set; a power of two */

struct db {
	char			*conninfo;
	PGconn			*conn;
	int			 in_tx;		/* nesting depth of db_begin() */
	int			 tx_failed;	/* an inner level rolled back */
	const struct db_stmt	*prepared[DB_SLOTS];
	size_t			 nprepared;
	char			 error[256];
	char			 sqlstate[6];
};

struct db *
db_new(const char *conninfo)
{
	struct db	*db;

	if ((db = calloc(1, sizeof(*db))) == NULL ||
	    (db->conninfo = strdup(conninfo)) == NULL)
		abort();
	return db;
}

void
db_free(struct db *db)
{
	if (db == NULL)
		return;
	if (db->conn != NULL)
		PQfinish(db->conn);
	free(db->conninfo);
	free(db);
}

const char *
db_i64(struct arena *a, int64_t v)
{
	return arena_printf(a, "%" PRId64, v);
}

/* n integers as an array literal; opt: negative ones are NULL. */
static const char *
array_i64(struct arena *a, const int64_t *v, size_t n, int opt)
{
	struct str	 s = STR_INIT;
	const char	*out;
	size_t		 i;

	str_putc(&s, '{');
	for (i = 0; i < n; i++)
		if (opt && v[i] < 0)
			str_printf(&s, "%sNULL", i > 0 ? "," : "");
		else
			str_printf(&s, "%s%" PRId64, i > 0 ? "," : "", v[i]);
	str_putc(&s, '}');
	out = arena_strdup(a, str_cstr(&s));
	str_free(&s);
	return out;
}

const char *
db_array_i64(struct arena *a, const int64_t *v, size_t n)
{
	return array_i64(a, v, n, 0);
}

const char *
db_array_opt(struct arena *a, const int64_t *v, size_t n)
{
	return array_i64(a, v, n, 1);
}

/* n strings as a text[] literal, each quoted, NULL pointers as NULL. */
const char *
db_array_str(struct arena *a, const char *const *v, size_t n)
{
	struct str	 s = STR_INIT;
	const char	*out, *p;
	size_t		 i;

	str_putc(&s, '{');
	for (i = 0; i < n; i++) {
		if (i > 0)
			str_putc(&s, ',');
		if (v[i] == NULL) {
			str_puts(&s, "NULL");
			continue;
		}
		str_putc(&s, '"');
		for (p = v[i]; *p != '\0'; p++) {
			if (*p == '"' || *p == '\\')
				str_putc(&s, '\\');
			str_putc(&s, *p);
		}
		str_putc(&s, '"');
	}
	str_putc(&s, '}');
	out = arena_strdup(a, str_cstr(&s));
	str_free(&s);
	return out;
}

int64_t
db_int64(const PGresult *res, int r, int c)
{
	return strtoll(PQgetvalue(res, r, c), NULL, 10);
}

PGconn *
db_conn(struct db *db)
{
	return db->conn;
}

const char *
db_error(const struct db *db)
{
	return db->error;
}

const char *
db_sqlstate(const struct db *db)
{
	return db->sqlstate;
}

/* Keep the first line of msg as the handle's error. */
static void
set_error(struct db *db, const char *msg, const char *state)
{
	size_t	n = strcspn(msg, "\n");

	if (n >= sizeof(db->error))
		n = sizeof(db->error) - 1;
	memcpy(db->error, msg, n);
	db->error[n] = '\0';
	snprintf(db->sqlstate, sizeof(db->sqlstate), "%s", state ? state : "");
}

/* Forget every prepared statement: they died with the connection. */
static void
forget_prepared(struct db *db)
{
	memset(db->prepared, 0, sizeof(db->prepared));
	db->nprepared = 0;
	/* A transaction open on the old connection is gone with it. */
	if (db->in_tx > 0)
		db->tx_failed = 1;
}

/* Server notices ("relation already exists, skipping") go to the debug log. */
static void
on_notice(void *arg, const char *msg)
{
	log_debug("database notice: %.*s", (int)strcspn(msg, "\n"), msg);
}

int
db_connect(struct db *db)
{
	if (db->conn != NULL && PQstatus(db->conn) == CONNECTION_OK)
		return 0;
	if (db->conn != NULL)
		PQfinish(db->conn);
	static const char *const keys[] = { "connect_timeout", "dbname", NULL };
	const char	*vals[] = { "5", db->conninfo, NULL };

	forget_prepared(db);
	/* A default connect timeout, which the operator's string may override. */
	db->conn = PQconnectdbParams(keys, vals, 1);
	if (PQstatus(db->conn) != CONNECTION_OK) {
		set_error(db, PQerrorMessage(db->conn), "08006");
		log_warn("database connect failed: %s", db->error);
		PQfinish(db->conn);
		db->conn = NULL;
		return -1;
	}
	PQsetNoticeProcessor(db->conn, on_notice, NULL);
	return 0;
}

/* The slot for stmt in the prepared set (found or empty). */
static size_t
slot_of(const struct db *db, const struct db_stmt *stmt)
{
	size_t	i = ((uintptr_t)stmt >> 4) & (DB_SLOTS - 1);

	while (db->prepared[i] != NULL && db->prepared[i] != stmt)
		i = (i + 1) & (DB_SLOTS - 1);
	return i;
}

/* Prepare stmt on this connection once; 0 or -1. */
static int
prepare(struct db *db, const struct db_stmt *stmt)
{
	size_t		 i = slot_of(db, stmt);
	PGresult	*res;
	int		 ok;

	if (db->prepared[i] != NULL)
		return 0;
	if (db->nprepared >= DB_SLOTS / 2)
		abort();	/* more statements than the set was sized for */
	res = PQprepare(db->conn, stmt->name, stmt->sql, stmt->nparams, NULL);
	ok = PQresultStatus(res) == PGRES_COMMAND_OK;
	if (!ok) {
		set_error(db, PQresultErrorMessage(res),
		    PQresultErrorField(res, PG_DIAG_SQLSTATE));
		log_error("prepare %s failed: %s", stmt->name, db->error);
	} else {
		db->prepared[i] = stmt;
		db->nprepared++;
	}
	PQclear(res);
	return ok ? 0 : -1;
}

/* One attempt: prepare and execute. Returns the result or NULL. */
static PGresult *
exec_once(struct db *db, const struct db_stmt *stmt, const char *const *params)
{
	PGresult	*res;
	ExecStatusType	 st;

	if (db_connect(db) == -1 || prepare(db, stmt) == -1)
		return NULL;
	res = PQexecPrepared(db->conn, stmt->name, stmt->nparams, params,
	    NULL, NULL, 0);
	st = PQresultStatus(res);
	if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
		return res;
	set_error(db, res ? PQresultErrorMessage(res) : PQerrorMessage(db->conn),
	    res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL);
	/*
	 * No SQLSTATE means libpq made the error itself: the connection broke
	 * (it may not say CONNECTION_BAD until the next call).
	 */
	if (db->sqlstate[0] == '\0')
		snprintf(db->sqlstate, sizeof(db->sqlstate), "08006");
	PQclear(res);
	return NULL;
}

/*
 * True when the connection is gone: libpq says so, or the server said it
 * is ending the session (class 08, connection exception; 57P01-57P03,
 * administrator shutdown, crash shutdown, cannot connect now).
 */
static int
lost(const struct db *db)
{
	return db->conn == NULL || PQstatus(db->conn) == CONNECTION_BAD ||
	    strncmp(db->sqlstate, "08", 2) == 0 ||
	    strncmp(db->sqlstate, "57P0", 4) == 0;
}

PGresult *
db_exec(struct db *db, struct arena *a, const struct db_stmt *stmt,
    const char *const *params)
{
	PGresult	*res;
	int		 was_tx = db->in_tx;

	if (db->in_tx > 0 && db->tx_failed) {
		/* Never run the rest of a broken transaction in autocommit. */
		set_error(db, "current transaction is aborted", "25P02");
		return NULL;
	}
	res = exec_once(db, stmt, params);
	if (res == NULL && db->conn != NULL && lost(db)) {
		log_warn("database connection lost: %s", db->error);
		PQfinish(db->conn);
		db->conn = NULL;
		forget_prepared(db);
		if ((stmt->flags & DB_RETRY) && !was_tx)
			res = exec_once(db, stmt, params);
	}
	if (res == NULL) {
		/* Data exceptions (class 22) quote the offending value: not logged. */
		log_error("statement %s failed: sqlstate=%s %s", stmt->name,
		    db->sqlstate, strncmp(db->sqlstate, "22", 2) == 0 ?
		    "(message withheld: it may quote request data)" : db->error);
		return NULL;
	}
	arena_defer(a, (void (*)(void *))PQclear, res);
	return res;
}

/* Run a transaction-control command (a constant); 0 or -1. */
static int
tx_command(struct db *db, const char *sql)
{
	PGresult	*res;
	int		 ok;

	if (db_connect(db) == -1)
		return -1;
	res = PQexecParams(db->conn, sql, 0, NULL, NULL, NULL, NULL, 0);
	ok = PQresultStatus(res) == PGRES_COMMAND_OK;
	if (!ok)
		set_error(db, PQresultErrorMessage(res),
		    PQresultErrorField(res, PG_DIAG_SQLSTATE));
	else if (strcmp(sql, "COMMIT") == 0 &&
	    strcmp(PQcmdStatus(res), "COMMIT") != 0) {
		/* A failed transaction answers COMMIT with ROLLBACK. */
		set_error(db, "transaction was rolled back", "25P02");
		ok = 0;
	}
	PQclear(res);
	return ok ? 0 : -1;
}

/*
 * Transactions nest: only the outermost db_begin() sends BEGIN and only
 * the outermost db_commit() sends COMMIT, so core functions can open
 * their own transaction and still compose inside a caller's. A rollback
 * at any depth dooms the whole transaction: the outer commit then fails.
 */
int
db_begin(struct db *db)
{
	if (db->in_tx > 0) {
		db->in_tx++;
		return 0;
	}
	if (tx_command(db, "BEGIN") == -1)
		return -1;
	db->in_tx = 1;
	db->tx_failed = 0;
	return 0;
}

int
db_commit(struct db *db)
{
	int	rc;

	if (db->in_tx > 1) {
		db->in_tx--;
		return db->tx_failed ? -1 : 0;
	}
	if (db->tx_failed) {
		db_rollback(db);
		set_error(db, "transaction was rolled back", "25P02");
		return -1;
	}
	rc = tx_command(db, "COMMIT");
	db->in_tx = 0;
	return rc;
}

void
db_rollback(struct db *db)
{
	if (db->in_tx > 1) {
		db->in_tx--;
		db->tx_failed = 1;
		return;
	}
	if (db->conn != NULL && PQstatus(db->conn) == CONNECTION_OK &&
	    PQtransactionStatus(db->conn) != PQTRANS_IDLE)
		(void)tx_command(db, "ROLLBACK");
	db->in_tx = 0;
	db->tx_failed = 0;
}

int
db_finish(struct db *db, int rc, int commit, int error)
{
	if (!commit) {
		db_rollback(db);
		return rc;
	}
	return db_commit(db) == -1 ? error : rc;
}

int
db_in_tx(const struct db *db)
{
	return db->in_tx > 0;
}
