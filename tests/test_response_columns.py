"""The incident keeps its response times (sql/014): the unit measured (the first on
scene, else the first dispatched) and when the first emergency call was answered, kept
in the transaction that completes them, so statistics need not join assignments."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
from aiohttp.test_utils import TestClient

from tests.helpers import (
    KANIGORO,
    SRENGAT,
    WLINGI,
    Console,
    create_incident,
    create_unit,
    is_kind,
    post_json,
    set_status,
)

COLUMNS_SQL = """
SELECT first_unit_type, first_dispatched_at, first_en_route_at, first_on_scene_at, answered_at
FROM incidents WHERE id = $1
"""


async def test_the_first_unit_on_scene_is_the_one_measured(client: TestClient,
                                                            db: asyncpg.Connection) -> None:
    near = await create_unit(client, "AMB-NEAR", "ambulance", WLINGI)
    incident = await create_incident(client, WLINGI)
    async with Console(client) as console:
        await console.wait_for(is_kind("unit.assigned", incident_id=incident["id"]))
    far = await create_unit(client, "POL-FAR", "police", SRENGAT)
    await post_json(client, f"/api/v1/incidents/{incident['id']}/assignments",
                    {"unit_id": far["id"]}, 201)
    first = await db.fetchrow(COLUMNS_SQL, incident["id"])
    sent = await db.fetchrow("SELECT dispatched_at FROM assignments WHERE unit_id = $1",
                             near["id"])
    # Nobody on scene yet: the first unit dispatched is measured.
    assert (first["first_unit_type"], first["first_dispatched_at"]) == (
        "ambulance", sent["dispatched_at"])
    assert first["first_on_scene_at"] is None

    # The police car, sent second, arrives first: it becomes the one measured.
    await set_status(client, far["id"], "en_route")
    await set_status(client, near["id"], "en_route")
    await set_status(client, far["id"], "on_scene")
    row = await db.fetchrow(COLUMNS_SQL, incident["id"])
    police = await db.fetchrow("SELECT dispatched_at, en_route_at, on_scene_at FROM assignments "
                               "WHERE unit_id = $1", far["id"])
    assert row["first_unit_type"] == "police"
    assert (row["first_dispatched_at"], row["first_en_route_at"], row["first_on_scene_at"]) == (
        police["dispatched_at"], police["en_route_at"], police["on_scene_at"])
    # The ambulance arriving later changes nothing.
    await set_status(client, near["id"], "on_scene")
    assert await db.fetchrow(COLUMNS_SQL, incident["id"]) == row


async def test_the_answer_time_is_the_first_emergency_calls(client: TestClient,
                                                             db: asyncpg.Connection) -> None:
    body = {"caller_phone": "081298765432", "disposition": "emergency",
            "rang_at": "2026-03-01T08:00:00+07:00", "answered_at": "2026-03-01T08:00:09+07:00",
            "incident": {"category": "medis", "priority": 1,
                         "location": {"lat": KANIGORO[0], "lon": KANIGORO[1]}}}
    call = await post_json(client, "/api/v1/calls", body, 201)
    incident_id = call["incident_id"]
    # A second caller, answered later, reports the same incident: the first one counts.
    await post_json(client, "/api/v1/calls",
                    {"caller_phone": "081211112222", "disposition": "duplicate",
                     "incident_id": incident_id, "rang_at": "2026-03-01T08:01:00+07:00",
                     "answered_at": "2026-03-01T08:01:30+07:00"}, 201)
    answered = await db.fetchval("SELECT answered_at FROM incidents WHERE id = $1", incident_id)
    assert answered.isoformat() == "2026-03-01T01:00:09+00:00"


async def test_a_months_statistics_read_the_incidents_alone(db: asyncpg.Connection) -> None:
    """The plan, not a timing: neither assignments nor calls are read for a month."""
    from dispatch.store.stats import RESPONSE_TIMES_SQL

    await db.execute("SET enable_seqscan = off")  # a small table: ask for the index plan
    plan = "\n".join(r[0] for r in await db.fetch(
        "EXPLAIN " + RESPONSE_TIMES_SQL, datetime(2026, 3, 1, tzinfo=UTC),
        datetime(2026, 4, 1, tzinfo=UTC), None, ["medis"], ["total"], [600.0]))
    await db.execute("RESET enable_seqscan")
    assert "assignments" not in plan and "calls" not in plan, plan
    assert "incidents_response" in plan, plan
