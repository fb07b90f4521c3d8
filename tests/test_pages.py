"""Browser pages served by the app, the console's candidate list and the supervisor reports.

Report figures are checked against values computed here in Python from the stored
timestamps; the browser itself is exercised in tests/browser/.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from geopy.distance import geodesic

from dispatch.core.lifecycle import UnitStatus
from dispatch.demo_data import KECAMATAN
from dispatch.settings import load_settings
from dispatch.web.calls_schemas import Disposition
from tests.conftest import AppFactory
from tests.helpers import (
    KANIGORO,
    SRENGAT,
    WLINGI,
    Console,
    create_incident,
    create_unit,
    first_arrival_intervals,
    get_json,
    is_kind,
    percentile_linear,
    post_json,
    set_status,
)

STATIC = Path(__file__).resolve().parent.parent / "dispatch" / "static"
WIB = ZoneInfo("Asia/Jakarta")
BAKUNG = (-8.2650, 112.0500)
# (seconds ago the call rang, where): spread over hours, days and kecamatan.
CALLS = [(95, KANIGORO), (420, WLINGI), (960, SRENGAT), (3 * 3600 + 30, KANIGORO),
         (27 * 3600, BAKUNG), (50 * 3600 + 200, WLINGI)]


# ---------- pages and static files ----------

@pytest.mark.parametrize(("path", "script"), [("/", "console.js"),
                                              ("/responder", "responder.js"),
                                              ("/supervisor", "supervisor.js"),
                                              ("/places", "places.js")])
async def test_pages_are_served_with_their_scripts(client: TestClient, path: str,
                                                   script: str) -> None:
    resp = await client.get(path)
    assert resp.status == 200
    assert resp.content_type == "text/html"
    html = await resp.text()
    assert f'src="/static/{script}"' in html
    assert 'href="/static/siap112.css"' in html


async def test_every_module_a_page_imports_is_served(client: TestClient) -> None:
    """A missing or misnamed module would leave a page blank: follow every import."""
    seen: set[str] = set()
    todo = ["console.js", "responder.js", "supervisor.js", "places.js"]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        resp = await client.get(f"/static/{name}")
        assert resp.status == 200, name
        assert "javascript" in resp.content_type, (name, resp.content_type)
        todo += re.findall(r'from "\./([\w.]+\.js)"', await resp.text())
    assert {"i18n.js", "api.js", "sse.js", "map.js", "dom.js", "charts.js"} <= seen


async def test_static_files_stay_inside_their_folder(client: TestClient) -> None:
    for path in ("/static/../web/pages.py", "/static/%2e%2e/web/pages.py",
                 "/static/nothing-here.js"):
        resp = await client.get(path)
        assert resp.status in (403, 404), path


async def test_api_index_moved_to_api_v1(client: TestClient) -> None:
    index = await get_json(client, "/api/v1")
    assert index["links"]["console"] == "/"
    assert index["links"]["incidents"] == "/api/v1/incidents"


def _i18n_tables() -> dict[str, set[str]]:
    text = (STATIC / "i18n.js").read_text()
    blocks = re.split(r"^  (id|en): \{$", text, flags=re.M)
    tables = {blocks[i]: set(re.findall(r'^    "([\w.]+)":', blocks[i + 1], flags=re.M))
              for i in (1, 3)}
    return tables


def test_every_label_exists_in_both_languages() -> None:
    tables = _i18n_tables()
    assert tables["id"] == tables["en"]
    used: set[str] = set()
    for path in STATIC.iterdir():
        if not path.is_file():
            continue  # vendor/: third-party code, no labels of ours
        text = path.read_text()
        used |= set(re.findall(r'data-i18n(?:-title|-placeholder)?="([\w.]+)"', text))
        used |= set(re.findall(r'\bt\("([\w.]+)"', text))
    statuses = {f"status.{s.value}" for s in UnitStatus}
    intervals = {f"interval.{i}" for i in ("call_processing", "turnout", "travel", "total")}
    calls = {f"call.{d.value}" for d in Disposition}  # built as t(`call.${code}`)
    missing = (used | statuses | intervals | calls) - tables["id"]
    assert not missing


# ---------- candidates ----------

async def test_candidates_nearest_first_with_distance_and_eta(start_app: AppFactory) -> None:
    client = await start_app(dispatch={"run_in_web": False})
    near = await create_unit(client, "AMB-NEAR", "ambulance", (-8.1400, 112.2200))
    far = await create_unit(client, "AMB-FAR", "ambulance", SRENGAT)
    busy = await create_unit(client, "AMB-BUSY", "ambulance", KANIGORO)
    broken = await create_unit(client, "AMB-OOS", "ambulance", KANIGORO)
    await create_unit(client, "POL-1", "police", KANIGORO)
    await set_status(client, broken["id"], "out_of_service")
    other = await create_incident(client, WLINGI)
    await post_json(client, f"/api/v1/incidents/{other['id']}/assignments",
                    {"unit_id": busy["id"]}, 201)
    incident = await create_incident(client, KANIGORO)

    got = await get_json(client, f"/api/v1/incidents/{incident['id']}/candidates")
    ids = [c["unit_id"] for c in got["items"]]
    assert ids == [busy["id"], near["id"], far["id"]]  # police and out-of-service left out
    assert got["unmet"] == ["ambulance"]
    by_id = {c["unit_id"]: c for c in got["items"]}
    assert by_id[near["id"]]["recommended"] is True  # the nearest *available* one
    assert by_id[busy["id"]]["recommended"] is False
    assert by_id[busy["id"]]["incident_id"] == other["id"]
    settings = load_settings(env={})
    for unit, pos in ((near, (-8.1400, 112.2200)), (far, SRENGAT)):
        metres = geodesic(KANIGORO, pos).meters
        item = by_id[unit["id"]]
        assert item["distance_m"] == pytest.approx(metres, abs=0.01)
        speed = settings.dispatch.speed_kmh["ambulance"] / 3.6
        assert item["eta_s"] == round(metres * settings.dispatch.road_factor / speed)

    police = await get_json(client, f"/api/v1/incidents/{incident['id']}/candidates?type=police")
    assert [c["callsign"] for c in police["items"]] == ["POL-1"]
    assert police["items"][0]["recommended"] is False  # the incident needs no police


async def test_candidates_refuse_bad_requests(client: TestClient) -> None:
    incident = await create_incident(client, KANIGORO)
    resp = await client.get(f"/api/v1/incidents/{incident['id']}/candidates?type=tank")
    assert resp.status == 422
    assert (await resp.json())["error"]["field"] == "type"
    resp = await client.get("/api/v1/incidents/999999/candidates")
    assert resp.status == 404
    resp = await client.get(f"/api/v1/incidents/{incident['id']}/candidates?limit=0")
    assert resp.status == 422


# ---------- reports ----------

async def _worked_calls(client: TestClient) -> None:
    """Calls that rang at known times and places, each worked to the scene and back."""
    await create_unit(client, "AMB-1", "ambulance", KANIGORO)
    await create_unit(client, "AMB-2", "ambulance", WLINGI)
    await create_unit(client, "POL-1", "police", SRENGAT)
    async with Console(client) as console:
        for n, (ago, where) in enumerate(CALLS):
            rang = datetime.now(UTC) - timedelta(seconds=ago)
            category = "kecelakaan_lalu_lintas" if n % 2 else "medis"
            incident = await create_incident(
                client, where, category=category, call_received_at=rang.isoformat(),
                address="=HYPERLINK(\"http://x\")" if n == 0 else f"Jl. {n}")
            await console.wait_for(is_kind("incident.dispatched", incident_id=incident["id"]))
            detail = await get_json(client, f"/api/v1/incidents/{incident['id']}")
            # Walked one after the other, so the first walked is first on scene: the
            # third crash the other way round, so each unit type arrives first somewhere.
            walk = detail["assignments"][::-1] if n == 3 else detail["assignments"]
            for a in walk:
                for status in ("en_route", "on_scene", "available"):
                    await set_status(client, a["unit_id"], status)
        # Logged but never reached: counts for call processing only.
        last = await create_incident(client, BAKUNG, category="medis")
        await console.wait_for(is_kind("incident.dispatched", incident_id=last["id"]))


def _nearest_kecamatan(lat: float | None, lon: float | None) -> str | None:
    if lat is None or lon is None:
        return None
    return min(KECAMATAN, key=lambda k: geodesic((lat, lon), (k.lat, k.lon)).meters).name


AREA_NAMES = {"35.72": "Kota Blitar", "35.04": "Kabupaten Tulungagung"}


def _kecamatan_of(inc: asyncpg.Record) -> str | None:
    """The kecamatan stored with the incident; the nearest centre only for rows without;
    Kota Blitar and each neighbour a group of its own."""
    if inc["jurisdiction"] in ("kota_blitar", "outside_regency"):
        return AREA_NAMES.get(inc["handover_to"], "Luar wilayah (tanpa kabupaten/kota)")
    return inc["kecamatan"] or _nearest_kecamatan(inc["lat"], inc["lon"])


def _desa_of(inc: asyncpg.Record) -> str | None:
    if inc["jurisdiction"] in ("kota_blitar", "outside_regency") or inc["desa"] is None:
        return _kecamatan_of(inc)
    return f"{inc['desa']} ({inc['kecamatan']})"


async def _samples(db: asyncpg.Connection) -> list[dict[str, Any]]:
    """Every interval sample from the stored timestamps, computed here in Python: all
    four on each incident's first unit on scene (tests/helpers.first_arrival_intervals)."""
    incidents = {r["id"]: r for r in await db.fetch("SELECT * FROM incidents")}
    assignments = await db.fetch("SELECT * FROM assignments")
    out: list[dict[str, Any]] = []
    for inc in incidents.values():
        mine = [a for a in assignments if a["incident_id"] == inc["id"]]
        unit_type, secs = first_arrival_intervals(inc["received_at"], mine)
        out += [{"incident": inc, "unit_type": unit_type, "interval": i, "secs": v}
                for i, v in secs.items()]
    return out


