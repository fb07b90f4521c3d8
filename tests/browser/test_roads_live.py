"""The console in Chromium with routing data: the selected incident's unit's road route
drawn on the map, candidates saying they are timed by road; without data, the
straight-line wording."""

from __future__ import annotations

from pathlib import Path

import asyncpg
from playwright.async_api import BrowserContext, Page, expect

from dispatch.benchmarks.roads import FAR_BANK_UNIT, RIVER_SCENE, SAME_BANK_UNIT
from tests.browser.conftest import log_in
from tests.conftest import AppFactory
from tests.helpers import create_incident, create_unit, until_db
from tests.test_roads import build_river_data

expect.set_options(timeout=15_000)


async def _console_with_river_incident(start_app: AppFactory, context: BrowserContext,
                                       db: asyncpg.Connection, data_dir: Path
                                       ) -> tuple[Page, int, int, list[str]]:
    client = await start_app(roads={"data_dir": str(data_dir)})
    base = str(client.make_url("/"))
    await log_in(context, base, db)
    await create_unit(client, "AMB-SEBERANG", "ambulance", (FAR_BANK_UNIT.lat, FAR_BANK_UNIT.lon))
    near = await create_unit(client, "AMB-UTARA", "ambulance",
                             (SAME_BANK_UNIT.lat, SAME_BANK_UNIT.lon))
    errors: list[str] = []
    page = await context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(base)
    await expect(page.locator("body")).to_have_attribute("data-live", "live")
    incident = await create_incident(client, (RIVER_SCENE.lat, RIVER_SCENE.lon))
    await until_db(db, "SELECT unit_id FROM assignments WHERE incident_id = $1", incident["id"])
    await page.locator(f'#board li.incident[data-id="{incident["id"]}"]').click()
    return page, incident["id"], near["id"], errors


async def test_console_draws_the_road_route_of_the_assigned_unit(
        start_app: AppFactory, context: BrowserContext, db: asyncpg.Connection,
        tmp_path: Path, screenshots: Path) -> None:
    data = build_river_data(tmp_path)
    page, incident_id, unit_id, errors = await _console_with_river_incident(
        start_app, context, db, data)
    route = page.locator(f'#map path.map-route[data-incident="{incident_id}"]')
    await expect(route).to_have_attribute("data-unit", str(unit_id))
    await expect(page.locator(".ranking-note")).to_have_attribute("data-ranking", "road")
    await expect(page.locator(".ranking-note")).to_have_text(
        "Urutan menurut waktu tempuh lewat jalan")
    await expect(page.locator("#detail-assignments .assignments")).to_contain_text(
        "lewat jalan 8.8 km")
    await expect(page.locator("#detail-candidates")).to_contain_text("lewat jalan 44.1 km")
    await page.screenshot(path=screenshots / "console-road-route.png")
    # Deselected: the line goes with the selection.
    await page.locator("#detail .detail-head button").click()
    await expect(page.locator("#map path.map-route")).to_have_count(0)
    assert errors == []


async def test_console_says_straight_line_without_routing_data(
        start_app: AppFactory, context: BrowserContext, db: asyncpg.Connection,
        tmp_path: Path) -> None:
    page, _incident_id, _unit_id, errors = await _console_with_river_incident(
        start_app, context, db, tmp_path / "no-roads")
    await expect(page.locator(".ranking-note")).to_have_attribute("data-ranking", "geodesic")
    await expect(page.locator("#detail-assignments .assignments")).to_contain_text(
        "perkiraan garis lurus")
    await expect(page.locator("#map path.map-route")).to_have_count(0)
    assert errors == []
