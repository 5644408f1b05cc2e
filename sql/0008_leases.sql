-- 0008_leases.sql: leases (one hold, many requests) and the hold draws they
-- are settled with (docs/internal.md, issue 12). A lease's hold is drawn
-- once per request (hold_draw), never past its amount, and voided when the
-- lease closes or the reaper finds it expired: a void releases only what
-- was not drawn.

-- What a held hold has paid out so far: drawn in all, drawn_credit of it
-- from the credit account (the rest from earnings); kept (0003) also
-- counts draws a supplier paid to itself. The rest, amount - drawn, is
-- still reserved: from_credit - drawn_credit on the credit account and
-- from_earnings - (drawn - drawn_credit) on earnings.
ALTER TABLE holds
	ADD COLUMN drawn	bigint NOT NULL DEFAULT 0,
	ADD COLUMN drawn_credit	bigint NOT NULL DEFAULT 0,
	ADD CONSTRAINT holds_drawn CHECK (drawn BETWEEN 0 AND amount AND
	    drawn_credit BETWEEN 0 AND from_credit AND
	    drawn - drawn_credit BETWEEN 0 AND from_earnings),
	ADD CONSTRAINT holds_drawn_not_posted CHECK (status <> 'posted' OR drawn = 0);
-- kept may now come from draws as well as from a posting.
ALTER TABLE holds DROP CONSTRAINT holds_check3,
	ADD CONSTRAINT holds_kept CHECK (kept >= 0 AND
	    kept <= coalesce(charge, 0) + drawn);

-- A relay's right to admit requests of one API key on one hold until
-- admit_until; closed when the relay is done with it (the hold voided).
CREATE TABLE leases (
	id		bigserial PRIMARY KEY,
	hold_id		bigint NOT NULL REFERENCES holds,
	user_id		bigint NOT NULL REFERENCES users ON DELETE RESTRICT,
	api_key_id	bigint REFERENCES api_keys ON DELETE SET NULL,
	created_at	timestamptz NOT NULL DEFAULT now(),
	admit_until	timestamptz NOT NULL,
	closed_at	timestamptz
);
CREATE UNIQUE INDEX leases_hold ON leases (hold_id);
CREATE INDEX leases_user ON leases (user_id, id);

-- A request settled on a lease has no hold of its own: it names the lease,
-- and its row is written once, finished, by the batch that settles it.
ALTER TABLE requests
	ALTER COLUMN hold_id DROP NOT NULL,
	ADD COLUMN lease_id bigint REFERENCES leases,
	ADD CONSTRAINT requests_hold_or_lease
	    CHECK ((hold_id IS NULL) <> (lease_id IS NULL));
CREATE INDEX requests_lease ON requests (lease_id) WHERE lease_id IS NOT NULL;
