"""A page whose login ends while it is open leaves for the login form by itself."""

from __future__ import annotations

import re

import asyncpg
from playwright.async_api import BrowserContext, expect

from dispatch.store import accounts
from tests.browser.conftest import log_in
from tests.browser.test_pages_live import _open
from tests.conftest import AppFactory

expect.set_options(timeout=15_000)


async def test_a_disabled_users_console_goes_to_the_login_form(
        start_app: AppFactory, context: BrowserContext, db: asyncpg.Connection) -> None:
    client = await start_app(sse={"recheck_s": 0.3})
    base = str(client.make_url("/"))
    await log_in(context, base, db, role="dispatcher")
    errors: list[str] = []
    console = await _open(context, base, errors)
    assert await accounts.disable_user(db, "browser_dispatcher")
    # The stream ends with `event: logout`; the page goes to the login form at once,
    # instead of showing a board that no longer updates.
    await expect(console).to_have_url(re.compile(r"/login\?next=%2F$"))
    await expect(console.locator("#username")).to_be_visible()
    assert errors == []
