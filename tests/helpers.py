"""Test helpers: an SSE console client, request shortcuts, independent percentiles."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from dispatch import keys

# Tests compare the SQL's percentile_cont with this independent Python computation
# (linear interpolation between closest ranks), the one the benchmarks use too.
from dispatch.benchmarks.stats import percentile as percentile_linear  # noqa: F401
from dispatch.settings import Settings
from dispatch.store import accounts

# Positions inside Kabupaten Blitar (estimates) used across the tests.
KANIGORO = (-8.1340, 112.2150)
WLINGI = (-8.0790, 112.3250)
SRENGAT = (-8.0740, 112.0680)


def first_arrival_intervals(started_at: Any, assignments: list[Any]
                            ) -> tuple[str | None, dict[str, float]]:
    """(unit type, interval seconds) of an incident as the supervisor's figures define
    them, computed here independently: all four on the first unit on scene (or the
    first dispatched, while none arrived), from ``started_at`` (the answer time)."""
    if not assignments:
        return None, {}
    far = datetime.max.replace(tzinfo=UTC)
    ref = min(assignments, key=lambda a: (a["on_scene_at"] is None, a["on_scene_at"] or far,
                                          a["dispatched_at"], a["id"]))
    out = {"call_processing": (ref["dispatched_at"] - started_at).total_seconds()}
    if ref["en_route_at"]:
        out["turnout"] = (ref["en_route_at"] - ref["dispatched_at"]).total_seconds()
        if ref["on_scene_at"]:
            out["travel"] = (ref["on_scene_at"] - ref["en_route_at"]).total_seconds()
    if ref["on_scene_at"]:
        out["total"] = (ref["on_scene_at"] - started_at).total_seconds()
    return ref["unit_type"], {k: v for k, v in out.items() if 0 <= v <= 7 * 86400}


@dataclass
class SseEvent:
    id: str | None
    event: str
    data: dict[str, Any]


async def sse_events(content: AsyncIterable[bytes]) -> AsyncIterator[SseEvent]:
    """Server-Sent Events from a response body, one per blank-line-terminated block."""
    fields: dict[str, str] = {}
    async for raw in content:
        line = raw.decode().rstrip("\r\n")
        if line.startswith(":"):  # keep-alive ping
            continue
        if line:
            key, _, value = line.partition(":")
            fields[key] = value.removeprefix(" ")
            continue
        if "data" in fields:
            yield SseEvent(fields.get("id"), fields.get("event", "message"),
                           json.loads(fields["data"]))
        fields = {}


class Console:
    """An operator console: reads GET /api/v1/events as a browser's EventSource would."""

    def __init__(self, client: TestClient, last_event_id: str | None = None) -> None:
        self._client = client
        self._last_event_id = last_event_id
        self._resp: ClientResponse | None = None
        self.events: list[SseEvent] = []
        self._new = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Console:
        headers = {"Last-Event-ID": self._last_event_id} if self._last_event_id else {}
        self._resp = await self._client.get("/api/v1/events", headers=headers)
        assert self._resp.status == 200, await self._resp.text()
        self._task = asyncio.create_task(self._read())
        await self.wait_for(lambda e: e.event == "hello")
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None and self._resp is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._resp.close()

    async def _read(self) -> None:
        assert self._resp is not None
        async for event in sse_events(self._resp.content):
            async with self._new:
                self.events.append(event)
                self._new.notify_all()

    async def wait_for(self, predicate: Callable[[SseEvent], bool], count: int = 1,
                       timeout: float = 15.0) -> list[SseEvent]:
        """The first ``count`` events matching ``predicate`` (waits for them)."""
        async def matched() -> list[SseEvent]:
            async with self._new:
                await self._new.wait_for(
                    lambda: len([e for e in self.events if predicate(e)]) >= count)
                return [e for e in self.events if predicate(e)][:count]

        return await asyncio.wait_for(matched(), timeout)

    def kinds(self) -> list[str]:
        return [e.event for e in self.events if e.event not in {"hello"}]

    def data_events(self) -> list[SseEvent]:
        return [e for e in self.events if e.id is not None]


def is_kind(kind: str, **match: Any) -> Callable[[SseEvent], bool]:
    def pred(e: SseEvent) -> bool:
        return e.event == kind and all(e.data.get(k) == v for k, v in match.items())
    return pred


async def bearer(db: asyncpg.Connection, role: str = "admin", name: str = "operator",
                 unit_id: int | None = None, days: int = 1) -> dict[str, str]:
    """An Authorization header for a new API token of ``role`` (acts as ``name``)."""
    _, secret, _ = await accounts.create_token(db, name, role, days, unit_id)
    return {"Authorization": f"Bearer {secret}"}


