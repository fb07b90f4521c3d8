"""Duplicate reports: open incidents near a new report, in time, of a compatible category.

Several callers often report the same crash or fire. While a call is being
logged, the call-taker is offered the open incidents within a radius and a
time window whose category could describe the same event; linking one adds
the caller to that incident instead of dispatching again. Distances are
geodesic (WGS-84); the window counts back from ``now`` to the first call.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from dispatch.core.geo import Point, geodesic_m

M_PER_DEG_LAT = 111_320.0


@dataclass(frozen=True)
class OpenIncident:
    id: int
    category: str
    location: Point
    received_at: datetime


@dataclass(frozen=True)
class Candidate:
    incident: OpenIncident
    distance_m: float


def compatibility(groups: Iterable[Sequence[str]]) -> dict[str, frozenset[str]]:
    """Category -> the categories a report of it may duplicate (itself included)."""
    out: dict[str, set[str]] = {}
    for group in groups:
        for code in group:
            out.setdefault(code, {code}).update(group)
    return {k: frozenset(v) for k, v in out.items()}


def compatible(a: str, b: str, table: Mapping[str, frozenset[str]]) -> bool:
    """Same category, or two categories listed together in a duplicate group."""
    return a == b or b in table.get(a, frozenset())


def search_box(origin: Point, radius_m: float) -> tuple[float, float, float, float]:
    """A lat/lon box (min lat, max lat, min lon, max lon) holding the radius, for SQL."""
    dlat = radius_m / M_PER_DEG_LAT * 1.01
    dlon = dlat / max(0.01, math.cos(math.radians(origin.lat)))
    return origin.lat - dlat, origin.lat + dlat, origin.lon - dlon, origin.lon + dlon


AREA_CELL_DEG = 0.01   # about 1.1 km: the grid whose cells serialise new reports
AREA_CELLS_MAX = 64    # a box wider than this many cells locks the whole area instead


def area_cells(box: tuple[float, float, float, float]) -> list[str]:
    """The grid cells a search box touches, sorted (the order they are locked in).

    Two reports within the duplicate radius of each other share at least one cell
    (each box holds the other's point, whose cell both touch), so locking them
    serialises exactly the reports that could duplicate each other."""
    lat0, lat1, lon0, lon1 = (math.floor(v / AREA_CELL_DEG) for v in box)
    if (lat1 - lat0 + 1) * (lon1 - lon0 + 1) > AREA_CELLS_MAX:
        return ["all"]
    return sorted(f"{a}:{o}" for a in range(lat0, lat1 + 1) for o in range(lon0, lon1 + 1))


def candidates(origin: Point, category: str | None, incidents: Iterable[OpenIncident], *,
               now: datetime, radius_m: float, window: timedelta,
               table: Mapping[str, frozenset[str]]) -> list[Candidate]:
    """Open incidents within ``radius_m`` and ``window`` of a compatible category, nearest
    first (ties: the older incident first). Without a category every category matches."""
    found = []
    for inc in incidents:
        if inc.received_at < now - window:
            continue
        if category is not None and not compatible(category, inc.category, table):
            continue
        distance = geodesic_m(origin, inc.location)
        if distance <= radius_m:
            found.append(Candidate(inc, distance))
    return sorted(found, key=lambda c: (c.distance_m, c.incident.received_at, c.incident.id))
