"""Response-time statistics, computed in SQL over the stored assignment timestamps.

Intervals (names as fire and EMS services use them), all of one unit per incident,
the *first unit on scene* (or, while none has arrived, the first unit dispatched),
so that for every incident call_processing + turnout + travel = total:
- call_processing: call answered (the first emergency call's answered_at; the
  incident's received_at when no answer time was recorded) -> that unit dispatched
- turnout: that unit dispatched -> that unit en route
- travel: that unit en route -> that unit on scene
- total: call answered -> that unit on scene
Percentiles are continuous (linear interpolation, PostgreSQL percentile_cont); they
do not add up (a median of sums is no sum of medians), the means over the incidents
with all four do (``chain``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from dispatch.core.runcards import INTERVALS, TargetTable

# What each interval means, for the API and the supervisor's pages (Indonesian first).
DEFINITIONS: dict[str, dict[str, str]] = {
    "call_processing": {
        "id": "Proses panggilan: panggilan diterima operator → unit pertama yang tiba "
              "di lokasi diberangkatkan",
        "en": "Call processing: call answered → dispatch of the first unit to arrive"},
    "turnout": {
        "id": "Persiapan berangkat: unit itu diberangkatkan → unit itu dalam perjalanan",
        "en": "Turnout: that unit dispatched → that unit en route"},
    "travel": {
        "id": "Perjalanan: unit itu dalam perjalanan → unit itu tiba di lokasi",
        "en": "Travel: that unit en route → that unit on scene"},
    "total": {
        "id": "Total: panggilan diterima → unit pertama tiba di lokasi "
              "(= proses + persiapan + perjalanan)",
        "en": "Total: call answered → first unit on scene "
              "(= processing + turnout + travel)"},
    "sum": {
        "id": "Keempat selang diukur pada unit yang sama (unit pertama yang tiba), sehingga "
              "proses + persiapan + perjalanan = total untuk setiap kejadian. Waktu mulai: "
              "saat panggilan diangkat; bila tidak tercatat, saat panggilan masuk.",
        "en": "All four intervals are measured on the same unit (the first to arrive), so "
              "processing + turnout + travel = total for every incident. Start: when the "
              "call was answered; when not recorded, when it came in."},
    "answer": {
        "id": "Waktu menjawab: telepon berdering → diangkat operator",
        "en": "Answer time: phone rang → answered by a call-taker"},
}

# The interval samples, shared with the supervisor reports (dispatch/web/reports.py):
# one row per (interval, incident) with its seconds and the unit type of the unit
# measured. Parameters: $1 from, $2 to (received_at), $3 category or NULL. The unit
# measured and its times, and the first emergency call's answer time, are kept on the
# incident (sql/014, in the transaction of each change): the month's incidents are read
# from one index (incidents_response) and nothing else.
SAMPLES_CTE = """
inc AS (
    SELECT i.id, i.category, i.received_at,
           coalesce(i.answered_at, i.received_at) AS started_at,
           i.first_unit_type AS unit_type, i.first_dispatched_at AS first_dispatched,
           i.first_en_route_at AS ref_en_route, i.first_on_scene_at AS first_on_scene
    FROM incidents i
    WHERE i.received_at >= $1 AND i.received_at < $2
      AND ($3::text IS NULL OR i.category = $3)
),
raw_samples AS (
    SELECT 'call_processing' AS interval, category,
           extract(epoch FROM first_dispatched - started_at)::float8 AS secs,
           id AS incident_id, unit_type
    FROM inc WHERE first_dispatched IS NOT NULL
    UNION ALL
    SELECT 'turnout', category, extract(epoch FROM ref_en_route - first_dispatched)::float8,
           id, unit_type
    FROM inc WHERE ref_en_route IS NOT NULL
    UNION ALL
    SELECT 'travel', category, extract(epoch FROM first_on_scene - ref_en_route)::float8,
           id, unit_type
    FROM inc WHERE ref_en_route IS NOT NULL AND first_on_scene IS NOT NULL
    UNION ALL
    SELECT 'total', category, extract(epoch FROM first_on_scene - started_at)::float8,
           id, unit_type
    FROM inc WHERE first_on_scene IS NOT NULL
),
-- A negative or week-long interval is a clock error, not a response time: left out,
-- so one bad row cannot swamp a percentile.
samples AS (
    SELECT * FROM raw_samples WHERE secs >= 0 AND secs <= 7 * 86400
)"""

# How many of the period's incidents came from the simulator (sql/022).
SIMULATED_SQL = """
SELECT count(*) AS incidents, count(*) FILTER (WHERE simulated) AS simulated
FROM incidents i
WHERE i.received_at >= $1 AND i.received_at < $2 AND ($3::text IS NULL OR i.category = $3)
"""

# Targets per (category, interval). Parameters: $4 categories, $5 intervals, $6 seconds.
TARGETS_CTE = """
targets AS (
    SELECT * FROM unnest($4::text[], $5::text[], $6::float8[]) AS t(category, interval, secs)
)"""

# Per interval: count, mean, percentiles, share within target; and, on every row, the
# incidents with all four intervals and the mean of each over them (these add up). The
# samples are computed once for both (a CTE read twice is materialised).
RESPONSE_TIMES_SQL = f"""
WITH {SAMPLES_CTE}, {TARGETS_CTE},
per AS (
    SELECT incident_id,
           min(secs) FILTER (WHERE interval = 'call_processing') AS call_processing,
           min(secs) FILTER (WHERE interval = 'turnout') AS turnout,
           min(secs) FILTER (WHERE interval = 'travel') AS travel,
           min(secs) FILTER (WHERE interval = 'total') AS total
    FROM samples GROUP BY incident_id HAVING count(*) = 4
),
chained AS (
    SELECT count(*) AS chain_count, avg(call_processing) AS chain_call_processing,
           avg(turnout) AS chain_turnout, avg(travel) AS chain_travel,
           avg(total) AS chain_total
    FROM per
),
grouped AS (
    SELECT s.interval,
           count(*) AS count,
           avg(s.secs) AS mean,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY s.secs) AS p50,
           percentile_cont(0.9) WITHIN GROUP (ORDER BY s.secs) AS p90,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY s.secs) AS p95,
           max(s.secs) AS max,
           count(*) FILTER (WHERE s.secs <= t.secs)::float8 / count(*) AS within_target
    FROM samples s
    JOIN targets t ON t.category = s.category AND t.interval = s.interval
    GROUP BY s.interval
)
SELECT c.*, g.* FROM chained c LEFT JOIN grouped g ON true
"""
CHAIN_PREFIX = "chain_"


async def response_times(conn: asyncpg.Connection, *, since: datetime, until: datetime,
                         category: str | None, targets: TargetTable
                         ) -> tuple[dict[str, Any], dict[str, Any]]:
    """(figures per interval, the chain: {"count", "mean": {interval: s}}) for the period."""
    rows = targets.rows()
    result = await conn.fetch(
        RESPONSE_TIMES_SQL, since, until, category,
        [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows],
    )
    first = dict(result[0])
    chained = {k.removeprefix(CHAIN_PREFIX): v for k, v in first.items()
               if k.startswith(CHAIN_PREFIX)}
    found = {r["interval"]: {k: v for k, v in dict(r).items()
                             if not k.startswith(CHAIN_PREFIX)}
             for r in result if r["interval"] is not None}
    out: dict[str, Any] = {}
    for interval in INTERVALS:
        row = found.get(interval) or {"count": 0, "mean": None, "p50": None, "p90": None,
                                      "p95": None, "max": None, "within_target": None}
        row.pop("interval", None)
        row["target_s"] = _target_label(targets, interval, category)
        out[interval] = row
    return out, {"count": chained.pop("count"), "mean": chained}


async def simulated(conn: asyncpg.Connection, *, since: datetime, until: datetime,
                    category: str | None) -> dict[str, Any]:
    """{"incidents": n, "simulated": m, "flag": m > 0} for the period."""
    row = dict(await conn.fetchrow(SIMULATED_SQL, since, until, category))
    return {**row, "flag": row["simulated"] > 0}


def _target_label(targets: TargetTable, interval: str, category: str | None
                  ) -> float | dict[str, float]:
    """One category's target, or the range of targets across categories."""
    if category is not None:
        return targets.target(category, interval)
    values = [secs for _, i, secs in targets.rows() if i == interval]
    lo, hi = min(values), max(values)
    return lo if lo == hi else {"min": lo, "max": hi}
