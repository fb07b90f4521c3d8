"""Fault scenarios a–f: nothing accepted is ever lost, no unit is ever sent twice.

Each test starts its own service processes against the session's private
PostgreSQL and Valkey, drives a bounded steady load through the HTTP API,
injects one fault, lets everything settle, and prints one line of counts.
"""

from __future__ import annotations

import asyncio
import random
import signal
from typing import Any

import aiohttp
import asyncpg
import pytest

from tests.faults.conftest import Cluster
from tests.faults.harness import (
    LAT,
    LON,
    Counts,
    Load,
    ResilientConsole,
    log_counts,
    poll_db,
    tally,
)

pytestmark = pytest.mark.faults


async def _units(cluster: Cluster, ambulances: int, police: int, prefix: str = "U") -> None:
    rng = random.Random(7)
    async with aiohttp.ClientSession(headers=cluster.headers) as session:
        for n, unit_type in enumerate(["ambulance"] * ambulances + ["police"] * police):
            body = {"callsign": f"{prefix}-{n:03d}", "unit_type": unit_type, "agency": "Uji",
                    "location": {"lat": rng.uniform(*LAT), "lon": rng.uniform(*LON)}}
            async with session.post(cluster.urls[0] + "/api/v1/units", json=body) as resp:
                assert resp.status == 201, await resp.text()


async def _settle(cluster: Cluster, db: asyncpg.Connection, load: Load,
                  consoles: list[ResilientConsole]) -> Counts:
    """Let retries land, units clear and consoles catch up; then count."""
    await load.finish()
    await load.drain_units(cluster.db_url)
    newest = await db.fetchval("SELECT max(id) FROM events")
    for console in consoles:
        await console.wait_for_seq(newest, timeout=60)
    return await tally(db, load.stats, consoles)


def _assert_sound(counts: Counts, load: Load) -> None:
    assert counts.lost == 0, counts
    assert counts.double_assignments == 0, counts
    assert counts.stored == counts.accepted == len(load.stats.accepted)
    assert counts.dispatched == counts.accepted, counts
    assert not load.stats.bad, load.stats.bad[:5]


async def _with_load(cluster: Cluster, reports: int, rate: float) -> tuple[Load, Any]:
    load = Load(cluster.urls, rate=rate, headers=cluster.headers)
    return load, asyncio.create_task(load.run(reports))


async def test_a_redis_killed_for_10_s(cluster: Cluster, fault_db: asyncpg.Connection) -> None:
    await cluster.start(webs=2, dispatchers=2)
    await _units(cluster, 12, 6)
    valkey = cluster.servers.valkey
    async with ResilientConsole(cluster.urls[:1], cluster.db_url, cluster.headers) as c0, \
            ResilientConsole(cluster.urls[1:], cluster.db_url, cluster.headers) as c1:
        load, running = await _with_load(cluster, reports=45, rate=3)
        await c0.wait_for_received(10, timeout=30)  # the load is flowing to consoles
        valkey.kill()
        # The scenario itself: Redis stays down for 10 s while the load goes on.
        await asyncio.sleep(10)
        valkey.start()
        await running
        counts = await _settle(cluster, fault_db, load, [c0, c1])
    log_counts("a redis killed 10 s", counts)
    _assert_sound(counts, load)
    assert set(load.stats.answers) == {201}  # intake never noticed Redis was away


async def test_b_redis_restarted_empty(cluster: Cluster, fault_db: asyncpg.Connection) -> None:
    await cluster.start(webs=2, dispatchers=1)
    await _units(cluster, 12, 6)
    valkey = cluster.servers.valkey
    async with ResilientConsole(cluster.urls, cluster.db_url, cluster.headers) as live:
        load, running = await _with_load(cluster, reports=40, rate=3)
        await live.wait_for_received(10, timeout=30)
        # A console that went away here holds an id the new stream will not have.
        away_id = live.last_id
        valkey.kill()
        valkey.wipe()
        valkey.start()  # back at once, and empty
        await running
        async with ResilientConsole(cluster.urls[1:], cluster.db_url,
                                    cluster.headers) as returning:
            counts = await _settle(cluster, fault_db, load, [live])
        assert returning.resyncs == 0  # a fresh console starts from now, no resync
        late = ResilientConsole(cluster.urls[:1], cluster.db_url, cluster.headers)
        late.last_id = away_id
        async with late:
            before = await fault_db.fetchval("SELECT max(id) FROM events")
            await _units(cluster, 1, 0, prefix="LATE")  # one more change after the console is back
            await late.wait_for_seq(before + 1, timeout=30)
    log_counts("b redis restarted empty", counts)
    _assert_sound(counts, load)
    assert late.resyncs == 1 and late.received == [before + 1]  # fresh board, then live
    assert live.resyncs >= 1  # the live console was told its stream was cut


