"""The location box in Chromium: a desa typed as the caller says it, picked, and saved."""

from __future__ import annotations

import re
from pathlib import Path

import asyncpg
import pytest
from playwright.async_api import Browser, expect

from dispatch.gazetteer import region_entry
from tests.browser.conftest import log_in
from tests.conftest import AppFactory
from tests.helpers import KANIGORO, create_incident, create_unit

expect.set_options(timeout=15_000)


async def test_type_sawentar_pick_the_desa_saved_at_its_centroid_with_its_radius(
        start_app: AppFactory, browser: Browser, db: asyncpg.Connection,
        screenshots: Path) -> None:
    client = await start_app()
    base = str(client.make_url("/"))
    context = await browser.new_context(viewport={"width": 1366, "height": 768},
                                        locale="id-ID")
    context.set_default_timeout(15000)
    try:
        await log_in(context, base, db)
        await create_unit(client, "AMB-KNG-1", "ambulance", KANIGORO)
        # A call in Tulungagung waits on the board to be handed over, saying to whom.
        west = await create_incident(client, (-8.10, 111.90))
        errors: list[str] = []
        page = await context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.goto(base)
        await expect(page.locator("body")).to_have_attribute("data-live", "live")
        flag = page.locator(f'#board li.incident[data-id="{west["id"]}"] .handover-flag')
        await expect(flag).to_contain_text("Serahkan ke 112 Kabupaten Tulungagung")

        await page.locator("#f-phone").fill("081234567890")
        await page.locator("#f-phone").press("Alt+3")
        await page.locator("#f-place").press_sequentially("sawentar")
        first = page.locator("#f-place-list li").first
        await expect(first).to_contain_text("Desa Sawentar, Kec. Kanigoro")
        await expect(first).to_contain_text(re.compile(r"± \d\.\d km"))
        await page.locator("#f-place-list").scroll_into_view_if_needed()
        await page.screenshot(path=str(screenshots / "console-location-search.png"),
                              full_page=True)
        await first.click()
        sawentar = region_entry("35.05.10.2011")
        assert sawentar is not None and sawentar.name == "Sawentar"
        chosen = page.locator("#f-place-chosen")
        await expect(chosen).to_contain_text("Sawentar")
        await expect(chosen).to_contain_text(f"± {sawentar.radius_m / 1000:.1f} km")
        await expect(page.locator("#f-lat")).to_have_value(str(sawentar.lat))
        await page.locator("#f-notes").press("Control+Enter")
        await expect(page.locator("#intake-msg")).to_have_text(re.compile(r"#\d+"))
        row = await db.fetchrow("SELECT * FROM incidents ORDER BY id DESC LIMIT 1")
        assert (row["lat"], row["lon"]) == (pytest.approx(sawentar.lat, abs=1e-9),
                                            pytest.approx(sawentar.lon, abs=1e-9))
        assert (row["location_source"], row["radius_m"]) == ("desa", sawentar.radius_m)
        assert (row["desa"], row["kecamatan"], row["jurisdiction"]) == (
            "Sawentar", "Kanigoro", "regency")
        board = page.locator(f'#board li.incident[data-id="{row["id"]}"]')
        await expect(board.locator(".radius")).to_have_text(f"± {sawentar.radius_m / 1000:.1f} km")
        await expect(board.locator(".desa")).to_have_text("Sawentar")
        await page.screenshot(path=str(screenshots / "console-desa-incident.png"))
        assert errors == []
    finally:
        await context.close()


async def test_a_supervisor_adds_a_place_on_its_page_and_the_console_finds_it(
        start_app: AppFactory, browser: Browser, db: asyncpg.Connection,
        screenshots: Path) -> None:
    client = await start_app()
    base = str(client.make_url("/"))
    context = await browser.new_context(viewport={"width": 1366, "height": 768},
                                        locale="id-ID")
    context.set_default_timeout(15000)
    try:
        await log_in(context, base, db, role="supervisor")
        errors: list[str] = []
        page = await context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.goto(f"{base}places")
        await page.locator("#pl-name").fill("Jembatan Lahor")
        await page.locator("#pl-kind").select_option("jembatan")
        await page.locator("#pl-lat").fill("-8.1146")
        await page.locator("#pl-lon").fill("112.2337")
        await page.locator("#pl-aliases").fill("Jembatan Sawentar; Jembatan lama")
        await page.locator("#pl-form button[type=submit]").click()
        await expect(page.locator("#pl-msg")).to_contain_text("Desa Sawentar")
        row = page.locator("#pl-table tbody tr").first
        await expect(row).to_contain_text("Jembatan Lahor")
        await expect(row).to_contain_text("Sawentar, Kec. Kanigoro")
        # A point outside the map area is refused, with the field named, and not stored.
        await page.locator("#pl-name").fill("Jauh")
        await page.locator("#pl-lat").fill("-7.5")
        await page.locator("#pl-lon").fill("112.2")
        await page.locator("#pl-form button[type=submit]").click()
        await expect(page.locator('#pl-form [data-err="location"]')).not_to_be_empty()
        await page.screenshot(path=str(screenshots / "places-page.png"))
        assert await db.fetchval("SELECT count(*) FROM places") == 1
        found = await client.get("/api/v1/places", params={"q": "jembatan sawentar"})
        assert (await found.json())["items"][0]["name"] == "Jembatan Lahor"
        assert errors == []
    finally:
        await context.close()
