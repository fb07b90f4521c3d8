"""Queue order and the dispatch plan: which unit each waiting incident should get.

Every pass considers every waiting incident some free unit could serve, however
long the queue: the dispatcher reads the queue in pages, in queue order, keeping
only the incidents that are new or that need a unit type still free
(:func:`servable`), and stops once the free units are spoken for
(:func:`free_left`). Planning types apart gives the same plan as planning the
whole queue, because a unit only ever serves a need of its own type.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from dispatch.core.geo import INDEX_MIN_UNITS, Candidate, Point, Ranked, rank_units
from dispatch.core.spatial import FleetIndex, RankIndex

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


def servable(incident: WaitingIncident, free: Mapping[str, int]) -> bool:
    """True when a free unit could be sent now: it has a location and an unmet need of a
    type with units free."""
    return incident.location is not None and any(free.get(t, 0) > 0 for t in incident.unmet)


def free_left(incidents: Iterable[WaitingIncident], free: Mapping[str, int]
              ) -> dict[str, int]:
    """The free units of each type still unclaimed once ``incidents`` have had theirs.

    As :func:`plan` does, each incident with a location (in queue order) takes one
    unit per unmet need while a unit of that type is left. Types with none left
    are dropped, so an empty answer means the free fleet is spoken for.
    """
    left = {t: n for t, n in free.items() if n > 0}
    for incident in queue_order(incidents):
        if incident.location is None:
            continue
        for unit_type in incident.unmet:
            if left.get(unit_type, 0) > 0:
                left[unit_type] -= 1
    return {t: n for t, n in left.items() if n > 0}


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
    # A large fleet is indexed once per pass, not searched unit by unit per incident.
    indexes = {t: RankIndex(free.values(), now=now, stale_after_s=stale_after_s)
               for t, free in pool.items() if len(free) >= INDEX_MIN_UNITS}

    def rank(origin: Point, unit_type: str, reserved: set[int]) -> list[Ranked]:
        index = indexes.get(unit_type)
        if index is not None:
            for unit_id in reserved - index.removed:
                index.remove(unit_id)
            return index.rank(origin, FALLBACKS)
        free = [c for c in pool.get(unit_type, {}).values() if c.unit_id not in reserved]
        return rank_units(origin, free, now=now, stale_after_s=stale_after_s, k=FALLBACKS)

    return _plan(incidents, rank)


def plan_fleet(incidents: Iterable[WaitingIncident], fleet: FleetIndex, *, now: datetime,
               stale_after_s: float) -> dict[int, list[list[Ranked]]]:
    """``plan`` over a fleet index kept between passes (the same answers, less work)."""
    fleet.age(now=now, stale_after_s=stale_after_s)
    return _plan(incidents, lambda origin, unit_type, reserved: fleet.rank(
        origin, unit_type, FALLBACKS, reserved))


# Re-ranks one need's geodesic candidates (e.g. by road time): (origin, type, ranked).
Rerank = Callable[[Point, str, list[Ranked]], Awaitable[list[Ranked]]]


async def plan_fleet_reranked(incidents: Iterable[WaitingIncident], fleet: FleetIndex, *,
                              now: datetime, stale_after_s: float, k: int, rerank: Rerank
                              ) -> dict[int, list[list[Ranked]]]:
    """``plan_fleet`` with the ``k`` geodesically nearest of each need re-ranked by
    ``rerank`` before the first is reserved: the same queue order and reservations, only
    the order within each need's candidates changes."""
    fleet.age(now=now, stale_after_s=stale_after_s)
    reserved: set[int] = set()
    result: dict[int, list[list[Ranked]]] = {}
    for incident in queue_order(incidents):
        if incident.location is None:
            continue
        per_need = []
        for unit_type in incident.unmet:
            ranked = fleet.rank(incident.location, unit_type, max(k, FALLBACKS), reserved)
            if ranked:  # even one candidate: its ETA is then by road
                ranked = await rerank(incident.location, unit_type, ranked)
            if ranked:
                reserved.add(ranked[0].candidate.unit_id)
            per_need.append(ranked)
        result[incident.id] = per_need
    return result


def _plan(incidents: Iterable[WaitingIncident],
          rank: Callable[[Point, str, set[int]], list[Ranked]]
          ) -> dict[int, list[list[Ranked]]]:
    reserved: set[int] = set()
    result: dict[int, list[list[Ranked]]] = {}
    for incident in queue_order(incidents):
        if incident.location is None:
            continue
        per_need = []
        for unit_type in incident.unmet:
            ranked = rank(incident.location, unit_type, reserved)
            if ranked:
                reserved.add(ranked[0].candidate.unit_id)
            per_need.append(ranked)
        result[incident.id] = per_need
    return result
