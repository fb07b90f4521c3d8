"""The measured phases: intake, dispatch, fan-out, memory, stats.

Each returns table rows; figures sit beside the baseline measured in the same run.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import asyncpg
import orjson
import structlog

from dispatch.benchmarks import board, load, service, stats_data
from dispatch.benchmarks.consoles import AUTH_ENV
from dispatch.benchmarks.rows import Row as Row
from dispatch.benchmarks.stats import p50_p99_ms, percentile

# Incident positions: Kanigoro-Talun-Wlingi, inside the regency and outside Kota Blitar.
LAT = (-8.15, -8.03)
LON = (112.22, 112.40)
SETTLE_TIMEOUT_S = 60.0
log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Sizes:
    concurrency: int
    intake_requests: int
    half_load_s: float
    raw_inserts: int
    fleet: int
    dispatch_rate: float
    dispatch_s: float
    consoles: int
    fanout_rate: float
    fanout_s: float
    memory_consoles: int
    nearest_sizes: tuple[int, ...]
    nearest_queries: int
    stats_incidents: int
    stats_repeats: int
    samples: int  # commit, XADD and geopy baseline samples
    cpu_events: int  # status changes measured for the CPU per event
    cpu_rate: float
    open_incidents: int  # on the board for the console's first load
    board_repeats: int
    road_grid_km: float = 6000.0  # the synthetic regency-sized road grid (benchmarks/roads.py)
    road_incidents: int = 200


FULL = Sizes(concurrency=8, intake_requests=3000, half_load_s=5, raw_inserts=20000,
             fleet=5000, dispatch_rate=100, dispatch_s=10, consoles=50, fanout_rate=200,
             fanout_s=5, memory_consoles=500, nearest_sizes=(100, 1000, 10_000, 100_000),
             nearest_queries=1000, stats_incidents=1_000_000, stats_repeats=5, samples=2000,
             cpu_events=200, cpu_rate=50, open_incidents=1000, board_repeats=5)
QUICK = Sizes(concurrency=8, intake_requests=80, half_load_s=0.5, raw_inserts=200, fleet=300,
              dispatch_rate=100, dispatch_s=0.3, consoles=5, fanout_rate=100, fanout_s=0.3,
              memory_consoles=20, nearest_sizes=(100, 1000), nearest_queries=50,
              stats_incidents=3000, stats_repeats=2, samples=50, cpu_events=10, cpu_rate=50,
              open_incidents=50, board_repeats=1,
              road_grid_km=500.0, road_incidents=20)


def incident_body(i: int) -> dict[str, Any]:
    """A medical call somewhere in the central regency."""
    rng = random.Random(i)
    return {"caller_phone": f"0812{i % 10**8:08d}", "category": "medis", "priority": 1 + i % 3,
            "location": {"lat": rng.uniform(*LAT), "lon": rng.uniform(*LON)},
            "address": "Jl. Raya (bench)", "description": "Pingsan, napas berat"}


# --- 1. intake --------------------------------------------------------------------

async def intake(db_url: str, redis_url: str, stream_key: str, sizes: Sizes) -> list[Row]:
    """Durable HTTP intake against raw inserts and a trivial aiohttp POST."""
    log.info("bench.phase", phase="intake")
    c = sizes.concurrency
    raw = await load.raw_insert_rate(db_url, sizes.raw_inserts, c)
    echo = await service.start_echo()
    try:
        echo_rate = await load.closed_loop(
            load.json_poster(echo.base_url + "/echo", incident_body, 201),
            sizes.intake_requests, c)
    finally:
        echo.stop()
    # The web process alone: a standalone dispatcher and relay would take the rest.
    svc = await service.start_service(db_url, redis_url, stream_key,
                                      SIAP112_DISPATCH_RUN_IN_WEB="false",
                                      SIAP112_RELAY_RUN_IN_WEB="false")
    try:
        post = load.json_poster(svc.base_url + "/api/v1/incidents", incident_body, 201,
                                svc.headers)
        await load.closed_loop(post, min(50, sizes.intake_requests), c)  # warm-up
        meter = service.CpuMeter({"web": svc.pid})
        rate = await load.closed_loop(post, sizes.intake_requests, c)
        intake_cpu = meter.per(sizes.intake_requests)
        latencies = await load.open_loop(post, rate / 2, sizes.half_load_s)
        # A second web process beside the first, the load split between them.
        second = await service.start_service(db_url, redis_url, stream_key,
                                             SIAP112_DISPATCH_RUN_IN_WEB="false",
                                             SIAP112_RELAY_RUN_IN_WEB="false")
        try:
            both = _split_poster([svc, second])
            await load.closed_loop(both, min(50, sizes.intake_requests), c)  # warm-up
            rate2 = await load.closed_loop(both, sizes.intake_requests, c)
        finally:
            second.stop()
    finally:
        svc.stop()
    await _reset(db_url)
    p99 = percentile(latencies, 0.99)
    share = rate / echo_rate
    return [
        Row("1. intake throughput (HTTP, durable)",
            f"{rate:,.0f} incidents/s ({c} clients, one web process) = {share:.1%} of the "
            f"trivial POST; CPU per intake: {intake_cpu}",
            f"raw asyncpg insert {raw:,.0f}/s ({c} conns); trivial aiohttp "
            f"POST {echo_rate:,.0f}/s", "≥ 30 % of the trivial POST", share >= 0.30),
        Row("1. intake latency at half load", f"{p50_p99_ms(latencies)} at {rate / 2:,.0f}/s",
            "—", "p99 < 50 ms", p99 < 0.050),
        Row("1. intake with two web processes",
            f"{rate2:,.0f} incidents/s = {rate2 / rate:.2f}× one process",
            f"one web process {rate:,.0f}/s (same run; {os.cpu_count()} cores, load generator "
            "on the same machine)", "— (recorded)", None),
    ]


def _split_poster(services: list[service.Process]) -> load.Send:
    """POST each incident to the web processes in turn."""
    posts = [load.json_poster(svc.base_url + "/api/v1/incidents", incident_body, 201,
                              svc.headers) for svc in services]

    async def send(http: aiohttp.ClientSession, i: int) -> None:
        await posts[i % len(posts)](http, i)

    return send


async def _reset(db_url: str) -> None:
    """Empty the operational tables (the queue and the unpublished outbox) between phases."""
    conn = await asyncpg.connect(db_url)
    try:
        await conn.execute("TRUNCATE events, assignments, incidents, units "
                           "RESTART IDENTITY CASCADE")
    finally:
        await conn.close()


# --- the live service: dispatch, memory, fan-out, stats ------------------------------

FLEET_SQL = """
INSERT INTO units (callsign, unit_type, agency, lat, lon, position_at)
SELECT $1::text || '-' || g, $2::text, 'Bench', $3::float8 + random() * ($4::float8 - $3),
       $5::float8 + random() * ($6::float8 - $5),
       clock_timestamp()
