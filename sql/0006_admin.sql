-- 0006_admin.sql: the operator's actions on nodes, and why a node is suspended.

ALTER TABLE nodes
	ADD COLUMN suspended_reason	text
	    CHECK (length(suspended_reason) BETWEEN 1 AND 500),
	ADD COLUMN suspended_at		timestamptz;

-- What an operator did, by whom and why; kept for the record, never edited.
CREATE TABLE admin_actions (
	id		bigserial PRIMARY KEY,
	admin_id	bigint NOT NULL REFERENCES users ON DELETE RESTRICT,
	action		text NOT NULL CHECK (action IN ('node_suspend',
			    'node_unsuspend')),
	node_id		bigint REFERENCES nodes ON DELETE RESTRICT,
	reason		text CHECK (length(reason) BETWEEN 1 AND 500),
	created_at	timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX admin_actions_node ON admin_actions (node_id, id);

-- The days of the dashboards' charts.
CREATE INDEX requests_created ON requests (created_at);
