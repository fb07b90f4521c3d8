"""How many keystrokes and seconds it takes one person to log and dispatch a house fire.

A benchmark, not a test (the name keeps it out of the suite): it prints figures and asserts
only that the call was done. Run it alone:

    PYTHONPATH=$PWD python -m pytest -q -s tests/browser/bench_housefire.py

The caller reports a house fire at a known address in Desa Kanigoro; one person (a centre's
night shift) takes the call and sees the fire engine and the ambulance on the board. The
keys and clicks are counted in the page itself (every keydown and every mousedown), so the
figure is what a person would press. The seconds are the machine's (Playwright types
without delay) from the first keystroke to both units on the board, plus an estimate of a
person's time at 5 keys/s and 1 s per click (an estimate: labelled so in the output).
"""

from __future__ import annotations

import sys
import time

import asyncpg
from playwright.async_api import BrowserContext, expect

from tests.browser.conftest import log_in
from tests.browser.test_pages_live import _open
from tests.conftest import AppFactory
from tests.helpers import KANIGORO, WLINGI, create_unit

expect.set_options(timeout=15_000)

COUNT_INPUT = """
window.__keys = 0; window.__clicks = 0;
document.addEventListener('keydown', () => { window.__keys += 1; }, true);
document.addEventListener('mousedown', () => { window.__clicks += 1; }, true);
"""
PHONE = "081233344455"
ADDRESS = "Jl. Raya Kanigoro 12, rumah Pak Slamet"
NOTES = "Rumah terbakar, api di dapur, penghuni sudah keluar"


async def test_house_fire_call_keystrokes_and_seconds(
        start_app: AppFactory, context: BrowserContext, db: asyncpg.Connection) -> None:
    client = await start_app()
    base = str(client.make_url("/"))
    await log_in(context, base, db)
    await create_unit(client, "DMK-KNG-1", "fire", KANIGORO)
    await create_unit(client, "AMB-WLG-1", "ambulance", WLINGI)
    await context.add_init_script(COUNT_INPUT)
    errors: list[str] = []
    page = await _open(context, base, errors)
    await page.set_viewport_size({"width": 1366, "height": 768})
    await expect(page.locator("#roster")).to_contain_text("DMK-KNG-1")
    kb = page.keyboard

    start = time.perf_counter()
    await page.locator("#f-phone").click()
    await kb.type(PHONE)
    await kb.press("Alt+2")  # Kebakaran, the second category
    await kb.press("Tab")  # to the priority
    await kb.press("1")  # 1 — Sangat mendesak
    await expect(page.locator("#f-priority")).to_have_value("1")
    await page.locator("#f-place").click()
    await kb.type("kanigoro")
    await expect(page.locator("#f-place-list li").first).to_be_visible()
    await kb.press("Enter")
    await expect(page.locator("#f-place-chosen")).to_be_visible()
    await page.locator("#f-address").click()
    await kb.type(ADDRESS)
    await kb.press("Tab")
    await kb.type(NOTES)
    typed = time.perf_counter() - start
    await kb.press("Control+Enter")
    row = page.locator("#board li.incident").first
    await expect(row.locator(".assigned li[data-unit]")).to_have_count(2)
    seconds = time.perf_counter() - start

    keys = await page.evaluate("window.__keys")
    clicks = await page.evaluate("window.__clicks")
    scroll = await page.evaluate("[document.scrollingElement.scrollHeight, innerHeight]")
    incidents = await db.fetchval("SELECT count(*) FROM incidents")
    assert incidents == 1 and errors == []
    human = keys / 5 + clicks * 1.0
    sys.stdout.write(f"\nhouse-fire call: keydowns={keys} clicks={clicks} "
          f"machine_seconds={seconds:.2f} (typing {typed:.2f}, saved to units on board "
          f"{seconds - typed:.2f}) estimated_person_seconds={human + seconds:.0f} "
          "(estimate: 5 keys/s, 1 s per click) "
          f"page_height={scroll[0]}px viewport={scroll[1]}px\n")
