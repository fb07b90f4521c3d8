"""One click hands a Kota Blitar incident from the regency's console to the city's
Siap112 (two real services, two databases); the city accepts it on its console.
No fixed sleeps: every wait is a Playwright expectation or a database poll."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import BrowserContext, expect

from tests.browser.conftest import log_in
from tests.browser.test_pages_live import _open
from tests.helpers import until_db
from tests.test_partners import Centre, centres, city_database, log_kota_call  # noqa: F401

expect.set_options(timeout=15_000)


async def test_one_click_handover_between_two_consoles(
        centres: tuple[Centre, Centre], context: BrowserContext,  # noqa: F811
        screenshots: Path) -> None:
    regency, city = centres
    incident = await log_kota_call(regency)
    await log_in(context, regency.url + "/", regency.db, "dispatcher")
    errors: list[str] = []
    console = await _open(context, regency.url + "/", errors)
    await console.set_viewport_size({"width": 1366, "height": 768})
    flagged = console.locator(f'#ex-flagged li[data-incident="{incident["id"]}"]')
    button = flagged.locator('button[data-partner="kota_blitar"]')
    await expect(button).to_have_text("Serahkan ke 112 Kota Blitar")
    await button.click()
    outgoing = console.locator("#ex-outgoing li.ex-row")
    await expect(outgoing).to_contain_text("112 Kota Blitar")
    await expect(outgoing.locator(".ex-state")).to_contain_text("menunggu diterima")
    await expect(outgoing).to_contain_text("0342112")
    await console.locator("#exchange-panel").screenshot(
        path=str(screenshots / "handover-waiting.png"))

    city_ctx = await context.browser.new_context(viewport={"width": 1366, "height": 768},
                                                 locale="id-ID")
    await log_in(city_ctx, city.url + "/", city.db, "dispatcher")
    city_console = await _open(city_ctx, city.url + "/", errors)
    offer = city_console.locator("#ex-incoming li.ex-incoming")
    await expect(offer).to_contain_text("112 Kabupaten Blitar")
    await offer.locator("button[data-verb=accept]").click()
    await until_db(regency.db, "SELECT 1 FROM events WHERE kind = 'handover.accepted' "
                   "AND incident_id = $1", incident["id"])
    await expect(outgoing.locator(".ex-state")).to_have_text("diterima")
    await console.locator("#exchange-panel").screenshot(
        path=str(screenshots / "handover-accepted.png"))
    await city_ctx.close()
    assert errors == []
