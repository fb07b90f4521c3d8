"""`siap112 bench --quick` runs end to end against the test services and prints every row.

Figures are not checked here (no wall-time asserts): the point is that the
benchmark never rots. It creates and drops a database of its own.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import asyncpg

ROWS = (
    "1. intake throughput", "1. intake latency at half load", "2. dispatch latency",
    "2. at half the rate",
    "3. fan-out latency", "4. nearest unit, 100 units", "4. nearest unit, 1,000 units",
    "5. stats: one month", "6. memory per open SSE console", "6. server RSS at",
    "baseline: geopy geodesic", "1. intake with two web processes",
    "3. bytes to a console per status change", "3. web process CPU per event",
    "8. board API", "8. console first render",
    "7. road re-ranking, river", "7. road re-ranking, grid",
)


async def _bench_databases(admin_url: str) -> set[str]:
    conn = await asyncpg.connect(admin_url)
    try:
        rows = await conn.fetch("SELECT datname FROM pg_database "
                                "WHERE datname LIKE 'siap112_bench_%'")
        return {r["datname"] for r in rows}
    finally:
        await conn.close()


async def test_quick_bench_completes_and_prints_every_row(
        services: tuple[str, str], tmp_path: Path) -> None:
    admin_url, redis_url = services
    before = await _bench_databases(admin_url)
    results = tmp_path / "RESULTS.md"
    env = {**os.environ, "SIAP112_DATABASE_URL": admin_url, "SIAP112_REDIS_URL": redis_url,
           "SIAP112_LOG_LEVEL": "warning"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "dispatch", "bench", "--quick", "--write", str(results),
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 300)
    assert proc.returncode == 0, err.decode()[-3000:]
    table = out.decode().splitlines()
    assert table[0].split(" | ")[:4] == ["row".ljust(len(table[0].split(" | ")[0])),
                                         *table[0].split(" | ")[1:4]]
    for name in ROWS:
        [line] = [ln for ln in table if ln.startswith(name)]
        cells = [c.strip() for c in line.split(" | ")]
        assert len(cells) == 5 and cells[1], line  # a figure in every row
        assert cells[4] in {"yes", "NO", "—"}, line
    nearest = [ln for ln in table if ln.startswith("4. nearest unit")]
    assert all(" 0/" in ln for ln in nearest), nearest  # exact answers: no mismatch
    written = results.read_text(encoding="utf-8")
    assert "PostgreSQL" in written and "siap112 bench --quick" in written
    assert all(name in written for name in ROWS)
    # Its own database is gone again.
    assert await _bench_databases(admin_url) == before
