-- 0004_gateway.sql: the gateway's data: supplier nodes, the models each serves at
-- its prices, and one metadata row per inference request (DESIGN.md §2, §4).
-- Prices are BIGINT micro-USD per 1M tokens; amounts are BIGINT micro-USD.
-- No prompt or response content is ever stored.

-- A supplier's node: a worker that dials out to the relay, or a cloud endpoint
-- the relay calls. An endpoint's API token is kept only AES-256-GCM sealed
-- ("v1.<key id>.<base64url>", authenticated with "node:<id>"); a worker's node
-- token only as SHA-256. Soft-deleted nodes stay for the history of requests.
CREATE TABLE nodes (
	id		bigserial PRIMARY KEY,
	user_id		bigint NOT NULL REFERENCES users ON DELETE RESTRICT,
	name		text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
	supply_type	text NOT NULL CHECK (supply_type IN ('self_hosted', 'cloud')),
	connection	text NOT NULL CHECK (connection IN ('worker', 'endpoint')),
	status		text NOT NULL DEFAULT 'active'
			    CHECK (status IN ('active', 'suspended', 'deleted')),
	max_concurrency	integer NOT NULL CHECK (max_concurrency BETWEEN 1 AND 1024),
	context_length	integer NOT NULL CHECK (context_length BETWEEN 1 AND 10000000),
	base_url	text CHECK (length(base_url) BETWEEN 1 AND 500),
	api_token_sealed text,				-- endpoint nodes only; never returned
	node_token_hash	bytea CHECK (length(node_token_hash) = 32),	-- worker nodes (next issue)
	last_seen_at	timestamptz,			-- a worker's last contact (next issue)
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	deleted_at	timestamptz,
	CHECK ((connection = 'endpoint') = (base_url IS NOT NULL)),
	CHECK (connection = 'endpoint' OR api_token_sealed IS NULL),
	CHECK (connection = 'worker' OR node_token_hash IS NULL),
	CHECK ((status = 'deleted') = (deleted_at IS NOT NULL))
);
CREATE INDEX nodes_user ON nodes (user_id, id);

-- The public models a node serves, each with the upstream's own name for it and
-- the supplier's prices. Replaced as a whole when the supplier edits them.
CREATE TABLE node_models (
	node_id		bigint NOT NULL REFERENCES nodes ON DELETE CASCADE,
	model		text NOT NULL CHECK (model ~ '^[A-Za-z0-9._:/-]{1,100}$'),
	upstream_model	text NOT NULL CHECK (length(upstream_model) BETWEEN 1 AND 200),
	price_in	bigint NOT NULL CHECK (price_in BETWEEN 1 AND 1000000000000),
	price_out	bigint NOT NULL CHECK (price_out BETWEEN 1 AND 1000000000000),
	PRIMARY KEY (node_id, model)
);
CREATE INDEX node_models_model ON node_models (model);

-- One row per admitted inference request: made at admission (status
-- 'admitted') and completed once at settlement. The candidates' prices at
-- admission are kept (cand_*, in step) so the serving node is billed at the
-- price the hold was sized for. prompt_tokens and max_tokens are the caps on
-- billed input and output; tokens_in/out are what was billed, reported_* what
-- the upstream said and counted_* what the relay counted.
CREATE TABLE requests (
	id		bigserial PRIMARY KEY,
	task_id		text NOT NULL CHECK (task_id ~ '^t_[0-9A-Za-z]{24}$'),
	hold_id		bigint NOT NULL REFERENCES holds,
	user_id		bigint NOT NULL REFERENCES users ON DELETE RESTRICT,
	api_key_id	bigint REFERENCES api_keys ON DELETE SET NULL,
	model		text NOT NULL,
	endpoint	text NOT NULL CHECK (endpoint IN ('chat', 'completions', 'embeddings')),
	stream		boolean NOT NULL,
	prompt_tokens	bigint NOT NULL CHECK (prompt_tokens >= 0),
	max_tokens	bigint NOT NULL CHECK (max_tokens >= 0),
	client_ip_hash	text,				-- "k<key id>:<hex>", never the address
	cand_nodes	bigint[] NOT NULL,
	cand_price_in	bigint[] NOT NULL,
	cand_price_out	bigint[] NOT NULL,
	status		text NOT NULL DEFAULT 'admitted' CHECK (status IN ('admitted',
			    'ok', 'cancelled', 'failed', 'rejected', 'unserved')),
	node_id		bigint REFERENCES nodes,
	supply_type	text CHECK (supply_type IN ('self_hosted', 'cloud')),
	outcome		text CHECK (outcome IN ('success', 'failure', 'neutral')),
	tokens_in	bigint CHECK (tokens_in >= 0),
	tokens_out	bigint CHECK (tokens_out >= 0),
	reported_in	bigint,
	reported_out	bigint,
	counted_in	bigint,
	counted_out	bigint,
	ttft_ms		bigint,
	duration_ms	bigint,
	cost		bigint CHECK (cost >= 0),
	earning		bigint CHECK (earning >= 0 AND earning <= cost),
	created_at	timestamptz NOT NULL DEFAULT now(),
	finished_at	timestamptz,
	CHECK ((status = 'admitted') = (finished_at IS NULL)),
	CHECK (status = 'admitted' OR (cost IS NOT NULL AND earning IS NOT NULL)),
	CHECK (cardinality(cand_nodes) = cardinality(cand_price_in) AND
	    cardinality(cand_nodes) = cardinality(cand_price_out))
);
CREATE UNIQUE INDEX requests_task ON requests (task_id);
CREATE UNIQUE INDEX requests_hold ON requests (hold_id);
CREATE INDEX requests_user ON requests (user_id, id);
CREATE INDEX requests_node ON requests (node_id, id) WHERE node_id IS NOT NULL;
CREATE INDEX requests_node_time ON requests (node_id, created_at)
	WHERE node_id IS NOT NULL;
