-- Revisions: each incident and unit counts the changes the consoles were told of.
-- Every transaction that changes an incident or a unit (dispatch/actions.py) bumps
-- its revision once, and the last event it writes about that record carries the
-- record's board snapshot with that revision (dispatch/board.py). A console keeps a
-- snapshot only when its revision is newer than the one it holds, so a frame that
-- arrives late, or a board read that raced a change, never overwrites fresher data.
--
-- The revision is bookkeeping, not a change anyone makes: it stays out of the audit
-- images (as positions do, sql/007), so a bump alone writes no audit row.

ALTER TABLE incidents ADD COLUMN revision bigint NOT NULL DEFAULT 0;
ALTER TABLE units ADD COLUMN revision bigint NOT NULL DEFAULT 0;

CREATE OR REPLACE FUNCTION siap112_audit_clean(row_json jsonb, tbl text) RETURNS jsonb
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT CASE WHEN tbl <> 'units' THEN c.image ELSE
        (SELECT coalesce(jsonb_object_agg(e.key, e.value), '{}'::jsonb)
         FROM jsonb_each(c.image) AS e
         WHERE e.key NOT IN ('lat', 'lon') AND e.key NOT LIKE 'position%')
    END
    FROM (SELECT row_json - ARRAY['password_hash', 'token_hash', 'caller_phone', 'phone_key',
                                  'imsi', 'imei', 'raw', 'error_message',
                                  'change_xid', 'revision']::text[] AS image) AS c
$$;
