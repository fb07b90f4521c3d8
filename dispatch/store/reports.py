"""Supervisor reports: response times grouped, a histogram, and the per-incident export.

Every figure is computed in SQL from the interval samples defined once in
``dispatch.store.stats`` (SAMPLES_CTE), so the dashboard, the statistics endpoint
and the CSV export can never disagree on what an interval means.

Days and hours are local Blitar time (WIB, UTC+7). The kecamatan and desa of an
incident are the ones stored with it (point-in-polygon on the Kemendagri boundaries
when it was located); Kota Blitar and each neighbouring kabupaten are groups of
their own. Rows stored before incidents carried a kecamatan fall back to the
nearest kecamatan centre (dispatch.demo_data).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from dispatch.core.runcards import TargetTable
from dispatch.demo_data import KECAMATAN
from dispatch.geodata import wilayah
from dispatch.store.stats import SAMPLES_CTE, TARGETS_CTE

LOCAL_TZ = "Asia/Jakarta"  # WIB: the Command Center's wall clock



def _kecamatan_cte(first: int) -> str:
    """Kecamatan centres (names, lats, lons from ``$first`` on) and the kabupaten/kota
    names by code (``$first+3``, ``$first+4``)."""
    a, b, c, d, e = first, first + 1, first + 2, first + 3, first + 4
    return (f"kec AS (SELECT * FROM unnest(${a}::text[], ${b}::float8[], ${c}::float8[])"
            f" AS k(name, lat, lon)), area AS (SELECT * FROM unnest(${d}::text[],"
            f" ${e}::text[]) AS r(code, name))")


# Only for rows stored before incidents carried their kecamatan (no point-in-polygon in
# SQL): the nearest kecamatan centre on a locally flat projection stands in.
NEAREST_KECAMATAN = """
(SELECT k.name FROM kec k WHERE i.lat IS NOT NULL
 ORDER BY (k.lat - i.lat) ^ 2 + ((k.lon - i.lon) * cos(radians(i.lat))) ^ 2 LIMIT 1)
"""
# Kota Blitar and each neighbour are groups of their own, never under a kecamatan of ours.
AREA_GROUP = """
CASE WHEN i.jurisdiction = 'kota_blitar' THEN 'Kota Blitar'
     ELSE coalesce((SELECT r.name FROM area r WHERE r.code = i.handover_to),
                   'Luar wilayah (tanpa kabupaten/kota)') END
"""
INCIDENT_KECAMATAN = f"""
CASE WHEN i.jurisdiction IN ('kota_blitar', 'outside_regency') THEN {AREA_GROUP}
     ELSE COALESCE(i.kecamatan, {NEAREST_KECAMATAN}) END
"""
INCIDENT_DESA = f"""
CASE WHEN i.jurisdiction IN ('kota_blitar', 'outside_regency') THEN {AREA_GROUP}
     WHEN i.desa IS NOT NULL THEN i.desa || ' (' || i.kecamatan || ')'
     ELSE COALESCE(i.kecamatan, {NEAREST_KECAMATAN}) || ' (desa tidak diketahui)' END
"""

GROUP_KEYS = {
    "day": f"to_char(i.received_at AT TIME ZONE '{LOCAL_TZ}', 'YYYY-MM-DD')",
    "hour": f"to_char(i.received_at AT TIME ZONE '{LOCAL_TZ}', 'HH24')",
    "kecamatan": INCIDENT_KECAMATAN,
    "desa": INCIDENT_DESA,
    "unit_type": "s.unit_type",
}

_GROUPED_TEMPLATE = """
WITH {samples}, {targets}, {kec},
keyed AS (
    SELECT s.interval, s.secs, t.secs AS target_s, {key} AS grp
    FROM samples s
    JOIN targets t ON t.category = s.category AND t.interval = s.interval
    JOIN incidents i ON i.id = s.incident_id
)
SELECT grp, interval,
       count(*) AS count,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY secs) AS p50,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY secs) AS p90,
       count(*) FILTER (WHERE secs <= target_s)::float8 / count(*) AS within_target
