"""State changes, each one transaction that writes the change and its event rows.

Views and workers call these; nothing else writes incidents, units or
assignments. Lock order is always incident first, then unit, so concurrent
transactions cannot deadlock on the common paths (the rare remaining ones are
retried by :func:`dispatch.store.db.in_transaction`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import structlog

from dispatch.constants import EVENTS_CHANNEL
from dispatch.core.geo import Point, geodesic_m, travel_time_s
from dispatch.core.jurisdiction import HANDOVER_PREFIX, Placement
from dispatch.core.lifecycle import (
    ASSIGNED,
    STAMP_COLUMN,
    UnitStatus,
    allowed_next,
    check_transition,
    ends_assignment,
)
from dispatch.core.planner import unmet_needs
from dispatch.errors import Conflict, NotFound
from dispatch.geodata import locate
from dispatch.settings import DispatchSettings
from dispatch.store import incidents as inc_sql
from dispatch.store import units as unit_sql
from dispatch.store.events import add_event

log = structlog.get_logger(__name__)
# Delivered at commit, like the events table's own NOTIFY (sql/001).
WAKE_RELAY_SQL = f"SELECT pg_notify('{EVENTS_CHANNEL}', '')"

# Assignment end reasons after which the incident needs another unit of that type.
REOPENING_REASONS = frozenset({"reassigned", "unit_out_of_service", "replaced"})


@dataclass(frozen=True)
class AssignmentPlan:
    """What is recorded about a chosen unit besides its identity."""

    distance_m: float | None
    eta_s: int | None
    stale_position: bool


def plan_for(incident: dict[str, Any], unit: dict[str, Any],
             cfg: DispatchSettings, stale: bool | None = None) -> AssignmentPlan:
    """Distance and travel estimate for a unit chosen by hand."""
    distance = None
    if incident["lat"] is not None and unit["lat"] is not None:
        distance = geodesic_m(Point(incident["lat"], incident["lon"]),
                              Point(unit["lat"], unit["lon"]))
    eta = travel_time_s(distance, cfg.speed_for(unit["unit_type"]), cfg.road_factor)
    return AssignmentPlan(distance, eta, bool(stale))


# --- incidents --------------------------------------------------------------

async def create_incident(conn: asyncpg.Connection, *, actor: str, required_types: list[str],
                          placement: Placement | None = None, **fields: Any) -> dict[str, Any]:
    incident = await inc_sql.insert_incident(conn, required_types=required_types,
                                             logged_by=actor, **fields)
    if placement is None and incident["lat"] is not None:
        # Pure and microseconds long: no reason to leave the transaction for it.
        placement = locate(incident["lat"], incident["lon"])
    if placement is not None:
        await _place(conn, incident, placement)
    await add_event(conn, "incident.created", actor=actor, incident_id=incident["id"],
                    data=incident_summary(incident))
    if incident["queue_reason"] and incident["queue_reason"].startswith(HANDOVER_PREFIX):
        await add_event(conn, "incident.handover_required", actor=actor,
                        incident_id=incident["id"],
                        data={"jurisdiction": incident["jurisdiction"],
                              "queue_reason": incident["queue_reason"],
                              "status": incident["status"]})
        log.info("incident.handover_required", incident_id=incident["id"],
                 jurisdiction=incident["jurisdiction"])
    return incident


async def _place(conn: asyncpg.Connection, incident: dict[str, Any],
                 placement: Placement) -> None:
    """Record jurisdiction and kecamatan; an incident not ours waits for a handover."""
    await conn.execute(inc_sql.SET_PLACEMENT_SQL, incident["id"], placement.jurisdiction.value,
                       placement.kecamatan_code, placement.kecamatan)
    incident.update(jurisdiction=placement.jurisdiction.value,
                    kecamatan_code=placement.kecamatan_code, kecamatan=placement.kecamatan)
    reason = placement.queue_reason
    if reason is not None:
        await conn.execute(inc_sql.SET_STATUS_SQL, incident["id"], "queued", reason)
        incident.update(status="queued", queue_reason=reason)


def incident_summary(incident: dict[str, Any]) -> dict[str, Any]:
    """The fields a console needs to draw an incident, as event data."""
    keys = ("id", "category", "priority", "lat", "lon", "address", "status", "queue_reason",
            "required_types", "received_at", "jurisdiction", "kecamatan")
    return {k: incident.get(k) for k in keys}


async def refresh_incident_status(conn: asyncpg.Connection, incident: dict[str, Any], *,
                                  actor: str) -> str:
    """Set an open incident to dispatched or queued from its assignments; emit on change."""
    covered = await inc_sql.covered_types(conn, incident["id"])
    unmet = unmet_needs(incident["required_types"], covered)
    if not unmet:
        status, reason = "dispatched", None
    elif (incident["queue_reason"] or "").startswith(HANDOVER_PREFIX):
        # Still another centre's: a unit sent by hand does not make it ours to fill up.
        status, reason = "queued", incident["queue_reason"]
    elif incident["lat"] is None:
        status, reason = "queued", "no_location"
    else:
        status, reason = "queued", "no_unit_available"
    if (status, reason) != (incident["status"], incident["queue_reason"]):
        await conn.execute(inc_sql.SET_STATUS_SQL, incident["id"], status, reason)
        await add_event(conn, f"incident.{status}", actor=actor, incident_id=incident["id"],
                        data={"status": status, "queue_reason": reason, "unmet": list(unmet),
                              "previous": incident["status"]})
        incident.update(status=status, queue_reason=reason)
    return status


async def close_incident(conn: asyncpg.Connection, incident_id: int, *, disposition: str,
                         note: str, actor: str) -> dict[str, Any]:
    incident = await inc_sql.get_incident(conn, incident_id, lock=True)
    if incident is None:
        raise NotFound(f"incident {incident_id} not found")
    if incident["status"] == "closed":
        raise Conflict(f"incident {incident_id} is already closed", code="incident_closed")
    assignments = await conn.fetch(inc_sql.ASSIGNMENTS_FOR_INCIDENT_SQL, incident_id)
    for asg in assignments:
        if asg["ended_at"] is None:
            await end_assignment(conn, dict(asg), reason="incident_closed", actor=actor,
                                 incident=None)
            await set_unit_status(conn, asg["unit_id"], UnitStatus.AVAILABLE, actor=actor,
                                  incident_id=incident_id, assignment_id=asg["id"])
    closed = dict(await conn.fetchrow(inc_sql.CLOSE_INCIDENT_SQL, incident_id, disposition,
                                      note))
    await add_event(conn, "incident.closed", actor=actor, incident_id=incident_id,
                    data={"status": "closed", "disposition": disposition, "note": note})
    return closed


# --- assignments ------------------------------------------------------------

async def insert_assignment(conn: asyncpg.Connection, incident: dict[str, Any],
                            unit: dict[str, Any], plan: AssignmentPlan, *, method: str,
                            actor: str) -> int:
    """Record a claimed unit on an incident (the unit row is already 'dispatched')."""
    row = await conn.fetchrow(inc_sql.INSERT_ASSIGNMENT_SQL, incident["id"], unit["id"],
                              unit["unit_type"], method, actor, plan.distance_m, plan.eta_s,
                              plan.stale_position)
    data = {
        "assignment_id": row["id"], "callsign": unit["callsign"],
        "unit_type": unit["unit_type"], "method": method, "distance_m": plan.distance_m,
        "eta_s": plan.eta_s, "stale_position": plan.stale_position,
        "status": UnitStatus.DISPATCHED.value,
    }
    await add_event(conn, "unit.assigned", actor=actor, incident_id=incident["id"],
                    unit_id=unit["id"], data=data)
    log.info("unit.assigned", incident_id=incident["id"], unit_id=unit["id"],
             callsign=unit["callsign"], method=method, distance_m=plan.distance_m)
    return int(row["id"])


async def end_assignment(conn: asyncpg.Connection, assignment: dict[str, Any], *, reason: str,
                         actor: str, incident: dict[str, Any] | None) -> None:
    """End an open assignment. With ``incident`` (locked), re-queue it if a need re-opens."""
    ended = await conn.fetchrow(inc_sql.END_ASSIGNMENT_SQL, assignment["id"], reason)
    if ended is None:
        return
    await add_event(conn, "assignment.ended", actor=actor, incident_id=ended["incident_id"],
                    unit_id=ended["unit_id"],
                    data={"assignment_id": ended["id"], "reason": reason})
    if incident is not None and reason in REOPENING_REASONS and incident["status"] != "closed":
        await refresh_incident_status(conn, incident, actor=actor)


async def assign_manual(conn: asyncpg.Connection, incident_id: int, unit_id: int, *,
                        actor: str, cfg: DispatchSettings, take_from_other: bool,
                        replaces_assignment_id: int | None) -> int:
    """An operator's assignment or reassignment; returns the new assignment id."""
    incident = await inc_sql.get_incident(conn, incident_id, lock=True)
    if incident is None:
        raise NotFound(f"incident {incident_id} not found")
    if incident["status"] == "closed":
        raise Conflict(f"incident {incident_id} is closed", code="incident_closed")
    unit = await unit_sql.get_unit(conn, unit_id, lock=True)
    if unit is None:
        raise NotFound(f"unit {unit_id} not found")
    current = await inc_sql.open_assignment_for_unit(conn, unit_id)
    if current is not None:
        await _release_from(conn, current, incident, unit, actor, take_from_other)
    elif unit["status"] != UnitStatus.AVAILABLE:
        raise Conflict(f"unit {unit['callsign']} is {unit['status']}", code="unit_unavailable",
                       unit_status=unit["status"])
    if replaces_assignment_id is not None:
        await _replace(conn, incident, replaces_assignment_id, actor)
    await set_unit_status(conn, unit_id, UnitStatus.DISPATCHED, actor=actor,
                          incident_id=incident_id)
    plan = plan_for(incident, unit, cfg)
    assignment_id = await insert_assignment(conn, incident, unit, plan, method="manual",
                                            actor=actor)
    if incident["status"] != "closed":
        await refresh_incident_status(conn, incident, actor=actor)
    return assignment_id


