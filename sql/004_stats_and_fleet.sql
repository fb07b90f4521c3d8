-- Response-time statistics over months of history (GET /api/v1/stats/response-times).
-- The month's incidents are read from an index alone (received_at, with the id and
-- category the query needs), and each incident's assignment times are read from an
-- index alone too, instead of visiting the incidents and assignments heaps.
-- Measured over 1,000,000 incidents by `siap112 bench` (bench/RESULTS.md).
CREATE INDEX incidents_received_cover ON incidents (received_at) INCLUDE (id, category);
-- The covering index answers every lookup the plain one did.
DROP INDEX IF EXISTS incidents_received;
CREATE INDEX assignments_incident_times ON assignments (incident_id)
    INCLUDE (dispatched_at, en_route_at, on_scene_at);

-- The dispatcher keeps the available fleet in memory between passes and reads only
-- the units changed since its last read. Every insert or update of a unit records
-- the writing transaction's id; a reader that remembers the oldest transaction still
-- running at its previous read (pg_snapshot_xmin) finds every change it has not
-- seen yet by `change_xid >= that horizon`, whatever order transactions commit in.
ALTER TABLE units ADD COLUMN change_xid xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX units_changes ON units (change_xid);

CREATE FUNCTION siap112_unit_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.change_xid := pg_current_xact_id();
    RETURN NEW;
END $$;
CREATE TRIGGER units_changed BEFORE UPDATE ON units
    FOR EACH ROW EXECUTE FUNCTION siap112_unit_changed();
