-- 0012_lifecycle.sql: an account's standing and its life: a display name,
-- active / suspended / banned and, after deletion, deleted (anonymized);
-- deletion scheduled 72 hours ahead; sign-in times for wallet expiry; the
-- wallet events the account sees; export documents behind a 24-hour link.
-- docs/privacy.md says what each of these keeps, and for how long.

ALTER TABLE users
	ADD COLUMN display_name	text CHECK (length(display_name) BETWEEN 1 AND 100),
	ADD COLUMN status	text NOT NULL DEFAULT 'active' CHECK (status IN
				    ('active', 'suspended', 'banned', 'deleted')),
	ADD COLUMN status_reason text CHECK (length(status_reason) BETWEEN 1 AND 500),
	ADD COLUMN status_at	timestamptz,
	ADD COLUMN last_login_at timestamptz,
	-- Deletion asked for: carried out (anonymized) at deletion_due_at
	-- unless cancelled before; both NULL when not asked.
	ADD COLUMN deletion_asked_at timestamptz,
	ADD COLUMN deletion_due_at timestamptz,
	ADD COLUMN anonymized_at timestamptz,
	ADD CONSTRAINT users_deletion CHECK
	    ((deletion_asked_at IS NULL) = (deletion_due_at IS NULL)),
	ADD CONSTRAINT users_anonymized CHECK
	    ((status = 'deleted') = (anonymized_at IS NOT NULL));
CREATE INDEX users_deletion_due ON users (deletion_due_at)
	WHERE deletion_due_at IS NOT NULL;

-- The relay's caches learn of a changed standing as of a changed role.
DROP TRIGGER users_changes ON users;
CREATE TRIGGER users_changes AFTER UPDATE OF role, status ON users FOR EACH ROW
	WHEN ((OLD.role, OLD.status) IS DISTINCT FROM (NEW.role, NEW.status))
	EXECUTE FUNCTION changes_user();

-- The operator's actions on accounts, beside those on nodes.
ALTER TABLE admin_actions
	ADD COLUMN user_id bigint REFERENCES users ON DELETE RESTRICT,
	DROP CONSTRAINT admin_actions_action_check,
	ADD CONSTRAINT admin_actions_action_check CHECK (action IN
	    ('node_suspend', 'node_unsuspend', 'user_suspend',
	    'user_unsuspend', 'user_ban')),
	-- infrpoolctl acts as no one in particular
	ALTER COLUMN admin_id DROP NOT NULL;
CREATE INDEX admin_actions_user ON admin_actions (user_id, id)
	WHERE user_id IS NOT NULL;

-- What the account sees happen to its wallet besides requests: the signup
-- grant, an expiry warning, credits expired or forfeited, deletion asked
-- for or cancelled (later: top-ups, refunds, payouts). amount is signed
-- from the account's side, NULL for a notice. Deleted 365 days after the
-- account is anonymized; the transfers they point at stay.
CREATE TABLE wallet_events (
	id		bigserial PRIMARY KEY,
	user_id		bigint NOT NULL REFERENCES users ON DELETE CASCADE,
	kind		text NOT NULL CHECK (kind ~ '^[a-z_]{1,32}$'),
	amount		bigint,
	transfer_id	bigint REFERENCES transfers,
	detail		jsonb NOT NULL DEFAULT '{}',
	created_at	timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX wallet_events_user ON wallet_events (user_id, id);

INSERT INTO wallet_events (user_id, kind, amount, transfer_id, created_at)
SELECT a.user_id, 'signup_grant', t.amount, t.id, t.created_at
FROM transfers t JOIN ledger_accounts a ON a.id = t.credit_account
WHERE t.kind = 'signup' AND a.user_id IS NOT NULL;

-- A prepared export: the JSON document behind a link that works for 24
-- hours for its own account only (the token is kept as SHA-256), then
-- deleted by the exports-prune job.
CREATE TABLE exports (
	id		bigserial PRIMARY KEY,
	user_id		bigint NOT NULL REFERENCES users ON DELETE CASCADE,
	token_hash	bytea NOT NULL CHECK (length(token_hash) = 32),
	document	text NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT now(),
	expires_at	timestamptz NOT NULL
);
CREATE UNIQUE INDEX exports_token ON exports (token_hash);
CREATE INDEX exports_user ON exports (user_id, id);
CREATE INDEX exports_expiry ON exports (expires_at);

-- The last activity of an account, which wallet expiry counts from: its
-- creation, a sign-in, a request it made, or money in or out of its
-- accounts (a request's charge, an earning, a top-up, a payout), but not
-- an expiry or a forfeit itself. Each part is an index lookup.
CREATE FUNCTION user_last_activity(uid bigint) RETURNS timestamptz
LANGUAGE sql STABLE AS $$
	SELECT greatest(u.created_at, u.last_login_at,
	    (SELECT r.created_at FROM requests r WHERE r.user_id = uid
	     ORDER BY r.id DESC LIMIT 1),
	    (SELECT max(t.created_at) FROM ledger_accounts la
	     CROSS JOIN LATERAL (
	      (SELECT created_at FROM transfers WHERE debit_account = la.id
	       AND kind NOT IN ('expiry', 'forfeit') ORDER BY id DESC LIMIT 1)
	      UNION ALL
	      (SELECT created_at FROM transfers WHERE credit_account = la.id
	       AND kind NOT IN ('expiry', 'forfeit') ORDER BY id DESC LIMIT 1))
	      t
	     WHERE la.user_id = uid))
	FROM users u WHERE u.id = uid
$$;