async def post_json(client: TestClient, path: str, body: Any, expect: int) -> dict[str, Any]:
    resp = await client.post(path, json=body)
    payload: dict[str, Any] = await resp.json()
    assert resp.status == expect, (resp.status, payload)
    return payload


async def create_unit(client: TestClient, callsign: str, unit_type: str,
                      at: tuple[float, float] | None, agency: str = "Test") -> dict[str, Any]:
    body: dict[str, Any] = {"callsign": callsign, "unit_type": unit_type, "agency": agency}
    if at is not None:
        body["location"] = {"lat": at[0], "lon": at[1]}
    return await post_json(client, "/api/v1/units", body, 201)


async def create_incident(client: TestClient, at: tuple[float, float] | None,
                          category: str = "medis", priority: int = 1,
                          **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"caller_phone": "081234567890", "category": category,
                            "priority": priority, **extra}
    if at is not None:
        body["location"] = {"lat": at[0], "lon": at[1]}
    return await post_json(client, "/api/v1/incidents", body, 201)


async def set_status(client: TestClient, unit_id: int, status: str,
                     expect: int = 200) -> dict[str, Any]:
    return await post_json(client, f"/api/v1/units/{unit_id}/status", {"status": status}, expect)


async def get_json(client: TestClient, path: str) -> Any:
    resp = await client.get(path)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def until_db(db: asyncpg.Connection, query: str, *args: Any,
                   timeout: float = 15.0) -> Any:
    """Await the first truthy value of ``query``, re-checked whenever an event row commits.

    For waiting on the database while Redis (and so the SSE stream) is away: the
    events table's NOTIFY trigger wakes it, so it never sleeps on a guess.
    """
    woken = asyncio.Event()

    def wake(*_: Any) -> None:
        woken.set()

    await db.add_listener("siap112_events", wake)
    try:
        async with asyncio.timeout(timeout):
            while True:
                woken.clear()
                value = await db.fetchval(query, *args)
                if value:
                    return value
                await woken.wait()
    finally:
        await db.remove_listener("siap112_events", wake)


async def until(probe: Callable[[], Awaitable[Any]], timeout: float = 20.0) -> Any:
    """The first truthy answer of ``probe``, asked every 50 ms.

    Only for what shows as time passing (a loop that stops beating, a server
    noticing by its next ping that a client went away); everything else is awaited.
    """
    async with asyncio.timeout(timeout):
        while True:
            answer = await probe()
            if answer:
                return answer
            await asyncio.sleep(0.05)  # noqa: ASYNC110 - nothing to await but time


async def start_dispatcher(settings: Settings, **env_extra: str
                           ) -> asyncio.subprocess.Process:
    """A standalone `siap112 dispatcher` process on the test services, once it says it is
    serving; its log is drained in the background. ``env_extra``: more SIAP112_* settings."""
    env = {**os.environ, "SIAP112_DATABASE_URL": settings.database_url,
           "SIAP112_REDIS_URL": settings.redis_url,
           "SIAP112_REDIS_STREAM_KEY": settings.redis.stream_key,
           "SIAP112_LOG_FORMAT": "json", "SIAP112_LOG_LEVEL": "info", **env_extra}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "dispatch", "dispatcher", env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    assert proc.stderr is not None
    async with asyncio.timeout(30):
        async for line in proc.stderr:  # await its own word that it is serving
            if b"dispatcher.started" in line:
                break
    asyncio.get_running_loop().create_task(_drain(proc))
    return proc


async def _drain(proc: asyncio.subprocess.Process) -> None:
    assert proc.stderr is not None
    async for _ in proc.stderr:
        pass


async def run_purge(database_url: str, days: int | None = 365) -> str:
    """`siap112 purge [--days N]` as an operator's cron job runs it (no Redis needed);
    asserts it succeeded and returns what it printed (the counts)."""
    env = {**os.environ, "SIAP112_DATABASE_URL": database_url,
           "SIAP112_REDIS_URL": "redis://127.0.0.1:1/0"}
    args = ["--days", str(days)] if days is not None else []
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "dispatch", "purge", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    return out.decode()


async def access_change_heard(client: TestClient, change: Awaitable[Any]) -> Any:
    """Make an access change (revoke, disable, expire) in another connection, then await
    the web process's principal cache hearing of it (sql/024), when it is listening.

    The cache is emptied by a notification that arrives a moment after the commit; a
    request made in that moment could still be let through, so a test that asserts the
    very next request is refused awaits the notification first.
    """
    cache = client.app[keys.PRINCIPALS] if client.app is not None else None
    before = None if cache is None or not cache.listening else cache.generation
    result = await change
    if cache is not None and before is not None:
        async with asyncio.timeout(10.0):
            await cache.cleared_since(before)
    return result
