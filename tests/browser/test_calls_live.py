"""The call log in the console, in a real browser: dispositions, repeat callers,
AML accuracy circles, duplicate linking and handover.

No fixed sleeps: every wait is a Playwright expectation or a database poll.
"""

from __future__ import annotations

import re
from pathlib import Path

import asyncpg
from playwright.async_api import BrowserContext, expect

from tests.browser.conftest import log_in
from tests.browser.test_pages_live import _open
from tests.conftest import AppFactory
from tests.helpers import (
    KANIGORO,
    WLINGI,
    create_incident,
    create_unit,
    post_json,
    until_db,
)
from tests.test_aml import sms
from tests.test_jurisdiction import KOTA_BLITAR_SQUARE

expect.set_options(timeout=15_000)
PRANKSTER = "085712340000"
WITNESS = "081398765432"


async def test_prank_repeat_caller_aml_circle_and_duplicate_link_from_the_console(
        start_app: AppFactory, context: BrowserContext, db: asyncpg.Connection,
        screenshots: Path) -> None:
    client = await start_app(calls={"repeat_caller_calls": 2})
    base = str(client.make_url("/"))
    await log_in(context, base, db)
    amb = await create_unit(client, "AMB-KNG-1", "ambulance", KANIGORO)
    await create_unit(client, "AMB-WLG-1", "ambulance", WLINGI)
    crash = await create_incident(client, KANIGORO, category="kecelakaan_lalu_lintas",
                                  address="Simpang Kanigoro")
    errors: list[str] = []
    console = await _open(context, base, errors)
    crash_row = console.locator(f'#board li.incident[data-id="{crash["id"]}"]')
    await expect(crash_row.locator(f'.assigned li[data-unit="{amb["id"]}"]')).to_be_visible()
    await expect(crash_row).to_contain_text("Kec. Kanigoro")

    # Nuisance calls from one number, logged with Alt+P / Alt+G. With a threshold of 2,
    # the third is flagged to the call-taker: shown, never blocked.
    phone, msg, flag = console.locator("#f-phone"), console.locator("#intake-msg"), \
        console.locator("#repeat-flag")
    for key, kind, label, flagged in (("Alt+P", "prank", "Iseng", False),
                                      ("Alt+G", "ghost", "Panggilan diam", False),
                                      ("Alt+P", "prank", "Iseng", True)):
        await phone.fill(PRANKSTER)
        await phone.press(key)
        await expect(console.locator("#intake-form")).to_have_attribute("data-disposition", kind)
        await phone.press("Control+Enter")
        await expect(msg).to_contain_text(label)
        await expect(phone).to_have_value("")
        if flagged:
            await expect(flag).to_be_visible()
            await expect(flag).to_contain_text(f"{PRANKSTER} sudah 2 kali")
        else:
            await expect(flag).to_be_hidden()
    assert await db.fetchval("SELECT count(*) FROM incidents") == 1

    # A second witness calls about the crash; the phone's AML SMS arrives first.
    await post_json(client, "/api/v1/aml", {"sender": "+62" + WITNESS[1:],
                                            "text": sms(rd="400")}, 201)
    await phone.fill(WITNESS)
    await expect(console.locator("#aml-box")).to_contain_text("±400 m")
    circle = console.locator('#map path.aml-circle[data-radius-m="400"]')
    await expect(circle).to_have_count(1)
    await console.locator("#use-aml").click()
    await expect(console.locator("#f-lat")).to_have_value("-8.13412")
    # The server offers the open crash 40 m away as a possible duplicate.
    offer = console.locator(f'#nearby li[data-id="{crash["id"]}"] button.link-dup')
    await expect(offer).to_have_text(f"Tautkan ke #{crash['id']}")
    await console.locator("#f-notes").fill("Pelapor kedua, korban masih di jalan")
    await console.screenshot(path=screenshots / "console-call-log.png", full_page=True)

    await offer.click()
    await expect(msg).to_contain_text(f"ditautkan ke kejadian #{crash['id']}")
    await expect(flag).to_be_hidden()  # this number made no nuisance call
    await until_db(db, "SELECT count(*) = 1 FROM events WHERE kind = 'caller.linked' "
                   "AND incident_id = $1 AND data->>'note' LIKE 'Pelapor kedua%'", crash["id"])
    call = await db.fetchrow("SELECT * FROM calls WHERE disposition = 'duplicate'")
    # The AML position was taken as it came: the call keeps its accuracy radius.
    assert (call["incident_id"], call["location_source"], call["accuracy_m"]) == (
        crash["id"], "aml", 400.0)
    # Linked, not dispatched again: still one incident with its one unit.
    assert await db.fetchval("SELECT count(*) FROM incidents") == 1
    assert await db.fetchval("SELECT count(*) FROM assignments") == 1
    assert errors == []


async def test_handover_incident_stands_out_and_can_be_taken_over(
        start_app: AppFactory, context: BrowserContext, db: asyncpg.Connection) -> None:
    client = await start_app()
    base = str(client.make_url("/"))
    await log_in(context, base, db)
    amb = await create_unit(client, "AMB-KNG-1", "ambulance", KANIGORO)
    errors: list[str] = []
    console = await _open(context, base, errors)
    city = await create_incident(client, KOTA_BLITAR_SQUARE, address="Alun-alun Kota Blitar")
    row = console.locator(f'#board li.incident[data-id="{city["id"]}"]')
    await expect(row).to_have_class(re.compile(r"\bhandover\b"))
    await expect(row.locator(".handover-flag")).to_contain_text("Serahkan ke 112 Kota Blitar")
    await console.locator("#lang").click()
    await expect(row.locator(".handover-flag")).to_contain_text("Hand over to Kota Blitar 112")

    await row.locator("button.take-over").click()
    await expect(row.locator(".handover-flag")).to_have_count(0)
    await expect(row.locator(f'.assigned li[data-unit="{amb["id"]}"]')).to_be_visible()
    assert errors == []
