-- Personal data out of the audit log (UU 27/2022). The log is kept for good, so
-- nothing in it may need purging: caller numbers, IMSI, IMEI, and the raw AML
-- text (which carries si= IMSI and ei= IMEI, and whose error message may quote
-- fragments of it) stay only in their own tables, where `siap112 purge`
-- anonymises them. A unit's position is not a change anyone makes: it lives in
-- the position track (unit_positions, with its own retention), so a unit's
-- images leave out lat, lon and every position_* column; a position report
-- then changes nothing an auditor sees and writes no audit row.

CREATE FUNCTION siap112_audit_clean(row_json jsonb, tbl text) RETURNS jsonb
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT CASE WHEN tbl <> 'units' THEN c.image ELSE
        (SELECT coalesce(jsonb_object_agg(e.key, e.value), '{}'::jsonb)
         FROM jsonb_each(c.image) AS e
         WHERE e.key NOT IN ('lat', 'lon') AND e.key NOT LIKE 'position%')
    END
    FROM (SELECT row_json - ARRAY['password_hash', 'token_hash', 'caller_phone', 'phone_key',
                                  'imsi', 'imei', 'raw', 'error_message',
                                  'change_xid']::text[] AS image) AS c
$$;

-- The one-argument form stays for any caller of the old signature.
CREATE OR REPLACE FUNCTION siap112_audit_clean(row_json jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT siap112_audit_clean(row_json, '')
$$;

CREATE OR REPLACE FUNCTION siap112_audit_row() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    old_json jsonb := CASE WHEN TG_OP = 'INSERT' THEN NULL
                           ELSE siap112_audit_clean(to_jsonb(OLD), TG_TABLE_NAME) END;
    new_json jsonb := CASE WHEN TG_OP = 'DELETE' THEN NULL
                           ELSE siap112_audit_clean(to_jsonb(NEW), TG_TABLE_NAME) END;
BEGIN
    IF TG_OP = 'UPDATE' AND old_json = new_json THEN
        RETURN NULL;  -- nothing an auditor can see changed (e.g. only a hidden column)
    END IF;
    INSERT INTO audit_log (actor, action, subject_type, subject_id, before, after)
    VALUES (coalesce(nullif(current_setting('siap112.actor', true), ''), 'system'),
            lower(TG_OP), TG_TABLE_NAME,
            (coalesce(new_json, old_json)->>'id')::bigint, old_json, new_json);
    RETURN NULL;
END
$$;

-- Rows written before this migration hold the raw AML text (and through it IMSI
-- and IMEI), and every position report a unit ever made. The log refuses UPDATE
-- and DELETE by trigger so that no one rewrites history; this migration is the
-- one deliberate exception, and it only removes what must never have been
-- there: each image is cleaned by the same function the trigger now uses, and an
-- update whose images become equal (a position report, or a purge that changed
-- only hidden columns) recorded nothing else and is dropped. The trigger is off
-- only inside this migration's transaction, which holds audit_log's exclusive
-- lock from here to its commit, so no other change can slip through meanwhile.
ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only;

UPDATE audit_log
SET before = siap112_audit_clean(before, subject_type),
    after = siap112_audit_clean(after, subject_type)
WHERE before IS DISTINCT FROM siap112_audit_clean(before, subject_type)
   OR after IS DISTINCT FROM siap112_audit_clean(after, subject_type);

DELETE FROM audit_log WHERE action = 'update' AND before = after;

ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only;
