"""Caller location links over HTTP: the link, the SMS gateway (a small real server the
test runs), the caller's positions, moving the incident, refusals, and purging."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import asyncpg
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from dispatch.demo_sms import start_demo_gateway
from dispatch.web.events import Scope
from tests.conftest import AppFactory
from tests.helpers import KANIGORO, WLINGI, post_json, run_purge

CALLER = "081234567890"
SECRET = "rahasia-gateway-uji"
ServerFactory = Callable[..., Awaitable[TestServer]]


class Gateway:
    """A local SMS gateway: records each {to, text} and the secret header it got."""

    def __init__(self, status: int = 200, delay_s: float = 0.0) -> None:
        self.received: list[dict[str, Any]] = []
        self.secrets: list[str | None] = []
        self.status, self.delay_s = status, delay_s

    def app(self) -> web.Application:
        async def take(request: web.Request) -> web.Response:
            self.received.append(await request.json())
            self.secrets.append(request.headers.get("X-Siap112-Secret"))
            if self.delay_s:
                await asyncio.sleep(self.delay_s)  # a gateway that hangs: the client times out
            return web.json_response({"ok": self.status < 300}, status=self.status)

        app = web.Application()
        app.router.add_post("/send", take)
        return app


async def gateway_app(start_app: AppFactory, aiohttp_server: ServerFactory, gw: Gateway,
                      **calls: Any) -> tuple[TestClient, TestServer]:
    server = await aiohttp_server(gw.app())
    client = await start_app(sms={"gateway_url": str(server.make_url("/send")),
                                  "gateway_secret": SECRET, "timeout_s": 2.0},
                             calls=calls)
    return client, server


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def emergency_call(client: TestClient, at: tuple[float, float] = WLINGI
                         ) -> dict[str, Any]:
    return await post_json(client, "/api/v1/calls", {
        "caller_phone": CALLER, "disposition": "emergency", "confirm_new": True,  # each a case
        "incident": {"category": "medis", "priority": 1, "address": "Dekat pasar",
                     "location": {"lat": at[0], "lon": at[1]}}}, 201)


def token_of(url: str) -> str:
    return urlsplit(url).path.rsplit("/", 1)[-1]


async def public_post(client: TestClient, token: str, body: dict[str, Any]
                      ) -> tuple[int, Any]:
    """A caller's phone: no Authorization header, no cookie."""
    async with aiohttp.ClientSession() as http, http.post(
            str(client.make_url(f"/api/v1/l/{token}/fixes")), json=body) as resp:
        return resp.status, await resp.json()


async def public_get(client: TestClient, path: str) -> tuple[int, str, dict[str, str]]:
    async with aiohttp.ClientSession() as http, http.get(str(client.make_url(path))) as resp:
        return resp.status, await resp.text(), dict(resp.headers)


