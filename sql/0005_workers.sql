-- 0005_workers.sql: worker nodes: node tokens looked up by their SHA-256, and
-- the live state the relay reports every few seconds (docs/worker-protocol.md
-- §4). The state is a report, not a decision: the relay alone decides which
-- node gets traffic; these columns only feed the supplier's view.

-- One token per worker node; the hash is the lookup key of every worker call.
CREATE UNIQUE INDEX nodes_token ON nodes (node_token_hash)
	WHERE node_token_hash IS NOT NULL;

-- The relay's last report on a node: its round trip to the worker (null
-- until measured; endpoint nodes have none), the requests in flight,
-- whether the circuit breaker has it parked, and when that was said.
ALTER TABLE nodes
	ADD COLUMN last_rtt_ms	integer CHECK (last_rtt_ms >= 0),
	ADD COLUMN inflight	integer CHECK (inflight >= 0),
	ADD COLUMN parked	boolean,
	ADD COLUMN state_at	timestamptz;
