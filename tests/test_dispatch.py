"""The dispatcher: nearest unit of the right type, queueing, overrides, closing."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import asyncpg
from aiohttp.test_utils import TestClient
from geopy.distance import geodesic

from dispatch import keys
from dispatch.settings import Settings
from dispatch.workers.dispatcher import Dispatcher
from tests.conftest import AppFactory
from tests.helpers import (
    KANIGORO,
    SRENGAT,
    WLINGI,
    Console,
    create_incident,
    create_unit,
    get_json,
    is_kind,
    post_json,
    set_status,
)


async def _assigned_to(console: Console, incident_id: int, count: int = 1) -> list[str]:
    mine = await console.wait_for(
        lambda e: e.event == "unit.assigned" and e.data["incident_id"] == incident_id,
        count=count)
    return [e.data["data"]["callsign"] for e in mine]


async def test_nearest_by_geodesic_not_by_degrees(client: TestClient) -> None:
    scene = (-8.10, 112.20)
    east = (-8.10, 112.25)        # 0.0500 degrees away, ~5,510 m on the ellipsoid
    south = (-8.1499, 112.20)     # 0.0499 degrees away, ~5,519 m on the ellipsoid
    # The premise: flat degrees pick the southern unit, the geodesic picks the eastern one.
    assert abs(south[0] - scene[0]) < abs(east[1] - scene[1])
    assert geodesic(scene, east).m < geodesic(scene, south).m
    await create_unit(client, "AMB-SOUTH", "ambulance", south)
    await create_unit(client, "AMB-EAST", "ambulance", east)
    async with Console(client) as console:
        incident = await create_incident(client, scene, category="medis")
        assert await _assigned_to(console, incident["id"]) == ["AMB-EAST"]
    detail = await get_json(client, f"/api/v1/incidents/{incident['id']}")
    [assignment] = detail["assignments"]
    assert abs(assignment["distance_m"] - geodesic(scene, east).m) < 0.01
    assert assignment["eta_s"] > 0 and assignment["method"] == "auto"


async def test_run_cards_choose_the_unit_types(client: TestClient) -> None:
    for callsign, kind in (("DMK-1", "fire"), ("AMB-1", "ambulance"), ("POL-1", "police"),
                           ("DMK-2", "fire")):
        await create_unit(client, callsign, kind, KANIGORO)
    async with Console(client) as console:
        fire = await create_incident(client, WLINGI, category="kebakaran")
        await console.wait_for(is_kind("incident.dispatched"))
        wasp = await create_incident(client, SRENGAT, category="sarang_tawon", priority=3)
        await console.wait_for(is_kind("incident.dispatched"), count=2)
    fire_detail = await get_json(client, f"/api/v1/incidents/{fire['id']}")
    assert sorted(a["unit_type"] for a in fire_detail["assignments"]) == ["ambulance", "fire"]
    wasp_detail = await get_json(client, f"/api/v1/incidents/{wasp['id']}")
    assert [a["unit_type"] for a in wasp_detail["assignments"]] == ["fire"]
    police = await get_json(client, "/api/v1/units?type=police")
    assert [u["status"] for u in police["items"]] == ["available"]


async def test_queued_incidents_are_served_by_priority_then_age(client: TestClient) -> None:
    unit = await create_unit(client, "AMB-ONLY", "ambulance", KANIGORO)
    async with Console(client) as console:
        first = await create_incident(client, WLINGI, priority=2)
        await _assigned_to(console, first["id"])
        older_minor = await create_incident(client, SRENGAT, priority=3)
        newer_urgent = await create_incident(client, SRENGAT, priority=1)
        await console.wait_for(is_kind("incident.queued"), count=2)
        waiting = await get_json(client, "/api/v1/incidents?status=queued")
        assert {i["id"] for i in waiting["items"]} == {older_minor["id"], newer_urgent["id"]}
        assert {i["queue_reason"] for i in waiting["items"]} == {"no_unit_available"}

        for status in ("acknowledged", "en_route", "on_scene", "available"):
            await set_status(client, unit["id"], status)
        assert await _assigned_to(console, newer_urgent["id"]) == ["AMB-ONLY"]
        for status in ("en_route", "on_scene", "transporting", "at_hospital", "available"):
            await set_status(client, unit["id"], status)
        assert await _assigned_to(console, older_minor["id"]) == ["AMB-ONLY"]
    first_done = await get_json(client, f"/api/v1/incidents/{first['id']}")
    assert first_done["assignments"][0]["end_reason"] == "cleared"
    assert first_done["status"] == "dispatched"  # stays open until an operator closes it


async def test_stale_positions_rank_last_and_are_flagged(client: TestClient) -> None:
    # Its last fix is two hours old (a unit's position never goes back to an older fix).
    near = await create_unit(client, "AMB-NEAR", "ambulance", None)
    await create_unit(client, "AMB-FAR", "ambulance", SRENGAT)
    two_hours_ago = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    resp = await client.put(f"/api/v1/units/{near['id']}/location",
                            json={"lat": -8.131, "lon": 112.216, "at": two_hours_ago})
    assert resp.status == 200 and (await resp.json())["moved"]
    async with Console(client) as console:
        a = await create_incident(client, KANIGORO)
        assert await _assigned_to(console, a["id"]) == ["AMB-FAR"]
        b = await create_incident(client, KANIGORO)
        assert await _assigned_to(console, b["id"]) == ["AMB-NEAR"]
    detail = await get_json(client, f"/api/v1/incidents/{b['id']}")
    assert detail["assignments"][0]["stale_position"] is True
    detail = await get_json(client, f"/api/v1/incidents/{a['id']}")
    assert detail["assignments"][0]["stale_position"] is False


async def test_operator_reassigns_a_busy_unit_and_the_old_incident_requeues(
        client: TestClient) -> None:
    unit = await create_unit(client, "POL-1", "police", KANIGORO)
    async with Console(client) as console:
        theft = await create_incident(client, WLINGI, category="kriminalitas", priority=3)
        await _assigned_to(console, theft["id"])
        riot = await create_incident(client, SRENGAT, category="kriminalitas", priority=1)
        await console.wait_for(is_kind("incident.queued"))
        refused = await post_json(client, f"/api/v1/incidents/{riot['id']}/assignments",
                                  {"unit_id": unit["id"]}, 409)
        assert refused["error"]["code"] == "unit_busy"
        assert refused["error"]["incident_id"] == theft["id"]
        moved = await post_json(client, f"/api/v1/incidents/{riot['id']}/assignments",
                                {"unit_id": unit["id"], "take_from_other": True}, 201)
        assert moved["method"] == "manual" and moved["callsign"] == "POL-1"
    theft_now = await get_json(client, f"/api/v1/incidents/{theft['id']}")
    assert theft_now["status"] == "queued"
    assert theft_now["assignments"][0]["end_reason"] == "reassigned"
    riot_now = await get_json(client, f"/api/v1/incidents/{riot['id']}")
    assert riot_now["status"] == "dispatched"
    kinds = [e.get("event") for e in theft_now["timeline"]]
    assert kinds[-2:] == ["assignment.ended", "incident.queued"]


async def test_operator_replaces_a_unit_on_an_incident(client: TestClient) -> None:
    first = await create_unit(client, "AMB-1", "ambulance", KANIGORO)
    second = await create_unit(client, "AMB-2", "ambulance", None)  # position unknown
    async with Console(client) as console:
        incident = await create_incident(client, WLINGI)
        await _assigned_to(console, incident["id"])
    detail = await get_json(client, f"/api/v1/incidents/{incident['id']}")
    old = detail["assignments"][0]
    assert old["unit_id"] == first["id"]
    new = await post_json(client, f"/api/v1/incidents/{incident['id']}/assignments",
                          {"unit_id": second["id"], "replaces_assignment_id": old["id"]}, 201)
    assert new["distance_m"] is None
    units = {u["callsign"]: u for u in (await get_json(client, "/api/v1/units"))["items"]}
    assert units["AMB-1"]["status"] == "available"
    assert units["AMB-2"]["status"] == "dispatched"
    assert units["AMB-2"]["incident_id"] == incident["id"]


async def test_incident_without_coordinates_waits_for_the_operator(client: TestClient) -> None:
    unit = await create_unit(client, "DMK-1", "fire", KANIGORO)
    async with Console(client) as console:
        incident = await create_incident(client, None, category="sarang_tawon", priority=3,
                                         address="Dusun Krajan, Desa Sumberasri")
        await console.wait_for(is_kind("incident.queued"))
    detail = await get_json(client, f"/api/v1/incidents/{incident['id']}")
    assert (detail["status"], detail["queue_reason"]) == ("queued", "no_location")
    assert (await get_json(client, f"/api/v1/units/{unit['id']}"))["status"] == "available"
    await post_json(client, f"/api/v1/incidents/{incident['id']}/assignments",
                    {"unit_id": unit["id"]}, 201)
    assert (await get_json(client, f"/api/v1/incidents/{incident['id']}"))["status"] == \
        "dispatched"


async def test_closing_frees_units_and_records_the_disposition(
        client: TestClient, db: asyncpg.Connection) -> None:
    unit = await create_unit(client, "AMB-1", "ambulance", KANIGORO)
    async with Console(client) as console:
        incident = await create_incident(client, WLINGI)
        await _assigned_to(console, incident["id"])
    await set_status(client, unit["id"], "en_route")
    bad = await post_json(client, f"/api/v1/incidents/{incident['id']}/close",
                          {"disposition": "vanished"}, 422)
    assert "selesai" in bad["error"]["allowed"]
    # A unit still on its way: the close asks first, naming it, and changes nothing.
    asked = await post_json(client, f"/api/v1/incidents/{incident['id']}/close",
                            {"disposition": "dibatalkan"}, 409)
    assert (asked["error"]["code"], asked["error"]["units"]) == ("units_active", ["AMB-1"])
    assert (await get_json(client, f"/api/v1/units/{unit['id']}"))["status"] == "en_route"
    assert (await get_json(client, f"/api/v1/incidents/{incident['id']}"))["status"] == \
        "dispatched"
    closed = await post_json(client, f"/api/v1/incidents/{incident['id']}/close",
                             {"disposition": "dibatalkan", "note": "Pelapor membatalkan",
                              "confirm": True}, 200)
    assert closed["status"] == "closed" and closed["disposition"] == "dibatalkan"
    again = await post_json(client, f"/api/v1/incidents/{incident['id']}/close",
                            {"disposition": "selesai"}, 409)
    assert again["error"]["code"] == "incident_closed"
    assert (await get_json(client, f"/api/v1/units/{unit['id']}"))["status"] == "available"
    reason = await db.fetchval("SELECT end_reason FROM assignments WHERE unit_id = $1",
                               unit["id"])
    assert reason == "incident_closed"


async def test_illegal_transition_is_409_naming_the_allowed(client: TestClient) -> None:
    unit = await create_unit(client, "AMB-1", "ambulance", KANIGORO)
    refused = await set_status(client, unit["id"], "on_scene", expect=409)
    assert refused["error"]["code"] == "illegal_transition"
    assert refused["error"]["allowed"] == ["out_of_service"]
    assert "out_of_service" in refused["error"]["message"]
    by_hand = await set_status(client, unit["id"], "dispatched", expect=409)
    assert by_hand["error"]["code"] == "illegal_transition"
    unknown = await set_status(client, unit["id"], "flying", expect=422)
    assert unknown["error"]["fields"][0]["field"] == "status"
    assert (await get_json(client, f"/api/v1/units/{unit['id']}"))["status"] == "available"
    missing = await client.post("/api/v1/units/424242/status", json={"status": "available"})
    assert missing.status == 404


async def test_unit_breakdown_en_route_requeues_the_incident(client: TestClient) -> None:
    broken = await create_unit(client, "AMB-1", "ambulance", KANIGORO)
    async with Console(client) as console:
        incident = await create_incident(client, WLINGI)
        await _assigned_to(console, incident["id"])
        await set_status(client, broken["id"], "en_route")
        spare = await create_unit(client, "AMB-2", "ambulance", SRENGAT)
        await set_status(client, broken["id"], "out_of_service")
        assert await _assigned_to(console, incident["id"], count=2) == ["AMB-1", "AMB-2"]
    assert (await get_json(client, f"/api/v1/units/{spare['id']}"))["status"] == "dispatched"


async def test_a_servable_incident_behind_a_full_batch_is_served_in_the_first_pass(
        start_app: AppFactory, make_settings: Callable[..., Settings],
        db: asyncpg.Connection) -> None:
    """More urgent incidents than a batch wait for rescue units that are all out; the
    ambulance standing free still goes to the medical emergency below them at once."""
    settings = make_settings(dispatch={"run_in_web": False, "batch": 5})
    client = await start_app(settings)
    ambulance = await create_unit(client, "AMB-1", "ambulance", KANIGORO)
    trees = [await create_incident(client, WLINGI, category="pohon_tumbang", priority=1)
             for _ in range(12)]  # each needs a rescue unit; none exists
    medical = await create_incident(client, SRENGAT, category="medis", priority=2)

    assert await Dispatcher(client.app[keys.PG_POOL], settings).run_once() == 1  # one pass
    unit_id = await db.fetchval("SELECT unit_id FROM assignments WHERE incident_id = $1",
                                medical["id"])
    assert unit_id == ambulance["id"]
    statuses = await db.fetch("SELECT status, queue_reason FROM incidents WHERE id = ANY($1)",
                              [t["id"] for t in trees])
    assert {tuple(r) for r in statuses} == {("queued", "no_unit_available")}


def _expected_first_pass(queue: list[asyncpg.Record], free: dict[str, int]
                         ) -> dict[str, list[int]]:
    """Per unit type, the incidents that must get one: the first in queue order that
    need that type, as many as there are free units (computed apart from the code)."""
    expected: dict[str, list[int]] = {t: [] for t in free}
    left = dict(free)
    for row in queue:
        for unit_type in row["required_types"]:
            if left.get(unit_type, 0) > 0:
                left[unit_type] -= 1
                expected[unit_type].append(row["id"])
    return expected


async def test_mixed_types_keep_strict_queue_order_whatever_the_batch(
        start_app: AppFactory, make_settings: Callable[..., Settings],
        db: asyncpg.Connection) -> None:
    """No incident that a free unit could serve waits while a lower-ranked one needing
    that type is served, with a batch far smaller than the queue."""
    settings = make_settings(dispatch={"run_in_web": False, "batch": 2})
    client = await start_app(settings)
    fleet = {"ambulance": 3, "police": 2, "fire": 1}
    for unit_type, count in fleet.items():
        for n in range(count):
            await create_unit(client, f"{unit_type[:3].upper()}-{n}", unit_type, KANIGORO)
    rng = random.Random(112)
    reports = ([("bencana_alam", 1)] * 3 + [("pohon_tumbang", 1)] * 6 + [("medis", 2)] * 4
               + [("kebakaran", 2)] * 2 + [("kriminalitas", 3)] * 3 + [("sarang_tawon", 3)])
    rng.shuffle(reports)  # arrival order differs from priority order
    for category, priority in reports:
        await create_incident(client, rng.choice([WLINGI, SRENGAT]), category=category,
                              priority=priority)
    queue = await db.fetch("SELECT id, required_types FROM incidents "
                           "ORDER BY priority, received_at, id")
    dispatcher = Dispatcher(client.app[keys.PG_POOL], settings)
    assert await dispatcher.run_once() == sum(fleet.values())
    served = await db.fetch("SELECT unit_type, array_agg(incident_id ORDER BY incident_id) "
                            "AS ids FROM assignments GROUP BY unit_type")
    assert {r["unit_type"]: r["ids"] for r in served} == \
        {t: sorted(ids) for t, ids in _expected_first_pass(queue, fleet).items()}
    assert await dispatcher.run_once() == 0  # nothing left that a free unit could serve
