"""Jurisdiction, kecamatan and desa by point-in-polygon on the shipped Kemendagri boundaries."""

from __future__ import annotations

import json
import math
from importlib import resources
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from shapely.geometry import Point as ShapelyPoint
from shapely.geometry import shape

from dispatch.core.jurisdiction import Jurisdiction
from dispatch.demo_data import KECAMATAN
from dispatch.geodata import locate
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

# Alun-alun Kota Blitar, in the city, not in the regency's care.
KOTA_BLITAR_SQUARE = (-8.0985, 112.1680)
# South of the coast line, in the Indian Ocean: in no shipped area.
OFFSHORE = (-8.45, 112.20)
# Boyolangu, Kabupaten Tulungagung, west of the regency border.
TULUNGAGUNG = (-8.10, 111.90)


def _shipped(name: str) -> list[tuple[dict[str, Any], Any]]:
    """The shipped features read independently of dispatch.geodata: (properties, shape)."""
    text = resources.files("dispatch.data.wilayah").joinpath(name).read_text("utf-8")
    return [(f["properties"], shape(f["geometry"])) for f in json.loads(text)["features"]]


AREAS = _shipped("areas.geojson")
KEC = _shipped("kecamatan.geojson")
DESA = _shipped("desa.geojson")


def _containing(features: list[tuple[dict[str, Any], Any]], lat: float, lon: float
                ) -> list[str]:
    pt = ShapelyPoint(lon, lat)
    return [p["kode"] for p, g in features if g.covers(pt)]


