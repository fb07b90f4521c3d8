"""Hostile text from callers is shown as text in the console, never run as markup."""

from __future__ import annotations

import asyncpg
from playwright.async_api import BrowserContext, expect

from tests.browser.conftest import log_in
from tests.conftest import AppFactory
from tests.helpers import KANIGORO, create_incident

SCRIPT = "<script>window.__pwned = 1</script>"
IMAGE = '<img src=x onerror="window.__pwned = 2">'
SQL = "'; DROP TABLE incidents; --"


async def test_script_and_sql_strings_are_shown_verbatim(
        start_app: AppFactory, context: BrowserContext, db: asyncpg.Connection) -> None:
    client = await start_app()
    base = str(client.make_url("/"))
    await log_in(context, base, db)
    incident = await create_incident(client, KANIGORO, category="medis",
                                     address=f"{SCRIPT} {IMAGE}", description=SQL)
    errors: list[str] = []
    page = await context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(base)
    card = page.locator(f'[data-id="{incident["id"]}"]').first
    await expect(card).to_contain_text(SCRIPT)
    await expect(card).to_contain_text(IMAGE)
    await card.click()  # the detail panel shows the address too
    await expect(page.locator("body")).to_contain_text(SQL)
    assert await page.evaluate("window.__pwned") is None
    assert await page.locator("img[src=x]").count() == 0
    assert errors == []
    assert await db.fetchval("SELECT address FROM incidents WHERE id = $1",
                             incident["id"]) == f"{SCRIPT} {IMAGE}"
