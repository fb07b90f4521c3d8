"""The pages in a real browser, against the real app, database and Redis.

No fixed sleeps: every wait is a Playwright expectation that polls the page, an
SSE event, or a database NOTIFY.
"""

from __future__ import annotations

import re
from pathlib import Path

import asyncpg
from playwright.async_api import BrowserContext, Page, expect

from dispatch.gazetteer import region_entry
from tests.browser.conftest import PHONE_AT, log_in
from tests.conftest import AppFactory
from tests.helpers import KANIGORO, SRENGAT, WLINGI, create_incident, create_unit, until_db

expect.set_options(timeout=15_000)
_KEC = region_entry("35.05.10")
assert _KEC is not None
KANIGORO_KEC = _KEC


async def _open(context: BrowserContext, url: str, errors: list[str]) -> Page:
    """Open a page and wait until its live stream is connected; collect script errors."""
    page = await context.new_page()
    page.on("pageerror", lambda exc: errors.append(f"{url}: {exc}"))
    await page.goto(url)
    await expect(page.locator("body")).to_have_attribute("data-live", "live")
    return page


async def test_call_logged_dispatched_worked_and_measured(
        start_app: AppFactory, context: BrowserContext, db: asyncpg.Connection,
        screenshots: Path) -> None:
    client = await start_app()
    base = str(client.make_url("/"))
    await log_in(context, base, db)
    amb = await create_unit(client, "AMB-KNG-1", "ambulance", WLINGI)
    spare = await create_unit(client, "AMB-SRG-1", "ambulance", SRENGAT)
    await create_unit(client, "POL-KNG-1", "police", KANIGORO)
    errors: list[str] = []

    console = await _open(context, base, errors)
    await expect(console.locator("#roster")).to_contain_text("AMB-KNG-1")
    # The timeline records the logged-in user; the page says who that is.
    await expect(console.locator("#who")).to_contain_text("browser_admin")
    responder = await _open(context, f"{base}responder?unit={amb['id']}", errors)
    await expect(responder.locator(".standby")).to_be_visible()
    # The phone reports where it is: the unit's stored position follows.
    await until_db(db, "SELECT abs(lat - $2) < 1e-6 FROM units WHERE id = $1", amb["id"],
                   PHONE_AT["latitude"])
    dashboard = await _open(context, f"{base}supervisor", errors)
    total_count = dashboard.locator('td[data-interval="total"][data-col="count"]')
    await expect(total_count).to_have_text("0")

    # A call-taker logs the call with the keyboard: phone, Alt+3 (medis), the kecamatan
    # typed in the location box and picked with Enter.
    await console.bring_to_front()
    await console.locator("#f-phone").fill("081234567890")
    await console.locator("#f-phone").press("Alt+3")
    await expect(console.locator("input[name=category][value=medis]")).to_be_checked()
    await console.locator("#f-place").fill("kec kanigoro")
    await expect(console.locator("#f-place-list li").first).to_contain_text("Kec. Kanigoro")
    await console.locator("#f-place").press("Enter")
    await expect(console.locator("#f-lat")).to_have_value(str(KANIGORO_KEC.lat))
    await console.locator("#f-address").fill("Jl. Raya Kanigoro 12")
    await console.locator("#f-notes").press("Control+Enter")
    await expect(console.locator("#intake-msg")).to_have_text(re.compile(r"#\d+"))
    incident_id = await db.fetchval("SELECT max(id) FROM incidents")

    # The dispatcher assigns the ambulance; the board shows it without a reload.
    row = console.locator(f'#board li.incident[data-id="{incident_id}"]')
    await expect(row.locator(f'.assigned li[data-unit="{amb["id"]}"]')).to_contain_text(
        "Dikirim")
    await expect(row.locator(".elapsed")).to_have_text(re.compile(r"^\d+:\d\d$"))
    await expect(console.locator("body")).to_have_attribute("data-board-loads", "1")
    assert errors == []

    # The responder's page got the assignment live, with an alert.
    await expect(responder.locator("body")).to_have_attribute("data-alerts", "1")
    assignment = responder.locator(".assignment")
    await expect(assignment).to_contain_text(f"#{incident_id}")
    await expect(assignment).to_contain_text("Kegawatdaruratan medis")
    await expect(assignment.locator("a.maplink").first).to_have_attribute(
        "href", re.compile(rf"destination={KANIGORO_KEC.lat:.3f}".replace(".", r"\.")))
    # The dispatcher opens the incident: units nearest first, and sends a second one.
    await console.locator(f'#board li.incident[data-id="{incident_id}"]').click()
    await expect(console.locator("#detail-assignments")).to_contain_text("AMB-KNG-1")
    spare_row = console.locator(f'#detail-candidates li[data-unit="{spare["id"]}"]')
    await expect(spare_row).to_contain_text("km")
    await spare_row.locator("button").click()
    await expect(row.locator(f'.assigned li[data-unit="{spare["id"]}"]')).to_contain_text(
        "Dikirim")
    # The list follows live too: the unit sent is listed with the incident's units, once.
    await expect(console.locator(f'#detail-assignments li[data-unit="{spare["id"]}"]')
                 ).to_be_visible()
    await expect(spare_row).to_have_count(0)
    await console.screenshot(path=screenshots / "console.png", full_page=True)
    await responder.set_viewport_size({"width": 400, "height": 820})
    await responder.screenshot(path=screenshots / "responder.png", full_page=True)

    # Big buttons advance the unit; the board follows.
    await responder.locator('button[data-status="en_route"]').click()
    await expect(responder.locator("#status-now")).to_contain_text("Dalam perjalanan")
    await responder.locator('button[data-status="on_scene"]').click()
    await expect(responder.locator("#status-now")).to_contain_text("Di lokasi")
    await expect(row.locator(f'.assigned li[data-unit="{amb["id"]}"]')).to_contain_text(
        "Di lokasi")

    # The dashboard counts the response by itself: it reads its figures again when the
    # stream reports changes, at most every 30 s (supervisor.js AGGREGATES_EVERY_MS).
    await expect(total_count).to_have_text("1", timeout=40_000)
    await expect(dashboard.locator("#chart-histogram rect.bar")).to_have_count(1)
    await expect(dashboard.locator("#chart-kecamatan rect.bar")).to_have_attribute(
        "data-label", "Kanigoro")
    await dashboard.screenshot(path=screenshots / "supervisor.png", full_page=True)

    # English on request: labels and statuses both switch.
    await console.locator("#lang").click()
    await expect(row.locator(f'.assigned li[data-unit="{amb["id"]}"]')).to_contain_text(
        "On scene")
    await expect(row.locator(".cat")).to_have_text("Medical emergency")
    assert errors == []


