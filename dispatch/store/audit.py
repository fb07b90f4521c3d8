"""The append-only audit log (sql/006_accounts_audit.sql): read it, record refusals."""

from __future__ import annotations

from typing import Any

import asyncpg

REFUSED_SQL = """
INSERT INTO audit_log (actor, action, subject_type, subject_id, after)
VALUES ($1, 'refused', $2, $3, $4)
"""
LIST_AUDIT_SQL = """
SELECT id, at, actor, action, subject_type, subject_id, before, after
FROM audit_log
WHERE ($1::text IS NULL OR actor = $1)
  AND ($2::text IS NULL OR subject_type = $2)
  AND ($3::bigint IS NULL OR subject_id = $3)
  AND ($4::text IS NULL OR action = $4)
  AND ($5::timestamptz IS NULL OR at >= $5)
  AND ($6::timestamptz IS NULL OR at < $6)
  AND ($7::bigint IS NULL OR id < $7)
ORDER BY id DESC
LIMIT $8
"""


async def record_refusal(conn: asyncpg.Connection, actor: str, route: str,
                         subject_id: int | None, details: dict[str, Any]) -> None:
    """A refused attempt is kept too: who tried what, and why it was refused.

    ``conn`` comes from the app's pool, whose jsonb codec encodes ``details``.
    """
    await conn.execute(REFUSED_SQL, actor, route, subject_id, details)


async def list_audit(conn: asyncpg.Connection, *args: Any) -> list[dict[str, Any]]:
    """Rows newest first; ``args`` in the order of LIST_AUDIT_SQL's parameters."""
    return [dict(r) for r in await conn.fetch(LIST_AUDIT_SQL, *args)]
