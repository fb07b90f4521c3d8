"""The intake form in a real browser: no accidental second incident, and every message
worded in the user's language from the error itself (never the server's English text).
"""

from __future__ import annotations

import asyncpg
from playwright.async_api import BrowserContext, Page, Route, expect

from tests.browser.conftest import log_in
from tests.browser.test_pages_live import _open
from tests.conftest import AppFactory
from tests.helpers import KANIGORO, create_unit, get_json, until_db

expect.set_options(timeout=15_000)


async def _emergency(page: Page, phone: str, category_key: str = "Alt+2") -> None:
    await page.locator("#f-phone").fill(phone)
    await page.locator("#f-phone").press(category_key)


async def test_double_ctrl_enter_makes_one_incident_and_answer_time_is_sent(
        start_app: AppFactory, context: BrowserContext, db: asyncpg.Connection) -> None:
    client = await start_app()
    base = str(client.make_url("/"))
    await log_in(context, base, db)
    await create_unit(client, "DMK-KNG-1", "fire", KANIGORO)
    errors: list[str] = []
    page = await _open(context, base, errors)
    posts: list[dict[str, str]] = []
    page.on("request", lambda r: posts.append(r.headers)
            if r.method == "POST" and r.url.endswith("/api/v1/calls") else None)
    await page.locator("#f-phone").press_sequentially("081233344455")
    await expect(page.locator("#answered-at")).to_contain_text("WIB")
    await page.locator("#f-phone").press("Alt+2")
    await page.locator("#f-lat").fill("-8,1340")  # the decimal comma, as typed in Indonesia
    await page.locator("#f-lon").fill("112,2150")
    await page.locator("#f-address").fill("Jl. Raya Kanigoro 12")
    await page.keyboard.press("Control+Enter")
    await page.keyboard.press("Control+Enter")
    await expect(page.locator("#intake-msg")).to_contain_text("tersimpan")
    await until_db(db, "SELECT count(*) = 1 FROM assignments")
    assert await db.fetchval("SELECT count(*) FROM incidents") == 1
    assert await db.fetchval("SELECT count(*) FROM calls") == 1
    # The second press found the button disabled; the one request carried its own key.
    assert len(posts) == 1 and posts[0].get("idempotency-key")
    row = await db.fetchrow("SELECT lat, lon FROM incidents")
    assert (round(row["lat"], 4), round(row["lon"], 4)) == (-8.134, 112.215)
    # The answer time is the first keystroke, before the call was saved.
    call = await db.fetchrow("SELECT answered_at, logged_at FROM calls")
    assert call["answered_at"] is not None and call["answered_at"] < call["logged_at"]
    assert errors == []


# (what to type, field whose message is checked, Indonesian, English)
BAD = [
    ({}, "caller_phone", "Wajib diisi", "Required"),
    ({}, "category", "Pilih kategori", "Pick a category"),
    ({}, "address", "Isi lokasi atau alamat (atau keduanya)",
     "Give a location or an address (or both)"),
    ({"#f-phone": "08ab12cd"}, "caller_phone", "Harus nomor telepon: angka, boleh diawali +",
     "Must be a phone number: digits, optionally starting with +"),
    ({"#f-phone": "12"}, "caller_phone", "Terlalu pendek", "Too short"),
    ({"#f-lat": "8,134", "#f-lon": "112,215"}, "location", "Di luar wilayah peta",
     "Outside the map area"),
    ({"#f-lat": "-8.1x", "#f-lon": "112.2"}, "location.lat", "Tulis angka, mis. -8,1350",
     "Type a number, e.g. -8.1350"),
]


async def _messages(page: Page, typed: dict[str, str], field: str, category: bool) -> str:
    await page.locator("#intake-form").evaluate("f => f.reset()")
    for sel, value in typed.items():
        await page.locator(sel).fill(value)
    if category:
        await page.locator("#f-phone").press("Alt+2")
    await page.locator("#f-submit").click()
    slot = page.locator(f'[data-err="{field}"]')
    await expect(slot).not_to_be_empty()
    return await slot.inner_text()


async def test_every_message_is_indonesian_and_english_when_toggled(
        start_app: AppFactory, context: BrowserContext, db: asyncpg.Connection) -> None:
    client = await start_app()
    base = str(client.make_url("/"))
    await log_in(context, base, db)
    errors: list[str] = []
    page = await _open(context, base, errors)
    for lang in ("id", "en"):
        if lang == "en":
            await page.locator("#lang").click()
            await expect(page.locator("#f-submit")).to_have_text("Save report (Ctrl+Enter)")
        for typed, field, id_text, en_text in BAD:
            # The phone, a category and an address make the form otherwise complete.
            full = {"#f-phone": "081233344455", "#f-address": "Jl. Melati 3", **typed} \
                if field not in ("caller_phone", "category", "address") or typed else typed
            text = await _messages(page, full, field, category=field != "category")
            assert text == (id_text if lang == "id" else en_text), (typed, field, text)
    # Nothing was saved by any of them.
    assert await db.fetchval("SELECT count(*) FROM calls") == 0

    # One limit for the form and the API: typing stops at it, the counter says so.
    meta = await get_json(client, "/api/v1/meta")
    limit = meta["limits"]["description"]
    await page.locator("#f-notes").fill("x" * (limit + 1000))
    assert len(await page.locator("#f-notes").input_value()) == limit
    await expect(page.locator('[data-count="f-notes"]')).to_have_text(f"{limit}/{limit}")
    assert errors == []


async def test_a_report_saved_but_unanswered_is_retried_with_its_key_and_not_doubled(
        start_app: AppFactory, context: BrowserContext, db: asyncpg.Connection) -> None:
    client = await start_app()
    base = str(client.make_url("/"))
    await log_in(context, base, db)
    errors: list[str] = []
    page = await _open(context, base, errors)
    keys: list[str | None] = []

    async def lose_first_answer(route: Route) -> None:
        keys.append(route.request.headers.get("idempotency-key"))
        if len(keys) == 1:
            await route.fetch()  # the server saves it; the answer never reaches the console
            await route.abort("timedout")
        else:
            await route.continue_()

    await page.route("**/api/v1/calls", lose_first_answer)
    await _emergency(page, "081233344455")
    await page.locator("#f-address").fill("Jl. Raya Kanigoro 12")
    await page.keyboard.press("Control+Enter")
    await expect(page.locator("#intake-msg")).to_have_text(
        "Server tidak terjangkau; coba lagi")
    assert await db.fetchval("SELECT count(*) FROM incidents") == 1
    await page.keyboard.press("Control+Enter")  # the call-taker tries again
    await expect(page.locator("#intake-msg")).to_contain_text("tersimpan")
    assert len(keys) == 2 and keys[0] and keys[0] == keys[1]
    assert await db.fetchval("SELECT count(*) FROM incidents") == 1
    assert await db.fetchval("SELECT count(*) FROM calls") == 1
    assert errors == []
