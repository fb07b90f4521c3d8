"""The fresh-machine path: embedded PostgreSQL and Valkey from pip packages run the service."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from dispatch.app import create_app
from dispatch.embedded import EmbeddedServices, embedded_services
from dispatch.settings import load_settings
from dispatch.store.migrate import migrate
from tests.helpers import (
    KANIGORO,
    WLINGI,
    Console,
    bearer,
    create_incident,
    create_unit,
    is_kind,
)

pytestmark = pytest.mark.embedded


@pytest.fixture(scope="module")
def own_services() -> Iterator[EmbeddedServices]:
    with embedded_services(keep=False) as svc:
        yield svc


async def test_embedded_services_run_the_dispatch_loop(
        own_services: EmbeddedServices,
        aiohttp_client: Callable[[web.Application], Awaitable[TestClient]]) -> None:
    base = load_settings(env={})
    settings = replace(base, database_url=own_services.database_url,
                       redis_url=own_services.redis_url)
    conn = await asyncpg.connect(settings.database_url)
    try:
        await migrate(conn)
        headers = await bearer(conn)
    finally:
        await conn.close()
    client = await aiohttp_client(create_app(settings), headers=headers)
    ready = await client.get("/readyz")
    assert ready.status == 200, await ready.text()
    await create_unit(client, "AMB-EMB", "ambulance", KANIGORO)
    async with Console(client) as console:
        incident = await create_incident(client, WLINGI)
        [event] = await console.wait_for(is_kind("unit.assigned", incident_id=incident["id"]))
    assert event.data["data"]["callsign"] == "AMB-EMB"
