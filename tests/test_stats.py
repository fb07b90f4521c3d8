"""Response-time statistics equal what the stored timeline says, computed independently."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from dispatch.core.runcards import INTERVALS
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
    set_status,
)

# How long ago each call rang: call processing straddles the 60 s target.
RANG_AGO_S = [12, 25, 40, 58, 75, 110, 150, 240]


async def _work_incidents(client: TestClient) -> None:
    units = [await create_unit(client, f"AMB-{n}", "ambulance", pos)
             for n, pos in enumerate((KANIGORO, WLINGI, SRENGAT))]
    police = await create_unit(client, "POL-1", "police", KANIGORO)
    async with Console(client) as console:
        for n, ago in enumerate(RANG_AGO_S):
            rang = datetime.now(UTC) - timedelta(seconds=ago)
            category = "kecelakaan_lalu_lintas" if n % 4 == 0 else "medis"
            incident = await create_incident(client, WLINGI, category=category,
                                              call_received_at=rang.isoformat())
            await console.wait_for(is_kind("incident.dispatched", incident_id=incident["id"]))
            detail = await get_json(client, f"/api/v1/incidents/{incident['id']}")
            for a in detail["assignments"]:
                steps = ["en_route", "on_scene", "available"] if n % 3 else \
                    ["acknowledged", "en_route", "on_scene", "transporting", "at_hospital",
                     "available"]
                for status in steps:
                    await set_status(client, a["unit_id"], status)
        # One incident never reaches the scene: it counts for call processing only.
        last = await create_incident(client, KANIGORO, category="medis")
        await console.wait_for(is_kind("incident.dispatched", incident_id=last["id"]))
    assert units and police


def _expected(rows: list[asyncpg.Record], column: str) -> dict[str, float]:
    values = [r[column] for r in rows if r[column] is not None]
    return {"count": len(values), "p50": percentile_linear(values, 0.5),
            "p90": percentile_linear(values, 0.9), "p95": percentile_linear(values, 0.95),
            "max": max(values), "mean": sum(values) / len(values)}


async def _independent(db: asyncpg.Connection, category: str | None) -> dict[str, dict]:
    """The intervals straight from the stored timestamps, computed in Python: all four
    on the incident's first unit on scene (tests/helpers.first_arrival_intervals)."""
    incidents = await db.fetch("SELECT id, category, received_at FROM incidents")
    assignments = await db.fetch("SELECT * FROM assignments")
    per_incident = []
    for inc in incidents:
        if category and inc["category"] != category:
            continue
        mine = [a for a in assignments if a["incident_id"] == inc["id"]]
        _, secs = first_arrival_intervals(inc["received_at"], mine)
        per_incident.append({i: secs.get(i) for i in INTERVALS})
    return {i: _expected(per_incident, i) for i in INTERVALS}


@pytest.mark.parametrize("category", [None, "medis"])
async def test_percentiles_match_the_stored_timeline(client: TestClient, db: asyncpg.Connection,
                                                     category: str | None) -> None:
    await _work_incidents(client)
    since = quote((datetime.now(UTC) - timedelta(hours=1)).isoformat())
    query = f"/api/v1/stats/response-times?from={since}"
    if category:
        query += f"&category={category}"
    got = (await get_json(client, query))["intervals"]
    expected = await _independent(db, category)
    for interval, want in expected.items():
        for key, value in want.items():
            assert got[interval][key] == pytest.approx(value, abs=1e-3), (interval, key)


async def test_share_within_target_uses_each_categorys_target(client: TestClient,
                                                              db: asyncpg.Connection) -> None:
    await _work_incidents(client)
    got = (await get_json(client, "/api/v1/stats/response-times"))["intervals"]
    rows = await db.fetch("""
        SELECT extract(epoch FROM min(a.dispatched_at) - i.received_at)::float8 AS secs
        FROM incidents i JOIN assignments a ON a.incident_id = i.id GROUP BY i.id""")
    within = sum(1 for r in rows if r["secs"] <= 60) / len(rows)
    assert got["call_processing"]["within_target"] == pytest.approx(within)
    assert 0 < within < 1  # the data straddles the 60 s target
    assert got["call_processing"]["target_s"] == 60
    assert got["turnout"]["target_s"] == {"min": 60, "max": 80}  # medical 60 s, others 80 s


async def test_stats_refuse_bad_periods_and_categories(client: TestClient) -> None:
    resp = await client.get("/api/v1/stats/response-times?from=2026-02-01T00:00:00Z"
                            "&to=2026-01-01T00:00:00Z")
    assert resp.status == 422
    resp = await client.get("/api/v1/stats/response-times?category=unicorn")
    assert resp.status == 422
    assert (await resp.json())["error"]["field"] == "category"
    resp = await client.get("/api/v1/stats/response-times?from=last-tuesday")
    assert resp.status == 422
    empty = await get_json(client, "/api/v1/stats/response-times?category=kebakaran")
    assert empty["intervals"]["total"]["count"] == 0
    assert empty["intervals"]["total"]["target_s"] == 1200
