"""The dispatcher's fleet kept between passes sees every change, in any commit order."""

from __future__ import annotations

import asyncpg
from aiohttp.test_utils import TestClient

from dispatch.core.geo import Point
from dispatch.store.fleet import FleetCache
from tests.helpers import KANIGORO, SRENGAT, WLINGI, Console, create_incident, create_unit


async def test_a_move_after_the_fleet_was_read_is_used_by_the_next_dispatch(
        client: TestClient) -> None:
    await create_unit(client, "AMB-KANIGORO", "ambulance", KANIGORO)
    mover = await create_unit(client, "AMB-MOVER", "ambulance", SRENGAT)
    async with Console(client) as console:
        first = await create_incident(client, KANIGORO)  # the dispatcher reads the fleet
        await console.wait_for(lambda e: e.event == "unit.assigned"
                               and e.data["incident_id"] == first["id"])
        await create_unit(client, "AMB-BETWEEN", "ambulance", KANIGORO)
        # From Srengat the mover would be farther from Wlingi than AMB-BETWEEN is.
        resp = await client.put(f"/api/v1/units/{mover['id']}/location",
                                json={"lat": WLINGI[0], "lon": WLINGI[1] + 0.001})
        assert resp.status == 200
        second = await create_incident(client, WLINGI)
        [event] = await console.wait_for(lambda e: e.event == "unit.assigned"
                                         and e.data["incident_id"] == second["id"])
    assert event.data["data"]["callsign"] == "AMB-MOVER"


async def test_a_change_committed_after_a_later_read_is_still_seen(
        client: TestClient, db: asyncpg.Connection, database_url: str) -> None:
    unit = await create_unit(client, "AMB-SLOW", "ambulance", SRENGAT)
    other = await create_unit(client, "AMB-QUICK", "ambulance", SRENGAT)
    cache = FleetCache()
    await cache.refresh(db)
    slow = await asyncpg.connect(database_url)
    try:
        tx = slow.transaction()
        await tx.start()  # an older transaction moves a unit but commits late
        await slow.execute("UPDATE units SET lat = $2, lon = $3, position_at = now() "
                           "WHERE id = $1", unit["id"], *WLINGI)
        await db.execute("UPDATE units SET status = 'out_of_service' WHERE id = $1",
                         other["id"])
        index = await cache.refresh(db)  # sees the quick change only
        assert other["id"] not in index
        assert index.get(unit["id"]).position == Point(*SRENGAT)  # type: ignore[union-attr]
        await tx.commit()
    finally:
        await slow.close()
    index = await cache.refresh(db)
    assert index.get(unit["id"]).position == Point(*WLINGI)  # type: ignore[union-attr]
