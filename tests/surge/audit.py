"""Reconstruct the night from the database and judge the dispatch order.

Nothing here trusts the dispatcher's word: what a dispatcher could see at any
moment is bounded by what was certainly committed, and every transaction's
commit lies between two recorded times. For any event row,
``occurred_at <= commit <= published_at`` (the clock stamp is taken inside the
transaction; the relay reads the row, so marks it published, only after the
commit). So:

- an incident was *certainly waiting* for a unit type from the publication of
  its ``incident.created`` until the clock stamp of the assignment that met
  that need, and *possibly waiting* from its creation stamp until that
  assignment's ``unit.assigned`` was published;
- a unit was *certainly free* from the publication of the event that made it
  available (``unit.created`` or ``unit.status`` available) until the stamp of
  the event that claimed it.

A need ("slot": incident, unit type, n-th of that type) is *servable* at a
moment when more units of its type are certainly free than there are slots of
that type possibly waiting and ranked ahead of it (priority, then the call's
``received_at``, then the id: the queue order rule). A dispatcher that plans
over the whole queue serves every servable slot in the first pass that sees it.

A pass is never logged, but assignments fence it. A dispatcher process runs
passes one after another; each pass reads the queue, then the free fleet, then
serves incidents in queue order. The unit an assignment took was free at that
pass's fleet read, so the read came after the unit's free stamp. Any assignment
of the same process stamped before that free stamp belongs to an earlier pass,
so this pass read its queue after it: that stamp is a lower bound (``q_lo``)
on the pass's queue read. (This holds while a unit cannot be claimed, cleared
and freed again within one pass: the night's units take longer than a pass.)
"""

from __future__ import annotations

import bisect
import json
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

INF = math.inf
Rank = tuple[int, float, int]


def ts(value: datetime | None) -> float:
    return INF if value is None else value.timestamp()


def data_of(row: Any) -> dict[str, Any]:
    raw = row["data"]
    return json.loads(raw) if isinstance(raw, str) else dict(raw)


@dataclass
class Assignment:
    id: int
    incident_id: int
    unit_id: int
    unit_type: str
    method: str
    process: str
    stamp: float              # dispatched_at
    ended: float
    end_reason: str | None
    published: float = INF    # its unit.assigned event's publication
    free_stamp: float = -INF  # the unit's last free stamp before this claim
    q_lo: float = -INF        # lower bound of its pass's queue read
    next_pass: float = INF    # stamp of the first assignment of a later pass, same process


@dataclass
class Slot:
    incident_id: int
    unit_type: str
    index: int
    rank: Rank
    created_occ: float
    created_pub: float
    met: Assignment | None = None
    servable: list[tuple[float, float]] = field(default_factory=list)

    @property
    def met_stamp(self) -> float:
        return INF if self.met is None else self.met.stamp

    @property
    def met_pub(self) -> float:
        return INF if self.met is None else self.met.published

    def key(self) -> tuple[Rank, int]:
        return self.rank, self.index


@dataclass
class Night:
    slots: list[Slot]
    assignments: list[Assignment]
    free: dict[int, list[tuple[float, float]]]  # unit id -> certainly-free intervals
    unit_type: dict[int, str]


def reconstruct(incidents: Iterable[Any], assignments: Iterable[Any],
                events: Iterable[Any]) -> Night:
    events = sorted(events, key=lambda e: e["id"])
    created = {e["incident_id"]: e for e in events if e["kind"] == "incident.created"}
    assigned_event = {int(data_of(e)["assignment_id"]): e for e in events
                      if e["kind"] == "unit.assigned"}
    free, free_starts, unit_type = _unit_history(events)
    asgs: list[Assignment] = []
    for r in assignments:
        a = Assignment(r["id"], r["incident_id"], r["unit_id"], r["unit_type"], r["method"],
                       r["assigned_by"], ts(r["dispatched_at"]), ts(r["ended_at"]),
                       r["end_reason"])
        ev = assigned_event.get(a.id)
        if ev is not None:
            a.published = ts(ev["published_at"])
            before = [s for i, s in free_starts.get(a.unit_id, []) if i < ev["id"]]
            a.free_stamp = before[-1] if before else -INF
        asgs.append(a)
    _fence_passes(asgs)
    night = Night(_slots(incidents, created, asgs), asgs, free, unit_type)
    for t in sorted({s.unit_type for s in night.slots}):
        _servable_sweep(night, t)
    return night