def _key(sample: dict[str, Any], group: str) -> str | None:
    inc = sample["incident"]
    local = inc["received_at"].astimezone(WIB)
    return {"day": local.strftime("%Y-%m-%d"), "hour": local.strftime("%H"),
            "kecamatan": _kecamatan_of(inc), "desa": _desa_of(inc),
            "unit_type": sample["unit_type"]}[group]


@pytest.mark.parametrize("group", ["day", "hour", "kecamatan", "desa", "unit_type"])
async def test_grouped_response_times_match_the_stored_timeline(
        client: TestClient, db: asyncpg.Connection, group: str) -> None:
    await _worked_calls(client)
    targets = load_settings(env={}).targets
    since = quote((datetime.now(UTC) - timedelta(days=5)).isoformat())
    got = await get_json(client, f"/api/v1/reports/response-times?group={group}&from={since}")
    buckets: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for s in await _samples(db):
        key = _key(s, group)
        if key is not None:
            buckets[(key, s["interval"])].append(s)
    found = {(g["key"], interval): figures
             for g in got["groups"] for interval, figures in g["intervals"].items()}
    assert set(found) == set(buckets)
    assert len({k for k, _ in buckets}) >= 2  # the data really spans several groups
    for k, samples in buckets.items():
        values = [s["secs"] for s in samples]
        within = sum(s["secs"] <= targets.target(s["incident"]["category"], s["interval"])
                     for s in samples) / len(samples)
        assert found[k]["count"] == len(values), k
        assert found[k]["p50"] == pytest.approx(percentile_linear(values, 0.5), abs=1e-3), k
        assert found[k]["p90"] == pytest.approx(percentile_linear(values, 0.9), abs=1e-3), k
        assert found[k]["within_target"] == pytest.approx(within), k


