"""The dispatcher's keyboard in a real browser: the command line sends the recommended unit,
"Tambah jenis unit" offers a unit type beyond the run card, and closing an incident whose
units are still out asks on the pane first."""

from __future__ import annotations

import asyncpg
from playwright.async_api import BrowserContext, expect

from tests.browser.conftest import log_in
from tests.browser.test_pages_live import _open
from tests.conftest import AppFactory
from tests.helpers import KANIGORO, WLINGI, create_incident, create_unit, until_db

expect.set_options(timeout=15_000)


async def test_command_line_send_add_unit_type_and_confirmed_close(
        start_app: AppFactory, context: BrowserContext, db: asyncpg.Connection) -> None:
    client = await start_app(dispatch={"run_in_web": False})
    base = str(client.make_url("/"))
    await log_in(context, base, db, "dispatcher")
    engine = await create_unit(client, "DMK-KNG-1", "fire", KANIGORO)
    police = await create_unit(client, "POL-WLG-1", "police", WLINGI)
    fire = await create_incident(client, KANIGORO, category="sarang_tawon", priority=2)
    errors: list[str] = []
    page = await _open(context, base, errors)
    row = page.locator(f'#board li.incident[data-id="{fire["id"]}"]')
    await expect(row).to_be_visible()

    # "/" then "k <id>": the incident opens and its recommended unit is sent.
    await page.locator("#board").click()
    await page.keyboard.press("/")
    await expect(page.locator("#cmd")).to_be_focused()
    await page.keyboard.type(f"k {fire['id']}")
    await page.keyboard.press("Enter")
    await expect(row.locator(f'.assigned li[data-unit="{engine["id"]}"]')).to_be_visible()
    await until_db(db, "SELECT count(*) = 1 FROM assignments WHERE unit_id = $1", engine["id"])

    # A unit type beyond the run card: police for a wasp nest by a road.
    await page.locator("#add-type").select_option("police")
    await page.locator("#add-type-go").click()
    group = page.locator('#detail-candidates .cand-group[data-type="police"]')
    await expect(group.locator(f'li[data-unit="{police["id"]}"]')).to_contain_text("km")
    await group.locator(f'li[data-unit="{police["id"]}"] button').click()
    await until_db(db, "SELECT count(*) = 1 FROM assignments WHERE unit_id = $1", police["id"])
    sent = page.locator(f'#detail-assignments li[data-unit="{police["id"]}"]')
    await expect(sent).to_be_visible()

    # Closing with units still out: the pane asks, naming them; "Batal" keeps it open.
    await page.keyboard.press("Alt+X")
    await expect(page.locator("#close-disposition")).to_be_focused()
    await page.locator("#close-go").click()
    confirm = page.locator("#close-confirm")
    await expect(confirm).to_contain_text("DMK-KNG-1")
    await expect(confirm).to_contain_text("POL-WLG-1")
    await page.locator("#close-no").click()
    await expect(confirm).to_have_count(0)
    assert await db.fetchval("SELECT status FROM incidents WHERE id = $1", fire["id"]) != "closed"
    await page.locator("#close-go").click()
    await page.locator("#close-yes").click()
    await until_db(db, "SELECT status = 'closed' FROM incidents WHERE id = $1", fire["id"])
    await expect(row).to_have_count(0)
    await expect(page.locator("#detail")).to_be_hidden()
    assert errors == []
