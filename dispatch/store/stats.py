"""Response-time statistics, computed in SQL over the stored assignment timestamps.

Intervals (names as fire and EMS services use them):
- call_processing: call received -> first unit dispatched (per incident)
- turnout: unit dispatched -> that unit en route (per assignment)
- travel: unit en route -> that unit on scene (per assignment)
- total: call received -> first unit on scene (per incident)
Percentiles are continuous (linear interpolation, PostgreSQL percentile_cont).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from dispatch.core.runcards import INTERVALS, TargetTable

# The interval samples, shared with the supervisor reports (dispatch/web/reports.py):
# one row per (interval, incident or assignment) with its seconds. Parameters: $1 from,
# $2 to (received_at), $3 category or NULL. unit_type is set for the per-assignment
# intervals (turnout, travel) and NULL for the per-incident ones.
SAMPLES_CTE = """
inc AS (
    SELECT i.id, i.category, i.received_at,
           min(a.dispatched_at) AS first_dispatched,
           min(a.on_scene_at) AS first_on_scene
    FROM incidents i
    LEFT JOIN assignments a ON a.incident_id = i.id
    WHERE i.received_at >= $1 AND i.received_at < $2
      AND ($3::text IS NULL OR i.category = $3)
    GROUP BY i.id
),
raw_samples AS (
    SELECT 'call_processing' AS interval, category,
           extract(epoch FROM first_dispatched - received_at)::float8 AS secs,
           id AS incident_id, NULL::text AS unit_type
    FROM inc WHERE first_dispatched IS NOT NULL
    UNION ALL
    SELECT 'total', category, extract(epoch FROM first_on_scene - received_at)::float8,
           id, NULL
    FROM inc WHERE first_on_scene IS NOT NULL
    UNION ALL
    SELECT 'turnout', inc.category, extract(epoch FROM a.en_route_at - a.dispatched_at)::float8,
           inc.id, a.unit_type
    FROM inc JOIN assignments a ON a.incident_id = inc.id WHERE a.en_route_at IS NOT NULL
    UNION ALL
    SELECT 'travel', inc.category, extract(epoch FROM a.on_scene_at - a.en_route_at)::float8,
           inc.id, a.unit_type
    FROM inc JOIN assignments a ON a.incident_id = inc.id
    WHERE a.en_route_at IS NOT NULL AND a.on_scene_at IS NOT NULL
),
-- A negative or week-long interval is a clock error, not a response time: left out,
-- so one bad row cannot swamp a percentile.
samples AS (
    SELECT * FROM raw_samples WHERE secs >= 0 AND secs <= 7 * 86400
)"""

# Targets per (category, interval). Parameters: $4 categories, $5 intervals, $6 seconds.
TARGETS_CTE = """
targets AS (
    SELECT * FROM unnest($4::text[], $5::text[], $6::float8[]) AS t(category, interval, secs)
)"""

RESPONSE_TIMES_SQL = f"""
WITH {SAMPLES_CTE}, {TARGETS_CTE}
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
"""


async def response_times(conn: asyncpg.Connection, *, since: datetime, until: datetime,
                         category: str | None, targets: TargetTable) -> dict[str, Any]:
    rows = targets.rows()
    result = await conn.fetch(
        RESPONSE_TIMES_SQL, since, until, category,
        [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows],
    )
    found = {r["interval"]: dict(r) for r in result}
    out: dict[str, Any] = {}
    for interval in INTERVALS:
        row = found.get(interval) or {"count": 0, "mean": None, "p50": None, "p90": None,
                                      "p95": None, "max": None, "within_target": None}
        row.pop("interval", None)
        row["target_s"] = _target_label(targets, interval, category)
        out[interval] = row
    return out


def _target_label(targets: TargetTable, interval: str, category: str | None
                  ) -> float | dict[str, float]:
    """One category's target, or the range of targets across categories."""
    if category is not None:
        return targets.target(category, interval)
    values = [secs for _, i, secs in targets.rows() if i == interval]
    lo, hi = min(values), max(values)
    return lo if lo == hi else {"min": lo, "max": hi}
