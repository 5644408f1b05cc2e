-- 0007_node_outcomes.sql: each node's successes and failures per UTC day.
-- Admission scores a node's health over the last 14 days; counting its
-- requests for that on every admit grew with the node's traffic (a busy
-- node's admit took milliseconds after a few thousand requests). Settlement
-- adds to today's row instead, and admission reads at most 14 rows a node.

CREATE TABLE node_outcomes (
	node_id	bigint NOT NULL REFERENCES nodes,
	day	date NOT NULL,				-- UTC
	ok	bigint NOT NULL DEFAULT 0 CHECK (ok >= 0),
	bad	bigint NOT NULL DEFAULT 0 CHECK (bad >= 0),
	PRIMARY KEY (node_id, day)
);

-- What settled requests said so far.
INSERT INTO node_outcomes (node_id, day, ok, bad)
SELECT node_id, (created_at AT TIME ZONE 'UTC')::date,
	count(*) FILTER (WHERE outcome = 'success'),
	count(*) FILTER (WHERE outcome = 'failure')
FROM requests
WHERE node_id IS NOT NULL AND outcome IN ('success', 'failure')
GROUP BY 1, 2;
