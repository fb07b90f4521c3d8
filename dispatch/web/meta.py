"""Reference data for consoles: categories, unit types, statuses and dispositions, labelled."""

from __future__ import annotations

from aiohttp import web
from annotated_types import MaxLen
from pydantic import BaseModel

from dispatch import keys
from dispatch.core.lifecycle import UnitStatus
from dispatch.web.auth import ROUTE_ROLES
from dispatch.web.calls_schemas import CallIn, Disposition, NewIncident
from dispatch.web.common import json_response
from dispatch.web.intake import NoteIn
from dispatch.web.schemas import CloseIn

routes = web.RouteTableDef()


@routes.get("/api/v1")
async def index(request: web.Request) -> web.Response:
    """Where to go from here (the operator console itself is at /)."""
    return json_response({
        "service": "Siap112 — Blitar Siap 112 dispatch",
        "links": {
            "console": "/",
            "responder": "/responder",
            "supervisor": "/supervisor",
            "incidents": "/api/v1/incidents",
            "units": "/api/v1/units",
            "live_events_sse": "/api/v1/events",
            "response_times": "/api/v1/stats/response-times",
            "calls": "/api/v1/calls",
            "aml": "/api/v1/aml",
            "duplicates": "/api/v1/duplicates",
            "call_stats": "/api/v1/stats/calls",
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
                                "units": list(c.units),
                                "units_by_priority": {str(p): list(u)
                                                      for p, u in c.by_priority.items()},
                                "cap_category": c.cap_category}
                       for c in rc.categories.values()},
        "agencies": {a.code: {"label_id": a.label.id, "label_en": a.label.en,
                              "unit_types": list(a.unit_types)} for a in rc.agencies.values()},
        "duplicate_groups": [list(g) for g in rc.duplicate_groups],
        "call_dispositions": [d.value for d in Disposition],
        "unit_types": {k: {"label_id": v.id, "label_en": v.en} for k, v in rc.unit_types.items()},
        "dispositions": {k: {"label_id": v.id, "label_en": v.en}
                         for k, v in rc.dispositions.items()},
        "unit_statuses": [s.value for s in UnitStatus],
        "map": _map(request),
        "limits": LIMITS,
        "route_roles": ROUTE_ROLES_OUT,
    })


def max_length(model: type[BaseModel], field: str) -> int:
    """The max_length the API enforces on ``model.field`` (so the form counts the same)."""
    for item in model.model_fields[field].metadata:
        if isinstance(item, MaxLen):
            return item.max_length
    raise LookupError(f"{model.__name__}.{field} has no max_length")


# The console's character counters use these: one limit, the one the API validates with.
LIMITS: dict[str, int] = {
    "caller_phone": max_length(CallIn, "caller_phone"),
    "note": max_length(CallIn, "note"),
    "handover_to": max_length(CallIn, "handover_to"),
    "address": max_length(NewIncident, "address"),
    "description": max_length(NewIncident, "description"),
    "close_note": max_length(CloseIn, "note"),
    # A linked caller's own address (kept on the incident's timeline) and notes.
    "call_address": max_length(CallIn, "address"),
    "incident_note": max_length(NoteIn, "text"),
}
# Which roles may call what, so a page shows only the controls its user may use.
ROUTE_ROLES_OUT: dict[str, list[str]] = {
    f"{method} {path}": sorted(roles) for (method, path), roles in ROUTE_ROLES.items()}


def _map(request: web.Request) -> dict[str, object]:
    """The base tiles the pages' map loads ("" = none: vector boundaries only)."""
    m = request.app[keys.SETTINGS].map
    return {"tile_url": m.tile_url, "tile_attribution": m.tile_attribution,
            "tile_max_zoom": m.tile_max_zoom}
