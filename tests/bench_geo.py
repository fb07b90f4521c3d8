"""Point-in-polygon and gazetteer speed: ``python -m tests.bench_geo DATABASE_URL``.

Prints the microseconds per ``locate`` (jurisdiction, kecamatan and desa of one point)
over random points in and around the regency, and the gazetteer's latency (p50, p95,
max) and first-suggestion hit rate on a list of misspelled names. The database named
must be migrated (``siap112 migrate``); its places table is read, never written.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import time

import asyncpg

from dispatch import gazetteer
from dispatch.geodata import locate, wilayah

POINTS = 20_000


def bench_locate(n: int = POINTS, seed: int = 112) -> float:
    """Microseconds per locate() over n random points in the regency's box and around it."""
    wilayah()  # load and index once, outside the timing
    rng = random.Random(seed)
    pts = [(rng.uniform(-8.45, -7.85), rng.uniform(111.85, 112.65)) for _ in range(n)]
    start = time.perf_counter()
    for lat, lon in pts:
        locate(lat, lon)
    return (time.perf_counter() - start) / n * 1e6


async def bench_search(url: str, queries: list[tuple[str, str]], rounds: int = 5
                       ) -> tuple[list[float], float]:
    """Latencies in ms of each search (``rounds`` times each) and the hit rate."""
    conn = await asyncpg.connect(url)
    try:
        hits = 0
        times = []
        for r in range(rounds):
            for q, expected in queries:
                start = time.perf_counter()
                async with conn.transaction(readonly=True):
                    items = await gazetteer.search(conn, q, 10)
                times.append((time.perf_counter() - start) * 1000)
                if r == 0 and items and items[0]["name"] == expected:
                    hits += 1
        return times, hits / len(queries)
    finally:
        await conn.close()


def main(argv: list[str]) -> int:
    from tests.test_places import MISSPELLED  # the list the tests check

    us = bench_locate()
    out = [f"locate: {us:.1f} µs per point ({POINTS} random points, shapely STRtree)"]
    if argv:
        times, rate = asyncio.run(bench_search(argv[0], MISSPELLED))
        q = statistics.quantiles(times, n=20)
        out.append(f"gazetteer: p50 {statistics.median(times):.2f} ms, p95 {q[18]:.2f} ms, "
                   f"max {max(times):.2f} ms over {len(times)} searches")
        out.append(f"gazetteer: first suggestion right for {rate:.0%} of "
                   f"{len(MISSPELLED)} misspelled names")
    sys.stdout.write("\n".join(out) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
