"""The principal cache (dispatch/web/principals.py): requests of a token or session seen
lately are not read from the tables again, and every change to access still refuses
the next request, whichever process made it."""

from __future__ import annotations

import asyncio
import sys

import aiohttp
import asyncpg
from aiohttp.test_utils import TestClient

from dispatch import keys
from dispatch.store import accounts
from dispatch.web.principals import PrincipalCache
from tests.conftest import AppFactory
from tests.helpers import access_change_heard, until

# Long enough that only a notification can empty the cache within a test.
LONG = {"auth": {"principal_cache_s": 300.0}}


async def _status(client: TestClient, path: str, headers: dict[str, str]) -> int:
    async with aiohttp.ClientSession(headers=headers) as http, http.get(
            str(client.make_url(path))) as resp:
        return resp.status


async def _listening(client: TestClient) -> None:
    cache = client.app[keys.PRINCIPALS]  # type: ignore[index]

    async def probe() -> bool:
        return cache.listening

    await until(probe, timeout=10.0)


async def _cached_token(start_app: AppFactory, db: asyncpg.Connection, name: str
                        ) -> tuple[TestClient, PrincipalCache, int, dict[str, str]]:
    """A listening app, and a token it has just seen once (so its principal is cached)."""
    client = await start_app(**LONG)
    await _listening(client)
    cache = client.app[keys.PRINCIPALS]  # type: ignore[index]
    token_id, secret, _ = await accounts.create_token(db, name, "call_taker", 30)
    auth = {"Authorization": f"Bearer {secret}"}
    assert await _status(client, "/api/v1/incidents", auth) == 200
    return client, cache, token_id, auth


async def _user_app(start_app: AppFactory, db: asyncpg.Connection, name: str, role: str
                    ) -> tuple[TestClient, str]:
    """A listening app with one user; returns it and the user's password."""
    client = await start_app(**LONG)
    await _listening(client)
    password = f"sandi-{name}-112"
    await accounts.create_user(db, name, role, password)
    return client, password


async def _log_in(http: aiohttp.ClientSession, client: TestClient, name: str,
                  password: str) -> str:
    """Log in with ``http`` (its cookie jar keeps the session); the CSRF token."""
    async with http.post(str(client.make_url("/api/v1/login")),
                         json={"username": name, "password": password}) as resp:
        assert resp.status == 200
        return str((await resp.json())["csrf"])


async def _cli(database_url: str, *args: str) -> int:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "dispatch", *args,
        env={"SIAP112_DATABASE_URL": database_url, "SIAP112_REDIS_URL": "redis://127.0.0.1:1/0",
             "PATH": "/usr/bin:/bin"},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode


async def test_a_token_revoked_by_the_cli_is_refused_although_it_was_cached(
        start_app: AppFactory, db: asyncpg.Connection, database_url: str) -> None:
    client, cache, token_id, auth = await _cached_token(start_app, db, "aml-gateway")
    hits = cache.hits
    for _ in range(5):
        assert await _status(client, "/api/v1/incidents", auth) == 200
    assert cache.hits == hits + 5  # served without reading api_tokens again
    # Another process (an admin at the command line) revokes it.
    code = await access_change_heard(client, _cli(database_url, "token", "revoke",
                                                  str(token_id)))
    assert code == 0
    assert await _status(client, "/api/v1/incidents", auth) == 401
    # A token that reaches its expiry while cached is refused by the time alone.
    token_id, secret, _ = await accounts.create_token(db, "pbx", "call_taker", 30)
    auth = {"Authorization": f"Bearer {secret}"}
    assert await _status(client, "/api/v1/incidents", auth) == 200
    await access_change_heard(client, db.execute(
        "UPDATE api_tokens SET expires_at = clock_timestamp() + interval '300 ms' "
        "WHERE id = $1", token_id))
    assert await _status(client, "/api/v1/incidents", auth) == 200  # cached again, valid

    async def refused() -> bool:
        return await _status(client, "/api/v1/incidents", auth) == 401

    await until(refused, timeout=5.0)  # its expires_at passing: nothing else changes


async def test_a_disabled_users_cached_session_is_refused(
        start_app: AppFactory, db: asyncpg.Connection, database_url: str) -> None:
    client, password = await _user_app(start_app, db, "sari", "dispatcher")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        await _log_in(http, client, "sari", password)
        for _ in range(3):
            async with http.get(str(client.make_url("/api/v1/units"))) as resp:
                assert resp.status == 200
        assert await access_change_heard(client, _cli(database_url, "user", "disable",
                                                      "sari")) == 0
        async with http.get(str(client.make_url("/api/v1/units"))) as resp:
            assert resp.status == 401


async def test_a_session_ended_by_logout_is_refused_at_once(
        start_app: AppFactory, db: asyncpg.Connection) -> None:
    client, password = await _user_app(start_app, db, "tono", "call_taker")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        csrf = await _log_in(http, client, "tono", password)
        async with http.get(str(client.make_url("/api/v1/calls"))) as resp:
            assert resp.status == 200
        cookies = http.cookie_jar.filter_cookies(client.make_url("/"))
        async with http.post(str(client.make_url("/api/v1/logout")),
                             headers={"X-CSRF-Token": csrf}) as resp:
            assert resp.status == 204
    # The old cookie, replayed at once (no waiting for a notification): refused.
    jar = {k: v.value for k, v in cookies.items()}
    async with aiohttp.ClientSession(cookies=jar) as http, http.get(
            str(client.make_url("/api/v1/calls"))) as resp:
        assert resp.status == 401


async def test_without_its_listener_the_cache_is_not_used(
        start_app: AppFactory, db: asyncpg.Connection) -> None:
    client, cache, token_id, auth = await _cached_token(start_app, db, "sms-gateway")
    # The listener's connection is cut (a PostgreSQL restart, a network fault).
    generation = cache.generation
    killed = await db.fetchval(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE application_name = 'siap112-access' AND pid <> pg_backend_pid()")
    assert killed >= 1
    async with asyncio.timeout(10):
        await cache.cleared_since(generation)  # emptied the moment it was lost
    await _listening(client)  # and listening again, by the supervised loop
    ready = await (await client.get("/readyz")).json()
    assert ready["loops"]["access"]["state"] == "ok"
    assert await _status(client, "/api/v1/incidents", auth) == 200
    await access_change_heard(client, accounts.revoke_token(db, token_id))
    assert await _status(client, "/api/v1/incidents", auth) == 401
