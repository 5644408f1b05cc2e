/* health.h: what /healthz reports about the database */
#ifndef IP_HEALTH_H
#define IP_HEALTH_H

struct db;
struct arena;

/*
 * The highest applied migration version in *version (0 when none).
 * Returns 0, or -1 when the database cannot be reached or queried.
 */
int	health_schema_version(struct db *, struct arena *, long long *version);

#endif
