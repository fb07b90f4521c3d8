"""The caller location link in Chromium: the call-taker's console (1366x768) and a second
browser context emulating the caller's phone with a granted geolocation.

The SMS gateway is a small real server the test runs; no fixed sleeps."""

from __future__ import annotations

import re
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, BrowserContext, Page, expect

from tests.browser.conftest import log_in
from tests.conftest import AppFactory
from tests.helpers import WLINGI, create_unit, until_db
from tests.test_location_link import SECRET, Gateway

expect.set_options(timeout=15_000)
ServerFactory = Callable[..., Awaitable[TestServer]]
CALLER = "081355501234"
# Where the caller's phone really is: in Kanigoro, far from where the call was placed.
PHONE = {"latitude": -8.1281, "longitude": 112.2196, "accuracy": 18}


async def _console(browser: Browser, base: str, db: asyncpg.Connection,
                   errors: list[str]) -> tuple[BrowserContext, Page]:
    ctx = await browser.new_context(viewport={"width": 1366, "height": 768}, locale="id-ID")
    ctx.set_default_timeout(15000)
    await log_in(ctx, base, db, role="call_taker")
    page = await ctx.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(base)
    await expect(page.locator("body")).to_have_attribute("data-live", "live")
    return ctx, page


async def _log_emergency(page: Page) -> None:
    """The call-taker logs the call with the keyboard, placed roughly (Wlingi)."""
    await page.locator("#f-phone").fill(CALLER)
    await page.locator("#f-phone").press("Alt+3")  # medis
    await page.locator("#f-lat").fill(str(WLINGI[0]))
    await page.locator("#f-lon").fill(str(WLINGI[1]))
    await page.locator("#f-address").fill("Katanya dekat pasar")
    await page.locator("#f-address").press("Control+Enter")
    await expect(page.locator("#intake-msg")).to_contain_text("tersimpan")


async def _phone(browser: Browser) -> BrowserContext:
    ctx = await browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
        has_touch=True, locale="id-ID", geolocation=PHONE, permissions=["geolocation"],
        user_agent="Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 "
                   "(KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36")
    ctx.set_default_timeout(15000)
    return ctx


async def test_caller_shares_position_by_link_and_the_call_taker_uses_it(
        start_app: AppFactory, browser: Browser, db: asyncpg.Connection,
        aiohttp_server: ServerFactory, screenshots: Path) -> None:
    gw = Gateway()
    server = await aiohttp_server(gw.app())
    client = await start_app(sms={"gateway_url": str(server.make_url("/send")),
                                  "gateway_secret": SECRET})
    base = str(client.make_url("/"))
    await create_unit(client, "AMB-WLG-1", "ambulance", WLINGI)
    errors: list[str] = []
    ctx, console = await _console(browser, base, db, errors)
    await _log_emergency(console)
    incident_id = await until_db(db, "SELECT id FROM incidents WHERE caller_phone = $1", CALLER)

    # One key makes the link; the gateway sends it by SMS, the console shows it to copy.
    box = console.locator("#calllink-box")
    await expect(box).to_be_visible()
    await console.keyboard.press("Alt+L")
    await expect(box.locator("[data-sms=sent]")).to_be_visible()
    url = await console.locator("#calllink-url").input_value()
    assert url.startswith(base + "l/")
    assert gw.received == [{"to": CALLER, "text": gw.received[0]["text"]}]
    assert url in gw.received[0]["text"]
    wa = await console.locator("#calllink-wa").get_attribute("href")
    assert wa is not None and wa.startswith("https://wa.me/6281355501234?text=")
    await expect(box).to_contain_text("Menunggu lokasi")

    # The caller opens the link on the phone and presses the one button.
    phone_ctx = await _phone(browser)
    phone = await phone_ctx.new_page()
    phone_errors: list[str] = []
    phone.on("pageerror", lambda exc: phone_errors.append(str(exc)))
    await phone.goto(url)
    share = phone.get_by_role("button", name="Bagikan lokasi saya")
    await expect(share).to_be_visible()
    page_text = await phone.locator("body").inner_text()
    assert CALLER not in page_text and "pasar" not in page_text  # no personal data
    await phone.screenshot(path=screenshots / "caller-link-phone.png")
    await share.click()
    await expect(phone.locator("main.caller")).to_have_attribute("data-state", "sharing")
    await expect(phone.locator("#status")).to_contain_text("Lokasi terkirim")
    await expect(phone.locator("#status")).to_contain_text("±18 m")
    await phone.screenshot(path=screenshots / "caller-link-phone-sharing.png")

    # The fix arrives on the console through the live stream, with its circle.
    fix_id = await until_db(db, "SELECT min(id) FROM location_fixes")
    item = console.locator(f'#calllink-box li.calllink-fix[data-fix="{fix_id}"]')
    await expect(item).to_contain_text("-8.12810, 112.21960 ±18 m")
    await expect(console.locator(f'#map path.fix-circle[data-fix="{fix_id}"]')).to_have_count(1)
    await console.screenshot(path=screenshots / "console-caller-link.png")
    await item.get_by_role("button", name="Pakai lokasi ini").click()
    await until_db(db, "SELECT abs(lat - $2) < 1e-9 AND abs(lon - $3) < 1e-9 "
                   "FROM incidents WHERE id = $1", incident_id, PHONE["latitude"],
                   PHONE["longitude"])
    board_row = console.locator(f'#board li.incident[data-id="{incident_id}"]')
    await expect(board_row).to_contain_text("Kec. Kanigoro")
    await expect(item.get_by_role("button", name="Dipakai")).to_be_disabled()

    # Once the link has expired the phone gets the clear page.
    await db.execute("UPDATE location_links SET created_at = created_at - interval '1 hour', "
                     "expires_at = now() - interval '1 second'")
    await phone.goto(url)
    await expect(phone.locator("h1")).to_have_text("Tautan sudah kedaluwarsa")
    await expect(phone.locator("body")).to_contain_text("telepon 112")
    await phone.screenshot(path=screenshots / "caller-link-expired.png")
    assert errors == [] and phone_errors == []
    await phone_ctx.close()
    await ctx.close()


async def test_gateway_down_the_call_taker_still_gets_the_link_and_sees_the_failure(
        start_app: AppFactory, browser: Browser, db: asyncpg.Connection,
        screenshots: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    client = await start_app(sms={"gateway_url": f"http://127.0.0.1:{dead}/send"})
    base = str(client.make_url("/"))
    errors: list[str] = []
    ctx, console = await _console(browser, base, db, errors)
    await _log_emergency(console)
    await console.locator("#calllink-make").click()
    failed = console.locator("#calllink-box [data-sms=failed]")
    await expect(failed).to_contain_text("SMS GAGAL")
    url = await console.locator("#calllink-url").input_value()
    assert "/l/" in url
    await expect(console.locator("#calllink-wa")).to_have_attribute(
        "href", re.compile(r"^https://wa\.me/6281355501234\?text=.*112"))
    await console.screenshot(path=screenshots / "console-caller-link-sms-failed.png")
    # The link itself works.
    phone_ctx = await _phone(browser)
    phone = await phone_ctx.new_page()
    await phone.goto(url)
    await phone.get_by_role("button", name="Bagikan lokasi saya").click()
    await expect(phone.locator("#status")).to_contain_text("Lokasi terkirim")
    await expect(console.locator("#calllink-box li.calllink-fix")).to_have_count(1)
    assert errors == []
    await phone_ctx.close()
    await ctx.close()
