"""Calls as the IP-PBX announces them (sql/021 telephony_calls)."""

from __future__ import annotations

TELEPHONY_COLUMNS = """
t.call_id, t.caller_phone AS caller, t.line, t.rang_at, t.answered_at, t.ended_at, t.agent,
t.claimed_by, t.claimed_at, t.received_at,
extract(epoch FROM t.answered_at - t.rang_at)::float8 AS answer_s,
(SELECT c.id FROM calls c WHERE c.telephony_call_id = t.call_id) AS logged_call_id
"""

# The first event of a call makes its row; later ones find it (the number and line
# are the first event's: a PBX names them on every event, identically).
ENSURE_CALL_SQL = """
INSERT INTO telephony_calls (call_id, caller_phone, phone_key, line)
VALUES ($1, $2, $3, $4)
ON CONFLICT (call_id) DO NOTHING
"""

LOCK_CALL_SQL = """
SELECT call_id, caller_phone, phone_key, line, rang_at, answered_at, ended_at, agent,
       claimed_by, claimed_at
FROM telephony_calls WHERE call_id = $1
FOR UPDATE
"""

# Each event stamps its column once; a repeated webhook changes nothing.
STAMP_SQL = {
    "ringing": "UPDATE telephony_calls SET rang_at = $2 WHERE call_id = $1",
    "answered": "UPDATE telephony_calls SET answered_at = $2, agent = $3 WHERE call_id = $1",
    "ended": "UPDATE telephony_calls SET ended_at = $2 WHERE call_id = $1",
}
STAMP_COLUMN = {"ringing": "rang_at", "answered": "answered_at", "ended": "ended_at"}

CLAIM_SQL = """
UPDATE telephony_calls SET claimed_by = $2, claimed_at = clock_timestamp()
WHERE call_id = $1
"""

GET_CALL_SQL = f"SELECT {TELEPHONY_COLUMNS} FROM telephony_calls t WHERE t.call_id = $1"

LOGGED_CALL_SQL = "SELECT id FROM calls WHERE telephony_call_id = $1"

# Calls still ringing or in progress and not logged, newest first: what a console
# that (re)connects shows as waiting.
ACTIVE_CALLS_SQL = f"""
SELECT {TELEPHONY_COLUMNS} FROM telephony_calls t
WHERE t.ended_at IS NULL AND t.received_at >= $1
  AND NOT EXISTS (SELECT 1 FROM calls c WHERE c.telephony_call_id = t.call_id)
ORDER BY t.received_at DESC LIMIT 50
"""

PURGE_PHONES_SQL = """
UPDATE telephony_calls SET caller_phone = $2, phone_key = '0'
WHERE received_at < $1 AND caller_phone <> $2
"""
