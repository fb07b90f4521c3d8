"""Accounts and roles: the role × endpoint matrix, tokens, sessions, CSRF, throttling, CLI.

Every request here goes over real HTTP to the real app, with a token or a session
made the way an operator makes them.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from dispatch.store import accounts
from dispatch.web.auth import ALL, PAGES, PUBLIC, ROUTE_ROLES, TELEPHONY, TOKEN_BOUND
from dispatch.web.pages import STATIC_DIR
from dispatch.web.ratelimit import Limiter
from tests.conftest import AppFactory
from tests.helpers import (
    KANIGORO,
    WLINGI,
    access_change_heard,
    bearer,
    create_incident,
    create_unit,
    set_status,
)


async def _status(client: TestClient, method: str, path: str, headers: dict[str, str],
                  **kw: Any) -> int:
    """The answer's status to ``method path``, sent with ``headers`` only."""
    async with aiohttp.ClientSession(headers=headers) as http, http.request(
            method, str(client.make_url(path)), allow_redirects=False, **kw) as resp:
        return resp.status


def _concrete(path: str, ids: dict[str, int]) -> str:
    path = path.replace("{phone}", "081234567890").replace("{call}", "1701234567.42")
    return path.replace("{id}", str(ids["unit"] if "/units/" in path else ids["incident"]))


async def _fixtures(client: TestClient) -> dict[str, int]:
    unit = await create_unit(client, "AMB-AUTH", "ambulance", KANIGORO)
    incident = await create_incident(client, WLINGI)
    return {"unit": unit["id"], "incident": incident["id"]}


def test_every_route_is_in_the_role_table(client: TestClient) -> None:
    """No endpoint is left to the admin-only fallback by accident."""
    registered = set()
    for route in client.app.router.routes():
        if route.method in {"HEAD", "*"} or route.resource is None:
            continue
        registered.add((route.method, route.resource.canonical))
    assert registered - PUBLIC - TOKEN_BOUND - set(ROUTE_ROLES) == set()
    assert set(ROUTE_ROLES) - registered == set()  # nor a stale row


def test_the_operator_may_do_what_a_call_taker_or_a_dispatcher_may_and_no_more() -> None:
    # The night shift of a small centre: one person takes the calls and dispatches.
    for route, allowed in ROUTE_ROLES.items():
        either = "call_taker" in allowed or "dispatcher" in allowed
        assert ("operator" in allowed) == either, route


async def test_role_endpoint_matrix(client: TestClient, db: asyncpg.Connection) -> None:
    """Every (route, role) cell: allowed roles get past the check, the others get 403."""
    ids = await _fixtures(client)
    # Every role a person holds, and the IP-PBX's machine role.
    roles = sorted(ALL | TELEPHONY)
    tokens = {role: await bearer(db, role, name=f"matrix-{role}",
                                 unit_id=ids["unit"] if role == "responder" else None)
              for role in roles}
    for (method, template), allowed in sorted(ROUTE_ROLES.items()):
        path = _concrete(template, ids)
        body = {"json": {}} if method in {"POST", "PUT"} and template != "/api/v1/logout" else {}
        for role in roles:
            status = await _status(client, method, path, tokens[role], **body)
            if role in allowed:
                assert status not in {401, 403}, (method, template, role, status)
            else:
                assert status == 403, (method, template, role, status)


async def test_unauthenticated_requests_get_401_and_pages_the_login_form(
        client: TestClient) -> None:
    ids = await _fixtures(client)
    for (method, template) in ROUTE_ROLES:
        status = await _status(client, method, _concrete(template, ids), {})
        expected = 302 if template in PAGES else 401
        assert status == expected, (method, template, status)
    for method, path in PUBLIC - {("GET", "/static")}:
        if method == "GET":
            assert await _status(client, method, path, {}) == 200, path
    async with aiohttp.ClientSession() as http, http.get(
            str(client.make_url("/supervisor?x=1")), allow_redirects=False) as resp:
        location = urlsplit(resp.headers["Location"])
        assert location.path == "/login"
        assert parse_qs(location.query)["next"] == ["/supervisor?x=1"]
    # The live stream is no exception.
    assert await _status(client, "GET", "/api/v1/events", {}) == 401
    assert await _status(client, "GET", "/api/v1/units",
                         {"Authorization": "Bearer s112_not-a-token"}) == 401
    assert await _status(client, "GET", "/api/v1/units", {"Authorization": "Basic eDp5"}) == 401


async def test_revoked_and_expired_tokens_are_refused(client: TestClient,
                                                      db: asyncpg.Connection) -> None:
    token_id, secret, _ = await accounts.create_token(db, "gateway", "call_taker", 30)
    auth = {"Authorization": f"Bearer {secret}"}
    assert await _status(client, "GET", "/api/v1/incidents", auth) == 200
    assert await access_change_heard(client, accounts.revoke_token(db, token_id))
    assert await _status(client, "GET", "/api/v1/incidents", auth) == 401

    token_id, secret, _ = await accounts.create_token(db, "old", "call_taker", 30)
    auth = {"Authorization": f"Bearer {secret}"}
    assert await _status(client, "GET", "/api/v1/incidents", auth) == 200
    await access_change_heard(client, db.execute(
        "UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE id = $1",
        token_id))
    assert await _status(client, "GET", "/api/v1/incidents", auth) == 401
    # Only the digest is stored, never the secret itself.
    stored = await db.fetch("SELECT token_hash::text AS h FROM api_tokens")
    assert all(secret not in r["h"] for r in stored)


