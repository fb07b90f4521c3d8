"""The board's shape of an incident and of a unit: one serializer for the API and the stream.

``GET /api/v1/incidents?status=open`` items, ``GET /api/v1/units`` items and the
snapshots events carry (``data.snapshot.incident`` / ``data.snapshot.unit``) are
built here, so a console applies a frame exactly as it would a fresh read.

Snapshots: :func:`dispatch.store.events.add_event` holds a transaction's events and
notes which incidents and units they are about; before it commits, :func:`snapshots`
bumps each one's ``revision`` (sql/013) once and reads it back in board shape (a record
the transaction created keeps its first revision: nobody has seen it yet), and
the events are written with it on the last event about that record. Incidents are locked before
units, each in ascending id order (the lock order of dispatch/actions.py); they are
nearly always held already by the change itself.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import asyncpg

from dispatch.core.lifecycle import UnitStatus, allowed_next
from dispatch.geodata import centre_name
from dispatch.store.incidents import ASSIGNMENTS_FOR_INCIDENTS_SQL, BOARD_INCIDENT_COLUMNS
from dispatch.store.units import BOARD_UNIT_COLUMNS, UNIT_INCIDENT_SQL

SNAPSHOT_INCIDENTS_SQL = f"""
WITH locked AS (
    SELECT id FROM incidents WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE
), bumped AS (
    UPDATE incidents AS b SET revision = b.revision + 1 FROM locked WHERE b.id = locked.id
    RETURNING b.id, b.revision
)
SELECT {BOARD_INCIDENT_COLUMNS.replace("i.revision", "bumped.revision")}
FROM incidents i JOIN bumped ON bumped.id = i.id
"""

SNAPSHOT_UNITS_SQL = f"""
WITH locked AS (
    SELECT id FROM units WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE
), bumped AS (
    UPDATE units AS b SET revision = b.revision + 1 FROM locked WHERE b.id = locked.id
    RETURNING b.id, b.revision
)
SELECT {BOARD_UNIT_COLUMNS.replace("u.revision", "bumped.revision")}
FROM units u JOIN bumped ON bumped.id = u.id
"""
# Records created by this transaction: nobody has seen them, so their first revision
# (the column's default) is new to every console and needs no bump; they are read as
# they are (no other transaction can see, let alone lock, them before the commit).
SNAPSHOT_CREATED_INCIDENTS_SQL = f"""
SELECT {BOARD_INCIDENT_COLUMNS} FROM incidents i WHERE i.id = ANY($1::bigint[])
"""
# Units registered in this transaction: on no incident yet, so assignments is not read
# (a long lock on it, a migration say, must not stop a unit being registered).
SNAPSHOT_CREATED_UNITS_SQL = f"""
SELECT {BOARD_UNIT_COLUMNS.replace(UNIT_INCIDENT_SQL, "NULL::bigint")}
FROM units u WHERE u.id = ANY($1::bigint[])
"""

ATTACH_SNAPSHOTS_SQL = """
UPDATE events AS e SET data = e.data || jsonb_build_object('snapshot', p.snapshot)
FROM unnest($1::bigint[], $2::jsonb[]) AS p(id, snapshot)
WHERE e.id = p.id
"""


def location_of(row: dict[str, Any]) -> dict[str, float] | None:
    return None if row.get("lat") is None else {"lat": row["lat"], "lon": row["lon"]}


def incident_out(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k not in {"lat", "lon"}}
    out["location"] = location_of(row)
    if "jurisdiction" in row:
        out["handover_centre"] = centre_name(row.get("handover_to"), row.get("jurisdiction"))
    return out


def unit_out(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k not in {"lat", "lon"}}
    out["location"] = location_of(row)
    return out


def unit_item(row: dict[str, Any]) -> dict[str, Any]:
    """A unit as the board (and every unit answer) shows it: with its next statuses."""
    out = unit_out(row)
    out["allowed_next"] = sorted(s.value for s in allowed_next(UnitStatus(row["status"])))
    return out


async def incident_items(conn: asyncpg.Connection, rows: list[Any]) -> list[dict[str, Any]]:
    """Incident rows (BOARD_INCIDENT_COLUMNS) in board shape, each with its assignments."""
    by_incident: dict[int, list[dict[str, Any]]] = {r["id"]: [] for r in rows}
    if rows:
        for a in await conn.fetch(ASSIGNMENTS_FOR_INCIDENTS_SQL, list(by_incident)):
            by_incident[a["incident_id"]].append(dict(a))
    return [dict(incident_out(dict(r)), assignments=by_incident[r["id"]]) for r in rows]


async def snapshots(conn: asyncpg.Connection, incidents: dict[int, int],
                    units: dict[int, int], *, fresh: Collection[int] = (),
                    created: Collection[int] = (),
                    created_units: Collection[int] = ()) -> dict[int, dict[str, Any]]:
    """Bump and snapshot the records a transaction wrote events about.

    ``incidents`` and ``units`` map each record's id to a key of the event that will
    carry its snapshot; returns ``{key: {"incident": ..., "unit": ...}}``. ``created``
    and ``created_units``: the records this transaction made (read, not bumped);
    ``fresh``: incidents it made that have no assignment yet (none to read).
    """
    per_event: dict[int, dict[str, Any]] = {}
    if incidents:
        rows = await _read_or_bump(conn, incidents, created, SNAPSHOT_CREATED_INCIDENTS_SQL,
                                   SNAPSHOT_INCIDENTS_SQL)
        if all(r["id"] in fresh for r in rows):
            items = [dict(incident_out(dict(r)), assignments=[]) for r in rows]
        else:
            items = await incident_items(conn, rows)
        for item in items:
            per_event.setdefault(incidents[item["id"]], {})["incident"] = item
    if units:
        for row in await _read_or_bump(conn, units, created_units, SNAPSHOT_CREATED_UNITS_SQL,
                                       SNAPSHOT_UNITS_SQL):
            per_event.setdefault(units[row["id"]], {})["unit"] = unit_item(dict(row))
    return per_event


async def _read_or_bump(conn: asyncpg.Connection, ids: Collection[int],
                        created: Collection[int], read_sql: str, bump_sql: str
                        ) -> list[asyncpg.Record]:
    """The board rows of ``ids``: those the transaction created read as they are, the
    others bumped and read (each statement only when it has ids)."""
    made = sorted(i for i in ids if i in created)
    known = sorted(i for i in ids if i not in created)
    return [*(await conn.fetch(read_sql, made) if made else []),
            *(await conn.fetch(bump_sql, known) if known else [])]


async def write_snapshots(conn: asyncpg.Connection, incidents: dict[int, int],
                          units: dict[int, int]) -> None:
    """Snapshot records into events already written (``{record id: event id}``)."""
    per_event = await snapshots(conn, incidents, units)
    if per_event:
        ids = list(per_event)
        await conn.execute(ATTACH_SNAPSHOTS_SQL, ids, [per_event[i] for i in ids])
