"""Timers that shout: overdue units and incidents raise alerts, on the real app.

Thresholds are made short by configuration ([alerts]); the alerts loop runs in the
web process under the supervisor, as in production.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient

from tests.conftest import AppFactory
from tests.helpers import (
    KANIGORO,
    WLINGI,
    Console,
    bearer,
    create_incident,
    create_unit,
    get_json,
    is_kind,
    set_status,
    until,
    until_db,
)

FAST_DISPATCH = {"poll_interval_s": 0.3}


def alert_of(kind: str) -> Any:
    def pred(e: Any) -> bool:
        return bool(e.event.startswith("alert.") and e.data["data"]["alert"]["kind"] == kind)
    return pred


async def _open_alerts(client: TestClient) -> list[dict[str, Any]]:
    body = await get_json(client, "/api/v1/alerts")
    alerts: list[dict[str, Any]] = body["alerts"]
    return alerts


async def test_a_unit_left_unacknowledged_raises_an_alert_acknowledged_on_the_timeline(
        start_app: AppFactory, db: asyncpg.Connection) -> None:
    client = await start_app(dispatch=FAST_DISPATCH,
                             alerts={"check_s": 0.2, "unacknowledged_s": {"default": 1.0}})
    # The append-only audit log outlives the emptied tables, whose ids start again at 1.
    began = await db.fetchval("SELECT clock_timestamp()")
    dispatcher = await bearer(db, role="dispatcher", name="night-dispatcher")
    async with Console(client) as console:
        unit = await create_unit(client, "AMB-7", "ambulance", KANIGORO)
        incident = await create_incident(client, WLINGI, priority=2)
        [assigned] = await console.wait_for(is_kind("unit.assigned"))
        [raised] = await console.wait_for(lambda e: e.event == "alert.raised")
        alert = raised.data["data"]["alert"]
        assert alert["kind"] == "unit_unacknowledged"
        assert (alert["incident_id"], alert["unit_id"], alert["callsign"]) == (
            incident["id"], unit["id"], "AMB-7")
        assert alert["threshold_s"] == 1.0 and alert["acknowledged_at"] is None
        assert alert["cleared_at"] is None
        # Raised no sooner than the threshold after the dispatch.
        assert alert["raised_at"] >= alert["since"]
        [listed] = await _open_alerts(client)
        assert listed["id"] == alert["id"]

        resp = await client.post(f"/api/v1/alerts/{alert['id']}/acknowledge",
                                 headers=dispatcher)
        acked = await resp.json()
        assert resp.status == 200, acked
        assert acked["acknowledged_by"] == "night-dispatcher"
        assert acked["acknowledged_at"] is not None and acked["cleared_at"] is None
        [ack_event] = await console.wait_for(is_kind("alert.acknowledged"))
        assert ack_event.data["data"]["alert"]["acknowledged_by"] == "night-dispatcher"
        # Pressed again (a second dispatcher, a double click): the first one stands.
        again = await client.post(f"/api/v1/alerts/{alert['id']}/acknowledge")
        assert (await again.json())["acknowledged_by"] == "night-dispatcher"

        # Still open (the unit has not acknowledged) but no longer unseen.
        [still] = await _open_alerts(client)
        assert still["acknowledged_by"] == "night-dispatcher"

        await set_status(client, unit["id"], "acknowledged")
        [cleared] = await console.wait_for(is_kind("alert.cleared"))
        assert cleared.data["data"]["alert"]["id"] == alert["id"]
        assert cleared.data["data"]["alert"]["cleared_at"] is not None
    assert await _open_alerts(client) == []
    history = (await get_json(client, "/api/v1/alerts?open=false"))["alerts"]
    assert [a["id"] for a in history] == [alert["id"]]
    assert len([e for e in console.events if e.event == "alert.raised"]) == 1

    # On the incident's timeline: raised, acknowledged by whom, cleared; and audited.
    timeline = (await get_json(client, f"/api/v1/incidents/{incident['id']}/timeline"))["items"]
    alerts = [t for t in timeline if t["kind"].startswith("alert_")]
    assert [t["kind"] for t in alerts] == ["alert_raised", "alert_acknowledged",
                                           "alert_cleared"]
    assert alerts[1]["author"] == "night-dispatcher"
    assert all(t["alert_kind"] == "unit_unacknowledged" and t["callsign"] == "AMB-7"
               for t in alerts)
    detail = await get_json(client, f"/api/v1/incidents/{incident['id']}")
    assert detail["timeline"] == timeline  # the incident's detail shows the same list
    audited = await db.fetch("SELECT actor, action FROM audit_log WHERE subject_type = 'alerts' "
                             "AND subject_id = $1 AND at >= $2 ORDER BY id", alert["id"], began)
    assert [(r["actor"], r["action"]) for r in audited][1] == ("night-dispatcher", "update")
    assert assigned.data["data"]["callsign"] == "AMB-7"


async def test_a_priority_one_incident_with_no_unit_alerts_until_one_is_en_route(
        start_app: AppFactory, db: asyncpg.Connection) -> None:
    client = await start_app(dispatch=FAST_DISPATCH,
                             alerts={"check_s": 0.2, "p1_no_en_route_s": 0.5,
                                     "queued_s": 0.5, "unacknowledged_s": {"default": 600.0}})
    async with Console(client) as console:
        incident = await create_incident(client, WLINGI, priority=1)  # no unit at all
        await console.wait_for(alert_of("p1_no_en_route"))
        await console.wait_for(alert_of("queued_too_long"))
        kinds = sorted(a["kind"] for a in await _open_alerts(client))
        assert kinds == ["p1_no_en_route", "queued_too_long"]
        assert all(a["incident_id"] == incident["id"] and a["unit_id"] is None
                   for a in await _open_alerts(client))

        unit = await create_unit(client, "AMB-1", "ambulance", KANIGORO)
        # A unit is dispatched: no longer waiting in the queue, but nobody is on the way.
        await console.wait_for(lambda e: e.event == "alert.cleared"
                               and e.data["data"]["alert"]["kind"] == "queued_too_long")
        assert [a["kind"] for a in await _open_alerts(client)] == ["p1_no_en_route"]
        await set_status(client, unit["id"], "acknowledged")
        await set_status(client, unit["id"], "en_route")
        await console.wait_for(lambda e: e.event == "alert.cleared"
                               and e.data["data"]["alert"]["kind"] == "p1_no_en_route")
    assert await _open_alerts(client) == []


async def test_a_unit_on_scene_too_long_is_flagged_by_its_type(
        start_app: AppFactory, db: asyncpg.Connection) -> None:
    # Fire engines may stay longer than ambulances (minutes, per unit type).
    client = await start_app(dispatch=FAST_DISPATCH,
                             alerts={"check_s": 0.2, "on_scene_min": {"default": 0.01,
                                                                      "fire": 600.0}})
    async with Console(client) as console:
        amb = await create_unit(client, "AMB-1", "ambulance", KANIGORO)
        fire = await create_unit(client, "DAMKAR-1", "fire", KANIGORO)
        await create_incident(client, WLINGI, category="kebakaran", priority=1)
        await until_db(db, "SELECT count(*) = 2 FROM assignments")
        for unit in (amb, fire):
            for status in ("acknowledged", "en_route", "on_scene"):
                await set_status(client, unit["id"], status)
        [raised] = await console.wait_for(alert_of("on_scene_too_long"))
    alert = raised.data["data"]["alert"]
    assert alert["callsign"] == "AMB-1" and alert["threshold_s"] == 0.6
    assert [a["callsign"] for a in await _open_alerts(client)] == ["AMB-1"]


async def test_the_alerts_loop_is_supervised_and_shows_in_readyz(
        start_app: AppFactory, db: asyncpg.Connection) -> None:
    """A trigger refuses every alert (as a broken migration could): the loop fails,
    is restarted, and /readyz names it; once repaired it raises the alert."""
    client = await start_app(dispatch=FAST_DISPATCH,
                             supervise={"stall_after_s": 1.0, "restart_delay_s": 0.1,
                                        "restart_delay_max_s": 0.3, "heartbeat_write_s": 0.2},
                             alerts={"check_s": 0.2, "queued_s": 0.3,
                                     "p1_no_en_route_s": 600.0})
    resp = await client.get("/readyz")
    body = await resp.json()
    assert resp.status == 200 and body["loops"]["alerts"]["state"] == "ok"
    await db.execute("""
        CREATE FUNCTION test_refuse_alert() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'alerts may not be raised (broken trigger)'; END $$;
        CREATE TRIGGER test_refuse_alert BEFORE INSERT ON alerts
            FOR EACH ROW EXECUTE FUNCTION test_refuse_alert();""")
    await create_incident(client, WLINGI, priority=2)

    async def stalled() -> dict[str, Any] | None:
        resp = await client.get("/readyz")
        body: dict[str, Any] = await resp.json()
        return body if resp.status == 503 else None

    body = await until(stalled)
    assert body["checks"]["loops"].startswith("alerts stalled"), body["checks"]
    assert body["loops"]["alerts"]["failures"] >= 1
    assert "may not be raised" in body["loops"]["alerts"]["last_error"]
    assert body["loops"]["dispatcher"]["state"] == "ok"

    await db.execute("DROP TRIGGER test_refuse_alert ON alerts; DROP FUNCTION test_refuse_alert();")
    await until_db(db, "SELECT 1 FROM alerts WHERE kind = 'queued_too_long'")

    async def ready() -> bool:
        return (await client.get("/readyz")).status == 200

    await until(ready)


async def test_alert_requests_are_checked(start_app: AppFactory, db: asyncpg.Connection) -> None:
    client = await start_app()
    resp = await client.post("/api/v1/alerts/999/acknowledge")
    assert resp.status == 404 and (await resp.json())["error"]["code"] == "alert_not_found"
    for query in ("open=maybe", "hours=0", "hours=9999", "limit=x", "colour=red"):
        resp = await client.get(f"/api/v1/alerts?{query}")
        assert resp.status in {400, 422}, query
        assert (await resp.json())["error"]["code"], query
    call_taker = await bearer(db, role="call_taker", name="night-taker")
    assert (await client.get("/api/v1/alerts", headers=call_taker)).status == 403
    supervisor = await bearer(db, role="supervisor", name="day-supervisor")
    assert (await client.get("/api/v1/alerts", headers=supervisor)).status == 200
