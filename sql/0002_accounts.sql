-- 0002_accounts.sql: users, sessions, API keys, IP-hash keys and rate-limit windows.
-- Secrets are never stored: session ids and API keys as SHA-256 only, IP addresses
-- only as HMAC-SHA256 under a key with an id (Privacy Policy 5.2, 5.8).

CREATE TABLE users (
	id		bigserial PRIMARY KEY,
	email		text NOT NULL CHECK (email = lower(email) AND length(email) <= 254),
	password_hash	text NOT NULL,			-- argon2id, encoded with its parameters
	role		text NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
	signup_ip_hash	text,				-- "k<key id>:<hex>", never the address
	created_at	timestamptz NOT NULL DEFAULT now(),
	password_changed_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email ON users (email);

-- Keys for hashing IP addresses. The newest unretired key hashes; a rotation job
-- retires keys after 90 days and the hashes made under them are then deleted.
CREATE TABLE ip_keys (
	id		serial PRIMARY KEY,
	secret		bytea NOT NULL CHECK (length(secret) = 32),
	created_at	timestamptz NOT NULL DEFAULT now(),
	retired_at	timestamptz
);

CREATE TABLE sessions (
	id_hash		bytea PRIMARY KEY CHECK (length(id_hash) = 32),	-- SHA-256 of the cookie value
	user_id		bigint NOT NULL REFERENCES users ON DELETE CASCADE,
	csrf_token	text NOT NULL,
	ip_hash		text,
	created_at	timestamptz NOT NULL DEFAULT now(),
	last_seen_at	timestamptz NOT NULL DEFAULT now(),
	expires_at	timestamptz NOT NULL			-- the absolute lifetime
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expiry ON sessions (expires_at);

CREATE TABLE api_keys (
	id		bigserial PRIMARY KEY,
	user_id		bigint NOT NULL REFERENCES users ON DELETE CASCADE,
	name		text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
	prefix		text NOT NULL,				-- shown in lists: "ip_AbCdEf"
	key_hash	bytea NOT NULL CHECK (length(key_hash) = 32),	-- SHA-256 of the whole key
	created_at	timestamptz NOT NULL DEFAULT now(),
	expires_at	timestamptz,
	revoked_at	timestamptz,
	last_used_at	timestamptz
);
CREATE UNIQUE INDEX api_keys_hash ON api_keys (key_hash);
CREATE INDEX api_keys_user ON api_keys (user_id);

-- Fixed-window counters for rate limits; the bucket names a hashed IP or account.
CREATE TABLE rate_limits (
	bucket		text PRIMARY KEY,
	window_start	timestamptz NOT NULL,
	count		integer NOT NULL
);
