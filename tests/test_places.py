"""The gazetteer (GET /api/v1/places) and the centre's own places (the landmark registry)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from dispatch.geodata import wilayah
from tests.helpers import bearer, get_json, post_json

# What a stressed call-taker types, and the desa it means: typos (one letter
# dropped, doubled, swapped or wrong), old spellings, prefixes, lower case.
MISSPELLED: list[tuple[str, str]] = [
    ("sawentr", "Sawentar"), ("sawemtar", "Sawentar"), ("Sawentaar", "Sawentar"),
    ("desa sawentar", "Sawentar"), ("Ds. Sawentar", "Sawentar"), ("SAWENTAR", "Sawentar"),
    ("Kel. Kepanjenlor", "Kepanjenlor"), ("kepanjen lor", "Kepanjenlor"),
    ("Soemberdjo", "Sumberjo"), ("sumberdjo", "Sumberjo"), ("Djati", "Jati"),
    ("Tjandirejo", "Candirejo"), ("Kalipoetjung", "Kalipucung"), ("Poerworedjo", "Purworejo"),
    ("Ngadiredjo", "Ngadirejo"), ("Wonotrto", "Wonotirto"), ("wlngi", "Wlingi"),
    ("Talon", "Talun"), ("Penatran", "Penataran"), ("Penataraan", "Penataran"),
    ("Jatinon", "Jatinom"), ("Kademngan", "Kademangan"), ("Bendowlung", "Bendowulung"),
    ("Tumpakoyut", "Tumpakoyot"), ("Gogodesa", "Gogodeso"), ("Satrean", "Satreyan"),
    ("Ngeglok", "Nglegok"), ("Plosoareng", "Plosoarang"), ("Sumbersih", "Sumbersih"),
    ("Tuliskrio", "Tuliskriyo"), ("Kaligambr", "Kaligambir"), ("Jambwangi", "Jambewangi"),
    ("Pagerwoja", "Pagerwojo"), ("Sukoreja", "Sukorejo"), ("Olak alen", "Olak Alen"),
    ("olakalen", "Olak Alen"), ("Tumpakepuh", "Tumpakkepuh"), ("Suruwadang", "Suruhwadang"),
    ("Resapmbo", "Resapombo"), ("Umbuldamr", "Umbuldamar"), ("Kedungbuder", "Kedungbunder"),
    ("Slemnan", "Slemanan"), ("Dermajayan", "Dermojayan"), ("Krisk", "Krisik"),
]


def _desa_named(name: str) -> list[str]:
    return sorted(r.code for r in wilayah().desa.regions if r.name == name)


async def _search(client: TestClient, q: str, limit: int = 10) -> list[dict[str, Any]]:
    resp = await client.get("/api/v1/places", params={"q": q, "limit": str(limit)})
    assert resp.status == 200, await resp.text()
    items: list[dict[str, Any]] = (await resp.json())["items"]
    return items


async def test_exact_prefixed_and_lower_case_names_come_first(client: TestClient) -> None:
    [code] = _desa_named("Sawentar")
    for q in ("Sawentar", "sawentar", "Desa Sawentar", "ds. sawentar", "DS SAWENTAR"):
        first = (await _search(client, q))[0]
        assert (first["kind"], first["code"], first["name"]) == ("desa", code, "Sawentar"), q
        assert first["kecamatan"] == "Kanigoro" and first["radius_m"] > 0
    first = (await _search(client, "Kel. Sananwetan"))[0]
    assert (first["kind"], first["name"]) == ("kelurahan", "Sananwetan")
    # Kanigoro is a kecamatan and a kelurahan in it: the prefix says which comes first.
    kec = await _search(client, "Kec. Kanigoro")
    assert [(i["kind"], i["name"]) for i in kec[:2]] == [("kecamatan", "Kanigoro"),
                                                        ("kelurahan", "Kanigoro")]
    kel = await _search(client, "kel kanigoro")
    assert [i["kind"] for i in kel[:2]] == ["kelurahan", "kecamatan"]


async def test_a_prefix_finds_the_desa(client: TestClient) -> None:
    names = [i["name"] for i in await _search(client, "sawen", 5)]
    assert names[0] == "Sawentar"


async def test_unqualified_duplicate_lists_every_one_qualified_picks_one(
        client: TestClient) -> None:
    codes = _desa_named("Sumberjo")
    assert len(codes) == 3  # Kademangan, Sanankulon, Sutojayan
    items = await _search(client, "Sumberjo")
    assert sorted(i["code"] for i in items[:3]) == codes
    assert len({i["kecamatan"] for i in items[:3]}) == 3
    first = (await _search(client, "Sumberjo Sutojayan"))[0]
    assert (first["name"], first["kecamatan"]) == ("Sumberjo", "Sutojayan")
    first = (await _search(client, "sumberdjo sanankulon"))[0]
    assert (first["name"], first["kecamatan"]) == ("Sumberjo", "Sanankulon")


async def test_every_duplicate_name_lists_all_its_desa(client: TestClient) -> None:
    by_name: dict[str, list[str]] = {}
    for r in wilayah().desa.regions:
        by_name.setdefault(r.name, []).append(r.code)
    duplicates = {n: sorted(c) for n, c in by_name.items() if len(c) > 1}
    assert len(duplicates) == 19
    for name, codes in duplicates.items():
        items = await _search(client, name, 20)
        found = sorted(i["code"] for i in items if i["name"] == name and i["kind"] != "kecamatan")
        assert found == codes, name


async def test_old_spellings_and_typos_hit_rate(client: TestClient) -> None:
    """The first suggestion is the desa meant for at least 90 % of the list (the rate
    itself is printed by tests/bench_gazetteer.py)."""
    hits = 0
    misses = []
    for q, name in MISSPELLED:
        items = await _search(client, q, 5)
        if items and items[0]["name"] == name:
            hits += 1
        else:
            misses.append((q, [i["name"] for i in items[:3]]))
    assert hits >= 0.9 * len(MISSPELLED), misses


async def test_nonsense_finds_nothing_and_bad_queries_are_4xx(client: TestClient) -> None:
    assert await _search(client, "xqzwv") == []
    for params in ({}, {"q": ""}, {"q": "sawentar", "limit": "0"},
                   {"q": "sawentar", "limit": "many"}, {"q": "x" * 200}):
        resp = await client.get("/api/v1/places", params=params)
        assert resp.status in (400, 422), (params, resp.status)
        assert "error" in await resp.json()


# --- the centre's places ---------------------------------------------------

PASAR = {"name": "Pasar Sawentar", "kind": "pasar", "aliases": ["Pasar Kanigoro Timur"],
         "location": {"lat": -8.1120, "lon": 112.2330}, "estimate": True}


async def test_a_place_is_created_found_edited_and_retired(client: TestClient) -> None:
    place = await post_json(client, "/api/v1/landmarks", PASAR, 201)
    assert (place["desa"], place["kecamatan"], place["jurisdiction"]) == (
        "Sawentar", "Kanigoro", "regency")
    first = (await _search(client, "pasar sawentar"))[0]
    assert (first["kind"], first["code"], first["name"]) == ("place", str(place["id"]),
                                                           "Pasar Sawentar")
    assert (first["lat"], first["lon"]) == (-8.1120, 112.2330)
    by_alias = await _search(client, "pasar kanigoro timur")
    assert by_alias[0]["code"] == str(place["id"])
    moved = dict(PASAR, name="Pasar Baru Sawentar")
    resp = await client.put(f"/api/v1/landmarks/{place['id']}", json=moved)
    assert resp.status == 200 and (await resp.json())["name"] == "Pasar Baru Sawentar"
    assert (await _search(client, "pasar baru sawentar"))[0]["code"] == str(place["id"])
    resp = await client.delete(f"/api/v1/landmarks/{place['id']}")
    assert resp.status == 200 and (await resp.json())["retired_at"] is not None
    assert all(i["kind"] != "place" for i in await _search(client, "pasar sawentar"))
    again = await client.delete(f"/api/v1/landmarks/{place['id']}")
    assert again.status == 409
    listed = await get_json(client, "/api/v1/landmarks?retired=true")
    assert [p["id"] for p in listed["items"]] == [place["id"]]
    assert (await get_json(client, "/api/v1/landmarks"))["items"] == []


@pytest.mark.parametrize(("change", "field"), [
    ({"name": "   "}, "name"),
    ({"name": ""}, "name"),
    ({"kind": "kastil"}, "kind"),
    ({"location": {"lat": -7.50, "lon": 112.20}}, "location"),   # far outside the map
    ({"location": {"lat": -8.10, "lon": 111.90}}, "location"),   # Tulungagung
    ({"location": {"lat": 95, "lon": 112.2}}, "location"),
    ({"aliases": [""]}, "aliases"),
])
async def test_bad_places_are_refused_and_nothing_stored(
        client: TestClient, db: asyncpg.Connection, change: dict[str, Any], field: str) -> None:
    resp = await client.post("/api/v1/landmarks", json=dict(PASAR, **change))
    assert resp.status in (400, 422), resp.status
    body = await resp.json()
    assert field in json.dumps(body), body
    assert await db.fetchval("SELECT count(*) FROM places") == 0


async def test_only_supervisors_and_admins_change_places(
        client: TestClient, db: asyncpg.Connection) -> None:
    for role, expect in (("call_taker", 403), ("dispatcher", 403), ("supervisor", 201)):
        headers = await bearer(db, role, name=f"places-{role}")
        resp = await client.post("/api/v1/landmarks", json=dict(PASAR, name=f"P {role}"),
                                 headers=headers)
        assert resp.status == expect, (role, resp.status)
    headers = await bearer(db, "call_taker", name="taker-search")
    resp = await client.get("/api/v1/places", params={"q": "P supervisor"}, headers=headers)
    assert resp.status == 200 and (await resp.json())["items"][0]["kind"] == "place"
    assert await db.fetchval("SELECT count(*) FROM places") == 1


CSV_OK = """name,kind,lat,lon,aliases,estimate
Masjid Al-Falah Sawentar,masjid,-8.1150,112.2350,Masjid Sawentar;Al Falah,true
SPBU Kanigoro,spbu,-8.1300,112.2200,,true
"""


async def test_import_csv_and_geojson_all_or_nothing(
        client: TestClient, db: asyncpg.Connection) -> None:
    done = await post_json(client, "/api/v1/landmark-imports",
                           {"format": "csv", "content": CSV_OK}, 201)
    assert done["imported"] == 2
    assert (await _search(client, "al falah"))[0]["name"] == "Masjid Al-Falah Sawentar"
    geo = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [112.2337, -8.1146]},
         "properties": {"name": "Jembatan Sawentar", "kind": "jembatan"}}]}
    done = await post_json(client, "/api/v1/landmark-imports",
                           {"format": "geojson", "content": json.dumps(geo)}, 201)
    assert done["items"][0]["desa"] == "Sawentar"
    before = await db.fetchval("SELECT count(*) FROM places")
    bad_files = [
        ("csv", "name,kind,lat\nX,pasar,-8.1\n"),                         # no lon column
        ("csv", CSV_OK + "Pasar Y,pasar,-8.11,not-a-number\n"),             # bad number
        ("csv", CSV_OK + "Pasar Z,pasar,-8.11\n"),                          # short line
        ("csv", CSV_OK + "Pasar W,pasar,-7.50,112.20\n"),                   # outside
        ("geojson", "{not json"),
        ("geojson", json.dumps({"type": "FeatureCollection", "features": [
            {"type": "Feature", "geometry": {"type": "LineString", "coordinates": []},
             "properties": {"name": "X", "kind": "pasar"}}]})),
        ("xml", "<a/>"),
    ]
    for fmt, content in bad_files:
        resp = await client.post("/api/v1/landmark-imports",
                                 json={"format": fmt, "content": content})
        assert resp.status in (400, 422), (fmt, content, resp.status)
        assert "error" in await resp.json()
    assert await db.fetchval("SELECT count(*) FROM places") == before


async def _cli(database_url: str, *args: str) -> tuple[int, str, str]:
    env = {**os.environ, "SIAP112_DATABASE_URL": database_url,
           "SIAP112_REDIS_URL": "redis://127.0.0.1:1/0"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "dispatch", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    return proc.returncode or 0, out.decode(), err.decode()


async def test_cli_imports_a_file_or_nothing(database_url: str, db: asyncpg.Connection,
                                             tmp_path: Path) -> None:
    good = tmp_path / "landmarks.csv"
    good.write_text(CSV_OK, encoding="utf-8")
    code, out, err = await _cli(database_url, "places", "import", str(good))
    assert code == 0, err
    assert "2 places imported" in out
    rows = await db.fetch("SELECT name, desa, created_by FROM places ORDER BY name")
    assert [(r["name"], r["created_by"]) for r in rows] == [
        ("Masjid Al-Falah Sawentar", "places-import"), ("SPBU Kanigoro", "places-import")]
    bad = tmp_path / "bad.geojson"
    bad.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [112.23, -8.11]},
         "properties": {"name": "Ok", "kind": "pasar"}},
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [112.23, -8.11]},
         "properties": {"name": "", "kind": "pasar"}}]}), encoding="utf-8")
    code, _, err = await _cli(database_url, "places", "import", str(bad))
    assert code == 1 and "feature 1" in err and "nothing was imported" in err
    assert await db.fetchval("SELECT count(*) FROM places") == 2
