"""Reference data for consoles: categories, unit types, statuses and dispositions, labelled."""

from __future__ import annotations

from aiohttp import web

from dispatch import keys
from dispatch.core.lifecycle import UnitStatus
from dispatch.web.common import json_response

routes = web.RouteTableDef()


@routes.get("/")
async def index(request: web.Request) -> web.Response:
    """Where to go from here (the operator console will live at / in a later version)."""
    return json_response({
        "service": "Siap112 — Blitar Siap 112 dispatch",
        "links": {
            "incidents": "/api/v1/incidents",
            "units": "/api/v1/units",
            "live_events_sse": "/api/v1/events",
            "response_times": "/api/v1/stats/response-times",
            "reference_data": "/api/v1/meta",
            "health": "/healthz",
            "ready": "/readyz",
        },
    })


@routes.get("/api/v1/meta")
async def meta(request: web.Request) -> web.Response:
    rc = request.app[keys.SETTINGS].runcards
    return json_response({
        "categories": {c.code: {"label_id": c.label.id, "label_en": c.label.en,
                                "units": list(c.units)} for c in rc.categories.values()},
        "unit_types": {k: {"label_id": v.id, "label_en": v.en} for k, v in rc.unit_types.items()},
        "dispositions": {k: {"label_id": v.id, "label_en": v.en}
                         for k, v in rc.dispositions.items()},
        "unit_statuses": [s.value for s in UnitStatus],
    })
