"""Graceful shutdown: on SIGTERM each process ends its work and exits within its budget."""

from __future__ import annotations

import asyncio
import signal

import aiohttp
import asyncpg
import pytest

from tests.faults.conftest import Cluster
from tests.faults.harness import WAITING_ON_LOCK_SQL, poll_db

pytestmark = pytest.mark.faults
BUDGET_S = 5.0   # SIAP112_HTTP_SHUTDOWN_TIMEOUT_S / SIAP112_DISPATCH_SHUTDOWN_TIMEOUT_S
MARGIN_S = 10.0  # process start-up of the interpreter's exit path, generously


async def test_web_finishes_in_flight_requests_and_closes_streams(
        cluster: Cluster, fault_db: asyncpg.Connection) -> None:
    await cluster.start(webs=1, dispatchers=0)
    web, url = cluster.webs[0], cluster.urls[0]
    async with aiohttp.ClientSession(headers=cluster.headers) as session:
        async with session.post(url + "/api/v1/units", json={
                "callsign": "AMB-1", "unit_type": "ambulance", "agency": "PSC 119",
                "location": {"lat": -8.13, "lon": 112.25}}) as resp:
            unit = await resp.json()
        stream = await session.get(url + "/api/v1/events")
        assert stream.status == 200
        # Hold the unit's row so a status change is still in flight at SIGTERM.
        tx = fault_db.transaction()
        await tx.start()
        await fault_db.execute("SELECT 1 FROM units WHERE id = $1 FOR UPDATE", unit["id"])
        in_flight = asyncio.create_task(session.post(
            url + f"/api/v1/units/{unit['id']}/status", json={"status": "out_of_service"}))
        await poll_db(fault_db, WAITING_ON_LOCK_SQL)  # the request is waiting on the lock
        web.signal(signal.SIGTERM)
        # The console's stream ends (it will reconnect elsewhere) ...
        async with asyncio.timeout(BUDGET_S):
            async for _ in stream.content:
                pass
        # ... no new connection is accepted ...
        with pytest.raises(aiohttp.ClientConnectionError):
            await session.get(url + "/healthz")
        # ... and the request in flight still completes once its lock is free.
        await tx.rollback()
        answer = await in_flight
        assert answer.status == 200, await answer.text()
    async with asyncio.timeout(BUDGET_S + MARGIN_S):
        assert await web.proc.wait() == 0
    assert await fault_db.fetchval("SELECT status FROM units WHERE id = $1",
                                   unit["id"]) == "out_of_service"


async def test_dispatcher_rolls_back_its_work_and_exits(
        cluster: Cluster, fault_db: asyncpg.Connection) -> None:
    await cluster.start(webs=1, dispatchers=0)
    url = cluster.urls[0]
    async with aiohttp.ClientSession(headers=cluster.headers) as session:
        async with session.post(url + "/api/v1/units", json={
                "callsign": "AMB-1", "unit_type": "ambulance", "agency": "PSC 119",
                "location": {"lat": -8.13, "lon": 112.25}}) as resp:
            unit = await resp.json()
        # Hold the unit so the dispatcher is stuck inside its transaction at SIGTERM.
        tx = fault_db.transaction()
        await tx.start()
        await fault_db.execute("SELECT 1 FROM units WHERE id = $1 FOR UPDATE", unit["id"])
        dispatcher = await cluster.add_dispatcher()
        async with session.post(url + "/api/v1/incidents", json={
                "caller_phone": "081234567890", "category": "medis", "priority": 1,
                "location": {"lat": -8.10, "lon": 112.30}}) as resp:
            incident = await resp.json()
        await poll_db(fault_db, WAITING_ON_LOCK_SQL)  # no event tells us it reached the lock
        dispatcher.signal(signal.SIGTERM)
        async with asyncio.timeout(BUDGET_S + MARGIN_S):
            assert await dispatcher.proc.wait() == 0
        await tx.rollback()
    assert dispatcher.events("dispatcher.stopped")
    # Its half-done work was rolled back: nothing assigned, the incident free for others.
    assert await fault_db.fetchval("SELECT count(*) FROM assignments") == 0
    assert await fault_db.fetchval("SELECT status FROM incidents WHERE id = $1 "
                                   "FOR UPDATE NOWAIT", incident["id"]) in {"pending", "queued"}
