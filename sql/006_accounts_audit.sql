-- Accounts (issue 4): people log in with a password (argon2 hash) and get a
-- session cookie; machines use bearer API tokens. Session and token secrets are
-- stored only as SHA-256 digests: they are long random strings, so a fast digest
-- is enough, and a stolen table grants nothing.
CREATE TABLE users (
    id             bigserial PRIMARY KEY,
    username       text NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9_.@-]{1,64}$'),
    role           text NOT NULL CHECK (role IN
                       ('call_taker', 'dispatcher', 'supervisor', 'responder', 'admin')),
    -- A responder acts for one unit only; no other role is bound to a unit.
    unit_id        bigint,
    password_hash  text NOT NULL,
    failed_logins  integer NOT NULL DEFAULT 0,
    locked_until   timestamptz,
    disabled_at    timestamptz,
    created_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    CHECK ((role = 'responder') = (unit_id IS NOT NULL))
);

CREATE TABLE sessions (
    token_hash  bytea PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users (id),
    csrf        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE api_tokens (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL CHECK (name ~ '^[A-Za-z0-9_.@ -]{1,64}$'),
    token_hash  bytea NOT NULL UNIQUE,
    role        text NOT NULL CHECK (role IN
                    ('call_taker', 'dispatcher', 'supervisor', 'responder', 'admin')),
    unit_id     bigint,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz,
    CHECK ((role = 'responder') = (unit_id IS NOT NULL))
);

-- The audit log: who changed what, when, with the row before and after. Triggers
-- write it in the changing transaction itself, so no change escapes it. The web
-- layer names the actor per transaction (set_config('siap112.actor', ..., true));
-- background workers, which name none, appear as 'system'. Secrets and personal
-- data (password and token hashes, phone numbers, IMSI, IMEI) are left out: the
-- log is kept for good, personal data is not (`siap112 purge`).
CREATE TABLE audit_log (
    id            bigserial PRIMARY KEY,
    at            timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor         text NOT NULL,
    action        text NOT NULL,   -- insert | update | delete | refused
    subject_type  text NOT NULL,   -- the table, or the refused route
    subject_id    bigint,
    before        jsonb,
    after         jsonb
);
CREATE INDEX audit_by_subject ON audit_log (subject_type, subject_id, at);
CREATE INDEX audit_by_actor ON audit_log (actor, at);
CREATE INDEX audit_by_time ON audit_log (at);

CREATE FUNCTION siap112_audit_clean(row_json jsonb) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT row_json - 'password_hash' - 'token_hash' - 'caller_phone' - 'phone_key'
                    - 'imsi' - 'imei' - 'change_xid'
$$;

CREATE FUNCTION siap112_audit_row() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    old_json jsonb := CASE WHEN TG_OP = 'INSERT' THEN NULL ELSE siap112_audit_clean(to_jsonb(OLD)) END;
    new_json jsonb := CASE WHEN TG_OP = 'DELETE' THEN NULL ELSE siap112_audit_clean(to_jsonb(NEW)) END;
BEGIN
    IF TG_OP = 'UPDATE' AND old_json = new_json THEN
        RETURN NULL;  -- nothing an auditor can see changed (e.g. only a hidden column)
    END IF;
    INSERT INTO audit_log (actor, action, subject_type, subject_id, before, after)
    VALUES (coalesce(nullif(current_setting('siap112.actor', true), ''), 'system'),
            lower(TG_OP), TG_TABLE_NAME,
            (coalesce(new_json, old_json)->>'id')::bigint, old_json, new_json);
    RETURN NULL;
END
$$;

CREATE FUNCTION siap112_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION siap112_audit_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION siap112_audit_append_only();

CREATE TRIGGER units_audit AFTER INSERT OR UPDATE OR DELETE ON units
    FOR EACH ROW EXECUTE FUNCTION siap112_audit_row();
CREATE TRIGGER incidents_audit AFTER INSERT OR UPDATE OR DELETE ON incidents
    FOR EACH ROW EXECUTE FUNCTION siap112_audit_row();
CREATE TRIGGER assignments_audit AFTER INSERT OR UPDATE OR DELETE ON assignments
    FOR EACH ROW EXECUTE FUNCTION siap112_audit_row();
CREATE TRIGGER calls_audit AFTER INSERT OR UPDATE OR DELETE ON calls
    FOR EACH ROW EXECUTE FUNCTION siap112_audit_row();
CREATE TRIGGER aml_messages_audit AFTER INSERT OR UPDATE OR DELETE ON aml_messages
    FOR EACH ROW EXECUTE FUNCTION siap112_audit_row();
CREATE TRIGGER users_audit AFTER INSERT OR UPDATE OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION siap112_audit_row();
CREATE TRIGGER api_tokens_audit AFTER INSERT OR UPDATE OR DELETE ON api_tokens
    FOR EACH ROW EXECUTE FUNCTION siap112_audit_row();
