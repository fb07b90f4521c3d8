"""State changes, each one transaction that writes the change and its event rows.

The one writer: views and workers call these; nothing else writes incidents,
units, assignments, calls, AML messages or events.

Lock order. Every transaction here takes its locks in this order, so no two can
wait on each other in a cycle:

1. a caller number's advisory lock (``calls.LOCK_PHONE_SQL``), then the call row (or
   the IP-PBX's call row); an emergency asked about duplicates then locks its area's
   grid cells in sorted order (``calls.LOCK_AREA_SQL``);
2. incidents, several in ascending id order;
3. units, several in ascending id order;
4. assignments (ended or stamped only once their incident and unit are held).

A lock that would come later is never held while an earlier one is awaited.
When the rows to lock depend on what is locked (the incident a unit is on), the
rows are read first without locks, locked in order, then read again: if the
unit's assignment moved meanwhile, the attempt is rolled back to its savepoint
(releasing its locks) and started over (:func:`_attempts`). A position fix
locks its unit alone; the relay's position step never waits (``SKIP LOCKED``).
A caller's position by location link locks that link's row alone, and using it
locks the incident alone. An alert (sql/022) is raised, cleared or acknowledged
holding its own row alone.
The dispatcher locks its incident, then claims free units one per need in the
order it ranked them: two dispatchers serving two multi-unit incidents at the
same instant could claim two units in opposite orders, the one case left to the
deadlock retry of :func:`dispatch.store.db.in_transaction`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

import asyncpg
import structlog

from dispatch.constants import EVENTS_CHANNEL
from dispatch.core.aml import AmlError, AmlFix, phone_key
from dispatch.core.duplicates import area_cells, search_box
from dispatch.core.geo import Point, geodesic_m, travel_time_s
from dispatch.core.jurisdiction import HANDOVER_PREFIX, Jurisdiction, Placement
from dispatch.core.lifecycle import (
    ASSIGNED,
    STAMP_COLUMN,
    UnitStatus,
    allowed_next,
    check_transition,
    ends_assignment,
)
from dispatch.core.planner import unmet_needs
from dispatch.errors import Conflict, DomainError, Invalid, NotFound
from dispatch.gazetteer import fold
from dispatch.geodata import centre_name, locate
from dispatch.settings import CallsSettings, DispatchSettings
from dispatch.store import alerts as alert_sql
from dispatch.store import callbacks as cb_sql
from dispatch.store import calls as call_sql
from dispatch.store import exchange as ex_sql
from dispatch.store import incidents as inc_sql
from dispatch.store import locationlinks as link_sql
from dispatch.store import places as places_sql
from dispatch.store import telephony as tel_sql
from dispatch.store import units as unit_sql
from dispatch.store.events import add_event, events_mark, events_rollback

log = structlog.get_logger(__name__)
T = TypeVar("T")
# Delivered at commit, like the events table's own NOTIFY (sql/001).
WAKE_RELAY_SQL = f"SELECT pg_notify('{EVENTS_CHANNEL}', '')"

# Phone and server clocks may differ by this much when comparing a fix with a call log time.
AML_CLOCK_MARGIN = timedelta(seconds=30)
# Assignment end reasons after which the incident needs another unit of that type.
REOPENING_REASONS = frozenset({"reassigned", "unit_out_of_service", "replaced"})


@dataclass(frozen=True)
class AssignmentPlan:
    """What is recorded about a chosen unit besides its identity."""

    distance_m: float | None
    eta_s: int | None
    stale_position: bool
    # How the dispatcher ranked it ('road' or 'geodesic'; None when chosen by hand), and
    # the road distance and time when by road (then eta_s is the road time too).
    ranked_by: str | None = None
    road_distance_m: float | None = None
    road_eta_s: int | None = None


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
    if placement is None and fields.get("lat") is not None:
        # Pure and microseconds long: no reason to leave the transaction for it.
        placement = locate(fields["lat"], fields["lon"])
    incident = await inc_sql.insert_incident(conn, required_types=required_types,
                                             logged_by=actor, placement=placement, **fields)
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


def incident_summary(incident: dict[str, Any]) -> dict[str, Any]:
    """The fields a console needs to draw an incident, as event data."""
    keys = ("id", "category", "priority", "lat", "lon", "address", "status", "queue_reason",
            "required_types", "received_at", "jurisdiction", "kecamatan", "kecamatan_code",
            "desa_code", "desa", "handover_to", "location_source", "radius_m")
    summary = {k: incident.get(k) for k in keys}
    summary["handover_centre"] = centre_name(incident.get("handover_to"),
                                             incident.get("jurisdiction"))
    return summary


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
                         note: str, actor: str, confirm: bool = True) -> dict[str, Any]:
    """Close an incident, releasing its units. Without ``confirm``, units still on it
    (assigned and not released) refuse the close with 409 ``units_active``."""
    incident = await inc_sql.get_incident(conn, incident_id, lock=True)
    if incident is None:
        raise NotFound(f"incident {incident_id} not found")
    if incident["status"] == "closed":
        raise Conflict(f"incident {incident_id} is already closed", code="incident_closed")
    assignments = await conn.fetch(inc_sql.ASSIGNMENTS_FOR_INCIDENT_SQL, incident_id)
    open_ = sorted((a for a in assignments if a["ended_at"] is None), key=lambda a: a["unit_id"])
    if open_ and not confirm:
        units = [a["callsign"] for a in open_]
        raise Conflict(f"units are still on incident {incident_id} ({', '.join(units)}): "
                       "send confirm: true to close it and release them",
                       code="units_active", field="confirm", units=units)
    # Units only join or leave this incident under its lock, which is held: this is all.
    await _lock_units(conn, [a["unit_id"] for a in open_])
    for asg in open_:
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
                              plan.stale_position, plan.ranked_by, plan.road_distance_m,
                              plan.road_eta_s)
    data = {
        "assignment_id": row["id"], "callsign": unit["callsign"],
        "unit_type": unit["unit_type"], "method": method, "distance_m": plan.distance_m,
        "eta_s": plan.eta_s, "stale_position": plan.stale_position,
        "status": UnitStatus.DISPATCHED.value, "ranked_by": plan.ranked_by,
        "road_distance_m": plan.road_distance_m, "road_eta_s": plan.road_eta_s,
    }
    await add_event(conn, "unit.assigned", actor=actor, incident_id=incident["id"],
                    unit_id=unit["id"], data=data)
    log.info("unit.assigned", incident_id=incident["id"], unit_id=unit["id"],
             callsign=unit["callsign"], method=method, distance_m=plan.distance_m,
             ranked_by=plan.ranked_by, road_eta_s=plan.road_eta_s)
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
    async def attempt() -> int:
        return await _assign_manual(conn, incident_id, unit_id, actor, cfg, take_from_other,
                                    replaces_assignment_id)

    return await _attempts(conn, attempt)


async def _assign_manual(conn: asyncpg.Connection, incident_id: int, unit_id: int, actor: str,
                         cfg: DispatchSettings, take_from_other: bool,
                         replaces_assignment_id: int | None) -> int:
    seen = await inc_sql.open_assignment_for_unit(conn, unit_id)
    old = None
    if replaces_assignment_id is not None:
        old = await conn.fetchrow(inc_sql.GET_ASSIGNMENT_SQL, replaces_assignment_id)
    # The unit's present incident is locked with this one, lower id first.
    incidents = await _lock_incidents(conn, [incident_id, *([seen["incident_id"]] if seen
                                                            else [])])
    incident = incidents.get(incident_id)
    if incident is None:
        raise NotFound(f"incident {incident_id} not found")
    if incident["status"] == "closed":
        raise Conflict(f"incident {incident_id} is closed", code="incident_closed")
    units = await _lock_units(conn, [unit_id, *([old["unit_id"]] if old else [])])
    unit = units.get(unit_id)
    if unit is None:
        raise NotFound(f"unit {unit_id} not found")
    current = await inc_sql.open_assignment_for_unit(conn, unit_id)
    if _id(current) != _id(seen):
        raise _AssignmentMoved()
    if current is not None:
        await _release_from(conn, current, incident, unit, actor, take_from_other,
                            other=incidents.get(current["incident_id"]))
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
                        take_from_other: bool, *, other: dict[str, Any] | None) -> None:
    """End the unit's assignment on its other incident (already locked, as ``other``)."""
    if current["incident_id"] == incident["id"]:
        raise Conflict(f"unit {unit['callsign']} is already on incident {incident['id']}",
                       code="already_assigned")
    if not take_from_other:
        raise Conflict(
            f"unit {unit['callsign']} is busy on incident {current['incident_id']}; "
            "send take_from_other=true to reassign it",
            code="unit_busy", incident_id=current["incident_id"])
    await end_assignment(conn, current, reason="reassigned", actor=actor, incident=other)