FROM keyed WHERE grp IS NOT NULL
GROUP BY grp, interval
ORDER BY grp, interval
"""

# One named query per grouping, built once from constant fragments (no value is
# ever formatted into SQL). Parameters: $1-$3 as SAMPLES_CTE, $4-$6 targets, $7-$11 kec
# and area names.
GROUPED_SQL = {
    group: _GROUPED_TEMPLATE.format(samples=SAMPLES_CTE, targets=TARGETS_CTE,
                                    kec=_kecamatan_cte(7), key=key)
    for group, key in GROUP_KEYS.items()
}

# Total response time in bins of $4 seconds.
HISTOGRAM_SQL = f"""
WITH {SAMPLES_CTE}
SELECT floor(secs / $4)::int AS bin, count(*) AS count
FROM samples WHERE interval = 'total'
GROUP BY bin ORDER BY bin
"""

# One row per incident with its interval times, all four of the same unit (the first
# on scene, dispatch/store/stats.py), so call_processing_s + turnout_s + travel_s =
# total_s on every complete row. Read from a server-side cursor (web/reports.py).
# Parameters: $1-$3 as SAMPLES_CTE, $4-$8 kecamatan centres and area names.
EXPORT_SQL = f"""
WITH {SAMPLES_CTE}, {_kecamatan_cte(4)},
per AS (
    SELECT incident_id,
           min(secs) FILTER (WHERE interval = 'call_processing') AS call_processing_s,
           min(secs) FILTER (WHERE interval = 'turnout') AS turnout_s,
           min(secs) FILTER (WHERE interval = 'travel') AS travel_s,
           min(secs) FILTER (WHERE interval = 'total') AS total_s
    FROM samples GROUP BY incident_id
)
SELECT i.id, i.received_at, nullif(inc.started_at, i.received_at) AS answered_at,
       i.category, i.priority, i.status, i.disposition,
       {INCIDENT_KECAMATAN} AS kecamatan, i.desa, i.jurisdiction,
       (SELECT r.name FROM area r WHERE r.code = i.handover_to) AS handover_to,
       i.location_source, i.radius_m, i.lat, i.lon, i.address,
       inc.unit_type AS first_unit_type,
       inc.first_dispatched AS first_dispatched_at, inc.first_on_scene AS first_on_scene_at,
       i.closed_at,
       (SELECT count(*) FROM assignments a WHERE a.incident_id = i.id) AS units,
       per.call_processing_s, per.turnout_s, per.travel_s, per.total_s, i.simulated