async def test_c_postgresql_restarted(cluster: Cluster) -> None:
    await cluster.start(webs=2, dispatchers=2)
    await _units(cluster, 12, 6)
    pg = cluster.servers.pg
    pids = [p.proc.pid for p in cluster.all()]
    async with ResilientConsole(cluster.urls, cluster.db_url, cluster.headers) as console:
        load, running = await _with_load(cluster, reports=50, rate=3)
        await console.wait_for_received(10, timeout=30)
        await pg.stop()
        probe = await _probe_during_outage(cluster)
        # The scenario itself: PostgreSQL stays down for 6 s while the load goes on.
        await asyncio.sleep(6)
        await pg.start()
        await running
        db = await asyncpg.connect(cluster.db_url)
        try:
            counts = await _settle(cluster, db, load, [console])
        finally:
            await db.close()
    log_counts("c postgresql restarted", counts)
    _assert_sound(counts, load)
    assert probe["error"]["code"] == "service_unavailable"
    assert "database" in probe["error"]["message"]
    assert counts.unavailable_503 > 0  # the outage was felt, and answered, not hung
    assert [p.proc.pid for p in cluster.all()] == pids
    assert all(p.proc.returncode is None for p in cluster.all())  # no restart needed


async def _probe_during_outage(cluster: Cluster) -> dict[str, Any]:
    """One report while PostgreSQL is down: a clear 503 within the client's bound."""
    timeout = aiohttp.ClientTimeout(total=15)  # a hang fails the test
    auth = cluster.headers
    async with aiohttp.ClientSession(timeout=timeout, headers=auth) as session, session.post(
            cluster.urls[0] + "/api/v1/incidents",
            json={"caller_phone": "081200000000", "category": "medis", "priority": 1,
                  "location": {"lat": -8.1, "lon": 112.2}}) as resp:
        assert resp.status == 503, await resp.text()
        assert resp.headers["Retry-After"]
        body: dict[str, Any] = await resp.json()
        return body


async def test_d_dispatcher_killed_mid_work(cluster: Cluster,
                                            fault_db: asyncpg.Connection) -> None:
    await cluster.start(webs=2, dispatchers=2)
    await _units(cluster, 10, 5)
    async with ResilientConsole(cluster.urls, cluster.db_url, cluster.headers) as console:
        load, running = await _with_load(cluster, reports=50, rate=4)
        victim = cluster.dispatchers[0]
        actor = f"dispatcher:%:{victim.proc.pid}"
        # Kill it once it has served something, while the load still arrives.
        await poll_db(fault_db, "SELECT count(*) FROM assignments WHERE assigned_by LIKE $1",
                      actor)
        victim.signal(signal.SIGKILL)
        assert await victim.proc.wait() == -signal.SIGKILL
        await running
        counts = await _settle(cluster, fault_db, load, [console])
    log_counts("d dispatcher SIGKILL", counts)
    _assert_sound(counts, load)
    survivor = f"dispatcher:%:{cluster.dispatchers[1].proc.pid}"
    assert await fault_db.fetchval(
        "SELECT count(*) FROM assignments WHERE assigned_by LIKE $1", survivor) > 0


async def test_e_web_instance_killed_under_load(cluster: Cluster,
                                                fault_db: asyncpg.Connection) -> None:
    await cluster.start(webs=2, dispatchers=1)
    await _units(cluster, 12, 6)
    async with ResilientConsole(list(reversed(cluster.urls)), cluster.db_url,
                                cluster.headers) as console:
        load, running = await _with_load(cluster, reports=50, rate=4)
        await console.wait_for_received(20, timeout=30)
        victim = cluster.webs[1]
        victim.signal(signal.SIGKILL)
        assert await victim.proc.wait() == -signal.SIGKILL
        load.urls.remove(cluster.urls[1])  # the load balancer takes it out
        await running
        counts = await _settle(cluster, fault_db, load, [console])
    log_counts("e web SIGKILL", counts)
    _assert_sound(counts, load)
    assert console.reconnects >= 1  # it moved to the surviving instance and resumed


async def test_f_two_dispatchers_race_200_incidents_20_units(
        cluster: Cluster, fault_db: asyncpg.Connection) -> None:
    await cluster.start(webs=2, dispatchers=2)
    await _units(cluster, 20, 0)
    load = Load(cluster.urls, rate=1000, headers=cluster.headers)
    async with ResilientConsole(cluster.urls, cluster.db_url, cluster.headers) as console:
        for _ in range(10):  # 200 incidents in bursts of 20 simultaneous reports
            load._pending.extend((f"f-{n}-{random.random()}", _medical(load))
                                 for n in range(20))
            await load.finish()
        counts = await _settle(cluster, fault_db, load, [console])
    log_counts("f two dispatchers race", counts)
    _assert_sound(counts, load)
    assert counts.accepted == 200
    by_process = await fault_db.fetchval(
        "SELECT count(DISTINCT assigned_by) FROM assignments")
    assert by_process == 2  # both raced for the same queue


def _medical(load: Load) -> dict[str, Any]:
    return dict(load._report(), category="medis")
