"""Personal data (UU 27/2022): who may see caller numbers and device identifiers, masking,
and purging them after the retention period while keeping the response-time figures;
and deleting the units' position track after its own retention period.
"""

from __future__ import annotations

from typing import Any

import asyncpg
import orjson

from dispatch.store import locationlinks as link_sql
from dispatch.store import telephony as tel_sql
from dispatch.store import units as unit_sql

# Roles whose work needs the caller's number: calling back, matching AML fixes.
PERSONAL_DATA_ROLES = frozenset({"call_taker", "dispatcher", "operator", "admin"})
PERSONAL_KEYS = frozenset({"caller_phone", "caller", "callbackNumber", "phone", "sender",
                           "device_number", "imsi", "imei", "raw", "callBackInformationUri"})
ANONYMOUS_PHONE = "000"  # satisfies the phone CHECKs; matches no real number


def mask_value(value: str) -> str:
    """Everything but the last three characters hidden: enough to tell two callers apart."""
    return "*" * max(0, len(value) - 3) + value[-3:] if len(value) > 3 else "***"


def _mask_personal(value: Any) -> Any:
    """A personal field: a string masked, a list (EIDO's URIs) masked item by item."""
    if isinstance(value, str):
        return mask_value(value)
    if isinstance(value, list):
        return [mask_value(v) if isinstance(v, str) else mask(v) for v in value]
    return mask(value)


def mask(data: Any) -> Any:
    """``data`` with every personal-data field masked, at any depth."""
    if isinstance(data, dict):
        return {k: (_mask_personal(v) if k in PERSONAL_KEYS else mask(v))
                for k, v in data.items()}
    if isinstance(data, list):
        return [mask(v) for v in data]
    return data


# Only the personal fields change: every timestamp, and so every response-time
# figure, stays as it was. The audit log holds none of these fields (its trigger
# leaves them out, sql/007), so these updates add no audit image that would keep
# the purged values.
_PERSONAL = sorted(PERSONAL_KEYS)
PURGE_SQL: tuple[tuple[str, str, tuple[Any, ...]], ...] = (
    ("incidents", """UPDATE incidents SET caller_phone = $2
                     WHERE received_at < $1 AND status = 'closed' AND caller_phone <> $2""",
     (ANONYMOUS_PHONE,)),
    ("calls", """UPDATE calls SET caller_phone = $2, phone_key = '0'
                 WHERE logged_at < $1 AND caller_phone <> $2""", (ANONYMOUS_PHONE,)),
    # The raw text carries IMSI and IMEI; a rejected message's error may quote it.
    ("aml_messages", """UPDATE aml_messages
                        SET caller_phone = NULL, phone_key = CASE WHEN status = 'rejected'
                            THEN NULL ELSE '0' END, imsi = NULL, imei = NULL, raw = '',
                            error_message = NULL
                        WHERE received_at < $1
                          AND (raw <> '' OR caller_phone IS NOT NULL OR imsi IS NOT NULL
                               OR imei IS NOT NULL OR error_message IS NOT NULL)""", ()),
    # Callback tasks and the prank paper trail (sql/019) keep the number they concern.
    ("callback_tasks", """UPDATE callback_tasks SET caller_phone = $2, phone_key = '0'
                          WHERE created_at < $1 AND caller_phone <> $2""", (ANONYMOUS_PHONE,)),
    ("prank_actions", """UPDATE prank_actions SET caller_phone = $2, phone_key = '0'
                         WHERE at < $1 AND caller_phone <> $2""", (ANONYMOUS_PHONE,)),
    # An event's incident snapshot (dispatch/board.py) holds the caller's number too.
    ("events", """UPDATE events SET data = (data - $2::text[])
                                       #- '{snapshot,incident,caller_phone}'
                  WHERE occurred_at < $1
                    AND (data ?| $2::text[]
                         OR data #> '{snapshot,incident}' ? 'caller_phone')""",
     (_PERSONAL,)),
    # An intake answer remembered for retries repeats the caller's number; it is long
    # past its use (http.idempotency_ttl_s) by the time the number is purged.
    ("idempotency_keys", "DELETE FROM idempotency_keys WHERE created_at < $1", ()),
    # What callers shared through a location link: their positions and the number the
    # link went to (sql/017); the link rows stay, so the audit log still adds up.
    ("location_fixes", link_sql.PURGE_FIXES_SQL, ()),
    ("location_links", link_sql.PURGE_LINK_PHONES_SQL, ()),
    ("location_fix_events", link_sql.PURGE_FIX_EVENTS_SQL, ()),
    # Calls the IP-PBX announced (sql/021) keep the caller's number.
    ("telephony_calls", tel_sql.PURGE_PHONES_SQL, (ANONYMOUS_PHONE,)),
)

# The purge itself is audited: when, and how much, never the values it removed.
PURGE_AUDIT_SQL = """
INSERT INTO audit_log (actor, action, subject_type, after)
VALUES ('purge', 'purge', 'personal_data', $1::text::jsonb)
"""


async def purge(conn: asyncpg.Connection, days: int) -> dict[str, int]:
    """Anonymise personal data older than ``days``; the count of rows changed per table."""
    counts: dict[str, int] = {}
    async with conn.transaction():
        await conn.execute("SELECT set_config('siap112.actor', 'purge', true)")
        cutoff = await conn.fetchval("SELECT now() - make_interval(days => $1)", days)
        for table, sql, args in PURGE_SQL:
            status = await conn.execute(sql, cutoff, *args)
            counts[table] = int(status.split()[-1])
        await conn.execute(PURGE_AUDIT_SQL, orjson.dumps(
            {"cutoff": cutoff.isoformat(), "days": days, "rows": counts}).decode())
    return counts


async def purge_positions(conn: asyncpg.Connection, days: int) -> dict[str, int]:
    """Delete unit positions (the track and its board events) older than ``days``."""
    async with conn.transaction():
        cutoff = await conn.fetchval("SELECT now() - make_interval(days => $1)", days)
        track = await conn.execute(unit_sql.PURGE_TRACK_SQL, cutoff)
        events = await conn.execute(unit_sql.PURGE_LOCATION_EVENTS_SQL, cutoff)
    return {"unit_positions": int(track.split()[-1]),
            "unit_location_events": int(events.split()[-1])}
