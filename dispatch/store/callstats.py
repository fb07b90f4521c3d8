"""Call statistics, computed in SQL: dispositions, kecamatan, hour of day, answer times.

A call counts in the period by when the phone rang, or when it was logged if the
telephony gave no ring time. Answer time is ring -> answer; percentiles are
continuous (PostgreSQL percentile_cont), shares within target are exact counts.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

# Read from the calls_period expression index (sql/022): the period's calls only.
PERIOD = "coalesce(rang_at, logged_at) >= $1 AND coalesce(rang_at, logged_at) < $2"
ANSWER_S = "extract(epoch FROM answered_at - rang_at)"

BY_DISPOSITION_SQL = f"""
SELECT disposition, count(*) AS count FROM calls WHERE {PERIOD}
GROUP BY disposition ORDER BY disposition
"""

BY_KECAMATAN_SQL = f"""
SELECT kecamatan_code, count(*) AS count,
       count(*) FILTER (WHERE disposition IN ('prank', 'ghost')) AS prank_or_ghost
FROM calls WHERE {PERIOD}
GROUP BY kecamatan_code ORDER BY count(*) DESC, kecamatan_code NULLS LAST
"""

# Per hour of the day (local time): calls, prank/ghost calls, and of the calls with
# both ring and answer times, how many were answered within the first target ($4 s).
BY_HOUR_SQL = f"""
SELECT extract(hour FROM coalesce(rang_at, logged_at) AT TIME ZONE $3)::int AS hour,
       count(*) AS count,
       count(*) FILTER (WHERE disposition IN ('prank', 'ghost')) AS prank_or_ghost,
       count(*) FILTER (WHERE answered_at >= rang_at) AS answered,
       count(*) FILTER (WHERE answered_at >= rang_at AND {ANSWER_S} <= $4) AS within_target
FROM calls WHERE {PERIOD}
GROUP BY 1 ORDER BY 1
"""

SIMULATED_SQL = f"""
SELECT count(*) AS calls, count(*) FILTER (WHERE simulated) AS simulated
FROM calls WHERE {PERIOD}
"""

ANSWER_SAMPLES = """
SELECT extract(epoch FROM answered_at - rang_at)::float8 AS secs
FROM calls
WHERE rang_at IS NOT NULL AND answered_at IS NOT NULL AND rang_at >= $1 AND rang_at < $2
  AND coalesce(rang_at, logged_at) >= $1 AND coalesce(rang_at, logged_at) < $2  -- the index
  -- a ring longer than a day is a clock error, not an answer time
  AND answered_at >= rang_at AND answered_at - rang_at <= interval '1 day'
"""

ANSWER_PERCENTILES_SQL = f"""
WITH s AS ({ANSWER_SAMPLES})
SELECT count(*) AS count, avg(secs) AS mean,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY secs) AS p50,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY secs) AS p90,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY secs) AS p95,
       max(secs) AS max
FROM s
"""

ANSWER_TARGETS_SQL = f"""
WITH s AS ({ANSWER_SAMPLES}),
t AS (SELECT * FROM unnest($3::float8[], $4::float8[]) AS t(target_s, required_share))
SELECT t.target_s, t.required_share,
       count(s.secs) FILTER (WHERE s.secs <= t.target_s)::float8
           / nullif(count(s.secs), 0) AS share
FROM t LEFT JOIN s ON true
GROUP BY t.target_s, t.required_share ORDER BY t.target_s
"""


async def call_stats(conn: asyncpg.Connection, *, since: datetime, until: datetime,
                     timezone: str, targets: tuple[float, ...],
                     shares: tuple[float, ...]) -> dict[str, Any]:
    """Counts by disposition, kecamatan and hour, and answer times against targets."""
    by_disposition = {r["disposition"]: r["count"]
                      for r in await conn.fetch(BY_DISPOSITION_SQL, since, until)}
    total = sum(by_disposition.values())
    answer = dict(await conn.fetchrow(ANSWER_PERCENTILES_SQL, since, until))
    answer["targets"] = [
        dict(r, met=None if r["share"] is None else r["share"] >= r["required_share"])
        for r in await conn.fetch(ANSWER_TARGETS_SQL, since, until, list(targets),
                                  list(shares))]
    sim = dict(await conn.fetchrow(SIMULATED_SQL, since, until))
    first_target = targets[0] if targets else 15.0
    return {
        "total": total,
        "simulated": {**sim, "flag": sim["simulated"] > 0},
        "by_disposition": by_disposition,
        "prank_share": by_disposition.get("prank", 0) / total if total else None,
        "ghost_share": by_disposition.get("ghost", 0) / total if total else None,
        "prank_or_ghost_share": (by_disposition.get("prank", 0)
                                 + by_disposition.get("ghost", 0)) / total if total else None,
        "by_kecamatan": [dict(r) for r in await conn.fetch(BY_KECAMATAN_SQL, since, until)],
        "by_hour": [dict(r) for r in await conn.fetch(BY_HOUR_SQL, since, until, timezone,
                                                          first_target)],
        "answer_time": answer,
    }
