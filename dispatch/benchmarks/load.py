"""Bounded load loops against 127.0.0.1, and the machine's own baselines.

Every loop has a fixed request count (and the open-loop one a fixed duration),
so a run always stops by itself.
"""

from __future__ import annotations

import asyncio
import time
import timeit
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import asyncpg
from redis.asyncio import Redis

Send = Callable[[aiohttp.ClientSession, int], Awaitable[None]]


async def closed_loop(send: Send, total: int, concurrency: int) -> float:
    """``total`` requests from ``concurrency`` workers, back to back; returns requests/s."""
    counter = iter(range(total))
    conn = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=conn) as http:

        async def worker() -> None:
            for i in counter:
                await send(http, i)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return total / (time.perf_counter() - started)


async def open_loop(send: Send, rate: float, seconds: float) -> list[float]:
    """Requests started on a fixed schedule (``rate`` per second); returns each latency (s)."""
    count = max(1, int(rate * seconds))
    latencies: list[float] = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:

        async def one(i: int) -> None:
            begun = time.perf_counter()
            await send(http, i)
            latencies.append(time.perf_counter() - begun)

        loop = asyncio.get_running_loop()
        start = loop.time()
        tasks = []
        for i in range(count):
            delay = start + i / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)  # the schedule itself: requests at a fixed rate
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
    return latencies


def json_poster(url: str, body: Callable[[int], dict[str, Any]], expect: int,
                headers: dict[str, str] | None = None) -> Send:
    """A ``Send`` that POSTs ``body(i)`` and checks the status."""

    async def send(http: aiohttp.ClientSession, i: int) -> None:
        async with http.post(url, json=body(i), headers=headers) as resp:
            await resp.read()
            if resp.status != expect:
                raise RuntimeError(f"POST {url}: {resp.status} {await resp.text()}")

    return send


# --- baselines ----------------------------------------------------------------

RAW_TABLE_SQL = """
CREATE TABLE IF NOT EXISTS bench_raw (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    body text NOT NULL,
    at timestamptz NOT NULL DEFAULT clock_timestamp()
)
"""
RAW_INSERT_SQL = "INSERT INTO bench_raw (body) VALUES ($1)"


async def raw_insert_rate(database_url: str, total: int, concurrency: int) -> float:
    """Durable single-row autocommit INSERTs per second over ``concurrency`` connections."""
    pool = await asyncpg.create_pool(database_url, min_size=concurrency, max_size=concurrency)
    try:
        await pool.execute(RAW_TABLE_SQL)
        counter = iter(range(total))

        async def worker() -> None:
            async with pool.acquire() as conn:
                for i in counter:
                    await conn.execute(RAW_INSERT_SQL, f"row {i}")

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return total / (time.perf_counter() - started)
    finally:
        await pool.close()


async def raw_commit_latencies(database_url: str, total: int) -> list[float]:
    """One connection, one durable single-row commit at a time: each one's latency (s)."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(RAW_TABLE_SQL)
        out = []
        for i in range(total):
            begun = time.perf_counter()
            await conn.execute(RAW_INSERT_SQL, f"row {i}")
            out.append(time.perf_counter() - begun)
        return out
    finally:
        await conn.close()


async def xadd_to_blocked_consumer(redis_url: str, total: int) -> list[float]:
    """From XADD to a consumer blocked in XREAD receiving the entry, one at a time (s)."""
    key = f"siap112:bench:xadd:{uuid.uuid4().hex[:10]}"
    producer, consumer = Redis.from_url(redis_url), Redis.from_url(redis_url)
    out = []
    try:
        last = "0-0"  # the key is new: reading after an id never misses an entry
        for i in range(total):
            async def read(after: str = last) -> Any:
                return await consumer.xread({key: after}, block=5000, count=1)

            reader = asyncio.create_task(read())
            await asyncio.sleep(0.001)  # let the consumer reach its blocking XREAD first
            begun = time.perf_counter()
            await producer.xadd(key, {"n": i})
            reply = await reader
            out.append(time.perf_counter() - begun)
            last = reply[0][1][0][0]
        return out
    finally:
        await producer.delete(key)
        await producer.aclose()
        await consumer.aclose()


def geopy_per_call_s(calls: int) -> float:
    """geopy's geodesic distance, seconds per call."""
    from geopy.distance import geodesic

    return timeit.timeit(lambda: geodesic((-8.134, 112.215), (-8.079, 112.325)).meters,
                         number=calls) / calls