async def _release_from(conn: asyncpg.Connection, current: dict[str, Any],
                        incident: dict[str, Any], unit: dict[str, Any], actor: str,
                        take_from_other: bool) -> None:
    if current["incident_id"] == incident["id"]:
        raise Conflict(f"unit {unit['callsign']} is already on incident {incident['id']}",
                       code="already_assigned")
    if not take_from_other:
        raise Conflict(
            f"unit {unit['callsign']} is busy on incident {current['incident_id']}; "
            "send take_from_other=true to reassign it",
            code="unit_busy", incident_id=current["incident_id"])
    other = await inc_sql.get_incident(conn, current["incident_id"], lock=True)
    await end_assignment(conn, current, reason="reassigned", actor=actor, incident=other)


async def _replace(conn: asyncpg.Connection, incident: dict[str, Any], assignment_id: int,
                   actor: str) -> None:
    old = await conn.fetchrow(inc_sql.GET_ASSIGNMENT_SQL, assignment_id)
    if old is None or old["incident_id"] != incident["id"] or old["ended_at"] is not None:
        raise Conflict(f"assignment {assignment_id} is not open on incident {incident['id']}",
                       code="not_replaceable")
    await unit_sql.get_unit(conn, old["unit_id"], lock=True)
    await end_assignment(conn, dict(old), reason="replaced", actor=actor, incident=None)
    await set_unit_status(conn, old["unit_id"], UnitStatus.AVAILABLE, actor=actor,
                          incident_id=incident["id"], assignment_id=assignment_id)


