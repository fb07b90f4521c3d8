"""Call log: dispositions, repeat callers, duplicate offers and links, run cards by priority."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from geopy.distance import geodesic

from dispatch.core.duplicates import OpenIncident, candidates, compatibility
from dispatch.core.geo import Point
from tests.helpers import (
    KANIGORO,
    WLINGI,
    Console,
    create_incident,
    create_unit,
    get_json,
    is_kind,
    post_json,
)


def offset(at: tuple[float, float], north_m: float) -> tuple[float, float]:
    """A point ``north_m`` metres north of ``at`` (geodesic)."""
    p = geodesic(meters=north_m).destination(at, 0)
    return (p.latitude, p.longitude)


async def log_call(client: TestClient, disposition: str, phone: str = "081234567890",
                   expect: int = 201, **extra: Any) -> dict[str, Any]:
    return await post_json(client, "/api/v1/calls",
                           {"caller_phone": phone, "disposition": disposition, **extra}, expect)


# --- the log ----------------------------------------------------------------

@pytest.mark.parametrize("disposition", ["information", "prank", "ghost", "wrong_number",
                                         "test"])
async def test_every_contact_is_logged(client: TestClient, db: asyncpg.Connection,
                                       disposition: str) -> None:
    rang = datetime.now(UTC) - timedelta(seconds=40)
    call = await log_call(client, disposition, rang_at=rang.isoformat(),
                          answered_at=(rang + timedelta(seconds=12)).isoformat(),
                          note="Penelepon diam")
    assert call["disposition"] == disposition and call["incident_id"] is None
    assert call["answer_s"] == pytest.approx(12.0)
    listed = await get_json(client, f"/api/v1/calls?disposition={disposition}")
    assert [c["id"] for c in listed["items"]] == [call["id"]]
    assert await db.fetchval("SELECT count(*) FROM incidents") == 0
    assert await db.fetchval("SELECT count(*) FROM events WHERE kind = 'call.logged'") == 1


async def test_handover_names_the_centre(client: TestClient) -> None:
    call = await log_call(client, "handover", handover_to="Command Center 112 Kota Blitar")
    assert call["handover_to"] == "Command Center 112 Kota Blitar"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"disposition": "emergency"}, "body"),  # no incident
        ({"disposition": "duplicate"}, "body"),  # no incident_id
        ({"disposition": "handover"}, "body"),  # to whom?
        ({"disposition": "prank", "incident_id": 1}, "body"),
        ({"disposition": "iseng"}, "disposition"),
        ({"disposition": "prank", "caller_phone": "nomor saya"}, "caller_phone"),
        ({"disposition": "prank", "rang_at": "2026-01-01T10:00:05+07:00",
          "answered_at": "2026-01-01T10:00:00+07:00"}, "body"),
        ({"disposition": "emergency", "incident": {"category": "medis", "priority": 7}},
         "incident.priority"),
    ],
)
async def test_invalid_calls_are_refused_and_nothing_is_stored(
        client: TestClient, db: asyncpg.Connection, body: dict[str, Any], field: str) -> None:
    resp = await client.post("/api/v1/calls", json={"caller_phone": "081234567890", **body})
    payload = await resp.json()
    assert resp.status == 422, payload
    assert field in {f["field"] for f in payload["error"]["fields"]}
    assert await db.fetchval("SELECT count(*) FROM calls") == 0


async def test_emergency_without_location_or_aml_is_refused(client: TestClient,
                                                            db: asyncpg.Connection) -> None:
    resp = await client.post("/api/v1/calls", json={
        "caller_phone": "081234567890", "disposition": "emergency",
        "incident": {"category": "medis", "priority": 1}})
    body = await resp.json()
    assert resp.status == 422 and body["error"]["field"] == "incident.location"
    assert await db.fetchval("SELECT count(*) FROM incidents") == 0


async def test_emergency_call_opens_a_dispatched_incident(client: TestClient,
                                                          db: asyncpg.Connection) -> None:
    await create_unit(client, "AMB-1", "ambulance", WLINGI)
    rang = datetime.now(UTC) - timedelta(seconds=30)
    async with Console(client) as console:
        call = await log_call(client, "emergency", rang_at=rang.isoformat(), incident={
            "category": "medis", "priority": 1,
            "location": {"lat": KANIGORO[0], "lon": KANIGORO[1]}, "address": "Jl. Raya"})
        incident = call["incident"]
        await console.wait_for(is_kind("incident.dispatched"))
    assert call["incident_id"] == incident["id"]
    assert datetime.fromisoformat(incident["received_at"]) == rang  # ring time counts
    assert incident["kecamatan_code"] == "35.05.10" and incident["jurisdiction"] == "regency"
    assert call["kecamatan_code"] == "35.05.10"


# --- repeat callers ---------------------------------------------------------

async def test_repeat_caller_is_flagged_at_the_threshold_never_blocked(
        client: TestClient) -> None:
    old = (datetime.now(UTC) - timedelta(days=8)).isoformat()
    await log_call(client, "prank", phone="0856-1111-2222", rang_at=old)  # outside 7 days
    flags = []
    for disposition in ("prank", "ghost", "information", "prank"):
        call = await log_call(client, disposition, phone="+6285611112222")
        flags.append((call["repeat_caller"]["flagged"],
                      call["repeat_caller"]["prank_or_ghost_calls"]))
    # Config: 3 prank/ghost calls in 7 days. Calls before each: 0, 1, 2, 2 (information
    # does not count), then the fourth call sees 3 (the 8-day-old one never counts).
    assert flags == [(False, 0), (False, 1), (False, 2), (False, 2)]
    real = await log_call(client, "emergency", phone="085611112222", incident={
        "category": "kebakaran", "priority": 1,
        "location": {"lat": KANIGORO[0], "lon": KANIGORO[1]}})
    assert real["repeat_caller"] == {"flagged": True, "prank_or_ghost_calls": 3,
                                     "threshold": 3, "days": 7,
                                     "block_requested_until": None}
    assert real["repeat_caller"]["flagged"] and real["incident"]["id"]  # logged all the same
    other = await log_call(client, "prank", phone="081200000000")
    assert other["repeat_caller"]["flagged"] is False


async def test_repeat_caller_threshold_is_configurable(start_app: Any) -> None:
    client = await start_app(calls={"repeat_caller_calls": 1, "repeat_caller_days": 1})
    assert (await log_call(client, "ghost"))["repeat_caller"]["flagged"] is False
    assert (await log_call(client, "ghost"))["repeat_caller"]["flagged"] is True


# --- duplicates -------------------------------------------------------------

def test_duplicate_candidates_pure() -> None:
    now = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
    here = Point(*KANIGORO)
    table = compatibility([["kecelakaan_lalu_lintas", "medis"]])
    incidents = [
        OpenIncident(1, "medis", Point(*offset(KANIGORO, 250)), now - timedelta(minutes=5)),
        OpenIncident(2, "kecelakaan_lalu_lintas", Point(*offset(KANIGORO, 80)),
                     now - timedelta(minutes=10)),
        OpenIncident(3, "kecelakaan_lalu_lintas", Point(*offset(KANIGORO, 310)), now),
        OpenIncident(4, "kecelakaan_lalu_lintas", Point(*offset(KANIGORO, 20)),
                     now - timedelta(minutes=31)),
        OpenIncident(5, "sarang_tawon", Point(*offset(KANIGORO, 10)), now),
    ]
    found = candidates(here, "kecelakaan_lalu_lintas", incidents, now=now, radius_m=300,
                       window=timedelta(minutes=30), table=table)
    assert [c.incident.id for c in found] == [2, 1]  # nearest first; 3 too far, 4 too old
    assert found[0].distance_m == pytest.approx(80, abs=0.01)
    assert [c.incident.id for c in candidates(here, None, incidents, now=now, radius_m=300,
                                              window=timedelta(minutes=30), table=table)
            ] == [5, 2, 1]


async def test_second_caller_is_offered_the_incident_and_linked_without_dispatch(
        client: TestClient, db: asyncpg.Connection) -> None:
    await create_unit(client, "AMB-1", "ambulance", WLINGI)
    await create_unit(client, "POL-1", "police", WLINGI)
    async with Console(client) as console:
        crash = await create_incident(client, KANIGORO, category="kecelakaan_lalu_lintas")
        await console.wait_for(is_kind("incident.dispatched"))
        near = offset(KANIGORO, 120)
        offers = await get_json(client, f"/api/v1/duplicates?lat={near[0]}&lon={near[1]}"
                                        "&category=medis")
        assert [(o["id"], round(o["distance_m"])) for o in offers["items"]] == [
            (crash["id"], 120)]
        none = await get_json(client, f"/api/v1/duplicates?lat={near[0]}&lon={near[1]}"
                                      "&category=sarang_tawon")
        assert none["items"] == []
        far = offset(KANIGORO, 450)
        assert (await get_json(client, f"/api/v1/duplicates?lat={far[0]}&lon={far[1]}")
                )["items"] == []

        call = await log_call(client, "duplicate", phone="081377778888",
                              incident_id=crash["id"], note="Korban masih di jalan",
                              location={"lat": near[0], "lon": near[1]})
        linked = await console.wait_for(is_kind("caller.linked"))
    assert call["incident_id"] == crash["id"]
    assert linked[0].data["data"]["call_id"] == call["id"]
    detail = await get_json(client, f"/api/v1/incidents/{crash['id']}")
    assert [e.get("event") for e in detail["timeline"]].count("caller.linked") == 1
    assert len(detail["assignments"]) == 2  # nothing dispatched again
    assert await db.fetchval("SELECT count(*) FROM incidents") == 1


async def test_emergency_call_lists_duplicate_candidates(client: TestClient,
                                                         db: asyncpg.Connection) -> None:
    first = await create_incident(client, KANIGORO, category="kebakaran")
    near = offset(KANIGORO, 60)
    report = {"category": "medis", "priority": 2,
              "location": {"lat": near[0], "lon": near[1]}}
    asked = await log_call(client, "emergency", expect=409, incident=report)
    assert asked["error"]["code"] == "possible_duplicate"
    assert [c["id"] for c in asked["error"]["candidates"]] == [first["id"]]
    assert await db.fetchval("SELECT count(*) FROM calls") == 0  # nothing written
    call = await log_call(client, "emergency", incident=report, confirm_new=True)
    assert [c["id"] for c in call["duplicate_candidates"]] == [first["id"]]


async def test_linking_to_a_closed_incident_is_a_conflict(client: TestClient,
                                                          db: asyncpg.Connection) -> None:
    incident = await create_incident(client, KANIGORO)
    await post_json(client, f"/api/v1/incidents/{incident['id']}/close",
                    {"disposition": "selesai"}, 200)
    resp = await client.post("/api/v1/calls", json={
        "caller_phone": "081234567890", "disposition": "duplicate",
        "incident_id": incident["id"]})
    assert resp.status == 409
    assert (await resp.json())["error"]["code"] == "incident_closed"
    assert await db.fetchval("SELECT count(*) FROM calls") == 0
    missing = await client.post("/api/v1/calls", json={
        "caller_phone": "081234567890", "disposition": "duplicate", "incident_id": 999})
    assert missing.status == 404


# --- run cards and agencies -------------------------------------------------

async def test_run_card_depends_on_priority(client: TestClient, db: asyncpg.Connection) -> None:
    big = await create_incident(client, KANIGORO, category="kebakaran", priority=1)
    small = await create_incident(client, WLINGI, category="kebakaran", priority=3)
    riot = await create_incident(client, WLINGI, category="kerusuhan", priority=1)
    types = {r["id"]: r["required_types"] for r in
             await db.fetch("SELECT id, required_types FROM incidents")}
    assert types[big["id"]] == ["fire", "ambulance"]
    assert types[small["id"]] == ["fire"]
    assert types[riot["id"]] == ["police", "police", "ambulance"]


async def test_agencies_and_categories_are_reference_data(client: TestClient) -> None:
    meta = await get_json(client, "/api/v1/meta")
    assert set(meta["agencies"]) == {"polri", "damkar", "psc119", "bpbd", "sar", "pln", "pdam"}
    assert meta["agencies"]["damkar"]["unit_types"] == ["fire"]
    for code in ("kecelakaan_lalu_lintas", "kebakaran", "medis", "kriminalitas",
                 "bencana_alam", "evakuasi_hewan", "sarang_tawon", "pohon_tumbang", "banjir"):
        assert code in meta["categories"]
    assert meta["categories"]["kebakaran"]["units_by_priority"] == {"3": ["fire"]}
    assert "prank" in meta["call_dispositions"]