FROM generate_series(1, $7::int) g
RETURNING id
"""


async def _fleet(conn: asyncpg.Connection, prefix: str, unit_type: str, n: int) -> list[int]:
    rows = await conn.fetch(FLEET_SQL, prefix, unit_type, -8.35, -7.95, 111.95, 112.55, n)
    return [r["id"] for r in rows]


async def live(db_url: str, redis_url: str, stream_key: str, sizes: Sizes) -> list[Row]:
    """One service with its dispatcher and relay: every phase that needs them."""
    conn = await asyncpg.connect(db_url)
    try:
        await _fleet(conn, "AMB", "ambulance", sizes.fleet)
        # Each status change takes one unit out of service once: no ordering between
        # requests to the same unit, whatever their latency.
        police = await _fleet(conn, "POL", "police",
                              int(sizes.fanout_rate * sizes.fanout_s) + 1)
        spare = await _fleet(conn, "SAR", "police", 2 * sizes.cpu_events)
        # The topology the README recommends for a busy centre: the web process serves
        # HTTP and SSE only; the dispatcher and the relay are processes of their own.
        workers = [await service.start_worker(kind, db_url, redis_url, stream_key)
                   for kind in ("relay", "dispatcher")]
        svc = await service.start_service(db_url, redis_url, stream_key,
                                          SIAP112_DISPATCH_RUN_IN_WEB="false",
                                          SIAP112_RELAY_RUN_IN_WEB="false")
        try:
            pids = {"web": svc.pid, "relay": workers[0].pid, "dispatcher": workers[1].pid}
            rows = await _dispatch(svc, conn, db_url, sizes, pids)
            rows += await _memory(svc, sizes)
            rows += await _fanout(svc, conn, redis_url, police, sizes, pids)
            rows += await _cpu_per_event(svc, conn, spare, sizes)
            rows += await board.measure(svc, conn, sizes.open_incidents, sizes.board_repeats)
            rows += await _stats(svc, conn, sizes)
        finally:
            svc.stop()
            for worker in workers:
                worker.stop()
    finally:
        await conn.close()
    return rows


async def _post_incidents(svc: service.Process, rate: float, seconds: float, first: int,
                          refused: list[int] | None = None) -> list[int]:
    """POST incidents at ``rate``; the ids made. A 503 (the service overloaded) is counted
    in ``refused`` when given, and recorded beside the figure, instead of ending the run."""
    ids: list[int] = []

    async def send(http: aiohttp.ClientSession, i: int) -> None:
        async with http.post(svc.base_url + "/api/v1/incidents",
                             json=incident_body(first + i), headers=svc.headers) as resp:
            body = await resp.json()
            if resp.status == 503 and refused is not None:
                refused.append(i)
                return
            if resp.status != 201:
                raise RuntimeError(f"intake: {resp.status} {body}")
            ids.append(int(body["id"]))

    await load.open_loop(send, rate, seconds)
    return ids


DISPATCH_DELAYS_SQL = """
SELECT extract(epoch FROM min(a.dispatched_at) - i.logged_at)::float8 AS secs
FROM incidents i JOIN assignments a ON a.incident_id = i.id
WHERE i.id = ANY($1::bigint[])
GROUP BY i.id
"""


async def _settled(conn: asyncpg.Connection, query: str, *args: Any) -> None:
    """Until ``query`` is true (bounded): the service finishing work the bench started."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while not await conn.fetchval(query, *args):
        if time.monotonic() > deadline:
            raise TimeoutError(f"not settled in {SETTLE_TIMEOUT_S} s: {query}")
        await asyncio.sleep(0.05)  # another process's work: poll the database, bounded


