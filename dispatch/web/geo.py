"""Geography for consoles and maps: kecamatan centres, hospitals and outlines (estimates)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from dispatch.demo_data import HOSPITALS, KECAMATAN, POSITIONS_ARE_ESTIMATES
from dispatch.geodata import OUTLINES_ARE_ESTIMATES, outlines
from dispatch.web.common import json_response

routes = web.RouteTableDef()


def geo_document() -> dict[str, Any]:
    """The shipped geography; every position is an estimate and says so."""
    return {
        "estimated": POSITIONS_ARE_ESTIMATES,
        "kecamatan": [{"code": k.code, "name": k.name, "lat": k.lat, "lon": k.lon}
                      for k in KECAMATAN],
        "hospitals": [{"name": h.name, "lat": h.lat, "lon": h.lon} for h in HOSPITALS],
        # Closed rings of [lat, lon]; estimates too (dispatch/geodata.py says how drawn).
        "outlines": outlines(),
        "outlines_estimated": OUTLINES_ARE_ESTIMATES,
    }


@routes.get("/api/v1/geo")
async def geo(request: web.Request) -> web.Response:
    return json_response(geo_document())
