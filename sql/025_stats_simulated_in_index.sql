-- The statistics count a period's simulated incidents beside its intervals, in the
-- same index-only read of the month (dispatch/store/stats.py): `simulated` joins the
-- columns incidents_response carries, so no heap page is visited for it.
DROP INDEX incidents_response;
CREATE INDEX incidents_response ON incidents (received_at)
    INCLUDE (id, category, answered_at, first_unit_type, first_dispatched_at,
             first_en_route_at, first_on_scene_at, simulated);