def _both_sides(code: str, step_deg: float = 0.002) -> list[tuple[float, float]]:
    """Points just inside and just outside the outer ring of area ``code``: a short step
    along both normals of each edge, from its midpoint."""
    geom = next(g for p, g in AREAS if p["kode"] == code)
    polys = list(getattr(geom, "geoms", [geom]))
    ring = list(max(polys, key=lambda g: g.area).exterior.coords)
    out = []
    for (x1, y1), (x2, y2) in list(zip(ring, ring[1:], strict=False)):
        mx, my, dx, dy = (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1
        norm = math.hypot(dx, dy) or 1.0
        nx, ny = -dy / norm * step_deg, dx / norm * step_deg
        out += [(my + ny, mx + nx), (my - ny, mx - nx)]
    return out


def _expected(lat: float, lon: float) -> tuple[Jurisdiction, str | None, str | None, str | None]:
    """(jurisdiction, handover_to, kecamatan_code, desa_code) from the test's own lookup:
    the finest level containing the point decides (desa, else kecamatan, else area)."""
    desa = min(_containing(DESA, lat, lon), default=None)
    kec = desa.rsplit(".", 1)[0] if desa else min(_containing(KEC, lat, lon), default=None)
    area = kec[:5] if kec else min(_containing(AREAS, lat, lon), default=None)
    if area not in ("35.05", "35.72"):
        return Jurisdiction.OUTSIDE_REGENCY, area, None, None
    jurisdiction = Jurisdiction.REGENCY if area == "35.05" else Jurisdiction.KOTA_BLITAR
    return jurisdiction, None if area == "35.05" else area, kec, desa


@pytest.mark.parametrize("border", ["35.72", "35.05"])
def test_points_on_both_sides_of_a_border_match_point_in_polygon(border: str) -> None:
    points = _both_sides(border)
    seen, inside, with_desa = set(), 0, 0
    for lat, lon in points:
        p = locate(lat, lon)
        expected = _expected(lat, lon)
        assert (p.jurisdiction, p.handover_to, p.kecamatan_code, p.desa_code) == expected, \
            (lat, lon)
        seen.add(p.jurisdiction)
        if p.jurisdiction is not Jurisdiction.OUTSIDE_REGENCY:
            inside += 1
            with_desa += p.desa_code is not None
    # The source's kabupaten outline is coarser than its desa: a sliver along the outer
    # border lies in no desa and keeps the kecamatan or area it is in.
    assert with_desa >= inside // 2 > 0
    # Both sides were really visited: the city and the regency around it, or the
    # regency and its neighbours.
    if border == "35.72":
        assert {Jurisdiction.KOTA_BLITAR, Jurisdiction.REGENCY} <= seen
    else:
        assert {Jurisdiction.REGENCY, Jurisdiction.OUTSIDE_REGENCY} <= seen
    handovers = {locate(*pt).handover_to for pt in points} - {None, "35.72"}
    if border == "35.05":
        # The regency borders Kediri, Malang, Tulungagung and Trenggalek... and Kota Blitar.
        assert {"35.04", "35.06", "35.07"} <= handovers


def test_every_kecamatan_centre_is_found_as_itself() -> None:
    for k in KECAMATAN:
        placement = locate(k.lat, k.lon)
        assert placement.jurisdiction is Jurisdiction.REGENCY, k.name
        assert (placement.kecamatan_code, placement.kecamatan) == (k.code, k.name)


@pytest.mark.parametrize(
    ("point", "jurisdiction", "handover_to", "kecamatan", "desa"),
    [
        (KOTA_BLITAR_SQUARE, Jurisdiction.KOTA_BLITAR, "35.72", "Kepanjenkidul", "Kepanjenlor"),
        (OFFSHORE, Jurisdiction.OUTSIDE_REGENCY, None, None, None),
        ((-7.90, 112.20), Jurisdiction.OUTSIDE_REGENCY, "35.06", None, None),  # Kediri side
        (TULUNGAGUNG, Jurisdiction.OUTSIDE_REGENCY, "35.04", None, None),
        ((-8.1146, 112.2337), Jurisdiction.REGENCY, None, "Kanigoro", "Sawentar"),
        ((-8.066, 112.150), Jurisdiction.REGENCY, None, "Sanankulon", "Sumberingin"),
    ],
)
def test_placement(point: tuple[float, float], jurisdiction: Jurisdiction,
                   handover_to: str | None, kecamatan: str | None, desa: str | None) -> None:
    p = locate(*point)
    assert (p.jurisdiction, p.handover_to, p.kecamatan, p.desa) == (
        jurisdiction, handover_to, kecamatan, desa)


async def test_boundaries_are_served_for_the_map(client: TestClient) -> None:
    geo = await get_json(client, "/api/v1/geo")
    assert geo["outlines_estimated"] is False
    for name in ("regency", "kota_blitar"):
        served = geo["outlines"][name]
        assert served[0] == served[-1] and len(served) >= 4
    b = geo["boundaries"]
    assert "wilayah_boundaries" in b["source"] and b["license"] == "MIT"
    roles = {f["properties"]["code"]: f["properties"]["role"] for f in b["areas"]["features"]}
    assert roles["35.05"] == "regency" and roles["35.72"] == "kota_blitar"
    assert roles["35.04"] == "neighbour"
    assert len(b["kecamatan"]["features"]) == 25 and len(b["desa"]["features"]) == 269
    sawentar = next(f for f in b["desa"]["features"] if f["properties"]["name"] == "Sawentar")
    props = sawentar["properties"]
    assert props["kecamatan"] == "Kanigoro" and props["kind"] == "desa"
    assert props["radius_m"] > 100
    # The label point lies in the desa itself (checked on the shipped, exact shape).
    assert _containing(DESA, props["label_lat"], props["label_lon"]) == [props["code"]]


async def test_incident_in_tulungagung_names_the_neighbour_to_hand_over_to(
        client: TestClient) -> None:
    incident = await create_incident(client, TULUNGAGUNG)
    assert (incident["status"], incident["queue_reason"]) == ("queued",
                                                              "handover_outside_regency")
    assert incident["handover_to"] == "35.04"
    assert incident["handover_centre"] == "Command Center 112 Kabupaten Tulungagung"
    ours = await create_incident(client, KANIGORO)
    assert (ours["jurisdiction"], ours["handover_to"], ours["handover_centre"]) == (
        "regency", None, None)
    assert (ours["kecamatan"], ours["desa"]) == ("Kanigoro", "Satreyan")


async def test_incident_in_kota_blitar_waits_for_handover_not_dispatch(
        client: TestClient, db: asyncpg.Connection) -> None:
    # The ambulance stands in the city: nearest to the city incident, yet not sent there.
    await create_unit(client, "AMB-1", "ambulance", KOTA_BLITAR_SQUARE)
    async with Console(client) as console:
        city = await create_incident(client, KOTA_BLITAR_SQUARE)
        assert (city["status"], city["queue_reason"]) == ("queued", "handover_kota_blitar")
        assert city["jurisdiction"] == "kota_blitar" and city["handover_to"] == "35.72"
        assert city["handover_centre"] == "Command Center 112 Kota Blitar"
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
