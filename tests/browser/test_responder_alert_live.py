"""The responder's phone alert in a real browser: the first tap unlocks the sound, a new
assignment then sounds and vibrates, and the screen is kept awake while assigned."""

from __future__ import annotations

import asyncpg
from playwright.async_api import BrowserContext, expect

from tests.browser.conftest import log_in
from tests.browser.test_pages_live import _open
from tests.browser.test_positions_live import DOCS_SHOTS
from tests.conftest import AppFactory
from tests.helpers import KANIGORO, create_incident, create_unit, post_json, set_status

expect.set_options(timeout=15_000)
# Observes the browser's vibration calls (the page's own code is untouched).
RECORD_VIBRATE = """
window.__vibrations = [];
navigator.vibrate = (pattern) => { window.__vibrations.push(pattern); return true; };
"""


async def test_first_tap_unlocks_sound_then_assignment_sounds_vibrates_and_keeps_awake(
        start_app: AppFactory, context: BrowserContext, db: asyncpg.Connection) -> None:
    client = await start_app(dispatch={"run_in_web": False})
    base = str(client.make_url("/"))
    await log_in(context, base, db, "dispatcher")
    unit = await create_unit(client, "AMB-KNG-1", "ambulance", KANIGORO)
    await context.add_init_script(RECORD_VIBRATE)
    # A phone grants the screen wake lock to a visible page; headless Chromium asks first.
    assert context.browser is not None
    probe = await context.new_page()
    info = await (await context.new_cdp_session(probe)).send("Target.getTargetInfo")
    await probe.close()
    cdp = await context.browser.new_browser_cdp_session()
    await cdp.send("Browser.grantPermissions", {
        "permissions": ["wakeLockScreen", "geolocation"], "origin": base.rstrip("/"),
        "browserContextId": info["targetInfo"]["browserContextId"]})
    errors: list[str] = []
    phone = await _open(context, f"{base}responder?unit={unit['id']}", errors)
    await expect(phone.locator(".standby")).to_be_visible()
    await expect(phone.locator("body")).to_have_attribute("data-sound", "off")
    await phone.locator("#sound-unlock").click()
    await expect(phone.locator("body")).to_have_attribute("data-sound", "on")

    incident = await create_incident(client, KANIGORO)
    await post_json(client, f"/api/v1/incidents/{incident['id']}/assignments",
                    {"unit_id": unit["id"]}, 201)
    await expect(phone.locator("body")).to_have_attribute("data-alerts", "1")
    await expect(phone.locator("body")).to_have_attribute("data-beeps", "1")
    assert len(await phone.evaluate("window.__vibrations")) == 1
    await expect(phone.locator("body")).to_have_attribute("data-wake-lock", "on")
    await phone.set_viewport_size({"width": 400, "height": 820})
    DOCS_SHOTS.mkdir(parents=True, exist_ok=True)
    await phone.screenshot(path=DOCS_SHOTS / "responder-new-assignment.png")
    # The crew's own button says what the last step means.
    await set_status(client, unit["id"], "acknowledged")
    await set_status(client, unit["id"], "en_route")
    await set_status(client, unit["id"], "on_scene")
    await expect(phone.locator('button[data-status="available"]')).to_have_text(
        "Selesai – kembali siaga")
    await phone.locator('button[data-status="available"]').click()
    await expect(phone.locator(".standby")).to_be_visible()
    await expect(phone.locator("body")).to_have_attribute("data-wake-lock", "off")
    assert errors == []
