-- 0009_changes.sql: the change feed the relay polls (/internal/changes) so
-- that its caches (leases per key, candidates per model, worker tokens)
-- learn within a poll that a key was revoked, an account changed, a node
-- changed or a price moved. Filled by triggers, so no code path can forget.
--
-- Writers of the feed take one transaction-level advisory lock before their
-- row, so rows become visible in seq order: a reader that has seen seq N
-- never later finds a smaller one committed. The writes are rare (keys
-- revoked, nodes and prices edited; the relay's frequent reports on nodes
-- touch none of the watched columns).

CREATE TABLE changes (
	seq	bigserial PRIMARY KEY,
	kind	text NOT NULL CHECK (kind IN ('key', 'user', 'node', 'model')),
	ref	bigint,			-- the key, user or node id
	model	text,			-- the model id, for 'model'
	at	timestamptz NOT NULL DEFAULT now(),
	CHECK ((kind = 'model') = (model IS NOT NULL)),
	CHECK ((kind = 'model') = (ref IS NULL))
);
CREATE INDEX changes_at ON changes (at);

-- The highest seq pruned so far: a reader behind it missed rows (reset).
CREATE TABLE changes_pruned (
	id	boolean PRIMARY KEY DEFAULT true CHECK (id),
	seq	bigint NOT NULL DEFAULT 0
);
INSERT INTO changes_pruned DEFAULT VALUES;

-- Add a row to the feed, in seq order (see above).
CREATE FUNCTION changes_add(k text, r bigint, m text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_advisory_xact_lock(27980790367741299);	-- 'changes'
	INSERT INTO changes (kind, ref, model) VALUES (k, r, m);
END
$$;

-- api_keys: revoked, expiry moved, or deleted.
CREATE FUNCTION changes_key() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM changes_add('key', OLD.id, NULL);
	RETURN NULL;
END
$$;
CREATE TRIGGER api_keys_changes AFTER UPDATE OF revoked_at, expires_at
	ON api_keys FOR EACH ROW
	WHEN (OLD.revoked_at IS DISTINCT FROM NEW.revoked_at OR
	    OLD.expires_at IS DISTINCT FROM NEW.expires_at)
	EXECUTE FUNCTION changes_key();
CREATE TRIGGER api_keys_deleted AFTER DELETE ON api_keys
	FOR EACH ROW EXECUTE FUNCTION changes_key();

-- users: an account's standing (its role) changed, or it is deleted.
CREATE FUNCTION changes_user() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM changes_add('user', OLD.id, NULL);
	RETURN NULL;
END
$$;
CREATE TRIGGER users_changes AFTER UPDATE OF role ON users FOR EACH ROW
	WHEN (OLD.role IS DISTINCT FROM NEW.role)
	EXECUTE FUNCTION changes_user();
CREATE TRIGGER users_deleted AFTER DELETE ON users
	FOR EACH ROW EXECUTE FUNCTION changes_user();

-- nodes: whatever decides whether and how the relay calls a node; the
-- node's models change with it (their candidate lists).
CREATE FUNCTION changes_node() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	m text;
BEGIN
	PERFORM changes_add('node', OLD.id, NULL);
	FOR m IN SELECT model FROM node_models WHERE node_id = OLD.id LOOP
		PERFORM changes_add('model', NULL, m);
	END LOOP;
	RETURN NULL;
END
$$;
CREATE TRIGGER nodes_changes AFTER UPDATE ON nodes FOR EACH ROW
	WHEN ((OLD.status, OLD.base_url, OLD.api_token_sealed, OLD.connection,
	    OLD.max_concurrency, OLD.node_token_hash, OLD.deleted_at)
	    IS DISTINCT FROM (NEW.status, NEW.base_url, NEW.api_token_sealed,
	    NEW.connection, NEW.max_concurrency, NEW.node_token_hash,
	    NEW.deleted_at))
	EXECUTE FUNCTION changes_node();
CREATE TRIGGER nodes_deleted AFTER DELETE ON nodes
	FOR EACH ROW EXECUTE FUNCTION changes_node();

-- node_models: a model served, no longer served, or repriced.
CREATE FUNCTION changes_model() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP <> 'INSERT' THEN
		PERFORM changes_add('model', NULL, OLD.model);
	END IF;
	IF TG_OP <> 'DELETE' AND (TG_OP = 'INSERT' OR NEW.model <> OLD.model)
	THEN
		PERFORM changes_add('model', NULL, NEW.model);
	END IF;
	RETURN NULL;
END
$$;
CREATE TRIGGER node_models_changes AFTER INSERT OR DELETE ON node_models
	FOR EACH ROW EXECUTE FUNCTION changes_model();
CREATE TRIGGER node_models_updated AFTER UPDATE ON node_models FOR EACH ROW
	WHEN ((OLD.model, OLD.upstream_model, OLD.price_in, OLD.price_out)
	    IS DISTINCT FROM (NEW.model, NEW.upstream_model, NEW.price_in,
	    NEW.price_out))
	EXECUTE FUNCTION changes_model();
