-- 0013_status.sql: an account's standing reaches the relay's candidate lists.
-- A suspended, banned or deleted account's nodes are not routed (the
-- candidates query joins users), so when the standing changes each of the
-- account's nodes, and the models they serve, go into the change feed as if
-- the node itself had changed.

CREATE OR REPLACE FUNCTION changes_user() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	n bigint;
	m text;
BEGIN
	PERFORM changes_add('user', OLD.id, NULL);
	IF TG_OP = 'UPDATE' AND OLD.status IS DISTINCT FROM NEW.status THEN
		FOR n IN SELECT id FROM nodes WHERE user_id = OLD.id
		    AND status <> 'deleted' LOOP
			PERFORM changes_add('node', n, NULL);
			FOR m IN SELECT model FROM node_models WHERE node_id = n
			LOOP
				PERFORM changes_add('model', NULL, m);
			END LOOP;
		END LOOP;
	END IF;
	RETURN NULL;
END
$$;
