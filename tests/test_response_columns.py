"""The incident keeps its response times (sql/014): the unit measured (the first on
scene, else the first dispatched) and when the first emergency call was answered, kept
in the transaction that completes them, so statistics need not join assignments."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from tests.helpers import (
    KANIGORO,
    SRENGAT,
    WLINGI,
    Console,
    create_incident,
    create_unit,
    is_kind,
    post_json,
    set_status,
)

COLUMNS_SQL = """
SELECT first_unit_type, first_dispatched_at, first_en_route_at, first_on_scene_at, answered_at
FROM incidents WHERE id = $1
"""


async def test_the_first_unit_on_scene_is_the_one_measured(client: TestClient,
                                                            db: asyncpg.Connection) -> None:
    near = await create_unit(client, "AMB-NEAR", "ambulance", WLINGI)
    incident = await create_incident(client, WLINGI)
    async with Console(client) as console:
        await console.wait_for(is_kind("unit.assigned", incident_id=incident["id"]))
    far = await create_unit(client, "POL-FAR", "police", SRENGAT)
    await post_json(client, f"/api/v1/incidents/{incident['id']}/assignments",
                    {"unit_id": far["id"]}, 201)
    first = await db.fetchrow(COLUMNS_SQL, incident["id"])
    sent = await db.fetchrow("SELECT dispatched_at FROM assignments WHERE unit_id = $1",
                             near["id"])
    # Nobody on scene yet: the first unit dispatched is measured.
    assert (first["first_unit_type"], first["first_dispatched_at"]) == (
        "ambulance", sent["dispatched_at"])
    assert first["first_on_scene_at"] is None

    # The police car, sent second, arrives first: it becomes the one measured.
    await set_status(client, far["id"], "en_route")
    await set_status(client, near["id"], "en_route")
    await set_status(client, far["id"], "on_scene")
    row = await db.fetchrow(COLUMNS_SQL, incident["id"])
    police = await db.fetchrow("SELECT dispatched_at, en_route_at, on_scene_at FROM assignments "
                               "WHERE unit_id = $1", far["id"])
    assert row["first_unit_type"] == "police"
    assert (row["first_dispatched_at"], row["first_en_route_at"], row["first_on_scene_at"]) == (
        police["dispatched_at"], police["en_route_at"], police["on_scene_at"])
    # The ambulance arriving later changes nothing.
    await set_status(client, near["id"], "on_scene")
    assert await db.fetchrow(COLUMNS_SQL, incident["id"]) == row


async def test_the_answer_time_is_the_first_emergency_calls(client: TestClient,
                                                             db: asyncpg.Connection) -> None:
    body = {"caller_phone": "081298765432", "disposition": "emergency",
            "rang_at": "2026-03-01T08:00:00+07:00", "answered_at": "2026-03-01T08:00:09+07:00",
            "incident": {"category": "medis", "priority": 1,
                         "location": {"lat": KANIGORO[0], "lon": KANIGORO[1]}}}
    call = await post_json(client, "/api/v1/calls", body, 201)
    incident_id = call["incident_id"]
    # A second caller, answered later, reports the same incident: the first one counts.
    await post_json(client, "/api/v1/calls",
                    {"caller_phone": "081211112222", "disposition": "duplicate",
                     "incident_id": incident_id, "rang_at": "2026-03-01T08:01:00+07:00",
                     "answered_at": "2026-03-01T08:01:30+07:00"}, 201)
    answered = await db.fetchval("SELECT answered_at FROM incidents WHERE id = $1", incident_id)
    assert answered.isoformat() == "2026-03-01T01:00:09+00:00"


async def test_a_months_statistics_read_the_incidents_alone(db: asyncpg.Connection) -> None:
    """The plan, not a timing: neither assignments nor calls are read for a month."""
    from dispatch.store.stats import RESPONSE_TIMES_SQL

    await db.execute("SET enable_seqscan = off")  # a small table: ask for the index plan
    plan = "\n".join(r[0] for r in await db.fetch(
        "EXPLAIN " + RESPONSE_TIMES_SQL, datetime(2026, 3, 1, tzinfo=UTC),
        datetime(2026, 4, 1, tzinfo=UTC), None, ["medis"], ["total"], [600.0]))
    await db.execute("RESET enable_seqscan")
    assert "assignments" not in plan and "calls" not in plan, plan
    assert "incidents_response" in plan, plan


# The month's figures as the reports define them: SAMPLES_CTE's rows, one per (interval,
# incident), grouped by interval; the statistics endpoint reads the same in one pass.
SAMPLES_GROUPED_SQL = """
WITH {samples}, {targets},
per AS (
    SELECT incident_id FROM samples GROUP BY incident_id HAVING count(*) = 4
),
chained AS (
    SELECT s.interval, count(*) AS chain_count, avg(s.secs) AS chain_mean
    FROM samples s JOIN per USING (incident_id) GROUP BY s.interval
)
SELECT s.interval, count(*) AS count, avg(s.secs) AS mean,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY s.secs) AS p50,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY s.secs) AS p90,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY s.secs) AS p95,
       max(s.secs) AS max,
       count(*) FILTER (WHERE s.secs <= t.secs)::float8 / count(*) AS within_target,
       (SELECT c.chain_count FROM chained c WHERE c.interval = s.interval) AS chain_count,
       (SELECT c.chain_mean FROM chained c WHERE c.interval = s.interval) AS chain_mean
