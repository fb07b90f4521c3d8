"""Supervisor reports: response times by group, a histogram, and the incidents as CSV."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from dispatch import keys
from dispatch.core import labels
from dispatch.core.runcards import RunCards
from dispatch.errors import Invalid
from dispatch.store import reports as rep_sql
from dispatch.web.common import connection, json_response, parse_query
from dispatch.web.reports_schemas import ExportQuery, GroupedQuery, HistogramQuery
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


WIB = ZoneInfo(rep_sql.LOCAL_TZ)
BOM = "\ufeff"  # Excel reads the file as UTF-8 only with it (Kecamatan names, "→")
CODED = {"status": labels.INCIDENT_STATUS, "jurisdiction": labels.JURISDICTION,
         "location_source": labels.LOCATION_SOURCE}


@dataclass(frozen=True)
class CsvStyle:
    """How the export writes its cells: labels in ``lang``, times in ``tz``, and a
    decimal comma when the separator is ``;`` (Excel with Indonesian settings)."""

    lang: str
    tz: str
    sep: str
    runcards: RunCards

    def header(self) -> list[str]:
        return [(ind if self.lang == "id" else en).format(tz=self.tz)
                for _, ind, en in rep_sql.EXPORT_COLUMNS]

    def _run_card_label(self, column: str, code: str) -> str:
        rc = self.runcards
        table = {"category": {k: c.label for k, c in rc.categories.items()},
                 "disposition": rc.dispositions, "first_unit_type": rc.unit_types}[column]
        found = table.get(code)
        return code if found is None else (found.id if self.lang == "id" else found.en)

    def cell(self, column: str, value: Any) -> Any:
        if value is None:
            return ""
        if isinstance(value, bool):
            return labels.YES_NO[value][0 if self.lang == "id" else 1]
        if isinstance(value, datetime):
            local = value.astimezone(WIB) if self.tz == "WIB" else value.astimezone(UTC)
            return local.strftime("%Y-%m-%d %H:%M:%S")
        if isinstance(value, float):
            text = f"{round(value, 6):g}" if column in {"lat", "lon"} else f"{value:.1f}"
            return text.replace(".", ",") if self.sep == ";" else float(text)
        if column in CODED:
            return labels.label(CODED[column], value, self.lang)
        if column in {"category", "disposition", "first_unit_type"}:
            return self._run_card_label(column, value)
        if isinstance(value, str):
            return _defuse(value)
        return value


@routes.get("/api/v1/reports/incidents.csv")
async def incidents_csv(request: web.Request) -> web.StreamResponse:
    """The incidents received in the period with their interval times, one row each:
    labels (``lang``), wall-clock times (``tz``), UTF-8 with a BOM; ``sep=;`` for Excel
    with Indonesian settings. Streamed from a server-side cursor."""
    q = parse_query(request, ExportQuery)
    since, until = _period(request, q)
    style = CsvStyle(q.lang, q.tz, q.sep, request.app[keys.SETTINGS].runcards)
    name = f"siap112-kejadian-{since:%Y%m%d}-{until:%Y%m%d}.csv"
    resp = web.StreamResponse(headers={
        "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": f'attachment; filename="{name}"'})
    out = io.StringIO()
    # Every text cell quoted (numbers not), so a `;` or `,` inside one never splits it.
    writer = csv.writer(out, delimiter=q.sep, lineterminator="\r\n",
                        quoting=csv.QUOTE_NONNUMERIC)
    out.write(BOM)
    writer.writerow(style.header())
    columns = [c for c, _, _ in rep_sql.EXPORT_COLUMNS]
    async with connection(request) as conn, conn.transaction(readonly=True):
        await resp.prepare(request)
        async for r in rep_sql.export_cursor(conn, since=since, until=until,
                                             category=q.category):
            writer.writerow([style.cell(c, r[c]) for c in columns])
            if out.tell() > 64 * 1024:
                await resp.write(out.getvalue().encode())
                out.seek(0)
                out.truncate()
        await resp.write(out.getvalue().encode())
    await resp.write_eof()
    return resp
