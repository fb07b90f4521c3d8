"""The browser pages: operator console at /, responder page, supervisor dashboard.

Plain HTML, CSS and JavaScript modules from dispatch/static, no build step. Each
page needs a login; web/auth.py redirects to /login and adds the security headers.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
# Pages and scripts change with each release; revalidate rather than cache blindly.
NO_STALE = {"Cache-Control": "no-cache"}

routes = web.RouteTableDef()


def _page(name: str) -> web.FileResponse:
    return web.FileResponse(STATIC_DIR / name, headers=NO_STALE)


@routes.get("/")
async def console(request: web.Request) -> web.FileResponse:
    """The call-taker and dispatcher console."""
    return _page("console.html")


@routes.get("/responder")
async def responder(request: web.Request) -> web.FileResponse:
    """One unit's page for a phone: ?unit=ID, or a picker."""
    return _page("responder.html")


@routes.get("/supervisor")
async def supervisor(request: web.Request) -> web.FileResponse:
    """Response-time dashboard."""
    return _page("supervisor.html")


@routes.get("/places")
async def places(request: web.Request) -> web.FileResponse:
    """The centre's own places: landmarks supervisors keep for the location search."""
    return _page("places.html")


routes.static("/static", STATIC_DIR, append_version=False)
