"""Units a dispatcher may send to an incident, nearest first, with travel estimates."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from dispatch import keys
from dispatch.core.geo import Candidate, Point, rank_units, travel_time_s
from dispatch.core.lifecycle import UnitStatus
from dispatch.core.planner import unmet_needs
from dispatch.errors import Invalid
from dispatch.settings import Settings
from dispatch.store import incidents as inc_sql
from dispatch.store import units as unit_sql
from dispatch.web.common import connection, json_response, parse_query, path_id
from dispatch.web.incidents import readable_incident
from dispatch.web.reports_schemas import CandidatesQuery

routes = web.RouteTableDef()


def _candidate(row: dict[str, Any]) -> Candidate:
    position = Point(row["lat"], row["lon"]) if row["lat"] is not None else None
    return Candidate(row["id"], row["unit_type"], position, row["position_at"])


def _ranked_items(origin: Point | None, rows: list[dict[str, Any]], settings: Settings,
                  limit: int) -> list[dict[str, Any]]:
    """Rank with the dispatcher's own rule (fresh positions first, then stale, then unknown)."""
    by_id = {r["id"]: r for r in rows}
    cfg = settings.dispatch
    ranked: list[tuple[int, float | None, bool]]
    if origin is None:  # no position for the incident: nothing to measure, list by callsign
        unknown: float | None = None
        ranked = [(r["id"], unknown, False) for r in rows][:limit]
    else:
        ranked = [(x.candidate.unit_id, x.distance_m, x.stale) for x in rank_units(
            origin, [_candidate(r) for r in rows], now=datetime.now(UTC),
            stale_after_s=cfg.stale_position_s, k=limit)]
    items = []
    for unit_id, distance_m, stale in ranked:
        r = by_id[unit_id]
        items.append({
            "unit_id": unit_id, "callsign": r["callsign"], "unit_type": r["unit_type"],
            "agency": r["agency"], "status": r["status"], "incident_id": r["incident_id"],
            "available": r["status"] == UnitStatus.AVAILABLE.value,
            "distance_m": distance_m, "stale_position": stale,
            "eta_s": travel_time_s(distance_m, cfg.speed_for(r["unit_type"]), cfg.road_factor),
        })
    return items


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
    items = _ranked_items(origin, rows, settings, q.limit)
    unmet = unmet_needs(incident["required_types"], covered)
    _mark_recommended(items, unmet if incident["status"] != "closed" else ())
    # Distances run from the incident's point; radius_m says how far the scene may be from it.
    return json_response({"incident_id": incident_id, "unmet": list(unmet), "items": items,
                          "radius_m": incident["radius_m"],
                          "location_source": incident["location_source"]})
