"""Incidents: intake, listing, detail with assignments and timeline, assignment, closing."""

from __future__ import annotations

from typing import Any

import asyncpg
from aiohttp import web

from dispatch import actions, board, gazetteer, keys
from dispatch.errors import Invalid, NotFound
from dispatch.store import incidents as inc_sql
from dispatch.store.timeline import build as timeline
from dispatch.web import idempotency
from dispatch.web.common import (
    actor_of,
    connection,
    incident_out,
    json_response,
    parse_body,
    parse_query,
    path_id,
    transact,
)
from dispatch.web.schemas import (
    AssignIn,
    CloseIn,
    IncidentIn,
    IncidentLocation,
    IncidentQuery,
    RelocateIn,
)

routes = web.RouteTableDef()


def responder_unit(request: web.Request) -> int | None:
    """The unit a responder acts for; None for every other role (they read everything)."""
    principal = request.get(keys.PRINCIPAL)
    if principal is None or principal.role != "responder":
        return None
    unit_id: int | None = principal.unit_id
    return unit_id


async def readable_incident(request: web.Request, conn: asyncpg.Connection,
                            incident_id: int) -> dict[str, Any]:
    """The incident, if it exists and the caller may read it: a responder only those its
    unit was sent to. 404 otherwise, so a responder cannot even tell which ids exist."""
    row = await inc_sql.get_incident(conn, incident_id)
    unit_id = responder_unit(request)
    if row is None or (unit_id is not None
                       and not await inc_sql.unit_was_assigned(conn, incident_id, unit_id)):
        raise NotFound(f"incident {incident_id} not found")
    return row


def _check_category(request: web.Request, category: str, priority: int | None = None
                    ) -> list[str]:
    """The run card's unit types for this category and priority (422 if unknown)."""
    runcards = request.app[keys.SETTINGS].runcards
    if category not in runcards.categories:
        raise Invalid(f"unknown category {category!r}", field="category",
                      allowed=sorted(runcards.categories))
    return list(runcards.required_types(category, priority))


@routes.post("/api/v1/incidents")
async def create_incident(request: web.Request) -> web.Response:
    body = await parse_body(request, IncidentIn)
    required = _check_category(request, body.category, body.priority)
    actor = actor_of(request)

    async def work(conn: asyncpg.Connection) -> dict[str, Any]:
        lat = lon = radius = source = None
        if body.location is not None:
            lat, lon, source, radius = await resolve_location(conn, body.location)
        return await actions.create_incident(
            conn, actor=actor, required_types=required, caller_phone=body.caller_phone,
            category=body.category, priority=body.priority, lat=lat, lon=lon,
            address=body.address, description=body.description,
            received_at=body.call_received_at, location_source=source, radius_m=radius)

    # A retry with the same Idempotency-Key gets the first answer, not a second incident.
    incident, replay_headers = await idempotency.transact_once(
        request, body, work, incident_id=lambda i: int(i["id"]))
    # Only now, after the commit, is the call-taker told it is saved.
    return json_response(incident_out(incident), status=201,
                         headers={"Location": f"/api/v1/incidents/{incident['id']}",
                                  **replay_headers})


@routes.get("/api/v1/incidents")
async def list_incidents(request: web.Request) -> web.Response:
    q = parse_query(request, IncidentQuery)
    statuses = q.status
    if statuses and "open" in statuses:
        statuses = sorted((set(statuses) - {"open"}) | {"pending", "queued", "dispatched"})
    async with connection(request) as conn:
        rows = await inc_sql.list_incidents(conn, statuses=statuses, since=q.since,
                                            until=q.until, category=q.category, limit=q.limit,
                                            unit_id=responder_unit(request))
        items = await board.incident_items(conn, rows)
    return json_response({"items": items, "count": len(items)})


@routes.get("/api/v1/incidents/{id}")
async def get_incident(request: web.Request) -> web.Response:
    incident_id = path_id(request)
    async with connection(request) as conn:
        row = await readable_incident(request, conn, incident_id)
        assignments = (await inc_sql.assignments_for(conn, [incident_id]))[incident_id]
        events = await timeline(conn, incident_id)
    return json_response(dict(incident_out(row), assignments=assignments, timeline=events))


@routes.post("/api/v1/incidents/{id}/assignments")
async def assign(request: web.Request) -> web.Response:
    incident_id = path_id(request)
    body = await parse_body(request, AssignIn)
    settings = request.app[keys.SETTINGS]
    actor = actor_of(request)

    async def work(conn: asyncpg.Connection) -> dict[str, Any]:
        assignment_id = await actions.assign_manual(
            conn, incident_id, body.unit_id, actor=actor, cfg=settings.dispatch,
            take_from_other=body.take_from_other,
            replaces_assignment_id=body.replaces_assignment_id)
        return dict(await conn.fetchrow(inc_sql.GET_ASSIGNMENT_SQL, assignment_id))

    assignment = await transact(request, work)
    return json_response(assignment, status=201)


@routes.post("/api/v1/incidents/{id}/close")
async def close(request: web.Request) -> web.Response:
    incident_id = path_id(request)
    body = await parse_body(request, CloseIn)
    settings = request.app[keys.SETTINGS]
    if body.disposition not in settings.runcards.dispositions:
        raise Invalid(f"unknown disposition {body.disposition!r}", field="disposition",
                      allowed=sorted(settings.runcards.dispositions))
    actor = actor_of(request)

    async def work(conn: asyncpg.Connection) -> dict[str, Any]:
        return await actions.close_incident(conn, incident_id, disposition=body.disposition,
                                            note=body.note, actor=actor,
                                            confirm=body.confirm)

    closed = await transact(request, work)
    return json_response(incident_out(closed))


async def resolve_location(conn: asyncpg.Connection, loc: IncidentLocation
                           ) -> tuple[float, float, str, float | None]:
    """(lat, lon, source, radius_m): a chosen desa, kecamatan or place is looked up."""
    return await gazetteer.resolve(conn, loc.lat, loc.lon, loc.source.value, loc.radius_m,
                                   loc.code)


@routes.post("/api/v1/incidents/{id}/location")
async def relocate(request: web.Request) -> web.Response:
    """Accept a better fix for an open incident; reevaluate=true frees units not yet en route."""
    incident_id = path_id(request)
    body = await parse_body(request, RelocateIn)
    actor = actor_of(request)

    async def work(conn: asyncpg.Connection) -> dict[str, Any]:
        lat, lon, source, radius = await resolve_location(conn, body)
        return await actions.relocate_incident(
            conn, incident_id, lat=lat, lon=lon, source=source, radius_m=radius,
            reevaluate=body.reevaluate, actor=actor)

    return json_response(incident_out(await transact(request, work)))