async def _dispatch_run(svc: service.Process, conn: asyncpg.Connection, rate: float,
                        seconds: float, first: int, refused: list[int]) -> list[float]:
    """Incidents at ``rate`` for ``seconds``; each one's delay to its first assignment."""
    ids = await _post_incidents(svc, rate, seconds, first, refused)
    await _settled(conn, "SELECT count(DISTINCT incident_id) = $2 FROM assignments "
                   "WHERE incident_id = ANY($1::bigint[])", ids, len(ids))
    return [r["secs"] for r in await conn.fetch(DISPATCH_DELAYS_SQL, ids)]


async def _dispatch(svc: service.Process, conn: asyncpg.Connection, db_url: str,
                    sizes: Sizes, pids: dict[str, int]) -> list[Row]:
    log.info("bench.phase", phase="dispatch")
    await _post_incidents(svc, 20, 0.5, 10**6)  # warm-up
    runs: list[list[float]] = []
    refused: list[int] = []
    meter = service.CpuMeter(pids)
    for run in range(3):  # three consecutive runs: the target must hold in each
        runs.append(await _dispatch_run(svc, conn, sizes.dispatch_rate, sizes.dispatch_s,
                                        (2 + run) * 10**6, refused))
    cpu = meter.per(sum(len(r) for r in runs))
    # The same at half the rate: where this machine keeps the target.
    half = await _dispatch_run(svc, conn, sizes.dispatch_rate / 2, sizes.dispatch_s,
                               5 * 10**6, [])
    commits = await load.raw_commit_latencies(db_url, sizes.samples)
    p99s = [percentile(d, 0.99) for d in runs]
    figure = "; ".join(f"run {i + 1}: {p50_p99_ms(d)}" for i, d in enumerate(runs))
    if refused:
        figure += f" ({len(refused)} intakes refused with 503: overloaded)"
    figure += f"; CPU per incident: {cpu}"
    return [Row(f"2. dispatch latency ({sizes.fleet:,} units, {sizes.dispatch_rate:.0f}/s, "
                "3 runs)", figure, f"one raw commit: {p50_p99_ms(commits)}",
                "p99 < 20 ms in each run", not refused and all(p < 0.020 for p in p99s)),
            Row(f"2. at half the rate ({sizes.dispatch_rate / 2:.0f}/s): dispatch latency",
                p50_p99_ms(half), "—", "— (recorded)", None)]


# One report line holds every delay (50 consoles x 1,000 events): above asyncio's 64 KiB.
REPORT_LIMIT = 2**27


