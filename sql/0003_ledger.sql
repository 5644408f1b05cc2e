-- 0003_ledger.sql: the double-entry credit ledger: accounts with cached balances,
-- immutable transfers and two-phase holds (DESIGN.md §3). Amounts are BIGINT
-- micro-USD. All balances together sum to zero; only the source and contra
-- accounts (promotions, stripe, tremendous) may go negative.

-- Per user a credit account (bought or granted, spent first) and an earnings
-- account (what their nodes earned; spendable, the only part paid out); one of
-- each platform kind with no user. held is what open holds reserve on it.
CREATE TABLE ledger_accounts (
	id		bigserial PRIMARY KEY,
	kind		text NOT NULL CHECK (kind IN ('credit', 'earnings', 'revenue',
			    'bounty', 'promotions', 'payout_fees', 'expired', 'stripe',
			    'tremendous')),
	user_id		bigint REFERENCES users ON DELETE RESTRICT,
	may_go_negative	boolean NOT NULL DEFAULT false,
	balance		bigint NOT NULL DEFAULT 0,
	held		bigint NOT NULL DEFAULT 0 CHECK (held >= 0),
	created_at	timestamptz NOT NULL DEFAULT now(),
	CHECK ((kind IN ('credit', 'earnings')) = (user_id IS NOT NULL)),
	CHECK (may_go_negative = (kind IN ('promotions', 'stripe', 'tremendous'))),
	CHECK (may_go_negative OR balance >= 0),
	CHECK (held = 0 OR held <= balance)
);
CREATE UNIQUE INDEX ledger_accounts_user ON ledger_accounts (user_id, kind)
	WHERE user_id IS NOT NULL;
CREATE UNIQUE INDEX ledger_accounts_platform ON ledger_accounts (kind)
	WHERE user_id IS NULL;

INSERT INTO ledger_accounts (kind, may_go_negative) VALUES
	('revenue', false), ('bounty', false), ('promotions', true),
	('payout_fees', false), ('expired', false), ('stripe', true),
	('tremendous', true);

-- A reservation on a user's spendable balance: from_credit on the credit account
-- and from_earnings on the earnings account. Posted once (charge <= amount;
-- earning to the supplier, the rest to revenue) or voided once.
CREATE TABLE holds (
	id		bigserial PRIMARY KEY,
	user_id		bigint NOT NULL REFERENCES users ON DELETE RESTRICT,
	credit_account	bigint NOT NULL REFERENCES ledger_accounts,
	earnings_account bigint NOT NULL REFERENCES ledger_accounts,
	amount		bigint NOT NULL CHECK (amount > 0),
	from_credit	bigint NOT NULL CHECK (from_credit >= 0),
	from_earnings	bigint NOT NULL CHECK (from_earnings >= 0),
	status		text NOT NULL DEFAULT 'held'
			    CHECK (status IN ('held', 'posted', 'voided')),
	charge		bigint,		-- posted: what the consumer paid
	earning		bigint,		-- posted: the supplier's share of charge
	supplier_user_id bigint REFERENCES users ON DELETE RESTRICT,
	-- posted: the part of charge a supplier paid from its own earnings to
	-- itself (consumer = supplier), which needs no transfer; usually 0
	kept		bigint NOT NULL DEFAULT 0,
	expires_at	timestamptz NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT now(),
	resolved_at	timestamptz,
	CHECK (from_credit + from_earnings = amount),
	CHECK ((status = 'posted') = (charge IS NOT NULL AND earning IS NOT NULL)),
	CHECK (charge BETWEEN 0 AND amount AND earning BETWEEN 0 AND charge),
	CHECK (kept >= 0 AND kept <= coalesce(charge, 0)),
	CHECK ((status = 'held') = (resolved_at IS NULL))
);
CREATE INDEX holds_user ON holds (user_id);
CREATE INDEX holds_open_expiry ON holds (expires_at) WHERE status = 'held';

-- One row per movement of money, never changed: a mistake is corrected by a
-- new transfer. The idempotency key makes every retry a no-op.
CREATE TABLE transfers (
	id		bigserial PRIMARY KEY,
	debit_account	bigint NOT NULL REFERENCES ledger_accounts,
	credit_account	bigint NOT NULL REFERENCES ledger_accounts,
	amount		bigint NOT NULL CHECK (amount > 0),
	kind		text NOT NULL CHECK (kind ~ '^[a-z_]{1,32}$'),
	idempotency_key	text NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 200),
	hold_id		bigint REFERENCES holds,
	created_at	timestamptz NOT NULL DEFAULT now(),
	CHECK (debit_account <> credit_account)
);
CREATE UNIQUE INDEX transfers_key ON transfers (idempotency_key);
CREATE INDEX transfers_debit ON transfers (debit_account, id);
CREATE INDEX transfers_credit ON transfers (credit_account, id);
CREATE INDEX transfers_hold ON transfers (hold_id) WHERE hold_id IS NOT NULL;

CREATE FUNCTION transfers_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'transfers are immutable: correct a mistake with a new transfer'
		USING ERRCODE = 'raise_exception';
END
$$;
CREATE TRIGGER transfers_no_update BEFORE UPDATE OR DELETE ON transfers
	FOR EACH ROW EXECUTE FUNCTION transfers_immutable();
CREATE TRIGGER transfers_no_truncate BEFORE TRUNCATE ON transfers
	FOR EACH STATEMENT EXECUTE FUNCTION transfers_immutable();
