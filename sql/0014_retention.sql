-- 0014_retention.sql: the rows that still hold a hashed IP address, by age,
-- for the retention jobs: ip-hashes-prune nulls those older than 90 days
-- every day, and ip-key-rotate looks for the hashes a retired key made
-- before deleting it. Partial indexes: once nulled, a row leaves them, so
-- each run reads about 90 days of rows, not the whole history.
CREATE INDEX requests_ip_hashed ON requests (created_at)
	WHERE client_ip_hash IS NOT NULL;
CREATE INDEX users_ip_hashed ON users (created_at)
	WHERE signup_ip_hash IS NOT NULL;
