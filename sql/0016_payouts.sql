-- 0016_payouts.sql: money out through Tremendous. A payout moves the
-- amount from the supplier's earnings into the platform's payouts account
-- before Tremendous is called; delivery sends it on to the external
-- tremendous account (less the fee, to payout_fees); a failure or a
-- cancellation brings it all back (docs/payouts.md).

DO $$
DECLARE
	c text;
BEGIN
	FOR c IN SELECT conname FROM pg_constraint
	    WHERE conrelid = 'ledger_accounts'::regclass AND contype = 'c'
	    AND conname IN ('ledger_accounts_kind_check')
	LOOP
		EXECUTE format('ALTER TABLE ledger_accounts DROP CONSTRAINT %I', c);
	END LOOP;
END
$$;
ALTER TABLE ledger_accounts
	ADD CONSTRAINT ledger_accounts_kind_check CHECK (kind IN ('credit',
	    'earnings', 'revenue', 'bounty', 'promotions', 'payout_fees',
	    'expired', 'stripe', 'tremendous', 'receivable', 'payouts'));
INSERT INTO ledger_accounts (kind, may_go_negative) VALUES ('payouts', false);

-- How a supplier is paid: the recipient Tremendous delivers to (NULL: the
-- account's email and display name), manual or monthly, and the product
-- when the operator offers a choice.
CREATE TABLE payout_settings (
	user_id		bigint PRIMARY KEY REFERENCES users ON DELETE CASCADE,
	recipient_name	text CHECK (length(recipient_name) BETWEEN 1 AND 100),
	recipient_email	text CHECK (length(recipient_email) BETWEEN 3 AND 254),
	mode		text NOT NULL DEFAULT 'manual'
			    CHECK (mode IN ('manual', 'monthly')),
	product		text CHECK (product ~ '^[A-Za-z0-9_-]{1,64}$'),
	updated_at	timestamptz NOT NULL DEFAULT now()
);

-- A payout: amount left the earnings (micro-USD, whole cents); the
-- recipient gets value_cents = (amount - fee) / 10,000. Its status:
-- pending (money moved, the order not confirmed yet), sent (Tremendous
-- has the order), flagged (held by Tremendous' review), delivered, failed
-- or cancelled (the money came back).
CREATE TABLE payouts (
	id		bigserial PRIMARY KEY,
	user_id		bigint NOT NULL REFERENCES users ON DELETE RESTRICT,
	amount		bigint NOT NULL CHECK (amount > 0 AND amount % 10000 = 0),
	fee		bigint NOT NULL CHECK (fee >= 0 AND fee < amount),
	value_cents	bigint NOT NULL CHECK (value_cents > 0),
	mode		text NOT NULL CHECK (mode IN ('manual', 'monthly')),
	month		date,			-- monthly: the 1st it was paid on
	status		text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending',
			    'sent', 'flagged', 'delivered', 'failed', 'cancelled')),
	recipient_name	text NOT NULL,
	recipient_email	text NOT NULL,
	product		text,
	order_id	text,
	reward_id	text UNIQUE,
	attempts	integer NOT NULL DEFAULT 0,
	reason		text,			-- why it failed or is held
	created_at	timestamptz NOT NULL DEFAULT now(),
	sent_at		timestamptz,
	finished_at	timestamptz,
	CHECK (value_cents * 10000 = amount - fee),
	CHECK ((mode = 'monthly') = (month IS NOT NULL)),
	CHECK ((status IN ('delivered', 'failed', 'cancelled')) =
	    (finished_at IS NOT NULL))
);
CREATE INDEX payouts_user ON payouts (user_id, id);
-- One payout in flight per account; one monthly payout per account and month.
CREATE UNIQUE INDEX payouts_one_in_flight ON payouts (user_id)
	WHERE status IN ('pending', 'sent', 'flagged');
CREATE UNIQUE INDEX payouts_monthly ON payouts (user_id, month)
	WHERE month IS NOT NULL;
CREATE INDEX payouts_in_flight ON payouts (status, created_at)
	WHERE status IN ('pending', 'sent', 'flagged');

-- Tremendous' webhook events, each once (uuid).
CREATE TABLE tremendous_events (
	id		text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 100),
	event		text NOT NULL CHECK (length(event) BETWEEN 1 AND 100),
	reward_id	text,
	payout_id	bigint REFERENCES payouts,
	outcome		text NOT NULL,
	received_at	timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tremendous_events_received ON tremendous_events (received_at);

-- The operator's approvals of flagged payouts, as admin actions.
ALTER TABLE admin_actions
	ADD COLUMN payout_id bigint REFERENCES payouts,
	DROP CONSTRAINT admin_actions_action_check,
	ADD CONSTRAINT admin_actions_action_check CHECK (action IN
	    ('node_suspend', 'node_unsuspend', 'user_suspend',
	    'user_unsuspend', 'user_ban', 'payout_approve', 'payout_cancel'));