async def test_board_shows_the_drop_and_resumes_without_missing_anything(
        start_app: AppFactory, context: BrowserContext, screenshots: Path,
        db: asyncpg.Connection) -> None:
    client = await start_app()
    base = str(client.make_url("/"))
    await log_in(context, base, db)
    await create_unit(client, "AMB-1", "ambulance", WLINGI)
    errors: list[str] = []
    console = await _open(context, base, errors)
    banner = console.locator("#conn-banner")
    first = await create_incident(client, KANIGORO, address="Sebelum putus")
    await expect(console.locator(f'#board li[data-id="{first["id"]}"]')).to_contain_text(
        "AMB-1")
    await expect(banner).to_be_hidden()

    await context.set_offline(True)
    await expect(banner).to_be_visible()
    await expect(banner).to_contain_text("TERPUTUS")
    await expect(console.locator("body")).to_have_attribute("data-live", "down")
    # Work goes on at the centre while this console is cut off.
    missed = await create_incident(client, WLINGI, category="kebakaran", address="Saat putus")
    await console.screenshot(path=screenshots / "console-disconnected.png")

    await context.set_offline(False)
    await expect(banner).to_be_hidden()
    missed_row = console.locator(f'#board li[data-id="{missed["id"]}"]')
    await expect(missed_row).to_contain_text("Saat putus")
    await expect(missed_row).to_contain_text("ANTRE")  # no fire engine: it waits, and shows it
    await expect(console.locator(f'#board li[data-id="{first["id"]}"]')).to_be_visible()
    # Resumed from Last-Event-ID: the board was never reloaded wholesale.
    await expect(console.locator("body")).to_have_attribute("data-board-loads", "1")
    assert errors == []
