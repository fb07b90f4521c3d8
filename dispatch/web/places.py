"""The gazetteer (desa, kelurahan, kecamatan and the centre's places) and the places registry."""

from __future__ import annotations

from typing import Any

import asyncpg
from aiohttp import web

from dispatch import actions, gazetteer, places_import
from dispatch.errors import NotFound
from dispatch.store import places as places_sql
from dispatch.web.common import (
    actor_of,
    connection,
    json_response,
    parse_body,
    parse_query,
    path_id,
    transact,
)
from dispatch.web.places_schemas import ImportIn, ListQuery, PlaceIn, SearchQuery

routes = web.RouteTableDef()


def place_out(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k not in {"lat", "lon"}}
    out["location"] = {"lat": row["lat"], "lon": row["lon"]}
    return out


@routes.get("/api/v1/places")
async def search_places(request: web.Request) -> web.Response:
    """?q=TEXT&limit=N: desa, kelurahan, kecamatan and places, best match first."""
    q = parse_query(request, SearchQuery)
    async with connection(request) as conn, conn.transaction(readonly=True):
        items = await gazetteer.search(conn, q.q, q.limit)
    return json_response({"items": items})


@routes.get("/api/v1/landmarks")
async def list_landmarks(request: web.Request) -> web.Response:
    q = parse_query(request, ListQuery)
    async with connection(request) as conn:
        rows = await conn.fetch(places_sql.LIST_PLACES_SQL, q.retired, q.limit)
    return json_response({"items": [place_out(dict(r)) for r in rows]})


@routes.get("/api/v1/landmarks/{id}")
async def get_landmark(request: web.Request) -> web.Response:
    place_id = path_id(request)
    async with connection(request) as conn:
        row = await places_sql.get_place(conn, place_id)
    if row is None:
        raise NotFound(f"place {place_id} not found")
    return json_response(place_out(row))


@routes.post("/api/v1/landmarks")
async def create_landmark(request: web.Request) -> web.Response:
    data = places_import.to_data(await parse_body(request, PlaceIn))
    actor = actor_of(request)

    async def work(conn: asyncpg.Connection) -> dict[str, Any]:
        return await actions.create_place(conn, data, actor=actor)

    row = await transact(request, work)
    return json_response(place_out(row), status=201,
                         headers={"Location": f"/api/v1/landmarks/{row['id']}"})


@routes.put("/api/v1/landmarks/{id}")
async def update_landmark(request: web.Request) -> web.Response:
    place_id = path_id(request)
    data = places_import.to_data(await parse_body(request, PlaceIn))
    actor = actor_of(request)

    async def work(conn: asyncpg.Connection) -> dict[str, Any]:
        return await actions.update_place(conn, place_id, data, actor=actor)

    return json_response(place_out(await transact(request, work)))


@routes.delete("/api/v1/landmarks/{id}")
async def retire_landmark(request: web.Request) -> web.Response:
    """Retire a place: it leaves the search; the row stays for the record."""
    place_id = path_id(request)
    actor = actor_of(request)

    async def work(conn: asyncpg.Connection) -> dict[str, Any]:
        return await actions.retire_place(conn, place_id, actor=actor)

    return json_response(place_out(await transact(request, work)))


@routes.post("/api/v1/landmark-imports")
async def import_landmarks(request: web.Request) -> web.Response:
    """{format: csv|geojson, content}: all places are stored, or none."""
    body = await parse_body(request, ImportIn)
    items = places_import.parse(body.content, body.format)
    actor = actor_of(request)

    async def work(conn: asyncpg.Connection) -> list[dict[str, Any]]:
        return await actions.import_places(conn, items, actor=actor)

    rows = await transact(request, work)
    return json_response({"imported": len(rows), "items": [place_out(r) for r in rows]},
                         status=201)
