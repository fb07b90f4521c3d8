"""An incident's timeline as people read it: one list, oldest first, from several sources.

Each source is a function (connection, incident id) -> items; :data:`SOURCES` lists
them, so a new kind of record (e.g. alerts kept in a table of their own) is one
more function appended there. Items are {"at", "kind", ...} with, where they
apply, "text", "unit_id", "callsign", "status", "author", "call_id", "address",
"alert_kind", and "event" (the event log's kind) for items from the event log.
GET /api/v1/incidents/{id}/timeline and GET /api/v1/incidents/{id} serve the same list.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import asyncpg

Item = dict[str, Any]
Source = Callable[[asyncpg.Connection, int], Awaitable[list[Item]]]

EVENTS_SQL = """
SELECT e.id, e.occurred_at, e.kind, e.unit_id, e.actor, e.data, u.callsign
FROM events e LEFT JOIN units u ON u.id = e.unit_id
WHERE e.incident_id = $1 ORDER BY e.id
"""

NOTES_SQL = """
SELECT id, text, author, created_at FROM incident_notes WHERE incident_id = $1 ORDER BY id
"""

# Event kinds shown under a shorter name; the others keep the event log's kind.
_KINDS = {
    "incident.created": "created",
    "incident.closed": "closed",
    "incident.relocated": "relocated",
    "incident.queued": "status",
    "incident.dispatched": "status",
    "incident.taken_over": "taken_over",
    "incident.handover_required": "handover",
    "caller.linked": "caller",
    "unit.assigned": "unit_assigned",
    "unit.status": "unit_status",
    "assignment.ended": "unit_released",
    "alert.raised": "alert_raised",
    "alert.acknowledged": "alert_acknowledged",
    "alert.cleared": "alert_cleared",
}
# Shown from a source of their own (the note), or already told by another event
# (a linked caller's call.logged is its caller.linked).
_SKIPPED = frozenset({"incident.note_added"})


def _event_item(row: asyncpg.Record) -> Item | None:
    kind, data = row["kind"], row["data"] or {}
    if kind in _SKIPPED or (kind == "call.logged" and data.get("disposition") != "emergency"):
        return None
    item: Item = {"at": row["occurred_at"], "kind": _KINDS.get(kind, kind), "event": kind,
                  "author": row["actor"]}
    if kind == "call.logged":
        item["kind"] = "call"
    if kind.startswith("handover."):
        item.update(kind="handover", status=kind.removeprefix("handover."))
    if row["unit_id"] is not None:
        item.update(unit_id=row["unit_id"], callsign=data.get("callsign") or row["callsign"])
    if "call_id" in data:
        item["call_id"] = data["call_id"]
    if data.get("address"):
        item["address"] = data["address"]
    text = data.get("note") or data.get("reason") or data.get("queue_reason")
    if text:
        item["text"] = text
    if "status" in data and kind != "incident.created":
        item["status"] = data["status"]
    if kind == "incident.closed":
        item["status"] = data.get("disposition")
    alert = data.get("alert")
    if isinstance(alert, dict):
        item["alert_kind"] = alert.get("kind")
        if alert.get("unit_id") is not None:
            item.setdefault("unit_id", alert["unit_id"])
            item.setdefault("callsign", alert.get("callsign"))
    return item


async def events_source(conn: asyncpg.Connection, incident_id: int) -> list[Item]:
    """Created, callers, units and their statuses, relocation, handover, alerts, close."""
    items = (_event_item(r) for r in await conn.fetch(EVENTS_SQL, incident_id))
    return [i for i in items if i is not None]


async def notes_source(conn: asyncpg.Connection, incident_id: int) -> list[Item]:
    return [{"at": r["created_at"], "kind": "note", "text": r["text"], "author": r["author"],
             "note_id": r["id"]} for r in await conn.fetch(NOTES_SQL, incident_id)]


SOURCES: list[Source] = [events_source, notes_source]


async def build(conn: asyncpg.Connection, incident_id: int) -> list[Item]:
    """Every source's items, oldest first (ties keep the sources' own order)."""
    items: list[Item] = []
    for source in SOURCES:
        items += await source(conn, incident_id)
    return sorted(items, key=_at)


def _at(item: Item) -> datetime:
    at: datetime = item["at"]
    return at
