"""The board's first load with many open incidents: the API's time, and in Chromium the
console's time to first render (Debian's chromium driven by Playwright, when installed)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import structlog

from dispatch.benchmarks import service
from dispatch.benchmarks.rows import Row
from dispatch.benchmarks.stats import percentile

log = structlog.get_logger(__name__)

# Open incidents nobody dispatches: they need a rescue unit and the fleet has none.
OPEN_INCIDENTS_SQL = """
INSERT INTO incidents (caller_phone, category, priority, lat, lon, address, required_types,
                       status, queue_reason, received_at, logged_by)
SELECT '0813' || lpad(g::text, 8, '0'), 'medis', 1 + g % 3, -8.30 + random() * 0.3,
       112.0 + random() * 0.4, 'Jl. Papan ' || g, ARRAY['rescue'], 'queued',
       'no_unit_available', clock_timestamp(), 'bench-board'
FROM generate_series(1, $1::int) g
RETURNING id
"""
CLOSE_SQL = """
UPDATE incidents SET status = 'closed', closed_at = clock_timestamp(), disposition = 'selesai',
       queue_reason = NULL
WHERE id = ANY($1::bigint[])
"""


def chromium() -> str | None:
    path = os.environ.get("SIAP112_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    return path if Path(path).is_file() else None


async def _api_times(svc: service.Process, path: str, repeats: int) -> tuple[float, int]:
    """Median wall time of GET ``path`` on the loopback, and the answer's size."""
    times, size = [], 0
    async with aiohttp.ClientSession(headers=svc.headers) as http:
        for _ in range(repeats + 1):
            begun = time.perf_counter()
            async with http.get(svc.base_url + path) as resp:
                body = await resp.read()
                if resp.status != 200:
                    raise RuntimeError(f"GET {path}: {resp.status} {body[:300]!r}")
            times.append(time.perf_counter() - begun)
            size = len(body)
    return percentile(times[1:], 0.5), size  # the first one warms the caches


# The whole console drawn: the map's unit markers and the roster's chips as well.
ALL_DRAWN_JS = """
units => document.querySelector('#map')?.dataset.unitMarkers
  && document.querySelectorAll('#roster .chip').length >= units && performance.now()
"""


# What the page showed when the whole console was not drawn in time.
SHOWN_JS = """
() => ({chips: document.querySelectorAll('#roster .chip').length,
        markers: document.querySelector('#map')?.dataset.unitMarkers || null,
        map: document.body.dataset.map || null})
"""


async def _first_render(svc: service.Process, count: int, units: int, repeats: int
                        ) -> tuple[list[float], list[float], list[str]]:
    """Seconds from navigation start to the board showing ``count`` incidents, and to the
    map and roster showing the ``units`` too; and what went wrong in loads where the
    map and roster were not drawn within a minute (with the page's script errors)."""
    from playwright.async_api import TimeoutError as PlaywrightTimeout
    from playwright.async_api import async_playwright

    path = chromium()
    assert path is not None
    out: list[float] = []
    whole: list[float] = []
    problems: list[str] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=path, headless=True,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        try:
            context = await browser.new_context(viewport={"width": 1366, "height": 768},
                                                extra_http_headers=svc.headers)
            # Only the service is asked: the map's outside tile server is not the point.
            async def local_only(route: Any) -> None:
                if route.request.url.startswith(svc.base_url):
                    await route.continue_()
                else:
                    await route.abort()

            await context.route("**/*", local_only)
            for load in range(repeats + 1):
                page = await context.new_page()
                errors: list[str] = []

                def script_error(exc: Any, errors: list[str] = errors) -> None:
                    errors.append(str(exc))

                def console_error(msg: Any, errors: list[str] = errors) -> None:
                    if msg.type == "error":
                        errors.append(str(msg.text))

                page.on("pageerror", script_error)
                page.on("console", console_error)
                await page.goto(svc.base_url + "/", wait_until="commit")
                ms: Any = await (await page.wait_for_function(
                    "n => document.querySelectorAll('#board li.incident').length >= n "
                    "&& performance.now()", arg=count, timeout=60_000)).json_value()
                out.append(float(ms) / 1000)
                try:
                    ms = await (await page.wait_for_function(
                        ALL_DRAWN_JS, arg=units, timeout=60_000)).json_value()
                    whole.append(float(ms) / 1000)
                except PlaywrightTimeout:
                    shown = await page.evaluate(SHOWN_JS)
                    problems.append(f"load {load}: {shown}, errors {errors[:3]}")
                    log.warning("bench.console_not_drawn", load=load, shown=shown,
                                errors=errors[:5])
                await page.close()
            await context.close()
        finally:
            await browser.close()
    # The first load warms the server and the browser's caches.
    return out[1:], whole[1:], problems


async def measure(svc: service.Process, conn: asyncpg.Connection, count: int,
                  repeats: int) -> list[Row]:
    log.info("bench.phase", phase="board", open_incidents=count)
    ids = [r["id"] for r in await conn.fetch(OPEN_INCIDENTS_SQL, count)]
    try:
        api_s, api_bytes = await _api_times(svc, f"/api/v1/incidents?status=open&limit={count}",
                                            max(3, repeats))
        units_s, units_bytes = await _api_times(svc, "/api/v1/units", max(3, repeats))
        rows = [Row(f"8. board API, {count:,} open incidents",
                    f"GET /api/v1/incidents?status=open {api_s * 1e3:,.0f} ms "
                    f"({api_bytes / 1024:,.0f} KiB); GET /api/v1/units {units_s * 1e3:,.0f} ms "
                    f"({units_bytes / 1024:,.0f} KiB)", "—", "— (part of the first render)",
                    None)]
        if chromium() is None:
            rows.append(Row(f"8. console first render, {count:,} open incidents",
                            "not measured: no Chromium binary", "—", "< 1 s", None))
            return rows
        units = int(await conn.fetchval("SELECT count(*) FROM units"))
        renders, whole, problems = await _first_render(svc, count, units, repeats)
        median = percentile(renders, 0.5)
        drawn = (f"map and roster with {units:,} units drawn at "
                 f"{percentile(whole, 0.5) * 1e3:,.0f} ms" if whole else "")
        if problems:
            drawn += (f"{'; ' if drawn else ''}map and roster NOT drawn within 60 s in "
                      f"{len(problems)} loads: {' | '.join(problems)}")
        rows.append(Row(f"8. console first render, {count:,} open incidents (Chromium)",
                        f"{median * 1e3:,.0f} ms median of {len(renders)} (navigation start → "
                        f"board drawn); {drawn}",
                        f"the two board API calls: {(api_s + units_s) * 1e3:,.0f} ms",
                        "< 1 s", median < 1.0))
        return rows
    finally:
        await conn.execute(CLOSE_SQL, ids)
