"""Hostile strings are data: stored and returned byte for byte, never interpreted."""

from __future__ import annotations

import asyncpg
from aiohttp.test_utils import TestClient

from tests.helpers import WLINGI, create_incident, get_json

HOSTILE = [
    "'); DROP TABLE incidents; --",
    "1' OR '1'='1",
    "<script>alert('xss')</script>",
    "<img src=x onerror=alert(1)>",
    "\"; SELECT pg_sleep(10); --",
]


async def test_injection_and_script_strings_are_stored_and_returned_verbatim(
        client: TestClient, db: asyncpg.Connection) -> None:
    for text in HOSTILE:
        created = await create_incident(client, WLINGI, address=text, description=text)
        assert created["address"] == text
        got = await get_json(client, f"/api/v1/incidents/{created['id']}")
        assert (got["address"], got["description"]) == (text, text)
        row = await db.fetchrow("SELECT address, description FROM incidents WHERE id = $1",
                                created["id"])
        assert (row["address"], row["description"]) == (text, text)
    assert await db.fetchval("SELECT count(*) FROM incidents") == len(HOSTILE)
    # A hostile filter value is a value too: it matches nothing and breaks nothing.
    listed = await get_json(client, "/api/v1/units?type=" + "x'%20OR%20'1'='1")
    assert listed["items"] == []
