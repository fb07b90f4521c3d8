"""Callback tasks for silent and dropped calls, and the prank paper trail (sql/019)."""

from __future__ import annotations

TASK_COLUMNS = """
t.id, t.call_id, t.caller_phone, t.created_at, t.due_at, t.taken_by, t.taken_at, t.done_at,
t.outcome, t.outcome_call_id, t.note
"""
OPEN_TASK_FOR_PHONE_SQL = """
SELECT id FROM callback_tasks WHERE phone_key = $1 AND done_at IS NULL LIMIT 1
"""
INSERT_TASK_SQL = f"""
INSERT INTO callback_tasks AS t (call_id, caller_phone, phone_key, due_at)
VALUES ($1, $2, $3, clock_timestamp() + make_interval(secs => $4))
RETURNING {TASK_COLUMNS}
"""
LOCK_TASK_SQL = f"""
SELECT {TASK_COLUMNS}, t.phone_key FROM callback_tasks t WHERE t.id = $1 FOR UPDATE
"""
GET_TASK_SQL = f"SELECT {TASK_COLUMNS} FROM callback_tasks t WHERE t.id = $1"
TAKE_SQL = """
UPDATE callback_tasks SET taken_by = $2, taken_at = clock_timestamp() WHERE id = $1
"""
FINISH_SQL = """
UPDATE callback_tasks SET done_at = clock_timestamp(), outcome = $2, outcome_call_id = $3,
       note = $4
WHERE id = $1
"""
# Open tasks first, oldest due first; each with the number's calls of the last days.
LIST_TASKS_SQL = f"""
SELECT {TASK_COLUMNS},
       clock_timestamp() > t.due_at AND t.done_at IS NULL AS overdue,
       (SELECT coalesce(jsonb_agg(jsonb_build_object(
                'id', c.id, 'logged_at', c.logged_at, 'disposition', c.disposition)
                ORDER BY c.logged_at DESC), '[]'::jsonb)
        FROM (SELECT id, logged_at, disposition FROM calls c
              WHERE c.phone_key = t.phone_key AND c.logged_at >= now() - interval '30 days'
              ORDER BY c.logged_at DESC LIMIT 10) c) AS previous_calls
FROM callback_tasks t
WHERE ($1::boolean IS NOT TRUE OR t.done_at IS NULL)
ORDER BY t.done_at IS NOT NULL, t.due_at, t.id
LIMIT $2
"""
STATS_SQL = """
SELECT count(*) AS tasks,
       count(*) FILTER (WHERE done_at IS NOT NULL) AS done,
       count(*) FILTER (WHERE outcome IN ('emergency', 'prank', 'resolved')) AS reached,
       count(*) FILTER (WHERE outcome = 'emergency') AS emergencies,
       count(*) FILTER (WHERE outcome = 'no_answer') AS no_answer,
       count(*) FILTER (WHERE outcome = 'prank') AS prank,
       count(*) FILTER (WHERE done_at IS NULL AND clock_timestamp() > due_at) AS overdue,
       count(*) FILTER (WHERE taken_at IS NOT NULL AND taken_at <= due_at) AS in_time,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM taken_at - created_at))
           FILTER (WHERE taken_at IS NOT NULL) AS delay_p50_s,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM taken_at - created_at))
           FILTER (WHERE taken_at IS NOT NULL) AS delay_p90_s
FROM callback_tasks WHERE created_at >= $1
"""
GHOST_CALLS_SQL = """
SELECT count(*) FROM calls WHERE disposition = 'ghost' AND logged_at >= $1
"""

# Numbers past the repeat threshold: $1 since, $2 threshold, $3 history since.
PRANK_LIST_SQL = """
WITH listed AS (
    SELECT phone_key, count(*) AS recent
    FROM calls
    WHERE disposition IN ('prank', 'ghost') AND coalesce(rang_at, logged_at) >= $1
      AND phone_key <> '0'
    GROUP BY phone_key HAVING count(*) >= $2
)
SELECT l.phone_key, l.recent,
       (SELECT c.id FROM calls c WHERE c.phone_key = l.phone_key
        ORDER BY c.logged_at DESC, c.id DESC LIMIT 1) AS call_id,
       (SELECT c.caller_phone FROM calls c WHERE c.phone_key = l.phone_key
        ORDER BY c.logged_at DESC, c.id DESC LIMIT 1) AS caller_phone,
       (SELECT jsonb_agg(jsonb_build_object('id', c.id, 'logged_at', c.logged_at,
                                            'disposition', c.disposition, 'logged_by',
                                            c.logged_by) ORDER BY c.logged_at DESC)
        FROM calls c WHERE c.phone_key = l.phone_key AND c.logged_at >= $3) AS calls,
       (SELECT coalesce(jsonb_agg(jsonb_build_object(
                'id', a.id, 'kind', a.kind, 'at', a.at, 'actor', a.actor,
                'delivery', a.delivery, 'expires_at', a.expires_at, 'reason', a.reason,
                'active', a.expires_at > clock_timestamp()) ORDER BY a.at DESC), '[]'::jsonb)
        FROM prank_actions a WHERE a.phone_key = l.phone_key) AS actions
FROM listed l
ORDER BY l.recent DESC, l.phone_key
LIMIT 200
"""
INSERT_ACTION_SQL = """
INSERT INTO prank_actions (caller_phone, phone_key, kind, actor, message, delivery,
                           expires_at, reason, call_id)
VALUES ($1, $2, $3, $4, $5, $6,
        CASE WHEN $7::float8 IS NULL THEN NULL
             ELSE clock_timestamp() + make_interval(secs => $7::float8) END, $8, $9)
RETURNING id, kind, at, actor, message, delivery, expires_at, reason
"""
ACTIVE_BLOCK_SQL = """
SELECT max(expires_at) FROM prank_actions
WHERE phone_key = $1 AND kind = 'block_request' AND expires_at > clock_timestamp()
"""
ACTIVE_BLOCKS_SQL = """
SELECT id, caller_phone AS number, at AS requested_at, actor AS requested_by, expires_at,
       reason
FROM prank_actions
WHERE kind = 'block_request' AND expires_at > clock_timestamp()
ORDER BY expires_at
"""
