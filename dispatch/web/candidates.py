"""Units a dispatcher may send to an incident, nearest first, with travel estimates.

With routing data (dispatch/roads.py), the ``roads.k`` nearest of each unit type are
timed by road as the dispatcher times them and the list is ranked as the dispatcher
ranks: ``road_eta_s``/``road_distance_m`` beside the straight-line ``distance_m``, and
``method`` "road" or "geodesic" per unit; ``ranking`` says which ranked the list.
``GET /api/v1/incidents/{id}/route?unit_id=`` gives a unit's road route to the incident
as a GeoJSON LineString Feature (geometry null without routing data)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from dispatch import keys
from dispatch.core.geo import Candidate, Point, Ranked, rank_units, travel_time_s
from dispatch.core.lifecycle import UnitStatus
from dispatch.core.planner import unmet_needs
from dispatch.errors import Invalid, NotFound
from dispatch.roads import RoadEngine, RoadPass, RoadsUnavailable
from dispatch.settings import Settings
from dispatch.store import incidents as inc_sql
from dispatch.store import units as unit_sql
from dispatch.web.common import connection, json_response, parse_query, path_id
from dispatch.web.incidents import readable_incident
from dispatch.web.reports_schemas import CandidatesQuery, RouteQuery

routes = web.RouteTableDef()


def _candidate(row: dict[str, Any]) -> Candidate:
    position = Point(row["lat"], row["lon"]) if row["lat"] is not None else None
    return Candidate(row["id"], row["unit_type"], position, row["position_at"])


async def _ranking(origin: Point, rows: list[dict[str, Any]], settings: Settings,
                   limit: int, engine: RoadEngine) -> tuple[list[Ranked], str]:
    """The dispatcher's rule (fresh positions first, then stale, then unknown), and with
    routing data each type's nearest timed and ranked by road as the dispatcher does."""
    cfg = settings.dispatch
    ranked = rank_units(origin, [_candidate(r) for r in rows], now=datetime.now(UTC),
                        stale_after_s=cfg.stale_position_s, k=limit)
    road = RoadPass(engine)
    if road.failed:
        return ranked, "geodesic"
    by_type: dict[str, list[Ranked]] = {}
    for r in ranked:
        by_type.setdefault(r.candidate.unit_type, []).append(r)
    timed: list[Ranked] = []
    for unit_type, of_type in by_type.items():
        timed += await road.rerank(origin, unit_type, of_type)
    if road.failed:
        return ranked, "geodesic"
    ordered = sorted(timed, key=lambda r: (r.distance_m is None, r.stale,
                                           r.road_eta_s is None, r.road_eta_s or 0,
                                           r.distance_m or 0.0, r.candidate.unit_id))
    return ordered, "road"


async def _ranked_items(origin: Point | None, rows: list[dict[str, Any]], settings: Settings,
                        limit: int, engine: RoadEngine) -> tuple[list[dict[str, Any]], str]:
    by_id = {r["id"]: r for r in rows}
    cfg = settings.dispatch
    ranked: list[Ranked]
    method = "geodesic"
    if origin is None:  # no position for the incident: nothing to measure, list by callsign
        ranked = [Ranked(_candidate(r), None, False) for r in rows][:limit]
    else:
        ranked, method = await _ranking(origin, rows, settings, limit, engine)
    items = []
    for x in ranked:
        r = by_id[x.candidate.unit_id]
        items.append({
            "unit_id": x.candidate.unit_id, "callsign": r["callsign"],
            "unit_type": r["unit_type"], "agency": r["agency"], "status": r["status"],
            "incident_id": r["incident_id"],
            "available": r["status"] == UnitStatus.AVAILABLE.value,
            "distance_m": x.distance_m, "stale_position": x.stale,
            "eta_s": x.road_eta_s if x.road_eta_s is not None else travel_time_s(
                x.distance_m, cfg.speed_for(r["unit_type"]), cfg.road_factor),
            "road_eta_s": x.road_eta_s, "road_distance_m": x.road_distance_m,
            "method": "road" if x.road_eta_s is not None else "geodesic",
        })
    return items, method