async def test_link_is_sent_by_sms_and_the_callers_fix_moves_the_incident(
        start_app: AppFactory, aiohttp_server: ServerFactory, db: asyncpg.Connection) -> None:
    gw = Gateway()
    client, _ = await gateway_app(start_app, aiohttp_server, gw)
    call = await emergency_call(client)
    link = await post_json(client, f"/api/v1/calls/{call['id']}/location-link", {}, 201)
    assert link["sms"] == {"status": "sent", "error": None}
    # The gateway got {to, text} with the link, and the configured secret.
    assert gw.received == [{"to": CALLER, "text": link["text"]}]
    assert gw.secrets == [SECRET]
    assert link["url"] in link["text"] and "berlaku 30 menit" in link["text"]
    token = token_of(link["url"])
    assert len(token) >= 40
    # The WhatsApp link goes to the caller in international form, prefilled.
    wa = urlsplit(link["whatsapp_url"])
    assert (wa.netloc, wa.path) == ("wa.me", "/6281234567890")
    assert parse_qs(wa.query)["text"] == [link["text"]]
    # Only the token's hash is stored.
    assert await db.fetchval("SELECT count(*) FROM location_links WHERE token_hash = $1",
                             token) == 0

    status, page, headers = await public_get(client, f"/l/{token}")
    assert status == 200 and "Bagikan lokasi saya" in page
    assert CALLER not in page and "Dekat pasar" not in page
    assert "geolocation=(self)" in headers["Permissions-Policy"]
    status, answer = await public_post(client, token, {
        "lat": KANIGORO[0], "lon": KANIGORO[1], "accuracy_m": 12.5})
    assert (status, answer) == (201, {"received": True})
    fix = await db.fetchrow("SELECT * FROM location_fixes")
    assert (fix["call_id"], fix["incident_id"], fix["accuracy_m"]) == (
        call["id"], call["incident_id"], 12.5)
    event = await db.fetchrow("SELECT * FROM events WHERE kind = 'call.location_fix'")
    assert event["incident_id"] == call["incident_id"]
    assert json.loads(event["data"])["location"] == {"lat": KANIGORO[0], "lon": KANIGORO[1]}
    fixes = await (await client.get(f"/api/v1/calls/{call['id']}/location-fixes")).json()
    assert [f["id"] for f in fixes["items"]] == [fix["id"]]

    moved = await post_json(client, f"/api/v1/location-fixes/{fix['id']}/use", {}, 200)
    assert moved["location"] == {"lat": KANIGORO[0], "lon": KANIGORO[1]}
    assert moved["kecamatan"] == "Kanigoro" and moved["location_source"] == "caller_link"
    row = await db.fetchrow("SELECT lat, lon, kecamatan FROM incidents WHERE id = $1",
                            call["incident_id"])
    assert (row["lat"], row["lon"], row["kecamatan"]) == (*KANIGORO, "Kanigoro")
    located = await db.fetchrow("SELECT data FROM events WHERE kind = 'incident.relocated'")
    assert json.loads(located["data"])["location_source"] == "caller_link"
    assert json.loads(located["data"])["fix_id"] == fix["id"]
    assert json.loads(located["data"])["radius_m"] == 12.5
    # The audit log records the link and its use, never the number nor the position.
    images = await db.fetch("SELECT before, after FROM audit_log "
                            "WHERE subject_type = 'location_links'")
    assert images and all(CALLER not in str(r) and str(KANIGORO[0]) not in str(r)
                          for r in images)


async def test_gateway_down_or_hanging_still_gives_the_link_to_copy(
        start_app: AppFactory, aiohttp_server: ServerFactory, db: asyncpg.Connection) -> None:
    client = await start_app(sms={"gateway_url": f"http://127.0.0.1:{closed_port()}/send",
                                  "gateway_secret": SECRET})
    call = await emergency_call(client)
    link = await post_json(client, f"/api/v1/calls/{call['id']}/location-link", {}, 201)
    assert link["sms"]["status"] == "failed"
    assert "not reachable" in link["sms"]["error"]
    assert link["url"].startswith("http://127.0.0.1")
    assert await db.fetchval("SELECT sms_status FROM location_links") == "failed"
    # The link works although the SMS did not go.
    status, _ = await public_post(client, token_of(link["url"]),
                                  {"lat": WLINGI[0], "lon": WLINGI[1], "accuracy_m": 30})
    assert status == 201

    hanging = Gateway(delay_s=5.0)
    server = await aiohttp_server(hanging.app())
    client2 = await start_app(sms={"gateway_url": str(server.make_url("/send")),
                                   "timeout_s": 0.5})
    call2 = await emergency_call(client2)
    link2 = await post_json(client2, f"/api/v1/calls/{call2['id']}/location-link", {}, 201)
    assert link2["sms"]["status"] == "failed" and "0.5 s" in link2["sms"]["error"]
    # A gateway error status is a failure too; not asking for SMS sends none.
    refusing = Gateway(status=503)
    server3 = await aiohttp_server(refusing.app())
    client3 = await start_app(sms={"gateway_url": str(server3.make_url("/send"))})
    call3 = await emergency_call(client3)
    link3 = await post_json(client3, f"/api/v1/calls/{call3['id']}/location-link", {}, 201)
    assert link3["sms"] == {"status": "failed", "error": "the SMS gateway answered HTTP 503"}
    link4 = await post_json(client3, f"/api/v1/calls/{call3['id']}/location-link",
                            {"send_sms": False}, 201)
    assert link4["sms"]["status"] == "not_sent" and len(refusing.received) == 1


