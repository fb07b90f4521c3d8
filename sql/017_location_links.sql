-- Caller location links: the call-taker sends the caller a one-time link
-- (/l/<token>) that shares the phone's own position while the page is open.
--
-- A link belongs to one logged call (and through it to the call's incident),
-- works until expires_at, and takes at most max_fixes positions. Making a new
-- link for the same call revokes the earlier one, so only one link per call is
-- ever live. Only the SHA-256 of the token is stored: the link cannot be
-- rebuilt from the database.
--
-- Personal data: the number the SMS went to (caller_phone) and the positions.
-- The audit trigger's image leaves out caller_phone and token_hash (sql/007),
-- so the audit log records that a link was made, sent and used (fixes,
-- last_fix_at) but never whom it went to nor where the caller was; the
-- positions themselves are in location_fixes, which is not audited, and
-- `siap112 purge` deletes them and the number after the retention period.

CREATE TABLE location_links (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    call_id         bigint NOT NULL REFERENCES calls (id),
    incident_id     bigint REFERENCES incidents (id),
    token_hash      text NOT NULL UNIQUE CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    created_by      text NOT NULL CHECK (length(created_by) BETWEEN 1 AND 120),
    expires_at      timestamptz NOT NULL,
    revoked_at      timestamptz,
    max_fixes       integer NOT NULL CHECK (max_fixes >= 1),
    fixes           integer NOT NULL DEFAULT 0 CHECK (fixes >= 0 AND fixes <= max_fixes),
    last_fix_at     timestamptz,
    caller_phone    text CHECK (caller_phone ~ '^\+?[0-9]{3,15}$'),
    -- How the link reached the caller: by the SMS gateway, or copied by the call-taker.
    sms_status      text NOT NULL DEFAULT 'not_sent'
                    CHECK (sms_status IN ('not_sent', 'sending', 'sent', 'failed')),
    sms_error       text CHECK (length(sms_error) <= 300),
    CHECK (expires_at > created_at)
);
CREATE INDEX location_links_by_call ON location_links (call_id);
-- One live link per call: a new link revokes the one before it.
CREATE UNIQUE INDEX location_links_one_live ON location_links (call_id)
    WHERE revoked_at IS NULL;

CREATE TABLE location_fixes (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    link_id         bigint NOT NULL REFERENCES location_links (id),
    call_id         bigint NOT NULL REFERENCES calls (id),
    incident_id     bigint REFERENCES incidents (id),
    received_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    positioned_at   timestamptz NOT NULL
                    CHECK (positioned_at BETWEEN '2000-01-01' AND '2100-01-01'),
    lat             double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
    lon             double precision NOT NULL CHECK (lon BETWEEN -180 AND 180),
    accuracy_m      double precision NOT NULL CHECK (accuracy_m >= 0 AND accuracy_m <= 100000)
);
CREATE INDEX location_fixes_by_link ON location_fixes (link_id, id);
CREATE INDEX location_fixes_received ON location_fixes (received_at);

CREATE TRIGGER location_links_audit AFTER INSERT OR UPDATE OR DELETE ON location_links
    FOR EACH ROW EXECUTE FUNCTION siap112_audit_row();

