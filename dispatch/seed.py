"""Load the demo fleet (``dispatch.demo_data.FLEET``) into the database, idempotently."""

from __future__ import annotations

import asyncpg
import structlog

from dispatch import actions
from dispatch.demo_data import DEMO_PLACES, FLEET, DemoUnit
from dispatch.errors import Conflict
from dispatch.store.db import in_transaction

log = structlog.get_logger(__name__)

ACTOR = "seed"
# The seed runs from the CLI before the service starts; waiting a while for a
# pool connection is better than failing a one-off command.
ACQUIRE_TIMEOUT_S = 10.0


async def _create(pool: asyncpg.Pool, unit: DemoUnit) -> bool:
    """Register one unit with its ``unit.created`` event; False if the callsign exists."""

    async def work(conn: asyncpg.Connection) -> None:
        await actions.create_unit(
            conn, actor=ACTOR, callsign=unit.callsign, unit_type=unit.unit_type,
            agency=unit.agency, home_station=unit.home_station, lat=unit.lat, lon=unit.lon)

    try:
        await in_transaction(pool, work, timeout=ACQUIRE_TIMEOUT_S)
    except Conflict as exc:
        if exc.code != "duplicate_callsign":
            raise
        return False
    return True


async def seed_fleet(pool: asyncpg.Pool) -> int:
    """Create every demo unit whose callsign is not registered yet; return how many.

    Running it again creates nothing: an existing callsign is left as it is
    (its status and position are live data by then, not seed data).
    """
    created = 0
    for unit in FLEET:
        if await _create(pool, unit):
            created += 1
            log.debug("seed.unit_created", callsign=unit.callsign, unit_type=unit.unit_type)
    log.info("seed.fleet", created=created, already_present=len(FLEET) - created)
    return created


EXISTING_PLACE_SQL = "SELECT 1 FROM places WHERE name = $1 AND retired_at IS NULL"


async def seed_places(pool: asyncpg.Pool) -> int:
    """Add the demo landmarks not present yet (by name), each marked as an estimate."""
    created = 0
    for p in DEMO_PLACES:
        data = actions.PlaceData(name=p.name, aliases=list(p.aliases), kind=p.kind, lat=p.lat,
                                 lon=p.lon, estimate=True,
                                 note="Posisi perkiraan untuk demo / estimated demo position")

        async def work(conn: asyncpg.Connection, data: actions.PlaceData = data) -> bool:
            if await conn.fetchval(EXISTING_PLACE_SQL, data.name):
                return False
            await actions.create_place(conn, data, actor=ACTOR)
            return True

        created += await in_transaction(pool, work, timeout=ACQUIRE_TIMEOUT_S)
    log.info("seed.places", created=created, already_present=len(DEMO_PLACES) - created)
    return created


async def import_places_text(pool: asyncpg.Pool, text: str, kind: str, *, name: str,
                             actor: str = "places-import") -> int:
    """`siap112 places import FILE`: every place of a CSV or GeoJSON text, or none."""
    from dispatch.places_import import parse

    items = parse(text, kind)

    async def work(conn: asyncpg.Connection) -> int:
        return len(await actions.import_places(conn, items, actor=actor))

    count: int = await in_transaction(pool, work, timeout=ACQUIRE_TIMEOUT_S)
    log.info("places.imported", file=name, format=kind, places=count)
    return count
