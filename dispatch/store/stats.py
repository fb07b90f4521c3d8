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

# The month's incidents alone (INC_CTE, sql/014's columns) in one pass: the same
# figures as SAMPLES_CTE's one row per (interval, incident), computed with one
# aggregate per interval over the incident's four seconds, so no sample rows are
# materialised, sorted by incident or grouped again for the chain.
INC_CTE = """inc AS (
    SELECT i.id, i.category, i.received_at,
           coalesce(i.answered_at, i.received_at) AS started_at,
           i.first_unit_type AS unit_type, i.first_dispatched_at AS first_dispatched,
           i.first_en_route_at AS ref_en_route, i.first_on_scene_at AS first_on_scene
    FROM incidents i
    WHERE i.received_at >= $1 AND i.received_at < $2
      AND ($3::text IS NULL OR i.category = $3)
)"""

_INTERVAL_COLS = (("call_processing", "cp"), ("turnout", "tu"), ("travel", "tr"),
                  ("total", "tt"))


def _figures(col: str) -> str:
    ok = f"v.{col} IS NOT NULL"
    return (f"count(*) FILTER (WHERE {ok}) AS {col}_count, "
            f"avg(v.{col}) FILTER (WHERE {ok}) AS {col}_mean, "
            f"percentile_cont(0.5) WITHIN GROUP (ORDER BY v.{col}) FILTER (WHERE {ok}) "
            f"AS {col}_p50, "
            f"percentile_cont(0.9) WITHIN GROUP (ORDER BY v.{col}) FILTER (WHERE {ok}) "
            f"AS {col}_p90, "
            f"percentile_cont(0.95) WITHIN GROUP (ORDER BY v.{col}) FILTER (WHERE {ok}) "
            f"AS {col}_p95, "
            f"max(v.{col}) FILTER (WHERE {ok}) AS {col}_max, "
            f"(count(*) FILTER (WHERE {ok} AND v.{col} <= v.{col}_target))::float8 "
            f"/ nullif(count(*) FILTER (WHERE {ok}), 0) AS {col}_within")


def _valid(expr: str, col: str) -> str:
    # A negative or week-long interval is a clock error (as in SAMPLES_CTE): left out;
    # so is one whose category has no target for it.
    return (f"CASE WHEN t.{col} IS NOT NULL AND {expr} BETWEEN 0 AND 7 * 86400 "
            f"THEN {expr} END AS {col}, t.{col} AS {col}_target")


# Per interval: count, mean, percentiles, share within target; and, on every row, the
# incidents with all four intervals and the mean of each over them (these add up).
RESPONSE_TIMES_SQL = f"""
WITH {INC_CTE}, {TARGETS_CTE},
tg AS (
    SELECT category,
           max(secs) FILTER (WHERE interval = 'call_processing') AS cp,
           max(secs) FILTER (WHERE interval = 'turnout') AS tu,
           max(secs) FILTER (WHERE interval = 'travel') AS tr,
           max(secs) FILTER (WHERE interval = 'total') AS tt
    FROM targets GROUP BY category
),
v AS (
    SELECT {_valid("extract(epoch FROM inc.first_dispatched - inc.started_at)::float8", "cp")},
           {_valid("extract(epoch FROM inc.ref_en_route - inc.first_dispatched)::float8", "tu")},
           {_valid("extract(epoch FROM inc.first_on_scene - inc.ref_en_route)::float8", "tr")},
           {_valid("extract(epoch FROM inc.first_on_scene - inc.started_at)::float8", "tt")}
    FROM inc JOIN tg t ON t.category = inc.category
),
agg AS (
    SELECT {", ".join(_figures(c) for _, c in _INTERVAL_COLS)},
           count(*) FILTER (WHERE v.cp IS NOT NULL AND v.tu IS NOT NULL AND v.tr IS NOT NULL
                            AND v.tt IS NOT NULL) AS chain_count,
           avg(v.cp) FILTER (WHERE v.tu IS NOT NULL AND v.tr IS NOT NULL
                             AND v.tt IS NOT NULL) AS chain_call_processing,
           avg(v.tu) FILTER (WHERE v.cp IS NOT NULL AND v.tr IS NOT NULL
                             AND v.tt IS NOT NULL) AS chain_turnout,
           avg(v.tr) FILTER (WHERE v.cp IS NOT NULL AND v.tu IS NOT NULL
                             AND v.tt IS NOT NULL) AS chain_travel,
           avg(v.tt) FILTER (WHERE v.cp IS NOT NULL AND v.tu IS NOT NULL
                             AND v.tr IS NOT NULL) AS chain_total
    FROM v
)
SELECT a.chain_count, a.chain_call_processing, a.chain_turnout, a.chain_travel,
       a.chain_total, g.*
FROM agg a
CROSS JOIN LATERAL (VALUES {", ".join(
    f"('{name}', a.{c}_count, a.{c}_mean, a.{c}_p50, a.{c}_p90, a.{c}_p95, a.{c}_max, "
    f"a.{c}_within)" for name, c in _INTERVAL_COLS)})
    AS g(interval, count, mean, p50, p90, p95, max, within_target)
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
