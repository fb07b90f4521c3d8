"""Personal data: caller numbers masked for roles that do not need them; purged after the
retention period with the response-time figures intact."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

import aiohttp
import asyncpg
from aiohttp.test_utils import TestClient

from dispatch.privacy import mask
from tests.helpers import WLINGI, bearer, create_incident, get_json, post_json, sse_events


async def _get(client: TestClient, path: str, headers: dict[str, str]) -> object:
    async with aiohttp.ClientSession(headers=headers) as http, http.get(
            str(client.make_url(path))) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def test_caller_numbers_are_masked_for_roles_that_do_not_need_them(
        client: TestClient, db: asyncpg.Connection) -> None:
    incident = await create_incident(client, WLINGI)  # caller 081234567890
    path = f"/api/v1/incidents/{incident['id']}"
    for role, expected in (("dispatcher", "081234567890"), ("call_taker", "081234567890"),
                           ("supervisor", "*********890")):
        body = await _get(client, path, await bearer(db, role, name=f"p-{role}"))
        assert body["caller_phone"] == expected, role  # type: ignore[index]
    listed = await _get(client, "/api/v1/incidents", await bearer(db, "supervisor"))
    assert {i["caller_phone"] for i in listed["items"]} == {"*********890"}  # type: ignore[index]
    # The stored number is untouched.
    assert await db.fetchval("SELECT caller_phone FROM incidents") == "081234567890"


def test_mask_reaches_nested_fields() -> None:
    data = {"items": [{"caller_phone": "+6281234", "imsi": "510101234567890", "id": 7}],
            "eido": {"callbackNumber": "0812"}, "n": None}
    assert mask(data) == {"items": [{"caller_phone": "*****234", "imsi": "************890",
                                     "id": 7}], "eido": {"callbackNumber": "*812"}, "n": None}


async def test_purge_anonymises_old_calls_and_keeps_response_times(
        client: TestClient, db: asyncpg.Connection, database_url: str) -> None:
    old = await create_incident(client, WLINGI)
    recent = await create_incident(client, WLINGI)
    await db.execute("UPDATE incidents SET received_at = received_at - interval '400 days', "
                     "logged_at = logged_at - interval '400 days', status = 'closed', "
                     "disposition = 'selesai', closed_at = now() - interval '399 days' "
                     "WHERE id = $1", old["id"])
    stats_path = ("/api/v1/stats/response-times?from=2000-01-01T00:00:00Z"
                  "&to=2100-01-01T00:00:00Z")
    before_stats = await get_json(client, stats_path)
    before = await db.fetchrow("SELECT received_at, logged_at, closed_at FROM incidents "
                               "WHERE id = $1", old["id"])
    env = {**os.environ, "SIAP112_DATABASE_URL": database_url,
           "SIAP112_REDIS_URL": "redis://127.0.0.1:1/0"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "dispatch", "purge", "--days", "365", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    assert "incidents=1" in out.decode()
    rows = {r["id"]: r["caller_phone"] for r in await db.fetch(
        "SELECT id, caller_phone FROM incidents")}
    assert rows == {old["id"]: "000", recent["id"]: "081234567890"}
    after = await db.fetchrow("SELECT received_at, logged_at, closed_at FROM incidents "
                              "WHERE id = $1", old["id"])
    assert after == before
    assert await get_json(client, stats_path) == before_stats



async def _call_as_seen_by(client: TestClient, headers: dict[str, str], incident_id: int
                           ) -> dict[str, Any]:
    """A second caller for ``incident_id`` logged once this console's stream is open;
    the caller.linked event as the console receives it."""
    async with aiohttp.ClientSession(headers=headers) as http, http.get(
            str(client.make_url("/api/v1/events"))) as resp:
        assert resp.status == 200
        async for event in sse_events(resp.content):
            if event.event == "hello":
                await post_json(client, "/api/v1/calls", {
                    "caller_phone": "081234567890", "disposition": "duplicate",
                    "incident_id": incident_id}, 201)
            if event.event == "caller.linked":
                return event.data
    raise AssertionError("the stream ended before caller.linked")


async def test_the_live_stream_masks_numbers_for_roles_that_do_not_need_them(
        client: TestClient, db: asyncpg.Connection) -> None:
    incident = await create_incident(client, WLINGI)
    supervisor, dispatcher = await bearer(db, "supervisor"), await bearer(db, "dispatcher")
    seen = await asyncio.wait_for(_call_as_seen_by(client, supervisor, incident["id"]), 15)
    assert seen["data"]["caller_phone"] == "*********890"
    seen = await asyncio.wait_for(_call_as_seen_by(client, dispatcher, incident["id"]), 15)
    assert seen["data"]["caller_phone"] == "081234567890"
