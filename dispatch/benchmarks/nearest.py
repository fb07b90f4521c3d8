"""Nearest-unit search at several fleet sizes, checked against brute-force geodesic.

Brute force is independent of the index: pyproj's vectorised WGS-84 geodesic
(Karney's algorithm in C, the one geopy runs in Python) from the incident to
every unit. Units keep moving during the run (one move before every tenth
query), so the check also shows that a move is seen by the next search.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from dispatch.core.geo import Candidate, Point
from dispatch.core.spatial import UnitIndex

LAT = (-8.35, -7.95)  # Kabupaten Blitar's bounding box (approximate)
LON = (111.95, 112.55)
K = 3  # the dispatcher asks for the nearest unit and two fallbacks


@dataclass(frozen=True)
class NearestResult:
    units: int
    queries: int
    per_query_s: float
    build_s: float
    mismatches: int


def _point(rng: random.Random) -> Point:
    return Point(rng.uniform(*LAT), rng.uniform(*LON))


def measure(units: int, queries: int, seed: int = 112) -> NearestResult:
    """Time ``queries`` searches over ``units`` units; count answers that differ."""
    from pyproj import Geod

    wgs84 = Geod(ellps="WGS84")
    rng = random.Random(seed + units)
    now = datetime.now(UTC)
    fleet = [Candidate(i, "ambulance", _point(rng), now) for i in range(units)]
    lats = np.array([c.position.lat for c in fleet if c.position])
    lons = np.array([c.position.lon for c in fleet if c.position])
    started = time.perf_counter()
    index = UnitIndex(fleet)
    build_s = time.perf_counter() - started
    origins = [_point(rng) for _ in range(queries)]
    moves = {q: (rng.randrange(units), _point(rng)) for q in range(0, queries, 10)}
    answers = []
    elapsed = 0.0
    for q, origin in enumerate(origins):
        begun = time.perf_counter()
        if q in moves:
            unit_id, to = moves[q]
            index.add(Candidate(unit_id, "ambulance", to, now))
        answers.append([c.unit_id for _, c in index.nearest(origin, K)])
        elapsed += time.perf_counter() - begun
    mismatches = 0
    for q, origin in enumerate(origins):
        if q in moves:
            unit_id, to = moves[q]
            lats[unit_id], lons[unit_id] = to.lat, to.lon
        _, _, dist = wgs84.inv(np.full(units, origin.lon), np.full(units, origin.lat),
                               lons, lats)
        best = np.lexsort((np.arange(units), dist))[:K]  # by distance, then unit id
        mismatches += [int(i) for i in best] != answers[q]
    return NearestResult(units, queries, elapsed / queries, build_s, mismatches)
