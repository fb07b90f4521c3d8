"""A spatial index for the nearest-unit search over large fleets.

Units sit in a k-d tree over their unit vectors on the sphere: the straight
chord between two unit vectors grows with the great-circle distance, so the
tree's nearest neighbours are the great-circle nearest. Exact answers then use
the same bound as ``geo.nearest_exact``: the geodesic is never shorter than
``(1 - SPHERE_ERROR)`` times the great-circle distance, so once the k-th best
geodesic distance G among the first candidates is known, only units within the
great-circle radius ``G / (1 - SPHERE_ERROR)`` can still beat it. The geodesic
is computed for those few units only; the result equals brute-force geodesic
ranking (ties broken by unit id).

Positions stay fresh as units move: ``add`` (a new or moved unit) and ``remove`` take effect in
the next search. A moved unit leaves the tree (its slot is masked) and waits in
a small side list searched directly; the tree is rebuilt once that list grows.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime, timedelta

import numpy as np
from geographiclib.geodesic import Geodesic
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from dispatch.core.geo import (
    EARTH_MEAN_RADIUS_M,
    SPHERE_ERROR,
    Candidate,
    Point,
    Ranked,
    nearest,
    split_by_freshness,
)

_WGS84 = Geodesic.WGS84
_DISTANCE = Geodesic.DISTANCE
# Chord radii are widened by this factor against floating-point rounding.
_ROUNDING = 1 + 1e-9


def geodesic_fast_m(a: Point, b: Point) -> float:
    """WGS-84 geodesic in metres: geographiclib's Karney solution, as geopy computes it.

    Asking for the distance only skips the azimuths geopy also computes.
    """
    return float(_WGS84.Inverse(a.lat, a.lon, b.lat, b.lon, _DISTANCE)["s12"])


def unit_vectors(lats: NDArray[np.float64], lons: NDArray[np.float64]) -> NDArray[np.float64]:
    """Points on the unit sphere for latitudes and longitudes in degrees."""
    la, lo = np.radians(lats), np.radians(lons)
    cos_la = np.cos(la)
    return np.column_stack((cos_la * np.cos(lo), cos_la * np.sin(lo), np.sin(la)))


def _vector(p: Point) -> NDArray[np.float64]:
    vectors: NDArray[np.float64] = unit_vectors(np.array([p.lat]), np.array([p.lon]))
    first: NDArray[np.float64] = vectors[0]
    return first


def chord_for_metres(sphere_m: float) -> float:
    """The chord between two unit vectors that are ``sphere_m`` apart on the sphere."""
    angle = min(math.pi, sphere_m / EARTH_MEAN_RADIUS_M)
    return 2 * math.sin(angle / 2) * _ROUNDING


def _positioned(c: Candidate) -> Point:
    if c.position is None:
        raise ValueError(f"unit {c.unit_id} has no position")
    return c.position


class UnitIndex:
    """Units with known positions, searchable for the k geodesic-nearest to a point."""

    def __init__(self, candidates: Iterable[Candidate], rebuild_after: int = 64) -> None:
        self._rebuild_after = rebuild_after
        self._build(list(candidates))

    def _build(self, candidates: list[Candidate]) -> None:
        self._slots: list[Candidate] = candidates
        self._slot_of = {c.unit_id: i for i, c in enumerate(candidates)}
        self._live = np.ones(len(candidates), dtype=bool)
        self._dead = 0
        self._side: dict[int, Candidate] = {}
        self._side_vecs: NDArray[np.float64] | None = None
        lats = np.fromiter((_positioned(c).lat for c in candidates), float, len(candidates))
        lons = np.fromiter((_positioned(c).lon for c in candidates), float, len(candidates))
        self._tree = cKDTree(unit_vectors(lats, lons) if candidates else np.zeros((0, 3)))

    def __len__(self) -> int:
        return len(self._slots) - self._dead + len(self._side)

    # --- keeping positions fresh -----------------------------------------
    def remove(self, unit_id: int) -> None:
        """Forget a unit (it went off duty or was assigned)."""
        slot = self._slot_of.pop(unit_id, None)
        if slot is not None:
            self._live[slot] = False
            self._dead += 1
        if self._side.pop(unit_id, None) is not None:
            self._side_vecs = None
        if self._dead > max(self._rebuild_after, len(self._slots) // 4):
            self._rebuild()  # masked slots slow every search down; drop them

    def _rebuild(self) -> None:
        self._build([c for i, c in enumerate(self._slots) if self._live[i]]
                    + list(self._side.values()))

    def add(self, candidate: Candidate) -> None:
        """Add a unit, or replace the one with the same id (it moved)."""
        _positioned(candidate)
        self.remove(candidate.unit_id)
        self._side[candidate.unit_id] = candidate
        self._side_vecs = None
        if len(self._side) > self._rebuild_after:
            self._rebuild()

    # --- searching ---------------------------------------------------------
    def _tree_nearest(self, v: NDArray[np.float64], k: int,
                      exclude: Collection[int]) -> list[tuple[float, int]]:
        """Up to k (chord, slot) pairs nearest ``v``, skipping masked or excluded slots."""
        n = self._tree.n
        if n == 0:
            return []
        want = min(n, k + 4)
        while True:
            dist, idx = self._tree.query(v, want)
            pairs = [(float(d), int(i)) for d, i in zip(np.atleast_1d(dist), np.atleast_1d(idx),
                                                          strict=True) if i < n]
            found = [(d, i) for d, i in pairs
                     if self._live[i] and self._slots[i].unit_id not in exclude]
            if len(found) >= k or want >= n:
                return found[:k]
            want = min(n, want * 4)

    def _side_chords(self, v: NDArray[np.float64],
                     exclude: Collection[int]) -> list[tuple[float, Candidate]]:
        if not self._side:
            return []
        side = list(self._side.values())
        if self._side_vecs is None:
            self._side_vecs = unit_vectors(np.array([_positioned(c).lat for c in side]),
                                           np.array([_positioned(c).lon for c in side]))
        chords = np.linalg.norm(self._side_vecs - v, axis=1)
        return [(float(d), c) for d, c in zip(chords, side, strict=True)
                if c.unit_id not in exclude]

    def nearest(self, origin: Point, k: int, exclude: Collection[int] = ()
                ) -> list[tuple[float, Candidate]]:
        """The k units nearest ``origin`` by geodesic distance, nearest first.

        Same answer as ranking every unit by geodesic distance (ties by unit id).
        """
        if k <= 0 or len(self) == 0:
            return []
        v = _vector(origin)
        side = self._side_chords(v, exclude)
        first = sorted([(d, self._slots[i]) for d, i in self._tree_nearest(v, k, exclude)]
                       + side, key=lambda t: t[0])[:k]
        exact = {c.unit_id: (geodesic_fast_m(origin, _positioned(c)), c) for _, c in first}
        if len(exact) == k:
            # Anything farther than this on the sphere cannot beat the k-th best geodesic.
            radius = chord_for_metres(max(g for g, _ in exact.values()) / (1 - SPHERE_ERROR))
            for i in (self._tree.query_ball_point(v, radius) if self._tree.n else []):
                c = self._slots[i]
                if self._live[i] and c.unit_id not in exclude and c.unit_id not in exact:
                    exact[c.unit_id] = (geodesic_fast_m(origin, _positioned(c)), c)
            for d, c in side:
                if d <= radius and c.unit_id not in exact:
                    exact[c.unit_id] = (geodesic_fast_m(origin, _positioned(c)), c)
        return sorted(exact.values(), key=lambda t: (t[0], t[1].unit_id))[:k]


class RankIndex:
    """``geo.rank_units`` for one fleet snapshot, built once and searched many times.

    Fresh units come first (nearest first), then stale ones (flagged), then
    units with no known position by id, exactly as ``rank_units`` orders them.
    """

    def __init__(self, candidates: Iterable[Candidate], *, now: datetime,
                 stale_after_s: float) -> None:
        fresh, stale, unknown = split_by_freshness(candidates, now=now,
                                                   stale_after_s=stale_after_s)
        self._fresh = UnitIndex(fresh)
        self._stale = UnitIndex(stale)
        self._unknown = sorted(unknown, key=lambda c: c.unit_id)
        self.removed: set[int] = set()

    def remove(self, unit_id: int) -> None:
        """Take a unit out of later searches (reserved or assigned)."""
        self._fresh.remove(unit_id)
        self._stale.remove(unit_id)
        self.removed.add(unit_id)

    def rank(self, origin: Point, k: int) -> list[Ranked]:
        """Up to ``k`` units ranked for dispatch to ``origin``."""
        ranked = [Ranked(c, d, False) for d, c in self._fresh.nearest(origin, k)]
        if len(ranked) < k:
            ranked += [Ranked(c, d, True)
                       for d, c in self._stale.nearest(origin, k - len(ranked))]
        for c in self._unknown:
            if len(ranked) >= k:
                break
            if c.unit_id not in self.removed:
                ranked.append(Ranked(c, None, True))
        return ranked


def nearest_indexed(origin: Point, candidates: Sequence[Candidate], k: int
                    ) -> list[tuple[float, Candidate]]:
    """``geo.nearest_exact`` through a throw-away index (for one-off searches)."""
    return UnitIndex(candidates).nearest(origin, k)


class FleetIndex:
    """The available fleet, kept between dispatcher passes and updated by differences.

    One ``UnitIndex`` per unit type holds every unit with a position; the split
    into fresh and stale is made at search time, because a position ages
    without the unit changing. ``rank`` answers exactly as ``geo.rank_units``
    over the same units.

    The counts per type and the split are kept up to date by differences too: a
    pass looks only at the units that changed since the last one and at those whose
    position has aged past the limit since (a heap by position time), not at the
    whole fleet (at 5,000 units the two loops were a fifth of a pass's time).
    """

    def __init__(self) -> None:
        self._units: dict[int, Candidate] = {}
        self._by_type: dict[str, UnitIndex] = {}
        self._counts: dict[str, int] = {}
        # The split as of the last age(): stale and unknown units by type and id.
        self._stale_ids: dict[str, dict[int, Candidate]] = {}
        self._unknown_ids: dict[str, dict[int, Candidate]] = {}
        self._fresh_heap: list[tuple[datetime, int]] = []  # (position_at, unit id), lazily
        self._pending: set[int] = set()  # changed since the last age()
        self._aged: tuple[datetime, float] | None = None  # (cutoff, stale_after_s) of it
        self._stale: dict[str, list[Candidate]] = {}
        self._unknown: dict[str, list[Candidate]] = {}
        self._dirty: set[str] = set()  # types whose lists need rebuilding

    def __len__(self) -> int:
        return len(self._units)

    def __contains__(self, unit_id: object) -> bool:
        return unit_id in self._units

    def units(self) -> list[Candidate]:
        """Every unit in the fleet."""
        return list(self._units.values())

    def free_by_type(self) -> dict[str, int]:
        """How many units of each type the fleet holds."""
        return dict(self._counts)

    def get(self, unit_id: int) -> Candidate | None:
        """The unit as last seen, if it is in the fleet."""
        return self._units.get(unit_id)

    def _count(self, unit_type: str, delta: int) -> None:
        n = self._counts.get(unit_type, 0) + delta
        if n:
            self._counts[unit_type] = n
        else:
            self._counts.pop(unit_type, None)

    def _unsplit(self, c: Candidate) -> None:
        """Take a unit out of the stale/unknown split (it is re-sorted at the next age)."""
        for held in (self._stale_ids, self._unknown_ids):
            if held.get(c.unit_type, {}).pop(c.unit_id, None) is not None:
                self._dirty.add(c.unit_type)

    def apply(self, changed: Iterable[Candidate], gone: Iterable[int]) -> None:
        """New or changed units, and units no longer available."""
        for unit_id in gone:
            old = self._units.pop(unit_id, None)
            if old is not None:
                self._count(old.unit_type, -1)
                self._unsplit(old)
                self._pending.discard(unit_id)
                if old.unit_type in self._by_type:
                    self._by_type[old.unit_type].remove(unit_id)
        for c in changed:
            old = self._units.get(c.unit_id)
            if old is not None:
                self._unsplit(old)
                self._count(old.unit_type, -1)
                if old.unit_type != c.unit_type:
                    self._by_type[old.unit_type].remove(c.unit_id)
            self._count(c.unit_type, 1)
            self._units[c.unit_id] = c
            self._pending.add(c.unit_id)
            index = self._by_type.setdefault(c.unit_type, UnitIndex(()))
            if c.position is None:
                index.remove(c.unit_id)
            else:
                index.add(c)

    def _sort(self, c: Candidate, cutoff: datetime) -> None:
        """Put one unit into the split as of ``cutoff`` (fresh ones wait in the heap)."""
        if c.position is None:
            self._unknown_ids.setdefault(c.unit_type, {})[c.unit_id] = c
            self._dirty.add(c.unit_type)
        elif c.position_at is not None and c.position_at >= cutoff:
            heapq.heappush(self._fresh_heap, (c.position_at, c.unit_id))
        else:
            self._stale_ids.setdefault(c.unit_type, {})[c.unit_id] = c
            self._dirty.add(c.unit_type)

    def age(self, *, now: datetime, stale_after_s: float) -> None:
        """Sort each type's units into stale and unknown for searches at ``now``."""
        cutoff = now - timedelta(seconds=stale_after_s)
        if self._aged is None or self._aged[1] != stale_after_s or cutoff < self._aged[0]:
            # First time, another limit, or the clock went back: sort the whole fleet.
            self._stale_ids, self._unknown_ids, self._fresh_heap = {}, {}, []
            self._dirty = set(self._by_type) | set(self._stale) | set(self._unknown)
            self._pending = set(self._units)
        for unit_id in self._pending:
            self._sort(self._units[unit_id], cutoff)
        self._pending = set()
        heap = self._fresh_heap
        while heap and heap[0][0] < cutoff:
            at, unit_id = heapq.heappop(heap)
            c = self._units.get(unit_id)
            if c is not None and c.position_at == at and unit_id not in self._stale_ids.get(
                    c.unit_type, {}):
                self._stale_ids.setdefault(c.unit_type, {})[unit_id] = c
                self._dirty.add(c.unit_type)
        if len(heap) > 4 * len(self._units) + 64:  # outdated entries piling up: rebuild
            self._fresh_heap = [(c.position_at, c.unit_id) for c in self._units.values()
                                if c.position is not None and c.position_at is not None
                                and c.position_at >= cutoff]
            heapq.heapify(self._fresh_heap)
        self._aged = (cutoff, stale_after_s)
        for unit_type in self._dirty:
            self._stale[unit_type] = list(self._stale_ids.get(unit_type, {}).values())
            self._unknown[unit_type] = sorted(self._unknown_ids.get(unit_type, {}).values(),
                                              key=lambda c: c.unit_id)
        self._dirty = set()

    def rank(self, origin: Point, unit_type: str, k: int, exclude: Collection[int] = ()
             ) -> list[Ranked]:
        """Up to ``k`` units of ``unit_type`` ranked for ``origin``, as ``rank_units``.

        Call ``age`` first (once per pass).
        """
        index = self._by_type.get(unit_type)
        stale = [c for c in self._stale.get(unit_type, []) if c.unit_id not in exclude]
        skip = set(exclude) | {c.unit_id for c in stale}
        ranked = ([] if index is None else
                  [Ranked(c, d, False) for d, c in index.nearest(origin, k, skip)])
        if len(ranked) < k:
            ranked += [Ranked(c, d, True) for d, c in nearest(origin, stale, k - len(ranked))]
        for c in self._unknown.get(unit_type, []):
            if len(ranked) >= k:
                break
            if c.unit_id not in exclude:
                ranked.append(Ranked(c, None, True))
        return ranked
