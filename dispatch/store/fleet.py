"""The dispatcher's view of the available fleet, kept between passes.

Reading every available unit on every pass costs more than the search itself
once the fleet is large (thousands of rows decoded into objects, an index
rebuilt). Every write to a unit records its transaction id (``change_xid``,
sql/004). Each read also returns the oldest transaction still running at that
moment (the snapshot's xmin): any change the read could not see belongs to a
transaction at or after it. The next read asks only for units with
``change_xid >= horizon``, so after ``refresh`` the index holds exactly what a
full read of the available units would have returned, in any commit order.
"""

from __future__ import annotations

import asyncpg

from dispatch.core.geo import Candidate, Point
from dispatch.core.spatial import FleetIndex

FLEET_CHANGES_SQL = """
WITH h AS (SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS horizon)
SELECT h.horizon, u.id, u.unit_type, u.lat, u.lon, u.position_at,
       u.status = 'available' AS available
FROM h LEFT JOIN units u ON $1::bigint IS NULL OR u.change_xid >= $1::bigint::text::xid8
"""


class FleetCache:
    """Every available unit, refreshed by the changes since the previous read."""

    def __init__(self) -> None:
        self.index = FleetIndex()
        self._horizon: int | None = None

    async def refresh(self, conn: asyncpg.Connection) -> FleetIndex:
        """Bring the index up to date with the database."""
        rows = await conn.fetch(FLEET_CHANGES_SQL, self._horizon)
        if self._horizon is not None and rows[0]["horizon"] < self._horizon:
            # Transaction ids went backwards: another server (a restored copy). Read all.
            self.index, self._horizon = FleetIndex(), None
            rows = await conn.fetch(FLEET_CHANGES_SQL, None)
        units = [r for r in rows if r["id"] is not None]
        self.index.apply([_candidate(r) for r in units if r["available"]],
                         [r["id"] for r in units if not r["available"]])
        self._horizon = rows[0]["horizon"]
        return self.index


def _candidate(row: asyncpg.Record) -> Candidate:
    position = Point(row["lat"], row["lon"]) if row["lat"] is not None else None
    return Candidate(row["id"], row["unit_type"], position, row["position_at"])
