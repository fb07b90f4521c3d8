-- The position track keeps its times within the same sane window as every other
-- stored time (sql/008): a fix from year 1 or 9999 can never make a later read of
-- the track fail. The API already refuses such fixes; this is the second line.
DELETE FROM unit_positions WHERE NOT siap112_sane_time(at);
ALTER TABLE unit_positions
    ADD CONSTRAINT unit_positions_sane_at CHECK (siap112_sane_time(at)),
    ADD CONSTRAINT unit_positions_sane_received CHECK (siap112_sane_time(received_at));
ALTER TABLE units
    ADD CONSTRAINT units_sane_position_event_at CHECK (siap112_sane_time(position_event_at));
