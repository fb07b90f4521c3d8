"""Callback tasks on the console and the "nomor iseng" list on the supervisor page, in
a real browser. No fixed sleeps: every wait is a Playwright expectation or a database
poll."""

from __future__ import annotations

from pathlib import Path

import asyncpg
from playwright.async_api import BrowserContext, expect

from tests.browser.conftest import log_in
from tests.browser.test_pages_live import _open
from tests.conftest import AppFactory
from tests.helpers import post_json, until_db

expect.set_options(timeout=15_000)
SILENT = "081377770001"
PRANKSTER = "085799990002"


async def test_call_taker_calls_back_and_supervisor_warns_a_prank_number(
        start_app: AppFactory, context: BrowserContext, db: asyncpg.Connection,
        screenshots: Path) -> None:
    client = await start_app()
    base = str(client.make_url("/"))
    await post_json(client, "/api/v1/calls", {"caller_phone": SILENT,
                                              "disposition": "ghost"}, 201)
    for _ in range(3):
        await post_json(client, "/api/v1/calls", {"caller_phone": PRANKSTER,
                                                  "disposition": "prank"}, 201)
    await log_in(context, base, db, "call_taker")
    errors: list[str] = []
    console = await _open(context, base, errors)
    await console.set_viewport_size({"width": 1366, "height": 768})
    row = console.locator("#callback-list li.cb-row", has_text=SILENT)
    await expect(row).to_be_visible()
    await expect(console.locator("#callback-list h3")).to_contain_text("Panggilan balik")
    await row.locator("button[data-verb=take]").click()
    await expect(row).to_contain_text("diambil browser_call_taker")
    await console.locator("#exchange-panel").screenshot(
        path=str(screenshots / "callbacks-console.png"))
    await row.locator("button[data-outcome=no_answer]").click()
    await until_db(db, "SELECT outcome = 'no_answer' FROM callback_tasks t JOIN calls c "
                   "ON c.id = t.call_id WHERE c.caller_phone = $1", SILENT)
    await expect(console.locator("#callback-list li.cb-row", has_text=SILENT)).to_have_count(0)
    assert await db.fetchval("SELECT taken_by FROM callback_tasks WHERE caller_phone = $1",
                             SILENT) == "browser_call_taker"

    sup_ctx = await context.browser.new_context(viewport={"width": 1366, "height": 768},
                                                locale="id-ID")
    await log_in(sup_ctx, base, db, "supervisor")
    sup = await _open(sup_ctx, base.rstrip("/") + "/supervisor", errors)
    number = sup.locator("#prank-body tr[data-call]")
    await expect(number).to_have_count(1)
    await expect(number).to_contain_text("*********002")   # masked for the supervisor
    await expect(sup.locator("#callback-stats")).to_contain_text("selesai 1")
    await number.locator("button.prank-warn").click()
    await expect(number.locator(".prank-text")).to_have_value(
        "Peringatan dari 112 Kabupaten Blitar: nomor Anda tercatat 3 kali melakukan "
        "panggilan iseng atau diam ke 112. Panggilan iseng dapat menghalangi pertolongan "
        "bagi orang lain dan dapat dikenai sanksi. Gunakan 112 hanya untuk keadaan darurat.")
    await number.locator(".prank-hours").fill("12")
    await number.locator(".prank-reason").fill("Iseng berulang malam hari")
    await number.locator("button.prank-block").click()
    await expect(number.locator(".prank-history")).to_contain_text("Permintaan blokir")
    await expect(number.locator(".prank-history")).to_contain_text("SMS peringatan")
    await sup.locator("#prank-panel").screenshot(path=str(screenshots / "pranks-supervisor.png"))
    assert await db.fetchval("SELECT count(*) FROM prank_actions WHERE actor = "
                             "'browser_supervisor'") == 2
    await sup_ctx.close()
    assert errors == []
