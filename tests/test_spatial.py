"""The spatial index gives the same answers as brute-force geodesic ranking.

Brute force here is independent of the index: pyproj's vectorised WGS-84
geodesic (Karney's algorithm in C, the one geopy runs in Python) computed from
every incident position to every unit.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from pyproj import Geod

from dispatch.core.geo import INDEX_MIN_UNITS, Candidate, Point, rank_units
from dispatch.core.planner import WaitingIncident, plan
from dispatch.core.spatial import FleetIndex, RankIndex, UnitIndex

NOW = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
# Kabupaten Blitar's bounding box (approximate).
LAT = (-8.35, -7.95)
LON = (111.95, 112.55)
WGS84 = Geod(ellps="WGS84")


def _random_point(rng: random.Random) -> Point:
    return Point(rng.uniform(*LAT), rng.uniform(*LON))


def _fleet(rng: random.Random, n: int) -> list[Candidate]:
    return [Candidate(i + 1, "ambulance", _random_point(rng), NOW) for i in range(n)]


def _brute_force(origin: Point, units: list[Candidate], k: int) -> list[int]:
    lats = np.array([u.position.lat for u in units if u.position])
    lons = np.array([u.position.lon for u in units if u.position])
    _, _, dist = WGS84.inv(np.full(len(units), origin.lon), np.full(len(units), origin.lat),
                           lons, lats)
    order = sorted(zip(dist.tolist(), (u.unit_id for u in units), strict=True))
    return [unit_id for _, unit_id in order[:k]]


@pytest.mark.parametrize("fleet_size", [5, 300, 3000])
def test_index_matches_brute_force_geodesic_on_1000_incidents(fleet_size: int) -> None:
    rng = random.Random(fleet_size)
    units = _fleet(rng, fleet_size)
    index = UnitIndex(units)
    mismatches = []
    for _ in range(1000):
        origin = _random_point(rng)
        got = [c.unit_id for _, c in index.nearest(origin, 3)]
        want = _brute_force(origin, units, 3)
        if got != want:
            mismatches.append((origin, got, want))
    assert mismatches == []


def test_moves_and_removals_are_seen_by_the_next_search() -> None:
    rng = random.Random(7)
    units = {u.unit_id: u for u in _fleet(rng, 500)}
    index = UnitIndex(units.values(), rebuild_after=16)  # several rebuilds on the way
    for step in range(300):
        origin = _random_point(rng)
        nearest = index.nearest(origin, 1)[0][1]
        if step % 3 == 0:  # the nearest unit drives right onto the incident
            moved = Candidate(nearest.unit_id, "ambulance", origin, NOW)
            units[moved.unit_id] = moved
            index.add(moved)
            assert index.nearest(origin, 1)[0][1] == moved
        elif step % 3 == 1:  # it is assigned and leaves the pool
            del units[nearest.unit_id]
            index.remove(nearest.unit_id)
        got = [c.unit_id for _, c in index.nearest(origin, 3)]
        assert got == _brute_force(origin, list(units.values()), 3)
    assert len(index) == len(units)


def test_excluded_units_are_skipped() -> None:
    rng = random.Random(3)
    units = _fleet(rng, 400)
    index = UnitIndex(units)
    origin = _random_point(rng)
    first_three = _brute_force(origin, units, 3)
    got = [c.unit_id for _, c in index.nearest(origin, 2, exclude=set(first_three[:2]))]
    assert got[0] == first_three[2]


def test_large_fleet_ranking_keeps_stale_and_unknown_order() -> None:
    rng = random.Random(11)
    fresh = _fleet(rng, INDEX_MIN_UNITS + 50)
    old = NOW - timedelta(hours=2)
    stale = [Candidate(10_000 + i, "ambulance", _random_point(rng), old) for i in range(3)]
    unknown = [Candidate(20_002, "ambulance", None, None), Candidate(20_001, "ambulance", None,
                                                                     None)]
    origin = _random_point(rng)
    ranked = rank_units(origin, fresh + stale + unknown, now=NOW, stale_after_s=600,
                        k=len(fresh) + 5)
    ids = [r.candidate.unit_id for r in ranked]
    assert ids[: len(fresh)] == _brute_force(origin, fresh, len(fresh))
    assert ids[len(fresh):len(fresh) + 3] == _brute_force(origin, stale, 3)
    assert ids[-2:] == [20_001, 20_002]
    assert [r.stale for r in ranked[len(fresh) - 1:len(fresh) + 1]] == [False, True]
    index = RankIndex(fresh + stale + unknown, now=NOW, stale_after_s=600)
    assert [r.candidate.unit_id for r in index.rank(origin, len(fresh) + 5)] == ids


def test_plan_over_a_large_fleet_never_plans_one_unit_twice() -> None:
    rng = random.Random(5)
    units = _fleet(rng, INDEX_MIN_UNITS * 2)
    incidents = [WaitingIncident(i, 1, NOW + timedelta(seconds=i), _random_point(rng),
                                 ("ambulance",)) for i in range(1, 41)]
    plans = plan(incidents, units, now=NOW, stale_after_s=600)
    firsts = [plans[i.id][0][0].candidate.unit_id for i in incidents]
    assert len(set(firsts)) == len(firsts)
    taken: set[int] = set()
    for incident in incidents:  # each first choice is the nearest unit not yet reserved
        free = [u for u in units if u.unit_id not in taken]
        assert incident.location is not None
        assert plans[incident.id][0][0].candidate.unit_id == _brute_force(
            incident.location, free, 1)[0]
        taken.add(plans[incident.id][0][0].candidate.unit_id)


def _fleet_from_scratch(units: dict[int, Candidate], now: datetime, stale_after_s: float
                        ) -> FleetIndex:
    fresh = FleetIndex()
    fresh.apply(units.values(), ())
    fresh.age(now=now, stale_after_s=stale_after_s)
    return fresh


@pytest.mark.parametrize("seed", range(40))
def test_a_fleet_kept_by_differences_ranks_as_one_read_whole(seed: int) -> None:
    """The dispatcher keeps one FleetIndex between passes: units come, go, move, lose
    their position, and positions age past the limit while the clock runs. After every
    pass it must answer as an index built from the same units at that moment."""
    rng = random.Random(seed)
    types = ["ambulance", "fire", "police"]
    start = datetime(2026, 8, 17, 3, 0, tzinfo=UTC)
    stale_after_s = 600.0
    units: dict[int, Candidate] = {}
    kept = FleetIndex()
    now = start
    for _ in range(30):  # passes
        changed, gone = [], []
        for _ in range(rng.randint(0, 25)):
            unit_id = rng.randint(1, 120)
            if unit_id in units and rng.random() < 0.3:
                gone.append(unit_id)
                units.pop(unit_id)
                changed = [x for x in changed if x.unit_id != unit_id]
                continue
            position = None if rng.random() < 0.1 else Point(
                rng.uniform(-8.35, -7.95), rng.uniform(111.95, 112.45))
            at = None if rng.random() < 0.05 else now - timedelta(
                seconds=rng.uniform(0, 1200))
            c = Candidate(unit_id, rng.choice(types), position, at)
            units[unit_id] = c
            gone = [g for g in gone if g != unit_id]
            changed = [x for x in changed if x.unit_id != unit_id] + [c]
        kept.apply(changed, gone)
        now += timedelta(seconds=rng.choice([0, 5, 60, 300, 900]))
        kept.age(now=now, stale_after_s=stale_after_s)
        whole = _fleet_from_scratch(units, now, stale_after_s)
        assert kept.free_by_type() == whole.free_by_type()
        for _ in range(5):
            origin = Point(rng.uniform(-8.35, -7.95), rng.uniform(111.95, 112.45))
            unit_type = rng.choice(types)
            exclude = set(rng.sample(sorted(units), min(3, len(units))))
            assert (kept.rank(origin, unit_type, 6, exclude)
                    == whole.rank(origin, unit_type, 6, exclude))
