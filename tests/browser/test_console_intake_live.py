"""The console against the intake API in a real browser: the "same incident or a new one?"
choice, the caller's history while the number is typed, notes on the timeline, and a
ringing call from the IP-PBX popped on the console with its number.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
from playwright.async_api import BrowserContext, Page, expect

from tests.browser.conftest import log_in
from tests.browser.test_pages_live import _open
from tests.browser.test_positions_live import DOCS_SHOTS, SCREEN
from tests.conftest import AppFactory
from tests.helpers import KANIGORO, bearer, create_unit, post_json, until_db

expect.set_options(timeout=15_000)
NEAR = ("-8,13430", "112,21520")  # 40 m from the first fire, typed with decimal commas


async def _report_fire(page: Page, phone: str, address: str) -> None:
    await page.locator("#f-phone").fill(phone)
    await page.locator("#f-phone").press("Alt+2")  # Kebakaran
    await page.locator("#f-lat").fill(NEAR[0])
    await page.locator("#f-lon").fill(NEAR[1])
    await page.locator("#f-address").fill(address)
    await page.locator("#f-address").press("Control+Enter")


async def test_possible_duplicate_is_a_choice_link_or_new_incident(
        start_app: AppFactory, context: BrowserContext, db: asyncpg.Connection) -> None:
    client = await start_app()
    base = str(client.make_url("/"))
    await log_in(context, base, db)
    await create_unit(client, "DMK-KNG-1", "fire", KANIGORO)
    first = await post_json(client, "/api/v1/calls", {
        "caller_phone": "081234500001", "disposition": "emergency",
        "incident": {"category": "kebakaran", "priority": 1, "address": "Jl. Merdeka 12",
                     "location": {"lat": KANIGORO[0], "lon": KANIGORO[1]}}}, 201)
    fire_id = first["incident"]["id"]
    errors: list[str] = []
    page = await _open(context, base, errors)
    await page.set_viewport_size(SCREEN)

    # A second caller about the same fire: asked, not dispatched again.
    await _report_fire(page, "081234500002", "Gang Melati, belakang masjid")
    choice = page.locator("#dup-choice")
    await expect(choice).to_be_visible()
    await expect(choice.locator("button.dup-link")).to_have_text(f"Tautkan ke #{fire_id}")
    await expect(choice.locator("#dup-new")).to_have_text("Kejadian baru")
    assert await db.fetchval("SELECT count(*) FROM calls") == 1
    DOCS_SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=DOCS_SHOTS / "console-duplicate-choice.png")
    await choice.locator("button.dup-link").click()
    await expect(page.locator("#intake-msg")).to_contain_text(f"ditautkan ke kejadian #{fire_id}")
    assert await db.fetchval("SELECT count(*) FROM incidents") == 1
    assert await db.fetchval(
        "SELECT incident_id FROM calls WHERE disposition = 'duplicate'") == fire_id
    # The linked caller's address is on the incident's timeline in the pane.
    await page.locator(f'#board li.incident[data-id="{fire_id}"]').click()
    await expect(page.locator("#timeline")).to_contain_text("Gang Melati, belakang masjid")
    await expect(page.locator("#callers-count")).to_have_text("2 penelepon")

    # A third caller: a different fire next door after all.
    await _report_fire(page, "081234500003", "Jl. Merdeka 14")
    await expect(choice).to_be_visible()
    await choice.locator("#dup-new").click()
    await expect(page.locator("#intake-msg")).to_contain_text("tersimpan")
    assert await db.fetchval("SELECT count(*) FROM incidents") == 2
    assert errors == []


async def test_caller_history_and_flag_show_while_the_number_is_typed(
        start_app: AppFactory, context: BrowserContext, db: asyncpg.Connection) -> None:
    client = await start_app(calls={"repeat_caller_calls": 2})
    base = str(client.make_url("/"))
    await log_in(context, base, db)
    for disposition in ("prank", "ghost"):
        await post_json(client, "/api/v1/calls", {"caller_phone": "085712340000",
                                                  "disposition": disposition}, 201)
    errors: list[str] = []
    page = await _open(context, base, errors)
    await page.set_viewport_size(SCREEN)
    await page.locator("#f-phone").press_sequentially("0857 1234 0000")
    history = page.locator("#caller-history")
    await expect(history).to_be_visible()
    await expect(history.locator(".history-flag")).to_contain_text(
        "PERHATIAN: 2 panggilan iseng/diam")
    await expect(history.locator("li")).to_have_count(2)
    await expect(history.locator("li").first).to_contain_text("Panggilan diam")
    await expect(history.locator("li").first).to_contain_text("WIB")
    DOCS_SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=DOCS_SHOTS / "console-caller-history.png")
    # Nothing was saved by looking, and a new number is a new caller.
    assert await db.fetchval("SELECT count(*) FROM calls") == 2
    await page.locator("#f-phone").fill("081298765432")
    await expect(history).to_contain_text("Penelepon baru")
    assert errors == []


async def test_note_from_the_pane_is_on_the_timeline(
        start_app: AppFactory, context: BrowserContext, db: asyncpg.Connection) -> None:
    client = await start_app()
    base = str(client.make_url("/"))
    await log_in(context, base, db, "dispatcher")
    inc = await post_json(client, "/api/v1/incidents", {
        "caller_phone": "081234567890", "category": "kebakaran", "priority": 1,
        "location": {"lat": KANIGORO[0], "lon": KANIGORO[1]}}, 201)
    errors: list[str] = []
    page = await _open(context, base, errors)
    await page.locator(f'#board li.incident[data-id="{inc["id"]}"]').click()
    await page.keyboard.press("Alt+N")
    await expect(page.locator("#note-text")).to_be_focused()
    await page.keyboard.type("Tangki elpiji di dapur, pemadam diberi tahu")
    await page.keyboard.press("Control+Enter")
    await expect(page.locator("#timeline li.tl-note")).to_contain_text("Tangki elpiji di dapur")
    await until_db(db, "SELECT count(*) = 1 FROM incident_notes WHERE incident_id = $1", inc["id"])
    assert errors == []


async def test_ringing_call_pops_with_its_number_and_the_log_takes_the_pbx_times(
        start_app: AppFactory, context: BrowserContext, db: asyncpg.Connection) -> None:
    client = await start_app()
    base = str(client.make_url("/"))
    await log_in(context, base, db, "call_taker")
    errors: list[str] = []
    page = await _open(context, base, errors)
    rang = datetime.now(UTC) - timedelta(seconds=4)
    token = await bearer(db, "telephony", "asterisk-1")
    resp = await client.post("/api/v1/telephony/events", headers=token, json={
        "event": "ringing", "call_id": "1701234567.42", "caller": "081355550001",
        "line": "SIP/trunk-112", "at": rang.isoformat()})
    assert resp.status == 201, await resp.text()
    ring = page.locator("#ring-box")
    await expect(ring).to_be_visible()
    await expect(ring).to_contain_text("081355550001")
    await page.keyboard.press("F2")  # "Terima panggilan": this console claims it
    await expect(ring).to_be_hidden()
    await expect(page.locator("#f-phone")).to_have_value("081355550001")
    await expect(page.locator("#answered-at")).to_contain_text("WIB")
    await page.locator("#f-phone").press("Alt+I")  # information, no incident
    await page.locator("#f-phone").press("Control+Enter")
    await expect(page.locator("#intake-msg")).to_contain_text("dicatat")
    call = await db.fetchrow("SELECT rang_at, answered_at FROM calls")
    assert abs((call["rang_at"] - rang).total_seconds()) < 0.01
    assert call["answered_at"] >= call["rang_at"]
    assert errors == []
