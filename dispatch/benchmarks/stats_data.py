"""The stats benchmark's dataset: incidents with their timelines, generated in SQL.

Rows are made with generate_series inside the benchmark's own database (never
through HTTP, never in a real one): closed incidents spread evenly over twelve
months, each with one ended assignment (dispatched, en route, on scene) and its
timeline events, already marked published so the relay leaves them alone.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

BENCH_UNITS_SQL = """
INSERT INTO units (callsign, unit_type, agency, lat, lon, position_at, status)
SELECT 'STAT-' || g, 'ambulance', 'Bench', -8.1, 112.2, clock_timestamp(), 'out_of_service'
FROM generate_series(1, 50) g
"""

INCIDENTS_SQL = """
INSERT INTO incidents (caller_phone, category, priority, lat, lon, required_types, status,
                       received_at, logged_at, logged_by, closed_at, disposition)
SELECT '0812' || lpad(g::text, 8, '0'),
       (ARRAY['medis', 'kecelakaan_lalu_lintas', 'kebakaran', 'kriminalitas'])[1 + g % 4],
       1 + g % 3, -8.35 + random() * 0.4, 111.95 + random() * 0.6, ARRAY['ambulance'],
       'closed', t, t + interval '40 seconds', 'bench', t + interval '2 hours', 'selesai'
FROM generate_series(1, $1::int) g,
     LATERAL (SELECT $2::timestamptz + (g::float8 / $1) * ($3::timestamptz - $2::timestamptz)
              AS t) s
"""

ASSIGNMENTS_SQL = """
INSERT INTO assignments (incident_id, unit_id, unit_type, method, assigned_by, distance_m,
                         status, dispatched_at, en_route_at, on_scene_at, ended_at, end_reason)
SELECT i.id, u.first + i.id % 50, 'ambulance', 'auto', 'bench', 1000 + random() * 20000,
       'ended', d, d + r1, d + r1 + r2, d + r1 + r2 + interval '1 hour', 'cleared'
FROM incidents i,
     (SELECT min(id) AS first FROM units WHERE callsign LIKE 'STAT-%') u,
     LATERAL (SELECT i.received_at + (20 + random() * 100) * interval '1 second' AS d,
                     (20 + random() * 100) * interval '1 second' AS r1,
                     (240 + random() * 1500) * interval '1 second' AS r2) s
WHERE i.logged_by = 'bench'
"""

EVENTS_SQL = """
INSERT INTO events (occurred_at, kind, incident_id, unit_id, actor, data, published_at)
SELECT e.at, e.kind, a.incident_id, e.unit_id, 'bench', '{}'::jsonb, e.at
FROM assignments a,
     LATERAL (VALUES (a.dispatched_at - interval '30 seconds', 'incident.created', NULL::bigint),
                     (a.dispatched_at, 'assignment.created', a.unit_id),
                     (a.en_route_at, 'unit.status', a.unit_id),
                     (a.on_scene_at, 'unit.status', a.unit_id)) AS e(at, kind, unit_id)
WHERE a.assigned_by = 'bench'
"""


# The response columns the assignments trigger (sql/014) keeps, set for the whole load
# in one join: the trigger's per-incident lookups and the audit trigger's images of a
# million updated rows would take minutes and measure nothing the benchmark reports.
RESPONSE_COLUMNS_SQL = """
UPDATE incidents i
SET first_unit_type = a.unit_type, first_dispatched_at = a.dispatched_at,
    first_en_route_at = a.en_route_at, first_on_scene_at = a.on_scene_at
FROM assignments a
WHERE a.incident_id = i.id AND a.assigned_by = 'bench'
"""


async def generate(conn: asyncpg.Connection, incidents: int, since: datetime,
                   until: datetime) -> None:
    """``incidents`` closed incidents received between ``since`` and ``until``, with timelines."""
    await conn.execute(BENCH_UNITS_SQL)
    await conn.execute(INCIDENTS_SQL, incidents, since, until)
    # The benchmark's own database: the trigger is off for the bulk load only.
    await conn.execute("ALTER TABLE assignments DISABLE TRIGGER assignments_response_insert")
    await conn.execute(ASSIGNMENTS_SQL)
    await conn.execute("ALTER TABLE assignments ENABLE TRIGGER assignments_response_insert")
    await conn.execute("ALTER TABLE incidents DISABLE TRIGGER incidents_audit")
    await conn.execute(RESPONSE_COLUMNS_SQL)
    await conn.execute("ALTER TABLE incidents ENABLE TRIGGER incidents_audit")
    await conn.execute(EVENTS_SQL)
    await conn.execute("VACUUM ANALYZE incidents")
    await conn.execute("VACUUM ANALYZE assignments")
    await conn.execute("VACUUM ANALYZE events")
