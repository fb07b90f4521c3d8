"""Events carry the board: each change's last event about an incident or unit holds that
record's board snapshot and revision, the same as a fresh read of the board."""

from __future__ import annotations

from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient

from tests.helpers import (
    KANIGORO,
    WLINGI,
    Console,
    bearer,
    create_incident,
    create_unit,
    get_json,
    is_kind,
    post_json,
    set_status,
)


def snapshots(console: Console, kind: str, record_id: int) -> list[dict[str, Any]]:
    return [e.data["data"]["snapshot"][kind] for e in console.data_events()
            if kind in e.data["data"].get("snapshot", {})
            and e.data["data"]["snapshot"][kind]["id"] == record_id]


async def test_frames_carry_what_the_board_would_read(client: TestClient) -> None:
    async with Console(client) as console:
        unit = await create_unit(client, "AMB-SNAP", "ambulance", KANIGORO)
        incident = await create_incident(client, WLINGI)
        await console.wait_for(is_kind("incident.dispatched", incident_id=incident["id"]))
        await set_status(client, unit["id"], "en_route")
        await console.wait_for(lambda e: e.event == "unit.status"
                               and e.data["data"]["status"] == "en_route")
        board_incidents = await get_json(client, "/api/v1/incidents?status=open")
        board_units = await get_json(client, "/api/v1/units")
        await post_json(client, f"/api/v1/incidents/{incident['id']}/close",
                        {"disposition": "selesai", "confirm": True}, 200)
        await console.wait_for(is_kind("incident.closed", incident_id=incident["id"]))
        closed_unit = await get_json(client, "/api/v1/units")

    inc_snaps = snapshots(console, "incident", incident["id"])
    unit_snaps = snapshots(console, "unit", unit["id"])
    # Revisions only grow: a console keeping the newest keeps the database's order.
    for snaps in (inc_snaps, unit_snaps):
        revs = [s["revision"] for s in snaps]
        assert revs == sorted(set(revs)), revs
    # While open, the last snapshot is exactly the board's item (same serializer).
    en_route = [s for s in inc_snaps if any(a["status"] == "en_route"
                                            for a in s["assignments"])]
    assert en_route[0] == board_incidents["items"][0]
    unit_at = [s for s in unit_snaps if s["status"] == "en_route"]
    assert unit_at == [u for u in board_units["items"] if u["id"] == unit["id"]]
    # The close is one transaction: its incident snapshot rides on its last event only.
    closing = [e for e in console.data_events() if e.data["seq"] > max(
        x.data["seq"] for x in console.data_events()
        if x.event == "unit.status" and x.data["data"]["status"] == "en_route")]
    with_incident = [e.event for e in closing if "incident" in e.data["data"].get("snapshot", {})]
    assert with_incident == ["incident.closed"]
    assert inc_snaps[-1]["status"] == "closed"
    assert unit_snaps[-1] == next(u for u in closed_unit["items"] if u["id"] == unit["id"])
    assert unit_snaps[-1]["status"] == "available" and unit_snaps[-1]["incident_id"] is None


async def test_a_supervisors_snapshots_hide_the_caller_number(client: TestClient,
                                                                 db: asyncpg.Connection) -> None:
    client.session.headers.update(await bearer(db, "supervisor", name="night-supervisor"))
    async with Console(client) as console:
        client.session.headers.update(await bearer(db, "call_taker", name="night-desk"))
        incident = await create_incident(client, WLINGI)
        seen = await console.wait_for(is_kind("incident.created", incident_id=incident["id"]))
    snap = seen[0].data["data"]["snapshot"]["incident"]
    assert snap["caller_phone"] == "*********890"
    assert "081234567890" not in str(seen[0].data)
