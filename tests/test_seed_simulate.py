"""The demo fleet, the seed command and the traffic simulator, against the real app."""

from __future__ import annotations

import random
import re
import socket
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from dispatch.core.geo import Point
from dispatch.core.jurisdiction import Jurisdiction
from dispatch.demo_data import (
    FLEET,
    KECAMATAN,
    SOUTH_OF_BRANTAS,
)
from dispatch.geodata import locate
from dispatch.seed import seed_fleet
from dispatch.settings import load_settings
from dispatch.simulate import (
    Api,
    CallMix,
    SimulationError,
    SseParser,
    closing_disposition,
    make_call,
    run_simulation,
    wait_until_ready,
)
from dispatch.store import accounts
from dispatch.store.db import create_pool

AppFactory = Callable[..., Awaitable[TestClient[Any, Any]]]  # the start_app fixture (conftest.py)
DOMAIN_ORDER = [
    "Wonodadi", "Udanawu", "Srengat", "Kademangan", "Bakung", "Ponggok", "Sanankulon",
    "Wonotirto", "Nglegok", "Kanigoro", "Garum", "Sutojayan", "Panggungrejo", "Talun",
    "Gandusari", "Binangun", "Wlingi", "Doko", "Kesamben", "Wates", "Selorejo", "Selopuro",
]


@pytest.fixture
async def pool(database_url: str, db: asyncpg.Connection) -> AsyncIterator[asyncpg.Pool]:
    """A pool on the emptied test database (``db`` truncates the tables first)."""
    settings = load_settings(env={})
    p = await create_pool(database_url, settings.db, min_size=1, max_size=2)
    yield p
    await p.close()


# --- demo data --------------------------------------------------------------

def test_kecamatan_follow_kemendagri_order_and_stay_out_of_kota_blitar() -> None:
    assert [k.name for k in KECAMATAN] == DOMAIN_ORDER
    assert [k.code for k in KECAMATAN] == [f"35.05.{n:02d}" for n in range(1, 23)]
    assert {k.name for k in KECAMATAN} >= SOUTH_OF_BRANTAS and len(SOUTH_OF_BRANTAS) == 7
    for k in KECAMATAN:
        assert -8.35 <= k.lat <= -7.95 and 111.95 <= k.lon <= 112.55, k
        # Each centre lies in its own kecamatan on the shipped Kemendagri polygons.
        assert locate(k.lat, k.lon).kecamatan_code == k.code, k


def test_fleet_can_serve_every_run_card() -> None:
    runcards = load_settings(env={}).runcards
    callsigns = [u.callsign for u in FLEET]
    assert len(set(callsigns)) == len(callsigns)
    assert all(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9 ._/-]{0,39}", c) for c in callsigns)
    types = Counter(u.unit_type for u in FLEET)
    assert set(types) == set(runcards.unit_types)  # no category is left without units
    assert all(-8.35 <= u.lat <= -7.95 and 111.95 <= u.lon <= 112.55 for u in FLEET)
    # Every demo unit stands in the regency, none in Kota Blitar or a neighbour.
    outside = [u.callsign for u in FLEET
               if locate(u.lat, u.lon).jurisdiction is not Jurisdiction.REGENCY]
    assert outside == []


# --- seed -------------------------------------------------------------------

async def test_seed_twice_registers_the_fleet_once(pool: asyncpg.Pool, db: asyncpg.Connection,
                                                   start_app: AppFactory) -> None:
    assert await seed_fleet(pool) == len(FLEET)
    assert await seed_fleet(pool) == 0
    client = await start_app()
    roster = await (await client.get("/api/v1/units")).json()
    assert roster["count"] == len(FLEET)
    assert all(u["status"] == "available" and u["location"] for u in roster["items"])
    created = await db.fetchval(
        "SELECT count(*) FROM events WHERE kind = 'unit.created' AND actor = 'seed'")
    assert created == len(FLEET)


# --- simulator pieces -------------------------------------------------------

def test_sse_parser_reads_events_and_skips_pings() -> None:
    parser = SseParser()
    lines = [": ping\r\n", "\r\n", "id: 17-0\r\n", "event: unit.assigned\r\n",
             'data: {"seq": 3,\r\n', 'data: "kind": "unit.assigned"}\r\n', "\r\n"]
    events = [e for e in (parser.feed(line) for line in lines) if e is not None]
    assert len(events) == 1
    assert events[0].kind == "unit.assigned"
    assert events[0].data == '{"seq": 3,\n"kind": "unit.assigned"}'
    assert parser.last_id == "17-0"  # where a reconnect resumes


