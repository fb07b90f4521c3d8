-- Ghost-call callbacks and the prank-call paper trail.
-- A silent or dropped call ('ghost') opens a callback task on the call-takers'
-- shared list; taking one records who and when, closing it the outcome. A number
-- past the repeat threshold may get a warning SMS or a time-limited block request
-- from a supervisor: never a block by the system, and every request expires.
-- Caller numbers here are personal data: `siap112 purge` anonymises them, and the
-- audit images leave them out (sql/007's siap112_audit_clean drops caller_phone
-- and phone_key).
CREATE TABLE callback_tasks (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    call_id         bigint NOT NULL UNIQUE REFERENCES calls (id),
    caller_phone    text NOT NULL CHECK (caller_phone ~ '^\+?[0-9]{3,15}$'),
    phone_key       text NOT NULL CHECK (phone_key ~ '^[0-9]{1,16}$'),
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    due_at          timestamptz NOT NULL,
    taken_by        text,
    taken_at        timestamptz,
    done_at         timestamptz,
    outcome         text CHECK (outcome IN ('emergency', 'no_answer', 'prank', 'resolved')),
    outcome_call_id bigint REFERENCES calls (id),
    note            text NOT NULL DEFAULT '' CHECK (length(note) <= 500),
    CHECK ((outcome IS NULL) = (done_at IS NULL)),
    CHECK (done_at IS NULL OR taken_at IS NOT NULL),
    CHECK ((taken_by IS NULL) = (taken_at IS NULL)),
    CHECK ((outcome = 'emergency') = (outcome_call_id IS NOT NULL))
);
CREATE INDEX callback_tasks_open ON callback_tasks (due_at) WHERE done_at IS NULL;
CREATE INDEX callback_tasks_created ON callback_tasks (created_at);

CREATE TABLE prank_actions (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    caller_phone  text NOT NULL CHECK (caller_phone ~ '^\+?[0-9]{3,15}$'),
    phone_key     text NOT NULL CHECK (phone_key ~ '^[0-9]{1,16}$'),
    call_id       bigint NOT NULL REFERENCES calls (id),  -- the call it was asked from
    kind          text NOT NULL CHECK (kind IN ('warning_sms', 'block_request')),
    actor         text NOT NULL,
    at            timestamptz NOT NULL DEFAULT clock_timestamp(),
    message       text NOT NULL DEFAULT '' CHECK (length(message) <= 480),
    -- warning_sms: 'sent' through the gateway, 'failed', or 'copy' (no gateway: the
    -- supervisor copies the text); block_request: 'notified' (telephony webhook),
    -- 'failed', or 'listed' (export only).
    delivery      text NOT NULL CHECK (delivery IN ('sent', 'failed', 'copy', 'notified',
                                                    'listed')),
    expires_at    timestamptz,
    reason        text NOT NULL DEFAULT '' CHECK (length(reason) <= 500),
    CHECK ((kind = 'block_request') = (expires_at IS NOT NULL)),
    CHECK (expires_at IS NULL OR expires_at > at)
);
CREATE INDEX prank_actions_by_phone ON prank_actions (phone_key, at);

CREATE TRIGGER callback_tasks_audit AFTER INSERT OR UPDATE OR DELETE ON callback_tasks
    FOR EACH ROW EXECUTE FUNCTION siap112_audit_row();
CREATE TRIGGER prank_actions_audit AFTER INSERT OR UPDATE OR DELETE ON prank_actions
    FOR EACH ROW EXECUTE FUNCTION siap112_audit_row();