class ConsoleProcess:
    """The consoles helper process (dispatch/benchmarks/consoles.py)."""

    def __init__(self, svc: service.Process, count: int) -> None:
        self._args = (svc.base_url, str(count))
        # The token goes by environment, not argv: argv is visible to every local user.
        self._env = {**os.environ, AUTH_ENV: svc.headers.get("Authorization", "")}
        self._proc: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> ConsoleProcess:
        import sys

        self._proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "dispatch.benchmarks.consoles", *self._args, env=self._env,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            limit=REPORT_LIMIT)
        assert self._proc.stdout is not None
        line = await asyncio.wait_for(self._proc.stdout.readline(), 90)
        if line.strip() != b"ready":
            raise RuntimeError(f"consoles did not start: {line!r}")
        return self

    async def stop(self, wait_for_seq: int = 0) -> list[float]:
        """Ask for the delays (after every console saw ``wait_for_seq``) and end it."""
        assert self._proc is not None and self._proc.stdin and self._proc.stdout
        self._proc.stdin.write(f"stop {wait_for_seq}\n".encode())
        await self._proc.stdin.drain()
        line = await asyncio.wait_for(self._proc.stdout.readline(), 90)
        if not line:
            raise RuntimeError("the consoles process ended without its report")
        await asyncio.wait_for(self._proc.wait(), 30)
        report = orjson.loads(line)
        if not report["complete"]:
            raise RuntimeError(f"consoles did not all receive event {wait_for_seq}")
        self.status_bytes: list[int] = report["status_bytes"]
        self.cpu_s: float = report["cpu_s"]  # the whole process, from its start
        delays: list[float] = report["delays"]
        return delays

    async def __aexit__(self, *exc: object) -> None:
        if self._proc is not None and self._proc.returncode is None:
            self._proc.kill()
            await asyncio.wait_for(self._proc.wait(), 30)


async def _memory(svc: service.Process, sizes: Sizes) -> list[Row]:
    log.info("bench.phase", phase="memory")
    async with ConsoleProcess(svc, 1) as one:  # load the SSE code paths first
        await one.stop()
    idle = service.rss_bytes(svc.pid)
    n = sizes.memory_consoles
    async with ConsoleProcess(svc, n) as many:
        loaded = service.rss_bytes(svc.pid)
        await many.stop()
    per = (loaded - idle) / n
    return [
        Row("6. memory per open SSE console", f"{per / 1024:,.1f} KiB",
            f"server RSS with no console {idle / 2**20:,.1f} MiB", "— (recorded)", None),
        Row(f"6. server RSS at {n} consoles", f"{loaded / 2**20:,.1f} MiB",
            f"idle {idle / 2**20:,.1f} MiB", "— (recorded)", None),
    ]


async def _fanout(svc: service.Process, conn: asyncpg.Connection, redis_url: str,
                  police: list[int], sizes: Sizes, pids: dict[str, int]) -> list[Row]:
    """Unit status changes at a fixed rate, timed from commit to every console."""
    log.info("bench.phase", phase="fan-out")

    refused: list[int] = []

    async def send(http: aiohttp.ClientSession, i: int) -> None:
        async with http.post(f"{svc.base_url}/api/v1/units/{police[i]}/status",
                             json={"status": "out_of_service"}, headers=svc.headers) as resp:
            if resp.status == 503:  # overloaded: recorded beside the figure, not fatal
                refused.append(i)
            elif resp.status != 200:
                raise RuntimeError(f"status: {resp.status} {await resp.text()}")

    async with ConsoleProcess(svc, sizes.consoles) as consoles:
        meter = service.CpuMeter(pids)
        await load.open_loop(send, sizes.fanout_rate, sizes.fanout_s)
        last = await conn.fetchval("SELECT max(id) FROM events")
        delays = await consoles.stop(int(last))
        changes = int(sizes.fanout_rate * sizes.fanout_s)
        cpu = (f"{meter.per(changes)}; the {sizes.consoles} consoles' process "
               f"{consoles.cpu_s / changes * 1e3:.2f} ms (with its start)")
        sizes_b = consoles.status_bytes
    # Where the time goes: the relay's part (event row written -> marked published,
    # which is after its XADD), the rest is the hub and the SSE writes.
    relay = [r["secs"] for r in await conn.fetch(RELAY_DELAYS_SQL, police)]
    xadd = await load.xadd_to_blocked_consumer(redis_url, sizes.samples)
    biggest = max(sizes_b, default=0)
    figure = f"{p50_p99_ms(delays)} (of which commit → published: {p50_p99_ms(relay)})"
    if refused:
        figure += f" ({len(refused)} status changes refused with 503: overloaded)"
    figure += f"; CPU per status change: {cpu}"
    return [Row(f"3. fan-out latency ({sizes.consoles} consoles, {sizes.fanout_rate:.0f} ev/s)",
                figure, f"XADD → blocked XREAD: {p50_p99_ms(xadd)}",
                "p99 < 20 ms", not refused and percentile(delays, 0.99) < 0.020),
            Row("3. bytes to a console per status change",
                f"mean {sum(sizes_b) / max(1, len(sizes_b)):,.0f} B, max {biggest:,} B "
                f"({len(sizes_b)} status changes, with the unit's snapshot)",
                "—", "< 2 KiB", bool(sizes_b) and biggest < 2048)]


