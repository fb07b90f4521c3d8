"""The event log: timeline and outbox in one table."""

from __future__ import annotations

from typing import Any

import asyncpg

INSERT_EVENT_SQL = """
INSERT INTO events (kind, incident_id, unit_id, actor, data)
VALUES ($1, $2, $3, $4, $5)
RETURNING id
"""

TIMELINE_SQL = """
SELECT id, occurred_at, kind, unit_id, actor, data
FROM events WHERE incident_id = $1 ORDER BY id
"""

UNPUBLISHED_SQL = """
SELECT id, occurred_at, kind, incident_id, unit_id, actor, data
FROM events WHERE published_at IS NULL ORDER BY id LIMIT $1
"""

MARK_PUBLISHED_SQL = """
UPDATE events AS e SET published_at = clock_timestamp(), stream_id = p.stream_id
FROM unnest($1::bigint[], $2::text[]) AS p(id, stream_id)
WHERE e.id = p.id
"""


async def add_event(
    conn: asyncpg.Connection,
    kind: str,
    *,
    actor: str,
    incident_id: int | None = None,
    unit_id: int | None = None,
    data: dict[str, Any] | None = None,
) -> int:
    """Append one event; call inside the transaction that made the change."""
    event_id: int = await conn.fetchval(
        INSERT_EVENT_SQL, kind, incident_id, unit_id, actor, data or {}
    )
    return event_id


async def timeline(conn: asyncpg.Connection, incident_id: int) -> list[dict[str, Any]]:
    return [dict(r) for r in await conn.fetch(TIMELINE_SQL, incident_id)]