FROM inc JOIN incidents i ON i.id = inc.id
LEFT JOIN per ON per.incident_id = inc.id
ORDER BY i.received_at, i.id
"""

# (column, Indonesian name, English name); "{tz}" is WIB or UTC.
EXPORT_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("id", "No. kejadian", "Incident no."),
    ("received_at", "Panggilan masuk ({tz})", "Call received ({tz})"),
    ("answered_at", "Panggilan diangkat ({tz})", "Call answered ({tz})"),
    ("category", "Kategori", "Category"),
    ("priority", "Prioritas", "Priority"),
    ("status", "Status", "Status"),
    ("disposition", "Hasil penanganan", "Outcome"),
    ("kecamatan", "Kecamatan", "District (kecamatan)"),
    ("desa", "Desa", "Village (desa)"),
    ("jurisdiction", "Wilayah", "Jurisdiction"),
    ("handover_to", "Diserahkan ke", "Handed over to"),
    ("location_source", "Sumber lokasi", "Location source"),
    ("radius_m", "Radius lokasi (m)", "Location radius (m)"),
    ("lat", "Lintang", "Latitude"),
    ("lon", "Bujur", "Longitude"),
    ("address", "Alamat", "Address"),
    ("first_unit_type", "Unit pertama tiba", "First unit on scene"),
    ("first_dispatched_at", "Unit itu diberangkatkan ({tz})", "That unit dispatched ({tz})"),
    ("first_on_scene_at", "Unit itu tiba ({tz})", "That unit on scene ({tz})"),
    ("closed_at", "Ditutup ({tz})", "Closed ({tz})"),
    ("units", "Jumlah unit", "Units"),
    ("call_processing_s", "Proses panggilan (detik)", "Call processing (s)"),
    ("turnout_s", "Persiapan berangkat (detik)", "Turnout (s)"),
    ("travel_s", "Perjalanan (detik)", "Travel (s)"),
    ("total_s", "Total (detik)", "Total (s)"),
    ("simulated", "Data simulasi", "Simulated"),
)


# The daily report (web/daily.py): the day's incidents by category, and by kecamatan
# (Kota Blitar and each neighbour a group of its own). Read from the received_at index.
DAILY_CATEGORIES_SQL = """
SELECT i.category, count(*) AS count, count(*) FILTER (WHERE i.priority = 1) AS priority_1
FROM incidents i WHERE i.received_at >= $1 AND i.received_at < $2
GROUP BY i.category ORDER BY count(*) DESC, i.category
"""
DAILY_KECAMATAN_SQL = f"""
WITH {_kecamatan_cte(3)}
SELECT {INCIDENT_KECAMATAN} AS kecamatan, count(*) AS count
FROM incidents i WHERE i.received_at >= $1 AND i.received_at < $2
GROUP BY 1 ORDER BY count(*) DESC, 1 NULLS LAST
"""


async def daily_counts(conn: asyncpg.Connection, *, since: datetime, until: datetime
                       ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(incidents by category, incidents by kecamatan) received in the period."""
    categories = [dict(r) for r in await conn.fetch(DAILY_CATEGORIES_SQL, since, until)]
    kecamatan = [dict(r) for r in await conn.fetch(DAILY_KECAMATAN_SQL, since, until,
                                                   *_kecamatan_args())]
    return categories, kecamatan


def _kecamatan_args() -> tuple[list[str], list[float], list[float], list[str], list[str]]:
    areas = wilayah().areas.regions
    return ([k.name for k in KECAMATAN], [k.lat for k in KECAMATAN], [k.lon for k in KECAMATAN],
            [a.code for a in areas], [a.name for a in areas])


def _target_args(targets: TargetTable) -> tuple[list[str], list[str], list[float]]:
    rows = targets.rows()
    return [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]


async def grouped(conn: asyncpg.Connection, group: str, *, since: datetime, until: datetime,
                  category: str | None, targets: TargetTable) -> list[dict[str, Any]]:
    """Per group and interval: count, p50, p90 and the share within target."""
    rows = await conn.fetch(GROUPED_SQL[group], since, until, category,
                            *_target_args(targets), *_kecamatan_args())
    return [dict(r) for r in rows]


async def histogram(conn: asyncpg.Connection, *, since: datetime, until: datetime,
                    category: str | None, bin_s: int) -> list[dict[str, int]]:
    """Counts of total response time per bin, empty bins included, from 0 to the last."""
    counts = {r["bin"]: r["count"]
              for r in await conn.fetch(HISTOGRAM_SQL, since, until, category, float(bin_s))}
    last = max(counts, default=-1)
    return [{"from_s": b * bin_s, "to_s": (b + 1) * bin_s, "count": counts.get(b, 0)}
            for b in range(last + 1)]


def export_cursor(conn: asyncpg.Connection, *, since: datetime, until: datetime,
                  category: str | None) -> Any:
    """A server-side cursor over the period's incidents, oldest first (inside a
    transaction of the caller's)."""
    return conn.cursor(EXPORT_SQL, since, until, category, *_kecamatan_args(), prefetch=500)
