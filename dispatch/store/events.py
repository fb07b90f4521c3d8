"""The event log: timeline and outbox in one table.

Each event an action writes about an incident or a unit also marks that record as
changed by the transaction; :func:`write_snapshots` (called by
:func:`dispatch.store.db.in_transaction` just before commit) adds the record's board
snapshot and new revision to the last such event (dispatch/board.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import asyncpg

INSERT_EVENT_SQL = """
INSERT INTO events (kind, incident_id, unit_id, actor, data)
VALUES ($1, $2, $3, $4, $5)
RETURNING id
"""

TIMELINE_SQL = """
SELECT id, occurred_at, kind, unit_id, actor, data
FROM events WHERE incident_id = $1 ORDER BY id
"""

UNPUBLISHED_SQL = """
SELECT id, occurred_at, kind, incident_id, unit_id, actor, data
FROM events WHERE published_at IS NULL ORDER BY id LIMIT $1
"""

MARK_PUBLISHED_SQL = """
UPDATE events AS e SET published_at = clock_timestamp(), stream_id = p.stream_id
FROM unnest($1::bigint[], $2::text[]) AS p(id, stream_id)
WHERE e.id = p.id
"""

# Events that change nothing the board shows of their incident or unit, and are
# written without that record's lock: they carry no snapshot.
NO_SNAPSHOT_KINDS = frozenset({
    "call.location_fix", "call.location_link", "handover.delivered",
    "handover.delivery_failed",
})


@dataclass
class Touched:
    """The records one transaction wrote events about: id -> its last event's id."""

    incidents: dict[int, int] = field(default_factory=dict)
    units: dict[int, int] = field(default_factory=dict)


# Per database session (server pid): a connection runs one transaction at a time.
_TOUCHED: dict[int, Touched] = {}


def _session(conn: asyncpg.Connection) -> int:
    return int(conn.get_server_pid())


def forget_touched(conn: asyncpg.Connection) -> None:
    """Drop what a connection's previous (rolled back or foreign) transaction noted."""
    _TOUCHED.pop(_session(conn), None)


async def write_snapshots(conn: asyncpg.Connection) -> None:
    """Snapshot every record this transaction wrote events about; call before commit."""
    touched = _TOUCHED.pop(_session(conn), None)
    if touched is not None and (touched.incidents or touched.units):
        from dispatch.board import write_snapshots as write  # the board imports store modules

        await write(conn, touched.incidents, touched.units)


async def add_event(
    conn: asyncpg.Connection,
    kind: str,
    *,
    actor: str,
    incident_id: int | None = None,
    unit_id: int | None = None,
    data: dict[str, Any] | None = None,
) -> int:
    """Append one event; call inside the transaction that made the change."""
    event_id: int = await conn.fetchval(
        INSERT_EVENT_SQL, kind, incident_id, unit_id, actor, data or {}
    )
    if kind not in NO_SNAPSHOT_KINDS and (incident_id is not None or unit_id is not None):
        touched = _TOUCHED.setdefault(_session(conn), Touched())
        if incident_id is not None:
            touched.incidents[incident_id] = event_id
        if unit_id is not None:
            touched.units[unit_id] = event_id
    return event_id


async def timeline(conn: asyncpg.Connection, incident_id: int) -> list[dict[str, Any]]:
    return [dict(r) for r in await conn.fetch(TIMELINE_SQL, incident_id)]