# --- units ------------------------------------------------------------------

async def set_unit_status(conn: asyncpg.Connection, unit_id: int, status: UnitStatus, *,
                          actor: str, incident_id: int | None = None,
                          assignment_id: int | None = None,
                          previous: str | None = None) -> dict[str, Any]:
    """Write a unit's status and its event (no lifecycle check: callers decide)."""
    unit = dict(await conn.fetchrow(unit_sql.SET_UNIT_STATUS_SQL, unit_id, status.value))
    await unit_status_event(conn, unit, actor=actor, incident_id=incident_id,
                            assignment_id=assignment_id, previous=previous)
    return unit


async def unit_status_event(conn: asyncpg.Connection, unit: dict[str, Any], *, actor: str,
                            incident_id: int | None, assignment_id: int | None = None,
                            previous: str | None = None) -> None:
    await add_event(conn, "unit.status", actor=actor, incident_id=incident_id,
                    unit_id=unit["id"],
                    data={"status": unit["status"], "previous": previous,
                          "callsign": unit["callsign"], "assignment_id": assignment_id})


class _AssignmentMoved(Exception):
    """The unit's assignment changed between reading it and locking; start over."""


async def change_unit_status(conn: asyncpg.Connection, unit_id: int, requested: UnitStatus, *,
                             actor: str) -> dict[str, Any]:
    """A responder's or operator's status change, checked against the lifecycle."""
    for _ in range(5):
        try:
            return await _change_unit_status(conn, unit_id, requested, actor)
        except _AssignmentMoved:
            continue
    raise Conflict("unit is being changed concurrently; try again", code="busy")


