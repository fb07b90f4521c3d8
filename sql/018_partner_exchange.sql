-- Incidents handed over between 112 centres (EIDO, NENA-STA-021) and the outbox
-- that carries them. A handover 'out' is one we offered a partner centre; 'in' is
-- one a partner offered us. Each is unique per partner and EIDO incident id, so a
-- repeated delivery creates nothing twice. The outbox delivers in id order per
-- partner; an offer's EIDO document is built from the incident when it is sent
-- (freshest data, and no caller number kept here); an update carries only the
-- state, times and unit call signs. Both tables are audited (sql/006 triggers).
CREATE TABLE handovers (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    direction          text NOT NULL CHECK (direction IN ('out', 'in')),
    partner            text NOT NULL CHECK (partner ~ '^[a-z][a-z0-9_]{0,47}$'),
    incident_id        bigint NOT NULL REFERENCES incidents (id),
    eido_id            text NOT NULL CHECK (length(eido_id) BETWEEN 1 AND 300),
    -- The other centre's incident number (theirs for 'out', the sender's for 'in').
    remote_incident_id bigint,
    state              text NOT NULL CHECK (state IN (
                           'sending', 'delivered', 'accepted', 'declined', 'dispatched',
                           'closed', 'withdrawn')),
    requested_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    requested_by       text NOT NULL,
    delivered_at       timestamptz,
    answered_at        timestamptz,
    answered_by        text,
    note               text NOT NULL DEFAULT '' CHECK (length(note) <= 2000),
    -- 'out': the last update sequence number applied (updates arrive in order).
    last_update_seq    bigint NOT NULL DEFAULT 0,
    -- 'in': the last event of ours already reported back to the sender.
    event_cursor       bigint NOT NULL DEFAULT 0,
    UNIQUE (direction, partner, eido_id)
);
CREATE UNIQUE INDEX handovers_one_open_out ON handovers (incident_id)
    WHERE direction = 'out' AND state IN ('sending', 'delivered', 'accepted', 'dispatched');
CREATE INDEX handovers_by_incident ON handovers (incident_id, id);
CREATE INDEX handovers_in_open ON handovers (id)
    WHERE direction = 'in' AND state NOT IN ('declined', 'closed', 'withdrawn');

CREATE TABLE exchange_outbox (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    partner          text NOT NULL,
    handover_id      bigint NOT NULL REFERENCES handovers (id),
    kind             text NOT NULL CHECK (kind IN ('offer', 'update')),
    body             jsonb,
    created_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    sent_at          timestamptz,
    last_status      integer,
    last_error       text CHECK (length(last_error) <= 500),
    CHECK ((kind = 'update') = (body IS NOT NULL))
);
CREATE INDEX exchange_outbox_due ON exchange_outbox (partner, id) WHERE sent_at IS NULL;

CREATE TRIGGER handovers_audit AFTER INSERT OR UPDATE OR DELETE ON handovers
    FOR EACH ROW EXECUTE FUNCTION siap112_audit_row();
CREATE TRIGGER exchange_outbox_audit AFTER INSERT OR UPDATE OR DELETE ON exchange_outbox
    FOR EACH ROW EXECUTE FUNCTION siap112_audit_row();
