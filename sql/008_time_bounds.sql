-- Stored times stay finite and within 2000-01-01 ... 2100-01-01.
--
-- A time outside that range (year 1 stored as -infinity, 9999, 1970) made the
-- dispatcher crash comparing a naive datetime with an aware one, and made every
-- statistics query over it fail ("cannot subtract infinite timestamps") or
-- report call processing times of decades. The service refuses such times at
-- the edge (dispatch/core/bounds.py); these constraints are the second line.
-- Rows stored before this migration are repaired first, so it always applies.

CREATE FUNCTION siap112_sane_time(t timestamptz) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN t >= '2000-01-01 00:00:00+00' AND t < '2100-01-01 00:00:00+00';

-- Repairs. A position of unknown age is kept but made as old as allowed: the
-- dispatcher then ranks it stale, never fresh. A call's received time falls
-- back to when it was logged. Other optional times are dropped.
UPDATE units SET position_at = '2000-01-01 00:00:00+00'
WHERE NOT siap112_sane_time(position_at);
UPDATE units SET status_at = clock_timestamp() WHERE NOT siap112_sane_time(status_at);
UPDATE incidents SET received_at = logged_at
WHERE NOT siap112_sane_time(received_at) AND siap112_sane_time(logged_at);
UPDATE calls SET rang_at = NULL WHERE NOT siap112_sane_time(rang_at);
UPDATE calls SET answered_at = NULL WHERE NOT siap112_sane_time(answered_at);
UPDATE aml_messages SET positioned_at = '2000-01-01 00:00:00+00'
WHERE NOT siap112_sane_time(positioned_at);
UPDATE assignments SET
    acknowledged_at = CASE WHEN siap112_sane_time(acknowledged_at) THEN acknowledged_at END,
    en_route_at = CASE WHEN siap112_sane_time(en_route_at) THEN en_route_at END,
    on_scene_at = CASE WHEN siap112_sane_time(on_scene_at) THEN on_scene_at END,
    transporting_at = CASE WHEN siap112_sane_time(transporting_at) THEN transporting_at END,
    at_hospital_at = CASE WHEN siap112_sane_time(at_hospital_at) THEN at_hospital_at END
WHERE NOT (siap112_sane_time(acknowledged_at) AND siap112_sane_time(en_route_at)
           AND siap112_sane_time(on_scene_at) AND siap112_sane_time(transporting_at)
           AND siap112_sane_time(at_hospital_at));

-- A CHECK passes on NULL, so optional columns need no IS NULL branch.
ALTER TABLE units
    ADD CONSTRAINT units_position_at_sane CHECK (siap112_sane_time(position_at)),
    ADD CONSTRAINT units_status_at_sane CHECK (siap112_sane_time(status_at)),
    ADD CONSTRAINT units_created_at_sane CHECK (siap112_sane_time(created_at));
ALTER TABLE incidents
    ADD CONSTRAINT incidents_received_at_sane CHECK (siap112_sane_time(received_at)),
    ADD CONSTRAINT incidents_logged_at_sane CHECK (siap112_sane_time(logged_at)),
    ADD CONSTRAINT incidents_closed_at_sane CHECK (siap112_sane_time(closed_at));
ALTER TABLE assignments
    ADD CONSTRAINT assignments_dispatched_at_sane CHECK (siap112_sane_time(dispatched_at)),
    ADD CONSTRAINT assignments_acknowledged_at_sane CHECK (siap112_sane_time(acknowledged_at)),
    ADD CONSTRAINT assignments_en_route_at_sane CHECK (siap112_sane_time(en_route_at)),
    ADD CONSTRAINT assignments_on_scene_at_sane CHECK (siap112_sane_time(on_scene_at)),
    ADD CONSTRAINT assignments_transporting_at_sane CHECK (siap112_sane_time(transporting_at)),
    ADD CONSTRAINT assignments_at_hospital_at_sane CHECK (siap112_sane_time(at_hospital_at)),
    ADD CONSTRAINT assignments_ended_at_sane CHECK (siap112_sane_time(ended_at));
ALTER TABLE calls
    ADD CONSTRAINT calls_rang_at_sane CHECK (siap112_sane_time(rang_at)),
    ADD CONSTRAINT calls_answered_at_sane CHECK (siap112_sane_time(answered_at)),
    ADD CONSTRAINT calls_logged_at_sane CHECK (siap112_sane_time(logged_at));
ALTER TABLE aml_messages
    ADD CONSTRAINT aml_messages_received_at_sane CHECK (siap112_sane_time(received_at)),
    ADD CONSTRAINT aml_messages_positioned_at_sane CHECK (siap112_sane_time(positioned_at));