def _unit_history(events: list[Any]) -> tuple[dict[int, list[tuple[float, float]]],
                                              dict[int, list[tuple[int, float]]],
                                              dict[int, str]]:
    """Each unit's certainly-free intervals, its free stamps by event id, and its type."""
    unit_events: dict[int, list[Any]] = defaultdict(list)
    for e in events:
        if e["unit_id"] is not None and e["kind"] in {"unit.created", "unit.status"}:
            unit_events[e["unit_id"]].append(e)
    free: dict[int, list[tuple[float, float]]] = {}
    free_starts: dict[int, list[tuple[int, float]]] = {}
    unit_type: dict[int, str] = {}
    for unit_id, evs in unit_events.items():
        spans: list[tuple[float, float]] = []
        starts: list[tuple[int, float]] = []
        start: float | None = None
        for e in evs:
            data = data_of(e)
            if e["kind"] == "unit.created":
                unit_type[unit_id] = data["unit_type"]
            if data.get("status") == "available":
                start = ts(e["published_at"])
                starts.append((e["id"], ts(e["occurred_at"])))
            elif start is not None:  # claimed (dispatched) or otherwise taken
                spans.append((start, ts(e["occurred_at"])))
                start = None
        if start is not None:
            spans.append((start, INF))
        free[unit_id], free_starts[unit_id] = spans, starts
    return free, free_starts, unit_type


def _slots(incidents: Iterable[Any], created: dict[int, Any],
           asgs: list[Assignment]) -> list[Slot]:
    """One slot per required unit, met by the incident's assignments of its type in order."""
    by_incident: dict[int, list[Assignment]] = defaultdict(list)
    for a in sorted(asgs, key=lambda a: a.stamp):
        by_incident[a.incident_id].append(a)
    slots: list[Slot] = []
    for inc in incidents:
        ev = created.get(inc["id"])
        occ, pub = (ts(ev["occurred_at"]), ts(ev["published_at"])) if ev else (INF, INF)
        rank: Rank = (inc["priority"], ts(inc["received_at"]), inc["id"])
        per_type: dict[str, int] = defaultdict(int)
        for t in inc["required_types"]:
            met = [a for a in by_incident[inc["id"]] if a.unit_type == t]
            index = per_type[t]
            per_type[t] += 1
            slots.append(Slot(inc["id"], t, index, rank, occ, pub,
                              met[index] if index < len(met) else None))
    return slots


def _fence_passes(asgs: list[Assignment]) -> None:
    """``q_lo`` and ``next_pass`` of every assignment (see the module docstring)."""
    by_process: dict[str, list[Assignment]] = defaultdict(list)
    for a in asgs:
        if a.method == "auto":
            by_process[a.process].append(a)
    for items in by_process.values():
        items.sort(key=lambda a: a.stamp)
        stamps = [a.stamp for a in items]
        for a in items:
            i = bisect.bisect_left(stamps, a.free_stamp)
            a.q_lo = stamps[i - 1] if i > 0 else -INF
        for a in items:
            later = [b.stamp for b in items if b.q_lo >= a.stamp]
            a.next_pass = min(later, default=INF)


def _servable_sweep(night: Night, unit_type: str) -> None:
    slots = sorted((s for s in night.slots if s.unit_type == unit_type), key=Slot.key)
    spans = [span for u, t in night.unit_type.items() if t == unit_type
             for span in night.free.get(u, [])]
    times = sorted({x for a, b in spans for x in (a, b)}
                   | {x for s in slots for x in (s.created_occ, s.created_pub, s.met_stamp,
                                                  s.met_pub)} - {INF, -INF})
    open_since: dict[int, float] = {}
    for k, t in enumerate(times):
        free_n = sum(1 for a, b in spans if a <= t < b)
        ahead = 0
        for s in slots:
            possibly = s.created_occ <= t < s.met_pub
            certainly = s.created_pub <= t < s.met_stamp
            sid = id(s)
            if certainly and ahead < free_n:
                open_since.setdefault(sid, t)
            elif sid in open_since:
                s.servable.append((open_since.pop(sid), t))
            if possibly:
                ahead += 1
        if k == len(times) - 1:
            for s in slots:
                if id(s) in open_since:
                    s.servable.append((open_since.pop(id(s)), INF))


# --- the judgements ---------------------------------------------------------

@dataclass
class OrderViolation:
    """A lower-ranked incident got a unit type that a higher-ranked one in view needed."""

    assignment: Assignment
    served_rank: Rank
    waiting: Slot


@dataclass
class StarvedSlot:
    """Two passes of one dispatcher saw this need servable and did not serve it."""

    slot: Slot
    passes: tuple[Assignment, Assignment]