async def _replace(conn: asyncpg.Connection, incident: dict[str, Any], assignment_id: int,
                   actor: str) -> None:
    """End an assignment of ``incident`` and free its unit (both already locked)."""
    old = await conn.fetchrow(inc_sql.GET_ASSIGNMENT_SQL, assignment_id)
    if old is None or old["incident_id"] != incident["id"] or old["ended_at"] is not None:
        raise Conflict(f"assignment {assignment_id} is not open on incident {incident['id']}",
                       code="not_replaceable")
    await end_assignment(conn, dict(old), reason="replaced", actor=actor, incident=None)
    await set_unit_status(conn, old["unit_id"], UnitStatus.AVAILABLE, actor=actor,
                          incident_id=incident["id"], assignment_id=assignment_id)


# --- locking ----------------------------------------------------------------

class _AssignmentMoved(Exception):
    """The unit's assignment changed between reading it and locking; start over."""


LOCK_ATTEMPTS = 5


async def _attempts(conn: asyncpg.Connection, attempt: Callable[[], Awaitable[T]]) -> T:
    """Run ``attempt`` in a savepoint; when the rows it had to lock moved, roll it back
    (which releases its locks, so the next attempt takes them in order again) and retry."""
    for _ in range(LOCK_ATTEMPTS):
        mark = events_mark(conn)
        try:
            async with conn.transaction():
                return await attempt()
        except _AssignmentMoved:
            events_rollback(conn, mark)  # the attempt's events went with its savepoint
            continue
    raise Conflict("unit is being changed concurrently; try again", code="busy")


def _id(row: dict[str, Any] | None) -> int | None:
    return None if row is None else int(row["id"])


async def _lock_incidents(conn: asyncpg.Connection, ids: list[int]
                          ) -> dict[int, dict[str, Any]]:
    """Lock these incidents in ascending id order; the ones that exist, by id."""
    found = {}
    for incident_id in sorted(set(ids)):
        row = await inc_sql.get_incident(conn, incident_id, lock=True)
        if row is not None:
            found[incident_id] = row
    return found


async def _lock_units(conn: asyncpg.Connection, ids: list[int]) -> dict[int, dict[str, Any]]:
    """Lock these units in ascending id order; the ones that exist, by id."""
    found = {}
    for unit_id in sorted(set(ids)):
        row = await unit_sql.get_unit(conn, unit_id, lock=True)
        if row is not None:
            found[unit_id] = row
    return found


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


async def change_unit_status(conn: asyncpg.Connection, unit_id: int, requested: UnitStatus, *,
                             actor: str) -> dict[str, Any]:
    """A responder's or operator's status change, checked against the lifecycle."""
    async def attempt() -> dict[str, Any]:
        return await _change_unit_status(conn, unit_id, requested, actor)

    return await _attempts(conn, attempt)


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
    if _id(assignment) != _id(seen):
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


# --- calls, AML and handover -----------------------------------------------

@dataclass(frozen=True)
class NewIncident:
    """The incident an emergency call opens (validated by the view)."""

    category: str
    priority: int
    required_types: list[str]
    lat: float | None
    lon: float | None
    address: str
    description: str
    location_source: str | None = None
    radius_m: float | None = None


@dataclass(frozen=True)
class CallReport:
    """One contact as the call-taker logs it (validated by the view)."""

    caller_phone: str
    phone_key: str
    disposition: str
    rang_at: datetime | None
    answered_at: datetime | None
    note: str
    lat: float | None          # where the caller says they are, typed by the operator
    lon: float | None
    incident: NewIncident | None = None    # an emergency
    incident_id: int | None = None         # a duplicate of this open incident
    handover_to: str | None = None
    address: str = ""                      # where the caller says it is, as typed
    telephony_call_id: str | None = None   # the IP-PBX's call: its ring and answer times


# Asked before an emergency opens its incident, with the incident's point and category
# once known (the operator's, or the AML fix's); raises to refuse a likely duplicate.
DuplicateCheck = Callable[[asyncpg.Connection, float, float, str], Awaitable[None]]


async def log_call(conn: asyncpg.Connection, report: CallReport, *, actor: str, now: datetime,
                   cfg: CallsSettings, check_duplicate: DuplicateCheck | None = None
                   ) -> dict[str, Any]:
    """Log a contact; an emergency opens an incident, a duplicate joins one.

    The number's advisory lock (taken first, see the lock order above) serialises
    this with AML reception, so a fix arriving meanwhile is attached exactly once.
    A call the IP-PBX announced (``telephony_call_id``) takes its ring and answer times
    from there, and is logged once. Returns {call, incident, repeat_caller, aml}.
    """
    await conn.execute(call_sql.LOCK_PHONE_SQL, report.phone_key)
    if report.telephony_call_id is not None:
        report = await _with_pbx_times(conn, report)
    repeat = await repeat_caller(conn, report.phone_key, now, cfg)
    held = [dict(r) for r in await conn.fetch(
        call_sql.HELD_AML_SQL, report.phone_key, now - timedelta(seconds=cfg.aml_match_window_s))]
    fix = next((h for h in held if h["lat"] is not None), None)  # pm=N fixes locate nothing
    incident = None
    if report.incident is not None:
        incident = await _open_incident(conn, report, report.incident, fix, actor, cfg,
                                        check_duplicate)
    elif report.incident_id is not None:
        incident = await _linked_incident(conn, report.incident_id)
    lat, lon, accuracy, source, where = _call_location(report, incident, fix)
    call = await call_sql.insert_call(
        conn, caller_phone=report.caller_phone, phone_key=report.phone_key,
        disposition=report.disposition, incident_id=incident["id"] if incident else None,
        handover_to=report.handover_to, rang_at=report.rang_at, answered_at=report.answered_at,
        logged_by=actor, note=report.note, lat=lat, lon=lon, accuracy_m=accuracy,
        location_source=source, kecamatan_code=where.kecamatan_code,
        repeat_caller=repeat["flagged"], jurisdiction=where.jurisdiction,
        kecamatan=where.kecamatan, desa_code=where.desa_code, desa=where.desa,
        address=report.address, telephony_call_id=report.telephony_call_id)
    if held:
        await conn.execute(call_sql.ATTACH_AML_SQL, [h["id"] for h in held], call["id"])
        for h in held:
            h.update(status="attached", call_id=call["id"])
    await _call_events(conn, report, call, incident, repeat, actor)
    callback = None
    if report.disposition == "ghost" and cfg.callback_enabled:
        callback = await open_callback(conn, call, key=report.phone_key,
                                       within_s=cfg.callback_within_s, actor=actor)
    return {"call": call, "incident": incident, "repeat_caller": repeat, "aml": held,
            "callback": callback}


