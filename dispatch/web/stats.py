"""Response-time statistics for supervisors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiohttp import web

from dispatch import keys
from dispatch.errors import Invalid
from dispatch.store.stats import DEFINITIONS, response_times
from dispatch.web.common import connection, json_response, parse_query
from dispatch.web.schemas import StatsQuery

routes = web.RouteTableDef()
DEFAULT_PERIOD = timedelta(days=30)


@routes.get("/api/v1/stats/response-times")
async def get_response_times(request: web.Request) -> web.Response:
    q = parse_query(request, StatsQuery)
    settings = request.app[keys.SETTINGS]
    if q.category is not None and q.category not in settings.runcards.categories:
        raise Invalid(f"unknown category {q.category!r}", field="category",
                      allowed=sorted(settings.runcards.categories))
    until = q.until or datetime.now(UTC)
    since = q.since or until - DEFAULT_PERIOD
    async with connection(request) as conn:
        intervals, chained, sim = await response_times(
            conn, since=since, until=until, category=q.category, targets=settings.targets)
    return json_response({"from": since, "to": until, "category": q.category,
                          "intervals": intervals, "chain": chained,
                          "definitions": DEFINITIONS, "simulated": sim})
