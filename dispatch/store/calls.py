"""The call log and AML messages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from dispatch.core.aml import AmlFix

CALL_COLUMNS = """
c.id, c.caller_phone, c.disposition, c.incident_id, c.handover_to, c.rang_at, c.answered_at,
extract(epoch FROM c.answered_at - c.rang_at)::float8 AS answer_s,
c.logged_at, c.logged_by, c.note, c.lat, c.lon, c.accuracy_m, c.location_source,
c.kecamatan_code, c.repeat_caller, c.jurisdiction, c.kecamatan, c.desa_code, c.desa, c.radius_m,
c.address, c.telephony_call_id
"""

INSERT_CALL_SQL = f"""
INSERT INTO calls AS c (caller_phone, phone_key, disposition, incident_id, handover_to,
                        rang_at, answered_at, logged_by, note, lat, lon, accuracy_m,
                        location_source, kecamatan_code, repeat_caller, jurisdiction,
                        kecamatan, desa_code, desa, address, telephony_call_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19,
        $20, $21)
RETURNING {CALL_COLUMNS}
"""

GET_CALL_SQL = f"SELECT {CALL_COLUMNS} FROM calls c WHERE c.id = $1"

LIST_CALLS_SQL = f"""
SELECT {CALL_COLUMNS} FROM calls c
WHERE ($1::timestamptz IS NULL OR c.logged_at >= $1)
  AND ($2::timestamptz IS NULL OR c.logged_at < $2)
  AND ($3::text[] IS NULL OR c.disposition = ANY($3))
  AND ($4::text IS NULL OR c.phone_key = $4)
ORDER BY c.logged_at DESC, c.id DESC
LIMIT $5
"""

# Serialises the call log and AML reception per number, so a fix arriving while its
# call is being logged is attached by one side or the other, never by neither.
LOCK_PHONE_SQL = "SELECT pg_advisory_xact_lock(112, hashtext($1))"

# Serialises new emergencies in one grid cell (core/duplicates.area_cells) while the
# duplicate question is asked, so two callers of one fire at one instant do not both
# open an incident: the second waits, then sees the first's.
LOCK_AREA_SQL = "SELECT pg_advisory_xact_lock(113, hashtext($1))"

# Prank and silent calls a number made since $2 (when the phone rang, else when logged).
PRANK_COUNT_SQL = """
SELECT count(*) FROM calls
WHERE phone_key = $1 AND disposition IN ('prank', 'ghost')
  AND coalesce(rang_at, logged_at) >= $2
"""

# The most recent call of this number logged since $2, to attach a late AML fix to.
RECENT_CALL_SQL = """
SELECT id, incident_id, location_source FROM calls
WHERE phone_key = $1 AND logged_at >= $2
ORDER BY logged_at DESC, id DESC LIMIT 1
FOR UPDATE
"""

SET_CALL_LOCATION_SQL = """
UPDATE calls SET lat = $2, lon = $3, accuracy_m = $4, location_source = $5,
       kecamatan_code = $6, jurisdiction = $7, kecamatan = $8, desa_code = $9, desa = $10
WHERE id = $1
"""

AML_PUBLIC_COLUMNS = """
m.id, m.received_at, m.transport, m.status, m.caller_phone, m.call_id, m.method, m.lat, m.lon,
m.radius_m, m.positioned_at, m.confidence, m.mcc, m.mnc, m.error_code, m.error_message
"""

INSERT_AML_SQL = f"""
INSERT INTO aml_messages AS m (transport, raw, caller_phone, phone_key, status, call_id,
                               method, lat, lon, radius_m, positioned_at, confidence, imsi,
                               imei, mcc, mnc)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
RETURNING {AML_PUBLIC_COLUMNS}
"""

INSERT_REJECTED_AML_SQL = """
INSERT INTO aml_messages (transport, raw, caller_phone, status, error_code, error_message)
VALUES ($1, $2, $3, 'rejected', $4, $5)
RETURNING id
"""

# Fixes received since $2 for this number that wait for their call, newest first.
HELD_AML_SQL = f"""
SELECT {AML_PUBLIC_COLUMNS} FROM aml_messages m
WHERE m.phone_key = $1 AND m.status = 'held' AND m.received_at >= $2
ORDER BY m.received_at DESC, m.id DESC
FOR UPDATE
"""

ATTACH_AML_SQL = """
UPDATE aml_messages SET status = 'attached', call_id = $2 WHERE id = ANY($1::bigint[])
"""

AML_FOR_CALLS_SQL = f"""
SELECT {AML_PUBLIC_COLUMNS} FROM aml_messages m
WHERE m.call_id = ANY($1::bigint[]) ORDER BY m.id
"""

LIST_AML_SQL = f"""
SELECT {AML_PUBLIC_COLUMNS} FROM aml_messages m
WHERE ($1::text IS NULL OR m.phone_key = $1)
  AND ($2::text IS NULL OR m.status = $2)
