"""Incidents and their assignments."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from dispatch.core.jurisdiction import Placement

INCIDENT_COLUMNS = """
i.id, i.caller_phone, i.category, i.priority, i.lat, i.lon, i.address, i.description,
i.required_types, i.status, i.queue_reason, i.received_at, i.logged_at, i.logged_by,
i.closed_at, i.disposition, i.closing_note, i.jurisdiction, i.kecamatan_code, i.kecamatan,
i.desa_code, i.desa, i.handover_to, i.location_source, i.radius_m
"""

# What the board shows of an incident besides its columns: its revision (sql/013) and
# how many calls reported it (the first one and every duplicate).
BOARD_INCIDENT_COLUMNS = f"""{INCIDENT_COLUMNS}, i.revision,
(SELECT count(*) FROM calls c WHERE c.incident_id = i.id) AS caller_count
"""

# With its placement (jurisdiction, kecamatan, desa, handover) and, when the placement
# says it waits for another centre, its queued status: one statement.
INSERT_INCIDENT_SQL = f"""
INSERT INTO incidents AS i (caller_phone, category, priority, lat, lon, address, description,
                       required_types, received_at, logged_by, location_source, radius_m,
                       jurisdiction, kecamatan_code, kecamatan, desa_code, desa, handover_to,
                       status, queue_reason)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, coalesce($9, clock_timestamp()), $10, $11, $12,
        $13, $14, $15, $16, $17, $18,
        CASE WHEN $19::text IS NULL THEN 'pending' ELSE 'queued' END, $19)
RETURNING {INCIDENT_COLUMNS}
"""

GET_INCIDENT_SQL = f"SELECT {INCIDENT_COLUMNS} FROM incidents i WHERE i.id = $1"
LOCK_INCIDENT_SQL = f"SELECT {INCIDENT_COLUMNS} FROM incidents i WHERE i.id = $1 FOR UPDATE"

INSERT_NOTE_SQL = """
INSERT INTO incident_notes (incident_id, text, author) VALUES ($1, $2, $3)
RETURNING id, incident_id, text, author, created_at
"""
LOCK_WAITING_INCIDENT_SQL = f"""
SELECT {INCIDENT_COLUMNS} FROM incidents i
WHERE i.id = $1 AND i.status IN ('pending', 'queued')
  AND NOT starts_with(coalesce(i.queue_reason, ''), 'handover_')
FOR UPDATE SKIP LOCKED
"""

LIST_INCIDENTS_SQL = f"""
SELECT {BOARD_INCIDENT_COLUMNS} FROM incidents i
WHERE ($1::text[] IS NULL OR i.status = ANY($1))
  AND ($2::timestamptz IS NULL OR i.received_at >= $2)
  AND ($3::timestamptz IS NULL OR i.received_at < $3)
  AND ($4::text IS NULL OR i.category = $4)
  AND ($6::bigint IS NULL OR EXISTS (
      SELECT 1 FROM assignments a WHERE a.incident_id = i.id AND a.unit_id = $6))
ORDER BY i.received_at DESC, i.id DESC
LIMIT $5
"""
# Whether a unit was ever sent to an incident: a responder reads only those.
UNIT_WAS_ASSIGNED_SQL = """
SELECT EXISTS (SELECT 1 FROM assignments WHERE incident_id = $1 AND unit_id = $2)
"""

# One page of the dispatch queue in service order (the incidents_waiting index),
# after the key ($2, $3, $4) of the previous page's last row: the incidents never
# looked at yet ('pending'), and those with a location and an unmet need of one of
# the unit types $1 that still have units free. Incidents waiting for a handover
# to another centre are not ours to dispatch.
WAITING_PAGE_SQL = """
SELECT w.* FROM (
    SELECT i.id, i.priority, i.received_at, i.lat, i.lon, i.required_types, i.status,
           coalesce((SELECT array_agg(a.unit_type) FROM assignments a
                     WHERE a.incident_id = i.id
                       AND (a.ended_at IS NULL OR a.end_reason = 'cleared')), '{}') AS covered
    FROM incidents i
    WHERE i.status IN ('pending', 'queued')
      AND NOT starts_with(coalesce(i.queue_reason, ''), 'handover_')
      AND ($2::int IS NULL
           OR (i.priority, i.received_at, i.id) > ($2::int, $3::timestamptz, $4::bigint))
) w
WHERE w.status = 'pending'
   OR (w.lat IS NOT NULL AND EXISTS (
        SELECT 1 FROM unnest($1::text[]) AS t(unit_type)
        WHERE cardinality(array_positions(w.required_types, t.unit_type))
            > cardinality(array_positions(w.covered, t.unit_type))))
ORDER BY w.priority, w.received_at, w.id
LIMIT $5
"""

COVERED_TYPES_SQL = """
SELECT unit_type FROM assignments
WHERE incident_id = $1 AND (ended_at IS NULL OR end_reason = 'cleared')
"""

SET_STATUS_SQL = """
UPDATE incidents SET status = $2, queue_reason = $3 WHERE id = $1
"""

SET_PLACEMENT_SQL = """
UPDATE incidents SET jurisdiction = $2, kecamatan_code = $3, kecamatan = $4, desa_code = $5,
       desa = $6, handover_to = $7