async def test_expired_replaced_used_up_and_unknown_links_are_refused(
        start_app: AppFactory, db: asyncpg.Connection) -> None:
    client = await start_app(calls={"location_link_max_fixes": 1})
    call = await emergency_call(client)
    first = await post_json(client, f"/api/v1/calls/{call['id']}/location-link", {}, 201)
    assert first["sms"]["status"] == "not_sent"  # no gateway configured
    second = await post_json(client, f"/api/v1/calls/{call['id']}/location-link", {}, 201)
    fix = {"lat": WLINGI[0], "lon": WLINGI[1], "accuracy_m": 20}

    # A new link replaces the one before it.
    status, page, _ = await public_get(client, f"/l/{token_of(first['url'])}")
    assert status == 410 and "Tautan sudah diganti" in page and "112" in page
    status, body = await public_post(client, token_of(first["url"]), fix)
    assert (status, body["error"]["code"]) == (410, "link_revoked")
    # One position allowed: the next finds the link used up.
    token = token_of(second["url"])
    assert (await public_post(client, token, fix))[0] == 201
    status, body = await public_post(client, token, fix)
    assert (status, body["error"]["code"]) == (410, "link_used_up")
    status, page, _ = await public_get(client, f"/l/{token}")
    assert status == 410 and "Tautan sudah terpakai" in page

    third = await post_json(client, f"/api/v1/calls/{call['id']}/location-link", {}, 201)
    await db.execute("UPDATE location_links SET created_at = created_at - interval '2 hours', "
                     "expires_at = now() - interval '1 minute' WHERE revoked_at IS NULL")
    status, page, headers = await public_get(client, f"/l/{token_of(third['url'])}")
    assert status == 410 and "Tautan sudah kedaluwarsa" in page
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    status, body = await public_post(client, token_of(third["url"]), fix)
    assert (status, body["error"]["code"]) == (410, "link_expired")

    for bad in ("x" * 43, "%E2%91%A0" * 10, "short"):
        status, page, _ = await public_get(client, f"/l/{bad}")
        assert status == 404 and "Tautan tidak dikenal" in page, bad
    status, body = await public_post(client, "y" * 43, fix)
    assert (status, body["error"]["code"]) == (404, "link_unknown")
    assert await db.fetchval("SELECT count(*) FROM location_fixes") == 1


async def test_bad_positions_get_a_4xx_naming_the_field_and_nothing_is_stored(
        start_app: AppFactory, db: asyncpg.Connection) -> None:
    client = await start_app()
    call = await emergency_call(client)
    link = await post_json(client, f"/api/v1/calls/{call['id']}/location-link", {}, 201)
    token = token_of(link["url"])
    for body, field in (({"lat": 200, "lon": 112.2, "accuracy_m": 5}, "lat"),
                        ({"lat": -8.1, "lon": 112.2}, "accuracy_m"),
                        ({"lat": -8.1, "lon": 112.2, "accuracy_m": -1}, "accuracy_m"),
                        ({"lat": -8.1, "lon": 112.2, "accuracy_m": 5,
                          "at": "2099-01-01T00:00:00Z"}, "at"),
                        ({"lat": -8.1, "lon": 112.2, "accuracy_m": 5, "phone": "1"}, "phone")):
        status, answer = await public_post(client, token, body)
        assert status == 422, (body, answer)
        assert field in str(answer["error"]), (body, answer)
    async with aiohttp.ClientSession() as http, http.post(
            str(client.make_url(f"/api/v1/l/{token}/fixes")), data="lat=1",
            headers={"Content-Type": "application/x-www-form-urlencoded"}) as resp:
        assert resp.status == 415
    assert await db.fetchval("SELECT count(*) FROM location_fixes") == 0
    # A call that does not exist has no link; a fix that does not exist moves nothing.
    await post_json(client, "/api/v1/calls/999999/location-link", {}, 404)
    await post_json(client, "/api/v1/location-fixes/999999/use", {}, 404)


