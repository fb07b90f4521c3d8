-- Siap112 core schema: units, incidents, assignments and the event log
-- (the event log is both the incident timeline and the outbox the relay
-- publishes to Redis).

CREATE TABLE units (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    callsign      text NOT NULL UNIQUE CHECK (callsign ~ '^[A-Za-z0-9][A-Za-z0-9 ._/-]{0,39}$'),
    unit_type     text NOT NULL CHECK (unit_type ~ '^[a-z][a-z_]{0,31}$'),
    agency        text NOT NULL CHECK (length(agency) BETWEEN 1 AND 80),
    home_station  text NOT NULL DEFAULT '' CHECK (length(home_station) <= 120),
    lat           double precision CHECK (lat BETWEEN -90 AND 90),
    lon           double precision CHECK (lon BETWEEN -180 AND 180),
    position_at   timestamptz,
    status        text NOT NULL DEFAULT 'available' CHECK (status IN (
                      'available', 'dispatched', 'acknowledged', 'en_route', 'on_scene',
                      'transporting', 'at_hospital', 'out_of_service')),
    status_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    CHECK ((lat IS NULL) = (lon IS NULL)),
    CHECK ((lat IS NULL) = (position_at IS NULL))
);
CREATE INDEX units_available_by_type ON units (unit_type) WHERE status = 'available';

CREATE TABLE incidents (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    caller_phone    text NOT NULL CHECK (caller_phone ~ '^\+?[0-9]{3,15}$'),
    category        text NOT NULL CHECK (category ~ '^[a-z][a-z_]{0,47}$'),
    priority        smallint NOT NULL CHECK (priority BETWEEN 1 AND 3),
    lat             double precision CHECK (lat BETWEEN -90 AND 90),
    lon             double precision CHECK (lon BETWEEN -180 AND 180),
    address         text NOT NULL DEFAULT '' CHECK (length(address) <= 500),
    description     text NOT NULL DEFAULT '' CHECK (length(description) <= 4000),
    -- The unit types the run card asked for when the call was logged: history
    -- must not change when a run card is edited later.
    required_types  text[] NOT NULL CHECK (cardinality(required_types) >= 1),
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN (
                        'pending', 'queued', 'dispatched', 'closed')),
    queue_reason    text,
    received_at     timestamptz NOT NULL,
    logged_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    logged_by       text NOT NULL,
    closed_at       timestamptz,
    disposition     text,
    closing_note    text NOT NULL DEFAULT '' CHECK (length(closing_note) <= 2000),
    CHECK ((lat IS NULL) = (lon IS NULL)),
    CHECK (lat IS NOT NULL OR address <> ''),
    CHECK ((status = 'closed') = (closed_at IS NOT NULL)),
    CHECK ((status = 'closed') = (disposition IS NOT NULL)),
    CHECK (received_at <= logged_at + interval '5 minutes')
);
-- The dispatch queue: open incidents in service order.
CREATE INDEX incidents_waiting ON incidents (priority, received_at, id)
    WHERE status IN ('pending', 'queued');
CREATE INDEX incidents_received ON incidents (received_at);
CREATE INDEX incidents_open ON incidents (status) WHERE status <> 'closed';

CREATE TABLE assignments (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    incident_id      bigint NOT NULL REFERENCES incidents (id),
    unit_id          bigint NOT NULL REFERENCES units (id),
    unit_type        text NOT NULL,
    method           text NOT NULL CHECK (method IN ('auto', 'manual')),
    assigned_by      text NOT NULL,
    distance_m       double precision CHECK (distance_m >= 0),
    eta_s            integer CHECK (eta_s >= 0),
    stale_position   boolean NOT NULL DEFAULT false,
    status           text NOT NULL DEFAULT 'dispatched' CHECK (status IN (
                         'dispatched', 'acknowledged', 'en_route', 'on_scene',
                         'transporting', 'at_hospital', 'ended')),
    dispatched_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    acknowledged_at  timestamptz,
    en_route_at      timestamptz,
    on_scene_at      timestamptz,
    transporting_at  timestamptz,
    at_hospital_at   timestamptz,
    ended_at         timestamptz,
    end_reason       text CHECK (end_reason IN (
                         'cleared', 'reassigned', 'unit_out_of_service', 'incident_closed',
                         'replaced')),
    CHECK ((status = 'ended') = (ended_at IS NOT NULL)),
    CHECK ((ended_at IS NULL) = (end_reason IS NULL)),
    CHECK (ended_at IS NULL OR ended_at >= dispatched_at)
);
-- The rule a dispatch centre lives by: a unit is never on two open incidents.
-- Enforced here, whatever the number of dispatcher processes.
CREATE UNIQUE INDEX assignments_one_open_per_unit ON assignments (unit_id)
    WHERE ended_at IS NULL;
CREATE INDEX assignments_by_incident ON assignments (incident_id);

-- Every state change writes one row here in the same transaction. It is the
-- incident timeline and the outbox: the relay publishes unpublished rows in id
-- order to the Redis stream.
CREATE TABLE events (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    occurred_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    kind          text NOT NULL,
    incident_id   bigint REFERENCES incidents (id),
    unit_id       bigint REFERENCES units (id),
    actor         text NOT NULL,
    data          jsonb NOT NULL DEFAULT '{}'::jsonb,
    published_at  timestamptz,
    stream_id     text
);
CREATE INDEX events_unpublished ON events (id) WHERE published_at IS NULL;
CREATE INDEX events_by_incident ON events (incident_id, id) WHERE incident_id IS NOT NULL;
CREATE INDEX events_by_unit ON events (unit_id, id) WHERE unit_id IS NOT NULL;

-- Wake the relay when events commit, and the dispatcher when there is work:
-- NOTIFY is delivered at commit, so listeners never see uncommitted rows.
CREATE FUNCTION siap112_notify_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('siap112_events', '');
    RETURN NULL;
END $$;
CREATE TRIGGER events_notify AFTER INSERT ON events
    FOR EACH STATEMENT EXECUTE FUNCTION siap112_notify_events();

CREATE FUNCTION siap112_notify_dispatch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('siap112_dispatch', '');
    RETURN NULL;
END $$;
CREATE TRIGGER incidents_notify_dispatch AFTER INSERT OR UPDATE OF status ON incidents
    FOR EACH ROW WHEN (NEW.status IN ('pending', 'queued'))
    EXECUTE FUNCTION siap112_notify_dispatch();
CREATE TRIGGER units_notify_dispatch AFTER INSERT OR UPDATE OF status ON units
    FOR EACH ROW WHEN (NEW.status = 'available')
    EXECUTE FUNCTION siap112_notify_dispatch();
