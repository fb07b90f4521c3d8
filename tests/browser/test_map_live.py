"""The console's slippy map in Chromium at 1366x768: base tiles from a local tile
server the test runs (and none when map.tile_url is empty), boundaries with labels by
zoom level, unit and incident markers, click to place, wheel zoom, and no CSP
violation from Leaflet."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, BrowserContext, Page, expect

from tests.browser.conftest import log_in
from tests.browser.tiles import TileServer
from tests.conftest import AppFactory
from tests.helpers import KANIGORO, WLINGI, create_incident, create_unit

expect.set_options(timeout=15_000)
ServerFactory = Callable[..., Awaitable[TestServer]]
VIEW = {"width": 1366, "height": 768}

# Two made-up squares near Kanigoro, in the shape GET /api/v1/geo's boundaries take:
# the layer code reads any FeatureCollection with code, name and kind.
def _square(lat: float, lon: float, d: float) -> dict[str, Any]:
    ring = [[lon - d, lat - d], [lon + d, lat - d], [lon + d, lat + d], [lon - d, lat + d],
            [lon - d, lat - d]]
    return {"type": "Polygon", "coordinates": [ring]}


SAMPLE = {
    "areas": {"type": "FeatureCollection", "features": []},
    "kecamatan": {"type": "FeatureCollection", "features": [{
        "type": "Feature", "geometry": _square(KANIGORO[0], KANIGORO[1], 0.03),
        "properties": {"code": "35.05.99", "name": "Kecamatan Contoh",
                       "label_lat": KANIGORO[0] + 0.02, "label_lon": KANIGORO[1]}}]},
    "desa": {"type": "FeatureCollection", "features": [{
        "type": "Feature", "geometry": _square(KANIGORO[0], KANIGORO[1], 0.005),
        "properties": {"code": "35.05.99.2001", "name": "Desa Contoh", "kind": "desa"}}]},
}


async def _context(browser: Browser) -> BrowserContext:
    ctx = await browser.new_context(viewport=VIEW, locale="id-ID")
    ctx.set_default_timeout(15000)
    return ctx


async def _console(ctx: BrowserContext, base: str, problems: list[str],
                   requests: list[str]) -> Page:
    page = await ctx.new_page()
    page.on("pageerror", lambda exc: problems.append(f"pageerror: {exc}"))
    page.on("console", lambda m: problems.append(f"console: {m.text}")
            if m.type == "error" or "Content Security Policy" in m.text else None)
    page.on("request", lambda r: requests.append(r.url))
    await page.goto(base)
    await expect(page.locator("body")).to_have_attribute("data-live", "live")
    return page


async def _zoom_to(page: Page, lat: float, lon: float, zoom: float) -> None:
    await page.evaluate("([lat, lon, z]) => window.siap112.state.map.map.setView([lat, lon], z, "
                        "{animate: false})", [lat, lon, zoom])
    await expect(page.locator("#map")).to_have_attribute("data-zoom", f"{zoom:g}")


async def test_map_with_local_tiles_markers_labels_by_zoom_and_click_to_place(
        start_app: AppFactory, browser: Browser, db: asyncpg.Connection,
        aiohttp_server: ServerFactory, screenshots: Path) -> None:
    tiles = TileServer()
    tile_server = await aiohttp_server(tiles.app())
    tile_url = f"http://127.0.0.1:{tile_server.port}/{{z}}/{{x}}/{{y}}.png"
    # No dispatcher: the units keep the status the test gives them.
    client = await start_app(map={"tile_url": tile_url, "tile_attribution": "© Peta Uji"},
                             dispatch={"run_in_web": False})
    base = str(client.make_url("/"))
    ctx = await _context(browser)
    await log_in(ctx, base, db)
    amb = await create_unit(client, "AMB-KNG-1", "ambulance", KANIGORO)
    await create_unit(client, "POL-WLG-1", "police", WLINGI)
    fire = await create_incident(client, WLINGI, category="kebakaran", priority=1)
    problems: list[str] = []
    requests: list[str] = []
    page = await _console(ctx, base, problems, requests)
    box = page.locator("#map")

    # The tile layer asked the local server for tiles and drew them.
    await expect(box).to_have_attribute("data-tiles", "on")
    await expect(box).not_to_have_attribute("data-tiles-loaded", "0")
    await expect(page.locator("#map img.leaflet-tile-loaded").first).to_be_visible()
    assert tiles.requested and all(8 <= z <= 19 for z, _, _ in tiles.requested)
    assert await box.get_attribute("data-tile-errors") == "0"
    # Tile servers (OpenStreetMap's among them) want a Referer: the site's origin alone.
    assert tiles.referers == {f"http://127.0.0.1:{client.port}/"}
    await expect(page.locator(".leaflet-control-attribution")).to_contain_text("© Peta Uji")
    # Units carry their callsign and status colour; incidents their id and priority.
    unit = page.locator(f'#map .map-unit.st-available[data-unit="{amb["id"]}"]')
    await expect(unit).to_have_text("AMB-KNG-1")
    await expect(page.locator('#map .map-unit', has_text="POL-WLG-1")).to_be_visible()
    incident = page.locator(f'#map .map-incident.p1[data-incident="{fire["id"]}"]')
    await expect(incident).to_have_text(str(fire["id"]))
    await incident.click()
    await expect(page.locator("#detail")).to_be_visible()
    await expect(incident).to_have_class(re.compile(r"\bselected\b"))
    # The regency's outline is drawn as a vector layer above the tiles.
    await expect(page.locator("#map path.bnd-regency")).to_have_count(1)
    await page.screenshot(path=screenshots / "console-map-tiles.png")

    # Boundaries from any FeatureCollection: labels and desa outlines by zoom level.
    await page.evaluate("(b) => window.siap112.state.map.setBoundaries(b)", SAMPLE)
    await _zoom_to(page, KANIGORO[0], KANIGORO[1], 10)
    await expect(page.locator("#map .map-label-kecamatan")).to_have_count(0)
    await expect(page.locator("#map .map-label-desa")).to_have_count(0)
    await expect(page.locator("#map path.bnd-desa")).to_have_count(0)
    await expect(page.locator("#map path.bnd-kecamatan")).to_have_count(1)
    await _zoom_to(page, KANIGORO[0], KANIGORO[1], 13)
    await expect(page.locator("#map .map-label-kecamatan")).to_have_text("Kecamatan Contoh")
    await expect(page.locator("#map .map-label-desa")).to_have_text("Desa Contoh")
    await expect(page.locator("#map path.bnd-desa")).to_have_count(1)
    await page.screenshot(path=screenshots / "console-map-desa.png")

    # The wheel zooms in, around the pointer.
    map_box = await box.bounding_box()
    assert map_box is not None
    cx, cy = map_box["x"] + map_box["width"] / 2, map_box["y"] + map_box["height"] / 2
    await page.mouse.move(cx, cy)
    await page.mouse.wheel(0, -400)
    await expect(box).not_to_have_attribute("data-zoom", "13")
    assert float(await box.get_attribute("data-zoom") or 0) > 13

    # A click on the map places the call: the form gets the point clicked.
    where = await page.evaluate(
        "([x, y]) => { const m = window.siap112.state.map.map;"
        " const p = m.containerPointToLatLng([x, y]); return [p.lat, p.lng]; }",
        [map_box["width"] / 2 + 40, map_box["height"] / 2 + 30])
    await page.mouse.click(cx + 40, cy + 30)
    lat = float(await page.locator("#f-lat").input_value())
    lon = float(await page.locator("#f-lon").input_value())
    assert abs(lat - where[0]) < 1e-4 and abs(lon - where[1]) < 1e-4
    await expect(page.locator("#map .map-pick")).to_have_count(1)
    assert problems == []
    assert {r.split("/")[2] for r in requests} <= {f"127.0.0.1:{client.port}",
                                                   f"127.0.0.1:{tile_server.port}"}
    await ctx.close()


async def test_map_without_tiles_shows_the_boundaries_and_asks_no_one_else(
        start_app: AppFactory, browser: Browser, db: asyncpg.Connection,
        screenshots: Path) -> None:
    client = await start_app()  # map.tile_url = "" in the tests' settings
    base = str(client.make_url("/"))
    ctx = await _context(browser)
    await log_in(ctx, base, db)
    amb = await create_unit(client, "AMB-KNG-1", "ambulance", KANIGORO)
    problems: list[str] = []
    requests: list[str] = []
    page = await _console(ctx, base, problems, requests)
    await expect(page.locator("#map")).to_have_attribute("data-tiles", "off")
    await expect(page.locator("#map path.bnd-regency")).to_have_count(1)
    await expect(page.locator("#map path.bnd-kota_blitar")).to_have_count(1)
    await expect(page.locator(f'#map .map-unit[data-unit="{amb["id"]}"]')).to_have_text(
        "AMB-KNG-1")
    await expect(page.locator("#map img.leaflet-tile")).to_have_count(0)
    # Kecamatan names show once zoomed in far enough.
    await _zoom_to(page, KANIGORO[0], KANIGORO[1], 11)
    await expect(page.locator("#map .map-label-kecamatan", has_text="Kanigoro")).to_be_visible()
    # One name for each area served: the regency, Kota Blitar and every neighbour.
    geo = await (await client.get("/api/v1/geo")).json()
    areas = len(geo["boundaries"]["areas"]["features"])
    assert areas >= 3
    await expect(page.locator("#map .map-label-area")).to_have_count(areas)
    await page.screenshot(path=screenshots / "console-map-offline.png")
    # Zoomed in further, the kecamatan names stay and the area names make way.
    await _zoom_to(page, KANIGORO[0], KANIGORO[1], 13)
    await expect(page.locator("#map .map-label-area")).to_have_count(0)
    await expect(page.locator("#map .map-label-kecamatan", has_text="Kanigoro")).to_be_visible()
    assert problems == []
    # Nothing but the service itself was asked for anything: it works with no internet.
    assert {r.split("/")[2] for r in requests} == {f"127.0.0.1:{client.port}"}
    await ctx.close()