ORDER BY m.received_at DESC, m.id DESC
LIMIT $3
"""

# Open incidents with a position inside a lat/lon box, first called in since $5.
NEARBY_OPEN_SQL = """
SELECT i.id, i.category, i.lat, i.lon, i.received_at, i.status, i.priority, i.address,
       i.queue_reason, i.radius_m, i.location_source, i.desa, i.kecamatan,
       (SELECT count(*) FROM calls c WHERE c.incident_id = i.id)::int AS callers
FROM incidents i
WHERE i.status <> 'closed' AND i.lat BETWEEN $1 AND $2 AND i.lon BETWEEN $3 AND $4
  AND i.received_at >= $5
"""

CALLERS_FOR_INCIDENT_SQL = f"""
SELECT {CALL_COLUMNS} FROM calls c WHERE c.incident_id = $1 ORDER BY c.id
"""


async def insert_call(conn: asyncpg.Connection, *, caller_phone: str, phone_key: str,
                      disposition: str, incident_id: int | None, handover_to: str | None,
                      rang_at: datetime | None, answered_at: datetime | None, logged_by: str,
                      note: str, lat: float | None, lon: float | None,
                      accuracy_m: float | None, location_source: str | None,
                      kecamatan_code: str | None, repeat_caller: bool,
                      jurisdiction: str | None = None, kecamatan: str | None = None,
                      desa_code: str | None = None, desa: str | None = None,
                      address: str = "", telephony_call_id: str | None = None
                      ) -> dict[str, Any]:
    row = await conn.fetchrow(INSERT_CALL_SQL, caller_phone, phone_key, disposition,
                              incident_id, handover_to, rang_at, answered_at, logged_by, note,
                              lat, lon, accuracy_m, location_source, kecamatan_code,
                              repeat_caller, jurisdiction, kecamatan, desa_code, desa,
                              address, telephony_call_id)
    return dict(row)


async def insert_aml(conn: asyncpg.Connection, fix: AmlFix, *, raw: str, caller_phone: str,
                     phone_key: str, call_id: int | None) -> dict[str, Any]:
    row = await conn.fetchrow(
        INSERT_AML_SQL, fix.transport, raw, caller_phone, phone_key,
        "attached" if call_id is not None else "held", call_id, fix.method, fix.lat, fix.lon,
        fix.radius_m, fix.positioned_at, fix.confidence, fix.imsi, fix.imei, fix.mcc, fix.mnc)
    return dict(row)


async def aml_for_calls(conn: asyncpg.Connection, call_ids: list[int]
                        ) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = {i: [] for i in call_ids}
    for r in await conn.fetch(AML_FOR_CALLS_SQL, call_ids):
        out[r["call_id"]].append(dict(r))
    return out


# --- a caller's history (GET /api/v1/callers/{phone}) ------------------------------

CALLER_HISTORY_SQL = """
SELECT c.id, coalesce(c.rang_at, c.logged_at) AS received_at, c.disposition, i.category,
       c.incident_id, coalesce(nullif(c.address, ''), i.address, '') AS address
FROM calls c LEFT JOIN incidents i ON i.id = c.incident_id
WHERE c.phone_key = $1 AND c.logged_at >= $2
ORDER BY c.logged_at DESC, c.id DESC
LIMIT $3
"""

# Open incidents of this number: those its calls opened or joined, and those logged
# with it directly (POST /api/v1/incidents), the number compared as phone_key does.
CALLER_OPEN_INCIDENTS_SQL = """
SELECT i.id, i.category, i.priority, i.status, i.address, i.received_at
FROM incidents i
WHERE i.status <> 'closed'
  AND (EXISTS (SELECT 1 FROM calls c WHERE c.incident_id = i.id AND c.phone_key = $1)
       OR (SELECT CASE WHEN d LIKE '62%' THEN '0' || substr(d, 3) ELSE d END
           FROM regexp_replace(i.caller_phone, '[^0-9]', '', 'g') AS d) = $1)
ORDER BY i.received_at DESC, i.id DESC
LIMIT 20
"""

# A warning SMS sent (or given to copy) to this number since $2 (sql/019).
WARNED_SQL = """
SELECT EXISTS (SELECT 1 FROM prank_actions
               WHERE phone_key = $1 AND kind = 'warning_sms' AND at >= $2)
"""
