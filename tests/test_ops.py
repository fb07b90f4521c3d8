"""Operations: migrations, configuration, health, the CLI, and the rules the database keeps."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from dispatch.settings import SettingsError, load_settings
from dispatch.store.migrate import discover, migrate
from tests.conftest import _with_database
from tests.helpers import KANIGORO, create_unit, get_json


@pytest.fixture
async def empty_database(services: tuple[str, str]) -> AsyncIterator[str]:
    admin_url = services[0]
    name = f"siap112_empty_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(admin_url)
    await conn.execute(f'CREATE DATABASE "{name}"')
    yield _with_database(admin_url, name)
    await conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    await conn.close()


async def test_migrations_apply_once_when_processes_start_together(empty_database: str) -> None:
    conns = [await asyncpg.connect(empty_database) for _ in range(3)]
    try:
        results = await asyncio.gather(*(migrate(c) for c in conns))
        applied = [name for names in results for name in names]
        assert sorted(applied) == [m.name for m in discover()]  # each exactly once
        rows = await conns[0].fetch("SELECT version, name FROM schema_migrations ORDER BY 1")
        assert [(r["version"], r["name"]) for r in rows] == \
            [(m.version, m.name) for m in discover()]
        assert await migrate(conns[0]) == []
    finally:
        for c in conns:
            await c.close()


async def test_cli_migrate_and_seed(empty_database: str) -> None:
    env = {**os.environ, "SIAP112_DATABASE_URL": empty_database,
           "SIAP112_REDIS_URL": "redis://127.0.0.1:1/0"}
    for command in ("migrate", "seed", "seed"):
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "dispatch", command, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await proc.communicate()
        assert proc.returncode == 0, err.decode()
    assert b'"units_created": 0' in err  # the second seed found the fleet in place
    conn = await asyncpg.connect(empty_database)
    try:
        from dispatch.demo_data import DEMO_PLACES, FLEET

        assert await conn.fetchval("SELECT count(*) FROM units") == len(FLEET)
        # The demo landmarks, once, each marked as an estimate and placed in its desa.
        rows = await conn.fetch("SELECT estimate, desa FROM places")
        assert len(rows) == len(DEMO_PLACES) >= 24
        assert all(r["estimate"] for r in rows)
        assert sum(r["desa"] is not None for r in rows) >= 0.9 * len(rows)
    finally:
        await conn.close()


async def test_cli_without_services_says_what_to_set() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIAP112_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "dispatch", "serve", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err = await proc.communicate()
    assert proc.returncode == 2
    assert b"SIAP112_DATABASE_URL" in err and b"siap112 demo" in err


def test_environment_overrides_config() -> None:
    s = load_settings(env={"SIAP112_HTTP_PORT": "9000", "SIAP112_DISPATCH_STALE_POSITION_S": "30",
                           "SIAP112_DATABASE_URL": "postgresql://x@db/siap112",
                           "SIAP112_RELAY_RUN_IN_WEB": "false"})
    assert (s.http.port, s.dispatch.stale_position_s) == (9000, 30.0)
    assert s.database_url == "postgresql://x@db/siap112"
    assert s.relay.run_in_web is False
    assert load_settings(env={}).database_url == ""  # no secret has a default
    with pytest.raises(SettingsError, match="SIAP112_HTTP_PORT"):
        load_settings(env={"SIAP112_HTTP_PORT": "eighty"})


async def test_health_ready_and_request_ids(client: TestClient) -> None:
    assert (await get_json(client, "/healthz"))["status"] == "alive"
    ready = await get_json(client, "/readyz")
    assert (ready["status"], ready["checks"]) == (
        "ready", {"postgresql": "ok", "migrations": "ok", "redis": "ok", "loops": "ok"})
    assert set(ready["loops"]) == {"hub", "access", "relay", "dispatcher", "alerts"}
    assert {loop["state"] for loop in ready["loops"].values()} == {"ok"}
    resp = await client.get("/healthz", headers={"X-Request-ID": "call-112-abc"})
    assert resp.headers["X-Request-ID"] == "call-112-abc"
    resp = await client.get("/healthz")
    assert len(resp.headers["X-Request-ID"]) == 32


async def test_the_database_refuses_a_second_open_assignment(client: TestClient,
                                                             db: asyncpg.Connection) -> None:
    unit = await create_unit(client, "AMB-1", "ambulance", KANIGORO)
    ids = [await db.fetchval(
        "INSERT INTO incidents (caller_phone, category, priority, lat, lon, required_types, "
        "received_at, logged_by, status) VALUES ('0812345', 'medis', 1, -8.1, 112.2, "
        "'{ambulance}', now(), 'test', 'dispatched') RETURNING id") for _ in range(2)]
    insert = ("INSERT INTO assignments (incident_id, unit_id, unit_type, method, assigned_by) "
              "VALUES ($1, $2, 'ambulance', 'manual', 'test')")
    await db.execute(insert, ids[0], unit["id"])
    with pytest.raises(asyncpg.UniqueViolationError, match="assignments_one_open_per_unit"):
        await db.execute(insert, ids[1], unit["id"])
