"""The supervisor's day in a real browser at 1366x768: the dashboard's call side and
intervals that add up, and the printable daily report, with figures known in advance.

Calls are logged through the API with known ring and answer times; the crash's
assignment times are then set to known instants, so every figure shown is known.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from dispatch.store import accounts
from tests.browser.conftest import SCREENSHOTS
from tests.conftest import AppFactory
from tests.helpers import (
    KANIGORO,
    SRENGAT,
    WLINGI,
    Console,
    bearer,
    get_json,
    is_kind,
    post_json,
    set_status,
)

expect.set_options(timeout=15_000)
WIB = ZoneInfo("Asia/Jakarta")
# Screenshots to look at, at the size of a small centre's PC (SIAP112_SHOTS: elsewhere).
SHOTS = Path(os.environ.get("SIAP112_SHOTS") or SCREENSHOTS)
SET_TIMES_SQL = """
UPDATE assignments SET dispatched_at = $2, en_route_at = $3, on_scene_at = $4,
       acknowledged_at = NULL, transporting_at = NULL, at_hospital_at = NULL
WHERE id = $1
"""
# Words a supervisor should never meet on these pages (server codes).
CODES = ("call_processing", "prank_or_ghost", "wrong_number", "kecelakaan_lalu_lintas",
         "unit_unacknowledged", "undefined", "NaN", "null")


async def _known_day(client: Any, db: asyncpg.Connection) -> datetime:
    """One crash with known times and four calls with known answer times; returns T0."""
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=20)
    if (t0 + timedelta(seconds=700)).astimezone(WIB).date() != t0.astimezone(WIB).date():
        t0 -= timedelta(hours=1)  # keep the day's calls on one WIB day (the daily report)

    def at(secs: float) -> str:
        return (t0 + timedelta(seconds=secs)).isoformat()

    async with Console(client) as console:
        crash = await post_json(client, "/api/v1/calls", {
            "caller_phone": "081234500001", "disposition": "emergency", "rang_at": at(0),
            "answered_at": at(10), "incident": {
                "category": "kecelakaan_lalu_lintas", "priority": 1,
                "location": {"lat": WLINGI[0], "lon": WLINGI[1]}}}, 201)
        incident_id = crash["incident"]["id"]
        await console.wait_for(is_kind("incident.dispatched", incident_id=incident_id))
        detail = await get_json(client, f"/api/v1/incidents/{incident_id}")
        for a in detail["assignments"]:
            for status in ("en_route", "on_scene", "available"):
                await set_status(client, a["unit_id"], status)
    by_type = {a["unit_type"]: a["id"] for a in detail["assignments"]}
    t = lambda s: t0 + timedelta(seconds=s)  # noqa: E731
    # The police arrives first (400 s): processing 30 + turnout 30 + travel 330 = 390.
    await db.execute(SET_TIMES_SQL, by_type["ambulance"], t(40), t(100), t(700))
    await db.execute(SET_TIMES_SQL, by_type["police"], t(40), t(70), t(400))
    for n, (disposition, ring, answer) in enumerate(
            (("prank", 60, 65), ("ghost", 120, 145), ("information", 200, 212))):
        await post_json(client, "/api/v1/calls", {
            "caller_phone": f"08123450010{n}", "disposition": disposition,
            "rang_at": at(ring), "answered_at": at(answer)}, 201)
    return t0


async def _supervisor(browser: Browser, base: str, db: asyncpg.Connection) -> BrowserContext:
    ctx = await browser.new_context(viewport={"width": 1366, "height": 768}, locale="id-ID")
    ctx.set_default_timeout(15000)
    await accounts.create_user(db, "day-supervisor", "supervisor", "kata-sandi-uji-112")
    page = await ctx.new_page()
    await page.goto(base + "supervisor")
    await expect(page).to_have_url(re.compile(r"/login\?next="))
    await page.locator("#username").fill("day-supervisor")
    await page.locator("#password").fill("kata-sandi-uji-112")
    await page.locator("#login-submit").click()
    await expect(page).to_have_url(base + "supervisor")
    await page.close()
    return ctx


async def _no_codes(page: Page) -> None:
    text = await page.locator("body").inner_text()
    for code in CODES:
        assert code not in text, code


async def _font_px(page: Page, selector: str) -> float:
    """The rendered height of the first element's text, in CSS pixels."""
    box = await page.locator(selector).first.bounding_box()
    assert box is not None, selector
    return float(box["height"])


