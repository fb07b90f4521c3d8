"""Nearest-unit search: exact geodesic answers with a cheap spherical prefilter.

geopy's geodesic (Karney, WGS-84) costs ~150 us a call, too slow to run on every
unit of a large fleet. The great-circle distance on the mean-radius sphere is
within 0.6 % of the geodesic anywhere on Earth, so candidates are visited in
great-circle order and geodesic is computed only while a remaining candidate
could still beat the k-th best geodesic distance found so far. The answer is the
same as brute-force geodesic ranking.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from geopy.distance import geodesic

EARTH_MEAN_RADIUS_M = 6_371_008.8
# Sphere-vs-ellipsoid relative error is below 0.56 %; 1 % leaves margin.
SPHERE_ERROR = 0.01


@dataclass(frozen=True)
class Point:
    lat: float
    lon: float


@dataclass(frozen=True)
class Candidate:
    unit_id: int
    unit_type: str
    position: Point | None
    position_at: datetime | None


@dataclass(frozen=True)
class Ranked:
    candidate: Candidate
    distance_m: float | None
    stale: bool
    # Set when the candidate was timed by road (dispatch/roads.py); None: geodesic only.
    road_distance_m: float | None = None
    road_eta_s: int | None = None


def geodesic_m(a: Point, b: Point) -> float:
    """WGS-84 geodesic distance in metres (geopy)."""
    return float(geodesic((a.lat, a.lon), (b.lat, b.lon)).meters)


def great_circle_m(a: Point, b: Point) -> float:
    """Haversine distance on the mean-radius sphere, in metres."""
    p1, p2 = math.radians(a.lat), math.radians(b.lat)
    dp, dl = p2 - p1, math.radians(b.lon - a.lon)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_MEAN_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def nearest_exact(
    origin: Point, candidates: Sequence[Candidate], k: int
) -> list[tuple[float, Candidate]]:
    """The k candidates nearest ``origin`` by geodesic distance, nearest first.

    Every candidate must have a position.
    """
    if k <= 0 or not candidates:
        return []
    order = sorted(
        ((great_circle_m(origin, c.position), i) for i, c in enumerate(candidates)
         if c.position is not None)
    )
    best: list[tuple[float, int]] = []  # max-heap of the k best: (-geodesic, index)
    for sphere_m, i in order:
        if len(best) == k and sphere_m * (1 - SPHERE_ERROR) > -best[0][0]:
            break
        pos = candidates[i].position
        assert pos is not None
        g = geodesic_m(origin, pos)
        if len(best) < k:
            heapq.heappush(best, (-g, i))
        elif g < -best[0][0]:
            heapq.heapreplace(best, (-g, i))
    return sorted(((-neg, candidates[i]) for neg, i in best), key=lambda t: (t[0], t[1].unit_id))


# From this many fresh candidates on, a k-d tree beats visiting every unit.
INDEX_MIN_UNITS = 200


def split_by_freshness(
    candidates: Iterable[Candidate], *, now: datetime, stale_after_s: float
) -> tuple[list[Candidate], list[Candidate], list[Candidate]]:
    """(fresh, stale, unknown): by the age of each unit's last known position."""
    cutoff = now - timedelta(seconds=stale_after_s)
    fresh: list[Candidate] = []
    stale: list[Candidate] = []
    unknown: list[Candidate] = []
    for c in candidates:
        if c.position is None:
            unknown.append(c)
        elif c.position_at is not None and c.position_at >= cutoff:
            fresh.append(c)
        else:
            stale.append(c)
    return fresh, stale, unknown


def nearest(origin: Point, candidates: Sequence[Candidate], k: int
            ) -> list[tuple[float, Candidate]]:
    """``nearest_exact``, through the spatial index when the candidates are many."""
    if len(candidates) < INDEX_MIN_UNITS:
        return nearest_exact(origin, candidates, k)
    from dispatch.core.spatial import UnitIndex  # numpy/scipy only where they pay off

    return UnitIndex(candidates).nearest(origin, k)


def rank_units(
    origin: Point,
    candidates: Iterable[Candidate],
    *,
    now: datetime,
    stale_after_s: float,
    k: int,
) -> list[Ranked]:
    """Up to ``k`` units ranked for dispatch to ``origin``.

    Units with a fresh position come first, nearest first; units whose last
    position is older than ``stale_after_s`` come after them (flagged stale),
    nearest first; units with no known position come last.
    """
    fresh, stale, unknown = split_by_freshness(candidates, now=now, stale_after_s=stale_after_s)
    ranked = [Ranked(c, d, False) for d, c in nearest(origin, fresh, k)]
    if len(ranked) < k:
        ranked += [Ranked(c, d, True) for d, c in nearest(origin, stale, k - len(ranked))]
    for c in sorted(unknown, key=lambda c: c.unit_id)[: max(0, k - len(ranked))]:
        ranked.append(Ranked(c, None, True))
    return ranked


def travel_time_s(distance_m: float | None, speed_kmh: float, road_factor: float) -> int | None:
    """Estimated travel time: geodesic distance stretched to road distance, at an average speed."""
    if distance_m is None or speed_kmh <= 0:
        return None
    return round(distance_m * road_factor / (speed_kmh / 3.6))
