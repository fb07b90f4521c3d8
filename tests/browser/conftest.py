"""Real-browser fixtures: Debian's headless Chromium driven by Playwright.

The tests skip, saying why, only when no Chromium binary is installed (CI installs
it: see .ci/run). Playwright's own browser download is never used.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from playwright.async_api import Browser, BrowserContext, async_playwright, expect

from dispatch.store import accounts

CHROMIUM = os.environ.get("SIAP112_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
HAVE_CHROMIUM = Path(CHROMIUM).is_file()
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
# The README names this folder: screenshots of each page, rewritten by every run.
SCREENSHOTS = Path(__file__).resolve().parents[2] / "screenshots"
# Somewhere inside Kanigoro: where the responder's phone says it is.
PHONE_AT = {"latitude": -8.1300, "longitude": 112.2100}


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not HAVE_CHROMIUM:
        pytest.skip(f"no Chromium binary at {CHROMIUM}: apt-get install chromium (see .ci/run)")
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        await b.close()


@pytest.fixture
async def context(browser: Browser) -> AsyncIterator[BrowserContext]:
    ctx = await browser.new_context(viewport={"width": 1440, "height": 900}, locale="id-ID",
                                    geolocation=PHONE_AT, permissions=["geolocation"])
    ctx.set_default_timeout(15000)
    yield ctx
    await ctx.close()


@pytest.fixture
def screenshots() -> Path:
    SCREENSHOTS.mkdir(exist_ok=True)
    return SCREENSHOTS


async def log_in(context: BrowserContext, base: str, db: asyncpg.Connection,
                 role: str = "admin") -> None:
    """Log in as a new ``role`` user through the login page a page redirects to."""
    name, password = f"browser_{role}", "kata-sandi-uji-112"
    if not await db.fetchval("SELECT 1 FROM users WHERE username = $1", name):
        await accounts.create_user(db, name, role, password)
    page = await context.new_page()
    await page.goto(base)  # no session yet: the console sends us to the login form
    await expect(page).to_have_url(re.compile(r"/login\?next="))
    await page.locator("#username").fill(name)
    await page.locator("#password").fill(password)
    await page.locator("#login-submit").click()
    await expect(page).to_have_url(base)
    await page.close()