FROM samples s JOIN targets t ON t.category = s.category AND t.interval = s.interval
GROUP BY s.interval
"""

# Incidents whose columns hold every case the samples treat apart: no answer time
# recorded, a clock error (dispatched before the call), no en route or on scene time,
# an eight-day travel, and categories with targets for some intervals or none.
ODD_INCIDENTS_SQL = """
INSERT INTO incidents (caller_phone, category, priority, lat, lon, required_types, status,
                       received_at, logged_at, logged_by, closed_at, disposition,
                       answered_at, first_unit_type,
                       first_dispatched_at, first_en_route_at, first_on_scene_at)
SELECT '0812' || lpad(g::text, 8, '0'),
       (ARRAY['medis', 'kebakaran', 'kriminalitas'])[1 + g % 3], 1, -8.1, 112.2,
       ARRAY['ambulance'], 'closed', t, t + interval '40 seconds', 'stats-test',
       t + interval '2 hours', 'selesai',
       CASE WHEN g % 5 <> 0 THEN t + interval '9 seconds' END, 'ambulance',
       d, CASE WHEN g % 11 <> 0 THEN d + (g % 90) * interval '1 second' END,
       CASE WHEN g % 13 <> 0 THEN d + (g % 90) * interval '1 second'
            + CASE WHEN g % 17 = 0 THEN interval '8 days'
                   ELSE (g * 7 % 1300) * interval '1 second' END
       END
FROM generate_series(1, 300) g,
     LATERAL (SELECT timestamptz '2026-03-01 00:00+00' + g * interval '1 hour' AS t) a,
     LATERAL (SELECT a.t + ((g % 7) * 20 - 30) * interval '1 second' AS d) b
"""


async def test_the_months_figures_are_the_reports_samples_grouped(
        db: asyncpg.Connection) -> None:
    """The statistics endpoint's one-pass statement and the samples the reports group
    (dispatch/store/reports.py) give the same figures, clock errors and gaps included."""
    from dispatch.core.runcards import INTERVALS, TargetTable
    from dispatch.store.stats import SAMPLES_CTE, TARGETS_CTE, response_times

    await db.execute(ODD_INCIDENTS_SQL)
    targets = TargetTable(by_category={
        "medis": {"call_processing": 60.0, "turnout": 40.0, "travel": 600.0, "total": 700.0},
        "kebakaran": {"turnout": 30.0, "total": 500.0}})
    since, until = datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 12, tzinfo=UTC)
    rows = targets.rows()
    expected = {r["interval"]: dict(r) for r in await db.fetch(
        SAMPLES_GROUPED_SQL.format(samples=SAMPLES_CTE, targets=TARGETS_CTE), since, until,
        None, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])}
    assert set(expected) == set(INTERVALS)
    got, chain, _ = await response_times(db, since=since, until=until, category=None,
                                      targets=targets)
    chains = {e["chain_count"] for e in expected.values()}
    assert chains == {chain["count"]} and 0 < chain["count"] < expected["total"]["count"]
    for interval, want in expected.items():
        assert chain["mean"][interval] == pytest.approx(want.pop("chain_mean"), rel=1e-12)
        del want["chain_count"], want["interval"]
        figures = {k: got[interval][k] for k in want}
        assert figures == pytest.approx(want, rel=1e-12), interval
