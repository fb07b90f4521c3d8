"""After their first load the console and the responder page are driven by the stream
alone: while 100 events arrive they send no API request, and show the final state."""

from __future__ import annotations

import asyncpg
from aiohttp.test_utils import TestClient
from playwright.async_api import BrowserContext, Page, Request, expect

from dispatch.store import accounts
from tests.browser.conftest import PHONE_AT, log_in
from tests.conftest import AppFactory
from tests.helpers import (
    KANIGORO,
    SRENGAT,
    WLINGI,
    create_incident,
    create_unit,
    post_json,
    set_status,
    until_db,
)

expect.set_options(timeout=20_000)
EVENTS = 100


def count_api_requests(page: Page) -> list[str]:
    """Every API request the page makes from now on, but its own event stream."""
    seen: list[str] = []

    def on_request(req: Request) -> None:
        if "/api/" in req.url and "/api/v1/events" not in req.url:
            seen.append(f"{req.method} {req.url}")

    page.on("request", on_request)
    return seen


async def _open(context: BrowserContext, url: str, errors: list[str]) -> Page:
    page = await context.new_page()
    page.on("pageerror", lambda exc: errors.append(f"{url}: {exc}"))
    await page.goto(url)
    await expect(page.locator("body")).to_have_attribute("data-live", "live")
    return page


async def _all_shown(db: asyncpg.Connection, page: Page, after: int,
                     mine: str = "true", *args: object) -> None:
    """Wait until 100 events were written since ``after`` and the page received the
    newest of those it is given (``mine``: an SQL condition on the event)."""
    await until_db(db, "SELECT count(*) >= $2 FROM events WHERE id > $1", after, EVENTS)
    newest = await db.fetchval(f"SELECT max(id) FROM events WHERE {mine}", *args)  # noqa: S608
    await page.wait_for_function("seq => window.siap112.live.lastSeq >= seq", arg=newest)


async def _toggle(client: TestClient, unit_id: int, times: int) -> None:
    for i in range(times):
        await set_status(client, unit_id, "out_of_service" if i % 2 == 0 else "available")


async def test_the_console_applies_100_events_without_one_request(
        start_app: AppFactory, context: BrowserContext, db: asyncpg.Connection) -> None:
    client = await start_app()
    base = str(client.make_url("/"))
    await log_in(context, base, db)
    amb = await create_unit(client, "AMB-LIVE-1", "ambulance", WLINGI)
    pol = await create_unit(client, "POL-LIVE-1", "police", KANIGORO)
    errors: list[str] = []
    console = await _open(context, base, errors)
    await expect(console.locator("#roster")).to_contain_text("POL-LIVE-1")
    await expect(console.locator("body")).to_have_attribute("data-board-loads", "1")
    start = await db.fetchval("SELECT coalesce(max(id), 0) FROM events")
    requests = count_api_requests(console)

    # Made through the API elsewhere: new incidents (one dispatched, the fires queued, no
    # fire engine), one closed, a unit's status changing over and over.
    medical = await create_incident(client, SRENGAT, address="Jl. Medis 1")
    fires = [await create_incident(client, WLINGI, category="kebakaran", address=f"Api {i}")
             for i in range(4)]
    await post_json(client, f"/api/v1/incidents/{fires[0]['id']}/close",
                    {"disposition": "selesai"}, 200)
    await until_db(db, "SELECT count(*) >= 12 FROM events WHERE id > $1", start)
    made = await db.fetchval("SELECT count(*) FROM events WHERE id > $1", start)
    toggles = max(1, EVENTS - made)
    await _toggle(client, pol["id"], toggles + (toggles + 1) % 2)   # odd: ends out of service
    await _all_shown(db, console, start)

    board = console.locator("#board")
    await expect(board.locator("li.incident")).to_have_count(4)
    await expect(board.locator(f'li[data-id="{fires[0]["id"]}"]')).to_have_count(0)
    for fire in fires[1:]:
        await expect(board.locator(f'li[data-id="{fire["id"]}"]')).to_contain_text("ANTRE")
    await expect(board.locator(f'li[data-id="{medical["id"]}"] .assigned')).to_contain_text(
        "AMB-LIVE-1")
    oos = console.locator('#roster .roster-group[data-status="out_of_service"]')
    await expect(oos.locator(f'[data-unit="{pol["id"]}"]')).to_be_visible()
    await expect(console.locator(
        f'#roster .roster-group[data-status="dispatched"] [data-unit="{amb["id"]}"]')
    ).to_contain_text(f"#{medical['id']}")
    assert requests == []
    assert errors == []
    await expect(console.locator("body")).to_have_attribute("data-board-loads", "1")


async def test_the_responder_page_follows_its_unit_without_one_request(
        start_app: AppFactory, context: BrowserContext, db: asyncpg.Connection) -> None:
    client = await start_app()
    base = str(client.make_url("/"))
    amb = await create_unit(client, "AMB-PHONE-1", "ambulance", WLINGI)
    # The phone's own login, bound to its unit: its stream carries only that unit's work.
    await accounts.create_user(db, "browser_responder", "responder", "kata-sandi-uji-112",
                               amb["id"])
    await log_in(context, base, db, role="responder")
    errors: list[str] = []
    phone = await _open(context, f"{base}responder?unit={amb['id']}", errors)
    await expect(phone.locator(".standby")).to_be_visible()
    # The phone reports where it is once; that is the page's own doing, not an event's.
    await until_db(db, "SELECT abs(lat - $2) < 1e-6 FROM units WHERE id = $1", amb["id"],
                   PHONE_AT["latitude"])
    await expect(phone.locator("#location-note")).not_to_have_text("")
    start = await db.fetchval("SELECT coalesce(max(id), 0) FROM events")
    requests = count_api_requests(phone)

    first = await create_incident(client, KANIGORO, address="Jl. Pertama")
    await expect(phone.locator(".assignment")).to_contain_text(f"#{first['id']}")
    for status in ("en_route", "on_scene", "available"):
        await set_status(client, amb["id"], status)
    # Out of service and back, until the last incident's four events make 100.
    while await db.fetchval("SELECT count(*) FROM events WHERE id > $1", start) < EVENTS - 4:
        await _toggle(client, amb["id"], 2)
    last = await create_incident(client, KANIGORO, address="Jl. Terakhir")
    await _all_shown(db, phone, start, "unit_id = $1 OR incident_id = $2", amb["id"], last["id"])

    await expect(phone.locator(".assignment")).to_contain_text(f"#{last['id']}")
    await expect(phone.locator(".assignment")).to_contain_text("Jl. Terakhir")
    await expect(phone.locator("#status-now")).to_contain_text("Dikirim")
    await expect(phone.locator("body")).to_have_attribute("data-alerts", "2")
    await expect(phone.locator('button[data-status="en_route"]')).to_be_visible()
    assert requests == []
    assert errors == []
