"""Handover delivery time between two local Siap112 services (regency and city).

Two apps on loopback ports, each with its own database (created and dropped
here) and stream key. For each of ``n`` Kota Blitar incidents logged at the
regency: the time from the handover request's answer until the city's incident
exists (as the city sees it), and the sender's own ``delivery_s`` (requested to
delivered, from its handover.delivered event).

Run as ``python -m dispatch.benchmarks.handover ADMIN_DB_URL REDIS_URL [N]``.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import time
import uuid
from dataclasses import replace
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg
from aiohttp.test_utils import TestServer

from dispatch.app import create_app
from dispatch.benchmarks.stats import percentile
from dispatch.constants import EVENTS_CHANNEL
from dispatch.logs import configure_logging
from dispatch.settings import PartnerSettings, Settings, load_settings
from dispatch.store import accounts

TOKEN_A = "bench-regency-to-city-" + "a" * 10
TOKEN_B = "bench-city-to-regency-" + "b" * 10
KOTA = (-8.0985, 112.1680)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _db(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


def _settings(base: Settings, db: str, redis: str, centre: str, partner: PartnerSettings
              ) -> Settings:
    return replace(base, database_url=db, redis_url=redis,
                   redis=replace(base.redis, stream_key=f"siap112:bench:{uuid.uuid4().hex[:8]}"),
                   exchange=replace(base.exchange, centre=centre,
                                    partners={partner.name: partner}))


async def main(admin_url: str, redis_url: str, n: int) -> str:
    names = [f"siap112_bench_{uuid.uuid4().hex[:8]}" for _ in range(2)]
    admin = await asyncpg.connect(admin_url)
    for name in names:
        await admin.execute(f'CREATE DATABASE "{name}"')
    ports = _port(), _port()
    base = load_settings()
    regency = _settings(base, _db(admin_url, names[0]), redis_url, "kab-blitar", PartnerSettings(
        "kota_blitar", "112 Kota Blitar", f"http://127.0.0.1:{ports[1]}", ("35.72",),
        token_out=TOKEN_A, token_in=TOKEN_B))
    city = _settings(base, _db(admin_url, names[1]), redis_url, "kota-blitar", PartnerSettings(
        "kab_blitar", "112 Kabupaten Blitar", f"http://127.0.0.1:{ports[0]}", ("35.05",),
        token_out=TOKEN_B, token_in=TOKEN_A))
    servers = [TestServer(create_app(s), host="127.0.0.1", port=p)
               for s, p in ((regency, ports[0]), (city, ports[1]))]
    observed: list[float] = []
    try:
        for server in servers:
            await server.start_server()
        reg_db = await asyncpg.connect(regency.database_url)
        city_db = await asyncpg.connect(city.database_url)
        _, secret, _ = await accounts.create_token(reg_db, "bench", "admin", 1, None)
        headers = {"Authorization": f"Bearer {secret}"}
        woken = asyncio.Event()
        # The city's events table notifies on every insert (sql/001): woken on arrival.
        await city_db.add_listener(EVENTS_CHANNEL, lambda *_: woken.set())
        async with aiohttp.ClientSession(f"http://127.0.0.1:{ports[0]}", headers=headers) as http:
            for i in range(n):
                async with http.post("/api/v1/calls", json={
                        "caller_phone": f"0812{i:08d}", "disposition": "emergency",
                        "confirm_new": True,  # n incidents at one spot, on purpose
                        "incident": {"category": "medis", "priority": 1,
                                     "location": {"lat": KOTA[0], "lon": KOTA[1]}}}) as r:
                    incident_id = (await r.json())["incident"]["id"]
                async with http.post(f"/api/v1/incidents/{incident_id}/handover",
                                     json={"partner": "kota_blitar"}) as r:
                    assert r.status == 202, await r.text()
                started = time.perf_counter()
                while not await city_db.fetchval(
                        "SELECT 1 FROM handovers WHERE remote_incident_id = $1", incident_id):
                    woken.clear()
                    await asyncio.wait_for(woken.wait(), 10)
                observed.append((time.perf_counter() - started) * 1000)
        await asyncio.sleep(0.5)  # the last delivered events are written after the answer
        sender = [float(v) * 1000 for v in await reg_db.fetchval(
            "SELECT array_agg((data->>'delivery_s')::float8) FROM events "
            "WHERE kind = 'handover.delivered'") or []]
        await reg_db.close()
        await city_db.close()
    finally:
        for server in servers:
            await server.close()
        for name in names:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    lines = [f"handovers: {n}"]
    for label, values in (("request answered -> incident at city (ms)", observed),
                          ("sender: requested -> delivered (ms)", sender)):
        lines.append(f"{label}: p50 {percentile(values, 0.5):.1f}, p95 "
                     f"{percentile(values, 0.95):.1f}, max {max(values):.1f}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    configure_logging("warning", "console")
    sys.stdout.write(asyncio.run(main(sys.argv[1], sys.argv[2],
                                      int(sys.argv[3]) if len(sys.argv) > 3 else 20)))
