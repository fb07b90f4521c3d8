"""The supervisor's intervals add up: processing + turnout + travel = total, for the same
unit, on incidents whose every timestamp is known.

The calls are logged and worked through the API; their assignment times are then set
to known instants (as a night's log would hold them), so every figure is known.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from tests.helpers import (
    KANIGORO,
    SRENGAT,
    WLINGI,
    Console,
    bearer,
    create_incident,
    create_unit,
    get_json,
    is_kind,
    post_json,
    set_status,
)

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
SET_TIMES_SQL = """
UPDATE assignments SET dispatched_at = $2, en_route_at = $3, on_scene_at = $4,
       acknowledged_at = NULL, transporting_at = NULL, at_hospital_at = NULL
WHERE id = $1
"""


def at(secs: float) -> datetime:
    return T0 + timedelta(seconds=secs)


async def _work(client: TestClient, console: Console, incident_id: int) -> list[dict[str, Any]]:
    await console.wait_for(is_kind("incident.dispatched", incident_id=incident_id))
    detail = await get_json(client, f"/api/v1/incidents/{incident_id}")
    for a in detail["assignments"]:
        for status in ("en_route", "on_scene", "available"):
            await set_status(client, a["unit_id"], status)
    assignments: list[dict[str, Any]] = detail["assignments"]
    return assignments


async def _call(client: TestClient, *, rang: float, answered: float, category: str,
                where: tuple[float, float]) -> int:
    body = {"caller_phone": "081234500001", "disposition": "emergency",
            "rang_at": at(rang).isoformat(), "answered_at": at(answered).isoformat(),
            "incident": {"category": category, "priority": 1,
                         "location": {"lat": where[0], "lon": where[1]}}}
    call = await post_json(client, "/api/v1/calls", body, 201)
    incident_id: int = call["incident"]["id"]
    return incident_id


async def test_intervals_add_up_for_the_first_unit_on_scene(
        client: TestClient, db: asyncpg.Connection) -> None:
    await create_unit(client, "AMB-1", "ambulance", KANIGORO)
    await create_unit(client, "POL-1", "police", SRENGAT)
    async with Console(client) as console:
        # A crash: the call rang at 0 s, answered at 10 s. The ambulance and the police
        # are dispatched together at 40 s; the police turns out at 70 s and is on scene
        # at 400 s, before the ambulance (700 s): the police is the unit measured.
        crash = await _call(client, rang=0, answered=10, category="kecelakaan_lalu_lintas",
                            where=WLINGI)
        by_type = {a["unit_type"]: a["id"] for a in await _work(client, console, crash)}
        await db.execute(SET_TIMES_SQL, by_type["ambulance"], at(40), at(100), at(700))
        await db.execute(SET_TIMES_SQL, by_type["police"], at(40), at(70), at(400))
        # A medical call answered at 608 s, ambulance dispatched 50 s later, en route
        # 60 s after that, on scene 500 s later.
        medical = await _call(client, rang=600, answered=608, category="medis", where=WLINGI)
        [amb] = await _work(client, console, medical)
        await db.execute(SET_TIMES_SQL, amb["id"], at(658), at(718), at(1218))
        # Logged without telephony times: it starts when the call came in (1000 s).
        plain = await create_incident(client, KANIGORO, category="medis",
                                      call_received_at=at(1000).isoformat())
        [amb] = await _work(client, console, plain["id"])
        await db.execute(SET_TIMES_SQL, amb["id"], at(1020), at(1100), at(1400))
    expected = {  # (call_processing, turnout, travel, total) per incident
        crash: (30, 30, 330, 390), medical: (50, 60, 500, 610), plain["id"]: (20, 80, 300, 400)}
    for p, t, tr, total in expected.values():
        assert p + t + tr == total

    since = quote((T0 - timedelta(minutes=1)).isoformat())
    got = await get_json(client, f"/api/v1/stats/response-times?from={since}")
    intervals = got["intervals"]
    for n, name in enumerate(("call_processing", "turnout", "travel", "total")):
        values = sorted(v[n] for v in expected.values())
        assert intervals[name]["count"] == 3, name
        assert intervals[name]["p50"] == pytest.approx(values[1]), name
        assert intervals[name]["max"] == pytest.approx(values[2]), name
    chain = got["chain"]
    assert chain["count"] == 3
    mean = chain["mean"]
    assert mean["call_processing"] == pytest.approx(100 / 3)
    assert mean["total"] == pytest.approx(1400 / 3)
    assert mean["call_processing"] + mean["turnout"] + mean["travel"] == pytest.approx(
        mean["total"])
    # The API says what each figure means, in Indonesian and English.
    for name in ("call_processing", "turnout", "travel", "total", "sum", "answer"):
        assert got["definitions"][name]["id"] and got["definitions"][name]["en"]
    assert "pertama" in got["definitions"]["total"]["id"]
    assert got["simulated"] == {"incidents": 3, "simulated": 0, "flag": False}

    # The CSV, as Excel with Indonesian settings opens it: `;`, decimal comma, UTF-8 BOM,
    # labels, WIB wall-clock times; read here with Python's csv module.
    resp = await client.get(f"/api/v1/reports/incidents.csv?from={since}&sep=;&tz=WIB")
    assert resp.status == 200 and resp.charset == "utf-8"
    raw = await resp.read()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    by_id = {int(r["No. kejadian"]): r for r in rows}
    assert set(by_id) == set(expected)
    wib = ZoneInfo("Asia/Jakarta")

    def wall(secs: float) -> str:
        return at(secs).astimezone(wib).strftime("%Y-%m-%d %H:%M:%S")

    row = by_id[crash]
    assert row["Panggilan masuk (WIB)"] == wall(0)
    assert row["Panggilan diangkat (WIB)"] == wall(10)
    assert row["Unit itu diberangkatkan (WIB)"] == wall(40)
    assert row["Unit itu tiba (WIB)"] == wall(400)
    assert (row["Kategori"], row["Unit pertama tiba"], row["Status"]) == (
        "Kecelakaan lalu lintas", "Polisi", "Ditangani")
    assert row["Jumlah unit"] == "2" and row["Data simulasi"] == "Tidak"
    assert row["Lintang"] == "-8,079"  # a decimal comma, as Indonesian Excel reads numbers
    assert by_id[plain["id"]]["Panggilan diangkat (WIB)"] == ""  # no answer time recorded
    for incident_id, figures in expected.items():
        r = by_id[incident_id]
        got_figures = [float(r[c].replace(",", ".")) for c in (
            "Proses panggilan (detik)", "Persiapan berangkat (detik)", "Perjalanan (detik)",
            "Total (detik)")]
        assert got_figures == list(figures)
    # In English and UTC on request.
    resp = await client.get(f"/api/v1/reports/incidents.csv?from={since}&lang=en&tz=UTC")
    [header, *_] = list(csv.reader(io.StringIO((await resp.text()).removeprefix("\ufeff"))))
    assert header[:3] == ["Incident no.", "Call received (UTC)", "Call answered (UTC)"]
    for bad in ("sep=|", "tz=CET", "lang=fr"):
        resp = await client.get(f"/api/v1/reports/incidents.csv?{bad}")
        assert resp.status == 422, bad
        assert (await resp.json())["error"]["code"] == "validation_failed", bad

    # The grouped report measures the same unit: by unit type, the crash is the police's.
    grouped = await get_json(client, f"/api/v1/reports/response-times?group=unit_type"
                                     f"&from={since}")
    groups = {g["key"]: g["intervals"] for g in grouped["groups"]}
    assert groups["police"]["total"]["count"] == 1
    assert groups["police"]["total"]["p50"] == pytest.approx(390)
    assert groups["ambulance"]["total"]["count"] == 2


async def test_simulated_traffic_is_flagged_in_the_figures(
        client: TestClient, db: asyncpg.Connection) -> None:
    """What the simulator logs (an API token saying so) is counted as simulated."""
    await create_incident(client, WLINGI)
    resp = await client.post("/api/v1/incidents", headers={"X-Siap112-Simulated": "1"},
                             json={"caller_phone": "081234567890", "category": "medis",
                                   "priority": 2, "location": {"lat": WLINGI[0],
                                                               "lon": WLINGI[1]}})
    assert resp.status == 201, await resp.text()
    got = await get_json(client, "/api/v1/stats/response-times")
    assert got["simulated"] == {"incidents": 2, "simulated": 1, "flag": True}
    assert await db.fetchval("SELECT count(*) FROM incidents WHERE simulated") == 1


async def test_the_daily_report_page_checks_its_query(
        client: TestClient, db: asyncpg.Connection) -> None:
    resp = await client.get("/reports/daily")  # today, WIB
    assert resp.status == 200 and resp.content_type == "text/html"
    page = await resp.text()
    assert "Laporan harian Siap112" in page and 'data-figure="incidents-total">0<' in page
    english = await (await client.get("/reports/daily?date=2026-01-05&lang=en")).text()
    assert "Monday, 5 January 2026 (WIB)" in english
    for query, field in (("date=2026-13-01", "date"), ("date=1999-12-31", "date"),
                         ("date=yesterday", "date"), ("lang=fr", "lang"), ("x=1", "x")):
        resp = await client.get(f"/reports/daily?{query}")
        assert resp.status == 422, query
        body = await resp.json()
        fields = [f["field"] for f in body["error"].get("fields", [])] + [
            body["error"].get("field")]
        assert field in fields, (query, body)
    call_taker = await bearer(db, role="call_taker", name="night-taker")
    assert (await client.get("/reports/daily", headers=call_taker)).status == 403
