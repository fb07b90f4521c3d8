"""Timers that shout, in a real browser: a unit left unacknowledged raises an alert; the
dispatcher's console lists it, flashes the incident's row and beeps (the sound was unlocked
by the first click), and the acknowledgement goes on the incident's timeline."""

from __future__ import annotations

import re

import asyncpg
import pytest
from playwright.async_api import BrowserContext, expect

from dispatch.settings import Settings
from tests.browser.conftest import log_in
from tests.browser.test_pages_live import _open
from tests.browser.test_positions_live import DOCS_SHOTS, SCREEN
from tests.conftest import AppFactory
from tests.helpers import KANIGORO, create_incident, create_unit, until_db

expect.set_options(timeout=20_000)
pytestmark = pytest.mark.skipif(not hasattr(Settings, "alerts") and
                                "alerts" not in getattr(Settings, "__dataclass_fields__", {}),
                                reason="this build has no alert timers ([alerts] settings)")


async def test_unacknowledged_unit_flashes_the_row_beeps_and_is_acknowledged(
        start_app: AppFactory, context: BrowserContext, db: asyncpg.Connection) -> None:
    client = await start_app(alerts={"check_s": 0.5, "unacknowledged_s": {"default": 1.0}})
    base = str(client.make_url("/"))
    await log_in(context, base, db, "dispatcher")
    await create_unit(client, "DMK-KNG-1", "fire", KANIGORO)
    errors: list[str] = []
    page = await _open(context, base, errors)
    await page.set_viewport_size(SCREEN)
    await expect(page.locator("#alerts-strip")).to_be_hidden()
    await page.locator("#board").click()  # the first gesture: the page may now play sound
    await expect(page.locator("body")).to_have_attribute("data-sound", "on")

    inc = await create_incident(client, KANIGORO, category="sarang_tawon", priority=3)
    row = page.locator(f'#board li.incident[data-id="{inc["id"]}"]')
    strip = page.locator("#alerts-strip")
    await expect(strip).to_be_visible()
    await expect(strip.locator("li.alert")).to_contain_text("DMK-KNG-1 belum menerima tugas")
    await expect(row).to_have_class(re.compile(r"\balerting\b"))
    await expect(page.locator("body")).to_have_attribute("data-beeps", "1")
    DOCS_SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=DOCS_SHOTS / "console-alert.png")

    await strip.locator("button.ack").click()
    await expect(strip.locator("li.alert.acked")).to_have_count(1)
    await expect(row).to_have_class(re.compile(r"\backed\b"))
    await until_db(db, "SELECT count(*) = 1 FROM events WHERE kind = 'alert.acknowledged' "
                   "AND incident_id = $1", inc["id"])
    await row.click()
    await expect(page.locator("#timeline")).to_contain_text("Peringatan dikonfirmasi")
    assert errors == []
