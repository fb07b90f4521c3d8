-- Response times kept on the incident, so a month's statistics read the month's
-- incidents from one index and join nothing (dispatch/store/stats.py).
--
-- The intervals are measured on one unit per incident, the first on scene (or,
-- while none has arrived, the first dispatched): its type and its dispatched, en
-- route and on scene times are copied here, and the time the first emergency call
-- was answered. Statement triggers on assignments and calls keep them, in the
-- transaction of the change that completes them (one pass per statement, so a bulk
-- load costs one set-based update, not one per row). Assignments and calls change
-- only under their incident's lock (dispatch/actions.py), which these updates take
-- again without waiting.

ALTER TABLE incidents
    ADD COLUMN answered_at timestamptz,
    ADD COLUMN first_unit_type text,
    ADD COLUMN first_dispatched_at timestamptz,
    ADD COLUMN first_en_route_at timestamptz,
    ADD COLUMN first_on_scene_at timestamptz;

-- The unit measured for each incident in ``ids``, and its times.
CREATE FUNCTION siap112_first_unit_of(ids bigint[]) RETURNS TABLE (
    incident_id bigint, unit_type text, dispatched_at timestamptz, en_route_at timestamptz,
    on_scene_at timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT t.id, r.unit_type, r.dispatched_at, r.en_route_at, r.on_scene_at
    FROM unnest(ids) AS t(id)
    CROSS JOIN LATERAL (
        SELECT a.unit_type, a.dispatched_at, a.en_route_at, a.on_scene_at
        FROM assignments a WHERE a.incident_id = t.id
        ORDER BY a.on_scene_at NULLS LAST, a.dispatched_at, a.id LIMIT 1) r
$$;

-- When the first emergency call of each incident in ``ids`` was answered.
CREATE FUNCTION siap112_answered_of(ids bigint[]) RETURNS TABLE (
    incident_id bigint, answered_at timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT t.id, (SELECT c.answered_at FROM calls c
                  WHERE c.incident_id = t.id AND c.disposition = 'emergency'
                    AND c.answered_at IS NOT NULL
                  ORDER BY c.logged_at, c.id LIMIT 1)
    FROM unnest(ids) AS t(id)
$$;

CREATE FUNCTION siap112_assignments_response() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE incidents i
    SET first_unit_type = f.unit_type, first_dispatched_at = f.dispatched_at,
        first_en_route_at = f.en_route_at, first_on_scene_at = f.on_scene_at
    FROM siap112_first_unit_of(ARRAY(SELECT DISTINCT n.incident_id FROM new_rows n)) f
    WHERE i.id = f.incident_id
      AND (i.first_unit_type, i.first_dispatched_at, i.first_en_route_at, i.first_on_scene_at)
          IS DISTINCT FROM (f.unit_type, f.dispatched_at, f.en_route_at, f.on_scene_at);
    RETURN NULL;
END $$;

CREATE FUNCTION siap112_calls_response() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE incidents i SET answered_at = f.answered_at
    FROM siap112_answered_of(ARRAY(SELECT DISTINCT n.incident_id FROM new_rows n
                                   WHERE n.incident_id IS NOT NULL)) f
    WHERE i.id = f.incident_id AND i.answered_at IS DISTINCT FROM f.answered_at;
    RETURN NULL;
END $$;

CREATE TRIGGER assignments_response_insert AFTER INSERT ON assignments
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION siap112_assignments_response();
CREATE TRIGGER assignments_response_update AFTER UPDATE ON assignments
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION siap112_assignments_response();
CREATE TRIGGER calls_response_insert AFTER INSERT ON calls
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION siap112_calls_response();
CREATE TRIGGER calls_response_update AFTER UPDATE ON calls
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION siap112_calls_response();

-- What is there already.
UPDATE incidents i
SET first_unit_type = f.unit_type, first_dispatched_at = f.dispatched_at,
    first_en_route_at = f.en_route_at, first_on_scene_at = f.on_scene_at
FROM siap112_first_unit_of(ARRAY(SELECT DISTINCT incident_id FROM assignments)) f
WHERE i.id = f.incident_id;
UPDATE incidents i SET answered_at = f.answered_at
FROM siap112_answered_of(ARRAY(SELECT DISTINCT incident_id FROM calls
                               WHERE incident_id IS NOT NULL)) f
WHERE i.id = f.incident_id AND f.answered_at IS NOT NULL;

-- A month's incidents with every figure the statistics need, from the index alone.
CREATE INDEX incidents_response ON incidents (received_at)
    INCLUDE (id, category, answered_at, first_unit_type, first_dispatched_at,
             first_en_route_at, first_on_scene_at);
DROP INDEX IF EXISTS incidents_received_cover;

-- Copies of what assignments and calls hold, not changes anyone makes: out of the
-- audit images like the revision (sql/013).
CREATE OR REPLACE FUNCTION siap112_audit_clean(row_json jsonb, tbl text) RETURNS jsonb
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT CASE
        WHEN tbl = 'units' THEN
            (SELECT coalesce(jsonb_object_agg(e.key, e.value), '{}'::jsonb)
             FROM jsonb_each(c.image) AS e
             WHERE e.key NOT IN ('lat', 'lon') AND e.key NOT LIKE 'position%')
        WHEN tbl = 'incidents' THEN
            c.image - ARRAY['answered_at', 'first_unit_type', 'first_dispatched_at',
                            'first_en_route_at', 'first_on_scene_at']::text[]
        ELSE c.image
    END
    FROM (SELECT row_json - ARRAY['password_hash', 'token_hash', 'caller_phone', 'phone_key',
                                  'imsi', 'imei', 'raw', 'error_message',
                                  'change_xid', 'revision']::text[] AS image) AS c
$$;
