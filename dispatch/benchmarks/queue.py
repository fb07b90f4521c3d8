"""A dispatcher pass over a long queue: the cost of considering every servable incident.

A flood of urgent incidents waits for rescue units that are all out; one medical
incident at the back of the queue has an ambulance free. The figure is the
time of one pass that serves it (read the fleet, read the queue page by page,
plan, serve), and of an idle pass (nothing a free unit could serve), for
several queue lengths, in a database of its own (created and dropped here).

    python -m dispatch.benchmarks.queue postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from dataclasses import replace
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from dispatch.logs import configure_logging
from dispatch.settings import load_settings
from dispatch.store.db import create_pool
from dispatch.store.migrate import migrate
from dispatch.workers.dispatcher import Dispatcher

LENGTHS = (1_000, 10_000, 50_000)

FLOOD_SQL = """
INSERT INTO incidents (caller_phone, category, priority, lat, lon, required_types, status,
                       queue_reason, received_at, logged_by)
SELECT '081200000000', 'pohon_tumbang', 1, -8.10 + (g % 97) * 0.001, 112.25,
       '{rescue}', 'queued', 'no_unit_available', now() - make_interval(secs => $1 - g),
       'bench'
FROM generate_series(1, $1) AS g
"""
MEDICAL_SQL = """
INSERT INTO incidents (caller_phone, category, priority, lat, lon, required_types,
                       received_at, logged_by)
VALUES ('081200000001', 'medis', 2, -8.13, 112.21, '{ambulance}', now(), 'bench')
RETURNING id
"""
AMBULANCE_SQL = """
INSERT INTO units (callsign, unit_type, agency, lat, lon, position_at)
VALUES ('AMB-BENCH', 'ambulance', 'Bench', -8.12, 112.22, now())
"""


def _database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


async def _pass_ms(dispatcher: Dispatcher) -> tuple[float, int]:
    started = time.perf_counter()
    assigned = await dispatcher.run_once()
    return (time.perf_counter() - started) * 1000, assigned


async def measure(admin_url: str, length: int) -> tuple[float, float]:
    """(serving pass ms, idle pass ms) with ``length`` unservable incidents queued."""
    name = f"siap112_bench_queue_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = _database(admin_url, name)
    try:
        conn = await asyncpg.connect(url)
        try:
            await migrate(conn)
            await conn.execute(FLOOD_SQL, length)
            await conn.execute(MEDICAL_SQL)
            await conn.execute(AMBULANCE_SQL)
            await conn.execute("ANALYZE")
        finally:
            await conn.close()
        settings = replace(load_settings(env={}), database_url=url)
        pool = await create_pool(url, settings.db, min_size=1, max_size=2)
        try:
            dispatcher = Dispatcher(pool, settings)
            serving, assigned = await _pass_ms(dispatcher)
            assert assigned == 1, assigned
            idle, assigned = await _pass_ms(dispatcher)
            assert assigned == 0, assigned
        finally:
            await pool.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    return serving, idle


async def main(admin_url: str) -> str:
    lines = ["queue length | pass serving the one servable incident | idle pass",
             "---: | ---: | ---:"]
    for length in LENGTHS:
        serving, idle = await measure(admin_url, length)
        lines.append(f"{length:,} | {serving:.1f} ms | {idle:.1f} ms")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    configure_logging("warning", "console")
    sys.stdout.write(asyncio.run(main(sys.argv[1])))
