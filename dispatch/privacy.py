"""Personal data (UU 27/2022): who may see caller numbers and device identifiers, masking,
and purging them after the retention period while keeping the response-time figures.
"""

from __future__ import annotations

from typing import Any

import asyncpg

# Roles whose work needs the caller's number: calling back, matching AML fixes.
PERSONAL_DATA_ROLES = frozenset({"call_taker", "dispatcher", "admin"})
PERSONAL_KEYS = frozenset({"caller_phone", "callbackNumber", "phone", "sender",
                           "device_number", "imsi", "imei"})
ANONYMOUS_PHONE = "000"  # satisfies the phone CHECKs; matches no real number


def mask_value(value: str) -> str:
    """Everything but the last three characters hidden: enough to tell two callers apart."""
    return "*" * max(0, len(value) - 3) + value[-3:] if len(value) > 3 else "***"


def mask(data: Any) -> Any:
    """``data`` with every personal-data field masked, at any depth."""
    if isinstance(data, dict):
        return {k: (mask_value(v) if k in PERSONAL_KEYS and isinstance(v, str) else mask(v))
                for k, v in data.items()}
    if isinstance(data, list):
        return [mask(v) for v in data]
    return data


# Only the personal fields change: every timestamp, and so every response-time
# figure, stays as it was.
PURGE_SQL = (
    ("incidents", """UPDATE incidents SET caller_phone = $2
                     WHERE received_at < $1 AND status = 'closed' AND caller_phone <> $2"""),
    ("calls", """UPDATE calls SET caller_phone = $2, phone_key = '0'
                 WHERE logged_at < $1 AND caller_phone <> $2"""),
    ("aml_messages", """UPDATE aml_messages
                        SET caller_phone = NULL, phone_key = CASE WHEN status = 'rejected'
                            THEN NULL ELSE '0' END, imsi = NULL, imei = NULL, raw = ''
                        WHERE received_at < $1 AND raw <> ''
                          AND $2::text IS NOT NULL"""),
    ("events", """UPDATE events SET data = data - 'caller_phone'
                  WHERE occurred_at < $1 AND data ? 'caller_phone'
                    AND $2::text IS NOT NULL"""),
)


async def purge(conn: asyncpg.Connection, days: int) -> dict[str, int]:
    """Anonymise personal data older than ``days``; the count of rows changed per table."""
    counts: dict[str, int] = {}
    async with conn.transaction():
        await conn.execute("SELECT set_config('siap112.actor', 'purge', true)")
        cutoff = await conn.fetchval("SELECT now() - make_interval(days => $1)", days)
        for table, sql in PURGE_SQL:
            status = await conn.execute(sql, cutoff, ANONYMOUS_PHONE)
            counts[table] = int(status.split()[-1])
    return counts