async def test_histogram_of_total_response_time(client: TestClient,
                                                db: asyncpg.Connection) -> None:
    await _worked_calls(client)
    since = quote((datetime.now(UTC) - timedelta(days=5)).isoformat())
    got = await get_json(client, f"/api/v1/reports/histogram?from={since}&bin_s=300")
    totals = [s["secs"] for s in await _samples(db) if s["interval"] == "total"]
    expected = [0] * (max(math.floor(t / 300) for t in totals) + 1)
    for t in totals:
        expected[math.floor(t / 300)] += 1
    assert [b["count"] for b in got["bins"]] == expected
    assert [(b["from_s"], b["to_s"]) for b in got["bins"][:2]] == [(0, 300), (300, 600)]
    assert sum(expected) == len(CALLS)


def _csv(text: str) -> list[dict[str, str]]:
    assert text.startswith("\ufeff")  # UTF-8 with a BOM, so Excel reads it as UTF-8
    return list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))


async def test_csv_export_lists_incidents_with_interval_times(client: TestClient,
                                                              db: asyncpg.Connection) -> None:
    await _worked_calls(client)
    since = quote((datetime.now(UTC) - timedelta(days=5)).isoformat())
    resp = await client.get(f"/api/v1/reports/incidents.csv?from={since}")
    assert resp.status == 200
    assert resp.content_type == "text/csv"
    assert resp.headers["Content-Disposition"].startswith("attachment; filename=")
    rows = _csv(await resp.text())
    assert list(rows[0]) == [
        "No. kejadian", "Panggilan masuk (WIB)", "Panggilan diangkat (WIB)", "Kategori",
        "Prioritas", "Status", "Hasil penanganan", "Kecamatan", "Desa", "Wilayah",
        "Diserahkan ke", "Sumber lokasi", "Radius lokasi (m)", "Lintang", "Bujur", "Alamat",
        "Unit pertama tiba", "Unit itu diberangkatkan (WIB)", "Unit itu tiba (WIB)",
        "Ditutup (WIB)", "Jumlah unit", "Proses panggilan (detik)",
        "Persiapan berangkat (detik)", "Perjalanan (detik)", "Total (detik)", "Data simulasi"]
    assert len(rows) == len(CALLS) + 1
    by_id = {int(r["No. kejadian"]): r for r in rows}
    names = {"call_processing": "Proses panggilan (detik)", "turnout":
             "Persiapan berangkat (detik)", "travel": "Perjalanan (detik)",
             "total": "Total (detik)"}
    for s in await _samples(db):
        row = by_id[s["incident"]["id"]]
        assert float(row[names[s["interval"]]]) == pytest.approx(s["secs"], abs=0.051)
        assert row["Kecamatan"] == _kecamatan_of(s["incident"])
        assert row["Kategori"] in {"Kegawatdaruratan medis", "Kecelakaan lalu lintas"}
    never = [r for r in rows if r["Unit itu tiba (WIB)"] == ""]
    assert len(never) == 1 and never[0]["Total (detik)"] == ""
    assert never[0]["Proses panggilan (detik)"]
    # A caller-supplied address is not run as a spreadsheet formula.
    assert any(r["Alamat"] == "'=HYPERLINK(\"http://x\")" for r in rows)
    received = [datetime.fromisoformat(r["Panggilan masuk (WIB)"]) for r in rows]
    assert received == sorted(received)
    assert {r["Data simulasi"] for r in rows} == {"Tidak"}