async def _with_pbx_times(conn: asyncpg.Connection, report: CallReport) -> CallReport:
    """The report with the ring and answer times the IP-PBX gave for its call (locked
    after the caller number, as a call row is); 409 if that call is logged already."""
    pbx = await conn.fetchrow(tel_sql.LOCK_CALL_SQL, report.telephony_call_id)
    if pbx is None:
        raise Invalid(f"no telephony call {report.telephony_call_id!r}",
                      code="unknown_telephony_call", field="telephony_call_id")
    logged = await conn.fetchval(tel_sql.LOGGED_CALL_SQL, report.telephony_call_id)
    if logged is not None:
        raise Conflict(f"telephony call {report.telephony_call_id!r} is logged already "
                       f"(call {logged})", code="telephony_call_logged",
                       field="telephony_call_id", call_id=logged)
    rang = pbx["rang_at"] or report.rang_at
    answered = pbx["answered_at"] or report.answered_at
    if rang is not None and answered is not None and answered < rang:
        answered = rang  # the console's own answer time before the PBX's ring: clocks
    return replace(report, rang_at=rang, answered_at=answered)


async def repeat_caller(conn: asyncpg.Connection, key: str, now: datetime,
                        cfg: CallsSettings) -> dict[str, Any]:
    """The number's prank and silent calls saved before ``now``; flagged, never blocked.

    The one repeat-caller rule: the call being logged (not saved yet) is not counted,
    so GET /api/v1/callers/{phone} shows while the number is typed what logging the
    call will record."""
    since = now - timedelta(days=cfg.repeat_caller_days)
    count = int(await conn.fetchval(call_sql.PRANK_COUNT_SQL, key, since))
    # A block request recorded by a supervisor is only a flag here: the call is answered.
    blocked = await conn.fetchval(cb_sql.ACTIVE_BLOCK_SQL, key)
    return {"flagged": count >= cfg.repeat_caller_calls or blocked is not None,
            "prank_or_ghost_calls": count, "threshold": cfg.repeat_caller_calls,
            "days": cfg.repeat_caller_days, "block_requested_until": blocked}


async def _open_incident(conn: asyncpg.Connection, report: CallReport, new: NewIncident,
                         fix: dict[str, Any] | None, actor: str, cfg: CallsSettings,
                         check_duplicate: DuplicateCheck | None) -> dict[str, Any]:
    lat, lon, source, radius = new.lat, new.lon, new.location_source, new.radius_m
    if lat is None and fix is not None:
        lat, lon, source, radius = fix["lat"], fix["lon"], "aml", fix["radius_m"]
    if lat is None and not new.address:
        raise Invalid("give incident.location or incident.address: no AML position arrived "
                      "for this number", field="incident.location")
    if check_duplicate is not None and lat is not None and lon is not None:
        box = search_box(Point(lat, lon), cfg.duplicate_radius_m)
        for cell in area_cells(box):  # sorted: two reports lock shared cells in one order
            await conn.execute(call_sql.LOCK_AREA_SQL, cell)
        await check_duplicate(conn, lat, lon, new.category)
    return await create_incident(
        conn, actor=actor, required_types=new.required_types, caller_phone=report.caller_phone,
        category=new.category, priority=new.priority, lat=lat, lon=lon, address=new.address,
        description=new.description, received_at=report.rang_at, location_source=source,
        radius_m=radius)


async def _linked_incident(conn: asyncpg.Connection, incident_id: int) -> dict[str, Any]:
    incident = await inc_sql.get_incident(conn, incident_id, lock=True)
    if incident is None:
        raise NotFound(f"incident {incident_id} not found", field="incident_id")
    if incident["status"] == "closed":
        raise Conflict(f"incident {incident_id} is closed; log the call as a new emergency",
                       code="incident_closed")
    return incident


def _call_location(report: CallReport, incident: dict[str, Any] | None,
                   fix: dict[str, Any] | None) -> tuple[Any, ...]:
    """(lat, lon, accuracy_m, source, where) of the call itself; where is a _CallPlace."""
    lat: float | None = None
    lon: float | None = None
    accuracy: float | None = None
    source: str | None = None
    if report.lat is not None:
        lat, lon, source = report.lat, report.lon, "operator"
    elif fix is not None:
        lat, lon, accuracy, source = fix["lat"], fix["lon"], fix["radius_m"], "aml"
    if incident is not None and (lat is None
                                 or (lat, lon) == (incident.get("lat"), incident.get("lon"))):
        where = _CallPlace(incident.get("jurisdiction"), incident.get("kecamatan_code"),
                           incident.get("kecamatan"), incident.get("desa_code"),
                           incident.get("desa"))
    elif lat is not None and lon is not None:
        where = _CallPlace.of(locate(lat, lon))
    else:
        where = _CallPlace(None, None, None, None, None)
    return lat, lon, accuracy, source, where


@dataclass(frozen=True)
class _CallPlace:
    jurisdiction: str | None
    kecamatan_code: str | None
    kecamatan: str | None
    desa_code: str | None
    desa: str | None

    @staticmethod
    def of(p: Placement) -> _CallPlace:
        return _CallPlace(p.jurisdiction.value, p.kecamatan_code, p.kecamatan, p.desa_code,
                          p.desa)


def _location(row: dict[str, Any]) -> dict[str, float] | None:
    return None if row.get("lat") is None else {"lat": row["lat"], "lon": row["lon"]}


async def _call_events(conn: asyncpg.Connection, report: CallReport, call: dict[str, Any],
                       incident: dict[str, Any] | None, repeat: dict[str, Any],
                       actor: str) -> None:
    incident_id = incident["id"] if incident else None
    await add_event(conn, "call.logged", actor=actor, incident_id=incident_id,
                    data={"call_id": call["id"], "disposition": call["disposition"],
                          "repeat_caller": repeat["flagged"], "location": _location(call),
                          "accuracy_m": call["accuracy_m"], "kecamatan_code":
                          call["kecamatan_code"], "handover_to": call["handover_to"],
                          "address": call["address"], "note": call["note"]})
    if report.incident_id is not None:
        # The caller joins the existing incident's timeline; nothing is dispatched again.
        await add_event(conn, "caller.linked", actor=actor, incident_id=incident_id,
                        data={"call_id": call["id"], "caller_phone": call["caller_phone"],
                              "note": call["note"], "address": call["address"],
                              "location": _location(call)})


async def receive_aml(conn: asyncpg.Connection, fix: AmlFix, *, raw: str, phone: str,
                      cfg: CallsSettings, now: datetime, actor: str) -> dict[str, Any]:
    """Store an AML fix; attach it to its number's call in progress, or hold it for one."""
    key = phone_key(phone)
    # A call logged before the phone took this fix is an earlier call of the same number
    # (a prankster calling back with a real emergency): hold the fix for the call in progress.
    since = max(now - timedelta(seconds=cfg.aml_match_window_s),
                fix.positioned_at - AML_CLOCK_MARGIN)
    await conn.execute(call_sql.LOCK_PHONE_SQL, key)
    call = await conn.fetchrow(call_sql.RECENT_CALL_SQL, key, since)
    row = await call_sql.insert_aml(conn, fix, raw=raw, caller_phone=phone, phone_key=key,
                                    call_id=call["id"] if call else None)
    if (call is not None and call["location_source"] != "operator"
            and fix.lat is not None and fix.lon is not None):
        p = locate(fix.lat, fix.lon)
        await conn.execute(call_sql.SET_CALL_LOCATION_SQL, call["id"], fix.lat, fix.lon,
                           fix.radius_m, "aml", p.kecamatan_code, p.jurisdiction.value,
                           p.kecamatan, p.desa_code, p.desa)
    await add_event(conn, "aml.received", actor=actor,
                    incident_id=call["incident_id"] if call else None,
                    data={"aml_id": row["id"], "call_id": row["call_id"],
                          "status": row["status"], "location": _location(row),
                          "radius_m": row["radius_m"], "method": row["method"],
                          "positioned_at": row["positioned_at"]})
    return row


