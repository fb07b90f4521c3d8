"""Unit positions: a track of every fix, the unit at its newest, and consoles told at most
every few seconds per unit, always ending on the newest position."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient

from tests.conftest import AppFactory
from tests.helpers import KANIGORO, Console, create_unit, get_json, run_purge

WINDOW_S = 1.0


async def _fix(client: TestClient, unit_id: int, lat: float, lon: float,
               at: datetime | None = None, expect: int = 200, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"lat": lat, "lon": lon, **extra}
    if at is not None:
        body["at"] = at.isoformat()
    resp = await client.put(f"/api/v1/units/{unit_id}/location", json=body)
    payload: dict[str, Any] = await resp.json()
    assert resp.status == expect, payload
    return payload


async def test_a_burst_of_fixes_reaches_consoles_coalesced_and_ending_on_the_newest(
        start_app: AppFactory, db: asyncpg.Connection) -> None:
    client = await start_app(units={"position_event_s": WINDOW_S})
    unit = await create_unit(client, "AMB-TRACK", "ambulance", None)
    audit_before = await db.fetchval("SELECT coalesce(max(id), 0) FROM audit_log")
    start = datetime.now(UTC) - timedelta(seconds=30)
    path = [(KANIGORO[0] + n * 0.001, KANIGORO[1] + n * 0.001) for n in range(1, 21)]
    async with Console(client) as console:
        for n, (lat, lon) in enumerate(path):
            moved = await _fix(client, unit["id"], lat, lon, start + timedelta(seconds=n),
                               accuracy_m=8.5, source="gps")
            assert moved["moved"] and moved["location"] == {"lat": lat, "lon": lon}
        last = path[-1]
        [final] = await console.wait_for(lambda e: e.event == "unit.location"
                                         and e.data["data"]["lat"] == last[0])
    assert final.data["data"]["lon"] == last[1] and final.data["data"]["accuracy_m"] == 8.5
    sent = [e for e in console.events if e.event == "unit.location"]
    assert 1 <= len(sent) < len(path) / 2  # coalesced, not one per fix
    # On the board at most once per window per unit, by the database's clock.
    times = [r["occurred_at"] for r in await db.fetch(
        "SELECT occurred_at FROM events WHERE kind = 'unit.location' AND unit_id = $1 "
        "ORDER BY id", unit["id"])]
    assert len(times) == len(sent)
    assert all(b - a >= timedelta(seconds=WINDOW_S) for a, b in zip(times, times[1:],
                                                                     strict=False))
    # Every fix is in the track; none wrote an audit row.
    track = await db.fetch("SELECT lat, lon, accuracy_m, source, reported_by FROM "
                           "unit_positions WHERE unit_id = $1 ORDER BY at", unit["id"])
    assert [(r["lat"], r["lon"]) for r in track] == path
    assert {(r["accuracy_m"], r["source"], r["reported_by"]) for r in track} == {
        (8.5, "gps", "operator")}
    assert await db.fetchval("SELECT count(*) FROM audit_log WHERE id > $1 "
                             "AND subject_type = 'units'", audit_before) == 0


async def test_a_late_fix_is_kept_in_the_track_but_does_not_move_the_unit(
        client: TestClient, db: asyncpg.Connection) -> None:
    unit = await create_unit(client, "AMB-LATE", "ambulance", None)
    now = datetime.now(UTC)
    await _fix(client, unit["id"], -8.10, 112.20, now - timedelta(seconds=10))
    late = await _fix(client, unit["id"], -8.30, 112.40, now - timedelta(seconds=60))
    assert late["moved"] is False
    assert late["location"] == {"lat": -8.10, "lon": 112.20}
    shown = await get_json(client, f"/api/v1/units/{unit['id']}")
    assert shown["location"] == {"lat": -8.10, "lon": 112.20}
    assert datetime.fromisoformat(shown["position_at"]) == now - timedelta(seconds=10)
    track = await db.fetch("SELECT lat FROM unit_positions WHERE unit_id = $1 ORDER BY at",
                           unit["id"])
    assert [r["lat"] for r in track] == [-8.30, -8.10]


async def test_a_fix_stamped_in_the_future_is_refused(client: TestClient,
                                                      db: asyncpg.Connection) -> None:
    unit = await create_unit(client, "AMB-CLOCK", "ambulance", KANIGORO)
    now = datetime.now(UTC)
    refused = await _fix(client, unit["id"], -8.2, 112.3, now + timedelta(seconds=120),
                         expect=422)
    assert refused["error"]["field"] == "at"
    assert await db.fetchval("SELECT count(*) FROM unit_positions") == 0
    shown = await get_json(client, f"/api/v1/units/{unit['id']}")
    assert shown["location"] == {"lat": KANIGORO[0], "lon": KANIGORO[1]}
    # A phone a little ahead of the server is within the allowed skew.
    assert (await _fix(client, unit["id"], -8.2, 112.3, now + timedelta(seconds=20)))["moved"]
    bad = await _fix(client, unit["id"], -8.2, 112.3, source="telepathy", expect=422)
    assert "source" in str(bad["error"])


async def test_purge_deletes_positions_past_their_retention(
        client: TestClient, db: asyncpg.Connection, database_url: str) -> None:
    unit = await create_unit(client, "AMB-OLDPOS", "ambulance", KANIGORO)
    now = datetime.now(UTC)
    for n in range(3):
        await _fix(client, unit["id"], -8.2 + n / 100, 112.3, now - timedelta(seconds=30 - n))
    await db.execute("UPDATE unit_positions SET received_at = received_at - interval '40 days' "
                     "WHERE lat < -8.19")
    await db.execute("INSERT INTO events (kind, unit_id, actor, occurred_at, published_at) "
                     "VALUES ('unit.location', $1, 'old', now() - interval '40 days', now())",
                     unit["id"])
    out = await run_purge(database_url, days=None)
    assert "unit_positions=1" in out and "unit_location_events=1" in out
    assert [r["lat"] for r in await db.fetch("SELECT lat FROM unit_positions ORDER BY at")] == [
        -8.19, -8.18]
    assert await db.fetchval("SELECT count(*) FROM events WHERE actor = 'old'") == 0