async def test_reports_refuse_bad_queries(client: TestClient) -> None:
    for query, field in (("response-times?group=week", "group"),
                         ("response-times", "group"),
                         ("histogram?bin_s=5", "bin_s"),
                         ("incidents.csv?category=unicorn", "category"),
                         ("histogram?from=yesterday", "from")):
        resp = await client.get(f"/api/v1/reports/{query}")
        assert resp.status == 422, query
        body = await resp.json()
        fields = [f["field"] for f in body["error"].get("fields", [])] + \
            [body["error"].get("field")]
        assert field in fields, (query, body)


async def test_reports_use_the_kecamatan_stored_with_the_incident(
        client: TestClient, db: asyncpg.Connection) -> None:
    await _worked_calls(client)
    first, second = [r["id"] for r in await db.fetch(
        "SELECT id FROM incidents WHERE kecamatan = 'Kanigoro' ORDER BY id LIMIT 2")]
    bakung = next(k for k in KECAMATAN if k.name == "Bakung")
    # Stored from the boundaries: it wins over the nearest centre (Kanigoro here).
    await db.execute("UPDATE incidents SET kecamatan = $2, kecamatan_code = $3, desa = NULL, "
                     "desa_code = NULL WHERE id = $1", first, bakung.name, bakung.code)
    # A row stored before incidents carried a kecamatan: the nearest centre stands in.
    await db.execute("UPDATE incidents SET kecamatan = NULL, kecamatan_code = NULL, "
                     "desa = NULL, desa_code = NULL, jurisdiction = NULL WHERE id = $1", second)
    since = quote((datetime.now(UTC) - timedelta(days=5)).isoformat())
    resp = await client.get(f"/api/v1/reports/incidents.csv?from={since}&lang=en")
    rows = {int(r["Incident no."]): r for r in _csv(await resp.text())}
    assert (rows[first]["District (kecamatan)"], rows[second]["District (kecamatan)"]) == (
        "Bakung", "Kanigoro")