async def _change_unit_status(conn: asyncpg.Connection, unit_id: int, requested: UnitStatus,
                              actor: str) -> dict[str, Any]:
    seen = await inc_sql.open_assignment_for_unit(conn, unit_id)
    incident = None
    if seen is not None:
        incident = await inc_sql.get_incident(conn, seen["incident_id"], lock=True)
    unit = await unit_sql.get_unit(conn, unit_id, lock=True)
    if unit is None:
        raise NotFound(f"unit {unit_id} not found")
    assignment = await inc_sql.open_assignment_for_unit(conn, unit_id)
    if (assignment or {}).get("id") != (seen or {}).get("id"):
        raise _AssignmentMoved()
    current = UnitStatus(unit["status"])
    if requested is UnitStatus.DISPATCHED:
        raise Conflict("a unit becomes dispatched only through an assignment",
                       code="illegal_transition", current=current.value,
                       allowed=sorted(s.value for s in allowed_next(current)))
    check_transition(current, requested)
    incident_id = assignment["incident_id"] if assignment else None
    updated = await set_unit_status(conn, unit_id, requested, actor=actor,
                                    incident_id=incident_id,
                                    assignment_id=assignment["id"] if assignment else None,
                                    previous=current.value)
    if assignment is not None:
        reason = ends_assignment(current, requested)
        if reason is not None:
            await end_assignment(conn, assignment, reason=reason, actor=actor,
                                 incident=incident)
        elif requested in STAMP_COLUMN:
            column = STAMP_COLUMN[requested]
            await conn.execute(
                f"UPDATE assignments SET status = $2, {column} = clock_timestamp() "  # noqa: S608
                "WHERE id = $1", assignment["id"], requested.value)
    elif current in ASSIGNED:
        log.error("unit.inconsistent", unit_id=unit_id, status=current.value)
    return updated


async def create_unit(conn: asyncpg.Connection, *, actor: str, callsign: str, unit_type: str,
                      agency: str, home_station: str, lat: float | None,
                      lon: float | None) -> dict[str, Any]:
    row = await conn.fetchrow(unit_sql.INSERT_UNIT_SQL, callsign, unit_type, agency,
                              home_station, lat, lon)
    if row is None:
        raise Conflict(f"callsign {callsign!r} is already in use", code="duplicate_callsign")
    unit = dict(row)
    await add_event(conn, "unit.created", actor=actor, unit_id=unit["id"],
                    data={k: unit[k] for k in ("callsign", "unit_type", "agency", "lat", "lon",
                                                "status")})
    return unit


async def move_unit(conn: asyncpg.Connection, unit_id: int, *, lat: float, lon: float,
                    at: datetime, accuracy_m: float | None, source: str,
                    actor: str) -> tuple[dict[str, Any], bool]:
    """Record a fix in the unit's track; move the unit if the fix is its newest.

    No event per fix: the relay sends the newest position of each moved unit at
    most every ``units.position_event_s`` (store/units.FLUSH_POSITIONS_SQL), and the
    ping only wakes it. Returns (the unit, whether it moved).
    """
    row = await conn.fetchrow(unit_sql.MOVE_UNIT_SQL, unit_id, lat, lon, at, accuracy_m, actor)
    unit = dict(row) if row is not None else await unit_sql.get_unit(conn, unit_id)
    if unit is None:
        raise NotFound(f"unit {unit_id} not found")
    await conn.execute(unit_sql.INSERT_POSITION_SQL, unit_id, at, lat, lon, accuracy_m, source,
                       actor)
    if row is not None:
        await conn.execute(WAKE_RELAY_SQL)
    return unit, row is not None