@pytest.fixture
def shots() -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS


async def test_the_supervisor_sees_the_call_side_and_intervals_that_add_up(
        start_app: AppFactory, browser: Browser, db: asyncpg.Connection, shots: Path) -> None:
    # Alerts checked often, and an incident waiting 1 s for a unit is overdue.
    client = await start_app(alerts={"check_s": 0.2, "queued_s": 1.0})
    base = str(client.make_url("/"))
    for callsign, unit_type, at in (("AMB-1", "ambulance", KANIGORO),
                                    ("POL-1", "police", SRENGAT)):
        await post_json(client, "/api/v1/units", {"callsign": callsign, "unit_type": unit_type,
                                                  "agency": "Test",
                                                  "location": {"lat": at[0], "lon": at[1]}}, 201)
    t0 = await _known_day(client, db)
    ctx = await _supervisor(browser, base, db)
    errors: list[str] = []
    page = await ctx.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(base + "supervisor")
    await expect(page.locator("body")).to_have_attribute("data-live", "live")

    # Intervals of the same unit (the police, first on scene): they add up, and it says so.
    cell = lambda i, c: page.locator(f'td[data-interval="{i}"][data-col="{c}"]')  # noqa: E731
    await expect(cell("total", "count")).to_have_text("1")
    for interval, shown in (("call_processing", "0:30"), ("turnout", "0:30"),
                            ("travel", "5:30"), ("total", "6:30")):
        await expect(cell(interval, "p50")).to_have_text(shown)
    await expect(page.locator("#chain")).to_have_text(
        "Rata-rata 1 kejadian lengkap: 0:30 + 0:30 + 5:30 = 6:30")
    await expect(page.locator("#definitions")).to_contain_text("proses + persiapan + perjalanan")
    # The call side: 4 calls, half prank or silent, labels not codes.
    await expect(page.locator('[data-figure="calls-total"]')).to_have_text("Panggilan: 4")
    await expect(page.locator('[data-figure="prank-ghost"]')).to_contain_text("50%")
    await expect(page.locator('tr[data-disposition="ghost"] td').first).to_have_text(
        re.compile("diam", re.I))
    await expect(page.locator('tr[data-disposition="prank"] td').first).to_have_text("Iseng")
    # Answer times 10, 5, 25, 12 s: 3 of 4 within 15 s (90 % required) and within 20 s.
    await expect(page.locator('tr[data-target="15"] td[data-col="share"]')).to_have_text("75%")
    await expect(page.locator('tr[data-target="15"]')).to_contain_text("Belum tercapai")
    # Calls by hour (WIB) of their ring time; prank and silent ones as the bar's foot.
    hour_of = lambda secs: f"{(t0 + timedelta(seconds=secs)).astimezone(WIB).hour:02d}"  # noqa: E731
    calls, pranks = Counter(hour_of(s) for s in (0, 60, 120, 200)), Counter(
        hour_of(s) for s in (60, 120))
    for hour, n in calls.items():
        bar = page.locator(f'#chart-calls-hour rect.bar:not(.prank)[data-label="{hour}"]')
        await expect(bar).to_have_attribute("data-value", str(n))
    for hour, n in pranks.items():
        part = page.locator(f'#chart-calls-hour rect.prank[data-label="{hour}"]')
        await expect(part).to_have_attribute("data-part", str(n))
    await expect(page.locator("#chart-calls-kecamatan")).to_contain_text("Wlingi")
    await expect(page.locator("#sim-banner")).to_be_hidden()
    await _no_codes(page)

    # Readable at 1366x768: table text and chart labels at least 14 and 11 CSS pixels.
    assert await _font_px(page, 'td[data-interval="total"][data-col="p50"]') >= 14
    assert await _font_px(page, "#chart-calls-hour text") >= 11
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 1366  # no sideways scrolling
    clipped = await page.evaluate("""[...document.querySelectorAll('.panel')]
        .filter((p) => p.scrollWidth > p.clientWidth + 1).map((p) => p.id || p.className)""")
    assert clipped == []  # no table or chart cut off at the panel's edge
    await page.screenshot(path=str(shots / "supervisor-1366x768.png"))
    await page.screenshot(path=str(shots / "supervisor-full.png"), full_page=True)

    # Simulated traffic appears: the page flags it by itself (live stream).
    _, secret, _ = await accounts.create_token(db, "simulator", "admin", 1)
    resp = await client.post("/api/v1/calls", headers={
        "Authorization": f"Bearer {secret}", "X-Siap112-Simulated": "1"},
        json={"caller_phone": "081234500200", "disposition": "test"})
    assert resp.status == 201, await resp.text()
    # (figures are read again after changes at most every 30 s: supervisor.js)
    await expect(page.locator("#sim-banner")).to_contain_text(
        "0 dari 1 kejadian dan 1 dari 5 panggilan", timeout=40_000)

    # In English, the same figures with English labels.
    await page.locator("#lang").click()
    await expect(page.locator('tr[data-disposition="prank"] td').first).to_have_text("Prank")
    await expect(page.locator("#chain")).to_have_text(
        "Mean of 1 complete incidents: 0:30 + 0:30 + 5:30 = 6:30")
    await page.locator("#lang").click()

    # An incident no unit can serve (no fire engine on duty) waits: the open alert shows
    # by itself, and who acknowledged it once a dispatcher has.
    await expect(page.locator("#alerts")).to_contain_text("Tidak ada peringatan terbuka")
    fire = await post_json(client, "/api/v1/incidents", {
        "caller_phone": "081234500300", "category": "kebakaran", "priority": 3,
        "location": {"lat": WLINGI[0], "lon": WLINGI[1]}}, 201)
    row = page.locator('#alerts tr[data-kind="queued_too_long"]')
    await expect(row).to_contain_text("Terlalu lama antre")
    await expect(row).to_contain_text(f"#{fire['id']}")
    await expect(row).to_have_class("unseen")
    [alert] = (await get_json(client, "/api/v1/alerts"))["alerts"]
    dispatcher = await bearer(db, role="dispatcher", name="night-dispatcher")
    resp = await client.post(f"/api/v1/alerts/{alert['id']}/acknowledge", headers=dispatcher)
    assert resp.status == 200
    await expect(row).to_contain_text("night-dispatcher")
    await expect(row).to_have_class("seen")
    await page.screenshot(path=str(shots / "supervisor-alert-1366x768.png"))

    # The daily report for the day of the calls: one printable A4 page.
    day = (t0 + timedelta(seconds=60)).astimezone(WIB).date()
    href = await page.locator("#daily").get_attribute("href")
    assert href is not None and href.startswith("/reports/daily?date=")
    report = await ctx.new_page()
    report.on("pageerror", lambda exc: errors.append(str(exc)))
    await report.goto(f"{base}reports/daily?date={day.isoformat()}")
    await expect(report.locator('[data-figure="calls-total"]')).to_contain_text("5")
    await expect(report.locator('[data-figure="incidents-total"]')).to_have_text("2")
    await expect(report.locator("table.intervals tr", has_text="Total")).to_contain_text("6:30")
    await expect(report.locator('[data-figure="chain"]')).to_contain_text(
        "0:30 + 0:30 + 5:30 = 6:30")
    await expect(report.locator("table.categories")).to_contain_text("Kecelakaan lalu lintas")
    await expect(report.locator("table.kecamatan")).to_contain_text("Wlingi")
    await expect(report.locator("table.dispositions")).to_contain_text("Panggilan diam")
    await expect(report.locator(".simulated")).to_contain_text("1 panggilan")
    await expect(report.locator("table.alerts tr", has_text="Terlalu lama antre")
                 ).to_contain_text("1")
    await _no_codes(report)
    await report.screenshot(path=str(shots / "daily-report-1366x768.png"), full_page=True)
    pdf = await report.pdf(format="A4", print_background=True)
    (shots / "daily-report.pdf").write_bytes(pdf)
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
    assert pages == 1, pages
    assert errors == []
    await ctx.close()
