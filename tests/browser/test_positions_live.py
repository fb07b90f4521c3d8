"""One screen per position at 1366×768, in a real browser against the real app.

Each role walks every page its console links to: no request is answered 403, no control
its role may not use is on screen, and the form, the board and the open incident fit
without scrolling the page. Screenshots of each position, light and dark, go to
docs/screenshots/ when SIAP112_DOC_SHOTS says so (the README lists them).
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from playwright.async_api import Browser, BrowserContext, Page, Response, expect

from tests.browser.conftest import PHONE_AT, log_in
from tests.conftest import AppFactory
from tests.helpers import KANIGORO, WLINGI, create_incident, create_unit, post_json

expect.set_options(timeout=15_000)
# The README's screenshots: refreshed with SIAP112_DOC_SHOTS=docs/screenshots; an ordinary
# run writes them beside the others in screenshots/ (not committed).
DOCS_SHOTS = Path(os.environ.get("SIAP112_DOC_SHOTS")
                  or Path(__file__).resolve().parents[2] / "screenshots")
DOCS_SHOTS.mkdir(parents=True, exist_ok=True)
SCREEN = {"width": 1366, "height": 768}
# role → (position the console shows, controls that must be visible, controls that must not)
INTAKE = "#intake-form"
SEND = "#detail-candidates button"
CLOSE = "#close-form"
NOTE = "#note-form"
CALL_BACK = "#callback-list button[data-verb=take]"
ROLES = {
    "call_taker": ("call_taker", [INTAKE, CALL_BACK, NOTE],
                   [SEND, CLOSE, "a[href='/supervisor']", "a[href='/responder']",
                    "a[href='/places']"]),
    "dispatcher": ("dispatcher", [SEND, CLOSE, NOTE, "#callback-list li"],
                   [INTAKE, CALL_BACK, "a[href='/supervisor']", "a[href='/places']"]),
    "supervisor": ("supervisor", ["#detail-candidates", NOTE, "#callback-list li"],
                   [INTAKE, SEND, CLOSE, CALL_BACK]),
    # One person taking calls and dispatching: a small centre's night shift.
    "operator": ("combined", [INTAKE, SEND, CLOSE, CALL_BACK, NOTE],
                 ["a[href='/supervisor']", "a[href='/places']"]),
    "admin": ("combined", [INTAKE, SEND, CLOSE, CALL_BACK, NOTE], []),
}
# The admin's console is the operator's (plus the supervisor's pages): one screenshot each.
SHOT_ROLES = [role for role in ROLES if role != "admin"]
COUNTED = (SEND, CLOSE, CALL_BACK)  # drawn or not at all


@pytest.fixture
async def screen(browser: Browser) -> AsyncIterator[BrowserContext]:
    ctx = await browser.new_context(viewport=SCREEN, locale="id-ID", geolocation=PHONE_AT,
                                    permissions=["geolocation"])
    ctx.set_default_timeout(15000)
    yield ctx
    await ctx.close()


async def _watch(context: BrowserContext, page: Page, refused: list[str],
                 errors: list[str]) -> None:
    def on_response(resp: Response) -> None:
        if resp.status == 403:
            refused.append(f"{resp.request.method} {resp.url}")
    page.on("response", on_response)
    page.on("pageerror", lambda exc: errors.append(str(exc)))


async def _console(context: BrowserContext, base: str, refused: list[str],
                   errors: list[str]) -> Page:
    page = await context.new_page()
    await _watch(context, page, refused, errors)
    await page.goto(base)
    await expect(page.locator("body")).to_have_attribute("data-live", "live")
    return page


async def _fits(page: Page) -> None:
    heights = await page.evaluate(
        "[document.scrollingElement.scrollHeight, innerHeight,"
        " document.scrollingElement.scrollWidth, innerWidth]")
    assert heights[0] <= heights[1] and heights[2] <= heights[3], heights


@pytest.mark.parametrize("role", list(ROLES))
async def test_each_role_sees_only_what_it_may_use_on_one_screen(
        start_app: AppFactory, screen: BrowserContext, db: asyncpg.Connection,
        role: str) -> None:
    client = await start_app()
    base = str(client.make_url("/"))
    await create_unit(client, "DMK-KNG-1", "fire", KANIGORO)
    await create_unit(client, "AMB-WLG-1", "ambulance", WLINGI)
    fire = await create_incident(client, KANIGORO, category="kebakaran",
                                 address="Jl. Raya Kanigoro 12")
    # A silent call: a callback task for the call-takers, listed for everyone else.
    await post_json(client, "/api/v1/calls", {"caller_phone": "085712340000",
                                              "disposition": "ghost"}, 201)
    await log_in(screen, base, db, role)
    refused: list[str] = []
    errors: list[str] = []
    page = await _console(screen, base, refused, errors)
    position, shown, hidden = ROLES[role]
    await expect(page.locator("body")).to_have_attribute("data-position", position)
    row = page.locator(f'#board li.incident[data-id="{fire["id"]}"]')
    await expect(row.locator(".assigned li[data-unit]")).to_have_count(2)
    await row.click()
    await expect(page.locator("#timeline li").first).to_be_visible()
    for sel in shown:
        await expect(page.locator(sel).first).to_be_visible()
    for sel in hidden:
        await expect(page.locator(sel)).to_have_count(0) if sel in COUNTED \
            else await expect(page.locator(sel)).to_be_hidden()
    await _fits(page)

    # Every page this role is offered: none answers 403, none scrolls sideways.
    links = [await a.get_attribute("href") for a in
             await page.locator("header nav a:visible").all()]
    assert "/" in links
    for href in links:
        other = await screen.new_page()
        await _watch(screen, other, refused, errors)
        await other.goto(base.rstrip("/") + (href or "/"))
        await expect(other).not_to_have_url(re.compile(r"/login"))
        await expect(other.locator("#who")).to_be_visible()
        if href == "/":
            await expect(other.locator("body")).to_have_attribute("data-live", "live")
        await other.close()
    assert refused == [], refused
    assert errors == []


@pytest.mark.parametrize("role", SHOT_ROLES)
async def test_screenshots_of_each_position_light_and_dark(
        start_app: AppFactory, screen: BrowserContext, db: asyncpg.Connection,
        role: str) -> None:
    client = await start_app()
    base = str(client.make_url("/"))
    await create_unit(client, "DMK-KNG-1", "fire", KANIGORO)
    await create_unit(client, "AMB-WLG-1", "ambulance", WLINGI)
    await create_unit(client, "POL-KNG-1", "police", KANIGORO)
    fire = await create_incident(client, KANIGORO, category="kebakaran",
                                 address="Jl. Raya Kanigoro 12, rumah Pak Slamet",
                                 description="Api di dapur, penghuni sudah keluar")
    await create_incident(client, WLINGI, category="medis", priority=2,
                          address="Pasar Wlingi, los sayur")
    await log_in(screen, base, db, role)
    refused: list[str] = []
    errors: list[str] = []
    page = await _console(screen, base, refused, errors)
    row = page.locator(f'#board li.incident[data-id="{fire["id"]}"]')
    await expect(row.locator(".assigned li[data-unit]")).to_have_count(2)
    await row.click()
    await expect(page.locator("#timeline li").first).to_be_visible()
    if ROLES[role][0] != "call_taker":
        await expect(page.locator("#detail-candidates h3")).to_be_visible()
    if ROLES[role][0] in ("combined", "call_taker"):
        await page.locator("#f-phone").fill("081398765432")
        await page.locator("#f-address").fill("Jl. Melati 3, Sawentar")
    position = ROLES[role][0]
    await page.screenshot(path=DOCS_SHOTS / f"console-{position}-light.png")
    await page.locator("#theme").click()
    await expect(page.locator("body")).to_have_attribute("data-theme", "dark")
    await page.screenshot(path=DOCS_SHOTS / f"console-{position}-dark.png")
    # Remembered for this user: the next page load is dark too.
    await page.reload()
    await expect(page.locator("body")).to_have_attribute("data-theme", "dark")
    await _fits(page)
    assert refused == [] and errors == []