async def reject_aml(conn: asyncpg.Connection, *, transport: str, raw: str, phone: str,
                     error: AmlError, actor: str) -> int:
    """Keep an unreadable AML message for audit (purged like the rest); its id."""
    aml_id: int = await conn.fetchval(call_sql.INSERT_REJECTED_AML_SQL, transport, raw[:8000],
                                      phone or None, error.code, error.message)
    await add_event(conn, "aml.rejected", actor=actor,
                    data={"aml_id": aml_id, "reason": error.code})
    return aml_id


async def take_over(conn: asyncpg.Connection, incident_id: int, *,
                    actor: str) -> dict[str, Any]:
    """The centre serves an incident flagged for handover after all."""
    incident = await inc_sql.get_incident(conn, incident_id, lock=True)
    if incident is None:
        raise NotFound(f"incident {incident_id} not found")
    reason = incident["queue_reason"] or ""
    if incident["status"] == "closed" or not reason.startswith(HANDOVER_PREFIX):
        raise Conflict(f"incident {incident_id} is not waiting for a handover",
                       code="not_handover")
    # 'pending' wakes the dispatcher (NOTIFY trigger) and puts it back in its queue.
    await conn.execute(inc_sql.SET_STATUS_SQL, incident_id, "pending", None)
    await add_event(conn, "incident.taken_over", actor=actor, incident_id=incident_id,
                    data={"status": "pending", "queue_reason": None, "previous": reason})
    incident.update(status="pending", queue_reason=None)
    return incident


# --- caller location links --------------------------------------------------

class LinkRefused(DomainError):
    """A location link that no longer takes positions: expired, replaced or used up."""

    status = 410
    code = "link_gone"


async def create_location_link(conn: asyncpg.Connection, call_id: int, *, token_hash: str,
                               ttl_s: float, max_fixes: int, send_sms: bool,
                               actor: str) -> dict[str, Any]:
    """A one-time link for a logged call's caller; any earlier link of the call is revoked."""
    call = await conn.fetchrow(call_sql.GET_CALL_SQL + " FOR UPDATE", call_id)
    if call is None:
        raise NotFound(f"call {call_id} not found", field="id")
    await conn.execute(link_sql.REVOKE_LIVE_SQL, call_id)
    link = dict(await conn.fetchrow(
        link_sql.INSERT_LINK_SQL, call_id, call["incident_id"], token_hash, actor, ttl_s,
        max_fixes, call["caller_phone"], "sending" if send_sms else "not_sent"))
    await add_event(conn, "call.location_link", actor=actor, incident_id=call["incident_id"],
                    data={"call_id": call_id, "link_id": link["id"],
                          "expires_at": link["expires_at"], "sms_status": link["sms_status"]})
    link["caller_phone"] = call["caller_phone"]
    return link


async def record_link_sms(conn: asyncpg.Connection, link_id: int, *, sent: bool,
                          error: str | None, actor: str) -> dict[str, Any]:
    """What the SMS gateway answered for a link."""
    link = dict(await conn.fetchrow(link_sql.SET_SMS_SQL, link_id,
                                    "sent" if sent else "failed", error))
    await add_event(conn, "call.location_link", actor=actor, incident_id=link["incident_id"],
                    data={"call_id": link["call_id"], "link_id": link_id,
                          "sms_status": link["sms_status"], "sms_error": error})
    return link


def link_state(link: dict[str, Any] | None) -> str:
    """'open', or why the link takes no more positions: unknown, expired, revoked, used_up."""
    if link is None:
        return "unknown"
    if link["revoked_at"] is not None:
        return "revoked"
    if link["expired"]:
        return "expired"
    if link["fixes"] >= link["max_fixes"]:
        return "used_up"
    return "open"


async def add_location_fix(conn: asyncpg.Connection, token_hash: str, *, lat: float,
                           lon: float, accuracy_m: float, positioned_at: datetime
                           ) -> dict[str, Any]:
    """Store one position the caller's phone shared; the call's consoles see it live."""
    link = await conn.fetchrow(link_sql.LOCK_LINK_BY_TOKEN_SQL, token_hash)
    if link is None:
        raise NotFound("this location link does not exist", code="link_unknown",
                       state="unknown")
    state = link_state(dict(link))
    if state != "open":
        raise LinkRefused(f"this location link is {state}", code=f"link_{state}",
                          state=state)
    fix = dict(await conn.fetchrow(link_sql.INSERT_FIX_SQL, link["id"], link["call_id"],
                                   link["incident_id"], positioned_at, lat, lon, accuracy_m))
    await conn.execute(link_sql.COUNT_FIX_SQL, link["id"])
    await add_event(conn, "call.location_fix", actor="caller_link",
                    incident_id=link["incident_id"],
                    data={"call_id": link["call_id"], "link_id": link["id"],
                          "fix_id": fix["id"], "location": {"lat": lat, "lon": lon},
                          "accuracy_m": accuracy_m, "positioned_at": positioned_at})
    return fix


async def use_location_fix(conn: asyncpg.Connection, fix_id: int, *,
                           actor: str) -> dict[str, Any]:
    """Move the fix's open incident to the caller's shared position."""
    fix = await conn.fetchrow(link_sql.GET_FIX_SQL, fix_id)
    if fix is None:
        raise NotFound(f"location fix {fix_id} not found", field="id")
    if fix["incident_id"] is None:
        raise Conflict("this caller's call opened no incident to move",
                       code="no_incident")
    # The caller's own phone position, with the accuracy it reported as its radius; the
    # units already sent stay sent (the operator re-evaluates from the incident pane).
    return await relocate_incident(conn, int(fix["incident_id"]), lat=fix["lat"],
                                   lon=fix["lon"], source="caller_link",
                                   radius_m=fix["accuracy_m"], reevaluate=False, actor=actor,
                                   extra={"fix_id": fix_id})


# --- handover to and from partner centres (sql/018) -------------------------

def area_code(incident: dict[str, Any]) -> str | None:
    """The area code an incident lies in: the neighbour's it is to be handed over to (e.g.
    35.04 Tulungagung), else its kecamatan's, else its jurisdiction's."""
    if incident.get("handover_to"):
        return str(incident["handover_to"])
    if incident.get("kecamatan_code"):
        return str(incident["kecamatan_code"])
    return JURISDICTION_AREA.get(incident.get("jurisdiction") or "")


# A partner's offer waits under this reason: the dispatcher leaves it alone until accepted.
OFFERED = HANDOVER_PREFIX + "offered"
# Jurisdictions the geography names without a kecamatan code of ours.
JURISDICTION_AREA = {"kota_blitar": "35.72", "regency": "35.05"}


