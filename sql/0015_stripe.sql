-- 0015_stripe.sql: money in through Stripe Checkout. A top-up is recorded
-- (with the Idempotency-Key of its Checkout Session) before Stripe is
-- called; a signed webhook credits it once, recorded in stripe_events in
-- the same transaction. Refunds and disputes take credit back; what the
-- account already spent is owed (users.owed), carried by the platform's
-- receivable account until a top-up pays it (docs/payments.md).

-- The Stripe Customer of an account, made at its first top-up; never card data.
ALTER TABLE users
	ADD COLUMN stripe_customer_id text UNIQUE
	    CHECK (stripe_customer_id ~ '^cus_[A-Za-z0-9_]{1,250}$'),
	ADD COLUMN owed bigint NOT NULL DEFAULT 0 CHECK (owed >= 0);

-- receivable: what accounts owe after a refund or a dispute took back credit
-- they had spent; it goes negative by what is owed.
DO $$
DECLARE
	c text;
BEGIN
	FOR c IN SELECT conname FROM pg_constraint
	    WHERE conrelid = 'ledger_accounts'::regclass AND contype = 'c'
	    AND (pg_get_constraintdef(oid) LIKE '%may_go_negative = %'
	    OR pg_get_constraintdef(oid) LIKE '%(kind = ANY%'
	    AND pg_get_constraintdef(oid) NOT LIKE '%user_id%')
	LOOP
		EXECUTE format('ALTER TABLE ledger_accounts DROP CONSTRAINT %I', c);
	END LOOP;
END
$$;
ALTER TABLE ledger_accounts
	ADD CONSTRAINT ledger_accounts_kind_check CHECK (kind IN ('credit',
	    'earnings', 'revenue', 'bounty', 'promotions', 'payout_fees',
	    'expired', 'stripe', 'tremendous', 'receivable')),
	ADD CONSTRAINT ledger_accounts_negative_check CHECK (may_go_negative =
	    (kind IN ('promotions', 'stripe', 'tremendous', 'receivable')));
INSERT INTO ledger_accounts (kind, may_go_negative) VALUES ('receivable', true);

-- A top-up: amount is the micro-USD credited when paid, amount_minor what
-- Stripe charges (cents). refunded and disputed are in the same minor units,
-- as Stripe counts them.
CREATE TABLE topups (
	id		bigserial PRIMARY KEY,
	user_id		bigint NOT NULL REFERENCES users ON DELETE RESTRICT,
	amount		bigint NOT NULL CHECK (amount > 0),
	amount_minor	bigint NOT NULL CHECK (amount_minor > 0),
	currency	text NOT NULL CHECK (currency ~ '^[a-z]{3}$'),
	status		text NOT NULL DEFAULT 'creating' CHECK (status IN ('creating',
			    'open', 'processing', 'paid', 'failed', 'expired',
			    'cancelled')),
	idempotency_key	text NOT NULL UNIQUE,
	stripe_session_id text UNIQUE,
	checkout_url	text,
	payment_intent	text UNIQUE,
	refunded	bigint NOT NULL DEFAULT 0 CHECK (refunded >= 0),
	disputed	bigint NOT NULL DEFAULT 0 CHECK (disputed >= 0),
	error		text,			-- why creating it failed (Stripe's words)
	created_at	timestamptz NOT NULL DEFAULT now(),
	paid_at		timestamptz,
	updated_at	timestamptz NOT NULL DEFAULT now(),
	CHECK ((status = 'paid') = (paid_at IS NOT NULL)),
	CHECK (refunded + disputed <= amount_minor OR status = 'paid')
);
CREATE INDEX topups_user ON topups (user_id, id);

-- Every webhook event once (the id is Stripe's): what it was and what we
-- did. An event about a payment not known yet (a refund delivered before
-- its checkout's completion) waits as 'deferred' with the few numbers it
-- needs (data), and is applied when the payment is known.
CREATE TABLE stripe_events (
	id		text PRIMARY KEY CHECK (id ~ '^evt_[A-Za-z0-9_]{1,250}$'),
	type		text NOT NULL CHECK (length(type) BETWEEN 1 AND 100),
	topup_id	bigint REFERENCES topups,
	payment_intent	text,
	outcome		text NOT NULL,
	data		jsonb,
	received_at	timestamptz NOT NULL DEFAULT now(),
	applied_at	timestamptz
);
CREATE INDEX stripe_events_deferred ON stripe_events (payment_intent)
	WHERE outcome = 'deferred';
CREATE INDEX stripe_events_received ON stripe_events (received_at);

-- A dispute on a top-up's charge: its amount is taken back when Stripe
-- takes the funds (not for an inquiry), and given back once if they return.
CREATE TABLE disputes (
	id		text PRIMARY KEY CHECK (id ~ '^dp_[A-Za-z0-9_]{1,250}$'),
	topup_id	bigint NOT NULL REFERENCES topups,
	amount_minor	bigint NOT NULL CHECK (amount_minor > 0),
	status		text NOT NULL,		-- Stripe's: needs_response, won, lost …
	taken		boolean NOT NULL DEFAULT false,
	returned	boolean NOT NULL DEFAULT false,
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX disputes_topup ON disputes (topup_id);

-- The relay's leases learn that an account came to owe (or paid).
DROP TRIGGER users_changes ON users;
CREATE TRIGGER users_changes AFTER UPDATE OF role, status, owed ON users
	FOR EACH ROW
	WHEN ((OLD.role, OLD.status, OLD.owed > 0) IS DISTINCT FROM
	    (NEW.role, NEW.status, NEW.owed > 0))
	EXECUTE FUNCTION changes_user();
