"""Reference data for consoles: categories, unit types, statuses and dispositions, labelled."""

from __future__ import annotations

from aiohttp import web

from dispatch import keys
from dispatch.core.lifecycle import UnitStatus
from dispatch.web.common import json_response

routes = web.RouteTableDef()


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