WHERE id = $1
"""

# A better fix for an open incident: its new position and uncertainty.
MOVE_INCIDENT_SQL = """
UPDATE incidents SET lat = $2, lon = $3, radius_m = $4, location_source = $5 WHERE id = $1
"""

CLOSE_INCIDENT_SQL = f"""
UPDATE incidents AS i SET status = 'closed', closed_at = clock_timestamp(), disposition = $2,
       closing_note = $3, queue_reason = NULL
WHERE i.id = $1
RETURNING {INCIDENT_COLUMNS}
"""

ASSIGNMENT_COLUMNS = """
a.id, a.incident_id, a.unit_id, u.callsign, a.unit_type, a.method, a.assigned_by,
a.distance_m, a.eta_s, a.stale_position, a.status, a.dispatched_at, a.acknowledged_at,
a.en_route_at, a.on_scene_at, a.transporting_at, a.at_hospital_at, a.ended_at, a.end_reason,
a.ranked_by, a.road_distance_m, a.road_eta_s
"""

ASSIGNMENTS_FOR_INCIDENT_SQL = f"""
SELECT {ASSIGNMENT_COLUMNS} FROM assignments a JOIN units u ON u.id = a.unit_id
WHERE a.incident_id = $1 ORDER BY a.id
"""

ASSIGNMENTS_FOR_INCIDENTS_SQL = f"""
SELECT {ASSIGNMENT_COLUMNS} FROM assignments a JOIN units u ON u.id = a.unit_id
WHERE a.incident_id = ANY($1::bigint[]) ORDER BY a.id
"""

OPEN_ASSIGNMENT_FOR_UNIT_SQL = f"""
SELECT {ASSIGNMENT_COLUMNS} FROM assignments a JOIN units u ON u.id = a.unit_id
WHERE a.unit_id = $1 AND a.ended_at IS NULL
"""

GET_ASSIGNMENT_SQL = f"""
SELECT {ASSIGNMENT_COLUMNS} FROM assignments a JOIN units u ON u.id = a.unit_id
WHERE a.id = $1
"""

INSERT_ASSIGNMENT_SQL = """
INSERT INTO assignments (incident_id, unit_id, unit_type, method, assigned_by, distance_m,
                         eta_s, stale_position, ranked_by, road_distance_m, road_eta_s)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
RETURNING id, dispatched_at
"""

END_ASSIGNMENT_SQL = """
UPDATE assignments SET status = 'ended', ended_at = clock_timestamp(), end_reason = $2
WHERE id = $1 AND ended_at IS NULL
RETURNING id, unit_id, incident_id, unit_type
"""


async def insert_incident(conn: asyncpg.Connection, *, caller_phone: str, category: str,
                          priority: int, lat: float | None, lon: float | None, address: str,
                          description: str, required_types: list[str],
                          received_at: datetime | None, logged_by: str,
                          location_source: str | None = None,
                          radius_m: float | None = None,
                          placement: Placement | None = None) -> dict[str, Any]:
    """A new incident; with ``placement``, placed (and queued when it says so)."""
    if lat is not None and location_source is None:
        location_source = "operator"
    p = placement
    row = await conn.fetchrow(
        INSERT_INCIDENT_SQL, caller_phone, category, priority, lat, lon, address, description,
        required_types, received_at, logged_by, location_source, radius_m,
        p.jurisdiction.value if p else None, p.kecamatan_code if p else None,
        p.kecamatan if p else None, p.desa_code if p else None, p.desa if p else None,
        p.handover_to if p else None, p.queue_reason if p else None)
    return dict(row)


async def get_incident(conn: asyncpg.Connection, incident_id: int, *,
                       lock: bool = False) -> dict[str, Any] | None:
    row = await conn.fetchrow(LOCK_INCIDENT_SQL if lock else GET_INCIDENT_SQL, incident_id)
    return None if row is None else dict(row)


async def list_incidents(conn: asyncpg.Connection, *, statuses: list[str] | None,
                         since: datetime | None, until: datetime | None, category: str | None,
                         limit: int, unit_id: int | None = None) -> list[dict[str, Any]]:
    """Newest first; with ``unit_id``, only the incidents that unit was sent to."""
    rows = await conn.fetch(LIST_INCIDENTS_SQL, statuses, since, until, category, limit,
                            unit_id)
    return [dict(r) for r in rows]


async def unit_was_assigned(conn: asyncpg.Connection, incident_id: int, unit_id: int) -> bool:
    return bool(await conn.fetchval(UNIT_WAS_ASSIGNED_SQL, incident_id, unit_id))


async def assignments_for(conn: asyncpg.Connection, incident_ids: list[int]
                          ) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = {i: [] for i in incident_ids}
    for r in await conn.fetch(ASSIGNMENTS_FOR_INCIDENTS_SQL, incident_ids):
        out[r["incident_id"]].append(dict(r))
    return out


async def covered_types(conn: asyncpg.Connection, incident_id: int) -> list[str]:
    return [r["unit_type"] for r in await conn.fetch(COVERED_TYPES_SQL, incident_id)]


async def open_assignment_for_unit(conn: asyncpg.Connection, unit_id: int
                                   ) -> dict[str, Any] | None:
    row = await conn.fetchrow(OPEN_ASSIGNMENT_FOR_UNIT_SQL, unit_id)
    return None if row is None else dict(row)
