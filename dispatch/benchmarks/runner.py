"""``siap112 bench``: run every phase, print one table, optionally write RESULTS.md."""

from __future__ import annotations

import asyncio
import os
import platform
import shlex
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import structlog
from redis.asyncio import Redis

from dispatch.benchmarks import load, nearest, phases, service
from dispatch.benchmarks.phases import Row, Sizes

log = structlog.get_logger(__name__)
HEADER = ("row", "figure", "baseline (same run)", "target", "met?")

METHOD = """\
## How each figure is taken

The service is `siap112 serve` in a child process on 127.0.0.1, against a database the
benchmark creates for the run and drops afterwards, and a Redis stream key of its own. The
load generator is one Python process (aiohttp client); the same client drives the service
and the trivial aiohttp baseline, so they are compared like for like.

1. Intake: POST /api/v1/incidents (validation, incident and event rows in one transaction,
   201 after the commit) from 8 concurrent clients, back to back; the web process alone
   (its in-process dispatcher and relay turned off, as when they run as their own
   processes). Then an open loop at half that rate for the latency. Then the same closed
   loop split over two web processes (the scale-out ratio; the load generator shares the
   machine). Baselines: durable single-row INSERTs over 8 asyncpg connections; a trivial
   aiohttp JSON POST server (the target is a share of it).
   CPU per item (rows 1-3): user+system CPU time (/proc) of each process over the closed
   loop, the three dispatch runs or the status changes, divided by the items: the web
   process, the dispatcher, the relay, PostgreSQL (every postgres process on the host:
   its backends, WAL writer and checkpointer), the load generator, and the consoles'
   process (its whole life, connecting included).
2. Dispatch: the topology the README recommends for a busy centre: one web process
   (HTTP and SSE only), `siap112 dispatcher` and `siap112 relay` as processes of their
   own; the fleet all ambulances (every unit a candidate), incidents at a fixed rate, three
   consecutive runs. Latency is the assignment row's insert time minus the incident row's
   insert time (both clock_timestamp() in PostgreSQL, each a statement before its own
   commit). Baseline: one durable single-row commit, one at a time. A fourth run at half
   the rate is recorded beside them.
3. Fan-out (same topology): unit status changes over HTTP at a fixed rate while the
   consoles (in a process of their own) hold GET /api/v1/events; latency is arrival time
   minus the event row's time (the `at` field); the bytes are each status change's SSE
   message as the first console received it (with its unit's board snapshot). Baseline:
   XADD to a consumer blocked in XREAD. CPU per event: the web process's user+system CPU
   time (/proc) over a burst of status changes, with no console open and then with the
   memory row's consoles open.
4. Nearest unit: `dispatch.core.spatial.UnitIndex`, 3 nearest, one unit moving before every
   tenth query; each answer compared with brute-force geodesic over every unit (pyproj's
   vectorised Karney geodesic, independent of the index). Baseline: geopy per call × units.
5. Stats: incidents with one assignment each and four timeline events, made with
   generate_series in the benchmark database, spread over 12 months; GET
   /api/v1/stats/response-times for one month, median of several calls. Baseline: a plain
   count and average over the same month's rows.
6. Memory: VmRSS of the service process with no console, then with N consoles open.
7. Road re-ranking: `python -m dispatch.benchmarks.roads` in the same run. The river network
   of tests/test_roads.py and a synthetic grid the size of the regency's roads, each built
   with `siap112 roads build`'s code; per incident, the geodesic K nearest of 120 units
   (baseline) and the same followed by the engine's matrix call for them (the figure).
8. Board: open incidents (queued, needing a unit type the fleet lacks) inserted in SQL;
   GET /api/v1/incidents?status=open and GET /api/v1/units timed on the loopback (median);
   the console page in Chromium (Playwright, 1366x768, outside requests refused) from
   navigation start to every incident drawn on the board (median of several loads), and
   to the map's unit markers and the roster's chips drawn too.
"""


def _met(row: Row) -> str:
    return "—" if row.met is None else ("yes" if row.met else "NO")


def _nearest_rows(sizes: Sizes) -> list[Row]:
    per_call = load.geopy_per_call_s(sizes.samples)
    rows = [Row("baseline: geopy geodesic", f"{per_call * 1e6:,.0f} µs per call", "—", "—",
                None)]
    for n in sizes.nearest_sizes:
        log.info("bench.phase", phase="nearest", units=n)
        r = nearest.measure(n, sizes.nearest_queries)
        target = "< 0.5 ms, 0 mismatches" if n >= 100_000 else "0 mismatches"
        met = r.mismatches == 0 and (n < 100_000 or r.per_query_s < 0.0005)
        rows.append(Row(
            f"4. nearest unit, {n:,} units",
            f"{r.per_query_s * 1e3:.3f} ms/query; {r.mismatches}/{r.queries} mismatches "
            f"(index built in {r.build_s * 1e3:,.0f} ms)",
            f"brute-force geopy ≈ {per_call * n * 1e3:,.1f} ms/query", target, met))
    return rows


