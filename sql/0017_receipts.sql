-- 0017_receipts.sql: the Ed25519 keys that sign request receipts (docs/api.md,
-- "Receipts"). A receipt itself is never stored: it is built from the
-- request's metadata row when asked for. The private key is kept only
-- AES-256-GCM sealed under [crypto] keys ("v1.<key id>.<base64url>",
-- authenticated with "receipt-key:<id>"); the public key raw, for the JWKS.
-- The newest unretired key signs; retired keys stay published so that the
-- receipts they signed still verify. The key id a receipt names is "r<id>".
CREATE TABLE receipt_keys (
	id		serial PRIMARY KEY,
	private_sealed	text NOT NULL,
	public_key	bytea NOT NULL CHECK (length(public_key) = 32),
	created_at	timestamptz NOT NULL DEFAULT now(),
	retired_at	timestamptz
);
