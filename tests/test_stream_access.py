"""Event streams follow access: they end when access ends, carry a responder only its
own unit's work, and one login cannot hold unlimited streams."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from dispatch.store import accounts
from tests.conftest import AppFactory
from tests.helpers import (
    KANIGORO,
    SRENGAT,
    WLINGI,
    SseEvent,
    create_incident,
    create_unit,
    post_json,
    set_status,
    sse_events,
    until,
)

QUICK = {"sse": {"recheck_s": 0.2, "heartbeat_s": 15.0}}


class Feed:
    """One open GET /api/v1/events, read in the background as a browser would."""

    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        assert resp.status == 200
        self.resp = resp
        self.events: list[SseEvent] = []
        self._new = asyncio.Condition()
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for event in sse_events(self.resp.content):
            async with self._new:
                self.events.append(event)
                self._new.notify_all()

    async def wait_for(self, predicate: Callable[[SseEvent], bool],
                       timeout: float = 15.0) -> SseEvent:
        async def first() -> SseEvent:
            async with self._new:
                await self._new.wait_for(lambda: any(predicate(e) for e in self.events))
                return next(e for e in self.events if predicate(e))

        return await asyncio.wait_for(first(), timeout)

    async def ended(self, timeout: float = 15.0) -> None:
        """Wait for the server to end the stream."""
        await asyncio.wait_for(asyncio.shield(self._task), timeout)

    def close(self) -> None:
        self._task.cancel()
        self.resp.close()

    def data(self) -> list[SseEvent]:
        return [e for e in self.events if e.id is not None]


@contextlib.asynccontextmanager
async def feed(http: aiohttp.ClientSession | TestClient, url: str,
               headers: dict[str, str] | None = None) -> AsyncIterator[Feed]:
    f = Feed(await http.get(url, headers=headers or {}))
    try:
        await f.wait_for(lambda e: e.event == "hello")
        yield f
    finally:
        f.close()


def kind(name: str, **match: Any) -> Callable[[SseEvent], bool]:
    return lambda e: e.event == name and all(e.data.get(k) == v for k, v in match.items())


async def _token(db: asyncpg.Connection, role: str, unit_id: int | None = None
                 ) -> tuple[int, dict[str, str]]:
    token_id, secret, _ = await accounts.create_token(db, f"stream-{role}", role, 1, unit_id)
    return token_id, {"Authorization": f"Bearer {secret}"}


async def test_a_revoked_tokens_stream_ends_with_logout(start_app: AppFactory,
                                                        db: asyncpg.Connection) -> None:
    client = await start_app(**QUICK)
    token_id, headers = await _token(db, "dispatcher")
    async with feed(client, "/api/v1/events", headers) as stream:
        unit = await create_unit(client, "AMB-1", "ambulance", KANIGORO)
        await stream.wait_for(kind("unit.created", unit_id=unit["id"]))  # it is live
        assert await accounts.revoke_token(db, token_id)
        logout = await stream.wait_for(kind("logout"))
        await stream.ended()
        assert logout.data == {"reason": "access_ended"} and stream.events[-1] is logout
    resp = await client.get("/api/v1/events", headers=headers)
    assert resp.status == 401  # and it cannot come back


async def _session(client: TestClient, db: asyncpg.Connection, username: str,
                   role: str, unit_id: int | None = None) -> aiohttp.ClientSession:
    await accounts.create_user(db, username, role, "correct horse battery", unit_id)
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with http.post(str(client.make_url("/api/v1/login")),
                         json={"username": username, "password": "correct horse battery"}
                         ) as resp:
        assert resp.status == 200, await resp.text()
    return http


@pytest.mark.parametrize("how", ["disabled", "expired"])
async def test_a_session_stream_ends_when_the_user_is_disabled_or_the_session_expires(
        start_app: AppFactory, db: asyncpg.Connection, how: str) -> None:
    client = await start_app(**QUICK)
    http = await _session(client, db, "siti.dispatcher", "dispatcher")
    try:
        async with feed(http, str(client.make_url("/api/v1/events"))) as stream:
            await create_unit(client, "AMB-1", "ambulance", KANIGORO)
            await stream.wait_for(kind("unit.created"))
            if how == "disabled":
                assert await accounts.disable_user(db, "siti.dispatcher")
            else:  # the shift's session runs out while the page stays open
                await db.execute("UPDATE sessions SET expires_at = now()")
            await stream.wait_for(kind("logout"))
            await stream.ended()
            await create_unit(client, "AMB-2", "ambulance", KANIGORO)
            assert [e.data["data"]["callsign"] for e in stream.data()] == ["AMB-1"]
    finally:
        await http.close()


async def test_a_responder_receives_only_its_units_work(start_app: AppFactory,
                                                        db: asyncpg.Connection) -> None:
    client = await start_app(**QUICK)
    async with feed(client, "/api/v1/events") as board:
        mine = await create_unit(client, "AMB-MINE", "ambulance", KANIGORO)
        await board.wait_for(kind("unit.created", unit_id=mine["id"]))
        _, responder = await _token(db, "responder", unit_id=mine["id"])
        # Opened once the board has seen everything before it: both see the same after.
        async with feed(client, "/api/v1/events", responder) as phone:
            other = await create_unit(client, "AMB-OTHER", "ambulance", SRENGAT)
            police = await create_unit(client, "POL-1", "police", WLINGI)
            ours = await create_incident(client, KANIGORO)
            await board.wait_for(kind("incident.dispatched", incident_id=ours["id"]))
            theirs = await create_incident(client, SRENGAT)
            await board.wait_for(kind("incident.dispatched", incident_id=theirs["id"]))
            # Another unit joins our incident: that is our incident's news too.
            await post_json(client, f"/api/v1/incidents/{ours['id']}/assignments",
                            {"unit_id": police["id"]}, 201)
            for status in ("en_route", "on_scene", "available"):
                await set_status(client, mine["id"], status)
            # Our unit is off the incident now: what follows there is not ours.
            await post_json(client, f"/api/v1/incidents/{ours['id']}/close",
                            {"disposition": "selesai", "confirm": True}, 200)
            await set_status(client, mine["id"], "out_of_service")
            def last(e: SseEvent) -> bool:
                return (e.event == "unit.status" and e.data["unit_id"] == mine["id"]
                        and e.data["data"]["status"] == "out_of_service")

            await board.wait_for(last)
            await phone.wait_for(last)
    seq = {e.data["kind"] + str(e.data["unit_id"]): e.data["seq"] for e in board.data()
           if e.data["incident_id"] == ours["id"] and e.data["unit_id"] == mine["id"]}
    on, off = seq[f"unit.assigned{mine['id']}"], seq[f"assignment.ended{mine['id']}"]
    after = [e for e in board.data() if e.data["seq"] > board.data()[0].data["seq"]]
    expected = [e.data["seq"] for e in after
                if e.data["unit_id"] == mine["id"]
                or (e.data["incident_id"] == ours["id"] and on <= e.data["seq"] <= off)]
    assert [e.data["seq"] for e in phone.data()] == expected
    got = phone.data()
    assert any(e.event == "unit.assigned" and e.data["unit_id"] == police["id"] for e in got)
    assert not any(e.data["incident_id"] == theirs["id"] or e.data["unit_id"] == other["id"]
                   for e in got)
    assert not any(e.event == "incident.closed" for e in got)
    assert len(board.data()) > len(got)


async def test_a_responder_resuming_gets_its_incidents_news_up_to_its_units_release(
        start_app: AppFactory, db: asyncpg.Connection) -> None:
    """A phone that lost its connection while on an incident resumes after its unit has
    been released: the incident's news from before the release still reaches it."""
    client = await start_app(**QUICK)
    async with feed(client, "/api/v1/events") as board:
        mine = await create_unit(client, "AMB-MINE", "ambulance", KANIGORO)
        police = await create_unit(client, "POL-1", "police", WLINGI)
        ours = await create_incident(client, KANIGORO)
        assigned = await board.wait_for(kind("unit.assigned", unit_id=mine["id"]))
        _, responder = await _token(db, "responder", unit_id=mine["id"])
        # While the phone is away: another unit joins, ours finishes, the incident closes.
        await post_json(client, f"/api/v1/incidents/{ours['id']}/assignments",
                        {"unit_id": police["id"]}, 201)
        joined = await board.wait_for(kind("unit.assigned", unit_id=police["id"]))
        for status in ("en_route", "on_scene", "available"):
            await set_status(client, mine["id"], status)
        released = await board.wait_for(kind("assignment.ended", unit_id=mine["id"]))
        await post_json(client, f"/api/v1/incidents/{ours['id']}/close",
                        {"disposition": "selesai", "confirm": True}, 200)
        closed = await board.wait_for(kind("incident.closed", incident_id=ours["id"]))
        async with feed(client, f"/api/v1/events?last_event_id={assigned.id}",
                        responder) as phone:
            await phone.wait_for(lambda e: e.id == released.id)
            # The stream went on past the close; the phone's view of it is complete.
            await set_status(client, mine["id"], "out_of_service")
            await phone.wait_for(kind("unit.status", unit_id=mine["id"]))
    got = [e.id for e in phone.data()]
    assert joined.id in got  # news of its incident while it was on it
    assert closed.id not in got  # after its release, the incident is not its business
    expected = [e.id for e in board.data()
                if assigned.data["seq"] < e.data["seq"] <= released.data["seq"]
                and (e.data["unit_id"] == mine["id"] or e.data["incident_id"] == ours["id"])]
    assert got[:len(expected)] == expected


async def test_one_login_may_hold_only_so_many_streams(start_app: AppFactory,
                                                       db: asyncpg.Connection) -> None:
    # Pings every 0.2 s: the server notices a console that went away that soon.
    client = await start_app(sse={"max_streams_per_principal": 2, "recheck_s": 7.0,
                                  "heartbeat_s": 0.2})
    _, headers = await _token(db, "dispatcher")
    async with feed(client, "/api/v1/events", headers), \
            feed(client, "/api/v1/events", headers) as second:
        refused = await client.get("/api/v1/events", headers=headers)
        assert refused.status == 429
        assert refused.headers["Retry-After"] == "7"
        body = await refused.json()
        assert body["error"]["code"] == "too_many_streams" and body["error"]["limit"] == 2
        async with feed(client, "/api/v1/events"):  # another login is not affected
            pass
        second.close()

        async def admitted() -> bool:
            resp = await client.get("/api/v1/events", headers=headers)
            resp.close()
            assert resp.status in {200, 429}
            return resp.status == 200

        # The server counts the closed stream out once its next ping finds it gone.
        await until(admitted)
