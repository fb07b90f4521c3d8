"""Access hardening: what an attacker or a clumsy client notices, over real HTTP.

Login throttling that cannot be turned against staff, safe redirects after login,
responders reading only their own unit's incidents, CSV that no spreadsheet runs
as formulas, media types, read timeouts, client hang-ups, per-principal
idempotency keys, cache and retry headers, the accounts CLI, and aiohttp's own
errors in the JSON log. The log and timeout tests drive a real ``siap112 serve``
process over raw sockets.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import re
import socket
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from dispatch.store import accounts
from dispatch.web.auth import safe_next
from tests.conftest import AppFactory
from tests.helpers import KANIGORO, WLINGI, bearer, create_incident, create_unit, post_json

LOGIN = "/api/v1/login"
PASSWORD = "benar-sekali-112"
OTHER_ADDRESS = "127.0.0.2"  # loopback too: the owner's own, known-good machine


async def _login(client: TestClient, username: str, password: str, *,
                 local_addr: str | None = None, **extra: Any) -> aiohttp.ClientResponse:
    """POST /api/v1/login from ``local_addr`` (a different client address); body read."""
    connector = aiohttp.TCPConnector(local_addr=(local_addr, 0) if local_addr else None)
    async with aiohttp.ClientSession(connector=connector) as http, http.post(
            str(client.make_url(LOGIN)),
            json={"username": username, "password": password, **extra}) as resp:
        await resp.read()
        return resp


async def _cli(database_url: str, *args: str) -> tuple[int, str, str]:
    env = {**os.environ, "SIAP112_DATABASE_URL": database_url,
           "SIAP112_REDIS_URL": "redis://127.0.0.1:1/0"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "dispatch", *args, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


# --- login ------------------------------------------------------------------

async def test_parallel_guesses_check_few_passwords_and_never_lock_the_owner_out(
        start_app: AppFactory, db: asyncpg.Connection, database_url: str) -> None:
    # The defaults but a first delay of 5 s (not 1 s), so that on a loaded machine all 20
    # guesses surely arrive before it has run out.
    client = await start_app(auth={"login_delay_s": 5.0})
    await accounts.create_user(db, "budi", "dispatcher", PASSWORD)
    async with aiohttp.ClientSession() as http:
        async def guess(i: int) -> tuple[int, str | None]:
            async with http.post(str(client.make_url(LOGIN)),
                                 json={"username": "budi", "password": f"salah-{i}"}) as r:
                await r.read()
                return r.status, r.headers.get("Retry-After")

        answers = await asyncio.gather(*(guess(i) for i in range(20)))
    statuses = [s for s, _ in answers]
    checked = statuses.count(401)  # each 401 is one password actually checked
    assert set(statuses) <= {401, 429}, statuses
    assert 1 <= checked <= 3 + 1, statuses  # login_free_attempts (3) + the one that set a delay
    assert statuses.count(429) == 20 - checked
    # The database counted exactly the attempts that were let through to a check.
    assert await db.fetchval("SELECT attempts FROM login_throttle WHERE username = 'budi'"
                             ) == checked
    assert all(1 <= int(ra) <= 30 for s, ra in answers if s == 429), answers  # type: ignore[arg-type]
    # From the guesser's address even the right password waits a little...
    assert (await _login(client, "budi", PASSWORD)).status == 429
    # ...but the owner at another address logs straight in.
    resp = await _login(client, "budi", PASSWORD, local_addr=OTHER_ADDRESS)
    assert resp.status == 200
    assert await db.fetchval("SELECT count(*) FROM sessions") == 1
    # An admin can lift the throttle at once.
    code, out, err = await _cli(database_url, "user", "unlock", "budi")
    assert code == 0, err
    assert "unlocked" in out
    assert (await _login(client, "budi", PASSWORD)).status == 200
    code, _, err = await _cli(database_url, "user", "unlock", "nobody-here")
    assert code == 2 and "no user" in err and "Traceback" not in err


async def test_the_delay_grows_and_is_capped(start_app: AppFactory,
                                             db: asyncpg.Connection) -> None:
    client = await start_app(auth={"login_free_attempts": 1, "login_delay_s": 2.0,
                                   "login_delay_max_s": 30.0})
    await accounts.create_user(db, "sari", "call_taker", PASSWORD)
    delays, waits = [], []
    assert (await _login(client, "sari", "salah")).status == 401  # the free attempt
    for _ in range(7):
        assert (await _login(client, "sari", "salah")).status == 401  # checked, sets a delay
        # The delay the checked attempt set, as stored (set and stamped in one statement).
        delays.append(await db.fetchval(
            "SELECT round(extract(epoch FROM next_at - updated_at))::int FROM login_throttle"
            " WHERE username = 'sari'"))
        resp = await _login(client, "sari", "salah")
        assert resp.status == 429
        # Retry-After is what is left of that delay: a loaded machine may have used a
        # second of it on the password check, never more than the delay itself.
        waits.append(int(resp.headers["Retry-After"]))
        # Time passes: the delay runs out (the database's clock, not a sleep).
        await db.execute("UPDATE login_throttle SET next_at = clock_timestamp()")
    assert delays == [2, 4, 8, 16, 30, 30, 30], delays
    assert all(1 <= w <= d for w, d in zip(waits, delays, strict=True)), (waits, delays)
    assert waits[3] > waits[2] and waits[-1] > waits[2], waits  # it grows, then the cap


async def test_unknown_and_known_usernames_answer_alike(start_app: AppFactory,
                                                        db: asyncpg.Connection) -> None:
    client = await start_app(auth={"login_free_attempts": 2, "login_address_free_attempts": 0})
    await accounts.create_user(db, "dewi", "supervisor", PASSWORD)
    bodies: dict[str, list[tuple[int, str]]] = {}
    for name in ("dewi", "tidak-ada"):
        for _ in range(4):
            resp = await _login(client, name, "salah")
            body = json.loads(await resp.text())
            bodies.setdefault(name, []).append((resp.status, body["error"]["code"]))
    assert bodies["dewi"] == bodies["tidak-ada"], bodies
    assert [s for s, _ in bodies["dewi"]] == [401, 401, 401, 429]
    # Both pay for an argon2 verification: an unknown name is not answered faster.
    # Attempts alternate, so a busy machine slows both series alike.
    await db.execute("DELETE FROM login_throttle")
    client = await start_app(auth={"login_free_attempts": 100})
    times: dict[str, list[float]] = {"dewi": [], "tidak-ada": []}
    for _ in range(7):
        for name, series in times.items():
            started = time.perf_counter()
            assert (await _login(client, name, "salah")).status == 401
            series.append(time.perf_counter() - started)
    known, unknown = statistics.median(times["dewi"]), statistics.median(times["tidak-ada"])
    assert unknown > known / 3, (known, unknown)


async def test_login_takes_json_only(client: TestClient, db: asyncpg.Connection) -> None:
    """A plain HTML form on another site cannot log a browser in (login CSRF)."""
    await accounts.create_user(db, "eko", "dispatcher", PASSWORD)
    url = str(client.make_url(LOGIN))
    body = json.dumps({"username": "eko", "password": PASSWORD})
    async with aiohttp.ClientSession() as http:
        for content_type, data in (("text/plain", body),
                                   ("application/x-www-form-urlencoded",
                                    f"username=eko&password={PASSWORD}"),
                                   ("multipart/form-data; boundary=x", body)):
            async with http.post(url, data=data, headers={"Content-Type": content_type}) as r:
                assert r.status == 415, (content_type, await r.text())
                assert (await r.json())["error"]["code"] == "unsupported_media_type"
                assert "Set-Cookie" not in r.headers
        async with http.post(url, data=body,
                             headers={"Content-Type": "application/json; charset=utf-8"}) as r:
            assert r.status == 200
    assert await db.fetchval("SELECT count(*) FROM sessions") == 1


@pytest.mark.parametrize("raw", [
    "/%5Cevil.example/phish", "/\\evil.example/phish", "/\tevil.example", "/%09/evil.example",
    "//evil.example", "/%2F/evil.example", "/%252F%252Fevil.example", "https://evil.example/",
    "javascript:alert(1)", "/%0A/evil.example", "evil.example", "",
])
def test_unsafe_next_becomes_the_console(raw: str) -> None:
    assert safe_next(raw) == "/"


def test_safe_next_keeps_paths_on_this_site() -> None:
    for raw in ("/", "/supervisor?x=1", "/responder", "/?incident=12#map"):
        assert safe_next(raw) == raw


async def test_login_answers_next_only_when_it_stays_on_this_site(
        client: TestClient, db: asyncpg.Connection) -> None:
    await accounts.create_user(db, "fitri", "supervisor", PASSWORD)
    for raw, expected in (("/supervisor?x=1", "/supervisor?x=1"),
                          ("/%5Cevil.example/phish", "/"), ("/%09/evil.example", "/")):
        async with aiohttp.ClientSession() as http, http.post(
                str(client.make_url(LOGIN)),
                json={"username": "fitri", "password": PASSWORD, "next": raw}) as resp:
            assert resp.status == 200
            assert (await resp.json())["next"] == expected


# --- who reads what -----------------------------------------------------------

async def test_a_responder_reads_only_its_own_units_incidents(
        start_app: AppFactory, db: asyncpg.Connection) -> None:
    client = await start_app(dispatch={"run_in_web": False})
    mine = await create_unit(client, "AMB-MINE", "ambulance", KANIGORO)
    await create_unit(client, "AMB-OTHER", "ambulance", WLINGI)
    own = await create_incident(client, KANIGORO, address="Jl. Anggrek 1")
    other = await create_incident(client, WLINGI, address="Jl. Rahasia 9",
                                  description="not for this crew")
    await post_json(client, f"/api/v1/incidents/{own['id']}/assignments",
                    {"unit_id": mine["id"]}, 201)
    auth = await bearer(db, "responder", name="rina", unit_id=mine["id"])
    async with aiohttp.ClientSession(headers=auth) as http:
        async def get(path: str) -> tuple[int, Any]:
            async with http.get(str(client.make_url(path))) as r:
                return r.status, (await r.json() if r.content_type == "application/json"
                                  else await r.text())

        status, listed = await get("/api/v1/incidents?limit=1000")
        assert status == 200
        assert [i["id"] for i in listed["items"]] == [own["id"]]
        status, _ = await get("/api/v1/incidents?status=open&limit=1000")
        assert status == 200
        assert (await get(f"/api/v1/incidents/{own['id']}"))[0] == 200
        status, body = await get(f"/api/v1/incidents/{other['id']}")
        assert status == 404 and "Rahasia" not in json.dumps(body)
        # Every other read path is closed to a responder altogether.
        for path in (f"/api/v1/incidents/{other['id']}/candidates",
                     f"/api/v1/incidents/{other['id']}/cap",
                     f"/api/v1/incidents/{other['id']}/eido", "/api/v1/calls",
                     "/api/v1/calls/1", "/api/v1/aml",
                     f"/api/v1/duplicates?lat={WLINGI[0]}&lon={WLINGI[1]}",
                     "/api/v1/reports/incidents.csv", "/api/v1/reports/response-times",
                     "/api/v1/audit", "/api/v1/stats/response-times"):
            status, body = await get(path)
            assert status in {403, 404}, (path, status)
            assert "Rahasia" not in json.dumps(body), path


async def test_masked_roles_cannot_search_by_phone(client: TestClient,
                                                   db: asyncpg.Connection) -> None:
    await post_json(client, "/api/v1/calls",
                    {"caller_phone": "085711112222", "disposition": "prank"}, 201)
    supervisor = await bearer(db, "supervisor", name="sup")
    dispatcher = await bearer(db, "dispatcher", name="disp")
    async with aiohttp.ClientSession() as http:
        for path in ("/api/v1/calls?phone=085711112222", "/api/v1/aml?phone=085711112222"):
            async with http.get(str(client.make_url(path)), headers=supervisor) as r:
                assert r.status == 403, path
                assert (await r.json())["error"]["field"] == "phone"
            async with http.get(str(client.make_url(path)), headers=dispatcher) as r:
                assert r.status == 200, path
        async with http.get(str(client.make_url("/api/v1/calls")), headers=supervisor) as r:
            assert r.status == 200
            assert [c["caller_phone"] for c in (await r.json())["items"]] == ["*********222"]


# --- CSV ------------------------------------------------------------------------

NASTY = ["Jl. Mawar;=1+1;", "=HYPERLINK(\"http://evil.example\")", "@SUM(A1)", "+62 812",
         "-2+3", "Gang 3, =cmd|' /C calc'!A0", "Jl. \"Kutip\" 7"]


async def test_csv_export_runs_no_formula_with_either_separator(client: TestClient) -> None:
    for address in NASTY:
        await create_incident(client, KANIGORO, address=address)
    for sep in (",", ";"):  # the default, and the one for Excel with Indonesian settings
        resp = await client.get(f"/api/v1/reports/incidents.csv?from=2000-01-01T00:00:00Z"
                                f"&sep={sep}")
        assert resp.status == 200
        assert resp.headers["Cache-Control"] == "no-store"
        text = (await resp.text()).removeprefix("\ufeff")
        rows = list(csv.reader(io.StringIO(text), delimiter=sep))
        header, data = rows[0], rows[1:]
        addresses = {r[header.index("Alamat")] for r in data}
        assert len(data) == len(NASTY) and all(len(r) == len(header) for r in data)
        assert addresses == {"Jl. Mawar;'=1+1;", "'=HYPERLINK(\"http://evil.example\")",
                             "'@SUM(A1)", "'+62 812", "'-2+3", "Gang 3, '=cmd|' /C calc'!A0",
                             "Jl. \"Kutip\" 7"}
        for delimiter in (",", ";"):
            for row in csv.reader(io.StringIO(text), delimiter=delimiter):
                for cell in row:
                    assert not cell.startswith(("=", "+", "@", "\t", "\r")), (delimiter, cell)
                    if cell.startswith("-"):
                        # only a negative number (a latitude) may start with -
                        float(cell.replace(",", ".") if sep == ";" else cell)


def test_line_breaks_and_tabs_in_a_cell_start_no_formula() -> None:
    """Split as a careless import does: at every separator and line break, quotes ignored."""
    from dispatch.settings import load_settings
    from dispatch.web.reports import CsvStyle

    style = CsvStyle("id", "WIB", ",", load_settings(env={}).runcards)
    out = io.StringIO()
    csv.writer(out, quoting=csv.QUOTE_NONNUMERIC).writerow(
        [style.cell("address", v) for v in ("a\n=1+1", "\t=1+1", "\r@x", "b\r\n  +1",
                                             "c;\t-1+1")] + [style.cell("lat", -8.1)])
    for separator in (",", ";", "\t"):
        for line in re.split(r"\r\n|\r|\n", out.getvalue()):
            for cell in line.split(separator):
                text = cell.lstrip(' "\t')
                assert not text.startswith(("=", "+", "@")), (separator, cell)
                if text.startswith("-"):
                    float(text)


# --- media types, idempotency, headers --------------------------------------------

REPORT = {"caller_phone": "081234567890", "category": "medis", "priority": 1,
          "location": {"lat": KANIGORO[0], "lon": KANIGORO[1]}}


async def test_json_endpoints_refuse_other_media_types(client: TestClient,
                                                       db: asyncpg.Connection) -> None:
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "text/xml"):
        resp = await client.post("/api/v1/incidents", data=json.dumps(REPORT),
                                 headers={"Content-Type": content_type})
        assert resp.status == 415, content_type
        assert (await resp.json())["error"]["allowed"] == ["application/json"]
    assert await db.fetchval("SELECT count(*) FROM incidents") == 0
    # The AML endpoint keeps its documented transports: the HTTPS form and JSON SMS.
    resp = await client.post("/api/v1/aml", data={
        "v": "3", "device_number": "+6281234567890", "location_latitude": "-8.0791",
        "location_longitude": "112.3252", "location_accuracy": "40",
        "location_time": str(int(time.time() * 1000)), "location_source": "gps"})
    assert resp.status == 201, await resp.text()
    resp = await client.post("/api/v1/aml", json={"sender": "+6281234567890", "text": "x"})
    assert resp.status == 422  # parsed, refused as a malformed SMS: not a 415
    resp = await client.post("/api/v1/aml", data="x", headers={"Content-Type": "text/plain"})
    assert resp.status == 415


async def test_idempotency_keys_belong_to_their_principal(client: TestClient,
                                                          db: asyncpg.Connection) -> None:
    key = str(uuid.uuid4())
    first, second = await bearer(db, "call_taker", "desk-1"), await bearer(db, "call_taker",
                                                                          "desk-2")
    async with aiohttp.ClientSession() as http:
        async def post(auth: dict[str, str], body: dict[str, Any]) -> tuple[int, Any, str]:
            async with http.post(str(client.make_url("/api/v1/incidents")), json=body,
                                 headers={**auth, "Idempotency-Key": key}) as r:
                return r.status, await r.json(), r.headers.get("Idempotent-Replayed", "")

        s1, a, _ = await post(first, REPORT)
        s2, b, replayed = await post(second, dict(REPORT, priority=2))
        assert (s1, s2, replayed) == (201, 201, "false")  # two requests, two incidents
        assert a["id"] != b["id"] and b["priority"] == 2
        s3, c, replayed = await post(first, REPORT)
        assert (s3, c["id"], replayed) == (201, a["id"], "true")  # the first desk's retry
    assert await db.fetchval("SELECT count(*) FROM incidents") == 2


async def test_every_429_says_when_to_retry(start_app: AppFactory,
                                            db: asyncpg.Connection) -> None:
    client = await start_app(auth={"login_per_minute": 1, "intake_per_minute": 1})
    taker = await bearer(db, "call_taker", name="fast")
    async with aiohttp.ClientSession(headers=taker) as http:
        statuses = []
        for _ in range(2):
            async with http.post(str(client.make_url("/api/v1/incidents")), json=REPORT) as r:
                statuses.append(r.status)
                retry_after = r.headers.get("Retry-After")
        assert statuses == [201, 429]
        assert retry_after is not None and 1 <= int(retry_after) <= 60
    for expected in (401, 429):
        resp = await _login(client, "nobody", "x")
        assert resp.status == expected
    assert 1 <= int(resp.headers["Retry-After"]) <= 60


async def test_api_answers_are_not_stored_by_caches(client: TestClient) -> None:
    incident = await create_incident(client, KANIGORO)
    for path in ("/api/v1/incidents", f"/api/v1/incidents/{incident['id']}",
                 f"/api/v1/incidents/{incident['id']}/cap",
                 f"/api/v1/incidents/{incident['id']}/eido", "/api/v1/incidents/999999",
                 "/api/v1/calls", "/api/v1/reports/incidents.csv", "/api/v1/meta"):
        resp = await client.get(path)
        assert resp.headers.get("Cache-Control") == "no-store", (path, resp.status)
    async with aiohttp.ClientSession() as http, http.get(
            str(client.make_url("/api/v1/incidents"))) as resp:
        assert resp.status == 401 and resp.headers["Cache-Control"] == "no-store"


async def test_every_405_names_the_allowed_methods(client: TestClient) -> None:
    for method, path, allowed in (("DELETE", "/api/v1/incidents", {"GET", "POST"}),
                                  ("PUT", "/api/v1/calls", {"GET", "POST"}),
                                  ("POST", "/api/v1/meta", {"GET"})):
        resp = await client.request(method, path)
        assert resp.status == 405, (method, path)
        assert allowed <= {m.strip() for m in resp.headers["Allow"].split(",")}
        assert (await resp.json())["error"]["code"] == "method_not_allowed"


# --- the accounts CLI -------------------------------------------------------------

async def test_token_lifetime_is_bounded_with_a_clear_error(database_url: str,
                                                            db: asyncpg.Connection) -> None:
    for days in ("-5", "0", "3651", "3000000", "ten"):
        code, out, err = await _cli(database_url, "token", "create", "gateway", "--role",
                                    "call_taker", "--days", days)
        assert code == 2, (days, err)
        assert "--days" in err and "Traceback" not in err and not out, (days, err)
    assert await db.fetchval("SELECT count(*) FROM api_tokens") == 0
    code, out, err = await _cli(database_url, "token", "create", "gateway", "--role",
                                "call_taker", "--days", "3650")
    assert code == 0 and out.startswith("s112_"), err


async def test_the_systems_own_names_are_refused(database_url: str,
                                                 db: asyncpg.Connection) -> None:
    for args in (("token", "create", "system", "--role", "admin"),
                 ("token", "create", "System ", "--role", "admin"),
                 ("token", "create", "dispatcher-2", "--role", "dispatcher"),
                 ("token", "create", "relay", "--role", "admin"),
                 ("user", "create", "anonymous", "--role", "supervisor"),
                 ("user", "create", "dispatcher", "--role", "dispatcher"),
                 ("user", "create", "purge", "--role", "admin")):
        code, _, err = await _cli(database_url, *args)
        assert code == 2 and "reserved" in err and "Traceback" not in err, (args, err)
    assert await db.fetchval("SELECT count(*) FROM api_tokens") == 0
    assert await db.fetchval("SELECT count(*) FROM users") == 0
    # The database keeps the rule too, whoever writes the row.
    with pytest.raises(asyncpg.CheckViolationError, match="not_reserved"):
        await db.execute("INSERT INTO api_tokens (name, token_hash, role, expires_at) "
                         "VALUES ('system', '\\x00', 'admin', now())")
    # Names that merely contain a reserved word are fine.
    code, _, err = await _cli(database_url, "user", "create", "demo_dispatcher", "--role",
                              "dispatcher")
    assert code == 0, err


# --- a real `siap112 serve`: timeouts, hang-ups and the log ----------------------------

@dataclass
class Served:
    """A `siap112 serve` process and the JSON lines of its log, read as they come."""

    port: int
    proc: asyncio.subprocess.Process
    lines: list[str] = field(default_factory=list)

    async def wait_for(self, predicate: Callable[[dict[str, Any]], bool], count: int = 1,
                       timeout: float = 20.0) -> dict[str, Any]:
        """The ``count``-th log event (from the start) matching ``predicate``."""
        async def scan() -> dict[str, Any]:
            seen, matched = 0, 0
            while True:
                while seen < len(self.lines):
                    event = json.loads(self.lines[seen])
                    seen += 1
                    matched += predicate(event)
                    if matched == count:
                        return event
                assert self.proc.stderr is not None
                raw = await self.proc.stderr.readline()
                assert raw, "the server exited:\n" + "".join(self.lines)
                self.lines.append(raw.decode())

        return await asyncio.wait_for(scan(), timeout)

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines]

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection("127.0.0.1", self.port)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
async def served(database_url: str, redis_url: str, stream_key: str,
                 db: asyncpg.Connection) -> AsyncIterator[Served]:
    port = _free_port()
    env = {**os.environ, "SIAP112_DATABASE_URL": database_url, "SIAP112_REDIS_URL": redis_url,
           "SIAP112_REDIS_STREAM_KEY": stream_key, "SIAP112_HTTP_PORT": str(port),
           "SIAP112_HTTP_REQUEST_TIMEOUT_S": "2", "SIAP112_LOG_FORMAT": "json",
           "SIAP112_LOG_LEVEL": "info", "SIAP112_DISPATCH_RUN_IN_WEB": "false",
           "SIAP112_RELAY_RUN_IN_WEB": "false"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "dispatch", "serve", env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    server = Served(port, proc)
    try:
        await server.wait_for(lambda e: e.get("event") == "serve.listening")
        yield server
    finally:
        if proc.returncode is None:
            proc.terminate()
        assert proc.stderr is not None
        rest = await asyncio.wait_for(proc.stderr.read(), 30)
        server.lines += rest.decode().splitlines(keepends=True)
        await proc.wait()
    # Every line the service wrote is one JSON object: nothing multi-line, no traceback.
    for line in server.lines:
        assert isinstance(json.loads(line), dict), line


async def _read_all(reader: asyncio.StreamReader, timeout: float = 15.0) -> bytes:
    """Everything the server sends until it closes the connection."""
    return await asyncio.wait_for(reader.read(), timeout)


async def test_half_sent_requests_are_closed(served: Served) -> None:
    # Headers never finished: the connection is closed without an answer.
    reader, writer = await served.connect()
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: siap112\r\nX-Slow: 1\r\n")
    await writer.drain()
    assert await _read_all(reader) == b""
    writer.close()
    # Headers complete, the body never finishes: 408, then closed.
    reader, writer = await served.connect()
    writer.write(b"POST /api/v1/login HTTP/1.1\r\nHost: siap112\r\n"
                 b"Content-Type: application/json\r\nContent-Length: 200\r\n\r\n{\"user")
    await writer.drain()
    answer = await _read_all(reader)
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert b'"request_timeout"' in answer and b"Cache-Control: no-store" in answer
    writer.close()
    # Meanwhile, and after, the service answers whole requests as ever.
    reader, writer = await served.connect()
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: siap112\r\nConnection: close\r\n\r\n")
    assert (await _read_all(reader)).startswith(b"HTTP/1.1 200 ")
    writer.close()


async def test_a_client_hanging_up_mid_body_is_not_a_database_outage(served: Served) -> None:
    reader, writer = await served.connect()
    writer.write(b"POST /api/v1/login HTTP/1.1\r\nHost: siap112\r\n"
                 b"Content-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"username\"")
    await writer.drain()
    writer.close()
    await writer.wait_closed()
    gone = await served.wait_for(lambda e: e.get("event") == "http.client_disconnected")
    assert gone["path"] == "/api/v1/login"
    reader, writer = await served.connect()
    writer.write(b"GET /readyz HTTP/1.1\r\nHost: siap112\r\nConnection: close\r\n\r\n")
    assert (await _read_all(reader)).startswith(b"HTTP/1.1 200 ")
    writer.close()
    await served.wait_for(lambda e: e.get("event") == "http.request"
                          and e.get("path") == "/readyz")
    assert not [e for e in served.events() if e.get("event") == "request.db_unavailable"]


async def test_malformed_requests_are_one_json_log_line(served: Served) -> None:
    for request in (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n",
                    b"GET /" + b"b" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"):
        reader, writer = await served.connect()
        writer.write(request)
        await writer.drain()
        answer = await _read_all(reader)
        assert re.match(rb"HTTP/1\.[01] 400 ", answer), answer[:200]
        writer.close()
    await served.wait_for(lambda e: e.get("event") == "http.bad_request", count=2)
    bad = [e for e in served.events() if e.get("event") == "http.bad_request"]
    assert len(bad) == 2, bad
    assert all("exception" not in e and e["error"] == "LineTooLong" for e in bad), bad
