"""Intake: a call-taker logs a report; bad input gets a clear JSON error and stores nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from tests.helpers import KANIGORO, create_incident, get_json

VALID: dict[str, Any] = {
    "caller_phone": "0812-3456-7890",
    "category": "kebakaran",
    "priority": 1,
    "location": {"lat": KANIGORO[0], "lon": KANIGORO[1]},
    "address": "Jl. Raya Kanigoro 12",
    "description": "Rumah terbakar, asap tebal",
}


async def _count(db: asyncpg.Connection) -> tuple[int, int]:
    return (await db.fetchval("SELECT count(*) FROM incidents"),
            await db.fetchval("SELECT count(*) FROM events"))


async def test_logged_incident_is_durable_before_201(client: TestClient,
                                                     db: asyncpg.Connection) -> None:
    resp = await client.post("/api/v1/incidents", json=VALID)
    body = await resp.json()
    assert resp.status == 201
    assert body["status"] in {"pending", "queued", "dispatched"}
    assert resp.headers["Location"] == f"/api/v1/incidents/{body['id']}"
    row = await db.fetchrow("SELECT caller_phone, required_types, received_at FROM incidents "
                            "WHERE id = $1", body["id"])
    assert row["caller_phone"] == "081234567890"  # separators removed
    assert row["required_types"] == ["fire", "ambulance"]  # from the run card
    assert row["received_at"].isoformat() == body["received_at"]
    created = await db.fetchval("SELECT count(*) FROM events WHERE incident_id = $1 "
                                "AND kind = 'incident.created'", body["id"])
    assert created == 1


async def test_call_received_at_is_kept_for_response_times(client: TestClient) -> None:
    rang = datetime.now(UTC) - timedelta(seconds=95)
    body = await create_incident(client, KANIGORO, call_received_at=rang.isoformat())
    assert datetime.fromisoformat(body["received_at"]) == rang
    assert datetime.fromisoformat(body["logged_at"]) > rang


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"caller_phone": None}, "caller_phone"),
        ({"category": None}, "category"),
        ({"priority": None}, "priority"),
        ({"location": {"lat": 91, "lon": 112.2}}, "location.lat"),
        ({"location": {"lat": -8.1, "lon": 181}}, "location.lon"),
        ({"priority": "high"}, "priority"),
        ({"priority": "1"}, "priority"),
        ({"priority": 4}, "priority"),
        ({"location": {"lat": "minus eight", "lon": 112.2}}, "location.lat"),
        ({"caller_phone": "call me"}, "caller_phone"),
        ({"category": "alien_invasion"}, "category"),
        ({"location": None, "address": ""}, "address"),
        ({"surprise": 1}, "surprise"),
        ({"call_received_at": "yesterday"}, "call_received_at"),
        ({"call_received_at": "2026-01-01T10:00:00"}, "call_received_at"),
    ],
)
async def test_bad_input_is_refused_with_the_field_named(
    client: TestClient, db: asyncpg.Connection, change: dict[str, Any], field: str
) -> None:
    body = {**VALID, **change}
    body = {k: v for k, v in body.items() if v is not None or k == "location"}
    if body.get("location") is None:
        body.pop("location")
    resp = await client.post("/api/v1/incidents", json=body)
    payload = await resp.json()
    assert resp.status == 422, payload
    error = payload["error"]
    assert error["code"] == "validation_failed"
    assert error["message"]
    named = [f["field"] for f in error.get("fields", [])] + [error.get("field")]
    assert field in named, error
    assert await _count(db) == (0, 0)


async def test_future_call_time_is_refused(client: TestClient, db: asyncpg.Connection) -> None:
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    resp = await client.post("/api/v1/incidents", json={**VALID, "call_received_at": future})
    assert resp.status == 422
    assert (await resp.json())["error"]["field"] == "call_received_at"
    assert await _count(db) == (0, 0)


async def test_two_megabyte_body_is_refused(client: TestClient, db: asyncpg.Connection) -> None:
    huge = {**VALID, "description": "x" * (2 * 1024 * 1024)}
    resp = await client.post("/api/v1/incidents", json=huge)
    assert resp.status == 413
    payload = await resp.json()
    assert payload["error"]["code"] == "body_too_large"
    assert "bytes allowed" in payload["error"]["message"]
    assert await _count(db) == (0, 0)


@pytest.mark.parametrize("raw", [b"{not json", b"", b"[1, 2, 3]", b'"just a string"'])
async def test_non_json_or_wrong_shape_is_refused(client: TestClient, db: asyncpg.Connection,
                                                  raw: bytes) -> None:
    resp = await client.post("/api/v1/incidents", data=raw,
                             headers={"Content-Type": "application/json"})
    payload = await resp.json()
    assert resp.status in {400, 422}, payload
    assert payload["error"]["code"] in {"invalid_json", "empty_body", "validation_failed"}
    assert await _count(db) == (0, 0)


async def test_refused_input_leaves_stored_incidents_untouched(
        client: TestClient, db: asyncpg.Connection) -> None:
    first = await create_incident(client, KANIGORO, category="medis")
    before = await get_json(client, f"/api/v1/incidents/{first['id']}")
    resp = await client.post("/api/v1/incidents", json={**VALID, "priority": 0})
    assert resp.status == 422
    after = await get_json(client, f"/api/v1/incidents/{first['id']}")
    assert {k: after[k] for k in ("caller_phone", "category", "priority", "location")} == \
        {k: before[k] for k in ("caller_phone", "category", "priority", "location")}
    assert await db.fetchval("SELECT count(*) FROM incidents") == 1


async def test_list_filters_by_status_and_time(client: TestClient) -> None:
    old = datetime.now(UTC) - timedelta(hours=3)
    a = await create_incident(client, None, address="Desa Gogodeso", category="medis",
                              call_received_at=old.isoformat())
    b = await create_incident(client, KANIGORO, category="kriminalitas")
    since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    recent = await get_json(client, f"/api/v1/incidents?from={since.replace('+', '%2B')}")
    assert [i["id"] for i in recent["items"]] == [b["id"]]
    open_ = await get_json(client, "/api/v1/incidents?status=open")
    assert {i["id"] for i in open_["items"]} == {a["id"], b["id"]}
    closed = await get_json(client, "/api/v1/incidents?status=closed")
    assert closed["items"] == []
    bad = await client.get("/api/v1/incidents?status=burning")
    assert bad.status == 422


async def test_unknown_incident_is_404_json(client: TestClient) -> None:
    resp = await client.get("/api/v1/incidents/999999")
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "not_found"
    resp = await client.get("/api/v1/incidents/abc")
    assert resp.status == 404
    assert (await resp.json())["error"] | {"message": ""} == {
        "code": "invalid_id", "field": "id", "message": ""}
    resp = await client.get("/api/v1/nothing-here")
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "not_found"
