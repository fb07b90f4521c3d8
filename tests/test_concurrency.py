"""Two dispatcher processes, 50 simultaneous incidents, 10 units: never a double assignment."""

from __future__ import annotations

import asyncio
import random
import sys
from collections.abc import AsyncIterator, Callable

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from dispatch.core.jurisdiction import Jurisdiction
from dispatch.geodata import locate
from dispatch.settings import Settings
from tests.conftest import AppFactory
from tests.helpers import Console, create_incident, create_unit, set_status, start_dispatcher

INCIDENTS = 50
UNITS = 10


@pytest.fixture
async def two_dispatchers(make_settings: Callable[..., Settings]
                          ) -> AsyncIterator[list[asyncio.subprocess.Process]]:
    settings = make_settings()
    procs = [await start_dispatcher(settings) for _ in range(2)]
    yield procs
    for proc in procs:
        proc.terminate()
    for proc in procs:
        await proc.wait()


async def _respond(client: TestClient, unit_id: int) -> None:
    for status in ("en_route", "on_scene", "available"):
        await set_status(client, unit_id, status)


def _scene(rng: random.Random) -> tuple[float, float]:
    """A random point the regency serves (Kota Blitar's and neighbours' are handed over)."""
    while True:
        lat, lon = rng.uniform(-8.3, -8.0), rng.uniform(112.0, 112.5)
        if locate(lat, lon).jurisdiction is Jurisdiction.REGENCY:
            return lat, lon


async def test_fifty_incidents_ten_units_two_dispatchers(
        start_app: AppFactory, two_dispatchers: list[asyncio.subprocess.Process],
        db: asyncpg.Connection) -> None:
    client = await start_app(dispatch={"run_in_web": False})
    rng = random.Random(50)
    for n in range(UNITS):
        await create_unit(client, f"AMB-{n:02d}", "ambulance",
                          (rng.uniform(-8.3, -8.0), rng.uniform(112.0, 112.5)))
    async with Console(client) as console:
        created = await asyncio.gather(*(
            create_incident(client, _scene(rng), priority=rng.randint(1, 3))
            for _ in range(INCIDENTS)))
        assert len({i["id"] for i in created}) == INCIDENTS
        responders: set[asyncio.Task[None]] = set()
        served = 0
        while served < INCIDENTS:
            [event] = (await console.wait_for(lambda e: e.event == "unit.assigned",
                                              count=served + 1, timeout=30))[served:]
            served += 1
            task = asyncio.create_task(_respond(client, event.data["unit_id"]))
            responders.add(task)
        await asyncio.gather(*responders)

    # Every incident was served exactly once, by exactly one unit.
    per_incident = await db.fetch("SELECT incident_id, count(*) AS n FROM assignments "
                                  "GROUP BY incident_id")
    assert len(per_incident) == INCIDENTS
    assert {r["n"] for r in per_incident} == {1}
    # No unit was ever on two incidents at once, over the whole history.
    overlaps = await db.fetchval("""
        SELECT count(*) FROM assignments a JOIN assignments b
          ON a.unit_id = b.unit_id AND a.id < b.id
         AND tstzrange(a.dispatched_at, coalesce(a.ended_at, 'infinity'))
          && tstzrange(b.dispatched_at, coalesce(b.ended_at, 'infinity'))""")
    assert overlaps == 0
    assert await db.fetchval("SELECT count(*) FROM units WHERE status <> 'available'") == 0
    assert await db.fetchval("SELECT count(*) FROM incidents WHERE status <> 'dispatched'") == 0
    by_process = await db.fetch("SELECT assigned_by, count(*) FROM assignments "
                                "GROUP BY assigned_by")
    sys.stderr.write(f"\nassignments by dispatcher process: {dict(map(tuple, by_process))}\n")
