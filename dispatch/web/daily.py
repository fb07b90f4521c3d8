"""The printable daily report: GET /reports/daily?date=YYYY-MM-DD (a WIB day).

One A4 page for the morning meeting: the day's calls (by outcome, the prank and
silent share, answer times against the 15 s / 20 s targets), the incidents by
category and kecamatan, the response times against their targets (all four of the
same unit, so they add up) and the alerts raised. Rendered on the server (no
script needed to print); labels in Indonesian, or English with ``lang=en``.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import asyncpg
from aiohttp import web
from pydantic import ConfigDict, Field

from dispatch import keys
from dispatch.core import labels
from dispatch.core.runcards import INTERVALS
from dispatch.settings import Settings
from dispatch.store import alerts as alert_sql
from dispatch.store import reports as rep_sql
from dispatch.store.callstats import call_stats
from dispatch.store.stats import DEFINITIONS, response_times
from dispatch.web.common import actor_of, connection, parse_query
from dispatch.web.schemas import Strict

routes = web.RouteTableDef()
WIB = ZoneInfo(rep_sql.LOCAL_TZ)
DAYS = {"id": ("Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu", "Minggu"),
        "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")}
MONTHS = {"id": ("Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus",
                 "September", "Oktober", "November", "Desember"),
          "en": ("January", "February", "March", "April", "May", "June", "July", "August",
                 "September", "October", "November", "December")}

# The page's words: (Indonesian, English).
WORDS: dict[str, tuple[str, str]] = {
    "title": ("Laporan harian Siap112", "Siap112 daily report"),
    "print": ("Cetak", "Print"),
    "other_lang": ("English", "Bahasa Indonesia"),
    "calls": ("Panggilan", "Calls"),
    "calls_total": ("Jumlah panggilan", "Calls"),
    "outcome": ("Hasil penanganan", "Outcome"),
    "count": ("Jumlah", "Count"),
    "share": ("Bagian", "Share"),
    "prank_ghost": ("Iseng + panggilan diam", "Prank + silent calls"),
    "answer": ("Waktu menjawab", "Answer time"),
    "answered_n": ("Panggilan dengan waktu dering dan angkat", "Calls with ring and answer times"),
    "median": ("Median", "Median"),
    "within": ("Dalam target", "Within target"),
    "target": ("Target", "Target"),
    "required": ("Wajib", "Required"),
    "met": ("Tercapai", "Met"),
    "not_met": ("Belum tercapai", "Not met"),
    "incidents": ("Kejadian", "Incidents"),
    "by_category": ("Per kategori", "By category"),
    "category": ("Kategori", "Category"),
    "p1": ("Prioritas 1", "Priority 1"),
    "by_kecamatan": ("Per kecamatan", "By kecamatan"),
    "kecamatan": ("Kecamatan", "Kecamatan"),
    "response": ("Waktu tanggap terhadap target", "Response times against targets"),
    "interval": ("Tahap", "Interval"),
    "mean_sum": ("Rata-rata {n} kejadian lengkap: {parts} = {total}",
                 "Mean of {n} complete incidents: {parts} = {total}"),
    "alerts": ("Peringatan keterlambatan", "Overdue alerts"),
    "acknowledged": ("Ditanggapi", "Acknowledged"),
    "none": ("Tidak ada", "None"),
    "no_data": ("Belum ada data", "No data"),
    "simulated": ("PERHATIAN: {m} dari {n} kejadian dan {c} panggilan hari ini adalah data "
                  "simulasi.", "NOTE: {m} of {n} incidents and {c} calls of this day are "
                  "simulated data."),
    "generated": ("Dibuat {at} WIB oleh {who}. Semua waktu dalam WIB (UTC+7).",
                  "Generated {at} WIB by {who}. All times in WIB (UTC+7)."),
}


class DailyQuery(Strict):
    model_config = ConfigDict(extra="forbid", strict=False)
    day: date | None = Field(default=None, alias="date", ge=date(2000, 1, 1),
                             le=date(2099, 12, 31), description="A WIB day; default today")
    lang: Literal["id", "en"] = "id"


@dataclass(frozen=True)
class Words:
    lang: str

    def __call__(self, key: str, **values: Any) -> str:
        text = WORDS[key][0 if self.lang == "id" else 1]
        return html.escape(text.format(**values) if values else text)


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _secs(value: float | None) -> str:
    if value is None:
        return "—"
    s = max(0, round(value))
    h, m, r = s // 3600, (s % 3600) // 60, s % 60
    return f"{h}:{m:02d}:{r:02d}" if h else f"{m}:{r:02d}"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{round(value * 100)}%"


def _table(head: Iterable[str], rows: Iterable[Iterable[str]], cls: str, empty: str) -> str:
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    if not body:
        return f'<p class="empty">{empty}</p>'
    heads = "".join(f"<th>{h}</th>" for h in head)
    return f'<table class="{cls}"><thead><tr>{heads}</tr></thead><tbody>{body}</tbody></table>'


def _day_title(day: date, lang: str) -> str:
    return f"{DAYS[lang][day.weekday()]}, {day.day} {MONTHS[lang][day.month - 1]} {day.year}"


async def _figures(conn: asyncpg.Connection, settings: Settings, since: datetime,
                   until: datetime) -> dict[str, Any]:
    cfg = settings.calls
    calls = await call_stats(conn, since=since, until=until, timezone=cfg.timezone,
                             targets=cfg.answer_targets_s, shares=cfg.answer_target_shares)
    categories, kecamatan = await rep_sql.daily_counts(conn, since=since, until=until)
    intervals, chained, sim = await response_times(conn, since=since, until=until,
                                                   category=None, targets=settings.targets)
    return {
        "calls": calls, "categories": categories, "kecamatan": kecamatan,
        "intervals": intervals, "chain": chained,
        "simulated": sim,
        "alerts": [dict(r) for r in await conn.fetch(alert_sql.BY_KIND_SQL, since, until)],
    }


def _calls_section(w: Words, f: dict[str, Any], settings: Settings) -> str:
    calls, lang = f["calls"], w.lang
    total = calls["total"]
    rows = [(_e(labels.label(labels.CALL_DISPOSITION, d, lang)), str(n),
             _pct(n / total if total else None))
            for d, n in sorted(calls["by_disposition"].items(), key=lambda x: -x[1])]
    answer = calls["answer_time"]
    targets = [(f"≤ {t['target_s']:g} s", _pct(t["share"]), _pct(t["required_share"]),
                w("met") if t["met"] else (w("not_met") if t["met"] is False else "—"))
               for t in answer["targets"]]
    return (f'<section class="calls"><h2>{w("calls")}</h2>'
            f'<p class="figures"><span data-figure="calls-total">{w("calls_total")}: '
            f'<b>{total}</b></span> · <span data-figure="prank-ghost">{w("prank_ghost")}: '
            f'<b>{_pct(calls["prank_or_ghost_share"])}</b></span></p>'
            + _table((w("outcome"), w("count"), w("share")), rows, "dispositions", w("no_data"))
            + f'<h3>{w("answer")}</h3><p class="figures">{w("answered_n")}: '
              f'<b>{answer["count"]}</b> · {w("median")}: <b>{_secs(answer["p50"])}</b> · '
              f'p90: <b>{_secs(answer["p90"])}</b></p>'
            + _table((w("target"), w("within"), w("required"), ""), targets, "answer",
                     w("no_data"))
            + "</section>")


def _incidents_section(w: Words, f: dict[str, Any], settings: Settings) -> str:
    rc = settings.runcards

    def cat(code: str) -> str:
        found = rc.categories.get(code)
        return _e(code if found is None else (found.label.id if w.lang == "id"
                                                else found.label.en))

    total = sum(c["count"] for c in f["categories"])
    cats = [(cat(c["category"]), str(c["count"]), str(c["priority_1"])) for c in f["categories"]]
    kecs = [(_e(k["kecamatan"] or "—"), str(k["count"])) for k in f["kecamatan"]]
    return (f'<section class="incidents"><h2>{w("incidents")}: '
            f'<b data-figure="incidents-total">{total}</b></h2><div class="two">'
            f'<div><h3>{w("by_category")}</h3>'
            + _table((w("category"), w("count"), w("p1")), cats, "categories", w("no_data"))
            + f'</div><div><h3>{w("by_kecamatan")}</h3>'
            + _table((w("kecamatan"), w("count")), kecs, "kecamatan", w("no_data"))
            + "</div></div></section>")


def _target_text(target: Any) -> str:
    if isinstance(target, dict):
        return f"{_secs(target['min'])}–{_secs(target['max'])}"
    return _secs(target)


def _response_section(w: Words, f: dict[str, Any]) -> str:
    lang = w.lang
    rows = []
    for name in INTERVALS:
        r = f["intervals"][name]
        rows.append((_e(labels.label(labels.INTERVAL, name, lang)), str(r["count"]),
                     _secs(r["p50"]), _secs(r["p90"]), _target_text(r["target_s"]),
                     _pct(r["within_target"])))
    chained = f["chain"]
    sum_line = ""
    if chained["count"]:
        m = chained["mean"]
        parts = " + ".join(_secs(m[i]) for i in ("call_processing", "turnout", "travel"))
        sum_line = (f'<p class="sum" data-figure="chain">'
                    f'{w("mean_sum", n=chained["count"], parts=parts, total=_secs(m["total"]))}'
                    "</p>")
    return (f'<section class="response"><h2>{w("response")}</h2>'
            + _table((w("interval"), w("count"), w("median"), "p90", w("target"), w("within")),
                     rows, "intervals", w("no_data"))
            + sum_line + f'<p class="definition">{_e(DEFINITIONS["sum"][lang])}</p></section>')


def _alerts_section(w: Words, f: dict[str, Any]) -> str:
    rows = [(_e(labels.label(labels.ALERT_KIND, a["kind"], w.lang)), str(a["count"]),
             str(a["acknowledged"])) for a in f["alerts"]]
    return (f'<section class="alerts"><h2>{w("alerts")}</h2>'
            + _table((w("alerts"), w("count"), w("acknowledged")), rows, "alerts", w("none"))
            + "</section>")


def render(day: date, lang: str, f: dict[str, Any], settings: Settings, who: str) -> str:
    """The report page's HTML."""
    w = Words(lang)
    other = "en" if lang == "id" else "id"
    sim = f["simulated"]
    banner = ""
    if sim["flag"] or f["calls"]["simulated"]["flag"]:
        text = w("simulated", m=sim["simulated"], n=sim["incidents"],
                 c=f["calls"]["simulated"]["simulated"])
        banner = f'<p class="simulated" role="alert">{text}</p>'
    now = datetime.now(WIB).strftime("%Y-%m-%d %H:%M")
    return f"""<!doctype html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{w("title")} — {day.isoformat()}</title>
<link rel="stylesheet" href="/static/report.css">
</head>
<body class="daily-report">
<header>
  <h1>{w("title")}</h1>
  <p class="day" data-figure="day">{_e(_day_title(day, lang))} (WIB)</p>
  <nav class="no-print">
    <button type="button" id="print">{w("print")}</button>
    <a href="/reports/daily?date={day.isoformat()}&amp;lang={other}">{w("other_lang")}</a>
    <a href="/supervisor">Supervisor</a>
  </nav>
</header>
{banner}
<main>
{_calls_section(w, f, settings)}
{_incidents_section(w, f, settings)}
{_response_section(w, f)}
{_alerts_section(w, f)}
</main>
<footer>{w("generated", at=now, who=who)}</footer>
<script type="module" src="/static/report.js"></script>
</body>
</html>
"""


@routes.get("/reports/daily")
async def daily_report(request: web.Request) -> web.Response:
    """The day's calls, incidents and response times on one printable page."""
    q = parse_query(request, DailyQuery)
    day = q.day or datetime.now(WIB).date()
    since = datetime.combine(day, time(), WIB).astimezone(UTC)
    until = since + timedelta(days=1)
    settings = request.app[keys.SETTINGS]
    async with connection(request) as conn:
        figures = await _figures(conn, settings, since, until)
    return web.Response(text=render(day, q.lang, figures, settings, actor_of(request)),
                        content_type="text/html", charset="utf-8")
