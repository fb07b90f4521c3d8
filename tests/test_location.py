"""An incident's location with its uncertainty: desa, place, typed, and a later better fix."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from dispatch.gazetteer import region_entry
from tests.helpers import (
    KANIGORO,
    WLINGI,
    Console,
    create_unit,
    get_json,
    is_kind,
    post_json,
    set_status,
)

BASE = {"caller_phone": "081234567890", "category": "medis", "priority": 1}


async def _incident(client: TestClient, location: dict[str, Any],
                    expect: int = 201) -> dict[str, Any]:
    return await post_json(client, "/api/v1/incidents", dict(BASE, location=location), expect)


async def test_a_chosen_desa_puts_the_incident_at_its_centroid_with_its_radius(
        client: TestClient) -> None:
    sawentar = region_entry("35.05.10.2011")
    assert sawentar is not None
    # Whatever point the console sent, the desa's own centroid and radius are stored.
    inc = await _incident(client, {"lat": -8.0, "lon": 112.0, "source": "desa",
                                   "code": "35.05.10.2011"})
    assert inc["location"] == {"lat": sawentar.lat, "lon": sawentar.lon}
    assert (inc["location_source"], inc["radius_m"]) == ("desa", sawentar.radius_m)
    assert (inc["desa"], inc["kecamatan"]) == ("Sawentar", "Kanigoro")
    typed = await _incident(client, {"lat": KANIGORO[0], "lon": KANIGORO[1]})
    assert (typed["location_source"], typed["radius_m"]) == ("operator", None)
    kec = await _incident(client, {"lat": 0, "lon": 0, "source": "kecamatan",
                                   "code": "35.05.17"})
    assert (kec["kecamatan"], kec["location_source"]) == ("Wlingi", "kecamatan")
    assert kec["radius_m"] > sawentar.radius_m


async def test_a_chosen_place_uses_its_point(client: TestClient) -> None:
    place = await post_json(client, "/api/v1/landmarks", {
        "name": "Pasar Wlingi", "kind": "pasar",
        "location": {"lat": WLINGI[0], "lon": WLINGI[1]}}, 201)
    inc = await _incident(client, {"lat": 0, "lon": 0, "source": "place",
                                   "code": str(place["id"])})
    assert inc["location"] == {"lat": WLINGI[0], "lon": WLINGI[1]}
    assert inc["location_source"] == "place" and inc["radius_m"] == 50


@pytest.mark.parametrize("location", [
    {"lat": -8.1, "lon": 112.2, "source": "desa"},                         # no code
    {"lat": -8.1, "lon": 112.2, "source": "desa", "code": "35.05.99.2001"},
    {"lat": -8.1, "lon": 112.2, "source": "desa", "code": "35.05.10"},     # a kecamatan
    {"lat": -8.1, "lon": 112.2, "source": "place", "code": "12345"},
    {"lat": -8.1, "lon": 112.2, "source": "place", "code": "abc"},
    {"lat": -8.1, "lon": 112.2, "source": "gps"},
    {"lat": -8.1, "lon": 112.2, "radius_m": -5},
])
async def test_a_bad_location_choice_is_refused_and_nothing_stored(
        client: TestClient, db: asyncpg.Connection, location: dict[str, Any]) -> None:
    resp = await client.post("/api/v1/incidents", json=dict(BASE, location=location))
    assert resp.status in (400, 422), resp.status
    assert "location" in (await resp.json())["error"]["message"] + str(
        (await resp.json())["error"].get("field"))
    assert await db.fetchval("SELECT count(*) FROM incidents") == 0


async def test_a_better_fix_moves_the_incident_and_keeps_the_unit_unless_asked(
        client: TestClient, db: asyncpg.Connection) -> None:
    far = await create_unit(client, "AMB-WLG", "ambulance", WLINGI)
    async with Console(client) as console:
        inc = await _incident(client, {"lat": 0, "lon": 0, "source": "kecamatan",
                                       "code": "35.05.10"})
        [sent] = await console.wait_for(is_kind("unit.assigned", incident_id=inc["id"]))
        assert sent.data["unit_id"] == far["id"]
        near = await create_unit(client, "AMB-KNG", "ambulance", KANIGORO)
        # The caller's phone says exactly where: 12 m, in Kanigoro. Not re-evaluated.
        fix = {"lat": KANIGORO[0], "lon": KANIGORO[1], "radius_m": 12, "source": "caller_link"}
        moved = await post_json(client, f"/api/v1/incidents/{inc['id']}/location",
                                fix, 200)
        assert moved["location"] == {"lat": KANIGORO[0], "lon": KANIGORO[1]}
        assert (moved["radius_m"], moved["location_source"]) == (12, "caller_link")
        assert moved["desa"] == "Satreyan"
        [ev] = await console.wait_for(is_kind("incident.relocated", incident_id=inc["id"]))
        assert ev.data["data"]["previous"]["location_source"] == "kecamatan"
        assert ev.data["data"]["released_unit_ids"] == []
        units = await db.fetch("SELECT unit_id FROM assignments WHERE incident_id = $1 "
                               "AND ended_at IS NULL", inc["id"])
        assert [r["unit_id"] for r in units] == [far["id"]]
        # The operator asks: the far unit has not set off, so the nearer one goes instead.
        await post_json(client, f"/api/v1/incidents/{inc['id']}/location",
                        dict(fix, reevaluate=True), 200)
        await console.wait_for(is_kind("unit.assigned", incident_id=inc["id"],
                                       unit_id=near["id"]))
    detail = await get_json(client, f"/api/v1/incidents/{inc['id']}")
    open_units = [a["unit_id"] for a in detail["assignments"] if a["ended_at"] is None]
    assert open_units == [near["id"]]


async def test_a_unit_en_route_is_never_swapped_and_a_closed_incident_stays_put(
        client: TestClient, db: asyncpg.Connection) -> None:
    far = await create_unit(client, "AMB-WLG", "ambulance", WLINGI)
    async with Console(client) as console:
        inc = await _incident(client, {"lat": WLINGI[0], "lon": WLINGI[1] + 0.05})
        await console.wait_for(is_kind("unit.assigned", incident_id=inc["id"]))
    await set_status(client, far["id"], "en_route")
    await create_unit(client, "AMB-KNG", "ambulance", KANIGORO)
    fix = {"lat": KANIGORO[0], "lon": KANIGORO[1], "radius_m": 30, "source": "operator"}
    moved = await post_json(client, f"/api/v1/incidents/{inc['id']}/location",
                            dict(fix, reevaluate=True), 200)
    assert moved["location"] == {"lat": KANIGORO[0], "lon": KANIGORO[1]}
    units = await db.fetch("SELECT unit_id FROM assignments WHERE incident_id = $1 "
                           "AND ended_at IS NULL", inc["id"])
    assert [r["unit_id"] for r in units] == [far["id"]]
    await post_json(client, f"/api/v1/incidents/{inc['id']}/close",
                    {"disposition": "selesai", "confirm": True}, 200)
    resp = await client.post(f"/api/v1/incidents/{inc['id']}/location", json=fix)
    assert resp.status == 409
    missing = await client.post("/api/v1/incidents/999999/location", json=fix)
    assert missing.status == 404


async def test_a_call_logged_with_a_chosen_desa_places_incident_and_call(
        client: TestClient) -> None:
    sawentar = region_entry("35.05.10.2011")
    assert sawentar is not None
    call = await post_json(client, "/api/v1/calls", {
        "caller_phone": "081234567890", "disposition": "emergency",
        "incident": {"category": "medis", "priority": 1, "location": {
            "lat": sawentar.lat, "lon": sawentar.lon, "source": "desa",
            "code": "35.05.10.2011"}}}, 201)
    inc = call["incident"]
    assert inc["location"] == {"lat": sawentar.lat, "lon": sawentar.lon}
    assert (inc["location_source"], inc["radius_m"], inc["desa"]) == (
        "desa", sawentar.radius_m, "Sawentar")
    # The call itself has no point of its own, but it is recorded in the incident's desa.
    assert (call["jurisdiction"], call["kecamatan"], call["desa"]) == (
        "regency", "Kanigoro", "Sawentar")
    bad = await client.post("/api/v1/calls", json={
        "caller_phone": "081234567890", "disposition": "emergency",
        "incident": {"category": "medis", "priority": 1, "location": {
            "lat": 0, "lon": 0, "source": "desa", "code": "nope"}}})
    assert bad.status == 422
