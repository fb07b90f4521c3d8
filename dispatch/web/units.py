"""Units: roster, registration, position reports and the status lifecycle."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiohttp import web

from dispatch import actions, board, keys
from dispatch.errors import Invalid, NotFound
from dispatch.store import incidents as inc_sql
from dispatch.store import units as unit_sql
from dispatch.web.common import (
    actor_of,
    connection,
    json_response,
    parse_body,
    parse_query,
    path_id,
    transact,
)
from dispatch.web.schemas import LocationIn, StatusIn, UnitIn, UnitQuery

routes = web.RouteTableDef()


_with_next = board.unit_item


@routes.get("/api/v1/units")
async def list_units(request: web.Request) -> web.Response:
    q = parse_query(request, UnitQuery)
    async with connection(request) as conn:
        rows = await conn.fetch(unit_sql.LIST_UNITS_SQL, q.status.value if q.status else None,
                                q.unit_type)
    items = [_with_next(dict(r)) for r in rows]
    return json_response({"items": items, "count": len(items)})


@routes.post("/api/v1/units")
async def create_unit(request: web.Request) -> web.Response:
    body = await parse_body(request, UnitIn)
    settings = request.app[keys.SETTINGS]
    if body.unit_type not in settings.runcards.unit_types:
        raise Invalid(f"unknown unit type {body.unit_type!r}", field="unit_type",
                      allowed=sorted(settings.runcards.unit_types))
    actor = actor_of(request)

    async def work(conn: asyncpg.Connection) -> dict[str, Any]:
        return await actions.create_unit(
            conn, actor=actor, callsign=body.callsign, unit_type=body.unit_type,
            agency=body.agency, home_station=body.home_station,
            lat=body.location.lat if body.location else None,
            lon=body.location.lon if body.location else None)

    unit = await transact(request, work)
    return json_response(_with_next(unit), status=201,
                         headers={"Location": f"/api/v1/units/{unit['id']}"})


@routes.get("/api/v1/units/{id}")
async def get_unit(request: web.Request) -> web.Response:
    unit_id = path_id(request)
    async with connection(request) as conn:
        row = await conn.fetchrow(unit_sql.GET_BOARD_UNIT_SQL, unit_id)
        if row is None:
            raise NotFound(f"unit {unit_id} not found")
        assignment = await inc_sql.open_assignment_for_unit(conn, unit_id)
    return json_response(dict(_with_next(dict(row)), assignment=assignment))


@routes.put("/api/v1/units/{id}/location")
async def move_unit(request: web.Request) -> web.Response:
    """A position fix: kept in the unit's track; moves the unit if it is the newest."""
    unit_id = path_id(request)
    body = await parse_body(request, LocationIn)
    # EventTime has refused a fix stamped beyond bounds.future_skew_s (422 naming "at").
    at = body.at or datetime.now(UTC)
    actor = actor_of(request)

    async def work(conn: asyncpg.Connection) -> tuple[dict[str, Any], bool]:
        return await actions.move_unit(conn, unit_id, lat=body.lat, lon=body.lon, at=at,
                                       accuracy_m=body.accuracy_m, source=body.source.value,
                                       actor=actor)

    unit, moved = await transact(request, work)
    # moved is false for a fix older than the unit's position: kept in the track only.
    return json_response(dict(_with_next(unit), moved=moved))


@routes.post("/api/v1/units/{id}/status")
async def change_status(request: web.Request) -> web.Response:
    unit_id = path_id(request)
    body = await parse_body(request, StatusIn)
    actor = actor_of(request)

    async def work(conn: asyncpg.Connection) -> dict[str, Any]:
        return await actions.change_unit_status(conn, unit_id, body.status, actor=actor)

    unit = await transact(request, work)
    return json_response(_with_next(unit))
