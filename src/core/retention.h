/* retention.h: the retention jobs: IP hashes, the IP key, log files, exports */
#ifndef IP_RETENTION_H
#define IP_RETENTION_H

struct job_ctx;

/*
 * Each is a job of jobs.c's table: it reads time only from the job's
 * clock, puts what it did into x->counts and returns 0, or -1 (with
 * x->message when the database is not why).
 */

/* ip-hashes-prune: null hashed IP addresses older than [retention] ip_hashes. */
int	retention_ip_hashes_prune(struct job_ctx *x);
/*
 * ip-key-rotate: a new IP key once the current one is [retention]
 * ip_key_rotation old; retired keys deleted once no hash names them.
 */
int	retention_ip_key_rotate(struct job_ctx *x);
/* logs-prune: delete daily [log] files older than [retention] logs. */
int	retention_logs_prune(struct job_ctx *x);
/* exports-prune: delete prepared exports whose link has expired. */
int	retention_exports_prune(struct job_ctx *x);

#endif
