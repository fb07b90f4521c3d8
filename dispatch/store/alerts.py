"""Alerts for overdue units and incidents (sql/022): the watched rows and the alerts."""

from __future__ import annotations

ALERT_COLUMNS = """
al.id, al.kind, al.incident_id, al.unit_id, al.callsign, al.since, al.raised_at,
al.threshold_s, al.acknowledged_at, al.acknowledged_by, al.cleared_at
"""

# The database's clock: every elapsed time is measured on it, whatever the web host's.
NOW_SQL = "SELECT clock_timestamp()"

# Units on an open assignment that may be overdue: waiting to acknowledge, or on
# scene. Read from the open-assignment index (one row per busy unit at most).
WATCHED_UNITS_SQL = """
SELECT a.incident_id, a.unit_id, u.callsign, a.unit_type, i.priority, a.status,
       a.dispatched_at, a.on_scene_at
FROM assignments a
JOIN incidents i ON i.id = a.incident_id
JOIN units u ON u.id = a.unit_id
WHERE a.ended_at IS NULL AND a.status IN ('dispatched', 'on_scene')
"""

# Open incidents of ours (not waiting on a handover to another centre): whether any
# unit was ever en route, and when the last unit left it (it waits again since then).
WATCHED_INCIDENTS_SQL = """
SELECT i.id, i.priority, i.status, i.received_at,
       EXISTS (SELECT 1 FROM assignments a
               WHERE a.incident_id = i.id AND a.en_route_at IS NOT NULL) AS en_route,
       (SELECT max(a.ended_at) FROM assignments a WHERE a.incident_id = i.id) AS last_ended
FROM incidents i
WHERE i.status <> 'closed'
  AND (i.priority = 1 OR i.status IN ('pending', 'queued'))
  AND (i.queue_reason IS NULL OR i.queue_reason NOT LIKE 'handover\\_%')
"""

OPEN_ALERTS_SQL = f"""
SELECT {ALERT_COLUMNS} FROM alerts al WHERE al.cleared_at IS NULL ORDER BY al.id
"""

# One open alert per (kind, incident, unit): a second process raising the same one
# inserts nothing (and so announces nothing).
RAISE_SQL = f"""
INSERT INTO alerts AS al (kind, incident_id, unit_id, callsign, since, threshold_s)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (kind, incident_id, coalesce(unit_id, 0)) WHERE cleared_at IS NULL DO NOTHING
RETURNING {ALERT_COLUMNS}
"""

CLEAR_SQL = f"""
UPDATE alerts AS al SET cleared_at = greatest(clock_timestamp(), al.raised_at)
WHERE al.id = $1 AND al.cleared_at IS NULL
RETURNING {ALERT_COLUMNS}
"""

LOCK_ALERT_SQL = f"SELECT {ALERT_COLUMNS} FROM alerts al WHERE al.id = $1 FOR UPDATE"

ACKNOWLEDGE_SQL = f"""
UPDATE alerts AS al SET acknowledged_at = clock_timestamp(), acknowledged_by = $2
WHERE al.id = $1
RETURNING {ALERT_COLUMNS}
"""

# Open alerts (oldest first), or the newest alerts of the last $2 hours.
LIST_SQL = f"""
SELECT {ALERT_COLUMNS} FROM alerts al
WHERE ($1::boolean AND al.cleared_at IS NULL)
   OR (NOT $1::boolean AND al.raised_at >= clock_timestamp() - make_interval(hours => $2))
ORDER BY CASE WHEN $1::boolean THEN al.id END, al.id DESC
LIMIT $3
"""

# The day's alerts by kind, for the daily report.
BY_KIND_SQL = """
SELECT kind, count(*) AS count, count(*) FILTER (WHERE acknowledged_at IS NOT NULL) AS acknowledged
FROM alerts WHERE raised_at >= $1 AND raised_at < $2
GROUP BY kind ORDER BY kind
"""