def order_violations(night: Night) -> list[OrderViolation]:
    ranks = {s.incident_id: s.rank for s in night.slots}
    by_type: dict[str, list[Slot]] = defaultdict(list)
    for s in night.slots:
        by_type[s.unit_type].append(s)
    by_type_asg: dict[str, list[Assignment]] = defaultdict(list)
    by_incident_asg: dict[int, list[Assignment]] = defaultdict(list)
    for a in night.assignments:
        by_type_asg[a.unit_type].append(a)
        by_incident_asg[a.incident_id].append(a)
    out = []
    for z in night.assignments:
        if z.method != "auto" or z.q_lo == -INF:
            continue
        served = ranks[z.incident_id]
        seen: set[int] = set()
        for s in sorted(by_type[z.unit_type], key=Slot.key):
            if s.rank >= served or s.incident_id in seen:
                continue
            if not (s.created_pub < z.q_lo and s.met_stamp > z.stamp):
                continue  # not certainly in that pass's queue, or already served
            seen.add(s.incident_id)
            # This pass read the fleet after the unit it took was freed and after its
            # previous pass; another process's transaction that committed after that
            # may have overlapped this pass.
            read = max(z.q_lo, z.free_stamp)
            # Tolerated: two dispatchers racing within one pass. (1) The other process
            # was serving the higher-ranked incident: it held the incident's row lock,
            # so this pass skipped it (SKIP LOCKED) and went on down the queue.
            if any(o.process != z.process and o.published > read and o.q_lo < z.stamp
                   for o in by_incident_asg[s.incident_id]):
                continue
            # (2) The other process claimed a unit of this type while this pass was
            # serving, so the units it had planned for the higher-ranked incident (the
            # nearest and two fallbacks) may all have been taken.
            if any(o.process != z.process and o.published > read and o.stamp < z.stamp
                   for o in by_type_asg[z.unit_type]):
                continue
            out.append(OrderViolation(z, served, s))
    return out


def starved_slots(night: Night) -> list[StarvedSlot]:
    by_process: dict[str, list[Assignment]] = defaultdict(list)
    for a in night.assignments:
        if a.method == "auto" and a.q_lo > -INF:
            by_process[a.process].append(a)
    out = []
    for s in night.slots:
        if not s.servable:
            continue
        for items in by_process.values():
            failed = [z for z in items
                      if any(a <= z.q_lo and z.stamp <= b for a, b in s.servable)
                      and s.met_stamp > z.next_pass]
            # One failed pass is tolerated: a race with the other dispatcher can take
            # every unit this pass planned for the need (the planner keeps three per
            # need). Two failed passes of the same process are starvation.
            pair = next(((za, zb) for za in failed for zb in failed if zb.q_lo >= za.stamp),
                        None)
            if pair is not None:
                out.append(StarvedSlot(s, pair))
                break
    return out


def longest_servable_waits(night: Night, n: int = 5) -> list[tuple[float, Slot]]:
    waits = [(b - a, s) for s in night.slots for a, b in s.servable if b < INF]
    return sorted(waits, key=lambda w: -w[0])[:n]


def overlapping_assignments(night: Night) -> list[tuple[Assignment, Assignment]]:
    by_unit: dict[int, list[Assignment]] = defaultdict(list)
    for a in night.assignments:
        by_unit[a.unit_id].append(a)
    out = []
    for items in by_unit.values():
        items.sort(key=lambda a: a.stamp)
        out += [(a, b) for a, b in zip(items, items[1:], strict=False) if b.stamp < a.ended]
    return out


# --- what each console must have received -----------------------------------

@dataclass
class Expectation:
    required: set[int]
    forbidden: set[int]
    masked: bool


def expected_for(role: str, events: list[Any], *, unit_id: int | None = None,
                 personal_data_roles: frozenset[str]) -> Expectation:
    """The events a console of ``role`` must receive, and those it must never receive.

    Staff consoles receive every event (masked unless the role may see personal
    data). A responder receives its own unit's events and those of each incident
    while its unit is assigned to it (from the unit.assigned to the
    assignment.ended), and nothing about other units' work or other incidents.
    """
    masked = role not in personal_data_roles
    every = {e["id"] for e in events}
    if role != "responder":
        return Expectation(every, set(), masked)
    windows: dict[int, list[tuple[int, int]]] = defaultdict(list)
    started: dict[int, tuple[int, int]] = {}
    for e in events:
        if e["unit_id"] != unit_id:
            continue
        if e["kind"] == "unit.assigned":
            started[int(data_of(e)["assignment_id"])] = (e["incident_id"], e["id"])
        elif e["kind"] == "assignment.ended":
            incident_id, first = started.pop(int(data_of(e)["assignment_id"]))
            windows[incident_id].append((first, e["id"]))
    for incident_id, first in started.values():
        windows[incident_id].append((first, 2**62))
    required = {e["id"] for e in events
                if e["unit_id"] == unit_id
                or any(a <= e["id"] <= b for a, b in windows.get(e["incident_id"], []))}
    forbidden = {e["id"] for e in events
                 if e["unit_id"] != unit_id and e["incident_id"] not in windows}
    return Expectation(required, forbidden, masked)
