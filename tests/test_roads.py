"""Nearest by road: real routing data built in the test from a river with one bridge.

The river crossing (dispatch/benchmarks/roads.py): a road on each bank, joined by a
single bridge about 20 km east. The incident is on the north bank; one ambulance waits
on the south bank just across the water (4.4 km as the crow flies, ~44 km by road),
another on the north bank 8.8 km along the same road. By straight line the south one is
nearer; by road the north one is far faster.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from geopy.distance import geodesic

from dispatch.benchmarks.roads import (
    FAR_BANK_UNIT,
    RIVER_SCENE,
    SAME_BANK_UNIT,
    river_crossing,
    write_osm,
)
from dispatch.core.geo import Point
from dispatch.roads import build
from dispatch.settings import SettingsError, load_settings
from tests.conftest import AppFactory
from tests.helpers import Console, create_incident, create_unit, get_json

SCENE = (RIVER_SCENE.lat, RIVER_SCENE.lon)


def _latlon(p: Point) -> tuple[float, float]:
    return (p.lat, p.lon)


def build_river_data(work: Path) -> Path:
    """`siap112 roads build` run as an operator runs it, on the river's OSM XML."""
    osm = river_crossing(work / "river.osm")
    data = work / "data"
    env = {**os.environ, "SIAP112_LOG_FORMAT": "json"}
    done = subprocess.run([sys.executable, "-m", "dispatch", "roads", "build", str(osm),
                           "--data-dir", str(data)], env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "3 roads" in done.stdout and "km" in done.stdout and "MB" in done.stdout
    assert any(data.rglob("*.gph"))
    return data


@pytest.fixture(scope="module")
def river_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_river_data(tmp_path_factory.mktemp("roads"))


async def _dispatch_river(client: TestClient) -> tuple[dict[str, Any], dict[str, Any]]:
    """Both ambulances, then the incident; the assigned unit's event and assignment."""
    await create_unit(client, "AMB-SEBERANG", "ambulance", _latlon(FAR_BANK_UNIT))
    await create_unit(client, "AMB-UTARA", "ambulance", _latlon(SAME_BANK_UNIT))
    async with Console(client) as console:
        incident = await create_incident(client, SCENE, category="medis")
        [event] = await console.wait_for(
            lambda e: e.event == "unit.assigned" and e.data["incident_id"] == incident["id"])
    detail = await get_json(client, f"/api/v1/incidents/{incident['id']}")
    [assignment] = detail["assignments"]
    assert assignment["callsign"] == event.data["data"]["callsign"]
    return event.data["data"], assignment


def test_build_keeps_only_the_roads_reaching_the_regency(tmp_path: Path) -> None:
    # A road in Surabaya, far outside the regency's box and its margin, is left out.
    surabaya = write_osm(tmp_path / "surabaya.osm", {1: (-7.25, 112.75), 2: (-7.26, 112.76)},
                         [(1, [1, 2], {"highway": "primary"})])
    data = tmp_path / "data"
    done = subprocess.run([sys.executable, "-m", "dispatch", "roads", "build", str(surabaya),
                           "--data-dir", str(data)], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 1 and "no roads inside the regency" in done.stderr
    assert not data.exists()  # nothing half-built left behind
    # The river and Surabaya in one extract: only the river's three roads are built.
    river = river_crossing(tmp_path / "river.osm").read_text()
    head, ways = river.split(" <way ", 1)  # nodes before ways, as in any extract
    both = (head + ' <node id="9001" version="1" lat="-7.25" lon="112.75"/>\n'
            ' <node id="9002" version="1" lat="-7.26" lon="112.76"/>\n <way ' + ways)
    both = both.replace("</osm>", '<way id="9001" version="1"><nd ref="9001"/>'
                        '<nd ref="9002"/><tag k="highway" v="primary"/></way>\n</osm>')
    (tmp_path / "both.osm").write_text(both)
    report = build(tmp_path / "both.osm", data, margin_km=10.0)
    assert report.roads == 3 and 45 < report.km < 52 and report.size_bytes > 0


def test_build_refuses_a_file_that_is_not_an_extract(tmp_path: Path) -> None:
    # A wrong download (an HTML error page saved as .osm, a truncated .pbf) is named, with
    # exit 1 and no traceback, and the data already built stays as it was.
    data = tmp_path / "data"
    for name, content in (("error.osm", b"<html>404</html>"), ("cut.osm.pbf", b"\x00\x01xx")):
        bad = tmp_path / name
        bad.write_bytes(content)
        done = subprocess.run([sys.executable, "-m", "dispatch", "roads", "build", str(bad),
                               "--data-dir", str(data)], capture_output=True, text=True,
                              timeout=120, check=False)
        assert done.returncode == 1, done.stderr
        assert "not a readable OpenStreetMap extract" in done.stderr
        assert "Traceback" not in done.stderr
        assert not data.exists()


def test_road_settings_are_bounded() -> None:
    with pytest.raises(SettingsError, match="costing"):
        load_settings(env={"SIAP112_ROADS_COSTING_AMBULANCE": "hovercraft"})
    with pytest.raises(SettingsError, match="budget_ms"):
        load_settings(env={"SIAP112_ROADS_BUDGET_MS": "0"})
    with pytest.raises(SettingsError, match="roads.k"):
        load_settings(env={"SIAP112_ROADS_K": "0"})
    assert load_settings(env={}).roads.costing_for("police") == "motorcycle"


def test_premise_the_far_bank_is_nearer_as_the_crow_flies() -> None:
    assert geodesic(SCENE, _latlon(FAR_BANK_UNIT)).m < 5000
    assert geodesic(SCENE, _latlon(SAME_BANK_UNIT)).m > 8000


async def test_the_unit_faster_by_road_is_sent_not_the_nearer_across_the_river(
        start_app: AppFactory, river_data: Path) -> None:
    client = await start_app(roads={"data_dir": str(river_data)})
    event, assignment = await _dispatch_river(client)
    assert assignment["callsign"] == "AMB-UTARA"
    assert assignment["ranked_by"] == "road" and event["ranked_by"] == "road"
    # 8.8 km along the north bank road; the straight line is recorded beside it.
    assert 8500 < assignment["road_distance_m"] < 9500
    assert abs(assignment["distance_m"] - geodesic(SCENE, _latlon(SAME_BANK_UNIT)).m) < 1
    assert 0 < assignment["road_eta_s"] < 1200 and assignment["eta_s"] == assignment["road_eta_s"]

    # The candidates list shows why: the far bank is nearer but ~44 km by road.
    incident_id = assignment["incident_id"]
    cands = await get_json(client, f"/api/v1/incidents/{incident_id}/candidates")
    assert cands["ranking"] == "road" and cands["roads"] == "ok"
    by_callsign = {c["callsign"]: c for c in cands["items"]}
    far, near = by_callsign["AMB-SEBERANG"], by_callsign["AMB-UTARA"]
    assert far["distance_m"] < near["distance_m"]
    assert far["road_distance_m"] > 40000 and far["road_eta_s"] > 3 * near["road_eta_s"]
    assert {far["method"], near["method"]} == {"road"}
    assert far["available"] and far["recommended"] is False  # the need is covered

    # The console's map line: the route over the road, from the unit to the incident.
    route = await get_json(client, f"/api/v1/incidents/{incident_id}/route"
                                   f"?unit_id={assignment['unit_id']}")
    assert route["geometry"]["type"] == "LineString"
    first, last = route["geometry"]["coordinates"][0], route["geometry"]["coordinates"][-1]
    assert abs(first[1] - SAME_BANK_UNIT.lat) < 1e-3 and abs(first[0] - SAME_BANK_UNIT.lon) < 1e-3
    assert abs(last[1] - RIVER_SCENE.lat) < 1e-3 and abs(last[0] - RIVER_SCENE.lon) < 1e-3
    assert route["properties"]["method"] == "road"
    ready = await get_json(client, "/readyz")
    assert ready["roads"]["state"] == "ok" and ready["roads"]["method"] == "road"


async def test_recommended_is_the_fastest_by_road_before_dispatch(
        start_app: AppFactory, river_data: Path) -> None:
    client = await start_app(roads={"data_dir": str(river_data)},
                             dispatch={"run_in_web": False})
    await create_unit(client, "AMB-SEBERANG", "ambulance", _latlon(FAR_BANK_UNIT))
    await create_unit(client, "AMB-UTARA", "ambulance", _latlon(SAME_BANK_UNIT))
    incident = await create_incident(client, SCENE, category="medis")
    cands = await get_json(client, f"/api/v1/incidents/{incident['id']}/candidates")
    assert [c["callsign"] for c in cands["items"]] == ["AMB-UTARA", "AMB-SEBERANG"]
    assert [c["recommended"] for c in cands["items"]] == [True, False]


async def test_without_routing_data_dispatch_is_by_straight_line(
        start_app: AppFactory, tmp_path: Path) -> None:
    client = await start_app(roads={"data_dir": str(tmp_path / "no-roads")})
    event, assignment = await _dispatch_river(client)
    assert assignment["callsign"] == "AMB-SEBERANG"
    assert assignment["ranked_by"] == "geodesic" and assignment["road_eta_s"] is None
    assert assignment["eta_s"] > 0
    cands = await get_json(client, f"/api/v1/incidents/{assignment['incident_id']}/candidates")
    assert cands["ranking"] == "geodesic" and cands["roads"] == "off"
    assert {c["method"] for c in cands["items"]} == {"geodesic"}
    assert all(c["road_eta_s"] is None for c in cands["items"])
    route = await get_json(client, f"/api/v1/incidents/{assignment['incident_id']}/route"
                                   f"?unit_id={assignment['unit_id']}")
    assert route["geometry"] is None and route["properties"]["reason"] == "no_road_data"
    ready = await get_json(client, "/readyz")
    assert ready["status"] == "ready" and ready["roads"]["state"] == "off"


async def test_a_broken_engine_falls_back_to_geodesic_and_shows_degraded(
        start_app: AppFactory, river_data: Path, tmp_path: Path) -> None:
    broken = tmp_path / "roads"
    shutil.copytree(river_data, broken)
    shutil.rmtree(broken / "tiles")  # the graph is gone; the engine cannot load
    client = await start_app(roads={"data_dir": str(broken)})
    _event, assignment = await _dispatch_river(client)
    assert assignment["callsign"] == "AMB-SEBERANG" and assignment["ranked_by"] == "geodesic"
    ready = await get_json(client, "/readyz")
    assert ready["status"] == "ready"  # dispatch goes on: degraded never fails readiness
    assert ready["roads"]["state"] == "degraded" and ready["roads"]["method"] == "geodesic"
    assert ready["roads"]["failures"] >= 1 and ready["roads"]["detail"]


async def test_an_engine_over_its_budget_falls_back_to_geodesic(
        start_app: AppFactory, river_data: Path) -> None:
    # A budget no engine call can meet: every pass ranks by geodesic.
    client = await start_app(roads={"data_dir": str(river_data), "budget_ms": 0.001})
    _event, assignment = await _dispatch_river(client)
    assert assignment["callsign"] == "AMB-SEBERANG" and assignment["ranked_by"] == "geodesic"
    ready = await get_json(client, "/readyz")
    assert ready["status"] == "ready" and ready["roads"]["state"] == "degraded"
    assert "over budget" in ready["roads"]["detail"]


async def test_route_query_is_bounded(start_app: AppFactory, river_data: Path) -> None:
    client = await start_app(roads={"data_dir": str(river_data)})
    incident = await create_incident(client, SCENE, category="medis")
    for query, field in (("", "unit_id"), ("?unit_id=abc", "unit_id"),
                         ("?unit_id=0", "unit_id"), ("?unit_id=1&x=1", "x")):
        resp = await client.get(f"/api/v1/incidents/{incident['id']}/route{query}")
        assert resp.status == 422, (query, await resp.text())
        assert (await resp.json())["error"]["field"] == field
    resp = await client.get(f"/api/v1/incidents/{incident['id']}/route?unit_id=99999")
    assert resp.status == 404 and (await resp.json())["error"]["field"] == "unit_id"


async def test_a_lone_candidate_gets_its_road_eta(start_app: AppFactory, river_data: Path
                                                  ) -> None:
    client = await start_app(roads={"data_dir": str(river_data)})
    await create_unit(client, "AMB-SEBERANG", "ambulance", _latlon(FAR_BANK_UNIT))
    async with Console(client) as console:
        incident = await create_incident(client, SCENE, category="medis")
        await console.wait_for(
            lambda e: e.event == "unit.assigned" and e.data["incident_id"] == incident["id"])
    [assignment] = (await get_json(client, f"/api/v1/incidents/{incident['id']}"))["assignments"]
    # Round by the bridge: the ETA says so, not the 4.4 km across the water.
    assert assignment["ranked_by"] == "road" and assignment["road_distance_m"] > 40000
    assert assignment["eta_s"] == assignment["road_eta_s"] > 1500