async def test_session_cookie_csrf_and_actor(client: TestClient, db: asyncpg.Connection) -> None:
    await accounts.create_user(db, "siti", "call_taker", "rahasia-siti-112")
    # A browser keeps cookies for 127.0.0.1; aiohttp's jar must be told to.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.post(str(client.make_url("/api/v1/login")),
                             json={"username": "siti", "password": "rahasia-siti-112"}) as resp:
            assert resp.status == 200, await resp.text()
            me = await resp.json()
            cookie = resp.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        assert me["name"] == "siti" and me["role"] == "call_taker" and me["csrf"]
        report = {"caller_phone": "081234567890", "category": "medis", "priority": 1,
                  "location": {"lat": KANIGORO[0], "lon": KANIGORO[1]}}
        url = str(client.make_url("/api/v1/incidents"))
        async with http.post(url, json=report) as resp:
            assert resp.status == 403
            assert (await resp.json())["error"]["code"] == "csrf_failed"
        async with http.post(url, json=report, headers={"X-CSRF-Token": me["csrf"]}) as resp:
            assert resp.status == 201, await resp.text()
            incident = await resp.json()
        async with http.get(str(client.make_url("/api/v1/session"))) as resp:
            assert (await resp.json())["csrf"] == me["csrf"]
        async with http.post(str(client.make_url("/api/v1/logout")),
                             headers={"X-CSRF-Token": me["csrf"]}) as resp:
            assert resp.status == 204
        async with http.get(str(client.make_url("/api/v1/incidents"))) as resp:
            assert resp.status == 401  # the session is gone
    actor = await db.fetchval("SELECT actor FROM events WHERE kind = 'incident.created' "
                              "AND incident_id = $1", incident["id"])
    assert actor == "siti"  # the timeline names the person, not a free-text header
    assert await db.fetchval("SELECT count(*) FROM sessions WHERE user_id = "
                             "(SELECT id FROM users WHERE username = 'siti')") == 0


async def test_repeated_bad_passwords_slow_the_guesser(start_app: AppFactory,
                                                     db: asyncpg.Connection) -> None:
    """Throttled per username and address (tests/test_access_hardening.py has the rest)."""
    client = await start_app(auth={"login_free_attempts": 2, "login_delay_s": 60.0})
    await accounts.create_user(db, "budi", "dispatcher", "benar-sekali-112")
    url = "/api/v1/login"
    for _ in range(3):  # two free attempts, the third starts the delay
        assert await _status(client, "POST", url, {},
                             json={"username": "budi", "password": "salah"}) == 401
    async with aiohttp.ClientSession() as http, http.post(
            str(client.make_url(url)),
            json={"username": "budi", "password": "benar-sekali-112"}) as resp:
        assert resp.status == 429  # from this address, even the right password waits
        assert (await resp.json())["error"]["code"] == "login_throttled"
        assert 1 <= int(resp.headers["Retry-After"]) <= 60
    assert not await db.fetchval("SELECT count(*) FROM sessions")
    # An unknown name is refused the same way, and a disabled user cannot log in.
    assert await _status(client, "POST", url, {},
                         json={"username": "nobody", "password": "x"}) == 401
    await db.execute("DELETE FROM login_throttle")
    assert await accounts.disable_user(db, "budi")
    assert await _status(client, "POST", url, {},
                         json={"username": "budi", "password": "benar-sekali-112"}) == 401


async def test_a_responder_moves_only_its_own_unit(client: TestClient,
                                                   db: asyncpg.Connection) -> None:
    mine = await create_unit(client, "AMB-MINE", "ambulance", KANIGORO)
    other = await create_unit(client, "AMB-OTHER", "ambulance", WLINGI)
    auth = await bearer(db, "responder", name="rina", unit_id=mine["id"])
    assert await _status(client, "POST", f"/api/v1/units/{mine['id']}/status", auth,
                         json={"status": "out_of_service"}) == 200
    async with aiohttp.ClientSession(headers=auth) as http, http.put(
            str(client.make_url(f"/api/v1/units/{other['id']}/location")),
            json={"lat": -8.1, "lon": 112.2}) as resp:
        assert resp.status == 403
        assert (await resp.json())["error"]["code"] == "not_your_unit"
    assert await _status(client, "POST", f"/api/v1/units/{other['id']}/status", auth,
                         json={"status": "out_of_service"}) == 403
    rows = await db.fetch("SELECT id, status, lat FROM units ORDER BY id")
    assert [(r["status"], r["lat"]) for r in rows] == [
        ("out_of_service", KANIGORO[0]), ("available", WLINGI[0])]
    assert await db.fetchval("SELECT actor FROM events WHERE kind = 'unit.status' "
                             "AND unit_id = $1", mine["id"]) == "rina"
    await set_status(client, other["id"], "out_of_service")  # a dispatcher (admin) still can