async def test_positions_are_rate_limited_per_link(start_app: AppFactory) -> None:
    client = await start_app(calls={"location_fixes_per_minute": 2})
    call = await emergency_call(client)
    link = await post_json(client, f"/api/v1/calls/{call['id']}/location-link", {}, 201)
    fix = {"lat": WLINGI[0], "lon": WLINGI[1], "accuracy_m": 20}
    statuses = [(await public_post(client, token_of(link["url"]), fix))[0] for _ in range(3)]
    assert statuses == [201, 201, 429]


def test_responders_never_receive_the_callers_positions() -> None:
    scope = Scope(unit_id=5, incidents={7})
    assert scope.admits({"kind": "incident.updated", "incident_id": 7})
    assert not scope.admits({"kind": "call.location_fix", "incident_id": 7})
    assert not scope.admits({"kind": "call.location_link", "incident_id": 7})
    assert Scope(unit_id=None).admits({"kind": "call.location_fix", "incident_id": 7})


async def test_purge_removes_the_callers_positions_and_number(
        start_app: AppFactory, db: asyncpg.Connection, database_url: str) -> None:
    client = await start_app()
    call = await emergency_call(client)
    link = await post_json(client, f"/api/v1/calls/{call['id']}/location-link", {}, 201)
    assert (await public_post(client, token_of(link["url"]),
                              {"lat": WLINGI[0], "lon": WLINGI[1], "accuracy_m": 9}))[0] == 201
    await db.execute("UPDATE location_fixes SET received_at = now() - interval '400 days'")
    await db.execute("UPDATE location_links SET created_at = now() - interval '400 days', "
                     "expires_at = now() - interval '399 days'")
    await db.execute("UPDATE events SET occurred_at = now() - interval '400 days' "
                     "WHERE kind = 'call.location_fix'")
    out = await run_purge(database_url)
    assert "location_fixes=1" in out
    assert await db.fetchval("SELECT count(*) FROM location_fixes") == 0
    assert await db.fetchval("SELECT caller_phone FROM location_links") is None
    data = json.loads(await db.fetchval(
        "SELECT data FROM events WHERE kind = 'call.location_fix'"))
    assert "location" not in data and data["fix_id"] > 0


async def test_meta_serves_the_tile_url_and_pages_allow_only_its_origin(
        start_app: AppFactory) -> None:
    client = await start_app(map={"tile_url": "https://tiles.example.org:8443/{z}/{x}/{y}.png",
                                  "tile_attribution": "© Contoh"})
    meta = await (await client.get("/api/v1/meta")).json()
    assert meta["map"]["tile_url"] == "https://tiles.example.org:8443/{z}/{x}/{y}.png"
    assert meta["map"]["tile_attribution"] == "© Contoh"
    csp = (await client.get("/")).headers["Content-Security-Policy"]
    assert "img-src 'self' data: https://tiles.example.org:8443;" in csp
    off = await start_app()  # tests run with tile_url = ""
    assert (await (await off.get("/api/v1/meta")).json())["map"]["tile_url"] == ""
    assert "img-src 'self' data:;" in (await off.get("/")).headers["Content-Security-Policy"]


async def test_the_demo_gateway_takes_the_link(
        start_app: AppFactory, make_settings: Callable[..., Any]) -> None:
    """`siap112 demo` runs its own gateway, so the link can be tried with no phone network."""
    free = closed_port()
    settings = start_demo_gateway(make_settings(http={"port": free - 1}))
    assert settings.sms.gateway_url == f"http://127.0.0.1:{free}/sms"
    client = await start_app(settings)
    call = await emergency_call(client)
    link = await post_json(client, f"/api/v1/calls/{call['id']}/location-link", {}, 201)
    assert link["sms"] == {"status": "sent", "error": None}
    # A configured gateway is left alone.
    real = make_settings(sms={"gateway_url": "https://sms.example.org/send"})
    assert start_demo_gateway(real) is real
