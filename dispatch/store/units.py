"""Responder units."""

from __future__ import annotations

from typing import Any

import asyncpg

UNIT_COLUMNS = """
u.id, u.callsign, u.unit_type, u.agency, u.home_station, u.lat, u.lon, u.position_at,
u.position_accuracy_m, u.status, u.status_at, u.created_at
"""

INSERT_UNIT_SQL = f"""
INSERT INTO units AS u (callsign, unit_type, agency, home_station, lat, lon, position_at)
VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $5::float8 IS NULL THEN NULL ELSE clock_timestamp() END)
ON CONFLICT (callsign) DO NOTHING
RETURNING {UNIT_COLUMNS}
"""

GET_UNIT_SQL = f"SELECT {UNIT_COLUMNS} FROM units u WHERE u.id = $1"
LOCK_UNIT_SQL = f"SELECT {UNIT_COLUMNS} FROM units u WHERE u.id = $1 FOR UPDATE"

# A unit as the board shows it: with its revision (sql/013) and present incident.
UNIT_INCIDENT_SQL = """(SELECT a.incident_id FROM assignments a
    WHERE a.unit_id = u.id AND a.ended_at IS NULL)"""
BOARD_UNIT_COLUMNS = f"""{UNIT_COLUMNS}, u.revision,
{UNIT_INCIDENT_SQL}
    AS incident_id
"""

GET_BOARD_UNIT_SQL = f"SELECT {BOARD_UNIT_COLUMNS} FROM units u WHERE u.id = $1"

LIST_UNITS_SQL = f"""
SELECT {BOARD_UNIT_COLUMNS}
FROM units u
WHERE ($1::text IS NULL OR u.status = $1) AND ($2::text IS NULL OR u.unit_type = $2)
ORDER BY u.callsign
"""

AVAILABLE_UNITS_SQL = """
SELECT id, unit_type, lat, lon, position_at FROM units
WHERE status = 'available' AND unit_type = ANY($1::text[])
"""

# Claim a unit for an assignment only if it is still free: under concurrent
# dispatchers this row-locking UPDATE decides who gets the unit.
CLAIM_UNIT_SQL = """
UPDATE units SET status = 'dispatched', status_at = clock_timestamp()
WHERE id = $1 AND status = 'available'
RETURNING id, callsign, unit_type, status
"""

SET_UNIT_STATUS_SQL = f"""
UPDATE units AS u SET status = $2, status_at = clock_timestamp() WHERE u.id = $1
RETURNING {UNIT_COLUMNS}
"""

# A fix moves the unit only if it is newer than the one the unit has: a fix that
# arrives late goes into the track alone. Concurrent fixes of one unit queue on
# the row lock and each re-reads position_at, so the newest always wins.
MOVE_UNIT_SQL = f"""
UPDATE units AS u SET lat = $2, lon = $3, position_at = $4, position_accuracy_m = $5,
       position_by = $6, position_pending = true
WHERE u.id = $1 AND (u.position_at IS NULL OR u.position_at < $4)
RETURNING {UNIT_COLUMNS}
"""

INSERT_POSITION_SQL = """
INSERT INTO unit_positions (unit_id, at, lat, lon, accuracy_m, source, reported_by)
VALUES ($1, $2, $3, $4, $5, $6, $7)
"""

# The relay's coalescing step: each unit that moved since its last unit.location event
# and whose last one is at least $1 s old gets one, with its newest position. SKIP
# LOCKED: a unit being changed right now is taken on the next pass, so this never
# waits on (or deadlocks with) a transaction that locks incidents first.
CLAIM_DUE_POSITIONS_SQL = """
WITH due AS (
    SELECT id FROM units
    WHERE position_pending
      AND (position_event_at IS NULL
           OR position_event_at <= clock_timestamp() - make_interval(secs => $1))
    ORDER BY id
    LIMIT $2
    FOR UPDATE SKIP LOCKED
)
UPDATE units AS u SET position_pending = false, position_event_at = clock_timestamp()
FROM due WHERE u.id = due.id
RETURNING u.id
"""
# Run only when units were claimed: the events table's NOTIFY trigger fires per
# statement, even one that inserts nothing, and would wake the relay for nothing.
POSITION_EVENTS_SQL = """
INSERT INTO events (kind, unit_id, actor, data)
SELECT 'unit.location', u.id, coalesce(u.position_by, 'system'),
       jsonb_build_object('lat', u.lat, 'lon', u.lon, 'position_at', u.position_at,
                          'accuracy_m', u.position_accuracy_m, 'callsign', u.callsign)
FROM units u WHERE u.id = ANY($1::bigint[])
ORDER BY u.id
RETURNING id, unit_id
"""

# Retention: the track, and the unit.location events that repeated it on the board.
PURGE_TRACK_SQL = "DELETE FROM unit_positions WHERE received_at < $1"
PURGE_LOCATION_EVENTS_SQL = """
DELETE FROM events
WHERE kind = 'unit.location' AND occurred_at < $1 AND published_at IS NOT NULL
"""


async def get_unit(conn: asyncpg.Connection, unit_id: int, *,
                   lock: bool = False) -> dict[str, Any] | None:
    row = await conn.fetchrow(LOCK_UNIT_SQL if lock else GET_UNIT_SQL, unit_id)
    return None if row is None else dict(row)
