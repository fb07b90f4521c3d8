"""Handovers between centres and their delivery outbox (sql/018)."""

from __future__ import annotations

import asyncpg

from dispatch.core import eido
from dispatch.store import calls as call_sql
from dispatch.store import incidents as inc_sql

HANDOVER_COLUMNS = """
h.id, h.direction, h.partner, h.incident_id, h.eido_id, h.remote_incident_id, h.state,
h.requested_at, h.requested_by, h.delivered_at, h.answered_at, h.answered_by, h.note,
h.last_update_seq, h.event_cursor
"""
INSERT_HANDOVER_SQL = f"""
INSERT INTO handovers AS h (direction, partner, incident_id, eido_id, remote_incident_id,
                            state, requested_by, delivered_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
RETURNING {HANDOVER_COLUMNS}
"""
GET_HANDOVER_SQL = f"SELECT {HANDOVER_COLUMNS} FROM handovers h WHERE h.id = $1"
LOCK_HANDOVER_SQL = f"SELECT {HANDOVER_COLUMNS} FROM handovers h WHERE h.id = $1 FOR UPDATE"
FIND_HANDOVER_SQL = f"""
SELECT {HANDOVER_COLUMNS} FROM handovers h
WHERE h.direction = $1 AND h.partner = $2 AND h.eido_id = $3
"""
# The latest handover of ours of this incident to this partner, for its updates.
OUT_FOR_INCIDENT_SQL = f"""
SELECT {HANDOVER_COLUMNS} FROM handovers h
WHERE h.direction = 'out' AND h.partner = $1 AND h.incident_id = $2
ORDER BY h.id DESC LIMIT 1
"""
SET_STATE_SQL = """
UPDATE handovers SET state = $2, answered_at = coalesce(answered_at, $3),
       answered_by = coalesce(answered_by, $4), note = CASE WHEN $5 = '' THEN note ELSE $5 END
WHERE id = $1
"""
SET_DELIVERED_SQL = """
UPDATE handovers SET state = CASE WHEN state = 'sending' THEN 'delivered' ELSE state END,
       delivered_at = coalesce(delivered_at, clock_timestamp()),
       remote_incident_id = coalesce(remote_incident_id, $2)
WHERE id = $1
RETURNING state, delivered_at, extract(epoch FROM delivered_at - requested_at)::float8 AS delivery_s
"""
SET_UPDATE_SEQ_SQL = "UPDATE handovers SET last_update_seq = $2 WHERE id = $1"
SET_CURSOR_SQL = "UPDATE handovers SET event_cursor = $2 WHERE id = $1"

LIST_HANDOVERS_SQL = f"""
SELECT {HANDOVER_COLUMNS}, i.category, i.priority, i.address, i.status AS incident_status,
       i.queue_reason, i.jurisdiction,
       extract(epoch FROM clock_timestamp() - h.requested_at)::float8 AS waiting_s,
       (SELECT max(o.attempts) FROM exchange_outbox o
        WHERE o.handover_id = h.id AND o.kind = 'offer') AS attempts,
       (SELECT o.last_error FROM exchange_outbox o
        WHERE o.handover_id = h.id AND o.kind = 'offer' ORDER BY o.id DESC LIMIT 1)
           AS last_error
FROM handovers h JOIN incidents i ON i.id = h.incident_id
WHERE ($1::boolean IS NOT TRUE OR h.state IN ('sending', 'delivered'))
  AND ($2::bigint IS NULL OR h.incident_id = $2)
ORDER BY h.id DESC
LIMIT $3
"""

INSERT_OUTBOX_SQL = """
INSERT INTO exchange_outbox (partner, handover_id, kind, body) VALUES ($1, $2, $3, $4)
RETURNING id
"""
# Per partner, only its oldest undelivered row may go: updates arrive in order.
DUE_SQL = """
SELECT o.id, o.partner, o.handover_id, o.kind, o.body, o.attempts
FROM exchange_outbox o
WHERE o.sent_at IS NULL AND o.next_attempt_at <= clock_timestamp()
  AND o.id = (SELECT min(p.id) FROM exchange_outbox p
              WHERE p.partner = o.partner AND p.sent_at IS NULL)
ORDER BY o.id
LIMIT $1
"""
# A lease: another process leaves the row alone while this one is sending it.
LEASE_SQL = """
UPDATE exchange_outbox SET next_attempt_at = clock_timestamp() + make_interval(secs => $2)
WHERE id = $1 AND sent_at IS NULL AND next_attempt_at <= clock_timestamp()
RETURNING id
"""
SENT_SQL = """
UPDATE exchange_outbox SET sent_at = clock_timestamp(), attempts = attempts + 1,
       last_status = $2, last_error = NULL
WHERE id = $1 AND sent_at IS NULL
RETURNING id
"""
FAILED_SQL = """
UPDATE exchange_outbox SET attempts = attempts + 1, last_status = $2, last_error = $3,
       next_attempt_at = clock_timestamp() + make_interval(secs => $4)
WHERE id = $1 AND sent_at IS NULL
RETURNING attempts
"""
CANCEL_OUTBOX_SQL = """
UPDATE exchange_outbox SET sent_at = clock_timestamp(), last_error = 'withdrawn'
WHERE handover_id = $1 AND sent_at IS NULL
"""

# Received incidents that are ours now: their new events are reported back.
WATCHED_SQL = """
SELECT h.id FROM handovers h
WHERE h.direction = 'in' AND h.state IN ('accepted', 'dispatched')
  AND EXISTS (SELECT 1 FROM events e WHERE e.incident_id = h.incident_id
              AND e.id > h.event_cursor
              AND e.kind IN ('unit.assigned', 'incident.closed'))
ORDER BY h.id LIMIT $1
"""
NEW_EVENTS_SQL = """
SELECT id, occurred_at, kind, data FROM events
WHERE incident_id = $1 AND id > $2 AND kind IN ('unit.assigned', 'incident.closed')
ORDER BY id
"""


async def load_source(conn: asyncpg.Connection, incident_id: int) -> eido.Source | None:
    """What an EIDO document of the incident is built from; None if there is none."""
    incident = await inc_sql.get_incident(conn, incident_id)
    if incident is None:
        return None
    calls = [dict(r) for r in await conn.fetch(call_sql.CALLERS_FOR_INCIDENT_SQL, incident_id)]
    aml = await call_sql.aml_for_calls(conn, [c["id"] for c in calls])
    assignments = (await inc_sql.assignments_for(conn, [incident_id]))[incident_id]
    updated = await conn.fetchval(
        "SELECT coalesce(max(occurred_at), $2) FROM events WHERE incident_id = $1",
        incident_id, incident["logged_at"])
    state = await conn.fetchval("SELECT state FROM handovers WHERE direction = 'out' "
                                "AND incident_id = $1 ORDER BY id DESC LIMIT 1", incident_id)
    fixes = [a for c in calls for a in aml[c["id"]] if a["lat"] is not None]
    return eido.Source(incident, calls, fixes, assignments, updated, state)