async def request_handover(conn: asyncpg.Connection, incident_id: int, *, partner: str,
                           area_codes: tuple[str, ...], eido_ref: str,
                           actor: str) -> dict[str, Any]:
    """Offer an incident to a partner centre: a handover row and its outbox offer."""
    incident = await inc_sql.get_incident(conn, incident_id, lock=True)
    if incident is None:
        raise NotFound(f"incident {incident_id} not found")
    if incident["status"] == "closed":
        raise Conflict(f"incident {incident_id} is closed", code="incident_closed")
    code = area_code(incident)
    if code is None or not any(code.startswith(c) for c in area_codes):
        raise Conflict(f"partner {partner} does not serve area {code or 'unknown'} of "
                       f"incident {incident_id}", code="partner_not_serving", field="partner")
    open_ = await conn.fetchval(
        "SELECT id FROM handovers WHERE direction = 'out' AND incident_id = $1 "
        "AND state IN ('sending', 'delivered', 'accepted', 'dispatched')", incident_id)
    if open_ is not None:
        raise Conflict(f"incident {incident_id} is already handed over (handover {open_})",
                       code="handover_open")
    existing = await conn.fetchrow(ex_sql.FIND_HANDOVER_SQL, "out", partner, eido_ref)
    if existing is not None:  # offered before, declined or withdrawn: offer again
        await conn.execute("UPDATE handovers SET state = 'sending', requested_at = "
                           "clock_timestamp(), requested_by = $2, answered_at = NULL, "
                           "answered_by = NULL, delivered_at = NULL, note = '' WHERE id = $1",
                           existing["id"], actor)
        handover = dict(await conn.fetchrow(ex_sql.GET_HANDOVER_SQL, existing["id"]))
    else:
        handover = dict(await conn.fetchrow(ex_sql.INSERT_HANDOVER_SQL, "out", partner,
                                            incident_id, eido_ref, None, "sending", actor,
                                            None))
    await conn.fetchval(ex_sql.INSERT_OUTBOX_SQL, partner, handover["id"], "offer", None)
    reason = HANDOVER_PREFIX + "pending"
    await conn.execute(inc_sql.SET_STATUS_SQL, incident_id, "queued", reason)
    await add_event(conn, "handover.requested", actor=actor, incident_id=incident_id,
                    data={"handover_id": handover["id"], "partner": partner,
                          "status": "queued", "queue_reason": reason, "area_code": code})
    return handover


async def handover_delivered(conn: asyncpg.Connection, outbox_id: int, handover_id: int,
                             *, status: int, remote_incident_id: int | None,
                             actor: str) -> None:
    """An outbox row reached its partner; an offer's handover is now 'delivered'."""
    if await conn.fetchval(ex_sql.SENT_SQL, outbox_id, status) is None:
        return  # delivered by another process meanwhile
    handover = await conn.fetchrow(ex_sql.GET_HANDOVER_SQL, handover_id)
    kind = await conn.fetchval("SELECT kind FROM exchange_outbox WHERE id = $1", outbox_id)
    if kind != "offer" or handover["direction"] != "out":
        return
    row = await conn.fetchrow(ex_sql.SET_DELIVERED_SQL, handover_id, remote_incident_id)
    attempts = await conn.fetchval("SELECT attempts FROM exchange_outbox WHERE id = $1",
                                   outbox_id)
    await add_event(conn, "handover.delivered", actor=actor,
                    incident_id=handover["incident_id"],
                    data={"handover_id": handover_id, "partner": handover["partner"],
                          "remote_incident_id": remote_incident_id, "attempts": attempts,
                          "delivery_s": row["delivery_s"]})


async def handover_failed(conn: asyncpg.Connection, outbox_id: int, handover_id: int, *,
                          status: int | None, error: str, retry_s: float,
                          actor: str) -> int:
    """A delivery attempt failed: retried after ``retry_s``; the first failure is shown."""
    attempts = await conn.fetchval(ex_sql.FAILED_SQL, outbox_id, status, error[:500], retry_s)
    if attempts == 1:
        handover = await conn.fetchrow(ex_sql.GET_HANDOVER_SQL, handover_id)
        await add_event(conn, "handover.delivery_failed", actor=actor,
                        incident_id=handover["incident_id"],
                        data={"handover_id": handover_id, "partner": handover["partner"],
                              "error": error[:200], "retry_s": retry_s})
    return int(attempts or 0)


async def withdraw_handover(conn: asyncpg.Connection, handover_id: int, *, note: str,
                            actor: str) -> dict[str, Any]:
    """Stop offering (the operator phones the partner instead); the incident stays
    flagged for handover so it can be taken over or closed as handed over."""
    handover = await conn.fetchrow(ex_sql.LOCK_HANDOVER_SQL, handover_id)
    if handover is None or handover["direction"] != "out":
        raise NotFound(f"handover {handover_id} not found")
    if handover["state"] not in {"sending", "delivered"}:
        raise Conflict(f"handover {handover_id} is {handover['state']}",
                       code="handover_answered")
    await conn.execute(ex_sql.CANCEL_OUTBOX_SQL, handover_id)
    await conn.execute(ex_sql.SET_STATE_SQL, handover_id, "withdrawn", None, None, note)
    incident = await inc_sql.get_incident(conn, handover["incident_id"], lock=True)
    assert incident is not None
    if incident["status"] != "closed":
        reason = HANDOVER_PREFIX + (incident["jurisdiction"] or "partner")
        await conn.execute(inc_sql.SET_STATUS_SQL, incident["id"], "queued", reason)
    await add_event(conn, "handover.withdrawn", actor=actor, incident_id=incident["id"],
                    data={"handover_id": handover_id, "partner": handover["partner"],
                          "note": note})
    return dict(await conn.fetchrow(ex_sql.GET_HANDOVER_SQL, handover_id))


@dataclass(frozen=True)
class ReceivedIncident:
    """A partner's offer, read from its EIDO document (dispatch/core/eido.py)."""

    eido_id: str
    remote_incident_id: int | None
    category: str
    priority: int
    required_types: list[str]
    lat: float | None
    lon: float | None
    address: str
    description: str
    caller_phone: str
    received_at: datetime | None


async def receive_handover(conn: asyncpg.Connection, offer: ReceivedIncident, *,
                           partner: str, actor: str) -> tuple[dict[str, Any], bool]:
    """Create the incident a partner offers, once per EIDO id: (handover, created)."""
    await conn.execute("SELECT pg_advisory_xact_lock(113, hashtext($1))",
                       f"{partner}:{offer.eido_id}")
    existing = await conn.fetchrow(ex_sql.FIND_HANDOVER_SQL, "in", partner, offer.eido_id)
    if existing is not None and existing["state"] not in {"declined", "withdrawn"}:
        return dict(existing), False
    incident = await inc_sql.insert_incident(
        conn, caller_phone=offer.caller_phone, category=offer.category,
        priority=offer.priority, lat=offer.lat, lon=offer.lon, address=offer.address,
        description=offer.description, required_types=offer.required_types,
        received_at=offer.received_at, logged_by=actor)
    await conn.execute(inc_sql.SET_STATUS_SQL, incident["id"], "queued", OFFERED)
    incident.update(status="queued", queue_reason=OFFERED)
    if existing is not None:  # offered again after a decline: a new incident, same row
        await conn.execute("UPDATE handovers SET incident_id = $2, state = 'delivered', "
                           "remote_incident_id = $3, answered_at = NULL, answered_by = NULL, "
                           "delivered_at = clock_timestamp(), requested_at = clock_timestamp(),"
                           " event_cursor = 0 WHERE id = $1",
                           existing["id"], incident["id"], offer.remote_incident_id)
        handover = dict(await conn.fetchrow(ex_sql.GET_HANDOVER_SQL, existing["id"]))
    else:
        handover = dict(await conn.fetchrow(
            ex_sql.INSERT_HANDOVER_SQL, "in", partner, incident["id"], offer.eido_id,
            offer.remote_incident_id, "delivered", actor, await conn.fetchval(
                "SELECT clock_timestamp()")))
    summary = incident_summary(incident)
    await add_event(conn, "incident.created", actor=actor, incident_id=incident["id"],
                    data=summary)
    await add_event(conn, "handover.received", actor=actor, incident_id=incident["id"],
                    data={"handover_id": handover["id"], "partner": partner,
                          "remote_incident_id": offer.remote_incident_id,
                          "status": "queued", "queue_reason": OFFERED})
    return handover, True


