"""Test harness: real PostgreSQL, real Redis, the real app over HTTP.

Services: SIAP112_TEST_DATABASE_URL / SIAP112_TEST_REDIS_URL when set (CI points
them at the machine's servers); otherwise embedded PostgreSQL and Valkey are
started for the session. Each test session works in a database of its own,
created and dropped here, and each test gets its own Redis stream key.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from dispatch.app import create_app
from dispatch.logs import configure_logging
from dispatch.settings import Settings, load_settings
from dispatch.store.migrate import migrate
from tests.helpers import bearer

configure_logging(__import__("os").environ.get("SIAP112_TEST_LOG", "warning"), "console")

TABLES = ("events, assignments, incidents, units, sessions, users, api_tokens, login_throttle, "
          "places, telephony_calls")


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


@pytest.fixture(scope="session")
def services() -> Iterator[tuple[str, str]]:
    """(admin database URL, Redis URL) of the servers the tests use."""
    db_url = os.environ.get("SIAP112_TEST_DATABASE_URL")
    redis_url = os.environ.get("SIAP112_TEST_REDIS_URL")
    if db_url and redis_url:
        yield db_url, redis_url
        return
    from dispatch.embedded import embedded_services

    with embedded_services(keep=False) as svc:
        yield db_url or svc.database_url, redis_url or svc.redis_url


@pytest.fixture(scope="session")
def database_url(services: tuple[str, str]) -> Iterator[str]:
    """A fresh, migrated database for this test session, dropped at the end."""
    admin_url, _ = services
    name = f"siap112_test_{uuid.uuid4().hex[:10]}"

    async def create() -> None:
        conn = await asyncpg.connect(admin_url)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        conn = await asyncpg.connect(_with_database(admin_url, name))
        try:
            await migrate(conn)
        finally:
            await conn.close()

    async def drop() -> None:
        conn = await asyncpg.connect(admin_url)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(create())
    yield _with_database(admin_url, name)
    asyncio.run(drop())


@pytest.fixture
def redis_url(services: tuple[str, str]) -> str:
    return services[1]


@pytest.fixture
def stream_key() -> str:
    return f"siap112:test:{uuid.uuid4().hex[:12]}"


@pytest.fixture
def make_settings(database_url: str, redis_url: str, stream_key: str
                  ) -> Callable[..., Settings]:
    """Settings for the test services; keyword groups override sections, e.g.
    ``make_settings(dispatch={"run_in_web": False})``."""
    # No base tiles from the internet: the map tests start their own tile server.
    base = load_settings(env={})
    base = replace(base, map=replace(base.map, tile_url=""))
    # No road data unless a test builds its own: a deployment's folder on this machine
    # must not turn every dispatch test into a road-ranked one.
    base = replace(base, roads=replace(base.roads, data_dir=os.path.join(
        tempfile.gettempdir(), f"siap112-no-roads-{uuid.uuid4().hex[:8]}")))

    def make(**sections: dict[str, Any] | str) -> Settings:
        s = replace(base, database_url=database_url, redis_url=redis_url,
                    redis=replace(base.redis, stream_key=stream_key))
        for section, changes in sections.items():
            if isinstance(changes, str):
                s = replace(s, **{section: changes})
            else:
                s = replace(s, **{section: replace(getattr(s, section), **changes)})
        return s

    return make


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A direct connection for assertions; tables are emptied before each test."""
    conn = await asyncpg.connect(database_url)
    await conn.execute(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")
    yield conn
    await conn.close()


@pytest.fixture
async def redis(redis_url: str, stream_key: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.delete(stream_key)
    await client.aclose()


AppFactory = Callable[..., Awaitable[TestClient]]


@pytest.fixture
async def start_app(
    aiohttp_client: Callable[[web.Application], Awaitable[TestClient]],
    make_settings: Callable[..., Settings],
    db: asyncpg.Connection,
) -> AppFactory:
    """Start the real app (from the factory) on a loopback port; returns its HTTP client."""

    async def start(settings: Settings | None = None, **sections: Any) -> TestClient:
        # The client acts as an admin (every endpoint); tests/test_auth.py covers the roles.
        headers = await bearer(db)
        return await aiohttp_client(create_app(settings or make_settings(**sections)),
                                    headers=headers)

    return start


@pytest.fixture
async def client(start_app: AppFactory) -> TestClient:
    return await start_app()
