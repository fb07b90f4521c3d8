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
# The longest interval that is a response time; a longer one is a clock error.
MAX_INTERVAL_SQL = "7 * 86400"
SAMPLES_CTE = f"""
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
    SELECT * FROM raw_samples WHERE secs >= 0 AND secs <= {MAX_INTERVAL_SQL}
)"""

# How many of the period's incidents came from the simulator (sql/022).
# Targets per (category, interval). Parameters: $4 categories, $5 intervals, $6 seconds.
TARGETS_CTE = """
targets AS (
    SELECT * FROM unnest($4::text[], $5::text[], $6::float8[]) AS t(category, interval, secs)
)"""

def _interval_figures(n: str) -> str:
    """The aggregates of interval ``n`` (a constant of INTERVALS, never a value)."""
    return (f"count({n}) FILTER (WHERE t_{n} IS NOT NULL) AS {n}_count, "
            f"avg({n}) FILTER (WHERE t_{n} IS NOT NULL) AS {n}_mean, "
            f"percentile_cont(ARRAY[0.5, 0.9, 0.95]::float8[]) WITHIN GROUP (ORDER BY {n}) "
            f"FILTER (WHERE t_{n} IS NOT NULL) AS {n}_p, "
            f"max({n}) FILTER (WHERE t_{n} IS NOT NULL) AS {n}_max, "
            f"count(*) FILTER (WHERE {n} <= t_{n}) AS {n}_within, "
            f"avg({n}) FILTER (WHERE complete) AS chain_{n}")


def _interval_row(n: str) -> str:
    return (f"('{n}', a.{n}_count, a.{n}_mean, a.{n}_p[1], a.{n}_p[2], a.{n}_p[3], "
            f"a.{n}_max, a.{n}_within::float8 / nullif(a.{n}_count, 0))")


# Per interval: count, mean, percentiles, share within target; and, on every row, the
# incidents with all four intervals and the mean of each over them (these add up). The
# same figures as grouping SAMPLES_CTE by interval (tests/test_response_columns.py),
# read in one pass: each of the month's incidents is one row with its four intervals
# (NULL where missing or out of range, as SAMPLES_CTE leaves them out) and its
# category's four targets, and each percentile sorts that interval's values once. The
# OFFSET 0 fences keep the planner from copying the interval expressions into every
# aggregate that reads them (each extract() is numeric arithmetic: computed once per
# row, the month of 1,000,000 incidents reads in a quarter of the time). An interval is
# counted only for a category with a target for it, as the join in SAMPLES_CTE's form.
RESPONSE_TIMES_SQL = f"""
WITH {TARGETS_CTE},
target_of AS (
    SELECT category, {", ".join(f"min(secs) FILTER (WHERE interval = '{n}') AS t_{n}"
                                for n in INTERVALS)}
    FROM targets GROUP BY category
),
s AS (
    SELECT k.*, {" AND ".join(f"k.{n} IS NOT NULL" for n in INTERVALS)} AS complete
    FROM (
        SELECT {", ".join(f"CASE WHEN r.{n} >= 0 AND r.{n} <= {MAX_INTERVAL_SQL} THEN r.{n} END"
                          f" AS {n}" for n in INTERVALS)},
               {", ".join(f"t.t_{n}" for n in INTERVALS)}, r.simulated
        FROM (
            SELECT i.category, i.simulated,
                   extract(epoch FROM i.first_dispatched_at
                           - coalesce(i.answered_at, i.received_at))::float8 AS call_processing,
                   extract(epoch FROM i.first_en_route_at
                           - i.first_dispatched_at)::float8 AS turnout,
                   extract(epoch FROM i.first_on_scene_at - i.first_en_route_at)::float8 AS travel,
                   extract(epoch FROM i.first_on_scene_at
                           - coalesce(i.answered_at, i.received_at))::float8 AS total
            FROM incidents i
            WHERE i.received_at >= $1 AND i.received_at < $2
              AND ($3::text IS NULL OR i.category = $3)
            OFFSET 0
        ) r
        LEFT JOIN target_of t ON t.category = r.category
        OFFSET 0
    ) k
    OFFSET 0
),
a AS (
    SELECT {", ".join(_interval_figures(n) for n in INTERVALS)},
           count(*) FILTER (WHERE complete) AS chain_count,
           count(*) AS all_incidents, count(*) FILTER (WHERE simulated) AS all_simulated
    FROM s
)
SELECT a.chain_count, {", ".join(f"a.chain_{n}" for n in INTERVALS)},
       a.all_incidents, a.all_simulated, g.*
FROM a LEFT JOIN LATERAL (VALUES {", ".join(_interval_row(n) for n in INTERVALS)})
    AS g(interval, count, mean, p50, p90, p95, max, within_target) ON g.count > 0
"""
CHAIN_PREFIX = "chain_"


async def response_times(conn: asyncpg.Connection, *, since: datetime, until: datetime,
                         category: str | None, targets: TargetTable
                         ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(figures per interval, the chain: {"count", "mean": {interval: s}}, the simulated
    share: {"incidents", "simulated", "flag"}) for the period, in one statement."""
    rows = targets.rows()
    result = await conn.fetch(
        RESPONSE_TIMES_SQL, since, until, category,
        [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows],
    )
    first = dict(result[0])
    counted = {"incidents": first.pop("all_incidents"), "simulated": first.pop("all_simulated")}
    counted["flag"] = counted["simulated"] > 0
    chained = {k.removeprefix(CHAIN_PREFIX): v for k, v in first.items()
               if k.startswith(CHAIN_PREFIX)}
    found = {r["interval"]: {k: v for k, v in dict(r).items()
                             if not k.startswith((CHAIN_PREFIX, "all_"))}
             for r in result if r["interval"] is not None}
    out: dict[str, Any] = {}
    for interval in INTERVALS:
        row = found.get(interval) or {"count": 0, "mean": None, "p50": None, "p90": None,
                                      "p95": None, "max": None, "within_target": None}
        row.pop("interval", None)
        row["target_s"] = _target_label(targets, interval, category)
        out[interval] = row
    return out, {"count": chained.pop("count"), "mean": chained}, counted


def _target_label(targets: TargetTable, interval: str, category: str | None
                  ) -> float | dict[str, float]:
    """One category's target, or the range of targets across categories."""
    if category is not None:
        return targets.target(category, interval)
    values = [secs for _, i, secs in targets.rows() if i == interval]
    lo, hi = min(values), max(values)
    return lo if lo == hi else {"min": lo, "max": hi}