async def _enqueue_update(conn: asyncpg.Connection, handover: dict[str, Any],
                          body: dict[str, Any]) -> None:
    body = {"eido_id": handover["eido_id"], **body}
    await conn.fetchval(ex_sql.INSERT_OUTBOX_SQL, handover["partner"], handover["id"],
                        "update", body)


async def answer_handover(conn: asyncpg.Connection, handover_id: int, *, accept: bool,
                          note: str, actor: str) -> dict[str, Any]:
    """Accept a partner's offer (the incident joins our queue) or decline it (closed
    here; the sender gets it back)."""
    handover = await conn.fetchrow(ex_sql.LOCK_HANDOVER_SQL, handover_id)
    if handover is None or handover["direction"] != "in":
        raise NotFound(f"handover {handover_id} not found")
    if handover["state"] != "delivered":
        raise Conflict(f"handover {handover_id} is already {handover['state']}",
                       code="handover_answered")
    now = await conn.fetchval("SELECT clock_timestamp()")
    state = "accepted" if accept else "declined"
    await conn.execute(ex_sql.SET_STATE_SQL, handover_id, state, now, actor, note)
    incident_id = handover["incident_id"]
    if accept:
        # 'pending' wakes the dispatcher and puts the incident in its queue.
        await conn.execute(inc_sql.SET_STATUS_SQL, incident_id, "pending", None)
        cursor = await conn.fetchval("SELECT coalesce(max(id), 0) FROM events "
                                     "WHERE incident_id = $1", incident_id)
        await conn.execute(ex_sql.SET_CURSOR_SQL, handover_id, cursor)
    else:
        await close_incident(conn, incident_id, disposition="diserahkan",
                             note=f"Ditolak: {note}"[:2000] if note else "Ditolak",
                             actor=actor)
    await add_event(conn, f"handover.{state}", actor=actor, incident_id=incident_id,
                    data={"handover_id": handover_id, "partner": handover["partner"],
                          "note": note, "status": "pending" if accept else "closed",
                          "queue_reason": None})
    await _enqueue_update(conn, dict(handover), {"state": state, "at": now.isoformat(),
                                                 "note": note, "by": actor})
    return dict(await conn.fetchrow(ex_sql.GET_HANDOVER_SQL, handover_id))


async def report_back(conn: asyncpg.Connection, handover_id: int) -> int:
    """Queue updates for a received incident's new dispatches and closing; how many."""
    handover = await conn.fetchrow(ex_sql.LOCK_HANDOVER_SQL, handover_id)
    if handover is None or handover["state"] not in {"accepted", "dispatched"}:
        return 0
    rows = await conn.fetch(ex_sql.NEW_EVENTS_SQL, handover["incident_id"],
                            handover["event_cursor"])
    state = handover["state"]
    for ev in rows:
        data = ev["data"] or {}
        if ev["kind"] == "unit.assigned":
            state = "dispatched"
            body = {"state": "dispatched", "at": ev["occurred_at"].isoformat(),
                    "units": [{"callsign": data.get("callsign"),
                               "unit_type": data.get("unit_type"),
                               "eta_s": data.get("eta_s")}]}
        else:
            state = "closed"
            body = {"state": "closed", "at": ev["occurred_at"].isoformat(),
                    "disposition": data.get("disposition")}
        await _enqueue_update(conn, dict(handover), body)
    if rows:
        await conn.execute(ex_sql.SET_CURSOR_SQL, handover_id, rows[-1]["id"])
        await conn.execute(ex_sql.SET_STATE_SQL, handover_id, state, None, None, "")
    return len(rows)


UPDATE_STATES = ("accepted", "declined", "dispatched", "closed")


async def apply_partner_update(conn: asyncpg.Connection, *, partner: str, incident_id: int,
                               seq: int, state: str, body: dict[str, Any],
                               actor: str) -> dict[str, Any]:
    """A partner reports on an incident we handed over; applied once per ``seq``."""
    handover = await conn.fetchrow(ex_sql.OUT_FOR_INCIDENT_SQL, partner, incident_id)
    if handover is None:
        raise NotFound(f"no handover of incident {incident_id} to {partner}")
    handover = await conn.fetchrow(ex_sql.LOCK_HANDOVER_SQL, handover["id"])
    if seq <= handover["last_update_seq"]:
        return {"applied": False, "state": handover["state"]}
    await conn.execute(ex_sql.SET_UPDATE_SEQ_SQL, handover["id"], seq)
    if handover["state"] in {"withdrawn", "declined", "closed"} and state != "closed":
        # Withdrawn meanwhile (the operator phoned): recorded, nothing else changes.
        await add_event(conn, f"handover.partner_{state}", actor=actor,
                        incident_id=incident_id,
                        data={"handover_id": handover["id"], "partner": partner,
                              "ignored": True, "note": body.get("note", "")})
        return {"applied": False, "state": handover["state"]}
    incident = await inc_sql.get_incident(conn, incident_id, lock=True)
    assert incident is not None
    note = str(body.get("note") or "")[:2000]
    answered = body.get("by") if isinstance(body.get("by"), str) else None
    await conn.execute(ex_sql.SET_STATE_SQL, handover["id"], state,
                       datetime.fromisoformat(body["at"]) if state in {"accepted", "declined"}
                       and isinstance(body.get("at"), str) else None,
                       answered[:120] if answered and state in {"accepted", "declined"}
                       else None, note)
    data: dict[str, Any] = {"handover_id": handover["id"], "partner": partner,
                            "partner_at": body.get("at"), "note": note}
    if state == "accepted" and incident["status"] != "closed":
        reason = HANDOVER_PREFIX + "accepted"
        await conn.execute(inc_sql.SET_STATUS_SQL, incident_id, "queued", reason)
        data.update(status="queued", queue_reason=reason)
    elif state == "declined" and incident["status"] != "closed":
        # Back to our own queue: the dispatcher serves it.
        await conn.execute(inc_sql.SET_STATUS_SQL, incident_id, "pending", None)
        data.update(status="pending", queue_reason=None)
    elif state == "dispatched":
        data["units"] = body.get("units") or []
    elif state == "closed":
        data["disposition"] = body.get("disposition")
    await add_event(conn, f"handover.{state}", actor=actor, incident_id=incident_id, data=data)
    if state == "closed" and incident["status"] != "closed":
        await close_incident(conn, incident_id, disposition="diserahkan",
                             note=f"Ditangani {partner}", actor=actor)
    return {"applied": True, "state": state}


# --- ghost-call callbacks and the prank paper trail (sql/019) ---------------

async def open_callback(conn: asyncpg.Connection, call: dict[str, Any], *, key: str,
                        within_s: float, actor: str) -> dict[str, Any] | None:
    """A callback task for a silent or dropped call; one open task per number."""
    if await conn.fetchval(cb_sql.OPEN_TASK_FOR_PHONE_SQL, key) is not None:
        return None
    task = dict(await conn.fetchrow(cb_sql.INSERT_TASK_SQL, call["id"], call["caller_phone"],
                                    key, within_s))
    await add_event(conn, "callback.created", actor=actor,
                    data={"callback_id": task["id"], "call_id": call["id"],
                          "due_at": task["due_at"]})
    return task


