"""Call statistics for supervisors: prank and ghost share, kecamatan, hour, answer times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiohttp import web

from dispatch import keys
from dispatch.geodata import AREAS
from dispatch.store.callstats import call_stats
from dispatch.web.common import connection, json_response, parse_query
from dispatch.web.schemas import StatsQuery

routes = web.RouteTableDef()
DEFAULT_PERIOD = timedelta(days=30)
_NAMES = {a.code: a.name for a in AREAS}


@routes.get("/api/v1/stats/calls")
async def get_call_stats(request: web.Request) -> web.Response:
    """?from=&to= (default: the last 30 days). Answer-time targets from config (NENA)."""
    q = parse_query(request, StatsQuery)
    cfg = request.app[keys.SETTINGS].calls
    until = q.until or datetime.now(UTC)
    since = q.since or until - DEFAULT_PERIOD
    async with connection(request) as conn:
        stats = await call_stats(conn, since=since, until=until, timezone=cfg.timezone,
                                 targets=cfg.answer_targets_s,
                                 shares=cfg.answer_target_shares)
    for row in stats["by_kecamatan"]:
        row["kecamatan"] = _NAMES.get(row["kecamatan_code"])
    return json_response({"from": since, "to": until, "timezone": cfg.timezone, **stats})
