"""Jurisdiction: Kota Blitar and outside-regency incidents wait for handover; kecamatan lookup."""

from __future__ import annotations

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from dispatch.core.jurisdiction import Jurisdiction, inside
from dispatch.demo_data import KECAMATAN
from dispatch.geodata import KOTA_BLITAR, REGENCY, locate
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

# Alun-alun Kota Blitar (estimate), in the city, not in the regency's care.
KOTA_BLITAR_SQUARE = (-8.0985, 112.1680)
# South of the coast line, in the Indian Ocean: outside the regency.
OFFSHORE = (-8.45, 112.20)


def test_inside_is_even_odd_ray_casting() -> None:
    square = ((0.0, 0.0), (0.0, 1.0), (1.0, 1.0), (1.0, 0.0), (0.0, 0.0))
    assert inside(0.5, 0.5, square) and not inside(1.5, 0.5, square)
    assert not inside(0.5, -0.1, square)


def test_every_kecamatan_centre_is_found_as_itself() -> None:
    for k in KECAMATAN:
        placement = locate(k.lat, k.lon)
        assert placement.jurisdiction is Jurisdiction.REGENCY, k.name
        assert (placement.kecamatan_code, placement.kecamatan) == (k.code, k.name)


@pytest.mark.parametrize(
    ("point", "jurisdiction", "kecamatan"),
    [
        (KOTA_BLITAR_SQUARE, Jurisdiction.KOTA_BLITAR, None),
        ((-8.100, 112.150), Jurisdiction.KOTA_BLITAR, None),
        (OFFSHORE, Jurisdiction.OUTSIDE_REGENCY, None),
        ((-7.90, 112.20), Jurisdiction.OUTSIDE_REGENCY, None),  # Kediri side of Kelud
        (KANIGORO, Jurisdiction.REGENCY, "Kanigoro"),
        ((-8.066, 112.150), Jurisdiction.REGENCY, "Ponggok"),  # just north of the city
    ],
)
def test_placement(point: tuple[float, float], jurisdiction: Jurisdiction,
                   kecamatan: str | None) -> None:
    placement = locate(*point)
    assert (placement.jurisdiction, placement.kecamatan) == (jurisdiction, kecamatan)


async def test_outlines_are_served_for_the_map(client: TestClient) -> None:
    geo = await get_json(client, "/api/v1/geo")
    assert geo["outlines_estimated"] is True
    for name, ring in (("regency", REGENCY), ("kota_blitar", KOTA_BLITAR)):
        served = geo["outlines"][name]
        assert served[0] == served[-1] and len(served) >= 4
        assert [tuple(p) for p in served] == list(ring)


async def test_incident_in_kota_blitar_waits_for_handover_not_dispatch(
        client: TestClient, db: asyncpg.Connection) -> None:
    # The ambulance stands in the city: nearest to the city incident, yet not sent there.
    await create_unit(client, "AMB-1", "ambulance", KOTA_BLITAR_SQUARE)
    async with Console(client) as console:
        city = await create_incident(client, KOTA_BLITAR_SQUARE)
        assert (city["status"], city["queue_reason"]) == ("queued", "handover_kota_blitar")
        assert city["jurisdiction"] == "kota_blitar" and city["kecamatan"] is None
        await console.wait_for(is_kind("incident.handover_required"))
        offshore = await create_incident(client, OFFSHORE, priority=1)
        assert offshore["queue_reason"] == "handover_outside_regency"
        ours = await create_incident(client, WLINGI, priority=3)
        # The dispatcher serves the later, lower-priority incident of our own.
        [sent] = await console.wait_for(is_kind("unit.assigned"))
        assert sent.data["incident_id"] == ours["id"]
    rows = await db.fetch("SELECT incident_id FROM assignments")
    assert [r["incident_id"] for r in rows] == [ours["id"]]
    queued = await get_json(client, "/api/v1/incidents?status=queued")
    assert {i["queue_reason"] for i in queued["items"]} == {"handover_kota_blitar",
                                                           "handover_outside_regency"}


async def test_take_over_lets_the_dispatcher_serve_it(client: TestClient) -> None:
    await create_unit(client, "AMB-1", "ambulance", KANIGORO)
    async with Console(client) as console:
        city = await create_incident(client, KOTA_BLITAR_SQUARE)
        resp = await client.post(f"/api/v1/incidents/{city['id']}/take-over")
        assert resp.status == 200
        [sent] = await console.wait_for(is_kind("unit.assigned"))
        assert sent.data["incident_id"] == city["id"]
    again = await client.post(f"/api/v1/incidents/{city['id']}/take-over")
    assert again.status == 409


async def test_manual_unit_on_a_handover_incident_keeps_it_out_of_auto_dispatch(
        client: TestClient, db: asyncpg.Connection) -> None:
    police = await create_unit(client, "POL-1", "police", KANIGORO)
    ambulance = await create_unit(client, "AMB-1", "ambulance", KANIGORO)
    crash = await create_incident(client, KOTA_BLITAR_SQUARE, category="kecelakaan_lalu_lintas")
    await post_json(client, f"/api/v1/incidents/{crash['id']}/assignments",
                    {"unit_id": police["id"]}, 201)
    detail = await get_json(client, f"/api/v1/incidents/{crash['id']}")
    assert detail["queue_reason"] == "handover_kota_blitar"
    async with Console(client) as console:
        ours = await create_incident(client, WLINGI)
        # The police unit's own unit.assigned may still be on its way through the relay.
        [sent] = await console.wait_for(is_kind("unit.assigned", unit_id=ambulance["id"]))
    assert sent.data["incident_id"] == ours["id"]  # the free ambulance went to our own call