async def take_callback(conn: asyncpg.Connection, task_id: int, *,
                        actor: str) -> dict[str, Any]:
    """A call-taker takes a callback task: nobody else calls the same number back."""
    task = await conn.fetchrow(cb_sql.LOCK_TASK_SQL, task_id)
    if task is None:
        raise NotFound(f"callback {task_id} not found")
    if task["done_at"] is not None:
        raise Conflict(f"callback {task_id} is done ({task['outcome']})", code="callback_done")
    if task["taken_by"] is not None and task["taken_by"] != actor:
        raise Conflict(f"callback {task_id} is taken by {task['taken_by']}",
                       code="callback_taken")
    if task["taken_by"] is None:
        await conn.execute(cb_sql.TAKE_SQL, task_id, actor)
        await add_event(conn, "callback.taken", actor=actor,
                        data={"callback_id": task_id, "call_id": task["call_id"]})
    return dict(await conn.fetchrow(cb_sql.GET_TASK_SQL, task_id))


CALLBACK_OUTCOMES = ("emergency", "no_answer", "prank", "resolved")


async def finish_callback(conn: asyncpg.Connection, task_id: int, *, outcome: str,
                          call_id: int | None, note: str, actor: str) -> dict[str, Any]:
    """Record how a callback went; 'emergency' names the call logged for it as usual."""
    task = await conn.fetchrow(cb_sql.LOCK_TASK_SQL, task_id)
    if task is None:
        raise NotFound(f"callback {task_id} not found")
    if task["done_at"] is not None:
        raise Conflict(f"callback {task_id} is done ({task['outcome']})", code="callback_done")
    if task["taken_by"] not in {None, actor}:
        raise Conflict(f"callback {task_id} is taken by {task['taken_by']}",
                       code="callback_taken")
    if (outcome == "emergency") != (call_id is not None):
        raise Invalid("an 'emergency' outcome names the call logged for it (call_id), "
                      "and only that outcome does", field="call_id")
    if call_id is not None:
        logged = await conn.fetchrow("SELECT phone_key, disposition FROM calls WHERE id = $1",
                                     call_id)
        if logged is None or logged["phone_key"] != task["phone_key"] \
                or logged["disposition"] not in {"emergency", "duplicate"}:
            raise Invalid(f"call {call_id} is not an emergency call logged from this number",
                          field="call_id")
    if task["taken_by"] is None:
        await conn.execute(cb_sql.TAKE_SQL, task_id, actor)
    await conn.execute(cb_sql.FINISH_SQL, task_id, outcome, call_id, note)
    done = dict(await conn.fetchrow(cb_sql.GET_TASK_SQL, task_id))
    await add_event(conn, "callback.done", actor=actor,
                    data={"callback_id": task_id, "call_id": task["call_id"],
                          "outcome": outcome, "outcome_call_id": call_id})
    return done


async def record_prank_action(conn: asyncpg.Connection, *, phone: str, key: str, kind: str,
                              message: str, delivery: str, expires_in_s: float | None,
                              reason: str, call_id: int, actor: str) -> dict[str, Any]:
    """A warning SMS sent or a block request recorded (never a block by the system)."""
    row = dict(await conn.fetchrow(cb_sql.INSERT_ACTION_SQL, phone, key, kind, actor, message,
                                   delivery, expires_in_s, reason, call_id))
    await add_event(conn, f"prank.{kind}", actor=actor,
                    data={"action_id": row["id"], "call_id": call_id, "delivery": delivery,
                          "expires_at": row["expires_at"], "reason": reason})
    return row


# --- a better fix for an open incident ----------------------------------------

# A unit in one of these states has not set off yet: a better position may still
# send a nearer one instead, when the operator asks for it.
NOT_YET_EN_ROUTE = (UnitStatus.DISPATCHED.value, UnitStatus.ACKNOWLEDGED.value)

OPEN_NOT_EN_ROUTE_SQL = """
SELECT a.id, a.unit_id FROM assignments a JOIN units u ON u.id = a.unit_id
WHERE a.incident_id = $1 AND a.ended_at IS NULL AND u.status = ANY($2::text[])
ORDER BY a.unit_id
"""


async def relocate_incident(conn: asyncpg.Connection, incident_id: int, *, lat: float,
                            lon: float, source: str, radius_m: float | None, reevaluate: bool,
                            actor: str, extra: dict[str, Any] | None = None
                            ) -> dict[str, Any]:
    """Move an open incident to a better fix; with ``reevaluate`` free the units that have
    not set off so the dispatcher chooses again from the new position. ``extra`` is added
    to the event's data (e.g. the caller-link fix it came from)."""
    incident = await inc_sql.get_incident(conn, incident_id, lock=True)
    if incident is None:
        raise NotFound(f"incident {incident_id} not found")
    if incident["status"] == "closed":
        raise Conflict(f"incident {incident_id} is closed", code="incident_closed")
    previous = {"lat": incident["lat"], "lon": incident["lon"],
                "radius_m": incident["radius_m"], "location_source": incident["location_source"]}
    await conn.execute(inc_sql.MOVE_INCIDENT_SQL, incident_id, lat, lon, radius_m, source)
    incident.update(lat=lat, lon=lon, radius_m=radius_m, location_source=source)
    p = locate(lat, lon)
    await conn.execute(inc_sql.SET_PLACEMENT_SQL, incident_id, p.jurisdiction.value,
                       p.kecamatan_code, p.kecamatan, p.desa_code, p.desa, p.handover_to)
    incident.update(jurisdiction=p.jurisdiction.value, kecamatan_code=p.kecamatan_code,
                    kecamatan=p.kecamatan, desa_code=p.desa_code, desa=p.desa,
                    handover_to=p.handover_to)
    released: list[int] = []
    if reevaluate:
        rows = await conn.fetch(OPEN_NOT_EN_ROUTE_SQL, incident_id, list(NOT_YET_EN_ROUTE))
        await _lock_units(conn, [r["unit_id"] for r in rows])
        for r in rows:
            await _replace(conn, incident, int(r["id"]), actor)
            released.append(int(r["unit_id"]))
        reason = incident["queue_reason"] or ""
        if not reason.startswith(HANDOVER_PREFIX):
            # 'pending' wakes the dispatcher, which ranks units from the new position.
            await conn.execute(inc_sql.SET_STATUS_SQL, incident_id, "pending", None)
            incident.update(status="pending", queue_reason=None)
    await add_event(conn, "incident.relocated", actor=actor, incident_id=incident_id,
                    data={**incident_summary(incident), "previous": previous,
                          "reevaluate": reevaluate, "released_unit_ids": released,
                          **(extra or {})})
    log.info("incident.relocated", incident_id=incident_id, source=source, radius_m=radius_m,
             reevaluate=reevaluate, released=len(released))
    return incident


# --- the centre's places ------------------------------------------------------------

@dataclass(frozen=True)
class PlaceData:
    """A place as the view validated it."""

    name: str
    aliases: list[str]
    kind: str
    lat: float
    lon: float
    estimate: bool
    note: str


def _place_row(data: PlaceData) -> tuple[Any, ...]:
    p = locate(data.lat, data.lon)
    if p.jurisdiction is Jurisdiction.OUTSIDE_REGENCY:
        raise Invalid(f"({data.lat}, {data.lon}) is outside Kabupaten Blitar and Kota Blitar",
                      field="location")
    search_text = "\n".join(fold(n) for n in [data.name, *data.aliases])
    return (data.name, data.aliases, data.kind, data.lat, data.lon, p.jurisdiction.value,
            p.kecamatan_code, p.kecamatan, p.desa_code, p.desa, data.estimate, data.note,
            search_text)


async def create_place(conn: asyncpg.Connection, data: PlaceData, *,
                       actor: str) -> dict[str, Any]:
    row = dict(await conn.fetchrow(places_sql.INSERT_PLACE_SQL, *_place_row(data), actor))
    await add_event(conn, "place.created", actor=actor,
                    data={"place_id": row["id"], "name": row["name"], "kind": row["kind"]})
    return row


