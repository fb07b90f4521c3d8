-- Timers that shout (issue 14): a unit not acknowledging, a priority-1 incident
-- with no unit on the way, an incident waiting too long for a unit, a unit on
-- scene too long. The alerts loop (dispatch/workers/alerts.py) raises one row per
-- condition and clears it when the condition ends; a dispatcher acknowledges it
-- (who and when are kept, and audited). At most one open alert per
-- (kind, incident, unit), whatever the number of web processes checking.
CREATE TABLE alerts (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind             text NOT NULL CHECK (kind IN (
                         'unit_unacknowledged', 'p1_no_en_route', 'queued_too_long',
                         'on_scene_too_long')),
    incident_id      bigint NOT NULL REFERENCES incidents (id),
    unit_id          bigint REFERENCES units (id),
    callsign         text CHECK (length(callsign) <= 40),
    since            timestamptz NOT NULL,      -- when the watched state began
    threshold_s      double precision NOT NULL CHECK (threshold_s > 0),
    raised_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    acknowledged_at  timestamptz,
    acknowledged_by  text CHECK (length(acknowledged_by) <= 64),
    cleared_at       timestamptz,
    CHECK ((acknowledged_at IS NULL) = (acknowledged_by IS NULL)),
    CHECK ((kind IN ('unit_unacknowledged', 'on_scene_too_long')) = (unit_id IS NOT NULL)),
    CHECK (cleared_at IS NULL OR cleared_at >= raised_at)
);
CREATE UNIQUE INDEX alerts_one_open ON alerts (kind, incident_id, coalesce(unit_id, 0))
    WHERE cleared_at IS NULL;
CREATE INDEX alerts_by_incident ON alerts (incident_id, id);
CREATE INDEX alerts_raised ON alerts (raised_at);
CREATE TRIGGER alerts_audit AFTER INSERT OR UPDATE OR DELETE ON alerts
    FOR EACH ROW EXECUTE FUNCTION siap112_audit_row();

-- Simulated traffic (`siap112 simulate`, `siap112 demo`) is flagged, so the
-- supervisor's figures say when they rest on it. The web layer names it per
-- transaction (set_config('siap112.simulated', 'on', true)) for an API token's
-- request that says so; the flag is set here, on insert, so no writer can forget it.
ALTER TABLE incidents ADD COLUMN simulated boolean NOT NULL DEFAULT false;
ALTER TABLE calls ADD COLUMN simulated boolean NOT NULL DEFAULT false;

CREATE FUNCTION siap112_mark_simulated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('siap112.simulated', true) = 'on' THEN
        NEW.simulated := true;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER incidents_simulated BEFORE INSERT ON incidents
    FOR EACH ROW EXECUTE FUNCTION siap112_mark_simulated();
CREATE TRIGGER calls_simulated BEFORE INSERT ON calls
    FOR EACH ROW EXECUTE FUNCTION siap112_mark_simulated();

-- The call statistics read a period by when the phone rang (or the call was logged
-- without a ring time): this index keeps them to the period's calls (dispatch/store/
-- callstats.py), instead of reading the whole call log.
CREATE INDEX calls_period ON calls ((coalesce(rang_at, logged_at)));
