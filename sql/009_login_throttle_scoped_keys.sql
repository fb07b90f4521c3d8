-- Login throttling that an outsider cannot turn against staff. Failed logins
-- are counted per (username, client address) and per client address, never per
-- account alone: guessing from one address is slowed by a short delay that
-- grows with each attempt (capped), while the account's owner, logging in from
-- any other address, is never held back. Each attempt is claimed with one
-- atomic INSERT ... ON CONFLICT DO UPDATE before the password is checked, so
-- parallel guesses cannot all slip through before the count goes up.
-- ``key`` is a SHA-256 digest of the scope (no address is stored in clear);
-- ``username`` lets `siap112 user unlock NAME` find the account's rows.
CREATE TABLE login_throttle (
    key         bytea PRIMARY KEY,
    username    text,
    attempts    integer NOT NULL CHECK (attempts >= 0),
    next_at     timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX login_throttle_username ON login_throttle (username) WHERE username IS NOT NULL;
CREATE INDEX login_throttle_updated ON login_throttle (updated_at);

-- The per-account lockout it replaces: anyone could lock a dispatcher out for an hour.
ALTER TABLE users DROP COLUMN failed_logins, DROP COLUMN locked_until;

-- Names the system itself acts under in the timeline and the audit log. A person or
-- a token named like them would be indistinguishable from the workers. NOT VALID:
-- enforced for every new or renamed account, without judging rows made before.
ALTER TABLE users ADD CONSTRAINT users_name_not_reserved CHECK (NOT (
    lower(btrim(username)) IN ('system', 'anonymous', 'purge')
    OR lower(btrim(username)) ~ '^(dispatcher|relay)' OR username LIKE '%:%')) NOT VALID;
ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_name_not_reserved CHECK (NOT (
    lower(btrim(name)) IN ('system', 'anonymous', 'purge')
    OR lower(btrim(name)) ~ '^(dispatcher|relay)' OR name LIKE '%:%')) NOT VALID;

-- Idempotency keys belong to whoever sent them: the same key from two tokens or
-- two users is two different requests, and one principal cannot read another's answer.
ALTER TABLE idempotency_keys ADD COLUMN principal text NOT NULL DEFAULT '';
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_pkey;
ALTER TABLE idempotency_keys ADD PRIMARY KEY (principal, key);
ALTER TABLE idempotency_keys ALTER COLUMN principal DROP DEFAULT;