async def _cpu_per_event(svc: service.Process, conn: asyncpg.Connection, units: list[int],
                         sizes: Sizes) -> list[Row]:
    """The web process's CPU per status change with no console, then with many."""
    log.info("bench.phase", phase="cpu per event")
    n = sizes.cpu_events

    async def burst(first: int) -> float:
        async def send(http: aiohttp.ClientSession, i: int) -> None:
            async with http.post(f"{svc.base_url}/api/v1/units/{units[first + i]}/status",
                                 json={"status": "out_of_service"},
                                 headers=svc.headers) as resp:
                if resp.status != 200:
                    raise RuntimeError(f"status: {resp.status} {await resp.text()}")

        begun = service.cpu_seconds(svc.pid)
        await load.open_loop(send, sizes.cpu_rate, n / sizes.cpu_rate)
        return begun

    begun = await burst(0)
    await _settled(conn, "SELECT bool_and(published_at IS NOT NULL) FROM events "
                   "WHERE unit_id = ANY($1::bigint[])", units[:n])
    alone = (service.cpu_seconds(svc.pid) - begun) / n
    c = sizes.memory_consoles
    async with ConsoleProcess(svc, c) as consoles:
        begun = await burst(n)
        last = await conn.fetchval("SELECT max(id) FROM events")
        await consoles.stop(int(last))
        watched = (service.cpu_seconds(svc.pid) - begun) / n
    per_console = (watched - alone) / c
    return [Row(f"3. web process CPU per event, {c} consoles",
                f"{watched * 1e3:,.2f} ms per status change = {per_console * 1e6:,.1f} µs "
                "per console", f"no console open: {alone * 1e3:,.2f} ms per status change",
                "— (recorded)", None)]


RELAY_DELAYS_SQL = """
SELECT extract(epoch FROM published_at - occurred_at)::float8 AS secs FROM events
WHERE kind = 'unit.status' AND unit_id = ANY($1::bigint[]) AND published_at IS NOT NULL
"""

MONTH_SCAN_SQL = """
SELECT count(*), avg(extract(epoch FROM logged_at - received_at))
FROM incidents WHERE received_at >= $1 AND received_at < $2
"""


async def _stats(svc: service.Process, conn: asyncpg.Connection, sizes: Sizes) -> list[Row]:
    log.info("bench.phase", phase="stats")
    until = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    since = until - timedelta(days=365)
    await stats_data.generate(conn, sizes.stats_incidents, since, until)
    month = (until - timedelta(days=60), until - timedelta(days=30))
    url = (f"{svc.base_url}/api/v1/stats/response-times?"
           f"from={month[0].isoformat().replace('+00:00', 'Z')}"
           f"&to={month[1].isoformat().replace('+00:00', 'Z')}")
    timings, scans = [], []
    async with aiohttp.ClientSession(headers=svc.headers) as http:
        for _ in range(sizes.stats_repeats):
            begun = time.perf_counter()
            async with http.get(url) as resp:
                body = await resp.json()
                if resp.status != 200:
                    raise RuntimeError(f"stats: {resp.status} {body}")
            timings.append(time.perf_counter() - begun)
            begun = time.perf_counter()
            await conn.fetch(MONTH_SCAN_SQL, *month)
            scans.append(time.perf_counter() - begun)
    counted = body["intervals"]["call_processing"]["count"] if "intervals" in body else "?"
    median = percentile(timings, 0.5)
    return [Row(f"5. stats: one month of {sizes.stats_incidents:,} incidents",
                f"{median * 1e3:,.0f} ms median of {len(timings)} ({counted} in the month)",
                f"count+avg over the month's rows: {percentile(scans, 0.5) * 1e3:,.0f} ms",
                "< 300 ms", median < 0.300)]
