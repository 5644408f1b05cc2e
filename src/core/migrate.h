/* migrate.h: apply sql/NNNN_name.sql in order, each once, each in a transaction */
#ifndef IP_MIGRATE_H
#define IP_MIGRATE_H

#include <stddef.h>
#include <stdio.h>

struct db;

struct migration {
	int	 version;
	char	*name;		/* "0001_init.sql" */
	char	 sha256[65];	/* of the file, or of the applied file */
	int	 on_disk;	/* the file exists */
	int	 applied;	/* recorded in schema_migrations */
	int	 changed;	/* applied, but the file differs since */
	char	 applied_at[40];
};

struct migration_list {
	struct migration	*v;
	size_t			 n;
};

/* Free the entries and their names, leaving an empty list (not freed). */
void	migration_list_free(struct migration_list *);

/*
 * Read the migrations directory and the applied set, merged and sorted by
 * version, into list. Returns 0 or -1 with err set (a bad file name, a
 * duplicate version, an unreadable directory, the database).
 */
int	migrate_status(struct db *, const char *dir, struct migration_list *,
	    char *err, size_t errlen);

/*
 * Apply every pending migration in order, each in its own transaction
 * with its record, under an advisory lock so concurrent runs wait; prints
 * one line per applied file to out. Safe to run twice. Returns the number
 * applied, or -1 with err naming the file (and line) that failed.
 */
int	migrate_apply(struct db *, const char *dir, FILE *out, char *err,
	    size_t errlen);

#endif