async def _road_rows(sizes: Sizes) -> list[Row]:
    """Road re-ranking (dispatch/benchmarks/roads.py), when the engine is installed."""
    from dispatch.benchmarks import roads
    from dispatch.roads import engine_version

    if engine_version() is None:
        return [Row("7. road re-ranking", "skipped: routing engine not installed "
                    "(siap112[roads])", "—", "—", None)]
    log.info("bench.phase", phase="roads", grid_km=sizes.road_grid_km)
    rows = []
    budget_ms = 200.0  # roads.budget_ms's default
    for f in await roads.measure(sizes.road_incidents, grid_km=sizes.road_grid_km):
        p99 = roads.pct(f.road_ms, 0.99)
        rows.append(Row(
            f"7. road re-ranking, {f.name} {f.report.km:,.0f} km, K={f.k}",
            f"p50 {roads.pct(f.road_ms, 0.5):.2f} ms, p99 {p99:.2f} ms per incident; built "
            f"in {f.report.seconds:.1f} s, {f.report.size_bytes / 1e6:.1f} MB",
            f"geodesic only p50 {roads.pct(f.geo_ms, 0.5):.2f} ms, "
            f"p99 {roads.pct(f.geo_ms, 0.99):.2f} ms",
            f"p99 < {budget_ms:g} ms (budget)", p99 < budget_ms))
    return rows


async def run(admin_url: str, redis_url: str, sizes: Sizes) -> list[Row]:
    """Every phase against a database of the benchmark's own; returns the table rows."""
    rows = _nearest_rows(sizes) + await _road_rows(sizes)
    stream_key = f"siap112:bench:{uuid.uuid4().hex[:10]}"
    async with service.bench_database(admin_url) as db_url:
        try:
            rows += await phases.intake(db_url, redis_url, stream_key, sizes)
            rows += await phases.live(db_url, redis_url, stream_key, sizes)
        finally:
            redis = Redis.from_url(redis_url)
            await redis.delete(stream_key)
            await redis.aclose()
    order = {name: i for i, name in enumerate(["1", "2", "3", "4", "5", "6", "7", "8", "b"])}
    return sorted(rows, key=lambda r: order.get(r.name[0], 9))


def table(rows: list[Row]) -> str:
    """The plain-text table printed to the terminal."""
    cells = [HEADER, *((r.name, r.figure, r.baseline, r.target, _met(r)) for r in rows)]
    widths = [max(len(c[i]) for c in cells) for i in range(len(HEADER))]
    lines = [" | ".join(c[i].ljust(widths[i]) for i in range(len(HEADER))) for c in cells]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines) + "\n"


def markdown(rows: list[Row]) -> str:
    """The same table in Markdown."""
    out = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    out += [f"| {r.name} | {r.figure} | {r.baseline} | {r.target} | {_met(r)} |" for r in rows]
    return "\n".join(out) + "\n"


def _first_line(path: str, prefix: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith(prefix)), "?")
    except OSError:
        return "?"


async def machine(admin_url: str, redis_url: str) -> dict[str, str]:
    """What the figures were measured on."""
    conn = await asyncpg.connect(admin_url)
    try:
        pg = str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()
    redis = Redis.from_url(redis_url)
    try:
        info = await redis.info("server")
    finally:
        await redis.aclose()
    return {
        "cores (nproc)": str(os.cpu_count()),
        "CPU": _first_line("/proc/cpuinfo", "model name"),
        "memory": _first_line("/proc/meminfo", "MemTotal"),
        "OS": platform.platform(),
        "Python": platform.python_version(),
        "PostgreSQL": pg,
        "Redis": str(info.get("redis_version", "?")) + (
            f" (valkey {info['valkey_version']})" if "valkey_version" in info else ""),
        "load average before": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def results_md(rows: list[Row], facts: dict[str, str], command: str, seconds: float) -> str:
    """bench/RESULTS.md: the machine, the exact command and the table."""
    facts = {**facts, "load average after": " ".join(f"{x:.2f}" for x in os.getloadavg()),
             "run took": f"{seconds:,.0f} s",
             "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")}
    lines = ["# Benchmark results", "",
             "Reproduce with (the URLs of a PostgreSQL and a Redis server: the benchmark "
             "creates a database of its own there and drops it afterwards; without them it "
             "starts embedded servers):", "", "```sh",
             f"SIAP112_DATABASE_URL=postgresql://… SIAP112_REDIS_URL=redis://… {command}",
             "```", "",
             "Each figure stands beside a baseline measured in the same run, on the same "
             "machine. The machine may have been shared with other work: see the load "
             "averages below.", "", "## Machine", ""]
    lines += [f"- {k}: {v}" for k, v in facts.items()]
    lines += ["", "## Figures", "", markdown(rows), METHOD]
    return "\n".join(lines)


def command_line() -> str:
    """The command as typed (for RESULTS.md)."""
    return "siap112 " + " ".join(shlex.quote(a) for a in sys.argv[1:])


async def main(admin_url: str, redis_url: str, *, quick: bool, write: Path | None) -> str:
    """Run, and return the table (and write RESULTS.md when asked)."""
    sizes = phases.QUICK if quick else phases.FULL
    facts = await machine(admin_url, redis_url)
    started = time.monotonic()
    rows = await run(admin_url, redis_url, sizes)
    if write is not None:
        text = results_md(rows, facts, command_line(), time.monotonic() - started)
        await asyncio.to_thread(write.write_text, text, encoding="utf-8")
    return table(rows)
