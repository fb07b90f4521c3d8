"""One lock order everywhere: conflicting changes at the same moment never deadlock.

Each round two units sit on two incidents; then, all at once over HTTP, each unit
is taken over by the other incident, both report a status change, and the first
incident is closed. Before the lock order was kept (a reassignment locked its unit
before the incident it took it from), crossing reassignments deadlocked and
PostgreSQL aborted one of them.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient
from structlog.testing import capture_logs

from tests.conftest import AppFactory
from tests.helpers import KANIGORO, WLINGI, create_incident, create_unit, post_json

ROUNDS = 12
ASSIGNED = ("dispatched", "acknowledged", "en_route", "on_scene", "transporting",
            "at_hospital")

DEADLOCKS_SQL = "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
OTHER_BACKENDS_SQL = """
SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid()
"""


async def _deadlocks(db: asyncpg.Connection) -> int:
    await db.execute("SELECT pg_stat_clear_snapshot()")
    return int(await db.fetchval(DEADLOCKS_SQL))


async def _backends_gone(db: asyncpg.Connection) -> None:
    """Until the app's connections have ended on the server (nothing to await there)."""
    async with asyncio.timeout(15):
        # The server ends them on its own after the client closed: no event to wait on.
        while await db.fetchval(OTHER_BACKENDS_SQL):  # noqa: ASYNC110
            await asyncio.sleep(0.05)


async def _all_at_once(client: TestClient, x: int, y: int, a: int, b: int) -> list[int]:
    async def send(path: str, body: dict[str, Any]) -> int:
        resp = await client.post(path, json=body)
        await resp.read()
        return resp.status

    return list(await asyncio.gather(
        send(f"/api/v1/incidents/{y}/assignments", {"unit_id": a, "take_from_other": True}),
        send(f"/api/v1/incidents/{x}/assignments", {"unit_id": b, "take_from_other": True}),
        send(f"/api/v1/units/{a}/status", {"status": "acknowledged"}),
        send(f"/api/v1/units/{b}/status", {"status": "acknowledged"}),
        send(f"/api/v1/incidents/{x}/close", {"disposition": "selesai", "confirm": True}),
    ))


async def _check_invariants(db: asyncpg.Connection) -> None:
    # A unit on an open assignment has an assigned status, as its assignment says,
    # on an incident that is still open; every other unit is free.
    wrong = await db.fetch("""
        SELECT u.callsign, u.status, a.status AS assignment_status, i.status AS incident
        FROM units u
        LEFT JOIN assignments a ON a.unit_id = u.id AND a.ended_at IS NULL
        LEFT JOIN incidents i ON i.id = a.incident_id
        WHERE (a.id IS NULL AND u.status <> 'available')
           OR (a.id IS NOT NULL AND (u.status <> ALL($1::text[]) OR a.status <> u.status
                                     OR i.status = 'closed'))""", list(ASSIGNED))
    assert wrong == []
    assert await db.fetchval("SELECT count(*) FROM incidents i WHERE status = 'closed' AND "
                             "EXISTS (SELECT 1 FROM assignments a WHERE a.incident_id = i.id "
                             "AND a.ended_at IS NULL)") == 0
    # An open incident is dispatched exactly when an open assignment covers it.
    assert await db.fetchval("""
        SELECT count(*) FROM incidents i
        WHERE status <> 'closed' AND (status = 'dispatched') <> EXISTS (
            SELECT 1 FROM assignments a WHERE a.incident_id = i.id AND a.ended_at IS NULL)
        """) == 0


async def test_reassignments_status_changes_and_closing_at_once_never_deadlock(
        start_app: AppFactory, db: asyncpg.Connection) -> None:
    client = await start_app(dispatch={"run_in_web": False})
    a = (await create_unit(client, "AMB-LOCK-A", "ambulance", KANIGORO))["id"]
    b = (await create_unit(client, "AMB-LOCK-B", "ambulance", WLINGI))["id"]
    before = await _deadlocks(db)
    answers: list[int] = []
    with capture_logs() as logs:
        for _ in range(ROUNDS):
            x = (await create_incident(client, KANIGORO, priority=2))["id"]
            y = (await create_incident(client, WLINGI, priority=2))["id"]
            await post_json(client, f"/api/v1/incidents/{x}/assignments", {"unit_id": a}, 201)
            await post_json(client, f"/api/v1/incidents/{y}/assignments", {"unit_id": b}, 201)
            answers += await _all_at_once(client, x, y, a, b)
            await _check_invariants(db)
            await post_json(client, f"/api/v1/incidents/{y}/close",
                            {"disposition": "selesai", "confirm": True}, 200)
    assert set(answers) <= {200, 201, 409}, answers
    assert answers.count(201) >= ROUNDS  # the reassignments did happen, not only refusals
    retries = [e for e in logs if e["event"] == "tx.retry"]
    assert retries == []
    # PostgreSQL's own count; a backend reports it when it ends, so end them first.
    await client.close()
    await _backends_gone(db)
    assert await _deadlocks(db) == before
    await _check_invariants(db)
