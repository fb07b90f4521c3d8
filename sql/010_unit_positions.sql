-- Unit positions as a track. Every fix a unit reports is kept here (for the
-- retention period units.position_retention_days, then `siap112 purge` deletes
-- it), including a fix that arrives late, after a newer one. The unit row keeps
-- only the newest fix, so a late one never moves the unit back.
--
-- A fix writes no event of its own: it marks the unit position_pending, and the
-- relay turns the pending positions into at most one unit.location event per
-- unit every units.position_event_s seconds (position_event_at), always with the
-- newest position, so the last fix of a burst still reaches the consoles. Audit
-- images leave positions out (sql/007): the track is the record of movement.
CREATE TABLE unit_positions (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    unit_id       bigint NOT NULL REFERENCES units (id) ON DELETE CASCADE,
    at            timestamptz NOT NULL,   -- when the fix was taken
    received_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    lat           double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
    lon           double precision NOT NULL CHECK (lon BETWEEN -180 AND 180),
    accuracy_m    double precision CHECK (accuracy_m >= 0),
    source        text NOT NULL CHECK (source ~ '^[a-z][a-z_]{0,31}$'),
    reported_by   text NOT NULL
);
CREATE INDEX unit_positions_track ON unit_positions (unit_id, at);
CREATE INDEX unit_positions_received ON unit_positions (received_at);

ALTER TABLE units
    ADD COLUMN position_accuracy_m double precision CHECK (position_accuracy_m >= 0),
    ADD COLUMN position_by text,
    ADD COLUMN position_pending boolean NOT NULL DEFAULT false,
    ADD COLUMN position_event_at timestamptz;
CREATE INDEX units_position_pending ON units (id) WHERE position_pending;
