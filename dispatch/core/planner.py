"""Queue order and the dispatch plan: which unit each waiting incident should get."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from dispatch.core.geo import Candidate, Point, Ranked, rank_units

# Fallback candidates kept per need, in case another dispatcher takes the first choice.
FALLBACKS = 3


@dataclass(frozen=True)
class WaitingIncident:
    id: int
    priority: int
    received_at: datetime
    location: Point | None
    unmet: tuple[str, ...]


def unmet_needs(required: Sequence[str], covered: Iterable[str]) -> tuple[str, ...]:
    """Required unit types not yet covered, as a multiset, in run-card order."""
    left = Counter(covered)
    out = []
    for unit_type in required:
        if left[unit_type] > 0:
            left[unit_type] -= 1
        else:
            out.append(unit_type)
    return tuple(out)


def queue_order(incidents: Iterable[WaitingIncident]) -> list[WaitingIncident]:
    """Highest priority (1) first, then the oldest call, then the lowest id."""
    return sorted(incidents, key=lambda i: (i.priority, i.received_at, i.id))


def plan(
    incidents: Iterable[WaitingIncident],
    units: Iterable[Candidate],
    *,
    now: datetime,
    stale_after_s: float,
) -> dict[int, list[list[Ranked]]]:
    """For each waiting incident with a location, one ranked candidate list per unmet need.

    Incidents are planned in queue order; the first choice for each need is
    reserved so a later incident in the same pass does not plan on it.
    """
    pool: dict[str, dict[int, Candidate]] = {}
    for unit in units:
        pool.setdefault(unit.unit_type, {})[unit.unit_id] = unit
    result: dict[int, list[list[Ranked]]] = {}
    for incident in queue_order(incidents):
        if incident.location is None:
            continue
        per_need = []
        for unit_type in incident.unmet:
            free = pool.get(unit_type, {})
            ranked = rank_units(
                incident.location, free.values(), now=now, stale_after_s=stale_after_s,
                k=FALLBACKS,
            )
            if ranked:
                free.pop(ranked[0].candidate.unit_id)
            per_need.append(ranked)
        result[incident.id] = per_need
    return result