async def test_reports_group_kota_blitar_and_neighbours_on_their_own(
        client: TestClient, db: asyncpg.Connection) -> None:
    await create_unit(client, "AMB-K", "ambulance", KANIGORO)
    city = await create_incident(client, (-8.0985, 112.1680))   # alun-alun Kota Blitar
    west = await create_incident(client, (-8.10, 111.90))      # Kabupaten Tulungagung
    async with Console(client) as console:
        # The centre serves the city incident after all: it stays Kota Blitar's in reports.
        await post_json(client, f"/api/v1/incidents/{city['id']}/take-over", {}, 200)
        await console.wait_for(is_kind("unit.assigned", incident_id=city["id"]))
    since = quote((datetime.now(UTC) - timedelta(days=1)).isoformat())
    resp = await client.get(f"/api/v1/reports/incidents.csv?from={since}")
    rows = {int(r["No. kejadian"]): r for r in _csv(await resp.text())}
    assert rows[city["id"]]["Kecamatan"] == "Kota Blitar"
    assert rows[west["id"]]["Kecamatan"] == "Kabupaten Tulungagung"
    assert rows[west["id"]]["Diserahkan ke"] == "Kabupaten Tulungagung"
    assert rows[west["id"]]["Wilayah"] == "Luar kabupaten"
    for group in ("kecamatan", "desa"):
        got = await get_json(client, f"/api/v1/reports/response-times?group={group}"
                                     f"&from={since}")
        assert [g["key"] for g in got["groups"]] == ["Kota Blitar"], group


STATIC = Path(__file__).resolve().parent.parent / "dispatch" / "static"
IMPORT_RE = re.compile(r'^\s*(?:import|export)\s[^;]*?from\s+"\./([\w.]+\.js)"', re.M | re.S)


def _module_graph(entries: list[str]) -> set[str]:
    seen: set[str] = set()
    todo = list(entries)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += IMPORT_RE.findall((STATIC / name).read_text(encoding="utf-8"))
    return seen


async def test_the_console_preloads_exactly_the_modules_it_imports(client: TestClient) -> None:
    """A module the page imports but does not preload is found only when its importer
    has been parsed (a round trip later); a preloaded module it no longer imports is a
    wasted download."""
    resp = await client.get("/")
    html = await resp.text()
    entries = re.findall(r'<script type="module" src="/static/([\w.]+\.js)">', html)
    preloaded = re.findall(r'<link rel="modulepreload" href="/static/([\w.]+\.js)">', html)
    assert entries == ["console.js", "exchange.js"]
    assert len(preloaded) == len(set(preloaded))
    assert set(preloaded) == _module_graph(entries)
