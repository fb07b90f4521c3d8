"""The pure rules, without a server."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dispatch.core.geo import Candidate, Point, geodesic_m, nearest_exact, rank_units
from dispatch.core.lifecycle import IllegalTransition, UnitStatus, check_transition
from dispatch.core.planner import (
    WaitingIncident,
    free_left,
    plan,
    queue_order,
    servable,
    unmet_needs,
)
from dispatch.core.runcards import load_targets

NOW = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)


def test_lifecycle_allows_the_documented_path() -> None:
    path = ["dispatched", "acknowledged", "en_route", "on_scene", "transporting",
            "at_hospital", "available"]
    for a, b in zip(path, path[1:], strict=False):
        check_transition(UnitStatus(a), UnitStatus(b))


def test_illegal_transition_names_the_allowed_ones() -> None:
    with pytest.raises(IllegalTransition) as err:
        check_transition(UnitStatus.AVAILABLE, UnitStatus.ON_SCENE)
    assert err.value.allowed == ["out_of_service"]
    assert "out_of_service" in str(err.value)


def test_unmet_needs_is_a_multiset_difference() -> None:
    assert unmet_needs(["fire", "ambulance"], []) == ("fire", "ambulance")
    assert unmet_needs(["fire", "fire", "ambulance"], ["fire"]) == ("fire", "ambulance")
    assert unmet_needs(["police"], ["police", "ambulance"]) == ()


def test_queue_order_is_priority_then_oldest() -> None:
    mk = lambda i, p, age: WaitingIncident(i, p, NOW - timedelta(minutes=age), None, ())  # noqa: E731
    ordered = queue_order([mk(1, 3, 50), mk(2, 1, 1), mk(3, 1, 9), mk(4, 2, 100)])
    assert [i.id for i in ordered] == [3, 2, 4, 1]


def test_nearest_exact_matches_brute_force_geodesic() -> None:
    rng = random.Random(7)
    units = [Candidate(i, "ambulance", Point(rng.uniform(-8.35, -7.95),
                                             rng.uniform(111.95, 112.55)), NOW)
             for i in range(300)]
    for _ in range(100):
        origin = Point(rng.uniform(-8.35, -7.95), rng.uniform(111.95, 112.55))
        brute = sorted(units, key=lambda u: (geodesic_m(origin, u.position), u.unit_id))[:3]
        fast = [c for _, c in nearest_exact(origin, units, 3)]
        assert [u.unit_id for u in fast] == [u.unit_id for u in brute]


def test_stale_and_unknown_positions_rank_last() -> None:
    origin = Point(-8.13, 112.21)
    near_but_stale = Candidate(1, "fire", Point(-8.131, 112.211), NOW - timedelta(hours=2))
    far_but_fresh = Candidate(2, "fire", Point(-8.30, 112.40), NOW - timedelta(seconds=30))
    nowhere = Candidate(3, "fire", None, None)
    ranked = rank_units(origin, [nowhere, near_but_stale, far_but_fresh], now=NOW,
                        stale_after_s=600, k=3)
    assert [(r.candidate.unit_id, r.stale) for r in ranked] == [(2, False), (1, True),
                                                                 (3, True)]
    assert ranked[2].distance_m is None


def test_plan_reserves_first_choice_for_the_more_urgent_incident() -> None:
    unit = Candidate(10, "ambulance", Point(-8.13, 112.21), NOW)
    urgent = WaitingIncident(1, 1, NOW, Point(-8.20, 112.30), ("ambulance",))
    minor_but_closer = WaitingIncident(2, 3, NOW - timedelta(minutes=5),
                                       Point(-8.131, 112.211), ("ambulance",))
    result = plan([minor_but_closer, urgent], [unit], now=NOW, stale_after_s=600)
    assert result[1][0][0].candidate.unit_id == 10
    assert result[2] == [[]]


def test_targets_fall_back_to_default_per_interval() -> None:
    table = load_targets({"default": {"call_processing": 60, "turnout": 80, "travel": 900,
                                      "total": 1200}, "medis": {"turnout": 60}},
                         ["medis", "kebakaran"])
    assert table.target("medis", "turnout") == 60
    assert table.target("kebakaran", "turnout") == 80
    assert table.target("medis", "travel") == 900


def _first_choices(result: dict[int, list[list[Any]]]) -> dict[int, list[int | None]]:
    """Each incident's first choice per need, leaving out incidents offered nothing."""
    out = {}
    for incident_id, per_need in result.items():
        firsts = [ranked[0].candidate.unit_id if ranked else None for ranked in per_need]
        if any(f is not None for f in firsts):
            out[incident_id] = firsts
    return out


def _read_in_pages(queue: list[WaitingIncident], free: dict[str, int],
                   batch: int) -> list[WaitingIncident]:
    """What the dispatcher reads: pages of the servable incidents after the last page's
    end (WAITING_PAGE_SQL), narrowing to the types left free, until a page is short."""
    left, rest, read = dict(free), list(queue), []
    while True:
        page = [i for i in rest if servable(i, left)][:batch]
        read += page
        if len(page) < batch:
            return read
        left = free_left(page, left)
        rest = rest[rest.index(page[-1]) + 1:]


def test_reading_the_queue_in_pages_plans_as_the_whole_queue() -> None:
    """However long the queue and however small the page, the plan is the whole queue's."""
    rng = random.Random(11)
    types = ["ambulance", "fire", "police", "rescue"]
    for _ in range(300):
        incidents = [
            WaitingIncident(n, rng.randint(1, 3), NOW - timedelta(seconds=rng.randint(0, 900)),
                            None if rng.random() < 0.1 else
                            Point(rng.uniform(-8.3, -8.0), rng.uniform(112.0, 112.5)),
                            tuple(rng.choices(types, k=rng.randint(1, 3))))
            for n in range(rng.randint(0, 40))]
        units = [Candidate(100 + n, rng.choice(types),
                           Point(rng.uniform(-8.3, -8.0), rng.uniform(112.0, 112.5)), NOW)
                 for n in range(rng.randint(0, 8))]
        free = dict(Counter(u.unit_type for u in units))
        read = _read_in_pages(queue_order(incidents), free, batch=rng.randint(1, 5))
        assert _first_choices(plan(read, units, now=NOW, stale_after_s=600)) == \
            _first_choices(plan(incidents, units, now=NOW, stale_after_s=600))


def test_free_left_counts_what_the_queue_takes() -> None:
    at = Point(-8.1, 112.2)
    queue = [WaitingIncident(1, 1, NOW, at, ("rescue", "rescue", "ambulance")),
             WaitingIncident(2, 1, NOW, None, ("ambulance",)),  # no location: takes nothing
             WaitingIncident(3, 2, NOW, at, ("ambulance", "police"))]
    assert free_left(queue, {"rescue": 1, "ambulance": 3, "police": 1, "fire": 0}) == \
        {"ambulance": 1}
    assert servable(queue[2], {"police": 1}) and not servable(queue[1], {"ambulance": 1})
    assert not servable(queue[0], {"ambulance": 0, "police": 2})
