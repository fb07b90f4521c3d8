"""Supervisor reports: response times by group, a histogram, and the incidents as CSV."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from dispatch import keys
from dispatch.errors import Invalid
from dispatch.store import reports as rep_sql
from dispatch.web.common import connection, json_response, parse_query
from dispatch.web.reports_schemas import GroupedQuery, HistogramQuery
from dispatch.web.schemas import StatsQuery
from dispatch.web.stats import DEFAULT_PERIOD

routes = web.RouteTableDef()
# A cell starting with one of these is run as a formula by spreadsheet programs.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_AFTER_SEPARATOR = re.compile(r"([;,\t\r\n]\s*)(?=[=+\-@])")


def _period(request: web.Request, q: StatsQuery) -> tuple[datetime, datetime]:
    settings = request.app[keys.SETTINGS]
    if q.category is not None and q.category not in settings.runcards.categories:
        raise Invalid(f"unknown category {q.category!r}", field="category",
                      allowed=sorted(settings.runcards.categories))
    until = q.until or datetime.now(UTC)
    return q.since or until - DEFAULT_PERIOD, until


@routes.get("/api/v1/reports/response-times")
async def response_times_by(request: web.Request) -> web.Response:
    """Count, p50, p90 and share within target per group (day, hour, kecamatan, unit type)."""
    q = parse_query(request, GroupedQuery)
    since, until = _period(request, q)
    async with connection(request) as conn:
        rows = await rep_sql.grouped(conn, q.group, since=since, until=until,
                                     category=q.category,
                                     targets=request.app[keys.SETTINGS].targets)
    groups: dict[str, dict[str, Any]] = {}
    for r in rows:
        groups.setdefault(r["grp"], {})[r["interval"]] = {
            k: r[k] for k in ("count", "p50", "p90", "within_target")}
    return json_response({"from": since, "to": until, "category": q.category, "group": q.group,
                          "timezone": rep_sql.LOCAL_TZ,
                          "groups": [{"key": k, "intervals": v} for k, v in groups.items()]})


@routes.get("/api/v1/reports/histogram")
async def total_histogram(request: web.Request) -> web.Response:
    """Counts of total response time (call received -> first unit on scene) per bin."""
    q = parse_query(request, HistogramQuery)
    since, until = _period(request, q)
    async with connection(request) as conn:
        bins = await rep_sql.histogram(conn, since=since, until=until, category=q.category,
                                       bin_s=q.bin_s)
    return json_response({"from": since, "to": until, "category": q.category,
                          "interval": "total", "bin_s": q.bin_s, "bins": bins})


def _defuse(text: str) -> str:
    """Text no spreadsheet runs as a formula, whichever separator it splits on.

    A cell starting with = + - @ (or a tab or CR before them) is a formula to
    Excel and LibreOffice; so is the part after a ``;``, ``,``, tab or line break inside
    the text when the file is opened with that separator and the quotes are not honoured
    mid-line. Each such start gets a leading apostrophe, which makes it text.
    """
    text = _FORMULA_AFTER_SEPARATOR.sub(r"\1'", text)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float):
        return round(value, 3)
    if isinstance(value, str):
        return _defuse(value)
    return value


@routes.get("/api/v1/reports/incidents.csv")
async def incidents_csv(request: web.Request) -> web.Response:
    """The incidents received in the period with their interval times, one row each."""
    q = parse_query(request, StatsQuery)
    since, until = _period(request, q)
    async with connection(request) as conn:
        rows = await rep_sql.export_rows(conn, since=since, until=until, category=q.category)
    out = io.StringIO()
    # Every text cell quoted (numbers not), so a `;` or `,` inside one never splits it,
    # whether the spreadsheet splits on `,` or on `;` (usual with Indonesian settings).
    writer = csv.writer(out, lineterminator="\r\n", quoting=csv.QUOTE_NONNUMERIC)
    writer.writerow(rep_sql.EXPORT_COLUMNS)
    for r in rows:
        writer.writerow([_cell(r[c]) for c in rep_sql.EXPORT_COLUMNS])
    name = f"siap112-incidents-{since:%Y%m%d}-{until:%Y%m%d}.csv"
    return web.Response(text=out.getvalue(), content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})
