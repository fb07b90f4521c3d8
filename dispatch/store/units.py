"""Responder units."""

from __future__ import annotations

from typing import Any

import asyncpg

UNIT_COLUMNS = """
u.id, u.callsign, u.unit_type, u.agency, u.home_station, u.lat, u.lon, u.position_at,
u.status, u.status_at, u.created_at
"""

INSERT_UNIT_SQL = f"""
INSERT INTO units AS u (callsign, unit_type, agency, home_station, lat, lon, position_at)
VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $5::float8 IS NULL THEN NULL ELSE clock_timestamp() END)
ON CONFLICT (callsign) DO NOTHING
RETURNING {UNIT_COLUMNS}
"""

GET_UNIT_SQL = f"SELECT {UNIT_COLUMNS} FROM units u WHERE u.id = $1"
LOCK_UNIT_SQL = f"SELECT {UNIT_COLUMNS} FROM units u WHERE u.id = $1 FOR UPDATE"

LIST_UNITS_SQL = f"""
SELECT {UNIT_COLUMNS},
       (SELECT a.incident_id FROM assignments a
        WHERE a.unit_id = u.id AND a.ended_at IS NULL) AS incident_id
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

SET_LOCATION_SQL = f"""
UPDATE units AS u SET lat = $2, lon = $3, position_at = coalesce($4, clock_timestamp())
WHERE u.id = $1
RETURNING {UNIT_COLUMNS}
"""


async def get_unit(conn: asyncpg.Connection, unit_id: int, *,
                   lock: bool = False) -> dict[str, Any] | None:
    row = await conn.fetchrow(LOCK_UNIT_SQL if lock else GET_UNIT_SQL, unit_id)
    return None if row is None else dict(row)
