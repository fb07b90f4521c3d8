-- The call-taker's console (issue 14): retried call logs, the caller's address
-- on a linked call, incident notes, and calls announced by the IP-PBX.

-- POST /api/v1/calls honours Idempotency-Key like POST /api/v1/incidents; a prank
-- or silent call opens no incident, so a remembered answer may name none.
ALTER TABLE idempotency_keys ALTER COLUMN incident_id DROP NOT NULL;

-- Where the caller says it is, as typed (a second caller of a fire may stand on
-- another street): kept on the call and on the incident's timeline.
ALTER TABLE calls ADD COLUMN address text NOT NULL DEFAULT ''
    CHECK (length(address) <= 500);

-- Notes added to an incident while it is worked (the closing note stays on the
-- incident). Audited like every change of an incident.
CREATE TABLE incident_notes (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    incident_id  bigint NOT NULL REFERENCES incidents (id),
    text         text NOT NULL CHECK (length(text) BETWEEN 1 AND 2000),
    author       text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX incident_notes_by_incident ON incident_notes (incident_id, id);
CREATE TRIGGER incident_notes_audit AFTER INSERT OR UPDATE OR DELETE ON incident_notes
    FOR EACH ROW EXECUTE FUNCTION siap112_audit_row();

-- A call as the IP-PBX announces it (POST /api/v1/telephony/events): ringing,
-- answered, ended, each stamped once (a repeated webhook changes nothing). A
-- call-taker's console claims a ringing call so that only one takes it; the call
-- logged for it (calls.telephony_call_id) takes its ring and answer times.
-- The number is personal data: `siap112 purge` anonymises it.
CREATE TABLE telephony_calls (
    call_id       text PRIMARY KEY CHECK (call_id ~ '^[\x21-\x7e]{1,64}$'),
    caller_phone  text NOT NULL CHECK (caller_phone ~ '^\+?[0-9]{3,15}$'),
    phone_key     text NOT NULL CHECK (phone_key ~ '^[0-9]{1,16}$'),
    line          text NOT NULL DEFAULT '' CHECK (length(line) <= 32),
    rang_at       timestamptz,
    answered_at   timestamptz,
    ended_at      timestamptz,
    agent         text CHECK (length(agent) <= 64),
    claimed_by    text,
    claimed_at    timestamptz,
    received_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    CHECK (answered_at IS NULL OR rang_at IS NULL OR answered_at >= rang_at),
    CHECK ((claimed_by IS NULL) = (claimed_at IS NULL))
);
CREATE INDEX telephony_calls_received ON telephony_calls (received_at);
CREATE TRIGGER telephony_calls_audit AFTER INSERT OR UPDATE OR DELETE ON telephony_calls
    FOR EACH ROW EXECUTE FUNCTION siap112_audit_row();

ALTER TABLE calls ADD COLUMN telephony_call_id text UNIQUE
    REFERENCES telephony_calls (call_id);

-- The IP-PBX's own machine token (`siap112 token create --role telephony`): it may
-- report calls and nothing else. People never hold this role.
ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_role_check;
ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_role_check CHECK (role IN
    ('call_taker', 'dispatcher', 'supervisor', 'responder', 'admin', 'telephony'));
