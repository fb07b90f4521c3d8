"""The event log: timeline and outbox in one table.

An action's events are held until just before its transaction commits
(:func:`dispatch.store.db.in_transaction` calls :func:`write_events`), then written in
one statement; the last event about each incident or unit carries that record's board
snapshot and new revision (dispatch/board.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import asyncpg

INSERT_EVENT_SQL = """
INSERT INTO events (kind, incident_id, unit_id, actor, data)
VALUES ($1, $2, $3, $4, $5)
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
    "handover.delivery_failed", "incident.note_added",
})
# Whole families of such events: alerts (raised by a loop that reads without locks)
# and the telephone exchange's call progress.
NO_SNAPSHOT_PREFIXES = ("alert.", "telephony.")
# Kinds after which an incident's assignments may differ from what it had before.
ASSIGNMENT_KINDS = frozenset({"unit.assigned", "assignment.ended", "unit.status"})

# A transaction's events, written in one statement just before it commits.
INSERT_EVENTS_SQL = """
INSERT INTO events (kind, incident_id, unit_id, actor, data)
SELECT e.kind, e.incident_id, e.unit_id, e.actor, e.data
FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::jsonb[])
     WITH ORDINALITY AS e(kind, incident_id, unit_id, actor, data, n)
ORDER BY e.n
"""


@dataclass
class Touched:
    """One transaction's events, and the records they are about.

    ``incidents`` and ``units`` map a record's id to the index (in ``events``) of the
    last event about it; ``created`` holds incidents made in this transaction, and
    ``assignments`` the incidents whose assignments it may have changed; ``created_units``
    the units made in it.
    """

    events: list[tuple[str, int | None, int | None, str, dict[str, Any]]] = field(
        default_factory=list)
    incidents: dict[int, int] = field(default_factory=dict)
    units: dict[int, int] = field(default_factory=dict)
    created: set[int] = field(default_factory=set)
    assignments: set[int] = field(default_factory=set)
    created_units: set[int] = field(default_factory=set)


# Per database session (server pid): a connection runs one transaction at a time.
# Only a transaction begun by dispatch.store.db.in_transaction is here.
_TOUCHED: dict[int, Touched] = {}


def _session(conn: asyncpg.Connection) -> int:
    return int(conn.get_server_pid())


def begin_events(conn: asyncpg.Connection) -> None:
    """Hold this connection's events until :func:`write_events` (before the commit)."""
    _TOUCHED[_session(conn)] = Touched()


def forget_events(conn: asyncpg.Connection) -> None:
    """Drop what a rolled back transaction held."""
    _TOUCHED.pop(_session(conn), None)


def events_mark(conn: asyncpg.Connection) -> int:
    """How many events are held now (for :func:`events_rollback` after a savepoint)."""
    touched = _TOUCHED.get(_session(conn))
    return len(touched.events) if touched is not None else 0


def events_rollback(conn: asyncpg.Connection, mark: int) -> None:
    """Forget the events held since ``mark``: their savepoint was rolled back."""
    touched = _TOUCHED.get(_session(conn))
    if touched is not None:
        kept = touched.events[:mark]
        for held in (touched.events, touched.incidents, touched.units, touched.created,
                     touched.assignments, touched.created_units):
            held.clear()
        for event in kept:
            _hold(touched, *event)


async def write_events(conn: asyncpg.Connection) -> None:
    """Write the transaction's events in one statement, each record's snapshot on the
    last event about it (dispatch/board.py); call just before the commit."""
    touched = _TOUCHED.pop(_session(conn), None)
    if touched is None or not touched.events:
        return
    from dispatch.board import snapshots  # the board imports store modules

    per_event = await snapshots(conn, touched.incidents, touched.units,
                                fresh=touched.created - touched.assignments,
                                created=touched.created, created_units=touched.created_units)
    rows = touched.events
    datas = [dict(data, snapshot=per_event[i]) if i in per_event else data
             for i, (_, _, _, _, data) in enumerate(rows)]
    await conn.execute(INSERT_EVENTS_SQL, [r[0] for r in rows], [r[1] for r in rows],
                       [r[2] for r in rows], [r[3] for r in rows], datas)


async def add_event(
    conn: asyncpg.Connection,
    kind: str,
    *,
    actor: str,
    incident_id: int | None = None,
    unit_id: int | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    """Append one event; call inside the transaction that made the change.

    In a transaction of :func:`dispatch.store.db.in_transaction` (every action's) the
    event is held and written with the others just before the commit, with the board
    snapshots; elsewhere it is written at once, without snapshots.
    """
    touched = _TOUCHED.get(_session(conn))
    if touched is None:
        await conn.execute(INSERT_EVENT_SQL, kind, incident_id, unit_id, actor, data or {})
        return
    _hold(touched, kind, incident_id, unit_id, actor, data or {})


def _hold(touched: Touched, kind: str, incident_id: int | None, unit_id: int | None,
          actor: str, data: dict[str, Any]) -> None:
    index = len(touched.events)
    touched.events.append((kind, incident_id, unit_id, actor, data))
    if kind in NO_SNAPSHOT_KINDS or kind.startswith(NO_SNAPSHOT_PREFIXES):
        return
    if incident_id is not None:
        touched.incidents[incident_id] = index
        if kind == "incident.created":
            touched.created.add(incident_id)
        elif kind in ASSIGNMENT_KINDS:
            touched.assignments.add(incident_id)
    if unit_id is not None:
        touched.units[unit_id] = index
        if kind == "unit.created":
            touched.created_units.add(unit_id)


async def timeline(conn: asyncpg.Connection, incident_id: int) -> list[dict[str, Any]]:
    return [dict(r) for r in await conn.fetch(TIMELINE_SQL, incident_id)]
