-- 0011_mail.sql: the outbox. A message is rendered from a template when it
-- is queued (never with a prompt, an answer or a secret in it) and sent by
-- the mail-send job (infrpoolctl tick) over SMTP. A message is marked sent
-- right after the server accepted it; one that failed is put off (1, 2, 4 …
-- minutes, at most an hour) and tried again, never dropped. Sent messages
-- are deleted 30 days later (outbox-prune).

CREATE TABLE outbox (
	id		bigserial PRIMARY KEY,
	user_id		bigint REFERENCES users ON DELETE CASCADE,	-- NULL: not a user's
	to_addr		text NOT NULL CHECK (length(to_addr) BETWEEN 3 AND 254),
	template	text NOT NULL CHECK (template ~ '^[a-z][a-z0-9_]{0,39}$'),
	subject		text NOT NULL CHECK (subject !~ '[\r\n]'),
	body		text NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT now(),
	next_attempt_at	timestamptz NOT NULL DEFAULT now(),
	attempts	integer NOT NULL DEFAULT 0,
	sent_at		timestamptz,
	last_error	text			-- the server's or libcurl's words
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE sent_at IS NULL;
CREATE INDEX outbox_sent ON outbox (sent_at) WHERE sent_at IS NOT NULL;