def test_calls_are_reproducible_and_never_in_kota_blitar() -> None:
    mix = CallMix.from_meta({"categories": {"medis": {}, "kebakaran": {}, "sarang_tawon": {}}})

    def calls(seed: int) -> list[tuple[str, str, int, Point]]:
        rng, previous = random.Random(seed), list[str]()
        out = []
        for _ in range(200):
            c = make_call(rng, mix, previous)
            previous.append(c.caller_phone)
            out.append((c.caller_phone, c.category, c.priority, c.scene))
        return out

    first = calls(112)
    assert first == calls(112)
    assert all(re.fullmatch(r"08[0-9]{10}", phone) for phone, *_ in first)
    assert all(locate(p.lat, p.lon).jurisdiction is Jurisdiction.REGENCY for *_, p in first)
    assert Counter(c for _, c, _, _ in first).most_common(1)[0][0] == "medis"


def test_incident_is_closed_only_when_every_unit_is_done() -> None:
    done: dict[str, Any] = {"ended_at": "t", "on_scene_at": "t", "transporting_at": None}

    def incident(*assignments: dict[str, Any], status: str = "dispatched") -> dict[str, Any]:
        return {"status": status, "assignments": list(assignments)}

    assert closing_disposition(incident()) is None
    assert closing_disposition(incident(done, dict(done, ended_at=None))) is None
    assert closing_disposition(incident(dict(done, on_scene_at=None))) is None  # nobody came
    # The police have cleared an accident, but it still waits for its ambulance.
    assert closing_disposition(incident(done, status="queued")) is None
    assert closing_disposition(incident(done)) == "selesai"
    assert closing_disposition(incident(done, dict(done, transporting_at="t"))) == "dibawa_ke_rs"


async def test_waiting_for_a_service_that_never_comes_fails_clearly() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with aiohttp.ClientSession() as session:
        with pytest.raises(SimulationError, match="not ready after 1 s"):
            await wait_until_ready(Api(session, f"http://127.0.0.1:{port}"), timeout_s=1)


# --- a whole simulated shift ------------------------------------------------

async def test_simulation_closes_every_incident(pool: asyncpg.Pool, db: asyncpg.Connection,
                                                start_app: AppFactory) -> None:
    await seed_fleet(pool)
    client: TestClient[Any, Any] = await start_app()
    _, token, _ = await accounts.create_token(db, "simulator", "admin", 1)
    report = await run_simulation(str(client.make_url("")), calls=4, rate=20.0,
                                  time_scale=1000.0, seed=7, max_duration_s=60, token=token)

    assert (report.calls_placed, report.incidents_created, report.incidents_closed) == (4, 4, 4)
    assert report.errors == 0
    assert report.units_dispatched >= 4 and report.units_cleared == report.units_dispatched
    incidents = await db.fetch("SELECT status, disposition FROM incidents")
    assert len(incidents) == 4
    assert all(r["status"] == "closed" for r in incidents)
    assert {r["disposition"] for r in incidents} <= {"selesai", "dibawa_ke_rs"}
    unserved = await db.fetchval("""
        SELECT count(*) FROM incidents i
        WHERE cardinality(i.required_types) > (SELECT count(*) FROM assignments a
                                               WHERE a.incident_id = i.id
                                                 AND a.on_scene_at IS NOT NULL)""")
    assert unserved == 0  # every unit type the run card asks for reached the scene
    busy = await db.fetchval("SELECT count(*) FROM units WHERE status <> 'available'")
    assert busy == 0
    moved = await db.fetchval("SELECT count(*) FROM events WHERE kind = 'unit.location' "
                              "AND actor = 'simulator'")
    assert moved >= 4  # units reported positions on the way
    stats = await (await client.get("/api/v1/stats/response-times")).json()
    assert stats["intervals"]["total"]["count"] == 4
    # All four intervals are of each incident's first unit on scene: one per incident.
    assert stats["intervals"]["travel"]["count"] == 4
    assert stats["chain"]["count"] == 4
    # Everything the simulator logged is flagged as simulated, so the dashboard says so.
    assert stats["simulated"] == {"incidents": 4, "simulated": 4, "flag": True}