async def update_place(conn: asyncpg.Connection, place_id: int, data: PlaceData, *,
                       actor: str) -> dict[str, Any]:
    current = await places_sql.get_place(conn, place_id, lock=True)
    if current is None:
        raise NotFound(f"place {place_id} not found")
    if current["retired_at"] is not None:
        raise Conflict(f"place {place_id} is retired", code="place_retired")
    row = dict(await conn.fetchrow(places_sql.UPDATE_PLACE_SQL, place_id, *_place_row(data),
                                   actor))
    await add_event(conn, "place.updated", actor=actor,
                    data={"place_id": place_id, "name": row["name"], "kind": row["kind"]})
    return row


async def retire_place(conn: asyncpg.Connection, place_id: int, *,
                       actor: str) -> dict[str, Any]:
    row = await conn.fetchrow(places_sql.RETIRE_PLACE_SQL, place_id, actor)
    if row is None:
        if await places_sql.get_place(conn, place_id) is None:
            raise NotFound(f"place {place_id} not found")
        raise Conflict(f"place {place_id} is already retired", code="place_retired")
    await add_event(conn, "place.retired", actor=actor, data={"place_id": place_id})
    return dict(row)


async def import_places(conn: asyncpg.Connection, items: list[PlaceData], *,
                        actor: str) -> list[dict[str, Any]]:
    """Create every place of an import, or none (one transaction, the caller's)."""
    return [await create_place(conn, item, actor=actor) for item in items]


# --- incident notes (sql/021) -------------------------------------------------

async def add_note(conn: asyncpg.Connection, incident_id: int, *, text: str,
                   actor: str) -> dict[str, Any]:
    """A note on an incident while it is worked: audited (trigger) and on its timeline."""
    incident = await inc_sql.get_incident(conn, incident_id, lock=True)
    if incident is None:
        raise NotFound(f"incident {incident_id} not found")
    note = dict(await conn.fetchrow(inc_sql.INSERT_NOTE_SQL, incident_id, text, actor))
    await add_event(conn, "incident.note_added", actor=actor, incident_id=incident_id,
                    data={"note_id": note["id"], "text": text, "author": actor})
    return note


# --- calls announced by the IP-PBX (sql/021) ----------------------------------------

@dataclass(frozen=True)
class PbxEvent:
    """One webhook of the IP-PBX (validated by the view)."""

    event: str            # ringing | answered | ended
    call_id: str
    caller_phone: str
    phone_key: str
    line: str
    at: datetime
    agent: str | None


async def telephony_event(conn: asyncpg.Connection, ev: PbxEvent, *,
                          actor: str) -> tuple[dict[str, Any], bool]:
    """Record a ring, answer or hang-up once per call; (the call, whether it was new).

    The row is locked alone (no incident or unit is touched). A repeated webhook
    (the PBX retries when unsure) changes nothing and emits nothing."""
    await conn.execute(tel_sql.ENSURE_CALL_SQL, ev.call_id, ev.caller_phone, ev.phone_key,
                       ev.line)
    row = dict(await conn.fetchrow(tel_sql.LOCK_CALL_SQL, ev.call_id))
    if row[tel_sql.STAMP_COLUMN[ev.event]] is not None:
        return dict(await conn.fetchrow(tel_sql.GET_CALL_SQL, ev.call_id)), False
    if ev.event == "answered" and row["rang_at"] is not None and ev.at < row["rang_at"]:
        raise Invalid(f"call {ev.call_id!r} rang at {row['rang_at'].isoformat()}: it cannot "
                      "be answered before", code="answered_before_ringing", field="at")
    if ev.event == "answered":
        await conn.execute(tel_sql.STAMP_SQL["answered"], ev.call_id, ev.at, ev.agent)
    else:
        await conn.execute(tel_sql.STAMP_SQL[ev.event], ev.call_id, ev.at)
    data: dict[str, Any] = {"call_id": ev.call_id, "at": ev.at}
    if ev.event == "ringing":
        data.update(caller=row["caller_phone"], line=row["line"])
    elif ev.event == "answered":
        data.update(agent=ev.agent)
    await add_event(conn, f"telephony.{ev.event}", actor=actor, data=data)
    return dict(await conn.fetchrow(tel_sql.GET_CALL_SQL, ev.call_id)), True


async def claim_telephony_call(conn: asyncpg.Connection, call_id: str, *,
                               actor: str) -> dict[str, Any]:
    """A call-taker takes a ringing call on the console: one call-taker only (409 after)."""
    row = await conn.fetchrow(tel_sql.LOCK_CALL_SQL, call_id)
    if row is None:
        raise NotFound(f"no telephony call {call_id!r}", code="unknown_telephony_call",
                       field="call_id")
    if row["claimed_by"] is not None and row["claimed_by"] != actor:
        raise Conflict(f"call {call_id!r} is taken by {row['claimed_by']}",
                       code="already_claimed", claimed_by=row["claimed_by"])
    if row["claimed_by"] is None:
        await conn.execute(tel_sql.CLAIM_SQL, call_id, actor)
        await add_event(conn, "telephony.claimed", actor=actor,
                        data={"call_id": call_id, "claimed_by": actor})
    return dict(await conn.fetchrow(tel_sql.GET_CALL_SQL, call_id))


# --- timers that shout: alerts (sql/022) -------------------------------------

def alert_out(row: asyncpg.Record | dict[str, Any]) -> dict[str, Any]:
    """An alert as the API and its events show it."""
    return dict(row)


async def _alert_event(conn: asyncpg.Connection, kind: str, alert: dict[str, Any], *,
                       actor: str) -> None:
    await add_event(conn, kind, actor=actor, incident_id=alert["incident_id"],
                    unit_id=alert["unit_id"], data={"alert": alert})


async def raise_alert(conn: asyncpg.Connection, *, kind: str, incident_id: int,
                      unit_id: int | None, callsign: str | None, since: datetime,
                      threshold_s: float, actor: str) -> dict[str, Any] | None:
    """Open an alert, announced on the incident's timeline; None if it is open already."""
    row = await conn.fetchrow(alert_sql.RAISE_SQL, kind, incident_id, unit_id, callsign,
                              since, threshold_s)
    if row is None:
        return None
    alert = alert_out(row)
    await _alert_event(conn, "alert.raised", alert, actor=actor)
    log.info("alert.raised", alert_id=alert["id"], kind=kind, incident_id=incident_id,
             unit_id=unit_id, threshold_s=threshold_s)
    return alert


async def clear_alert(conn: asyncpg.Connection, alert_id: int, *,
                      actor: str) -> dict[str, Any] | None:
    """Close an alert whose condition ended; None if it was cleared already."""
    row = await conn.fetchrow(alert_sql.CLEAR_SQL, alert_id)
    if row is None:
        return None
    alert = alert_out(row)
    await _alert_event(conn, "alert.cleared", alert, actor=actor)
    log.info("alert.cleared", alert_id=alert_id, kind=alert["kind"],
             incident_id=alert["incident_id"])
    return alert


async def acknowledge_alert(conn: asyncpg.Connection, alert_id: int, *,
                            actor: str) -> dict[str, Any]:
    """A dispatcher has seen the alert: who and when, on the incident's timeline.

    Acknowledging again answers the first acknowledgement unchanged; an alert that
    cleared meanwhile may still be acknowledged (someone saw it)."""
    row = await conn.fetchrow(alert_sql.LOCK_ALERT_SQL, alert_id)
    if row is None:
        raise NotFound(f"alert {alert_id} not found", code="alert_not_found", field="id")
    if row["acknowledged_at"] is not None:
        return alert_out(row)
    alert = alert_out(await conn.fetchrow(alert_sql.ACKNOWLEDGE_SQL, alert_id, actor))
    await _alert_event(conn, "alert.acknowledged", alert, actor=actor)
    return alert