async def test_pages_send_security_headers_and_have_no_inline_script(
        client: TestClient) -> None:
    for path in ("/", "/responder", "/supervisor", "/login"):
        resp = await client.get(path)
        assert resp.status == 200, path
        csp = resp.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["X-Frame-Options"] == "DENY"
    for page in STATIC_DIR.glob("*.html"):
        html = page.read_text(encoding="utf-8")
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), page.name
        assert not re.search(r"\son[a-z]+\s*=", html), page.name  # no inline handlers
        assert "style=" not in html, page.name


async def _cli(database_url: str, *args: str, stdin: bytes = b"") -> tuple[int, str, str]:
    env = {**os.environ, "SIAP112_DATABASE_URL": database_url,
           "SIAP112_REDIS_URL": "redis://127.0.0.1:1/0"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "dispatch", *args, env=env, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate(stdin)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_cli_creates_and_removes_access(client: TestClient, db: asyncpg.Connection,
                                              database_url: str) -> None:
    code, out, err = await _cli(database_url, "token", "create", "aml-gateway",
                                "--role", "call_taker", "--days", "7")
    assert code == 0, err
    secret = out.strip()
    token_id = int(re.search(r"id=(\d+)", err).group(1))  # type: ignore[union-attr]
    auth = {"Authorization": f"Bearer {secret}"}
    assert await _status(client, "GET", "/api/v1/calls", auth) == 200
    assert await _status(client, "POST", "/api/v1/units", auth, json={}) == 403
    code, _, err = await access_change_heard(
        client, _cli(database_url, "token", "revoke", str(token_id)))
    assert code == 0, err
    assert await _status(client, "GET", "/api/v1/calls", auth) == 401

    code, out, err = await _cli(database_url, "user", "create", "dewi", "--role", "supervisor")
    assert code == 0, err
    password = re.search(r"password=(\S+)", out).group(1)  # type: ignore[union-attr]
    assert await _status(client, "POST", "/api/v1/login", {},
                         json={"username": "dewi", "password": password}) == 200
    code, _, err = await _cli(database_url, "user", "create", "dewi", "--role", "supervisor")
    assert code == 2 and "exists already" in err
    code, _, err = await _cli(database_url, "user", "create", "rudi", "--role", "responder")
    assert code == 2 and "--unit is required" in err
    code, out, err = await _cli(database_url, "user", "create", "eko", "--role", "dispatcher",
                                "--password-stdin", stdin=b"sandi-eko-112\n")
    assert code == 0 and "password" not in out, (out, err)
    assert await _status(client, "POST", "/api/v1/login", {},
                         json={"username": "eko", "password": "sandi-eko-112"}) == 200
    code, _, err = await _cli(database_url, "user", "disable", "dewi")
    assert code == 0, err
    assert await _status(client, "POST", "/api/v1/login", {},
                         json={"username": "dewi", "password": password}) == 401


async def test_login_and_intake_are_rate_limited(start_app: AppFactory,
                                                 db: asyncpg.Connection) -> None:
    client = await start_app(auth={"login_per_minute": 3, "intake_per_minute": 2})
    wrong = {"username": "nobody", "password": "guess"}
    for _ in range(3):
        assert await _status(client, "POST", "/api/v1/login", {}, json=wrong) == 401
    async with aiohttp.ClientSession() as http, http.post(
            str(client.make_url("/api/v1/login")), json=wrong) as resp:
        assert resp.status == 429
        assert (await resp.json())["error"]["code"] == "rate_limited"
    report = {"caller_phone": "081234567890", "category": "medis", "priority": 1,
              "location": {"lat": KANIGORO[0], "lon": KANIGORO[1]}}
    taker = await bearer(db, "call_taker", name="fast-fingers")
    for expected in (201, 201, 429):
        assert await _status(client, "POST", "/api/v1/incidents", taker,
                             json=report) == expected
    # Another token from the same address shares the address's allowance.
    other = await bearer(db, "call_taker", name="second-desk")
    assert await _status(client, "POST", "/api/v1/incidents", other, json=report) == 429
    assert await db.fetchval("SELECT count(*) FROM incidents") == 2  # nothing more stored


def test_a_bucket_refills_at_its_rate() -> None:
    limiter = Limiter(per_minute=60)  # one a second, bursts of 60
    assert all(limiter.take("k", now=0.0) == 0 for _ in range(60))
    assert limiter.take("k", now=0.0) == pytest.approx(1.0)
    assert limiter.take("k", now=1.0) == 0  # a second later, one more
    assert limiter.take("other", now=1.0) == 0  # keys are independent
    assert Limiter(per_minute=0).take("k") == 0  # 0 turns the limit off
