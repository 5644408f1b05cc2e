-- 0001_init.sql: the instance record every later migration can rely on.
-- Migrations run inside a transaction that infrpoolctl opens: no BEGIN/COMMIT here.

CREATE TABLE instance (
	id		boolean PRIMARY KEY DEFAULT true CHECK (id),
	created_at	timestamptz NOT NULL DEFAULT now()
);

INSERT INTO instance DEFAULT VALUES;
