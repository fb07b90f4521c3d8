"""The centre's own places: landmarks callers name."""

from __future__ import annotations

from typing import Any

import asyncpg

PLACE_COLUMNS = """
p.id, p.name, p.aliases, p.kind, p.lat, p.lon, p.jurisdiction, p.kecamatan_code, p.kecamatan,
p.desa_code, p.desa, p.estimate, p.note, p.created_at, p.created_by, p.updated_at, p.updated_by,
p.retired_at, p.retired_by
"""

INSERT_PLACE_SQL = f"""
INSERT INTO places AS p (name, aliases, kind, lat, lon, jurisdiction, kecamatan_code, kecamatan,
                         desa_code, desa, estimate, note, search_text, created_by, updated_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14)
RETURNING {PLACE_COLUMNS}
"""

UPDATE_PLACE_SQL = f"""
UPDATE places AS p SET name = $2, aliases = $3, kind = $4, lat = $5, lon = $6, jurisdiction = $7,
       kecamatan_code = $8, kecamatan = $9, desa_code = $10, desa = $11, estimate = $12,
       note = $13, search_text = $14, updated_by = $15, updated_at = clock_timestamp()
WHERE p.id = $1
RETURNING {PLACE_COLUMNS}
"""

RETIRE_PLACE_SQL = f"""
UPDATE places AS p SET retired_at = clock_timestamp(), retired_by = $2
WHERE p.id = $1 AND p.retired_at IS NULL
RETURNING {PLACE_COLUMNS}
"""

GET_PLACE_SQL = f"SELECT {PLACE_COLUMNS} FROM places p WHERE p.id = $1"
LOCK_PLACE_SQL = f"SELECT {PLACE_COLUMNS} FROM places p WHERE p.id = $1 FOR UPDATE"

LIST_PLACES_SQL = f"""
SELECT {PLACE_COLUMNS} FROM places p
WHERE $1::boolean OR p.retired_at IS NULL
ORDER BY p.name, p.id
LIMIT $2
"""


async def get_place(conn: asyncpg.Connection, place_id: int, *,
                    lock: bool = False) -> dict[str, Any] | None:
    row = await conn.fetchrow(LOCK_PLACE_SQL if lock else GET_PLACE_SQL, place_id)
    return None if row is None else dict(row)
