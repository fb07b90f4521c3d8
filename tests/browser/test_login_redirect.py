"""After logging in, the browser goes back where it was, and never to another site.

Chromium itself is the judge: it reads ``\\`` as ``/`` and drops tabs, so these
are exactly the tricks that turn a login link into a phishing redirect.
"""

from __future__ import annotations

from urllib.parse import quote

import asyncpg
from playwright.async_api import BrowserContext

from dispatch.store import accounts
from tests.conftest import AppFactory

# What arrives in ?next= once the browser has decoded the query string.
HOSTILE = ["/\\evil.example/phish", "/%5Cevil.example/phish", "/\t/evil.example",
           "/%09/evil.example", "//evil.example", "/%2F/evil.example", "/%252F/evil.example",
           "https://evil.example/", "javascript:alert(1)", "/\n/evil.example"]
PASSWORD = "kata-sandi-uji-112"


async def test_login_goes_back_only_to_a_page_of_this_site(
        start_app: AppFactory, context: BrowserContext, db: asyncpg.Connection) -> None:
    client = await start_app()
    base = str(client.make_url("/"))
    await accounts.create_user(db, "browser_next", "admin", PASSWORD)
    errors: list[str] = []

    async def log_in_with(next_value: str) -> str:
        page = await context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.goto(f"{base}login?next={quote(next_value, safe='')}")
        await page.locator("#username").fill("browser_next")
        await page.locator("#password").fill(PASSWORD)
        await page.locator("#login-submit").click()
        await page.wait_for_url(lambda url: "/login" not in url)
        url = page.url
        await page.close()
        return url

    for raw in HOSTILE:
        assert await log_in_with(raw) == base, raw
    assert await log_in_with("/supervisor?x=1") == f"{base}supervisor?x=1"
    assert errors == []

    # The page's own check refuses the same values even if a server answered them back.
    page = await context.new_page()
    await page.goto(f"{base}login")
    verdicts = await page.evaluate(
        "async (values) => { const m = await import('/static/login.js');"
        " return values.map((v) => m.safeNext(v)); }", HOSTILE + ["/responder?unit=3"])
    assert verdicts == ["/"] * len(HOSTILE) + ["/responder?unit=3"]