def _mark_recommended(items: list[dict[str, Any]], unmet: tuple[str, ...]) -> None:
    """The nearest available unit for each unmet need is the recommendation."""
    for unit_type in unmet:
        for item in items:
            if item["unit_type"] == unit_type and item["available"] \
                    and not item.get("recommended"):
                item["recommended"] = True
                break
    for item in items:
        item.setdefault("recommended", False)


@routes.get("/api/v1/incidents/{id}/candidates")
async def candidates(request: web.Request) -> web.Response:
    """Units of the wanted types (not out of service), nearest first, with distance and ETA."""
    incident_id = path_id(request)
    q = parse_query(request, CandidatesQuery)
    settings = request.app[keys.SETTINGS]
    unknown = sorted(set(q.unit_types or ()) - set(settings.runcards.unit_types))
    if unknown:
        raise Invalid(f"unknown unit type(s) {unknown}", field="type",
                      allowed=sorted(settings.runcards.unit_types))
    async with connection(request) as conn:
        incident = await readable_incident(request, conn, incident_id)
        covered = await inc_sql.covered_types(conn, incident_id)
        unit_rows = await conn.fetch(unit_sql.LIST_UNITS_SQL, None, None)
    wanted = set(q.unit_types or incident["required_types"])
    rows = [dict(r) for r in unit_rows if r["unit_type"] in wanted
            and r["status"] != UnitStatus.OUT_OF_SERVICE.value]
    origin = Point(incident["lat"], incident["lon"]) if incident["lat"] is not None else None
    items, ranking = await _ranked_items(origin, rows, settings, q.limit,
                                         request.app[keys.ROADS])
    unmet = unmet_needs(incident["required_types"], covered)
    _mark_recommended(items, unmet if incident["status"] != "closed" else ())
    # Distances run from the incident's point; radius_m says how far the scene may be from it.
    return json_response({"incident_id": incident_id, "unmet": list(unmet), "items": items,
                          "radius_m": incident["radius_m"],
                          "location_source": incident["location_source"],
                          "ranking": ranking, "roads": request.app[keys.ROADS].state})


@routes.get("/api/v1/incidents/{id}/route")
async def route(request: web.Request) -> web.Response:
    """The unit's road route to the incident (GeoJSON LineString, [lon, lat]); geometry
    null with a reason when there is no routing data or the engine cannot answer."""
    incident_id = path_id(request)
    q = parse_query(request, RouteQuery)
    async with connection(request) as conn:
        incident = await readable_incident(request, conn, incident_id)
        unit = await conn.fetchrow(unit_sql.GET_UNIT_SQL, q.unit_id)
    if unit is None:
        raise NotFound(f"unit {q.unit_id} not found", field="unit_id")
    props: dict[str, Any] = {"incident_id": incident_id, "unit_id": q.unit_id,
                             "callsign": unit["callsign"], "method": "geodesic"}
    engine = request.app[keys.ROADS]
    if incident["lat"] is None or unit["lat"] is None:
        props["reason"] = "no_position"
    elif not engine.configured:
        props["reason"] = "no_road_data"
    else:
        try:
            found = await engine.route(Point(unit["lat"], unit["lon"]),
                                       Point(incident["lat"], incident["lon"]),
                                       unit["unit_type"])
        except RoadsUnavailable:
            props["reason"] = "engine_unavailable"
        else:
            props.update(method="road", distance_m=found["distance_m"], eta_s=found["eta_s"])
            return json_response({"type": "Feature", "properties": props, "geometry": {
                "type": "LineString", "coordinates": found["coordinates"]}})
    return json_response({"type": "Feature", "properties": props, "geometry": None})
